"""Step 1 of the pipeline, collect: find each student's notebooks in a zip or a folder, read them
safely, and repair what nbgrader needs to grade them.

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

A folder of submissions may hold what a student put there: links are not followed, FIFOs and
devices not opened (``files``); such entries are listed as unmapped, with the reason.
Each file that is graded is read once, safely, and copied into the grader's own folder: every
later step reads that copy.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path

import nbformat
from nbgrader.utils import parse_utc

from autograder.cells import grade_id_of
from autograder.pipeline import statuses
from autograder.pipeline.files import MAX_NOTEBOOK_BYTES, UnsafeFile, read_bytes, walk
from autograder.pipeline.job import TwoFiles

MAX_UNZIPPED_BYTES = 2 * 1024**3
TIMESTAMP = "timestamp.txt"
# A student id: letters and digits of any script (ids are names in most of the world), then also
# '_', '.', '@' and '-'; no separator, control or format character (a folder of its own is named
# by it). Compared in Unicode's NFC form.
STUDENT_ID = re.compile(r"[^\W_][\w.@-]{0,63}")
# What the grader keeps of a submission (its own copy; every later step reads that): the outputs
# the student's kernel left are dropped (the grader runs the notebook again), and a cell's text
# or attachment past these is left out, and said so (status input-too-large).
MAX_CELL_SOURCE = 512 * 1024  # characters of one cell's text
MAX_ATTACHMENTS = 2 * 1024**2  # bytes of one markdown cell's attachments (images pasted into it)


@dataclass
class Submission:
    student: str
    notebook: str
    path: Path
    status: statuses.Status = statuses.GRADED  # or statuses.INVALID
    notes: list[str] = field(default_factory=list)
    cut: bool = False  # part of it was past the grader's limits and left out (notes say what)
    repaired: bool = False  # its grading metadata was repaired: cells restored, re-added or unclaimed (execute.py)
    submitted: float = 0.0  # when it was handed in (see submitted_at)
    original: str = ""  # its path in the submissions, for messages


@dataclass
class Collected:
    submissions: list[Submission]
    unmapped: list[tuple[str, str]]  # (path, reason)


def unpack(source: Path, into: Path) -> tuple[Path, list[tuple[str, str]]]:
    """A folder as it is, or a zip extracted safely (no paths outside ``into``, no zip bombs); and
    the zip's entries left out, with why (they go to unmapped.csv: the instructor sees them)."""
    skipped: list[tuple[str, str]] = []
    if source.is_dir():
        return source, skipped
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
            if info.is_dir():
                continue
            target = (into / info.filename).resolve()
            if not str(target).startswith(str(into.resolve()) + "/"):
                skipped.append((info.filename, "a zip entry whose path leads outside the zip's folder: not unpacked"))
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symbolic link, stored as one
                skipped.append((info.filename, "a symbolic link in the zip: not unpacked"))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    return into, skipped


def _name_match(text: str, notebook_ids: list[str]) -> str | None:
    for nb_id in notebook_ids:
        number, _, name = nb_id.partition("_")
        if re.search(rf"(?<![0-9]){number}[_ -]*{re.escape(name)}", text, re.I):
            return nb_id
    return None


def _content_match(nb: nbformat.NotebookNode | None, releases: dict[str, nbformat.NotebookNode]) -> str | None:
    """The released notebook sharing the most markdown cells with this one (a renamed submission)."""
    if nb is None:
        return None
    sources = {c.source for c in nb.cells if c.get("cell_type") == "markdown"}
    scores = {
        nb_id: sum(c.source in sources for c in rel.cells if c.cell_type == "markdown")
        for nb_id, rel in releases.items()
    }
    best = max(scores, key=lambda nb_id: scores[nb_id], default=None)
    return best if best and scores[best] > 0 else None


def collect(
    root: Path, releases: dict[str, nbformat.NotebookNode], copies: Path, two_files: TwoFiles = TwoFiles.NEWER
) -> Collected:
    """Map every ``.ipynb`` under ``root`` to (student, notebook); list what cannot be mapped.

    Each mapped file is read once (``files.read_bytes``) and written to ``copies``; the
    submissions returned point at those copies. Two different files for one notebook of a student:
    the newer is graded (``TwoFiles.NEWER``), or neither (``TwoFiles.REFUSE``: status
    ``invalid-notebook``, its message names both).
    """
    ids = sorted(releases)
    found: dict[tuple[str, str], Submission] = {}
    handed: dict[tuple[str, str], list[str]] = {}  # the different files of each (student, notebook)
    unmapped: list[tuple[str, str]] = []
    for path, problem in walk(root):
        rel = path.relative_to(root)
        if "__MACOSX" in rel.parts or any(part.startswith(".") for part in rel.parts):
            continue  # .ipynb_checkpoints, .DS_Store and the like
        if path.name == TIMESTAMP and problem is None:
            continue  # nbgrader's record of when it was submitted, read by submitted_at
        if problem:
            unmapped.append((str(rel), f"{problem}: not read"))
            continue
        if path.suffix != ".ipynb":
            unmapped.append((str(rel), "not a .ipynb file"))
            continue
        if len(rel.parts) > 1:  # <student>/..., or nbgrader's inbound <student>+<assignment>+<timestamp>[+...]/
            student, _, rest = rel.parts[0].partition("+")
            inner = "/".join([rest, *rel.parts[1:]])
        else:
            student, _, inner = rel.stem.partition("_")
        student = unicodedata.normalize("NFC", student)
        if not STUDENT_ID.fullmatch(student):
            unmapped.append((str(rel), f"no usable student id in {student!r}"))
            continue
        try:
            data, reason = read_bytes(path, MAX_NOTEBOOK_BYTES), None
        except UnsafeFile as exc:
            data, reason = b"", f"the file is {exc}"
        nb, invalid = parse_notebook(data) if reason is None else (None, reason)
        nb_id = _name_match(inner, ids) or _content_match(nb, releases)
        if nb_id is None:
            unmapped.append((str(rel), "cannot tell which notebook it is (name and content)"))
            continue
        copy = copies / f"{len(found):05d}-{student}" / f"{nb_id}.ipynb"
        copy.parent.mkdir(parents=True, exist_ok=True)
        notes = [invalid] if invalid else []
        cut = False
        if nb is not None:
            kept, cut = kept_of(nb)
            notes += kept
            data = nbformat.writes(nb).encode()  # the grader's copy: version 4, within the limits
        copy.write_bytes(data)
        sub = Submission(student, nb_id, copy, statuses.INVALID if invalid else statuses.GRADED, notes, cut)
        sub.submitted = submitted_at(path)
        sub.original = str(rel)
        previous = found.get((student, nb_id))
        if previous is not None and read_bytes(previous.path) == data:
            continue  # the same notebook twice: nothing to choose
        handed.setdefault((student, nb_id), []).append("/".join(rel.parts[1:]) or rel.name)  # as the student named it
        if previous is not None and two_files is TwoFiles.REFUSE:
            names = ", ".join(sorted(handed[student, nb_id]))
            sub.status = statuses.INVALID
            sub.notes = [
                f"different files for {nb_id}.ipynb ({names}), and no time tells which one to grade: "
                "hand in only that one"
            ]
        elif previous is not None:  # two files for one notebook: grade the newer, say so
            newer, older = sorted([previous, sub], key=lambda s: s.submitted, reverse=True)
            newer.notes.append(f"also submitted {older.original}; graded the newer file")
            sub = newer
        found[student, nb_id] = sub
    return Collected(sorted(found.values(), key=lambda s: (s.student, s.notebook)), unmapped)


def submitted_at(path: Path) -> float:
    """When a file was handed in: nbgrader's timestamp.txt beside it (its exchange and ``nbgrader
    collect`` write one), else the file's modification time."""
    try:
        stamp = read_bytes(path.parent / TIMESTAMP, limit=1024).decode("utf-8", "replace").strip()
        return parse_utc(stamp).replace(tzinfo=timezone.utc).timestamp()
    except (UnsafeFile, ValueError, OverflowError, TypeError):
        pass
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def parse_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str | None]:
    """(the notebook in nbformat 4, None), or (None, why it is not a valid notebook). A notebook of
    an older format (3, whose cells are in worksheets) is converted, as nbformat converts it; the
    notebook then carries the note in its metadata (``CONVERTED``)."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return None, f"not valid JSON ({type(exc).__name__}): is this a notebook file?"
    if not isinstance(raw, dict):
        return None, "JSON, but not a Jupyter notebook (no cells)"
    version = raw.get("nbformat")
    older = isinstance(version, int) and not isinstance(version, bool) and version < 4
    if "cells" not in raw and not (older and "worksheets" in raw):
        return None, "JSON, but not a Jupyter notebook (no cells)"
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        what = (
            f"a notebook of nbformat {version}, which could not be converted"
            if older
            else "not a valid Jupyter notebook"
        )
        return None, f"{what}: {str(exc).splitlines()[0][:200]}"
    if older:
        nb.metadata[CONVERTED] = version
    return nb, None


CONVERTED = "course_converted_from"  # a notebook's metadata: the nbformat version it was converted from


def kept_of(nb: nbformat.NotebookNode) -> tuple[list[str], bool]:
    """Keep of a submission what the grader reads, in place; what was changed, for the feedback,
    and whether any of the student's work was left out (the status input-too-large).

    The outputs and attachments of its cells are dropped past the limits (outputs always: the
    grader runs the notebook again), a cell's text past ``MAX_CELL_SOURCE`` is replaced by a note
    (an answer cut so is graded as it stands: blank)."""
    notes, cut = [], False
    version = nb.metadata.pop(CONVERTED, None)
    if version is not None:
        notes.append(f"converted from nbformat {version}, an older notebook format, without loss")
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "code":
            cell.outputs, cell.execution_count = [], None
        source = cell.get("source", "")
        if len(source) > MAX_CELL_SOURCE:
            cell.source = (
                f"# cell {index + 1}: its {len(source):,} characters are more than the grader reads "
                f"({MAX_CELL_SOURCE:,}); left out"
            )
            if cell.get("cell_type") == "markdown":
                cell.source = "<!--" + cell.source[1:] + " -->"
            notes.append(f"left out cell {index + 1}'s text: {len(source):,} characters, over {MAX_CELL_SOURCE:,}")
            cut = True
        attachments = cell.get("attachments") or {}
        size = len(json.dumps(attachments)) if attachments else 0
        if size > MAX_ATTACHMENTS:
            cell.pop("attachments")
            notes.append(
                f"left out cell {index + 1}'s attachments: {size / 1024**2:.1f} MB, over "
                f"{MAX_ATTACHMENTS / 1024**2:.0f} MB"
            )
            cut = True
    return notes, cut


def invalid_reason(path: Path) -> str | None:
    """Why the (grader's own copy of a) file is not a valid notebook, or None."""
    try:
        return parse_notebook(read_bytes(path))[1]
    except UnsafeFile as exc:
        return f"the file is {exc}"


def _defined_function(source: str) -> str | None:
    match = re.search(r"^def (\w+)\(", source, re.M)
    return match.group(1) if match else None


def repair(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Make the submission gradable again, in place; return what was done (for the feedback).

    * graded cells keep the release's nbgrader metadata (points and ids cannot be edited);
    * a cell whose metadata was stripped gets it back: a solution cell is found by the function
      it defines, a test cell by its first line;
    * a deleted graded cell is re-added from the release (a deleted solution counts as blank);
    * a cell that claims to be graded under an id the release does not have loses that claim, and
      so do all but one of the cells that claim the same id (the one most like the release's:
      its kind, answer or test; nbgrader refuses a notebook with an id twice).
    nbgrader's autograde then replaces every test cell's source with the instructor's version.
    """
    notes = []
    released = [c for c in release.cells if grade_id_of(c)]
    known = {grade_id_of(c): c for c in released}
    claims: dict[str, list] = {}
    for cell in nb.cells:
        if not cell.get("metadata", {}).get("nbgrader"):
            continue
        if grade_id_of(cell) not in known:
            notes.append(f"removed the grading metadata of a cell that is not graded ({str(grade_id_of(cell))[:40]!r})")
            cell.metadata.pop("nbgrader")
        else:
            claims.setdefault(str(grade_id_of(cell)), []).append(cell)
    for gid, cells in claims.items():
        ref = known[gid]
        alike = [c for c in cells if c.get("cell_type") == ref.cell_type and _same_role(c, ref)]
        own = [c for c in alike if _find_stripped(nbformat.v4.new_notebook(cells=[_unclaimed(c)]), ref)]
        keep = (own or alike or cells)[0]
        for cell in cells:
            if cell is not keep:
                notes.append(f"removed the grading metadata of a cell that claimed '{gid}', which another cell holds")
                cell.metadata.pop("nbgrader")
    by_id = {grade_id_of(c): c for c in nb.cells if grade_id_of(c)}
    for ref in released:
        gid = str(grade_id_of(ref))  # released: every one has an id
        cell = by_id.get(gid)
        if cell is None:
            cell = _find_stripped(nb, ref)
            if cell is not None:
                notes.append(f"restored the grading metadata of cell '{gid}'")
        if cell is None:
            cell = copy.deepcopy(ref)
            _insert_before_next(nb, cell, released)
            notes.append(
                f"re-added the deleted cell '{gid}'"
                + (" (your answer was missing: graded as blank)" if ref.metadata.nbgrader.get("solution") else "")
            )
        if cell.metadata.get("nbgrader") != ref.metadata.nbgrader:
            cell.metadata["nbgrader"] = copy.deepcopy(ref.metadata.nbgrader)
        cell.cell_type = ref.cell_type
        by_id[gid] = cell
    return notes


def _unclaimed(cell):
    """A copy of ``cell`` without its grading metadata (to ask ``_find_stripped`` whether it is ref's)."""
    bare = copy.deepcopy(cell)
    bare.metadata.pop("nbgrader", None)
    return bare


def _same_role(cell, ref) -> bool:
    """An answer where the release has an answer, a test where it has a test."""
    mine, theirs = cell.metadata.get("nbgrader", {}), ref.metadata.get("nbgrader", {})
    return bool(mine.get("solution")) == bool(theirs.get("solution")) and bool(mine.get("grade")) == bool(
        theirs.get("grade")
    )


def _find_stripped(nb, ref):
    meta = ref.metadata.nbgrader
    for cell in nb.cells:
        if grade_id_of(cell) or cell.get("cell_type") != "code":
            continue
        if (
            meta.get("solution")
            and _defined_function(ref.source)
            and _defined_function(cell.source) == _defined_function(ref.source)
        ):
            return cell
        if (
            not meta.get("solution")
            and cell.source.strip()
            and cell.source.strip().splitlines()[0] == ref.source.strip().splitlines()[0]
        ):
            return cell
    return None


def _insert_before_next(nb, cell, released):
    """Put a re-added cell before the first graded cell that follows it in the release (else at the end)."""
    ids = [grade_id_of(c) for c in released]
    later = set(ids[ids.index(grade_id_of(cell)) + 1 :])
    position = next((i for i, c in enumerate(nb.cells) if grade_id_of(c) in later), len(nb.cells))
    nb.cells.insert(position, cell)
