"""The reference implementations, read from the solution notebooks themselves.

Each reference lives in one place: the solution cell of ``solutions/NN_*.ipynb``. The hidden
checks (and the scripts that train the shipped agents) execute those cells instead of keeping a
second copy that could drift from what the notebook teaches.
"""
from __future__ import annotations

import functools
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import nbformat

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


@functools.cache
def reference(notebook: str) -> SimpleNamespace:
    """Execute every nbgrader solution cell of ``solutions/<notebook>.ipynb`` and return its names.

    Cells tagged ``reference`` are executed too: code that is not an exercise but that other
    tools reuse (the A2C update step that also trains the shipped Pong agent). All these cells
    are self-contained (their imports sit in the cell), so nothing else from the notebook runs.
    """
    nb = nbformat.read(SOLUTIONS / f"{notebook}.ipynb", as_version=4)
    module = types.ModuleType(f"reference_{notebook}")
    sys.modules[module.__name__] = module  # while the cells run: a dataclass looks its module up there
    try:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (meta.get("solution") or "reference" in cell.metadata.get("tags", [])):
                name = meta.get("grade_id", cell.get("id", "cell"))
                exec(compile(cell.source, f"<solutions/{notebook}.ipynb:{name}>", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]  # afterwards not importable: worker processes get it by value
    return SimpleNamespace(**{k: v for k, v in module.__dict__.items() if not k.startswith("__")})
