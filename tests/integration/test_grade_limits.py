"""The grading command's time limits and its own failures, on small classes of their own (the
fixture class's run is test_grade_class.py): a notebook past its budget and a cell that ignores the
interrupt are stopped and their answers still scored; a student whose grading breaks the grader
costs only that student; a run stopped from outside stops at once and leaves nothing behind."""

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.cells import grade_id_of
from autograder.paths import SOLUTIONS
from autograder.pipeline import Options, grade_class
from autograder.pipeline.__main__ import STOPPED
from autograder.pipeline.report import max_points
from fixtures import NB1, ROOT, bounds, build, handed_in, sandboxed

pytestmark = pytest.mark.slow

SANDBOXED = sandboxed()
SANDBOX = "on" if SANDBOXED else "off"


def test_time_limits_stop_a_notebook_and_a_cell_and_the_answers_are_still_scored(tmp_path):
    """Slow cells, each under the cell timeout, together past the notebook's: the run stops (the
    cells not started are not run and marked), nothing waits for the hard limit on the nbgrader
    run, and the answers are scored as usual: points never depend on the kernel's run. And a cell
    that ignores the interrupt: stopped at its timeout (a new kernel runs the rest), its function
    stopped in the scorer too. Short timeouts, both students at once. The notebook's budget is also
    the scorer's: 60 s, as the stuck student's scoring (its process started twice around a 10-s hang,
    the cells replayed) takes 20 s alone on 2 cores, past 25 s under the suite's load, and this
    machine has run at a third of its speed some evenings."""
    import nbformat

    options = Options(workers=2, cell_timeout=10, notebook_timeout=60, sandbox=SANDBOX)
    sleeps = options.notebook_timeout // 4 + 1  # 4 s each, under the cell's timeout; past the notebook's together
    nb = handed_in("reference", NB1)
    after = next(i for i, c in enumerate(nb.cells) if grade_id_of(c) == "returns_hidden")
    nb.cells[after + 1 : after + 1] = [nbformat.v4.new_code_cell("import time\ntime.sleep(4)") for _ in range(sleeps)]
    (tmp_path / "class" / "slow").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "class" / "slow" / "01_policy_gradient.ipynb")
    build(tmp_path / "hostile", students={"ignores_interrupt"}, sandboxed=SANDBOXED)
    shutil.copytree(tmp_path / "hostile" / "ignores_interrupt", tmp_path / "class" / "ignores_interrupt")
    grades = {g.student: g for g in grade_class(tmp_path / "class", tmp_path / "out", options, progress=False).grades}
    slow, stuck = grades["slow"], grades["ignores_interrupt"]
    assert (slow.status, slow.exercises) == ("timeout", {"loss": 5.0, "returns": 5.0}), slow.message
    assert f"the notebook used up its {options.notebook_timeout} s" in slow.message and "were not run" in slow.message
    status, low, high = bounds("ignores_interrupt")[NB1]
    assert stuck.status == status and low <= stuck.total <= high, stuck.message
    assert f"ran out of time ({options.cell_timeout} s a cell at most): loss_solution" in stuck.message
    # its code ran out of time in the kernel: each of its calls gets little time in the scorer
    from autograder.pipeline.job import SLOW_CALL_TIMEOUT
    from autograder.pipeline.scoring import ScoreRequest

    asked = ScoreRequest.read(tmp_path / "out" / "work" / "ignores_interrupt" / "score-request.json")
    assert asked.call_timeouts == {NB1: min(SLOW_CALL_TIMEOUT, options.cell_timeout)}


def test_a_submission_that_breaks_the_grader_costs_only_its_student(tmp_path, monkeypatch):
    """Every finished student's grades are in grades.csv as soon as they are known, and one whose
    grading raises gets an error row with the reason; the others are graded."""
    from autograder import pipeline as grading
    from autograder.pipeline.report import NotebookGrade

    for student in ("ann", "bob", "cid"):
        (tmp_path / "class" / student).mkdir(parents=True)
        shutil.copy2(ROOT / "notebooks" / "01_policy_gradient.ipynb", tmp_path / "class" / student)
    seen = []

    def grade_student(self, student, subs, releases, uid):
        import time

        if student == "cid":  # the last one: the others' rows must be on disk while it is being graded
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                rows = (self.out / "grades.csv").read_text()
                if "\nann," in rows and "\nbob," in rows:
                    break
                time.sleep(0.1)
            seen.extend(name for name in ("ann", "bob") if f"\n{name}," in rows)
        if student == "bob":
            raise RuntimeError("the grader tripped")
        return [
            NotebookGrade.from_cells(student, s.notebook, {"returns_visible": 1.0}, max_points(s.notebook))
            for s in subs
        ]

    monkeypatch.setattr(grading.Grader, "grade_student", grade_student)
    grades, _ = grade_class(tmp_path / "class", tmp_path / "out", Options(workers=2, sandbox="off"), progress=False)
    assert seen == ["ann", "bob"]
    bob = next(g for g in grades if g.student == "bob")
    assert bob.status == "error" and "the grader failed" in bob.message and "the grader tripped" in bob.message
    assert (tmp_path / "out" / "work" / "bob" / "grader.log").exists()
    rows = list(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert [(r["student"], r["status"]) for r in rows] == [("ann", "graded"), ("bob", "error"), ("cid", "graded")]


def test_a_run_stopped_by_sigterm_stops_at_once_and_leaves_nothing_behind(tmp_path):
    """SIGTERM (Slurm's time limit, ``scancel``) as a student's kernel starts: the command stops
    within seconds, not after the student being graded or those still queued (a thread pool's
    shutdown would grade them all first); it kills the processes it started in sessions of their
    own, which no signal sent to the command reaches: nbgrader, and the kernel jupyter_client starts
    in a session of its own, before bwrap can tie it to its parent; and it removes its temporary
    folders. Ctrl-C takes the same path (KeyboardInterrupt)."""
    for student in ("ann", "bob"):
        (tmp_path / "class" / student).mkdir(parents=True)
        shutil.copy2(SOLUTIONS / f"{NB1}.ipynb", tmp_path / "class" / student)
    temporary = tmp_path / "tmp"  # the run's own TMPDIR: what it leaves there is what it left behind
    temporary.mkdir()
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder.pipeline", str(tmp_path / "class"), "--out", str(out)]
    env = {**os.environ, "TMPDIR": str(temporary), "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(
        [*command, "--workers", "1", "--sandbox", SANDBOX],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(temporary.glob("grade-*/run/*.json")):  # ann's kernel is being started
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
            time.sleep(0.02)
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=10)  # ann's grading alone takes longer
    finally:
        run.kill()
    assert run.returncode == STOPPED and "stopped: " in output and "the others were not graded" in output, output
    assert not (out / "work" / "bob").exists()  # not started
    assert list(temporary.iterdir()) == []
    deadline = time.monotonic() + 5  # SIGKILLed processes are gone at once; their reaping may lag
    while left := running_in(tmp_path):
        assert time.monotonic() < deadline, left


def running_in(folder) -> list[str]:
    """The processes whose working folder is under ``folder``: bwrap, nbgrader, a kernel without the
    sandbox, the uid mode's kernel in its home (a sandboxed process's command line names none of it)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/cwd").startswith(str(folder)):
                command = Path(f"/proc/{entry}/cmdline").read_text().replace("\0", " ")
                found.append(f"{entry}: {command}")
        except OSError:
            continue  # gone, or a zombie
    return found
