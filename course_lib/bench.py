"""Benches: where a check runs a student's class or function, and reads back what it did.

A check of an exercise that changes a model (the shared optimizer, a worker's update, the Doom
update) does not take the student's code's word for what it did. It makes the objects the code
runs on (parameters, a model, an optimizer, a rollout), calls the code, and reads the values
those objects hold afterwards. A *bench* is where that happens:

* ``LocalBench`` (this module): in a notebook the student's code is in this process; the bench
  makes the objects here and reads their tensors directly.
* the grader's ``RemoteBench`` (in the grader's own package): the student's code runs in
  another process; the objects are made there by the builders of ``course_lib.builders``, with
  their values in shared-memory files that the grader reads and writes from outside.

The probes (``course_lib.probes``) and the hidden checks are written once, against the methods of
``Bench``, so a check reads the same quantities, gives the same verdict and prints the same
message in a notebook and in the grader. ``bench_for`` picks the bench of a target.

The values a bench reads are the values in the memory the bench made: a weight counts as changed
when the code wrote into that memory (``p.add_``, ``optimizer.step()``), not when it pointed a
parameter at a tensor of its own (``p.data = ...``), in either place. An optimizer's state entry
counts as *shared* when it is a contiguous tensor in shared memory, and only then is its value
read (in the grader, private memory of the student's process cannot be read at all).
"""

from __future__ import annotations

import abc
from typing import Any

import torch

from course_lib import builders
from course_lib.builders import kept_values

Slot = Any  # where one tensor's values live: an index here, a shared-memory file's name in the grader


class Bench(abc.ABC):
    """Objects a check runs ``target`` (the student's class or function) on, and their values."""

    def __init__(self, target: Any):
        self.target = target

    # ------------------------------------------------------------------ made where the target lives
    @abc.abstractmethod
    def make(self, *args: Any, **kwargs: Any) -> Any:
        """``target(*args, **kwargs)``, kept where the target lives (an instance of the student's class)."""

    @abc.abstractmethod
    def parameters(self, values: list[torch.Tensor]) -> tuple[Any, list[Slot]]:
        """Parameters whose values live in slots of this bench (float32 copies of ``values``)."""

    @abc.abstractmethod
    def model(self, model_kwargs: dict, state: dict[str, torch.Tensor]) -> tuple[Any, dict[str, Slot]]:
        """An ``MLPActorCritic(**model_kwargs)`` whose weights ``state`` live in slots of this bench."""

    @abc.abstractmethod
    def build(self, builder: str, *args: Any, **kwargs: Any) -> Any:
        """An object made by the builder ``builder`` of ``course_lib.builders`` where the target lives."""

    @abc.abstractmethod
    def run(self, builder: str, *args: Any, **kwargs: Any) -> Any:
        """The builder's result as data (``step_with`` returns nothing)."""

    # ------------------------------------------------------------------ values, read here
    @abc.abstractmethod
    def read_slot(self, slot: Slot, shape: list[int]) -> torch.Tensor:
        """A copy of the values in ``slot``."""

    @abc.abstractmethod
    def write_slot(self, slot: Slot, value: torch.Tensor) -> None:
        """Write ``value`` into ``slot`` (what another worker's step would do)."""

    @abc.abstractmethod
    def state(self, optimizer: Any, params: Any) -> dict:
        """What ``optimizer`` keeps: ``{"per_param": [{name: entry}], "attributes": {name: entry}}``,
        an entry being ``{"tensor", "shared", "shape", "dtype", "value", "where"}``: ``value`` is the
        entry's values (a tensor) when it is shared, its number when it is a Python number, else
        None; ``where`` names its memory for ``read_entry`` and ``write_entry`` (equal for two
        entries in one place), None when it is not shared."""

    @abc.abstractmethod
    def read_entry(self, entry: dict) -> torch.Tensor:
        """A copy of a shared state entry's values."""

    @abc.abstractmethod
    def write_entry(self, entry: dict, value: torch.Tensor) -> None:
        """Write ``value`` where a shared state entry lives (as another worker's step would)."""

    # ------------------------------------------------------------------ on top of the slots
    def read(self, slots: dict[str, Slot], like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: self.read_slot(slots[name], list(like[name].shape)) for name in like}

    def write(self, slots: dict[str, Slot], state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            self.write_slot(slots[name], value)


def entry(tensor: bool, shared: bool = False, shape=None, dtype=None, value=None, where=None) -> dict:
    """One state entry as ``Bench.state`` describes it."""
    return {
        "tensor": tensor,
        "shared": shared,
        "shape": list(shape or []),
        "dtype": dtype,
        "value": value,
        "where": where,
    }


def number_entry(value: Any) -> dict:
    """A state entry that is not a tensor: its number, when it is one."""
    plain = isinstance(value, (int, float)) and not isinstance(value, bool)
    return entry(False, value=float(value) if plain else None)


class LocalBench(Bench):
    """The bench of a notebook: the student's code is here, and so are the objects and their values."""

    def __init__(self, target: Any):
        super().__init__(target)
        self.slots: list[torch.Tensor] = []
        self.entries: dict[tuple[int, int], torch.Tensor] = {}

    def _slot(self, value: torch.Tensor) -> int:
        tensor = value.detach().to(torch.float32).clone().contiguous()
        tensor.share_memory_()  # as the grader's are: files of shared memory
        self.slots.append(tensor)
        return len(self.slots) - 1

    def make(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def parameters(self, values: list[torch.Tensor]) -> tuple[list[torch.nn.Parameter], list[Slot]]:
        slots = [self._slot(v) for v in values]
        return builders.parameters_with([self.slots[s] for s in slots]), slots

    def model(self, model_kwargs: dict, state: dict[str, torch.Tensor]) -> tuple[Any, dict[str, Slot]]:
        slots = {name: self._slot(value) for name, value in state.items()}
        return builders.actor_critic_with(model_kwargs, {n: self.slots[s] for n, s in slots.items()}), slots

    def build(self, builder: str, *args: Any, **kwargs: Any) -> Any:
        if builder not in builders.BUILDERS:
            raise ValueError(f"unknown builder {builder!r}")
        return getattr(builders, builder)(*args, **kwargs)

    def run(self, builder: str, *args: Any, **kwargs: Any) -> Any:
        return self.build(builder, *args, **kwargs)

    def read_slot(self, slot: Slot, shape: list[int]) -> torch.Tensor:
        return self.slots[slot].detach().clone().reshape(shape)

    def write_slot(self, slot: Slot, value: torch.Tensor) -> None:
        with torch.no_grad():
            self.slots[slot].copy_(value.detach().reshape(self.slots[slot].shape))

    def state(self, optimizer: Any, params: Any) -> dict:
        per_param, attributes = kept_values(optimizer, list(params))
        return {
            "per_param": [{str(k): self._entry(v) for k, v in entries.items()} for entries in per_param],
            "attributes": {str(k): self._entry(v) for k, v in attributes.items()},
        }

    def _entry(self, value: Any) -> dict:
        if not torch.is_tensor(value):
            return number_entry(value)
        dtype = str(value.dtype).removeprefix("torch.")
        shared = value.device.type == "cpu" and value.is_shared() and value.is_contiguous()
        if not shared:
            return entry(True, shape=value.shape, dtype=dtype)
        where = (value.untyped_storage().data_ptr(), int(value.storage_offset()) * value.element_size())
        self.entries[where] = value
        return entry(True, True, value.shape, dtype, value.detach().clone(), where)

    def read_entry(self, entry: dict) -> torch.Tensor:
        return self.entries[entry["where"]].detach().clone()

    def write_entry(self, entry: dict, value: torch.Tensor) -> None:
        target = self.entries[entry["where"]]
        with torch.no_grad():
            target.copy_(value.detach().to(target.dtype).reshape(target.shape))


def bench_for(target: Any) -> Bench:
    """The bench of ``target``: the grader's proxy of a student's function brings its own
    (``course_bench``); anything else is here, in this process."""
    make = getattr(target, "course_bench", None)
    return make() if callable(make) else LocalBench(target)
