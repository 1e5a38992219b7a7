"""Run a student's class or function where it lives, and report what it did, as plain data.

Checks call these through ``course_lib.checks.run_probe``: in a notebook the probe runs right
there; when a submission is graded, the student's code runs in a process of its own and so does
the probe, next to it; only the probe's result (tensors, numbers, flags) comes back to the checks.
A probe never judges: it runs and reports, and the checks compare with the reference.
"""
from __future__ import annotations

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
    scalar = (float(value.reshape(-1)[0]) if is_tensor and value.numel() == 1
              else float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None)
    return {"tensor": is_tensor, "shared": bool(is_tensor and value.is_shared()),
            "shape": list(value.shape) if is_tensor else [], "value": scalar}


def describe_state(optimizer, params) -> dict:
    """What an optimizer keeps: for each parameter its state entries, and any tensor or number kept
    as an attribute of the optimizer itself; for each, tensor or not, in shared memory or not."""
    state = getattr(optimizer, "state", {})
    per_param = [{str(k): _entry(v) for k, v in state.get(p, {}).items()} for p in params]
    skip = {"state", "param_groups", "defaults"}
    attributes = {k: _entry(v) for k, v in vars(optimizer).items()
                  if k not in skip and not k.startswith("_") and (torch.is_tensor(v) or type(v) in (int, float))}
    return {"per_param": per_param, "attributes": attributes}


def optimizer_steps(optimizer_class, start: list[torch.Tensor], grads: list[list[torch.Tensor]],
                    lr: float = 1e-2) -> dict:
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


def optimizer_in_workers(optimizer_class, start: list[torch.Tensor], grads: list[list[torch.Tensor]],
                         lr: float = 1e-2, workers: int = 2, start_method: str = "fork") -> dict:
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
    processes = [context.Process(target=_take_turns, daemon=True,
                                 args=(rank, workers, code, params, dict(optimizer.__dict__), shared_grads, turn, errors))
                 for rank in range(workers)]
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
    return {"state_before": before, "params": [p.detach().clone() for p in params],
            "state_after": describe_state(optimizer, params), "errors": problems, "steps_done": int(turn.value)}


def one_update(update_fn, model_kwargs: dict, shared_state: dict, local_state: dict, batch: dict,
               cfg: types.SimpleNamespace, lr: float = 0.1) -> dict:
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
    return {"shared": {k: v.detach().clone() for k, v in shared.state_dict().items()},
            "local": {k: v.detach().clone() for k, v in local.state_dict().items()},
            "shared_grads": {k: None if p.grad is None else p.grad.detach().clone() for k, p in shared.named_parameters()},
            "logs": logs if isinstance(logs, dict) else {"returned": type(logs).__name__}}


def rollout_fields(batch) -> dict[str, torch.Tensor]:
    """A ``Rollout``'s tensors as a plain dict (what crosses to a probe; ``one_update`` rebuilds it)."""
    import dataclasses

    return {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch) if f.name != "episodes"}


def one_step(update_fn, model_kwargs: dict, state: dict, batch: dict, cfg: types.SimpleNamespace,
             lr: float = 0.1) -> dict:
    """One call of ``update_fn(model, optimizer, batch, cfg)`` on a small actor-critic with plain SGD:
    the weights after it, the gradients it left on the parameters (after any clipping), and what it
    returned."""
    from course_lib.networks import MLPActorCritic
    from course_lib.runners import Rollout

    model = MLPActorCritic(**model_kwargs)
    model.load_state_dict(state)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    logs = update_fn(model, optimizer, Rollout(**batch), cfg)
    return {"params": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "grads": {k: None if p.grad is None else p.grad.detach().clone() for k, p in model.named_parameters()},
            "logs": logs if isinstance(logs, dict) else {"returned": type(logs).__name__}}
