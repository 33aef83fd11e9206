"""`ganscale bench --folder-data`: what a prepared dataset saves over decoding images every step.

A generated folder of RGB PNGs (10k by default, 72x72 so the folder path must resize and crop) is read
two ways, side by side, for the 64x64 RGB DCGAN:
- prepared: `ganscale prepare` once (resize + crop at prepare time), then the memory-mapped loader
  (`data.loader=mmap`: DataLoader workers gather uint8 rows ahead of time);
- imagefolder: torchvision `ImageFolder` + Resize + CenterCrop + ToTensor + Normalize in a DataLoader,
  decoding every PNG on every step (ganscale's folder path before prepared datasets).
For each: data-only images/s (batches drawn, nothing trained), full-step img/s (the real Trainer), and
the share of the step spent waiting for the next batch.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganscale.bench.machine import machine_info

SOURCE_SIZE, SIZE = 72, 64


def make_folder(root: Path, count: int, seed: int = 0) -> Path:
    """`count` PNGs with smooth colour gradients plus noise (compressible like photos, not flat)."""
    from PIL import Image

    folder = root / "images" / "all"
    folder.mkdir(parents=True)
    gen = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, SOURCE_SIZE)[None, :, None]
    for i in range(count):
        colour = gen.uniform(0, 255, size=(1, 1, 3))
        noise = gen.integers(0, 40, size=(SOURCE_SIZE, SOURCE_SIZE, 3))
        pixels = np.clip(colour * ramp + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:05d}.png")
    return root / "images"


class TimedBatches:
    """Wraps a batch iterator and adds up the seconds spent waiting in `next`."""

    def __init__(self, inner, device: torch.device):
        self.inner, self.device, self.wait_s = inner, device, 0.0

    def __iter__(self):
        return self

    def __next__(self):
        start = time.perf_counter()
        batch = next(self.inner)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.wait_s += time.perf_counter() - start
        return batch


def imagefolder_batches(folder: Path, batch_size: int, device: torch.device, workers: int):
    from torchvision import datasets, transforms

    steps = transforms.Compose([transforms.Resize(SIZE), transforms.CenterCrop(SIZE), transforms.ToTensor(),
                                transforms.Normalize([0.5] * 3, [0.5] * 3)])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(folder), transform=steps),
                                         batch_size=batch_size, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=workers > 0,
                                         pin_memory=device.type == "cuda")
    while True:  # epoch after epoch
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def _config(prepared: Path, batch_size: int, workers: int):
    from ganscale.config import load_config

    return load_config("mnist-dcgan64", overrides=[
        f"data.path={prepared}", "data.loader=mmap", f"data.num_workers={workers}",
        f"train.batch_size={batch_size}", "log.tracker=none", "log.progress=false"])


def _batches(path: str, cfg, folder: Path, device: torch.device):
    from ganscale.data import make_batches

    if path == "prepared":
        return make_batches(cfg.data, cfg.model, batch_size=cfg.train.batch_size, rank=0, world=1, seed=0,
                            device=device)
    return imagefolder_batches(folder, cfg.train.batch_size, device, cfg.data.num_workers)


def data_only(batches, steps: int, batch_size: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        next(batches)
    start = time.perf_counter()
    for _ in range(steps):
        next(batches)
    return steps * batch_size / (time.perf_counter() - start)


def full_step(cfg, batches, steps: int, warmup: int = 2) -> tuple[float, float]:
    """(img/s, share of the step spent waiting for data) of the real Trainer fed by `batches`."""
    from ganscale.run import build_accelerator
    from ganscale.trainer import Trainer

    trainer = Trainer(cfg, build_accelerator(cfg))
    trainer.batches = timed = TimedBatches(batches, trainer.device)  # the iterator the D phase draws from
    for _ in range(warmup):
        trainer.train_step()
    timed.wait_s, start = 0.0, time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    seconds = time.perf_counter() - start
    return steps * trainer.images_per_step / seconds, timed.wait_s / seconds


def run_folder_bench(images: int = 10_000, batch_size: int = 64, data_steps: int = 60, train_steps: int = 12,
                     workers: int = 2, log=print) -> dict:
    from ganscale.data.prepare import prepare

    with tempfile.TemporaryDirectory(prefix="ganscale-bench-") as tmp:
        started = time.perf_counter()
        folder = make_folder(Path(tmp), images)
        log(f"wrote {images} PNGs of {SOURCE_SIZE}x{SOURCE_SIZE} in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        prepare(str(folder), Path(tmp) / "prepared", resolution=SIZE, channels=3, progress=False)
        prepare_s = time.perf_counter() - started
        log(f"ganscale prepare: {prepare_s:.1f} s")
        cfg = _config(Path(tmp) / "prepared", batch_size, workers)
        rows = []
        for path in ("prepared", "imagefolder"):
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            rate = data_only(_batches(path, cfg, folder, device), data_steps, batch_size)
            step_rate, wait = full_step(cfg, _batches(path, cfg, folder, device), train_steps)
            rows.append({"path": path, "data_img_per_s": rate, "step_img_per_s": step_rate,
                         "data_wait": wait})
            log(f"{path}: data only {rate:.0f} img/s, full step {step_rate:.0f} img/s, waiting {wait:.1%}")
    return {"images": images, "batch_size": batch_size, "workers": workers, "prepare_s": prepare_s,
            "rows": rows, "data_speedup": rows[0]["data_img_per_s"] / rows[1]["data_img_per_s"],
            "machine": machine_info(torch.device("cuda" if torch.cuda.is_available() else "cpu"))}


def format_folder_table(report: dict) -> str:
    lines = ["| data path | data only img/s | full step img/s | waiting for data |", "|---|---|---|---|"]
    for row in report["rows"]:
        lines.append(f"| {row['path']} | {row['data_img_per_s']:.0f} | {row['step_img_per_s']:.0f} | "
                     f"{row['data_wait']:.1%} |")
    lines.append(f"\nprepared / imagefolder, data only: {report['data_speedup']:.1f}x "
                 f"({report['images']} images, batch {report['batch_size']}, {report['workers']} workers; "
                 f"prepare took {report['prepare_s']:.1f} s once)")
    return "\n".join(lines)
