"""nbgrader's command, as the pipeline starts it: through autograder.nbgrader_cli, so that the
package's import-time settings hold in nbgrader's process too (autograder/__init__.py)."""

import subprocess
import sys

from autograder.nbgrader_cli import nbgrader
from autograder.paths import ROOT, course_env


def test_nbgrader_runs_through_the_course_package(tmp_path):
    done = nbgrader(tmp_path, "--version")
    assert done.args[1:3] == ["-m", "autograder.nbgrader_cli"]
    assert "nbgrader version" in done.stdout


def test_nbgraders_process_reads_notebooks_without_compiling_jsonschemas_iri_grammars():
    """jsonschema imports rfc3987_syntax when installed (1.2 s of grammar compiling per process); the
    course's processes never import it, and nbformat still validates."""
    code = (
        "import sys, nbformat, nbgrader.apps;"
        "nb = nbformat.v4.new_notebook(); nb.cells.append({'cell_type': 'code'});"
        "print('invalid', not nbformat.validator.isvalid(nb));"
        "print('imported', sys.modules.get('rfc3987_syntax') is not None)"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import autograder; " + code],
        capture_output=True,
        text=True,
        env=course_env(),
        cwd=ROOT,
        timeout=120,
    )
    assert done.stdout.split() == ["invalid", "True", "imported", "False"], done.stdout + done.stderr
