"""What a student installs on Colab (the first cell's `pip install course_lib`) leaves Colab's
running kernel alone: resolved in a fresh virtual environment that holds Colab's pinned versions,
it installs course_lib and what Colab lacks, and changes none of the pinned packages. The
instructor's tools (nbgrader, JupyterLab, nbclient) are an extra, never part of it."""

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
TORCH_STAND_IN = "torch==2.13.0"  # the CPU build on this machine's disk (see colab_pins.txt)


def pins() -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in PINS.read_text().splitlines()]
    return dict(line.split("==") for line in lines if line)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", *args], capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def colab_like(tmp_path_factory):
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = pip(venv, "install", "--quiet", TORCH_STAND_IN, *(f"{k}=={v}" for k, v in pins().items()))
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def test_the_student_install_changes_none_of_colabs_pinned_packages(colab_like, tmp_path):
    report = tmp_path / "report.json"
    done = pip(colab_like, "install", "--dry-run", "--quiet", "--report", str(report), str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    installs = {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    changed = {name: installs[canonical(name)] for name in [*pins(), "torch"] if canonical(name) in installs}
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
