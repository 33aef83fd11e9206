"""What the check runs, and how big: the CUDA plan (about 8 minutes on one H200) and the CPU dry run
(the same steps, tiny). Presets are read from ganscale/presets/*.yaml when the check runs, so a new
preset is trained and benchmarked without editing this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

# The two presets `ganscale bench` was built around; every other preset is benchmarked at OTHER_BATCH.
PLAIN, DCGAN64 = "mnist-dcgan-plain", "mnist-dcgan64"
PLAIN_BATCHES = (256, 1024, 4096)
OTHER_BATCH = 256
PRECISIONS = ("no", "bf16", "fp16")
# fp16 runs that also exercise the gradient penalties under per-optimizer GradScalers (on PLAIN).
PENALTY_CELLS = (("loss.r1_gamma=1.0",), ("loss.kind=wgan-gp",))
# Training under torch.compile (checkpoint and resume of compiled modules) at every batch size and
# precision the bench compiles: these runs also fill torch's compile caches, so the bench's compiled
# runners start in seconds. (Their timed windows never include compilation either way.)
COMPILE_PRECISIONS = ("no", "bf16")
# Each step's share of the time budget; time a step leaves unused goes to the steps after it.
STEP_SHARES = {"train": 0.30, "bench": 0.52, "evaluate": 0.10, "profile": 0.08}
# The dry run trains cluster-conditioned presets on digit labels: k-means over 60k images costs about
# 20 CPU-seconds per process, more than all the rest of a tiny run.
DRY_RUN_CLUSTER_OVERRIDES = ("model.conditioning=labels", "model.num_classes=10")
# ... and R3GAN presets narrow: the GPU configurations (20M parameters, R1 and R2 every step) take
# minutes per CPU step at full width; the code paths are the same at width 16.
DRY_RUN_R3GAN_OVERRIDES = ("model.r3gan_widths=16", "model.r3gan_blocks=1", "model.r3gan_cardinality=2")


@dataclass(frozen=True)
class Cell:
    """One training run of the matrix (plus its resume); `skip` says why it is not trained."""

    preset: str
    precision: str
    overrides: tuple[str, ...] = ()
    batch: int | None = None  # None: the plan's
    skip: str = ""

    @property
    def compiled(self) -> bool:
        return "train.compile=true" in self.overrides

    @property
    def name(self) -> str:
        extra = "+".join(o.split(".", 1)[1] for o in self.overrides)
        return f"{self.preset}/{self.precision}" + (f"/{extra}" if extra else "") + \
            (f"/b{self.batch}" if self.batch else "")


@dataclass(frozen=True)
class BenchRun:
    """One `ganscale bench` invocation; its groups each include the textbook loop."""

    name: str
    presets: tuple[str, ...]
    batches: tuple[int, ...]
    precisions: tuple[str, ...] = ("no", "bf16")
    compile: str = "off"
    expected_s: float = 60.0  # a guess for one H200; the bench step's time is split in these proportions
    skip: str = ""

    def args(self, timing: tuple[str, ...]) -> list[str]:
        return ["--preset", *self.presets, "--batch-size", *map(str, self.batches),
                "--precision", *self.precisions, "--data", "tensor", "--compile", self.compile, *timing]


@dataclass(frozen=True)
class Plan:
    mode: str  # "cuda" or "cpu-dry-run"
    budget_s: float
    cells: tuple[Cell, ...]
    bench: tuple[BenchRun, ...]
    bench_timing: tuple[str, ...]
    train_steps: int
    train_batch: int | None  # None: the preset's own batch size
    log_every: int
    jobs: int  # training runs at a time (they check correctness; the bench runs alone)
    eval_num: int
    eval_runs: int  # the first computes the MNIST reference statistics, later ones read them cached
    profile_steps: int
    profile_batch: int  # used when the bench found no best batch
    shares: dict[str, float] = field(default_factory=lambda: dict(STEP_SHARES))

    @property
    def cuda(self) -> bool:
        return self.mode == "cuda"


def preset_names(repo: Path) -> list[str]:
    return sorted(path.stem for path in (repo / "ganscale" / "presets").glob("*.yaml"))


def preset_settings(repo: Path, preset: str) -> dict:
    return yaml.safe_load((repo / "ganscale" / "presets" / f"{preset}.yaml").read_text()) or {}


def training_cells(presets: list[str], cuda: bool) -> list[Cell]:
    """Every preset at every precision, then PLAIN with the penalties under fp16 and compiled at the
    bench's batch sizes; fp16 and compile are skipped off CUDA."""
    cells = [Cell(p, precision) for p in presets for precision in PRECISIONS]
    if PLAIN in presets:
        cells += [Cell(PLAIN, "fp16", overrides) for overrides in PENALTY_CELLS]
        cells += [Cell(PLAIN, precision, ("train.compile=true",), batch) for batch in PLAIN_BATCHES
                  for precision in COMPILE_PRECISIONS]
    if cuda:
        return cells
    return [replace(c, skip=_cpu_skip(c)) for c in cells]


def _cpu_skip(cell: Cell) -> str:
    if cell.precision == "fp16":
        return "skipped: needs CUDA"
    if cell.compiled:
        return "skipped: CUDA only (compile time)"
    return ""


def bench_runs(presets: list[str]) -> list[BenchRun]:
    """The issue's grid: PLAIN eager, DCGAN64 and every other preset at OTHER_BATCH, PLAIN compiled.

    The compiled runs come last and one per batch size: compilation is the slowest part, and a run
    that outlives its time loses only its own batch size.
    """
    runs = [BenchRun("plain-eager", (PLAIN,), PLAIN_BATCHES, expected_s=20.0 * len(PLAIN_BATCHES))]
    others = tuple(p for p in presets if p != PLAIN)
    if others:
        runs.append(BenchRun("other-presets", tuple(sorted(others, key=lambda p: p != DCGAN64)),
                             (OTHER_BATCH,), expected_s=10.0 + 20.0 * len(others)))
    runs += [BenchRun(f"plain-compiled-b{b}", (PLAIN,), (b,), compile="on", expected_s=35.0)
             for b in PLAIN_BATCHES]
    return runs


def mnist_presets(repo: Path, presets: list[str]) -> list[str]:
    """The presets `ganscale bench` can time against the textbook loop (an MNIST loop); those on a
    prepared dataset of their own are trained by the check, and timed by `ganscale bench --folder-data`."""
    return [p for p in presets if not (preset_settings(repo, p).get("data") or {}).get("path")]


def cuda_plan(repo: Path, budget_s: float) -> Plan:
    presets = preset_names(repo)
    return Plan("cuda", budget_s, tuple(training_cells(presets, cuda=True)),
                tuple(bench_runs(mnist_presets(repo, presets))),
                ("--warmup", "5", "--repeats", "2", "--target-seconds", "1"),
                train_steps=32, train_batch=None, log_every=8, jobs=8, eval_num=10000, eval_runs=2,
                profile_steps=10, profile_batch=1024)


def dry_run_plan(repo: Path, budget_s: float) -> Plan:
    """The CUDA plan's steps, tiny and on the CPU: batch 16, 2 steps, one bench case, 200 samples."""
    presets = preset_names(repo)
    cells = []
    for cell in training_cells(presets, cuda=False):
        model = preset_settings(repo, cell.preset).get("model", {})
        if model.get("conditioning") == "clusters" and not cell.skip:
            cell = replace(cell, overrides=cell.overrides + DRY_RUN_CLUSTER_OVERRIDES)
        if model.get("arch") == "r3gan":
            cell = replace(cell, overrides=cell.overrides + DRY_RUN_R3GAN_OVERRIDES)
        cells.append(cell)
    first, *rest = bench_runs(mnist_presets(repo, presets))
    bench = [replace(first, batches=(16,), precisions=("no",)),
             *(replace(r, skip="skipped: the CPU dry run measures one bench case") for r in rest)]
    return Plan("cpu-dry-run", budget_s, tuple(cells), tuple(bench),
                ("--steps", "2", "--warmup", "1", "--repeats", "1"),
                train_steps=2, train_batch=16, log_every=1, jobs=2, eval_num=200, eval_runs=1,
                profile_steps=2, profile_batch=16)
