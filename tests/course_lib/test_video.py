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


def test_record_video_and_embed_with_a_still_frame_first(tmp_path, monkeypatch):
    import gymnasium as gym
    import IPython.display

    make = lambda: gym.wrappers.RecordEpisodeStatistics(CountdownEnv(5, render_mode="rgb_array"))  # noqa: E731
    path, returns = video.record_video(make, ValueIsTenTimesObs(), tmp_path / "ep.mp4", episodes=2)
    assert returns == [5.0, 5.0]
    assert imageio.get_reader(path).count_frames() == 12  # reset frame + 5 steps, twice
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    video.show_video(path)
    poster, clip = shown
    assert isinstance(poster, IPython.display.Image) and poster.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert clip.data.startswith("<video") and 'src="data:video/mp4;base64,' in clip.data


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
