"""The CSV files the grader writes, safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to a
spreadsheet (OWASP's "CSV injection"): a file named ``=HYPERLINK(...)_01_....ipynb`` listed in
unmapped.csv would run as one. Every cell written here that starts so gets a leading ``'``, which
spreadsheets show as text; numbers are written as they are (the grader writes none below zero).
The rule is idempotent: a file read back and written again (a merge of shards) keeps its cells.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from autograder.pipeline.files import write_atomic

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def safe(value: object) -> str:
    """``value`` as a cell no spreadsheet takes for a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A CSV file of ``header`` and ``rows``, every cell ``safe``, written whole or not at all."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow([safe(h) for h in header])
    writer.writerows([safe(cell) for cell in row] for row in rows)
    write_atomic(path, buffer.getvalue())


def original(cell: str) -> str:
    """The value ``safe`` wrote as ``cell`` (a name that began with ``=`` is read back as such; a
    value that itself began with ``'`` and a formula character reads back without its ``'``)."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_START) and not NUMBER.fullmatch(cell[1:]):
        return cell[1:]
    return cell
