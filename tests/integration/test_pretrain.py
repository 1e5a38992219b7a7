"""The Pong pretraining command checkpoints, resumes and exports; the shipped agent is the one it made."""

import json

import pytest
import torch

from autograder.reference import notebook_settings
from course_lib import envs, networks, runners
from pretrain import training
from pretrain.a2c_atari import Settings, export, recipe, train


@pytest.mark.slow
def test_train_checkpoints_resumes_and_exports(tmp_path):
    settings = Settings(num_envs=4, total_steps=2_100, checkpoint_every=1_000, torch_threads=1)
    first = train(settings, tmp_path / "run")
    assert first["step"] == 2_100 and not first["solved"]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["step"] == 2_100 and state["history"]["entropy"]["values"]  # logged every 2,000 steps

    settings.total_steps = 2_200  # started again with the same run dir: resumes at 2,100
    assert train(settings, tmp_path / "run")["step"] == 2_200

    path = export(tmp_path / "run", tmp_path / "out")
    meta = networks.load_checkpoint(networks.SmallCNNActorCritic(**networks.PONG_NETWORK), path)
    assert meta["env_steps"] == 2_200 and "pretrain.a2c_atari" in meta["command"]
    curve = json.loads((tmp_path / "out" / "pong_a2c.json").read_text())
    assert curve["meta"]["env_steps"] == 2_200 and (tmp_path / "out" / "pong_a2c.png").exists()

    warm = training.export_warm_start(recipe(settings), Settings, tmp_path / "run", tmp_path / "out")
    model = networks.SmallCNNActorCritic(**networks.PONG_NETWORK)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=settings.lr)
    meta = networks.load_warm_start(warm, model, optimizer)
    assert meta["env_steps"] == 2_200 and "--total-steps 2200, then --export-warm-start" in meta["command"]
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["optimizer"]["state"][0]["square_avg"]
    torch.testing.assert_close(optimizer.state_dict()["state"][0]["square_avg"], saved, rtol=0.01, atol=0)
    episodes = json.loads((tmp_path / "out" / "pong_a2c_warm.json").read_text())["episodes"]
    assert len(episodes) == len(curve["episodes"])


def test_notebook_2_its_shipped_pong_files_and_the_pretraining_use_one_frame_size():
    """The notebook's PongConfig, the network the shipped agent loads into (``PONG_NETWORK``) and the
    frames both shipped files were made on: one size; and the pretraining trains that network."""
    size = notebook_settings("02_a2c", "PongConfig").frame_size
    agent, meta = networks.load_pretrained("pong_a2c")
    warm = torch.load(networks.pretrained_path("pong_a2c_warm"), weights_only=True)["meta"]
    assert size == networks.PONG_NETWORK["size"]
    assert meta["settings"]["frame_size"] == warm["settings"]["frame_size"] == size
    assert type(recipe(Settings()).make_model()) is type(agent)  # the pretraining trains the network that ships
    assert networks.pretrained_path("pong_a2c").stat().st_size < 1.5e6


@pytest.mark.slow
def test_the_shipped_pong_agent_wins_10_greedy_games_on_the_notebooks_frames():
    """What notebook 2 shows under "Watch a trained agent": its cell's 10 greedy games, seed 2024."""
    size = notebook_settings("02_a2c", "PongConfig").frame_size
    agent, _ = networks.load_pretrained("pong_a2c")
    assert all(p.dtype == torch.float32 for p in agent.parameters())
    games = envs.make_atari_vec("pong", 10, clip_rewards=False, size=size)
    try:
        scores = runners.evaluate_vec(games, agent, greedy=True, seed=2024)
    finally:
        games.close()
    assert len(scores) == 10 and min(scores) >= 20, scores


def test_the_shipped_doom_agent_scored_at_least_20():
    agent, meta = networks.load_pretrained("doom_a2c")
    assert networks.pretrained_path("doom_a2c").stat().st_size < 2e6
    assert meta["final_evaluation"]["mean"] >= 20 and len(meta["final_evaluation"]["scores"]) == 10
    assert meta["settings"]["shot_cost"] == 0.25 and "pretrain.a2c_doom" in meta["command"]
    dist, value = agent(torch.zeros(2, 4, 64, 64, dtype=torch.uint8))
    assert dist.probs.shape == (2, 4) and torch.isfinite(value).all()
