"""The sandbox's file system is an allow-list, writes go to memory only, and the host's paths stay
outside (no bubblewrap needed to check the arguments it gets; tests/integration/test_grade_class.py runs it)."""

import os
import tempfile

import pytest

from autograder.paths import ROOT
from autograder.sandboxed import launcher as sandbox


def args_of(tmp_path, runtime=True):
    return sandbox.filesystem(str(tmp_path / "stage"), str(tmp_path / "run") if runtime else None, 1024**3)


def test_the_root_is_not_bound_and_only_the_allowed_folders_are(tmp_path):
    args = args_of(tmp_path)
    binds = [args[i + 1] for i, a in enumerate(args) if a in ("--bind", "--ro-bind", "--ro-bind-try")]
    assert "/" not in binds and "/root" not in binds and "/home" not in binds and "/work" not in binds
    assert all(str(d) in binds for d in sandbox.python_dirs())
    if os.path.isdir("/usr/local"):
        assert args[args.index("/usr/local") - 1] == "--tmpfs"  # other software's home is hidden


def test_no_host_folder_is_writable_but_the_kernels_sockets(tmp_path):
    """What the student's code writes goes to memory file systems of the sandbox's own, bounded in
    size: nothing it leaves behind is ever on the host, where nbgrader and the grader work as root."""
    args = args_of(tmp_path)
    writable = [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == "--bind"]
    assert writable == [(str(tmp_path / "run"), sandbox.RUNTIME)]
    assert not [a for a in args_of(tmp_path, runtime=False) if a == "--bind"]  # the answers process: none at all
    for inside in (sandbox.HOME, "/tmp", "/dev/shm"):
        at = args.index(inside)
        assert args[at - 1] == "--tmpfs" and args[at - 3 : at - 1] == ["--size", str(1024**3)], inside


def test_the_grading_folders_have_neutral_names_inside(tmp_path):
    args = args_of(tmp_path)
    pairs = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a in ("--bind", "--ro-bind")}
    assert pairs[str(tmp_path / "stage")] == sandbox.STAGE == "/opt/grading"
    assert pairs[str(tmp_path / "run")] == sandbox.RUNTIME == "/run/kernel"
    assert str(tmp_path) not in [args[i + 2] for i, a in enumerate(args) if a in ("--bind", "--ro-bind")]


def test_bwrap_gets_its_options_on_a_descriptor_and_an_environment_of_its_own(tmp_path):
    """/proc/1/cmdline inside shows bwrap's command line: the options (with the host's paths) go
    through --args instead; the environment inside holds nothing of the grader's."""
    env = {
        "PATH": "/secret/bin:/usr/bin",
        "GRADER_SECRET": "x",
        "OMP_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
        **sandbox.sandbox_env(
            runtime=tmp_path / "run", stage=tmp_path / "stage", uid=61000, memory=4 * 1024**3, cpu_seconds=60
        ),
    }
    outer, options = sandbox.bwrap_command(env)
    assert outer[0] == "prlimit" and outer[-1] == "bwrap" and not any(str(tmp_path) in a for a in outer)
    options = options.decode().split("\0")
    assert "--clearenv" in options and "--unshare-net" in options and "--unshare-pid" in options
    set_env = {options[i + 1]: options[i + 2] for i, a in enumerate(options) if a == "--setenv"}
    assert "GRADER_SECRET" not in set_env and "/secret/bin" not in set_env["PATH"]
    assert set_env["HOME"] == sandbox.HOME and set_env["PYTHONPATH"] == sandbox.STAGE
    assert not any(str(tmp_path) in value for value in set_env.values())
    assert options[options.index("--chdir") + 1] == sandbox.HOME


def test_the_staged_modules_are_the_sandboxed_folder_and_course_lib_only(tmp_path):
    """The trust boundary is a folder: autograder/sandboxed is staged whole, nothing else of the grader."""
    stage = sandbox.stage_public_modules(ROOT, tmp_path / "stage")
    assert sorted(p.name for p in (stage / "autograder").iterdir()) == ["__init__.py", "__pycache__", "sandboxed"]
    staged = {p.name for p in (stage / "autograder" / "sandboxed").glob("*.py")}
    assert staged == {p.name for p in (ROOT / "autograder" / "sandboxed").glob("*.py")}
    assert (stage / "course_lib" / "probes.py").exists()
    assert not any("hidden" in str(p) or "reference" in p.name or "pipeline" in str(p) for p in stage.rglob("*"))
    # compiled once here (a sandbox writes no bytecode), read-only to the student's uid
    cached = [p for p in (stage / "course_lib" / "__pycache__").glob("probes.*.pyc")]
    assert cached and all(p.stat().st_mode & 0o777 == 0o644 for p in cached)


def test_without_a_mount_namespace_what_a_uid_left_in_the_shared_folders_goes_with_it(tmp_path):
    """The uid mode: one throw-away uid grades student after student. What it left in /tmp and
    /dev/shm (a folder, a file, a link to a file elsewhere) is removed before the next student, the
    link's target and other uids' files stay, and no link is followed."""
    if os.geteuid() != 0:
        pytest.skip("files of another uid need root")
    shared, outside = tmp_path / "shared", tmp_path / "outside"
    shared.mkdir()
    outside.mkdir()
    (outside / "target").write_text("keep")
    (shared / "left" / "deep").mkdir(parents=True)
    (shared / "left" / "deep" / "cache").write_text("x")
    os.symlink(outside, shared / "left" / "link-to-folder")
    (shared / "file").write_text("x")
    os.symlink(outside / "target", shared / "link")
    (shared / "theirs").write_text("another uid's")
    for path in (shared / "left", shared / "left" / "deep", shared / "left" / "deep" / "cache", shared / "file"):
        os.chown(path, 54321, 54321)
    for link in (shared / "link", shared / "left" / "link-to-folder"):
        os.lchown(link, 54321, 54321)
    assert sandbox.remove_files_of(54321, folders=[str(shared)]) == 3
    assert sorted(os.listdir(shared)) == ["theirs"]
    assert (outside / "target").read_text() == "keep"


def test_clearing_a_uid_clears_its_homes_in_a_tmpdir_of_the_runs_own(tmp_path, monkeypatch):
    """uid mode makes each kernel's home in TMPDIR: with a TMPDIR other than /tmp (a cluster's
    scratch folder, a run's own), its homes are cleared there too, not left behind."""
    if os.geteuid() != 0:
        pytest.skip("files of another uid need root")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    home = tmp_path / "student-abc"
    (home / ".matplotlib").mkdir(parents=True)
    for path in (home, home / ".matplotlib"):
        os.chown(path, 54321, 54321)
    (tmp_path / "the-runs-own").mkdir()
    sandbox.clear_uid(54321)
    assert os.listdir(tmp_path) == ["the-runs-own"]


def test_without_a_pid_namespace_every_process_of_the_uid_is_killed_even_one_that_forks_on():
    """The uid mode ends a student's grading by killing its uid's processes: sleepers in the
    background and a loop that forks a child every few microseconds (which a kill per pid found in
    /proc can miss) are all gone afterwards."""
    import subprocess
    import time

    import pytest

    if os.geteuid() != 0:
        pytest.skip("processes of another uid need root")
    uid = 54323
    script = "sleep 300 & sleep 300 & while :; do /bin/true; done"
    proc = subprocess.Popen(["/bin/sh", "-c", script], user=uid, group=uid, cwd="/", start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(sandbox.processes_of(uid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sandbox.processes_of(uid)) >= 3
        assert sandbox.kill_uid(uid) >= 1
        assert sandbox.processes_of(uid) == []
        assert proc.wait(timeout=10) == -9
    finally:
        subprocess.run(["pkill", "-9", "-u", str(uid)], check=False)


def test_a_process_whose_first_thread_exited_is_still_found_and_killed():
    """Its first thread gone (SYS_exit, not exit_group), /proc shows the process as a zombie while
    its other thread runs on: it is one of the uid's live processes, and dies with them."""
    import platform
    import subprocess
    import time

    import pytest

    if os.geteuid() != 0:
        pytest.skip("processes of another uid need root")
    exit_thread = {"x86_64": 60, "aarch64": 93}.get(platform.machine())
    if exit_thread is None:
        pytest.skip(f"no SYS_exit number here for {platform.machine()}")
    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("no system Python for another uid to run (the venv's is root's)")
    uid = 54324
    code = (
        "import ctypes, threading, time; threading.Thread(target=time.sleep, args=(300,)).start(); "
        f"ctypes.CDLL(None).syscall({exit_thread}, 0)"
    )
    proc = subprocess.Popen(["/usr/bin/python3", "-c", code], user=uid, group=uid, cwd="/", start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        state = ""
        while time.monotonic() < deadline and not state.startswith("Z"):
            time.sleep(0.05)
            state = open(f"/proc/{proc.pid}/status").read().split("State:")[1].strip()
        assert state.startswith("Z"), state  # its first thread is gone, the other sleeps
        assert sandbox.processes_of(uid) == [proc.pid]
        assert sandbox.kill_uid(uid) >= 1
        assert sandbox.processes_of(uid) == []
        assert proc.wait(timeout=10) == -9
    finally:
        subprocess.run(["pkill", "-9", "-u", str(uid)], check=False)
