import math

import numpy as np
import torch

from course_lib import plotting
from course_lib.diagnostics import History, explained_variance
from course_lib.runners import EpisodeStats


def test_smooth_is_a_trailing_mean():
    np.testing.assert_allclose(plotting.smooth([1, 2, 3, 4, 5], 2), [1, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(plotting.smooth([1, 2, 3], 1), [1, 2, 3])
    assert plotting.smooth([], 5).size == 0


def test_explained_variance_by_hand():
    targets = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(targets, targets) == 1.0
    assert explained_variance(torch.full((4,), 2.5), targets) == 0.0  # a constant at the mean
    assert explained_variance(torch.zeros(4), targets) == 0.0  # residuals as spread as the targets
    assert math.isclose(explained_variance(-targets, targets), 1 - 4.0, rel_tol=1e-6)  # Var[2t] = 4 Var[t]
    assert math.isnan(explained_variance(torch.zeros(3), torch.ones(3)))


def test_history_round_trip_and_last():
    h = History()
    h.log(10, entropy=0.5, value_loss=torch.tensor(2.0))
    h.log(20, entropy=0.25)
    assert h.last("entropy") == 0.25 and h.steps["entropy"] == [10, 20]
    assert math.isnan(h.last("grad_norm"))
    again = History.from_dict(h.to_dict())
    assert again.values == h.values and again.steps == h.steps


def test_learning_curve_plots_raw_and_smoothed_returns():
    episodes = [EpisodeStats(float(i), 10, 100 * i) for i in range(30)]
    ax = plotting.plot_learning_curve(episodes, window=5, target=25)
    raw, smoothed = ax.lines[0], ax.lines[1]
    np.testing.assert_array_equal(raw.get_xdata(), [100 * i for i in range(30)])
    np.testing.assert_allclose(smoothed.get_ydata()[-1], np.mean(range(25, 30)))
    assert ax.get_xlabel() == "environment steps"


def test_diagnostics_panel_has_one_axis_per_logged_quantity():
    h = History()
    for step in range(5):
        h.log(step, entropy=1.0, policy_loss=0.1, value_loss=0.2, explained_variance=0.5, grad_norm=1.0)
    fig = plotting.plot_diagnostics(h)
    assert [ax.get_title() for ax in fig.axes] == [
        "entropy",
        "policy loss",
        "value loss",
        "explained variance",
        "grad norm",
    ]


def test_curve_file_of_a_pretrained_agent(tmp_path):
    import json

    path = tmp_path / "agent.json"
    path.write_text(
        json.dumps(
            {
                "meta": {"algorithm": "A2C", "game": "pong", "train_minutes": 90},
                "episodes": [[1000 * i, -21 + i] for i in range(10)],
            }
        )
    )
    ax = plotting.plot_curve_file(path, window=3)
    assert "A2C on pong: 90 min" in ax.get_title()
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [-21 + i for i in range(10)])
