"""What a student installs on Colab (the first cell's `pip install course_lib`) leaves Colab's
running kernel alone: pip resolves it with Colab's pinned versions as constraints, so it installs
course_lib and what Colab lacks and changes none of them. The instructor's tools (nbgrader,
JupyterLab, nbclient) are an extra, never part of it."""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PINS = ROOT / "tests" / "data" / "colab_pins.txt"
# the course's torch pin: the CPU build on this machine's disk (see colab_pins.txt)
TORCH_STAND_IN = next(
    line.strip() for line in (ROOT / "requirements-torch.txt").read_text().splitlines() if line.startswith("torch==")
)


def pins() -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in PINS.read_text().splitlines()]
    return dict(line.split("==") for line in lines if line)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_student_install_changes_none_of_colabs_pinned_packages(tmp_path):
    """pip resolves the student install with Colab's versions as constraints (what a kernel that
    holds them would keep): it resolves, so none of them has to change."""
    constraints = tmp_path / "colab.txt"
    constraints.write_text("".join(f"{k}=={v}\n" for k, v in pins().items()) + TORCH_STAND_IN + "\n")
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--report",
            str(report),
            "-c",
            str(constraints),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"the student install would change one of Colab's pins: {done.stdout + done.stderr}"
    installs = {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    wanted = {canonical(k): v for k, v in [*pins().items(), TORCH_STAND_IN.split("==")]}
    # (a local version, 2.13.0+cpu, is 2.13.0 to pip's == and to the kernel that has it)
    changed = {n: v for n, v in installs.items() if n in wanted and wanted[n] != v.split("+")[0]}
    assert changed == {}, f"the student install would change Colab's {changed}"
    assert "course-lib" in installs
    assert not {"nbgrader", "jupyterlab", "nbclient"} & set(installs), "instructor tools in the student install"


def test_the_installed_package_carries_the_pretrained_agents_and_the_doom_scenario(tmp_path):
    """A student's install is a wheel, not this checkout: every file of the data folders is in it.
    Built from a copy (setuptools would reuse what an earlier build left in the checkout's build/)."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "course_lib", project / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "absent from the `packages` configuration" not in done.stderr
    (wheel,) = tmp_path.glob("course_lib-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    data = {
        p.relative_to(ROOT).as_posix()
        for folder in ("pretrained", "scenarios")
        for p in (ROOT / "course_lib" / folder).iterdir()
        if p.is_file()
    }
    assert data and data <= packed, sorted(data - packed)
