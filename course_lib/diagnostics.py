"""Numbers worth watching while an actor-critic trains, and a small log to keep them in.

* entropy: falls as the policy commits; a collapse to ~0 early means no more exploration.
* explained variance of the value targets by the critic: 1 is perfect, 0 is no better than a
  constant, negative is worse than a constant (the critic is hurting the advantages).
* gradient norm: spikes show the updates that clipping (``max_grad_norm``) has to tame.
"""

from __future__ import annotations

from collections import defaultdict

import torch


def explained_variance(values: torch.Tensor, targets: torch.Tensor) -> float:
    """1 - Var[targets - values] / Var[targets]; NaN when the targets do not vary."""
    values, targets = values.detach().flatten().float(), targets.detach().flatten().float()
    var_targets = targets.var(unbiased=False)
    if var_targets == 0:
        return float("nan")
    return float(1 - (targets - values).var(unbiased=False) / var_targets)


class History:
    """Scalars logged once per update, each with the environment step it was logged at."""

    def __init__(self):
        self.steps: dict[str, list[int]] = defaultdict(list)
        self.values: dict[str, list[float]] = defaultdict(list)

    def log(self, step: int, **scalars: float) -> None:
        for name, value in scalars.items():
            self.steps[name].append(int(step))
            self.values[name].append(float(value.item() if torch.is_tensor(value) else value))

    def last(self, name: str, default: float = float("nan")) -> float:
        return self.values[name][-1] if self.values.get(name) else default

    def to_dict(self) -> dict:
        return {name: {"steps": self.steps[name], "values": self.values[name]} for name in self.values}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        history = cls()
        for name, series in data.items():
            history.steps[name] = list(series["steps"])
            history.values[name] = list(series["values"])
        return history
