"""The grading command refuses a bad submissions path at once, with a sentence, not a traceback."""

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
    with pytest.raises(SystemExit) as exit_:
        grade.main([str(make(tmp_path)), "--out", str(tmp_path / "results"), "--sandbox", "off"])
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "results" / "grades.csv").exists()
