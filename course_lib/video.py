"""Record a policy playing to mp4, and show the video inside the notebook.

The video is embedded in the notebook output as base64 (H.264 in an mp4, which every browser
plays), so it plays in JupyterLab, in Colab and in an HTML export, with no file to carry along.
It is one output: HTML that holds the player and a still frame (PNG) with a caption that says how
to play it, and a style rule that shows the player and hides the still. A viewer that runs the
notebook's styles (Colab, an HTML export, a trusted notebook in JupyterLab) shows the player;
JupyterLab, for a notebook it does not trust (one executed elsewhere, such as graded feedback),
drops the style rule and the player's source, and shows the still. The same still, alone, is the
output's PNG form, for viewers that show no HTML.

Videos play at the game's real speed: each step of an env made by ``course_lib.envs`` lasts
``env.metadata["step_seconds"]`` (a CartPole step is 1/50 s, an Atari step 4 frames of 1/60 s).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import numpy as np
import torch
from PIL import Image, ImageDraw

from .runners import Model, play_episode


def _even(frame: np.ndarray) -> np.ndarray:
    """H.264 wants even sizes and 3 channels."""
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    elif frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[: h - h % 2, : w - w % 2])


def save_mp4(frames: list[np.ndarray], path: str | Path, fps: float = 30, scale: int = 1) -> Path:
    """Write frames (``[H, W, 3]`` or gray ``[H, W]`` uint8) to an H.264 mp4, and a still frame
    beside it (``poster_path(path)``: the frame a third of the way in)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not frames:
        raise ValueError("no frames to write")
    with imageio.get_writer(
        path, fps=fps, codec="libx264", quality=6, macro_block_size=1, ffmpeg_log_level="error", pixelformat="yuv420p"
    ) as writer:
        for frame in frames:
            frame = _even(np.asarray(frame, dtype=np.uint8))
            if scale > 1:
                frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
            writer.append_data(frame)  # type: ignore[attr-defined]  # an ffmpeg writer
    imageio.imwrite(poster_path(path), _even(np.asarray(frames[len(frames) // 3], dtype=np.uint8)))
    return path


def poster_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".png")


STILL_CAPTION = (
    "A still of the video: this notebook is not trusted, so its video does not play here. To play it, run "
    "this cell again, or trust the notebook (JupyterLab: 'Trust Notebook' in the Command Palette, Ctrl+Shift+C)."
)


def captioned_still(frame: np.ndarray, caption: str = STILL_CAPTION) -> bytes:
    """A PNG of ``frame`` (at least 400 pixels wide) with ``caption`` written in a band below it."""
    image = Image.fromarray(_even(np.asarray(frame, dtype=np.uint8)))
    if image.width < 400:
        factor = -(-400 // image.width)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    words, lines = caption.split(), [""]
    for word in words:  # wrap at about 7 pixels a character (PIL's default font)
        if len(lines[-1]) + len(word) + 1 > image.width // 7:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".strip()
    band = 14 * len(lines) + 10
    out = Image.new("RGB", (image.width, image.height + band), "white")
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((6, image.height + 5 + 14 * i), line, fill="black")
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return buffer.getvalue()


def video_bundle(path: str | Path, width: int = 400) -> dict[str, str]:
    """The video as one output (``text/html``: the player and its captioned still, one of them shown,
    see the module's docstring; ``image/png``: the still alone, for viewers that show no HTML)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    poster = poster_path(path)
    still = base64.b64encode(captioned_still(imageio.imread(poster))).decode("ascii") if poster.exists() else ""
    player = (
        f'<video class="course-video" style="display:none" width="{width}" controls autoplay loop muted playsinline>'
        f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>'
    )
    bundle = {
        "text/html": "<style>.course-still{display:none !important} .course-video{display:inline-block !important}"
        "</style>"
        + (f'<img class="course-still" src="data:image/png;base64,{still}" width="{width}">' if still else "")
        + player,
        "text/plain": f"<video {Path(path).name}: {STILL_CAPTION}>",
    }
    if still:
        bundle["image/png"] = still
    return bundle


def show_video(path: str | Path, width: int = 400) -> None:
    """Show the video once: the player where the viewer runs HTML, else its captioned still."""
    from IPython.display import display

    display(video_bundle(path, width), raw=True)


def real_time_fps(env) -> float:
    """Frames per second that show ``env``'s steps at the game's real speed (one frame per step)."""
    seconds = env.metadata.get("step_seconds")
    return 1.0 / seconds if seconds else float(env.metadata.get("render_fps") or 30)


def record_video(
    make_env: Callable[[], Any],
    model: Model,
    path: str | Path,
    episodes: int = 1,
    max_steps: int = 10_000,
    fps: float | None = None,
    seed: int = 0,
    scale: int = 1,
    greedy: bool = True,
    device=None,
) -> tuple[Path, list[float]]:
    """Record ``episodes`` episodes back to back into one mp4; return its path and the raw returns.

    ``fps``: by default the game's real speed (``real_time_fps``). ``device``: where the model is
    (by default, where its parameters are).
    """
    env = make_env()
    fps = fps or real_time_fps(env)
    frames, returns = [], []
    try:
        for k in range(episodes):
            ret, episode_frames = play_episode(
                env, model, greedy, seed + k, device=device, max_steps=max_steps, render=True
            )
            frames += episode_frames
            returns.append(ret)
    finally:
        env.close()
    return save_mp4(frames, path, fps=fps, scale=scale), returns


@torch.no_grad()
def record_doom(
    model: Model,
    path: str | Path,
    seed: int = 0,
    max_steps: int = 10_000,
    greedy: bool = False,
    device=None,
    resolution: str = "RES_320X240",
) -> tuple[Path, dict]:
    """Film one Doom episode of ``model`` in colour, every tic (35 frames a second: real speed),
    with kills, ammo and health written on the frames. The agent plays the gray game it was
    trained on; the film is its colour twin (``envs.DoomFilmed``). Frames go to the file as they
    come (a minute of video would not fit in memory). Returns the path and the episode's numbers."""
    import vizdoom

    from .envs import make_doom_filmed
    from .runners import model_device

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    device = model_device(model, device)
    env = make_doom_filmed(seed=seed, resolution=resolution)
    poster, frames, info, steps = None, 0, {}, 0
    try:
        obs, _ = env.reset(seed=seed)
        with imageio.get_writer(
            path,
            fps=35,
            codec="libx264",
            quality=6,
            macro_block_size=1,
            ffmpeg_log_level="error",
            pixelformat="yuv420p",
        ) as writer:
            for frame in env.frames:
                writer.append_data(_even(frame))  # type: ignore[attr-defined]  # an ffmpeg writer
            for steps in range(1, max_steps + 1):  # noqa: B007 (the count is read after the loop)
                dist, _ = model(torch.as_tensor(np.asarray(obs), device=device).unsqueeze(0))
                action = dist.probs.argmax(-1) if greedy else dist.sample()
                obs, _, terminated, truncated, info = env.step(int(action.item()))
                for frame in env.frames:
                    writer.append_data(_even(frame))  # type: ignore[attr-defined]  # an ffmpeg writer
                    frames += 1
                    if frames == 35 * 10:  # ten seconds in: the still frame
                        poster = frame.copy()
                if terminated or truncated:
                    break
        if poster is None and env.frames:
            poster = env.frames[-1]
        if poster is not None:
            imageio.imwrite(poster_path(path), _even(poster))
        kills = int(env.twin.get_game_variable(vizdoom.GameVariable.KILLCOUNT))  # so far, if max_steps cut it
    finally:
        env.close()
    episode = {
        "kills": kills,
        "died": bool(info.get("died")),
        "ended": "kills" in info,
        "steps": steps,
        "seconds": round(frames / 35, 1),
    }
    return path, episode
