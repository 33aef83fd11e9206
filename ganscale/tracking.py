"""Where a run's numbers and pictures go: metrics.jsonl and samples/ in the run directory, plus
accelerate's trackers (W&B or TensorBoard) on the main process.

A tracker failure never stops training: it is reported once and the tracker is switched off.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from ganscale import files
from ganscale.errors import UserError
from ganscale.kimg import kimg_tag
from ganscale.sampling import save_grid

WANDB_ID_FILE = "wandb_id.txt"


def wandb_mode(requested: str) -> str:
    """`auto`: online when an API key or a login exists, otherwise offline (never a prompt)."""
    if requested != "auto":
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    netrc = Path.home() / ".netrc"
    logged_in = netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")
    return "online" if os.environ.get("WANDB_API_KEY") or logged_in else "offline"


def wandb_run_id(run_dir: Path) -> str:
    """The W&B run id lives in the run directory, so a resumed or requeued run continues it."""
    path = run_dir / WANDB_ID_FILE
    if path.is_file():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex[:12]
    files.write_text(path, run_id + "\n")
    return run_id


def accelerator_log_with(tracker: str) -> str | None:
    if tracker == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise UserError("log.tracker=tensorboard needs the tensorboard package: pip install tensorboard; "
                            "or use log.tracker=wandb or none") from None
    return None if tracker == "none" else tracker


class Tracker:
    def __init__(self, run_dir: Path, cfg, accelerator):
        self.run_dir, self.cfg, self.accelerator = Path(run_dir), cfg, accelerator
        self.main = accelerator.is_main_process
        self.active = self.main and cfg.log.tracker != "none"
        if self.main:
            files.ensure_dir(self.run_dir / "samples")
        if self.active:
            self._init_tracker()

    def _warn(self, what: str, err: Exception) -> None:
        self.accelerator.print(f"warning: {self.cfg.log.tracker} {what} failed ({err}); "
                               "training continues without it")
        self.active = False

    def _init_tracker(self) -> None:
        kwargs = {}
        if self.cfg.log.tracker == "wandb":
            mode = wandb_mode(self.cfg.log.wandb_mode)
            if mode == "offline":
                print("W&B is offline (no API key or login); upload later with: "
                      f"wandb sync {self.run_dir}/wandb/offline-run-*")
            kwargs = {"wandb": {"id": wandb_run_id(self.run_dir), "resume": "allow", "mode": mode,
                                "dir": str(self.run_dir), "name": self.run_dir.name}}
        try:
            self.accelerator.init_trackers(self.cfg.log.project, config=self.cfg.to_dict(),
                                           init_kwargs=kwargs)
        except Exception as err:  # noqa: BLE001 - tracking must never stop training
            self._warn("init", err)

    def log(self, values: dict[str, float], step: int) -> None:
        if not self.main:
            return
        files.append_line(self.run_dir / "metrics.jsonl", json.dumps({"step": step, **values}))
        if self.active:
            try:
                self.accelerator.log(values, step=step)
            except Exception as err:  # noqa: BLE001
                self._warn("log", err)

    def log_grid(self, images, cur_nimg: int, step: int) -> Path | None:
        if not self.main:
            return None
        path = save_grid(images, self.run_dir / "samples" / f"{kimg_tag(cur_nimg)}.png")
        if self.active:
            try:
                self._log_image(path, cur_nimg, step)
            except Exception as err:  # noqa: BLE001
                self._warn("image upload", err)
        return path

    def _log_image(self, path: Path, cur_nimg: int, step: int) -> None:
        caption = f"G_ema fixed noise at {cur_nimg / 1000:.1f} kimg"
        if self.cfg.log.tracker == "wandb":
            import wandb

            run = self.accelerator.get_tracker("wandb", unwrap=True)
            run.log({"samples": wandb.Image(str(path), caption=caption)}, step=step)
        elif self.cfg.log.tracker == "tensorboard":
            import numpy as np
            from PIL import Image

            writer = self.accelerator.get_tracker("tensorboard", unwrap=True)
            writer.add_image("samples", np.asarray(Image.open(path).convert("RGB")), step, dataformats="HWC")

    def finish(self) -> None:
        """Closes the trackers only. Not `end_training()`: that also destroys the process group on
        this rank alone, and the other ranks would then wait for it at exit (cli.leave_together)."""
        if self.active:
            try:
                for tracker in self.accelerator.trackers:
                    tracker.finish()
            except Exception as err:  # noqa: BLE001
                self._warn("finish", err)
