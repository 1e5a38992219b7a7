"""The hidden checks give the reference full marks, a blank answer zero, and each typical mistake
fewer points with a message that names it, on every notebook."""
import pytest
import torch

from autograder.fixture_class import MISTAKES, function_from
from autograder.hidden import nb01, nb02
from autograder.reference import reference

# (hidden check, notebook, name of the function it grades)
GRADERS = [(nb01.grade_discounted_returns, "01_policy_gradient", "discounted_returns"),
           (nb01.grade_reinforce_loss, "01_policy_gradient", "reinforce_loss"),
           (nb02.grade_n_step_targets, "02_a2c", "n_step_targets"),
           (nb02.grade_a2c_loss, "02_a2c", "a2c_loss")]
ids = [name for _, _, name in GRADERS]


def blank(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("grade, notebook, name", GRADERS, ids=ids)
def test_reference_gets_full_marks(grade, notebook, name, capsys):
    assert grade(getattr(reference(notebook), name)) == 4.0
    assert "FAIL" not in capsys.readouterr().out


@pytest.mark.parametrize("grade, notebook, name", GRADERS, ids=ids)
def test_blank_gets_zero(grade, notebook, name, capsys):
    assert grade(blank) == 0.0
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("grade, notebook, name", GRADERS, ids=ids)
def test_a_function_that_does_not_exist_scores_zero_with_a_plain_message(grade, notebook, name, capsys):
    assert grade(None) == 0.0
    assert f"`{name}` is not defined" in capsys.readouterr().out


GRADER_OF = {name: grade for grade, _, name in GRADERS}


@pytest.mark.parametrize("mistake, function, max_points, message", [
    ("returns_ignore_boundaries", "discounted_returns", 2.0, "restart at every episode boundary"),
    ("returns_in_place", "discounted_returns", 3.6, "in place"),
    ("loss_wrong_sign", "reinforce_loss", 1.5, "sign is flipped"),
    ("loss_no_baseline", "reinforce_loss", 2.0, "baseline"),
    ("targets_no_bootstrap", "n_step_targets", 2.5, "r + gamma * last_value"),
    ("targets_ignore_dones", "n_step_targets", 1.5, "after a terminated step the future is 0"),
    ("loss_advantages_not_detached", "a2c_loss", 3.25, "advantages must be constants"),
    ("loss_entropy_of_sampled_action", "a2c_loss", 3.5, "exact entropy"),
])
def test_typical_mistakes_lose_points_with_a_helpful_message(mistake, function, max_points, message, capsys):
    points = GRADER_OF[function](function_from(MISTAKES[mistake][2], function))
    out = capsys.readouterr().out
    assert 0.0 <= points <= max_points, out
    assert message in out, out


def test_report_never_shows_the_reference_source(capsys):
    nb01.grade_reinforce_loss(function_from(MISTAKES["loss_wrong_sign"][2], "reinforce_loss"))
    out = capsys.readouterr().out
    assert "returns.std() + 1e-8)" not in out and "BEGIN SOLUTION" not in out


def test_hidden_checks_write_nothing_to_stderr(capfd):
    ref = reference("01_policy_gradient").discounted_returns

    def noisy(rewards, dones, gamma):
        import sys
        import warnings

        warnings.warn("a warning from the student's code")
        print("debug output", file=sys.stderr)
        return ref(rewards, dones, gamma)

    assert nb01.grade_discounted_returns(noisy) == 4.0
    assert capfd.readouterr().err == ""


def test_a2c_update_takes_a_gradient_step_that_fits_the_critic():
    """The reference update (shared with the Pong pretraining) lowers the value loss on a fixed batch."""
    from analytic_envs import ValueIsTenTimesObs, countdown_vec
    from course_lib import networks, runners

    class Cfg:
        gamma, value_coef, entropy_coef, max_grad_norm = 0.9, 0.5, 0.01, 10.0

    torch.manual_seed(0)
    batch = runners.RolloutRunner(countdown_vec(2, 3), ValueIsTenTimesObs(), 6, seed=0).collect()
    model = networks.MLPActorCritic(1, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    logs = [reference("02_a2c").a2c_update(model, optimizer, batch, Cfg) for _ in range(50)]
    assert set(logs[0]) == {"loss", "policy_loss", "value_loss", "entropy", "grad_norm", "explained_variance"}
    assert logs[-1]["value_loss"] < 0.5 * logs[0]["value_loss"]
