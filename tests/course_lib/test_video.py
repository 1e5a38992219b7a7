import imageio.v2 as imageio
import numpy as np
import pytest
from analytic_envs import CountdownEnv, ValueIsTenTimesObs

from course_lib import envs, video


def test_mp4_round_trip(tmp_path):
    frames = [np.full((15, 21, 3), 10 * i, np.uint8) for i in range(12)]
    path = video.save_mp4(frames, tmp_path / "v" / "clip.mp4", fps=10, scale=2)
    reader = imageio.get_reader(path)
    read = [f for f in reader]
    assert len(read) == 12
    assert read[0].shape == (28, 40, 3)  # odd sizes cut to even, then scaled 2x
    assert abs(int(read[-1].mean()) - 110) <= 3


def test_gray_frames_are_accepted(tmp_path):
    path = video.save_mp4([np.zeros((8, 8), np.uint8)] * 3, tmp_path / "g.mp4")
    assert imageio.get_reader(path).count_frames() == 3


def test_a_video_is_one_output_the_player_or_a_captioned_still(tmp_path, monkeypatch):
    """One output: the player where the notebook's styles run, its captioned still where they do not
    (JupyterLab, untrusted: seen in a screenshot of JupyterLab 4.6), so the video never shows twice."""
    import base64
    import io

    import gymnasium as gym
    import IPython.display
    from PIL import Image

    make = lambda: gym.wrappers.RecordEpisodeStatistics(CountdownEnv(5, render_mode="rgb_array"))  # noqa: E731
    path, returns = video.record_video(make, ValueIsTenTimesObs(), tmp_path / "ep.mp4", episodes=2)
    assert returns == [5.0, 5.0]
    assert imageio.get_reader(path).count_frames() == 12  # reset frame + 5 steps, twice
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    video.show_video(path)
    [(bundle, raw)] = shown
    assert raw and set(bundle) == {"text/html", "image/png", "text/plain"}
    html = bundle["text/html"]
    assert html.count("<video") == 1 and 'src="data:video/mp4;base64,' in html
    assert f'src="data:image/png;base64,{bundle["image/png"]}"' in html  # the still, shown where styles are not
    assert (
        "<style>.course-still{display:none !important}" in html and 'class="course-video" style="display:none"' in html
    )
    still = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    frame = Image.open(video.poster_path(path))
    scale = still.width // frame.width
    assert still.width >= 400 and still.height > frame.height * scale  # the frame, scaled up, a caption below
    assert "Trust Notebook" in bundle["text/plain"] and "Command Palette" in video.STILL_CAPTION


@pytest.mark.parametrize(
    "make, fps",
    [
        (lambda: envs.make_cartpole(render_mode="rgb_array"), 50.0),
        (lambda: envs.make_atari("pong"), 15.0),  # 60 frames a second, the agent acts on every 4th
    ],
)
def test_videos_play_at_the_games_real_speed(make, fps):
    env = make()
    assert video.real_time_fps(env) == pytest.approx(fps)
    env.close()
