"""Floor and ceiling numbers of every metric, from real MNIST and from obviously bad "generators".

A GAN's FID only means something next to what real data scores (the floor: sampling noise of 10k
images) and what garbage scores (the ceiling). Prints a markdown table for docs/evaluation.md.

    python tools/eval_floor.py --data-root /work/shared/data
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from ganscale.data import load_mnist, to_model_pixels
from ganscale.eval.mnist_classifier import load_evaluator, resize_for_evaluator
from ganscale.eval.scores import evaluate_images, reference_stats

COLUMNS = ("fid", "kid", "kid_std", "classifier_score", "precision", "recall", "top_class_share",
           "classes_present", "confident_share", "cond_accuracy")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default="", help="folder holding MNIST/raw (default: $GANSCALE_DATA)")
    p.add_argument("--num", type=int, default=10_000, help="images per row")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def cases(train_x: torch.Tensor, train_y: torch.Tensor, num: int) -> dict:
    """name -> (images, requested labels or None, image size of the reference to compare with)."""
    real, labels = train_x[:num], train_y[:num]
    ones = train_x[train_y == 1][:num]
    noise = torch.rand(num, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    via_64 = resize_for_evaluator(F.interpolate(real, size=(64, 64), mode="bilinear", align_corners=False))
    shuffled = labels[torch.randperm(num, generator=torch.Generator().manual_seed(0))]
    return {
        f"real train ({num})": (real, labels, 28),
        f"real train ({num}) at 64px, resized back, vs 28px reference": (via_64, labels, 28),
        f"real train ({num}) at 64px, resized back, vs 64px reference": (via_64, labels, 64),
        f"real train ({num}), requested labels shuffled": (real, shuffled, 28),
        f"only digit 1 ({len(ones)} train images)": (ones, None, 28),
        f"uniform noise U[-1,1] ({num})": (noise, None, 28),
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    evaluator = load_evaluator("cpu")
    start = time.time()
    references = {size: reference_stats(evaluator, args.data_root, image_size=size) for size in (28, 64)}
    print(f"references: MNIST test at 28 and 64 px ({time.time() - start:.0f} s)\n")
    images_u8, train_y = load_mnist(args.data_root, train=True, download=False)
    train_x = to_model_pixels(images_u8, 28)
    print("All against the MNIST test set (10k) as reference.\n")
    print("| case | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, (images, labels, size) in cases(train_x, train_y, args.num).items():
        result = evaluate_images(images, evaluator, references[size], labels=labels)
        cells = [f"{result[c]:.4g}" if c in result else "-" for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
