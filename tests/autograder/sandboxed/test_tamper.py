"""The answers process's tamper check (``AnswersServer.tampered``), in this process: every way an
answer cell can change what the checks' builders run is named, and torch's own state is not."""

import contextlib

import pytest
import torch

import autograder.sandboxed.answers_server as answers_server
import course_lib.builders
from autograder.sandboxed.answers_server import AnswersServer


@pytest.fixture(scope="module")
def server():
    return AnswersServer()  # snapshots the surface, as the answers process does before any answer cell


@contextlib.contextmanager
def changed(obj, name: str, value):
    """``obj.name = value`` for the block, then put back."""
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def test_an_untouched_surface_is_not_taken_for_tampering(server):
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1).step()  # torch's own first-use changes
    assert server.tampered() == []


@pytest.mark.parametrize(
    "obj, name, value",
    [
        (course_lib.builders, "sgd", lambda *a, **k: None),  # a function replaced
        (course_lib.builders.sgd, "__code__", (lambda *a, **k: None).__code__),  # its code, in place
        (course_lib.builders.sgd, "__defaults__", (0.5,)),  # its defaults, in place
        (torch.optim.SGD, "step", lambda self, closure=None: None),  # a class's method
        (torch.nn.functional, "mse_loss", lambda *a, **k: torch.tensor(0.0)),  # torch's function
    ],
    ids=["function", "code", "defaults", "method", "torch-function"],
)
def test_each_kind_of_replacement_is_named(server, obj, name, value):
    with changed(obj, name, value):
        assert server.tampered(), f"{obj}.{name} replaced, not seen"
    assert server.tampered() == []


def test_a_hook_added_to_torchs_global_hooks_is_named(server):
    handle = torch.nn.modules.module.register_module_forward_hook(lambda module, args, out: out)
    try:
        assert server.tampered() == ["torch.nn.modules.module._global_forward_hooks"]
    finally:
        handle.remove()
    assert server.tampered() == []


def test_a_hook_is_named_even_after_the_servers_own_names_are_rebound(server):
    """The answer cells run in the server's process and can rebind its module's globals: which
    entry is a hooks dictionary comes from the snapshot, not from a name of the module's."""
    with contextlib.ExitStack() as rebound:
        for name in ("GLOBAL_HOOKS", "HOOK_NAMES"):  # what a hooks entry was ever told apart by
            if hasattr(answers_server, name):
                rebound.enter_context(changed(answers_server, name, type(getattr(answers_server, name))()))
        handle = torch.nn.modules.module.register_module_forward_hook(lambda module, args, out: out)
        try:
            assert "torch.nn.modules.module._global_forward_hooks" in server.tampered()
        finally:
            handle.remove()


def test_a_code_replaced_in_place_is_named_with_len_shadowed_in_the_servers_module(server):
    """The common case is decided inline, without a global such as ``len`` that an answer cell
    could set in the server's module."""
    answers_server.len = lambda _: 1  # type: ignore[attr-defined]
    try:
        with changed(course_lib.builders.sgd, "__code__", (lambda *a, **k: None).__code__):
            assert "course_lib.builders.sgd" in server.tampered()
    finally:
        del answers_server.len  # type: ignore[attr-defined]
