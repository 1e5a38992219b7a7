"""Student submissions made from the solution notebooks: the reference, a blank copy, and typical mistakes.

A mistake replaces one solution cell's source, so every variant is a complete, runnable notebook.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

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
}


def solution_source(notebook: str, grade_id: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_cell(notebook_path: Path, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of the notebook whose cell ``grade_id`` holds ``source``."""
    nb = nbformat.read(notebook_path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
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
