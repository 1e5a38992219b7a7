"""Write the copy of the course that students get: notebooks, course_lib, pyproject, a README.

    python -m autograder.release.student_copy --repo https://github.com/<org>/<course> [--out build/student]

Publish the result (a folder and a zip of it) as the students' repository: it holds no solution,
no hidden test and nothing of ``autograder/``, and every notebook's first cell installs
``course_lib`` from ``--repo``, the one setting; the README links each notebook to Colab there.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat

from autograder.paths import NOTEBOOKS, ROOT

PLACEHOLDER = "https://github.com/your-org/actor-critic-course"
README = Path(__file__).resolve().parent / "student_readme.md"
GITHUB = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def colab_link(repo: str, notebook: str, branch: str = "main") -> str:
    match = GITHUB.match(repo)
    if match is None:
        raise ValueError(f"not a GitHub repository's address: {repo}")
    org, name = match.groups()
    return f"https://colab.research.google.com/github/{org}/{name}/blob/{branch}/notebooks/{notebook}"


def write(out: Path, repo: str, branch: str = "main") -> Path:
    """The student copy in ``out`` (replaced if it exists) and ``out.zip``; returns the zip."""
    if not GITHUB.match(repo):
        raise ValueError(f"--repo must be a GitHub address such as https://github.com/org/course, not {repo!r}")
    shutil.rmtree(out, ignore_errors=True)
    (out / "notebooks").mkdir(parents=True)
    rows = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        setup = next(c for c in nb.cells if c.cell_type == "code")
        if PLACEHOLDER not in setup.source:
            raise ValueError(f"{path.name}: the first code cell has no COURSE_REPO placeholder to fill in")
        setup.source = setup.source.replace(PLACEHOLDER, repo)
        nbformat.write(nb, out / "notebooks" / path.name)
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), path.stem)
        rows.append(f"| {title} | [Open in Colab]({colab_link(repo, path.name, branch)}) |")
    shutil.copytree(ROOT / "course_lib", out / "course_lib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "pyproject.toml", out / "pyproject.toml")
    (out / "README.md").write_text(README.read_text().replace("{table}", "\n".join(rows)).replace("{repo}", repo))
    return Path(shutil.make_archive(str(out), "zip", out.parent, out.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the students' repository, https://github.com/<org>/<name>")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = parser.parse_args(argv)
    try:
        archive = write(args.out, args.repo, args.branch)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {args.out} and {archive}: publish them as {args.repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
