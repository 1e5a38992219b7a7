"""The grading pipeline: every student's notebooks go through collect, execute, score and report.

    python -m autograder.pipeline SUBMISSIONS --out RESULTS [--workers N] [--shard K/N]
    python -m autograder.grade ...          # the same command, by its older name

One module per step, in the order they run (``run`` runs them, for the class and for each student):

1. ``collect``: find each student's notebooks in a zip or a folder, read them safely (``files``),
   repair what the student broke;
2. ``execute``: nbgrader's autograde runs them in the sandboxed kernel, for the feedback and the
   status (``statuses``); no point comes from it (what runs inside nbgrader's process:
   ``autograder.nbgrader_process``);
3. ``score``: every point, from a clean process (``scorer``; ``scoring``: what the two say to each
   other) that calls the student's answer cells in an answers process of their own
   (``answers_client``) and measures from outside (``remote_bench``, ``shared``);
4. ``report``: grades.csv and details/ (each student's rows as soon as known), the gradebook, the
   feedback;
5. ``class_report``: at the end of a run, the class report (report.html) and the LMS files.

``job`` holds the run's settings (``Options``: each declared once) and one student's ``Job``;
``shards`` splits a class across machines and merges the results; ``slurm`` does it on a cluster.
``docs/grading.md`` tells the whole story (what runs where, and what the sandbox does and does not
protect).
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that holds it; imported when first asked for, so that a process that needs one
# module of the package (the scorer: scorer.py) does not load the whole pipeline (nbgrader with it)
_EXPORTS = {
    "SECRETS": "job",
    "Job": "job",
    "Options": "job",
    "Sandbox": "job",
    "Grader": "run",
    "grade_class": "run",
    "release_once": "run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
