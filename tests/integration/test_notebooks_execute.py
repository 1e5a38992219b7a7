"""Every solution notebook runs top to bottom in fast mode, with its plots and an embedded video, and
its hidden checks pass there (as an instructor sees them in JupyterLab and in ``make course``'s
executed notebooks) with full marks."""

import pytest

from autograder.build import execute, hidden_failures
from autograder.paths import SOLUTIONS, assignment_ids, course_env

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("notebook_id", assignment_ids())
def test_solution_notebook_runs_in_fast_mode(notebook_id, tmp_path, monkeypatch):
    for key, value in course_env(COURSE_FAST="1").items():
        monkeypatch.setenv(key, value)
    out = execute(SOLUTIONS / f"{notebook_id}.ipynb", tmp_path)  # raises CellExecutionError on any error
    nb_text = out.read_text()
    assert '"image/png"' in nb_text, "a plot should be shown"
    if "video.show_video(" in (SOLUTIONS / f"{notebook_id}.ipynb").read_text():
        assert "data:video/mp4;base64," in nb_text, "the video should be embedded"
    assert _stderr_in_test_cells(out) == [], "nbgrader gives zero to a test cell that writes to stderr"
    assert out.with_suffix(".html").exists()
    assert hidden_failures(out) == []


def _stderr_in_test_cells(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
        and any(o.output_type == "stream" and o.name == "stderr" for o in c.get("outputs", []))
    ]
