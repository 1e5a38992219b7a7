"""The benchmarks read a notebook's settings from the notebook itself (``notebook_settings``)."""

import dataclasses

import pytest

from autograder.reference import notebook_settings


def test_the_settings_are_the_notebooks_own_with_its_real_or_fast_budgets(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    real = notebook_settings("05_vizdoom", "DoomConfig")
    monkeypatch.setenv("COURSE_FAST", "1")
    fast = notebook_settings("05_vizdoom", "DoomConfig")
    assert dataclasses.is_dataclass(real) and type(real).__name__ == "DoomConfig"
    # runtime.budget(8, 2) and runtime.budget(500_000, 0) in the notebook's class
    assert (real.num_envs, real.shot_cost_warmup) == (8, 500_000)
    assert (fast.num_envs, fast.shot_cost_warmup) == (2, 0)
    assert real.lr == fast.lr == 5e-4  # the same literal, read twice


@pytest.mark.parametrize(
    "notebook, name, fields",
    [
        ("02_a2c", "CartPoleConfig", {"lr", "num_envs", "num_steps", "gamma", "value_coef", "entropy_coef"}),
        ("02_a2c", "PongConfig", {"lr", "num_envs", "num_steps", "gamma", "value_coef", "entropy_coef", "frame_size"}),
        ("03_a3c", "A3CConfig", {"lr", "workers", "num_steps", "gamma", "max_env_steps"}),
        ("05_vizdoom", "DoomConfig", {"lr", "num_envs", "num_steps", "gae_lambda", "shot_cost", "shot_cost_warmup"}),
    ],
)
def test_every_settings_class_the_benchmarks_read_has_the_fields_they_use(notebook, name, fields):
    assert fields <= {f.name for f in dataclasses.fields(notebook_settings(notebook, name))}


def test_an_unknown_class_is_a_clear_error():
    with pytest.raises(LookupError, match="solutions/05_vizdoom.ipynb defines no class NoSuchConfig"):
        notebook_settings("05_vizdoom", "NoSuchConfig")
