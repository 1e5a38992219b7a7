"""Run a student's class or function on small objects made for the purpose, and report what it did.

**Probes** (``optimizer_steps``, ``one_update``, ``one_step``): the visible checks call them through
``course_lib.checks.run_probe``, which gives each the *bench* of its target (``course_lib.bench``):
in a notebook the objects are made here, next to the student's code; when a submission is graded
they are made in the student's process, with their values in shared memory that the grader reads
from outside. Either way a probe makes the same objects, calls the student's code, and reports the
same quantities (the values left in the memory it made, never what the code says it did); it runs
and reports, and the checks compare.

The gradient an update applied is not read from ``.grad`` (which the code could set to anything, or
leave on a parameter the optimizer never saw): the update is given SGD, whose step moves each
weight by exactly ``-lr * (grad + weight_decay * weight)``, and the gradient is what the weights'
move says (``applied``). A move made some other way (by hand, by an optimizer of its own, by
copying weights) does not follow the optimizer's settings, and shows when they change.

**Builders** (``BUILDERS``) make those objects where the student's code lives: models and
parameters whose weights are given tensors (``*_with``) or shared memory files the grader made
(``*_on``), an optimizer, a rollout. In the grader nothing they report is believed.
"""

from __future__ import annotations

import dataclasses
import math
import types
from typing import Any

import torch

from course_lib.bench import Bench


# --------------------------------------------------------------------------- measures
def applied(
    before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], lr: float, weight_decay: float = 0.0
) -> dict[str, torch.Tensor]:
    """The gradient an SGD step applied: ``(before - after) / lr - weight_decay * before``.

    Zero for a weight that did not move at all (SGD skips a parameter without a gradient, decay
    included); with a weight decay, zero where the difference is within float32's rounding of the
    step (a weight only decayed, whose gradient was zero, is left a few ulps from ``(1 - lr * decay) * w``).
    """
    eps = torch.finfo(torch.float32).eps
    out = {}
    for k in before:
        b, a = before[k].float(), after[k].float()
        if torch.equal(b, a):
            out[k] = torch.zeros_like(a)
            continue
        grad = (b - a) / lr - weight_decay * b
        noise = 4 * eps * (b.abs() + a.abs()) / lr
        out[k] = torch.where(grad.abs() <= noise, torch.zeros_like(grad), grad) if weight_decay else grad
    return out


def norm(tensors: dict[str, torch.Tensor]) -> float:
    """The norm of all the tensors together (as ``clip_grad_norm_`` measures a gradient)."""
    if not tensors:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([t.double().norm() for t in tensors.values()])))


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], rtol: float = 1e-2) -> bool:
    """Two gradients (dicts of tensors) equal within ``rtol`` of the second's norm, NaN never equal."""
    scale = norm(b)
    if not math.isfinite(scale) or not math.isfinite(norm(a)):
        return False
    return norm({k: a[k].double() - b[k].double() for k in b}) <= rtol * scale + 1e-9


# --------------------------------------------------------------------------- probes
def optimizer_steps(bench: Bench, start: list[torch.Tensor], grads: list[list[torch.Tensor]], lr: float = 1e-2) -> dict:
    """The student's optimizer class made on parameters ``start``, stepped once per entry of
    ``grads``: its state before the first step and after the last (``Bench.state``), and the
    parameters after every step."""
    params, slots = bench.parameters(start)
    optimizer = bench.make(params, lr=lr)
    before = bench.state(optimizer, params)
    trajectory = []
    for step_grads in grads:
        bench.run("step_with", optimizer, params, [g.detach().float() for g in step_grads])
        trajectory.append([bench.read_slot(s, list(p.shape)) for s, p in zip(slots, start)])
    return {"state_before": before, "trajectory": trajectory, "state_after": bench.state(optimizer, params)}


def one_update(
    bench: Bench,
    model_kwargs: dict,
    shared_state: dict[str, torch.Tensor],
    local_state: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    cfg: types.SimpleNamespace,
    lr: float = 1.0,
    weight_decay: float = 0.0,
    repeat: int = 1,
) -> dict:
    """A worker's update ``update(local, shared, optimizer, batch, cfg)`` on small actor-critics,
    with SGD (``lr``, ``weight_decay``) on the shared model: both models' weights after it, the
    gradient the optimizer applied to the shared model (``applied``), what it returned. ``repeat``:
    calls in a row on the same objects, both models' weights set back to the given ones before
    each (what the last call did is reported: it equals the first unless a call leaves something behind)."""
    shared, shared_slots = bench.model(model_kwargs, shared_state)
    local, local_slots = bench.model(model_kwargs, local_state)
    optimizer = bench.build("sgd", shared, lr, weight_decay)
    rollout = bench.build("rollout", batch)
    for _ in range(repeat):
        bench.write(shared_slots, shared_state)
        bench.write(local_slots, local_state)
        logs = bench.target(local, shared, optimizer, rollout, cfg)
    after = bench.read(shared_slots, shared_state)
    return {
        "shared": after,
        "local": bench.read(local_slots, local_state),
        "handed": applied(shared_state, after, lr, weight_decay),
        "logs": logs if isinstance(logs, dict) else {"returned": type(logs).__name__},
    }


def one_step(
    bench: Bench,
    model_kwargs: dict,
    state: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    cfg: types.SimpleNamespace,
    lr: float = 1.0,
    weight_decay: float = 0.0,
    repeat: int = 1,
) -> dict:
    """An update ``update(model, optimizer, batch, cfg)`` of a small actor-critic with SGD (``lr``,
    ``weight_decay``): the weights after it, the gradient the optimizer applied (``applied``: after
    any clipping), and what it returned. ``repeat``: calls in a row on the same objects, the weights
    set back to ``state`` before each (the last call's step is reported)."""
    model, slots = bench.model(model_kwargs, state)
    optimizer = bench.build("sgd", model, lr, weight_decay)
    rollout = bench.build("rollout", batch)
    for _ in range(repeat):
        bench.write(slots, state)
        logs = bench.target(model, optimizer, rollout, cfg)
    after = bench.read(slots, state)
    return {
        "params": after,
        "applied": applied(state, after, lr, weight_decay),
        "logs": logs if isinstance(logs, dict) else {"returned": type(logs).__name__},
    }


def rollout_fields(batch) -> dict[str, torch.Tensor]:
    """A ``Rollout``'s tensors as a plain dict (what crosses to a probe; the ``rollout`` builder rebuilds it)."""
    return {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch) if f.name != "episodes"}


# --------------------------------------------------------------------------- builders
# Run where the student's code lives: in a notebook, here; when a submission is graded, in the
# student's process (only the ``*_on`` builders there, with files the grader made).
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


def state_layout(optimizer, params: list[torch.Tensor]) -> dict:
    """Where an optimizer keeps its state (``course_lib.bench.kept_values``, ``_layout`` of each):
    what the grader's bench reads in shared memory, and believes only when the values are there."""
    from course_lib.bench import kept_values

    per_param, attributes = kept_values(optimizer, params)
    return {
        "per_param": [{str(k): _layout(v) for k, v in entries.items()} for entries in per_param],
        "attributes": {str(k): _layout(v) for k, v in attributes.items()},
    }
