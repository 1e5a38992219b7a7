import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the autograder package lives beside course_lib, uninstalled
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
