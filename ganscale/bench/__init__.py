"""`ganscale bench`: training throughput of ganscale's Trainer against the textbook PyTorch GAN loop."""

from ganscale.bench.measure import (
    COMPILE,
    DATA_PATHS,
    DEFAULT_BATCH,
    DEFAULT_PRESETS,
    PRECISIONS,
    Result,
    Spec,
    format_table,
    measure_group,
    measure_specs,
    run_bench,
)
from ganscale.bench.runners import ABLATIONS, Case, GanscaleRunner, Runner, TextbookRunner

__all__ = ["ABLATIONS", "COMPILE", "DATA_PATHS", "DEFAULT_BATCH", "DEFAULT_PRESETS", "PRECISIONS", "Case",
           "GanscaleRunner", "Result", "Runner", "Spec", "TextbookRunner", "format_table", "measure_group",
           "measure_specs", "run_bench"]
