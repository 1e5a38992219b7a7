"""Notebook 2's own Pong run (Part B), measured: its loop, its settings, the reference update.

Each run trains for ``--max-steps`` environment steps (stopping early at ``--stop-at``, a mean of
the last 20 training episodes), from scratch or from a warm start (``--warm-start``: a checkpoint
of the course's own pretraining, with or without its optimizer state), then plays 10 greedy
evaluation episodes. Every 30 s it records the steps and the mean of the last 20 episodes; every
100,000 steps it saves a checkpoint to ``--run-dir`` (git-ignored) and resumes from it when started
again, so a run can go on over several sessions. ``--sb3`` trains Stable-Baselines3's A2C with its
zoo Atari settings instead, on the same games, for the same number of steps. The table is printed
and appended to ``benchmarks/results/pong_live.md``.

    python benchmarks/pong_live.py --warm-start pong_a2c_warm --num-envs 16 --lr 7e-4 --max-steps 1000000 \
        --seeds 0 1 2                                  # notebook 2's warm start, with the settings it had
    python benchmarks/pong_live.py --warm-start runs/pong/last.pt --seeds 0       # any checkpoint of a run
    python benchmarks/pong_live.py --sb3 --seeds 0
    python benchmarks/pong_live.py --seeds 0 --max-steps 2000000 --side-by-side
    python benchmarks/pong_live.py --whole-notebook --seeds 0 1 2     # as a student runs it

``--whole-notebook`` executes ``solutions/02_a2c.ipynb`` itself top to bottom (nbclient, real budgets,
its own settings, ``PongConfig.seed`` set to each seed) and reads the student's run and 10 greedy
games after it from the kernel: the minutes a student waits, Part A and all. The student's model is
saved to ``--run-dir``/notebook-seed<N>/last.pt, for ``benchmarks/pong_play.py``.

``--side-by-side`` runs both in one invocation, on the same machine: the course's run, then SB3's A2C
from scratch for as many steps as the course's run and its warm start together (a fair count of
the frames either agent has learned from); the SB3 row's marks are its own steps.

By default every setting is the notebook's (``PongConfig``, read by ``notebook_settings``: its frame
size picks the network, the Nature CNN at 84 x 84, ``SmallCNNActorCritic`` at 42 x 42). The other
flags try a setting before it goes into the notebook (``--lr``, ``--num-envs``, ``--size``,
``--optimizer rmsprop-tf``, ...); a run with any of them is named after them in the table.
``to -10`` and ``to 0`` are the steps at which the mean of the last 20 games first reached -10 and 0.

    python benchmarks/pong_live.py --seeds 0 --max-steps 2000000 --size 42 --lr 1e-3
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
# PongConfig's fields a run may replace (``--lr 1e-3``), and fields the notebook may not have yet:
# frame_size (84 or 42), network (nature or small), optimizer (rmsprop or rmsprop-tf), lr_end (a
# linear schedule from lr to lr_end over the run), repeat_action_probability (sticky actions in the
# training games; the greedy evaluation after the run keeps them off).
OVERRIDES = {
    "lr": float,
    "lr_end": float,
    "num_envs": int,
    "num_steps": int,
    "value_coef": float,
    "entropy_coef": float,
    "max_grad_norm": float,
    "gamma": float,
    "frame_size": int,
    "network": str,
    "optimizer": str,
    "repeat_action_probability": float,
}
EVAL_GAMES, EVAL_SEEDS = 10, 10_000  # after each run: 10 greedy games, their starts seeded 10,000 + the run's seed
MARKS = (250_000, 500_000, 750_000, 1_000_000, 1_250_000, 1_500_000, 1_750_000, 2_000_000)


def recent(episodes, n: int = 20) -> float | None:
    scores = [e.ret if hasattr(e, "ret") else e for e in episodes[-n:]]
    return float(np.mean(scores)) if scores else None


def settings(overrides: dict):
    """Notebook 2's ``PongConfig``, with the fields of ``overrides`` that are not None replaced (a field
    the notebook does not have yet is added)."""
    cfg = notebook_settings("02_a2c", "PongConfig")
    for name, value in overrides.items():
        if value is not None:
            object.__setattr__(cfg, name, value)
    return cfg


def is_warm_start_file(path: Path) -> bool:
    """A warm start as the pretraining exports it (``--export-warm-start``), not a training checkpoint."""
    return path.suffix == ".pt" and "state_dict" in torch.load(path, map_location="cpu", weights_only=True)


def make_model(cfg, n_actions: int) -> torch.nn.Module:
    size = getattr(cfg, "frame_size", 84)
    if getattr(cfg, "network", None) == "nature" or (getattr(cfg, "network", None) is None and size == 84):
        return networks.NatureCNNActorCritic(n_actions=n_actions, size=size)
    return networks.SmallCNNActorCritic(n_actions=n_actions, size=size)


def make_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    if getattr(cfg, "optimizer", "rmsprop") == "rmsprop-tf":  # TensorFlow's: eps inside the root, mean square from 1
        from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

        return RMSpropTFLike(model.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-5)
    return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-5)


def learning_rate(cfg, step: int) -> float:
    """``cfg.lr``, or with ``lr_end`` set, linearly from ``cfg.lr`` at step 0 to ``lr_end`` at ``max_env_steps``."""
    end = getattr(cfg, "lr_end", None)
    if end is None:
        return cfg.lr
    return cfg.lr + (end - cfg.lr) * min(1.0, step / cfg.max_env_steps)


def reached(ends: list[tuple[int, float]], score: float, n: int = 20) -> int | None:
    """The step at which the mean of the last ``n`` episodes first reached ``score``."""
    for k in range(n, len(ends) + 1):
        if np.mean([r for _, r in ends[k - n : k]]) >= score:
            return ends[k - 1][0]
    return None


def course(
    seed: int,
    max_steps: int,
    stop_at: float | None,
    warm: Path | None,
    warm_optimizer: bool,
    run_dir: Path,
    variant: str,
    overrides: dict | None = None,
    evaluate_at: tuple[int, ...] = (),
) -> dict:
    """One run of the notebook's loop; with ``evaluate_at``, also the 10 greedy games of the end of a
    run at each of those steps, on the way (greedy play draws nothing from the training's random
    numbers, so the run goes on as it would have without them; their seconds are not counted)."""
    cfg = settings({"max_env_steps": max_steps, **(overrides or {})})
    runtime.seed_everything(seed)
    folder = run_dir / f"{variant}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    size = getattr(cfg, "frame_size", 84)
    sticky = getattr(cfg, "repeat_action_probability", 0.0)
    vec = envs.make_atari_vec("pong", cfg.num_envs, seed=seed, size=size, repeat_action_probability=sticky)
    model = make_model(cfg, vec.single_action_space.n)
    optimizer = make_optimizer(cfg, model)
    state = {"curve": [], "episodes": [], "ends": [], "step": 0, "elapsed": 0.0, "start_score": None}
    if (folder / "last.pt").exists():
        saved = torch.load(folder / "last.pt", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
        print(f"resumed {folder.name} at {state['step']:,} steps")
    elif warm is not None and (not warm.exists() or is_warm_start_file(warm)):  # shipped, or exported
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
    episodes, ends = state["episodes"], state.setdefault("ends", [])
    evaluations = state.setdefault("evaluations", [])
    pending = sorted({s for s in evaluate_at if runner.global_step < s < max_steps})  # the end has its own
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
            ends += [(e.step, e.ret) for e in batch.episodes]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, runner.global_step)
            update(model, optimizer, batch, cfg)
            bar.update(batch.num_steps)
            if time.time() - last_mark >= 30:
                last_mark = time.time()
                state["curve"].append((round(last_mark - start, 1), runner.global_step, recent(episodes)))
                bar.set_postfix(score=f"{recent(episodes) or float('nan'):.1f}")
            if pending and runner.global_step >= pending[0]:
                pending.pop(0)
                paused = time.time()
                scores = greedy_games(model, size, seed)
                evaluations.append((runner.global_step, recent(episodes), float(np.mean(scores)), scores))
                print(f"greedy at {runner.global_step:,} steps: {np.mean(scores):+.1f} {scores}", flush=True)
                start += time.time() - paused
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
    scores = greedy_games(model, size, seed)
    return {
        "settings": dict(vars(cfg)),
        "to -10": reached(ends, -10),
        "to 0": reached(ends, 0),
        "curve": state["curve"],
        "steps": runner.global_step,
        "seconds": seconds,
        "evaluation": float(np.mean(scores)),
        "scores": scores,
        "start_score": state["start_score"],
        "warm_steps": state.get("warm_steps", 0),
        "evaluations": evaluations,
    }


def greedy_games(model: torch.nn.Module, size: int, seed: int) -> list[float]:
    """The 10 greedy games after a run (or on its way), their starts seeded ``EVAL_SEEDS + seed``."""
    eval_envs = envs.make_atari_vec("pong", EVAL_GAMES, clip_rewards=False, size=size)
    try:
        return runners.evaluate_vec(eval_envs, model, greedy=True, seed=EVAL_SEEDS + seed)
    finally:
        eval_envs.close()


WHOLE_NOTEBOOK_REPORT = """
import json as _json
torch.save({{"model": pong_model.state_dict()}}, {model_path!r})
_scores = runners.evaluate_vec(envs.make_atari_vec("pong", {games}, clip_rewards=False, size=pong_cfg.frame_size),
                               pong_model, greedy=True, seed={seeds} + pong_cfg.seed, device=device)
print("PONG_LIVE " + _json.dumps({{"settings": dict(vars(pong_cfg)), "steps": runner.global_step,
      "seconds": seconds, "scores": [float(s) for s in _scores],
      "ends": [(e.step, e.ret, e.seconds) for e in pong_episodes]}}))
"""
CELL_TIMEOUT = 4 * 3600  # seconds: the Pong cell takes 27 to 39 minutes on 2 idle cores, hours on busy ones


def whole_notebook(seed: int, run_dir: Path, fast: bool = False) -> dict:
    """Notebook 2 executed as a student runs it, with ``PongConfig.seed = seed``; the same record as
    ``course``'s, its curve rebuilt from the episodes' ends (each with its seconds), and the whole
    notebook's own seconds. ``fast``: in fast mode (``COURSE_FAST=1``), a smoke test of this function
    in a minute."""
    import nbformat

    from autograder.paths import SOLUTIONS
    from benchmarks.notebook_budgets import execute_solution

    nb = nbformat.read(SOLUTIONS / "02_a2c.ipynb", as_version=4)
    [config] = [c for c in nb.cells if c.cell_type == "code" and "class PongConfig" in c.source]
    assert "    seed: int = 0\n" in config.source, "PongConfig's seed field moved"
    config.source = config.source.replace("    seed: int = 0\n", f"    seed: int = {seed}\n", 1)
    folder = (run_dir / f"notebook-seed{seed}").resolve()  # the kernel runs in a temporary folder
    folder.mkdir(parents=True, exist_ok=True)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            WHOLE_NOTEBOOK_REPORT.format(model_path=str(folder / "last.pt"), games=EVAL_GAMES, seeds=EVAL_SEEDS)
        )
    )
    notebook_seconds = execute_solution(nb, fast, CELL_TIMEOUT)
    stream = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    run = json.loads(stream.split("PONG_LIVE ", 1)[1].splitlines()[0])
    ends = [(step, ret) for step, ret, _ in run["ends"]]
    to_zero = reached(ends, 0)
    curve = [
        (seconds, step, recent([r for _, r in ends[max(0, k - 19) : k + 1]]))
        for k, (step, _, seconds) in enumerate(run["ends"])
    ]
    return {
        "settings": run["settings"],
        "to -10": reached(ends, -10),
        "to 0": to_zero,
        "minutes to 0": next((sec / 60 for step, _, sec in run["ends"] if step == to_zero), None),
        "curve": curve + [(run["seconds"], run["steps"], recent([r for _, r in ends]))],
        "steps": run["steps"],
        "seconds": run["seconds"],
        "notebook seconds": notebook_seconds,
        "evaluation": float(np.mean(run["scores"])),
        "scores": run["scores"],
        "start_score": None,
        "warm_steps": 0,
    }


def sb3(seed: int, max_steps: int, tf_rmsprop: bool = True) -> dict:
    """SB3's A2C with the zoo's Atari settings (16 envs, n = 5, RMSprop 7e-4 as TensorFlow computes it,
    eps 1e-5, ent 0.01, vf 0.25), on ale-py's Pong with SB3's own Atari wrappers. ``tf_rmsprop=False``:
    PyTorch's RMSprop instead (eps outside the root), as the runs before 2026-12-06 had it."""
    import gymnasium as gym
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(__import__("ale_py"))

    class Record(BaseCallback):
        def _on_training_start(self) -> None:
            self.start, self.last, self.returns, self.curve, self.ends = time.time(), 0.0, [], [], []

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
                    self.ends.append((self.num_timesteps, self.returns[-1]))
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
        policy_kwargs=dict(
            optimizer_class=RMSpropTFLike if tf_rmsprop else torch.optim.RMSprop, optimizer_kwargs=dict(eps=1e-5)
        ),
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
        "to -10": reached(record.ends, -10),
        "to 0": reached(record.ends, 0),
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
    """The rows' curves at each quarter million steps (past 2 M as far as the longest run went), their
    steps to -10 and 0, speed, last 20 games and greedy games; then any greedy games on the way."""
    longest = max((r["steps"] for _, r in rows), default=0)
    marks = MARKS + tuple(range(MARKS[-1] + 250_000, longest + 1, 250_000))
    head = (
        "| run | start | " + " | ".join(f"{m / 1e6:g} M" for m in marks) + " | to -10 | to 0 | steps | minutes | "
        "steps/s | last 20 | evaluation |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rows:
        cells = [f"{at(r['curve'], m):.1f}" if at(r["curve"], m) is not None else "-" for m in marks]
        last = r["curve"][-1][2] if r["curve"] else None
        start = f"{r['start_score']:.1f}" if r.get("start_score") is not None else "-"
        ev = f"{r['evaluation']:.1f}" if r["evaluation"] is not None else "-"
        cells += [f"{r[k]:,}" if r.get(k) is not None else "-" for k in ("to -10", "to 0")]
        lines.append(
            f"| {name} | {start} | " + " | ".join(cells) + f" | {r['steps']:,} | {r['seconds'] / 60:.1f} | "
            f"{r['steps'] / r['seconds']:.0f} | {last if last is None else f'{last:.1f}'} | {ev} |"
        )
    for name, r in rows:
        if r.get("evaluations"):
            on_the_way = "; ".join(
                f"at {step:,} steps {mean:+.1f} (last 20 {'-' if last20 is None else f'{last20:+.1f}'})"
                for step, last20, mean, _ in r["evaluations"]
            )
            lines.append(f"\n{name}, greedy games on the way: {on_the_way}; after the run {r['evaluation']:+.1f}.")
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
        "--whole-notebook", action="store_true", help="execute notebook 2 itself, top to bottom, with each seed"
    )
    parser.add_argument("--fast", action="store_true", help="with --whole-notebook: in fast mode, a smoke test")
    parser.add_argument("--sb3-torch-rmsprop", action="store_true", help="SB3 with PyTorch's RMSprop, not the zoo's")
    parser.add_argument(
        "--evaluate-at",
        type=int,
        nargs="+",
        default=[],
        help="also play the 10 greedy games at these steps of the run (a longer run, measured on its way)",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch's threads")
    tried = parser.add_argument_group("settings to try (default: the notebook's)")
    for name, kind in OVERRIDES.items():
        tried.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, dest=name)
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="after each course run, SB3's A2C from scratch for as many steps as the course's run "
        "counted with its warm start's",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name) is not None}
    if args.fast and not args.whole_notebook:
        parser.error("--fast is a smoke test of --whole-notebook")
    if (args.whole_notebook or args.sb3) and args.evaluate_at:
        parser.error("--evaluate-at is for the course's loop: not with --whole-notebook or --sb3")
    if args.whole_notebook and (args.sb3 or args.side_by_side or args.warm_start or overrides):
        parser.error(
            "--whole-notebook runs the notebook's own settings: no --sb3, --side-by-side, --warm-start or settings"
        )
    sb3_name = "SB3 A2C (zoo" + (", PyTorch's RMSprop)" if args.sb3_torch_rmsprop else ")")
    rows = []
    for seed in args.seeds:
        if args.sb3:
            name, result = f"{sb3_name}, seed {seed}", sb3(seed, args.max_steps, not args.sb3_torch_rmsprop)
        elif args.whole_notebook:
            name, result = f"notebook 2, whole, seed {seed}", whole_notebook(seed, args.run_dir, args.fast)
        else:
            variant = args.variant or "-".join(
                ["scratch" if args.warm_start is None else "warm-fresh-opt" if args.fresh_optimizer else "warm"]
                + [f"{name.replace('_', '-')}={value}" for name, value in overrides.items()]
            )
            name = f"course, {variant}, seed {seed}"
            result = course(
                seed,
                args.max_steps,
                args.stop_at,
                args.warm_start,
                not args.fresh_optimizer,
                args.run_dir,
                variant,
                overrides,
                tuple(args.evaluate_at),
            )
        runs = [(name, result)]
        if args.side_by_side and not args.sb3:
            total = result["steps"] + result["warm_steps"]
            runs.append((f"{sb3_name}, scratch, seed {seed}", sb3(seed, total, not args.sb3_torch_rmsprop)))
        for name, result in runs:
            rows.append((name, result))
            print(table([rows[-1]]), flush=True)
            if not args.fast:
                (args.run_dir / "results.jsonl").parent.mkdir(parents=True, exist_ok=True)
                with (args.run_dir / "results.jsonl").open("a") as f:
                    f.write(json.dumps({"name": name, **result, "warm_start": str(args.warm_start)}) + "\n")
    ran = ""  # the notebook's settings as it ran them: its working copy may differ from the committed one
    if args.whole_notebook:
        each = {", ".join(f"{k}={v!r}" for k, v in r["settings"].items() if k != "seed") for _, r in rows}
        ran = "".join(f"\nPongConfig as run (seed aside): {s}\n" for s in sorted(each))
    text = (
        f"\n## {date.today()}: {os.cpu_count()} cores, torch {torch.__version__}, notebook 2's PongConfig"
        f"{', warm start ' + args.warm_start.name if args.warm_start else ''}\n{ran}\n{table(rows)}\n"
    )
    if not args.fast:  # a smoke test's numbers are not a measurement
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
