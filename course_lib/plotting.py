"""Learning curves against environment steps, and the diagnostics panel of an actor-critic."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .diagnostics import History
from .runners import EpisodeStats

DIAGNOSTICS = ("entropy", "policy_loss", "value_loss", "explained_variance", "grad_norm")


def _pyplot():
    import matplotlib.pyplot as plt  # imported late: the backend is chosen by the notebook/CI

    return plt


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average; the first points average over what exists so far (no lag-in)."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or values.size == 0:
        return values
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty_like(values)
    for i in range(values.size):
        lo = max(0, i + 1 - window)
        out[i] = (cumsum[i + 1] - cumsum[lo]) / (i + 1 - lo)
    return out


def plot_learning_curve(episodes: Sequence[EpisodeStats], window: int = 20, target: float | None = None,
                        title: str = "Learning curve", ax=None, label: str | None = None):
    """Raw episode return against the environment step it finished at, smoothed over ``window``."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    steps = [e.step for e in episodes]
    returns = [e.ret for e in episodes]
    ax.plot(steps, returns, ".", alpha=0.25, color="tab:blue")
    ax.plot(steps, smooth(returns, window), color="tab:blue", label=label or f"mean of last {window} episodes")
    if target is not None:
        ax.axhline(target, ls="--", color="tab:green", label=f"target {target:g}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return ax


def plot_diagnostics(history: History, names: Sequence[str] = DIAGNOSTICS, window: int = 10):
    """One small panel per logged quantity, against environment steps."""
    plt = _pyplot()
    names = [n for n in names if history.values.get(n)]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.2 * max(1, len(names)), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot(history.steps[name], history.values[name], alpha=0.3, color="tab:orange")
        ax.plot(history.steps[name], smooth(history.values[name], window), color="tab:orange")
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig



def plot_curve_file(path: str | Path, window: int = 50):
    """The learning curve saved with a pretrained agent (``{"meta": ..., "episodes": [[step, return], ...]}``)."""
    data = json.loads(Path(path).read_text())
    meta = data.get("meta", {})
    episodes = [EpisodeStats(float(ret), 0, int(step)) for step, ret in data["episodes"]]
    title = f"{meta.get('algorithm', 'training')} on {meta.get('game', '?')}"
    if "train_minutes" in meta:
        title += f": {meta['train_minutes']:g} min on 2 CPU cores"
    return plot_learning_curve(episodes, window=window, title=title)
