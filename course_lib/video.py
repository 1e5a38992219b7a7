"""Record a policy playing to mp4, and show the video inside the notebook.

The video is embedded in the notebook output as base64 (H.264 in an mp4, which every browser
plays), so it plays in JupyterLab, in Colab and in an HTML export, with no file to carry along.
It is shown as one output holding two forms of it: the player (HTML) and a still frame (PNG) with
a caption that says how to play it. Each viewer shows one of them: Colab, an HTML export and a
trusted notebook in JupyterLab the player; JupyterLab, for a notebook it does not trust (one
executed elsewhere, such as graded feedback), only what is safe, the still.

Videos play at the game's real speed: each step of an env made by ``course_lib.envs`` lasts
``env.metadata["step_seconds"]`` (a CartPole step is 1/50 s, an Atari step 4 frames of 1/60 s).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

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
            writer.append_data(frame)
    imageio.imwrite(poster_path(path), _even(np.asarray(frames[len(frames) // 3], dtype=np.uint8)))
    return path


def poster_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".png")


STILL_CAPTION = "A still of the video. To play it: File > Trust Notebook (JupyterLab), or run this cell."


def captioned_still(frame: np.ndarray, caption: str = STILL_CAPTION) -> bytes:
    """A PNG of ``frame`` (at least 400 pixels wide) with ``caption`` written in a band below it."""
    import io

    from PIL import Image, ImageDraw

    image = Image.fromarray(_even(np.asarray(frame, dtype=np.uint8)))
    if image.width < 400:
        factor = -(-400 // image.width)
        image = image.resize((image.width * factor, image.height * factor), Image.NEAREST)
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
    """The video as one output of two forms: ``text/html`` (the player, the mp4 inline) and
    ``image/png`` (its still with a caption: what a viewer shows that runs no HTML)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    bundle = {
        "text/html": f'<video width="{width}" controls autoplay loop muted playsinline>'
        f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>',
        "text/plain": f"<video {Path(path).name}: {STILL_CAPTION}>",
    }
    poster = poster_path(path)
    if poster.exists():
        still = captioned_still(imageio.imread(poster))
        bundle["image/png"] = base64.b64encode(still).decode("ascii")
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
    make_env: Callable[[], object],
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
                writer.append_data(_even(frame))
            for steps in range(1, max_steps + 1):  # noqa: B007 (the count is read after the loop)
                dist, _ = model(torch.as_tensor(np.asarray(obs), device=device).unsqueeze(0))
                action = dist.probs.argmax(-1) if greedy else dist.sample()
                obs, _, terminated, truncated, info = env.step(int(action.item()))
                for frame in env.frames:
                    writer.append_data(_even(frame))
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
