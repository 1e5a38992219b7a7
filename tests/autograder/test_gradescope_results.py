"""What results.json shows students on Gradescope, without a run (tests/integration/test_gradescope.py
runs the zips): when each test is visible, and outputs that Gradescope shows as written."""

import json
import zipfile

import pytest

from autograder.gradescope.build import build
from autograder.gradescope.run import Visibility, fenced, zero

NB1 = "01_policy_gradient"


def test_the_hidden_checks_are_shown_when_the_setting_says_and_the_sanity_checks_at_once():
    for setting in Visibility:
        tests = zero(NB1, "no notebook", setting)["tests"]
        assert {t["name"]: t["visibility"] for t in tests} == {
            "returns: sanity checks": "visible",
            "returns: hidden checks": setting.value,
            "loss: sanity checks": "visible",
            "loss: hidden checks": setting.value,
        }


def test_the_setting_of_make_gradescope_is_baked_into_each_zips_run(tmp_path):
    [archive] = build(tmp_path, [NB1], Visibility.VISIBLE)
    run = zipfile.ZipFile(archive).read("run_autograder").decode()
    assert f"--notebook {NB1}" in run and "--hidden-checks visible" in run


def test_an_output_is_a_code_block_that_nothing_inside_can_close():
    text = "loss 0/5\n  expected 1.0\n<b>bold</b> **strong** ``` and ````"
    block = fenced(text)
    fence = block.split("text\n", 1)[0]
    assert fence == "`````" and block == f"{fence}text\n{text}\n{fence}"  # longer than the longest run inside
    assert fenced("plain").startswith("```text\n")


def test_the_text_above_the_tests_tells_nothing_the_hidden_checks_hold_back():
    """While the hidden checks are held back, the summary every student sees at once has neither the
    points per exercise nor the name of the hidden check that failed first; shown at once, it has both."""
    from autograder.gradescope.run import summary
    from autograder.pipeline.report import NotebookGrade
    from autograder.pipeline.scoring import CellScore

    cells = {
        "returns_visible": CellScore(1.0, 1.0),
        "returns_hidden": CellScore(1.0, 4.0, failed="an episode ends mid-batch"),
        "loss_visible": CellScore(1.0, 1.0),
        "loss_hidden": CellScore(4.0, 4.0),
    }
    lost = ['returns 2/5: hidden check "an episode ends mid-batch" failed first']
    about_run = "removed the grading metadata of a cell that is not graded ('x')"
    g = NotebookGrade.from_cells(
        "s",
        NB1,
        {k: c.points for k, c in cells.items()},
        {k: c.max_points for k, c in cells.items()},
        message=f"{about_run}; {lost[0]}",
    )
    g.scored, g.lost, g.about_run = cells, lost, about_run
    for setting in (Visibility.AFTER_DUE_DATE, Visibility.AFTER_PUBLISHED, Visibility.HIDDEN):
        text = summary(g, ["notes.pdf: not a notebook"], setting)
        assert "mid-batch" not in text and "Points per exercise" not in text and "7 / 10" not in text, text
        assert "the sanity checks 2 / 2 points" in text and "the hidden checks (8 points)" in text
        assert "removed the grading metadata" in text and "not read: notes.pdf" in text
    shown = summary(g, [], Visibility.VISIBLE)
    assert "7 / 10 points" in shown and "mid-batch" in shown and "Points per exercise: loss 5/5, returns 2/5" in shown


@pytest.mark.parametrize(
    "namespaces, uid_mode, choice, closed",
    [
        (True, True, "auto", False),  # bwrap's namespaces: nothing to close (a read-only source still grades)
        (False, True, "auto", True),  # auto's fallback is the uid mode: its condition, met first
        (False, False, "auto", False),  # no uid mode either: unprotected, with a warning
        (True, True, "uid", True),  # asked for: always
    ],
)
def test_the_secrets_are_closed_only_where_the_uid_mode_is_to_run(
    monkeypatch, tmp_path, namespaces, uid_mode, choice, closed
):
    """Gradescope's run closes the course's secrets to other uids where the uid mode is what will
    run; auto's meaning stays job.sandbox_mode's."""
    from autograder.gradescope import run as gradescope
    from autograder.pipeline import job

    calls: list[int] = []
    monkeypatch.setattr(job.launcher, "available", lambda: namespaces)
    monkeypatch.setattr(job.launcher, "uid_mode_available", lambda: uid_mode)
    monkeypatch.setattr(job, "secrets_closed", lambda: bool(calls))
    monkeypatch.setattr(job.launcher, "locked", lambda path: bool(calls))
    monkeypatch.setattr(gradescope, "lock_secrets", lambda: calls.append(1))
    monkeypatch.setattr(gradescope, "grade", lambda *args, **kwargs: gradescope.zero(NB1, "not graded here"))
    gradescope.run(tmp_path, NB1, choice)
    assert bool(calls) == closed
    assert json.loads((tmp_path / "results" / "results.json").read_text())["output"].count("not graded here") == 1
