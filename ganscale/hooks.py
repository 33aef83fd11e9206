"""What a caller may see and change of a run without patching ganscale: the test driver records every
rank's Trainer, a fault-injection test poisons one rank's D loss, a notebook watches the weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunHooks:
    # Called once per run with the Trainer, after it is built and resumed and before the first step.
    on_trainer: Callable[[Any], None] | None = None
    # Called with (trainer, loss) for each D loss before its backward; returns the loss to use.
    d_loss: Callable[[Any, Any], Any] | None = None
    # Called once per run with the run directory all ranks agreed on (the API returns it from train()).
    on_run_dir: Callable[[Any], None] | None = None
