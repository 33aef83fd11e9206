"""What `ganscale bench` reports: a result per runner, the JSON report and the printed table."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import torch

from ganscale.bench.machine import load_avg, machine_info
from ganscale.bench.runners import Case


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
    def key(self) -> str:
        return Case(self.preset, self.batch_size, self.precision, self.data, self.compile).key

    @property
    def label(self) -> str:
        return (f"{self.runner:8s} {self.preset} b{self.batch_size} "
                f"{self.precision}/{self.data}/compile-{self.compile}")

    @property
    def img_per_s(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    def add_window(self, img_per_s: float, other_cpu: float | None, steps: int, cpu_seconds: float,
                   images_per_step: int) -> None:
        """One timed repeat; kept per repeat so the JSON shows the spread, not just the median."""
        self.runs.append(img_per_s)
        self.other_cpu.append(other_cpu)
        self.steps.append(steps)
        self.cpu_seconds.append(round(cpu_seconds, 3))
        self.images_per_step = images_per_step

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(img_per_s=self.img_per_s, img_per_s_min=min(self.runs, default=float("nan")),
                   img_per_s_max=max(self.runs, default=float("nan")))
        return out


def bench_report(results: list[Result], info: dict, settings: dict, load_start: list[float] | None,
                 started: float) -> dict:
    """The JSON-able report (see `docs/benchmarks.md`): machine, settings, load, every result, speed-ups."""
    report = machine_info(torch.device(info.get("device", "cpu")), info.get("torch_threads"))
    report.update({
        "settings": settings,
        "load_avg": {"start": load_start, "end": load_avg()},
        "wall_s": round(time.time() - started, 1),
        "command": " ".join(sys.argv),
        "results": [r.to_dict() for r in results],
        "speedup": {r.key: r.speedup for r in results if r.runner == "ganscale" and r.speedup is not None},
    })
    return report


def _row(r: dict) -> tuple[str, ...]:
    if r.get("speedup"):
        speedup = f"{r['speedup']:.2f}x"
    else:
        speedup = "1.00x (base)" if r["runner"] == "textbook" else "-"
    others = [x for x in r.get("other_cpu", []) if x is not None]
    return (r["preset"], str(r["batch_size"]), r["precision"], r["data"], r["compile"], r["runner"],
            f"{r['img_per_s']:,.1f}", f"{r['img_per_s_min']:,.1f}", f"{r['img_per_s_max']:,.1f}",
            "/".join(map(str, r["steps"])), f"{max(others):.2f}" if others else "n/a", speedup)


def format_table(report: dict) -> str:
    """The report as an aligned text table, then the machine line (what the CLI prints)."""
    header = ("preset", "batch", "precision", "data", "compile", "runner", "img/s (median)", "min", "max",
              "steps", "other CPU", "speedup")
    rows = [header] + [_row(r) for r in report["results"]]
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
