"""A class split in shards and merged gets exactly the grades.csv, unmapped.csv and feedback pages of
one run: the merge is tested on the files a run writes (the split itself, by the hash of the id,
is a filter the class run applies: tests/integration/test_slurm.py grades a class in shards)."""

import argparse

import pytest

from autograder.pipeline.report import read_rows, write_rows
from autograder.pipeline.shards import in_shard, merge, parse_shard
from fixtures import NB1


def test_the_split_is_stable_and_covers_everyone():
    ids = [f"s{k:03d}" for k in range(300)]
    shards = [[s for s in ids if in_shard(s, (k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == ids and all(len(shard) > 60 for shard in shards)
    assert shards[0] == [s for s in ids if in_shard(s, (1, 3))]  # the same split every time
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x/3", "3"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_shard(bad)


def _row(student: str, notebook: str, total: str) -> dict[str, str]:
    return {
        "student": student,
        "notebook": notebook,
        "status": "graded",
        "total": total,
        "max_total": "10",
        "returns": total,
        "message": f'{student}\'s message, with a comma, and "quotes"',
    }


def test_three_shards_merged_equal_one_run(tmp_path):
    """The rows and the feedback pages of one run, written as three shards write them (each its
    students' rows, every shard the same unmapped files), merge into the one run's files."""
    students = [f"student{k:02d}" for k in range(12)] + ["ünï名", "lms"]
    rows = {(s, nb): _row(s, nb, str(k % 11)) for k, s in enumerate(students) for nb in (NB1, "02_a2c")}
    unmapped = [("stray.txt", "not a notebook"), ("../evil_01.ipynb", "outside the submissions")]
    one = tmp_path / "one"
    one.mkdir()
    write_rows(rows, unmapped, one)
    for student, notebook in rows:
        page = one / "feedback" / student / f"{notebook}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"<html>{student} {notebook}</html>")
    shards = []
    for k in (1, 2, 3):
        shard = tmp_path / f"shard{k}"
        shard.mkdir()
        mine = {key: row for key, row in rows.items() if in_shard(key[0], (k, 3))}
        assert mine, "a shard graded nobody"
        write_rows(mine, unmapped, shard)
        for student, notebook in mine:
            page = shard / "feedback" / student / f"{notebook}.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_bytes((one / "feedback" / student / f"{notebook}.html").read_bytes())
        shards.append(shard)
    assert merge(shards, tmp_path / "merged") == len(rows)
    for name in ("grades.csv", "unmapped.csv"):
        assert (tmp_path / "merged" / name).read_bytes() == (one / name).read_bytes(), name
    pages = lambda folder: {p.relative_to(folder): p.read_bytes() for p in (folder / "feedback").rglob("*.html")}  # noqa: E731
    assert pages(tmp_path / "merged") == pages(one)
    assert read_rows(tmp_path / "merged") == read_rows(one)


def test_shards_that_disagree_are_refused(tmp_path):
    for k, total in ((1, "10"), (2, "9")):
        folder = tmp_path / f"s{k}"
        folder.mkdir()
        write_rows({("ann", NB1): _row("ann", NB1, total)}, [], folder)
    with pytest.raises(ValueError, match="graded in two shards"):
        merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "out")
