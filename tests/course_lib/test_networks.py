import pytest
import torch

from course_lib import networks


def test_mlp_actor_critic_shapes_and_near_uniform_start():
    torch.manual_seed(0)
    model = networks.MLPActorCritic(4, 2)
    dist, value = model(torch.randn(5, 4))
    assert dist.probs.shape == (5, 2) and value.shape == (5,)
    # Policy head gain 0.01: the first policy is close to uniform, so it explores.
    assert torch.allclose(dist.probs, torch.full((5, 2), 0.5), atol=0.02)


def test_mlp_without_critic_and_shared_torso():
    dist, value = networks.MLPActorCritic(4, 3, critic=False)(torch.randn(2, 4))
    assert value is None and dist.probs.shape == (2, 3)
    shared = networks.MLPActorCritic(4, 3, shared=True)
    separate = networks.MLPActorCritic(4, 3, shared=False)
    assert shared.critic_torso is None and separate.critic_torso is not None
    assert sum(p.numel() for p in separate.parameters()) > sum(p.numel() for p in shared.parameters())


def test_orthogonal_init():
    layer = networks.layer_init(torch.nn.Linear(8, 8), gain=1.0)
    assert torch.allclose(layer.weight @ layer.weight.T, torch.eye(8), atol=1e-5)
    assert torch.all(layer.bias == 0)


def test_nature_cnn_takes_uint8_frames():
    model = networks.NatureCNNActorCritic(n_actions=6)
    obs = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    dist, value = model(obs)
    assert dist.probs.shape == (3, 6) and value.shape == (3,)
    # Scaled inside: white frames and 1/255 frames give different, finite values.
    assert torch.isfinite(value).all()


def test_small_cnn_takes_42_pixel_frames_and_starts_near_uniform():
    torch.manual_seed(0)
    model = networks.SmallCNNActorCritic(n_actions=6)
    obs = torch.randint(0, 256, (3, 4, 42, 42), dtype=torch.uint8)
    dist, value = model(obs)
    assert dist.probs.shape == (3, 6) and value.shape == (3,) and torch.isfinite(value).all()
    assert torch.allclose(dist.probs, torch.full((3, 6), 1 / 6), atol=0.02)
    assert model.torso[-2].in_features == 32 * 7 * 7  # the Nature CNN's 7 x 7 map, at half width
    small = sum(p.numel() for p in model.parameters())
    assert small < sum(p.numel() for p in networks.NatureCNNActorCritic(n_actions=6).parameters()) / 3


def test_half_precision_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = networks.NatureCNNActorCritic(6)
    networks.save_checkpoint(model, tmp_path / "m.pt", half=True, score=19.5)
    assert (tmp_path / "m.pt").stat().st_size < 3.5e6
    loaded = networks.NatureCNNActorCritic(6)
    meta = networks.load_checkpoint(loaded, tmp_path / "m.pt")
    assert meta == {"score": 19.5}
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert b.dtype == torch.float32, k
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


def test_pretrained_files_live_in_the_package():
    path = networks.pretrained_path("pong_a2c", ".json")
    assert path.parent.name == "pretrained" and path.parent.parent.name == "course_lib" and path.suffix == ".json"


def test_unknown_pretrained_agent_is_a_clear_error():
    import pytest

    with pytest.raises(KeyError, match="there are: pong_a2c"):
        networks.load_pretrained("breakout_dqn")


def _rmsprop_run(seed: int = 0, steps: int = 300):
    """A small model and its RMSprop after a few steps on a fixed loss (state far from fresh)."""
    torch.manual_seed(seed)
    model = networks.MLPActorCritic(4, 3)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=7e-4, alpha=0.99, eps=1e-5)
    x = torch.randn(16, 4)
    for _ in range(steps):
        optimizer.zero_grad()
        dist, value = model(x)
        (dist.entropy().mean() + value.pow(2).mean()).backward()
        optimizer.step()
    return model, optimizer, x


@pytest.mark.slow
def test_a_warm_start_goes_on_where_the_run_stopped(tmp_path):
    """The next update from a saved warm start is the update the run itself would have made (within
    the rounding of half-precision weights and a bfloat16 state), with the loading optimizer's own
    learning rate."""
    model, optimizer, x = _rmsprop_run()
    networks.save_warm_start(model, optimizer, tmp_path / "w.pt", env_steps=300)
    assert (tmp_path / "w.pt").stat().st_size < 0.7 * sum(p.numel() for p in model.parameters()) * 4 * 2

    torch.manual_seed(1)
    fresh = networks.MLPActorCritic(4, 3)
    fresh_opt = torch.optim.RMSprop(fresh.parameters(), lr=7e-4, alpha=0.99, eps=1e-5)
    assert networks.load_warm_start(tmp_path / "w.pt", fresh, fresh_opt) == {"env_steps": 300}
    for m, opt in ((model, optimizer), (fresh, fresh_opt)):
        before = [p.detach().clone() for p in m.parameters()]
        opt.zero_grad()
        dist, value = m(x)
        (dist.entropy().mean() + value.pow(2).mean()).backward()
        opt.step()
        m.steps = [p.detach() - b for p, b in zip(m.parameters(), before)]
    for a, b in zip(model.steps, fresh.steps):  # steps of about lr = 7e-4: within 5% of lr
        torch.testing.assert_close(b, a, rtol=0.05, atol=0.05 * 7e-4)

    # what the state is for: the same weights with a fresh RMSprop take steps several times as large
    networks.load_warm_start(tmp_path / "w.pt", fresh, restarted := torch.optim.RMSprop(fresh.parameters(), lr=7e-4))
    restarted.state.clear()
    restarted.zero_grad()
    dist, value = fresh(x)
    (dist.entropy().mean() + value.pow(2).mean()).backward()
    before = [p.detach().clone() for p in fresh.parameters()]
    restarted.step()
    biggest = max((p.detach() - b).abs().max().item() for p, b in zip(fresh.parameters(), before))
    assert biggest > 3 * max(s.abs().max().item() for s in model.steps)
    state = fresh_opt.state_dict()["state"][0]
    assert state["square_avg"].dtype == torch.float32 and float(state["step"]) == 301.0

    slower = torch.optim.RMSprop(fresh.parameters(), lr=1e-4)
    networks.load_warm_start(tmp_path / "w.pt", fresh, slower)
    assert slower.param_groups[0]["lr"] == 1e-4  # the saved run's settings do not override the student's


@pytest.mark.slow
def test_a_warm_start_is_refused_by_another_kind_of_optimizer(tmp_path):
    model, optimizer, _ = _rmsprop_run()
    networks.save_warm_start(model, optimizer, tmp_path / "w.pt")
    with pytest.raises(ValueError, match="holds the state of RMSprop, not of Adam"):
        networks.load_warm_start(tmp_path / "w.pt", model, torch.optim.Adam(model.parameters()))


def test_the_shipped_pong_warm_start_is_small_and_part_way_up_its_curve():
    """Notebook 2's warm start: the course's run stopped at 1 M steps, at about -17, so the
    student's own update has more than 15 points to add."""
    model = networks.SmallCNNActorCritic(**networks.PONG_NETWORK)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=7e-4, alpha=0.99, eps=1e-5)
    meta = networks.load_warm_start("pong_a2c_warm", model, optimizer)
    assert networks.pretrained_path("pong_a2c_warm").stat().st_size < 2e6
    assert meta["env_steps"] == 1_000_000 and -18 <= meta["last_20"] <= -16
    assert "--export-warm-start" in meta["command"]
    assert set(optimizer.state_dict()["state"][0]) == {"step", "square_avg"}
