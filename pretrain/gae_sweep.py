"""The lambda sweep that notebook 4 plots: A2C with GAE on CartPole, 5 lambdas x 5 seeds.

Every run is ``train_gae`` of ``solutions/04_gae.ipynb`` with the reference ``gae`` and the
notebook's own settings (``GAEConfig``), so the student's run lands on the same axes. Results go to
``course_lib/pretrained/gae_sweep.json`` (every episode's step and return, per lambda and seed)
and a PNG beside it; the area under each curve is printed as a table for the README. A finished
run is kept: started again, the command only runs what is missing.

    python -m pretrain.gae_sweep                 # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from datetime import date
from pathlib import Path

import numpy as np

from autograder.reference import reference
from course_lib import networks, plotting

LAMBDAS = (0.0, 0.5, 0.9, 0.95, 1.0)
SEEDS = (0, 1, 2, 3, 4)


def sweep(out: Path, lambdas=LAMBDAS, seeds=SEEDS, max_env_steps: int | None = None) -> dict:
    ref = reference("04_gae")
    settings = dataclasses.asdict(ref.GAEConfig())
    if max_env_steps:
        settings["max_env_steps"] = max_env_steps
    data = json.loads(out.read_text()) if out.exists() else {}
    if data.get("meta", {}).get("settings") != settings:  # other settings: start afresh
        data = {"meta": {"settings": settings}, "runs": {}}
    runs = data["runs"]
    for lam in lambdas:
        for seed in seeds:
            if str(seed) in runs.get(str(lam), {}):
                continue
            start = time.time()
            cfg = ref.GAEConfig(**{**settings, "seed": seed, "gae_lambda": lam})
            episodes = ref.train_gae(cfg)
            runs.setdefault(str(lam), {})[str(seed)] = [[e.step, e.ret] for e in episodes]
            data["meta"].setdefault("seconds", {})[f"{lam}/{seed}"] = round(time.time() - start, 1)
            data["meta"].update(
                max_env_steps=settings["max_env_steps"],
                date=str(date.today()),
                command="python -m pretrain.gae_sweep",
                env="CartPole-v1",
            )
            out.write_text(json.dumps(data))
    return data


def table(path: Path) -> str:
    loaded = plotting.load_sweep(path)
    rows = ["| lambda | area under the curve, mean +- std over seeds | per seed |", "|---|---|---|"]
    for lam, aucs in plotting.sweep_auc(loaded).items():
        rows.append(f"| {lam:g} | {np.mean(aucs):.0f} +- {np.std(aucs):.0f} | {', '.join(f'{a:.0f}' for a in aucs)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=networks.pretrained_path("gae_sweep", ".json"))
    parser.add_argument("--max-env-steps", type=int, default=None, help="shorter runs (tests)")
    args = parser.parse_args(argv)
    start = time.time()
    sweep(args.out, max_env_steps=args.max_env_steps)
    ax = plotting.plot_sweep(plotting.load_sweep(args.out), title="A2C with GAE on CartPole-v1, 5 seeds per lambda")
    ax.figure.savefig(args.out.with_suffix(".png"), dpi=80, bbox_inches="tight")
    print(table(args.out))
    print(f"{time.time() - start:.0f} s this time; wrote {args.out}")


if __name__ == "__main__":
    main()
