"""What the bench reports about the machine: device, versions, and how busy other processes keep it."""

from __future__ import annotations

import os
import platform
import time

import torch


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


def load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None

