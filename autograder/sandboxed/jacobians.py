"""Gradients across the process boundary: a tensor computed on one side, joined to the other
side's autograd graph by its Jacobians.

The side that computes a result (the student's process answering a call; the scorer answering a
stand-in's callback) encodes, with every result tensor that needs a gradient, its Jacobian with
respect to every argument tensor that had one (``encode_with_jacobians``). The side that called
rebuilds the tensor as a node of its own graph (``join_graph``): ``loss.backward()`` there reaches
the caller's parameters as if the function had run beside them. Both sides use this module, so it
is public (staged into the sandbox); nothing in it is secret.
"""

from __future__ import annotations

from typing import Any

import torch

from autograder.sandboxed.protocol import Encoder, WireError, decode
from course_lib.checks import StudentCodeError

MAX_JACOBIAN_ROWS = 4096
MAX_JACOBIAN_ELEMENTS = 4_000_000


def encode_with_jacobians(result: Any, leaves: dict[int, torch.Tensor], encoder: Encoder) -> Any:
    """``encoder.encode(result)``, each tensor that needs a gradient with its Jacobian with respect
    to ``leaves`` (argument tensors by blob index, as the caller numbered them)."""
    order = sorted(leaves)
    budget = [MAX_JACOBIAN_ELEMENTS]

    def jacobians(t: torch.Tensor) -> dict:
        if not t.requires_grad or not order:
            return {"student_grad": bool(t.requires_grad)}
        rows = t.numel()
        cost = rows * sum(leaves[i].numel() for i in order)
        if rows > MAX_JACOBIAN_ROWS or cost > budget[0]:
            return {"student_grad": True, "jacobian": "too large"}
        budget[0] -= cost
        flat = t.reshape(-1)
        per_leaf: dict[int, list] = {i: [] for i in order}
        used = {i: False for i in order}
        for k in range(rows):
            grads = torch.autograd.grad(flat[k], [leaves[i] for i in order], retain_graph=True, allow_unused=True)
            for i, g in zip(order, grads):
                used[i] |= g is not None
                per_leaf[i].append(torch.zeros_like(leaves[i]) if g is None else g.detach())
        jac = {}
        for i in order:
            if used[i]:
                stacked = torch.stack(per_leaf[i]).reshape(rows, -1).to(torch.float64)
                jac[str(i)] = encoder.tensor(stacked)
        return {"student_grad": True, "jacobian": jac}

    encoder.on_tensor = jacobians
    try:
        return encoder.encode(result)
    finally:
        encoder.on_tensor = None


class FromOtherSide(torch.autograd.Function):
    """A tensor computed in the other process, joined to this side's graph by its Jacobians."""

    @staticmethod
    def forward(ctx, value, jacobians, *inputs):
        ctx.jacobians = jacobians
        ctx.meta = [(x.shape, x.dtype) for x in inputs]
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        g = grad.reshape(-1).to(torch.float64)
        return (
            None,
            None,
            *[(g @ jac).reshape(shape).to(dtype) for jac, (shape, dtype) in zip(ctx.jacobians, ctx.meta)],
        )


class _TooLarge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, value, anchor):
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        raise StudentCodeError("GradientError", "the result is too large to differentiate across processes", "")


def join_graph(t: torch.Tensor, entry: dict, sources: dict[int, torch.Tensor], blobs: list[bytes]) -> torch.Tensor:
    """The tensor ``t`` decoded from ``entry``, attached to the graph of the argument tensors it
    was computed from (``sources``: this side's arguments by blob index)."""
    jac = entry.get("jacobian")
    if jac == "too large":
        anchor = next((s for s in sources.values() if torch.is_tensor(s) and s.requires_grad), None)
        if anchor is not None and t.is_floating_point():
            return _TooLarge.apply(t, anchor)
    if isinstance(jac, dict) and jac and t.is_floating_point():
        inputs, matrices = [], []
        for key, value in jac.items():
            source = sources.get(int(key)) if str(key).isdigit() else None
            matrix = decode(value, blobs)
            if source is None or not torch.is_tensor(matrix) or tuple(matrix.shape) != (t.numel(), source.numel()):
                raise WireError("a Jacobian that does not fit its tensors")
            inputs.append(source)
            matrices.append(matrix.to(torch.float64))
        if any(x.requires_grad for x in inputs):
            return FromOtherSide.apply(t, matrices, *inputs)
    if entry.get("student_grad") and t.is_floating_point():
        return t.requires_grad_(True)  # a gradient of its own making (a tensor created inside the function)
    return t
