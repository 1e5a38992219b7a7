import os
import sys

import pytest
import torch

from course_lib import checks


def test_call_explains_a_blank_exercise():
    def blank(x):
        raise NotImplementedError()

    with pytest.raises(checks.CheckFailed, match="not written yet"):
        checks.call(blank, torch.zeros(2))


def test_call_reports_the_students_exception():
    with pytest.raises(checks.CheckFailed, match="raised ZeroDivisionError"):
        checks.call(lambda x: 1 / 0, torch.zeros(2))


def test_call_catches_in_place_changes():
    def sneaky(x):
        x.mul_(2)
        return x

    with pytest.raises(checks.CheckFailed, match="in place"):
        checks.call(sneaky, torch.ones(3))
    assert torch.equal(checks.call(sneaky, torch.ones(3), check_inplace=False), torch.full((3,), 2.0))


def test_expect_close_message_names_case_values_and_hint():
    with pytest.raises(checks.CheckFailed) as info:
        checks.expect_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 3.0]), "case A", hint="do B")
    text = str(info.value)
    assert "case A" in text and "[1, 3]" in text and "[1, 2]" in text and "Hint: do B" in text
    assert "off by -1" in text


@pytest.mark.parametrize(
    "bad, words",
    [
        ([1.0], "torch.Tensor"),
        (torch.tensor([1, 2]), "floats"),
        (torch.tensor([1.0, 2.0, 3.0]), "shape (2,)"),
        (torch.tensor([1.0, float("nan")]), "NaN"),
    ],
)
def test_expect_tensor_rejects(bad, words):
    with pytest.raises(checks.CheckFailed, match=words.replace("(", r"\(").replace(")", r"\)")):
        checks.expect_tensor(bad, (2,))


def test_stderr_to_stdout_moves_python_and_c_level_writes(capfd):
    with checks.stderr_to_stdout():
        print("from python", file=sys.stderr)
        os.write(2, b"from C\n")
    out, err = capfd.readouterr()
    assert "from python" in out and "from C" in out and err == ""


def test_numbers_are_shown_with_significant_digits_and_the_difference():
    """4 decimals read "expected 0.0483, got 0.0483" or "-0.0000": significant digits, and how far off."""
    with pytest.raises(checks.CheckFailed) as info:
        checks.expect_close(torch.tensor(0.0483123), torch.tensor(0.0483999), "a loss", atol=1e-7, rtol=1e-4)
    assert "0.0484" in str(info.value) and "0.048312" in str(info.value) and "off by -8.76e-05" in str(info.value)
    with pytest.raises(checks.CheckFailed) as info:
        checks.expect_close(torch.tensor(-2e-5), torch.tensor(2e-5), "a policy loss", atol=1e-7)
    assert "[-2e-05]" in str(info.value) and "-0" not in str(info.value).replace("-05", "")
