"""The class grading command by its older name: ``python -m autograder.grade`` is ``python -m
autograder.pipeline`` (the pipeline's own docstring says what it does)."""

import sys

from autograder.pipeline.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
