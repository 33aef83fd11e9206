"""Which device a process uses: CUDA, then Apple-silicon MPS, then the CPU.

Accelerate picks CUDA or MPS by itself; ganscale only forces `cpu=True` where neither exists. That
flag is also what makes `accelerate launch --multi_gpu` on a GPU-less machine start one gloo process
per rank (how multi-process training is tested on CPUs), so it must stay set exactly there.
"""

from __future__ import annotations

import torch


def available(cuda: bool | None = None, mps: bool | None = None) -> tuple[bool, bool]:
    """(CUDA present, MPS present); arguments override the probe (the choice logic is tested on CPU)."""
    if cuda is None:
        cuda = torch.cuda.is_available()
    if mps is None:
        backend = getattr(torch.backends, "mps", None)
        mps = bool(backend is not None and backend.is_available())
    return cuda, mps


def force_cpu(cuda: bool | None = None, mps: bool | None = None) -> bool:
    """The `cpu=` argument for Accelerator: True only where neither CUDA nor MPS exists."""
    has_cuda, has_mps = available(cuda, mps)
    return not (has_cuda or has_mps)


def best_device(cuda: bool | None = None, mps: bool | None = None) -> torch.device:
    """The device a single-process command (sample, export checks, evaluate) runs G on."""
    has_cuda, has_mps = available(cuda, mps)
    return torch.device("cuda" if has_cuda else "mps" if has_mps else "cpu")
