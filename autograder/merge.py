"""The merge of a class graded in shards by its older name: ``python -m autograder.merge`` is
``python -m autograder.pipeline.shards``."""

import sys

from autograder.pipeline.shards import main

if __name__ == "__main__":
    sys.exit(main())
