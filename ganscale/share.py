"""The folder `ganscale push` uploads (and `--dry-run --out DIR` writes): config.json and
model.safetensors (G_ema, checkpoint/hub_folder.py), a sample grid, and the model card README.md.

Written whole into a temporary folder and renamed into place (ganscale.files), so a local copy is
never half a model; an `--out` holding anything else is refused rather than replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganscale.checkpoint.hub_folder import CONFIG_FILE, MODEL_FILE
from ganscale.errors import UserError
from ganscale.model_card import SAMPLES_FILE, Evaluation, dataset_ids, latest_evaluation, render

CARD_FILE = "README.md"
FOLDER_FILES = (CONFIG_FILE, MODEL_FILE, SAMPLES_FILE, CARD_FILE)


@dataclass
class Provenance:
    """What the pushed weights are, beyond the weights: how far they trained and how they scored."""

    kimg: float = 0.0
    evaluation: Evaluation | None = None


def provenance(source: str | Path, config: dict) -> Provenance:
    """Read from the checkpoint (and its run's metrics.jsonl) when SOURCE is a run or checkpoint dir;
    an exported file or a Hub folder carries no training record."""
    from ganscale.checkpoint import is_complete, read_state, resolve_checkpoint

    path = Path(source)
    if not path.is_dir() or (path / CONFIG_FILE).is_file():
        return Provenance()
    checkpoint = resolve_checkpoint(path)
    if not is_complete(checkpoint):
        return Provenance()
    state = read_state(checkpoint)
    run_dir = checkpoint.parent.parent if checkpoint.parent.name in ("checkpoints", "best") else None
    num = int(config.get("eval", {}).get("num", 0))
    return Provenance(state.cur_nimg / 1000, latest_evaluation(run_dir, state.step, state.metrics, num))


def check_out(out: Path) -> None:
    """A new or empty folder, or one this command wrote before: never someone's other files."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file; give a folder to write the repository into")
    others = sorted(p.name for p in out.iterdir() if p.name not in FOLDER_FILES) if out.is_dir() else []
    if others:
        raise UserError(f"--out {out}: holds other files ({', '.join(others[:3])}); give a new or empty "
                        "folder")


def write_folder(source: str | Path, out: Path, repo_id: str, *, license: str, datasets: list[str] | None,
                 trust_arch: bool) -> Path:
    """Build G from SOURCE (refusing weights that do not load), then write the four files into `out`."""
    from ganscale import __version__, sampling
    from ganscale.api import generator_weights
    from ganscale.checkpoint.hub_folder import write_model_files
    from ganscale.files import atomic_path, write_text
    from ganscale.trained import build_generator

    config, weights = generator_weights(source)
    generator, model = build_generator(config, weights, trust_arch=trust_arch)
    info = provenance(source, config)
    z, labels = sampling.grid_noise(model, seed=0)
    images = sampling.generate(generator, z, labels)
    card = render(repo_id, config, kimg=info.kimg, evaluation=info.evaluation, license=license,
                  datasets=dataset_ids(config) if datasets is None else datasets, version=__version__)
    with atomic_path(out, directory=True) as tmp:
        write_model_files(config, weights, tmp)
        sampling.save_grid(images, tmp / SAMPLES_FILE, nrow=10)
        write_text(tmp / CARD_FILE, card)
    return out
