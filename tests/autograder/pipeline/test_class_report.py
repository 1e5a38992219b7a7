"""The class report and the LMS files, from a results folder written as a run writes it (grades.csv
through ``write_csv``, details through ``write_details``): counts, mistakes, the students who need a
human, the exports read back with the csv module, and a merge of shards giving the same report."""

import csv
import re

import pytest

from autograder.pipeline import statuses
from autograder.pipeline.class_report import (
    CANVAS,
    CANVAS_FIXED,
    CANVAS_POINTS_ROW,
    MOODLE,
    MOODLE_FIXED,
    REPORT,
    misled,
    mistakes,
    needs_a_human,
    read_results,
    write_class_report,
)
from autograder.pipeline.report import NotebookGrade, write_csv, write_details, write_run
from autograder.pipeline.scoring import CellScore
from autograder.pipeline.shards import in_shard, merge

NB = "01_policy_gradient"
NB2 = "04_gae"
MAXIMA = {"returns_visible": 1.0, "returns_hidden": 4.0, "loss_visible": 1.0, "loss_hidden": 4.0}
MAXIMA2 = {"gae_visible": 1.0, "gae_hidden": 4.0}


def grade(student, notebook=NB, failed=None, visible_ok=True, status=statuses.GRADED, zero=(), **flags):
    """A notebook's grade: ``failed`` maps a hidden cell to the check that failed first in it;
    the cells of the exercises in ``zero`` score nothing."""
    maxima = MAXIMA if notebook == NB else MAXIMA2
    failed = failed or {}
    cells = {}
    for gid, most in maxima.items():
        if gid.endswith("_hidden"):
            check = failed.get(gid, "")
            cells[gid] = CellScore(
                most / 4 if check else most, most, failed=check, said=f"{check}: got 3, want 2" if check else ""
            )
        else:
            cells[gid] = CellScore(most if visible_ok else 0.0, most, failed="" if visible_ok else "AssertionError")
    for gid, cell in cells.items():
        if gid.rsplit("_", 1)[0] in zero:
            cell.points, cell.failed = 0.0, cell.failed or "AssertionError"
    if status == statuses.INVALID:
        cells = {}
    g = NotebookGrade.from_cells(student, notebook, {k: c.points for k, c in cells.items()}, maxima, status, "why")
    g.scored, g.seconds = cells, 10.0 + len(student)
    for key, value in flags.items():
        setattr(g, key, value)
    return g


def klass():
    """A class of 12 on notebook 1 (and 4 of them on notebook 4): 4 do not normalise, 2 forget the
    done mask, one has both mistakes, one is repaired, one hands in an invalid file, one scores
    nothing on the loss and full marks on the returns."""
    grades = []
    for k in range(12):
        name = f"s{k:02d}"
        failed = {}
        if k < 4:
            failed["returns_hidden"] = "returns are not normalised"
        if k in (4, 5, 3):
            failed["loss_hidden"] = "the done mask is missing"
        status = statuses.INVALID if k == 11 else statuses.GRADED
        grades.append(grade(name, failed=failed, status=status, repaired=k == 10, zero=("loss",) if k == 9 else ()))
    for k in range(4):
        grades.append(
            grade(f"s{k:02d}", NB2, failed={"gae_hidden": "no done mask"} if k == 0 else {}, visible_ok=k != 0)
        )
    grades.append(grade('=HYPERLINK("x")', failed={"returns_hidden": "returns are not normalised"}))
    return grades


def write_folder(folder, grades, unmapped=(("stray.txt", "not a notebook"),), shard=None):
    write_csv(grades, list(unmapped), folder)
    write_details(grades, folder)
    write_run(folder, 0.0, "namespaces", 2, shard, len({g.student for g in grades}))


@pytest.fixture
def results(tmp_path):
    write_folder(tmp_path, klass())
    return tmp_path


def test_counts_and_mistakes_follow_the_class(results):
    found = read_results(results)
    assert len(found.grades) == 17 and len(found.students) == 13
    by_check = {(m.notebook, m.exercise, m.check): m for m in mistakes(found)}
    normalised = by_check[NB, "returns", "returns are not normalised"]
    assert len(normalised.students) == 5 and normalised.share(found) == pytest.approx(5 / 13, abs=1e-9)
    assert "got 3, want 2" in normalised.said
    assert sorted(by_check[NB, "loss", "the done mask is missing"].students) == ["s03", "s04", "s05"]
    assert by_check[NB2, "gae", "no done mask"].students == ["s00"]
    # the visible checks of s00's gae failed too: not misled; notebook 1's visible checks all passed
    assert misled(found) == {
        (NB, "returns"): sorted(["s00", "s01", "s02", "s03", '=HYPERLINK("x")']),
        (NB, "loss"): ["s03", "s04", "s05"],
    }


def test_the_students_who_need_a_human(results):
    flagged = {(g.student, g.notebook): why for g, why in needs_a_human(read_results(results))}
    assert flagged["s11", NB] == [f"status {statuses.INVALID}"]
    assert any("repaired" in why for why in flagged["s10", NB])
    # nothing on one exercise, well on the rest: s09; a typical mistake (s03, s04) keeps some points
    assert flagged["s09", NB] == ["nothing on loss, where the class scored well, and well on the rest"]
    assert set(flagged) == {("s09", NB), ("s10", NB), ("s11", NB)}


def test_a_blank_notebook_is_not_one_exercise_far_below_the_class(tmp_path):
    """Where the class scored nothing on the returns, a blank copy's zero on the loss is not "one
    exercise far below the class, the rest done well"."""
    grades = [grade(s, zero=("returns",)) for s in ("a", "b")] + [grade("blank", zero=("returns", "loss"))]
    write_folder(tmp_path, grades)
    assert needs_a_human(read_results(tmp_path)) == []


def test_the_page_escapes_names_and_links_feedback(results):
    write_class_report(results)
    page = (results / REPORT).read_text()
    assert '<h2 id="mistakes">The class\'s mistakes</h2>' in page and "returns are not normalised" in page
    assert 'href="feedback/s00/01_policy_gradient.html"' in page
    assert '=HYPERLINK("x")' not in page and "=HYPERLINK(&quot;x&quot;)" in page
    assert 'href="feedback/%3DHYPERLINK%28%22x%22%29/01_policy_gradient.html"' in page
    assert page.count("data:image/png;base64,") == 2  # one figure per notebook, embedded
    assert "http://" not in page and "https://" not in page and "<script" not in page


def read_csv(path):
    with path.open(newline="") as f:
        return list(csv.reader(f))


def test_lms_files_read_back_in_their_documented_columns_without_a_roster(results):
    write_class_report(results)
    canvas = read_csv(results / CANVAS)
    assert canvas[0] == [*CANVAS_FIXED, NB, NB2]
    assert canvas[1] == [CANVAS_POINTS_ROW, "", "", "", "", "10", "5"]
    rows = {r[3]: r for r in canvas[2:]}  # without a roster: the id as the SIS Login ID
    assert rows["s00"][5:] == ["7", "1"] and rows["s06"][5:] == ["10", ""]
    assert '\'=HYPERLINK("x")' in rows  # a formula is written as text
    moodle = read_csv(results / MOODLE / f"{NB}.csv")  # a file per notebook: no blank cell (Moodle clears on one)
    assert moodle[0] == [*MOODLE_FIXED, NB] and len(moodle) == 1 + 13
    assert [r[2:] for r in read_csv(results / MOODLE / f"{NB2}.csv")[1:]] == [
        [s, "", p] for s, p in (("s00", "1"), ("s01", "5"), ("s02", "5"), ("s03", "5"))
    ]


def test_a_roster_maps_the_ids_and_lists_who_handed_in_nothing(results, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "\ufeffStudent,Name,EMAIL,lms_id,section,notes\n"  # any case, a BOM, a column of its own
        "s00,Ada Lovelace,ada@uni.edu,1001,A,x\n"
        "s01,Alan Turing,alan@uni.edu,1002,B,\n"
        "late,Grace Hopper,grace@uni.edu,1003,A,\n"
    )
    write_class_report(results, roster)
    canvas = read_csv(results / CANVAS)
    # the roster's students only, in its order: a graded id not in it could be another's account
    assert canvas[2:] == [
        ["Ada Lovelace", "1001", "", "", "A", "7", "1"],
        ["Alan Turing", "1002", "", "", "B", "7", "5"],
        ["Grace Hopper", "1003", "", "", "A", "", ""],  # blank: nothing handed in
    ]
    moodle = [r for r in read_csv(results / MOODLE / f"{NB}.csv")[1:]]
    assert moodle == [
        ["Ada", "Lovelace", "1001", "ada@uni.edu", "7"],
        ["Alan", "Turing", "1002", "alan@uni.edu", "7"],
    ]  # Grace Hopper has no grade: not in the file, where a blank would clear one
    page = (results / REPORT).read_text()
    assert re.search(r"no submission \(1; blank in canvas.csv, absent from moodle/\): <bdi>late</bdi>\.", page)
    assert "Graded, not in the roster (11;" in page


def test_a_roster_without_a_student_column_or_with_an_id_twice_is_refused(results, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAda,ada@uni.edu\n")
    with pytest.raises(ValueError, match="'student' column"):
        write_class_report(results, roster)
    roster.write_text("student,lms_id\ns00,1\ns01,2\ns00,3\n")
    with pytest.raises(ValueError, match="line 4: the student 's00' is in the roster twice"):
        write_class_report(results, roster)


def test_roster_ids_are_read_as_the_submissions_ids_are(tmp_path):
    """NFC, as collect.py makes every student id: a roster exported on macOS (NFD) still matches."""
    write_folder(tmp_path, [grade("Jos\u00e9")])
    roster = tmp_path / "roster.csv"
    roster.write_text("student,lms_id\nJose\u0301,77\n")
    write_class_report(tmp_path, roster)
    assert read_csv(tmp_path / CANVAS)[2][1:2] == ["77"] and read_csv(tmp_path / CANVAS)[2][5] == "10"


def test_details_that_are_not_what_the_grader_writes_cost_their_lines_only(results):
    """A hand-edited or truncated details file: the report is still written, from grades.csv."""
    (results / "details" / "s00.json").write_text('{"01_policy_gradient": {"cells": [1], "seconds": "x"}, "04_gae": 3}')
    (results / "details" / "s01.json").write_text(
        '{"01_policy_gradient": {"cells": {"returns_hidden": {"failed": "x"}}}'
    )
    (results / "run.json").write_text('{"runs": [{"seconds": "slow"}]}')
    write_class_report(results)
    found = read_results(results)
    assert len(found.grades) == 17 and found.points_possible(NB) == 10
    assert "s00" not in next(m for m in mistakes(found) if m.check == "returns are not normalised").students


def test_an_incomplete_merge_says_so_and_writes_no_lms_file(results):
    write_class_report(results)
    write_class_report(results, missing=[2])
    assert "INCOMPLETE: shard(s) 2 missing" in (results / REPORT).read_text()
    assert not (results / CANVAS).exists() and not (results / MOODLE).exists()


def test_three_shards_merged_give_the_report_of_one_run(tmp_path):
    grades = klass()
    one = tmp_path / "one"
    write_folder(one, grades)
    write_class_report(one)
    shards = []
    for k in (1, 2, 3):
        shard = tmp_path / f"shard{k}"
        write_folder(shard, [g for g in grades if in_shard(g.student, (k, 3))], shard=(k, 3))
        shards.append(shard)
    merge(shards, tmp_path / "merged")
    write_class_report(tmp_path / "merged")

    def body(folder):  # the run table and the time of writing differ: one run against three shards
        page = (folder / REPORT).read_text()
        page = re.sub(r"written [0-9-]+ [0-9:]+ UTC", "", page)
        return re.sub(r"<table><thead><tr><th>shard</th>.*?</table>", "", page, flags=re.S)

    assert body(tmp_path / "merged") == body(one)
    for name in (CANVAS, f"{MOODLE}/{NB}.csv", f"{MOODLE}/{NB2}.csv"):
        assert (tmp_path / "merged" / name).read_bytes() == (one / name).read_bytes()
    assert len(read_results(tmp_path / "merged").runs) == 3
