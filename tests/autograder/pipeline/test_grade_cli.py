"""The grading command refuses a bad submissions path at once, with a sentence, not a traceback."""

import signal

import pytest

from autograder import grade  # the older name of `python -m autograder.pipeline`


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda tmp: tmp / "missing.zip", "does not exist"),
        (
            lambda tmp: (tmp / "class.zip").write_text("not a zip") and tmp / "class.zip",
            "neither a folder nor a zip file",
        ),
        (lambda tmp: tmp, "must not be inside the submissions"),
    ],
)
def test_bad_submissions_path_is_a_usage_error(tmp_path, capsys, make, words):
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(SystemExit) as exit_:
        grade.main([str(make(tmp_path)), "--out", str(tmp_path / "results"), "--sandbox", "off"])
    assert exit_.value.code == 2
    # main() stops a run on Ctrl-C and SIGTERM; called in-process, it gives the caller's handlers back
    assert {signum: signal.getsignal(signum) for signum in handlers} == handlers
    assert words in capsys.readouterr().err
    assert not (tmp_path / "results" / "grades.csv").exists()
