"""Whether the machine's memory limit killed a process: the kernel's count of OOM kills in the grader's
memory cgroup (a container's limit, as Gradescope's 768 MB; a Slurm task's ``--mem``).

A kernel that died can have called ``exit()``, been killed by the student's code, or been killed by
the kernel because the container's memory ran out; only the last is the grading machine's doing, and
the student is told so (and the instructor, what to change) instead of a guess. cgroup v2 counts the
kills in ``memory.events``, v1 in ``memory.oom_control``; where neither can be read, nothing is said.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class Memory:
    kills: int  # OOM kills in the cgroup so far
    limit_mb: int | None  # its limit, None when there is none


def _own_cgroup() -> list[Path]:
    """The folders where this process's memory cgroup may be read (its path inside a container's
    namespace is often the mount's root itself)."""
    places = []
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy
            places += [CGROUP / path.lstrip("/"), CGROUP]
        elif "memory" in controllers.split(","):  # v1
            places += [CGROUP / "memory" / path.lstrip("/"), CGROUP / "memory"]
    return places


def _count(text: str, key: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def now() -> Memory | None:
    """The OOM-kill count and limit of this process's memory cgroup; None where it cannot be read."""
    for folder in _own_cgroup():
        for events, limit in (("memory.events", "memory.max"), ("memory.oom_control", "memory.limit_in_bytes")):
            try:
                kills = _count((folder / events).read_text(), "oom_kill")
                raw = (folder / limit).read_text().strip()
            except OSError:
                continue
            if kills is None:
                continue
            limit_mb = int(raw) // 2**20 if raw.isdigit() and int(raw) < 2**60 else None  # "max", or v1's "no limit"
            return Memory(kills, limit_mb)
    return None


def killed_since(before: Memory | None) -> str | None:
    """A sentence for the student when processes were killed for memory since ``before``, else None."""
    after = now()
    if before is None or after is None or after.kills <= before.kills:
        return None
    limit = f" ({after.limit_mb} MB)" if after.limit_mb else ""
    return (
        f"the grading machine's memory{limit} ran out while this notebook was graded, and a process was "
        "killed for it: the points of what ran are kept; if your code does not hold much memory, your "
        "instructor can give the grading more (on Gradescope: the assignment's memory setting)"
    )
