"""Pickle-free checkpoints on disk: one directory of safetensors files plus a JSON state file.

A checkpoint is written into a hidden temporary directory and renamed into place only when every
file is on disk, so a crash (or SIGKILL) mid-write leaves no directory that looks complete. The
latest checkpoint is found by reading each directory's state.json (its `cur_nimg`), never by
parsing folder names. Loading uses safetensors and json only: nothing is ever unpickled.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ganscale.checkpoint.hub_folder import is_hub_folder, read_model_files
from ganscale.checkpoint.schema import (
    EXPORT_FORMAT,
    OPTIMIZER_FILES,
    STATE_FILE,
    TENSOR_FILES,
    Snapshot,
    TrainState,
)
from ganscale.errors import UserError
from ganscale.files import atomic_path, clear_stale_temporaries


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


def write_checkpoint(checkpoint_root: Path, name: str, snapshot: Snapshot) -> Path:
    """Write atomically: a hidden temporary directory, fsync'd, then renamed to `checkpoint_root/name`."""
    final = Path(checkpoint_root) / name
    with atomic_path(final, directory=True) as tmp:
        for key in TENSOR_FILES:
            value = getattr(snapshot, key)
            if key in OPTIMIZER_FILES:
                flat, metadata = flatten_optimizer(value)
                save_file(flat, str(tmp / f"{key}.safetensors"), metadata=metadata)
            else:
                save_file(_cpu_tensors(value), str(tmp / f"{key}.safetensors"))
        (tmp / STATE_FILE).write_text(json.dumps(snapshot.state.to_json(), indent=1))
    return final


def read_state(checkpoint_dir: Path) -> TrainState:
    try:
        return TrainState.from_json(json.loads((Path(checkpoint_dir) / STATE_FILE).read_text()))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        reason = f"{type(err).__name__}: {err}"
        raise UserError(f"{checkpoint_dir}: not a ganscale checkpoint ({reason})") from None


def missing_files(checkpoint_dir: Path) -> list[str]:
    names = [STATE_FILE, *(f"{key}.safetensors" for key in TENSOR_FILES)]
    return [name for name in names if not (checkpoint_dir / name).is_file()]


def is_complete(checkpoint_dir: Path) -> bool:
    return not checkpoint_dir.name.startswith(".") and not missing_files(checkpoint_dir)


def scan_checkpoints(checkpoint_root: Path) -> tuple[list[tuple[int, Path]], list[tuple[Path, str]]]:
    """(complete checkpoints as (cur_nimg, path) oldest first, [(directory, why it is not one)]).

    Ordered by the progress each saved, never by folder name. Hidden directories are writes in
    progress (or leftovers of killed ones) and are neither listed nor reported.
    """
    found, rejected = [], []
    if not Path(checkpoint_root).is_dir():
        return found, rejected
    for path in sorted(Path(checkpoint_root).iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        missing = missing_files(path)
        if missing:
            rejected.append((path, f"incomplete, missing {', '.join(missing)}"))
            continue
        try:
            found.append((read_state(path).cur_nimg, path))
        except UserError as err:
            rejected.append((path, f"unreadable {STATE_FILE} ({str(err).split('(', 1)[-1].rstrip(')')})"))
    return sorted(found), rejected


def list_checkpoints(checkpoint_root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as (cur_nimg, path), oldest first, ordered by their saved progress."""
    return scan_checkpoints(checkpoint_root)[0]


def latest_checkpoint(checkpoint_root: Path) -> Path | None:
    found = list_checkpoints(checkpoint_root)
    return found[-1][1] if found else None


def prune(checkpoint_root: Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints and drop leftovers of interrupted writes."""
    for _, path in list_checkpoints(checkpoint_root)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
    clear_stale_temporaries(checkpoint_root)
    for path in Path(checkpoint_root).glob(".tmp-*"):  # the temporaries of earlier versions
        shutil.rmtree(path, ignore_errors=True)


def load_checkpoint(checkpoint_dir: Path) -> Snapshot:
    """The Snapshot in a checkpoint directory; any way it can be broken is one UserError."""
    checkpoint_dir = Path(checkpoint_dir)
    if not is_complete(checkpoint_dir):
        raise UserError(f"{checkpoint_dir}: not a complete ganscale checkpoint directory "
                        f"(expects {STATE_FILE} and {', '.join(TENSOR_FILES)}.safetensors)")
    parts: dict = {"state": read_state(checkpoint_dir)}
    for key in TENSOR_FILES:
        tensors, metadata = read_tensors(checkpoint_dir / f"{key}.safetensors")
        parts[key] = _optimizer_state(tensors, metadata, checkpoint_dir / key) if key in OPTIMIZER_FILES \
            else tensors
    return Snapshot(**parts)


def _optimizer_state(tensors, metadata, where: Path) -> dict:
    try:
        return unflatten_optimizer(tensors, metadata)
    except (KeyError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        raise UserError(f"{where}.safetensors: not a ganscale optimizer state ({err})") from None


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
    """(saved config dict, G_ema weights) from any path `resolve_checkpoint` accepts, or a Hub-style
    folder (config.json + model.safetensors, see hub_folder.py)."""
    if is_hub_folder(Path(path)):
        return read_model_files(Path(path))
    resolved = resolve_checkpoint(path)
    if resolved.is_file():
        tensors, metadata = read_tensors(resolved)
        if metadata.get("format") != EXPORT_FORMAT:
            raise UserError(f"{resolved}: a safetensors file but not a ganscale generator export "
                            f"(metadata format is {metadata.get('format')!r}, expected {EXPORT_FORMAT!r})")
        return json.loads(metadata["config"]), tensors
    state = read_state(resolved)
    tensors, _ = read_tensors(resolved / "generator_ema.safetensors")
    return state.config, tensors


def export_generator(config: dict, weights: dict[str, torch.Tensor], out: Path) -> Path:
    """G_ema alone, its config in the metadata, so `sample` can rebuild it without the run."""
    metadata = {"format": EXPORT_FORMAT, "config": json.dumps(config)}
    with atomic_path(out) as tmp:
        save_file(_cpu_tensors(weights), str(tmp), metadata=metadata)
    return Path(out)
