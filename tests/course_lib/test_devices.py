"""Every helper that runs a model feeds it on the model's own device, without being told (a model
loaded on Colab's GPU must play its video). No GPU here: the model's parameters sit on PyTorch's
``meta`` device, and the model records where its inputs were."""

import gymnasium as gym
import torch
from analytic_envs import CountdownEnv, OnDevice, countdown_vec

from course_lib import runners, video


def test_play_episode_evaluate_and_evaluate_vec_use_the_models_device():
    model = OnDevice()
    env = gym.wrappers.RecordEpisodeStatistics(CountdownEnv(3))
    runners.play_episode(env, model, seed=0)
    runners.evaluate(env, model, episodes=2, seed=0)
    runners.evaluate_vec(countdown_vec(2, terminate_after=3), model, seed=0)
    assert model.seen and {d.type for d in model.seen} == {"meta"}


def test_the_rollout_runner_uses_the_models_device():
    model = OnDevice()
    runner = runners.RolloutRunner(countdown_vec(2, terminate_after=3), model, num_steps=4, seed=0)
    assert runner.device.type == "meta"
    runner.collect()
    assert {d.type for d in model.seen} == {"meta"}


def test_record_video_plays_a_model_on_another_device(tmp_path):
    model = OnDevice()
    make = lambda: gym.wrappers.RecordEpisodeStatistics(CountdownEnv(4, render_mode="rgb_array"))  # noqa: E731
    path, returns = video.record_video(make, model, tmp_path / "clip.mp4")
    assert returns == [4.0] and path.exists()
    assert {d.type for d in model.seen} == {"meta"}


def test_an_explicit_device_wins():
    model = OnDevice()
    runners.play_episode(gym.wrappers.RecordEpisodeStatistics(CountdownEnv(2)), model, device="cpu", seed=0)
    assert {d.type for d in model.seen} == {"cpu"}
    assert runners.model_device(torch.nn.Linear(2, 2)).type == "cpu"
    assert runners.model_device(lambda obs: None).type == "cpu"  # a plain function: the CPU
