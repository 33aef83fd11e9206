"""G_ema as ONNX: inputs `z` [batch, z_dim] float32 (and `labels` [batch] int64 for conditional
models), output `images` [batch, C, H, W] float32 in [-1, 1], the batch axis dynamic.

Written with torch's TorchScript-based exporter: it needs no package beyond `onnx` (the dynamo
exporter also needs onnxscript), and every built-in architecture exports with it. Each export is
run once in onnxruntime against PyTorch on the same noise before it is written, so a file that
would draw different pictures is never left behind. Both come with the extra `ganscale[onnx]`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganscale.checkpoint.schema import EXPORT_FORMAT
from ganscale.errors import ExportError, MissingExtraError

OPSET = 17
CHECK_BATCH, CHECK_SEED = 3, 0
# Largest |PyTorch - onnxruntime| accepted, in [-1, 1] pixel units: float32 kernels that sum in another
# order differ by ~1e-7 here; one uint8 grey level is 2/255 = 7.8e-3, so 1e-4 cannot change a picture.
TOLERANCE = 1e-4


def require_onnx():
    """(onnx, onnxruntime), or one line saying which extra brings them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise MissingExtraError(f"ONNX export needs onnx and onnxruntime ({err.name} is missing): "
                                "pip install 'ganscale[onnx]'") from None
    return onnx, onnxruntime


@contextlib.contextmanager
def _captured_output():
    """The exporter prints its whole graph to the process's stderr when it fails: keep that out of the
    one-line error (it is file-descriptor output, which redirecting sys.stderr does not catch)."""
    with tempfile.TemporaryFile() as sink:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _why(err: Exception) -> str:
    found = re.search(r"operator '([^']+)'", str(err))
    if found:
        return f"the op {found.group(1)} has no ONNX translation (opset {OPSET})"
    return " ".join(str(err).split())[:240] or type(err).__name__


def _write(generator: nn.Module, model, path: Path) -> None:
    z = torch.randn(2, model.z_dim)
    conditional = bool(model.num_classes)
    inputs = (z, torch.zeros(2, dtype=torch.long)) if conditional else (z,)
    names = ["z", "labels"] if conditional else ["z"]
    try:
        with warnings.catch_warnings(), _captured_output():
            warnings.simplefilter("ignore")  # the exporter's deprecation notes are not the user's concern
            torch.onnx.export(generator, inputs, str(path), dynamo=False, opset_version=OPSET,
                              input_names=names, output_names=["images"],
                              dynamic_axes={name: {0: "batch"} for name in [*names, "images"]})
    except Exception as err:  # the exporter raises many types; each becomes one line naming the arch
        raise ExportError(f"model.arch={model.arch}: cannot be exported to ONNX: {_why(err)}") from None


def _check(generator: nn.Module, model, path: Path) -> float:
    """Run the file in onnxruntime on the noise `ganscale sample` would draw; the largest difference."""
    from ganscale.sampling import draw_noise

    _, onnxruntime = require_onnx()
    z, labels = draw_noise(model, CHECK_BATCH, CHECK_SEED)
    feeds = {"z": z.numpy()} | ({"labels": labels.numpy()} if labels is not None else {})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["images"], feeds)[0]
    with torch.no_grad():
        want = generator(z, labels).float().numpy()
    return float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")


def export_onnx(generator: nn.Module, model, config: dict, out: Path) -> float:
    """Write `out` atomically, with the training config in the file's metadata; returns the checked
    largest difference from PyTorch."""
    from ganscale.files import atomic_path

    onnx, _ = require_onnx()
    generator = generator.to("cpu").eval()
    with atomic_path(out) as tmp:
        _write(generator, model, tmp)
        proto = onnx.load(str(tmp))
        onnx.helper.set_model_props(proto, {"format": EXPORT_FORMAT, "config": json.dumps(config)})
        onnx.save(proto, str(tmp))
        difference = _check(generator, model, tmp)
        if not difference <= TOLERANCE:
            raise ExportError(f"model.arch={model.arch}: onnxruntime's images differ from PyTorch's by "
                              f"{difference:.3g} (more than {TOLERANCE}); the ONNX file was not written")
    return difference
