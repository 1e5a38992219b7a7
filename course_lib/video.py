"""Record a policy playing to mp4, and show the video inside the notebook.

The video is embedded in the notebook output as base64 (H.264 in an mp4, which every browser
plays), so it plays in JupyterLab, in Colab and in an HTML export, with no file to carry along.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Callable

import imageio.v2 as imageio
import numpy as np

from .runners import Model, play_episode


def _even(frame: np.ndarray) -> np.ndarray:
    """H.264 wants even sizes and 3 channels."""
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    elif frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[: h - h % 2, : w - w % 2])


def save_mp4(frames: list[np.ndarray], path: str | Path, fps: int = 30, scale: int = 1) -> Path:
    """Write frames (``[H, W, 3]`` or gray ``[H, W]`` uint8) to an H.264 mp4."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not frames:
        raise ValueError("no frames to write")
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=6, macro_block_size=1,
                            ffmpeg_log_level="error", pixelformat="yuv420p") as writer:
        for frame in frames:
            frame = _even(np.asarray(frame, dtype=np.uint8))
            if scale > 1:
                frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
            writer.append_data(frame)
    return path


def show_video(path: str | Path, width: int = 400):
    """An HTML5 video with the mp4 embedded as base64: plays in JupyterLab, Colab and exported HTML."""
    from IPython.display import HTML

    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return HTML(f'<video width="{width}" controls autoplay loop muted playsinline>'
                f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>')


def record_video(make_env: Callable[[], object], model: Model, path: str | Path, episodes: int = 1,
                 max_steps: int = 10_000, fps: int = 30, seed: int = 0, scale: int = 1,
                 greedy: bool = True) -> tuple[Path, list[float]]:
    """Record ``episodes`` episodes back to back into one mp4; return its path and the raw returns."""
    env = make_env()
    frames, returns = [], []
    try:
        for k in range(episodes):
            ret, episode_frames = play_episode(env, model, greedy, seed + k, max_steps=max_steps, render=True)
            frames += episode_frames
            returns.append(ret)
    finally:
        env.close()
    return save_mp4(frames, path, fps=fps, scale=scale), returns
