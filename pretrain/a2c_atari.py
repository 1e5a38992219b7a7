"""Train the pretrained Atari agent that ships with course_lib, with the course's own A2C.

Each update is ``a2c_update`` of ``solutions/02_a2c.ipynb`` with the reference n-step targets and
A2C loss (read by ``autograder.reference``), so the shipped agent is exactly what the notebook teaches.
Checkpoints, resuming and export: ``pretrain/training.py``.

    python -m pretrain.a2c_atari --run-dir runs/pong                   # train (or resume)
    python -m pretrain.a2c_atari --run-dir runs/pong --export course_lib/pretrained
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autograder.reference import reference
from course_lib import envs, networks, runners
from pretrain import training


@dataclass
class Settings:
    game: str = "pong"
    seed: int = 1
    num_envs: int = 16
    num_steps: int = 5  # n of the n-step targets
    frame_size: int = networks.PONG_NETWORK["size"]  # 42: the small CNN (notebook 2); 84: the Nature CNN
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


def recipe(settings: Settings) -> training.Recipe:
    def evaluate(model, s, step):
        eval_envs = envs.make_atari_vec(s.game, s.eval_episodes, clip_rewards=False, size=s.frame_size)
        try:
            return runners.evaluate_vec(eval_envs, model, seed=10_000 + step)
        finally:
            eval_envs.close()

    n_actions = envs.make_atari(settings.game).action_space.n
    network = networks.SmallCNNActorCritic if settings.frame_size == 42 else networks.NatureCNNActorCritic
    return training.Recipe(
        name=f"{settings.game}_a2c",
        command=f"python -m pretrain.a2c_atari --game {settings.game} --run-dir RUN_DIR",
        make_envs=lambda s: envs.make_atari_vec(s.game, s.num_envs, seed=s.seed, size=s.frame_size),
        make_model=lambda: network(n_actions=n_actions, size=settings.frame_size),
        make_optimizer=lambda model, s: torch.optim.RMSprop(
            model.parameters(), lr=s.lr, alpha=s.rms_alpha, eps=s.rms_eps
        ),
        update=reference("02_a2c").a2c_update,
        evaluate=evaluate,
        meta={"game": settings.game, "algorithm": "A2C"},
    )


def train(settings: Settings, run_dir):
    return training.train(recipe(settings), settings, run_dir)


def export(run_dir, out_dir):
    return training.export(recipe(training.saved_settings(Settings, run_dir)), Settings, run_dir, out_dir)


def main(argv: list[str] | None = None) -> None:
    training.main(recipe, Settings, "runs/pong", __doc__, argv)


if __name__ == "__main__":
    main()
