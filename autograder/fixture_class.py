"""A made-up class of submissions, generated from the solutions, to try the grader on.

    python -m autograder.fixture_class build/fixture_class   # then: python -m autograder.grade ...

Students: ``reference`` (the solutions), ``blank`` (the student notebooks), ``partly_right``, one
student per typical mistake (``MISTAKES``: each replaces one solution cell, so every variant is a
complete, runnable notebook), and one per bad or hostile case (``HOSTILE``). ``EXPECTED`` says
what each must get; the test suite grades the class and checks it.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat

from autograder.collect import grade_id_of
from autograder.release import ROOT, assignment_ids

MISTAKES: dict[str, tuple[str, str, str]] = {
    # name: (notebook, grade_id of the solution cell, the student's source)
    "returns_ignore_boundaries": ("01_policy_gradient", "returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running      # forgets that episodes end
        returns[t] = running
    return returns
'''),
    "returns_in_place": ("01_policy_gradient", "returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    for t in reversed(range(rewards.shape[0] - 1)):
        rewards[t] += gamma * (1 - dones[t]) * rewards[t + 1]   # overwrites the caller's rewards
    return rewards
'''),
    "loss_wrong_sign": ("01_policy_gradient", "loss_solution", '''
import torch

def reinforce_loss(log_probs, returns):
    advantages = (returns - returns.mean()) / (returns.std() + 1e-8)
    return (log_probs * advantages.detach()).mean()
'''),
    "loss_no_baseline": ("01_policy_gradient", "loss_solution", '''
import torch

def reinforce_loss(log_probs, returns):
    return -(log_probs * returns).mean()
'''),
    "targets_no_bootstrap": ("02_a2c", "targets_solution", '''
import torch

def n_step_targets(rewards, terminated, truncated, final_values, last_value, gamma):
    targets = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)            # forgets V(s_T): no bootstrap
    for t in reversed(range(rewards.shape[0])):
        running = torch.where(truncated[t].bool(), final_values[t], running)
        running = rewards[t] + gamma * (1 - terminated[t]) * running
        targets[t] = running
    return targets
'''),
    "targets_ignore_dones": ("02_a2c", "targets_solution", '''
import torch

def n_step_targets(rewards, terminated, truncated, final_values, last_value, gamma):
    targets = torch.zeros_like(rewards)
    running = last_value
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running         # runs across episode ends
        targets[t] = running
    return targets
'''),
    "loss_advantages_not_detached": ("02_a2c", "loss_solution", '''
import torch

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    advantages = targets - values                      # not detached
    policy_loss = -(dist.log_prob(actions) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
'''),
    "loss_entropy_of_sampled_action": ("02_a2c", "loss_solution", '''
import torch

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    advantages = (targets - values).detach()
    log_probs = dist.log_prob(actions)
    policy_loss = -(log_probs * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = -log_probs.mean()                        # one-sample estimate, not the entropy
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
'''),
}


def solution_source(notebook: str, grade_id: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if grade_id_of(c) == grade_id)


def with_cell(notebook_path: Path, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of the notebook whose cell ``grade_id`` holds ``source``."""
    nb = nbformat.read(notebook_path, as_version=4)
    cell = next(c for c in nb.cells if grade_id_of(c) == grade_id)
    cell.source = source.strip("\n")
    return nb


def mistake_submission(name: str, out: Path) -> Path:
    notebook, grade_id, source = MISTAKES[name]
    nbformat.write(with_cell(ROOT / "solutions" / f"{notebook}.ipynb", grade_id, source), out)
    return out


def function_from(source: str, name: str):
    namespace: dict = {}
    exec(source, namespace)
    return namespace[name]


# --------------------------------------------------------------------------- bad and hostile cases
NB1 = "01_policy_gradient"

HOSTILE_CODE: dict[str, tuple[str, str]] = {
    # name: (grade_id of the nb01 solution cell it replaces, the student's source)
    "raises": ("returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    raise RuntimeError("my code crashed")
'''),
    "hangs": ("loss_solution", '''
while True:   # never ends: the cell times out, the rest of the notebook is still graded
    pass
'''),
    "ignores_interrupt": ("loss_solution", '''
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)   # the cell timeout's interrupt does nothing:
while True:                                    # the kernel is restarted, the rest still graded
    pass
'''),
    "kills_kernel": ("loss_solution", '''
import os
os._exit(1)   # the kernel dies: a new one runs the cells below, the first exercise still counts
'''),
    "calls_exit": ("loss_solution", '''
exit()   # IPython stops the kernel after this cell: the same as a kernel that died
'''),
    "prints_to_stderr": ("returns_solution", '''
import sys
import warnings
import torch

print("debugging on stderr", file=sys.stderr)
warnings.warn("a warning of my own")

def discounted_returns(rewards, dones, gamma):
    print("inside, on stderr", file=sys.stderr)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1 - dones[t]) * running
        returns[t] = running
    return returns
'''),
    "returns_nan": ("returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    return torch.full_like(rewards, float("nan"))
'''),
    "wrong_shape": ("returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    return rewards.cumsum(0)[:-1]
'''),
    "wrong_dtype": ("returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    return rewards.long()
'''),
    "memory_hog": ("returns_solution", '''
hog = []
while True:   # allocates without end: stopped by the memory limit
    hog.append(bytearray(50_000_000))
'''),
    "fork_bomb": ("returns_solution", '''
import subprocess
children = [subprocess.Popen(["sleep", "30"]) for _ in range(100_000)]   # stopped by the process limit
'''),
    "thread_bomb": ("returns_solution", '''
import threading
import time
threads = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(100_000)]
for thread in threads:
    thread.start()   # stopped by the process limit
'''),
}

SNOOPER = '''
import glob
import os

def attempt(what, action):
    try:
        result = action()
        print(f"{what}: OK {str(result)[:80]!r}")
    except Exception as exc:
        print(f"{what}: blocked ({type(exc).__name__})")

ROOT = __ROOT__
stage = os.environ.get("COURSE_SANDBOX_STAGE", "/nonexistent")
work = os.environ.get("COURSE_SANDBOX_WORK", "/nonexistent")
out = os.path.dirname(os.path.dirname(os.path.dirname(work)))
attempt("read the solutions", lambda: open(os.path.join(ROOT, "solutions", "__NB__.ipynb")).read())
attempt("read the hidden checks", lambda: open(os.path.join(stage, "autograder", "hidden", "nb01.py")).read())
attempt("read the staged solutions", lambda: open(os.path.join(stage, "solutions", "__NB__.ipynb")).read())
attempt("read another student", lambda: open(glob.glob(os.path.join(out, "work", "reference", "submitted", "*", "*", "*.ipynb"))[0]).read())
attempt("read the gradebook", lambda: open(os.path.join(out, "work", "_template", "gradebook.db"), "rb").read())
attempt("read the submissions", lambda: open(os.path.join(__INCOMING__, "reference", "__NB__.ipynb")).read())
attempt("write into the repository", lambda: open(os.path.join(ROOT, "hacked.txt"), "w").write("x"))
attempt("write into the results", lambda: open(os.path.join(out, "hacked.txt"), "w").write("x"))
attempt("write into the submissions", lambda: open(os.path.join(__INCOMING__, "hacked.txt"), "w").write("x"))
attempt("reach the network", lambda: __import__("urllib.request").request.urlopen("http://example.com", timeout=3).read())
'''  # followed by the reference answer: the snooper loses nothing by trying


def _graded_cells(nb, test_only=False):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            and (not test_only or not c.metadata["nbgrader"].get("solution"))]


def _write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def build(out: Path) -> Path:
    """Write the class under ``out``: a folder per student (and one LMS-style flat file)."""
    if out.exists():
        shutil.rmtree(out)
    solution = {nb: ROOT / "solutions" / f"{nb}.ipynb" for nb in assignment_ids()}
    student_nb = {nb: ROOT / "notebooks" / f"{nb}.ipynb" for nb in solution}
    for nb, path in solution.items():
        _write(nbformat.read(path, as_version=4), out / "reference" / f"{nb}.ipynb")
        _write(nbformat.read(student_nb[nb], as_version=4), out / "blank" / f"{nb}.ipynb")
    # Partly right: the first exercise done, the second left blank.
    partly = nbformat.read(student_nb[NB1], as_version=4)
    partly_cell = next(c for c in partly.cells if grade_id_of(c) == "returns_solution")
    partly_cell.source = solution_source(NB1, "returns_solution")
    _write(partly, out / "partly_right" / f"{NB1}.ipynb")
    for name, (nb, grade_id, source) in MISTAKES.items():
        if nb in solution:
            _write(with_cell(solution[nb], grade_id, source), out / name / f"{nb}.ipynb")
    for name, (grade_id, source) in HOSTILE_CODE.items():
        _write(with_cell(solution[NB1], grade_id, source), out / name / f"{NB1}.ipynb")
    snooper = (SNOOPER.replace("__ROOT__", repr(str(ROOT))).replace("__NB__", NB1)
               .replace("__INCOMING__", repr(str(out.resolve()))) + solution_source(NB1, "returns_solution"))
    _write(with_cell(solution[NB1], "returns_solution", snooper), out / "snooper" / f"{NB1}.ipynb")

    edits = nbformat.read(solution[NB1], as_version=4)
    for cell in _graded_cells(edits, test_only=True):
        cell.source = "print('trust me, all good')\n10.0"
    _write(edits, out / "edits_tests" / f"{NB1}.ipynb")
    deletes = nbformat.read(solution[NB1], as_version=4)
    deletes.cells = [c for c in deletes.cells if c not in _graded_cells(deletes, test_only=True)]
    _write(deletes, out / "deletes_tests" / f"{NB1}.ipynb")
    strips = nbformat.read(solution[NB1], as_version=4)
    for cell in strips.cells:
        cell.metadata.pop("nbgrader", None)
    _write(strips, out / "strips_metadata" / f"{NB1}.ipynb")
    _write(nbformat.read(solution[NB1], as_version=4), out / "renamed" / "my homework FINAL.ipynb")
    # An LMS export: flat files named <student>_<anything>.ipynb
    _write(nbformat.read(solution[NB1], as_version=4), out / f"lms_12345_{NB1}.ipynb")

    (out / "invalid_json").mkdir()
    (out / "invalid_json" / f"{NB1}.ipynb").write_text('{"cells": [ this is not json')
    (out / "not_a_notebook").mkdir()
    (out / "not_a_notebook" / f"{NB1}.ipynb").write_text(json.dumps({"hello": "world"}))
    (out / "reference" / "notes.pdf").write_bytes(b"%PDF-1.4 not graded")
    return out


FULL, ZERO = 10.0, 0.0
# student: {notebook: (status, or the statuses it may get, lowest total, highest total)}
EXPECTED: dict[str, dict[str, tuple[str | tuple[str, ...], float, float]]] = {
    "reference": {NB1: ("graded", FULL, FULL), "02_a2c": ("graded", FULL, FULL)},
    "blank": {NB1: ("graded", ZERO, ZERO), "02_a2c": ("graded", ZERO, ZERO)},
    "partly_right": {NB1: ("graded", 5.0, 5.0)},
    "returns_ignore_boundaries": {NB1: ("graded", 5.0, 7.0)},
    "returns_in_place": {NB1: ("graded", 5.0, 8.6)},
    "loss_wrong_sign": {NB1: ("graded", 5.0, 6.5)},
    "loss_no_baseline": {NB1: ("graded", 5.0, 7.0)},
    "targets_no_bootstrap": {"02_a2c": ("graded", 5.0, 7.5)},
    "targets_ignore_dones": {"02_a2c": ("graded", 5.0, 6.5)},
    "loss_advantages_not_detached": {"02_a2c": ("graded", 5.0, 9.25)},
    "loss_entropy_of_sampled_action": {"02_a2c": ("graded", 5.0, 8.5)},
    "raises": {NB1: ("graded", 5.0, 5.0)},
    "hangs": {NB1: ("timeout", 5.0, 5.0)},
    "ignores_interrupt": {NB1: ("timeout", 5.0, 5.0)},
    "kills_kernel": {NB1: ("error", 5.0, 5.0)},
    "calls_exit": {NB1: ("error", 5.0, 5.0)},
    "prints_to_stderr": {NB1: ("graded", FULL, FULL)},
    "returns_nan": {NB1: ("graded", 5.0, 5.5)},
    "wrong_shape": {NB1: ("graded", 5.0, 5.5)},
    "wrong_dtype": {NB1: ("graded", 5.0, 5.5)},
    # The hog keeps its memory: a later allocation fails as a MemoryError (graded) or, in C++ code,
    # aborts the kernel (error, the cells before it still count); which one varies from run to run.
    "memory_hog": {NB1: (("graded", "error"), ZERO, 5.0)},
    "fork_bomb": {NB1: ("graded", ZERO, 5.0)},
    "thread_bomb": {NB1: ("graded", ZERO, 5.0)},
    "snooper": {NB1: ("graded", FULL, FULL)},
    "edits_tests": {NB1: ("graded", FULL, FULL)},
    "deletes_tests": {NB1: ("graded", FULL, FULL)},
    "strips_metadata": {NB1: ("graded", FULL, FULL)},
    "renamed": {NB1: ("graded", FULL, FULL)},
    "lms": {NB1: ("graded", FULL, FULL)},
    "invalid_json": {NB1: ("invalid-notebook", ZERO, ZERO)},
    "not_a_notebook": {NB1: ("invalid-notebook", ZERO, ZERO)},
}
UNMAPPED = {"reference/notes.pdf"}


def expected() -> dict[tuple[str, str], tuple[str | tuple[str, ...], float, float]]:
    """(student, notebook) -> (status, lowest total, highest total), for the notebooks that exist."""
    return {(s, nb): v for s, nbs in EXPECTED.items() for nb, v in nbs.items() if nb in assignment_ids()}


if __name__ == "__main__":
    print("wrote", build(Path(sys.argv[1] if len(sys.argv) > 1 else "build/fixture_class")))
