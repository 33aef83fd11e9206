"""`ganscale bench`: training throughput of ganscale's Trainer against the textbook PyTorch GAN loop.

What is measured is real images consumed per second, D and G updates included. The two loops are in
`runners.py`, how they are timed side by side in `measure.py`, the grid the command runs in
`grid.py`, what is reported in `report.py` and the machine facts in `machine.py`. Research tools
(tools/ablate.py, tools/math_floor.py) build on the same pieces.
"""

from ganscale.bench.grid import COMPILE, DATA_PATHS, DEFAULT_BATCH, DEFAULT_PRESETS, PRECISIONS, run_bench
from ganscale.bench.machine import OtherLoad, load_avg, machine_info
from ganscale.bench.measure import SETTLE_S, LoadProbe, Spec, measure_group, measure_specs
from ganscale.bench.report import Result, bench_report, format_table
from ganscale.bench.runners import MIN_STEPS, Case, GanscaleRunner, Runner, TextbookRunner

__all__ = ["COMPILE", "DATA_PATHS", "DEFAULT_BATCH", "DEFAULT_PRESETS", "MIN_STEPS", "PRECISIONS", "SETTLE_S",
           "Case", "GanscaleRunner", "LoadProbe", "OtherLoad", "Result", "Runner", "Spec", "TextbookRunner",
           "bench_report", "format_table", "load_avg", "machine_info", "measure_group", "measure_specs",
           "run_bench"]
