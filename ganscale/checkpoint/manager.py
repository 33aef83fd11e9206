"""The run's checkpoints: save a Trainer's snapshot, keep the newest K and the best, load them back.

Saving is collective (the snapshot gathers every rank's RNG streams); only the main process writes.
Loading is done by every rank from the same files, so every rank takes the same decisions.
"""

from __future__ import annotations

from pathlib import Path

from ganscale.checkpoint.schema import Snapshot
from ganscale.checkpoint.store import (
    latest_checkpoint,
    load_checkpoint,
    prune,
    read_state,
    scan_checkpoints,
    write_checkpoint,
)
from ganscale.errors import UserError
from ganscale.kimg import kimg_tag


class Checkpointer:
    def __init__(self, run_dir: Path, keep: int, accelerator):
        self.root = Path(run_dir) / "checkpoints"
        self.best_root = Path(run_dir) / "best"
        self.keep, self.accelerator = keep, accelerator
        self.on_disk_nimg: int | None = None  # a position known to be saved: saving it again is skipped

    def latest(self) -> Path | None:
        return latest_checkpoint(self.root)

    def load(self, path: Path) -> Snapshot:
        snapshot = load_checkpoint(Path(path))
        self.on_disk_nimg = snapshot.state.cur_nimg
        return snapshot

    def load_latest(self) -> tuple[Path, Snapshot] | None:
        """The newest checkpoint that loads; each one passed over is reported in one line."""
        found, rejected = scan_checkpoints(self.root)
        for path, why in rejected:
            self.accelerator.print(f"skipping checkpoint {path}: {why}")
        for _, path in reversed(found):
            try:
                return path, self.load(path)
            except UserError as err:
                self.accelerator.print(f"skipping checkpoint {path}: {err}")
        return None

    def save(self, trainer) -> Path | None:
        """Collective; skipped when this position is already on disk."""
        if self.on_disk_nimg == trainer.cur_nimg:
            return None
        path = self._write(self.root, trainer.gather_snapshot(), self.keep)
        self.on_disk_nimg = trainer.cur_nimg
        return path

    def best_value(self, key: str = "fid") -> float:
        best = latest_checkpoint(self.best_root)
        return float(read_state(best).metrics.get(key, "inf")) if best else float("inf")

    def save_best(self, trainer, metrics: dict[str, float], key: str = "fid") -> Path | None:
        """Keep the checkpoint with the lowest `metrics[key]` (FID-MNIST by default) in run_dir/best
        (collective, like save)."""
        from accelerate.utils import broadcast_object_list

        decision = [metrics[key] < self.best_value(key)]
        if self.accelerator.num_processes > 1:
            broadcast_object_list(decision, from_process=0)
        if not decision[0]:
            return None
        snapshot = trainer.gather_snapshot()
        snapshot.state.metrics = dict(metrics)
        return self._write(self.best_root, snapshot, keep=1)

    def _write(self, root: Path, snapshot: Snapshot, keep: int) -> Path | None:
        path = None
        if self.accelerator.is_main_process:
            path = write_checkpoint(root, kimg_tag(snapshot.state.cur_nimg), snapshot)
            prune(root, keep)
        self.accelerator.wait_for_everyone()
        return path
