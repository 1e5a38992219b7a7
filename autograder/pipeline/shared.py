"""The answers process's shared memory, read and written by the scorer from outside.

What a check must know about the student's objects (the weights an update left, the moments an
optimizer keeps, whether they are in shared memory) is never taken from that process's word: the
scorer reads it in the memory itself. The answers process runs with torch's ``file_system``
sharing strategy, so every tensor it puts in shared memory is a file in its ``/dev/shm`` (a memory
file system of its sandbox), which the scorer opens through the sandbox's root
(``/proc/<pid>/root/dev/shm``). The scorer also makes files there itself (``create``): the weights
of the models a check runs the student's code on, mapped by the student's side with
``course_lib.builders.shared_tensor``; what the student's code does to them shows here at once, and
what the scorer writes (another worker's step) shows there.

Every file is opened relative to that folder, by a plain name, without following a link
(``O_NOFOLLOW``), without blocking (``O_NONBLOCK``), and must be a regular file with one link and a
size that fits what is read: a FIFO, a link or a device the student's code left there is refused.
"""

from __future__ import annotations

import mmap
import os
import re
import secrets
import stat

import numpy as np
import torch

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}")
MAX_FILE_BYTES = 1024**3
MAX_HEADER_BYTES = 4096  # torch's shared-memory files start with a small header (a reference count)
DTYPES = {
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}


class NotShared(Exception):
    """What a check looked for is not (or not as described) in the shared memory."""


class SharedFolder:
    def __init__(self, folder: str, owner=None, uid: int | None = None):
        self.owner = owner  # the process whose memory this is (a new view for a new process)
        self.uid = uid  # who may map the files made here (the student's uid), else only their maker
        self.fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.made: list[str] = []
        self.maps: dict[str, tuple[int, mmap.mmap]] = {}

    # ------------------------------------------------------------------ files the scorer makes
    def create(self, tensor: torch.Tensor) -> str:
        """A new file holding ``tensor``'s values (raw, from offset 0); its name. The student's
        side maps it with ``course_lib.builders.shared_tensor(name, shape, dtype)``."""
        data = tensor.detach().cpu().contiguous().numpy().tobytes()
        name = f"course-{secrets.token_hex(16)}"  # not guessable: no one makes it first
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self.fd)
        if self.uid is not None:
            os.fchown(fd, self.uid, self.uid)  # the student's uid maps it for writing, no one else
        os.fchmod(fd, 0o600)
        os.write(fd, data or b"\0")
        os.close(fd)
        self.made.append(name)
        return name

    def write(self, name: str, tensor: torch.Tensor, offset: int = 0) -> None:
        """Write ``tensor``'s values into file ``name`` at byte ``offset`` (another worker's step)."""
        data = tensor.detach().cpu().contiguous().numpy().tobytes()
        view = self._map(name, offset + len(data))
        view[offset : offset + len(data)] = data

    def read(self, name: str, dtype: str, shape, offset: int = 0) -> torch.Tensor:
        """A copy of the values at byte ``offset`` of file ``name``."""
        np_dtype = np.dtype(DTYPES[dtype])
        count = int(np.prod(shape)) if len(shape) else 1
        view = self._map(name, offset + count * np_dtype.itemsize)
        raw = view[offset : offset + count * np_dtype.itemsize]  # a copy: no view of the mapping stays alive
        return torch.from_numpy(np.frombuffer(raw, dtype=np_dtype).copy().reshape(tuple(shape)))

    # ------------------------------------------------------------------ files torch made there
    def data_offset(self, name: str, storage_bytes: int) -> int:
        """Where a storage of ``storage_bytes`` begins in torch's file ``name`` (after its header)."""
        size = self._size(name)
        header = size - storage_bytes
        if not 0 <= header <= MAX_HEADER_BYTES:
            raise NotShared(f"{name} holds {size} bytes, not a storage of {storage_bytes}")
        return header

    # ------------------------------------------------------------------ safely
    def _open(self, name: str) -> int:
        if not NAME.fullmatch(name or ""):
            raise NotShared(f"not a plain file name: {str(name)[:80]!r}")
        try:
            fd = os.open(name, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError as exc:
            raise NotShared(f"no file {name} in the shared memory ({exc.strerror})") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > MAX_FILE_BYTES:
            os.close(fd)
            raise NotShared(f"{name} is not a plain file of shared memory")
        if info.st_uid != (os.geteuid() if self.uid is None else self.uid):
            # the machine's /dev/shm (uid mode) holds other students' files too: only this one's count
            os.close(fd)
            raise NotShared(f"{name} is not a file of your process's")
        return fd

    def _size(self, name: str) -> int:
        fd = self._open(name)
        try:
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def _map(self, name: str, needed: int) -> mmap.mmap:
        if name in self.maps and len(self.maps[name][1]) >= needed:
            return self.maps[name][1]
        fd = self._open(name)
        size = os.fstat(fd).st_size
        if size < needed:
            os.close(fd)
            raise NotShared(f"{name} holds {size} bytes, fewer than the {needed} looked for")
        mapped = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        if name in self.maps:
            self._unmap(name)
        self.maps[name] = (fd, mapped)
        return mapped

    def _unmap(self, name: str) -> None:
        fd, mapped = self.maps.pop(name)
        mapped.close()
        os.close(fd)

    def close(self) -> None:
        for name in list(self.maps):
            self._unmap(name)
        for name in self.made:
            try:
                os.unlink(name, dir_fd=self.fd)
            except OSError:
                pass
        self.made = []
        try:
            os.close(self.fd)
        except OSError:
            pass
