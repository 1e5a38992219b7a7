"""course_lib.hogwild from a real Jupyter kernel, as a notebook uses it: the notebook's own
optimizer class and update function reach the workers with each start method; a worker that
raises, an interrupted cell and a killed kernel leave no worker behind (the fork server, where
workers are forked from one, stays with the kernel until it exits)."""

import os
import queue
import textwrap
import time

import psutil
import pytest

# What a notebook cell defines: a shared Adam (the reference's shape), an A3C update, the settings.
DEFINITIONS = textwrap.dedent("""
    import math, os, time
    from dataclasses import dataclass
    import numpy as np
    import torch
    from course_lib import envs, hogwild, networks

    class NotebookAdam(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps))
            for group in self.param_groups:
                for p in group["params"]:
                    self.state[p]["step"] = torch.zeros(()).share_memory_()
                    self.state[p]["m"] = torch.zeros_like(p.data).share_memory_()
                    self.state[p]["v"] = torch.zeros_like(p.data).share_memory_()

        @torch.no_grad()
        def step(self):
            for group in self.param_groups:
                b1, b2 = group["betas"]
                for p in group["params"]:
                    s = self.state[p]
                    s["step"] += 1
                    t = s["step"].item()
                    s["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                    s["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    p.addcdiv_(s["m"], (s["v"].sqrt() / math.sqrt(1 - b2 ** t)).add_(group["eps"]),
                               value=-group["lr"] / (1 - b1 ** t))

    def update(local, shared, optimizer, batch, cfg):
        update.calls = getattr(update, "calls", 0) + 1  # this worker's own count
        if cfg.fail_after and update.calls > cfg.fail_after:
            raise ValueError("the student's update broke")
        dist, values = local(batch.obs.flatten(0, 1))
        loss = -(dist.log_prob(batch.actions.flatten())).mean() + values.pow(2).mean()
        local.zero_grad()
        loss.backward()
        for lp, sp in zip(local.parameters(), shared.parameters()):
            sp.grad = lp.grad.clone()
        optimizer.step()
        local.load_state_dict(shared.state_dict())
        time.sleep(cfg.pause)

    def shared_steps():
        return int(next(iter(OPTIMIZER.state.values()))["step"].item())

    @dataclass
    class Cfg:
        seed: int = 0
        num_steps: int = 5
        max_env_steps: int = 400
        fail_after: int = 0
        pause: float = 0.0

    make_model = lambda: networks.MLPActorCritic(obs_dim=4, n_actions=2, hidden=8)
    make_env = lambda seed: envs.make_cartpole_vec(1, seed=seed)
    SHARED = make_model()
    OPTIMIZER = NotebookAdam(SHARED.parameters(), lr=1e-3)
""")


def run(kc, code, timeout=120):
    """Execute ``code`` in the kernel of ``kc``; return (status, text printed, error value)."""
    from conftest import Kernel

    kernel = Kernel.__new__(Kernel)
    kernel.kc = kc
    return kernel.run(code, timeout)


def is_fork_server(process, kernel):
    """The kernel's own child that forks the workers (they are its children and carry its command line)."""
    return process.ppid() == kernel and "forkserver" in " ".join(process.cmdline())


def workers_of(pid):
    """The kernel's worker processes: not multiprocessing's resource tracker, nor the fork server."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [
        c
        for c in children
        if c.is_running()
        and c.status() != psutil.STATUS_ZOMBIE
        and "resource_tracker" not in " ".join(c.cmdline())
        and not is_fork_server(c, pid)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["forkserver", "spawn", "fork"])
def test_workers_train_the_shared_model_with_the_notebooks_own_code(kernel, start_method):
    km, kc = kernel
    assert run(kc, DEFINITIONS)[0] == "ok"
    status, out, error = run(
        kc,
        f'''
before = [p.detach().clone() for p in SHARED.parameters()]
result = hogwild.train(SHARED, make_model, make_env, update, Cfg(), optimizer=OPTIMIZER, workers=2,
                       start_method="{start_method}")
moved = any(not torch.equal(a, b) for a, b in zip(before, SHARED.parameters()))
print(result.steps, result.workers, moved, shared_steps(), len(result.staleness), sorted({{e.worker for e in result.episodes}}))
''',
    )
    assert status == "ok", error
    steps, workers, moved, shared_steps, updates, episode_workers = out.split(maxsplit=5)
    assert int(steps) >= 400 and workers == "2" and moved == "True"
    assert int(shared_steps) == int(updates) >= 80  # one shared step count, advanced by every update of both workers
    assert workers_of(km.provisioner.process.pid) == []


@pytest.mark.slow
def test_a_worker_that_raises_shows_its_traceback_and_stops_the_others(kernel):
    km, kc = kernel
    assert run(kc, DEFINITIONS)[0] == "ok"
    status, _, error = run(
        kc,
        "hogwild.train(SHARED, make_model, make_env, update, Cfg(max_env_steps=10**9, fail_after=20), "
        "optimizer=OPTIMIZER, workers=2)",
    )
    assert status == "error"
    assert "failed:" in error and "ValueError: the student's update broke" in error and "in update" in error
    assert workers_of(km.provisioner.process.pid) == []


@pytest.mark.slow
def test_interrupting_the_cell_stops_every_worker(kernel):
    km, kc = kernel
    assert run(kc, DEFINITIONS)[0] == "ok"
    training = kc.execute(
        "hogwild.train(SHARED, make_model, make_env, update, Cfg(max_env_steps=10**9, pause=0.01), "
        "optimizer=OPTIMIZER, workers=2)"
    )
    pid = km.provisioner.process.pid
    deadline = time.time() + 60
    while len(workers_of(pid)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert len(workers_of(pid)) == 2
    km.interrupt_kernel()
    deadline = time.time() + 30
    while workers_of(pid) and time.time() < deadline:
        time.sleep(0.2)
    assert workers_of(pid) == []
    while True:  # the interrupted cell ends with KeyboardInterrupt (queued cells would be aborted before that)
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == training and msg["msg_type"] == "error":
            assert msg["content"]["ename"] == "KeyboardInterrupt"
        if msg["parent_header"].get("msg_id") == training and msg["content"].get("execution_state") == "idle":
            break
    reply = kc.execute_interactive("alive = 6 * 7", user_expressions={"alive": "alive"}, timeout=60)
    assert reply["content"]["user_expressions"]["alive"]["data"]["text/plain"] == "42"  # the kernel survives


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_killing_the_kernel_leaves_no_worker_behind(kernel, start_method):
    """Forked by the fork server, the workers are not the kernel's children: they watch the kernel
    itself, and the fork server goes with it too."""
    km, kc = kernel
    assert run(kc, DEFINITIONS)[0] == "ok"
    kc.execute(
        "hogwild.train(SHARED, make_model, make_env, update, Cfg(max_env_steps=10**9, pause=0.01), "
        f"optimizer=OPTIMIZER, workers=2, start_method='{start_method}')"
    )
    pid = km.provisioner.process.pid
    deadline = time.time() + 60
    while len(workers_of(pid)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = workers_of(pid)
    assert len(workers) == 2
    servers = [c for c in psutil.Process(pid).children() if is_fork_server(c, pid)]
    assert ({w.ppid() for w in workers} == {pid}) == (start_method == "spawn")
    psutil.Process(pid).kill()  # what a kernel restart does to the old kernel
    gone, alive = psutil.wait_procs(workers + servers, timeout=20)
    assert alive == [], [p.pid for p in alive]
    try:
        kc.get_iopub_msg(timeout=0.1)
    except queue.Empty:
        pass


def test_workers_are_spawned_where_the_fork_server_cannot_start_or_hand_over_the_tensors(tmp_path):
    """The fork server listens on a Unix socket in multiprocessing's temporary folder (107 bytes of
    path at most): under a deeper TMPDIR (the grader's uid mode puts it in the student's folder) it
    cannot start, and workers are spawned; so are they for more tensors than it hands over at once."""
    import subprocess
    import sys

    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    ask = "from course_lib import hogwild; print(hogwild.pick_start_method())"
    done = subprocess.run(
        [sys.executable, "-c", ask], env={**os.environ, "TMPDIR": str(deep)}, capture_output=True, text=True
    )
    assert done.stdout.split() == ["spawn"], done.stderr
    from course_lib import hogwild

    assert hogwild.pick_start_method(tensors=hogwild.FORKSERVER_MAX_TENSORS + 1) == "spawn"
    assert hogwild.pick_start_method("fork") == "fork"
