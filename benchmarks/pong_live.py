"""Notebook 2's own Pong run (Part B), measured: its loop, its settings, the reference update.

Each run trains for ``--max-steps`` environment steps (stopping early at ``--stop-at``, a mean of
the last 20 training episodes), from scratch or from a warm start (``--warm-start``: a checkpoint
of the course's own pretraining, with or without its optimizer state), then plays 10 greedy
evaluation episodes. Every 30 s it records the steps and the mean of the last 20 episodes; every
100,000 steps it saves a checkpoint to ``--run-dir`` (git-ignored) and resumes from it when started
again, so a run can go on over several sessions. ``--sb3`` trains Stable-Baselines3's A2C with its
zoo Atari settings instead, on the same games, for the same number of steps. The table is printed
and appended to ``benchmarks/results/pong_live.md``.

    python benchmarks/pong_live.py --warm-start pong_a2c_warm --seeds 0 1 2    # notebook 2's warm start
    python benchmarks/pong_live.py --warm-start runs/pong/last.pt --seeds 0       # any checkpoint of a run
    python benchmarks/pong_live.py --sb3 --seeds 0
    python benchmarks/pong_live.py --warm-start pong_a2c_warm --seeds 0 --max-steps 1000000 --side-by-side

``--side-by-side`` runs both in one invocation, on the same machine: the course's run, then SB3's A2C
from scratch for as many steps as the course's run and its warm start together (a fair count of
the frames either agent has learned from); the SB3 row's marks are its own steps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.reference import notebook_settings, reference  # noqa: E402
from course_lib import envs, networks, runners, runtime  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "pong_live.md"
MARKS = (250_000, 500_000, 750_000, 1_000_000, 1_250_000, 1_500_000, 2_200_000)


def recent(episodes, n: int = 20) -> float | None:
    scores = [e.ret if hasattr(e, "ret") else e for e in episodes[-n:]]
    return float(np.mean(scores)) if scores else None


def course(
    seed: int,
    max_steps: int,
    stop_at: float | None,
    warm: Path | None,
    warm_optimizer: bool,
    run_dir: Path,
    variant: str,
) -> dict:
    cfg = notebook_settings("02_a2c", "PongConfig")
    runtime.seed_everything(seed)
    folder = run_dir / f"{variant}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    vec = envs.make_atari_vec("pong", cfg.num_envs, seed=seed)
    model = networks.NatureCNNActorCritic(n_actions=vec.single_action_space.n)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-5)
    state = {"curve": [], "episodes": [], "step": 0, "elapsed": 0.0, "start_score": None}
    if (folder / "last.pt").exists():
        saved = torch.load(folder / "last.pt", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
        print(f"resumed {folder.name} at {state['step']:,} steps")
    elif warm is not None and not warm.exists():  # a warm start that ships in course_lib/pretrained
        meta = networks.load_warm_start(str(warm), model, optimizer)
        state["start_score"], state["warm_steps"] = meta["last_20"], meta["env_steps"]
    elif warm is not None:
        saved = torch.load(warm, weights_only=False)
        model.load_state_dict({k: v.float() for k, v in saved["model"].items()})
        if warm_optimizer and "optimizer" in saved:
            optimizer.load_state_dict(saved["optimizer"])
        state["start_score"] = recent([e["ret"] for e in saved.get("episodes", [])]) if "episodes" in saved else None
    update = reference("02_a2c").a2c_update
    runner = runners.RolloutRunner(vec, model, cfg.num_steps, seed=seed + state["step"])
    runner.global_step = state["step"]
    episodes = state["episodes"]
    start, last_mark, next_save = time.time() - state["elapsed"], 0.0, (state["step"] // 100_000 + 1) * 100_000

    def save():
        state.update(step=runner.global_step, elapsed=time.time() - start, episodes=episodes)
        torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state}, folder / "last.tmp"
        )
        (folder / "last.tmp").replace(folder / "last.pt")

    bar = runtime.progress(total=max_steps, initial=runner.global_step, desc=folder.name, unit="step")
    try:
        while runner.global_step < max_steps:
            batch = runner.collect()
            episodes += [e.ret for e in batch.episodes]
            update(model, optimizer, batch, cfg)
            bar.update(batch.num_steps)
            if time.time() - last_mark >= 30:
                last_mark = time.time()
                state["curve"].append((round(last_mark - start, 1), runner.global_step, recent(episodes)))
                bar.set_postfix(score=f"{recent(episodes) or float('nan'):.1f}")
            if runner.global_step >= next_save:
                next_save += 100_000
                save()
            if stop_at is not None and len(episodes) >= 20 and recent(episodes) >= stop_at:
                break
    finally:
        bar.close()
        vec.close()
    state["curve"].append((round(time.time() - start, 1), runner.global_step, recent(episodes)))
    save()
    seconds = time.time() - start
    eval_envs = envs.make_atari_vec("pong", 10, clip_rewards=False)
    try:
        scores = runners.evaluate_vec(eval_envs, model, greedy=True, seed=10_000 + seed)
    finally:
        eval_envs.close()
    return {
        "curve": state["curve"],
        "steps": runner.global_step,
        "seconds": seconds,
        "evaluation": float(np.mean(scores)),
        "scores": scores,
        "start_score": state["start_score"],
        "warm_steps": state.get("warm_steps", 0),
    }


def sb3(seed: int, max_steps: int) -> dict:
    """SB3's A2C with the zoo's Atari settings (16 envs, n = 5, RMSprop 7e-4 with eps 1e-5,
    ent 0.01, vf 0.25), on ale-py's Pong with SB3's own Atari wrappers."""
    import gymnasium as gym
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(__import__("ale_py"))

    class Record(BaseCallback):
        def _on_training_start(self) -> None:
            self.start, self.last, self.returns, self.curve = time.time(), 0.0, [], []

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
            if time.time() - self.last >= 30:
                self.last = time.time()
                self.curve.append((round(self.last - self.start, 1), self.num_timesteps, recent(self.returns)))
            return True

    vec = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=16, seed=seed), n_stack=4)
    model = A2C(
        "CnnPolicy",
        vec,
        ent_coef=0.01,
        vf_coef=0.25,
        seed=seed,
        verbose=0,
        policy_kwargs=dict(optimizer_class=torch.optim.RMSprop, optimizer_kwargs=dict(eps=1e-5)),
    )
    record = Record()
    start = time.time()
    model.learn(total_timesteps=max_steps, callback=record)
    seconds = time.time() - start
    record.curve.append((round(seconds, 1), model.num_timesteps, recent(record.returns)))
    vec.close()
    # 10 greedy games, as the course's runs are evaluated; Monitor (inside SB3's wrappers) reports
    # the unclipped game score.
    evaluation = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=seed + 1000), n_stack=4)
    scores, obs = [], evaluation.reset()
    while len(scores) < 10:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, _, infos = evaluation.step(action)
        scores += [float(info["episode"]["r"]) for info in infos if "episode" in info]
    evaluation.close()
    return {
        "curve": record.curve,
        "steps": model.num_timesteps,
        "seconds": seconds,
        "evaluation": float(np.mean(scores)),
        "scores": scores,
        "start_score": None,
    }


def at(curve, steps: int):
    """The last 20 episodes' mean at the first record at or past ``steps``."""
    for _, s, score in curve:
        if s >= steps:
            return score
    return None


def table(rows: list[tuple[str, dict]]) -> str:
    head = (
        "| run | start | " + " | ".join(f"{m / 1e6:g} M" for m in MARKS) + " | steps | minutes | steps/s | "
        "last 20 | evaluation |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rows:
        cells = [f"{at(r['curve'], m):.1f}" if at(r["curve"], m) is not None else "-" for m in MARKS]
        last = r["curve"][-1][2] if r["curve"] else None
        start = f"{r['start_score']:.1f}" if r.get("start_score") is not None else "-"
        ev = f"{r['evaluation']:.1f}" if r["evaluation"] is not None else "-"
        lines.append(
            f"| {name} | {start} | " + " | ".join(cells) + f" | {r['steps']:,} | {r['seconds'] / 60:.1f} | "
            f"{r['steps'] / r['seconds']:.0f} | {last if last is None else f'{last:.1f}'} | {ev} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-steps", type=int, default=1_500_000)
    parser.add_argument("--stop-at", type=float, default=None, help="stop when the last 20 episodes average this")
    parser.add_argument(
        "--warm-start",
        type=Path,
        help="a checkpoint of the course's pretraining (runs/...) or a shipped warm start's name",
    )
    parser.add_argument("--fresh-optimizer", action="store_true", help="warm weights, a new RMSprop state")
    parser.add_argument("--variant", default=None, help="the run's name in --run-dir and the table")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "pong_live")
    parser.add_argument("--sb3", action="store_true", help="Stable-Baselines3's A2C instead of the course's loop")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="after each course run, SB3's A2C from scratch for as many steps as the course's run "
        "counted with its warm start's",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for seed in args.seeds:
        if args.sb3:
            name, result = f"SB3 A2C (zoo), seed {seed}", sb3(seed, args.max_steps)
        else:
            variant = args.variant or (
                "scratch" if args.warm_start is None else "warm-fresh-opt" if args.fresh_optimizer else "warm"
            )
            name = f"course, {variant}, seed {seed}"
            result = course(
                seed, args.max_steps, args.stop_at, args.warm_start, not args.fresh_optimizer, args.run_dir, variant
            )
        runs = [(name, result)]
        if args.side_by_side and not args.sb3:
            total = result["steps"] + result["warm_steps"]
            runs.append((f"SB3 A2C (zoo), scratch, seed {seed}", sb3(seed, total)))
        for name, result in runs:
            rows.append((name, result))
            print(table([rows[-1]]), flush=True)
            (args.run_dir / "results.jsonl").parent.mkdir(parents=True, exist_ok=True)
            with (args.run_dir / "results.jsonl").open("a") as f:
                f.write(json.dumps({"name": name, **result, "warm_start": str(args.warm_start)}) + "\n")
    text = (
        f"\n## {date.today()}: 2 cores, torch {torch.__version__}, notebook 2's PongConfig"
        f"{', warm start ' + args.warm_start.name if args.warm_start else ''}\n\n{table(rows)}\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
