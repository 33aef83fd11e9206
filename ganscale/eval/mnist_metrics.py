"""The MNIST evaluator as one entry of the metric dispatch (choice.py): FID-MNIST, KID, precision/recall,
classifier score and the class histogram, against the MNIST test set (see eval/scores.py)."""

from __future__ import annotations


def prepare(cfg, names) -> None:
    """Load the pinned evaluator and build (or read) the test-set reference now: missing MNIST test
    files fail before the first step."""
    from ganscale.devices import best_device
    from ganscale.eval.mnist_classifier import load_evaluator
    from ganscale.eval.scores import reference_stats

    reference_stats(load_evaluator(best_device()), cfg.data.root, image_size=cfg.model.image_size)


def score(images, labels, cfg, names) -> dict[str, float]:
    import ganscale.eval as evaluation

    return evaluation.score_images(images, labels, cfg.model.image_size, cfg.data.root)
