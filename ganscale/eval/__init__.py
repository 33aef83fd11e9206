"""Scoring a generator with the built-in MNIST evaluator: the entry `ganscale evaluate` and training call.

Which module does what:

- `sharded`: draws the N samples to score, each process generating its share (the only part that
  runs the generator);
- `mnist_classifier`: the frozen, SHA-256-pinned MNIST classifier whose feature space every metric
  is measured in, and the loading of its shipped weights;
- `scores`: the maths (FID, KID, precision/recall, classifier score, class histogram) and the
  cached MNIST test-set reference statistics;
- `stacked_mnist`: modes covered and KL to uniform for datasets prepared as `stacked-mnist`.

(`ganscale.sampling`, outside this package, is the general library that turns a generator into
images and files.)
"""

from __future__ import annotations

import torch

from ganscale.config import ModelConfig
from ganscale.devices import best_device
from ganscale.eval.sharded import generate_sharded

METRIC_ORDER = ("fid", "kid", "kid_std", "classifier_score", "precision", "recall", "top_class_share",
                "classes_present", "confident_share", "cond_accuracy", "modes", "kl", "real_modes", "real_kl")
BEST_KEYS = ("fid", "kl")  # lower is better; the first one a metric set has decides which checkpoint is best

__all__ = ["BEST_KEYS", "METRIC_ORDER", "best_key", "evaluate_generator", "format_table", "generate_sharded",
           "score_images", "summary"]


def score_images(images: torch.Tensor, labels, image_size: int, data_root: str = "") -> dict[str, float]:
    """All metrics against the MNIST test set, seen through the same resize as the images."""
    from ganscale.eval.mnist_classifier import load_evaluator, resize_for_evaluator
    from ganscale.eval.scores import evaluate_images, reference_stats

    device = best_device()
    evaluator = load_evaluator(device)
    reference = reference_stats(evaluator, data_root, image_size=image_size)
    return evaluate_images(resize_for_evaluator(images), evaluator, reference, labels)


def evaluate_generator(generator, model: ModelConfig, num: int, seed: int = 0, accelerator=None,
                       data_root: str = "", dataset_dir: str = "") -> dict[str, float] | None:
    """Metrics on the main process (None elsewhere). Collective when an accelerator is given.

    `dataset_dir`, the prepared dataset trained on, picks the metric: Stacked MNIST's mode coverage for
    one made by `ganscale prepare stacked-mnist`, the MNIST evaluator's metrics otherwise.
    """
    from ganscale.eval.stacked_mnist import is_stacked_mnist, stacked_mnist_metrics

    images, labels = generate_sharded(generator, model, num, seed, accelerator)
    if accelerator is not None and not accelerator.is_main_process:
        return None
    if is_stacked_mnist(dataset_dir):
        return stacked_mnist_metrics(images, dataset_dir)
    if model.conditioning == "clusters":  # the classes are clusters, not digits: no cond_accuracy
        labels = None
    return score_images(images, labels, model.image_size, data_root)


def best_key(metrics: dict[str, float]) -> str:
    return next(key for key in BEST_KEYS if key in metrics)


def summary(metrics: dict[str, float]) -> str:
    """One line for the training log."""
    if "modes" in metrics:
        return (f"Stacked MNIST {metrics['modes']:.0f}/1000 modes, KL {metrics['kl']:.3f} "
                f"(real data: {metrics['real_modes']:.0f}, {metrics['real_kl']:.3f})")
    return (f"FID-MNIST {metrics['fid']:.2f}, precision {metrics['precision']:.3f}, "
            f"recall {metrics['recall']:.3f}")


def format_table(metrics: dict[str, float]) -> str:
    names = [n for n in METRIC_ORDER if n in metrics]
    width = max(len(n) for n in names)
    return "\n".join(f"{name:<{width}}  {metrics[name]:.4f}" for name in names)
