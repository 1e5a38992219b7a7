"""Run-time switches every notebook needs: fast mode, seeding, device, progress bars, quiet warnings.

Why one module: a notebook's first cell calls these, and the grader relies on them behaving the
same everywhere (in CI, under nbgrader, on Colab, on a student's laptop).
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from collections.abc import Iterable
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")


def fast_mode() -> bool:
    """True when notebooks must finish in seconds: ``COURSE_FAST=1`` or nbgrader is executing them.

    nbgrader sets ``NBGRADER_EXECUTION`` (to ``autograde`` or ``validate``) in the kernel it runs,
    so a graded notebook never trains for real, whatever the student left in ``COURSE_FAST``.
    """
    return os.environ.get("COURSE_FAST", "") == "1" or bool(os.environ.get("NBGRADER_EXECUTION"))


def budget(real: T, fast: T) -> T:
    """Pick the real budget for a student's session, or the tiny one in fast mode."""
    return fast if fast_mode() else real


def fast_note(what: str) -> str:
    """In fast mode, words to print after an output it shrank (``what`` says how); '' otherwise.

    A student who left ``COURSE_FAST=1`` set, and the grader's feedback, must never read a 2-episode
    evaluation or an empty plot as the result of a real run."""
    if not fast_mode():
        return ""
    return f"\n  [fast mode: {what}, not the real budget; run without COURSE_FAST=1 to train for real]"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch. Environments are seeded where they are made (see ``envs``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_device(prefer: str = "auto") -> torch.device:
    """``cuda`` when asked or available (Colab), else ``cpu``. Small MLPs are faster on the CPU."""
    if prefer == "auto":
        prefer = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(prefer)


def set_cpu_threads(n: int | None = None) -> None:
    """Use at most ``n`` torch threads. Env threads and torch share the cores.

    The default is all cores, unless ``OMP_NUM_THREADS`` says otherwise: the grader sets it so
    that the notebooks it runs side by side do not fight over the same cores.
    """
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    default = int(from_env) if from_env.isdigit() and int(from_env) > 0 else os.cpu_count() or 1
    torch.set_num_threads(n or default)


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def progress(iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "", **kwargs):
    """A tqdm bar: a widget in JupyterLab or Colab when ipywidgets is there, plain text otherwise.

    Plain text goes to stderr, which is fine in training cells (nbgrader only reads test cells). In
    fast mode the bar is plain text on stdout: the run takes seconds, and a notebook executed
    unattended (the grader's feedback, ``make course``) keeps a widget's first state only, 0%.
    """
    if fast_mode():
        from tqdm.std import tqdm

        kwargs.setdefault("file", sys.stdout)
    elif _has_widgets():
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("miniters", 1)  # look at the clock every update: a slow start must not freeze the bar
    return tqdm(iterable, total=total, desc=desc, **kwargs)


def quiet_warnings() -> None:
    """Silence the library warnings that say nothing to a student.

    They come from gymnasium, ale-py and torch internals, not from the student's code, and would
    only bury the messages that matter (in the notebook, and in the graded feedback).
    """
    for category, module in [
        (DeprecationWarning, ""),
        (UserWarning, "gymnasium"),
        (UserWarning, "torch"),
        (FutureWarning, ""),
    ]:
        warnings.filterwarnings("ignore", category=category, module=module)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
