"""Where the Inception-v3 weights of the Inception metrics come from, and reading them without pickle.

torch-fidelity loads this file with `torch.load(..., weights_only=False)`, which unpickles (runs code
named in the file). ganscale promises that nothing it loads is ever unpickled, so it finds the file
itself, reads it with `torch.load(weights_only=True)` (torch's restricted reader: tensors and plain
containers only) or from a safetensors copy, and checks every key and shape before handing the
tensors to the feature extractor (inception.py), which never opens a file itself.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from ganscale.errors import UserError

# torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3 (0.4.0); a test keeps them equal.
URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
FILE_NAME = URL.rsplit("/", 1)[1]
HASH_PREFIX = "6726825d"  # torch hub's convention: the file's SHA-256 starts with the name's suffix
ENV_VAR = "GANSCALE_INCEPTION_WEIGHTS"
OFFLINE_VARS = ("GANSCALE_OFFLINE", "HF_HUB_OFFLINE")
# BatchNorm's update counter: unused in eval mode, and files converted from TensorFlow may lack it
# (torch's BatchNorm fills it in for such files); filled with 0 rather than refused.
OPTIONAL_SUFFIX = "num_batches_tracked"


def is_offline() -> bool:
    truthy = ("1", "true", "yes", "on")
    return any(os.environ.get(name, "").strip().lower() in truthy for name in OFFLINE_VARS)


def default_location() -> Path:
    """torch hub's checkpoint folder ($TORCH_HOME/hub/checkpoints): where torch-fidelity itself keeps
    the file, so one copy serves both."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / FILE_NAME


def missing_message(where: Path, why: str) -> str:
    return (f"Inception weights {FILE_NAME} not available ({why}): download {URL} on a machine with "
            f"internet access and put it at {where}, or point eval.inception_weights=PATH (or "
            f"${ENV_VAR}) at the file")


def _download(path: Path) -> None:
    """Download only (torch hub writes a temporary file and renames it, checking the hash prefix);
    the file is then read like any other, with weights_only=True."""
    import torch.hub

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL, str(path), hash_prefix=HASH_PREFIX, progress=False)
    except Exception as err:  # URLError, HTTPError, OSError, a hash mismatch (RuntimeError)
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(missing_message(path, f"download failed: {why}")) from None


def locate_weights(configured: str = "", *, download: bool = True) -> Path:
    """eval.inception_weights, else $GANSCALE_INCEPTION_WEIGHTS, else torch hub's copy, downloaded
    there once when online (and `download`)."""
    explicit = configured or os.environ.get(ENV_VAR, "")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            origin = "eval.inception_weights" if configured else f"${ENV_VAR}"
            raise UserError(f"{origin}={explicit}: no such file; it must be {FILE_NAME} from {URL} "
                            "(or a safetensors copy of it)")
        return path
    path = default_location()
    if path.is_file():
        return path
    if is_offline():
        raise UserError(missing_message(path, f"offline: {' or '.join(OFFLINE_VARS)} is set"))
    if not download:
        raise UserError(missing_message(path, "not downloaded yet"))
    _download(path)
    return path


def _read_tensors(path: Path) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(str(path), map_location="cpu", weights_only=True)


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, mtime_ns: int, size: int) -> tuple[dict, str]:
    """Read once per file version: training evaluates many times with the same weights."""
    try:
        state = _read_tensors(Path(path))
    except Exception as err:  # weights_only refusals (UnpicklingError), not a torch file, truncation
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise UserError(f"{path}: not a readable Inception weights file ({type(err).__name__}: {first}); "
                        f"it must be {FILE_NAME} from {URL}") from None
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return state, digest


def load_weights(path: str | Path) -> tuple[dict, str]:
    """(state dict, SHA-256 of the file), read without unpickling; the caller checks the layout."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as err:
        raise UserError(f"cannot read Inception weights {path}: {err.strerror}") from None
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


def complete(state: dict, expected: dict) -> dict:
    """The state dict with the optional counters that are missing filled in (0)."""
    import torch

    filled = {k: torch.zeros((), dtype=torch.long) for k in expected
              if k.endswith(OPTIONAL_SUFFIX) and k not in state}
    return {**state, **filled}


def check_layout(state, expected: dict, path: str | Path) -> None:
    """Every key of torch-fidelity's InceptionV3 with its shape, nothing else: another network's file
    (or a truncated conversion) would otherwise fail deep inside load_state_dict, or not at all."""
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise UserError(f"{path}: not a state dict of tensors, so not torch-fidelity's Inception weights")
    missing = [k for k in expected if k not in state and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {list(state[k].shape)} instead of {list(expected[k])}"
             for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    if missing or unexpected or wrong:
        found = (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong))
        parts = [f"{len(items)} {what} (e.g. {items[0]})" for what, items in found if items]
        raise UserError(f"{path}: not torch-fidelity's Inception-v3 weights: {', '.join(parts)}; "
                        f"it must be {FILE_NAME} from {URL}")
