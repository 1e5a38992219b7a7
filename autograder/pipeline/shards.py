"""A class graded in shards, on several machines: which students are in a shard, and the merge.

    python -m autograder.pipeline --shard 2/3 ...        # grade shard 2 of 3
    python -m autograder.pipeline.shards results/shard-1 results/shard-2 results/shard-3 --out results/all
    python -m autograder.pipeline.shards results/shards --expect 3 --out results   # Slurm's layout: K-of-N
    (python -m autograder.merge ..., the same)

``in_shard`` splits the students by a hash of their id: the same split on every machine and in
every run, whatever else the class holds.

``grades.csv`` gets every shard's rows (a student and notebook graded twice, with different
results, is an error: the shards were not a split of one class); ``unmapped.csv`` the files any
shard could not map (every shard sees the whole class, so they list the same files);
``feedback/`` and ``details/`` every student's pages and records, ``run.json`` every shard's run;
then the class report of the whole class. The shards' ``work/`` folders stay where they are.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

from autograder.pipeline.class_report import write_class_report
from autograder.pipeline.report import DETAILS, read_rows, read_runs, read_unmapped, write_rows, write_runs
from autograder.pipeline.slurm import COMPLETE


def in_shard(student: str, shard: tuple[int, int] | None) -> bool:
    """Shard ``(k, n)`` (1-based) holds the students whose id hashes to ``k - 1`` modulo ``n``."""
    if shard is None:
        return True
    k, n = shard
    return int(hashlib.sha256(student.encode()).hexdigest(), 16) % n == k - 1


def parse_shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"--shard wants K/N with 1 <= K <= N, not {text!r}")
    return int(k), int(n)


def merge(shards: list[Path], out: Path) -> int:
    """Merge ``shards`` into ``out``; return the number of rows written."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    unmapped: list[tuple[str, str]] = []
    for shard in shards:
        if not (shard / "grades.csv").exists():
            raise ValueError(f"{shard} has no grades.csv: is it a finished shard's results folder?")
        for key, row in read_rows(shard).items():
            if key in rows and rows[key] != row:
                raise ValueError(
                    f"{key[0]} / {key[1]} was graded in two shards, differently: the shards are not "
                    "one split of one class"
                )
            rows[key] = row
        unmapped += read_unmapped(shard)
    out.mkdir(parents=True, exist_ok=True)
    write_rows(rows, unmapped, out)
    runs = []
    for shard in shards:
        for folder in ("feedback", DETAILS):
            if (shard / folder).is_dir():
                shutil.copytree(shard / folder, out / folder, dirs_exist_ok=True)
        runs += read_runs(shard)
    write_runs(out, runs)
    return len(rows)


def complete_shards(folder: Path, n: int) -> tuple[list[Path], list[int]]:
    """The shards of ``folder/K-of-N`` whose task ended normally (``slurm.COMPLETE`` written
    last), and the numbers of the others (killed, out of time, never started)."""
    done, missing = [], []
    for k in range(1, n + 1):
        shard = folder / f"{k}-of-{n}"
        if (shard / COMPLETE).exists() and (shard / "grades.csv").exists():
            done.append(shard)
        else:
            missing.append(k)
    return done, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "shards",
        type=Path,
        nargs="+",
        help="the shards' results folders (with --expect: the folder that holds them, as K-of-N)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the merged results folder")
    parser.add_argument("--expect", type=int, help="N: merge the shards K-of-N that are complete, name the others")
    parser.add_argument("--again", help="the command that grades the class again (printed with --only K for those)")
    parser.add_argument("--roster", type=Path, help="the class's roster, for the LMS files (class_report.py)")
    args = parser.parse_args(argv)
    missing: list[int] = []
    shards = args.shards
    if args.expect:
        shards, missing = [], []
        for folder in args.shards:
            done, lost = complete_shards(folder, args.expect)
            shards += done
            missing += lost
    try:
        count = merge(shards, args.out) if shards else 0
    except ValueError as exc:
        parser.error(str(exc))
    print(f"merged {len(shards)} shard(s): {count} rows in {args.out / 'grades.csv'}")
    if shards:
        try:
            print(f"the class report: {write_class_report(args.out, args.roster, sorted(missing))}")
        except Exception as exc:  # the merged grades are written: a failing report costs the report only
            print(f"no class report: {type(exc).__name__}: {exc}", file=sys.stderr)
    if missing:
        listed = ",".join(map(str, sorted(missing)))
        command = f"{args.again} --only {listed}" if args.again else f"the same command, with --only {listed}"
        print(
            f"NOT COMPLETE: shard(s) {listed} of {args.expect} (their task was killed, ran out of time or failed: "
            f"its log, slurm/shard-K-jobJ.log beside the results, says which). Grade them again, alone (the merge "
            f"then runs again):\n  {command}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
