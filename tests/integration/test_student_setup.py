"""The first cell of every notebook, as a student on Colab meets it: with the course's address left
at its placeholder, or an address pip cannot install from, a sentence that says what to do."""

import sys

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from autograder.paths import NOTEBOOKS, assignment_ids


class NoCourseLib:
    """An import system without course_lib (a fresh Colab runtime)."""

    def find_spec(self, name, path=None, target=None):
        if name == "course_lib" or name.startswith("course_lib."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


class Shell:
    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line, *args):
        self.magics.append((name, line))  # pip "fails": nothing gets installed


def run_setup_cell(nb_id, monkeypatch, repo=None):
    cell = next(c for c in nbformat.read(NOTEBOOKS / f"{nb_id}.ipynb", as_version=4).cells if c.cell_type == "code")
    source = (
        cell.source if repo is None else cell.source.replace("https://github.com/your-org/actor-critic-course", repo)
    )
    for name in [m for m in sys.modules if m == "course_lib" or m.startswith("course_lib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [NoCourseLib(), *sys.meta_path])
    shell = Shell()
    with pytest.raises(RuntimeError) as info:
        exec(TransformerManager().transform_cell(source), {"get_ipython": lambda: shell})
    return str(info.value), shell


@pytest.mark.parametrize("nb_id", assignment_ids())
def test_a_placeholder_address_says_what_to_do(nb_id, monkeypatch):
    message, shell = run_setup_cell(nb_id, monkeypatch)
    assert "COURSE_REPO above is still a placeholder" in message and "README" in message
    assert shell.magics == []  # nothing tried


@pytest.mark.parametrize("nb_id", assignment_ids())
def test_an_address_pip_cannot_install_from_says_so(nb_id, monkeypatch):
    message, shell = run_setup_cell(nb_id, monkeypatch, repo="https://example.invalid/course")
    assert shell.magics == [("pip", 'install -q "course_lib @ git+{COURSE_REPO}"')]  # IPython fills in the address
    assert "could not install course_lib from https://example.invalid/course" in message
