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

The objects are made by the builders of ``course_lib.builders``, where the student's code lives.
"""

from __future__ import annotations

import dataclasses
import math
import types

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
