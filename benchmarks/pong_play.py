"""How trained Pong agents play: greedy, greedy with sticky actions, and sampled from the policy.

``pong_live.py`` judges a run by 10 greedy games after it. Pong with sticky actions off is
deterministic, and so is a greedy policy: from a few no-op starts the games replay a handful of
rallies, won or lost the same way every time (seed 1 of the half-size warm start lost five games
0-21). This plays each agent's 10 games on two sets of starts, three ways:

* ``greedy``: the most likely action, as ``pong_live.py`` and the notebook's "Watch" cell play;
* ``greedy, sticky``: the same, with ALE's sticky actions (``--sticky``, 0.25 by default: v5's
  default, Machado et al. 2018), so that no game can replay itself;
* ``sampled``: actions drawn from the policy, as in training.

Each cell is the mean of the 10 games and how many were won. Agents are ``pong_live.py`` run
folders' checkpoints (``runs/.../last.pt``, ``--whole-notebook`` runs' included) or a shipped agent's
name (``pong_a2c``); not warm starts (they are starting points, not agents). The table is
printed and appended to ``benchmarks/results/pong_play.md``.

    python benchmarks/pong_play.py runs/lever8/*/last.pt pong_a2c
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.reference import notebook_settings  # noqa: E402
from benchmarks.pong_live import make_model  # noqa: E402
from course_lib import envs, networks, runners  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "pong_play.md"


def load(agent: str, cfg) -> torch.nn.Module:
    """A shipped agent by name, or the model of a ``pong_live.py`` checkpoint (the network notebook 2's
    ``cfg`` trains, as ``pong_live.py`` builds it)."""
    if agent in networks.PRETRAINED:
        return networks.load_pretrained(agent)[0].eval()
    if not agent.endswith(".pt"):
        raise SystemExit(f"{agent}: neither a shipped agent ({', '.join(networks.PRETRAINED)}) nor a checkpoint")
    model = make_model(cfg, n_actions=6)
    model.load_state_dict({k: v.float() for k, v in torch.load(agent, weights_only=False)["model"].items()})
    return model.eval()


def play(model, size: int, greedy: bool, sticky: float, seed: int, games: int) -> list[float]:
    vec = envs.make_atari_vec("pong", games, clip_rewards=False, size=size, repeat_action_probability=sticky)
    try:
        return runners.evaluate_vec(vec, model, greedy=greedy, seed=seed)
    finally:
        vec.close()


def cell(scores: list[float]) -> str:
    return f"{np.mean(scores):+.1f} ({sum(s > 0 for s in scores)} won)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("agents", nargs="+", help="runs/.../last.pt, or a shipped agent's name")
    parser.add_argument("--sticky", type=float, default=0.25, help="repeat_action_probability of the sticky games")
    parser.add_argument("--starts", type=int, nargs="+", default=[10_000, 20_000], help="seeds of the no-op starts")
    parser.add_argument("--games", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch's threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = notebook_settings("02_a2c", "PongConfig")
    size = cfg.frame_size
    ways = [("greedy", True, 0.0), (f"greedy, sticky {args.sticky}", True, args.sticky), ("sampled", False, 0.0)]
    header = ["agent"] + [f"{way}, starts {s:,}" for way, _, _ in ways for s in args.starts]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for agent in args.agents:
        model = load(agent, cfg)
        row = [agent.removeprefix(str(ROOT) + "/")]
        for _, greedy, sticky in ways:
            for seed in args.starts:
                scores = play(model, size, greedy, sticky, seed, args.games)
                print(agent, greedy, sticky, seed, [int(s) for s in scores], flush=True)
                row.append(cell(scores))
        lines.append("| " + " | ".join(row) + " |")
    text = (
        f"\n## {date.today()}: {os.cpu_count()} cores, torch {torch.__version__}, {size}x{size} frames, "
        f"{args.games} games per cell\n\n" + "\n".join(lines) + "\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
