"""Collect rollouts of T steps from N environments into one typed batch.

**The time-limit rule used in the whole course.** An episode can end in two ways:

* *terminated*: the MDP really ended (the pole fell, the game was lost). Nothing follows, so the
  return after the last reward is **0**: never bootstrap.
* *truncated*: a time limit stopped the episode (CartPole's 500 steps, Doom's 2100 tics). The
  state had a future we did not see, so its value is estimated: **bootstrap from V(s_final)**,
  the critic's value of the real last observation. The runner computes those values for you in
  ``Rollout.final_values`` (zero where the step was not truncated).

REINFORCE (notebook 1) has no critic, so it cannot bootstrap: it treats a truncation as an end
and learns from complete episodes only (``Rollout.complete``). Notebook 2 removes that bias.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.distributions import Categorical

# A model maps a batch of observations to (action distribution, value or None).
Model = Callable[[torch.Tensor], "tuple[Categorical, torch.Tensor | None]"]


@dataclass
class EpisodeStats:
    """One finished episode: its raw (unclipped) return, its length, the global step it ended at,
    the seconds since training started when it ended, and, in Doom, the monsters it killed."""

    ret: float
    length: int
    step: int
    kills: int | None = None
    seconds: float | None = None


@dataclass
class Rollout:
    """T steps from N envs. Tensors are shaped ``[T, N, ...]``; time first, envs second."""

    obs: torch.Tensor  # [T, N, *obs_shape], observation the action was chosen from
    actions: torch.Tensor  # [T, N] long
    rewards: torch.Tensor  # [T, N] float (clipped for Atari training)
    terminated: torch.Tensor  # [T, N] float 0/1: the episode really ended after this step
    truncated: torch.Tensor  # [T, N] float 0/1: a time limit ended it after this step
    values: torch.Tensor  # [T, N] V(obs) from the critic (zeros without a critic)
    log_probs: torch.Tensor  # [T, N] log pi(action | obs) when it was sampled
    final_values: torch.Tensor  # [T, N] V(final obs) where truncated, else 0: the bootstrap
    last_obs: torch.Tensor  # [N, *obs_shape] observation after the last step
    last_value: torch.Tensor  # [N] V(last_obs): bootstrap for steps still running at the end
    episodes: list[EpisodeStats] = field(default_factory=list)

    @property
    def dones(self) -> torch.Tensor:
        """1 where an episode ended after the step, by either rule."""
        return torch.maximum(self.terminated, self.truncated)

    @property
    def complete(self) -> torch.Tensor:
        """[T, N] bool: the step belongs to an episode that ended inside this rollout.

        Monte Carlo returns (REINFORCE) are only exact for such steps; the unfinished tail of
        each env's column is cut off by the rollout, not by the game.
        """
        ended_later = torch.flip(torch.cummax(torch.flip(self.dones, [0]), dim=0).values, [0])
        return ended_later.bool()

    @property
    def num_steps(self) -> int:
        return self.rewards.shape[0] * self.rewards.shape[1]


class RolloutRunner:
    """Steps N envs with a model and hands out ``Rollout`` batches of ``num_steps`` steps each.

    The runner keeps the current observations between calls, so consecutive rollouts continue
    the same episodes (that is what makes n-step bootstrapping across rollouts correct).

    ``envs`` is a vector env, or ``EnvGroups`` (``course_lib.envs``): two or more vector envs that
    together make the N envs. With groups the runner overlaps the environments with the network:
    while one group steps (in a thread; the emulator or the game processes do not need Python's
    lock), the model chooses the next actions of the other. Every env still takes exactly
    ``num_steps`` steps per rollout, each chosen by the current policy: the rollout is the same,
    only sooner (``benchmarks/results/speed.md``).
    """

    def __init__(
        self, envs, model: Model, num_steps: int, device: torch.device | str | None = None, seed: int | None = None
    ):
        self.envs = envs
        self.model = model
        self.num_steps = num_steps
        self.device = model_device(model, device)
        self.groups = list(getattr(envs, "groups", [envs]))
        bounds = np.cumsum([0] + [g.num_envs for g in self.groups])
        self.columns = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self.num_envs = int(bounds[-1])
        self.global_step = 0
        self.started = time.time()  # episodes are stamped with the seconds since then
        self.pool = ThreadPoolExecutor(len(self.groups)) if len(self.groups) > 1 else None
        self._next_obs: list = [None] * len(self.groups)  # each group's observations after its last step
        obs, _ = envs.reset(seed=seed)
        self.obs = obs  # all N envs' observations, in group order

    def _to_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs), device=self.device)

    @torch.no_grad()
    def _evaluate(self, obs: torch.Tensor) -> tuple[Categorical, torch.Tensor]:
        dist, value = self.model(obs)
        if value is None:
            value = torch.zeros(obs.shape[0], device=self.device)
        return dist, value.reshape(-1)

    @torch.no_grad()
    def collect(self) -> Rollout:
        T, N = self.num_steps, self.num_envs
        obs_now = [self._to_tensor(self.obs[cols]) for cols in self.columns]  # each observation converted once
        obs_buf = torch.empty((T, N, *obs_now[0].shape[1:]), dtype=obs_now[0].dtype, device=self.device)
        zeros = lambda dtype=torch.float32: torch.zeros((T, N), dtype=dtype, device=self.device)  # noqa: E731
        self._buf = dict(
            actions=zeros(torch.long),
            rewards=zeros(),
            terminated=zeros(),
            truncated=zeros(),
            values=zeros(),
            log_probs=zeros(),
            final_values=zeros(),
        )
        episodes: list[EpisodeStats] = []
        stepping: dict[int, tuple[int, object]] = {}  # group -> (step, its env step, under way)

        for t in range(T):
            for g, (group, cols) in enumerate(zip(self.groups, self.columns)):
                if g in stepping:  # this group's previous step: its observations, rewards, ends
                    obs_now[g] = self._finish(g, *stepping.pop(g), episodes)
                dist, value = self._evaluate(obs_now[g])
                action = dist.sample()
                obs_buf[t, cols] = obs_now[g]
                b = self._buf
                b["actions"][t, cols], b["values"][t, cols], b["log_probs"][t, cols] = (
                    action,
                    value,
                    dist.log_prob(action),
                )
                actions = action.cpu().numpy()
                stepping[g] = (t, self.pool.submit(group.step, actions) if self.pool else _Done(group.step(actions)))
        for g in list(stepping):
            obs_now[g] = self._finish(g, *stepping.pop(g), episodes)

        last_obs = torch.cat(obs_now) if len(obs_now) > 1 else obs_now[0]
        self.obs = np.concatenate(self._next_obs) if len(self._next_obs) > 1 else self._next_obs[0]
        _, last_value = self._evaluate(last_obs)
        b = self._buf
        return Rollout(
            obs_buf,
            b["actions"],
            b["rewards"],
            b["terminated"],
            b["truncated"],
            b["values"],
            b["log_probs"],
            b["final_values"],
            last_obs,
            last_value,
            episodes,
        )

    def _finish(self, g: int, t: int, step, episodes: list[EpisodeStats]) -> torch.Tensor:
        """Record group ``g``'s step ``t`` (its rewards, ends, bootstrap values, finished episodes);
        return its next observations as a tensor."""
        next_obs, reward, term, trunc, info = step.result()
        cols, b = self.columns[g], self._buf
        self.global_step += self.groups[g].num_envs
        b["rewards"][t, cols] = torch.as_tensor(np.asarray(reward, dtype=np.float32), device=self.device)
        b["terminated"][t, cols] = torch.as_tensor(term, dtype=torch.float32, device=self.device)
        b["truncated"][t, cols] = torch.as_tensor(trunc, dtype=torch.float32, device=self.device)

        # The time-limit rule: bootstrap from the critic's value of the real final observation.
        trunc_idx = np.flatnonzero(np.asarray(trunc) & ~np.asarray(term))
        if trunc_idx.size:
            final_obs = np.stack([info["final_obs"][i] for i in trunc_idx])
            _, final_v = self._evaluate(self._to_tensor(final_obs))
            b["final_values"][t, torch.as_tensor(trunc_idx + cols.start, device=self.device)] = final_v

        episodes += episode_stats(info, self.global_step, time.time() - self.started)
        self._next_obs[g] = next_obs
        return self._to_tensor(next_obs)


class _Done:
    """The result of a step already taken (one group: nothing to overlap it with)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def model_device(model, device: torch.device | str | None = None) -> torch.device:
    """``device`` when given, else where the model's parameters are (CPU for a model without any).

    Every helper that runs a model feeds it observations on this device, so a model moved to the
    GPU (``model.to("cuda")``, or loaded there) works everywhere without saying so twice.
    """
    if device is not None:
        return torch.device(device)
    parameters = getattr(model, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return first.device if first is not None else torch.device("cpu")


def episode_stats(info: dict, step: int, seconds: float | None = None) -> list[EpisodeStats]:
    """Finished episodes reported by gymnasium's ``RecordEpisodeStatistics`` in a vector step."""
    if "episode" not in info:
        return []
    ep = info["episode"]
    mask = info.get("_episode", np.ones_like(ep["r"], dtype=bool))
    final = info.get("final_info", {})  # what the ending step said, before the same-step reset
    kills, has_kills = final.get("kills"), final.get("_kills")
    return [
        EpisodeStats(
            float(ep["r"][i]),
            int(ep["l"][i]),
            step,
            int(kills[i]) if kills is not None and has_kills[i] else None,
            seconds,
        )
        for i in np.flatnonzero(mask)
    ]


@torch.no_grad()
def play_episode(
    env,
    model: Model,
    greedy: bool = True,
    seed: int | None = None,
    device: torch.device | str | None = None,
    max_steps: int = 100_000,
    render: bool = False,
) -> tuple[float, list[np.ndarray]]:
    """Play one episode in a single env; return its raw return and, with ``render``, its frames.

    ``greedy`` picks the most likely action, the usual way to report a trained policy's score.
    The raw return comes from ``RecordEpisodeStatistics`` when the env has it (unclipped score).
    ``device``: where the model is (by default, where its parameters are).
    """
    device = model_device(model, device)
    obs, _ = env.reset(seed=seed)
    frames = [env.render()] if render else []
    total, info = 0.0, {}
    for _ in range(max_steps):
        dist, _ = model(torch.as_tensor(np.asarray(obs), device=device).unsqueeze(0))
        action = dist.probs.argmax(-1) if greedy else dist.sample()
        obs, reward, term, trunc, info = env.step(int(action.item()))
        total += float(reward)
        if render:
            frames.append(env.render())
        if term or trunc:
            break
    return (float(info["episode"]["r"]) if "episode" in info else total), frames


def evaluate(
    env,
    model: Model,
    episodes: int = 10,
    greedy: bool = True,
    seed: int | None = None,
    device: torch.device | str | None = None,
    max_steps: int = 100_000,
) -> list[float]:
    """Raw returns of ``episodes`` full episodes in a single env (seeds ``seed``, ``seed+1``, ...)."""
    return [
        play_episode(env, model, greedy, None if seed is None else seed + k, device, max_steps)[0]
        for k in range(episodes)
    ]


@torch.no_grad()
def play_vec(
    envs,
    model: Model,
    greedy: bool = False,
    max_steps: int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> list[EpisodeStats]:
    """The first episode of each env of a vector env, all played at once; its raw return, length
    and (Doom) kills. With ``max_steps``, an episode still running then reports what it has so far."""
    device = model_device(model, device)
    obs, _ = envs.reset(seed=seed)
    totals = np.zeros(envs.num_envs)
    found: dict[int, EpisodeStats] = {}
    steps = 0
    while len(found) < envs.num_envs and (max_steps is None or steps < max_steps):
        dist, _ = model(torch.as_tensor(np.asarray(obs), device=device))
        actions = dist.probs.argmax(-1) if greedy else dist.sample()
        obs, reward, term, trunc, info = envs.step(actions.cpu().numpy())
        steps += 1
        totals += np.asarray(reward, dtype=float)
        ended = np.flatnonzero(np.asarray(term) | np.asarray(trunc))
        stats = dict(zip(np.flatnonzero(info["_episode"]), episode_stats(info, steps))) if "_episode" in info else {}
        for i in ended:
            if int(i) not in found:
                found[int(i)] = EpisodeStats(float(totals[i]), steps, steps, getattr(stats.get(i), "kills", None))
        totals[ended] = 0.0
    return [found.get(i, EpisodeStats(float(totals[i]), steps, steps)) for i in range(envs.num_envs)]


def evaluate_vec(
    envs,
    model: Model,
    greedy: bool = False,
    max_steps: int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> list[float]:
    """The first episode's raw return in each env of a vector env (make it with unclipped rewards).

    One episode per env, all played at once: ten Pong games cost about what one does. With
    ``max_steps``, episodes still running then report their return so far (fast mode).
    """
    return [e.ret for e in play_vec(envs, model, greedy, max_steps, seed, device)]
