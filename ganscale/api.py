"""The Python API: load a trained generator and draw from it, train a run, read a config.

The same code paths as the command line, as functions: `load_generator` reads what `ganscale sample
--checkpoint` reads (plus `hf://` ids), `train` validates and runs what `ganscale train` runs. Mistakes
raise `ganscale.UserError` (one line, naming the bad value and what is allowed), as the CLI prints them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganscale.config import Config, load_config
from ganscale.errors import UserError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from ganscale.hooks import RunHooks

__all__ = ["Generator", "generator_weights", "load_config", "load_generator", "train"]


def generator_weights(source: str | Path) -> tuple[dict, dict]:
    """(saved config dict, G_ema weights) from a run dir, checkpoint dir, export, Hub-style folder or
    hf:// id; the one resolver behind `load_generator` and every CLI command's --checkpoint."""
    from ganscale import hub
    from ganscale.checkpoint import load_generator_weights

    if hub.is_hub_id(source):
        source = hub.download(str(source))
    return load_generator_weights(source)


class Generator:
    """A trained G in eval mode and the config it was trained with.

    `generate` returns uint8 images [N, C, H, W]: what a notebook shows and a file stores, so no
    caller has to know that the networks work in [-1, 1].
    """

    def __init__(self, module: torch.nn.Module, config: Config, device: torch.device):
        self.module, self.config, self.device = module.to(device), config, device

    @property
    def num_classes(self) -> int:
        return self.config.model.num_classes

    @property
    def resolution(self) -> int:
        return self.config.model.image_size

    @property
    def channels(self) -> int:
        return self.config.model.channels

    @property
    def z_dim(self) -> int:
        return self.config.model.z_dim

    def __repr__(self) -> str:
        return (f"Generator(arch={self.config.model.arch!r}, resolution={self.resolution}, "
                f"channels={self.channels}, num_classes={self.num_classes}, device={str(self.device)!r})")

    def _labels(self, n: int, labels) -> torch.Tensor | None:
        """None draws every class in turn; an int asks for one class; a sequence gives one per image."""
        import torch

        if labels is None or not self.num_classes:
            if labels is not None:
                raise UserError(f"labels={labels!r}: this generator is unconditional; pass labels=None")
            return torch.arange(n) % self.num_classes if self.num_classes else None
        values = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if values.numel() == 1 and isinstance(labels, int):
            values = values.expand(n)
        if values.numel() != n:
            raise UserError(f"labels: {values.numel()} given for n={n} images; pass one int or n of them")
        if values.min() < 0 or values.max() >= self.num_classes:
            raise UserError(f"labels: class ids must be between 0 and {self.num_classes - 1}")
        return values.clone()

    def generate(self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None,
                 seed: int | None = None, batch_size: int = 500) -> torch.Tensor:
        """`n` images as uint8 [N, C, H, W]; a seed draws the same noise on any device (on the CPU, so the
        images are those of `ganscale sample --seed`). Without a seed it comes from torch's global RNG."""
        import torch

        from ganscale import sampling

        if not isinstance(n, int) or n < 1:
            raise UserError(f"n={n!r}: the number of images must be an int >= 1")
        if batch_size < 1:
            raise UserError(f"batch_size={batch_size}: must be >= 1")
        if seed is None:
            seed = int(torch.randint(2**62, ()).item())
        z, _ = sampling.draw_noise(self.config.model, n, seed)
        images = sampling.generate(self.module, z, self._labels(n, labels), batch_size)
        return sampling.to_uint8(images)

    def to_pil(self, images: torch.Tensor, nrow: int | None = None) -> list[Image.Image] | Image.Image:
        """uint8 [N, C, H, W] as PIL images: one each, or with `nrow` one grid laid out as `ganscale
        sample` lays its PNGs (2-pixel gaps)."""
        import torch
        from PIL import Image
        from torchvision.utils import make_grid

        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise UserError("to_pil: expects what generate() returns, uint8 [N, C, H, W]")
        if nrow is not None:
            images = make_grid(images, nrow=max(1, nrow), padding=2)[None]
        arrays = images.permute(0, 2, 3, 1).cpu().numpy()
        pictures = [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arrays]
        return pictures[0] if nrow is not None else pictures

    def to(self, device: str | torch.device) -> Generator:
        import torch

        self.device = torch.device(device)
        self.module.to(self.device)
        return self


def load_generator(source: str | Path, device: str | torch.device | None = None, *,
                   trust_arch: bool = False) -> Generator:
    """A trained generator from a run dir, a checkpoint dir, an exported .safetensors, a Hub-style
    folder (config.json + model.safetensors) or hf://OWNER/NAME[@REVISION].

    Loading reads safetensors and JSON only. A saved config that names a user architecture
    (`pkg.mod:factory`) is built only with `trust_arch=True`, because building it runs that code.
    """
    import torch

    from ganscale.config import config_from_dict
    from ganscale.devices import best_device
    from ganscale.trained import build_generator

    saved, weights = generator_weights(source)
    module, _ = build_generator(saved, weights, trust_arch=trust_arch)
    return Generator(module, config_from_dict(saved), torch.device(device) if device else best_device())


def _override_strings(sections: dict[str, Any]) -> list[str]:
    """`train={"max_kimg": 1}` as `train.max_kimg=1`: the CLI's own parsing and checks then apply."""
    items = []
    for section, values in sections.items():
        if not isinstance(values, dict):
            raise UserError(f"{section}={values!r}: pass a section as a dict, e.g. train={{'max_kimg': 1}}")
        items += [f"{section}.{key}={json.dumps(value)}" for key, value in values.items()]
    return items


def _resolve_config(config_or_preset: str | Path | Config, overrides: list[str]) -> Config:
    """A preset name, a YAML file (preset: inside it, else the default), or a Config, then overrides."""
    if isinstance(config_or_preset, Config):
        tree = config_or_preset.to_dict()
        return load_config(tree.pop("preset"), None, [*_override_strings(tree), *overrides])
    text = str(config_or_preset)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        import yaml

        preset = "mnist-dcgan"
        if Path(text).is_file():
            tree = yaml.safe_load(Path(text).read_text()) or {}
            preset = tree.get("preset", preset) if isinstance(tree, dict) else preset
        return load_config(preset, text, overrides)
    return load_config(text, None, overrides)


def train(config_or_preset: str | Path | Config = "mnist-dcgan", run_dir: str | Path | None = None, *,
          overrides: Sequence[str] = (), hooks: RunHooks | None = None, **sections: dict[str, Any]) -> Path:
    """Train one run in this process, as `ganscale train` does; returns its run directory.

    `sections` are config sections as dicts (`train={"max_kimg": 5}, loss={"kind": "hinge"}`) and
    `overrides` CLI-style strings (`"train.max_kimg=5"`); both are checked before anything starts.
    """
    from ganscale.hooks import RunHooks
    from ganscale.run import run_training

    cfg = _resolve_config(config_or_preset, [*_override_strings(sections), *overrides])
    seen: list[Path] = []
    hooks = hooks or RunHooks()
    outer = hooks.on_run_dir

    def note_run_dir(path: Path) -> None:  # the directory all ranks agreed on, also when it was defaulted
        seen.append(Path(path))
        if outer is not None:
            outer(path)

    run_training(cfg, None if run_dir is None else str(run_dir),
                 hooks=dataclasses.replace(hooks, on_run_dir=note_run_dir))
    return seen[0]

