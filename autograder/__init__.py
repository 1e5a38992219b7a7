"""Instructor side of the course: releasing student notebooks, hidden checks and grading.

Not installed with ``course_lib`` (students never get it); commands run it from the repository
root, where ``python -m autograder.<module>`` finds it.
"""

import sys

# jsonschema (under nbformat) imports rfc3987_syntax when it is installed (jupyter-events brings it),
# and that compiles 39 grammars at import: 1.2-1.4 s in every process that reads a notebook, three
# per graded student (nbgrader's autograde and feedback, the scorer) besides the grader's own.
# Nothing here validates IRIs (jsonschema leaves its iri formats unchecked without it; nbformat
# uses no format checker); nbgrader runs through autograder.nbgrader_cli so this holds there too.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
