"""`ganscale bench`: training throughput of ganscale against the textbook PyTorch GAN loop.

Every option takes one or more values; the grid is their product. Bad values are one-line errors
with exit status 2, like every other ganscale mistake. See docs/benchmarks.md for the numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganscale.errors import UserError

NAME = "bench"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        NAME, help="measure training throughput (img/s) against the textbook PyTorch loop",
        description="Measure ganscale's training throughput (real images per second, D and G steps) "
                    "for a grid of presets x batch sizes x precisions x data paths x compile, and the "
                    "textbook PyTorch-examples DCGAN loop on the same models in the same run. Default: "
                    "mnist-dcgan-plain at batch 128 and mnist-dcgan64 at batch 64, their own precision "
                    "(fp32), tensor data, no compile.")
    p.add_argument("--preset", nargs="+", default=None, metavar="P",
                   help="presets (default: mnist-dcgan-plain mnist-dcgan64)")
    p.add_argument("--batch-size", nargs="+", default=None, metavar="N",
                   help="per-process batch sizes (default: 128 for mnist-dcgan-plain, 64 for mnist-dcgan64, "
                        "else the preset's)")
    p.add_argument("--precision", nargs="+", default=[], metavar="{no,bf16,fp16}",
                   help="ganscale mixed precision (default: each preset's train.mixed_precision); the "
                        "textbook loop is always fp32")
    p.add_argument("--data", nargs="+", default=["tensor"], metavar="{tensor,dataloader}",
                   help="ganscale data path (default: tensor)")
    p.add_argument("--compile", nargs="+", default=["off"], metavar="{off,on}",
                   help="torch.compile G and D (default: off)")
    p.add_argument("--steps", default="auto", metavar="N",
                   help="timed steps per repeat (default auto: as many as fit in --target-seconds)")
    p.add_argument("--warmup", default="2", metavar="N",
                   help="untimed steps per runner before its first repeat (default 2)")
    p.add_argument("--repeats", default="3", metavar="N", help="repeats; the median is reported (default 3)")
    p.add_argument("--target-seconds", default="6", metavar="S",
                   help="with --steps auto: length of each timed window (default 6)")
    p.add_argument("--retry-above", default=None, metavar="CORES",
                   help="on a shared machine: measure a window again (up to 3 times) when other processes "
                        "kept more than CORES cores busy during it (Linux; default: never)")
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the textbook loop and report the speed-up (default: on)")
    p.add_argument("--folder-data", action="store_true",
                   help="instead of the grid: a generated folder of RGB PNGs read through a prepared dataset "
                        "(memory-mapped) and through torchvision ImageFolder + PIL, for the 64x64 RGB DCGAN: "
                        "data-only and full-step img/s and the share of the step spent waiting for data")
    p.add_argument("--images", default="10000", metavar="N", help="--folder-data: images in the folder "
                   "(default 10000)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="SECTION.KEY=VALUE",
                   help="config overrides for every ganscale runner, as in `ganscale train` (for example "
                        "data.path=data/stacked-mnist-32 for a preset that trains on a prepared dataset)")
    p.add_argument("--json", metavar="FILE", help="write the full report (JSON) here")
    p.add_argument("--quiet", action="store_true", help="print only the table")


def _int(name: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UserError(f"{name} {raw!r}: expected an integer >= {minimum}") from None
    if value < minimum:
        raise UserError(f"{name} {raw}: must be >= {minimum}")
    return value


def _choices(name: str, values: list[str], allowed: tuple[str, ...]) -> list[str]:
    for value in values:
        if value not in allowed:
            raise UserError(f"{name} {value!r}: choose from {', '.join(allowed)}")
    return list(dict.fromkeys(values))


def _parse(args) -> dict:
    from ganscale import bench
    from ganscale.config import load_config, preset_names

    presets = list(dict.fromkeys(args.preset or bench.DEFAULT_PRESETS))
    for preset in presets:
        if preset not in preset_names():
            raise UserError(f"--preset {preset!r}: unknown; choose from {', '.join(preset_names())}")
    overrides = tuple(args.set)
    compiles = _choices("--compile", args.compile, bench.COMPILE)
    # compile on only adds checks (e.g. no gradient penalty), so one load covers both grid values
    compile_on = ("train.compile=true",) if "on" in compiles else ()
    for preset in presets:  # a bad key, value or data.path is one line now, not in a runner process
        load_config(preset, overrides=overrides + compile_on)
    batches = [_int("--batch-size", b, 1) for b in args.batch_size] if args.batch_size else None
    try:
        target = float(args.target_seconds)
    except ValueError:
        target = -1.0
    if not target > 0:
        raise UserError(f"--target-seconds {args.target_seconds!r}: expected a number > 0")
    retry = None
    if args.retry_above is not None:
        try:
            retry = float(args.retry_above)
        except ValueError:
            retry = -1.0
        if retry < 0:
            raise UserError(f"--retry-above {args.retry_above!r}: expected a number of cores >= 0")
    if args.json:
        parent = Path(args.json).resolve().parent
        if not parent.is_dir():
            raise UserError(f"--json {args.json}: folder {parent} does not exist")
    return {
        "presets": presets, "batch_sizes": batches,
        "precisions": _choices("--precision", args.precision, bench.PRECISIONS),
        "data_paths": _choices("--data", args.data, bench.DATA_PATHS),
        "compiles": compiles,
        "steps": None if args.steps == "auto" else _int("--steps", args.steps, 1),
        "warmup": _int("--warmup", args.warmup, 0), "repeats": _int("--repeats", args.repeats, 1),
        "baseline": args.baseline, "target_s": target, "retry_above": retry, "overrides": overrides,
    }


def _folder_bench(args, options: dict, log) -> dict:
    from ganscale.bench.folder_data import format_folder_table, run_folder_bench

    if options["overrides"]:
        raise UserError("--set: --folder-data builds its own dataset and model; it takes no overrides")
    batch = options["batch_sizes"][0] if options["batch_sizes"] else 64
    steps = options["steps"] or 12
    report = run_folder_bench(images=_int("--images", args.images, 64), batch_size=batch,
                              data_steps=5 * steps, train_steps=steps, log=log)
    print(format_folder_table(report))
    return report


def run(args) -> int:
    options = _parse(args)  # every argument is checked before anything heavy is imported
    from ganscale.bench import format_table, run_bench
    from ganscale.files import write_json

    log = (lambda message: None) if args.quiet else (lambda message: print(message, flush=True))
    if args.folder_data:
        report = _folder_bench(args, options, log)
    else:
        report = run_bench(**options, log=log)
        print(format_table(report))
    if args.json:
        write_json(args.json, report)
        print(f"wrote {args.json}")
    return 0
