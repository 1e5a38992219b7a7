"""Tiny environments whose returns can be computed by hand (Stable-Baselines3's idea)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch.distributions import Categorical


class CountdownEnv(gym.Env):
    """Observation = [steps taken in the episode]. Reward 1 per step.

    The episode *terminates* after ``terminate_after`` steps; wrap it in a ``TimeLimit`` shorter
    than that to get a *truncation* instead. Actions do nothing.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, terminate_after: int = 3, render_mode: str | None = None):
        self.terminate_after = terminate_after
        self.observation_space = gym.spaces.Box(0, 1000, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.render_mode = render_mode
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, self.t >= self.terminate_after, False, {}

    def render(self):
        frame = np.zeros((16, 16, 3), np.uint8)
        frame[:, : self.t % 16] = 255
        return frame


def countdown_vec(num_envs: int, terminate_after: int, time_limit: int | None = None) -> gym.vector.VectorEnv:
    def make():
        env = CountdownEnv(terminate_after)
        if time_limit is not None:
            env = gym.wrappers.TimeLimit(env, time_limit)
        return gym.wrappers.RecordEpisodeStatistics(env)

    from course_lib.envs import SAME_STEP

    envs = gym.vector.SyncVectorEnv([make] * num_envs, autoreset_mode=SAME_STEP)
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


class ValueIsTenTimesObs(torch.nn.Module):
    """Uniform policy over 2 actions, V(s) = 10 * obs: every bootstrap value is known in advance."""

    def forward(self, obs):
        obs = obs.float().reshape(obs.shape[0], -1)
        return Categorical(logits=torch.zeros(obs.shape[0], 2)), 10.0 * obs[:, 0]


class OnDevice(torch.nn.Module):
    """``ValueIsTenTimesObs`` whose parameters live on another device (``meta``: no GPU needed).

    It records the device of every observation it is given, and answers with CPU tensors as a GPU
    model's outputs moved back would be: helpers must feed it on its own device without being told.
    """

    def __init__(self, device: str = "meta"):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1, device=device))
        self.seen: list[torch.device] = []

    def forward(self, obs):
        self.seen.append(obs.device)
        return ValueIsTenTimesObs()(torch.zeros(obs.shape, dtype=torch.float32) if obs.device.type == "meta" else obs)


def hangs_at_start():
    """An env whose start never finishes in a worker process (a game engine stuck in its init),
    after starting a helper process of its own that ignores SIGTERM (as ViZDoom's engines do).
    In the parent (where gymnasium builds one to read the spaces) it starts at once."""
    import multiprocessing
    import subprocess
    import time

    import gymnasium as gym

    if multiprocessing.parent_process() is not None:
        subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 600"])
        time.sleep(600)
    return gym.make("CartPole-v1")
