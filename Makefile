# The two commands of the README, each doing its own set-up from nothing:
#   make course   regenerate notebooks/, run every solution in fast mode into build/, grade, print the table
#   make test     the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: setup course test quick lint notebooks lab clean grader-setup cluster-setup grade slurm-grade gradescope fixture-class student-release

setup: $(VENV)/.installed

# torch first, pinned (requirements-torch.txt): the CPU build. Where PyTorch's CPU index answers, it is
# an extra index and its +cpu build wins over PyPI's (a local version sorts higher; torch's dependencies
# still come from PyPI); else pip's own index only (a mirror that serves the CPU build, as on the
# course's CI machines). The project's own range then installs nothing more.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
$(VENV)/.installed: pyproject.toml requirements-torch.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10) and "Python >= 3.10 needed (3.11 recommended)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-torch.txt $$($(PY) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=10)' "$(TORCH_CPU_INDEX)" 2>/dev/null && echo --extra-index-url "$(TORCH_CPU_INDEX)")
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

course: setup
	$(PY) -m autograder.build

# The tests grade a class of submissions in the grading sandbox: as root, install bubblewrap first;
# without it (not root), the tests grade the students that are safe outside it and say so.
test: setup lint
	@if [ "$$(id -u)" = 0 ] && ! command -v bwrap >/dev/null; then $(MAKE) --no-print-directory grader-setup; fi
	@if [ "$$(id -u)" = 0 ] && ! command -v slurmctld >/dev/null; then $(MAKE) --no-print-directory cluster-setup; fi
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# About half a minute of feedback while working: the tests not marked slow.
quick: setup lint
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow"

# The linter, the formatter and the type checker (settings in pyproject.toml); `ruff format .` applies the format.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy autograder course_lib

notebooks: setup
	$(PY) -m autograder.release

lab: setup
	$(VENV)/bin/jupyter lab

clean:
	rm -rf build

# Instructors: the grading sandbox needs bubblewrap (Debian/Ubuntu package; run as root).
grader-setup:
	@command -v bwrap >/dev/null || { apt-get update -qq && apt-get install -y -qq bubblewrap; }

# The tests' one-node Slurm cluster (tests/slurm_cluster.py): Debian's Slurm and munge (run as root).
cluster-setup:
	@command -v slurmctld >/dev/null || { apt-get update -qq && apt-get install -y -qq slurmctld slurmd slurm-client munge; }

# make grade SUBMISSIONS=path/to/zip-or-folder OUT=results [GRADE_ARGS="--workers 2"]
grade: setup
	@test -n "$(SUBMISSIONS)" -a -n "$(OUT)" || { echo "usage: make grade SUBMISSIONS=zip-or-folder OUT=results-folder"; exit 2; }
	$(PY) -m autograder.pipeline "$(SUBMISSIONS)" --out "$(OUT)" $(GRADE_ARGS)

# On a Slurm cluster (from a login node, the repository on a shared file system):
# make slurm-grade SUBMISSIONS=/shared/class.zip OUT=/shared/results SHARDS=20 [SLURM_ARGS="--cpus 4 --only 7"]
slurm-grade: setup
	@test -n "$(SUBMISSIONS)" -a -n "$(OUT)" -a -n "$(SHARDS)" || { echo "usage: make slurm-grade SUBMISSIONS=... OUT=... SHARDS=N"; exit 2; }
	$(PY) -m autograder.pipeline.slurm "$(SUBMISSIONS)" --out "$(OUT)" --shards "$(SHARDS)" $(SLURM_ARGS)

# Gradescope's autograder zip, one per notebook: build/gradescope/<notebook>.zip
# (GRADESCOPE_ARGS="--hidden-checks visible": students see the hidden checks at once, not after the due date)
gradescope: setup
	$(PY) -m autograder.gradescope build --out build/gradescope $(GRADESCOPE_ARGS)

# A made-up class (every typical mistake, every bad and hostile case) to try `make grade` on.
fixture-class: setup
	$(PY) -m fixtures build/fixture_class

# The copy students get (notebooks, course_lib, pyproject, a README with Colab links), no answers:
# make student-release REPO=https://github.com/<org>/<course>   -> build/student/ and build/student.zip
student-release: setup
	@test -n "$(REPO)" || { echo "usage: make student-release REPO=https://github.com/<org>/<course>"; exit 2; }
	$(PY) -m autograder.release.student_copy --repo "$(REPO)"
