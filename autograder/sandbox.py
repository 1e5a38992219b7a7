"""Run a submission's Jupyter kernel in a sandbox (Linux: bubblewrap, prlimit, a throw-away uid).

nbgrader starts kernels through a kernelspec; the grader points it at ``course-sandbox``, whose
command is ``python -m autograder.sandbox launch {connection_file}``. The launcher execs

    prlimit (memory, CPU time, processes, file size) bwrap (mount and network namespaces)
        python -m autograder.sandbox kernel -f {connection_file}

and the kernel, still root inside the sandbox, loads the hidden checks and the reference into
memory, then drops to an unprivileged uid of its own before it runs any cell.

What it protects against: network access (no network namespace), reading the repository, the
solutions, the hidden checks' files, other students' submissions or the results (hidden by empty
tmpfs mounts, or unreadable to the kernel's uid), writing outside the submission's own folder
(read-only file system, a private /tmp), fork and thread bombs (RLIMIT_NPROC for the kernel's
own uid), memory exhaustion (RLIMIT_AS), endless computing (RLIMIT_CPU, plus nbgrader's cell
timeout and the grader's per-notebook timeout).
What it does not: code that inspects the kernel's own memory (the hidden-check functions are
loaded there before the student's cells run), side channels, kernel exploits. Run grading on a
machine or container you do not mind losing, as for any untrusted code.

Settings come from environment variables that the grader sets for each nbgrader run
(``COURSE_SANDBOX_*``, see ``sandbox_env``).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

KERNEL_NAME = "course-sandbox"
STAGE_NOTEBOOKS = "solutions"


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


def stage_hidden_checks(repo: Path, stage: Path) -> Path:
    """Copy what the kernel needs to grade (autograder, solutions) to a folder only root can read."""
    if stage.exists():
        shutil.rmtree(stage)
    shutil.copytree(repo / "autograder", stage / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(repo / "solutions", stage / STAGE_NOTEBOOKS, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for path in [stage, *stage.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return stage


def sandbox_env(*, work: Path, runtime: Path, stage: Path, hide: list[Path], uid: int,
                memory: int, cpu_seconds: int, nproc: int = 256) -> dict[str, str]:
    return {
        "COURSE_SANDBOX_WORK": str(work), "COURSE_SANDBOX_RUNTIME": str(runtime),
        "COURSE_SANDBOX_STAGE": str(stage), "COURSE_SANDBOX_HIDE": os.pathsep.join(map(str, hide)),
        "COURSE_SANDBOX_UID": str(uid), "COURSE_SANDBOX_MEMORY": str(memory),
        "COURSE_SANDBOX_CPU": str(cpu_seconds), "COURSE_SANDBOX_NPROC": str(nproc),
    }


def _python_dirs() -> list[Path]:
    """Folders the kernel's Python needs: the interpreter's install, the venv, course_lib's source."""
    import course_lib

    dirs = {Path(sys.base_prefix), Path(sys.prefix), Path(course_lib.__file__).resolve().parent}
    # The venv's python is a symlink into an install; the set drops it when that is base_prefix.
    dirs |= {Path(os.path.realpath(sys.executable)).parent.parent}
    return sorted(dirs)


def bwrap_command(connection_file: str, extra: list[str] = (), env: dict[str, str] | None = None) -> list[str]:
    env = dict(os.environ if env is None else env)
    work, runtime, stage = (env[f"COURSE_SANDBOX_{k}"] for k in ("WORK", "RUNTIME", "STAGE"))
    memory, cpu, nproc = (env[f"COURSE_SANDBOX_{k}"] for k in ("MEMORY", "CPU", "NPROC"))
    hide = [p for p in env.get("COURSE_SANDBOX_HIDE", "").split(os.pathsep) if p]
    cmd = ["prlimit", f"--as={memory}", f"--cpu={cpu}", f"--nproc={nproc}", f"--fsize={1024**3}", "--core=0",
           "bwrap", "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid", "--unshare-ipc",
           "--unshare-uts", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp",
           "--tmpfs", os.path.expanduser("~")]
    tmpfs = ["/tmp", os.path.expanduser("~"), *hide]
    for path in hide:
        cmd += ["--tmpfs", path]

    def mount(kind: str, path: str) -> list[str]:
        # bwrap makes the missing folders above a mount point inside a tmpfs with mode 0700,
        # which the kernel's uid could not cross: make them 0755 first.
        parents = [str(p) for p in reversed(Path(path).parents)
                   if any(str(p).startswith(t.rstrip("/") + "/") for t in tmpfs)]
        return [arg for p in parents for arg in ("--perms", "0755", "--dir", p)] + [kind, path, path]

    for path in _python_dirs():
        cmd += mount("--ro-bind", str(path))
    try:
        cwd = os.getcwd()  # the notebook's folder, inside the submission's own folder
    except FileNotFoundError:
        cwd = work
    cmd += [*mount("--ro-bind", stage), *mount("--bind", runtime), *mount("--bind", work),
            "--chdir", cwd if cwd.startswith(work) else work,
            "--setenv", "HOME", work, "--setenv", "MPLCONFIGDIR", os.path.join(work, ".matplotlib"),
            "--setenv", "PYTHONPATH", stage, "--unsetenv", "PYTHONSTARTUP",
            sys.executable, "-m", "autograder.sandbox", "kernel", "-f", connection_file, *extra]
    return cmd


def _launch(connection_file: str, extra: list[str]) -> None:
    # nbclient may write the connection file to the host's /tmp, which the sandbox replaces:
    # hand the kernel a copy in its runtime folder (the sockets' paths are in there already).
    copy = Path(os.environ["COURSE_SANDBOX_RUNTIME"]) / Path(connection_file).name
    if Path(connection_file).resolve() != copy.resolve():
        shutil.copy2(connection_file, copy)
    cmd = bwrap_command(str(copy), extra)
    os.execvp(cmd[0], cmd)


def _preload_hidden_checks() -> None:
    """Import every hidden-check module and build every reference while files are still readable."""
    import importlib
    import pkgutil

    import autograder.hidden as hidden
    from autograder.reference import SOLUTIONS, reference

    for nb in sorted(SOLUTIONS.glob("*.ipynb")):
        reference(nb.stem)
    for module in pkgutil.iter_modules(hidden.__path__):
        importlib.import_module(f"autograder.hidden.{module.name}")


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
    _preload_hidden_checks()
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv)  # reads the (root-only) connection file and binds the sockets
    _drop_privileges(int(os.environ["COURSE_SANDBOX_UID"]), Path(os.environ["COURSE_SANDBOX_WORK"]))
    app.start()


if __name__ == "__main__":
    if sys.argv[1:2] == ["launch"]:
        _launch(sys.argv[2], sys.argv[3:])  # nbclient appends e.g. --HistoryManager.hist_file=:memory:
    elif sys.argv[1:2] == ["kernel"]:
        _kernel(sys.argv[2:])
    else:
        sys.exit("usage: python -m autograder.sandbox launch CONNECTION_FILE")
