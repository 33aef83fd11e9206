"""What the check writes: the Markdown report (gpu_check.md), the targets it is read against, the
JSON-safe copy of the results, and the few lines it prints at the end."""

from __future__ import annotations

import math

from tools.gpucheck.plan import PLAIN

TARGET_IMG_S, TARGET_RATIO = 250_000, 3.0
CHECKED = (
    "Training: each cell is one `ganscale train` run of a few steps that ends at train.max_kimg and writes "
    "one checkpoint. Checked: exit status 0; every loss logged in metrics.jsonl is finite; every floating "
    "tensor in the checkpoint's safetensors files is finite; both GradScalers' scale and skipped steps are "
    "read from state.json (scaler_g, scaler_d). Resume: `train.resume=auto train.stop_after_steps=1` "
    "continues that run for exactly one step. Checked: the run says it resumed from that checkpoint; "
    "step is +1 and cur_nimg + one step's images, world_size unchanged; Adam's step counters go on from "
    "the saved ones (+1 per update, a skipped fp16 update +0), each GradScaler's scale and growth tracker "
    "go on from the saved ones; the saved checkpoint's files are unchanged; every tensor of the new "
    "checkpoint is finite. Not checked on CUDA: bitwise equality with an uninterrupted run (CUDA kernels "
    "are not deterministic; the CPU suite's tests/test_resume.py checks it bit for bit).")


def clean(value):
    """JSON without NaN or Infinity (strict parsers refuse them): such floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def fmt(value, spec: str = ",.0f") -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return format(value, spec)
    return "-" if value is None else str(value)


def table(header: list[str], rows: list[list[str]]) -> str:
    cells = [[str(c).replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def environment_table(env: dict) -> str:
    packages = env.get("packages") or {}
    present = ", ".join(f"{k} {v}" for k, v in packages.items() if v)
    missing = ", ".join(k for k, v in packages.items() if not v) or "none"
    gpus = env.get("gpus") or []
    gpu = f"{gpus[0]} x{len(gpus)}, {env.get('gpu_memory_gib')} GiB, compute capability " \
          f"{env.get('compute_capability')}" if gpus else "none (CPU)"
    rows = [["GPU", gpu], ["nvidia-smi", "; ".join(env.get("nvidia_smi") or []) or "not present"],
            ["torch", f"{env.get('torch')} (CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')})"],
            ["Python", env.get("python")], ["CPU cores", env.get("cpu_cores")],
            ["packages", present], ["not installed", missing]]
    return table(["", ""], [[a, fmt(b)] for a, b in rows])


def _pair(scalers: dict, key: str, spec: str) -> str:
    return "/".join(fmt((scalers.get(n) or {}).get(key), spec) for n in ("G", "D"))


def training_table(train: dict) -> str:
    rows = []
    for r in train.get("runs", []):
        metrics, ckpt, resume = r.get("metrics") or {}, r.get("checkpoint") or {}, r.get("resume") or {}
        final, scalers = metrics.get("final") or {}, ckpt.get("scalers") or {}
        skipped = "/".join(fmt(final.get(k), ".0f") for k in ("skipped_G", "skipped_D")) if final else "-"
        status = r["status"]
        if "config_checked" in r:
            status += " (config valid)" if r["config_checked"] else " (config **refused**)"
        rows.append([r["preset"], r["precision"], " ".join(r["overrides"]) or "-",
                     fmt(r.get("batch_size"), "d"), status, fmt(r.get("exit"), "d"),
                     fmt(r.get("wall_s"), ".1f"),
                     fmt(metrics.get("losses_finite")) if metrics else "-",
                     fmt(ckpt.get("weights_finite")) if ckpt else "-", skipped,
                     _pair(scalers, "scale", ".0f") if scalers else "-", fmt(final.get("img_per_s")),
                     fmt(resume.get("ok")) if resume else "-"])
    header = ["preset", "precision", "overrides", "batch", "status", "exit", "wall s", "losses finite",
              "weights finite", "skipped G/D", "scale G/D", "img/s (last log)", "resume ok"]
    return table(header, rows)


def bench_rows(bench: dict) -> list[dict]:
    return [row for i in bench.get("invocations", []) for row in i.get("rows", [])]


def bench_table(bench: dict) -> str:
    rows = [[r["preset"], str(r["batch_size"]), r["precision"], r["compile"], fmt(r["ganscale_img_s"]),
             fmt(r["textbook_img_s"]), fmt(r["ratio"], ".2f") + ("x" if r["ratio"] else "")]
            for r in bench_rows(bench)]
    header = ["preset", "batch", "precision", "compile", "ganscale img/s", "textbook img/s",
              "ratio (ganscale / textbook)"]
    runs = "; ".join(f"{i['name']} {i['status']}" + (f" ({i['wall_s']:.0f} s)" if "wall_s" in i else "")
                     for i in bench.get("invocations", []))
    return table(header, rows) + f"\n\nInvocations: {runs or 'none'}."


def targets(bench: dict, cuda: bool) -> list[dict]:
    """The issue's two targets against mnist-dcgan-plain bf16 at its best batch (any compile setting)."""
    rows = [r for r in bench_rows(bench) if r["preset"] == PLAIN and r["precision"] == "bf16"
            and isinstance(r["ganscale_img_s"], (int, float)) and math.isfinite(r["ganscale_img_s"])]
    best = max(rows, key=lambda r: r["ganscale_img_s"]) if rows else None
    where = f"batch {best['batch_size']}, compile {best['compile']}" if best else ""

    def status(value, goal):
        if not cuda:
            return "not applicable (CPU dry run)"
        return "not measured" if value is None else "met" if value >= goal else "missed"

    img_s, ratio = (best["ganscale_img_s"], best["ratio"]) if best else (None, None)
    return [{"target": f"{PLAIN} bf16 at its best batch >= {TARGET_IMG_S:,} img/s", "measured": img_s,
             "where": where, "status": status(img_s, TARGET_IMG_S)},
            {"target": f"ganscale >= {TARGET_RATIO:g}x the textbook loop (same GPU and batch)",
             "measured": ratio, "where": where, "status": status(ratio, TARGET_RATIO)}]


def targets_section(results: dict) -> str:
    rows = [[t["target"], fmt(t["measured"], ",.2f"), t["where"] or "-", t["status"]]
            for t in results["targets"]]
    text = table(["target", "measured", "at", "status"], rows)
    profile = results["steps"].get("profile", {}).get("summary")
    if any(t["status"] == "missed" for t in results["targets"]) and profile:
        text += ("\n\nWhere the time goes (gpu_check_profile.txt, torch.profiler, unprofiled wall time): "
                 + ", ".join(f"{k} {v}" for k, v in profile.items()))
    return text


def evaluation_table(evaluate: dict) -> str:
    rows = []
    for r in evaluate.get("runs", []):
        metrics = r.get("metrics") or {}
        rows.append([r["label"], fmt(metrics.get("num"), ",d"), fmt(metrics.get("processes"), "d"),
                     fmt(r["wall_s"], ".1f"), fmt(metrics.get("fid"), ".2f"), fmt(r["exit"], "d")])
    text = table(["run", "samples", "processes", "wall s (whole command)", "FID-MNIST", "exit"], rows)
    return text + (f"\n\n{evaluate['note']}." if evaluate.get("note") else "")


def failures_table(failures: list[dict]) -> str:
    if not failures:
        return "None."
    rows = [[f["step"], f["what"], fmt(f.get("exit"), "d"), "yes" if f.get("timed_out") else "no",
             f.get("reason") or " / ".join((f.get("stderr_tail") or [])[-3:])] for f in failures]
    return table(["step", "what", "exit", "timed out", "reason / last stderr lines"], rows)


def markdown(results: dict) -> str:
    steps = results["steps"]
    profile = steps.get("profile", {})
    parts = [f"# GPU check ({results['mode']})",
             f"Started {results['started']}, wall {results['wall_s']} s of a {results['budget_s']:.0f} s "
             "budget. Full results: gpu_check.json; every command's output: gpu_check.log.",
             "## Environment", environment_table(results["environment"]),
             "## Training matrix", training_table(steps.get("train", {})), CHECKED,
             "## Bench (`ganscale bench`, each group against the textbook loop in the same run)",
             bench_table(steps.get("bench", {})), "## Targets", targets_section(results),
             f"## Evaluation (`ganscale evaluate`, {steps.get('evaluate', {}).get('num')} samples)",
             evaluation_table(steps.get("evaluate", {})),
             "## Profile", "\n".join(f"- {k}: {v}" for k, v in (profile.get("summary") or {}).items())
             or f"No profile ({profile.get('status', 'not run')}).",
             "## Failures", failures_table(results["failures"])]
    return "\n\n".join(parts) + "\n"


def summary_lines(results: dict, written: list[str]) -> list[str]:
    steps = results["steps"]
    runs = steps.get("train", {}).get("runs", [])
    trained = [r for r in runs if not r["status"].startswith("skipped")]
    invocations = [i for i in steps.get("bench", {}).get("invocations", []) if "exit" in i]
    evaluate = steps.get("evaluate", {})
    walls = ", ".join(f"{r['wall_s']:.1f} s" for r in evaluate.get("runs", []))
    trained_ok = sum(r["status"] == "ok" for r in trained)
    lines = [f"gpu check ({results['mode']}) in {results['wall_s']} s: training "
             f"{trained_ok}/{len(trained)} ok ({len(runs) - len(trained)} skipped), bench "
             f"{sum(i['status'] == 'ok' for i in invocations)}/{len(invocations)} ok, evaluate "
             f"{evaluate.get('status', 'not run')} ({evaluate.get('num')} samples: {walls or '-'}), "
             f"profile {steps.get('profile', {}).get('status', 'not run')}"]
    lines += [f"target {t['target']}: {t['status']} (measured {fmt(t['measured'], ',.2f')})"
              for t in results["targets"]]
    failures = len(results["failures"])
    lines.append(f"failures: {failures}" + (" (see gpu_check.md)" if failures else ""))
    lines.append("wrote " + ", ".join(written))
    return lines
