"""How fast is the Pong training loop, next to the environment alone? One run, side by side.

Measures, on this machine, in environment steps (agent steps, 4 frames each) per second:
1. ale-py's vector env with random actions: the ceiling for any training loop;
2. gymnasium's vector env around AtariPreprocessing with random actions (what we did not choose);
3. the course's A2C loop (notebook 2, Part B): rollout with the Nature CNN, then the update.

Run by hand on an otherwise idle machine; results are appended to benchmarks/results/pong_speed.md.

    python benchmarks/pong_speed.py --seconds 30
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.reference import reference  # noqa: E402
from course_lib import envs, networks, runners  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "pong_speed.md"


def random_actions(vec, seconds: float) -> float:
    vec.reset(seed=0)
    vec.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        vec.step(vec.action_space.sample())
        steps += vec.num_envs
    rate = steps / (time.perf_counter() - start)
    vec.close()
    return rate


def gymnasium_vector(num_envs: int):
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)

    def make():
        env = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0)
        env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
        return gym.wrappers.FrameStackObservation(env, 4)

    return gym.vector.AsyncVectorEnv([make] * num_envs, autoreset_mode=envs.SAME_STEP)


def a2c_loop(num_envs: int, num_steps: int, seconds: float) -> tuple[float, float]:
    ref = reference("02_a2c")

    class Cfg:
        gamma, value_coef, entropy_coef, max_grad_norm = 0.99, 0.5, 0.01, 0.5

    torch.manual_seed(0)
    vec = envs.make_atari_vec("pong", num_envs, seed=0)
    model = networks.NatureCNNActorCritic(vec.single_action_space.n)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=7e-4, alpha=0.99, eps=1e-5)
    runner = runners.RolloutRunner(vec, model, num_steps, seed=0)
    runner.collect()  # warm-up
    collect_time = update_time = 0.0
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        batch = runner.collect()
        t1 = time.perf_counter()
        ref.a2c_update(model, optimizer, batch, Cfg)
        collect_time += t1 - t0
        update_time += time.perf_counter() - t1
        steps += batch.num_steps
    vec.close()
    return steps / (time.perf_counter() - start), collect_time / (collect_time + update_time)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--num-envs", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    ceiling = random_actions(envs.make_atari_vec("pong", args.num_envs, seed=0), args.seconds)
    print(f"ale-py vector env, random actions: {ceiling:.0f} steps/s", flush=True)
    gym_rate = random_actions(gymnasium_vector(args.num_envs), args.seconds)
    print(f"gymnasium AsyncVectorEnv + AtariPreprocessing, random actions: {gym_rate:.0f} steps/s", flush=True)
    loop, collect_share = a2c_loop(args.num_envs, 5, args.seconds)
    print(f"A2C training loop: {loop:.0f} steps/s ({collect_share:.0%} of the time in the rollout)", flush=True)

    text = (f"\n## {date.today()}: {os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__}, "
            f"{args.num_envs} envs, {args.seconds:g} s per measurement\n\n"
            "| what | env steps/s | ratio to the ceiling |\n|---|---|---|\n"
            f"| ale-py vector env, random actions (ceiling) | {ceiling:.0f} | 1.00 |\n"
            f"| gymnasium AsyncVectorEnv + AtariPreprocessing, random actions | {gym_rate:.0f} | {gym_rate / ceiling:.2f} |\n"
            f"| A2C training loop (n=5, Nature CNN, RMSprop), {collect_share:.0%} rollout / "
            f"{1 - collect_share:.0%} update | {loop:.0f} | {loop / ceiling:.2f} |\n")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(text)
    print("appended to", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
