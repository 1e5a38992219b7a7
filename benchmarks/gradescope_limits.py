"""Peak memory and time of Gradescope's run for each notebook's reference and a typical mistake, held
to a container's limits by a memory and CPU cgroup (``../shared/tools/limited``): Gradescope's
default (768 MB, half a CPU) and the container each zip asks for (``gradescope.build.container``).
What it records is what the README's per-notebook settings come from; the test
(``tests/integration/test_gradescope.py``) checks that each notebook is graded within its own.

Run by hand, as root, on a machine with cgroup v1's memory and cpu controllers; results are
appended to benchmarks/results/gradescope_limits.md. The peak is the cgroup's (its processes'
memory, and the page cache they brought in).

    python benchmarks/gradescope_limits.py [--notebook 03_a3c] [--parallel 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.gradescope.build import DEFAULT_CONTAINER, build, container  # noqa: E402
from autograder.paths import assignment_ids  # noqa: E402
from fixtures import handed_in, typical_mistake  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gradescope_limits.md"
LIMITED = ROOT.parent / "shared" / "tools" / "limited"
SUMMARY = re.compile(r"exit (\d+), ([\d.]+) s wall, peak (\d+) MiB, killed for memory: (\S+)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", action="append", help="only this notebook (repeatable)")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (each held to its own CPUs)")
    args = parser.parse_args()
    notebooks = args.notebook or assignment_ids()
    work = Path(tempfile.mkdtemp(prefix="gradescope-limits-"))
    try:
        [archive] = build(work / "zips", [notebooks[0]])
        source = work / "source"
        zipfile.ZipFile(archive).extractall(source)
        env = {**os.environ, "PYTHONPATH": str(source)}
        subprocess.run([sys.executable, "-m", "autograder.gradescope", "prepare"], cwd=source, env=env, check=True)
        cases = []
        for notebook in notebooks:
            sizes = {DEFAULT_CONTAINER, container(notebook)}
            students = ("reference", typical_mistake(notebook))
            cases += [(notebook, student, size) for student in students for size in sorted(sizes)]

        def run(case):
            notebook, student, (memory, cpus) = case
            root = work / "runs" / f"{notebook}-{student}-{memory}"
            (root / "submission").mkdir(parents=True)
            (root / "results").mkdir()
            nbformat.write(handed_in(student, notebook), root / "submission" / f"{notebook}.ipynb")
            command = [sys.executable, "-m", "autograder.gradescope", "run", "--notebook", notebook]
            done = subprocess.run(
                [str(LIMITED), memory, str(cpus), "--", *command, "--root", str(root)],
                cwd=source,
                env=env,
                capture_output=True,
                text=True,
            )
            results = json.loads((root / "results" / "results.json").read_text())
            status = re.search(r"\((\S+)\)", results["output"])
            _, seconds, peak, killed = SUMMARY.search(done.stderr).groups()
            return (notebook, student, memory, cpus, peak, killed, seconds, results["score"], status and status[1])

        with ThreadPoolExecutor(args.parallel) as pool:
            rows = list(pool.map(run, cases))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        f"\n## {date.today()}: {os.cpu_count()} cores, {args.parallel} runs at once, sandbox: the machine's default",
        "",
        "| notebook | submission | memory | CPU | peak MiB | killed for memory | seconds | score | status |",
        "|---|---|---|---|---|---|---|---|---|",
        *(f"| {' | '.join(map(str, row))} |" for row in rows),
    ]
    with RESULTS.open("a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
