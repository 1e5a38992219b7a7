"""Notebook 5's Doom: the colour twin plays the agent's very game, the video is filmed at real
speed, and no Doom process outlives a notebook cell that ends, fails or is interrupted, or a
kernel that is killed."""

import time

import numpy as np
import psutil
import pytest
import vizdoom

from course_lib import envs, networks, video


@pytest.mark.slow
def test_the_colour_twin_plays_the_same_game_as_the_agent():
    env = envs.make_doom_filmed(seed=11)
    rng = np.random.default_rng(0)
    variables = [vizdoom.GameVariable.KILLCOUNT, vizdoom.GameVariable.HEALTH, vizdoom.GameVariable.AMMO2]
    for _ in range(600):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
        assert len(env.frames) == (0 if terminated or truncated else 4) or terminated or truncated
        if terminated or truncated:
            break
        assert [env.game.get_game_variable(v) for v in variables] == [env.twin.get_game_variable(v) for v in variables]
    assert terminated or truncated
    assert env.twin.is_episode_finished()
    frame = env.render()
    assert frame is None or frame.shape == (240, 320, 3)
    env.close()


@pytest.mark.slow
def test_record_doom_films_every_tic_in_colour(tmp_path):
    import imageio.v2 as imageio

    agent = networks.NatureCNNActorCritic(**networks.DOOM_NETWORK)
    path, episode = video.record_doom(agent, tmp_path / "doom.mp4", seed=3, max_steps=30)
    reader = imageio.get_reader(path)
    assert reader.get_meta_data()["fps"] == 35
    frame = reader.get_data(0)
    assert frame.shape == (240, 320, 3) and frame[40:].std(axis=-1).mean() > 1  # colour, not gray
    assert reader.count_frames() == 1 + 4 * episode["steps"] or episode["ended"]
    assert video.poster_path(path).exists() and episode["kills"] >= 0


def doom_engines(pid):
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [
        c
        for c in children
        if c.is_running() and c.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(c.cmdline())
    ]  # multiprocessing's own helper, not a game


def wait_for(predicate, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


TRAINING_CELL = """
from contextlib import closing
import numpy as np
from course_lib import envs
with closing(envs.make_doom_vec(3, seed=0, asynchronous=True)) as games:
    games.reset(seed=0)
    for step in range(10**9):
        games.step(np.zeros(3, dtype=np.int64))
        if step == FAIL_AT:
            raise RuntimeError("the cell failed")
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ends", "fails", "interrupted"])
def test_no_doom_process_outlives_its_cell(kernel, how):
    km, kc = kernel
    pid = km.provisioner.process.pid
    fail_at = {"ends": -1, "fails": 50, "interrupted": -1}[how]
    source = TRAINING_CELL.replace("FAIL_AT", str(fail_at))
    if how == "ends":
        source = source.replace("range(10**9)", "range(30)")
    reply = kc.execute(source)
    if how == "interrupted":
        assert wait_for(lambda: len(doom_engines(pid)) >= 6, 60)  # 3 env processes and their 3 engines
        km.interrupt_kernel()
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") == reply and msg["content"].get("execution_state") == "idle":
            break
    assert wait_for(lambda: doom_engines(pid) == [], 30), [p.cmdline()[:2] for p in doom_engines(pid)]


@pytest.mark.slow
def test_no_doom_process_outlives_a_killed_kernel(kernel):
    km, kc = kernel
    pid = km.provisioner.process.pid
    kc.execute(TRAINING_CELL.replace("FAIL_AT", "-1"))
    assert wait_for(lambda: len(doom_engines(pid)) >= 6, 60)
    engines = doom_engines(pid)
    psutil.Process(pid).kill()  # what a kernel restart does to the old kernel
    _, alive = psutil.wait_procs(engines, timeout=30)
    assert alive == [], [p.cmdline()[:2] for p in alive]
