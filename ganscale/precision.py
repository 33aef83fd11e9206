"""Mixed precision for two optimizers: torch.amp autocast plus one GradScaler per optimizer.

accelerate keeps a single GradScaler for fp16, so an overflow in D's step would also shrink the
scale (and skip a step) for G. ganscale therefore runs autocast itself and gives G and D their own
scalers. bf16 needs no scaling; on CPU and with `no` the scalers are disabled no-ops.
"""

from __future__ import annotations

import contextlib
import os

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def effective_precision(configured: str) -> str:
    """The config wins; a launcher flag (`accelerate launch --mixed_precision`) fills in for `no`."""
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    return configured if configured != "no" else (launcher if launcher in DTYPES else "no")


def check_supported(precision: str, device: torch.device) -> None:
    from ganscale.errors import UserError

    if precision == "fp16" and device.type != "cuda":  # per-optimizer GradScalers are tested on CUDA only
        raise UserError(f"train.mixed_precision=fp16 needs a CUDA GPU and this run's device is "
                        f"{device.type}; use bf16 (works on CPU) or no")


def autocast(precision: str, device: torch.device):
    if precision == "no":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


class Scaler:
    """A GradScaler that also counts the steps it skipped because of inf/NaN gradients."""

    def __init__(self, precision: str, device: torch.device):
        enabled = precision == "fp16"
        self.scaler = torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)
        self.skipped = torch.zeros((), dtype=torch.long, device=device)

    @property
    def scale_value(self) -> float:
        return float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def unscale(self, optimizer) -> None:
        if self.scaler.is_enabled():
            self.scaler.unscale_(optimizer)

    def step(self, optimizer) -> None:
        if not self.scaler.is_enabled():
            optimizer.step()
            return
        # Compare the scale tensors on the device: get_scale() would force a host sync every step.
        before = self.scaler._scale.clone()
        self.scaler.step(optimizer)
        self.scaler.update()
        self.skipped += (self.scaler._scale < before).long().sum()

    def state_dict(self) -> dict:
        state = self.scaler.state_dict() if self.scaler.is_enabled() else {}
        return {"scaler": state, "skipped": int(self.skipped)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.skipped.fill_(int(state.get("skipped", 0)))
