"""Both published articles, command by command: every line each article prints must come out of the real
client, run through the real proxy, as printed (ARCHITECTURE.md §8 "Published stories").

One test per command, in the articles' order: later commands read what earlier ones wrote (story (a)'s pulls
need its pushes; story (b)'s describe-images needs the v2/v3 push), so the tests run in collection order.
"""

import pytest

from lab.published import Published, print_table, run_step, steps


#: The steps are built against a Published instance; their count and labels do not depend on its state.
_LABELS = [f"{i:02d}-{s.story[0]}-{s.shell}" for i, s in enumerate(steps(Published.__new__(Published)))]


@pytest.mark.parametrize("index", range(len(_LABELS)), ids=_LABELS)
def test_published_command_prints_every_article_line(published, index):
    step = steps(published)[index]
    result = run_step(step)
    report = []
    differs = print_table([result], out=report.append)
    assert result.matched, f"step {step.command!r} checks no line"
    assert differs == 0, "\n".join(report)
