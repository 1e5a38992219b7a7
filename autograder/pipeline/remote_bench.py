"""The grader's bench (``course_lib.bench``): a student's objects made in their process, their
values read and written here, in that process's shared memory.

When a submission is scored, the checks (visible and hidden) run in the scorer and the student's
code in the answers process, which could report anything about itself. ``RemoteBench`` makes the
objects a check runs the student's code on in that process, with the builders of
``course_lib.builders`` (models and parameters whose weights live in shared-memory files made here,
``autograder.pipeline.shared``), and reads what the code did in that memory, from outside. An
optimizer's state entry counts as shared only when its values are found in a shared-memory file
of that process, where its layout says; only then is it read or written.

The probes and the hidden checks do not know which bench they have: in a notebook they get a
``course_lib.bench.LocalBench`` and read the same quantities, so each check gives one verdict.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder.pipeline.shared import DTYPES, NotShared
from course_lib.bench import Bench, entry, number_entry


class RemoteBench(Bench):
    """Objects in one student's process, with their values in shared memory read and written here.

    ``target`` is a ``RemoteFunction`` (the student's function or class, as the scorer calls it)."""

    def __init__(self, target: Any):
        super().__init__(target)
        self.answers = target._answers
        self.mem = self.answers.shared_memory()

    # ------------------------------------------------------------------ made in the student's process
    def make(self, *args: Any, **kwargs: Any) -> Any:
        return self.target.keep(*args, **kwargs)

    def parameters(self, values: list[torch.Tensor]) -> tuple[Any, list[str]]:
        files = [self.mem.create(v.detach().float()) for v in values]
        return self.answers.build("parameters_on", files, [list(v.shape) for v in values]), files

    def model(self, model_kwargs: dict, state: dict[str, torch.Tensor]) -> tuple[Any, dict[str, str]]:
        files = {name: self.mem.create(value.detach().float()) for name, value in state.items()}
        return self.answers.build("actor_critic_on", model_kwargs, files), files

    def build(self, builder: str, *args: Any, **kwargs: Any) -> Any:
        return self.answers.build(builder, *args, **kwargs)

    def run(self, builder: str, *args: Any, **kwargs: Any) -> Any:
        return self.answers.build(builder, *args, keep=False, **kwargs)

    # ------------------------------------------------------------------ values, read here
    def read_slot(self, slot: str, shape: list[int]) -> torch.Tensor:
        return self.mem.read(slot, "float32", shape)

    def write_slot(self, slot: str, value: torch.Tensor) -> None:
        self.mem.write(slot, value.detach().float())

    def state(self, optimizer: Any, params: Any) -> dict:
        layout = self.run("state_layout", optimizer, params)
        if not isinstance(layout, dict) or not isinstance(layout.get("per_param"), list):
            raise NotShared("the optimizer's state could not be described")
        per_param = [
            {str(k): self._entry(e) for k, e in entries.items()} if isinstance(entries, dict) else {}
            for entries in layout["per_param"]
        ]
        attributes: dict = layout["attributes"] if isinstance(layout.get("attributes"), dict) else {}
        return {"per_param": per_param, "attributes": {str(k): self._entry(e) for k, e in attributes.items()}}

    def _entry(self, layout: Any) -> dict:
        """An entry of ``state_layout`` (the student's process's word), checked here."""
        if not isinstance(layout, dict) or not layout.get("tensor"):
            value = layout.get("value") if isinstance(layout, dict) else None
            return number_entry(value if isinstance(value, float) else None)
        shape, dtype = layout.get("shape"), layout.get("dtype")
        found = entry(True, shape=shape if _is_shape(shape) else [], dtype=dtype)
        file, offset, size = layout.get("file"), layout.get("offset"), layout.get("storage_bytes")
        if not (
            isinstance(file, str)
            and _is_shape(shape)
            and dtype in DTYPES
            and layout.get("contiguous")
            and isinstance(offset, int)
            and isinstance(size, int)
            and offset >= 0
        ):
            return found
        itemsize = torch.empty((), dtype=getattr(torch, dtype)).element_size()
        assert isinstance(shape, list)  # _is_shape(shape) above
        if offset + math.prod(shape) * itemsize > size:
            return found
        try:
            start = self.mem.data_offset(file, size) + offset
            value = self.mem.read(file, dtype, shape, start)
        except NotShared:
            return found
        return entry(True, True, shape, dtype, value, (file, start))

    def read_entry(self, entry: dict) -> torch.Tensor:
        file, start = entry["where"]
        return self.mem.read(file, entry["dtype"], entry["shape"], start)

    def write_entry(self, entry: dict, value: torch.Tensor) -> None:
        file, start = entry["where"]
        self.mem.write(file, value.detach().to(getattr(torch, entry["dtype"])), start)


def _is_shape(shape) -> bool:
    return isinstance(shape, list) and len(shape) <= 8 and all(isinstance(s, int) and 0 <= s < 2**31 for s in shape)
