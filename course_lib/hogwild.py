"""Asynchronous (Hogwild) training: worker processes that update one shared model, from a notebook.

A3C (Mnih et al., 2016) runs several workers, each with its own environment and its own copy of
the network. A worker collects a few steps, computes gradients on its copy, and applies them to
the *shared* model through the *shared* optimizer, without any lock. This module is the
plumbing that makes that work from notebook cells:

* **A fork server by default, fork or spawn on request.** A notebook's kernel runs threads (ipykernel's
  own, torch's), and a forked copy of a process with threads can deadlock: Python 3.12 warns about it,
  3.14 no longer forks by default on Linux. So workers are forked from a *fork server*: a clean process
  with no threads, started once per kernel, that has already imported torch and this module (what
  Python 3.14 does by default on Linux). Each worker then starts in a fraction of a second, where a
  *spawned* one (a fresh interpreter, as on Windows) imports torch again, a second or two of CPU
  each. Where there is none (Windows) or it cannot start (its Unix socket's path in a deep temporary
  folder would pass 107 bytes), or for a model and optimizer of more than 200 tensors (it hands
  them over as file descriptors, about 250 at a time), workers are spawned. The fork server keeps
  the environment variables the kernel had at its first ``train``. Either way the child does not
  run the notebook, so the notebook's own classes and functions (the optimizer, the update) could
  not be found by name: the entry point lives here (``_worker_main``, importable), and what the
  notebook defined travels *by value* (cloudpickle), while the shared tensors travel through
  ``torch.multiprocessing``, which hands the child the same shared memory.
* **One thread per worker** (``torch.set_num_threads(1)``): the workers already fill the cores,
  and intra-op threads would only fight over them.
* **Failures and interrupts.** A worker that raises sends its traceback; the others are stopped
  and the traceback is raised in the notebook. Interrupting the cell stops every worker. Workers
  ignore SIGINT (the notebook, not each worker, decides to stop) and exit when the process that
  started them dies (a restarted kernel), whichever process forked them. No worker outlives
  ``train``: every exit path joins or kills them (the fork server, idle, stays until the kernel exits).
* **Progress.** One bar for the shared step count; every finished episode comes back with its
  worker, and every update with its *staleness*: how many updates other workers applied to the
  shared model between this worker's copy of the weights and its own step.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import forkserver
from typing import Any

import cloudpickle
import torch
import torch.multiprocessing as mp

from course_lib import runtime
from course_lib.runners import EpisodeStats, RolloutRunner


@dataclass
class WorkerEpisode(EpisodeStats):
    """A finished episode, and the worker that played it."""

    worker: int = 0


@dataclass
class HogwildResult:
    """What came back from the workers: their episodes, the staleness of every update, the time."""

    episodes: list[WorkerEpisode] = field(default_factory=list)
    staleness: list[int] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    workers: int = 0


def default_workers() -> int:
    """One worker per core (``OMP_NUM_THREADS`` when the grader set it): what ``train`` uses when it
    is not told. Notebook 3 asks for 2, the number its budgets assume."""
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    return int(from_env) if from_env.isdigit() and int(from_env) > 0 else (os.cpu_count() or 1)


# What the fork server imports once, before it forks any worker: this module (torch, the runners)
# and torch._dynamo, which torch.optim imports on an optimizer's first step (about a second).
FORKSERVER_PRELOAD = ["course_lib.hogwild", "torch._dynamo"]
# The fork server hands each worker the shared tensors as file descriptors, about 250 at most at a
# time (multiprocessing's limit): a model and optimizer with more tensors than this are spawned.
FORKSERVER_MAX_TENSORS = 200


def pick_start_method(asked: str | None = None, tensors: int = 0) -> str:
    """The start method ``train`` uses: ``asked`` if given, else the fork server (started here, once
    per process), unless there is none (Windows), it cannot start (its Unix socket's path, in
    multiprocessing's temporary folder, would pass 107 bytes: a deep TMPDIR) or ``tensors`` are
    more than it can hand over; then spawn."""
    if asked:
        return asked
    if "forkserver" not in mp.get_all_start_methods() or tensors > FORKSERVER_MAX_TENSORS:
        return "spawn"
    mp.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)  # read when it starts
    try:
        forkserver.ensure_running()
    except (OSError, ValueError):  # "AF_UNIX path too long", a folder that refuses sockets
        return "spawn"
    return "forkserver"


def _rebuild_optimizer(cls: type, state: dict):
    """The notebook's optimizer object in a worker: its class (by value) around the shared state."""
    optimizer: Any = object.__new__(cls)
    optimizer.__dict__.update(state)
    return optimizer


def _worker_main(
    rank: int,
    code: bytes,
    shared_model: torch.nn.Module,
    optimizer_state: dict | None,
    counter,
    updates,
    stop,
    messages,
) -> None:
    """A worker process: its own env and local model, n-step rollouts, updates of the shared model."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    try:
        job = cloudpickle.loads(code)
        cfg = job["cfg"]
        torch.manual_seed(cfg.seed + 1000 * rank)
        if job["optimizer_class"] is not None:  # the one shared optimizer
            optimizer = _rebuild_optimizer(job["optimizer_class"], optimizer_state or {})
        else:  # a private optimizer per worker (to see what sharing its state changes)
            optimizer = job["make_optimizer"](shared_model.parameters())
        local = job["make_model"]()
        local.load_state_dict(shared_model.state_dict())
        runner = RolloutRunner(job["make_env"](cfg.seed + rank), local, cfg.num_steps, seed=cfg.seed + rank)
        seen = updates.value
        starter = multiprocessing.parent_process()  # the process that called train, not the fork server
        assert starter is not None  # None only in a main process
        while counter.value < cfg.max_env_steps and not stop.is_set() and starter.is_alive():
            batch = runner.collect()
            with updates.get_lock():
                staleness = updates.value - seen
                updates.value += 1
            job["update"](local, shared_model, optimizer, batch, cfg)
            seen = updates.value
            with counter.get_lock():
                counter.value += batch.num_steps
                step = counter.value
            messages.put(("update", rank, staleness, [(e.ret, e.length) for e in batch.episodes], step))
    except BaseException:  # noqa: BLE001 - everything goes back to the notebook
        messages.put(("error", rank, traceback.format_exc()))
    finally:
        messages.put(("done", rank))


def train(
    shared_model: torch.nn.Module,
    make_model: Callable[[], torch.nn.Module],
    make_env: Callable[[int], Any],
    update: Callable,
    cfg,
    optimizer=None,
    make_optimizer: Callable | None = None,
    workers: int | None = None,
    start_method: str | None = None,
    stop_when: Callable[[HogwildResult], bool] | None = None,
    desc: str = "A3C",
) -> HogwildResult:
    """Run ``workers`` processes until ``cfg.max_env_steps`` steps in all (or an error, or an interrupt).

    shared_model: the model in shared memory (``share_memory()`` is called here);
    make_model(): a fresh local copy's architecture; make_env(seed): a vector env of one;
    update(local, shared_model, optimizer, batch, cfg): one worker's update, called after each
    rollout of ``cfg.num_steps`` steps; optimizer: the shared optimizer over ``shared_model``'s
    parameters, created before this call, or make_optimizer(params): one private optimizer per
    worker instead. ``cfg`` needs ``seed``, ``num_steps`` and ``max_env_steps``.
    stop_when(result): checked as results come in; True stops the workers early (solved).
    """
    if (optimizer is None) == (make_optimizer is None):
        raise ValueError("give the shared `optimizer`, or `make_optimizer` for a private one per worker")
    workers = workers or default_workers()
    tensors = len(shared_model.state_dict()) + sum(
        isinstance(value, torch.Tensor)
        for state in (optimizer.state.values() if isinstance(optimizer, torch.optim.Optimizer) else ())
        for value in state.values()
    )
    context = mp.get_context(pick_start_method(start_method, tensors))
    shared_model.share_memory()
    code = cloudpickle.dumps(
        {
            "cfg": cfg,
            "make_model": make_model,
            "make_env": make_env,
            "update": update,
            "optimizer_class": None if optimizer is None else type(optimizer),
            "make_optimizer": make_optimizer,
        }
    )
    optimizer_state = None if optimizer is None else dict(optimizer.__dict__)
    counter, updates = context.Value("q", 0), context.Value("q", 0)
    stop, messages = context.Event(), context.Queue()
    processes = [
        context.Process(  # type: ignore[attr-defined]  # a SpawnContext (or fork's) has Process
            target=_worker_main,
            daemon=True,
            name=f"a3c-worker-{rank}",
            args=(rank, code, shared_model, optimizer_state, counter, updates, stop, messages),
        )
        for rank in range(workers)
    ]
    result = HogwildResult(workers=workers)
    bar = runtime.progress(total=cfg.max_env_steps, desc=desc, unit="step")
    start = time.time()
    try:
        for process in processes:
            process.start()
        running, error, shown = set(range(workers)), None, 0.0
        while running:
            if time.time() - shown > 0.5:  # the bar follows the shared step counter
                shown = time.time()
                recent = result.episodes[-20:]
                bar.update(min(counter.value, cfg.max_env_steps) - bar.n)
                if recent:
                    bar.set_postfix(ret=f"{sum(e.ret for e in recent) / len(recent):.0f}")
            try:
                message = messages.get(timeout=0.2)
            except queue_module.Empty:
                if not any(p.is_alive() for p in processes):
                    break  # a worker killed from outside cannot say "done"
                continue
            kind, rank = message[0], message[1]
            if kind == "update":
                _, _, staleness, episodes, step = message
                result.staleness.append(staleness)
                seconds = time.time() - start
                result.episodes += [
                    WorkerEpisode(ret, length, step, seconds=seconds, worker=rank) for ret, length in episodes
                ]
                if episodes and stop_when is not None and not stop.is_set() and stop_when(result):
                    stop.set()  # solved: the workers finish their update and stop
            elif kind == "error" and error is None:
                error = f"worker {rank} failed:\n{message[2]}"
                stop.set()
            elif kind == "done":
                running.discard(rank)
        if error:
            raise RuntimeError(error)
    finally:
        stop.set()
        _stop_all(processes)
        bar.update(min(counter.value, cfg.max_env_steps) - bar.n)
        bar.close()
        result.steps, result.seconds = counter.value, time.time() - start
    return result


def _stop_all(processes, grace: float = 5.0) -> None:
    """Join every worker; terminate, then kill, those that do not stop."""
    deadline = time.time() + grace
    for process in processes:
        if process.pid is not None:
            process.join(max(0.0, deadline - time.time()))
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(2.0)
        if process.is_alive():
            process.kill()
            process.join()
