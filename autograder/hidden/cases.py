"""Inputs on which a mistake shows, shared by the hidden checks of notebooks 3 to 5.

A freshly initialised actor-critic hides mistakes: its policy is nearly uniform (the entropy
bonus and its sign change little), its values are near 0 (forgetting "+ V" in a target changes
little), its gradients are small (clipping never acts). The checks run the student's updates on a
network moved away from its initialisation instead (``trained_looking``), on rollouts that hold
both kinds of episode end (``cartpole_rollouts``: CartPole with a short time limit).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from course_lib import probes, runners
from course_lib.envs import SAME_STEP
from course_lib.networks import MLPActorCritic

MODEL: dict[str, Any] = dict(obs_dim=4, n_actions=2, hidden=16)
# The optimizer the hidden checks give an update: SGD whose every step also decays the weights, so
# that an update that moves them by hand (``p -= lr * p.grad``) instead of calling ``optimizer.step()``
# misses the decay, and shows (``course_lib.probes.applied`` reads the gradient back).
WEIGHT_DECAY = 0.25


def trained_looking(seed: int, model_kwargs: dict[str, Any] = MODEL) -> MLPActorCritic:
    """A small actor-critic as after some training: a policy far from uniform (features that react
    to CartPole's small observations, a policy head far above its tiny initial gain), values around 6
    and spread (the value head scaled, its bias 6)."""
    torch.manual_seed(seed)
    model = MLPActorCritic(**model_kwargs)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for torso in (model.torso, model.critic_torso):
            assert isinstance(torso, torch.nn.Sequential) and isinstance(torso[0], torch.nn.Linear)
            torso[0].weight.mul_(6.0)
        policy, value = model.policy_head, model.value_head
        assert isinstance(policy, torch.nn.Linear) and isinstance(value, torch.nn.Linear)
        policy.weight.copy_(torch.randn(policy.weight.shape, generator=gen) * 0.4)
        value.weight.mul_(4.0)
        value.bias.fill_(6.0)
    return model


def cartpole_rollouts(
    model: MLPActorCritic, seed: int, count: int, steps: int, envs: int = 1, time_limit: int = 10
) -> list[dict]:
    """``count`` consecutive rollouts of ``envs`` CartPoles ([T, N] fields, ``probes.rollout_fields``),
    with episodes cut by a short time limit (truncations) when the pole has not fallen first
    (terminations)."""

    def make():
        return gym.wrappers.RecordEpisodeStatistics(
            gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, time_limit)
        )

    runner = runners.RolloutRunner(
        gym.vector.SyncVectorEnv([make] * envs, autoreset_mode=SAME_STEP), model, steps, seed=seed
    )
    return [probes.rollout_fields(runner.collect()) for _ in range(count)]
