"""Every CSV the grader writes is safe to open in a spreadsheet (OWASP's rule for CSV injection)."""

import csv

from autograder.pipeline.report import read_rows, write_rows
from autograder.pipeline.spreadsheets import FORMULA_START, safe

DANGEROUS = ['=HYPERLINK("http://x","click")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_a_cell_that_starts_like_a_formula_is_text_and_numbers_stay_numbers():
    for text in DANGEROUS:
        assert safe(text) == "'" + text and safe(safe(text)) == safe(text)
    assert [safe(v) for v in ("10", "4.25", "-1", "ann", "", None)] == ["10", "4.25", "-1", "ann", "", ""]


def test_grades_and_unmapped_files_hold_no_formula_and_a_merge_keeps_them(tmp_path):
    row = {"student": "ann", "notebook": "01_policy_gradient", "status": "graded", "total": "10", "max_total": "10"}
    rows = {("ann", "01_policy_gradient"): {**row, "returns": "5", "message": DANGEROUS[0]}}
    unmapped = [(f"{text}_01_policy_gradient.ipynb", "cannot tell which notebook it is") for text in DANGEROUS]
    write_rows(rows, unmapped, tmp_path)
    for name in ("grades.csv", "unmapped.csv"):
        cells = [cell for line in csv.reader((tmp_path / name).open(newline="")) for cell in line]
        assert not [c for c in cells if c.startswith(FORMULA_START) and not c.lstrip("-").replace(".", "").isdigit()]
    first = {n: (tmp_path / n).read_bytes() for n in ("grades.csv", "unmapped.csv")}
    again = tmp_path / "again"
    again.mkdir()
    read_back = [tuple(r) for r in list(csv.reader((tmp_path / "unmapped.csv").open(newline="")))[1:]]
    write_rows(read_rows(tmp_path), read_back, again)  # what a merge of shards does
    assert {n: (again / n).read_bytes() for n in first} == first
