"""Scoring outside the kernel: the wire format, calls across the process boundary (values,
gradients, in-place changes, errors, hangs and deaths), and how a graded cell earns its points.
No sandbox needed: the answers process runs as a plain subprocess here."""

import io
import math

import pytest
import torch
from torch.distributions import Categorical

from autograder.pipeline.answers_client import AnswersClient
from autograder.pipeline.scorer import run_test_cell
from autograder.sandboxed import protocol as wire
from autograder.sandboxed.answers_server import _same
from course_lib.checks import StudentCodeError, call
from course_lib.networks import MLPActorCritic


# --------------------------------------------------------------------------- the wire
def roundtrip(value):
    encoder = wire.Encoder()
    header = {"value": encoder.encode(value)}
    stream = io.BytesIO()
    wire.write_frame(stream, header, encoder.blobs)
    stream.seek(0)
    got, blobs = wire.read_frame(stream)
    return wire.decode(got["value"], blobs)


def test_the_wire_carries_the_types_checks_need():
    value = {
        "a": torch.arange(6, dtype=torch.float64).reshape(2, 3),
        "b": [1, 2.5, None, True, "x"],
        "c": (torch.tensor([1, 2]), torch.tensor(3.0, dtype=torch.bfloat16)),
        "nan": float("nan"),
    }
    got = roundtrip(value)
    assert torch.equal(got["a"], value["a"]) and got["a"].dtype == torch.float64
    assert got["b"] == [1, 2.5, None, True, "x"] and isinstance(got["c"], tuple)
    assert got["c"][1].dtype == torch.bfloat16 and got["c"][1].item() == 3.0
    assert math.isnan(got["nan"])
    dist = roundtrip(Categorical(logits=torch.tensor([[0.0, 1.0]])))
    assert isinstance(dist, Categorical) and torch.allclose(dist.probs, torch.softmax(torch.tensor([[0.0, 1.0]]), -1))


def test_anything_else_arrives_as_its_type_name_only():
    class Sneaky:
        def __reduce__(self):  # would run code if unpickled: the wire never unpickles
            return (print, ("pwned",))

    got = roundtrip({"x": Sneaky(), "f": lambda: 1})
    assert isinstance(got["x"], wire.Opaque) and got["x"].type_name == "Sneaky"
    assert isinstance(got["f"], wire.Opaque)


@pytest.mark.parametrize(
    "entry, blobs",
    [
        ({"tensor": 0, "dtype": "float32", "shape": [3]}, [b"\0" * 8]),  # size does not match the shape
        ({"tensor": 0, "dtype": "object", "shape": [1]}, [b"\0" * 8]),  # not an allowed dtype
        ({"tensor": 5, "dtype": "float32", "shape": [1]}, [b"\0" * 4]),  # no such blob
        ({"tensor": 0, "dtype": "float32", "shape": [-1]}, [b"\0" * 4]),  # not a shape
        ({"module": "os"}, []),  # not a known entry
    ],
)
def test_malformed_entries_are_refused(entry, blobs):
    with pytest.raises(wire.WireError):
        wire.decode(entry, blobs)


def test_a_frame_whose_sizes_do_not_add_up_is_refused():
    stream = io.BytesIO()
    body = b'{"blob_sizes": [10]}'
    stream.write(wire.HEADER.pack(len(body), 4) + body + b"abcd")
    stream.seek(0)
    with pytest.raises(wire.WireError):
        wire.read_frame(stream)


# --------------------------------------------------------------------------- calls across processes
A2C_LOSS = """
import torch

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    advantages = (targets - values).detach()
    policy_loss = -(dist.log_prob(actions) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
"""

HELPERS = """
import os
import time
import torch

def doubles_in_place(x):
    x.mul_(2)
    return x

def raises_inside_torch(x):
    y = x * 2
    return torch.cat([y, torch.zeros(2, 2)])   # line 11: shapes do not match

def hangs(x):
    while True:
        time.sleep(0.1)

def dies(x):
    os._exit(3)

def as_float64(x):
    return (x.double() ** 2).sum()
"""


@pytest.fixture(scope="module")
def answers():
    with AnswersClient(call_timeout=5, budget=120) as process:
        assert process.exec_cell("nb", "loss_solution", A2C_LOSS) is None
        assert process.exec_cell("nb", "helpers", HELPERS) is None
        yield process


@pytest.mark.slow
def test_gradients_flow_through_the_students_function_into_the_scorers_model(answers):
    """The scorer's model, the student's loss in another process: the same gradients as a local call."""
    namespace: dict = {}
    exec(A2C_LOSS, namespace)
    remote = answers.functions("nb")["a2c_loss"]
    torch.manual_seed(0)
    model = MLPActorCritic(3, 4, hidden=8)
    obs, actions, targets = torch.randn(16, 3), torch.randint(0, 4, (16,)), torch.randn(16)
    grads = []
    for fn in (namespace["a2c_loss"], remote):
        model.zero_grad()
        dist, values = model(obs)
        out = fn(dist, actions, values, targets)
        out["loss"].backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        assert set(out) == {"loss", "policy_loss", "value_loss", "entropy"}
    for local, far in zip(*grads):
        torch.testing.assert_close(far, local, rtol=1e-5, atol=1e-7)


def test_a_detached_input_gets_no_gradient(answers):
    remote = answers.functions("nb")["a2c_loss"]
    values = torch.randn(5, requires_grad=True)
    logits = torch.randn(5, 2, requires_grad=True)
    out = remote(Categorical(logits=logits), torch.zeros(5, dtype=torch.long), values, torch.randn(5))
    (g,) = torch.autograd.grad(out["policy_loss"], [values], allow_unused=True)
    assert g is None or float(g.abs().max()) == 0.0


def test_in_place_changes_come_back_and_call_sees_them(answers):
    fn = answers.functions("nb")["doubles_in_place"]
    x = torch.ones(3)
    fn(x)
    assert torch.equal(x, torch.full((3,), 2.0))
    with pytest.raises(AssertionError, match="in place"):
        call(fn, torch.ones(3))


def test_an_error_inside_torch_points_at_the_students_line(answers):
    with pytest.raises(StudentCodeError) as info:
        answers.functions("nb")["raises_inside_torch"](torch.ones(3))
    assert "line 11 of your code: " in str(info.value) and "torch.cat" in str(info.value)


def test_a_0d_argument_and_an_unchanged_argument_come_back_as_they_are(answers):
    """Arguments are compared with their copies from before the call (NaN-aware tensor equality):
    a 0-d tensor is compared like any other, and an argument left alone is not sent back."""
    fn = answers.functions("nb")["as_float64"]
    scalar = torch.tensor(3.0)
    assert fn(scalar).item() == 9.0 and torch.equal(scalar, torch.tensor(3.0))
    nan = torch.tensor([float("nan"), 1.0])
    assert torch.isnan(fn(nan)) and torch.isnan(nan[0]) and nan[1].item() == 1.0
    # what the server decides with: an argument is sent back only where it is not _same as its copy
    assert _same(scalar, torch.tensor(3.0)) and _same(nan, nan.clone())
    assert not _same(scalar, torch.tensor(4.0)) and not _same(nan, torch.tensor([1.0, 1.0]))
    assert not _same(scalar, torch.tensor([3.0])) and not _same(scalar, scalar.double())


def test_float64_results_keep_their_dtype_and_gradient(answers):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    out = answers.functions("nb")["as_float64"](x)
    assert out.dtype == torch.float64
    out.backward()
    torch.testing.assert_close(x.grad, torch.tensor([2.0, 4.0]))


@pytest.mark.slow
def test_a_hanging_call_times_out_and_the_other_functions_still_work():
    with AnswersClient(call_timeout=60, budget=300) as process:
        assert process.exec_cell("nb", "helpers", HELPERS) is None  # its imports take what they take
        process.call_timeout = 4  # for the calls: a hang costs 4 s (the replay after it, too: not less)
        with pytest.raises(StudentCodeError, match="did not finish within 4 s"):
            process.functions("nb")["hangs"](torch.ones(1))
        process.call_timeout = 60  # the restart below replays the cells, imports included
        with pytest.raises(StudentCodeError, match="died"):
            process.functions("nb")["dies"](torch.ones(1))
        out = process.functions("nb")["as_float64"](torch.tensor([3.0]))  # a new process, cells replayed
        assert out.item() == 9.0


@pytest.mark.slow
def test_a_cell_that_hangs_or_kills_its_process_is_left_out():
    with AnswersClient(call_timeout=60, budget=300) as process:
        assert process.exec_cell("nb", "first", "def f(x):\n    return x + 1") is None  # started, imports done
        process.call_timeout = 4
        assert process.exec_cell("nb", "hangs", "while True:\n    pass").left_out
        assert process.exec_cell("nb", "dies", "import os\nos._exit(1)").left_out
        broken = process.exec_cell("nb", "broken", "def g(x):\n    return x\nundefined_name")
        assert "NameError" in broken and not broken.left_out
        functions = process.functions("nb")
        assert set(functions) == {"f", "g"}  # g was defined before its cell's error, as in a notebook
        assert functions["f"](torch.tensor([1.0])).item() == 2.0


@pytest.mark.slow
def test_students_prints_and_input_do_not_disturb_the_protocol():
    noisy = (
        "import sys, os\nprint('hello')\nos.write(1, b'raw bytes on fd 1')\nsys.stderr.write('err')\n"
        "def f(x):\n    print('inside', x)\n    return x * 3"
    )
    with AnswersClient(call_timeout=5, budget=60) as process:
        assert process.exec_cell("nb", "noisy", noisy) is None
        assert process.functions("nb")["f"](torch.tensor([2.0])).item() == 6.0


# --------------------------------------------------------------------------- graded cells
HIDDEN = "### BEGIN HIDDEN TESTS\n{}\n### END HIDDEN TESTS"


@pytest.mark.parametrize(
    "body, problem",
    [
        ("x = 1", "produced no result"),
        ("'4 / 4 points'", "produced a str"),
        ("print('f (hidden checks): 4 / 4 points')\n1.0", "disagrees with its report"),
    ],
)
def test_a_hidden_cell_without_a_proper_result_scores_zero_with_a_message(body, problem):
    score = run_test_cell(HIDDEN.format(body), 4.0, {})
    assert score.points == 0.0 and problem in score.problem
    assert problem in "".join(o.get("text", "") for o in score.outputs)


def test_a_hidden_cells_points_are_its_result_within_its_maximum():
    assert run_test_cell(HIDDEN.format("print('f: 2.5 / 4 points')\n2.5"), 4.0, {}).points == 2.5
    assert run_test_cell(HIDDEN.format("99"), 4.0, {}).points == 4.0


def test_a_visible_cell_gets_full_points_unless_it_raises():
    assert run_test_cell("assert 1 + 1 == 2", 1.0, {}).points == 1.0
    failed = run_test_cell("from course_lib.checks import expect\nexpect(False, 'nope')", 1.0, {})
    assert failed.points == 0.0 and failed.outputs[-1]["ename"] == "CheckFailed"
