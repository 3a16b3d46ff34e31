"""Both acceptance stories, row by row, exactly as `scripts/lab` prints them: aws CLI, skopeo and the docker
daemon through the real proxy binary to moto and the CNCF registry.

Rows run in order (a pull row reads what a push row wrote), so the parametrisation keeps the table order.
Denial texts are AWS's (ARCHITECTURE.md §4): `denied: User: ...` for registry clients, `AccessDeniedException` with
`... with an explicit deny in a VPC endpoint policy` for the ECR API, `AccessDenied` from S3.
"""

import pytest

from lab.stories import Stories

_LISTED = Stories(None).rows()
_IDS = [f"{i:02d}-{row.client}-{row.expect}" for i, row in enumerate(_LISTED)]


@pytest.fixture(scope="module")
def rows(stories):
    return stories.rows()


@pytest.mark.parametrize("index", range(len(_LISTED)), ids=_IDS)
def test_story_row(rows, index):
    row = rows[index]
    outcome = row.action()
    assert row.check(outcome), (
        f"{row.client} {row.command}: expected {row.expected()!r}, got {outcome.summary()!r}\n{outcome.text}"
    )
