import argparse
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from autograder.gradescope import __doc__ as DOC
from autograder.gradescope.build import build as write
from autograder.gradescope.build import container
from autograder.gradescope.run import HIDDEN_CHECKS, Visibility, lock_secrets
from autograder.gradescope.run import run as grade
from autograder.paths import assignment_ids
from autograder.pipeline.job import Options, Sandbox
from autograder.pipeline.run import release_once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the autograder zip of each notebook (or of --notebook)")
    build.add_argument("--out", type=Path, default=Path("build/gradescope"))
    build.add_argument("--notebook", action="append", help="only this notebook (repeatable)")

    def hidden_checks(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--hidden-checks",
            choices=[v.value for v in Visibility],
            default=HIDDEN_CHECKS.value,
            help="when students see the hidden checks' tests (Gradescope's visibility; the sanity checks are "
            "visible at once; default: %(default)s)",
        )

    hidden_checks(build)
    commands.add_parser("prepare", help="release the notebooks once, for every run (setup.sh does it)")
    run = commands.add_parser("run", help="grade /autograder/submission (Gradescope's run_autograder)")
    run.add_argument("--notebook", required=True)
    run.add_argument("--root", type=Path, default=Path("/autograder"))
    sandbox = next(f for f in fields(Options) if f.name == "sandbox")  # the same option as the class command's
    run.add_argument(
        "--sandbox", choices=[s.value for s in Sandbox], default=Sandbox.AUTO.value, help=sandbox.metadata["help"]
    )
    hidden_checks(run)
    args = parser.parse_args(argv)
    if args.command == "build":
        for path in write(args.out, args.notebook, Visibility(args.hidden_checks)):
            memory, cpus = container(path.stem)
            print(f"wrote {path}: in its assignment's autograder settings choose {memory}B of memory and {cpus:g} CPU")
        return 0
    if args.command == "prepare":
        with tempfile.TemporaryDirectory() as tmp:
            release_once(Path(tmp) / "template", assignment_ids())
        lock_secrets()
        return 0
    grade(args.root, args.notebook, args.sandbox, args.hidden_checks)
    return 0  # a results.json is written in every case: Gradescope reads it, not the exit status


if __name__ == "__main__":
    sys.exit(main())
