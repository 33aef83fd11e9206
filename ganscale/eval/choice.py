"""Which metrics an evaluation computes: the names `eval.metrics` / `--metrics` accept, the evaluator
behind each, the keys each reports (and which way is better), and whether they can score the data.

Torch-free, so config validation can refuse a bad choice in milliseconds, before any training. The
scoring itself lives in the evaluators' modules, named here by "module:function" and imported only
when an evaluation runs. A new evaluator is one more entry in EVALUATORS and its names in METRICS.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from ganscale.errors import UserError


@dataclass(frozen=True)
class Metric:
    evaluator: str  # key of EVALUATORS
    keys: dict[str, bool]  # result key it reports (logged as eval/<key>) -> higher is better


# Names in eval.metrics, each with the keys eval.best may pick from. The MNIST evaluator's keys are
# today's (eval/fid is FID-MNIST); Inception's carry the suffix so the two FIDs cannot be confused.
METRICS = {
    "mnist": Metric("mnist", {"fid": False, "kid": False, "precision": True, "recall": True,
                              "classifier_score": True, "cond_accuracy": True}),
    "fid": Metric("inception", {"fid_inception": False}),
    "kid": Metric("inception", {"kid_inception": False}),
    "isc": Metric("inception", {"isc_inception": True}),
    "prc": Metric("inception", {"f_score_inception": True, "precision_inception": True,
                                "recall_inception": True}),
    "stacked-mnist": Metric("stacked_mnist", {"kl": False, "modes": True, "confident_share": True}),
}
# evaluator -> (scoring function, preparing function): score(images, labels, cfg, names) -> dict runs
# on the main process; prepare(cfg, names) runs before the first step (loads what it needs, so a
# missing file fails then and not after the training).
EVALUATORS = {
    "mnist": ("ganscale.eval.mnist_metrics:score", "ganscale.eval.mnist_metrics:prepare"),
    "inception": ("ganscale.eval.inception_metrics:score", "ganscale.eval.inception_metrics:prepare"),
    "stacked_mnist": ("ganscale.eval.stacked_mnist:score_entry", "ganscale.eval.stacked_mnist:prepare_entry"),
}
AUTO_MNIST, AUTO_OTHER, AUTO_STACKED = ("mnist",), ("fid", "kid"), ("stacked-mnist",)


def selected(cfg) -> tuple[str, ...]:
    """eval.metrics as names; `auto`: the MNIST evaluator on MNIST, mode coverage on Stacked MNIST,
    Inception FID and KID elsewhere."""
    text = cfg.eval.metrics.strip()
    if text == "auto":
        if cfg.data.name == "mnist" or is_mnist(cfg.data.path):
            return AUTO_MNIST
        return AUTO_STACKED if is_stacked_mnist(cfg.data.path) else AUTO_OTHER
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        bad = repr(unknown[0]) if unknown else "(none)"
        raise UserError(f"eval.metrics={cfg.eval.metrics!r}: unknown metric {bad}; choose auto or a "
                        f"comma-separated list of: {', '.join(METRICS)}")
    return names


def rankable(cfg, names: tuple[str, ...]) -> dict[str, bool]:
    """The keys eval.best may name for these metrics, in order (the first is `auto`'s choice)."""
    keys: dict[str, bool] = {}
    for name in names:
        keys.update(METRICS[name].keys)
    if not (cfg.model.num_classes and cfg.model.conditioning == "labels"):
        keys.pop("cond_accuracy", None)  # only a conditional model is asked for digits
    return keys


def best_key(cfg) -> tuple[str, bool]:
    """(result key the best checkpoint is chosen by, higher is better)."""
    keys = rankable(cfg, selected(cfg))
    choice = next(iter(keys)) if cfg.eval.best == "auto" else cfg.eval.best
    if choice not in keys:
        raise UserError(f"eval.best={cfg.eval.best}: eval.metrics={cfg.eval.metrics} does not report it; "
                        f"choose auto or one of: {', '.join(keys)}")
    return choice, keys[choice]


def by_evaluator(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """{evaluator: its names}, in the order first asked for: one pass per evaluator."""
    groups: dict[str, tuple[str, ...]] = {}
    for name in names:
        groups[METRICS[name].evaluator] = (*groups.get(METRICS[name].evaluator, ()), name)
    return groups


def _source(path: str) -> dict:
    from ganscale.data.prepared import is_prepared, read_info

    return read_info(path).source if path and is_prepared(path) else {}


def is_mnist(path: str) -> bool:
    """MNIST prepared by `ganscale prepare mnist` (a subset with --max-images, say): FID-MNIST's home."""
    source = _source(path)
    return source.get("kind") == "named" and str(source.get("location", "")).split(":")[0] == "mnist"


def is_stacked_mnist(path: str) -> bool:
    """A dataset made by `ganscale prepare stacked-mnist` (its dataset.json says so; json only)."""
    return _source(path).get("kind") == "stacked-mnist"


def check(cfg) -> None:
    """Can the chosen metrics score this data? Static facts only (no files, no network, no torch)."""
    names = selected(cfg)
    best_key(cfg)
    channels = cfg.model.channels
    if "mnist" in names and channels != 1:
        raise UserError(f"eval.metrics=mnist: the MNIST evaluator scores grey digits (1 channel) against "
                        f"the MNIST test set, and this data has {channels}; use eval.metrics=fid,kid,isc,prc")
    if "stacked-mnist" in names and not is_stacked_mnist(cfg.data.path):
        raise UserError(f"eval.metrics=stacked-mnist: scores a dataset made by `ganscale prepare "
                        f"stacked-mnist`, not data.path={cfg.data.path or '(MNIST)'}")
    inception = [n for n in names if METRICS[n].evaluator == "inception"]
    if inception and channels not in (1, 3):
        raise UserError(f"eval.metrics={','.join(inception)}: Inception takes RGB (3 channels; grey is "
                        f"repeated to RGB), not {channels} channels")
    if inception and cfg.eval.num < 10:
        raise UserError(f"eval.num={cfg.eval.num}: the Inception metrics need at least 10 samples "
                        "(Inception Score has 10 splits)")


def check_installed(names: tuple[str, ...]) -> None:
    """The Inception metrics need the optional torch-fidelity; asked when an evaluation is set up."""
    wanted = any(METRICS[n].evaluator == "inception" for n in names)
    if wanted and importlib.util.find_spec("torch_fidelity") is None:
        raise UserError("the Inception metrics need torch-fidelity: pip install 'ganscale[metrics]'")


def function(evaluator: str, which: int):
    module, _, attr = EVALUATORS[evaluator][which].partition(":")
    return getattr(importlib.import_module(module), attr)
