"""The crash test, small: a few SIGKILLs of the real TUI in a pty, nothing lost, nothing corrupt (run
`python tests/crash/crash_test.py --trials 50` by hand for the full run)."""

from __future__ import annotations

import pytest

from tests.crash import crash_test


@pytest.mark.slow
def test_random_kills_lose_nothing(tmp_path):
    report = crash_test.run(trials=3, seed=1, workdir=tmp_path)
    assert report.trials == 3, report.lines()
    assert (report.lost_characters, report.lost_revisions, report.corruptions) == (0, 0, 0), report.lines()
    assert report.typed > 0
