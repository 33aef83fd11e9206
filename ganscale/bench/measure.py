"""Training throughput: ganscale's `Trainer.train_step` against the textbook PyTorch GAN loop.

What is measured is real images consumed per second, D and G updates included; the two loops are
in `bench_runners.py`, the machine facts in `machine.py`. This module runs and reports them.

Every runner lives in its own process (spawned), so nothing one of them sets for the process
(threads, allocator, oneDNN caches, the CUDA context) reaches another: the textbook loop runs as it
would on its own. Runs of one (preset, batch size) group are interleaved repeat by repeat
(A B A B ...), so a change in machine load hits every runner alike. Each runner first runs `warmup`
untimed steps; each repeat is then a window of `steps` timed steps ending with a device sync. With
`steps=None` the window grows until it lasts `target_s` seconds, so a slow (or disturbed) step
never makes a window too short to mean anything.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from ganscale.bench.machine import OtherLoad, load_avg, machine_info
from ganscale.bench.runners import (
    ABLATIONS,  # noqa: F401  (benchmarks/ablate.py names the variants through the bench)
    TEXTBOOK_WORKERS,
    Case,
    GanscaleRunner,
    Runner,
    TextbookRunner,
)

PRECISIONS = ("no", "bf16", "fp16")
DATA_PATHS = ("tensor", "dataloader")
COMPILE = ("off", "on")
# Default batch size per preset when --batch-size is not given (the targets).
DEFAULT_BATCH = {"mnist-dcgan-plain": 128, "mnist-dcgan64": 64}
DEFAULT_PRESETS = ("mnist-dcgan-plain", "mnist-dcgan64")
SETTLE_S = 0.3  # pause before each timed window


@dataclass
class Result:
    runner: str  # "ganscale" or "textbook"
    preset: str
    batch_size: int
    precision: str
    data: str
    compile: str
    runs: list[float] = field(default_factory=list)  # img/s of each repeat
    other_cpu: list[float | None] = field(default_factory=list)  # cores busy with other processes, per repeat
    steps: list[int] = field(default_factory=list)  # timed steps of each repeat
    cpu_seconds: list[float] = field(default_factory=list)  # the runner process's CPU time, per repeat
    images_per_step: int = 0
    speedup: float | None = None

    @classmethod
    def of(cls, runner: str, case: Case) -> Result:
        """An empty result for `runner` measured on `case`."""
        return cls(runner, case.preset, case.batch_size, case.precision, case.data, case.compile)

    @property
    def label(self) -> str:
        return (f"{self.runner:8s} {self.preset} b{self.batch_size} "
                f"{self.precision}/{self.data}/compile-{self.compile}")

    @property
    def img_per_s(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(img_per_s=self.img_per_s, img_per_s_min=min(self.runs, default=float("nan")),
                   img_per_s_max=max(self.runs, default=float("nan")))
        return out


# --------------------------------------------------------------------------- one process per runner
@dataclass(frozen=True)
class Spec:
    """What a runner process builds: ganscale on `case` (optionally ablated), or the textbook loop."""

    runner: str  # "ganscale" or "textbook"
    case: Case
    ablation: str = "full"

    def build(self) -> Runner:
        if self.runner == "textbook":
            return TextbookRunner(self.case.preset, self.case.batch_size)
        return GanscaleRunner(self.case, self.ablation)


def _serve(conn, spec: Spec) -> None:
    """Runner process: build the runner, then answer (command, args) until "close"."""
    from ganscale.errors import UserError

    runner = None
    try:
        runner = spec.build()
        conn.send(("ok", runner.info()))
        while True:
            command, args = conn.recv()
            if command == "close":
                break
            conn.send(("ok", getattr(runner, command)(*args)))
    except UserError as err:
        conn.send(("user-error", str(err)))
    except (EOFError, KeyboardInterrupt):
        pass
    except Exception as err:  # reported by the parent, with where it happened
        conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=-4)}"))
    finally:
        if runner is not None:
            runner.close()
        conn.close()


class RemoteRunner:
    """The parent's handle on a runner process (same `warmup` / `window` as a Runner)."""

    def __init__(self, spec: Spec, context):
        self.spec = spec
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, spec), name=f"bench-{spec.runner}")
        self.process.start()
        child.close()
        self.info: dict = {}

    def _reply(self):
        from ganscale.errors import UserError

        try:
            status, value = self.conn.recv()
        except EOFError:
            self.process.join(5)
            raise RuntimeError(f"bench {self.spec.runner} process for {self.spec.case.key} died "
                               f"(exit code {self.process.exitcode})") from None
        if status == "user-error":
            raise UserError(value)
        if status == "error":
            raise RuntimeError(f"bench {self.spec.runner} {self.spec.case.key}: {value}")
        return value

    def ready(self) -> dict:
        self.info = self._reply()
        return self.info

    @property
    def images_per_step(self) -> int:
        return self.info.get("images_per_step", 0)

    def warmup(self, steps: int) -> None:
        self.conn.send(("warmup", (steps,)))
        self._reply()

    def window(self, steps: int | None, target_s: float = 0.0) -> tuple[int, int, float, float]:
        self.conn.send(("window", (steps, target_s)))
        return tuple(self._reply())

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(("close", ()))
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def start_runners(specs: list[Spec]) -> list[RemoteRunner]:
    """Start one process per spec (in parallel) and wait until every runner is built."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    runners = [RemoteRunner(spec, context) for spec in specs]
    try:
        for runner in runners:
            runner.ready()
    except BaseException:
        for runner in runners:
            runner.close()
        raise
    return runners


# --------------------------------------------------------------------------- measuring
def measure_group(runners: list, results: list[Result], *, steps: int | None, warmup: int, repeats: int,
                  target_s: float, log: Callable[[str], None], retry_above: float | None = None,
                  max_retries: int = 3) -> None:
    """Interleaved repeats over the runners of one (preset, batch) group; fills `results[i].runs`.

    Warm-up steps (compilation, allocator and oneDNN primitive caches, DataLoader worker start) run
    once per runner, before its first window. Before each window the process pauses briefly, so that
    another runner's DataLoader workers finish prefetching and do not run inside this window. With
    `retry_above`, a window during which other processes kept more than that many cores busy is
    measured again (up to `max_retries` times; the last try counts).
    """
    for repeat in range(repeats):
        for runner, result in zip(runners, results, strict=True):
            if repeat == 0 and warmup:
                runner.warmup(warmup)
            for attempt in range(max_retries + 1):
                time.sleep(SETTLE_S)
                other = OtherLoad()
                done, images, seconds, cpu_seconds = runner.window(steps, target_s)
                busy = other.cores()
                disturbed = retry_above is not None and busy is not None and busy > retry_above
                log(f"  repeat {repeat + 1}/{repeats} {result.label}: {images / seconds:,.1f} img/s "
                    f"({done} steps, {seconds:.1f} s, other processes busy {busy} cores)"
                    + (" - disturbed, again" if disturbed and attempt < max_retries else ""))
                if not disturbed:
                    break
            result.runs.append(images / seconds)
            result.other_cpu.append(busy)
            result.steps.append(done)
            result.cpu_seconds.append(round(cpu_seconds, 3))
            result.images_per_step = runner.images_per_step


def measure_specs(specs: list[Spec], results: list[Result], **options) -> dict:
    """Start the runner processes, measure them interleaved, stop them; returns the first one's info."""
    runners = start_runners(specs)
    try:
        measure_group(runners, results, **options)
    finally:
        for runner in runners:
            runner.close()
    return runners[0].info


def default_batches(preset: str) -> list[int]:
    if preset in DEFAULT_BATCH:
        return [DEFAULT_BATCH[preset]]
    from ganscale.config import load_config

    return [load_config(preset).train.batch_size]


def run_bench(presets, batch_sizes, precisions, data_paths, compiles, *, steps: int | None = None,
              warmup: int = 2, repeats: int = 3, baseline: bool = True, target_s: float = 6.0,
              retry_above: float | None = None, log: Callable[[str], None] = print) -> dict:
    """Measure the grid; returns the JSON-able report (see `docs/benchmarks.md`)."""
    load_start, started = load_avg(), time.time()
    results: list[Result] = []
    info: dict = {}
    for preset in presets:
        for batch in batch_sizes or default_batches(preset):
            cases = [Case(preset, batch, p, d, c) for p in precisions for d in data_paths for c in compiles]
            specs = [Spec("ganscale", case) for case in cases]
            group = [Result.of("ganscale", c) for c in cases]
            if baseline:
                textbook = Case(preset, batch, "no", "dataloader", "off")
                specs.append(Spec("textbook", textbook))
                group.append(Result.of("textbook", textbook))
            log(f"{preset} batch {batch}: {len(specs)} runner(s), one process each")
            info = measure_specs(specs, group, steps=steps, warmup=warmup, repeats=repeats, target_s=target_s,
                                 log=log, retry_above=retry_above)
            if baseline:
                base = group[-1].img_per_s
                for result in group[:-1]:
                    result.speedup = result.img_per_s / base if base > 0 else None
            results.extend(group)
    report = machine_info(torch.device(info.get("device", "cpu")), info.get("torch_threads"))
    report.update({
        "settings": {"steps": steps if steps else "auto", "warmup": warmup, "repeats": repeats,
                     "target_s": target_s, "retry_above": retry_above, "baseline": baseline,
                     "textbook_workers": TEXTBOOK_WORKERS},
        "load_avg": {"start": load_start, "end": load_avg()},
        "wall_s": round(time.time() - started, 1),
        "command": " ".join(sys.argv),
        "results": [r.to_dict() for r in results],
        "speedup": {Case(r.preset, r.batch_size, r.precision, r.data, r.compile).key: r.speedup
                    for r in results if r.runner == "ganscale" and r.speedup is not None},
    })
    return report


def format_table(report: dict) -> str:
    header = ("preset", "batch", "precision", "data", "compile", "runner", "img/s (median)", "min", "max",
              "steps", "other CPU", "speedup")
    rows = [header]
    for r in report["results"]:
        if r.get("speedup"):
            speedup = f"{r['speedup']:.2f}x"
        else:
            speedup = "1.00x (base)" if r["runner"] == "textbook" else "-"
        others = [x for x in r.get("other_cpu", []) if x is not None]
        rows.append((r["preset"], str(r["batch_size"]), r["precision"], r["data"], r["compile"], r["runner"],
                     f"{r['img_per_s']:,.1f}", f"{r['img_per_s_min']:,.1f}", f"{r['img_per_s_max']:,.1f}",
                     "/".join(map(str, r["steps"])), f"{max(others):.2f}" if others else "n/a", speedup))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    dev, ver = report["device"], report["versions"]
    lines.append("")
    lines.append(f"device: {dev['type']} ({dev['name']}, {dev['cpu_cores']} cores, torch threads "
                 f"{dev['torch_threads']}); torch {ver['torch']}, accelerate {ver['accelerate']}, "
                 f"torchvision {ver['torchvision']}; load avg start {report['load_avg']['start']} "
                 f"end {report['load_avg']['end']}; {report['wall_s']} s")
    lines.append("other CPU: cores busy with other processes during the timed windows (max); "
                 "above ~0.1 the numbers are disturbed")
    return "\n".join(lines)
