"""Run solution notebooks with their real budgets (no fast mode) and record time and final score.

Run by hand on an otherwise idle machine; results go to benchmarks/results/notebook_budgets.md.

    python benchmarks/notebook_budgets.py 01_policy_gradient --seeds 0 1 2
    python benchmarks/notebook_budgets.py 02_a2c --until "## Part B" --seeds 0 1 2   # CartPole part only
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.paths import SOLUTIONS, course_env  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "notebook_budgets.md"
SCORE = re.compile(r"mean return over (\d+) (?:greedy )?episodes: (-?[\d.]+)")
KILLS = re.compile(r"your agent: (-?[\d.]+) kills on average over (\d+) episodes")  # notebook 5


def execute_solution(nb: nbformat.NotebookNode, fast: bool = False, timeout: int = 3600) -> float:
    """Execute ``nb`` (a solution notebook, its cells perhaps edited) top to bottom as a student's
    kernel runs it: the course's environment, real budgets unless ``fast`` (``COURSE_FAST=1``), a
    temporary working folder, ``timeout`` seconds a cell. Its outputs land in ``nb``; returns the
    seconds it took."""
    env = {k: v for k, v in course_env().items() if k != "COURSE_FAST"} | ({"COURSE_FAST": "1"} if fast else {})
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}})
        start = time.time()
        client.execute(env=env)
        return time.time() - start


def run(notebook_id: str, seed: int, until: str | None = None) -> tuple[float, str, float]:
    nb = nbformat.read(SOLUTIONS / f"{notebook_id}.ipynb", as_version=4)
    if until:  # only the cells before the first one that mentions `until`
        nb.cells = nb.cells[: next(i for i, c in enumerate(nb.cells) if until in c.source)]
    for cell in nb.cells:  # the settings dataclasses: start from another seed
        if cell.cell_type == "code" and "@dataclass" in cell.source:
            cell.source = cell.source.replace("seed: int = 0", f"seed: int = {seed}")
    seconds = execute_solution(nb)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    match = SCORE.findall(text) or [(n, kills) for kills, n in KILLS.findall(text)]
    trained = re.findall(r"([\d,]+) (?:environment )?steps in ([\d.]+) s", text)
    return seconds, trained[-1][1] if trained else "?", float(match[-1][1]) if match else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--until", help="run only the cells before the first one containing this text")
    args = parser.parse_args()
    rows = []
    name = args.notebook + (f" (until {args.until!r})" if args.until else "")
    for seed in args.seeds:
        seconds, train_seconds, score = run(args.notebook, seed, args.until)
        rows.append(f"| {name} | {seed} | {seconds:.0f} | {train_seconds} | {score:.1f} |")
        print(rows[-1], flush=True)
    header = (
        f"\n## {name}, {date.today()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}\n\n"
        "| notebook | seed | whole notebook (s) | training (s) | final evaluation |\n|---|---|---|---|---|\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(header + "\n".join(rows) + "\n")
    print("appended to", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
