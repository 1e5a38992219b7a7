"""notebooks/ is generated from solutions/ by nbgrader, is up to date, and gives nothing away."""

import re
from pathlib import Path

import nbformat
import pytest

from autograder import release
from autograder.cells import grade_id_of, is_hidden_check, is_hidden_test_cell, is_test_cell

SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def _lines(text):
    return {line.strip() for line in text.splitlines() if len(line.strip()) > 12}


def public_lines():
    """Lines the course shows anyway: every line of every source notebook outside its solution
    and hidden-test blocks (``optimizer.step()`` in a ready-made cell is no secret elsewhere)."""
    lines = set()
    for path in release.SOLUTIONS.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            lines |= _lines(HIDDEN_BLOCK.sub("", SOLUTION_BLOCK.sub("", cell.source)))
    return lines


def secret_lines(notebook_id):
    """Every non-trivial line inside a solution or hidden-test block of the source notebook that the
    course does not show anywhere else."""
    nb = nbformat.read(release.SOLUTIONS / f"{notebook_id}.ipynb", as_version=4)
    lines = set()
    for cell in nb.cells:
        for block in SOLUTION_BLOCK.findall(cell.source) + HIDDEN_BLOCK.findall(cell.source):
            lines |= _lines(block)
    return lines - public_lines()


def test_every_solution_has_a_student_notebook():
    assert release.assignment_ids(), "no solution notebooks found"
    assert sorted(p.stem for p in release.NOTEBOOKS.glob("*.ipynb")) == release.assignment_ids()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The student notebooks made again from solutions/ (nbgrader's release: seconds), once."""
    return release.release(tmp_path_factory.mktemp("release"))


@pytest.mark.slow
def test_student_notebooks_are_not_stale(fresh):
    assert release.differences(fresh, release.NOTEBOOKS) == [], (
        "run `python -m autograder.release` and commit notebooks/"
    )


@pytest.mark.parametrize("notebook_id", release.assignment_ids())
def test_student_notebook_holds_no_solution_or_hidden_test(notebook_id):
    student = (release.NOTEBOOKS / f"{notebook_id}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in student and "HIDDEN TESTS" not in student
    assert "autograder" not in student  # the hidden checks are called from hidden-test blocks only
    secrets = secret_lines(notebook_id)
    assert secrets, "the source notebook should have solution blocks"
    leaked = [line for line in secrets if line in student]
    assert leaked == []


@pytest.mark.parametrize("notebook_id", release.assignment_ids())
def test_a_cell_of_hidden_checks_is_one_by_its_source_and_by_its_name(notebook_id):
    """Two views of one fact: nbgrader and the scorer find hidden checks by the block in a cell's
    source (``cells.HIDDEN_TESTS``), the reports by the grade id alone (``cells.is_hidden_check``)."""
    nb = nbformat.read(release.SOLUTIONS / f"{notebook_id}.ipynb", as_version=4)
    tests = [c for c in nb.cells if is_test_cell(c)]
    assert tests and all(is_hidden_test_cell(c) == is_hidden_check(str(grade_id_of(c))) for c in tests)


@pytest.mark.parametrize("notebook_id", release.assignment_ids())
def test_student_notebook_is_committed_without_outputs(notebook_id):
    nb = nbformat.read(release.NOTEBOOKS / f"{notebook_id}.ipynb", as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert any("raise NotImplementedError()" in c.source for c in nb.cells)


@pytest.mark.parametrize("notebook_id", release.assignment_ids())
def test_solution_notebook_is_committed_without_outputs(notebook_id):
    nb = nbformat.read(release.SOLUTIONS / f"{notebook_id}.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_the_check_command_compares_notebooks_with_a_release_of_its_own(fresh, monkeypatch, capsys):
    """``python -m autograder.release --check``: ``stale()`` makes a release in a folder of its own
    (here the one release, copied) and compares ``notebooks/`` with it."""
    import shutil

    def copy_of_fresh(out_dir):
        return [Path(shutil.copy2(path, out_dir / path.name)) for path in fresh]

    monkeypatch.setattr(release, "release", copy_of_fresh)
    assert release.stale() == []
    assert release.main(["--check"]) == 0 and "up to date" in capsys.readouterr().out


@pytest.mark.slow
def test_stale_detects_an_edited_student_notebook(fresh, tmp_path):
    for nb_id in release.assignment_ids():
        (tmp_path / f"{nb_id}.ipynb").write_text((release.NOTEBOOKS / f"{nb_id}.ipynb").read_text())
    first = release.assignment_ids()[0]
    edited = (tmp_path / f"{first}.ipynb").read_text().replace("raise NotImplementedError()", "pass", 1)
    (tmp_path / f"{first}.ipynb").write_text(edited)
    (tmp_path / "99_orphan.ipynb").write_text("{}")
    assert sorted(release.differences(fresh, tmp_path)) == sorted([f"{first}.ipynb", "99_orphan.ipynb"])


@pytest.mark.parametrize("notebook_id", release.assignment_ids())
def test_student_notebook_holds_the_metadata_jupyterlab_would_write(notebook_id):
    """Opening a notebook must not mark it modified: JupyterLab rewrites the kernelspec and the
    language_info it gets from the kernel, and marks the notebook dirty unless they are equal."""
    nb = nbformat.read(release.NOTEBOOKS / f"{notebook_id}.ipynb", as_version=4)
    expected = release.kernel_metadata()
    assert nb.metadata["kernelspec"] == expected["kernelspec"]
    assert {k: v for k, v in nb.metadata["language_info"].items() if k != "version"} == {
        k: v for k, v in expected["language_info"].items() if k != "version"
    }
