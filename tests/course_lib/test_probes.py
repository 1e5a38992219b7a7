"""course_lib.probes: the probes a notebook's visible checks run (locally), and the builders the
grader's drivers run in a student's process (tests/autograder/pipeline/test_outside.py runs those
across the process boundary)."""

import os

import torch

from course_lib import probes
from course_lib.networks import MLPActorCritic


class PrivateAdam(torch.optim.Adam):
    """torch's Adam: its state is made at the first step, in private memory."""


def test_optimizer_steps_reports_the_trajectory_and_where_the_state_lives():
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 2, generator=gen)]
    grads = [[torch.randn(3, 2, generator=gen)] for _ in range(3)]
    out = probes.optimizer_steps(PrivateAdam, start, grads, lr=0.1)
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
    out = probes.one_step(update, dict(obs_dim=4, n_actions=2, hidden=8), model.state_dict(), fields, None, lr=0.5)
    assert out["logs"] == {"done": 1.0}
    for name, value in model.state_dict().items():
        grad = out["grads"][name]
        expected = value - 0.5 * (torch.zeros_like(value) if grad is None else grad)
        assert torch.allclose(out["params"][name], expected, atol=1e-6), name


def test_builders_map_shared_memory_files_and_report_their_layout(tmp_path, monkeypatch):
    """shared_tensor maps a file of /dev/shm (MAP_SHARED): a write on either side shows on the other;
    state_layout names the shared-memory file of a state tensor (with torch's file_system strategy)."""
    import torch.multiprocessing as mp

    name = f"course-test-{os.getpid()}"
    path = f"/dev/shm/{name}"
    torch.arange(6, dtype=torch.float32).numpy().tofile(path)
    try:
        mapped = probes.shared_tensor(name, [2, 3])
        mapped[0, 0] = 42.0
        assert float(torch.from_file(path, shared=False, size=6)[0]) == 42.0
        [param] = probes.parameters_on([name], [[2, 3]])
        optimizer = probes.sgd([param], lr=1.0)
        probes.step_with(optimizer, [param], [torch.ones(2, 3)])
        assert float(torch.from_file(path, shared=False, size=6)[0]) == 41.0  # the step wrote the file
        previous = mp.get_sharing_strategy()
        mp.set_sharing_strategy("file_system")
        try:
            state = {"step": torch.zeros(()).share_memory_(), "exp_avg": torch.zeros(2, 3)}
            optimizer.state[param] = state
            layout = probes.state_layout(optimizer, [param])["per_param"][0]
        finally:
            mp.set_sharing_strategy(previous)
        assert layout["step"]["file"] and os.path.exists(f"/dev/shm/{layout['step']['file']}")
        assert layout["exp_avg"]["file"] is None  # not in shared memory
    finally:
        os.unlink(path)
