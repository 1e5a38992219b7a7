"""Mapping submissions to students and notebooks, and repairing what students broke."""

import copy
import json
import zipfile

import nbformat
import pytest

from autograder.cells import grade_id_of
from autograder.paths import NOTEBOOKS, assignment_ids
from autograder.pipeline import statuses
from autograder.pipeline.collect import collect, invalid_reason, repair, unpack
from autograder.pipeline.job import TwoFiles

RELEASES = {nb: nbformat.read(NOTEBOOKS / f"{nb}.ipynb", as_version=4) for nb in assignment_ids()}
NB1 = "01_policy_gradient"


def gather(root):
    """collect() with the copies it makes kept outside the folder it reads."""
    return collect(root, RELEASES, root.parent / f"{root.name}-copies")


def write(path, nb=None, text=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text is not None else nbformat.writes(nb or RELEASES[NB1]))
    return path


def edited(words: str) -> nbformat.NotebookNode:
    """Notebook 1's release with a cell of the student's own: another file than the release."""
    nb = copy.deepcopy(RELEASES[NB1])
    nb.cells.append(nbformat.v4.new_markdown_cell(words))
    return nb


def test_folder_per_student_flat_lms_files_and_renamed_files(tmp_path):
    write(tmp_path / "alice" / f"{NB1}.ipynb")
    write(tmp_path / "bob" / NB1 / f"{NB1}.ipynb")  # nbgrader's exchange layout
    write(tmp_path / f"carol_4711_{NB1} (2).ipynb")  # LMS export
    write(tmp_path / "dave" / "homework final.ipynb")  # renamed: found by content
    write(
        tmp_path / "erin" / "notes.ipynb",
        text=json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
    )
    write(tmp_path / "frank" / "report.pdf", text="pdf")
    write(tmp_path / "alice" / ".ipynb_checkpoints" / f"{NB1}-checkpoint.ipynb")
    found = gather(tmp_path)
    assert [(s.student, s.notebook) for s in found.submissions] == [(n, NB1) for n in ("alice", "bob", "carol", "dave")]
    assert dict(found.unmapped) == {
        "erin/notes.ipynb": "cannot tell which notebook it is (name and content)",
        "frank/report.pdf": "not a .ipynb file",
    }


def test_two_files_for_one_notebook_grade_the_newer(tmp_path):
    import os

    old = write(tmp_path / "alice" / f"{NB1}.ipynb", edited("first try"))
    new = write(tmp_path / "alice" / f"{NB1} (1).ipynb", edited("second try"))
    os.utime(old, (1_000, 1_000))
    [sub] = gather(tmp_path).submissions
    assert sub.original == str(new.relative_to(tmp_path)) and "graded the newer file" in sub.notes[0]


def test_two_files_for_one_notebook_are_refused_with_their_names_where_times_say_nothing(tmp_path):
    """``TwoFiles.REFUSE`` (Gradescope's uploads): neither is graded; the same file twice is no choice."""
    write(tmp_path / "alice" / f"{NB1}.ipynb", edited("first try"))
    write(tmp_path / "alice" / "sub" / f"{NB1} (1).ipynb", edited("second try"))
    write(tmp_path / "bob" / f"{NB1}.ipynb")
    write(tmp_path / "bob" / f"{NB1} (1).ipynb")  # the same notebook, twice
    alice, bob = collect(tmp_path, RELEASES, tmp_path.parent / "copies", TwoFiles.REFUSE).submissions
    assert alice.status == statuses.INVALID and alice.notes == [
        f"different files for {NB1}.ipynb ({NB1}.ipynb, sub/{NB1} (1).ipynb), "
        "and no time tells which one to grade: hand in only that one"
    ]
    assert bob.status == statuses.GRADED and bob.notes == []


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", "not valid JSON"),
        ('{"a": 1}', "not a Jupyter notebook"),
        ('{"cells": 3}', "not a valid Jupyter notebook"),
    ],
)
def test_invalid_files_get_a_reason(tmp_path, text, words):
    assert words in invalid_reason(write(tmp_path / "x.ipynb", text=text))


def test_zip_is_unpacked_without_escaping(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"alice/{NB1}.ipynb", nbformat.writes(RELEASES[NB1]))
        z.writestr("../../evil.txt", "x")
    root, _ = unpack(archive, tmp_path / "unpacked")
    assert (root / "alice" / f"{NB1}.ipynb").exists() and not (tmp_path / "evil.txt").exists()


def test_repair_restores_metadata_and_re_adds_deleted_cells_in_place():
    release = RELEASES[NB1]
    nb = copy.deepcopy(release)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    nb.cells.remove(next(c for c in graded if c.metadata.nbgrader.grade_id == "returns_visible"))
    next(c for c in nb.cells if grade_id_of(c) == "loss_solution").metadata.pop("nbgrader")
    next(c for c in nb.cells if grade_id_of(c) == "loss_hidden").metadata.nbgrader["points"] = 99
    notes = repair(nb, release)
    assert notes == [
        "re-added the deleted cell 'returns_visible'",
        "restored the grading metadata of cell 'loss_solution'",
    ]
    ids = [grade_id_of(c) for c in nb.cells]
    assert [i for i in ids if i] == [c.metadata.nbgrader.grade_id for c in release.cells if "nbgrader" in c.metadata]
    assert next(c for c in nb.cells if grade_id_of(c) == "loss_hidden").metadata.nbgrader.points == 4


def test_nbgrader_exchange_inbound_folders_grade_each_students_newest_submission(tmp_path):
    """The exchange names a submission <student>+<assignment>+<timestamp>[+<random>] and writes
    timestamp.txt beside it; that timestamp, not the file's age, says which one is newer."""
    import os

    def submit(student, stamp, suffix=""):
        folder = tmp_path / f"{student}+{NB1}+{stamp}{suffix}"
        write(folder / f"{NB1}.ipynb", edited(stamp))
        (folder / "timestamp.txt").write_text(stamp)
        return folder / f"{NB1}.ipynb"

    late = submit("alice", "2026-11-20 18:00:00.000000 UTC", "+Xy3_9a")
    submit("alice", "2026-11-20 09:00:00.000000 UTC", "+Qk2-7b")  # the earlier one
    os.utime(late, (1_000, 1_000))  # copied in the wrong order: the files' ages would pick `early`
    submit("bob", "2026-11-19 12:30:00.000000 UTC")
    found = gather(tmp_path)
    assert [(s.student, s.notebook) for s in found.submissions] == [("alice", NB1), ("bob", NB1)]
    assert found.submissions[0].original == str(late.relative_to(tmp_path))
    assert "graded the newer file" in found.submissions[0].notes[0]
    assert found.unmapped == []  # timestamp.txt is nbgrader's, not a stray file


def test_links_fifos_and_hard_links_in_the_submissions_are_listed_never_read(tmp_path):
    """A folder handed in (nbgrader's exchange, an LMS export) may hold what a student put there:
    the grader, running as root, must not follow a link to a host file, nor block on a FIFO."""
    import os

    secret = tmp_path / "secret.txt"
    secret.write_text("the instructor's secret")
    root = tmp_path / "class"
    write(root / "alice" / f"{NB1}.ipynb")
    (root / "mallory").mkdir()
    os.symlink(secret, root / "mallory" / f"{NB1}.ipynb")
    os.symlink(tmp_path, root / "mallory" / "everything")
    os.mkfifo(root / "mallory" / "02_a2c.ipynb")
    os.mkfifo(root / "mallory" / "timestamp.txt")
    os.link(secret, root / "mallory" / "03_a3c.ipynb")
    found = gather(root)
    assert [(s.student, s.notebook) for s in found.submissions] == [("alice", NB1)]
    assert dict(found.unmapped) == {
        f"mallory/{NB1}.ipynb": "a symbolic link: not read",
        "mallory/everything": "a symbolic link: not read",
        "mallory/02_a2c.ipynb": "a FIFO: not read",
        "mallory/timestamp.txt": "a FIFO: not read",
        "mallory/03_a3c.ipynb": "a hard link (a file with more than one name): not read",
    }
    assert found.submissions[0].path.read_bytes() == (root / "alice" / f"{NB1}.ipynb").read_bytes()
    assert not found.submissions[0].path.is_relative_to(root)  # every later step reads the grader's own copy


def test_a_file_too_large_is_an_invalid_notebook_with_its_size(tmp_path, monkeypatch):
    import importlib

    module = importlib.import_module("autograder.pipeline.collect")

    monkeypatch.setattr(module, "MAX_NOTEBOOK_BYTES", 1000)
    write(tmp_path / "alice" / f"{NB1}.ipynb")
    [sub] = gather(tmp_path).submissions
    assert sub.status == "invalid-notebook" and "more than the 0 MB allowed" in sub.notes[0]


def test_cells_that_claim_an_unknown_grade_id_lose_the_claim():
    nb = copy.deepcopy(RELEASES[NB1])
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "print('trust me')",
            metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "made_up_hidden", "points": 100}},
        )
    )
    notes = repair(nb, RELEASES[NB1])
    assert "removed the grading metadata of a cell that is not graded ('made_up_hidden')" in notes
    assert "nbgrader" not in nb.cells[-1].metadata


def test_a_notebook_of_an_older_format_is_converted_and_said_so(tmp_path):
    """nbformat 3 keeps its cells in worksheets: nbformat converts it without loss (it was refused
    as 'not a notebook' and got zero)."""
    v3 = nbformat.writes(nbformat.convert(copy.deepcopy(RELEASES[NB1]), 3), version=3)
    assert "worksheets" in json.loads(v3) and "cells" not in json.loads(v3)  # cells inside worksheets
    write(tmp_path / "class" / "ann" / f"{NB1}.ipynb", text=v3)
    [sub] = gather(tmp_path / "class").submissions
    assert sub.status == "graded" and "converted from nbformat 3" in " ".join(sub.notes)
    copied = nbformat.read(sub.path, as_version=4)
    assert copied.nbformat == 4 and [c.source for c in copied.cells] == [c.source for c in RELEASES[NB1].cells]
    assert "a notebook of nbformat 3, which could not be converted" in invalid_reason(
        write(tmp_path / "broken.ipynb", text=json.dumps({"nbformat": 3, "worksheets": "no"}))
    )


def test_text_and_attachments_past_the_limits_are_left_out_and_outputs_dropped(tmp_path, monkeypatch):
    """What the grader keeps of a submission is bounded before any later step reads it (the feedback,
    nbgrader, the scorer, the grader's memory): a 100 MB cell was graded with a 2 GB grader and a
    300 MB page. Each cut is said; the rest is graded."""
    from autograder.pipeline import collect as collecting

    monkeypatch.setattr(collecting, "MAX_CELL_SOURCE", 1000)
    monkeypatch.setattr(collecting, "MAX_ATTACHMENTS", 2000)
    nb = copy.deepcopy(RELEASES[NB1])
    nb.cells[0].source = "x" * 5000  # a markdown cell
    nb.cells[0]["attachments"] = {"big.png": {"image/png": "A" * 4000}}
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 3000)]
    write(tmp_path / "class" / "bob" / f"{NB1}.ipynb", nb)
    [sub] = gather(tmp_path / "class").submissions
    kept = nbformat.read(sub.path, as_version=4)
    assert sub.cut and sub.status == "graded"
    assert "attachments" not in kept.cells[0] and len(kept.cells[0].source) < 1000
    assert all(c.outputs == [] for c in kept.cells if c.cell_type == "code")
    notes = " ".join(sub.notes)
    assert "left out cell 1's text: 5,000 characters, over 1,000" in notes and "cell 1's attachments" in notes


def test_zip_entries_left_out_are_listed(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"alice/{NB1}.ipynb", nbformat.writes(RELEASES[NB1]))
        z.writestr(f"../../evil_{NB1}.ipynb", "x")
        z.writestr(f"a b/../../c_{NB1}.ipynb", "x")
    _, skipped = unpack(archive, tmp_path / "unpacked")
    assert {name for name, _ in skipped} == {f"../../evil_{NB1}.ipynb", f"a b/../../c_{NB1}.ipynb"}
    assert all("outside the zip's folder" in why for _, why in skipped)


@pytest.mark.parametrize("student", ["ünï名", "Zoë.O'Brien", "Ελένη", "محمد_1"])
def test_a_student_id_in_any_script_is_graded_under_it(tmp_path, student):
    write(tmp_path / "class" / student / f"{NB1}.ipynb")
    result = gather(tmp_path / "class")
    usable = "'" not in student  # an apostrophe is not part of an id
    assert [s.student for s in result.submissions] == ([student] if usable else [])


def test_metadata_that_claims_another_cells_id_or_points_is_restored_from_the_release():
    """A ready-made cell that claims a test cell's id, an answer that claims it with 100 points:
    nbgrader refused such a notebook (status error, its internals in the message); the cells are
    told apart and each gets the release's metadata back."""
    release = RELEASES[NB1]
    nb = copy.deepcopy(release)
    test = next(c for c in nb.cells if grade_id_of(c) == "returns_hidden")
    answer = next(c for c in nb.cells if grade_id_of(c) == "returns_solution")
    ready = next(c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("nbgrader"))
    ready.metadata["nbgrader"] = copy.deepcopy(test.metadata["nbgrader"])
    answer.metadata["nbgrader"].update(grade=True, points=100, grade_id="returns_hidden")
    notes = repair(nb, release)
    ids = [grade_id_of(c) for c in nb.cells if grade_id_of(c)]
    assert sorted(ids) == sorted(grade_id_of(c) for c in release.cells if grade_id_of(c))  # each once
    assert next(c for c in nb.cells if grade_id_of(c) == "returns_hidden") is test  # the test cell, in its place
    restored = next(c for c in nb.cells if grade_id_of(c) == "returns_solution")
    assert (
        restored is answer
        and restored.metadata["nbgrader"]
        == next(c for c in release.cells if grade_id_of(c) == "returns_solution").metadata["nbgrader"]
    )
    assert "claimed 'returns_hidden', which another cell holds" in " ".join(notes)
