"""course_lib.probes and course_lib.bench: the probes a notebook's visible checks run, here on a
LocalBench, and the builders the grader's bench runs in a student's process
(tests/autograder/pipeline/test_outside.py runs those across the process boundary)."""

import os

import torch

from course_lib import builders, probes
from course_lib.bench import LocalBench
from course_lib.networks import MLPActorCritic


class PrivateAdam(torch.optim.Adam):
    """torch's Adam: its state is made at the first step, in private memory."""


def test_optimizer_steps_reports_the_trajectory_and_where_the_state_lives():
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 2, generator=gen)]
    grads = [[torch.randn(3, 2, generator=gen)] for _ in range(3)]
    out = probes.optimizer_steps(LocalBench(PrivateAdam), start, grads, lr=0.1)
    assert out["state_before"]["per_param"] == [{}]  # lazily made: nothing before the first step
    assert len(out["trajectory"]) == 3 and not torch.equal(out["trajectory"][0][0], start[0])
    after = out["state_after"]["per_param"][0]
    assert after["exp_avg"]["tensor"] and not after["exp_avg"]["shared"]


def test_one_step_reports_the_weights_and_gradients_an_update_left():
    torch.manual_seed(0)
    model = MLPActorCritic(obs_dim=4, n_actions=2, hidden=8)

    def update(model, optimizer, batch, cfg):
        optimizer.zero_grad()
        model(batch.obs.flatten(0, 1))[1].sum().backward()
        optimizer.step()
        return {"done": 1.0}

    fields = {
        "obs": torch.randn(3, 2, 4),
        **{
            k: torch.zeros(3, 2)
            for k in ("actions", "rewards", "terminated", "truncated", "values", "log_probs", "final_values")
        },
        "last_obs": torch.zeros(2, 4),
        "last_value": torch.zeros(2),
    }
    state = model.state_dict()
    out = probes.one_step(LocalBench(update), dict(obs_dim=4, n_actions=2, hidden=8), state, fields, None, lr=0.5)
    assert out["logs"] == {"done": 1.0}
    model.zero_grad()
    model(fields["obs"].flatten(0, 1))[1].sum().backward()
    for name, param in model.named_parameters():
        grad = torch.zeros_like(param) if param.grad is None else param.grad
        assert torch.allclose(out["applied"][name], grad, atol=1e-5), name
        assert torch.allclose(out["params"][name], state[name] - 0.5 * grad, atol=1e-6), name


def test_builders_map_shared_memory_files_and_report_their_layout(tmp_path, monkeypatch):
    """shared_tensor maps a file of /dev/shm (MAP_SHARED): a write on either side shows on the other;
    state_layout names the shared-memory file of a state tensor (with torch's file_system strategy)."""
    import torch.multiprocessing as mp

    name = f"course-test-{os.getpid()}"
    path = f"/dev/shm/{name}"
    torch.arange(6, dtype=torch.float32).numpy().tofile(path)
    try:
        mapped = builders.shared_tensor(name, [2, 3])
        mapped[0, 0] = 42.0
        assert float(torch.from_file(path, shared=False, size=6)[0]) == 42.0
        [param] = builders.parameters_on([name], [[2, 3]])
        optimizer = builders.sgd([param], lr=1.0)
        builders.step_with(optimizer, [param], [torch.ones(2, 3)])
        assert float(torch.from_file(path, shared=False, size=6)[0]) == 41.0  # the step wrote the file
        previous = mp.get_sharing_strategy()
        mp.set_sharing_strategy("file_system")
        try:
            state = {"step": torch.zeros(()).share_memory_(), "exp_avg": torch.zeros(2, 3)}
            optimizer.state[param] = state
            layout = builders.state_layout(optimizer, [param])["per_param"][0]
        finally:
            mp.set_sharing_strategy(previous)
        assert layout["step"]["file"] and os.path.exists(f"/dev/shm/{layout['step']['file']}")
        assert layout["exp_avg"]["file"] is None  # not in shared memory
    finally:
        os.unlink(path)


def test_a_bench_reads_the_memory_it_made_not_a_tensor_the_code_points_at():
    """``p.data = ...`` gives a parameter memory of the code's own: the bench's weights stay as they
    were (in the grader the weights are files the code cannot repoint either), so both benches read
    the same thing: what was written into the memory they made."""
    start = [torch.ones(2, 2)]
    bench = LocalBench(None)
    params, slots = bench.parameters(start)
    params[0].data = params[0].data - 1.0  # repointed, not written
    assert torch.equal(bench.read_slot(slots[0], [2, 2]), torch.ones(2, 2))
    with torch.no_grad():
        params[0].data.add_(2.0)  # the new tensor: still not the bench's
    assert torch.equal(bench.read_slot(slots[0], [2, 2]), torch.ones(2, 2))
    fresh, slots = bench.parameters(start)
    with torch.no_grad():
        fresh[0].add_(2.0)  # written in place: seen
    assert torch.equal(bench.read_slot(slots[0], [2, 2]), 3 * torch.ones(2, 2))


def test_a_local_bench_reads_and_writes_shared_state_entries_and_only_those():
    class Kept(torch.optim.SGD):
        def __init__(self, params, lr):
            super().__init__(params, lr=lr)
            for p in self.param_groups[0]["params"]:
                self.state[p]["moment"] = torch.zeros_like(p).share_memory_()
                self.state[p]["private"] = torch.zeros_like(p)
                self.state[p]["count"] = 3

    bench = LocalBench(Kept)
    params, _ = bench.parameters([torch.zeros(3)])
    optimizer = bench.make(params, lr=0.1)
    [entries] = bench.state(optimizer, params)["per_param"]
    assert entries["moment"]["shared"] and not entries["private"]["shared"] and entries["private"]["value"] is None
    assert not entries["count"]["tensor"] and entries["count"]["value"] == 3.0
    bench.write_entry(entries["moment"], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(optimizer.state[params[0]]["moment"], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(bench.read_entry(entries["moment"]), torch.tensor([1.0, 2.0, 3.0]))
