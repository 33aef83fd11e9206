"""Training throughput: ganscale's `Trainer.train_step` against the textbook PyTorch GAN loop.

What is measured is real images consumed per second, D and G updates included. Both sides train
the same G and D (`build_models`), the same non-saturating loss and Adam with the same settings:

- ganscale: the real Trainer (`build_accelerator` + `Trainer` + `start_data`), without run dir,
  checkpoints or tracker. A log step (gradient norms + one statistics read-back) happens every
  `log.every` steps, as in `ganscale train`.
- textbook: the loop of pytorch/examples dcgan/main.py. torchvision MNIST with PIL transforms in a
  DataLoader (2 workers, shuffle), `.to(device)` per step, BCEWithLogitsLoss, D on real, D on
  fake.detach(), G step on the same fake, `.item()` each step.

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
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

PRECISIONS = ("no", "bf16", "fp16")
DATA_PATHS = ("tensor", "dataloader")
COMPILE = ("off", "on")
# Default batch size per preset when --batch-size is not given (the targets).
DEFAULT_BATCH = {"mnist-dcgan": 128, "mnist-dcgan64": 64}
DEFAULT_PRESETS = ("mnist-dcgan", "mnist-dcgan64")
TEXTBOOK_WORKERS = 2
MIN_STEPS = 2  # timed steps per window at least, with steps=None (auto)
SETTLE_S = 0.3  # pause before each timed window


@dataclass(frozen=True)
class Case:
    preset: str
    batch_size: int
    precision: str = "no"
    data: str = "tensor"
    compile: str = "off"

    @property
    def key(self) -> str:
        return f"{self.preset}/b{self.batch_size}/{self.precision}/{self.data}/compile-{self.compile}"


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


# --------------------------------------------------------------------------- runners
class Runner:
    """One way of training; `window` times a run of steps. Subclasses define step/finish/close."""

    images_per_step = 0
    device = torch.device("cpu")

    def step(self) -> int:  # one training step; returns the real images it consumed
        raise NotImplementedError

    def finish(self) -> None:  # wait for queued device work
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        pass

    def info(self) -> dict:
        return {"device": str(self.device), "torch_threads": torch.get_num_threads(),
                "images_per_step": self.images_per_step}

    def warmup(self, steps: int) -> None:
        for _ in range(steps):
            self.step()
        self.finish()

    def window(self, steps: int | None, target_s: float = 0.0) -> tuple[int, int, float, float]:
        """(steps, images, seconds, CPU seconds) of one timed window, ending with a device sync.

        `steps` steps, or with steps=None as many as fit in `target_s` seconds (at least MIN_STEPS).
        CPU seconds: this process, all threads, user + system (not DataLoader worker processes).
        """
        images = done = 0
        start, cpu = time.perf_counter(), time.process_time()
        while (done < steps) if steps else (done < MIN_STEPS or time.perf_counter() - start < target_s):
            images += self.step()
            done += 1
        self.finish()
        return done, images, time.perf_counter() - start, time.process_time() - cpu


# Ablations of the ganscale path (benchmarks/ablate.py): each undoes one choice, for timing only;
# some change what is trained (D's G-phase gradients leak into its next update), so never train so.
ABLATIONS = ("full", "no-retained-memory", "no-channels-last", "no-grad-layout", "d-grads-in-g-phase",
             "fresh-g-forward", "item-every-step")


class GanscaleRunner(Runner):
    """The real Trainer; `step()` is one `train_step` with a log step every `log.every` steps."""

    def __init__(self, case: Case, ablation: str = "full"):
        from ganscale.config import load_config
        from ganscale.run import build_accelerator
        from ganscale.trainer import Trainer

        overrides = [f"train.batch_size={case.batch_size}", f"train.mixed_precision='{case.precision}'",
                     f"data.loader={case.data}", f"train.compile={str(case.compile == 'on').lower()}",
                     "log.tracker=none", "log.progress=false"]
        self.cfg = load_config(case.preset, overrides=overrides)
        self.accelerator = build_accelerator(self.cfg)
        if ablation == "no-retained-memory":
            import ganscale.trainer

            ganscale.trainer._retain_cpu_memory = lambda: None
        self.trainer = t = Trainer(self.cfg, self.accelerator)
        t.start_data()
        self.device, self.images_per_step, self.ablation = t.device, t.images_per_step, ablation
        if ablation == "no-channels-last":
            for model in (t.G_plain, t.D_plain, t.ema.model):
                model.to(memory_format=torch.contiguous_format)
        elif ablation == "no-grad-layout":  # plain nn activations: mixed-layout backward kernels
            from ganscale.models import common

            for model in (t.G_plain, t.D_plain, t.ema.model):
                for module in model.modules():
                    if isinstance(module, (common.ReLU, common.LeakyReLU)):
                        module.forward = type(module).__mro__[1].forward.__get__(module)
        elif ablation == "d-grads-in-g-phase":  # the G phase leaves D trainable, as the textbook does
            t.D_plain.requires_grad_ = lambda requires_grad=True: t.D_plain
        elif ablation == "fresh-g-forward":  # the G phase runs G again instead of reusing the fakes
            d_phase = t.d_phase
            t.d_phase = lambda keep_fakes, measure: d_phase(False, measure)

    def step(self) -> int:
        trainer = self.trainer
        is_log_step = (trainer.step + 1) % self.cfg.log.every == 0
        trainer.train_step(measure=is_log_step)
        if is_log_step:
            trainer.stats.reduce(self.accelerator, [0.0, 0.0])
        if self.ablation == "d-grads-in-g-phase":
            trainer.opt_D.zero_grad(set_to_none=True)  # the textbook's D.zero_grad() of the next step
        elif self.ablation == "item-every-step":
            trainer.stats.sums.tolist()  # a host read-back every step
        return self.images_per_step

    def close(self) -> None:
        self.trainer.batches = None


class TextbookRunner(Runner):
    """pytorch/examples dcgan/main.py's loop on ganscale's G and D (see the module docstring)."""

    def __init__(self, preset: str, batch_size: int):
        from torch import nn

        from ganscale.config import load_config
        from ganscale.data import _mnist_dataset
        from ganscale.models import build_models

        cfg = load_config(preset, overrides=[f"train.batch_size={batch_size}"])
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.device, self.cfg = device, cfg
        torch.manual_seed(cfg.train.seed)
        generator, discriminator = build_models(cfg.model)
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.criterion = nn.BCEWithLogitsLoss()
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.optim.lr_d, betas=betas)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.optim.lr_g, betas=betas)
        # torchvision MNIST + [Resize(64)] + ToTensor + Normalize((0.5,), (0.5,)), as the example.
        dataset = _mnist_dataset(cfg.data, cfg.model)
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                                  num_workers=TEXTBOOK_WORKERS)
        self.images_per_step = batch_size
        self._iter = None
        self.last: tuple[float, ...] = ()

    def _next_batch(self):
        while True:  # epoch after epoch, a fresh iterator (and fresh workers) each time, as the example
            if self._iter is None:
                self._iter = iter(self.loader)
            try:
                return next(self._iter)
            except StopIteration:
                self._iter = None

    def step(self) -> int:
        device, num_classes = self.device, self.cfg.model.num_classes
        real_cpu, labels = self._next_batch()
        real = real_cpu.to(device)
        b = real.size(0)
        labels = labels.to(device) if num_classes else None
        fake_labels = torch.randint(0, num_classes, (b,), device=device) if num_classes else None
        # (1) D: maximise log D(x) + log(1 - D(G(z)))
        self.D.zero_grad()
        label = torch.full((b,), 1.0, dtype=real.dtype, device=device)
        output = self.D(real, labels)
        err_d_real = self.criterion(output, label)
        err_d_real.backward()
        d_x = output.sigmoid().mean().item()
        noise = torch.randn(b, self.cfg.model.z_dim, device=device)
        fake = self.G(noise, fake_labels)
        label.fill_(0.0)
        output = self.D(fake.detach(), fake_labels)
        err_d_fake = self.criterion(output, label)
        err_d_fake.backward()
        d_g_z1 = output.sigmoid().mean().item()
        err_d = err_d_real + err_d_fake
        self.opt_D.step()
        # (2) G: maximise log D(G(z)), on the same fake
        self.G.zero_grad()
        label.fill_(1.0)
        output = self.D(fake, fake_labels)
        err_g = self.criterion(output, label)
        err_g.backward()
        d_g_z2 = output.sigmoid().mean().item()
        self.opt_G.step()
        self.last = (err_d.item(), err_g.item(), d_x, d_g_z1, d_g_z2)
        return b

    def close(self) -> None:
        self._iter = None  # shuts the worker processes down


# --------------------------------------------------------------------------- measuring
class OtherLoad:
    """CPU cores kept busy by processes outside this one (and its DataLoader workers) over a window.

    Linux only (/proc); None elsewhere. The load average lags and counts this process too, so it
    cannot tell whether a window was disturbed; this can.
    """

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.start = self._snapshot()

    @staticmethod
    def _busy_all() -> int:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]  # guest time is inside user already
        return sum(fields) - fields[3] - fields[4]  # all but idle and iowait (steal counts: not ours)

    @staticmethod
    def _own_tree() -> int:
        """utime + stime of this process and its descendants (runner processes, DataLoader workers)."""
        me, parents, times = os.getpid(), {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(rest[1])
            times[int(entry)] = int(rest[11]) + int(rest[12])
        total = 0
        for pid in times:
            p = pid
            while p > 1 and p != me:
                p = parents.get(p, 0)
            if p == me:
                total += times[pid]
        return total

    def _snapshot(self):
        try:
            return time.perf_counter(), self._busy_all(), self._own_tree()
        except (OSError, ValueError, IndexError):
            return None

    def cores(self) -> float | None:
        end = self._snapshot()
        if self.start is None or end is None:
            return None
        seconds = end[0] - self.start[0]
        other = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return round(max(other, 0) / self.tick / max(seconds, 1e-9), 2)


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


def machine_info(device: torch.device, torch_threads: int | None = None) -> dict:
    import accelerate
    import torchvision

    import ganscale

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "device": {"type": device.type, "name": name, "cpu_cores": cores,
                   "torch_threads": torch_threads or torch.get_num_threads()},
        "versions": {"torch": torch.__version__, "accelerate": accelerate.__version__,
                     "torchvision": torchvision.__version__, "ganscale": ganscale.__version__,
                     "python": platform.python_version()},
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def default_batches(preset: str) -> list[int]:
    if preset in DEFAULT_BATCH:
        return [DEFAULT_BATCH[preset]]
    from ganscale.config import load_config

    return [load_config(preset).train.batch_size]


def run_bench(presets, batch_sizes, precisions, data_paths, compiles, *, steps: int | None = None,
              warmup: int = 2, repeats: int = 3, baseline: bool = True, target_s: float = 6.0,
              retry_above: float | None = None, log: Callable[[str], None] = print) -> dict:
    """Measure the grid; returns the JSON-able report (see `docs/benchmarks.md`)."""
    load_start, started = _load(), time.time()
    results: list[Result] = []
    info: dict = {}
    for preset in presets:
        for batch in batch_sizes or default_batches(preset):
            cases = [Case(preset, batch, p, d, c) for p in precisions for d in data_paths for c in compiles]
            specs = [Spec("ganscale", case) for case in cases]
            group = [Result("ganscale", c.preset, c.batch_size, c.precision, c.data, c.compile)
                     for c in cases]
            if baseline:
                specs.append(Spec("textbook", Case(preset, batch, "no", "dataloader", "off")))
                group.append(Result("textbook", preset, batch, "no", "dataloader", "off"))
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
        "load_avg": {"start": load_start, "end": _load()},
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
