"""The instructor's class report and the grades for the LMS, made from a results folder.

    python -m autograder.pipeline.class_report RESULTS [--roster roster.csv]

Every class run (``python -m autograder.pipeline``) and every merge of shards writes them; this
command writes them again (with another roster, say). What it reads is what the run left in
RESULTS: ``grades.csv`` (every count comes from it), ``details/<student>.json`` (how each graded cell
scored, the check that failed first and what it told the student, the flags, the time),
``unmapped.csv`` and ``run.json``. What it writes:

* ``report.html``: one self-contained page (plots embedded, nothing fetched): the run; the points per
  notebook and exercise; the class's mistakes (per exercise, the hidden checks that failed first,
  with the share of the class, the message the students got and links to their feedback pages; the
  visible checks that passed where hidden ones failed); the students who need a human; the cost.
* ``canvas.csv``: Canvas's gradebook import (Grades > Import): its columns ``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section``, a column of points per notebook, and the row
  ``Points Possible`` under the header.
* ``moodle/<notebook>.csv``: Moodle's grade import (Grade administration > Import > CSV file), a file
  per notebook: ``First name``, ``Last name``, ``ID number``, ``Email address`` and the notebook's
  points, for the students graded on it only (Moodle clears a grade for a blank cell); map the
  student by email address or ID number.

The roster (optional) is a CSV with a header: ``student`` (the id the submissions use) and any of
``name``, ``email``, ``lms_id`` (Canvas's ID, Moodle's ID number), ``sis_user_id``, ``sis_login_id``,
``section`` (any case; other columns ignored; an id twice is refused). With a roster the LMS files
hold its students only: one with no submission has blank cells in canvas.csv and is listed in the
report; a student graded but not in the roster is in no LMS file (their id could be someone else's
account) and is listed in the report. Without a roster the ids are exported as they are (as Canvas's
SIS Login ID and Moodle's ID number). Every cell written is safe from spreadsheet formulas.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import shutil
import statistics
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from autograder.cells import exercise_of, is_hidden_check
from autograder.pipeline import statuses
from autograder.pipeline.files import write_atomic
from autograder.pipeline.report import (
    DETAILS,
    GRADES_FIXED,
    max_points,
    read_details_file,
    read_rows,
    read_runs,
    read_unmapped,
)
from autograder.pipeline.spreadsheets import original, write_table

REPORT = "report.html"
CANVAS = "canvas.csv"
MOODLE = "moodle"  # a folder: one file per notebook
CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "Points Possible"
MOODLE_FIXED = ["First name", "Last name", "ID number", "Email address"]
ROSTER_COLUMNS = ("student", "name", "email", "lms_id", "sis_user_id", "sis_login_id", "section")

MISTAKES_SHOWN = 6  # hidden checks listed per exercise, the most frequent first
LINKS_SHOWN = 5  # feedback pages linked per mistake
# "Far below the class on one exercise only": at most LOST of that exercise's points where the
# class's median is at least CLASS_HAS, and at least the median on every other exercise. A typical
# mistake keeps its visible check's points; nothing at all on one exercise of a student who did the
# rest well is a lost cell, a wrong file, or the grader: a human looks.
LOST, CLASS_HAS = 0.1, 0.6


@dataclass
class Grade:
    """One row of grades.csv, with its details (empty where the run left none)."""

    student: str
    notebook: str
    status: str
    total: float
    max_total: float
    exercises: dict[str, float]
    message: str
    details: dict = field(default_factory=dict)

    @property
    def max_exercises(self) -> dict[str, float]:
        return {ex: float(v) for ex, v in self.details.get("max_exercises", {}).items()}


@dataclass
class ClassResults:
    grades: list[Grade]
    unmapped: list[tuple[str, str]]
    runs: list[dict]
    roster: dict[str, dict[str, str]] | None = None

    @property
    def notebooks(self) -> list[str]:
        return sorted({g.notebook for g in self.grades})

    @property
    def students(self) -> list[str]:
        return sorted({g.student for g in self.grades})

    def __post_init__(self) -> None:
        self._of: dict[str, list[Grade]] = {}
        for g in self.grades:
            self._of.setdefault(g.notebook, []).append(g)
        self._maxima: dict[str, dict[str, float]] = {}

    def of(self, notebook: str) -> list[Grade]:
        return self._of.get(notebook, [])

    def maxima(self, notebook: str) -> dict[str, float]:
        """Each exercise's points: from the details; else from the solutions (``max_points``); else
        the column's best seen. Worked out once per notebook."""
        if notebook not in self._maxima:
            found: dict[str, float] = {}
            for g in self.of(notebook):
                found.update(g.max_exercises)
            if not found:
                try:
                    for gid, points in max_points(notebook).items():
                        found[exercise_of(gid)] = found.get(exercise_of(gid), 0.0) + points
                except (OSError, ValueError):  # not this course's notebook, or no solutions here
                    found = {
                        ex: max(g.exercises.get(ex, 0.0) for g in self.of(notebook)) for ex in self.exercises(notebook)
                    }
            self._maxima[notebook] = found
        return self._maxima[notebook]

    def points_possible(self, notebook: str) -> float:
        """A notebook's points, as grades.csv says (its rows' ``max_total``)."""
        return max((g.max_total for g in self.of(notebook)), default=0.0)

    def exercises(self, notebook: str) -> list[str]:
        return sorted({ex for g in self.of(notebook) for ex in g.exercises})


def _number(text: str) -> float:
    """A number of grades.csv (0 where a cell is empty or not a number)."""
    return _float(text) or 0.0


def read_results(out: Path, roster: Path | None = None) -> ClassResults:
    """What a results folder holds, for the report: grades.csv's rows and their details."""
    grades = []
    details: dict[str, dict] = {}
    for (written, notebook), row in sorted(read_rows(out).items()):
        student = original(written)  # grades.csv holds it spreadsheet-safe; details/ by its own name
        if student not in details:
            details[student] = read_details_file(out / DETAILS / f"{student}.json")
        exercises = {k: _number(v) for k, v in row.items() if k not in GRADES_FIXED + ["message"] and v != ""}
        grades.append(
            Grade(
                student,
                notebook,
                row["status"],
                _number(row["total"]),
                _number(row["max_total"]),
                exercises,
                row.get("message", ""),
                checked(details[student].get(notebook)),
            )
        )
    return ClassResults(grades, read_unmapped(out), read_runs(out), read_roster(roster) if roster else None)


def _float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]  # whatever the file held: checked here
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def checked(record: object) -> dict:
    """A notebook's details as the report reads them, whatever the file held: the fields of the right
    types kept, anything else dropped (a hand-edited or truncated file costs its own lines only)."""
    if not isinstance(record, dict):
        return {}
    out: dict = {key: bool(record.get(key)) for key in ("repaired", "input_cut", "out_of_memory")}
    seconds = _float(record.get("seconds"))
    if seconds is not None:
        out["seconds"] = seconds
    maxima = record.get("max_exercises")
    if isinstance(maxima, dict):
        out["max_exercises"] = {str(k): v for k, v in ((k, _float(v)) for k, v in maxima.items()) if v is not None}
    cells = record.get("cells")
    out["cells"] = {}
    for gid, cell in cells.items() if isinstance(cells, dict) else []:
        if not isinstance(cell, dict):
            continue
        points, most = _float(cell.get("points")), _float(cell.get("max_points"))
        if points is None or most is None:
            continue
        out["cells"][str(gid)] = {
            "points": points,
            "max_points": most,
            "failed": str(cell.get("failed") or ""),
            "said": str(cell.get("said") or ""),
        }
    return out


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """The roster's rows by student id (the submissions' id), each with every roster column ('' if absent)."""
    with path.open(newline="", encoding="utf-8-sig") as f:  # a spreadsheet's export may start with a BOM
        rows = list(csv.reader(f))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "student" not in header:
        raise ValueError(f"{path}: a roster needs a header with a 'student' column (and any of {ROSTER_COLUMNS[1:]})")
    column = {name: header.index(name) for name in ROSTER_COLUMNS if name in header}
    roster: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        entry = {c: row[i].strip() if i < len(row) else "" for c, i in column.items()}
        student = unicodedata.normalize("NFC", entry["student"])  # as the submissions' ids are (collect.py)
        if not student:
            continue
        if student in roster:
            raise ValueError(f"{path}, line {number}: the student {student!r} is in the roster twice")
        roster[student] = {c: entry.get(c, "") for c in ROSTER_COLUMNS} | {"student": student}
    return roster


# --------------------------------------------------------------------------- the LMS exports
def lms_rows(results: ClassResults) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(student, roster entry, points per notebook as text; '' where nothing was handed in). With a
    roster: its students, in its order, and no one else (a graded id that is not in it could name
    another student's LMS account: the report lists them); without one: every student graded."""
    points = {(g.student, g.notebook): f"{g.total:g}" for g in results.grades}
    entries = results.roster if results.roster is not None else {s: {"student": s} for s in results.students}
    return [(s, who, {nb: points.get((s, nb), "") for nb in results.notebooks}) for s, who in entries.items()]


def write_exports(results: ClassResults, out: Path) -> None:
    """``canvas.csv`` (every notebook a column; a student in the roster with no notebook handed in
    has blank cells: Canvas's import preview lists every change before it saves) and
    ``moodle/<notebook>.csv`` (a file per notebook, and only the students it has a grade for: Moodle's
    import clears a grade for a blank cell)."""
    notebooks = results.notebooks
    rows = lms_rows(results)
    rostered = results.roster is not None
    canvas = [[CANVAS_POINTS_ROW, "", "", "", "", *(f"{results.points_possible(nb):g}" for nb in notebooks)]]
    for student, who, points in rows:
        canvas.append(
            [
                who.get("name") or student,
                who.get("lms_id", ""),
                who.get("sis_user_id", ""),
                who.get("sis_login_id", "") if rostered else student,
                who.get("section", ""),
                *(points[nb] for nb in notebooks),
            ]
        )
    write_table(out / CANVAS, [*CANVAS_FIXED, *notebooks], canvas)
    shutil.rmtree(out / MOODLE, ignore_errors=True)  # a notebook graded before and not now leaves no file
    for nb in notebooks:
        moodle = []
        for student, who, points in rows:
            if points[nb] == "":
                continue
            first, _, last = (who.get("name") or student).rpartition(" ")
            moodle.append(
                [
                    first or last,
                    last if first else "",
                    who.get("lms_id", "") if rostered else student,
                    who.get("email", ""),
                    points[nb],
                ]
            )
        write_table(out / MOODLE / f"{nb}.csv", [*MOODLE_FIXED, nb], moodle)


# --------------------------------------------------------------------------- what the report shows
@dataclass
class Mistake:
    notebook: str
    exercise: str
    check: str
    students: list[str]
    said: str  # what the check told the first of them

    def share(self, results: ClassResults) -> float:
        return len(self.students) / max(len(results.of(self.notebook)), 1)


def mistakes(results: ClassResults) -> list[Mistake]:
    """Per notebook and exercise, the hidden checks that failed first, the most frequent first."""
    found: dict[tuple[str, str, str], Mistake] = {}
    for g in results.grades:
        for gid, cell in sorted(g.details.get("cells", {}).items()):
            if is_hidden_check(gid) and cell.get("failed"):
                key = (g.notebook, exercise_of(gid), cell["failed"])
                mistake = found.setdefault(key, Mistake(*key, [], cell.get("said", "")))
                mistake.students.append(g.student)
    return sorted(found.values(), key=lambda m: (m.notebook, m.exercise, -len(m.students), m.check))


def misled(results: ClassResults) -> dict[tuple[str, str], list[str]]:
    """(notebook, exercise) -> the students whose visible checks of it all passed while a hidden one failed."""
    found: dict[tuple[str, str], list[str]] = {}
    for g in results.grades:
        by_exercise: dict[str, list[tuple[str, dict]]] = {}
        for gid, cell in g.details.get("cells", {}).items():
            by_exercise.setdefault(exercise_of(gid), []).append((gid, cell))
        for exercise, cells in sorted(by_exercise.items()):
            visible = [c for gid, c in cells if not is_hidden_check(gid)]
            hidden = [c for gid, c in cells if is_hidden_check(gid)]
            if (
                visible
                and all(c["points"] >= c["max_points"] for c in visible)
                and any(c["points"] < c["max_points"] for c in hidden)
            ):
                found.setdefault((g.notebook, exercise), []).append(g.student)
    return found


def needs_a_human(results: ClassResults) -> list[tuple[Grade, list[str]]]:
    """The notebooks to look at, each with why: not graded as it should, repaired, cut, killed for
    memory, or one exercise far below the class while the others are not."""
    medians = {
        (nb, ex): statistics.median(_share(g, ex, results.maxima(nb)) for g in results.of(nb))
        for nb in results.notebooks
        for ex in results.exercises(nb)
    }
    flagged = []
    for g in results.grades:
        why = []
        if g.status != statuses.GRADED:
            why.append(f"status {g.status}")
        if g.details.get("repaired"):
            why.append("grading cells repaired (restored, re-added or unclaimed)")
        if g.details.get("input_cut"):
            why.append("part of the notebook left out (over the grader's limits)")
        if g.details.get("out_of_memory"):
            why.append("the grading machine ran out of memory")
        if g.status == statuses.GRADED:
            maxima = results.maxima(g.notebook)
            low = [ex for ex in g.exercises if _share(g, ex, maxima) <= LOST and medians[g.notebook, ex] >= CLASS_HAS]
            rest = [ex for ex in g.exercises if ex not in low]
            well = [ex for ex in rest if _share(g, ex, maxima) >= max(medians[g.notebook, ex], CLASS_HAS)]
            if len(low) == 1 and rest and well == rest:
                why.append(f"nothing on {low[0]}, where the class scored well, and well on the rest")
        if why:
            flagged.append((g, why))
    return flagged


def _share(g: Grade, exercise: str, maxima: dict[str, float]) -> float:
    most = maxima.get(exercise, 0.0)
    return g.exercises.get(exercise, 0.0) / most if most else 1.0


# --------------------------------------------------------------------------- the page
def _e(value: object) -> str:
    return html.escape(str(value))


def _names(students: list[str]) -> str:
    return ", ".join(f"<bdi>{_e(s)}</bdi>" for s in students) or "none"


def feedback_link(student: str, notebook: str) -> str:
    href = f"feedback/{quote(student, safe='')}/{quote(notebook, safe='')}.html"
    return f'<a href="{_e(href)}"><bdi>{_e(student)}</bdi></a>'


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def points_plot(results: ClassResults, notebook: str) -> str:
    """One figure per notebook: a histogram of the points of each exercise, and of the total."""
    import matplotlib  # lazy: only the report draws, and the grader's processes stay small

    matplotlib.use("Agg")  # no display: a file
    from matplotlib import pyplot as plt  # lazy: after the backend is chosen
    from matplotlib.ticker import MaxNLocator  # lazy: as above

    exercises = results.exercises(notebook)
    maxima = results.maxima(notebook)
    grades = results.of(notebook)
    panels = [*exercises, "total"]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.0), squeeze=False)
    for ax, name in zip(axes[0], panels):
        values = [g.total for g in grades] if name == "total" else [g.exercises.get(name, 0.0) for g in grades]
        most = sum(maxima.values()) if name == "total" else maxima.get(name, 0.0)
        ax.hist(values, bins=10, range=(0, most or 1), color="#4c72b0" if name != "total" else "#55a868")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(f"points (of {most:g})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # students are counted whole
    axes[0][0].set_ylabel("students", fontsize=8)
    image = _png(fig)
    plt.close(fig)
    return image


def _table(header: list[str], rows: list[list[str]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (cells made here, already escaped)."""
    cell = (lambda v: str(v)) if raw else _e
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; }
.warn { background: #fff3cd; padding: 0.6em; font-weight: bold; }
.said { color: #555; font-size: 0.9em; max-width: 40em; } .muted { color: #777; }
img { max-width: 100%; }
"""


SECTIONS = [
    ("run", "The run"),
    ("points", "Points per notebook and exercise"),
    ("mistakes", "The class's mistakes"),
    ("humans", "Students who need a human"),
    ("cost", "The grading's cost"),
]


def _h2(anchor: str) -> str:
    return f'<h2 id="{anchor}">{dict(SECTIONS)[anchor]}</h2>'


def render(results: ClassResults, missing: list[int] | None = None) -> str:
    parts = [
        f"<h1>Class report</h1><p class='muted'>{len(results.students)} students, {len(results.notebooks)} "
        f"notebooks; written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from grades.csv and details/.</p>",
        "<p>" + " · ".join(f'<a href="#{anchor}">{title}</a>' for anchor, title in SECTIONS) + "</p>",
    ]
    if missing:
        parts.append(
            f"<p class='warn'>INCOMPLETE: shard(s) {', '.join(map(str, missing))} missing (the merge's log says "
            "which command grades them again); this report is of the others, and no LMS file was written.</p>"
        )
    parts += _run_section(results)
    parts += _points_section(results)
    parts += _mistakes_section(results)
    parts += _humans_section(results)
    parts += _cost_section(results)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Class report</title>'
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def _run_section(results: ClassResults) -> list[str]:
    counts = Counter((g.notebook, g.status) for g in results.grades)
    rows = [[nb, *(str(counts[nb, s]) for s in statuses.ALL), str(len(results.of(nb)))] for nb in results.notebooks]
    rows.append(
        ["all", *(str(sum(counts[nb, s] for nb in results.notebooks)) for s in statuses.ALL), str(len(results.grades))]
    )
    runs = [
        [
            r.get("shard") or "whole class",
            r.get("started", ""),
            f"{(_float(r.get('seconds')) or 0.0) / 60:.1f}",
            r.get("sandbox", ""),
            str(r.get("workers", "")),
            str(r.get("students", "")),
        ]
        for r in results.runs
    ]
    out = [_h2("run"), _table(["notebook", *statuses.ALL, "notebooks"], rows)]
    out.append(
        _table(["shard", "started (UTC)", "minutes", "sandbox", "workers", "students"], runs)
        if runs
        else "<p>No run.json: how the run went is not known.</p>"
    )
    if results.unmapped:
        shown = [[p, why] for p, why in results.unmapped[:20]]
        more = " (the first 20; all in unmapped.csv)" if len(results.unmapped) > 20 else " (unmapped.csv)"
        out.append(f"<p>{len(results.unmapped)} file(s) matched no student and notebook{more}:</p>")
        out.append(_table(["file", "why"], shown))
    else:
        out.append("<p>Every file matched a student and a notebook.</p>")
    return out


def _points_section(results: ClassResults) -> list[str]:
    out = [_h2("points")]
    for nb in results.notebooks:
        grades = results.of(nb)
        maxima = results.maxima(nb)
        rows = []
        for ex in [*results.exercises(nb), "total"]:
            values = [g.total for g in grades] if ex == "total" else [g.exercises.get(ex, 0.0) for g in grades]
            most = sum(maxima.values()) if ex == "total" else maxima.get(ex, 0.0)
            rows.append(
                [
                    ex,
                    f"{most:g}",
                    f"{statistics.mean(values):.2f}",
                    f"{statistics.median(values):g}",
                    str(sum(v >= most for v in values)),
                    str(sum(v == 0 for v in values)),
                ]
            )
        out.append(f"<h3>{_e(nb)} ({len(grades)} students)</h3>")
        out.append(f'<img alt="points of {_e(nb)}" src="{points_plot(results, nb)}">')
        out.append(_table(["exercise", "points", "mean", "median", "full marks", "zero"], rows))
    return out


def _mistakes_section(results: ClassResults) -> list[str]:
    out = [
        _h2("mistakes") + "<p>Per exercise, the hidden checks that failed first (a student counts "
        "once per exercise cell), with the message the first of them got; the links open their feedback pages.</p>"
    ]
    found = mistakes(results)
    if not found:
        out.append("<p>No hidden check failed.</p>")
    for nb in results.notebooks:
        for ex in results.exercises(nb):
            own = [m for m in found if m.notebook == nb and m.exercise == ex]
            if not own:
                continue
            rows = [
                [
                    _e(m.check),
                    f"{len(m.students)} ({m.share(results):.0%})",
                    f"<span class='said'>{_e(m.said)}</span>",
                    ", ".join(feedback_link(s, nb) for s in m.students[:LINKS_SHOWN])
                    + (" ..." if len(m.students) > LINKS_SHOWN else ""),
                ]
                for m in own[:MISTAKES_SHOWN]
            ]
            out.append(f"<h3>{_e(nb)}: {_e(ex)}</h3>")
            out.append(
                _table(["hidden check that failed", "students", "what they were told", "feedback"], rows, raw=True)
            )
    out.append("<h3>Visible checks passed, hidden checks failed</h3>")
    misleading = misled(results)
    if misleading:
        rows = [
            [
                _e(nb),
                _e(ex),
                str(len(students)),
                ", ".join(feedback_link(s, nb) for s in students[:LINKS_SHOWN])
                + (" ..." if len(students) > LINKS_SHOWN else ""),
            ]
            for (nb, ex), students in sorted(misleading.items(), key=lambda kv: -len(kv[1]))
        ]
        out.append(
            "<p>Where the notebook's own checks told students they were done while the grader found a "
            "mistake: the visible checks may need another case.</p>"
        )
        out.append(_table(["notebook", "exercise", "students", "feedback"], rows, raw=True))
    else:
        out.append("<p>None: every student whose hidden checks failed also failed a visible one.</p>")
    return out


def _humans_section(results: ClassResults) -> list[str]:
    out = [_h2("humans")]
    flagged = needs_a_human(results)
    rows = [
        [feedback_link(g.student, g.notebook), _e(g.notebook), _e("; ".join(why)), _e(g.message[:300])]
        for g, why in flagged
    ]
    out.append(_table(["student", "notebook", "why", "message"], rows, raw=True) if rows else "<p>None.</p>")
    if results.unmapped:
        out.append(f"<p>And the {len(results.unmapped)} unmapped file(s) above: a student may have misnamed one.</p>")
    if results.roster is not None:
        missing = sorted(set(results.roster) - set(results.students))
        extra = sorted(set(results.students) - set(results.roster))
        out.append(
            f"<p>In the roster, no submission ({len(missing)}; blank in canvas.csv, absent from moodle/): "
            f"{_names(missing)}.</p>"
        )
        out.append(
            f"<p>Graded, not in the roster ({len(extra)}; in no LMS file, since their id could be another's "
            f"account: add them to the roster, or correct their folder's name, and make the report again): "
            f"{_names(extra)}.</p>"
        )
    return out


def _cost_section(results: ClassResults) -> list[str]:
    timed = [g for g in results.grades if g.details.get("seconds")]
    out = [
        _h2("cost") + "<p>Seconds per notebook: its scoring, and an even share of its student's "
        "nbgrader run, feedback and process starts.</p>"
    ]
    if not timed:
        return [*out, "<p>No timings in details/.</p>"]
    rows = []
    for nb in results.notebooks:
        seconds = [float(g.details["seconds"]) for g in timed if g.notebook == nb]
        if seconds:
            rows.append(
                [
                    nb,
                    str(len(seconds)),
                    f"{statistics.mean(seconds):.1f}",
                    f"{statistics.median(seconds):.1f}",
                    f"{max(seconds):.1f}",
                ]
            )
    out.append(_table(["notebook", "notebooks timed", "mean", "median", "max"], rows))
    slowest = sorted(timed, key=lambda g: -float(g.details["seconds"]))[:5]
    out.append("<p>The slowest:</p>")
    out.append(
        _table(
            ["student", "notebook", "seconds", "status"],
            [
                [
                    feedback_link(g.student, g.notebook),
                    _e(g.notebook),
                    f"{float(g.details['seconds']):.1f}",
                    _e(g.status),
                ]
                for g in slowest
            ],
            raw=True,
        )
    )
    return out


def write_class_report(out: Path, roster: Path | None = None, missing: list[int] | None = None) -> Path:
    """``report.html``, ``canvas.csv`` and ``moodle/`` in ``out``, from what ``out`` holds.
    ``missing``: the shards a merge did not find: the report says so, and no LMS file is written
    (their students would be missing from it)."""
    results = read_results(out, roster)
    if missing:
        for path in (out / CANVAS, out / MOODLE):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    else:
        write_exports(results, out)
    write_atomic(out / REPORT, render(results, missing or []))
    return out / REPORT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="a results folder (its grades.csv, details/, run.json)")
    parser.add_argument("--roster", type=Path, help="a CSV: student, and any of name, email, lms_id, section, ...")
    args = parser.parse_args(argv)
    if not (args.results / "grades.csv").exists():
        parser.error(f"{args.results} has no grades.csv: is it a results folder?")
    try:
        page = write_class_report(args.results, args.roster)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    print(f"wrote {page}, {args.results / CANVAS} and {args.results / MOODLE}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
