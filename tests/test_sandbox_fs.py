"""The sandbox's file system is an allow-list (no bubblewrap needed to check the arguments it gets)."""
import os

from autograder import sandbox


def test_the_root_is_not_bound_and_only_the_allowed_folders_are(tmp_path):
    args = sandbox.filesystem(str(tmp_path / "work"), str(tmp_path / "stage"), str(tmp_path / "run"))
    binds = [args[i + 1] for i, a in enumerate(args) if a in ("--bind", "--ro-bind", "--ro-bind-try")]
    writable = [args[i + 1] for i, a in enumerate(args) if a == "--bind"]
    assert "/" not in binds and "/root" not in binds and "/home" not in binds and "/work" not in binds
    assert sorted(writable) == sorted([str(tmp_path / "work"), str(tmp_path / "run")])
    assert all(str(d) in binds for d in sandbox.python_dirs())
    if os.path.isdir("/usr/local"):
        assert args[args.index("/usr/local") - 1] == "--tmpfs"  # other software's home is hidden
    assert "/dev/shm" in args and "/tmp" in args


def test_a_kernel_sees_only_its_own_notebooks_folder(tmp_path, monkeypatch):
    student = tmp_path / "autograded" / "ann"
    (student / "01_policy_gradient").mkdir(parents=True)
    monkeypatch.chdir(student / "01_policy_gradient")  # where nbgrader starts that notebook's kernel
    assert sandbox.own_folder(str(student)) == str(student / "01_policy_gradient")
    monkeypatch.chdir(tmp_path)  # anywhere else: the folder itself
    assert sandbox.own_folder(str(student)) == str(student)
