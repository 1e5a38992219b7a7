"""The hidden checks of notebook 1 give the reference full marks, a blank answer zero, and
each typical mistake fewer points with a message that names the mistake."""
import pytest

from autograder.hidden import nb01
from autograder.reference import reference
from autograder.fixture_class import MISTAKES, function_from

REF = reference("01_policy_gradient")


def blank(*args, **kwargs):
    raise NotImplementedError()


def test_reference_gets_full_marks(capsys):
    assert nb01.grade_discounted_returns(REF.discounted_returns) == 4.0
    assert nb01.grade_reinforce_loss(REF.reinforce_loss) == 4.0
    assert "FAIL" not in capsys.readouterr().out


def test_blank_gets_zero(capsys):
    assert nb01.grade_discounted_returns(blank) == 0.0
    assert nb01.grade_reinforce_loss(blank) == 0.0
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, grader, max_points, message", [
    ("returns_ignore_boundaries", nb01.grade_discounted_returns, 2.0, "restart at every episode boundary"),
    ("returns_in_place", nb01.grade_discounted_returns, 3.6, "in place"),
    ("loss_wrong_sign", nb01.grade_reinforce_loss, 1.5, "sign is flipped"),
    ("loss_no_baseline", nb01.grade_reinforce_loss, 2.0, "baseline"),
])
def test_typical_mistakes_lose_points_with_a_helpful_message(mistake, grader, max_points, message, capsys):
    _, _, source = MISTAKES[mistake]
    fn = function_from(source, "discounted_returns" if "returns" in mistake else "reinforce_loss")
    points = grader(fn)
    out = capsys.readouterr().out
    assert 0.0 <= points <= max_points, out
    assert message in out


def test_report_never_shows_the_reference_source(capsys):
    nb01.grade_reinforce_loss(function_from(MISTAKES["loss_wrong_sign"][2], "reinforce_loss"))
    out = capsys.readouterr().out
    assert "returns.std() + 1e-8)" not in out and "BEGIN SOLUTION" not in out


def test_hidden_checks_write_nothing_to_stderr(capfd):
    def noisy(rewards, dones, gamma):
        import sys
        import warnings

        warnings.warn("a warning from the student's code")
        print("debug output", file=sys.stderr)
        return REF.discounted_returns(rewards, dones, gamma)

    assert nb01.grade_discounted_returns(noisy) == 4.0
    assert capfd.readouterr().err == ""


def test_a_function_that_does_not_exist_scores_zero_with_a_plain_message(capsys):
    assert nb01.grade_discounted_returns(None) == 0.0
    assert "`discounted_returns` is not defined" in capsys.readouterr().out
