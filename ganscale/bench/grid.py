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


def default_batches(cfg) -> list[int]:
    return [DEFAULT_BATCH.get(cfg.preset, cfg.train.batch_size)]


def textbook_mismatch(cfg) -> str | None:
    """Why the textbook loop would not do the same work as a run of `cfg` (None: it would).

    The textbook reads torchvision MNIST and trains the non-saturating loss without penalties or extra
    terms; a speed-up against it for other data or another loss would compare different work.
    """
    if cfg.data.path:
        return "trains on data.path, which the textbook loop cannot read"
    if cfg.loss.kind != "nonsaturating" or cfg.loss.r1_gamma or cfg.loss.r2_gamma:
        return (f"trains loss.kind={cfg.loss.kind} (r1_gamma {cfg.loss.r1_gamma:g}, r2_gamma "
                f"{cfg.loss.r2_gamma:g}), the textbook loop the plain non-saturating loss")
    extras = []
    if cfg.model.latent_codes:
        extras.append(f"model.latent_codes={cfg.model.latent_codes} (InfoGAN's code loss)")
    if cfg.loss.mode_seeking:
        extras.append(f"loss.mode_seeking={cfg.loss.mode_seeking:g}")
    if extras:
        return f"trains {' and '.join(extras)} on top of the loss, which the textbook loop leaves out"
    return None


def _group(preset: str, batch: int, precisions, data_paths, compiles, baseline: bool,
           overrides: tuple[str, ...] = ()) -> tuple[list[Spec], list[Result]]:
    """One group's runners: every ganscale case, then (with `baseline`) the textbook loop last."""
    cases = [Case(preset, batch, p, d, c, overrides)
             for p in precisions for d in data_paths for c in compiles]
    specs = [Spec("ganscale", case) for case in cases]
    results = [Result.of("ganscale", case) for case in cases]
    if baseline:
        textbook = Case(preset, batch, "no", "dataloader", "off", overrides)
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

    `overrides` go to every ganscale runner. Empty `batch_sizes` / `precisions`: each preset's own. A
    preset the textbook loop cannot mirror (other data, another loss: `textbook_mismatch`) gets no
    textbook run and no speed-up.
    """
    from ganscale.config import load_config

    load_start, started = load_avg(), time.time()
    results: list[Result] = []
    info: dict = {}
    for preset in presets:
        cfg = load_config(preset, overrides=overrides)  # what every runner of this preset trains
        mismatch = textbook_mismatch(cfg) if baseline else None
        with_textbook = baseline and mismatch is None
        if mismatch:
            log(f"{preset}: {mismatch}; no textbook run")
        preset_precisions = precisions or [cfg.train.mixed_precision]
        for batch in batch_sizes or default_batches(cfg):
            specs, group = _group(preset, batch, preset_precisions, data_paths, compiles, with_textbook,
                                  overrides)
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
