"""The grading image: the Dockerfile installs what the grader needs and copies what it reads; where a
Docker engine answers, the image builds and its entry point runs."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_every_install_reads_the_one_torch_pin():
    """requirements-torch.txt holds torch's version; make setup, the image, conda's file and
    Gradescope's setup.sh install from it, and none writes a version of its own."""
    from autograder.gradescope.build import SETUP

    assert re.search(r"^torch==[\d.]+$", (ROOT / "requirements-torch.txt").read_text(), re.M)
    for name, text in {
        "Makefile": (ROOT / "Makefile").read_text(),
        "Dockerfile": DOCKERFILE,
        "environment.yml": (ROOT / "environment.yml").read_text(),
        "setup.sh": SETUP,
    }.items():
        assert "-r " in text and "requirements-torch.txt" in text, name
        assert not re.search(r"torch==\d", text), name
    assert "download.pytorch.org/whl/cpu" in DOCKERFILE


def test_the_image_has_the_sandbox_and_the_instructor_tools():
    assert "bubblewrap" in DOCKERFILE and "util-linux" in DOCKERFILE  # bwrap, prlimit
    assert '".[instructor]"' in DOCKERFILE
    assert 'ENTRYPOINT ["python", "-m", "autograder.grade"]' in DOCKERFILE


def test_the_image_copies_every_folder_the_grader_reads():
    copied = set(re.findall(r"^COPY (\S+)", DOCKERFILE, re.M))
    assert {"course_lib", "autograder", "solutions", "notebooks", "pyproject.toml"} <= copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "runs" in ignored  # gigabytes that have nothing to do in the image


def _engine() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _engine(), reason="no Docker engine on this machine (the client alone cannot build)")
def test_the_image_builds_and_its_entry_point_runs():
    subprocess.run(["docker", "build", "-t", "course-grader-test", str(ROOT)], check=True)
    help_text = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "course-grader-test", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--shard" in help_text
