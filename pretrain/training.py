"""The loop every pretraining command shares: resumable checkpoints, progress, evaluations, export.

A shipped agent trains for hours on 2 CPU cores, so a run is built to be stopped and resumed:
it saves a checkpoint to its run folder every ``checkpoint_every`` steps (atomically: a kill
mid-save never loses the last one) and resumes from the last one when started again with the
same folder. It stops when an evaluation reaches ``stop_at``, then ``export`` writes the small
half-precision checkpoint and its learning curve that ship in ``course_lib/pretrained``.

A command (``pretrain.a2c_atari``, ``pretrain.a2c_doom``) says what differs: its settings (one
dataclass), how to make the envs, the model and the optimizer, the update (the notebook's
reference, read by ``autograder.reference``), how to evaluate, and the score an episode counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from course_lib import networks, runners, runtime
from course_lib.diagnostics import History


@dataclass
class Recipe:
    name: str  # the shipped files' name: <name>.pt, .json, .png
    command: str  # how to reproduce it, written into the metadata
    make_envs: Callable[[object], object]  # settings -> training vector env
    make_model: Callable[[], torch.nn.Module]
    make_optimizer: Callable[[torch.nn.Module, object], torch.optim.Optimizer]
    update: Callable  # update(model, optimizer, batch, settings) -> logs
    evaluate: Callable[[torch.nn.Module, object, int], list[float]]  # (model, settings, step) -> scores
    score: Callable[[runners.EpisodeStats], float] = lambda episode: episode.ret  # what the curve shows
    frames_per_step: int = 4
    meta: dict = dataclasses.field(default_factory=dict)  # shipped with the weights: game, algorithm, ...


def train(recipe: Recipe, settings, run_dir: Path) -> dict:
    """Train (or resume) until ``settings.total_steps`` or an evaluation mean of ``settings.stop_at``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(settings.torch_threads)
    runtime.seed_everything(settings.seed)
    vec = recipe.make_envs(settings)
    model = recipe.make_model()
    optimizer = recipe.make_optimizer(model, settings)
    history, episodes, evaluations, elapsed, step = History(), [], [], 0.0, 0

    last = run_dir / "last.pt"
    if last.exists():  # resume
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = History.from_dict(state["history"])
        episodes = [runners.EpisodeStats(**e) for e in state["episodes"]]
        evaluations, elapsed, step = state["evaluations"], state["elapsed"], state["step"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {last} at step {step:,} ({elapsed / 60:.0f} min of training so far)")

    runner = runners.RolloutRunner(vec, model, settings.num_steps, seed=settings.seed + step)
    runner.global_step = step
    (run_dir / "settings.json").write_text(json.dumps(dataclasses.asdict(settings), indent=2))

    def save():
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "history": history.to_dict(),
            "episodes": [dataclasses.asdict(e) for e in episodes],
            "evaluations": evaluations,
            "elapsed": elapsed,
            "step": runner.global_step,
            "torch_rng": torch.get_rng_state(),
            "settings": dataclasses.asdict(settings),
        }
        torch.save(state, run_dir / "last.tmp")
        (run_dir / "last.tmp").replace(last)  # atomic: a kill mid-save never loses the last checkpoint

    next_ckpt = (runner.global_step // settings.checkpoint_every + 1) * settings.checkpoint_every
    next_eval = (runner.global_step // settings.eval_every + 1) * settings.eval_every
    bar = runtime.progress(total=settings.total_steps, initial=runner.global_step, desc=recipe.name, unit="step")
    start = time.time() - elapsed
    solved = bool(evaluations) and evaluations[-1]["mean"] >= settings.stop_at
    try:
        while runner.global_step < settings.total_steps and not solved:
            batch = runner.collect()
            episodes += batch.episodes
            logs = recipe.update(model, optimizer, batch, settings)
            bar.update(batch.num_steps)

            step = runner.global_step
            if step % 2_000 < batch.num_steps:
                history.log(step, **logs)
                recent = [recipe.score(e) for e in episodes[-20:]]
                bar.set_postfix(score=f"{np.mean(recent):.1f}" if recent else "-", ent=f"{history.last('entropy'):.2f}")
            elapsed = time.time() - start
            if step >= next_eval:
                next_eval += settings.eval_every
                recent = [recipe.score(e) for e in episodes[-20:]]
                if recent and np.mean(recent) >= settings.eval_from:
                    scores = recipe.evaluate(model, settings, step)
                    evaluations.append({"step": step, "mean": float(np.mean(scores)), "scores": scores})
                    print(f"\nevaluation at {step:,} steps: mean {np.mean(scores):.1f} {scores}")
                    solved = np.mean(scores) >= settings.stop_at
            if step >= next_ckpt or solved:
                next_ckpt += settings.checkpoint_every
                save()
    finally:
        bar.close()
        vec.close()
    save()
    return {"step": runner.global_step, "elapsed": elapsed, "solved": solved}


def export(recipe: Recipe, settings_class: type, run_dir: Path, out_dir: Path) -> Path:
    """Write the shipped artifacts: half-precision weights, and the learning curve as JSON and PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from course_lib import plotting

    state = torch.load(run_dir / "last.pt", weights_only=False)
    settings = settings_class(**state["settings"])
    model = recipe.make_model()
    model.load_state_dict(state["model"])
    out_dir.mkdir(parents=True, exist_ok=True)
    final = state["evaluations"][-1] if state["evaluations"] else None
    meta = {
        "env_steps": state["step"],
        "frames": state["step"] * recipe.frames_per_step,
        "train_minutes": round(state["elapsed"] / 60, 1),
        "final_evaluation": final,
        "settings": dataclasses.asdict(settings),
        "command": recipe.command,
        **recipe.meta,
    }
    networks.save_checkpoint(model, out_dir / f"{recipe.name}.pt", half=True, **meta)
    curve = {
        "meta": meta,
        "history": state["history"],
        "episodes": [[e["step"], recipe.score(runners.EpisodeStats(**e))] for e in state["episodes"]],
    }
    (out_dir / f"{recipe.name}.json").write_text(json.dumps(curve))
    ax = plotting.plot_curve_file(out_dir / f"{recipe.name}.json")
    ax.figure.savefig(out_dir / f"{recipe.name}.png", dpi=80, bbox_inches="tight")
    return out_dir / f"{recipe.name}.pt"


def export_warm_start(recipe: Recipe, settings_class: type, run_dir: Path, out_dir: Path) -> Path:
    """Write a run part way up its curve as a warm start that ships (``<name>_warm.pt``: weights and
    optimizer state, ``networks.save_warm_start``) and its curve so far (``<name>_warm.json``), for a
    notebook whose own training goes on from there."""
    state = torch.load(run_dir / "last.pt", weights_only=False)
    model = recipe.make_model()
    model.load_state_dict(state["model"])
    settings = settings_class(**state["settings"])
    optimizer = recipe.make_optimizer(model, settings)
    optimizer.load_state_dict(state["optimizer"])
    scores = [recipe.score(runners.EpisodeStats(**e)) for e in state["episodes"]]
    meta = {
        "env_steps": state["step"],
        "frames": state["step"] * recipe.frames_per_step,
        "train_minutes": round(state["elapsed"] / 60, 1),
        "last_20": round(float(np.mean(scores[-20:])), 2),
        "settings": dataclasses.asdict(settings),
        "command": recipe.command + f" --total-steps {state['step']}, then --export-warm-start DIR",
        **recipe.meta,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    networks.save_warm_start(model, optimizer, out_dir / f"{recipe.name}_warm.pt", **meta)
    curve = {"meta": meta, "episodes": [[e["step"], s] for e, s in zip(state["episodes"], scores)]}
    (out_dir / f"{recipe.name}_warm.json").write_text(json.dumps(curve))
    return out_dir / f"{recipe.name}_warm.pt"


def saved_settings(settings_class: type, run_dir: Path):
    """The settings a run was started with (its last checkpoint keeps them)."""
    return settings_class(**torch.load(run_dir / "last.pt", weights_only=False)["settings"])


def main(
    recipe_of: Callable[[object], Recipe],
    settings_class: type,
    default_run_dir: str,
    doc: str,
    argv: list[str] | None = None,
) -> None:
    """The command line every pretraining command shares: settings as flags, --run-dir, --export."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path(default_run_dir), help="checkpoints (git-ignored)")
    parser.add_argument("--export", type=Path, help="only export the last checkpoint of --run-dir to this folder")
    parser.add_argument(
        "--export-warm-start", type=Path, help="only export the last checkpoint of --run-dir as a warm start"
    )
    for f in dataclasses.fields(settings_class):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = parser.parse_args(argv)
    settings = settings_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(settings_class)})
    if args.export_warm_start:
        recipe = recipe_of(saved_settings(settings_class, args.run_dir))
        print("wrote", export_warm_start(recipe, settings_class, args.run_dir, args.export_warm_start))
        return
    if args.export:
        recipe = recipe_of(saved_settings(settings_class, args.run_dir))
        print("wrote", export(recipe, settings_class, args.run_dir, args.export))
        return
    print(train(recipe_of(settings), settings, args.run_dir))
