"""The hidden checks give the reference full marks, a blank answer zero, and each typical mistake
fewer points with a message that names it, on every notebook.

The checks of notebooks 1, 2 and 4 are called here on local functions too (they only call them);
those of notebooks 3 and 5 measure what the student's code did from outside its process
(``autograder.pipeline.drivers``), so they are called as the grader calls them: on the answer cells run in
an answers process of their own, with the course's versions standing in for the pasted functions."""

import contextlib
import io

import nbformat
import pytest
import torch

from autograder.hidden import nb01, nb02, nb03, nb04, nb05
from autograder.pipeline.answers_client import AnswersClient
from autograder.pipeline.score import answer_cells, imports, stand_ins
from autograder.reference import reference
from fixtures import CORRECT as CORRECT_UPDATES
from fixtures import MISTAKES, ROOT, function_from, solution_source

# (hidden check, notebook, name of the function it grades)
LOCAL = [
    (nb01.grade_discounted_returns, "01_policy_gradient", "discounted_returns"),
    (nb01.grade_reinforce_loss, "01_policy_gradient", "reinforce_loss"),
    (nb02.grade_n_step_targets, "02_a2c", "n_step_targets"),
    (nb02.grade_a2c_loss, "02_a2c", "a2c_loss"),
    (nb04.grade_gae, "04_gae", "gae"),
]
# (hidden check, notebook, the function it grades, its answer cell, the pasted functions it also gets)
REMOTE = [
    (nb03.grade_shared_adam, "03_a3c", "SharedAdam", "optimizer_solution", ()),
    (nb03.grade_a3c_update, "03_a3c", "a3c_update", "update_solution", ("n_step_targets", "a2c_loss")),
    (nb05.grade_doom_update, "05_vizdoom", "doom_update", "update_solution", ("gae",)),
]
GRADERS = LOCAL + [(grade, notebook, name) for grade, notebook, name, *_ in REMOTE]
ids = [name for _, _, name in GRADERS]
REMOTE_OF = {name: (grade, notebook, cell, pasted) for grade, notebook, name, cell, pasted in REMOTE}


def blank(*args, **kwargs):
    raise NotImplementedError()


@pytest.fixture(scope="module")
def answers():
    with AnswersClient(call_timeout=60, budget=1200) as answers:
        yield answers


def grade_remote(answers, space: str, name: str, replaced: dict[str, str] | None = None) -> tuple[float, str]:
    """The hidden check of ``name``, on the solution notebook's answer cells (``replaced`` by grade
    id) run in ``space`` of the answers process; (points, report)."""
    grade, notebook, _, pasted = REMOTE_OF[name]
    source = nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4)
    assert answers.exec_cell(space, "imports", imports(source)) is None
    for grade_id, text in answer_cells(source):
        answers.exec_cell(space, grade_id, (replaced or {}).get(grade_id, text))
    stood = stand_ins(notebook)
    answers.stand_in(space, {n: getattr(reference(notebook), n) for names in stood.values() for n in names})
    functions = answers.functions(space, stood)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        points = grade(functions.get(name), *[functions.get(p) for p in pasted])
    return points, out.getvalue()


def stub(notebook: str, grade_id: str) -> str:
    """The student notebook's version of a cell (the blank exercise)."""
    nb = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.mark.parametrize("grade, notebook, name", LOCAL, ids=[n for *_, n in LOCAL])
def test_reference_gets_full_marks(grade, notebook, name, capsys):
    assert grade(getattr(reference(notebook), name)) == 4.0
    assert "FAIL" not in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(REMOTE_OF))
def test_reference_gets_full_marks_from_outside(answers, name):
    points, out = grade_remote(answers, f"reference-{name}", name)
    assert points == 4.0 and "FAIL" not in out and "NOTE" not in out, out


@pytest.mark.parametrize("grade, notebook, name", LOCAL, ids=[n for *_, n in LOCAL])
def test_blank_gets_zero(grade, notebook, name, capsys):
    assert grade(blank) == 0.0
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(REMOTE_OF))
def test_blank_gets_zero_from_outside(answers, name):
    _, notebook, cell, _ = REMOTE_OF[name]
    points, out = grade_remote(answers, f"blank-{name}", name, {cell: stub(notebook, cell)})
    assert points == 0.0 and "not written yet" in out, out


@pytest.mark.parametrize("grade, notebook, name", GRADERS, ids=ids)
def test_a_function_that_does_not_exist_scores_zero_with_a_plain_message(grade, notebook, name, capsys):
    assert grade(None) == 0.0
    assert f"`{name}` is not defined" in capsys.readouterr().out


GRADER_OF = {name: grade for grade, _, name in GRADERS}


MISTAKE_CASES = [
    ("returns_ignore_boundaries", "discounted_returns", 2.0, "restart at every episode boundary"),
    ("returns_in_place", "discounted_returns", 3.6, "in place"),
    ("loss_wrong_sign", "reinforce_loss", 1.5, "sign is flipped"),
    ("loss_no_baseline", "reinforce_loss", 2.0, "baseline"),
    ("targets_no_bootstrap", "n_step_targets", 2.5, "r + gamma * last_value"),
    ("targets_ignore_dones", "n_step_targets", 1.5, "after a terminated step the future is 0"),
    ("loss_advantages_not_detached", "a2c_loss", 3.25, "advantages must be constants"),
    ("loss_entropy_of_sampled_action", "a2c_loss", 3.5, "exact entropy"),
    ("adam_state_not_shared", "SharedAdam", 1.0, "not in shared memory"),
    ("adam_step_is_a_number", "SharedAdam", 1.0, "Keep the step count in a tensor"),
    ("adam_state_made_in_step", "SharedAdam", 1.0, "no state before its first step"),
    ("adam_counts_steps_privately", "SharedAdam", 1.0, "your step() did not add 1 to it"),
    ("adam_assigns_new_moments", "SharedAdam", 1.0, "never state['exp_avg'] = ..."),
    ("adam_without_bias_correction", "SharedAdam", 2.5, "no bias correction"),
    ("update_keeps_the_gradients", "a3c_update", 1.0, "the shared model received no gradient"),
    ("update_never_refreshes", "a3c_update", 1.0, "the local model still has its old weights"),
    ("update_never_zeroes_the_gradients", "a3c_update", 1.0, "the local gradients are never zeroed"),
    ("update_zeroes_the_shared_gradients", "a3c_update", 1.0, "optimizer.zero_grad() zeroes the shared model's"),
    ("update_forward_with_the_shared_model", "a3c_update", 1.0, "the forward pass used shared_model"),
    ("update_refreshes_before_the_loss", "a3c_update", 1.0, "refreshed (load_state_dict) before the loss"),
    ("update_without_clipping", "a3c_update", 1.0, "the gradient was not clipped"),
    ("update_clips_after_the_copy", "a3c_update", 1.0, "clipping after the copy"),
    ("gae_without_lambda", "gae", 1.0, "A_t = delta_t + gamma * lambda * A_{t+1}"),
    ("gae_recursion_crosses_episode_ends", "gae", 1.0, "A_{t+1} (the next episode's) is not added"),
    ("gae_truncation_as_termination", "gae", 1.5, "after a truncated step V_next is final_values[t]"),
    ("gae_last_truncation_uses_last_value", "gae", 1.5, "a truncation at the last step bootstraps from final_values"),
    ("doom_update_without_normalizing", "doom_update", 1.0, "normalize them over the batch"),
    ("doom_update_normalizes_the_targets", "doom_update", 1.0, "the value loss's gradient"),
    ("doom_update_without_clipping", "doom_update", 1.0, "clip it with torch.nn.utils.clip_grad_norm_"),
    ("doom_advantages_not_detached", "doom_update", 1.0, "the advantages are not constants"),
    ("doom_without_entropy", "doom_update", 1.0, "the entropy bonus is missing"),
    ("doom_entropy_sign_flipped", "doom_update", 1.0, "its sign is flipped"),
    ("doom_without_zero_grad", "doom_update", 1.0, "Call optimizer.zero_grad() before loss.backward()"),
    ("doom_targets_are_advantages", "doom_update", 1.0, "targets = A: the critic's targets are A + V"),
    ("doom_policy_sign_flipped", "doom_update", 1.0, "the policy gradient points the wrong way"),
    ("update_steps_by_hand", "a3c_update", 1.0, "your update changed them itself"),
    ("doom_update_steps_by_hand", "doom_update", 1.0, "your update changed them itself"),
]


@pytest.mark.parametrize("mistake, function, max_points, message", MISTAKE_CASES)
def test_typical_mistakes_lose_points_with_a_helpful_message(mistake, function, max_points, message, answers, capsys):
    notebook, cell, source = MISTAKES[mistake]
    if function in REMOTE_OF:
        points, out = grade_remote(answers, mistake, function, {cell: source})
    else:
        context = vars(reference(notebook))  # the notebook's other answers
        points = GRADER_OF[function](function_from(source, function, context))
        out = capsys.readouterr().out
    assert 0.0 <= points <= max_points, out
    assert message in out, out


def test_every_typical_mistake_is_tested():
    """Each mistake of the fixture class is a case above (the class test grades those of
    fixtures.END_TO_END end to end, through the sandbox and nbgrader)."""
    assert {mistake for mistake, *_ in MISTAKE_CASES} == set(MISTAKES)


@pytest.mark.parametrize("variant", sorted(CORRECT_UPDATES))
def test_correct_variants_of_the_updates_keep_full_marks(answers, variant):
    notebook, cell, source = CORRECT_UPDATES[variant]
    name = {"optimizer_solution": "SharedAdam"}.get(cell) or ("a3c_update" if notebook == "03_a3c" else "doom_update")
    points, out = grade_remote(answers, variant, name, {cell: source})
    assert points == 4.0, out


WRONG_PASTE = {
    # the exercise, the pasted cell, what is pasted there, the words of the note
    "a3c_update": (
        "from_nb02_solution",
        lambda: solution_source("03_a3c", "from_nb02_solution").replace(
            "advantages = (targets - values).detach()", "advantages = targets - values"
        ),
        "a2c_loss scores",
    ),
    "doom_update": ("gae_solution", lambda: stub("05_vizdoom", "gae_solution"), "your pasted gae scores 0 / 4"),
}


@pytest.mark.parametrize("name", sorted(WRONG_PASTE))
def test_a_wrong_or_missing_pasted_function_costs_the_new_exercise_nothing_and_is_reported(answers, name):
    """The new exercise is scored with the course's versions of the earlier functions (its points
    measure the new skill); the report says apart that the pasted one is wrong or missing."""
    cell, source, words = WRONG_PASTE[name]
    points, out = grade_remote(answers, f"pasted-{name}", name, {cell: source()})
    assert points == 4.0, out
    assert "NOTE" in out and words in out and "not graded here" in out, out


def test_report_never_shows_the_reference_source(capsys):
    nb01.grade_reinforce_loss(function_from(MISTAKES["loss_wrong_sign"][2], "reinforce_loss"))
    out = capsys.readouterr().out
    assert "returns.std() + 1e-8)" not in out and "BEGIN SOLUTION" not in out


def test_hidden_checks_write_nothing_to_stderr(capfd):
    ref = reference("01_policy_gradient").discounted_returns

    def noisy(rewards, dones, gamma):
        import sys
        import warnings

        warnings.warn("a warning from the student's code", stacklevel=1)
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


# --------------------------------------------------------------------------- alternative implementations
# Correct variants keep full marks; wrong losses whose gradient is wrong keep at most half of the
# hidden points, with a message that names the mistake. Each is checked called locally and called
# across the process boundary, as the grader calls it.
CORRECT = {
    "reinforce_float64_numpy": (
        "reinforce_loss",
        """
import numpy as np
import torch

def reinforce_loss(log_probs, returns):
    r = returns.detach().cpu().numpy().astype(np.float64)
    advantages = torch.from_numpy((r - r.mean()) / (r.std(ddof=1) + 1e-8))
    return -(log_probs.double() * advantages).mean()
""",
    ),
    "reinforce_population_std": (
        "reinforce_loss",
        """
import torch

def reinforce_loss(log_probs, returns):
    returns = returns.detach()
    advantages = (returns - returns.mean()) / (returns.std(unbiased=False) + 1e-8)
    return -(log_probs * advantages).mean()
""",
    ),
    "reinforce_sum_over_n": (
        "reinforce_loss",
        """
import torch

def reinforce_loss(log_probs, returns):
    advantages = (returns - returns.mean()) / (returns.std() + 1e-8)
    return -(log_probs * advantages.detach()).sum() / len(log_probs)
""",
    ),
    "a2c_float64_mse": (
        "a2c_loss",
        """
import torch
import torch.nn.functional as F

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    values, targets = values.double(), targets.double()
    advantages = targets - values.detach()
    policy_loss = -(dist.log_prob(actions).double() * advantages).sum() / len(actions)
    value_loss = F.mse_loss(values, targets)
    entropy = dist.entropy().double().mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
""",
    ),
    "targets_float64": (
        "n_step_targets",
        """
import torch

def n_step_targets(rewards, terminated, truncated, final_values, last_value, gamma):
    targets = torch.zeros(rewards.shape, dtype=torch.float64)
    running = last_value.double()
    for t in reversed(range(rewards.shape[0])):
        future = torch.where(truncated[t] > 0, final_values[t].double(), running) * (1 - terminated[t].double())
        running = rewards[t].double() + gamma * future
        targets[t] = running
    return targets
""",
    ),
    "returns_float64": (
        "discounted_returns",
        """
import torch

def discounted_returns(rewards, dones, gamma):
    out = torch.zeros(rewards.shape, dtype=torch.float64)
    running = torch.zeros(rewards.shape[1:], dtype=torch.float64)
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t].double() + gamma * (1 - dones[t].double()) * running
        out[t] = running
    return out
""",
    ),
}

WRONG = {
    # name: (function, source, the words the report must say)
    "a2c_critic_gets_no_gradient": (
        "a2c_loss",
        """
import torch

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    advantages = (targets - values).detach()
    policy_loss = -(dist.log_prob(actions) * advantages).mean()
    value_loss = (targets - values.detach()).pow(2).mean()      # the critic learns nothing
    entropy = dist.entropy().mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
""",
        "your critic receives no gradient",
    ),
    "a2c_broadcasting": (
        "a2c_loss",
        """
import torch

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    values = values.unsqueeze(-1)                                # [B, 1] against targets [B]: [B, B]
    advantages = (targets - values).detach()
    policy_loss = -(dist.log_prob(actions) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
""",
        "must both have shape [B]",
    ),
    "a2c_detached_log_prob": (
        "a2c_loss",
        """
import torch

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    log_probs = dist.log_prob(actions).detach()                  # the policy loss trains nothing
    advantages = (targets - values).detach()
    policy_loss = -(log_probs * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
""",
        "sends no gradient into the policy",
    ),
    "reinforce_detached_log_prob": (
        "reinforce_loss",
        """
import torch

def reinforce_loss(log_probs, returns):
    advantages = (returns - returns.mean()) / (returns.std() + 1e-8)
    return -(log_probs.detach() * advantages).mean().requires_grad_()
""",
        "no gradient reaches the policy network",
    ),
}


@pytest.fixture(scope="module")
def remote_answers():
    from autograder.pipeline.answers_client import AnswersClient

    with AnswersClient(call_timeout=30, budget=300) as answers:
        for name, (_, source, *_) in {**CORRECT, **WRONG}.items():
            assert answers.exec_cell(name, "solution", source) is None
        yield answers


def _grade_both_ways(name, function, source, remote_answers, capsys):
    local = GRADER_OF[function](function_from(source, function))
    local_out = capsys.readouterr().out
    far = GRADER_OF[function](remote_answers.functions(name)[function])
    far_out = capsys.readouterr().out
    return (local, local_out), (far, far_out)


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variants_keep_full_marks(name, remote_answers, capsys):
    function, source = CORRECT[name]
    for points, out in _grade_both_ways(name, function, source, remote_answers, capsys):
        assert points == 4.0, out


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_loss_with_a_wrong_gradient_keeps_at_most_half_with_a_message_naming_it(name, remote_answers, capsys):
    function, source, words = WRONG[name]
    for points, out in _grade_both_ways(name, function, source, remote_answers, capsys):
        assert points <= 2.0, out
        assert words in out, out


def test_a_wrong_element_in_a_large_result_is_shown_with_the_inputs_around_it(capsys):
    ref = reference("02_a2c").n_step_targets

    def off_by_one(rewards, terminated, truncated, final_values, last_value, gamma):
        out = ref(rewards, terminated, truncated, final_values, last_value, gamma)
        out[7, 2] += 1.0
        return out

    nb02.grade_n_step_targets(off_by_one)
    out = capsys.readouterr().out
    assert "first wrong element: index [7, 2]" in out
    assert "rewards[5..9, 2] = " in out and "terminated[5..9, 2] = " in out and "truncated[5..9, 2] = " in out
