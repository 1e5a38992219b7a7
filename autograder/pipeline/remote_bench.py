"""Trusted drivers of ``course_lib.probes``, for scoring: the probes' reports, made from outside.

In a notebook, a visible check runs a probe next to the student's code (``run_probe``). When a
submission is scored, the student's process could replace that probe, so none runs there: the
check's proxy hands the call to the driver of the same name here (``RemoteFunction.remote_probe``).
A driver makes what the probe would make, in the student's process, with the builders of
``course_lib.probes`` (models and parameters whose values live in shared memory files made here,
``autograder.pipeline.shared``), calls the student's function or class on it, and reads what it did in that
memory, from outside. It believes only the return values of the student's own functions: an
optimizer's state is where the student's process says it is only if the values are found there.

``Bench`` is the same machinery for the hidden checks, which need longer sequences (several calls,
another worker's step in between, weights reset from outside).
"""

from __future__ import annotations

import math
import types
from typing import Any

import torch

from autograder.pipeline.shared import DTYPES, NotShared
from autograder.sandboxed.protocol import Handle

# The optimizer the hidden checks give an update: SGD whose every step also decays the weights, so
# that an update that moves them by hand (``p -= lr * p.grad``) instead of calling ``optimizer.step()``
# misses the decay, and shows. (The visible checks' drivers keep plain SGD, as their probes do.)
WEIGHT_DECAY = 0.25


class Bench:
    """Objects in one student's process, with their values in shared memory read and written here."""

    def __init__(self, target):
        self.target = target
        self.answers = target._answers
        self.mem = self.answers.shared_memory()

    # ------------------------------------------------------------------ weights in shared memory
    def files(self, state: dict[str, torch.Tensor]) -> dict[str, str]:
        return {name: self.mem.create(value.detach().float()) for name, value in state.items()}

    def model(self, model_kwargs: dict, state: dict[str, torch.Tensor]) -> tuple[Handle, dict[str, str]]:
        """An ``MLPActorCritic`` made in the student's process, its weights ``state`` in files of ours."""
        files = self.files(state)
        return self.answers.build("actor_critic_on", model_kwargs, files), files

    def parameters(self, values: list[torch.Tensor]) -> tuple[Handle, list[str]]:
        files = [self.mem.create(v.detach().float()) for v in values]
        return self.answers.build("parameters_on", files, [list(v.shape) for v in values]), files

    def read(self, files: dict[str, str], like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: self.mem.read(files[name], "float32", list(like[name].shape)) for name in like}

    def write(self, files: dict[str, str], state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            self.mem.write(files[name], value.detach().float())

    def build(self, builder: str, *args, **kwargs) -> Handle:
        return self.answers.build(builder, *args, **kwargs)

    def run(self, builder: str, *args, **kwargs) -> Any:
        return self.answers.build(builder, *args, keep=False, **kwargs)

    # ------------------------------------------------------------------ an optimizer's state
    def state(self, optimizer: Handle, params: Handle) -> dict:
        """What the optimizer keeps, as ``probes.describe_state`` reports it, each entry checked here:
        an entry is ``shared`` only when its values are found in a shared memory file (and then
        ``value`` is what that memory holds, ``where`` the file and byte offset)."""
        layout = self.run("state_layout", optimizer, params)
        if not isinstance(layout, dict) or not isinstance(layout.get("per_param"), list):
            raise NotShared("the optimizer's state could not be described")
        per_param = [
            {str(k): self._entry(e) for k, e in entries.items()} if isinstance(entries, dict) else {}
            for entries in layout["per_param"]
        ]
        attributes = layout.get("attributes") if isinstance(layout.get("attributes"), dict) else {}
        return {"per_param": per_param, "attributes": {str(k): self._entry(e) for k, e in attributes.items()}}

    def _entry(self, entry) -> dict:
        if not isinstance(entry, dict) or not entry.get("tensor"):
            value = entry.get("value") if isinstance(entry, dict) else None
            return {
                "tensor": False,
                "shared": False,
                "shape": [],
                "value": value if isinstance(value, float) else None,
                "where": None,
            }
        shape, dtype = entry.get("shape"), entry.get("dtype")
        found = {
            "tensor": True,
            "shared": False,
            "shape": shape if _is_shape(shape) else [],
            "value": None,
            "where": None,
            "dtype": dtype,
        }
        file, offset, size = entry.get("file"), entry.get("offset"), entry.get("storage_bytes")
        if not (
            isinstance(file, str)
            and _is_shape(shape)
            and dtype in DTYPES
            and entry.get("contiguous")
            and isinstance(offset, int)
            and isinstance(size, int)
            and offset >= 0
        ):
            return found
        itemsize = torch.empty((), dtype=getattr(torch, dtype)).element_size()
        if offset + math.prod(shape) * itemsize > size:
            return found
        try:
            start = self.mem.data_offset(file, size) + offset
            found["value"] = self.mem.read(file, dtype, shape, start)
        except NotShared:
            return found
        found.update(shared=True, where=(file, start))
        return found

    def write_entry(self, entry: dict, value: torch.Tensor) -> None:
        """Write ``value`` where a shared state entry lives (as another worker's step would)."""
        file, start = entry["where"]
        self.mem.write(file, value.detach().to(getattr(torch, entry["dtype"])), start)

    def read_entry(self, entry: dict) -> torch.Tensor:
        file, start = entry["where"]
        return self.mem.read(file, entry["dtype"], entry["shape"], start)


def _is_shape(shape) -> bool:
    return isinstance(shape, list) and len(shape) <= 8 and all(isinstance(s, int) and 0 <= s < 2**31 for s in shape)


# --------------------------------------------------------------------------- the probes' drivers
def optimizer_steps(target, start: list[torch.Tensor], grads: list[list[torch.Tensor]], lr: float = 1e-2) -> dict:
    """``probes.optimizer_steps`` from outside: the optimizer made on parameters in shared memory
    files of ours, its state read there before the first step and after the last, the parameters
    after every step.

    A state entry counts as ``shared`` only when the optimizer really works from that memory: two
    more optimizers of the same class take a step each, with different gradients; then the second
    one's parameters and state (read in shared memory) are written, from outside, into the first
    one's; the same next step must then move both alike. A state kept anywhere else than in the
    memory read here would still remember its own first step."""
    bench = Bench(target)
    params, files = bench.parameters(start)
    optimizer = target.keep(params, lr=lr)
    before = bench.state(optimizer, params)
    trajectory = []
    for step_grads in grads:
        bench.run("step_with", optimizer, params, [g.detach().float() for g in step_grads])
        trajectory.append([bench.mem.read(f, "float32", list(p.shape)) for f, p in zip(files, start)])
    after = bench.state(optimizer, params)
    used = len(grads) >= 3 and _works_from_shared_memory(bench, target, start, grads[:3], lr)
    for entries in [*before["per_param"], before["attributes"], *after["per_param"], after["attributes"]]:
        for entry in entries.values():
            entry["shared"] = bool(entry["shared"] and used)
    return {"state_before": before, "trajectory": trajectory, "state_after": after}


def _shared_entries(state: dict) -> list[dict]:
    return [e for entries in [*state["per_param"], state["attributes"]] for e in entries.values()]


def _works_from_shared_memory(bench: Bench, target, start, grads, lr: float) -> bool:
    """Whether an optimizer's next step depends on its state in shared memory, and only on it."""
    made = []
    for first in grads[:2]:
        params, files = bench.parameters(start)
        optimizer = target.keep(params, lr=lr)
        bench.run("step_with", optimizer, params, [g.detach().float() for g in first])
        made.append((params, files, optimizer, _shared_entries(bench.state(optimizer, params))))
    (params_a, files_a, opt_a, state_a), (params_b, files_b, opt_b, state_b) = made
    if not state_a or len(state_a) != len(state_b) or not all(e["shared"] for e in state_a + state_b):
        return False
    if len({e["where"] for e in state_a + state_b}) != len(state_a + state_b):
        return False  # two entries in one place: not a state of their own
    for fa, fb, p in zip(files_a, files_b, start):
        bench.mem.write(fa, bench.mem.read(fb, "float32", list(p.shape)))
    for ea, eb in zip(state_a, state_b):
        if ea["shape"] != eb["shape"] or ea["dtype"] != eb["dtype"]:
            return False
        bench.write_entry(ea, bench.read_entry(eb))
    for params, optimizer in ((params_a, opt_a), (params_b, opt_b)):
        bench.run("step_with", optimizer, params, [g.detach().float() for g in grads[2]])
    moved = [
        [bench.mem.read(f, "float32", list(p.shape)) for f, p in zip(files, start)] for files in (files_a, files_b)
    ]
    return all(torch.allclose(a, b, atol=1e-7, rtol=1e-5) for a, b in zip(*moved))


def one_update(
    target,
    model_kwargs: dict,
    shared_state: dict,
    local_state: dict,
    batch: dict,
    cfg: types.SimpleNamespace,
    lr: float = 0.1,
) -> dict:
    """``probes.one_update`` from outside: both models' weights in files of ours, plain SGD on the
    shared one (as the visible check's probe has it); the gradient handed to the shared model is
    what SGD subtracted, divided by lr."""
    bench = Bench(target)
    shared, shared_files = bench.model(model_kwargs, shared_state)
    local, local_files = bench.model(model_kwargs, local_state)
    optimizer = bench.build("sgd", shared, lr)
    logs = target(local, shared, optimizer, bench.build("rollout", batch), cfg)
    after = bench.read(shared_files, shared_state)
    return {
        "shared": after,
        "local": bench.read(local_files, local_state),
        "shared_grads": applied(shared_state, after, lr, weight_decay=0.0),
        "logs": logs if isinstance(logs, dict) else {"returned": type(logs).__name__},
    }


def one_step(target, model_kwargs: dict, state: dict, batch: dict, cfg: types.SimpleNamespace, lr: float = 0.1) -> dict:
    """``probes.one_step`` from outside: the model's weights in files of ours, plain SGD (as the
    visible check's probe has it); the gradients are what SGD subtracted, divided by lr."""
    bench = Bench(target)
    model, files = bench.model(model_kwargs, state)
    optimizer = bench.build("sgd", model, lr)
    logs = target(model, optimizer, bench.build("rollout", batch), cfg)
    after = bench.read(files, state)
    return {
        "params": after,
        "grads": applied(state, after, lr, weight_decay=0.0),
        "logs": logs if isinstance(logs, dict) else {"returned": type(logs).__name__},
    }


def applied(before: dict, after: dict, lr: float, weight_decay: float = WEIGHT_DECAY) -> dict:
    """The gradient an SGD step with weight decay applied: ``(before - after) / lr - decay * before``.

    Zero for a weight that did not move at all (SGD skips a parameter without a gradient, decay
    included), and zero where the difference is within float32's rounding of the step (a weight
    only decayed, whose gradient was zero, is left by SGD a few ulps away from ``(1 - lr*decay) * w``).
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


DRIVERS = {"optimizer_steps": optimizer_steps, "one_update": one_update, "one_step": one_step}
