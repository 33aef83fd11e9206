"""How fast could any loop doing the same maths be? The ceiling on `ganscale bench`'s speed-up.

    python tools/math_floor.py --preset mnist-dcgan-plain --batch-size 128 [--steps 20]

A loop that trains the same G and D with the same losses and update order has to run the same
convolutions and matrix products (forward and backward); only the work around them (data loading,
layouts, host syncs, gradients nobody uses) is negotiable. This profiles ganscale's real step
(the `ganscale bench` runner, with its fastest kernels: channels_last on CPU) and sums the time
spent inside those kernels. The textbook loop's step time divided by that sum is the largest
speed-up any loop could show against it on this machine without changing what is trained.
Timing runs in separate processes, like `ganscale bench`: the textbook loop is measured alone.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from ganscale.bench import Case, GanscaleRunner, Result, Spec, TextbookRunner, measure_specs

# The dense maths: convolutions, their backward, and the linear layers. A transposed convolution's
# oneDNN kernel runs inside aten::_convolution itself (no child op), so its self time counts too
# (for plain convolutions that self time is dispatch only: ~0.05 ms a call).
MATH_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_convolution",
            "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward", "aten::slow_conv_transpose2d",
            "aten::addmm", "aten::mm",
            "aten::cudnn_convolution", "aten::cudnn_convolution_transpose")


def math_seconds_per_step(case: Case, steps: int, warmup: int) -> tuple[float, float, dict]:
    """(seconds in dense-maths kernels per step, profiled wall seconds per step, per-op split)."""
    runner = GanscaleRunner(case)
    runner.warmup(warmup)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _, _, wall, _ = runner.window(steps)
    per_op = {}
    for event in prof.key_averages():
        if event.key in MATH_OPS:
            per_op[event.key] = event.self_cpu_time_total / 1e6 / steps
    runner.close()
    return sum(per_op.values()), wall / steps, per_op


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-dcgan-plain")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()

    case = Case(args.preset, args.batch_size)
    math_s, profiled_s, per_op = math_seconds_per_step(case, args.steps, args.warmup)
    results = [Result.of(runner, case) for runner in ("ganscale", "textbook")]
    specs = [Spec("ganscale", case), Spec("textbook", case, TextbookRunner)]
    measure_specs(specs, results, steps=None, warmup=args.warmup, repeats=args.repeats, target_s=6.0,
                  log=lambda message: print(message, flush=True))
    by_runner = {r.runner: r for r in results}
    textbook_s = args.batch_size / by_runner["textbook"].img_per_s
    ganscale_s = args.batch_size / by_runner["ganscale"].img_per_s
    report = {
        "preset": args.preset, "batch_size": args.batch_size, "torch_threads": torch.get_num_threads(),
        "math_ms_per_step": 1e3 * math_s, "math_ms_by_op": {k: 1e3 * v for k, v in per_op.items()},
        "profiled_ganscale_ms_per_step": 1e3 * profiled_s,
        "ganscale_ms_per_step": 1e3 * ganscale_s, "textbook_ms_per_step": 1e3 * textbook_s,
        "speedup": textbook_s / ganscale_s, "speedup_ceiling": textbook_s / math_s,
    }
    print(f"{args.preset} b{args.batch_size}, {torch.get_num_threads()} threads")
    for op, seconds in sorted(per_op.items(), key=lambda kv: -kv[1]):
        print(f"  {op:36s} {1e3 * seconds:7.1f} ms/step")
    print(f"dense maths (any loop, same training): {1e3 * math_s:7.1f} ms/step")
    print(f"ganscale step:                         {1e3 * ganscale_s:7.1f} ms/step "
          f"({100 * math_s / ganscale_s:.0f}% of it dense maths)")
    print(f"textbook step:                         {1e3 * textbook_s:7.1f} ms/step")
    print(f"speed-up now {report['speedup']:.2f}x; ceiling (textbook / dense maths) "
          f"{report['speedup_ceiling']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
