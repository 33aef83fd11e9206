"""Timing runners side by side: one spawned process per runner, repeats interleaved A B A B.

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
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ganscale.bench.machine import OtherLoad
from ganscale.bench.report import Result
from ganscale.bench.runners import Case, GanscaleRunner, Runner

SETTLE_S = 0.3  # pause before each timed window


class LoadProbe(Protocol):
    """Started just before a window; `cores()` after it: cores other processes kept busy (None: unknown)."""

    def cores(self) -> float | None: ...


@dataclass(frozen=True)
class Spec:
    """What a runner process builds: `make(case)`, reported as `runner`.

    `make` crosses into a spawned process, so it must pickle: a module-level class or function, or a
    functools.partial of one (a tool's own runner class works too: spawn re-imports the script).
    """

    runner: str  # the name in the report: "ganscale", "textbook", or a tool's variant
    case: Case
    make: Callable[[Case], Runner] = GanscaleRunner

    def build(self) -> Runner:
        return self.make(self.case)


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


def measure_group(runners: list, results: list[Result], *, steps: int | None, warmup: int, repeats: int,
                  target_s: float, log: Callable[[str], None], retry_above: float | None = None,
                  max_retries: int = 3, settle_s: float = SETTLE_S,
                  other_load: Callable[[], LoadProbe] = OtherLoad) -> None:
    """Interleaved repeats over the runners of one (preset, batch) group; fills `results[i].runs`.

    Warm-up steps (compilation, allocator and oneDNN primitive caches, DataLoader worker start) run
    once per runner, before its first window. Before each window the process pauses `settle_s`, so
    that another runner's DataLoader workers finish prefetching and do not run inside this window.
    With `retry_above`, a window during which other processes kept more than that many cores busy
    (as `other_load` tells) is measured again (up to `max_retries` times; the last try counts).
    """
    for repeat in range(repeats):
        for runner, result in zip(runners, results, strict=True):
            if repeat == 0 and warmup:
                runner.warmup(warmup)
            prefix = f"  repeat {repeat + 1}/{repeats} {result.label}: "
            window = _timed_window(runner, steps, target_s, settle_s, other_load, retry_above, max_retries,
                                   lambda line, prefix=prefix: log(prefix + line))
            result.add_window(*window, runner.images_per_step)


def _timed_window(runner, steps: int | None, target_s: float, settle_s: float,
                  other_load: Callable[[], LoadProbe], retry_above: float | None, max_retries: int,
                  log: Callable[[str], None]) -> tuple[float, float | None, int, float]:
    """(img/s, other cores busy, steps, CPU seconds) of one repeat: its last try if others disturbed it."""
    for attempt in range(max_retries + 1):
        time.sleep(settle_s)
        probe = other_load()
        done, images, seconds, cpu_seconds = runner.window(steps, target_s)
        busy = probe.cores()
        disturbed = retry_above is not None and busy is not None and busy > retry_above
        again = " - disturbed, again" if disturbed and attempt < max_retries else ""
        log(f"{images / seconds:,.1f} img/s ({done} steps, {seconds:.1f} s, "
            f"other processes busy {busy} cores){again}")
        if not disturbed:
            break
    return images / seconds, busy, done, cpu_seconds


def measure_specs(specs: list[Spec], results: list[Result], **options) -> dict:
    """Start the runner processes, measure them interleaved, stop them; returns the first one's info."""
    runners = start_runners(specs)
    try:
        measure_group(runners, results, **options)
    finally:
        for runner in runners:
            runner.close()
    return runners[0].info
