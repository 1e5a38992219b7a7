"""Gradescope's autograder format: one zip per notebook, and the run that grades one submission.

    python -m autograder.gradescope build --out build/gradescope [--notebook 01_policy_gradient]
    python -m autograder.gradescope run --notebook 01_policy_gradient     # what run_autograder does

Gradescope grades each submission in a container of its own, built once from the zip: ``setup.sh``
installs the course's grading environment (the CPU build of torch, the instructor extra,
bubblewrap), ``run_autograder`` grades the files it finds in ``/autograder/submission`` with the
course's own pipeline (``autograder.pipeline``: the same scorer, in the sandbox where the container
allows it) and writes ``/autograder/results/results.json`` (the format of Gradescope's autograder
specifications: a total ``score``, one entry in ``tests`` per graded cell, the status and its
message in ``output``). The zip holds the solutions and the hidden checks: it is the instructor's,
like this repository.

A submission of no notebook, of the wrong notebook, or of a file that is not a notebook gets a zero
with a sentence that says so, and any failure of the grader itself a zero with its reason: a
``results.json`` is always written.
"""
