"""What the pipeline and the scorer's process say to each other: the request and the reply, typed.

The pipeline (``score.run_scorer``) writes a ``ScoreRequest`` to a file and starts the scorer
(``python -m autograder.pipeline.scorer REQUEST RESULT``), which writes one ``NotebookScore`` per
notebook back. Every field is given: no side falls back on a default of its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ScoreRequest:
    notebooks: dict[str, str]  # notebook id -> the student's submitted copy (the grader's, repaired)
    command: list[str]  # how to start the answers process (sandboxed or not)
    cwd: str  # where it starts
    call_timeouts: dict[str, float]  # notebook id -> seconds for one of its cells or calls in the answers process
    budget: float  # seconds for scoring one notebook
    own_shm: bool  # in bwrap's namespaces: its /dev/shm is its own, read through its root
    files_uid: int | None  # the uid the scorer's shared-memory files are given to (uid mode as root)
    env: dict[str, str]  # what the answers process's environment adds to the scorer's

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> ScoreRequest:
        return cls(**json.loads(path.read_text()))


@dataclass
class CellScore:
    points: float
    max_points: float
    outputs: list[dict] = field(default_factory=list)  # what the feedback shows in the cell
    problem: str = ""  # why a cell scored zero that a check did not explain (no result, a mismatch)
    failed: str = ""  # the first check that failed: a hidden check's name, or a visible check's message
    said: str = ""  # what that hidden check told the student (the mistake named, with this student's values)


@dataclass
class NotebookScore:
    cells: dict[str, CellScore] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> NotebookScore:
        return cls(
            cells={gid: CellScore(**cell) for gid, cell in data.get("cells", {}).items()},
            notes=list(data.get("notes", [])),
            seconds=float(data.get("seconds", 0.0)),
        )


def write_reply(scores: dict[str, NotebookScore], path: Path) -> None:
    path.write_text(json.dumps({nb: asdict(score) for nb, score in scores.items()}))


def read_reply(path: Path) -> dict[str, NotebookScore]:
    return {nb: NotebookScore.from_dict(data) for nb, data in json.loads(path.read_text()).items()}
