"""The pieces of tools/gpu_check.py on small fake inputs: reading what runs wrote, the resume
checks, the report's tables and targets, the profile summary, running commands with a time limit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from tools.gpucheck import commands, records, report
from tools.gpucheck.profile import summarize

# ----------------------------------------------------------------------------- reading runs

def test_metrics_summary_reads_the_last_row_and_spots_a_non_finite_loss(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": 1, "loss_D": 1.3, "loss_G": 0.7, "skipped_G": 0.0, "skipped_D": 1.0, "img_per_s": 10.0},
            {"step": 2, "loss_D": 1.2, "loss_G": 0.8, "skipped_G": 1.0, "skipped_D": 1.0, "img_per_s": 30.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 3, "loss_D"')  # cut short
    summary = records.metrics_summary(records.read_metrics(path))
    assert summary["rows"] == 2 and summary["losses_finite"] and summary["img_per_s_max"] == 30.0
    assert summary["final"]["skipped_G"] == 1.0 and summary["final"]["step"] == 2
    path.write_text(json.dumps({**rows[0], "loss_G": float("nan")}) + "\n")
    assert not records.metrics_summary(records.read_metrics(path))["losses_finite"]
    assert not records.metrics_summary([])["losses_finite"]  # nothing logged shows nothing finite


def _scaler(scale, tracker, skipped):
    if scale is None:
        return {"scaler": {}, "skipped": skipped}
    return {"scaler": {"scale": scale, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                       "_growth_tracker": tracker}, "skipped": skipped}


def _checkpoint(root: Path, name: str, step: int, opt_steps: tuple[float, float], scalers=(None, None),
                weight: float = 0.5) -> Path:
    """A checkpoint laid out as ganscale writes one: five safetensors files and state.json."""
    path = root / "checkpoints" / name
    path.mkdir(parents=True)
    for file in ("generator", "discriminator", "generator_ema"):
        save_file({"net.0.weight": torch.full((2, 2), weight), "net.1.num_batches_tracked": torch.tensor(3)},
                  str(path / f"{file}.safetensors"))
    for file, count in zip(("optimizer_g", "optimizer_d"), opt_steps, strict=True):
        save_file({"state.0.step": torch.tensor(count), "state.0.exp_avg": torch.zeros(2)},
                  str(path / f"{file}.safetensors"), metadata={"param_groups": "[]", "scalars": "{}"})
    state = {"step": step, "cur_nimg": 16 * step, "world_size": 1, "config": {"optim": {"n_critic": 1}},
             "scaler_g": _scaler(*scalers[0]) if scalers[0] else _scaler(None, 0, 0),
             "scaler_d": _scaler(*scalers[1]) if scalers[1] else _scaler(None, 0, 0)}
    (path / "state.json").write_text(json.dumps(state))
    return path


def _resume_log(path: Path) -> str:
    return f"resumed from {path} at kimg 0.0\ntraining ...\n"


def test_resume_checks_pass_for_one_continued_step(tmp_path):
    saved = _checkpoint(tmp_path, "kimg-000000.032", 2, (2.0, 2.0))
    after = _checkpoint(tmp_path, "kimg-000000.048", 3, (3.0, 3.0))
    assert records.checkpoints(tmp_path) == [saved, after]
    before_sum, after_sum = records.checkpoint_summary(saved), records.checkpoint_summary(after)
    assert before_sum["weights_finite"] and before_sum["floating_tensors"] == 7
    assert before_sum["optimizer_steps"] == {"optimizer_d": [2.0], "optimizer_g": [2.0]}
    digest = records.digest(saved)
    checks = records.resume_checks(before_sum, after_sum, (digest, digest), _resume_log(saved))
    assert checks["ok"], checks


def test_resume_checks_catch_a_fresh_optimizer_a_changed_checkpoint_and_another_source(tmp_path):
    saved = _checkpoint(tmp_path, "a", 2, (2.0, 2.0))
    fresh = _checkpoint(tmp_path, "b", 3, (1.0, 3.0))  # G's Adam started over
    before, after = records.checkpoint_summary(saved), records.checkpoint_summary(fresh)
    checks = records.resume_checks(before, after, ("x", "y"), _resume_log(tmp_path / "elsewhere"))
    failed = {k for k, v in checks.items() if v is False}
    assert failed == {"ok", "optimizer_g_continues", "saved_checkpoint_unchanged", "resumed_from_saved"}


def test_resume_checks_follow_fp16_scalers_through_a_skipped_step(tmp_path):
    # G's update overflowed: no Adam step, the scale backed off, the skip counted; D's went on.
    saved = _checkpoint(tmp_path, "a", 2, (2.0, 2.0), ((65536.0, 2, 0), (65536.0, 2, 0)))
    after = _checkpoint(tmp_path, "b", 3, (2.0, 3.0), ((32768.0, 0, 1), (65536.0, 3, 0)))
    before_sum, after_sum = records.checkpoint_summary(saved), records.checkpoint_summary(after)
    assert records.scaler_summary(records.read_state(after))["G"] == {
        "scale": 32768.0, "growth_tracker": 0, "growth_factor": 2.0, "backoff_factor": 0.5, "skipped": 1}
    assert records.resume_checks(before_sum, after_sum, ("d", "d"), _resume_log(saved))["ok"]
    restarted = _checkpoint(tmp_path, "c", 3, (3.0, 3.0), ((65536.0, 1, 0), (65536.0, 3, 0)))  # a new scaler
    checks = records.resume_checks(before_sum, records.checkpoint_summary(restarted), ("d", "d"),
                                   _resume_log(saved))
    assert not checks["scaler_g_continues"] and checks["scaler_d_continues"] and not checks["ok"]


def test_tensor_summary_names_every_non_finite_tensor(tmp_path):
    path = _checkpoint(tmp_path, "a", 1, (1.0, 1.0))
    save_file({"w": torch.tensor([1.0, float("inf")], dtype=torch.bfloat16), "ok": torch.ones(2)},
              str(path / "generator.safetensors"))
    summary = records.tensor_summary(path)
    assert summary["nonfinite"] == ["generator:w"] and not summary["weights_finite"]


def test_bench_rows_pair_each_ganscale_result_with_its_textbook(tmp_path):
    def result(runner, batch, img_s, precision="no", speedup=None):
        return {"runner": runner, "preset": "mnist-dcgan-plain", "batch_size": batch, "precision": precision,
                "data": "tensor", "compile": "off", "img_per_s": img_s, "speedup": speedup, "runs": [img_s]}

    bench = {"results": [result("ganscale", 256, 900.0, speedup=3.0), result("ganscale", 256, 1200.0, "bf16"),
                         result("textbook", 256, 300.0), result("ganscale", 1024, 50.0)]}
    rows = records.bench_rows(bench)
    assert [(r["precision"], r["textbook_img_s"], r["ratio"]) for r in rows] == [
        ("no", 300.0, 3.0), ("bf16", 300.0, 4.0), ("no", None, None)]


# ----------------------------------------------------------------------------- the report

def _results(rows: list[dict], cuda: bool = True) -> dict:
    invocation = {"name": "plain-eager", "status": "ok", "wall_s": 3.0, "rows": rows}
    bench = {"status": "ok", "invocations": [invocation]}
    return {"mode": "cuda" if cuda else "cpu-dry-run", "started": "now", "wall_s": 1.0, "budget_s": 480.0,
            "environment": {"gpus": ["H200"], "gpu_memory_gib": 139.8, "compute_capability": "9.0",
                            "torch": "2.11", "cuda": "13.0", "packages": {"onnx": "1.0", "wandb": None}},
            "steps": {"train": {"runs": []}, "bench": bench, "evaluate": {"runs": []},
                      "profile": {"status": "ok", "summary": {"gpu_busy_share": 0.4}}},
            "failures": [], "targets": report.targets(bench, cuda)}


def _row(batch: int, img_s: float, ratio: float, precision: str = "bf16") -> dict:
    return {"preset": "mnist-dcgan-plain", "batch_size": batch, "precision": precision, "data": "tensor",
            "compile": "off", "ganscale_img_s": img_s, "textbook_img_s": img_s / ratio, "ratio": ratio}


def test_targets_use_the_best_bf16_batch_and_a_missed_one_points_at_the_profile():
    rows = [_row(256, 90_000.0, 2.5), _row(4096, 260_000.0, 2.9), _row(1024, 400_000.0, 9.0, "no")]
    results = _results(rows)
    first, second = results["targets"]
    assert (first["measured"], first["status"]) == (260_000.0, "met")
    assert first["where"] == "batch 4096, compile off"
    assert (second["measured"], second["status"]) == (2.9, "missed")
    text = report.markdown(results)
    assert "| mnist-dcgan-plain | 4096 | bf16 | off | 260,000 | 89,655 | 2.90x |" in text
    assert "Where the time goes" in text and "gpu_busy_share 0.4" in text
    assert "| not installed | wandb |" in text and "H200 x1, 139.8 GiB" in text
    dry = _results([_row(16, 900.0, 1.5)], cuda=False)
    assert {t["status"] for t in dry["targets"]} == {"not applicable (CPU dry run)"}
    assert {t["status"] for t in _results([])["targets"]} == {"not measured"}


def test_table_escapes_pipes_and_clean_drops_non_finite_numbers():
    assert report.table(["a", "b"], [["x|y", "1\n2"]]).splitlines()[-1] == "| x\\|y | 1 2 |"
    cleaned = report.clean({"a": float("nan"), "b": [float("inf"), 1.5], "c": (1, "s")})
    assert cleaned == {"a": None, "b": [None, 1.5], "c": [1, "s"]}
    json.dumps(cleaned, allow_nan=False)


def test_profile_summary_splits_kernels_copies_and_launches():
    class Span:
        def __init__(self, us):
            self.us = us

        def elapsed_us(self):
            return self.us

    class Event:
        def __init__(self, name, device_type, us):
            self.name, self.device_type, self.time_range = name, device_type, Span(us)

    class Trace:
        def events(self):
            cuda, cpu = torch.autograd.DeviceType.CUDA, torch.autograd.DeviceType.CPU
            return [Event("ampere_sgemm", cuda, 3000.0), Event("Memcpy HtoD (Pageable)", cuda, 200.0),
                    Event("cudaLaunchKernel", cpu, 5.0), Event("cudaLaunchKernel", cpu, 7.0),
                    Event("aten::mm", cpu, 50.0)]

    summary = summarize(Trace(), steps=2, wall_s=0.006, cpu_s=0.004, cuda=True)
    assert summary["wall_ms_per_step"] == 3.0 and summary["kernel_ms_per_step"] == 1.5
    assert summary["copy_ms_per_step"] == 0.1 and summary["gpu_busy_share"] == 0.5
    assert summary["launches_per_step"] == 1.0 and summary["launch_cpu_ms_per_step"] == 0.006


# ----------------------------------------------------------------------------- running commands

def test_a_command_over_its_time_is_ended_with_its_children_and_recorded(tmp_path):
    log = commands.Log()
    started = time.perf_counter()
    argv = ["sh", "-c", "echo started; sleep 60 & sleep 60"]
    outcome = commands.run(argv, {"PATH": "/usr/bin:/bin"}, 1.0, log)
    assert time.perf_counter() - started < 30 and outcome.timed_out and not outcome.ok
    assert outcome.stdout.strip() == "started"
    failure = outcome.failure()
    assert failure["timed_out"] and "time budget" in failure["stderr_tail"][-1]
    assert "$ sh -c" in log.text() and "timed out" in log.text()
    skipped = commands.run(["true"], {}, 0.0, log)
    assert skipped.returncode is None and "not started" in skipped.stderr


def test_long_outputs_keep_their_head_and_tail():
    text = "\n".join(f"line {i}" for i in range(1000))
    kept = commands.truncated(text, head=3, tail=2).splitlines()
    assert kept == ["line 0", "line 1", "line 2", "[... 995 lines cut ...]", "line 998", "line 999"]
    assert commands.truncated("short") == "short"
    log = commands.Log()
    for i in range(50):
        log.note(f"note {i} " + "x" * 100)
    capped = log.text(limit=1000)
    assert len(capped) < 1100 and capped.startswith("# note 0") and "characters cut" in capped
    assert capped.rstrip().endswith("x" * 20) and "note 49" in capped
