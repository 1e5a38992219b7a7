"""End to end through nbgrader's own autograde: full marks, zeros, and lost points where they belong."""
import pytest

from autograder.grading import autograde, table
from autograder.release import NOTEBOOKS, SOLUTIONS
from submissions import mistake_submission

NB = "01_policy_gradient"


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("submissions")
    submissions = {
        "reference": {NB: SOLUTIONS / f"{NB}.ipynb"},
        "blank": {NB: NOTEBOOKS / f"{NB}.ipynb"},
        "no_boundaries": {NB: mistake_submission("returns_ignore_boundaries", tmp / "a.ipynb")},
        "wrong_sign": {NB: mistake_submission("loss_wrong_sign", tmp / "b.ipynb")},
    }
    result = autograde(tmp_path_factory.mktemp("course"), submissions)
    print(table(result))
    return {g.student: g for g in result}


def test_reference_gets_full_marks(grades):
    g = grades["reference"]
    assert g.status == "graded" and g.max_total == 10.0 and g.total == 10.0


def test_blank_gets_zero_on_every_exercise(grades):
    assert grades["blank"].exercises == {"loss": 0.0, "returns": 0.0}


def test_returns_ignoring_episode_boundaries_lose_points(grades):
    g = grades["no_boundaries"]
    assert g.exercises["loss"] == 5.0
    assert g.exercises["returns"] <= 2.0  # visible check fails, most hidden checks fail


def test_loss_with_the_wrong_sign_loses_points(grades):
    g = grades["wrong_sign"]
    assert g.exercises["returns"] == 5.0
    assert g.exercises["loss"] <= 1.5


def test_table_lists_every_submission(grades):
    text = table(list(grades.values()))
    assert all(name in text for name in grades) and "10/10" in text
