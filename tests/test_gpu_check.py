"""tools/gpu_check.sh: the CPU dry run end to end (so the GPU run cannot fail for a typo), its usage
errors, and the plan it runs. Its pieces on small fake inputs: tests/test_gpu_check_parts.py."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import cli_env as make_cli_env
from tools.gpucheck import plan

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "gpu_check.sh"
PRESETS = sorted(p.stem for p in (REPO / "ganscale" / "presets").glob("*.yaml"))


def _strict_json(text: str) -> dict:
    def refuse(name):
        raise ValueError(f"non-finite number {name} in the JSON")

    return json.loads(text, parse_constant=refuse)


def _script(args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], env={**env, "PYTHON": sys.executable}, capture_output=True,
                          text=True, timeout=timeout)


# ----------------------------------------------------------------------------- the dry run, for real

@pytest.fixture(scope="module")
def dry_run(mnist_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check") / "out"
    env = make_cli_env(mnist_root, out.parent)
    started = time.perf_counter()
    result = _script([str(out), "--cpu-dry-run"], env)
    return result, out, time.perf_counter() - started


@pytest.mark.slow
def test_dry_run_writes_the_four_files_and_a_summary(dry_run):
    result, out, _ = dry_run
    assert result.returncode == 0, f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["gpu_check.json", "gpu_check.md", "gpu_check.log", "gpu_check_profile.txt"])
    assert "gpu check (cpu-dry-run)" in result.stdout and "failures: 0" in result.stdout
    assert "$ " in (out / "gpu_check.log").read_text()  # every command, with its output


@pytest.mark.slow
def test_dry_run_json_holds_every_step_and_the_run_folders_are_gone(dry_run):
    _, out, _ = dry_run
    results = _strict_json((out / "gpu_check.json").read_text())
    assert results["mode"] == "cpu-dry-run" and results["failures"] == []
    assert set(results["steps"]) == {"train", "bench", "evaluate", "profile"}
    assert {name: step["status"] for name, step in results["steps"].items()} == dict.fromkeys(
        results["steps"], "ok")
    assert results["environment"]["torch"] == torch.__version__ and results["environment"]["gpus"] == []
    for run in results["steps"]["train"]["runs"]:
        if "run_dir" in run:  # temporary, outside OUT_DIR, and removed at the end
            assert not Path(run["run_dir"]).exists() and out not in Path(run["run_dir"]).parents


@pytest.mark.slow
def test_dry_run_trains_every_preset_and_every_record_is_finite(dry_run):
    _, out, _ = dry_run
    runs = _strict_json((out / "gpu_check.json").read_text())["steps"]["train"]["runs"]
    trained = [r for r in runs if r["status"] == "ok"]
    assert sorted({(r["preset"], r["precision"]) for r in trained}) == [
        (p, precision) for p in PRESETS for precision in ("bf16", "no")]
    for run in trained:
        assert run["exit"] == 0 and run["metrics"]["losses_finite"] and run["metrics"]["rows"] == 2
        assert all(math.isfinite(run["metrics"]["final"][k]) for k in ("loss_D", "loss_G", "img_per_s"))
        assert run["checkpoint"]["weights_finite"] and run["checkpoint"]["floating_tensors"] > 0
        assert run["checkpoint"]["step"] == 2 and run["resume"]["after"]["step"] == 3
        checks = {k: v for k, v in run["resume"].items() if isinstance(v, bool)}
        assert len(checks) == 11 and all(checks.values()), (run["name"], checks)
    skipped = [r for r in runs if r["status"] != "ok"]
    assert {r["preset"] for r in skipped if r["precision"] == "fp16"} == set(PRESETS)
    assert all(r["status"].startswith("skipped") and r["config_checked"] for r in skipped)


@pytest.mark.slow
def test_dry_run_bench_evaluate_and_profile_measured_something_finite(dry_run):
    _, out, _ = dry_run
    steps = _strict_json((out / "gpu_check.json").read_text())["steps"]
    rows = [row for i in steps["bench"]["invocations"] for row in i.get("rows", [])]
    assert len(rows) == 1 and rows[0]["batch_size"] == 16
    row = rows[0]
    assert row["ganscale_img_s"] > 0 and row["textbook_img_s"] > 0
    assert row["ratio"] == pytest.approx(row["ganscale_img_s"] / row["textbook_img_s"])
    evaluated = steps["evaluate"]["runs"]
    assert len(evaluated) == 1 and evaluated[0]["metrics"]["num"] == 200 and evaluated[0]["wall_s"] > 0
    assert math.isfinite(evaluated[0]["metrics"]["fid"])
    assert steps["profile"]["summary"]["wall_ms_per_step"] > 0
    assert "Self CPU" in (out / "gpu_check_profile.txt").read_text()


@pytest.mark.slow
def test_dry_run_markdown_has_the_tables(dry_run):
    _, out, seconds = dry_run
    text = (out / "gpu_check.md").read_text()
    wall, budget = (_strict_json((out / "gpu_check.json").read_text())[k] for k in ("wall_s", "budget_s"))
    for heading in ("## Environment", "## Training matrix", "## Bench", "## Targets", "## Evaluation"):
        assert heading in text
    assert "ratio (ganscale / textbook)" in text
    assert re.search(r"\| mnist-dcgan-plain \| 16 \| no \| off \| [\d,]+ \| [\d,]+ \| \d+\.\d\dx \|", text)
    assert all(f"| {p} |" in text for p in PRESETS)
    assert wall < budget and seconds < budget + 60  # the time limits held (~70 s on a quiet 2-core CPU)


# ----------------------------------------------------------------------------- usage mistakes

def test_usage_mistakes_are_one_line_exit_2(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GANSCALE_DATA": str(tmp_path)}
    for args in ([str(tmp_path / "o"), "--budget", "0"], [str(SCRIPT), "--cpu-dry-run"]):
        result = _script(args, env, timeout=60)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_the_cuda_run_on_a_cpu_machine_says_to_use_the_dry_run(tmp_path):
    result = _script([str(tmp_path / "o")], {"PATH": "/usr/bin:/bin", "GANSCALE_DATA": str(tmp_path)}, 120)
    assert result.returncode == 2 and "--cpu-dry-run" in result.stderr, result.stderr


# ----------------------------------------------------------------------------- the plan

def test_plans_cover_every_preset_and_the_dry_run_skips_fp16_and_compile():
    cuda, dry = plan.cuda_plan(REPO, 480), plan.dry_run_plan(REPO, 240)
    assert {c.preset for c in cuda.cells} == set(PRESETS) and not any(c.skip for c in cuda.cells)
    assert {(c.preset, c.precision) for c in cuda.cells} >= {(p, q) for p in PRESETS for q in plan.PRECISIONS}
    fp16_extras = [c.overrides for c in cuda.cells if c.precision == "fp16" and c.overrides]
    assert fp16_extras == [("loss.r1_gamma=1.0",), ("loss.kind=wgan-gp",)]
    assert sorted(c.batch for c in cuda.cells if c.compiled) == [256, 256, 1024, 1024, 4096, 4096]
    assert [(c.preset, c.precision) for c in dry.cells] == [(c.preset, c.precision) for c in cuda.cells]
    assert all(bool(c.skip) == (c.precision == "fp16" or c.compiled) for c in dry.cells)
    assert [b.name for b in dry.bench if not b.skip] == ["plain-eager"]


def test_cuda_bench_grid_is_the_issues_and_its_flags_exist(tmp_path):
    runs = plan.cuda_plan(REPO, 480).bench
    grid = {(p, b, q, r.compile) for r in runs for p in r.presets for b in r.batches for q in r.precisions}
    for batch in (256, 1024, 4096):
        for precision in ("no", "bf16"):
            assert {("mnist-dcgan-plain", batch, precision, c) for c in ("off", "on")} <= grid
    # dcgan64 and the newest presets; those on a prepared dataset of their own have no textbook loop
    assert {p for p, b, _, _ in grid if b == 256} == set(plan.mnist_presets(REPO, PRESETS))
    assert {"mnist-dcgan64", "mnist-cgan"} <= set(plan.mnist_presets(REPO, PRESETS)) < set(PRESETS)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "GANSCALE_DATA": str(tmp_path)}
    usage = subprocess.run([sys.executable, "-m", "ganscale", "bench", "--help"], env=env,
                           capture_output=True, text=True, timeout=60).stdout
    for run in runs:
        args = run.args(plan.cuda_plan(REPO, 480).bench_timing)
        assert {a for a in args if a.startswith("--")} <= set(re.findall(r"--[a-z-]+", usage)), args
