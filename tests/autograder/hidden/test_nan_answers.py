"""Answers full of NaN or inf fail every check they touch with a message that says NaN, and no check
raises on them itself (a NaN tolerance once made torch raise, reported as the student's error)."""

import contextlib
import io

import pytest
import torch

from autograder.hidden import nb01, nb02, nb03, nb04, nb05
from autograder.reference import reference

NAN = float("nan")


def nan_returns(rewards, dones, gamma):
    return torch.full_like(rewards, NAN, dtype=torch.float32)


def nan_reinforce(log_probs, returns):
    return (log_probs * NAN).mean()


def nan_targets(rewards, terminated, truncated, final_values, last_value, gamma):
    return torch.full_like(rewards, float("inf"), dtype=torch.float32)


def nan_a2c(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    nan = dist.log_prob(actions).mean() * NAN + values.mean() * NAN
    return {"loss": nan, "policy_loss": nan, "value_loss": nan, "entropy": nan}


def nan_gae(rewards, values, terminated, truncated, final_values, last_value, gamma, lam):
    return torch.full_like(rewards, NAN, dtype=torch.float32)


def nan_logs_doom(model, optimizer, batch, cfg):
    reference("05_vizdoom").doom_update(model, optimizer, batch, cfg)
    return {k: NAN for k in ("loss", "policy_loss", "value_loss", "entropy", "grad_norm", "explained_variance")}


class NanAdam(reference("03_a3c").SharedAdam):  # its state as the reference makes it; its step writes NaN
    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.fill_(NAN)


CASES = [
    (nb01.grade_discounted_returns, (nan_returns,)),
    (nb01.grade_reinforce_loss, (nan_reinforce,)),
    (nb02.grade_n_step_targets, (nan_targets,)),
    (nb02.grade_a2c_loss, (nan_a2c,)),
    (nb03.grade_shared_adam, (NanAdam,)),
    (nb04.grade_gae, (nan_gae,)),
    (nb05.grade_doom_update, (nan_logs_doom, reference("05_vizdoom").gae)),
]


@pytest.mark.slow
@pytest.mark.parametrize("grade, args", CASES, ids=[f[0].__name__ for _, f in CASES])
def test_nan_answers_fail_with_a_message_about_nan_and_no_check_raises(grade, args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        points = grade(*args)
    report = out.getvalue()
    assert points < 4.0, report
    assert "NaN" in report or "nan" in report.lower(), report
    assert "could not run" not in report and "your code raised" not in report, report
