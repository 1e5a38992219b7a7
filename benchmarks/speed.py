"""The course's training loops against Stable-Baselines3 and the environments' own ceiling, one run.

Measured side by side on this machine, in one invocation, so that every ratio compares runs made
under the same conditions:

* **Pong** (notebook 2's settings: its number of games, n = 5, RMSprop): environment steps per
  second of ale-py's vector env with random actions (the ceiling, at 84x84 and 42x42), the course's
  A2C loop with the Nature CNN on 84x84 frames and with the small CNN on 42x42 frames (notebook 2's
  is marked), and Stable-Baselines3's A2C with its zoo Atari settings (16 envs, n = 5, CnnPolicy,
  RMSpropTFLike) and its default vector env; each loop's ratio to the random actions of its own
  frames (measured with the notebook's number of games, also for SB3's 16), and to SB3;
* **Doom defend-the-center** (notebook 5's settings: 8 envs, T = 16, 64 x 64 frames): the Doom
  vector env with random actions, the course's loop (``doom_update``), and SB3's A2C with the same
  env in SB3's process vector env (``SubprocVecEnv``) and its default settings;
* **CartPole**: wall-clock seconds until the last 20 training episodes average 475, 5 seeds each,
  for notebook 2's A2C, notebook 3's A3C and SB3's A2C (zoo settings: 8 envs, MlpPolicy).

The course's loops use the reference solutions (``autograder.reference``) and the notebooks' own
settings. SB3 comes from the ``bench`` extra (``pip install -e ".[bench]"``). Results are printed
and appended to ``benchmarks/results/speed.md``. Run it on an otherwise idle machine:

    python benchmarks/speed.py                 # about 15 minutes on 2 cores
    python benchmarks/speed.py --only pong --seconds 30
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.reference import notebook_settings, reference  # noqa: E402
from course_lib import envs, hogwild, networks, runners  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "speed.md"


def random_actions(vec, seconds: float) -> float:
    """Steps per second of a vector env driven by random actions (no network at all)."""
    vec.reset(seed=0)
    vec.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        vec.step(vec.action_space.sample())
        steps += vec.num_envs
    rate = steps / (time.perf_counter() - start)
    vec.close()
    return rate


def course_loop(vec, model, optimizer, update, cfg, num_steps: int, seconds: float, warmup: int = 3) -> float:
    """Steps per second of a course training loop (rollout, then the update), after a warm-up."""
    runner = runners.RolloutRunner(vec, model, num_steps, seed=0)
    for _ in range(warmup):
        update(model, optimizer, runner.collect(), cfg)
    first, start = runner.global_step, time.perf_counter()
    while time.perf_counter() - start < seconds:
        update(model, optimizer, runner.collect(), cfg)
    rate = (runner.global_step - first) / (time.perf_counter() - start)
    vec.close()
    return rate


class _Timer:
    """An SB3 callback: stop after ``seconds`` of training (after ``warmup`` steps), count the steps."""

    def __new__(cls, seconds: float, warmup: int):
        from stable_baselines3.common.callbacks import BaseCallback

        class Timer(BaseCallback):
            def _on_step(self) -> bool:
                if self.num_timesteps >= warmup and not hasattr(self, "start"):
                    self.start, self.first = time.perf_counter(), self.num_timesteps
                return not (hasattr(self, "start") and time.perf_counter() - self.start > seconds)

            def rate(self) -> float:
                return (self.num_timesteps - self.first) / (time.perf_counter() - self.start)

        return Timer()


def sb3_rate(model, seconds: float, warmup: int) -> float:
    timer = _Timer(seconds, warmup)
    model.learn(total_timesteps=10**9, callback=timer)
    model.get_env().close()
    return timer.rate()


# --------------------------------------------------------------------------- Pong
ZOO_ATARI_ENVS = 16  # rl-baselines3-zoo's A2C on Atari: what a user of SB3 would run
PONG_NETWORKS = {  # frame size -> the network notebook 2 uses with it
    84: ("Nature CNN, 84x84", networks.NatureCNNActorCritic),
    42: ("small CNN, 42x42", networks.SmallCNNActorCritic),
}


def pong(seconds: float) -> dict[str, tuple[float, float]]:
    """Each loop's steps/s, and the random-action rate of the same frames (its ceiling)."""
    import ale_py
    import gymnasium as gym
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    cfg = notebook_settings("02_a2c", "PongConfig")
    n, mine = cfg.num_envs, getattr(cfg, "frame_size", 84)
    ceiling = {
        size: random_actions(envs.make_atari_vec("pong", n, size=size), seconds) for size in sorted(PONG_NETWORKS)
    }
    out = {f"random actions (ale-py vector env, {n} envs, {s}x{s})": (r, r) for s, r in ceiling.items()}
    for size, (name, network) in PONG_NETWORKS.items():
        torch.manual_seed(0)
        model = network(n_actions=6, size=size)
        optimizer = torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-5)
        rate = course_loop(
            envs.make_atari_vec("pong", n, seed=0, size=size),
            model,
            optimizer,
            reference("02_a2c").a2c_update,
            cfg,
            cfg.num_steps,
            seconds,
        )
        out[f"course A2C, {name}{' (notebook 2)' if size == mine else ''}"] = (rate, ceiling[size])
    vec = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=ZOO_ATARI_ENVS, seed=0), n_stack=4)
    sb3 = A2C(
        "CnnPolicy",
        vec,
        ent_coef=0.01,
        vf_coef=0.25,
        seed=0,
        verbose=0,
        device="cpu",
        policy_kwargs=dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5)),
    )
    rate = sb3_rate(sb3, seconds, 400)
    out[f"Stable-Baselines3 A2C (zoo Atari settings: {ZOO_ATARI_ENVS} envs, Nature CNN, 84x84, DummyVecEnv)"] = (
        rate,
        ceiling[84],
    )
    return out


# --------------------------------------------------------------------------- Doom
def doom(seconds: float) -> dict[str, float]:
    from stable_baselines3 import A2C
    from stable_baselines3.common.vec_env import SubprocVecEnv, VecMonitor

    ref, cfg = reference("05_vizdoom"), notebook_settings("05_vizdoom", "DoomConfig")
    n = cfg.num_envs
    out = {f"random actions (Doom vector env, {n} processes)": random_actions(envs.make_doom_vec(n, seed=0), seconds)}
    for groups in (1, 2):
        model = networks.NatureCNNActorCritic(**networks.DOOM_NETWORK)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=1e-5)
        layout = f"2 groups of {n // 2}, overlapped" if groups == 2 else f"one vector env of {n}"
        out[f"course loop, notebook 5 ({layout})"] = course_loop(
            envs.make_doom_vec(n, seed=0, groups=groups), model, optimizer, ref.doom_update, cfg, cfg.num_steps, seconds
        )
    vec = VecMonitor(SubprocVecEnv([_doom_factory(k) for k in range(n)]))
    sb3 = A2C("CnnPolicy", vec, seed=0, verbose=0, device="cpu")
    out[f"Stable-Baselines3 A2C (defaults, {n} envs in SubprocVecEnv)"] = sb3_rate(sb3, seconds, 400)
    return out


def _doom_factory(k: int, shot_cost: float = 0.0, warmup: int = 0):
    def make():
        from course_lib.envs import DOOM_SIZE, _doom_env

        env = _doom_env("defend_the_center", 4, DOOM_SIZE, 4, None, shot_cost=shot_cost, shot_cost_warmup=warmup)
        env.reset(seed=k)
        return env

    return make


# --------------------------------------------------------------------------- CartPole
SOLVED, WINDOW, CAP = 475.0, 20, 180.0


def _solved(returns: list[float]) -> bool:
    return len(returns) >= WINDOW and float(np.mean(returns[-WINDOW:])) >= SOLVED


def a2c_to_solve(seed: int) -> float:
    """Notebook 2, Part A: seconds of training until the last 20 episodes average 475."""
    ref = reference("02_a2c")
    cfg = notebook_settings("02_a2c", "CartPoleConfig")
    torch.manual_seed(seed)
    model = networks.MLPActorCritic(obs_dim=4, n_actions=2)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-5)
    runner = runners.RolloutRunner(envs.make_cartpole_vec(cfg.num_envs, seed=seed), model, cfg.num_steps, seed=seed)
    returns, start = [], time.perf_counter()
    while not _solved(returns) and time.perf_counter() - start < CAP:
        batch = runner.collect()
        returns += [e.ret for e in batch.episodes]
        ref.a2c_update(model, optimizer, batch, cfg)
    return time.perf_counter() - start


def a3c_to_solve(seed: int) -> float:
    """Notebook 3: seconds until the last 20 episodes (of all workers) average 475."""
    ref = reference("03_a3c")
    cfg = replace(notebook_settings("03_a3c", "A3CConfig"), seed=seed, max_env_steps=2_000_000)  # runs until solved
    torch.manual_seed(seed)
    shared = networks.MLPActorCritic(obs_dim=4, n_actions=2)
    result = hogwild.train(
        shared,
        lambda: networks.MLPActorCritic(obs_dim=4, n_actions=2),
        lambda s: envs.make_cartpole_vec(1, seed=s),
        ref.a3c_update,
        cfg,
        optimizer=ref.SharedAdam(shared.parameters(), lr=cfg.lr),
        workers=cfg.workers,
        start_method="fork",
        stop_when=lambda r: _solved([e.ret for e in r.episodes]),
    )
    return result.seconds


def sb3_to_solve(seed: int) -> float:
    """SB3's A2C with its zoo CartPole settings: seconds until the last 20 episodes average 475."""
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class Solved(BaseCallback):
        def _on_step(self) -> bool:
            returns = [info["r"] for info in self.model.ep_info_buffer]
            return not _solved(returns) and time.perf_counter() - start < CAP

    model = A2C(
        "MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=seed), ent_coef=0.0, seed=seed, verbose=0, device="cpu"
    )
    start = time.perf_counter()
    model.learn(total_timesteps=5_000_000, callback=Solved())
    return time.perf_counter() - start


def cartpole(seeds: list[int]) -> dict[str, list[float]]:
    torch.set_num_threads(1)  # tiny networks, as in the notebooks
    out = {
        "course A2C (notebook 2, Part A)": [a2c_to_solve(s) for s in seeds],
        "course A3C (notebook 3, 2 workers)": [a3c_to_solve(s) for s in seeds],
        "Stable-Baselines3 A2C (zoo settings)": [sb3_to_solve(s) for s in seeds],
    }
    torch.set_num_threads(os.cpu_count() or 1)
    return out


# --------------------------------------------------------------------------- report
def rate_table(title: str, rates: dict[str, float]) -> str:
    """``rates`` as ``pong`` and ``doom`` order them: random actions (the ceiling) first, SB3 last."""
    values = list(rates.values())
    ceiling, sb3 = values[0], values[-1]
    rows = [f"### {title}", "", "| loop | steps/s | / random actions | / SB3 |", "|---|---|---|---|"]
    for name, rate in rates.items():
        rows.append(f"| {name} | {rate:,.0f} | {rate / ceiling:.2f} | {rate / sb3:.2f} |")
    return "\n".join(rows)


def pong_table(rates: dict[str, tuple[float, float]]) -> str:
    """Pong's loops: each against the random actions of its own frames, and against SB3 (the last)."""
    sb3 = list(rates.values())[-1][0]
    rows = [
        "### Pong (notebook 2, Part B)",
        "",
        "| loop | steps/s | / random actions, same frames | / SB3 |",
        "|---|---|---|---|",
    ]
    for name, (rate, ceiling) in rates.items():
        rows.append(f"| {name} | {rate:,.0f} | {rate / ceiling:.2f} | {rate / sb3:.2f} |")
    return "\n".join(rows)


def time_table(results: dict[str, list[float]], seeds: list[int]) -> str:
    sb3 = np.mean(results["Stable-Baselines3 A2C (zoo settings)"])
    rows = [
        "### CartPole-v1: seconds of training until the last 20 episodes average 475",
        "",
        f"| method | seeds {', '.join(map(str, seeds))} (s) | mean (s) | SB3 / it |",
        "|---|---|---|---|",
    ]
    for name, seconds in results.items():
        capped = ", ".join(f"{s:.1f}" + ("+" if s >= CAP else "") for s in seconds)
        rows.append(f"| {name} | {capped} | {np.mean(seconds):.1f} | {sb3 / np.mean(seconds):.2f} |")
    return "\n".join(rows) + f"\n\n(+: not solved within the {CAP:.0f} s cap)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds of each loop")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--only", choices=["pong", "doom", "cartpole"], nargs="+", default=["pong", "doom", "cartpole"])
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    sections = [
        f"\n## {date.today()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {args.seconds:.0f} s per loop\n"
    ]
    if "pong" in args.only:
        sections.append(pong_table(pong(args.seconds)))
        print(sections[-1], flush=True)
    if "doom" in args.only:
        rates = doom(args.seconds)
        sections.append(rate_table("Doom defend-the-center (notebook 5)", rates))
        print(sections[-1], flush=True)
    if "cartpole" in args.only:
        sections.append(time_table(cartpole(args.seeds), args.seeds))
        print(sections[-1], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write("\n\n".join(sections) + "\n")
    print("appended to", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
