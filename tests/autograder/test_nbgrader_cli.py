"""nbgrader's command, as the pipeline starts it: through autograder.nbgrader_cli, so that the
package's import-time settings hold in nbgrader's process too (autograder/__init__.py)."""

import subprocess
import sys

from autograder.nbgrader_cli import nbgrader
from autograder.paths import course_env


def test_nbgrader_runs_through_the_course_package(tmp_path):
    done = nbgrader(tmp_path, "--version")
    assert done.args[1:3] == ["-m", "autograder.nbgrader_cli"]
    assert "nbgrader version" in done.stdout


def test_nbgraders_process_does_not_compile_jsonschemas_iri_grammars(tmp_path):
    """jsonschema imports rfc3987_syntax when it is installed: 1.2 s of grammar compiling per process."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "autograder.nbgrader_cli", "--version"],
        capture_output=True,
        text=True,
        env=course_env(),
        cwd=tmp_path,
        timeout=120,
    )
    # "import time: self | cumulative | name", in microseconds; a blocked import is listed, and takes none
    microseconds = {
        line.rsplit("|", 1)[-1].strip(): int(line.split("|")[1])
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "cumulative" not in line
    }
    assert {"nbformat", "jsonschema"} <= set(microseconds), done.stderr[-2000:]
    assert microseconds.get("rfc3987_syntax", 0) < 50_000, microseconds.get("rfc3987_syntax")


def test_notebooks_are_still_validated():
    import nbformat  # after autograder (imported above): the setting holds, as in every process of the pipeline

    nb = nbformat.v4.new_notebook()
    assert nbformat.validator.isvalid(nb)
    nb.cells.append({"cell_type": "code"})  # no source, no outputs
    assert not nbformat.validator.isvalid(nb)
