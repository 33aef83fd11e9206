"""Scoring a generator: draw N samples (sharded across processes), then the MNIST evaluator metrics.

The noise for all N samples is drawn once from the seed, and rank r generates its contiguous share;
the shares are gathered in order, so 1 process and N processes score exactly the same images.
"""

from __future__ import annotations

import math

import torch

from ganscale.config import ModelConfig
from ganscale.sampling import draw_noise, generate

METRIC_ORDER = ("fid", "kid", "kid_std", "classifier_score", "precision", "recall", "top_class_share",
                "classes_present", "confident_share", "cond_accuracy")


def _my_share(num: int, rank: int, world: int) -> slice:
    per_rank = math.ceil(num / world)
    return slice(min(rank * per_rank, num), min((rank + 1) * per_rank, num))


def generate_for_eval(generator, model: ModelConfig, num: int, seed: int, accelerator=None,
                      batch_size: int = 500):
    """(images [num, 1, H, W] in [-1, 1], requested labels or None), identical on every world size.

    Conditional models are asked for every class in turn (balanced), so cond_accuracy covers all digits.
    """
    z, labels = draw_noise(model, num, seed)
    world = accelerator.num_processes if accelerator is not None else 1
    if world == 1:
        return generate(generator, z, labels, batch_size), labels
    from accelerate.utils import gather

    rank, per_rank = accelerator.process_index, math.ceil(num / world)
    share = _my_share(num, rank, world)
    mine = generate(generator, z[share], None if labels is None else labels[share], batch_size)
    padded = torch.zeros(per_rank, *mine.shape[1:])
    padded[:len(mine)] = mine
    everything = gather(padded.to(accelerator.device)).cpu()
    return everything[:num], labels


def score_images(images: torch.Tensor, labels, image_size: int, data_root: str = "") -> dict[str, float]:
    """All metrics against the MNIST test set, seen through the same resize as the images."""
    from ganscale.evaluator import load_evaluator, resize_for_evaluator
    from ganscale.metrics import evaluate_images, reference_stats

    device = "cuda" if torch.cuda.is_available() else "cpu"
    evaluator = load_evaluator(device)
    reference = reference_stats(evaluator, data_root, image_size=image_size)
    return evaluate_images(resize_for_evaluator(images), evaluator, reference, labels)


def evaluate_generator(generator, model: ModelConfig, num: int, seed: int = 0, accelerator=None,
                       data_root: str = "") -> dict[str, float] | None:
    """Metrics on the main process (None elsewhere). Collective when an accelerator is given."""
    images, labels = generate_for_eval(generator, model, num, seed, accelerator)
    if accelerator is not None and not accelerator.is_main_process:
        return None
    if model.conditioning == "clusters":  # the classes are clusters, not digits: no cond_accuracy
        labels = None
    return score_images(images, labels, model.image_size, data_root)


def format_table(metrics: dict[str, float]) -> str:
    names = [n for n in METRIC_ORDER if n in metrics]
    width = max(len(n) for n in names)
    return "\n".join(f"{name:<{width}}  {metrics[name]:.4f}" for name in names)
