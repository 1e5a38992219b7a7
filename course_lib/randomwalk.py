"""A random walk whose values and advantages are known exactly: to *measure* an estimator.

A walker on a chain of ``n_states`` cells steps left or right; the wind sometimes pushes it the
other way (``slip``). Stepping off the right end ends the episode with reward +1, off the left
end with -1; every other step costs ``step_reward``. For a fixed policy (the probability of
choosing "right") the state values V(s) solve a small linear system and Q(s, a) = E[r + gamma V(s')],
so the true advantage A(s, a) = Q(s, a) - V(s) of every step is known.

``rollout`` runs ``walkers`` walkers for ``T`` steps, in the course's ``[T, N]`` rollout format
(same-step restarts, ``terminated`` flags, ``last_value``), with the values of a critic you give
(for example the true values plus a deliberate error). ``bias_and_variance`` then measures, for
an advantage estimator such as GAE, its squared bias and its variance against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

LEFT, RIGHT = 0, 1


@dataclass
class RandomWalk:
    n_states: int = 9
    slip: float = 0.2  # the move goes the other way with this probability
    step_reward: float = 0.0
    gamma: float = 0.97
    p_right: float = 0.6  # the fixed policy being evaluated: P(choose right)

    @property
    def start(self) -> int:
        return self.n_states // 2

    def _moves(self):
        """For each action: P(the walker actually moves right)."""
        return {RIGHT: 1 - self.slip, LEFT: self.slip}

    def _outcome(self, s: int, right: bool) -> tuple[int | None, float]:
        """Next state (None when the episode ends) and reward of a move."""
        nxt = s + (1 if right else -1)
        if nxt >= self.n_states:
            return None, 1.0
        if nxt < 0:
            return None, -1.0
        return nxt, self.step_reward

    def values(self) -> np.ndarray:
        """V(s) of the fixed policy, exactly (a linear system)."""
        n = self.n_states
        P, r = np.zeros((n, n)), np.zeros(n)
        for s in range(n):
            for action, p_action in ((RIGHT, self.p_right), (LEFT, 1 - self.p_right)):
                for right, p_move in ((True, self._moves()[action]), (False, 1 - self._moves()[action])):
                    nxt, reward = self._outcome(s, right)
                    r[s] += p_action * p_move * reward
                    if nxt is not None:
                        P[s, nxt] += p_action * p_move
        return np.linalg.solve(np.eye(n) - self.gamma * P, r)

    def q_values(self) -> np.ndarray:
        """Q(s, a), shape [n_states, 2] (a = 0 left, 1 right)."""
        V = self.values()
        Q = np.zeros((self.n_states, 2))
        for s in range(self.n_states):
            for action in (LEFT, RIGHT):
                for right, p_move in ((True, self._moves()[action]), (False, 1 - self._moves()[action])):
                    nxt, reward = self._outcome(s, right)
                    Q[s, action] += p_move * (reward + (self.gamma * V[nxt] if nxt is not None else 0.0))
        return Q

    def advantages(self) -> np.ndarray:
        """The true A(s, a) = Q(s, a) - V(s), shape [n_states, 2]."""
        return self.q_values() - self.values()[:, None]

    def rollout(self, critic: np.ndarray, walkers: int, T: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """``walkers`` walkers for ``T`` steps each, from the start cell, restarting there when an
        episode ends: the ``[T, N]`` tensors of a course rollout (``values`` from ``critic``), plus
        the ``states`` and ``actions`` taken, to look the true advantages up."""
        rng = np.random.default_rng(seed)
        s = np.full(walkers, self.start)
        states, actions = np.zeros((T, walkers), int), np.zeros((T, walkers), int)
        rewards, terminated = np.zeros((T, walkers)), np.zeros((T, walkers))
        for t in range(T):
            a = (rng.random(walkers) < self.p_right).astype(int)
            p_move_right = np.where(a == RIGHT, 1 - self.slip, self.slip)
            nxt = s + np.where(rng.random(walkers) < p_move_right, 1, -1)
            off_right, off_left = nxt >= self.n_states, nxt < 0
            rewards[t] = np.where(off_right, 1.0, np.where(off_left, -1.0, self.step_reward))
            terminated[t] = off_right | off_left
            states[t], actions[t] = s, a
            s = np.where(terminated[t] > 0, self.start, nxt)
        as_tensor = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
        zeros = torch.zeros(T, walkers)
        return {
            "rewards": as_tensor(rewards),
            "values": as_tensor(critic[states]),
            "terminated": as_tensor(terminated),
            "truncated": zeros.clone(),
            "final_values": zeros.clone(),
            "last_value": as_tensor(critic[s]),
            "states": torch.as_tensor(states),
            "actions": torch.as_tensor(actions),
        }


def bias_and_variance(
    estimate, walk: RandomWalk, critic: np.ndarray, walkers: int = 2_000, T: int = 64, seed: int = 0
) -> tuple[float, float]:
    """Squared bias and variance of an advantage estimator on ``walk``, with critic values ``critic``.

    ``estimate(batch) -> advantages [T, N]``. For every (state, action) it averages the estimates
    of all the steps that took it: the squared gap between that mean and the truth is its squared
    bias, the spread of the estimates around the mean its variance; both are averaged over the
    steps. The truth for a step is Q(s, a) - critic(s): subtracting the critic's value of the state
    is a baseline, which does not bias a policy gradient; any other error does.
    """
    batch = walk.rollout(critic, walkers, T, seed)
    adv = estimate(batch).detach().double().flatten().numpy()
    keys = (batch["states"] * 2 + batch["actions"]).flatten().numpy()
    truth = (walk.q_values() - critic[:, None]).flatten()[keys]
    bias2 = variance = 0.0
    for key in np.unique(keys):
        mine = adv[keys == key]
        bias2 += len(mine) * (mine.mean() - truth[keys == key][0]) ** 2
        variance += len(mine) * mine.var()
    return bias2 / len(adv), variance / len(adv)
