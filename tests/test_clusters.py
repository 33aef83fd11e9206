"""Self-conditioning: balanced k-means labels and the models conditioned on them (conditioning=clusters)."""

import pytest
import torch

from ganscale.checkpoint import export_generator
from ganscale.cli import main
from ganscale.clusters import balanced_assign, cluster_labels, deskew
from ganscale.config import load_config
from ganscale.errors import UserError
from ganscale.models import build_models
from tests.helpers import TINY, assert_ok, run_cli


def test_balanced_assign_respects_capacity_and_prefers_the_nearest():
    distances = torch.tensor([[0.0, 9.0], [0.1, 9.0], [0.2, 0.3], [5.0, 0.0]])
    assert balanced_assign(distances).tolist() == [0, 0, 1, 1]  # row 2 is least sure, so it yields


def test_cluster_labels_find_obvious_groups_in_equal_sizes():
    torch.manual_seed(0)
    dark = torch.randint(0, 30, (60, 28, 28), dtype=torch.uint8)
    bright = torch.randint(200, 255, (60, 28, 28), dtype=torch.uint8)
    images = torch.cat([dark, bright])
    labels = cluster_labels(images, 2, seed=3)
    assert torch.bincount(labels).tolist() == [60, 60]
    assert len(set(labels[:60].tolist())) == 1 and labels[0] != labels[60]
    assert torch.equal(labels, cluster_labels(images, 2, seed=3))  # every rank gets the same clusters


def test_deskew_stands_a_slanted_stroke_upright_in_the_centre():
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    for row in range(4, 24):  # a "1" leaning right by 1 column per 2 rows, off to the left
        image[0, row, 4 + (23 - row) // 2: 6 + (23 - row) // 2] = 255

    def spread_and_centre(x):
        mass = x.sum(dim=0)  # per column
        cols = torch.arange(28.0)
        centre = (mass * cols).sum() / mass.sum()
        return ((mass * (cols - centre) ** 2).sum() / mass.sum()).item(), centre.item()

    upright = deskew(image)[0]
    spread_before, _ = spread_and_centre(image[0].float() / 255)
    spread_after, centre_after = spread_and_centre(upright)
    assert spread_before > 8 and spread_after < 1.5  # columns 4..16 -> about two columns
    assert abs(centre_after - 13.5) < 0.5 and abs(upright.sum().item() - image.sum().item() / 255) < 4


def test_clusters_need_a_conditional_arch():
    with pytest.raises(UserError, match="model.conditioning=clusters needs arch cgan"):
        load_config("mnist-dcgan-plain", overrides=["model.conditioning=clusters"])
    assert load_config("mnist-dcgan").model.conditioning == "clusters"


def test_a_cluster_model_has_no_digits_to_ask_for(tmp_path, capsys):
    cfg = load_config("mnist-dcgan")
    generator, _ = build_models(cfg.model)
    exported = export_generator(cfg.to_dict(), generator.state_dict(), tmp_path / "g.safetensors")
    assert main(["sample", "--checkpoint", str(exported), "--num", "4", "--digit", "3",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "k-means clusters of the images, not digits" in capsys.readouterr().err
    out = str(tmp_path / "x.png")
    assert main(["sample", "--checkpoint", str(exported), "--num", "30", "--out", out]) == 0


def test_evaluation_of_a_cluster_model_has_no_cond_accuracy():
    from ganscale.eval import digit_labels, generate_sharded

    cfg = load_config("mnist-dcgan")
    generator, _ = build_models(cfg.model)
    _, requested = generate_sharded(generator.eval(), cfg.model, 60, seed=0)
    assert requested is not None and requested.max() >= 10  # cluster ids, not digits
    assert digit_labels(cfg.model, requested) is None
    cgan = load_config("mnist-cgan").model
    assert digit_labels(cgan, requested) is requested


def test_self_conditioned_training_end_to_end(tmp_path, cli_env):
    run_dir = tmp_path / "selfcond"
    assert_ok(run_cli(["train", "--preset", "mnist-dcgan", "--run-dir", str(run_dir), *TINY,
                       "train.max_kimg=0.064"], cli_env))
    assert (run_dir / "checkpoints").is_dir() and list((run_dir / "samples").glob("kimg-*.png"))


@pytest.mark.slow
def test_clusters_are_computed_once_by_rank_0(mnist_root):
    """Resume and rollback rebuild the batch stream; the ~10 s clustering must not run again."""
    from ganscale.data import make_batches
    from ganscale.data.resolve import cluster_ids as clustered_mnist

    clustered_mnist.cache_clear()
    cfg = load_config("mnist-dcgan", overrides=[f"data.root={mnist_root}"])
    for position in (0, 640):
        batches = make_batches(cfg.data, cfg.model, batch_size=8, rank=0, world=1, seed=0,
                               device=torch.device("cpu"), position=position)
        _, labels = next(batches)
        assert labels.max() < cfg.model.num_classes
    assert clustered_mnist.cache_info().misses == 1  # clustered once, then the same labels again
    # With several ranks every rank takes rank 0's labels (`agree`, a broadcast in the trainer).
    batches = make_batches(cfg.data, cfg.model, batch_size=8, rank=0, world=2, seed=0,
                           device=torch.device("cpu"), agree=lambda labels: labels * 0 + 7)
    assert next(batches)[1].tolist() == [7] * 8 and clustered_mnist.cache_info().misses == 1
    # ... and only rank 0 clusters: rank 1 hands `agree` a placeholder (all zeros, not 100 clusters)
    # and keeps what comes back.
    seen = []
    batches = make_batches(cfg.data, cfg.model, batch_size=8, rank=1, world=2, seed=0,
                           device=torch.device("cpu"), agree=lambda labels: seen.append(labels) or labels + 3)
    assert next(batches)[1].tolist() == [3] * 8
    assert seen[0].unique().tolist() == [0] and len(seen[0]) == 60_000
    clustered_mnist.cache_clear()
