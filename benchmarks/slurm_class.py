"""Grade one class twice, side by side on the same machine: through Slurm (the course's array job and
its merge, on a one-node cluster started here as in tests/slurm_cluster.py) and with the local
command. What it measures is what Slurm adds: the wait for the scheduler, each task's start, the
merge job; not a cluster's speed (one node here has the cores of the local run).

Run by hand, as root, with Slurm's packages installed (`make cluster-setup`); results are appended
to benchmarks/results/slurm_class.md.

    python benchmarks/slurm_class.py --students 8 --shards 2
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from grade_class import make_class  # noqa: E402
from slurm_cluster import OneNodeCluster  # noqa: E402

from autograder.pipeline import Options, grade_class  # noqa: E402
from autograder.pipeline.slurm import COMPLETE, submit  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "slurm_class.md"


def rows(path: Path) -> list[dict]:
    return sorted(csv.DictReader(path.open()), key=lambda r: (r["student"], r["notebook"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--shards", type=int, default=2, help="array tasks (of 1 CPU each)")
    args = parser.parse_args()
    reason = OneNodeCluster.unavailable()
    if reason:
        raise SystemExit(reason)
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="slurm-bench-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        klass = make_class(tmp, args.students)
        cluster = OneNodeCluster(tmp / "cluster").start()
        os.environ["SLURM_CONF"] = str(cluster.conf)
        try:
            start = time.monotonic()
            jobs = submit(klass, tmp / "slurm", args.shards, cpus=max(1, cpus // args.shards), mem="8G")
            cluster.wait(jobs["array_job"], jobs["merge_job"], seconds=6 * 3600)
            slurm_wall = time.monotonic() - start
            logs = sorted((tmp / "slurm" / "slurm").glob("shard-*.log"))
            complete = sorted((tmp / "slurm" / "shards").glob(f"*/{COMPLETE}"))
        finally:
            cluster.stop()
        start = time.monotonic()
        grade_class(klass, tmp / "local", Options(workers=cpus, sandbox="auto"), progress=False)
        local_wall = time.monotonic() - start
        same = rows(tmp / "slurm" / "grades.csv") == rows(tmp / "local" / "grades.csv")
    notebooks = args.students * 5
    text = (
        f"\n## {date.today()}: {args.students} students x 5 notebooks, {cpus} cores, one node\n\n"
        f"| run | wall time | per student |\n|---|---|---|\n"
        f"| Slurm: {args.shards} array tasks of {max(1, cpus // args.shards)} CPU, then the merge job "
        f"| {slurm_wall / 60:.1f} min | {slurm_wall / args.students:.1f} s |\n"
        f"| local: `--workers {cpus}` | {local_wall / 60:.1f} min | {local_wall / args.students:.1f} s |\n\n"
        f"Slurm / local: {slurm_wall / local_wall:.2f}x for {notebooks} notebooks; "
        f"{len(complete)} of {args.shards} shards complete ({len(logs)} task logs); "
        f"grades.csv {'identical' if same else 'DIFFERENT'} in both runs.\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text("# A class graded through Slurm and locally, side by side (benchmarks/slurm_class.py)\n")
    with RESULTS.open("a") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
