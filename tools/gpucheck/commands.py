"""Running one command of the check: a wall-clock limit, its whole process tree ended on time-out,
its output kept for the log, and a failure described in a few lines instead of stopping the check.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HEAD_LINES, TAIL_LINES = 40, 120  # what the log keeps of a long output
FAILURE_LINES = 15  # stderr lines a failure record keeps
MAX_LOG_CHARS = 2_000_000  # the whole log: results come back from a GPU machine in few, small files
KILL_GRACE_S = 5.0


@dataclass
class Outcome:
    argv: list[str]
    returncode: int | None  # None: not started (the step's time was spent)
    wall_s: float
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def failure(self) -> dict:
        """What a failed command leaves in the report: enough to rerun and see why."""
        lines = (self.stderr or self.stdout).rstrip().splitlines()
        return {"command": self.command, "exit": self.returncode, "timed_out": self.timed_out,
                "wall_s": round(self.wall_s, 1), "stderr_tail": lines[-FAILURE_LINES:]}


def truncated(text: str, head: int = HEAD_LINES, tail: int = TAIL_LINES) -> str:
    """Head and tail of a long output: the start says what ran, the end says how it ended."""
    lines = text.splitlines()
    if len(lines) <= head + tail:
        return text.rstrip()
    cut = len(lines) - head - tail
    return "\n".join([*lines[:head], f"[... {cut} lines cut ...]", *lines[-tail:]])


class Log:
    """Every command's output, in the order the commands ended (training runs end in parallel)."""

    def __init__(self):
        self.parts: list[str] = []
        self.lock = threading.Lock()

    def add(self, outcome: Outcome) -> None:
        status = "timed out" if outcome.timed_out else f"exit {outcome.returncode}"
        text = [f"$ {outcome.command}", f"# {status}, {outcome.wall_s:.1f} s"]
        for name, value in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
            if value.strip():
                text += [f"--- {name}", truncated(value)]
        with self.lock:
            self.parts.append("\n".join(text))

    def note(self, line: str) -> None:
        with self.lock:
            self.parts.append(f"# {line}")

    def text(self, limit: int = MAX_LOG_CHARS) -> str:
        with self.lock:
            text = "\n\n".join(self.parts) + "\n"
        if len(text) <= limit:
            return text
        head, tail = limit // 4, limit - limit // 4
        return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


def _end_group(process: subprocess.Popen) -> None:
    """SIGTERM to the command's process group (a training run checkpoints on it), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(argv: list[str], env: dict[str, str], timeout_s: float, log: Log | None = None,
        cwd: Path | None = None) -> Outcome:
    """Run `argv` for at most `timeout_s` seconds; never raises for the command's own failure."""
    if timeout_s <= 0:
        outcome = Outcome(argv, None, 0.0, stderr="not started: the step's time budget was spent")
        if log is not None:
            log.add(outcome)
        return outcome
    start = time.perf_counter()
    try:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors="replace", start_new_session=True)
    except OSError as err:
        outcome = Outcome(argv, 127, 0.0, stderr=f"cannot start: {err}")
    else:
        timed_out = False
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _end_group(process)
            stdout, stderr = process.communicate()
            stderr += f"\n[killed after {timeout_s:.0f} s: the step's time budget]"
        outcome = Outcome(argv, process.returncode, time.perf_counter() - start, stdout, stderr, timed_out)
    if log is not None:
        log.add(outcome)
    return outcome


@dataclass
class Context:
    """What every step needs: the interpreter, the environment, where runs go, the log, failures."""

    repo: Path
    work: Path  # temporary: run directories, bench JSONs, caches; never the output folder
    python: str
    env: dict[str, str]
    log: Log
    failures: list[dict]

    def ganscale(self, *args: str) -> list[str]:
        return [self.python, "-m", "ganscale", *args]

    def fail(self, step: str, what: str, outcome: Outcome | None = None, reason: str = "") -> None:
        """Record a failure and go on (list.append is atomic: training runs call this in parallel)."""
        entry = {"step": step, "what": what, **(outcome.failure() if outcome else {})}
        if reason:
            entry["reason"] = reason
        self.failures.append(entry)
