"""The hidden checks of notebook 2 give the reference full marks, a blank answer zero, and each
typical A2C mistake fewer points with a message that names it."""
import pytest

from autograder.hidden import nb02
from autograder.reference import reference
from autograder.fixture_class import MISTAKES, function_from

REF = reference("02_a2c")


def blank(*args, **kwargs):
    raise NotImplementedError()


def test_reference_gets_full_marks(capsys):
    assert nb02.grade_n_step_targets(REF.n_step_targets) == 4.0
    assert nb02.grade_a2c_loss(REF.a2c_loss) == 4.0
    assert "FAIL" not in capsys.readouterr().out


def test_blank_gets_zero(capsys):
    assert nb02.grade_n_step_targets(blank) == 0.0
    assert nb02.grade_a2c_loss(blank) == 0.0
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, grader, max_points, message", [
    ("targets_no_bootstrap", nb02.grade_n_step_targets, 2.5, "r + gamma * last_value"),
    ("targets_ignore_dones", nb02.grade_n_step_targets, 1.5, "after a terminated step the future is 0"),
    ("loss_advantages_not_detached", nb02.grade_a2c_loss, 3.25, "advantages must be constants"),
    ("loss_entropy_of_sampled_action", nb02.grade_a2c_loss, 3.5, "exact entropy"),
])
def test_typical_mistakes_lose_points_with_a_helpful_message(mistake, grader, max_points, message, capsys):
    _, _, source = MISTAKES[mistake]
    fn = function_from(source, "n_step_targets" if "targets" in mistake else "a2c_loss")
    points = grader(fn)
    out = capsys.readouterr().out
    assert 0.0 <= points <= max_points, out
    assert message in out, out


def test_a2c_update_takes_a_gradient_step_that_fits_the_critic():
    """The reference update (shared with the Pong pretraining) lowers the value loss on a fixed batch."""
    import torch

    from analytic_envs import ValueIsTenTimesObs, countdown_vec
    from course_lib import networks, runners

    class Cfg:
        gamma, value_coef, entropy_coef, max_grad_norm = 0.9, 0.5, 0.01, 10.0

    torch.manual_seed(0)
    batch = runners.RolloutRunner(countdown_vec(2, 3), ValueIsTenTimesObs(), 6, seed=0).collect()
    model = networks.MLPActorCritic(1, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    logs = [REF.a2c_update(model, optimizer, batch, Cfg) for _ in range(50)]
    assert set(logs[0]) == {"loss", "policy_loss", "value_loss", "entropy", "grad_norm", "explained_variance"}
    assert logs[-1]["value_loss"] < 0.5 * logs[0]["value_loss"]
