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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.gradescope.build import build, container
from autograder.paths import ROOT, SOLUTIONS, assignment_ids
from autograder.pipeline.report import max_points
from fixtures import FILES, MISTAKES, bounds, handed_in, solution_source, with_cell

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
        subprocess.run(["bash", "-n", str(folder / script)], check=True)  # both parse
    assert "--hidden-checks after_due_date" in (folder / "run_autograder").read_text()  # the default
    # setup.sh's last step, as Gradescope runs it once per image: the release that every run reuses
    env = {**os.environ, "PYTHONPATH": str(folder)}
    subprocess.run([sys.executable, "-m", "autograder.gradescope", "prepare"], cwd=folder, env=env, check=True)
    assert list((folder / "build" / ".release-cache").glob("*/gradebook.db"))
    return folder


def run_autograder(source, tmp_path, files: dict, sandbox: str = "auto", timeout: float = 900) -> dict:
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
        timeout=timeout,
        check=False,
    )
    results = json.loads((root / "results" / "results.json").read_text())
    results["_stdout"] = proc.stdout + proc.stderr
    return results


def check_format(results: dict) -> None:
    """Gradescope's autograder specifications: a total score, tests with name, score and max_score;
    every output a Markdown code block (shown as written: its lines kept, nothing in it rendered)."""
    assert isinstance(results["score"], float) and isinstance(results["output"], str)
    assert results["tests"] and all({"name", "score", "max_score", "output"} <= set(t) for t in results["tests"])
    assert results["output_format"] == "md" and all(t["output_format"] == "md" for t in results["tests"])
    for output in [results["output"], *(t["output"] for t in results["tests"])]:
        assert output.startswith("```text\n") and output.endswith("\n```"), output
    assert abs(sum(t["score"] for t in results["tests"]) - results["score"]) < 1e-6
    assert sum(t["max_score"] for t in results["tests"]) == 10.0
    text = json.dumps(results)
    assert "from autograder.hidden import" not in text and "BEGIN SOLUTION" not in text
    reference = solution_source(NB1, "returns_solution").split("### BEGIN SOLUTION")[1]
    assert reference.strip().splitlines()[1].strip() not in text  # a line of the reference answer


def test_the_reference_gets_full_marks(source, tmp_path, in_containers):
    """Notebook 1's reference as the container test graded it (else, without cgroups, graded here)."""
    if in_containers:
        results = in_containers[NB1][0]
    else:
        results = run_autograder(source, tmp_path, {f"{NB1}.ipynb": handed_in("reference", NB1)})
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
    # students see the sanity checks at once, the hidden checks after the deadline (the zip's default)
    assert {t["name"]: t["visibility"] for t in results["tests"]} == {
        "returns: sanity checks": "visible",
        "returns: hidden checks": "after_due_date",
        "loss: sanity checks": "visible",
        "loss: hidden checks": "after_due_date",
    }


def test_a_blank_exercise_and_a_typical_mistake_each_get_their_points_and_why(source, tmp_path):
    """One submission, two exercises: the returns left blank (the blank copy's cell), the loss with
    a typical mistake (``loss_wrong_sign``'s cell). The run grades with the class command's own
    pipeline (``grade_class``), so each exercise gets what the scorer gives it there
    (tests/autograder/test_one_verdict.py), and its Gradescope tests say why."""
    _, cell, mistake = MISTAKES["loss_wrong_sign"]
    results = run_autograder(source, tmp_path, {"my work.ipynb": with_cell(handed_in("blank", NB1), cell, mistake)})
    check_format(results)
    tests = {t["name"]: t for t in results["tests"]}
    returns = [t for name, t in tests.items() if name.startswith("returns")]
    assert sum(t["score"] for t in returns) == 0.0 and "not written yet" in json.dumps(returns), results["output"]
    _, low, high = bounds("loss_wrong_sign")[NB1]
    full_returns = sum(p for gid, p in max_points(NB1).items() if gid.startswith("returns"))
    loss = [t for name, t in tests.items() if name.startswith("loss")]
    lost = sum(t["max_score"] for t in loss) - sum(t["score"] for t in loss)
    assert low - full_returns <= sum(t["score"] for t in loss) <= high - full_returns, results["output"]
    assert lost >= 0.5 * sum(t["max_score"] for t in loss), results["output"]  # a typical mistake loses half
    assert "the sign is flipped" in json.dumps(loss), results["output"]


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


def test_two_different_files_for_the_notebook_are_refused_with_their_names(source, tmp_path):
    """An upload keeps no file times: neither is graded by a guess (a mistake an hour older than the
    reference was graded once, "the newer file"); the student is told which files to choose from."""
    files = {f"{NB1}.ipynb": handed_in("loss_wrong_sign", NB1), f"{NB1} (1).ipynb": handed_in("reference", NB1)}
    results = run_autograder(source, tmp_path, files)
    assert results["score"] == 0.0, results["output"]
    assert f"different files for {NB1}.ipynb ({NB1} (1).ipynb, {NB1}.ipynb)" in results["output"]
    assert "hand in only that one" in results["output"]


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


@pytest.fixture
def uid_folder(source, runnable_python):
    """A Gradescope root outside /root, crossable by any uid (as / is), with the course's source as
    the zip unpacks it, open as before setup.sh's prepare: the uid mode's run must close it itself."""
    folder = Path(tempfile.mkdtemp(prefix="gradescope-", dir="/var/tmp"))
    folder.chmod(0o755)
    opened = folder / "opened-source"
    shutil.copytree(source, opened)
    for path in (opened, opened / "solutions"):
        path.chmod(0o755)
    yield folder, opened
    shutil.rmtree(folder, ignore_errors=True)


def test_without_namespaces_a_throw_away_uid_keeps_the_answers_from_the_students_code_and_what_it_leaves(uid_folder):
    """Where the container forbids namespaces (``--sandbox uid``), the student's code runs as another
    uid and the solutions are root's alone. One submission, two attacks:

    * the returns cell reads and runs the reference's cell: it gets nothing. Without any protection
      (``--sandbox off``) the stealing answer gets full marks: the attack is real (measured so when
      this test was written; not run here, to keep the suite short);
    * the loss cell is ``fixtures/hostile/leaves_a_daemon`` with the loss's reference: a process in a
      session of its own (forked from the kernel, out of its process group) that keeps nbgrader's
      output pipe open for an hour, and a try at an internet socket that raises before the answer
      unless it is refused. Its exercise keeps full marks (the socket was refused in the kernel and
      in the answers process: the seccomp filter, as there is no network namespace here), the run
      writes its results.json in the time of an honest one (``run_autograder``'s time-out is the
      bound) and leaves nothing running."""
    folder, opened = uid_folder
    solutions = folder / "autograder" / "source" / "solutions" / f"{NB1}.ipynb"
    steal = STEAL.format(path=str(solutions), gid="returns_solution")
    daemon = FILES["hostile"]["leaves_a_daemon"]["source"].replace(
        "__REFERENCE__", solution_source(NB1, "loss_solution")
    )
    nb = with_cell(SOLUTIONS / f"{NB1}.ipynb", "returns_solution", steal)
    nb = with_cell(nb, "loss_solution", daemon)
    results = run_autograder(opened, folder, {f"{NB1}.ipynb": nb}, sandbox="uid", timeout=300)
    assert "sandbox: uid" in results["_stdout"]
    points = {t["name"]: t["score"] for t in results["tests"]}
    assert sum(v for k, v in points.items() if k.startswith("returns")) == 0.0, results["output"]  # not stolen
    assert sum(v for k, v in points.items() if k.startswith("loss")) == 5.0, results["output"]  # network refused
    assert not solutions.parent.stat().st_mode & 0o077  # the folder: root's alone
    assert '"grade_id": "returns_solution"' in solutions.read_text()  # what the cell aimed at was there
    assert "left-daemon" not in _process_names()


def _process_names() -> set[str]:
    names = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                names.add(Path(f"/proc/{entry}/comm").read_text().strip())
            except OSError:
                pass
    return names


LIMITED = Path(os.environ.get("COURSE_LIMITED", str(ROOT.parent / "shared" / "tools" / "limited")))


def can_limit() -> bool:
    return LIMITED.exists() and os.geteuid() == 0 and Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()


@pytest.fixture(scope="module")
def in_containers(source, tmp_path_factory) -> dict[str, tuple[dict, str]] | None:
    """Each notebook's reference graded by its zip's run, held to the container that zip asks for:
    notebook -> (results.json, with the run's output as ``_stdout``; the cgroup's summary line).
    None where the cgroups cannot be made (not root, no cgroup v1)."""
    if not can_limit():
        return None
    tmp_path = tmp_path_factory.mktemp("containers")
    zips = {nb: build(tmp_path / "zips", [nb])[0] for nb in assignment_ids()}

    def grade(notebook: str) -> tuple[str, tuple[dict, str]]:
        root = tmp_path / notebook
        (root / "submission").mkdir(parents=True)
        (root / "results").mkdir()
        os.symlink(source, root / "source")  # one extracted course for all (run_autograder cds into it)
        with zipfile.ZipFile(zips[notebook]) as z:
            (root / "run_autograder").write_bytes(z.read("run_autograder"))
        nbformat.write(handed_in("reference", notebook), root / "submission" / f"{notebook}.ipynb")
        memory, cpus = container(notebook)
        env = {**os.environ, "GRADESCOPE_ROOT": str(root), "COURSE_PYTHON": sys.executable}
        done = subprocess.run(
            [str(LIMITED), memory, str(cpus), "--", "bash", str(root / "run_autograder")],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        results = json.loads((root / "results" / "results.json").read_text())
        results["_stdout"] = done.stdout + done.stderr
        line = next(line for line in done.stderr.splitlines() if line.startswith("limited:"))
        return notebook, (results, line)

    with ThreadPoolExecutor(4) as pool:  # four at half a CPU each fill two cores
        return dict(pool.map(grade, assignment_ids()))


def test_each_notebook_is_graded_within_the_container_its_zip_asks_for(in_containers):
    """Gradescope's default container is 768 MB and half a CPU; each zip's GRADESCOPE.txt says what
    to choose (``gradescope.build.container``). Held to exactly that by a memory and CPU cgroup
    (``../shared/tools/limited``), every notebook's reference is graded: status graded, full marks,
    nothing killed for memory. A typical mistake runs the same cells as the reference (its peak was
    at most 4 MB above the reference's: ``benchmarks/gradescope_limits.py`` records both), and
    test_a_blank_exercise_and_a_typical_mistake_each_get_their_points_and_why grades one through
    the zip's run."""
    if in_containers is None:
        pytest.skip(f"needs {LIMITED}, root and cgroup v1's memory and cpu controllers")
    for notebook, (results, line) in in_containers.items():
        assert "killed for memory: 0" in line, (notebook, line, results["output"])
        assert f"{notebook}: " in results["output"] and "(graded)" in results["output"], results["output"]
        assert results["score"] == sum(max_points(notebook).values()), results["output"]
