"""Gradescope's autograder zip, run in a simulated Gradescope layout (the same folders under a
temporary root): results.json as their specifications have it, the grades of the course's own
grading command, a zero with a sentence for a wrong, missing or broken submission, nothing of the
hidden checks or the reference in the output."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.gradescope.build import build
from autograder.paths import NOTEBOOKS, SOLUTIONS
from fixtures import MISTAKES, bounds, solution_source, with_cell

pytestmark = pytest.mark.slow
NB1 = "01_policy_gradient"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The zip of notebook 1, extracted as Gradescope extracts it into /autograder/source."""
    [archive] = build(tmp_path_factory.mktemp("zip"), [NB1])
    folder = tmp_path_factory.mktemp("source")
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        z.extractall(folder)
    assert {"setup.sh", "run_autograder"} <= set(names)  # at the root of the archive
    for script in ("setup.sh", "run_autograder"):
        (folder / script).chmod(0o755)
    # setup.sh's last step, as Gradescope runs it once per image: the release that every run reuses
    env = {**os.environ, "PYTHONPATH": str(folder)}
    subprocess.run([sys.executable, "-m", "autograder.gradescope", "prepare"], cwd=folder, env=env, check=True)
    assert list((folder / "build" / ".release-cache").glob("*/gradebook.db"))
    return folder


def run_autograder(source, tmp_path, files: dict, sandbox: str = "auto") -> dict:
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    shutil.copytree(source, root / "source")
    for name, content in files.items():
        path = root / "submission" / name
        if content == "FIFO":
            os.mkfifo(path)
        elif isinstance(content, nbformat.NotebookNode):
            nbformat.write(content, path)
        else:
            path.write_text(content)
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "COURSE_PYTHON": sys.executable, "COURSE_SANDBOX": sandbox}
    proc = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    results = json.loads((root / "results" / "results.json").read_text())
    results["_stdout"] = proc.stdout + proc.stderr
    return results


def check_format(results: dict) -> None:
    """Gradescope's autograder specifications: a total score, tests with name, score and max_score."""
    assert isinstance(results["score"], float) and isinstance(results["output"], str)
    assert results["tests"] and all({"name", "score", "max_score", "output"} <= set(t) for t in results["tests"])
    assert abs(sum(t["score"] for t in results["tests"]) - results["score"]) < 1e-6
    assert sum(t["max_score"] for t in results["tests"]) == 10.0
    text = json.dumps(results)
    assert "from autograder.hidden import" not in text and "BEGIN SOLUTION" not in text
    reference = solution_source(NB1, "returns_solution").split("### BEGIN SOLUTION")[1]
    assert reference.strip().splitlines()[1].strip() not in text  # a line of the reference answer


def test_the_reference_gets_full_marks(source, tmp_path):
    results = run_autograder(source, tmp_path, {f"{NB1}.ipynb": nbformat.read(SOLUTIONS / f"{NB1}.ipynb", 4)})
    check_format(results)
    assert results["score"] == 10.0, results
    assert {t["name"] for t in results["tests"]} == {
        "returns: sanity checks",
        "returns: hidden checks",
        "loss: sanity checks",
        "loss: hidden checks",
    }
    hidden = next(t for t in results["tests"] if t["name"] == "returns: hidden checks")
    assert "PASS" in hidden["output"] and "4 / 4 points" in hidden["output"]


def test_a_blank_notebook_gets_zero_with_its_messages(source, tmp_path):
    results = run_autograder(source, tmp_path, {"my work.ipynb": nbformat.read(NOTEBOOKS / f"{NB1}.ipynb", 4)})
    check_format(results)
    assert results["score"] == 0.0 and "not written yet" in json.dumps(results["tests"])


def test_a_mistake_gets_what_its_fixture_says(source, tmp_path):
    """The run grades with the class command's own pipeline (``grade_class``): a typical mistake gets
    what the scorer gives it there (tests/autograder/test_one_verdict.py), and says why."""
    notebook, cell, code = MISTAKES["loss_wrong_sign"]
    results = run_autograder(source, tmp_path, {f"{NB1}.ipynb": with_cell(SOLUTIONS / f"{notebook}.ipynb", cell, code)})
    check_format(results)
    _, low, high = bounds("loss_wrong_sign")[NB1]
    assert low <= results["score"] <= high < 10.0, results["output"]
    assert "the sign is flipped" in json.dumps(results["tests"])


@pytest.mark.parametrize(
    "files, words",
    [
        ({"answers.py": "print('hello')"}, "No notebook (.ipynb) in your submission: only answers.py"),
        (
            {"02_a2c.ipynb": "SOLUTION:02_a2c"},
            "This assignment grades 01_policy_gradient.ipynb; your submission holds 02_a2c",
        ),
        ({f"{NB1}.ipynb": '{"cells": [ broken'}, "could not be graded: not valid JSON"),
        ({f"{NB1}.ipynb": "FIFO"}, "a FIFO"),
    ],
)
def test_a_wrong_missing_or_broken_submission_gets_zero_and_a_sentence(source, tmp_path, files, words):
    files = {
        name: nbformat.read(SOLUTIONS / f"{content.split(':')[1]}.ipynb", 4)
        if isinstance(content, str) and content.startswith("SOLUTION:")
        else content
        for name, content in files.items()
    }
    results = run_autograder(source, tmp_path, files)
    assert results["score"] == 0.0 and words in results["output"], results["output"]
    assert all(t["score"] == 0.0 for t in results["tests"]) and len(results["tests"]) == 4


def test_links_in_the_submission_are_not_followed(source, tmp_path):
    """A submission is files the student uploaded: a link to a file of the container is not read."""
    secret = tmp_path / "secret.ipynb"
    nbformat.write(nbformat.read(SOLUTIONS / f"{NB1}.ipynb", 4), secret)
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    os.symlink(secret, root / "submission" / f"{NB1}.ipynb")
    (root / "results").mkdir()
    shutil.copytree(source, root / "source")
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "COURSE_PYTHON": sys.executable}
    subprocess.run(
        ["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, timeout=600, check=False
    )
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0.0 and "a symbolic link" in results["output"]


STEAL = """import json
_nb = json.load(open({path!r}))
exec(next("".join(c["source"]) for c in _nb["cells"] if c["metadata"].get("nbgrader", {{}}).get("grade_id") == {gid!r}))
"""


def test_without_namespaces_a_throw_away_uid_keeps_the_answers_from_the_students_code(source, runnable_python):
    """Where the container forbids namespaces (``--sandbox uid``), the student's code runs as another
    uid and the solutions are root's alone: an answer that reads and runs the reference's cell gets
    nothing, while the notebook's honest answer beside it keeps its points (the uid mode grades).
    Without any protection (``--sandbox off``) the stealing answer gets full marks: the attack is real
    (measured so when this test was written; not run here, to keep the suite short)."""
    folder = Path(tempfile.mkdtemp(prefix="gradescope-", dir="/var/tmp"))  # crossable by any uid, as / is
    folder.chmod(0o755)
    try:
        solutions = folder / "autograder" / "source" / "solutions" / f"{NB1}.ipynb"
        nb = nbformat.read(SOLUTIONS / f"{NB1}.ipynb", 4)
        [cell] = [
            c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "returns_solution"
        ]
        cell.source = STEAL.format(path=str(solutions), gid="returns_solution")
        opened = folder / "opened-source"  # as before setup.sh's prepare: the run itself must close them
        shutil.copytree(source, opened)
        for path in (opened, opened / "solutions"):
            path.chmod(0o755)
        results = run_autograder(opened, folder, {f"{NB1}.ipynb": nb}, sandbox="uid")
        assert results["score"] == 5.0, results["output"]  # the loss's 5, none of the returns'
        assert "sandbox: uid" in results["_stdout"]
        assert not solutions.parent.stat().st_mode & 0o077  # the folder: root's alone
    finally:
        shutil.rmtree(folder, ignore_errors=True)
