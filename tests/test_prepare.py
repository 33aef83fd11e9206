"""`ganscale prepare`: every source kind on data the tests make, the pixels against a reference resize,
colour handling, the report, the no-op re-run, and the CLI end to end (bad input: test_prepare_errors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganscale.data.prepare import prepare, prepare_or_reuse
from ganscale.data.prepared import PreparedDataset
from ganscale.data.sources.stacked_mnist import DEFAULT_COUNT
from tests import fake_datasets as fake
from tests.helpers import assert_ok, run_cli


def reference(path: Path, resolution: int, mode: str = "RGB") -> np.ndarray:
    """What the docs promise: convert, centre-crop to a square, Lanczos resize; as [C, R, R]."""
    image = Image.open(path).convert(mode)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
    array = np.asarray(image)
    return array[None] if mode == "L" else array.transpose(2, 0, 1)


def opened(out: Path) -> PreparedDataset:
    dataset = PreparedDataset(out)
    dataset.verify()
    return dataset


def test_png_folder_at_its_own_size_keeps_the_pixels_and_is_unlabelled(tmp_path):
    arrays = fake.random_images(5, 16, 16)
    fake.image_folder(tmp_path / "src", arrays)
    info = prepare(str(tmp_path / "src"), tmp_path / "out", progress=False)
    dataset = opened(tmp_path / "out")
    assert (info.count, info.channels, info.resolution, info.labelled) == (5, 3, 16, False)
    assert np.array_equal(dataset.images, arrays.transpose(0, 3, 1, 2))
    assert dataset.labels is None


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_class_folders_give_labels_and_the_pixels_equal_a_reference_resize(tmp_path, suffix):
    arrays = fake.random_images(6, 40, 52)  # not square: centre crop to 40, then 40 -> 16
    paths = fake.image_folder(tmp_path / "src", arrays, suffix, classes=["cat", "dog"])
    info = prepare(str(tmp_path / "src"), tmp_path / "out", resolution=16, labels="folders", progress=False)
    dataset = opened(tmp_path / "out")
    assert info.label_names == ["cat", "dog"] and info.num_classes == 2
    order = sorted(paths, key=lambda p: p.relative_to(tmp_path / "src").as_posix())
    assert list(dataset.labels) == [0 if p.parent.name == "cat" else 1 for p in order]
    for i in (0, 3, 5):
        assert np.array_equal(dataset.images[i], reference(order[i], 16))
    assert info.transforms["resample"] == "lanczos" and info.source["kind"] == "folder"


def test_colour_channels_stay_apart_grey_replicates_and_rgb_to_grey_is_pil_l(tmp_path):
    arrays = fake.random_images(3, 8, 8)
    paths = fake.image_folder(tmp_path / "rgb", arrays)
    prepare(str(tmp_path / "rgb"), tmp_path / "o1", progress=False)
    rgb = opened(tmp_path / "o1")
    assert not np.array_equal(rgb.images[:, 0], rgb.images[:, 1])
    assert not np.array_equal(rgb.images[:, 1], rgb.images[:, 2])
    prepare(str(tmp_path / "rgb"), tmp_path / "o2", channels=1, progress=False)
    assert np.array_equal(opened(tmp_path / "o2").images[1], reference(paths[1], 8, "L"))
    fake.image_folder(tmp_path / "grey", fake.random_images(2, 8, 8, channels=1))
    info = prepare(str(tmp_path / "grey"), tmp_path / "o3", channels=3, progress=False)
    grey = opened(tmp_path / "o3").images
    assert info.channels == 3 and np.array_equal(grey[:, 0], grey[:, 2])


def test_zip_honours_stylegan_dataset_json_labels(tmp_path):
    arrays = fake.random_images(4, 32, 32)
    fake.image_zip(tmp_path / "d.zip", arrays, labels=[3, 1, 4, 1])
    info = prepare(str(tmp_path / "d.zip"), tmp_path / "out", resolution=8, progress=False)
    dataset = opened(tmp_path / "out")
    assert info.labelled and list(dataset.labels) == [3, 1, 4, 1] and info.num_classes == 5
    expected = Image.fromarray(arrays[2]).resize((8, 8), Image.LANCZOS)
    assert np.array_equal(dataset.images[2], np.asarray(expected).transpose(2, 0, 1))


def test_unreadable_images_are_skipped_counted_and_listed(tmp_path):
    fake.image_folder(tmp_path / "src", fake.random_images(3, 8, 8))
    (tmp_path / "src" / "broken.png").write_bytes(b"\x89PNG not really")
    info, reused = prepare_or_reuse(str(tmp_path / "src"), tmp_path / "out", progress=False)
    assert not reused and info.count == 3 and info.skipped["count"] == 1
    assert info.skipped["files"][0].startswith("broken.png: ")


def test_a_rerun_with_the_same_arguments_is_a_no_op(tmp_path):
    fake.image_folder(tmp_path / "src", fake.random_images(3, 8, 8))
    first = prepare(str(tmp_path / "src"), tmp_path / "out", max_images=2, progress=False)
    stamp = (tmp_path / "out" / "dataset.json").stat().st_mtime_ns
    again, reused = prepare_or_reuse(str(tmp_path / "src"), tmp_path / "out", max_images=2, progress=False)
    assert reused and again == first and first.count == 2
    assert (tmp_path / "out" / "dataset.json").stat().st_mtime_ns == stamp


def test_named_mnist_like_from_idx_files_on_disk(tmp_path):
    train, test = fake.random_images(20, 28, 28, channels=1), fake.random_images(4, 28, 28, channels=1)
    labels = np.arange(20) % 10
    fake.idx_files(tmp_path / "FashionMNIST" / "raw", train, labels, test, np.zeros(4))
    info = prepare("fashion-mnist", tmp_path / "out", root=str(tmp_path), max_images=15, progress=False)
    dataset = opened(tmp_path / "out")
    assert (info.count, info.channels, info.resolution, info.num_classes) == (15, 1, 28, 10)
    assert np.array_equal(dataset.images[:, 0], train[:15]) and list(dataset.labels) == list(labels[:15])
    assert info.label_names[0] == "T-shirt/top"
    prepare("fashion-mnist:test", tmp_path / "t", root=str(tmp_path), resolution=16, channels=3,
            progress=False)
    resized = np.asarray(Image.fromarray(test[1]).convert("RGB").resize((16, 16), Image.LANCZOS))
    assert np.array_equal(opened(tmp_path / "t").images[1], resized.transpose(2, 0, 1))


def test_cifar10_from_its_python_batches(tmp_path):
    images, labels = fake.cifar10_batches(tmp_path, per_batch=3)
    info = prepare("cifar10", tmp_path / "out", root=str(tmp_path), progress=False)
    dataset = opened(tmp_path / "out")
    assert (info.count, info.channels, info.resolution) == (15, 3, 32)
    assert np.array_equal(dataset.images, images.transpose(0, 3, 1, 2))
    assert list(dataset.labels) == list(labels) and info.label_names[0] == "airplane"


def test_cifar_batches_that_would_run_code_are_refused(tmp_path):
    fake.cifar10_batches(tmp_path, per_batch=1)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(
        b"cos\nsystem\n(S'echo unpickled > " + str(tmp_path / "ran").encode() + b"'\ntR.")
    with pytest.raises(Exception, match="refusing os.system"):
        prepare("cifar10", tmp_path / "out", root=str(tmp_path), progress=False)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "out").exists()


def test_stl10_from_its_binary_files(tmp_path):
    images, labels = fake.stl10_train(tmp_path, count=3)
    info = prepare("stl10", tmp_path / "out", root=str(tmp_path), resolution=32, progress=False)
    dataset = opened(tmp_path / "out")
    assert list(dataset.labels) == list(labels) and info.label_names[9] == "class9"
    expected = np.asarray(Image.fromarray(images[2]).resize((32, 32), Image.LANCZOS)).transpose(2, 0, 1)
    assert np.array_equal(dataset.images[2], expected)


def test_celeba_split_from_its_partition_list(tmp_path):
    folder = tmp_path / "celeba" / "img_align_celeba"
    paths = fake.image_folder(folder, fake.random_images(3, 22, 18), ".jpg")
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text(
        "".join(f"{p.name} {split}\n" for p, split in zip(paths, (0, 2, 0), strict=True)))
    info = prepare("celeba:train", tmp_path / "out", root=str(tmp_path), resolution=8, progress=False)
    dataset = opened(tmp_path / "out")
    assert info.count == 2 and not info.labelled and info.source["options"]["split"] == "train"
    assert np.array_equal(dataset.images[1], reference(paths[2], 8))


@pytest.mark.parametrize("resolution", [28, 32])
def test_stacked_mnist_stacks_three_seeded_digits_one_per_channel(tmp_path, mnist_root, resolution):
    from ganscale.data.mnist import load_mnist

    info = prepare("stacked-mnist", tmp_path / "out", root=str(mnist_root), count=40, seed=7,
                   resolution=resolution, progress=False)
    dataset = opened(tmp_path / "out")
    digits, classes = load_mnist(mnist_root)
    picks = np.random.default_rng(7).integers(0, len(digits), size=(40, 3))
    stack = digits.numpy()[picks]  # [40, 3, 28, 28]
    assert list(dataset.labels) == list(classes.numpy()[picks] @ [100, 10, 1])
    assert (info.num_classes, info.label_names[123], info.channels) == (1000, "123", 3)
    if resolution == 28:
        assert np.array_equal(dataset.images, stack)
    else:
        expected = Image.fromarray(stack[5].transpose(1, 2, 0)).resize((32, 32), Image.LANCZOS)
        assert np.array_equal(dataset.images[5], np.asarray(expected).transpose(2, 0, 1))
    assert DEFAULT_COUNT == 128_000


def test_huggingface_saved_dataset_and_parquet(tmp_path):
    datasets = pytest.importorskip("datasets")
    arrays = fake.random_images(4, 12, 12)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    table = datasets.Dataset.from_dict({"image": [Image.fromarray(a) for a in arrays], "label": [0, 1, 1, 0]},
                                       features=features)
    table.save_to_disk(str(tmp_path / "saved"))
    info = prepare(str(tmp_path / "saved"), tmp_path / "out", resolution=8, progress=False)
    dataset = opened(tmp_path / "out")
    assert info.label_names == ["a", "b"] and list(dataset.labels) == [0, 1, 1, 0]
    expected = np.asarray(Image.fromarray(arrays[3]).resize((8, 8), Image.LANCZOS)).transpose(2, 0, 1)
    assert np.array_equal(dataset.images[3], expected)
    table.rename_column("image", "picture").to_parquet(str(tmp_path / "rows.parquet"))
    info = prepare(f"hf:{tmp_path / 'rows.parquet'}", tmp_path / "pq", image_column="picture", progress=False)
    assert info.count == 4 and info.resolution == 12
    assert np.array_equal(opened(tmp_path / "pq").images, arrays.transpose(0, 3, 1, 2))


@pytest.mark.slow
def test_cli_prepares_verifies_and_says_a_rerun_is_a_no_op(tmp_path, cli_env):
    fake.image_folder(tmp_path / "src", fake.random_images(4, 20, 20), ".jpg", classes=["x", "y"])
    args = ["prepare", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--resolution", "16",
            "--labels", "folders", "--quiet"]
    first = run_cli(args, cli_env, timeout=120)
    assert_ok(first)
    assert "prepared 4 images of 3x16x16, 2 classes" in first.stdout
    tree = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert tree["command"].startswith("ganscale prepare ") and "--labels folders" in tree["command"]
    second = run_cli(args, cli_env, timeout=120)
    assert_ok(second)
    assert "nothing to do" in second.stdout
    checked = run_cli(["prepare", "--verify", str(tmp_path / "out")], cli_env, timeout=120)
    assert_ok(checked)
    assert "OK, 4 images" in checked.stdout


@pytest.mark.slow
def test_cli_prepares_mnist_from_the_data_folder_fast(tmp_path, cli_env):
    result = run_cli(["prepare", "mnist", "--out", str(tmp_path / "mnist"), "--quiet"], cli_env, timeout=120)
    assert_ok(result)
    assert "prepared 60000 images of 1x28x28, 10 classes" in result.stdout
