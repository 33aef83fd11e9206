"""Ablations of ganscale's hot path: what each choice is worth, measured side by side in one run.

    python tools/ablate.py --preset mnist-dcgan-plain --batch-size 128 [--repeats 3] [--target-seconds 6]

Each variant is the real Trainer with one choice undone (a `ganscale.hot_path.HotPath` option
switched off, or for item-every-step a read-back added), in its own process, interleaved repeat by
repeat exactly like `ganscale bench`. Besides img/s (wall clock) it prints img per CPU-second of
the runner process, which other processes on a shared machine disturb much less (time-slicing
does not count; with 1 thread it is the cleanest A/B on a busy machine).
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
import functools
import json
import statistics
import sys

import torch

from ganscale.bench import Case, GanscaleRunner, Result, Spec, load_avg, machine_info, measure_specs
from ganscale.hot_path import HotPath

# Each variant undoes one choice; the Trainer options it switches off (item-every-step: none, the
# read-back is added by the runner; d-grads-in-g-phase also clears D's leaked gradients each step).
SWITCHED_OFF: dict[str, dict[str, bool]] = {
    "full": {},
    "no-retained-memory": {"retain_cpu_memory": False},
    "no-channels-last": {"channels_last": False},
    "no-grad-layout": {"grad_layout": False},
    "d-grads-in-g-phase": {"freeze_d_in_g_phase": False},
    "fresh-g-forward": {"reuse_fakes": False},
    "item-every-step": {},
}
ABLATIONS = tuple(SWITCHED_OFF)


def ablated_hot_path(ablation: str) -> HotPath:
    """The Trainer's hot-path options with the one choice `ablation` names switched off."""
    return HotPath(**SWITCHED_OFF[ablation])


class AblatedRunner(GanscaleRunner):
    """`ganscale bench`'s runner with one choice undone; the step extras mimic the textbook loop."""

    def __init__(self, case: Case, ablation: str = "full"):
        super().__init__(case, hot_path=ablated_hot_path(ablation))
        self.ablation = ablation

    def step(self) -> int:
        images = super().step()
        if self.ablation == "d-grads-in-g-phase":
            self.trainer.opt_D.zero_grad(set_to_none=True)  # the textbook's D.zero_grad() of the next step
        elif self.ablation == "item-every-step":
            self.trainer.stats.sums.tolist()  # a host read-back every step
        return images


def variant_specs(case: Case, variants: list[str]) -> list[Spec]:
    """One runner process per variant; a partial of a module-level class pickles into spawn."""
    return [Spec(variant, case, functools.partial(AblatedRunner, ablation=variant)) for variant in variants]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def print_table(case: Case, results: list[Result], base: float | None) -> None:
    """img/s and img per CPU-second of each variant, and how much faster `full` is (when measured first)."""
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


def main() -> int:
    args = parse_args()
    case = Case(args.preset, args.batch_size)
    results = [Result.of(variant, case) for variant in args.variants]
    load_start = load_avg()
    info = measure_specs(variant_specs(case, args.variants), results, steps=args.steps, warmup=args.warmup,
                         repeats=args.repeats, target_s=args.target_seconds, retry_above=args.retry_above,
                         log=lambda m: print(m, flush=True))
    print_table(case, results, results[0].img_per_s if args.variants[0] == "full" else None)
    report = machine_info(torch.device(info["device"]), info["torch_threads"])
    print(f"\n{report['device']}; load avg start {load_start} end {load_avg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**report, "results": [r.to_dict() for r in results]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
