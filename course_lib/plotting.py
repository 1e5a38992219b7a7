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


def plot_runs(runs: dict[str, Sequence[EpisodeStats]], window: int = 20, target: float | None = None,
              title: str = "", score: str = "ret", ylabel: str = "episode return"):
    """Several runs' smoothed curves on shared axes: against environment steps (left) and against
    wall-clock seconds of training (right), where one method can win on one and lose on the other."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for (name, episodes), color in zip(runs.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        values = smooth([getattr(e, score) for e in episodes], window)
        for ax, x in zip(axes, ("step", "seconds")):
            ax.plot([getattr(e, x) or 0.0 for e in episodes], values, color=color, label=name)
    for ax, xlabel in zip(axes, ("environment steps", "seconds of training")):
        if target is not None:
            ax.axhline(target, ls="--", color="tab:green", label=f"target {target:g}")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{ylabel} (mean of last {window})")
    axes[0].legend(loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_staleness(staleness: Sequence[int], title: str = "How stale were the gradients?"):
    """Histogram of, for each applied update, the updates other workers applied since this worker
    last copied the shared weights."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    values = np.asarray(staleness, dtype=int)
    if values.size:
        bins = np.arange(values.max() + 2) - 0.5
        ax.hist(values, bins=bins, color="tab:purple", alpha=0.8)
        ax.set_title(f"{title}\nmean {values.mean():.2f}, {np.mean(values == 0):.0%} of the updates saw fresh weights")
    ax.set_xlabel("updates by other workers in between")
    ax.set_ylabel("updates")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


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
