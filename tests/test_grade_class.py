"""The grading command on the fixture class: every student and notebook gets the expected status
and points, nothing hostile gets out of its sandbox, and a re-run gives the same grades."""
import csv
import shutil

import pytest

from autograder import sandbox
from autograder.collect import grade_id_of
from autograder.fixture_class import ROOT, UNMAPPED, build, expected
from autograder.grade import Options, grade_class

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="needs bubblewrap, prlimit and root")
OPTIONS = Options(workers=2, cell_timeout=20, notebook_timeout=240)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    submissions = build(root / "class")
    out = root / "results"
    grades, unmapped = grade_class(submissions, out, OPTIONS, progress=False)
    return {(g.student, g.notebook): g for g in grades}, unmapped, out, submissions


def test_every_expected_notebook_is_graded_and_nothing_else(graded):
    grades, _, _, _ = graded
    assert set(grades) == set(expected())


@pytest.mark.parametrize("student, notebook", sorted(expected()))
def test_status_and_points(graded, student, notebook):
    status, low, high = expected()[student, notebook]
    g = graded[0][student, notebook]
    assert g.status in ((status,) if isinstance(status, str) else status), g.message
    assert low <= g.total <= high, (g.exercises, g.message)
    assert g.max_total == 10.0


def test_every_status_appears(graded):
    assert {g.status for g in graded[0].values()} == {"graded", "timeout", "error", "invalid-notebook"}


def test_unmapped_files_are_listed(graded):
    assert {path for path, _ in graded[1]} == UNMAPPED


def test_grades_csv_has_one_row_per_student_and_notebook(graded):
    grades, _, out, _ = graded
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert len(rows) == len(grades) == len({(r["student"], r["notebook"]) for r in rows})
    ref = next(r for r in rows if r["student"] == "reference" and r["notebook"] == "01_policy_gradient")
    assert (ref["status"], ref["total"], ref["returns"], ref["loss"]) == ("graded", "10", "5", "5")


def test_repairs_and_problems_are_explained(graded):
    grades = graded[0]
    assert "re-added the deleted cell 'returns_hidden'" in grades["deletes_tests", "01_policy_gradient"].message
    assert "restored the grading metadata" in grades["strips_metadata", "01_policy_gradient"].message
    assert "not valid JSON" in grades["invalid_json", "01_policy_gradient"].message
    assert "ran out of time (20 s a cell at most): loss_solution" in grades["hangs", "01_policy_gradient"].message
    assert "ran out of time (20 s a cell at most): loss_solution" in grades["ignores_interrupt", "01_policy_gradient"].message
    for student in ("kills_kernel", "calls_exit"):
        assert "the kernel died in loss_solution" in grades[student, "01_policy_gradient"].message, student


def test_feedback_for_everyone_without_hidden_code_or_reference(graded):
    grades, _, out, _ = graded
    for student, notebook in grades:
        text = (out / "feedback" / student / f"{notebook}.html").read_text()
        assert "autograder.hidden" not in text and "BEGIN HIDDEN" not in text, (student, notebook)
        if student == "blank":
            assert "BEGIN SOLUTION" not in text and "not written yet" in text
    wrong_sign = (out / "feedback" / "loss_wrong_sign" / "01_policy_gradient.html").read_text()
    assert "the sign is flipped" in wrong_sign
    killed = (out / "feedback" / "kills_kernel" / "01_policy_gradient.html").read_text()
    assert "the kernel died while running this cell" in killed  # shown under the cell that did it


def test_hostile_code_stays_in_its_sandbox(graded):
    _, _, out, submissions = graded
    import nbformat

    nb = nbformat.read(out / "work" / "snooper" / "autograded" / "snooper" / "01_policy_gradient" /
                       "01_policy_gradient.ipynb", as_version=4)
    report = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    attempts = [line for line in report.splitlines() if ": blocked (" in line or ": OK " in line]
    assert len(attempts) == 10 and not any(": OK " in line for line in attempts), report
    for place in (ROOT, out, submissions):
        assert not (place / "hacked.txt").exists()


def test_regrading_is_idempotent(graded, tmp_path):
    grades, _, out, submissions = graded
    few = tmp_path / "few"
    for student in ("reference", "loss_wrong_sign"):
        shutil.copytree(submissions / student, few / student)
    again, _ = grade_class(few, out, OPTIONS, progress=False)
    assert [(g.student, g.notebook, g.total, g.status) for g in again] == \
        [(g.student, g.notebook, g.total, g.status) for (s, _), g in sorted(grades.items()) if s in ("loss_wrong_sign", "reference")]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert len(rows) == len(grades)  # the others keep their rows, nobody is duplicated


def test_long_student_ids_in_deep_folders(tmp_path):
    """Kernel sockets must not live under the results folder: Unix socket paths stop at 108 bytes."""
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "results"
    student = "s" * 60
    (tmp_path / "class" / student).mkdir(parents=True)
    shutil.copy2(ROOT / "notebooks" / "01_policy_gradient.ipynb", tmp_path / "class" / student / "01_policy_gradient.ipynb")
    [grade], _ = grade_class(tmp_path / "class", deep, OPTIONS, progress=False)
    assert (grade.status, grade.total) == ("graded", 0.0), grade.message


def test_a_notebook_past_its_budget_keeps_the_cells_that_finished(tmp_path):
    """Slow cells, each under the cell timeout, together past the notebook's: the first exercise
    counts, the cells not started by then are not run and score nothing, and nothing waits for
    the hard limit on the nbgrader run."""
    import nbformat

    nb = nbformat.read(ROOT / "solutions" / "01_policy_gradient.ipynb", as_version=4)
    after = next(i for i, c in enumerate(nb.cells) if grade_id_of(c) == "returns_hidden")
    nb.cells[after + 1:after + 1] = [nbformat.v4.new_code_cell("import time\ntime.sleep(4)") for _ in range(8)]
    (tmp_path / "class" / "slow").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "class" / "slow" / "01_policy_gradient.ipynb")
    [grade], _ = grade_class(tmp_path / "class", tmp_path / "out",
                             Options(workers=1, cell_timeout=10, notebook_timeout=25), progress=False)
    assert (grade.status, grade.exercises) == ("timeout", {"loss": 0.0, "returns": 5.0}), grade.message
    assert "the notebook used up its 25 s" in grade.message and "were not run" in grade.message
