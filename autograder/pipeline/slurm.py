"""Grade a class on a Slurm cluster: one array job (a shard of the class per task), then the merge.

    python -m autograder.pipeline.slurm SUBMISSIONS --out RESULTS --shards 20 [--cpus 2 --mem 16G --time 2:00:00]
    python -m autograder.pipeline.slurm SUBMISSIONS --out RESULTS --shards 20 --only 7,12   # re-submit shards 7 and 12

Each array task K grades shard K of N (``shards.in_shard``: a split by a hash of the student id, the
same on every machine) into ``RESULTS/shards/K-of-N`` with the grading command, in the sandbox
when the node has bubblewrap and runs the task as root, with ``--workers`` set to the task's CPUs.
A task marks its shard complete at the very end (``COMPLETE``); a task killed or out of time leaves
no mark. The merge job runs when every task has ended, however it ended (``afterany``, not
``afterok``: with ``afterok`` a failed task would leave the merge pending for ever, and nobody to
say which shard to grade again), merges the complete shards into ``RESULTS`` and names the others;
``--only`` grades them again, with a merge of its own, without grading the other shards again.

What a task needs on its node: this repository and its Python environment at the same path as on
the submitting machine (a shared file system), or ``--python`` and ``--repo`` where they are;
``SUBMISSIONS`` and ``RESULTS`` on the shared file system; bubblewrap for the sandbox.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from autograder.paths import ROOT
from autograder.pipeline.class_report import read_roster
from autograder.pipeline.job import Sandbox

COMPLETE = "COMPLETE"  # written into a shard's folder when its task ended normally

TASK = """#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --array={array}
#SBATCH --cpus-per-task={cpus}
#SBATCH --mem={mem}
#SBATCH --time={time}
#SBATCH --output={logs}/shard-%a-job%A.log
set -euo pipefail
cd {repo}
{setup}
K=$SLURM_ARRAY_TASK_ID
SHARD={out}/shards/$K-of-{n}
rm -f "$SHARD/{complete}"
PYTHONPATH={repo} {python} -m autograder.pipeline {submissions} --out "$SHARD" --shard "$K/{n}" \\
    --workers "${{SLURM_CPUS_PER_TASK:-1}}" --sandbox {sandbox} {extra}
echo "shard $K of {n}: graded on $(hostname) by job $SLURM_ARRAY_JOB_ID" > "$SHARD/{complete}"
"""

MERGE = """#!/bin/bash
#SBATCH --job-name={name}-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=0:30:00
#SBATCH --output={logs}/merge-%j.log
set -uo pipefail
cd {repo}
{setup}
PYTHONPATH={repo} {python} -m autograder.merge --out {out} --expect {n} {out}/shards --again {again}{roster}
"""


def accounting() -> bool:
    """Whether the cluster keeps a record of ended jobs (``sacct`` answers): not with Slurm's default
    ``AccountingStorageType=accounting_storage/none``, as on the one-node cluster the README sets up."""
    try:
        config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    storage = re.search(r"^AccountingStorageType\s*=\s*(\S+)", config, re.M)
    return storage is not None and storage.group(1) != "accounting_storage/none"


def sbatch(script: Path, *args: str) -> str:
    """Submit ``script``; its job id."""
    proc = subprocess.run(["sbatch", "--parsable", *args, str(script)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"sbatch {script.name} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip().split(";")[0]


def submit(
    submissions: Path,
    out: Path,
    shards: int,
    *,
    only: list[int] | None = None,
    cpus: int = 2,
    mem: str = "16G",
    time: str = "2:00:00",
    python: str = sys.executable,
    repo: Path = ROOT,
    setup: str = "",
    sandbox: str = Sandbox.ON.value,
    extra: str = "",
    sbatch_args: tuple[str, ...] = (),
    roster: Path | None = None,
) -> dict:
    """Write the two job scripts into ``out/slurm`` and submit them: the array job, then the merge
    that waits for it. Returns the job ids and where everything is."""
    submissions, out = submissions.resolve(), out.resolve()
    roster = roster.resolve() if roster else None
    if roster is not None:
        try:
            read_roster(roster)  # refused now, not when the merge runs hours later
        except (OSError, ValueError) as exc:
            raise SystemExit(f"--roster: {exc}") from None
    for path in (submissions, out, repo):
        if any(c.isspace() for c in str(path)):  # sbatch reads #SBATCH lines without a shell's quoting
            raise SystemExit(f"Slurm's #SBATCH lines cannot hold a path with spaces: {path}")
    logs = out / "slurm"
    logs.mkdir(parents=True, exist_ok=True)
    tasks = sorted(set(only)) if only else list(range(1, shards + 1))
    if not tasks or min(tasks) < 1 or max(tasks) > shards:
        raise SystemExit(f"--only wants shards between 1 and {shards}, not {only}")
    values = dict(
        name="grade-" + "".join(c if c.isalnum() or c in "._-" else "-" for c in out.name),
        n=shards,
        cpus=cpus,
        mem=mem,
        time=time,
        logs=shlex.quote(str(logs)),
        repo=shlex.quote(str(repo)),
        setup=setup,
        roster=f" --roster {shlex.quote(str(roster))}" if roster else "",
        python=shlex.quote(python),
        submissions=shlex.quote(str(submissions)),
        out=shlex.quote(str(out)),
        sandbox=sandbox,
        extra=extra,
        complete=COMPLETE,
        array=",".join(map(str, tasks)),
    )
    # The command that submits this class again, for the merge to print with the shards it missed
    again = [sys.executable, "-m", "autograder.pipeline.slurm", str(submissions), "--out", str(out)]
    again += ["--shards", str(shards), "--cpus", str(cpus), "--mem", mem, "--time", time, "--python", python]
    again += ["--repo", str(repo), "--sandbox", sandbox]
    again += ["--setup", setup] if setup else []
    again += ["--grade-args", extra] if extra else []
    again += ["--sbatch-args", shlex.join(sbatch_args)] if sbatch_args else []
    again += ["--roster", str(roster)] if roster else []
    values["again"] = shlex.quote(f"cd {shlex.quote(str(repo))} && PYTHONPATH=. {shlex.join(again)}")
    label = "all" if not only else "only-" + "-".join(map(str, tasks))
    task_script, merge_script = logs / f"shards-{label}.sbatch", logs / f"merge-{label}.sbatch"
    task_script.write_text(TASK.format(**values))
    merge_script.write_text(MERGE.format(**values))
    array = sbatch(task_script, *sbatch_args)
    merge = sbatch(merge_script, f"--dependency=afterany:{array}", *sbatch_args)
    record = {
        "array_job": array,
        "merge_job": merge,
        "shards": shards,
        "tasks": tasks,
        "results": str(out),
        "logs": str(logs),
        "scripts": [str(task_script), str(merge_script)],
    }
    with (logs / "jobs.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="a zip file or a folder of submissions (shared file system)")
    parser.add_argument("--out", type=Path, required=True, help="results folder (shared file system)")
    parser.add_argument("--shards", type=int, required=True, help="array tasks: the class is split in this many")
    parser.add_argument("--only", help="comma-separated shards to grade again (those the merge reported)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs per task (the task's grading workers)")
    parser.add_argument("--mem", default="16G", help="memory per task (4 GB per worker's kernel at most, and more)")
    parser.add_argument("--time", default="2:00:00", help="time limit per task")
    parser.add_argument("--python", default=sys.executable, help="the course environment's python on the nodes")
    parser.add_argument("--repo", type=Path, default=ROOT, help="this repository's path on the nodes")
    parser.add_argument("--setup", default="", help="shell lines run before grading (module load ...)")
    parser.add_argument(
        "--sandbox",
        choices=[choice.value for choice in Sandbox],
        default=Sandbox.ON.value,
        help="as the grading command's --sandbox; on (the default here): a task fails rather than grade unprotected",
    )
    parser.add_argument("--grade-args", default="", help="more options of the grading command (--timeout 300 ...)")
    parser.add_argument("--sbatch-args", default="", help="options for sbatch itself (--partition=cpu ...)")
    parser.add_argument("--roster", type=Path, help="the class's roster, for the merge's LMS files (class_report.py)")
    args = parser.parse_args(argv)
    only = [int(k) for k in args.only.split(",")] if args.only else None
    record = submit(
        args.submissions,
        args.out,
        args.shards,
        only=only,
        cpus=args.cpus,
        mem=args.mem,
        time=args.time,
        python=args.python,
        repo=args.repo,
        setup=args.setup,
        sandbox=args.sandbox,
        extra=args.grade_args,
        sbatch_args=tuple(shlex.split(args.sbatch_args)),
        roster=args.roster,
    )
    tasks = record["tasks"]
    print(
        f"submitted array job {record['array_job']} ({len(tasks)} task(s): shard(s) {','.join(map(str, tasks))} of "
        f"{record['shards']}) and merge job {record['merge_job']} (runs when they have all ended)"
    )
    print(
        f"results: {record['results']}/grades.csv, report.html and feedback/; each shard in "
        f"{record['results']}/shards/K-of-N"
    )
    print(f"logs: {record['logs']}/shard-K-job{record['array_job']}.log, merge-{record['merge_job']}.log")
    watch = f"watch: squeue -j {record['array_job']},{record['merge_job']}"
    print(watch + (f"   and, once they ended, sacct -j {record['array_job']}" if accounting() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
