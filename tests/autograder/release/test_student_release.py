"""The copy of the course that students get holds nothing of the answers or the grader, and its
notebooks install course_lib from, and link to Colab at, the one address given."""

import zipfile

import nbformat
import pytest

from autograder.paths import ROOT, assignment_ids
from autograder.release import student_copy as student_release

REPO = "https://github.com/example-org/rl-course"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "student"
    archive = student_release.write(out, REPO)
    return out, archive


def test_it_holds_no_solution_no_hidden_test_and_nothing_of_the_grader(release):
    from test_release import secret_lines

    out, archive = release
    secrets = {line for nb in assignment_ids() for line in secret_lines(nb)}
    hidden_sources = [p.read_text() for p in (ROOT / "autograder" / "hidden").glob("nb*.py")]
    for path in [p for p in out.rglob("*") if p.is_file() and p.suffix not in (".pt", ".png")]:
        text = path.read_text(errors="replace")
        for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "autograder"):
            assert marker not in text, (path, marker)
        assert not [line for line in secrets if line in text], path
        assert not any(src in text for src in hidden_sources), path
    assert not (out / "solutions").exists() and not (out / "autograder").exists()
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
    assert any(n.endswith("notebooks/01_policy_gradient.ipynb") for n in names)
    assert not any("solutions/" in n or "autograder/" in n for n in names)


def test_every_notebook_installs_from_the_address_and_is_linked_to_colab(release):
    out, _ = release
    readme = (out / "README.md").read_text()
    for nb_id in assignment_ids():
        nb = nbformat.read(out / "notebooks" / f"{nb_id}.ipynb", as_version=4)
        setup = next(c for c in nb.cells if c.cell_type == "code").source
        assert f'COURSE_REPO = "{REPO}"' in setup
        assert (
            f"https://colab.research.google.com/github/example-org/rl-course/blob/main/notebooks/{nb_id}.ipynb"
            in readme
        )
    assert (out / "course_lib" / "checks.py").exists() and (out / "pyproject.toml").exists()


def test_a_repository_that_is_not_on_github_is_refused(tmp_path):
    with pytest.raises(ValueError, match="GitHub address"):
        student_release.write(tmp_path / "s", "git@example.com:course.git")
