"""The sandbox for an instructor who is not root (a cluster's node runs the grading as its user):
bwrap makes its namespaces inside an unprivileged user namespace, and the student's code sees and
writes nothing of the host, as under root. The grading runs here in a user namespace of its own
(``unshare --user``: a uid that is not 0, with root's access to the files, as this machine's Python
lives under /root), so that the grader takes the path of a user that is not root."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from autograder.paths import ROOT, SOLUTIONS
from autograder.pipeline import SECRETS, Options, grade_class
from autograder.pipeline.job import FIRST_SANDBOX_UID, SANDBOX_UIDS, UID_LEASES
from autograder.sandboxed import launcher
from fixtures import bounds, handed_in, with_cell

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
NB1 = "01_policy_gradient"

ATTACK = """
import os
seen = {}
for path in [%r, %r]:
    try:
        open(path).read(10)
        seen[path] = "READ"
    except OSError as exc:
        seen[path] = type(exc).__name__
try:
    open(%r, "w").write("x")
    seen["write"] = "WROTE"
except OSError as exc:
    seen["write"] = type(exc).__name__
print("SEEN", seen, "UID", os.getuid())

def discounted_returns(rewards, dones, gamma):
    raise NotImplementedError
"""


def test_not_root_the_sandbox_runs_in_a_user_namespace_and_hides_the_host():
    if os.geteuid() != 0 or not launcher.available() or not shutil.which("unshare"):
        pytest.skip("needs root (to make the user namespace the grading runs in), unshare and bwrap")
    folder = Path(tempfile.mkdtemp(prefix="not-root-", dir="/var/tmp"))
    try:
        (folder / "class" / "alice").mkdir(parents=True)
        (folder / "class" / "mallory").mkdir(parents=True)
        (folder / "class" / "alice" / "notes.txt").write_text("another student's file, not graded")
        source = ATTACK % (
            str(SOLUTIONS / f"{NB1}.ipynb"),
            str(folder / "class" / "alice" / "notes.txt"),
            str(folder / "pwned"),
        )
        nbformat.write(
            with_cell(SOLUTIONS / f"{NB1}.ipynb", "returns_solution", source),
            folder / "class" / "mallory" / f"{NB1}.ipynb",
        )
        command = [
            "unshare",
            "--user",
            "--map-user=1000",
            "--map-group=1000",
            sys.executable,
            "-m",
            "autograder.pipeline",
            str(folder / "class"),
            "--out",
            str(folder / "out"),
            "--workers",
            "1",
            "--sandbox",
            "on",
            "--cell-timeout",
            "60",
        ]
        proc = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "WITHOUT the sandbox" not in proc.stderr
        rows = {
            line.split(",")[0]: line.split(",") for line in (folder / "out" / "grades.csv").read_text().splitlines()
        }
        # graded: the loss's 5 points (the reference's), none of the returns' (the attack's cell)
        assert rows["mallory"][2:4] == ["graded", "5"] and rows["mallory"][6] == "0", rows["mallory"]
        graded = folder / "out" / "work" / "mallory" / "autograded" / "mallory" / NB1 / f"{NB1}.ipynb"
        printed = "".join(o.get("text", "") for c in nbformat.read(graded, 4).cells for o in c.get("outputs", []))
        assert "SEEN" in printed and "READ" not in printed and "WROTE" not in printed, printed
        assert "UID 1000" in printed  # the instructor's uid, mapped: no throw-away uid without root
        assert not (folder / "pwned").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def locked_secrets():
    """What ``--sandbox uid`` asks of the instructor first: the solutions, the grader and the
    build are unreadable to other uids (0700) while it grades."""
    modes = [(p, p.stat().st_mode) for p in SECRETS if p.exists()]
    for p, mode in modes:
        p.chmod(mode & ~0o077)
    try:
        yield
    finally:
        for p, mode in modes:
            p.chmod(mode)


def test_the_uid_mode_scores_the_shared_optimizer_in_the_machines_shared_memory(runnable_python, locked_secrets):
    """Without namespaces the answers process uses the machine's /dev/shm: the scorer makes its
    files there for the student's uid alone and reads the student's tensors there. A SharedAdam whose
    state is not shared loses its points, the reference a3c_update beside it keeps all of its own
    (its weights read in that memory), and nothing of the student's uid is left in /tmp or /dev/shm."""
    folder = Path(tempfile.mkdtemp(prefix="uid-mode-", dir="/var/tmp"))  # 0700: the submissions closed
    try:
        (folder / "class" / "private").mkdir(parents=True)
        nbformat.write(handed_in("adam_state_not_shared", "03_a3c"), folder / "class" / "private" / "03_a3c.ipynb")
        options = Options(workers=1, sandbox="uid", cell_timeout=120)
        graded, _ = grade_class(folder / "class", folder / "out", options, progress=False)
        [private] = graded
        _, lowest, highest = bounds("adam_state_not_shared")["03_a3c"]  # as the namespaces give it
        assert private.status == "graded" and lowest <= private.total <= highest, private
        assert private.exercises["update"] == private.max_exercises["update"], private
        # every throw-away uid that no run holds now (the test's own run has ended) left nothing
        import fcntl

        for uid in range(FIRST_SANDBOX_UID, FIRST_SANDBOX_UID + SANDBOX_UIDS):
            fd = os.open(UID_LEASES / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another test's grading run, beside this one
            finally:
                os.close(fd)
            for shared in launcher.SHARED_FOLDERS:
                left = [name for name in os.listdir(shared) if os.lstat(f"{shared}/{name}").st_uid == uid]
                assert left == [], (uid, shared, left)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
