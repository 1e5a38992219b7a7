"""The reference implementations, read from the solution notebooks themselves.

Each reference lives in one place: the solution cell of ``solutions/NN_*.ipynb``. The hidden
checks (and the scripts that train the shipped agents) execute those cells instead of keeping a
second copy that could drift from what the notebook teaches.
"""

from __future__ import annotations

import ast
import functools
import sys
import types
from dataclasses import dataclass
from types import SimpleNamespace

import nbformat

from autograder.paths import SOLUTIONS
from course_lib import hogwild, runtime


def _run_as_module(name: str, codes, **names) -> dict:
    """Execute compiled ``codes`` in a fresh module ``name`` that starts with ``names``; its names.

    The module is in ``sys.modules`` only while they run (a dataclass looks its module up there),
    not afterwards: nothing can import it, and worker processes get what it defines by value.
    """
    module = types.ModuleType(name)
    module.__dict__.update(names)
    sys.modules[name] = module
    try:
        for code in codes:
            exec(code, module.__dict__)
    finally:
        del sys.modules[name]
    return module.__dict__


@functools.cache
def reference(notebook: str) -> SimpleNamespace:
    """Execute every nbgrader solution cell of ``solutions/<notebook>.ipynb`` and return its names.

    Cells tagged ``reference`` are executed too: code that is not an exercise but that other
    tools reuse (the A2C update step that also trains the shipped Pong agent). All these cells
    are self-contained (their imports sit in the cell), so nothing else from the notebook runs.
    """
    nb = nbformat.read(SOLUTIONS / f"{notebook}.ipynb", as_version=4)

    def cells():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (meta.get("solution") or "reference" in cell.metadata.get("tags", [])):
                name = meta.get("grade_id", cell.get("id", "cell"))
                yield compile(cell.source, f"<solutions/{notebook}.ipynb:{name}>", "exec")

    names = _run_as_module(f"reference_{notebook}", cells())
    return SimpleNamespace(**{k: v for k, v in names.items() if not k.startswith("__")})


def notebook_settings(notebook: str, name: str):
    """An instance of the settings dataclass ``name`` (say ``DoomConfig``) of ``solutions/<notebook>.ipynb``.

    The benchmarks that repeat a notebook's training read its settings here, so that a change in
    the notebook reaches them (the pretraining scripts keep settings of their own: they train
    longer). Only the class is executed, with the names such a class uses (``dataclass``,
    ``runtime``, ``hogwild``); ``runtime.budget`` picks the real or the fast budget as the notebook
    would in this process.
    """
    nb = nbformat.read(SOLUTIONS / f"{notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or f"class {name}" not in cell.source:
            continue
        tree = ast.parse(cell.source)
        found: list[ast.stmt] = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name]
        if not found:
            continue
        code = compile(ast.Module(body=found, type_ignores=[]), f"<solutions/{notebook}.ipynb:{name}>", "exec")
        names = _run_as_module(f"settings_{notebook}", [code], dataclass=dataclass, runtime=runtime, hogwild=hogwild)
        return names[name]()
    raise LookupError(f"solutions/{notebook}.ipynb defines no class {name}")
