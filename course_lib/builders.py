"""Builders: they make the objects a check runs a student's code on, where that code lives.

In a notebook they run here (``course_lib.bench.LocalBench``: models and parameters whose weights
are given tensors, ``*_with``); when a submission is graded, in the student's process, called by the
grader's bench (``BUILDERS`` only: models and parameters whose weights are shared memory files the
grader made, ``*_on``, an optimizer, a rollout, a step, an optimizer's layout). They only build:
in the grader nothing they report is believed (the answers process takes them before any answer
cell runs, and refuses to run them once an answer cell has replaced one).
"""

from __future__ import annotations

import math
from typing import Any

import torch

BUILDERS = (
    "shared_tensor",
    "parameters_on",
    "actor_critic_on",
    "rollout",
    "sgd",
    "step_with",
    "state_layout",
)


def shared_tensor(name: str, shape: list[int], dtype: str = "float32") -> torch.Tensor:
    """The tensor held in ``/dev/shm/<name>`` (a file the grader made), mapped: what is written to
    it here shows there, and the other way round."""
    if "/" in name or name.startswith("."):
        raise ValueError(f"not a file of /dev/shm: {name!r}")
    numel = math.prod(shape)
    return torch.from_file(f"/dev/shm/{name}", shared=True, size=numel, dtype=getattr(torch, dtype)).reshape(shape)


def parameters_with(tensors: list[torch.Tensor]) -> list[torch.nn.Parameter]:
    """Parameters whose values are the given tensors' memory."""
    return [torch.nn.Parameter(t) for t in tensors]


def parameters_on(names: list[str], shapes: list[list[int]]) -> list[torch.nn.Parameter]:
    """Parameters whose values live in the given shared memory files."""
    return parameters_with([shared_tensor(n, s) for n, s in zip(names, shapes)])


def actor_critic_with(model_kwargs: dict, tensors: dict[str, torch.Tensor]):
    """An ``MLPActorCritic`` whose every parameter's values are the given tensor's memory
    (``tensors``: parameter name -> tensor)."""
    from course_lib.networks import MLPActorCritic

    model = MLPActorCritic(**model_kwargs)
    for name, param in model.named_parameters():
        param.data = tensors[name].reshape(param.shape)
    return model


def actor_critic_on(model_kwargs: dict, files: dict[str, str]):
    """An ``MLPActorCritic`` whose every parameter lives in a shared memory file (``files``:
    parameter name -> file name)."""
    from course_lib.networks import MLPActorCritic

    shapes = {name: list(p.shape) for name, p in MLPActorCritic(**model_kwargs).named_parameters()}
    return actor_critic_with(model_kwargs, {name: shared_tensor(files[name], shapes[name]) for name in shapes})


def rollout(fields: dict):
    """A ``Rollout`` from its tensors (``rollout_fields``)."""
    from course_lib.runners import Rollout

    return Rollout(**fields)


def sgd(model_or_params, lr: float, weight_decay: float = 0.0):
    """SGD without momentum: a step moves each weight ``p`` by exactly ``-lr * (grad + weight_decay * p)``
    (see ``applied``)."""
    params = model_or_params.parameters() if isinstance(model_or_params, torch.nn.Module) else model_or_params
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


def step_with(optimizer, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    """Give each parameter its gradient, then ``optimizer.step()``."""
    for p, g in zip(params, grads):
        p.grad = g.detach().clone().to(p.dtype)
    optimizer.step()


def _layout(value: Any) -> dict:
    """Where a state entry lives: a tensor's shared memory file (None when it is not in shared
    memory by name), its offset in bytes, dtype, shape and storage size; or a Python number."""
    if not torch.is_tensor(value):
        plain = isinstance(value, (int, float)) and not isinstance(value, bool)
        return {"tensor": False, "value": float(value) if plain else None}
    entry = {
        "tensor": True,
        "dtype": str(value.dtype).removeprefix("torch."),
        "shape": list(value.shape),
        "offset": value.storage_offset() * value.element_size(),
        "file": None,
        "storage_bytes": value.untyped_storage().nbytes(),
        "contiguous": value.is_contiguous(),
    }
    if value.is_shared() and value.device.type == "cpu":
        try:
            _, handle, _ = value.untyped_storage()._share_filename_cpu_()
            entry["file"] = handle.decode().lstrip("/") if isinstance(handle, bytes) else str(handle).lstrip("/")
        except (RuntimeError, TypeError):  # shared some other way (a file descriptor)
            pass
    return entry


def kept_values(optimizer: Any, params: list[torch.Tensor]) -> tuple[list[dict], dict]:
    """What an optimizer keeps, raw: each parameter's state dict, and the tensors and numbers kept
    as public attributes of the optimizer itself (a step count kept there, say)."""
    state = getattr(optimizer, "state", {})
    per_param = [dict(state.get(p, {})) if isinstance(state, dict) else {} for p in params]
    skip = {"state", "param_groups", "defaults"}
    attributes = {
        k: v
        for k, v in vars(optimizer).items()
        if k not in skip and not k.startswith("_") and (torch.is_tensor(v) or type(v) in (int, float))
    }
    return per_param, attributes


def state_layout(optimizer, params: list[torch.Tensor]) -> dict:
    """Where an optimizer keeps its state (``kept_values``, ``_layout`` of each): what the
    grader's bench reads in shared memory, and believes only when the values are there."""
    per_param, attributes = kept_values(optimizer, params)
    return {
        "per_param": [{str(k): _layout(v) for k, v in entries.items()} for entries in per_param],
        "attributes": {str(k): _layout(v) for k, v in attributes.items()},
    }
