import numpy as np
import pytest
import torch

from course_lib import envs
from course_lib.runners import episode_stats


def run_until_episode_ends(vec, max_steps, seed=0):
    vec.action_space.seed(seed)
    total = np.zeros(vec.num_envs)
    for _ in range(max_steps):
        obs, reward, term, trunc, info = vec.step(vec.action_space.sample())
        total += reward
        finished = episode_stats(info, 0)
        if finished:
            done = np.flatnonzero(np.asarray(term) | np.asarray(trunc))
            return obs, finished, info, done, total
    raise AssertionError("no episode ended")


def test_cartpole_vec_same_step_autoreset_and_raw_statistics():
    vec = envs.make_cartpole_vec(4, seed=0)
    assert vec.single_observation_space.shape == (4,) and vec.single_action_space.n == 2
    obs, finished, info, done, total = run_until_episode_ends(vec, 500)
    i = done[0]
    # Same-step autoreset: the returned obs starts a new episode, the real last one is in final_obs.
    assert np.abs(obs[i]).max() <= 0.05
    assert not np.allclose(info["final_obs"][i], obs[i])
    assert finished[0].ret == finished[0].length == total[i]  # reward 1 per step, raw return
    vec.close()


def test_cartpole_single_env_is_seeded():
    a, b = envs.make_cartpole(seed=3), envs.make_cartpole(seed=3)
    np.testing.assert_array_equal(a.reset(seed=3)[0], b.reset(seed=3)[0])


def test_atari_vec_preprocessing_clipping_and_raw_returns():
    vec = envs.make_atari_vec("pong", num_envs=2, seed=0)
    assert vec.single_observation_space.shape == (4, 84, 84)
    assert vec.single_observation_space.dtype == np.uint8
    assert vec.single_action_space.n == 6
    rewards_seen = set()
    vec.action_space.seed(0)
    for _ in range(3000):
        _, reward, _, _, info = vec.step(vec.action_space.sample())
        rewards_seen |= set(np.asarray(reward).tolist())
        finished = episode_stats(info, 0)
        if finished:
            break
    assert rewards_seen <= {-1, 0, 1}
    # A random Pong player loses about 21-0: the raw score, not a clipped or per-life value.
    assert finished and -21 <= finished[0].ret <= -15 and finished[0].length > 500
    vec.close()


def test_atari_vec_game_over_is_a_termination_with_the_real_last_frames():
    """FIRE and random no-ops at each reset (inside ale-py's vector env) leave the ends as they were:
    a lost game is terminated, not truncated, and the same-step reset keeps its last frames apart."""
    vec = envs.make_atari_vec("pong", num_envs=2, seed=1)
    vec.action_space.seed(1)
    for _ in range(3000):
        obs, _, term, trunc, info = vec.step(vec.action_space.sample())
        if np.any(term | trunc):
            break
    [i] = np.flatnonzero(term)
    assert not trunc.any()
    final = np.asarray(info["final_obs"][i])
    assert final.shape == (4, 84, 84) and not np.array_equal(final, obs[i])
    [finished] = episode_stats(info, 0)
    assert finished.ret <= -15  # a random player's real score, read at the game's end
    vec.close()


@pytest.mark.slow
@pytest.mark.parametrize("groups", [1, 2])
def test_atari_vec_time_limit_is_a_truncation_with_its_final_frames(groups):
    """The runners bootstrap from V(final_obs) at a truncation: ale-py's frame limit must say
    truncated only, and hand over the last frames, with FIRE and no-ops at the reset."""
    from course_lib import networks, runners

    vec = envs.make_atari_vec("pong", num_envs=2, seed=0, max_episode_frames=400, groups=groups)
    model = networks.SmallCNNActorCritic(n_actions=6, size=84)
    runner = runners.RolloutRunner(vec, model, num_steps=120, seed=0)
    batch = runner.collect()  # 400 frames are 100 steps of 4 frames
    assert batch.terminated.sum() == 0
    ends = torch.nonzero(batch.truncated)
    assert ends[:, 0].tolist() == [99, 99] and len(batch.episodes) == 2
    assert torch.all(batch.final_values[99] != 0) and torch.all(batch.final_values[:99] == 0)
    assert all(e.length == 100 for e in batch.episodes)
    vec.close()


def test_atari_vec_small_frames():
    vec = envs.make_atari_vec("pong", num_envs=2, seed=0, size=42)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2, 4, 42, 42) and vec.single_observation_space.shape == (4, 42, 42)
    vec.close()
    env = envs.make_atari("pong", seed=0, size=42)
    assert env.reset(seed=0)[0].shape == (4, 42, 42)
    env.close()


def test_atari_single_env_matches_vector_observation_format():
    env = envs.make_atari("pong", seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.render().shape == (210, 160, 3)
    env.close()


def test_doom_config_is_the_fast_copy():
    text = envs.doom_config_path().read_text()
    assert "RES_160X120" in text and "GRAY8" in text


@pytest.mark.slow
@pytest.mark.parametrize("asynchronous", [False, True])
def test_doom_vec_defend_the_center(asynchronous):
    vec = envs.make_doom_vec(num_envs=2, seed=0, asynchronous=asynchronous)
    assert vec.single_observation_space.shape == (4, 64, 64)
    assert vec.single_action_space.n == 4  # noop, attack, turn right, turn left
    obs, finished, _, _, _ = run_until_episode_ends(vec, 2000)
    assert obs.shape == (2, 4, 64, 64) and obs.dtype == np.uint8
    # Random play dies: a kill is +1, death -1.
    assert finished[0].ret >= -1 and finished[0].length > 0
    vec.close()


def test_doom_single_env_renders_for_video():
    env = envs.make_doom(seed=0, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 64, 64)
    assert env.render().shape == (120, 160, 3)
    env.close()


@pytest.mark.parametrize("asynchronous", [False, True])
def test_doom_time_out_is_a_truncation_and_bootstraps_from_the_last_screen(asynchronous):
    """vizdoom reports terminated *and* truncated at its time limit; the course's env says truncated
    only, and its final observation is the last screen, not vizdoom's black one. A real episode:
    doing nothing survives a 60-tic time limit."""
    vec = envs.make_doom_vec(num_envs=2, seed=0, asynchronous=asynchronous, episode_timeout=60)
    for t in range(100):  # noqa: B007 (the step of the time-out is read after the loop)
        obs, reward, term, trunc, info = vec.step(np.zeros(2, dtype=np.int64))  # 0: no button
        if np.any(term | trunc):
            break
    assert trunc.all() and not term.any(), (t, term, trunc)
    final = np.stack(info["final_obs"])
    assert final.shape == (2, 4, 64, 64) and final[:, -1].max() > 50  # a real screen, not black
    np.testing.assert_array_equal(final[:, -1], final[:, -2])  # the last screen, repeated
    [first, second] = episode_stats(info, 0)
    assert first.kills == 0 and first.length == t + 1
    vec.close()


def test_doom_death_is_a_termination_with_kills_reported():
    env = envs.make_doom(seed=1)
    env.action_space.seed(1)
    for _ in range(3000):
        _, reward, term, trunc, info = env.step(env.action_space.sample())
        if term or trunc:
            break
    assert term and not trunc and info["died"]  # random play dies before the 2100-tic limit
    assert info["episode"]["r"] == info["kills"] - 1  # +1 per kill, -1 for dying
    env.close()


@pytest.mark.parametrize("warmup", [0, 20])
def test_doom_shot_cost_charges_each_round_fired_and_leaves_kills_alone(warmup):
    import vizdoom

    plain = envs._doom_env("defend_the_center", 4, envs.DOOM_SIZE, 4, None)
    priced = envs._doom_env("defend_the_center", 4, envs.DOOM_SIZE, 4, None, shot_cost=0.25, shot_cost_warmup=warmup)
    plain.reset(seed=5)
    priced.reset(seed=5)
    rng = np.random.default_rng(0)
    fired = 0.0
    for step in range(1, 61):  # the same game: vizdoom is deterministic given the seed and the actions
        action = int(rng.integers(4))
        game = plain.unwrapped.game
        before = game.get_game_variable(vizdoom.GameVariable.AMMO2)
        _, r_plain, term, trunc, info_plain = plain.step(action)
        _, r_priced, term2, trunc2, info_priced = priced.step(action)
        shots = 0.0 if game.is_episode_finished() else before - game.get_game_variable(vizdoom.GameVariable.AMMO2)
        fired += shots
        price = 0.25 * min(1.0, step / warmup) if warmup else 0.25  # rising over the warm-up's steps
        assert r_priced == pytest.approx(r_plain - price * shots, abs=1e-9)
        assert (term, trunc) == (term2, trunc2)
        if term or trunc:
            assert info_priced["kills"] == info_plain["kills"]
            break
    assert fired > 0  # random actions do shoot: the price was charged
    plain.close()
    priced.close()


def test_doom_vec_shares_the_shot_price_warmup_among_its_games():
    games = envs.make_doom_vec(4, seed=0, groups=2, asynchronous=False, shot_cost=0.25, shot_cost_warmup=100)
    try:
        for group in games.groups:
            for env in group.env.envs:
                while not isinstance(env, envs.DoomShotCost):
                    env = env.env
                assert (env.cost, env.warmup) == (0.25, 25)  # 100 steps of 4 games: 25 steps of each
    finally:
        games.close()
    assert envs.shot_cost_warmup_per_game(10, 4) == 3  # rounded up: no game's price rises sooner than asked


@pytest.mark.slow
def test_environments_that_never_start_fail_in_time_and_leave_no_process():
    """A game engine stuck in its start blocked a notebook for 10 minutes once, and its engines
    ignored SIGTERM: past the deadline every process started for the envs is killed."""
    import os
    import time

    import pytest
    from analytic_envs import hangs_at_start

    from course_lib.envs import StartTimeout, _descendants, _started_since, start_processes

    before = _descendants(os.getpid())
    start = time.monotonic()
    with pytest.raises(StartTimeout, match="did not start within 5 s"):
        start_processes([hangs_at_start] * 2, seed=0, timeout=5)
    assert time.monotonic() - start < 30
    time.sleep(0.5)
    assert _started_since(before) == set()  # (Python's own resource tracker may stay, as in any program)


@pytest.mark.parametrize("p, same", [(0.0, False), (1.0, True)])
def test_atari_vec_sticky_actions_repeat_the_previous_action(p, same):
    """``repeat_action_probability`` reaches the emulator: at 1 every frame repeats the action held
    before the game started, so holding UP or DOWN for 60 steps leaves the same screen."""
    screens = []
    for action in (2, 3):  # UP, DOWN
        vec = envs.make_atari_vec("pong", num_envs=1, seed=0, size=42, repeat_action_probability=p)
        for _ in range(60):
            obs, *_ = vec.step(np.array([action]))
        screens.append(np.asarray(obs))
        vec.close()
    assert np.array_equal(*screens) == same
