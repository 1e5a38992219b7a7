"""Start a process that runs a student's code in the grading sandbox (Linux: bubblewrap, prlimit,
a throw-away uid). What the sandbox protects, and what not: ``docs/grading.md``.

    python -m autograder.sandboxed.launcher launch CONNECTION_FILE   # a kernel (nbgrader's kernelspec)
    python -m autograder.sandboxed.launcher answers                  # the answers server (the scorer)

Each is ``prlimit (memory, CPU time, processes, file size) bwrap (namespaces) python ...``: it starts
as root inside the sandbox only to read its connection file and bind its sockets, then drops to an
unprivileged uid of its own before it runs any of the student's code. ``filesystem`` is the whole
file system inside (an allow-list; the places the code may write are memory file systems of the
sandbox, so nothing it leaves reaches the host); bwrap gets its options on a descriptor
(``--args``) and an environment of its own. The settings come from environment variables the
grader sets (``COURSE_SANDBOX_*``, ``sandbox_env``).

**What of the host shows inside** (precisely, and tested: ``tests/integration/test_grade_class.py``
reads mountinfo, environ and cmdline from inside): the kernel cannot see the host's paths in its
environment or its command line but for the Python environment's own (``python_dirs``: the
interpreter's install and the venv, mounted read-only at their own paths, since a venv finds its
interpreter by path); and ``/proc/self/mountinfo`` names, for each folder bound in, its path on the
host: the system's folders, those two, and the two temporary folders of the grading run that are
mounted at ``STAGE`` and ``RUNTIME`` (a bind mount always shows its source there). Nothing else:
not the results, the submissions, the repository's folders (but the venv's own path, where it lies
inside one), another checkout, the host's home.

Not root (a cluster's node runs the grading as the instructor), bwrap makes its namespaces inside an
unprivileged user namespace and the code runs as the instructor's uid mapped there: the same file
system, nothing of the host writable. Where namespaces are forbidden altogether (a container without
them, such as Gradescope's), ``uid`` mode keeps the rest: prlimit and a throw-away uid, with no
namespace, so the grader must first make its secrets unreadable to others (``locked``).
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import course_lib
from autograder.sandboxed import no_network

KERNEL_NAME = "course-sandbox"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
HIDDEN_SYSTEM_DIRS = ("/usr/local", "/usr/src")  # where other software (and checkouts) may live
SYSTEM_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/fonts",
    "/sys/devices/system/cpu",
)  # the linker's cache, fonts; torch reads the CPUs' topology
HOME = "/home/student"  # the working folder: a memory file system of the sandbox's own
STAGE_PREFIX, RUNTIME_PREFIX = "grading-stage-", "grade-"  # the grading run's temporary folders on the host
STAGE = "/opt/grading"  # the public grading modules and course_lib, read-only
RUNTIME = "/run/kernel"  # the kernel's connection file and sockets
PATH = "/usr/bin:/bin"


_WORKS: list[bool] = []
_FILTER_WORKS: list[bool] = []
NAMESPACES, UID = "namespaces", "uid"  # COURSE_SANDBOX_MODE: bwrap's sandbox, or prlimit and a uid only


def available() -> bool:
    """bubblewrap and prlimit are installed and bwrap can make its namespaces here (a container may
    forbid them: Docker without --privileged); as root the code also gets a throw-away uid, else it
    runs as this user inside a user namespace of its own."""
    if not (shutil.which("bwrap") and shutil.which("prlimit")):
        return False
    if not _WORKS:
        probe = [
            "bwrap",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            *(["--unshare-user"] if os.geteuid() != 0 else []),
            "true",
        ]
        try:
            _WORKS.append(subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0)
        except (OSError, subprocess.TimeoutExpired):
            _WORKS.append(False)
    return _WORKS[0]


def uid_mode_available() -> bool:
    """``uid`` mode's needs: prlimit, root (to give the code a throw-away uid), a Python that other
    uids can run (not one under a 0700 home, as pyenv's under /root), and a seccomp filter that
    refuses the network (``no_network``: without a network namespace it is what does)."""
    if not (shutil.which("prlimit") and os.geteuid() == 0 and runnable_by_others(Path(sys.executable))):
        return False
    if not _FILTER_WORKS:
        _FILTER_WORKS.append(no_network.works())
    return _FILTER_WORKS[0]


def runnable_by_others(path: Path) -> bool:
    path = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & 0o001 for p in [*path.parents, path])


def locked(path: Path) -> bool:
    """Whether a uid that is neither the owner nor in the group can not read ``path`` (where it
    really is: links resolved): a folder on the way lacks the others' x bit, or the path itself is
    closed to them (a file: no r bit; a folder: neither r nor x, since a name known from elsewhere,
    such as a notebook's, is read through x alone)."""
    path = Path(os.path.realpath(path))
    for parent in reversed(path.parents):
        if not os.stat(parent).st_mode & 0o001:
            return True
    mode = os.stat(path).st_mode
    return not mode & (0o005 if stat.S_ISDIR(mode) else 0o004)


def processes_of(uid: int) -> list[int]:
    """The live processes whose real, effective or saved uid is ``uid`` (not zombies: they are
    dead, and wait for their parent to read their status; but a process whose first thread exited
    shows as a zombie while its other threads run on: it counts)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
            except (OSError, ValueError):
                continue
            dead = fields.get("State", "").split()[:1] == ["Z"] and fields.get("Threads", "1").strip() in ("0", "1")
            if not dead and str(uid) in fields.get("Uid", "").split()[:3]:
                found.append(int(entry))
    return found


def kill_uid(uid: int, rounds: int = 50) -> int:
    """Kill every process of ``uid`` (``uid`` mode has no PID namespace to end with the kernel:
    what a student's code left running dies with its grading), until none is left; how many
    rounds it took (0: there was none).

    A scan of /proc and a kill per pid can be outrun by a process that forks and exits in a loop;
    ``kill(-1, SIGKILL)`` sent *as that uid* (a child of ours that became it) reaches every process
    of the uid at once, in the kernel. It is sent once whatever /proc shows (a process /proc
    misreads dies too), then until /proc shows none, with a pause for the dying between rounds."""
    found = bool(processes_of(uid))
    for done in range(rounds):
        if done and not processes_of(uid):
            return done if found else 0
        pid = os.fork()
        if pid == 0:  # the child: become the uid (no way back), and signal all of its processes
            try:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)  # all the processes this uid may signal, except itself
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.02 * done)  # the killed leave /proc when their exit is done
    raise RuntimeError(f"processes of uid {uid} still running after {rounds} rounds of SIGKILL")


SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")  # where any uid may write, without a mount namespace


def remove_files_of(uid: int, folders=SHARED_FOLDERS) -> int:
    """``uid`` mode, after the student's processes are killed: remove what that uid left in the
    machine's shared folders (its working folder, torch's caches, shared-memory files), so that
    nothing of one student waits there for the next one graded as the same uid; how many entries.
    Links are removed, never followed."""
    removed = 0
    for folder in folders:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
                if info.st_uid != uid:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    _remove_tree(path)
                else:
                    os.unlink(path)
                removed += 1
            except OSError:
                continue
    return removed


def clear_uid(uid: int) -> None:
    """``uid`` mode, between two students graded as ``uid``: its processes killed, then its files in
    the machine's shared folders removed (no process of it is left to make more), and in this
    run's TMPDIR, where its homes are made (``_exec_separated``), when that is another folder."""
    kill_uid(uid)
    remove_files_of(uid, tuple(dict.fromkeys([*SHARED_FOLDERS, tempfile.gettempdir()])))


def _remove_tree(path: str) -> None:
    """rmtree (which follows no link inside); for a tree too deep for its recursion, ``rm -rf``."""

    try:
        shutil.rmtree(path)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", path], check=False, timeout=600)


def install_kernelspec(jupyter_path: Path) -> None:
    """Write the ``course-sandbox`` kernelspec under ``jupyter_path`` (put it on JUPYTER_PATH)."""
    spec_dir = jupyter_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "autograder.sandboxed.launcher", "launch", "{connection_file}"],
        "display_name": "Python 3 (grading sandbox)",
        "language": "python",
        "interrupt_mode": "message",
    }  # signals do not cross bwrap; an interrupt_request does
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))


def stage_public_modules(repo: Path, stage: Path) -> Path:
    """Copy what a sandbox needs, none of it secret, to ``stage``: this folder
    (``autograder/sandboxed``, the trust boundary) and ``course_lib``, so that no path of the
    repository is mounted."""
    # A folder that exists is kept, emptied (a fresh one of mkdtemp's, given to us): removed, its name
    # could be taken meanwhile.
    stage.mkdir(mode=0o700, parents=True, exist_ok=True)
    for child in stage.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (stage / "autograder").mkdir()
    (stage / "autograder" / "__init__.py").write_text('"""The grader\'s public part: autograder.sandboxed."""\n')
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(repo / "autograder" / "sandboxed", stage / "autograder" / "sandboxed", ignore=skip)
    shutil.copytree(Path(course_lib.__file__).resolve().parent, stage / "course_lib", ignore=skip)
    # Compiled here, once: a sandbox writes no bytecode (PYTHONDONTWRITEBYTECODE), so without it every
    # kernel and answers process would compile these modules again. Read-only to the student's uid.
    compileall.compile_dir(stage, quiet=1, workers=1)
    for path in [stage, *stage.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return stage


def sandbox_env(
    *,
    runtime: Path | None,
    stage: Path,
    uid: int,
    memory: int,
    cpu_seconds: int,
    nproc: int = 256,
    tmpfs_bytes: int | None = None,
    mode: str = NAMESPACES,
) -> dict[str, str]:
    """The settings of a sandbox, as environment variables for the launcher (``runtime``: the host
    folder of the kernel's sockets; ``tmpfs_bytes``: the size of each memory file system, by
    default a quarter of ``memory``; ``mode``: bwrap's namespaces, or ``uid`` mode)."""
    return {
        "COURSE_SANDBOX_MODE": mode,
        "COURSE_SANDBOX_RUNTIME": str(runtime or ""),
        "COURSE_SANDBOX_STAGE": str(stage),
        "COURSE_SANDBOX_UID": str(uid),
        "COURSE_SANDBOX_MEMORY": str(memory),
        "COURSE_SANDBOX_CPU": str(cpu_seconds),
        "COURSE_SANDBOX_NPROC": str(nproc),
        "COURSE_SANDBOX_TMPFS": str(tmpfs_bytes or memory // 4),
    }


def python_dirs() -> list[Path]:
    """Folders the sandbox's Python needs: the interpreter's install and the venv."""
    dirs = {
        Path(sys.base_prefix),
        Path(sys.prefix),
        Path(os.path.realpath(sys.executable)).parent.parent,
    }  # the venv's python links into an install
    return sorted(d for d in dirs if d.exists())


class Mounts:
    """bwrap's mount arguments, with the folders above each mount point made crossable (0755).

    Inside a tmpfs, bwrap creates the missing folders above a mount point with mode 0700, which
    the sandbox's uid could not cross.
    """

    def __init__(self):
        self.args: list[str] = []
        self.points: list[tuple[str, str]] = []  # (path, "bind" or "tmpfs"), in order
        self.made: set[str] = {"/"}

    def _exists_inside(self, path: str) -> bool:
        for point, kind in reversed(self.points):
            if path == point or path.startswith(point.rstrip("/") + "/"):
                return kind == "bind" or path in self.made
        return path in self.made

    def _parents(self, path: str) -> None:
        for parent in reversed(Path(path).parents):
            p = str(parent)
            if not self._exists_inside(p):
                self.args += ["--perms", "0755", "--dir", p]
                self.made.add(p)

    def bind(
        self, source: str | Path, inside: str | Path | None = None, writable: bool = False, try_: bool = False
    ) -> None:
        inside = str(inside or source)
        self._parents(inside)
        self.args += ["--bind" if writable else ("--ro-bind-try" if try_ else "--ro-bind"), str(source), inside]
        self.points.append((inside, "bind"))

    def tmpfs(self, path: str, perms: str = "0755", size: int | None = None) -> None:
        self._parents(path)
        self.args += ["--perms", perms] + (["--size", str(size)] if size else []) + ["--tmpfs", path]
        self.points.append((path, "tmpfs"))
        self.made.add(path)

    def symlink(self, target: str, path: str) -> None:
        self.args += ["--symlink", target, path]
        self.made.add(path)


def filesystem(stage: str, runtime: str | None, tmpfs_bytes: int) -> list[str]:
    """The sandbox's whole file system, as bwrap arguments (see the module's docstring).

    ``stage`` and ``runtime`` are host folders, mounted at ``STAGE`` and ``RUNTIME``.
    """
    m = Mounts()
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            m.symlink(os.readlink(path), path)
        elif os.path.isdir(path):
            m.bind(path)
    for path in HIDDEN_SYSTEM_DIRS:
        if os.path.isdir(path):
            m.tmpfs(path)
    for path in SYSTEM_FILES:
        m.bind(path, try_=True)
    m.args += ["--dev", "/dev", "--proc", "/proc"]
    # What the code may write, all in memory and bounded: shared memory (torch's worker processes,
    # the Doom engine), /tmp, and its working folder (owned by the sandbox's uid once it starts).
    m.tmpfs("/dev/shm", perms="1777", size=tmpfs_bytes)
    m.tmpfs("/tmp", perms="1777", size=tmpfs_bytes)
    m.tmpfs(HOME, perms="0700", size=tmpfs_bytes)
    for folder in python_dirs():
        m.bind(str(folder))
    m.bind(stage, STAGE)
    if runtime:
        m.bind(runtime, RUNTIME, writable=True)
    return m.args


def bwrap_command(env: dict[str, str] | None = None) -> tuple[list[str], bytes]:
    """``prlimit ... bwrap``, and bwrap's options (NUL-separated) to send it on a descriptor
    (``--args FD``): the sandbox described by ``env`` (the ``COURSE_SANDBOX_*`` settings)."""
    env = dict(os.environ if env is None else env)
    runtime = env.get("COURSE_SANDBOX_RUNTIME") or None
    memory, cpu, nproc = (env[f"COURSE_SANDBOX_{k}"] for k in ("MEMORY", "CPU", "NPROC"))
    outer = ["prlimit", f"--as={memory}", f"--cpu={cpu}", f"--nproc={nproc}", f"--fsize={1024**3}", "--core=0", "bwrap"]
    args = [
        *(["--unshare-user"] if os.geteuid() != 0 else []),  # not root: a user namespace of its own
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--hostname",
        "sandbox",
        "--clearenv",
    ]
    args += filesystem(env["COURSE_SANDBOX_STAGE"], runtime, int(env["COURSE_SANDBOX_TMPFS"]))
    args += ["--chdir", HOME]
    for key, value in kept_env(env, home=HOME, pythonpath=STAGE).items():
        args += ["--setenv", key, value]
    return outer, b"".join(a.encode() + b"\0" for a in args)


def kept_env(env: dict[str, str], home: str, pythonpath: str, tmpdir: str = "/tmp") -> dict[str, str]:
    """The whole environment of the student's process: a few settings of the grader's, and its own
    (``tmpdir``: the sandbox's own /tmp; in uid mode its fresh home, not the machine's /tmp)."""
    venv_bin = str(Path(sys.executable).parent)
    keep: dict[str, str] = {
        k: env[k]
        for k in (
            "LANG",
            "LC_ALL",
            "OMP_NUM_THREADS",
            "COURSE_FAST",
            "NBGRADER_EXECUTION",
            "SDL_VIDEODRIVER",
            "SDL_AUDIODRIVER",
            "TZ",
        )
        if k in env
    }
    keep.update(
        {
            "PATH": f"{venv_bin}:{PATH}",
            "HOME": home,
            "USER": "student",
            "LOGNAME": "student",
            "MPLCONFIGDIR": f"{home}/.matplotlib",
            "PYTHONPATH": pythonpath,
            "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": tmpdir,
            "COURSE_SANDBOX_UID": env["COURSE_SANDBOX_UID"],
            "COURSE_SANDBOX_MODE": env.get("COURSE_SANDBOX_MODE", NAMESPACES),
        }
    )
    return keep


def _exec_separated(inner: list[str], env: dict[str, str]) -> None:
    """``uid`` mode: replace this process with ``prlimit ... inner`` in a fresh working folder
    (root's, 0700, the uid's once the process has dropped to it), with an environment of its own."""
    memory, cpu, nproc = (env[f"COURSE_SANDBOX_{k}"] for k in ("MEMORY", "CPU", "NPROC"))
    home = tempfile.mkdtemp(prefix="student-")
    outer = ["prlimit", f"--as={memory}", f"--cpu={cpu}", f"--nproc={nproc}", f"--fsize={1024**3}", "--core=0"]
    os.chdir(home)
    os.execvpe(
        outer[0], [*outer, "--", *inner], kept_env(env, home=home, pythonpath=env["COURSE_SANDBOX_STAGE"], tmpdir=home)
    )


def _exec_sandboxed(inner: list[str], env: dict[str, str] | None = None) -> None:
    """Replace this process with the sandboxed ``inner``: bwrap reads its arguments from a memfd."""
    if (env or os.environ).get("COURSE_SANDBOX_MODE") == UID:
        _exec_separated(inner, dict(env or os.environ))
    outer, args = bwrap_command(env)
    fd = os.memfd_create("bwrap-args", 0)  # inherited by prlimit and bwrap (no MFD_CLOEXEC)
    os.write(fd, args)
    os.lseek(fd, 0, os.SEEK_SET)
    # bwrap starts with nothing of the host in its environment, and only the command in its argv
    os.execvpe(outer[0], [*outer, "--args", str(fd), "--", *inner], {"PATH": PATH})


def _launch_kernel(connection_file: str, extra: list[str]) -> None:
    # The kernel reads a copy of its connection file in its socket folder, with the sockets'
    # prefix as it is seen inside (RUNTIME): the host's path of that folder is not shown.
    if os.environ.get("COURSE_SANDBOX_MODE") == UID:  # no mount namespace: the file where it is
        _exec_sandboxed(
            [sys.executable, "-m", "autograder.sandboxed.launcher", "kernel", "-f", connection_file, *extra]
        )
    runtime = Path(os.environ["COURSE_SANDBOX_RUNTIME"])
    info = json.loads(Path(connection_file).read_text())
    if info.get("transport") == "ipc":
        info["ip"] = f"{RUNTIME}/{Path(info['ip']).name}"
    copy = runtime / f"inner-{Path(connection_file).name}"
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    _exec_sandboxed(
        [sys.executable, "-m", "autograder.sandboxed.launcher", "kernel", "-f", f"{RUNTIME}/{copy.name}", *extra]
    )


def _launch_answers() -> None:
    # No kernel sockets: it talks over its stdin and stdout.
    _exec_sandboxed(
        [sys.executable, "-m", "autograder.sandboxed.launcher", "serve-answers"],
        {**os.environ, "COURSE_SANDBOX_RUNTIME": ""},
    )


def _drop_privileges(uid: int) -> None:
    """Become the throw-away uid (as root; else we already are the unprivileged user who runs the
    grading, in a user namespace), then refuse the network to this process and all it starts."""
    if os.geteuid() == 0:
        os.chown(os.environ["HOME"], uid, uid)  # fresh and empty: nothing of the student's in it yet
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    try:
        no_network.install()
    except no_network.Unsupported:
        if os.environ.get("COURSE_SANDBOX_MODE") == UID:
            raise  # no network namespace either: no grading (uid_mode_available checked it first)
        # bwrap's namespaces: a network of its own, with nothing in it, is enough


def _kernel(argv: list[str]) -> None:
    # In its own PID namespace the kernel's parent is PID 1: ipykernel would take that for
    # "my parent exited" and quit. bwrap --die-with-parent already ties it to nbgrader's life.
    os.environ.pop("JPY_PARENT_PID", None)
    from ipykernel.kernelapp import IPKernelApp  # lazy: only the kernel's process needs ipykernel

    app = IPKernelApp.instance()
    # initialize reads the (root-only) connection file and binds the sockets. No history: nbclient
    # turns it off (hist_file=:memory:) only for kernels named python3, and its database, made as
    # root here, was not writable by the student's uid (IPython said so in the first cell's output
    # of every graded notebook). traitlets refuses an option given twice: ours replaces any other.
    argv = [a for a in argv if not a.startswith("--HistoryManager.enabled")]
    app.initialize([*argv, "--HistoryManager.enabled=False"])
    _drop_privileges(int(os.environ["COURSE_SANDBOX_UID"]))
    app.start()


def _serve_answers() -> None:
    _drop_privileges(int(os.environ["COURSE_SANDBOX_UID"]))
    from autograder.sandboxed import answers_server  # lazy: imported (torch with it) as the student's uid

    answers_server.main()


if __name__ == "__main__":
    command = sys.argv[1:2]
    if command == ["launch"]:
        _launch_kernel(sys.argv[2], sys.argv[3:])  # any extra arguments nbgrader's Execute was given
    elif command == ["kernel"]:
        _kernel(sys.argv[2:])
    elif command == ["answers"]:
        _launch_answers()
    elif command == ["serve-answers"]:
        _serve_answers()
    else:
        sys.exit("usage: python -m autograder.sandboxed.launcher launch CONNECTION_FILE | answers")
