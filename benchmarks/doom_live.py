"""Notebook 5's live training against Stable-Baselines3's A2C on the same Doom env, side by side.

Both train for ``--minutes`` on this machine, one after the other in one invocation: the course's
loop (notebook 5's settings, the reference ``doom_update``, two overlapped groups of 4 games) and
SB3's A2C (its defaults, ``CnnPolicy``, the same 8 games in ``SubprocVecEnv``). Both games charge the
notebook's price per round fired, rising over its warm-up (``--shot-cost``, ``--shot-cost-warmup``:
reward shaping; 0 gives the scenario's own reward); kills, the score, are the same either way.
Every 30 seconds
each records its steps and the mean kills of its last 20 training episodes; at the end each plays
10 evaluation episodes (sampled actions). The table (kills against minutes and against steps) is
printed and appended to ``benchmarks/results/doom_live.md``.

    python benchmarks/doom_live.py --minutes 20 --seeds 0
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import closing
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.reference import notebook_settings, reference  # noqa: E402
from course_lib import envs, networks, runners, runtime  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "doom_live.md"
MARKS = (5, 10, 15, 20)  # minutes at which the table reads the curves
NOTEBOOK = notebook_settings("05_vizdoom", "DoomConfig")  # the notebook's own settings, read from it


def evaluate_kills(policy_model, seed: int) -> float:
    with closing(envs.make_doom_vec(10, seed=seed, asynchronous=True)) as games:
        return float(np.mean([e.kills or 0 for e in runners.play_vec(games, policy_model, seed=seed)]))


def course(minutes: float, seed: int, shot_cost: float, warmup: int) -> tuple[list[tuple[float, int, float]], float]:
    ref, cfg = reference("05_vizdoom"), NOTEBOOK
    runtime.seed_everything(seed)
    model = networks.NatureCNNActorCritic(**networks.DOOM_NETWORK)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=1e-5)
    curve, episodes, last = [], [], 0.0
    with closing(
        envs.make_doom_vec(
            cfg.num_envs, seed=seed, groups=2, asynchronous=True, shot_cost=shot_cost, shot_cost_warmup=warmup
        )
    ) as games:
        runner = runners.RolloutRunner(games, model, cfg.num_steps, seed=seed)
        while time.time() - runner.started < minutes * 60:
            batch = runner.collect()
            episodes += batch.episodes
            ref.doom_update(model, optimizer, batch, cfg)
            if time.time() - last >= 30:
                last = time.time()
                curve.append((last - runner.started, runner.global_step, _recent(e.kills for e in episodes)))
        curve.append((time.time() - runner.started, runner.global_step, _recent(e.kills for e in episodes)))
    return curve, evaluate_kills(model, 10_000 + seed)


def _recent(kills) -> float:
    kills = [k for k in kills if k is not None][-20:]
    return float(np.mean(kills)) if kills else 0.0


def sb3(minutes: float, seed: int, shot_cost: float, warmup: int) -> tuple[list[tuple[float, int, float]], float]:
    from speed import _doom_factory
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import SubprocVecEnv

    class Record(BaseCallback):
        def _on_training_start(self) -> None:
            self.start, self.last, self.kills, self.curve = time.time(), 0.0, [], []

        def _on_step(self) -> bool:
            for info, done in zip(self.locals["infos"], self.locals["dones"]):
                if done and "kills" in info:
                    self.kills.append(info["kills"])
            now = time.time()
            over = now - self.start >= minutes * 60
            if over or now - self.last >= 30:  # every 30 s, and the last point
                self.last = now
                self.curve.append((now - self.start, self.num_timesteps, _recent(self.kills)))
            return not over

    torch.manual_seed(seed)
    n = NOTEBOOK.num_envs
    games = SubprocVecEnv(
        [_doom_factory(n * seed + k, shot_cost, envs.shot_cost_warmup_per_game(warmup, n)) for k in range(n)]
    )
    model = A2C("CnnPolicy", games, seed=seed, verbose=0, device="cpu")
    record = Record()
    model.learn(total_timesteps=10**9, callback=record)
    model.get_env().close()

    def policy(obs):  # SB3's policy as the course's runners call a model
        dist = model.policy.get_distribution(obs.float())
        return dist.distribution, None

    return record.curve, evaluate_kills(policy, 10_000 + seed)


def at(curve, index: int, mark: float) -> str:
    """The curve's kills when it reached ``mark`` (minutes, or steps)."""
    reached = [c for c in curve if c[index] >= mark]
    return f"{reached[0][2]:.1f}" if reached else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--shot-cost",
        type=float,
        default=NOTEBOOK.shot_cost,
        help=f"reward per round fired (default: notebook 5's, {NOTEBOOK.shot_cost:g})",
    )
    parser.add_argument(
        "--shot-cost-warmup",
        type=int,
        default=NOTEBOOK.shot_cost_warmup,
        help="steps of all the games over which the price rises from 0 "
        f"(default: notebook 5's, {NOTEBOOK.shot_cost_warmup:,})",
    )
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for seed in args.seeds:
        for name, train in (("course (notebook 5)", course), ("Stable-Baselines3 A2C", sb3)):
            curve, final = train(args.minutes, seed, args.shot_cost, args.shot_cost_warmup)
            steps = curve[-1][1] if curve else 0
            rows.append(
                f"| {name} | {seed} | "
                + " | ".join(at(curve, 0, 60 * m) for m in MARKS if m <= args.minutes)
                + " | "
                + " | ".join(at(curve, 1, s) for s in (250_000, 500_000, 1_000_000))
                + f" | {steps:,} | {final:.1f} |"
            )
            print(rows[-1], flush=True)
    header = (
        f"\n## {date.today()}, {os.cpu_count()} cores, {args.minutes:g} minutes each, "
        f"{args.shot_cost:g} per round fired after a warm-up of {args.shot_cost_warmup:,} steps\n\n"
        "Kills per episode (mean of the last 20 training episodes) after N minutes and after N steps; "
        "the final column: mean kills over 10 evaluation episodes after training (sampled actions).\n\n"
        "| loop | seed | "
        + " | ".join(f"{m} min" for m in MARKS if m <= args.minutes)
        + " | 250k steps | 500k steps | 1M steps | steps in all | evaluation |\n|"
        + "---|" * (2 + len([m for m in MARKS if m <= args.minutes]) + 5)
        + "\n"
    )
    with RESULTS.open("a") as f:
        f.write(header + "\n".join(rows) + "\n")
    print("appended to", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
