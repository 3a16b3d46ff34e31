"""Both published articles, command by command: every line each article prints must come out of the real
client, run through the real proxy, as printed (ARCHITECTURE.md §8 "Published stories").

One test per command, in the articles' order: later commands read what earlier ones wrote (story (a)'s pulls
need its pushes; story (b)'s describe-images needs the v2/v3 push), so the tests run in collection order.
"""

import pytest

from lab.published import check_step, labels, steps

_LABELS = labels(steps)


@pytest.mark.parametrize("index", range(len(_LABELS)), ids=_LABELS)
def test_published_command_prints_every_article_line(published, index):
    check_step(steps(published)[index])
