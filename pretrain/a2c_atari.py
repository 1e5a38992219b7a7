"""Train the pretrained Atari agent that ships with course_lib, with the course's own A2C.

Each update is ``a2c_update`` of ``solutions/02_a2c.ipynb`` with the reference n-step targets and
A2C loss (read by ``autograder.reference``), so the shipped agent is exactly what the notebook teaches.

Runs for hours on 2 CPU cores, so it is built to be stopped and resumed: it saves a checkpoint
to ``--run-dir`` every ``checkpoint_every`` steps and resumes from the last one when started
again with the same run dir. It stops when a 10-episode evaluation reaches ``stop_at``, then
writes the small half-precision checkpoint and its learning curve to ``--export``.

    python -m pretrain.a2c_atari --run-dir runs/pong                   # train (or resume)
    python -m pretrain.a2c_atari --run-dir runs/pong --export course_lib/pretrained
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autograder.reference import reference
from course_lib import envs, networks, runners, runtime
from course_lib.diagnostics import History


@dataclass
class Settings:
    game: str = "pong"
    seed: int = 1
    num_envs: int = 16
    num_steps: int = 5  # n of the n-step targets
    total_steps: int = 10_000_000  # agent steps (each is 4 frames); a ceiling, training stops at stop_at
    lr: float = 7e-4
    rms_alpha: float = 0.99
    rms_eps: float = 1e-5
    gamma: float = 0.99
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    checkpoint_every: int = 100_000
    eval_every: int = 100_000
    eval_episodes: int = 10
    eval_from: float = 14.0  # evaluate only once the last 20 training episodes score this much on average
    stop_at: float = 18.5  # a 10-episode evaluation mean that ends the training (the course asks for >= 18)
    torch_threads: int = 2


def train(settings: Settings, run_dir: Path) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    ref = reference("02_a2c")
    torch.set_num_threads(settings.torch_threads)
    runtime.seed_everything(settings.seed)

    vec = envs.make_atari_vec(settings.game, settings.num_envs, seed=settings.seed)
    model = networks.NatureCNNActorCritic(vec.single_action_space.n)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=settings.lr, alpha=settings.rms_alpha, eps=settings.rms_eps)
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
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history.to_dict(),
                 "episodes": [dataclasses.asdict(e) for e in episodes], "evaluations": evaluations,
                 "elapsed": elapsed, "step": runner.global_step, "torch_rng": torch.get_rng_state(),
                 "settings": dataclasses.asdict(settings)}
        torch.save(state, run_dir / "last.tmp")
        (run_dir / "last.tmp").replace(last)  # atomic: a kill mid-save never loses the last checkpoint

    next_ckpt = (runner.global_step // settings.checkpoint_every + 1) * settings.checkpoint_every
    next_eval = (runner.global_step // settings.eval_every + 1) * settings.eval_every
    bar = runtime.progress(total=settings.total_steps, initial=runner.global_step, desc=f"A2C {settings.game}", unit="step")
    start = time.time() - elapsed
    solved = bool(evaluations) and evaluations[-1]["mean"] >= settings.stop_at
    while runner.global_step < settings.total_steps and not solved:
        batch = runner.collect()
        episodes += batch.episodes
        logs = ref.a2c_update(model, optimizer, batch, settings)
        bar.update(batch.num_steps)

        step = runner.global_step
        if step % 2_000 < batch.num_steps:
            history.log(step, **logs)
            recent = [e.ret for e in episodes[-20:]]
            bar.set_postfix(ret=f"{np.mean(recent):.1f}" if recent else "-", ent=f"{history.last('entropy'):.2f}")
        elapsed = time.time() - start
        if step >= next_eval:
            next_eval += settings.eval_every
            recent = [e.ret for e in episodes[-20:]]
            if recent and np.mean(recent) >= settings.eval_from:
                eval_envs = envs.make_atari_vec(settings.game, settings.eval_episodes, clip_rewards=False)
                scores = runners.evaluate_vec(eval_envs, model, seed=10_000 + step)
                eval_envs.close()
                evaluations.append({"step": step, "mean": float(np.mean(scores)), "scores": scores})
                print(f"\nevaluation at {step:,} steps: mean {np.mean(scores):.1f} {scores}")
                solved = np.mean(scores) >= settings.stop_at
        if step >= next_ckpt or solved:
            next_ckpt += settings.checkpoint_every
            save()
    bar.close()
    save()
    return {"step": runner.global_step, "elapsed": elapsed, "solved": solved}


def export(run_dir: Path, out_dir: Path) -> Path:
    """Write the shipped artifacts: half-precision weights, and the learning curve as JSON and PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from course_lib import plotting

    state = torch.load(run_dir / "last.pt", weights_only=False)
    settings = Settings(**state["settings"])
    vec = envs.make_atari_vec(settings.game, 1)
    model = networks.NatureCNNActorCritic(vec.single_action_space.n)
    vec.close()
    model.load_state_dict(state["model"])
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{settings.game}_a2c"
    final = state["evaluations"][-1] if state["evaluations"] else None
    meta = {"game": settings.game, "algorithm": "A2C", "env_steps": state["step"],
            "frames": state["step"] * 4, "train_minutes": round(state["elapsed"] / 60, 1),
            "final_evaluation": final, "settings": state["settings"],
            "command": f"python -m pretrain.a2c_atari --game {settings.game} --run-dir RUN_DIR"}
    networks.save_checkpoint(model, out_dir / f"{name}.pt", half=True, **meta)
    curve = {"meta": meta, "episodes": [[e["step"], e["ret"]] for e in state["episodes"]], "history": state["history"]}
    (out_dir / f"{name}.json").write_text(json.dumps(curve))
    ax = plotting.plot_curve_file(out_dir / f"{name}.json")
    ax.figure.savefig(out_dir / f"{name}.png", dpi=80, bbox_inches="tight")
    return out_dir / f"{name}.pt"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/pong"), help="checkpoints (git-ignored)")
    parser.add_argument("--export", type=Path, help="only export the last checkpoint of --run-dir to this folder")
    for f in dataclasses.fields(Settings):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = parser.parse_args(argv)
    if args.export:
        print("wrote", export(args.run_dir, args.export))
        return
    settings = Settings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)})
    print(train(settings, args.run_dir))


if __name__ == "__main__":
    main()
