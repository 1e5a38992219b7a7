"""Values across the process boundary between the scorer and a student's answers, safely.

The scorer (trusted) and the process that runs a student's answer cells (untrusted, sandboxed)
exchange messages over a pipe. Everything the student's side sends is *data*: a frame is a JSON
header followed by raw tensor bytes, decoded here against an allow-list of types and dtypes with
checked sizes. No pickle, no code, no object the student chose: a value that is not one of the
types below arrives as an ``Opaque`` that only carries its type name (so a check can say "got
MyClass", and nothing the student wrote runs in the scorer).

Encodable: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple``, ``dict`` with
string keys (an ``OrderedDict`` such as a ``state_dict`` arrives as a plain ``dict``), torch
tensors, NumPy arrays, ``Categorical`` distributions (by their logits) and
``types.SimpleNamespace`` (settings objects). And a ``Handle``: the scorer's name for an object
that lives in the student's process (a model, an optimizer), which only that side resolves.
"""

from __future__ import annotations

import json
import math
import struct
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

import numpy as np
import torch

MAX_FRAME_BYTES = 512 * 1024**2
MAX_DEPTH = 32
MAX_STR = 20_000
HEADER = struct.Struct("<QQ")  # JSON length, blob length

DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
    )
}
NP_DTYPES = {"float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"}


class WireError(Exception):
    """A frame that is not a well-formed message (the other side broke the protocol)."""


@dataclass(frozen=True)
class Opaque:
    """A value of a type the wire does not carry: its type name and a short repr, nothing else."""

    type_name: str
    text: str = ""

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


@dataclass(frozen=True)
class Handle:
    """An object kept in the student's process (``keep=True`` calls), named by a number."""

    id: int

    def __repr__(self) -> str:
        return f"<object {self.id} in the student's process>"


class Encoder:
    """Turn a value into JSON-able structure plus a list of raw byte blobs.

    ``on_tensor(tensor) -> dict`` may add fields to a tensor's entry (the student's side uses it to
    number its outputs for their Jacobians).
    """

    def __init__(self, on_tensor=None):
        self.blobs: list[bytes] = []
        self.sources: dict[int, torch.Tensor] = {}  # blob index -> the tensor it was made from
        self.on_tensor = on_tensor

    def tensor(self, t: torch.Tensor) -> dict:
        value = t.detach().cpu().contiguous()
        if str(value.dtype).removeprefix("torch.") not in DTYPES:
            return {"opaque": f"Tensor[{value.dtype}]"}
        raw = value.view(torch.int16) if value.dtype == torch.bfloat16 else value
        self.blobs.append(raw.numpy().tobytes())
        self.sources[len(self.blobs) - 1] = t
        entry = {
            "tensor": len(self.blobs) - 1,
            "dtype": str(value.dtype).removeprefix("torch."),
            "shape": list(value.shape),
            "grad": bool(t.requires_grad),
        }
        if self.on_tensor is not None:
            entry.update(self.on_tensor(t))
        return entry

    def encode(self, x: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return {"opaque": "too deeply nested"}
        if x is None or isinstance(x, bool) or isinstance(x, str) and len(x) <= MAX_STR:
            return x
        if isinstance(x, Handle):
            return {"handle": int(x.id)}
        if isinstance(x, int) and not isinstance(x, bool):
            return x if abs(x) < 2**63 else {"float": float(x)}
        if isinstance(x, float):
            return x if math.isfinite(x) else {"float": repr(x)}
        if torch.is_tensor(x):
            return self.tensor(x)
        if isinstance(x, np.ndarray):
            if x.dtype.name not in NP_DTYPES:
                return {"opaque": f"ndarray[{x.dtype}]"}
            self.blobs.append(np.ascontiguousarray(x).tobytes())
            return {"ndarray": len(self.blobs) - 1, "dtype": x.dtype.name, "shape": list(x.shape)}
        if isinstance(x, np.generic) and x.dtype.name in NP_DTYPES:
            return self.encode(x.item(), depth)
        if isinstance(x, torch.distributions.Categorical):
            return {"categorical": self.encode(x.logits, depth + 1)}
        if type(x) in (list, tuple):
            return {type(x).__name__: [self.encode(v, depth + 1) for v in x]}
        if isinstance(x, dict) and all(isinstance(k, str) for k in x):  # OrderedDict (a state_dict) too
            return {"dict": {k: self.encode(v, depth + 1) for k, v in x.items()}}
        if type(x) is types.SimpleNamespace:
            return {"namespace": {k: self.encode(v, depth + 1) for k, v in vars(x).items()}}
        try:
            text = repr(x)[:200]
        except Exception:  # a student's __repr__ may raise
            text = ""
        return {"opaque": type(x).__name__[:100], "text": text}


def _tensor_from(entry: dict, blobs: list[bytes]) -> torch.Tensor:
    dtype = DTYPES.get(str(entry.get("dtype")))
    shape = entry.get("shape")
    index = entry.get("tensor")
    if dtype is None or not isinstance(index, int) or not 0 <= index < len(blobs) or not isinstance(shape, list):
        raise WireError(f"bad tensor entry {str(entry)[:200]}")
    if not _is_shape(shape):
        raise WireError(f"bad tensor entry {str(entry)[:200]}")
    item = torch.empty((), dtype=dtype).element_size()
    raw = blobs[index]
    if len(raw) != math.prod(shape) * item:
        raise WireError("tensor size does not match its shape")
    storage = torch.int16 if dtype == torch.bfloat16 else dtype
    t = torch.frombuffer(bytearray(raw), dtype=storage) if raw else torch.empty(0, dtype=storage)
    t = t.reshape(shape)
    return t.view(torch.bfloat16) if dtype == torch.bfloat16 else t


def _is_shape(shape) -> bool:
    return isinstance(shape, list) and len(shape) <= 16 and all(isinstance(s, int) and 0 <= s < 2**40 for s in shape)


def decode(x: Any, blobs: list[bytes], on_tensor=None, depth: int = 0, on_handle=None) -> Any:
    """The inverse of ``Encoder.encode``, strict about what it accepts.

    ``on_tensor(tensor, entry) -> value`` may replace each decoded tensor (the scorer attaches the
    gradients the student's side computed). ``on_handle(id) -> object`` resolves handles: only the
    side that keeps the objects passes it, everywhere else a handle is refused.
    """
    if depth > MAX_DEPTH + 1:
        raise WireError("message nested too deeply")
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if not isinstance(x, dict) or len(x) == 0:
        raise WireError(f"unexpected value {str(x)[:200]}")
    if "tensor" in x:
        t = _tensor_from(x, blobs)
        return on_tensor(t, x) if on_tensor is not None else t
    if "ndarray" in x:
        index, dtype, shape = x.get("ndarray"), x.get("dtype"), x.get("shape")
        if dtype not in NP_DTYPES or not isinstance(index, int) or not 0 <= index < len(blobs):
            raise WireError("bad ndarray entry")
        if not isinstance(shape, list) or not _is_shape(shape):
            raise WireError("bad ndarray entry")
        raw = blobs[index]
        if len(raw) != math.prod(shape) * np.dtype(dtype).itemsize:
            raise WireError("ndarray size does not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    key = next(iter(x))
    if key == "handle":
        if on_handle is None or not isinstance(x["handle"], int) or isinstance(x["handle"], bool):
            raise WireError("a handle where none is expected")
        return on_handle(x["handle"])
    if key == "float" and isinstance(x["float"], (str, float)):
        return float(x["float"])
    if key == "categorical":
        logits = decode(x["categorical"], blobs, on_tensor, depth + 1, on_handle)
        if not torch.is_tensor(logits):
            raise WireError("a Categorical needs logits")
        return torch.distributions.Categorical(logits=logits, validate_args=False)
    if key in ("list", "tuple") and isinstance(x[key], list):
        values = [decode(v, blobs, on_tensor, depth + 1, on_handle) for v in x[key]]
        return values if key == "list" else tuple(values)
    if key in ("dict", "namespace") and isinstance(x[key], dict):
        named = {str(k): decode(v, blobs, on_tensor, depth + 1, on_handle) for k, v in x[key].items()}
        return named if key == "dict" else types.SimpleNamespace(**named)
    if key == "opaque":
        return Opaque(str(x["opaque"])[:100], str(x.get("text", ""))[:200])
    raise WireError(f"unknown entry {key!r}")


# --------------------------------------------------------------------------- frames on a pipe
def write_frame(stream: BinaryIO | IO[bytes], header: dict, blobs: Sequence[bytes] = ()) -> None:
    body = json.dumps({**header, "blob_sizes": [len(b) for b in blobs]}).encode()
    total = sum(len(b) for b in blobs)
    stream.write(HEADER.pack(len(body), total))
    stream.write(body)
    for blob in blobs:
        stream.write(blob)
    stream.flush()


def _read_exact(stream: BinaryIO | IO[bytes], n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO | IO[bytes], max_bytes: int = MAX_FRAME_BYTES) -> tuple[dict, list[bytes]]:
    """One message: its JSON header and its blobs (at most ``max_bytes``). ``EOFError`` when the
    pipe closed, ``WireError`` when what came is not a message."""
    head_len, blob_len = HEADER.unpack(_read_exact(stream, HEADER.size))
    if head_len > MAX_STR * 100 or blob_len > max_bytes:
        raise WireError("message too large")
    try:
        header = json.loads(_read_exact(stream, head_len))
    except (ValueError, RecursionError) as exc:
        raise WireError(f"bad message header: {exc}") from None
    sizes = header.get("blob_sizes") if isinstance(header, dict) else None
    if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes) or sum(sizes) != blob_len:
        raise WireError("blob sizes do not add up")
    data = _read_exact(stream, blob_len)
    blobs, offset = [], 0
    for size in sizes:
        blobs.append(data[offset : offset + size])
        offset += size
    return header, blobs
