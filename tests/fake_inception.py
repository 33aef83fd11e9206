"""A small stand-in for torch-fidelity's Inception weights file, written by the tests (tests never
download): the real file's keys and shapes (from the extractor built without weights), random values.

Conv weights are He-normal and BatchNorm is the identity, so activations neither vanish nor explode
through the 94 layers and different images get different features (with torch's default
initialisation every image maps to the same features, and every metric would compare zeros).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch


def fake_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    from ganscale.eval.inception import expected_layout

    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in expected_layout().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.long)
        elif key.endswith(("running_var", "bn.weight")):
            state[key] = torch.ones(shape)
        elif key.endswith(("running_mean", "bias")):
            state[key] = torch.zeros(shape)
        else:  # conv and fc weights
            fan_in = math.prod(shape[1:])
            state[key] = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
    return state


def write_fake_weights(path: Path, seed: int = 0, state: dict | None = None) -> Path:
    """torch.save (the real file's format) or, for a .safetensors name, a safetensors copy."""
    state = fake_state_dict(seed) if state is None else state
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path
