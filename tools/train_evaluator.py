"""Train the MNIST evaluator that ganscale's sample-quality metrics are computed with.

Run once by a maintainer; the output is shipped in ganscale/weights and pinned by SHA-256 in
ganscale/evaluator.py. The run is seeded and deterministic so the recipe can be audited, but the
pinned file, not a rerun, defines the metric space (BLAS differences across machines change bits).

    python tools/train_evaluator.py --data-root /work/shared/data
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganscale.data import load_mnist, to_model_pixels
from ganscale.eval.mnist_classifier import WEIGHTS_FILE, MnistEvaluator, load_evaluator, sha256_bytes

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "ganscale" / "weights" / WEIGHTS_FILE


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default="", help="folder holding MNIST/raw (default: $GANSCALE_DATA)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-augment", action="store_true")
    return p.parse_args()


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random +-10 degree rotation, 0.9-1.1 scale and +-2 px shift.

    GAN samples are rarely centred and sized exactly like MNIST digits; mild geometric jitter keeps
    the classifier from calling such digits out-of-distribution, which would distort the metrics.
    """
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 * 2 / 28)  # 2 px in [-1, 1] coordinates
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    rows = [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)]
    theta = torch.stack(rows, 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # padding with the background value (-1), not 0, which would be mid-grey in [-1, 1] pixels
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


@torch.no_grad()
def accuracy(model: MnistEvaluator, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    model.eval()
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def train(args: argparse.Namespace, x: torch.Tensor, y: torch.Tensor) -> MnistEvaluator:
    gen = torch.Generator().manual_seed(args.seed)
    model = MnistEvaluator()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = len(x) // args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    for epoch in range(args.epochs):
        model.train()
        order, start, total = torch.randperm(len(x), generator=gen), time.time(), 0.0
        for step in range(steps_per_epoch):
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            xb = x[idx] if args.no_augment else augment(x[idx], gen)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / steps_per_epoch:.4f} "
              f"({time.time() - start:.0f} s)", flush=True)
    return model.eval()


def recipe(args: argparse.Namespace) -> dict:
    return {"optimizer": "AdamW", "schedule": "OneCycleLR", "lr": args.lr, "weight_decay": args.weight_decay,
            "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
            "augment": "none" if args.no_augment else "rotate10deg,scale0.9-1.1,shift2px",
            "data": "MNIST train 60k", "torch": torch.__version__}


def main() -> None:
    from safetensors.torch import save_file

    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    train_u8, train_y = load_mnist(args.data_root, train=True, download=False)
    test_u8, test_y = load_mnist(args.data_root, train=False, download=False)
    x_train, x_test = to_model_pixels(train_u8, 28), to_model_pixels(test_u8, 28)
    model = train(args, x_train, train_y)
    test_acc = accuracy(model, x_test, test_y)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {"test_accuracy": f"{test_acc:.4f}", "recipe": json.dumps(recipe(args), sort_keys=True),
                "architecture": "conv32-pool-conv64-pool-conv128-avgpool3-fc128-fc10 (BN+ReLU)",
                "input": "[B,1,28,28] float in [-1,1]"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata=metadata)
    digest = sha256_bytes(out.read_bytes())
    reloaded = accuracy(load_evaluator(weights_path=out, expected_sha256=digest), x_test, test_y)
    print(f"test accuracy: {test_acc:.4f} (reloaded from file: {reloaded:.4f})")
    print(f"saved {out} ({out.stat().st_size / 1024:.0f} KiB)")
    print(f"sha256: {digest}  <- pin as EVALUATOR_SHA256 in ganscale/evaluator.py")


if __name__ == "__main__":
    main()
