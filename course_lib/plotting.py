"""Learning curves against environment steps, and the diagnostics panel of an actor-critic."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .diagnostics import History
from .runners import EpisodeStats
from .runtime import fast_mode

DIAGNOSTICS = ("entropy", "policy_loss", "value_loss", "explained_variance", "grad_norm")


def _pyplot():
    import matplotlib.pyplot as plt  # imported late: the backend is chosen by the notebook/CI

    return plt


def _fast_mark(ax, empty: bool, nothing: str = "no episode ended in this run") -> None:
    """Say on a plot of a run that fast mode shrank it, and when the run left nothing to plot."""
    lines = []
    if fast_mode():
        lines.append("fast mode (COURSE_FAST=1): a short run, not the real budget")
    if empty:
        lines.append(nothing)
    if lines:
        ax.text(
            0.5,
            0.5,
            "\n".join(lines),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=10,
            color="tab:red",
            alpha=0.8,
            bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "tab:red"},
        )


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average; the first points average over what exists so far (no lag-in)."""
    array = np.asarray(values, dtype=float)
    if window <= 1 or array.size == 0:
        return array
    cumsum = np.cumsum(np.insert(array, 0, 0.0))
    out = np.empty_like(array)
    for i in range(array.size):
        lo = max(0, i + 1 - window)
        out[i] = (cumsum[i + 1] - cumsum[lo]) / (i + 1 - lo)
    return out


def plot_learning_curve(
    episodes: Sequence[EpisodeStats],
    window: int = 20,
    target: float | None = None,
    title: str = "Learning curve",
    ax=None,
    label: str | None = None,
    score: str = "ret",
    ylabel: str = "episode return",
    this_session: bool = True,
):
    """Raw episode return (or another ``score`` of the episodes, such as Doom's ``kills``) against
    the environment step it finished at, smoothed over ``window``. ``this_session``: a run of this
    session (fast mode shrinks it, and the plot says so), not one saved with a pretrained agent."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    steps = [e.step for e in episodes]
    returns = [getattr(e, score) if getattr(e, score) is not None else np.nan for e in episodes]
    ax.plot(steps, returns, ".", alpha=0.25, color="tab:blue")
    ax.plot(steps, smooth(returns, window), color="tab:blue", label=label or f"mean of last {window} episodes")
    if target is not None:
        ax.axhline(target, ls="--", color="tab:green", label=f"target {target:g}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if episodes or target is not None:
        ax.legend(loc="best")
    if not episodes:
        ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    if this_session:
        _fast_mark(ax, empty=not episodes)
    return ax


def show_frames(stack, screen=None, title: str = "what the agent sees"):
    """The frames of one observation side by side (oldest first), and the game's screen if given."""
    plt = _pyplot()
    stack = np.asarray(stack)
    panels = len(stack) + (screen is not None)
    fig, axes = plt.subplots(1, panels, figsize=(2.4 * panels, 2.6), squeeze=False)
    for k, (ax, frame) in enumerate(zip(axes[0], stack)):
        ax.imshow(frame, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"t - {len(stack) - 1 - k}" if k < len(stack) - 1 else "t (now)", fontsize=9)
    if screen is not None:
        axes[0][-1].imshow(screen)
        axes[0][-1].set_title("the game (colour twin)", fontsize=9)
    for ax in axes[0]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_runs(
    runs: dict[str, Sequence[EpisodeStats]],
    window: int = 20,
    target: float | None = None,
    title: str = "",
    score: str = "ret",
    ylabel: str = "episode return",
):
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
    for ax in axes:
        _fast_mark(ax, empty=not any(runs.values()))
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
    _fast_mark(ax, empty=not values.size, nothing="no update was applied")
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
    if not names:
        _fast_mark(axes[0][0], empty=True, nothing="no update was logged")
    elif fast_mode():  # one line over the small panels (a box in each would not fit)
        fig.suptitle("fast mode (COURSE_FAST=1): a few updates, not the real budget", color="tab:red", fontsize=10)
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
    return plot_learning_curve(
        episodes, window=window, title=title, ylabel=f"episode {meta.get('score', 'return')}", this_session=False
    )


def plot_bias_variance(
    lambdas: Sequence[float],
    bias2: Sequence[float],
    variance: Sequence[float],
    title: str = "Bias and variance of an advantage estimator",
):
    """Squared bias, variance and their sum (the mean squared error) against lambda."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    lams, b2, var = (np.asarray(x, dtype=float) for x in (lambdas, bias2, variance))
    mse = b2 + var
    ax.plot(lams, b2, "o-", color="tab:blue", label="squared bias")
    ax.plot(lams, var, "o-", color="tab:orange", label="variance")
    ax.plot(lambdas, mse, "o--", color="tab:gray", label="their sum (mean squared error)")
    best = int(np.argmin(mse))
    ax.plot(
        [lambdas[best]], [mse[best]], "*", ms=14, color="tab:red", label=f"smallest error: lambda = {lambdas[best]:g}"
    )
    ax.set_xlabel("lambda")
    ax.set_ylabel("per step, averaged over steps")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return ax


def load_sweep(path: str | Path) -> dict:
    """A sweep saved by ``pretrain.gae_sweep``: {"meta": ..., "runs": {lambda: {seed: [EpisodeStats]}}}."""
    data = json.loads(Path(path).read_text())
    runs = {
        float(lam): {
            int(seed): [EpisodeStats(float(r), 0, int(s)) for s, r in episodes] for seed, episodes in seeds.items()
        }
        for lam, seeds in data["runs"].items()
    }
    return {"meta": data.get("meta", {}), "runs": runs}


def curve_on_grid(episodes: Sequence[EpisodeStats], grid: np.ndarray, window: int = 20) -> np.ndarray:
    """The smoothed return at each step of ``grid`` (the last value reached by then; NaN before any)."""
    steps = np.array([e.step for e in episodes])
    values = smooth([e.ret for e in episodes], window)
    index = np.searchsorted(steps, grid, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)] if len(values) else np.nan, np.nan)


def area_under_curve(episodes: Sequence[EpisodeStats], max_steps: int, points: int = 100) -> float:
    """The mean of the smoothed return over ``points`` evenly spaced steps up to ``max_steps``
    (0 before the first finished episode): one number for how fast and how well a run learned."""
    grid = np.linspace(max_steps / points, max_steps, points)
    return float(np.nan_to_num(curve_on_grid(episodes, grid)).mean())


def sweep_auc(sweep: dict) -> dict[float, list[float]]:
    """Area under the curve of every seed, per lambda."""
    max_steps = sweep["meta"]["max_env_steps"]
    return {
        lam: [area_under_curve(episodes, max_steps) for episodes in seeds.values()]
        for lam, seeds in sorted(sweep["runs"].items())
    }


def plot_sweep(sweep: dict, mine: dict[float, Sequence[EpisodeStats]] | None = None, title: str = ""):
    """Per lambda: the mean over seeds of the smoothed return, shaded between the worst and the best
    seed; the reader's own runs dashed, in the colour of their lambda."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    max_steps = sweep["meta"]["max_env_steps"]
    grid = np.linspace(max_steps / 100, max_steps, 100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color_of = {}
    for (lam, seeds), color in zip(sorted(sweep["runs"].items()), colors):
        color_of[lam] = color
        curves = np.array([curve_on_grid(episodes, grid) for episodes in seeds.values()])
        with np.errstate(all="ignore"):
            ax.plot(grid, np.nanmean(curves, axis=0), color=color, label=f"lambda = {lam:g} ({len(seeds)} seeds)")
            ax.fill_between(grid, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), color=color, alpha=0.15)
    for lam, episodes in (mine or {}).items():
        ax.plot(
            grid,
            curve_on_grid(episodes, grid),
            "--",
            lw=2,
            color=color_of.get(lam, "black"),
            label=f"your run, lambda = {lam:g}",
        )
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return (mean of last 20)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if mine:
        _fast_mark(ax, empty=False)
    return ax
