"""Where a bench step's time goes: `python -m tools.gpucheck.profile --out FILE [options]`.

The bench reports img/s but cannot say why, so this runs `ganscale bench`'s own runner (the real
Trainer, `ganscale.bench.GanscaleRunner`, the package's public bench API) under torch.profiler and
writes a short text file: wall time per step without the profiler, device kernel time per step
(the share of the step the GPU is busy; the rest is launch and host overhead), kernel launches per
step, copies (the batch's index upload; the data itself stays on the device), and the top ops.
Its last stdout line is `PROFILE_SUMMARY {json}` for tools/gpu_check.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx",
            "cudaGraphLaunch")
TOP_OPS = 15


def _device_events(events, device_type) -> tuple[float, float]:
    """(kernel microseconds, copy/set microseconds) over the device events of the trace."""
    kernels = copies = 0.0
    for event in events:
        if event.device_type != device_type:
            continue
        elapsed = event.time_range.elapsed_us()
        if "memcpy" in event.name.lower() or "memset" in event.name.lower():
            copies += elapsed
        else:
            kernels += elapsed
    return kernels, copies


def _launches(events) -> tuple[int, float]:
    calls = [e for e in events if e.name in LAUNCHES]
    return len(calls), sum(e.time_range.elapsed_us() for e in calls)


def _table(prof, cuda: bool) -> str:
    keys = ("self_device_time_total", "self_cuda_time_total") if cuda else ("self_cpu_time_total",)
    for key in keys:  # the sort key's name changed across torch versions
        try:
            return prof.key_averages().table(sort_by=key, row_limit=TOP_OPS)
        except (AttributeError, KeyError, ValueError):
            continue
    return prof.key_averages().table(row_limit=TOP_OPS)


def summarize(prof, steps: int, wall_s: float, cpu_s: float, cuda: bool) -> dict:
    """Per-step numbers from a trace of `steps` steps and an unprofiled window of the same length."""
    import torch

    events = prof.events()
    kernels_us, copies_us = _device_events(events, torch.autograd.DeviceType.CUDA)
    launches, launch_us = _launches(events)
    wall_ms, per_step = wall_s * 1000 / steps, 1000 * steps  # microseconds -> ms per step
    out = {"steps": steps, "wall_ms_per_step": round(wall_ms, 3),
           "cpu_ms_per_step": round(cpu_s * 1000 / steps, 3), "device": "cuda" if cuda else "cpu"}
    if cuda:
        kernel_ms = kernels_us / per_step
        out.update(kernel_ms_per_step=round(kernel_ms, 3), copy_ms_per_step=round(copies_us / per_step, 3),
                   gpu_busy_share=round(kernel_ms / wall_ms, 3) if wall_ms else None,
                   launches_per_step=round(launches / steps, 1),
                   launch_cpu_ms_per_step=round(launch_us / per_step, 3))
    return out


def _text(args, summary: dict, table: str) -> str:
    lines = [f"torch.profiler: ganscale {args.preset} batch {args.batch_size} {args.precision}, "
             f"{args.steps} steps after {args.warmup} warm-up steps (GanscaleRunner: the real Trainer)", ""]
    lines += [f"{key}: {value}" for key, value in summary.items()]
    if summary["device"] == "cuda":
        lines += ["", "gpu_busy_share: device kernel time / wall time of an unprofiled window; the rest of",
                  "the step the GPU waits for the host (Python, dispatch, kernel launches)."]
    return "\n".join([*lines, "", table, ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-dcgan-plain")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    import torch
    from torch.profiler import ProfilerActivity, profile

    from ganscale.bench import Case, GanscaleRunner

    runner = GanscaleRunner(Case(args.preset, args.batch_size, args.precision))
    cuda = runner.device.type == "cuda"
    try:
        runner.warmup(args.warmup)
        _, _, wall_s, cpu_s = runner.window(args.steps)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        started = time.perf_counter()
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                runner.step()
            runner.finish()
        summary = {**summarize(prof, args.steps, wall_s, cpu_s, cuda),
                   "profiled_s": round(time.perf_counter() - started, 2), "torch": torch.__version__}
    finally:
        runner.close()
    args.out.write_text(_text(args, summary, _table(prof, cuda)))
    print("PROFILE_SUMMARY " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
