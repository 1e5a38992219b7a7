"""A class graded on a real Slurm cluster (one node, on this machine) through the real sbatch: three
array tasks and the merge, one task killed mid-run, named by the merge and graded again alone, give
every student their grade."""

import csv
import re
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from slurm_cluster import OneNodeCluster

from autograder.paths import SOLUTIONS
from autograder.pipeline.slurm import COMPLETE, submit
from fixtures import bounds, handed_in

pytestmark = pytest.mark.slow
NB1 = "01_policy_gradient"
GRADE_ARGS = "--cell-timeout 60 --timeout 300"
STUDENTS = ("ann", "loss_wrong_sign", "reference")  # the small class below


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = OneNodeCluster.unavailable()
    if reason:
        pytest.skip(reason)
    import os

    started = OneNodeCluster(tmp_path_factory.mktemp("slurm")).start()
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(started.conf)  # what an instructor's shell has on a cluster's login node
    try:
        yield started
    finally:
        started.stop()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    """Three students of notebook 1, one in each of three shards (in_shard's hash of the id): a
    second reference, ann, in shard 1; the reference in 2; a typical mistake in 3 (the blank copy's
    zero is the class test's)."""
    root = tmp_path_factory.mktemp("class")
    for student in ("ann", "reference"):
        (root / student).mkdir()
        shutil.copy2(SOLUTIONS / f"{NB1}.ipynb", root / student / f"{NB1}.ipynb")
    (root / "loss_wrong_sign").mkdir()
    nbformat.write(handed_in("loss_wrong_sign", NB1), root / "loss_wrong_sign" / f"{NB1}.ipynb")
    return root


def expected_points(student: str) -> tuple[float, float]:
    """What each student of the small class must get (the same bounds as everywhere else)."""
    if student in ("ann", "reference"):
        return 10.0, 10.0
    _, low, high = bounds(student)[NB1]
    return low, high


def rows(out: Path) -> dict:
    return {(r["student"], r["notebook"]): r for r in csv.DictReader((out / "grades.csv").open())}


def checked_grades(out: Path) -> dict:
    """grades.csv's rows, each student's checked against what they must get."""
    got = rows(out)
    assert set(got) == {(s, NB1) for s in STUDENTS}, got
    for (student, _), row in got.items():
        low, high = expected_points(student)
        assert row["status"] == "graded" and low <= float(row["total"]) <= high, row
    return got


def test_array_tasks_a_killed_one_named_by_the_merge_graded_again_alone_and_the_class_report(
    cluster, small_class, tmp_path
):
    """Three array tasks and the merge, one of them killed mid-run (as a node failure or a time limit
    would): the merge names it and prints the command that grades it again alone; that command's task
    and merge give every student their grade (the merge itself is tested on files in test_shards),
    the class report and an LMS file that follows the roster, and the other shards are not graded again."""
    out = tmp_path / "results"
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name,lms_id\n" + "".join(f"{s},Student {s},{k}\n" for k, s in enumerate(STUDENTS)))
    record = submit(small_class, out, 3, cpus=1, mem="6G", time="0:30:00", extra=GRADE_ARGS, roster=roster)
    task = f"{record['array_job']}_2"
    deadline = time.monotonic() + 600
    while "RUNNING" not in cluster.run("squeue", "-h", "-o", "%T", "-j", task, check=False):
        assert time.monotonic() < deadline, "task 2 never started"
        time.sleep(1)
    time.sleep(5)
    cluster.run("scancel", task)  # as a node failure or a time limit would
    deadline = time.monotonic() + 60  # read at once: Slurm forgets a finished task after MinJobAge
    while True:
        state = cluster.run("scontrol", "-o", "show", "job", task, check=False)
        if not any(f"JobState={s} " in state for s in ("RUNNING", "COMPLETING")) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "JobState=CANCELLED" in state, f"task 2 ended otherwise than cancelled 5 s into its run: {state!r}"
    cluster.wait(record["array_job"], record["merge_job"])
    merge_log = next((out / "slurm").glob("merge-*.log")).read_text()
    assert "NOT COMPLETE: shard(s) 2 of 3" in merge_log
    command = merge_log.split("the merge then runs again):\n")[1].strip().splitlines()[0]  # what it says to run
    assert command.endswith("--only 2"), command
    assert not (out / "shards" / "2-of-3" / COMPLETE).exists()
    others = {k: (out / "shards" / f"{k}-of-3" / COMPLETE).stat().st_mtime_ns for k in (1, 3)}

    submitted = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, check=True)
    array_job, merge_job = re.search(r"array job (\d+) .* merge job (\d+)", submitted.stdout).groups()
    cluster.wait(array_job, merge_job)
    got = checked_grades(out)
    # the killed shard's student (the reference) graded again exactly as ann, a copy in a shard never killed
    apart = {"student", "message"}  # the columns that may differ
    assert {k: v for k, v in got["reference", NB1].items() if k not in apart} == {
        k: v for k, v in got["ann", NB1].items() if k not in apart
    }
    assert {k: (out / "shards" / f"{k}-of-3" / COMPLETE).stat().st_mtime_ns for k in (1, 3)} == others  # not again
    assert len(list((out / "slurm").glob("shard-2-job*.log"))) == 2  # the killed task's log is kept
    logs = sorted((out / "slurm").glob("merge-*.log"), key=lambda p: p.stat().st_mtime)
    assert "merged 3 shard(s): 3 rows" in logs[-1].read_text() and "NOT COMPLETE" not in logs[-1].read_text()
    # the merge's class report covers the whole class, and its LMS file follows the roster
    page = (out / "report.html").read_text()
    assert "<h1>Class report</h1>" in page and "INCOMPLETE" not in page  # the last merge's, not the first's
    canvas = list(csv.reader((out / "canvas.csv").open(newline="")))
    assert sorted(r[0] for r in canvas[2:]) == sorted(f"Student {s}" for s in STUDENTS)
    for student in STUDENTS:
        assert (out / "feedback" / student / f"{NB1}.html").exists()
