"""Train the pretrained ViZDoom agent (defend-the-center) that ships with course_lib.

Each update is ``doom_update`` of ``solutions/05_vizdoom.ipynb`` (GAE advantages and value
targets, normalized advantages, the A2C loss with its entropy bonus, a clipped step), with the
reference ``gae`` of the same notebook (read by ``autograder.reference``): the shipped agent is
what notebook 5 teaches, trained longer. Checkpoints, resuming and export: ``pretrain/training.py``.

    python -m pretrain.a2c_doom --run-dir runs/doom                    # train (or resume)
    python -m pretrain.a2c_doom --run-dir runs/doom --export course_lib/pretrained

The shipped agent was made in two phases (``SHIPPED``): 1.8 M steps with the scenario's reward
alone, where it plateaued at 8.5 kills, then resumed from there with each round fired priced 0.25:

    python -m pretrain.a2c_doom --run-dir runs/doom --shot-cost 0 --total-steps 1800000
    python -m pretrain.a2c_doom --run-dir runs/doom --shot-cost 0.25

The defaults are the second phase's. A fresh run would likely do better with notebook 5's recipe
(the price rising from 0 over the first 500,000 steps: ``--shot-cost-warmup 500000``), which is
what a student's live run uses; the shipped agent was not made so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from autograder.reference import reference
from course_lib import envs, networks, runners
from pretrain import training


@dataclass
class Settings:
    seed: int = 1
    num_envs: int = 8
    num_steps: int = 16  # T of each rollout: GAE looks up to 16 steps ahead
    total_steps: int = 40_000_000  # agent steps (each is 4 tics); a ceiling, training stops at stop_at
    lr: float = 5e-4
    adam_eps: float = 1e-5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    checkpoint_every: int = 200_000
    eval_every: int = 250_000
    eval_episodes: int = 10
    eval_from: float = 15.0  # evaluate once the last 20 training episodes average this many kills
    stop_at: float = 21.0  # a 10-episode evaluation mean of kills that ends the training (the course asks >= 20)
    torch_threads: int = 2
    # Each round fired costs this in the reward (course_lib.envs.DoomShotCost; the score is still kills).
    # The shipped run: 0 for its first 1.8 M steps, where it plateaued at 8.5 kills firing all 26 rounds
    # at a third of its targets; then resumed with --shot-cost 0.25.
    shot_cost: float = 0.25
    shot_cost_warmup: int = 0  # steps over which the price rises from 0 (notebook 5's live run: 500,000)


SHIPPED = (
    "python -m pretrain.a2c_doom --run-dir RUN_DIR --shot-cost 0 --total-steps 1800000, then "
    "python -m pretrain.a2c_doom --run-dir RUN_DIR --shot-cost 0.25"
)


def kills(episode: runners.EpisodeStats) -> float:
    return float(episode.kills if episode.kills is not None else episode.ret)


def recipe(settings: Settings) -> training.Recipe:
    def evaluate(model, s, step):
        eval_envs = envs.make_doom_vec(s.eval_episodes, seed=10_000 + step)
        try:
            return [kills(e) for e in runners.play_vec(eval_envs, model, seed=10_000 + step)]
        finally:
            eval_envs.close()

    return training.Recipe(
        name="doom_a2c",
        command=SHIPPED,
        make_envs=lambda s: envs.make_doom_vec(
            s.num_envs, seed=s.seed, groups=2, shot_cost=s.shot_cost, shot_cost_warmup=s.shot_cost_warmup
        ),  # overlapped with the network
        make_model=lambda: networks.NatureCNNActorCritic(**networks.DOOM_NETWORK),
        make_optimizer=lambda model, s: torch.optim.Adam(model.parameters(), lr=s.lr, eps=s.adam_eps),
        update=reference("05_vizdoom").doom_update,
        evaluate=evaluate,
        score=kills,
        meta={
            "game": "ViZDoom defend-the-center",
            "algorithm": "A2C with GAE",
            "score": "kills",
            "evaluation": "sampled actions",
        },
    )


def train(settings: Settings, run_dir):
    return training.train(recipe(settings), settings, run_dir)


def export(run_dir, out_dir):
    return training.export(recipe(training.saved_settings(Settings, run_dir)), Settings, run_dir, out_dir)


def main(argv: list[str] | None = None) -> None:
    training.main(recipe, Settings, "runs/doom", __doc__, argv)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
