"""A Hugging Face Hub cache laid out by hand, so `hf://` loads run offline through huggingface_hub's
real snapshot_download (HF_HOME + HF_HUB_OFFLINE=1) and end where a download ends: no network."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def cache_repo(hf_home: Path, repo_id: str, folder: Path, revision: str = "main") -> Path:
    """Put `folder`'s files into HF_HOME's cache as `repo_id` at `revision`; returns the snapshot."""
    storage = Path(hf_home) / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    snapshot = storage / "snapshots" / commit
    shutil.copytree(folder, snapshot, dirs_exist_ok=True)
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / revision).write_text(commit)
    return snapshot


def offline_env(env: dict, hf_home: Path) -> dict:
    """No token, no network: only the cache under `hf_home` answers."""
    clean = {k: v for k, v in env.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE")}
    return {**clean, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
