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
