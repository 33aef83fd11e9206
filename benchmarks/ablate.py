"""Ablations of ganscale's hot path: what each choice is worth, measured side by side in one run.

    python benchmarks/ablate.py --preset mnist-dcgan-plain --batch-size 128 [--repeats 3] [--target-seconds 6]

Each variant is the real Trainer with one choice undone, in its own process, interleaved repeat by
repeat exactly like `ganscale bench` (ganscale.bench.ABLATIONS). Besides img/s (wall clock) it
prints img per CPU-second of the runner process, which other processes on a shared machine disturb
much less (time-slicing does not count; with 1 thread it is the cleanest A/B on a busy machine).
For timing only: some variants change what is trained (D's G-phase gradients leak into its next
update), so never train that way.

- full: ganscale as shipped.
- no-retained-memory: glibc's default malloc (fresh pages for big tensors, heap trimmed on free).
- no-channels-last: G, D and G_ema in NCHW (contiguous) on CPU.
- no-grad-layout: plain nn.ReLU/LeakyReLU in the 28x28 nets, so gradients reach them in the other
  memory layout at the Flatten/Unflatten boundaries (models/common.py, _GradInOutputLayout).
- d-grads-in-g-phase: D keeps requires_grad in the G phase, so its weight gradients are computed
  (and dropped), as in the textbook loop.
- fresh-g-forward: the G phase runs G again instead of reusing the D phase's fakes.
- item-every-step: the statistics are read back to the host every step (the textbook's `.item()`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import torch

from ganscale.bench import ABLATIONS, Case, Result, Spec, measure_specs
from ganscale.bench.machine import load_avg, machine_info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-dcgan-plain")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--variants", nargs="+", default=list(ABLATIONS), choices=ABLATIONS)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="default: auto (--target-seconds)")
    parser.add_argument("--target-seconds", type=float, default=6.0)
    parser.add_argument("--retry-above", type=float, default=None, metavar="CORES",
                        help="measure a window again when other processes kept more cores busy")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    case = Case(args.preset, args.batch_size)
    specs = [Spec("ganscale", case, variant) for variant in args.variants]
    results = [Result.of(variant, case) for variant in args.variants]
    load_start = load_avg()
    info = measure_specs(specs, results, steps=args.steps, warmup=args.warmup, repeats=args.repeats,
                         target_s=args.target_seconds, retry_above=args.retry_above,
                         log=lambda m: print(m, flush=True))
    base = results[0].img_per_s if args.variants[0] == "full" else None
    print(f"\n{case.preset} batch {case.batch_size}")
    print(f"{'variant':20s} | {'img/s':>9s} | {'min':>9s} | {'max':>9s} | {'other CPU':>9s} | "
          f"{'img/CPU-s':>9s} | full is (img/s, img/CPU-s)")
    base_cpu = None
    for r in results:
        others = [x for x in r.other_cpu if x is not None]
        pairs = zip(r.steps, r.cpu_seconds, strict=True)
        per_cpu = statistics.median(n * r.images_per_step / max(c, 1e-9) for n, c in pairs)
        base_cpu = base_cpu or per_cpu
        rel = f"{base / r.img_per_s:.2f}x, {base_cpu / per_cpu:.2f}x" if base else "-"
        print(f"{r.runner:20s} | {r.img_per_s:9.1f} | {min(r.runs):9.1f} | {max(r.runs):9.1f} | "
              f"{max(others) if others else 'n/a':>9} | {per_cpu:9.1f} | {rel}")
    report = machine_info(torch.device(info["device"]), info["torch_threads"])
    print(f"\n{report['device']}; load avg start {load_start} end {load_avg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**report, "results": [r.to_dict() for r in results]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
