import sys

from autograder.release import main

sys.exit(main())
