"""Grade a whole class with nbgrader, in parallel and sandboxed, and write grades and feedback.

    python -m autograder.pipeline SUBMISSIONS --out RESULTS [--workers N] [--shard K/N]

SUBMISSIONS is a zip or a folder (naming rule in ``autograder/pipeline/collect.py`` and the README).
RESULTS receives ``grades.csv`` (a row per student and notebook: status, total, points per
exercise, a message), ``unmapped.csv`` (files that could not be matched to a student and a
notebook), ``feedback/<student>/<notebook>.html``, ``report.html`` (the class report), ``canvas.csv``
and ``moodle/`` (the grades for the LMS: ``class_report.py``), ``details/`` and ``run.json`` (what
the report is made from) and ``work/`` (nbgrader's course folders).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from autograder.pipeline.class_report import CANVAS, MOODLE, REPORT, read_roster
from autograder.pipeline.job import Sandbox, add_arguments, options_from
from autograder.pipeline.report import table
from autograder.pipeline.run import grade_class
from autograder.pipeline.shards import parse_shard

STOPPED = 130  # the exit status of a run stopped by Ctrl-C or SIGTERM (the shell's for SIGINT)


def _stop(signum: int, frame: object) -> None:
    """The first Ctrl-C or SIGTERM stops the run; the ones after it are ignored, so that they do
    not cut short its clean-up (the processes killed, the temporary folders removed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="a zip file or a folder of submissions")
    parser.add_argument("--out", type=Path, required=True, help="results folder (grades.csv, feedback/)")
    add_arguments(parser)  # every setting of autograder.pipeline.job.Options, its default and help from there
    parser.add_argument(
        "--shard",
        type=parse_shard,
        help="K/N: grade only shard K of N (a stable split by student id); merge the shards with autograder.merge",
    )
    parser.add_argument(
        "--roster",
        type=Path,
        help="a CSV of the class (student, and any of name, email, lms_id, section): the LMS files follow it",
    )
    args = parser.parse_args(argv)
    options = options_from(args)
    if not options.use_sandbox():
        why = (
            "--sandbox off"
            if options.sandbox is Sandbox.OFF
            else "--sandbox auto found neither bwrap's namespaces (bubblewrap and prlimit, where bwrap can make "
            "them) nor the uid mode (root, prlimit, seccomp, a Python other uids can run, the course's secrets "
            "closed to them: docs/grading.md)"
        )
        print(
            f"WARNING: grading WITHOUT the sandbox ({why}): submissions run with your permissions and network.",
            file=sys.stderr,
        )
    # SIGTERM (Slurm's time limit, scancel, kill) stops the run as Ctrl-C does: at once, its processes
    # killed and its temporary folders removed (grade_class), not after the students still queued.
    handlers = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        if args.roster:
            read_roster(args.roster)  # a roster the report cannot read stops the run before it starts
        grades, unmapped = grade_class(args.submissions, args.out, options, shard=args.shard, roster=args.roster)
    except (
        OSError,
        ValueError,
    ) as exc:  # the submissions path (missing, not a zip, too big, contains --out), the roster
        parser.error(str(exc))
    except KeyboardInterrupt:
        print(
            f"\nstopped: {args.out / 'grades.csv'} has the students graded before the stop; the others were "
            "not graded, and the class report not written (the same command grades everyone again)",
            file=sys.stderr,
        )
        return STOPPED
    finally:  # main() is also called in-process (its tests): their handlers back
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    print(table(grades))
    if unmapped:
        print(f"\n{len(unmapped)} file(s) not mapped to a student and a notebook:")
        for path, reason in unmapped:
            print(f"  {path}: {reason}")
    print(f"\nwrote {args.out / 'grades.csv'} and {len(grades)} feedback file(s) in {args.out / 'feedback'}")
    print(
        f"the class report: {args.out / REPORT}; the LMS files: {args.out / CANVAS}, {args.out / MOODLE} "
        "(python -m autograder.pipeline.class_report makes them again, with another --roster)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
