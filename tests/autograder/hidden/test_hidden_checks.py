"""The hidden checks' own behaviour, beyond the fixture class (which
``tests/autograder/test_one_verdict.py`` grades both ways: the reference, the blank copy, every typical
mistake and correct variant): a missing function, a wrong or missing pasted function, what a report
never shows, stderr, and how a wrong element is shown."""

import contextlib
import io

import nbformat
import pytest
import torch

from autograder.hidden import nb01, nb02, nb03, nb04, nb05
from autograder.pipeline.answers_client import AnswersClient
from autograder.pipeline.scorer import answer_cells, imports, stand_ins
from autograder.reference import reference
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


@pytest.mark.parametrize("grade, notebook, name", GRADERS, ids=ids)
def test_a_function_that_does_not_exist_scores_zero_with_a_plain_message(grade, notebook, name, capsys):
    assert grade(None) == 0.0
    assert f"`{name}` is not defined" in capsys.readouterr().out


GRADER_OF = {name: grade for grade, _, name in GRADERS}


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


@pytest.mark.slow
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


@pytest.mark.slow
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
