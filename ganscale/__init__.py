"""ganscale: GAN training at scale with Hugging Face Accelerate.

The public Python API is the few names in `__all__` (docs/api.md). They load their module on first
use (PEP 562), so `import ganscale` (and with it every CLI start) stays free of torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers and editors see; at run time the names come from __getattr__
    from ganscale.api import Generator, load_generator, train
    from ganscale.config import Config, load_config
    from ganscale.errors import UserError

_HOMES = {"Generator": "api", "load_generator": "api", "train": "api", "Config": "config",
          "load_config": "config", "UserError": "errors"}

__all__ = ["Config", "Generator", "UserError", "__version__", "load_config", "load_generator", "train"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'ganscale' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ganscale.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
