"""Reading files that came from the students' side, without following a link or blocking on one.

Submissions are files a student made; a folder handed in (nbgrader's exchange, an LMS export)
may hold anything a student could put there: a symbolic link to a host file, a FIFO that blocks
whoever opens it, a device, a hard link to a file elsewhere, a file of many gigabytes. The
grader runs as root outside the sandbox, so it reads such files only here: each is opened with
``O_NOFOLLOW | O_NONBLOCK``, must be a regular file with one link and at most ``limit`` bytes
(checked on the open descriptor, so the file cannot be swapped in between), and is read once.

Folders are walked without following links (``walk``); what is not a plain file is reported, never
opened. The grader's own results are written atomically (``write_atomic``): a crash or a kill
mid-write leaves the previous version, never half a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 100 * 1024**2


class UnsafeFile(Exception):
    """A file the grader will not read: the message says why (for the student's feedback)."""


def kind_of(info: os.stat_result) -> str | None:
    """None for a plain file; else what it is instead ("a symbolic link", "a FIFO", ...)."""
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if info.st_nlink != 1:
        return "a hard link (a file with more than one name)"
    return None


def read_bytes(path: Path | str, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The content of a plain file (no link of either kind, no FIFO or device), at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafeFile("a symbolic link: not followed") from None
        raise UnsafeFile(f"cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        problem = kind_of(info)
        if problem:
            raise UnsafeFile(f"{problem}: not read")
        if info.st_size > limit:
            raise UnsafeFile(f"{info.st_size / 1024**2:.0f} MB, more than the {limit / 1024**2:.0f} MB allowed")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise UnsafeFile(f"more than the {limit / 1024**2:.0f} MB allowed")
        return data
    finally:
        os.close(fd)


def walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every entry under ``root`` that is not a folder, as (path, None) for a plain file or
    (path, what it is instead); links to folders are reported, not entered."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        entries = list(files)
        for d in list(dirs):
            if os.path.islink(os.path.join(folder, d)):
                dirs.remove(d)
                entries.append(d)
        for name in sorted(entries):
            path = Path(folder) / name
            try:
                info = os.lstat(path)
            except OSError:
                continue
            yield path, kind_of(info)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` whole or not at all (a temporary file beside it, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_notebook(path: Path | str, limit: int = 256 * 1024**2):
    """A notebook of the grader's (nbgrader's output, a copy), read safely; None when there is none."""
    try:
        return nbformat.reads(read_bytes(path, limit).decode("utf-8"), as_version=4)
    except (UnsafeFile, UnicodeDecodeError, ValueError):
        return None
