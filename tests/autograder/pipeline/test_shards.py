"""A class graded in 3 shards and merged gets exactly the grades, and the feedback pages, of one run."""

import argparse
import csv
import shutil

import pytest

from autograder.pipeline import Options, grade_class
from autograder.pipeline.shards import in_shard, merge, parse_shard
from autograder.sandboxed import launcher as sandbox
from fixtures import NB1, build

pytestmark = pytest.mark.slow

# Notebook 1 of five students (ann: a second copy of the reference), so that each of three shards
# grades someone (in_shard's hash of the id): ann in shard 1, the reference in 2, the blank copy,
# the mistake and the LMS file's student ("lms") in 3.
STUDENTS = ["reference", "blank", "loss_wrong_sign", "lms_12345_01_policy_gradient.ipynb"]


def test_the_split_is_stable_and_covers_everyone():
    ids = [f"s{k:03d}" for k in range(300)]
    shards = [[s for s in ids if in_shard(s, (k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == ids and all(len(shard) > 60 for shard in shards)
    assert shards[0] == [s for s in ids if in_shard(s, (1, 3))]  # the same split every time
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x/3", "3"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_shard(bad)


def test_three_shards_merged_equal_one_run(tmp_path):
    full = build(tmp_path / "fixture")
    klass = tmp_path / "class"
    klass.mkdir()
    for name in STUDENTS:
        source = full / name
        if source.is_dir():
            shutil.copytree(source, klass / name, ignore=shutil.ignore_patterns("*.pdf", "0[2-5]_*"))
        else:
            shutil.copy2(source, klass / name)
    shutil.copytree(klass / "reference", klass / "ann")
    (klass / "stray.txt").write_text("not a notebook")  # unmapped: every shard lists it
    options = Options(
        workers=2, cell_timeout=60, notebook_timeout=240, sandbox="auto" if sandbox.available() else "off"
    )
    grade_class(klass, tmp_path / "one", options, progress=False)
    for k in (1, 2, 3):
        grade_class(klass, tmp_path / f"shard{k}", options, progress=False, shard=(k, 3))
    merge([tmp_path / f"shard{k}" for k in (1, 2, 3)], tmp_path / "merged")

    def table(folder, name):
        return list(csv.DictReader((folder / name).open()))

    assert all(table(tmp_path / f"shard{k}", "grades.csv") for k in (1, 2, 3)), "a shard graded nobody"
    assert table(tmp_path / "merged", "grades.csv") == table(tmp_path / "one", "grades.csv")
    assert table(tmp_path / "merged", "unmapped.csv") == table(tmp_path / "one", "unmapped.csv")
    pages = lambda folder: sorted(p.relative_to(folder) for p in (folder / "feedback").rglob("*.html"))  # noqa: E731
    assert pages(tmp_path / "merged") == pages(tmp_path / "one") and len(pages(tmp_path / "one")) == len(STUDENTS) + 1


def test_shards_that_disagree_are_refused(tmp_path):
    for k, total in ((1, "10"), (2, "9")):
        folder = tmp_path / f"s{k}"
        folder.mkdir()
        (folder / "grades.csv").write_text(
            f"student,notebook,status,total,max_total,message\nann,{NB1},graded,{total},10,\n"
        )
    with pytest.raises(ValueError, match="graded in two shards"):
        merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "out")
