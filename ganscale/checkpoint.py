"""Pickle-free checkpoints: one directory of safetensors files plus a JSON state file.

A checkpoint is written into a hidden temporary directory and renamed into place only when every
file is on disk, so a crash (or SIGKILL) mid-write leaves no directory that looks complete. The
latest checkpoint is found by reading each directory's state.json (its `cur_nimg`), never by
parsing folder names. Loading uses safetensors and json only: nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ganscale.errors import UserError
from ganscale.kimg import kimg_tag

STATE_FILE = "state.json"
TENSOR_FILES = ("generator", "discriminator", "generator_ema", "optimizer_g", "optimizer_d")
EXPORT_FORMAT = "ganscale-generator-v1"


def _cpu_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """torch optimizer state -> (tensors named state.<param>.<key>, JSON metadata for the rest)."""
    tensors, scalars = {}, {}
    for param_id, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{param_id}.{key}"] = value
            else:
                scalars[f"{param_id}.{key}"] = value
    metadata = {"param_groups": json.dumps(state["param_groups"]), "scalars": json.dumps(scalars)}
    return _cpu_tensors(tensors), metadata


def unflatten_optimizer(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        _, param_id, key = name.split(".", 2)
        state.setdefault(int(param_id), {})[key] = value
    for name, value in json.loads(metadata.get("scalars", "{}")).items():
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": json.loads(metadata["param_groups"])}


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a safetensors file, mapping every way it can be broken to one clear UserError."""
    from safetensors import safe_open

    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path}: not a readable safetensors file ({err})") from None


def write_checkpoint(checkpoint_root: Path, name: str, tensors: dict[str, dict],
                     optimizers: dict[str, dict], state: dict) -> Path:
    """Write atomically: temporary directory, fsync, then rename to `checkpoint_root/name`."""
    checkpoint_root.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint_root / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for key, weights in tensors.items():
            save_file(_cpu_tensors(weights), str(tmp / f"{key}.safetensors"))
        for key, opt_state in optimizers.items():
            flat, metadata = flatten_optimizer(opt_state)
            save_file(flat, str(tmp / f"{key}.safetensors"), metadata=metadata)
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
        for file in tmp.iterdir():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
        final = checkpoint_root / name
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_state(checkpoint_dir: Path) -> dict:
    try:
        return json.loads((checkpoint_dir / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{checkpoint_dir}: not a ganscale checkpoint ({err})") from None


def is_complete(checkpoint_dir: Path) -> bool:
    if checkpoint_dir.name.startswith(".") or not (checkpoint_dir / STATE_FILE).is_file():
        return False
    return all((checkpoint_dir / f"{key}.safetensors").is_file() for key in TENSOR_FILES)


def list_checkpoints(checkpoint_root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as (cur_nimg, path), oldest first, ordered by their saved progress."""
    if not checkpoint_root.is_dir():
        return []
    found = []
    for path in checkpoint_root.iterdir():
        if path.is_dir() and is_complete(path):
            try:
                found.append((int(read_state(path)["cur_nimg"]), path))
            except (UserError, KeyError, ValueError):
                continue
    return sorted(found)


def latest_checkpoint(checkpoint_root: Path) -> Path | None:
    found = list_checkpoints(checkpoint_root)
    return found[-1][1] if found else None


def prune(checkpoint_root: Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints and drop leftovers of interrupted writes."""
    for _, path in list_checkpoints(checkpoint_root)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
    for path in checkpoint_root.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)


def load_checkpoint(checkpoint_dir: Path) -> tuple[dict, dict[str, dict], dict[str, dict]]:
    """(state, model weights by name, optimizer states by name) from a checkpoint directory."""
    if not is_complete(checkpoint_dir):
        raise UserError(f"{checkpoint_dir}: not a complete ganscale checkpoint directory "
                        f"(expects {STATE_FILE} and {', '.join(TENSOR_FILES)}.safetensors)")
    state = read_state(checkpoint_dir)
    weights, optimizers = {}, {}
    for key in TENSOR_FILES:
        tensors, metadata = read_tensors(checkpoint_dir / f"{key}.safetensors")
        if key.startswith("optimizer"):
            optimizers[key] = unflatten_optimizer(tensors, metadata)
        else:
            weights[key] = tensors
    return state, weights, optimizers


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory, a run directory (its latest checkpoint), or an exported file."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir() and is_complete(path):
        return path
    latest = latest_checkpoint(path / "checkpoints") if path.is_dir() else None
    if latest is None:
        raise UserError(f"--checkpoint {path}: expected a checkpoint directory, a run directory "
                        "with checkpoints/, or an exported generator .safetensors file")
    return latest


def load_generator_weights(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(saved config dict, G_ema weights) from any path `resolve_checkpoint` accepts."""
    resolved = resolve_checkpoint(path)
    if resolved.is_file():
        tensors, metadata = read_tensors(resolved)
        if metadata.get("format") != EXPORT_FORMAT:
            raise UserError(f"{resolved}: a safetensors file but not a ganscale generator export "
                            f"(metadata format is {metadata.get('format')!r}, expected {EXPORT_FORMAT!r})")
        return json.loads(metadata["config"]), tensors
    state = read_state(resolved)
    tensors, _ = read_tensors(resolved / "generator_ema.safetensors")
    return state["config"], tensors


def export_generator(config: dict, weights: dict[str, torch.Tensor], out: Path) -> Path:
    """G_ema alone, its config in the metadata, so `sample` can rebuild it without the run."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    metadata = {"format": EXPORT_FORMAT, "config": json.dumps(config)}
    try:
        save_file(_cpu_tensors(weights), str(tmp), metadata=metadata)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


class Checkpointer:
    """Saves and restores a Trainer in `run_dir/checkpoints`; only the main process writes."""

    def __init__(self, run_dir: Path, keep: int, accelerator):
        self.root = Path(run_dir) / "checkpoints"
        self.keep, self.accelerator = keep, accelerator
        self.last_saved_nimg: int | None = None
        self.best_root = Path(run_dir) / "best"
        self.best_nimg: int | None = None

    def latest(self) -> Path | None:
        return latest_checkpoint(self.root)

    def save(self, trainer) -> Path | None:
        """Collective (RNG states are gathered from every rank); skipped if this position is saved."""
        if self.last_saved_nimg == trainer.cur_nimg:
            return None
        snapshot = trainer.state_dict()
        path = None
        if self.accelerator.is_main_process:
            path = write_checkpoint(self.root, kimg_tag(trainer.cur_nimg), snapshot["weights"],
                                    snapshot["optimizers"],
                                    snapshot["state"])
            prune(self.root, self.keep)
        self.accelerator.wait_for_everyone()
        self.last_saved_nimg = trainer.cur_nimg
        return path

    def best_fid(self) -> float:
        best = latest_checkpoint(self.best_root)
        return float(read_state(best).get("metrics", {}).get("fid", "inf")) if best else float("inf")

    def save_best(self, trainer, metrics: dict[str, float]) -> Path | None:
        """Keep the checkpoint with the lowest FID-MNIST in run_dir/best (collective, like save)."""
        from accelerate.utils import broadcast_object_list

        decision = [metrics["fid"] < self.best_fid()]
        if self.accelerator.num_processes > 1:
            broadcast_object_list(decision, from_process=0)
        self.best_nimg = trainer.cur_nimg
        if not decision[0]:
            return None
        snapshot = trainer.state_dict()
        path = None
        if self.accelerator.is_main_process:
            path = write_checkpoint(self.best_root, kimg_tag(trainer.cur_nimg), snapshot["weights"],
                                    snapshot["optimizers"], {**snapshot["state"], "metrics": metrics})
            prune(self.best_root, 1)
        self.accelerator.wait_for_everyone()
        return path

    def restore(self, trainer, path: Path) -> None:
        state, weights, optimizers = load_checkpoint(Path(path))
        trainer.load_state_dict(state, weights, optimizers)
        self.last_saved_nimg = trainer.cur_nimg
