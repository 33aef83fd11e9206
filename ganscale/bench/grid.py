"""The grid `ganscale bench` measures: presets x batch sizes x precisions x data paths x compile.

Each (preset, batch size) group is measured on its own, every ganscale case of it plus the textbook
loop interleaved (measure.py), so a speed-up compares runners that saw the same machine load.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ganscale.bench.machine import load_avg
from ganscale.bench.measure import Spec, measure_specs
from ganscale.bench.report import Result, bench_report
from ganscale.bench.runners import TEXTBOOK_WORKERS, Case, TextbookRunner

PRECISIONS = ("no", "bf16", "fp16")
DATA_PATHS = ("tensor", "dataloader")
COMPILE = ("off", "on")
# Default batch size per preset when --batch-size is not given (the targets).
DEFAULT_BATCH = {"mnist-dcgan-plain": 128, "mnist-dcgan64": 64}
DEFAULT_PRESETS = ("mnist-dcgan-plain", "mnist-dcgan64")


def default_batches(preset: str, overrides: tuple[str, ...] = ()) -> list[int]:
    if preset in DEFAULT_BATCH:
        return [DEFAULT_BATCH[preset]]
    from ganscale.config import load_config

    return [load_config(preset, overrides=overrides).train.batch_size]


def reads_mnist(preset: str, overrides: tuple[str, ...] = ()) -> bool:
    """Whether the run trains on torchvision MNIST, the only data the textbook loop can read."""
    from ganscale.config import load_config

    return not load_config(preset, overrides=overrides).data.path


def _group(preset: str, batch: int, precisions, data_paths, compiles, baseline: bool,
           overrides: tuple[str, ...] = ()) -> tuple[list[Spec], list[Result]]:
    """One group's runners: every ganscale case, then (with `baseline`) the textbook loop last."""
    cases = [Case(preset, batch, p, d, c, overrides)
             for p in precisions for d in data_paths for c in compiles]
    specs = [Spec("ganscale", case) for case in cases]
    results = [Result.of("ganscale", case) for case in cases]
    if baseline:
        textbook = Case(preset, batch, "no", "dataloader", "off")
        specs.append(Spec("textbook", textbook, TextbookRunner))
        results.append(Result.of("textbook", textbook))
    return specs, results


def _set_speedups(group: list[Result]) -> None:
    """Each ganscale result's median over the textbook's (the group's last result)."""
    base = group[-1].img_per_s
    for result in group[:-1]:
        result.speedup = result.img_per_s / base if base > 0 else None


def run_bench(presets, batch_sizes, precisions, data_paths, compiles, *, steps: int | None = None,
              warmup: int = 2, repeats: int = 3, baseline: bool = True, target_s: float = 6.0,
              retry_above: float | None = None, overrides: tuple[str, ...] = (),
              log: Callable[[str], None] = print) -> dict:
    """Measure the grid; returns the JSON-able report (see `docs/benchmarks.md`).

    `overrides` go to every ganscale runner. A preset that trains on a prepared dataset (data.path)
    gets no textbook run: that loop reads torchvision MNIST only, so a speed-up would compare
    different data.
    """
    load_start, started = load_avg(), time.time()
    results: list[Result] = []
    info: dict = {}
    for preset in presets:
        with_textbook = baseline and reads_mnist(preset, overrides)
        if baseline and not with_textbook:
            log(f"{preset}: trains on data.path, which the textbook loop cannot read; no textbook run")
        for batch in batch_sizes or default_batches(preset, overrides):
            specs, group = _group(preset, batch, precisions, data_paths, compiles, with_textbook, overrides)
            log(f"{preset} batch {batch}: {len(specs)} runner(s), one process each")
            info = measure_specs(specs, group, steps=steps, warmup=warmup, repeats=repeats, target_s=target_s,
                                 log=log, retry_above=retry_above)
            if with_textbook:
                _set_speedups(group)
            results.extend(group)
    settings = {"steps": steps if steps else "auto", "warmup": warmup, "repeats": repeats,
                "target_s": target_s, "retry_above": retry_above, "baseline": baseline,
                "textbook_workers": TEXTBOOK_WORKERS, "overrides": list(overrides)}
    return bench_report(results, info, settings, load_start, started)
