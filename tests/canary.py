"""A canary file outside the sandbox: root's, mode 0600, watched with inotify, so that a test can
say afterwards that nobody (the grader, nbgrader, a sandboxed student) opened, read or changed it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_OPEN = 0x001, 0x002, 0x004, 0x020
IN_NONBLOCK = 0o4000
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class Canary:
    def __init__(self, folder: Path, content: str = "the instructor's secret\n"):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "secret.txt"
        self.content = content
        self.path.write_text(content)
        self.path.chmod(0o600)
        self.stat = os.stat(self.path)
        self.fd = _libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if _libc.inotify_add_watch(self.fd, str(self.path).encode(), IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def events(self) -> list[str]:
        """What happened to the file since the watch began (read once: the watch is closed)."""
        names = {IN_ACCESS: "read", IN_MODIFY: "written", IN_ATTRIB: "changed (attributes)", IN_OPEN: "opened"}
        seen = []
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            data = b""
        os.close(self.fd)
        offset = 0
        while offset + 16 <= len(data):
            _, mask, _, length = struct.unpack_from("iIII", data, offset)
            seen += [name for bit, name in names.items() if mask & bit]
            offset += 16 + length
        return sorted(set(seen))

    def unchanged(self) -> bool:
        now = os.stat(self.path)
        return (
            self.path.read_text() == self.content
            and now.st_mode == self.stat.st_mode
            and now.st_uid == self.stat.st_uid
            and now.st_mtime_ns == self.stat.st_mtime_ns
        )
