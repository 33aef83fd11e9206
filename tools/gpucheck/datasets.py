"""Stand-in data for presets that train on a prepared dataset (`data.path` in their YAML): the check
trains every preset, and the machine it runs on holds MNIST only. A tiny folder of random images at
the preset's resolution and channels, prepared once with `ganscale prepare` (the CLI, as everything
here), is enough to prove the code paths; the numbers of such runs say nothing about quality.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from tools.gpucheck.commands import Context, run
from tools.gpucheck.plan import preset_settings

IMAGES = 64
_lock = threading.Lock()  # training cells run in parallel threads; one of them prepares each shape


def data_overrides(ctx: Context, preset: str, timeout_s: float) -> list[str]:
    """[`data.path=...`] of a stand-in dataset for a preset that needs one, else []."""
    settings = preset_settings(ctx.repo, preset)
    if not (settings.get("data") or {}).get("path"):
        return []
    model = settings.get("model") or {}
    size, channels = int(model.get("image_size", 28)), int(model.get("channels", 1))
    out = ctx.work / "data" / f"random-{channels}x{size}"
    with _lock:
        if not (out / "dataset.json").is_file():
            _prepare(ctx, _folder(ctx.work / "data" / f"images-{channels}x{size}", size, channels), out, size,
                     channels, timeout_s)
    return [f"data.path={out}"]


def _folder(folder: Path, size: int, channels: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, size=(IMAGES, size, size, 3), dtype=np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image if channels == 3 else image[..., 0]).save(folder / f"{i:03d}.png")
    return folder


def _prepare(ctx: Context, folder: Path, out: Path, size: int, channels: int, timeout_s: float) -> None:
    argv = ctx.ganscale("prepare", str(folder), "--resolution", str(size), "--channels", str(channels),
                        "--out", str(out), "--quiet")
    outcome = run(argv, ctx.env, timeout_s, ctx.log)
    if not outcome.ok:
        ctx.fail("train", f"stand-in data {out.name}", outcome)
