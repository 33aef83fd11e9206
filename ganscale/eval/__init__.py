"""Scoring a generator: the entry `ganscale evaluate` and training call.

Which module does what:

- `sharded`: draws the N samples to score, each process generating its share (the only part that
  runs the generator);
- `choice`: the metric names `eval.metrics` accepts, the evaluator behind each, the keys they report
  and which way is better (torch-free, for config validation);
- `mnist_classifier`, `scores`, `mnist_metrics`: the frozen, SHA-256-pinned MNIST classifier, the maths
  in its feature space and its MNIST test-set reference (FID-MNIST and friends);
- `inception_weights`, `inception`, `reference`, `inception_metrics`: Inception FID/KID/IS/PR through
  torch-fidelity, its weights read without unpickling, the cached reference of a prepared dataset;
- `stacked_mnist`: modes covered and KL to uniform for datasets prepared as `stacked-mnist`.

(`ganscale.sampling`, outside this package, is the general library that turns a generator into
images and files.) Nothing heavy is imported here, so `ganscale.eval.choice` stays torch-free.
"""

from __future__ import annotations

METRIC_ORDER = ("fid", "kid", "kid_std", "classifier_score", "precision", "recall", "top_class_share",
                "classes_present", "confident_share", "cond_accuracy",
                "fid_inception", "kid_inception", "kid_inception_std", "isc_inception", "isc_inception_std",
                "precision_inception", "recall_inception", "f_score_inception", "modes", "kl", "real_modes",
                "real_kl", "real_confident_share")

__all__ = ["METRIC_ORDER", "digit_labels", "evaluate_generator", "format_table", "generate_sharded",
           "prepare_evaluation",
           "score_images"]


def __getattr__(name: str):
    if name == "generate_sharded":  # imported on use: it needs torch
        from ganscale.eval.sharded import generate_sharded

        return generate_sharded
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def score_images(images, labels, image_size: int, data_root: str = "") -> dict[str, float]:
    """All MNIST-evaluator metrics against the MNIST test set, seen through the same resize as the images.

    Generated images are clamped to [-1, 1] first, as where they become pixels (sample grids, the
    Inception and Stacked-MNIST paths): a linear output layer (R3GAN's) overshoots a little.
    """
    from ganscale.devices import best_device
    from ganscale.eval.mnist_classifier import load_evaluator, resize_for_evaluator
    from ganscale.eval.scores import evaluate_images, reference_stats

    device = best_device()
    evaluator = load_evaluator(device)
    reference = reference_stats(evaluator, data_root, image_size=image_size)
    return evaluate_images(resize_for_evaluator(images.clamp(-1.0, 1.0)), evaluator, reference, labels)


def prepare_evaluation(cfg, accelerator=None) -> None:
    """Load what the chosen metrics need (weights, reference statistics) before the first step, on
    the main process, which is the one that scores. Collective: its error is every rank's, so no
    rank is left waiting for one that gave up."""
    from ganscale.errors import UserError
    from ganscale.eval import choice

    error = [None]
    if accelerator is None or accelerator.is_main_process:
        try:
            names = choice.selected(cfg)
            choice.check_installed(names)
            for evaluator, group in choice.by_evaluator(names).items():
                choice.function(evaluator, 1)(cfg, group)
        except UserError as err:
            error[0] = str(err)
    if accelerator is not None and accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(error, from_process=0)
    if error[0] is not None:
        raise UserError(error[0])


def evaluate_generator(generator, model, num: int, seed: int = 0, accelerator=None,
                       data_root: str = "", cfg=None) -> dict[str, float] | None:
    """Metrics on the main process (None elsewhere). Collective when an accelerator is given.

    Without `cfg`: the MNIST evaluator (the original entry); with it: the metrics cfg.eval.metrics
    chooses, each evaluator once, results merged under their own keys.
    """
    from ganscale.eval.sharded import generate_sharded

    images, labels = generate_sharded(generator, model, num, seed, accelerator)
    if accelerator is not None and not accelerator.is_main_process:
        return None
    labels = digit_labels(model, labels)
    if cfg is None:
        return score_images(images, labels, model.image_size, data_root)
    from ganscale.eval import choice

    results: dict[str, float] = {}
    for evaluator, group in choice.by_evaluator(choice.selected(cfg)).items():
        results.update(choice.function(evaluator, 0)(images, labels, cfg, group))
    return results


def digit_labels(model, requested):
    """The labels `cond_accuracy` checks the samples against: the requested ones for a generator
    conditioned on digit labels, none for one conditioned on k-means clusters (they are not digits)."""
    return None if model.conditioning == "clusters" else requested


def format_table(metrics: dict[str, float]) -> str:
    names = [n for n in METRIC_ORDER if n in metrics]
    width = max(len(n) for n in names)
    return "\n".join(f"{name:<{width}}  {metrics[name]:.4f}" for name in names)
