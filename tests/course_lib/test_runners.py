import gymnasium as gym
import numpy as np
import pytest
import torch
from analytic_envs import CountdownEnv, ValueIsTenTimesObs, countdown_vec

from course_lib import runners


def collect(num_envs=2, num_steps=7, terminate_after=3, time_limit=None):
    torch.manual_seed(0)
    runner = runners.RolloutRunner(
        countdown_vec(num_envs, terminate_after, time_limit), ValueIsTenTimesObs(), num_steps, seed=0
    )
    return runner, runner.collect()


def test_rollout_shapes_and_alignment():
    runner, batch = collect(num_envs=3, num_steps=7)
    T, N = 7, 3
    assert batch.obs.shape == (T, N, 1)
    for name in ("actions", "rewards", "terminated", "truncated", "values", "log_probs", "final_values"):
        assert getattr(batch, name).shape == (T, N), name
    assert batch.last_obs.shape == (N, 1) and batch.last_value.shape == (N,)
    # obs[t] is the observation the action was chosen from: steps 0,1,2,0,1,2,0 in every env.
    expected = torch.tensor([0, 1, 2, 0, 1, 2, 0], dtype=torch.float32)
    assert torch.equal(batch.obs[:, 0, 0], expected)
    assert torch.allclose(batch.values[:, 0], 10 * expected)
    assert torch.allclose(batch.log_probs, torch.full((T, N), float(np.log(0.5))))
    assert runner.global_step == T * N
    assert batch.num_steps == T * N


def test_termination_never_bootstraps():
    _, batch = collect(num_steps=7, terminate_after=3)
    assert torch.equal(batch.terminated[:, 0], torch.tensor([0, 0, 1, 0, 0, 1, 0], dtype=torch.float32))
    assert batch.truncated.sum() == 0
    assert torch.all(batch.final_values == 0)


def test_truncation_bootstraps_from_value_of_final_observation():
    # Time limit 2 < termination at 5: every episode is truncated after 2 steps, in the state obs=2.
    _, batch = collect(num_steps=6, terminate_after=5, time_limit=2)
    truncated_steps = torch.tensor([0, 1, 0, 1, 0, 1], dtype=torch.float32)
    assert torch.equal(batch.truncated[:, 0], truncated_steps)
    assert batch.terminated.sum() == 0
    # V(final obs) = 10 * 2 at every truncation, 0 elsewhere; the next obs is already the reset one.
    assert torch.allclose(batch.final_values[:, 1], 20.0 * truncated_steps)
    assert torch.equal(batch.obs[2, 0], torch.tensor([0.0]))


def test_last_value_and_episode_statistics():
    runner, batch = collect(num_envs=2, num_steps=7, terminate_after=3)
    assert torch.equal(batch.last_obs[:, 0], torch.tensor([1.0, 1.0]))
    assert torch.allclose(batch.last_value, torch.tensor([10.0, 10.0]))
    assert [(e.ret, e.length) for e in batch.episodes] == [(3.0, 3)] * 4
    assert sorted({e.step for e in batch.episodes}) == [6, 12]
    # Episodes continue across rollouts: the next batch starts at obs 1.
    assert torch.equal(runner.collect().obs[0, :, 0], torch.tensor([1.0, 1.0]))


def test_complete_marks_steps_of_episodes_that_ended_inside_the_batch():
    _, batch = collect(num_steps=7, terminate_after=3)
    assert batch.complete[:, 0].tolist() == [True] * 6 + [False]
    assert torch.equal(batch.dones, torch.maximum(batch.terminated, batch.truncated))


def test_play_episode_and_evaluate_report_raw_returns():
    env = gym.wrappers.RecordEpisodeStatistics(CountdownEnv(4, render_mode="rgb_array"))
    ret, frames = runners.play_episode(env, ValueIsTenTimesObs(), render=True, seed=0)
    assert ret == 4.0 and len(frames) == 5
    assert runners.evaluate(env, ValueIsTenTimesObs(), episodes=3, seed=0) == [4.0, 4.0, 4.0]


@pytest.mark.parametrize("greedy", [True, False])
def test_evaluate_stops_at_max_steps(greedy):
    env = CountdownEnv(terminate_after=10_000)
    assert runners.evaluate(env, ValueIsTenTimesObs(), episodes=1, greedy=greedy, max_steps=25) == [25.0]


def test_evaluate_vec_scores_the_first_episode_of_each_env():
    from analytic_envs import countdown_vec

    vec = countdown_vec(3, terminate_after=4)
    assert runners.evaluate_vec(vec, ValueIsTenTimesObs(), seed=0) == [4.0, 4.0, 4.0]
    assert runners.evaluate_vec(vec, ValueIsTenTimesObs(), max_steps=2, seed=0) == [2.0, 2.0, 2.0]
