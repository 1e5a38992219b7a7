"""Run a submission's code in a sandbox (Linux: bubblewrap, prlimit, a throw-away uid).

Two kinds of processes run a student's code, and both run here:

* the notebook's Jupyter kernel, which nbgrader starts through the ``course-sandbox`` kernelspec
  (``python -m autograder.sandbox launch {connection_file}``): it executes the notebook for the
  feedback (visible checks, training, plots); no score comes from it;
* the student's answer cells for the scorer (``python -m autograder.sandbox answers``, serving
  ``autograder.answers``): every point comes from calls into this process, checked outside it.

Each is ``prlimit (memory, CPU time, processes, file size) bwrap (namespaces) python ...``, and
starts as root inside the sandbox only to read its connection file, then drops to an
unprivileged uid of its own before it runs any of the student's code.

**The file system is an allow-list**: the sandbox's root is empty, and holds only the system's
shared libraries and programs (``/usr`` without ``/usr/local``, and the ``/lib`` links), the
Python environment (the interpreter's install, the venv, ``course_lib``), the public grading
modules (``PUBLIC_MODULES``: the protocol and this launcher, no hidden check and no reference),
a private ``/tmp`` and ``/dev/shm``, ``/dev`` and ``/proc``, the kernel's socket folder, and the one folder the
code may write: the notebook's own. Nothing else of the host exists inside: not the repository,
not another checkout of the course, not the other notebooks of the same student, not the
submissions, the results or the home folder.

What else it protects against: network access (a network namespace of its own), fork and thread
bombs (RLIMIT_NPROC for the sandbox's uid), memory exhaustion (RLIMIT_AS), endless computing
(RLIMIT_CPU, plus the cell timeouts and the per-notebook budget), other processes (a PID
namespace). What it does not: side channels and kernel exploits. Grade on a machine or
container you do not mind losing, as for any untrusted code.

Settings come from environment variables that the grader sets (``COURSE_SANDBOX_*``, see
``sandbox_env``).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

KERNEL_NAME = "course-sandbox"
PUBLIC_MODULES = ("__init__.py", "sandbox.py", "wire.py", "answers.py")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
HIDDEN_SYSTEM_DIRS = ("/usr/local", "/usr/src")  # where other software (and checkouts) may live
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives",
                "/etc/fonts", "/sys/devices/system/cpu")  # the linker's cache, fonts; torch reads the CPUs' topology


def available() -> bool:
    """bubblewrap and prlimit are installed and we are root (needed to switch to a throw-away uid)."""
    return bool(shutil.which("bwrap") and shutil.which("prlimit")) and os.geteuid() == 0


def install_kernelspec(jupyter_path: Path) -> None:
    """Write the ``course-sandbox`` kernelspec under ``jupyter_path`` (put it on JUPYTER_PATH)."""
    spec_dir = jupyter_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "autograder.sandbox", "launch", "{connection_file}"],
            "display_name": "Python 3 (grading sandbox)", "language": "python",
            "interrupt_mode": "message"}  # signals do not cross bwrap; an interrupt_request does
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))


def stage_public_modules(repo: Path, stage: Path) -> Path:
    """Copy the grading modules a sandbox needs (none secret) to ``stage/autograder``."""
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "autograder").mkdir(parents=True)
    for name in PUBLIC_MODULES:
        shutil.copy2(repo / "autograder" / name, stage / "autograder" / name)
    for path in [stage, *stage.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return stage


def sandbox_env(*, work: Path, runtime: Path, stage: Path, uid: int, memory: int, cpu_seconds: int,
                nproc: int = 256) -> dict[str, str]:
    return {
        "COURSE_SANDBOX_WORK": str(work), "COURSE_SANDBOX_RUNTIME": str(runtime),
        "COURSE_SANDBOX_STAGE": str(stage), "COURSE_SANDBOX_UID": str(uid), "COURSE_SANDBOX_MEMORY": str(memory),
        "COURSE_SANDBOX_CPU": str(cpu_seconds), "COURSE_SANDBOX_NPROC": str(nproc),
    }


def python_dirs() -> list[Path]:
    """Folders the sandbox's Python needs: the interpreter's install, the venv, course_lib's source."""
    import course_lib

    dirs = {Path(sys.base_prefix), Path(sys.prefix), Path(course_lib.__file__).resolve().parent,
            Path(os.path.realpath(sys.executable)).parent.parent}  # the venv's python links into an install
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

    def bind(self, path: str | Path, writable: bool = False, try_: bool = False) -> None:
        path = str(path)
        self._parents(path)
        self.args += ["--bind" if writable else ("--ro-bind-try" if try_ else "--ro-bind"), path, path]
        self.points.append((path, "bind"))

    def tmpfs(self, path: str, perms: str = "0755") -> None:
        self._parents(path)
        self.args += ["--perms", perms, "--tmpfs", path]
        self.points.append((path, "tmpfs"))
        self.made.add(path)

    def symlink(self, target: str, path: str) -> None:
        self.args += ["--symlink", target, path]
        self.made.add(path)


def filesystem(work: str, stage: str, runtime: str | None) -> list[str]:
    """The sandbox's whole file system, as bwrap arguments (see the module's docstring)."""
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
    m.tmpfs("/dev/shm", perms="1777")  # private shared memory: torch's worker processes, the Doom engine
    m.tmpfs("/tmp", perms="1777")
    for path in python_dirs():
        m.bind(path)
    m.bind(stage)
    if runtime:
        m.bind(runtime, writable=True)
    m.bind(work, writable=True)
    return m.args


def bwrap_command(inner: list[str], env: dict[str, str] | None = None) -> list[str]:
    """``prlimit ... bwrap ... <inner>``: ``inner`` runs in the sandbox described by ``env``."""
    env = dict(os.environ if env is None else env)
    stage = env["COURSE_SANDBOX_STAGE"]
    work = own_folder(env["COURSE_SANDBOX_WORK"])
    runtime = env.get("COURSE_SANDBOX_RUNTIME") or None
    memory, cpu, nproc = (env[f"COURSE_SANDBOX_{k}"] for k in ("MEMORY", "CPU", "NPROC"))
    cmd = ["prlimit", f"--as={memory}", f"--cpu={cpu}", f"--nproc={nproc}", f"--fsize={1024**3}", "--core=0",
           "bwrap", "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid", "--unshare-ipc",
           "--unshare-uts", "--clearenv"]
    cmd += filesystem(work, stage, runtime)
    keep = {k: env[k] for k in ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "COURSE_FAST", "NBGRADER_EXECUTION",
                                "SDL_VIDEODRIVER", "SDL_AUDIODRIVER", "TZ") if k in env}
    keep.update({"HOME": work, "USER": "student", "LOGNAME": "student", "MPLCONFIGDIR": os.path.join(work, ".matplotlib"),
                 "PYTHONPATH": stage, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": "/tmp",
                 "COURSE_SANDBOX_UID": env["COURSE_SANDBOX_UID"], "COURSE_SANDBOX_WORK": work})
    for key, value in keep.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--chdir", work] + inner


def own_folder(work: str) -> str:
    """The one folder the sandboxed code may see and write: the current folder when it lies inside
    ``work`` (nbgrader starts each notebook's kernel in that notebook's own folder, so a student's
    notebooks, graded one after the other, never see each other's), else ``work`` itself."""
    try:
        cwd = os.getcwd()
    except FileNotFoundError:
        return work
    return cwd if cwd.startswith(work.rstrip("/") + "/") else work


def _launch_kernel(connection_file: str, extra: list[str]) -> None:
    # nbclient may write the connection file to the host's /tmp, which the sandbox replaces:
    # hand the kernel a copy in its runtime folder (the sockets' paths are in there already).
    copy = Path(os.environ["COURSE_SANDBOX_RUNTIME"]) / Path(connection_file).name
    if Path(connection_file).resolve() != copy.resolve():
        shutil.copy2(connection_file, copy)
    cmd = bwrap_command([sys.executable, "-m", "autograder.sandbox", "kernel", "-f", str(copy), *extra])
    os.execvp(cmd[0], cmd)


def _launch_answers() -> None:
    env = {**os.environ, "COURSE_SANDBOX_RUNTIME": ""}  # no kernel sockets: it talks over its stdin and stdout
    cmd = bwrap_command([sys.executable, "-m", "autograder.sandbox", "serve-answers"], env)
    os.execvp(cmd[0], cmd)


def _drop_privileges(uid: int, work: Path) -> None:
    for path in [work, *work.rglob("*")]:
        os.lchown(path, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _kernel(argv: list[str]) -> None:
    # In its own PID namespace the kernel's parent is PID 1: ipykernel would take that for
    # "my parent exited" and quit. bwrap --die-with-parent already ties it to nbgrader's life.
    os.environ.pop("JPY_PARENT_PID", None)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv)  # reads the (root-only) connection file and binds the sockets
    _drop_privileges(int(os.environ["COURSE_SANDBOX_UID"]), Path(os.environ["COURSE_SANDBOX_WORK"]))
    app.start()


def _serve_answers() -> None:
    _drop_privileges(int(os.environ["COURSE_SANDBOX_UID"]), Path(os.environ["COURSE_SANDBOX_WORK"]))
    from autograder import answers

    answers.main()


if __name__ == "__main__":
    command = sys.argv[1:2]
    if command == ["launch"]:
        _launch_kernel(sys.argv[2], sys.argv[3:])  # nbclient appends e.g. --HistoryManager.hist_file=:memory:
    elif command == ["kernel"]:
        _kernel(sys.argv[2:])
    elif command == ["answers"]:
        _launch_answers()
    elif command == ["serve-answers"]:
        _serve_answers()
    else:
        sys.exit("usage: python -m autograder.sandbox launch CONNECTION_FILE | answers")
