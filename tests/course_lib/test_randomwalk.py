"""The random walk whose values and advantages are known exactly: the ground truth of notebook 4's
measurement of GAE's bias and variance. Checked against a Monte Carlo estimate and hand-computed cases."""

import numpy as np
import torch

from course_lib.randomwalk import LEFT, RIGHT, RandomWalk, bias_and_variance


def test_values_solve_the_bellman_equation_of_the_fixed_policy():
    walk = RandomWalk(n_states=7, slip=0.1, step_reward=-0.05, gamma=0.9, p_right=0.7)
    V, Q = walk.values(), walk.q_values()
    policy = np.array([1 - walk.p_right, walk.p_right])
    np.testing.assert_allclose(V, Q @ policy, atol=1e-10)  # V(s) = sum_a pi(a|s) Q(s, a)
    A = walk.advantages()
    np.testing.assert_allclose(A @ policy, 0.0, atol=1e-10)  # advantages average to 0 under the policy


def test_a_one_cell_walk_by_hand():
    """One cell: every move ends the episode, right (+1) with probability 1 - slip when choosing right."""
    walk = RandomWalk(n_states=1, slip=0.25, gamma=0.5, p_right=1.0)
    assert np.isclose(walk.q_values()[0, RIGHT], 0.75 * 1 + 0.25 * -1)
    assert np.isclose(walk.q_values()[0, LEFT], 0.25 * 1 + 0.75 * -1)
    assert np.isclose(walk.values()[0], 0.5)


def test_the_exact_values_match_monte_carlo_returns():
    walk = RandomWalk(n_states=5, slip=0.2, gamma=0.95, p_right=0.6)
    batch = walk.rollout(np.zeros(5), walkers=4000, T=200, seed=1)
    rewards, terminated = batch["rewards"].numpy(), batch["terminated"].numpy()
    # the return of the first episode of each walker, from the start cell
    returns = []
    for n in range(rewards.shape[1]):
        g, discount = 0.0, 1.0
        for t in range(rewards.shape[0]):
            g += discount * rewards[t, n]
            discount *= walk.gamma
            if terminated[t, n]:
                returns.append(g)
                break
    assert len(returns) > 3500
    assert abs(np.mean(returns) - walk.values()[walk.start]) < 3 * np.std(returns) / np.sqrt(len(returns))


def test_rollouts_are_in_the_courses_format_and_restart_at_the_start_cell():
    walk = RandomWalk()
    batch = walk.rollout(walk.values(), walkers=3, T=50, seed=0)
    assert {k: tuple(v.shape) for k, v in batch.items() if k != "last_value"} == {
        k: (50, 3) for k in ("rewards", "values", "terminated", "truncated", "final_values", "states", "actions")
    }
    assert batch["last_value"].shape == (3,) and batch["truncated"].sum() == 0
    ended = batch["terminated"][:-1].bool()
    assert bool((batch["states"][1:][ended] == walk.start).all())


def test_bias_and_variance_of_the_two_extremes():
    """With the true values as critic, the one-step TD error is unbiased; the Monte Carlo estimate
    (lambda = 1) is unbiased whatever the critic, and noisier than the TD error."""
    walk = RandomWalk()
    truth = walk.values()

    def td(batch):
        nxt = torch.cat([batch["values"][1:], batch["last_value"][None]]) * (1 - batch["terminated"])
        return batch["rewards"] + walk.gamma * nxt - batch["values"]

    bias_td, var_td = bias_and_variance(td, walk, truth, walkers=500, T=32)
    assert bias_td < 1e-3
    wrong = truth + 0.3
    bias_wrong, _ = bias_and_variance(td, walk, wrong, walkers=500, T=32)
    assert bias_wrong > 10 * max(bias_td, 1e-6)  # a wrong critic biases the one-step estimate
    assert var_td > 0
