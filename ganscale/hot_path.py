"""The trainer's speed choices, each one an explicit option so a benchmark can switch it off.

Each is measured in docs/benchmarks.md (`ganscale bench` and the ablation tool time the Trainer with one
choice undone). All default to on. `retain_cpu_memory`, `channels_last` and `grad_layout` only change
how memory is laid out, never a number; `freeze_d_in_g_phase` and `reuse_fakes` off change what is
trained (D keeps G-phase gradients; G sees new fakes), so they exist for timing, not for training.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass


@dataclass(frozen=True)
class HotPath:
    retain_cpu_memory: bool = True  # glibc keeps freed tensor memory for the next step (CPU)
    channels_last: bool = True  # NHWC weights for oneDNN convolutions (CPU)
    grad_layout: bool = True  # activations hand gradients back in their output's layout (CPU)
    freeze_d_in_g_phase: bool = True  # D's parameters get no gradient while G trains
    reuse_fakes: bool = True  # the G phase trains on the D phase's fakes (one G forward per step)


def retain_cpu_memory() -> None:
    """Keep freed tensor memory in the process heap (glibc) instead of giving it back every step.

    By default glibc serves big tensors with fresh mmap'd pages and trims the heap on free, so each
    CPU step faults its activations in again (~18k page faults per mnist-dcgan b128 step, about a
    fifth of its CPU time: docs/benchmarks.md). Allocation only: the numbers are unchanged.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks up to 32 MiB (glibc's maximum) come from the heap
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of free heap for the next step
