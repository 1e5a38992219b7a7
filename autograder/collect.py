"""Find each student's notebooks in a zip or a folder, and repair what nbgrader needs to grade them.

**Naming rule** (the README says the same):

* a folder per student: ``SUBMISSIONS/<student>/.../<file>.ipynb`` (the layout of nbgrader's
  ``submitted/`` folder, ``<student>/<notebook>/<notebook>.ipynb``, is a case of it), or nbgrader's
  exchange inbound folder, ``<student>+<notebook>+<timestamp>[+<random>]/<notebook>.ipynb``;
* or flat files from an LMS: ``SUBMISSIONS/<student>_<anything>.ipynb``: the student id is the
  text before the first ``_``.

The notebook is recognized from the file name when it contains a notebook's number and name
(``01_policy_gradient``, ``01_policy_gradient (2).ipynb``, ``bob_01_policy_gradient.ipynb``), else
from its content (a renamed file), else the file is listed as unmapped. When a student handed in
one notebook more than once, the newest is graded (by nbgrader's ``timestamp.txt`` where there is
one, else by the file's modification time) and the message says so.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path

import nbformat
from nbgrader.utils import parse_utc

MAX_UNZIPPED_BYTES = 2 * 1024**3
TIMESTAMP = "timestamp.txt"
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


@dataclass
class Submission:
    student: str
    notebook: str
    path: Path
    status: str = "graded"  # or invalid-notebook
    notes: list[str] = field(default_factory=list)


@dataclass
class Collected:
    submissions: list[Submission]
    unmapped: list[tuple[str, str]]  # (path, reason)


def unpack(source: Path, into: Path) -> Path:
    """A folder as it is, or a zip extracted safely (no paths outside ``into``, no zip bombs)."""
    if source.is_dir():
        return source
    if not source.exists():
        raise ValueError(f"{source} does not exist")
    if not zipfile.is_zipfile(source):
        raise ValueError(f"{source} is neither a folder nor a zip file")
    into.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as archive:
        total = sum(info.file_size for info in archive.infolist())
        if total > MAX_UNZIPPED_BYTES:
            raise ValueError(f"{source} unpacks to {total / 1e9:.1f} GB, more than the 2 GB allowed")
        for info in archive.infolist():
            target = (into / info.filename).resolve()
            if not str(target).startswith(str(into.resolve()) + "/") or info.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    return into


def _name_match(text: str, notebook_ids: list[str]) -> str | None:
    for nb_id in notebook_ids:
        number, _, name = nb_id.partition("_")
        if re.search(rf"(?<![0-9]){number}[_ -]*{re.escape(name)}", text, re.I):
            return nb_id
    return None


def _content_match(path: Path, releases: dict[str, nbformat.NotebookNode]) -> str | None:
    """The released notebook sharing the most markdown cells with this file (a renamed submission)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return None
    sources = {c.source for c in nb.cells if c.get("cell_type") == "markdown"}
    scores = {nb_id: sum(c.source in sources for c in rel.cells if c.cell_type == "markdown")
              for nb_id, rel in releases.items()}
    best = max(scores, key=scores.get, default=None)
    return best if best and scores[best] > 0 else None


def collect(root: Path, releases: dict[str, nbformat.NotebookNode]) -> Collected:
    """Map every ``.ipynb`` under ``root`` to (student, notebook); list what cannot be mapped."""
    ids = sorted(releases)
    found: dict[tuple[str, str], Submission] = {}
    unmapped: list[tuple[str, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__MACOSX" not in p.parts):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .ipynb_checkpoints, .DS_Store and the like
        if path.name == TIMESTAMP:
            continue  # nbgrader's record of when it was submitted, read by submitted_at
        if path.suffix != ".ipynb":
            unmapped.append((str(rel), "not a .ipynb file"))
            continue
        if len(rel.parts) > 1:  # <student>/..., or nbgrader's inbound <student>+<assignment>+<timestamp>[+...]/
            student, _, rest = rel.parts[0].partition("+")
            inner = "/".join([rest, *rel.parts[1:]])
        else:
            student, _, inner = rel.stem.partition("_")
        if not STUDENT_ID.fullmatch(student):
            unmapped.append((str(rel), f"no usable student id in {student!r}"))
            continue
        nb_id = _name_match(inner, ids) or _content_match(path, releases)
        if nb_id is None:
            unmapped.append((str(rel), "cannot tell which notebook it is (name and content)"))
            continue
        sub = Submission(student, nb_id, path)
        previous = found.get((student, nb_id))
        if previous is not None:  # two files for one notebook: grade the newer, say so
            newer, older = sorted([previous, sub], key=lambda s: submitted_at(s.path), reverse=True)
            newer.notes.append(f"also submitted {older.path.relative_to(root)}; graded the newer file")
            sub = newer
        found[student, nb_id] = sub
    for sub in found.values():
        problem = invalid_reason(sub.path)
        if problem:
            sub.status = "invalid-notebook"
            sub.notes.append(problem)
    return Collected(sorted(found.values(), key=lambda s: (s.student, s.notebook)), unmapped)


def submitted_at(path: Path) -> float:
    """When a file was handed in: nbgrader's timestamp.txt beside it (its exchange and ``nbgrader
    collect`` write one), else the file's modification time."""
    stamp = path.parent / TIMESTAMP
    if stamp.is_file():
        try:
            return parse_utc(stamp.read_text().strip()).replace(tzinfo=timezone.utc).timestamp()
        except (ValueError, OverflowError):
            pass
    return path.stat().st_mtime


def invalid_reason(path: Path) -> str | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not valid JSON ({type(exc).__name__}): is this a notebook file?"
    if not isinstance(raw, dict) or "cells" not in raw:
        return "JSON, but not a Jupyter notebook (no cells)"
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        return f"not a valid Jupyter notebook: {str(exc).splitlines()[0][:200]}"
    return None


def grade_id_of(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _defined_function(source: str) -> str | None:
    match = re.search(r"^def (\w+)\(", source, re.M)
    return match.group(1) if match else None


def repair(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Make the submission gradable again, in place; return what was done (for the feedback).

    * graded cells keep the release's nbgrader metadata (points and ids cannot be edited);
    * a cell whose metadata was stripped gets it back: a solution cell is found by the function
      it defines, a test cell by its first line;
    * a deleted graded cell is re-added from the release (a deleted solution counts as blank).
    nbgrader's autograde then replaces every test cell's source with the instructor's version.
    """
    notes = []
    released = [c for c in release.cells if grade_id_of(c)]
    by_id = {grade_id_of(c): c for c in nb.cells if grade_id_of(c)}
    for ref in released:
        gid = grade_id_of(ref)
        cell = by_id.get(gid)
        if cell is None:
            cell = _find_stripped(nb, ref)
            if cell is not None:
                notes.append(f"restored the grading metadata of cell '{gid}'")
        if cell is None:
            cell = copy.deepcopy(ref)
            _insert_before_next(nb, cell, released)
            notes.append(f"re-added the deleted cell '{gid}'"
                         + (" (your answer was missing: graded as blank)" if ref.metadata.nbgrader.get("solution") else ""))
        if cell.metadata.get("nbgrader") != ref.metadata.nbgrader:
            cell.metadata["nbgrader"] = copy.deepcopy(ref.metadata.nbgrader)
        cell.cell_type = ref.cell_type
        by_id[gid] = cell
    return notes


def _find_stripped(nb, ref):
    meta = ref.metadata.nbgrader
    for cell in nb.cells:
        if grade_id_of(cell) or cell.get("cell_type") != "code":
            continue
        if meta.get("solution") and _defined_function(ref.source) and _defined_function(cell.source) == _defined_function(ref.source):
            return cell
        if not meta.get("solution") and cell.source.strip() and \
                cell.source.strip().splitlines()[0] == ref.source.strip().splitlines()[0]:
            return cell
    return None


def _insert_before_next(nb, cell, released):
    """Put a re-added cell before the first graded cell that follows it in the release (else at the end)."""
    ids = [grade_id_of(c) for c in released]
    later = set(ids[ids.index(grade_id_of(cell)) + 1:])
    position = next((i for i, c in enumerate(nb.cells) if grade_id_of(c) in later), len(nb.cells))
    nb.cells.insert(position, cell)
