"""Run a student's class or function on small objects made for the purpose, and report what it did.

**Probes** (``optimizer_steps``, ``one_update``, ``one_step``): the visible checks call them through
``course_lib.checks.run_probe``. In a notebook a probe runs right there, on the student's own
class or function, and reports as plain data (tensors, numbers, flags). A probe never judges: it
runs and reports, and the checks compare.

When a submission is graded no probe runs next to the student's code, whose process could replace
it: each probe has a trusted driver in the grader (its scoring drivers) that gives the same
report, made from outside. What the driver needs in the student's process, the **builders** below
make there (``BUILDERS``: models whose weights live in shared memory files the grader reads and
writes, an optimizer, a rollout); they only build, and nothing they report is believed.
"""

from __future__ import annotations

import math
import time
import types

import cloudpickle
import torch
import torch.multiprocessing as mp

from course_lib.hogwild import _rebuild_optimizer


def _parameters(values: list[torch.Tensor]) -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(v.detach().clone().float()) for v in values]


def _entry(value) -> dict:
    is_tensor = torch.is_tensor(value)
    scalar = (
        float(value.reshape(-1)[0])
        if is_tensor and value.numel() == 1
        else float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else None
    )
    return {
        "tensor": is_tensor,
        "shared": bool(is_tensor and value.is_shared()),
        "shape": list(value.shape) if is_tensor else [],
        "value": scalar,
    }


def describe_state(optimizer, params) -> dict:
    """What an optimizer keeps: for each parameter its state entries, and any tensor or number kept
    as an attribute of the optimizer itself; for each, tensor or not, in shared memory or not."""
    state = getattr(optimizer, "state", {})
    per_param = [{str(k): _entry(v) for k, v in state.get(p, {}).items()} for p in params]
    skip = {"state", "param_groups", "defaults"}
    attributes = {
        k: _entry(v)
        for k, v in vars(optimizer).items()
        if k not in skip and not k.startswith("_") and (torch.is_tensor(v) or type(v) in (int, float))
    }
    return {"per_param": per_param, "attributes": attributes}


def optimizer_steps(
    optimizer_class, start: list[torch.Tensor], grads: list[list[torch.Tensor]], lr: float = 1e-2
) -> dict:
    """The optimizer made on parameters ``start``, stepped once per entry of ``grads``, in this
    process: its state before the first step, and the parameters after every step."""
    params = _parameters(start)
    optimizer = optimizer_class(params, lr=lr)
    before = describe_state(optimizer, params)
    trajectory = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.detach().clone().float()
        optimizer.step()
        trajectory.append([p.detach().clone() for p in params])
    return {"state_before": before, "trajectory": trajectory, "state_after": describe_state(optimizer, params)}


def _take_turns(rank: int, workers: int, code: bytes, params, state: dict, grads, turn, errors) -> None:
    """A worker of ``optimizer_in_workers``: applies steps rank, rank + workers, ... in turn."""
    try:
        optimizer = _rebuild_optimizer(cloudpickle.loads(code), state)
        for k in range(rank, len(grads), workers):
            deadline = time.time() + 30
            while turn.value != k:
                if time.time() > deadline:
                    raise TimeoutError(f"step {k} never came")
                time.sleep(0.0005)
            for p, g in zip(params, grads[k]):
                p.grad = g
            optimizer.step()
            with turn.get_lock():
                turn.value += 1
    except BaseException as exc:  # noqa: BLE001 - reported to the checks
        errors.put(f"{type(exc).__name__}: {exc}")
        with turn.get_lock():
            turn.value = len(grads) + 1  # release the others


def optimizer_in_workers(
    optimizer_class,
    start: list[torch.Tensor],
    grads: list[list[torch.Tensor]],
    lr: float = 1e-2,
    workers: int = 2,
    start_method: str = "fork",
) -> dict:
    """The optimizer made here on shared parameters, *before* any worker starts; then ``workers``
    processes take turns to apply one step each (worker 0 the first, worker 1 the second, ...).
    With one shared state this equals one process applying every step; with private states it
    does not. Returns the parameters and the state as this (parent) process sees them after."""
    params = _parameters(start)
    for p in params:
        p.share_memory_()
    optimizer = optimizer_class(params, lr=lr)
    before = describe_state(optimizer, params)
    context = mp.get_context(start_method)
    turn, errors = context.Value("q", 0), context.Queue()
    shared_grads = [[g.detach().clone().float().share_memory_() for g in step] for step in grads]
    code = cloudpickle.dumps(type(optimizer))
    processes = [
        context.Process(
            target=_take_turns,
            daemon=True,
            args=(rank, workers, code, params, dict(optimizer.__dict__), shared_grads, turn, errors),
        )
        for rank in range(workers)
    ]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    return {
        "state_before": before,
        "params": [p.detach().clone() for p in params],
        "state_after": describe_state(optimizer, params),
        "errors": problems,
        "steps_done": int(turn.value),
    }


def one_update(
    update_fn,
    model_kwargs: dict,
    shared_state: dict,
    local_state: dict,
    batch: dict,
    cfg: types.SimpleNamespace,
    lr: float = 0.1,
) -> dict:
    """One call of a worker's update ``update_fn(local, shared, optimizer, batch, cfg)`` on small
    actor-critics, with plain SGD on the shared model: both models' weights after it, the gradient
    it handed to the shared model, and what it returned."""
    from course_lib.networks import MLPActorCritic
    from course_lib.runners import Rollout

    shared, local = MLPActorCritic(**model_kwargs), MLPActorCritic(**model_kwargs)
    shared.load_state_dict(shared_state)
    local.load_state_dict(local_state)
    optimizer = torch.optim.SGD(shared.parameters(), lr=lr)
    logs = update_fn(local, shared, optimizer, Rollout(**batch), cfg)
    return {
        "shared": {k: v.detach().clone() for k, v in shared.state_dict().items()},
        "local": {k: v.detach().clone() for k, v in local.state_dict().items()},
        "shared_grads": {k: None if p.grad is None else p.grad.detach().clone() for k, p in shared.named_parameters()},
        "logs": logs if isinstance(logs, dict) else {"returned": type(logs).__name__},
    }


def rollout_fields(batch) -> dict[str, torch.Tensor]:
    """A ``Rollout``'s tensors as a plain dict (what crosses to a probe; ``one_update`` rebuilds it)."""
    import dataclasses

    return {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch) if f.name != "episodes"}


def one_step(
    update_fn, model_kwargs: dict, state: dict, batch: dict, cfg: types.SimpleNamespace, lr: float = 0.1
) -> dict:
    """One call of ``update_fn(model, optimizer, batch, cfg)`` on a small actor-critic with plain SGD:
    the weights after it, the gradients it left on the parameters (after any clipping), and what it
    returned."""
    from course_lib.networks import MLPActorCritic
    from course_lib.runners import Rollout

    model = MLPActorCritic(**model_kwargs)
    model.load_state_dict(state)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    logs = update_fn(model, optimizer, Rollout(**batch), cfg)
    return {
        "params": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grads": {k: None if p.grad is None else p.grad.detach().clone() for k, p in model.named_parameters()},
        "logs": logs if isinstance(logs, dict) else {"returned": type(logs).__name__},
    }


# --------------------------------------------------------------------------- builders
# Run in the student's process when a submission is graded (see the module's docstring).
BUILDERS = ("shared_tensor", "parameters_on", "actor_critic_on", "rollout", "sgd", "step_with", "state_layout")


def shared_tensor(name: str, shape: list[int], dtype: str = "float32") -> torch.Tensor:
    """The tensor held in ``/dev/shm/<name>`` (a file the grader made), mapped: what is written to
    it here shows there, and the other way round."""
    if "/" in name or name.startswith("."):
        raise ValueError(f"not a file of /dev/shm: {name!r}")
    numel = math.prod(shape)
    return torch.from_file(f"/dev/shm/{name}", shared=True, size=numel, dtype=getattr(torch, dtype)).reshape(shape)


def parameters_on(names: list[str], shapes: list[list[int]]) -> list[torch.nn.Parameter]:
    """Parameters whose values live in the given shared memory files."""
    return [torch.nn.Parameter(shared_tensor(n, s)) for n, s in zip(names, shapes)]


def actor_critic_on(model_kwargs: dict, files: dict[str, str]):
    """An ``MLPActorCritic`` whose every parameter lives in a shared memory file (``files``:
    parameter name -> file name)."""
    from course_lib.networks import MLPActorCritic

    model = MLPActorCritic(**model_kwargs)
    for name, param in model.named_parameters():
        param.data = shared_tensor(files[name], list(param.shape))
    return model


def rollout(fields: dict):
    """A ``Rollout`` from its tensors (``rollout_fields``)."""
    from course_lib.runners import Rollout

    return Rollout(**fields)


def sgd(model_or_params, lr: float, weight_decay: float = 0.0):
    """SGD without momentum: a step moves each weight ``p`` by exactly ``-lr * (grad + weight_decay * p)``
    (the grader's checks use a weight decay, so that weights changed by hand rather than by
    ``optimizer.step()`` show)."""
    params = model_or_params.parameters() if isinstance(model_or_params, torch.nn.Module) else model_or_params
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


def step_with(optimizer, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    """Give each parameter its gradient, then ``optimizer.step()``."""
    for p, g in zip(params, grads):
        p.grad = g.detach().clone().to(p.dtype)
    optimizer.step()


def _layout(value) -> dict:
    """Where a state entry lives: a tensor's shared memory file (None when it is not in shared
    memory by name), its offset in bytes, dtype, shape and storage size; or a Python number."""
    if not torch.is_tensor(value):
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        return {"tensor": False, "value": number}
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
    """Where an optimizer keeps its state: for each parameter its entries, and any tensor or
    number kept as an attribute of the optimizer itself (``_layout`` of each)."""
    state = getattr(optimizer, "state", {})
    per_param = [{str(k): _layout(v) for k, v in state.get(p, {}).items()} for p in params]
    skip = {"state", "param_groups", "defaults"}
    attributes = {
        k: _layout(v)
        for k, v in vars(optimizer).items()
        if k not in skip and not k.startswith("_") and (torch.is_tensor(v) or type(v) in (int, float))
    }
    return {"per_param": per_param, "attributes": attributes}
