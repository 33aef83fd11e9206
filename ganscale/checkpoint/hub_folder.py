"""A Hub-style generator folder: `config.json` + `model.safetensors`, the layout model hubs expect.

It is what `ganscale push` uploads and what a Hub download ends in, and it loads like any other
checkpoint path. Reading it touches JSON and safetensors only (nothing is imported or unpickled); the
config names the architecture, and `build_generator` decides whether that may be built.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ganscale.checkpoint.schema import EXPORT_FORMAT
from ganscale.errors import NotAGeneratorError
from ganscale.files import write_json

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
# Keys by which another library's config.json names itself; quoted back so the user sees whose it is.
FOREIGN_KEYS = ("library_name", "_class_name", "model_type", "architectures", "_diffusers_version",
                "transformers_version")


def is_hub_folder(path: Path) -> bool:
    """A directory with a config.json: ours, or another library's (reading it says which)."""
    return path.is_dir() and (path / CONFIG_FILE).is_file()


def folder_config(config: dict) -> dict:
    """config.json: the format and a summary a Hub visitor can read, then the whole training config."""
    from ganscale import __version__

    model = config.get("model", {})
    summary = {key: model.get(key) for key in ("arch", "image_size", "channels", "num_classes", "z_dim",
                                                "conditioning")}
    return {"format": EXPORT_FORMAT, "library_name": "ganscale", "ganscale_version": __version__,
            **summary, "config": config}


def write_model_files(config: dict, weights: dict[str, torch.Tensor], folder: Path) -> None:
    """model.safetensors is a complete export on its own; config.json says what it is without opening it."""
    from ganscale.checkpoint.store import export_generator

    export_generator(config, weights, folder / MODEL_FILE)
    write_json(folder / CONFIG_FILE, folder_config(config))


def _foreign(tree: dict) -> str:
    named = [f"{key}={tree[key]!r}" for key in FOREIGN_KEYS if key in tree]
    return f"; it names {', '.join(named)}" if named else ""


def read_folder_config(folder: Path) -> dict:
    """The training config from config.json, or one line saying why this is not a ganscale generator."""
    path = folder / CONFIG_FILE
    try:
        tree = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NotAGeneratorError(f"{path}: not readable JSON ({type(err).__name__}: {err})") from None
    if not isinstance(tree, dict) or tree.get("format") != EXPORT_FORMAT:
        found = tree.get("format") if isinstance(tree, dict) else None
        raise NotAGeneratorError(
            f"{path}: not a ganscale generator (format {found!r}, expected {EXPORT_FORMAT!r})"
            f"{_foreign(tree) if isinstance(tree, dict) else ''}")
    if not isinstance(tree.get("config"), dict):
        raise NotAGeneratorError(f"{path}: a ganscale config.json without its training config ('config')")
    return tree["config"]


def read_model_files(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(training config, G_ema weights) from a Hub-style folder."""
    from ganscale.checkpoint.store import read_tensors

    config = read_folder_config(folder)
    if not (folder / MODEL_FILE).is_file():
        raise NotAGeneratorError(f"{folder}: has a ganscale {CONFIG_FILE} but no {MODEL_FILE}")
    tensors, _ = read_tensors(folder / MODEL_FILE)
    return config, tensors
