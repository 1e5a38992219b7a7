"""Environments for the course, built from what gymnasium, ale-py and vizdoom already provide.

Every vector env made here follows two conventions the runners rely on:

* **Same-step autoreset.** When a sub-env's episode ends, ``step`` already returns the first
  observation of the next episode, and the real last observation is in ``info["final_obs"]``.
  No dummy transition is ever produced, so every step of a rollout is a real step.
* **Raw episode statistics.** ``RecordEpisodeStatistics`` sits *before* any reward clipping, so
  ``info["episode"]["r"]`` is the score a human would read off the screen (for Pong: -21..21),
  even when the agent trains on clipped rewards.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import vector as vwrappers

SAME_STEP = AutoresetMode.SAME_STEP

# Without a screen, let SDL (pygame, used by CartPole's rgb_array rendering) draw off-screen
# instead of printing "XDG_RUNTIME_DIR is invalid" to stderr.
if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


class EnvGroups:
    """N envs made as a few vector envs, the *groups*, for a ``RolloutRunner`` that overlaps them with
    the network: while one group steps, the model chooses the other's actions. Observations and
    rollout columns come in group order. Only what the runner needs: reset, close, sizes, spaces."""

    def __init__(self, groups: list):
        self.groups = groups
        self.num_envs = sum(g.num_envs for g in groups)
        self.single_observation_space = groups[0].single_observation_space
        self.single_action_space = groups[0].single_action_space

    def reset(self, seed: int | None = None):
        starts = np.cumsum([0] + [g.num_envs for g in self.groups])
        obs = [g.reset(seed=None if seed is None else seed + int(start))[0] for g, start in zip(self.groups, starts)]
        return np.concatenate(obs), {}

    def close(self):
        for group in self.groups:
            group.close()


def _grouped(make, num_envs: int, groups: int, seed: int | None):
    """``make(n, seed)`` once, or ``groups`` times with n = num_envs / groups and consecutive seeds."""
    if groups <= 1:
        return make(num_envs, seed)
    if num_envs % groups:
        raise ValueError(f"{num_envs} envs do not split into {groups} equal groups")
    size = num_envs // groups
    return EnvGroups([make(size, None if seed is None else seed + k * size) for k in range(groups)])


# --------------------------------------------------------------------------- CartPole
def make_cartpole(seed: int | None = None, render_mode: str | None = None) -> gym.Env:
    """One CartPole-v1 (time limit 500 steps, which *truncates* the episode)."""
    env = gym.make("CartPole-v1", render_mode=render_mode)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env.metadata = {**env.metadata, "step_seconds": 1 / 50}  # CartPole's tau: 0.02 s a step
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def make_cartpole_vec(num_envs: int = 8, seed: int | None = None) -> gym.vector.VectorEnv:
    """``num_envs`` CartPoles stepped together in this process (they are too cheap for processes)."""
    envs = gym.make_vec(
        "CartPole-v1",
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": SAME_STEP},
    )
    envs = vwrappers.RecordEpisodeStatistics(envs)
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs


# --------------------------------------------------------------------------- Atari
ATARI_DEFAULTS = dict(frameskip=4, stack_num=4, img_height=84, img_width=84, noop_max=30)


def make_atari_vec(
    game: str = "pong",
    num_envs: int = 8,
    seed: int | None = None,
    clip_rewards: bool = True,
    num_threads: int = 0,
    groups: int = 1,
    size: int = 84,
    max_episode_frames: int = 108_000,
    repeat_action_probability: float = 0.0,
) -> gym.vector.VectorEnv:
    """Atari with the standard preprocessing, done by ale-py's vector env in C++ threads.

    84x84 grayscale, max-pool over the last two frames, frame-skip 4, 4-frame stack, FIRE and up
    to 30 random no-ops at each reset (as Stable-Baselines3's ``AtariWrapper`` does), sticky
    actions off (the "NoFrameskip-v4" protocol most papers report; ``repeat_action_probability=0.25``
    is ALE's v5 default, Machado et al. 2018: each frame repeats the previous action with that
    probability, so no game replays itself exactly).
    Observations are uint8 ``[N, 4, size, size]``; ``size=42`` gives the smaller frames of A3C's
    Pong runs (the screen shrunk by area averaging: the ball stays visible, fainter).
    Rewards are clipped to their sign for training when ``clip_rewards``; the episode statistics
    keep the raw score.
    This is about twice as fast as gymnasium's vector envs around ``AtariPreprocessing``.
    ``groups=2``: two vector envs of ``num_envs / 2`` (``EnvGroups``), which the runner overlaps with
    the network. An episode that reaches ``max_episode_frames`` (30 minutes of play by default) is
    *truncated*, not terminated: the game had a future.
    """
    if groups > 1:
        return _grouped(
            lambda n, s: make_atari_vec(
                game,
                n,
                s,
                clip_rewards,
                num_threads,
                size=size,
                max_episode_frames=max_episode_frames,
                repeat_action_probability=repeat_action_probability,
            ),
            num_envs,
            groups,
            seed,
        )
    from ale_py.vector_env import AtariVectorEnv

    settings: dict[str, Any] = {**ATARI_DEFAULTS, "img_height": size, "img_width": size}
    envs: gym.vector.VectorEnv = AtariVectorEnv(
        game=game,
        num_envs=num_envs,
        num_threads=num_threads,
        repeat_action_probability=repeat_action_probability,
        reward_clipping=False,
        autoreset_mode=SAME_STEP,
        use_fire_reset=True,
        max_num_frames_per_episode=max_episode_frames,
        **settings,
    )
    envs = vwrappers.RecordEpisodeStatistics(envs)
    if clip_rewards:
        envs = vwrappers.TransformReward(envs, np.sign)
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs


def make_atari(
    game: str = "pong", seed: int | None = None, render_mode: str | None = "rgb_array", size: int = 84
) -> gym.Env:
    """One Atari env with the same preprocessing as ``make_atari_vec``, for evaluation and video.

    It goes through gymnasium's ``AtariPreprocessing`` so that ``env.render()`` still shows the
    full-colour screen while the agent sees the ``size`` x ``size`` gray stack. (Unlike the vector
    env it presses no FIRE at reset: Pong serves by itself.)
    """
    import ale_py

    gym.register_envs(ale_py)
    env_id = "ALE/" + "".join(part.capitalize() for part in game.split("_")) + "-v5"
    env = gym.make(env_id, frameskip=1, repeat_action_probability=0.0, render_mode=render_mode)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=ATARI_DEFAULTS["noop_max"],
        frame_skip=ATARI_DEFAULTS["frameskip"],
        screen_size=size,
        grayscale_obs=True,
        scale_obs=False,
    )
    env = gym.wrappers.FrameStackObservation(env, ATARI_DEFAULTS["stack_num"])
    env.metadata = {**env.metadata, "step_seconds": ATARI_DEFAULTS["frameskip"] / 60}  # 60 frames a second
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


# --------------------------------------------------------------------------- ViZDoom
DOOM_SCENARIO = "defend_the_center"


def doom_config_path(scenario: str = DOOM_SCENARIO) -> Path:
    """The course's copy of a vizdoom scenario cfg: 160x120 GRAY8 instead of 320x240 RGB.

    Rendering fewer, gray pixels makes the engine much faster, and the agent downsamples to
    64x64 gray anyway. The map (.wad) still comes from the vizdoom package.
    """
    return Path(str(resources.files("course_lib") / "scenarios" / f"{scenario}.cfg"))


class DoomEpisodeEnd(gym.Wrapper):
    """vizdoom's gymnasium env, made to follow the course's time-limit rule and report kills.

    * **A time-out is a truncation, a death a termination.** vizdoom 1.3 reports
      ``terminated=True`` *and* ``truncated=True`` when the scenario's time limit (2100 tics for
      defend-the-center) ends an episode, which a runner would read as a death and never
      bootstrap. Here a time-out is ``truncated`` only: the agent was alive, its future unknown.
    * **The last observation is the last screen.** vizdoom has no state once an episode is over
      and returns a black screen; here the episode's last screen is repeated, so that a critic
      bootstrapping at a time-out values what the agent last saw, not a black image.
    * **Kills.** At the end of an episode ``info["kills"]`` holds the monsters killed (the score
      students read; the reward is kills minus one for dying), ``info["died"]`` whether it died.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._last_screen = None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._last_screen = obs["screen"]
        return obs, info

    def step(self, action):
        import vizdoom

        obs, reward, terminated, truncated, info = self.env.step(action)
        game = self.env.unwrapped.game  # type: ignore[attr-defined]  # vizdoom's env, untyped
        if terminated or truncated:
            timed_out = game.is_episode_timeout_reached()
            terminated, truncated = not timed_out, timed_out
            obs = {**obs, "screen": self._last_screen}
            info = {
                **info,
                "kills": int(game.get_game_variable(vizdoom.GameVariable.KILLCOUNT)),
                "died": bool(game.is_player_dead()),
            }
        else:
            self._last_screen = obs["screen"]
        return obs, reward, terminated, truncated, info


class DoomShotCost(gym.Wrapper):
    """Every round fired costs ``cost`` in the reward (kills, the score, are unchanged).

    An agent that can't see its ammo never learns that a missed shot now is a kill it can't make
    a hundred steps later: it fires its 26 rounds at a third of its targets and dies unarmed. A
    price on each round makes a miss cost something at once, so it learns to fire only when a
    monster is in its sights. Notebook 5's live run and the pretraining (``pretrain.a2c_doom``) use
    it, at 0.25 a round: reward shaping, taught as such in the notebook.

    ``warmup``: the price rises linearly from 0 to ``cost`` over this game's first ``warmup``
    steps. Priced from the first step, a random agent (a hit for every 26 rounds or so) can learn
    that shooting never pays and stop; after a warm-up it has learned to aim, and a shot in its
    sights is worth more than its price.
    """

    def __init__(self, env: gym.Env, cost: float, warmup: int = 0):
        super().__init__(env)
        self.cost, self.warmup = cost, warmup
        self.steps = 0  # this game's steps, over all its episodes
        self._ammo = 0.0

    def price(self) -> float:
        """The price of a round now."""
        return self.cost * min(1.0, self.steps / self.warmup) if self.warmup else self.cost

    def _read_ammo(self) -> float:
        import vizdoom

        game = self.env.unwrapped.game  # type: ignore[attr-defined]  # a VizdoomEnv
        return self._ammo if game.is_episode_finished() else game.get_game_variable(vizdoom.GameVariable.AMMO2)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._ammo = self._read_ammo()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        ammo = self._read_ammo()
        fired, self._ammo = max(self._ammo - ammo, 0.0), ammo
        self.steps += 1
        return obs, float(reward) - self.price() * fired, terminated, truncated, info


def _doom_env(
    scenario: str,
    frame_skip: int,
    size: int,
    stack: int,
    render_mode: str | None,
    episode_timeout: int | None = None,
    shot_cost: float = 0.0,
    shot_cost_warmup: int = 0,
) -> gym.Env:
    import vizdoom
    from vizdoom.gymnasium_wrapper.base_gymnasium_env import VizdoomEnv

    env: gym.Env = VizdoomEnv(
        config_file=str(doom_config_path(scenario)),
        frame_skip=frame_skip,
        max_buttons_pressed=1,  # Discrete actions: noop, attack, turn right, turn left
        render_mode=render_mode,
        doom_scenario_path=os.path.join(vizdoom.scenarios_path, f"{scenario}.wad"),
    )
    if episode_timeout is not None:  # tests: a time limit that a short episode reaches
        env.unwrapped.game.set_episode_timeout(episode_timeout)  # type: ignore[attr-defined]
    env = DoomEpisodeEnd(env)
    if shot_cost:
        env = DoomShotCost(env, shot_cost, shot_cost_warmup)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    h, w, _ = env.observation_space["screen"].shape  # type: ignore[index]  # a Dict space
    env = gym.wrappers.TransformObservation(
        env, lambda obs: obs["screen"][..., 0], gym.spaces.Box(0, 255, (h, w), np.uint8)
    )
    env = gym.wrappers.ResizeObservation(env, (size, size))
    env = gym.wrappers.FrameStackObservation(env, stack)
    return env


DOOM_SIZE = 64  # the agent's frames: 64 x 64 gray, 4 stacked


def make_doom(
    scenario: str = DOOM_SCENARIO,
    seed: int | None = None,
    frame_skip: int = 4,
    size: int = DOOM_SIZE,
    stack: int = 4,
    render_mode: str | None = None,
    episode_timeout: int | None = None,
) -> gym.Env:
    """One ViZDoom env: gray ``[stack, size, size]`` uint8 observations, 4 discrete actions.

    ``render_mode="rgb_array"`` renders the game screen (gray at the course's resolution, since
    the cfg asks the engine for GRAY8; ``course_lib.video`` films a colour twin of the game).
    """
    env = _doom_env(scenario, frame_skip, size, stack, render_mode, episode_timeout)
    env.metadata = {**env.metadata, "step_seconds": frame_skip / 35}  # Doom: 35 tics a second
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


class DoomFilmed(gym.Wrapper):
    """The agent's game, and a colour twin of it to film, stepped in lockstep.

    The agent sees the training frames (gray, low resolution); a video should show the game in
    colour, big enough to follow. ViZDoom is deterministic: a second game, rendered in colour at
    ``resolution``, started with the same seed and given the same buttons, plays the very same
    game (kills, health, ammo: tested). The twin advances one tic at a time, so ``frames`` holds
    every tic of the last step (35 a second: real speed), each with kills, ammo and health
    written on it. Every reset needs a seed (both games must start alike): without one, the
    wrapper draws it.
    """

    def __init__(self, env: gym.Env, scenario: str = DOOM_SCENARIO, resolution: str = "RES_320X240"):
        import vizdoom

        super().__init__(env)
        self.game = env.unwrapped.game  # type: ignore[attr-defined]  # a VizdoomEnv
        self.twin = vizdoom.DoomGame()
        self.twin.load_config(str(doom_config_path(scenario)))
        self.twin.set_doom_scenario_path(os.path.join(vizdoom.scenarios_path, f"{scenario}.wad"))
        self.twin.set_screen_format(vizdoom.ScreenFormat.RGB24)
        self.twin.set_screen_resolution(getattr(vizdoom.ScreenResolution, resolution))
        self.twin.set_window_visible(False)
        self.twin.set_sound_enabled(False)
        self.twin.set_episode_timeout(self.game.get_episode_timeout())
        self.twin.init()
        self.frame_skip = env.unwrapped.frame_skip  # type: ignore[attr-defined]
        self.frames: list[np.ndarray] = []
        self._seeds = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options=None):
        seed = int(self._seeds.integers(2**31)) if seed is None else seed
        obs, info = self.env.reset(seed=seed, options=options)
        self.twin.set_seed(self.game.get_seed())  # vizdoom's env derives the game's seed from ``seed``
        self.twin.new_episode()
        self.frames = [self._frame()]
        return obs, info

    def step(self, action):
        buttons = [int(b) for b in self.env.unwrapped.button_map[int(action)]]  # type: ignore[attr-defined]
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.twin.set_action(buttons)
        self.frames = []
        for _ in range(self.frame_skip):
            if self.twin.is_episode_finished():
                break
            self.twin.advance_action(1)
            if not self.twin.is_episode_finished():
                self.frames.append(self._frame())
        return obs, reward, terminated, truncated, info

    def render(self):
        return self.frames[-1] if self.frames else None

    def _frame(self) -> np.ndarray:
        import cv2
        import vizdoom

        frame = np.ascontiguousarray(self.twin.get_state().screen_buffer)
        kills, ammo, health = (
            int(self.twin.get_game_variable(getattr(vizdoom.GameVariable, v))) for v in ("KILLCOUNT", "AMMO2", "HEALTH")
        )
        frame[:22] //= 3  # a dark band for the text
        cv2.putText(
            frame,
            f"kills {kills}   ammo {ammo}   health {max(health, 0)}",
            (8, 16),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        return frame

    def close(self):
        self.twin.close()
        super().close()


def make_doom_filmed(
    seed: int | None = None, scenario: str = DOOM_SCENARIO, resolution: str = "RES_320X240", **kwargs
) -> DoomFilmed:
    """``make_doom`` and its colour twin (``DoomFilmed``): the agent plays, the twin is filmed."""
    env = DoomFilmed(
        _doom_env(
            scenario,
            kwargs.pop("frame_skip", 4),
            kwargs.pop("size", DOOM_SIZE),
            kwargs.pop("stack", 4),
            None,
            kwargs.pop("episode_timeout", None),
        ),
        scenario,
        resolution,
    )
    env.metadata = {**env.metadata, "step_seconds": env.frame_skip / 35}
    env.reset(seed=seed)
    return env


def shot_cost_warmup_per_game(shot_cost_warmup: int, num_envs: int) -> int:
    """Each game's share of a warm-up counted in the steps of all ``num_envs`` games (rounded up):
    ``DoomShotCost`` counts a game's own steps."""
    return -(-shot_cost_warmup // num_envs)


class StartTimeout(RuntimeError):
    """Environments in processes of their own did not start in time (they were stopped)."""


def _descendants(pid: int) -> set[int]:
    """Every process started by ``pid``, its children's children included (Linux: /proc)."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = open(f"/proc/{parent}/task/{task}/children").read().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _started_since(before: set[int]) -> set[int]:
    """This process's descendants that were not there ``before``, but for Python's own
    multiprocessing helper (its resource tracker, one for the whole process)."""
    found = set()
    for pid in _descendants(os.getpid()) - before:
        try:
            if "multiprocessing.resource_tracker" in open(f"/proc/{pid}/cmdline").read():
                continue
        except OSError:
            continue
        found.add(pid)
    return found


def start_processes(env_fns, seed: int | None, timeout: float, what: str = "environments") -> gym.vector.VectorEnv:
    """An ``AsyncVectorEnv`` of ``env_fns`` (spawned), up and reset within ``timeout`` seconds.

    A game engine that never finishes its start would otherwise block the notebook for good (and
    ViZDoom's engines, processes of the games' processes, ignore SIGTERM). Past the deadline every
    process started meanwhile (the games and their engines) is killed, and ``StartTimeout`` says so;
    nothing is left running. (The deadline needs Linux's /proc; elsewhere the start is not bounded.)
    """
    import signal
    import threading

    before = _descendants(os.getpid())
    started, expired = threading.Event(), threading.Event()

    def watchdog():
        if not started.wait(timeout):
            expired.set()
            for pid in _started_since(before):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    threading.Thread(target=watchdog, daemon=True, name="start-deadline").start()
    envs = None
    try:
        envs = gym.vector.AsyncVectorEnv(env_fns, autoreset_mode=SAME_STEP, context="spawn")
        envs.reset_async(seed=seed)
        envs.reset_wait(timeout=timeout)
    except Exception as exc:
        started.set()
        _stop_processes(envs, before)
        if expired.is_set() or isinstance(exc, __import__("multiprocessing").TimeoutError):
            raise StartTimeout(
                f"the {what} did not start within {timeout:.0f} s (a game engine that hangs at its "
                "start, or a machine too busy): they were stopped. Run the cell again; if it "
                "happens again, restart the kernel."
            ) from None
        raise
    started.set()
    if expired.is_set():
        _stop_processes(envs, before)
        raise StartTimeout(f"the {what} did not start within {timeout:.0f} s: they were stopped.")
    return envs


def _stop_processes(envs, before: set[int]) -> None:
    import signal

    if envs is not None:
        try:
            envs.close(terminate=True)
        except Exception:  # pipes already broken by the kill
            pass
    for pid in _started_since(before):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def make_doom_vec(
    num_envs: int = 4,
    seed: int | None = None,
    scenario: str = DOOM_SCENARIO,
    frame_skip: int = 4,
    size: int = DOOM_SIZE,
    stack: int = 4,
    asynchronous: bool | None = None,
    episode_timeout: int | None = None,
    groups: int = 1,
    shot_cost: float = 0.0,
    shot_cost_warmup: int = 0,
    start_timeout: float = 120.0,
) -> gym.vector.VectorEnv:
    """Several ViZDoom games in parallel, each in its own process when ``asynchronous``.

    A Doom engine runs a single thread, so processes are what lets the games use every core
    (``asynchronous``; by default, except in fast mode, where a few short games run faster in this
    process than it takes to start processes for them). They are *spawned*, not forked: a forked
    game would inherit the pipes of the games started before it and keep them open, so that when a
    notebook's kernel dies no game sees its pipe close and none exits. A spawned one holds only its
    own pipe, sees it close, and closes its engine.
    ``groups=2``: two vector envs of ``num_envs / 2`` (``EnvGroups``), which the runner overlaps
    with the network. ``shot_cost``: see ``DoomShotCost`` (0: the scenario's own reward); its price
    rises from 0 over the first ``shot_cost_warmup`` steps of all the games together.
    ``start_timeout``: the games must be up and reset within it (``start_processes``).
    """
    if asynchronous is None:
        from course_lib.runtime import fast_mode

        asynchronous = not fast_mode()
    warmup_per_game = shot_cost_warmup_per_game(shot_cost_warmup, num_envs)
    if groups > 1:
        return _grouped(
            lambda n, s: make_doom_vec(
                n,
                s,
                scenario,
                frame_skip,
                size,
                stack,
                asynchronous,
                episode_timeout,
                shot_cost=shot_cost,
                shot_cost_warmup=warmup_per_game * n,
                start_timeout=start_timeout,
            ),
            num_envs,
            groups,
            seed,
        )

    def make_one():
        return _doom_env(scenario, frame_skip, size, stack, None, episode_timeout, shot_cost, warmup_per_game)

    if asynchronous:
        envs = start_processes([make_one] * num_envs, seed, start_timeout, what="Doom games")
    else:
        envs = gym.vector.SyncVectorEnv([make_one] * num_envs, autoreset_mode=SAME_STEP)
    envs = vwrappers.RecordEpisodeStatistics(envs)
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs
