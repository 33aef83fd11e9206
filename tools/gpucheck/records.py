"""Reading what a training run wrote: metrics.jsonl, a checkpoint's state.json and its safetensors
files. Only json and safetensors are used, never ganscale itself, so the check reads checkpoints
exactly as an outsider would (and keeps working when the package's insides move).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

STATE_FILE = "state.json"
LOSSES = ("loss_D", "loss_G")
FINAL_KEYS = ("step", "kimg", "loss_D", "loss_G", "skipped_G", "skipped_D", "img_per_s")


def read_metrics(path: Path) -> list[dict]:
    """The run's logged rows; a line cut short by a killed run is left out, not fatal."""
    rows = []
    if not path.is_file():
        return rows
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def metrics_summary(rows: list[dict]) -> dict:
    """Final logged values, and whether every logged loss is finite (no rows: not shown finite)."""
    losses = [row.get(name) for row in rows for name in LOSSES]
    final = rows[-1] if rows else {}
    rates = [row["img_per_s"] for row in rows if _finite(row.get("img_per_s"))]
    return {"rows": len(rows), "losses_finite": bool(rows) and all(_finite(v) for v in losses),
            "final": {key: final.get(key) for key in FINAL_KEYS},
            "img_per_s_max": max(rates) if rates else None}


def read_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / STATE_FILE).read_text())


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete-looking checkpoints oldest first, ordered by the position each saved (not by name)."""
    found = []
    root = run_dir / "checkpoints"
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.name.startswith(".") or not (path / STATE_FILE).is_file():
            continue
        try:
            found.append((int(read_state(path)["cur_nimg"]), path))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [path for _, path in sorted(found)]


def scaler_summary(state: dict) -> dict:
    """Per optimizer: the GradScaler's scale and growth tracker (None when disabled) and skipped steps."""
    out = {}
    for name, key in (("G", "scaler_g"), ("D", "scaler_d")):
        saved = state.get(key) or {}
        scaler = saved.get("scaler") or {}
        out[name] = {"scale": scaler.get("scale"), "growth_tracker": scaler.get("_growth_tracker"),
                     "growth_factor": scaler.get("growth_factor"),
                     "backoff_factor": scaler.get("backoff_factor"), "skipped": saved.get("skipped", 0)}
    return out


def _scalar_steps(path: Path) -> list[tuple[str, float]]:
    """Adam step counters kept as plain numbers (in the file's metadata) rather than tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    try:
        scalars = json.loads(metadata.get("scalars", "{}"))
    except json.JSONDecodeError:
        return []
    return [(k, float(v)) for k, v in scalars.items() if k.endswith(".step") and _finite(v)]


def tensor_summary(checkpoint: Path) -> dict:
    """Every floating tensor of every safetensors file checked for inf/NaN; Adam's step counters."""
    import torch
    from safetensors.torch import load_file

    files = sorted(checkpoint.glob("*.safetensors"))
    counted, nonfinite, steps = 0, [], {}
    for path in files:
        for _, value in _scalar_steps(path):
            steps.setdefault(path.stem, set()).add(value)
        for name, tensor in load_file(str(path)).items():
            if name.endswith(".step"):  # optimizer state: one counter per parameter
                steps.setdefault(path.stem, set()).add(float(tensor))
            if tensor.is_floating_point():
                counted += 1
                if not bool(torch.isfinite(tensor).all()):
                    nonfinite.append(f"{path.stem}:{name}")
    return {"files": len(files), "floating_tensors": counted, "nonfinite": nonfinite,
            "weights_finite": bool(files) and not nonfinite,
            "optimizer_steps": {name: sorted(values) for name, values in steps.items()}}


def checkpoint_summary(checkpoint: Path) -> dict:
    state = read_state(checkpoint)
    config = state.get("config") or {}
    return {"path": str(checkpoint), "step": state.get("step"), "cur_nimg": state.get("cur_nimg"),
            "world_size": state.get("world_size"), "n_critic": (config.get("optim") or {}).get("n_critic", 1),
            "scalers": scaler_summary(state), **tensor_summary(checkpoint)}


def digest(checkpoint: Path) -> str:
    """One hash over a checkpoint's files: a resumed run must leave the checkpoint it read unchanged."""
    sha = hashlib.sha256()
    for path in sorted(p for p in checkpoint.iterdir() if p.is_file()):
        sha.update(path.name.encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def _single_step(steps: dict, name: str) -> float | None:
    values = steps.get(name) or []
    return values[0] if len(values) == 1 else None


def _updates_continue(before: dict, after: dict, opt: str, scaler: str, expected: int) -> bool:
    """Adam's counters went on from the saved ones: each update counts once, a skipped fp16 one not."""
    start, end = _single_step(before["optimizer_steps"], opt), _single_step(after["optimizer_steps"], opt)
    if start is None or end is None:
        return False
    skipped = after["scalers"][scaler]["skipped"] - before["scalers"][scaler]["skipped"]
    return end - start + skipped == expected


def _scaler_continues(before: dict, after: dict) -> bool:
    """One more step either keeps the scale (growth tracker +1), backs off, or grows it (tracker 0)."""
    a, b = before["scale"], after["scale"]
    if a is None or b is None:
        return a is None and b is None  # disabled both times (no, bf16)
    tracker_a, tracker_b = before["growth_tracker"], after["growth_tracker"]
    if b == a:  # a torch without the tracker in its state: the scale alone must match
        return tracker_a is None or tracker_b == tracker_a + 1
    changed = {a * (before["backoff_factor"] or 0.5), a * (before["growth_factor"] or 2.0)}
    return b in changed and tracker_b in (0, None)


def resumed_from(stdout: str) -> str | None:
    """The checkpoint (folder name) a run says it resumed from."""
    found = re.search(r"^resumed from (.+) at kimg ", stdout, flags=re.MULTILINE)
    return Path(found.group(1)).name if found else None


def resume_checks(before: dict, after: dict, digests: tuple[str, str], stdout: str) -> dict:
    """What one resumed step proves about the resume (see CHECKED in report.py); each check by name."""
    images = (after["cur_nimg"] or 0) - (before["cur_nimg"] or 0)
    per_step = (before["cur_nimg"] or 0) / before["step"] if before.get("step") else None
    checks = {
        "resumed_from_saved": resumed_from(stdout) == Path(before["path"]).name,
        "step_continues": after["step"] == before["step"] + 1,
        "cur_nimg_continues": per_step is not None and images == per_step,
        "world_size_same": after["world_size"] == before["world_size"],
        "optimizer_g_continues": _updates_continue(before, after, "optimizer_g", "G", 1),
        "optimizer_d_continues": _updates_continue(before, after, "optimizer_d", "D", before["n_critic"]),
        "scaler_g_continues": _scaler_continues(before["scalers"]["G"], after["scalers"]["G"]),
        "scaler_d_continues": _scaler_continues(before["scalers"]["D"], after["scalers"]["D"]),
        "saved_checkpoint_unchanged": digests[0] == digests[1],
        "tensors_finite_after": after["weights_finite"],
    }
    return {"ok": all(checks.values()), **checks}


def bench_rows(report: dict) -> list[dict]:
    """One row per ganscale result of a `ganscale bench --json` report, with its group's textbook img/s."""
    results = report.get("results") or []
    textbook = {(r["preset"], r["batch_size"]): r["img_per_s"] for r in results if r["runner"] == "textbook"}
    rows = []
    for r in results:
        if r["runner"] != "ganscale":
            continue
        base = textbook.get((r["preset"], r["batch_size"]))
        ratio = r.get("speedup")
        if ratio is None and _finite(base) and base and _finite(r["img_per_s"]):
            ratio = r["img_per_s"] / base
        rows.append({"preset": r["preset"], "batch_size": r["batch_size"], "precision": r["precision"],
                     "data": r["data"], "compile": r["compile"], "ganscale_img_s": r["img_per_s"],
                     "textbook_img_s": base, "ratio": ratio, "runs": r.get("runs", [])})
    return rows
