"""Bad input to `ganscale prepare`: each is one stderr line and exit 2, and nothing half-written is
left (no output folder, or the old one unchanged, and no hidden temporary beside it)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from ganscale.cli import main
from ganscale.data.prepared import IMAGES_FILE, INFO_FILE, LABELS_FILE
from tests import fake_datasets as fake
from tests.helpers import run_cli


def fails(capsys, *args: str) -> str:
    """Run `ganscale prepare ARGS` in this process; return its one error line."""
    status = main(["prepare", *args, "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, (status, err)
    assert err[0].startswith("ganscale prepare: error: ")
    return err[0]


def nothing_left(folder: Path, out: Path) -> None:
    assert not out.exists()
    assert [p.name for p in folder.iterdir() if ".tmp-" in p.name] == []


def images(folder: Path, count: int = 2, size: int = 8) -> Path:
    fake.image_folder(folder, fake.random_images(count, size, size))
    return folder


def test_a_source_that_does_not_exist(tmp_path, capsys):
    assert "no such file or folder" in fails(capsys, str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    nothing_left(tmp_path, tmp_path / "o")


def test_an_unknown_dataset_name_lists_the_known_ones(tmp_path, capsys):
    line = fails(capsys, "imagenet", "--out", str(tmp_path / "o"))
    assert "unknown dataset name" in line and "mnist, fashion-mnist, kmnist, cifar10" in line
    assert "celeba" in line and "stacked-mnist" in line


def test_an_empty_folder_and_one_without_images(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "empty" in fails(capsys, str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("hello")
    assert "no images" in fails(capsys, str(tmp_path / "text"), "--out", str(tmp_path / "o"))
    nothing_left(tmp_path, tmp_path / "o")


def test_mixed_sizes_without_a_resolution_and_non_square_without_a_crop(tmp_path, capsys):
    src = images(tmp_path / "src", size=8)
    fake.image_folder(src / "z", fake.random_images(1, 16, 16))  # sorts after the 8x8 ones
    line = fails(capsys, str(src), "--out", str(tmp_path / "o"))
    assert "mixes sizes" in line and "--resolution" in line
    nothing_left(tmp_path, tmp_path / "o")  # the first images were already in the temporary
    wide = tmp_path / "wide"
    fake.image_folder(wide, fake.random_images(1, 8, 12))
    assert "not square" in fails(capsys, str(wide), "--out", str(tmp_path / "o"), "--crop", "none",
                                 "--resolution", "8")
    nothing_left(tmp_path, tmp_path / "o")


def test_a_corrupt_zip(tmp_path, capsys):
    (tmp_path / "d.zip").write_bytes(b"PK\x03\x04 truncated")
    assert "not a readable zip" in fails(capsys, str(tmp_path / "d.zip"), "--out", str(tmp_path / "o"))
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    assert "no images" in fails(capsys, str(tmp_path / "empty.zip"), "--out", str(tmp_path / "o"))
    nothing_left(tmp_path, tmp_path / "o")


@pytest.mark.parametrize("flag,value,expected", [
    ("--resolution", "100", "allowed are 28 and the powers of two from 8 to 1024"),
    ("--channels", "2", "allowed are 1 (grey) and 3 (RGB)"),
    ("--crop", "edge", "allowed are center and none"),
    ("--labels", "files", "allowed are auto, folders, none"),
    ("--max-images", "0", "at least 1"),
    ("--count", "10", "only stacked-mnist takes a count"),
    ("--root", "/tmp", "only dataset names"),
])
def test_bad_options_name_the_value_and_what_is_allowed(tmp_path, capsys, flag, value, expected):
    line = fails(capsys, str(images(tmp_path / "src")), "--out", str(tmp_path / "o"), flag, value)
    assert f"{flag} {value}" in line and expected in line
    nothing_left(tmp_path, tmp_path / "o")


def test_stacked_mnist_is_made_at_28_or_32_only(tmp_path, capsys):
    assert "28 or 32" in fails(capsys, "stacked-mnist", "--out", str(tmp_path / "o"), "--resolution", "64")


def test_an_output_that_exists_and_is_not_a_prepared_dataset(tmp_path, capsys):
    src = images(tmp_path / "src")
    (tmp_path / "file").write_text("mine")
    assert "a file, not a folder" in fails(capsys, str(src), "--out", str(tmp_path / "file"))
    assert (tmp_path / "file").read_text() == "mine"
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    assert "not a prepared dataset" in fails(capsys, str(src), "--out", str(tmp_path / "busy"))
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["keep.txt"]


def test_labels_folders_needs_class_sub_folders(tmp_path, capsys):
    line = fails(capsys, str(images(tmp_path / "src")), "--out", str(tmp_path / "o"), "--labels", "folders")
    assert "class sub-folder" in line
    nothing_left(tmp_path, tmp_path / "o")


def test_strict_turns_an_unreadable_image_into_an_error(tmp_path, capsys):
    src = images(tmp_path / "src")
    (src / "zz.png").write_bytes(b"broken")
    assert "zz.png: unreadable image" in fails(capsys, str(src), "--out", str(tmp_path / "o"), "--strict")
    nothing_left(tmp_path, tmp_path / "o")


def test_named_dataset_files_that_are_not_there(tmp_path, capsys):
    line = fails(capsys, "mnist", "--out", str(tmp_path / "o"), "--root", str(tmp_path))
    assert "no readable IDX files" in line
    line = fails(capsys, "cifar10", "--out", str(tmp_path / "o"), "--root", str(tmp_path))
    assert "data_batch_1: missing" in line
    nothing_left(tmp_path, tmp_path / "o")


def test_huggingface_without_the_named_column(tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({"image": [np.zeros((4, 4, 3), np.uint8).tolist()], "y": [0]})
    table.save_to_disk(str(tmp_path / "saved"))
    capsys.readouterr()  # the library's own progress bar
    line = fails(capsys, str(tmp_path / "saved"), "--out", str(tmp_path / "o"), "--label-column", "label")
    assert "no column 'label'" in line and "columns: image, y" in line
    nothing_left(tmp_path, tmp_path / "o")


def prepared(tmp_path: Path) -> Path:
    fake.image_folder(tmp_path / "src", fake.random_images(3, 8, 8), classes=["a", "b"])
    assert main(["prepare", str(tmp_path / "src"), "--out", str(tmp_path / "ds"), "--labels", "folders",
                 "--quiet"]) == 0
    return tmp_path / "ds"


def test_verify_a_good_dataset_says_ok_with_the_count(tmp_path, capsys):
    out = prepared(tmp_path)
    capsys.readouterr()
    assert main(["prepare", "--verify", str(out)]) == 0
    assert "OK, 3 images of 3x8x8" in capsys.readouterr().out


@pytest.mark.parametrize("damage,expected", [
    (lambda d: (d / IMAGES_FILE).unlink(), "missing, expected 576 bytes"),
    (lambda d: (d / IMAGES_FILE).write_bytes((d / IMAGES_FILE).read_bytes()[1:]), "575 bytes, expected 576 "),
    (lambda d: (d / LABELS_FILE).unlink(), "missing, expected 24 bytes"),
    (lambda d: (d / INFO_FILE).unlink(), "not a prepared dataset"),
])
def test_verify_a_missing_or_truncated_array(tmp_path, capsys, damage, expected):
    out = prepared(tmp_path)
    damage(out)
    assert expected in fails(capsys, "--verify", str(out))


@pytest.mark.parametrize("target", [IMAGES_FILE, LABELS_FILE])
def test_verify_catches_one_flipped_byte(tmp_path, capsys, target):
    out = prepared(tmp_path)
    data = bytearray((out / target).read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / target).write_bytes(bytes(data))
    assert "checksum mismatch" in fails(capsys, "--verify", str(out))


@pytest.mark.slow
def test_the_cli_process_prints_one_line_and_exits_2(tmp_path, cli_env):
    args = ["prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]
    result = run_cli(args, cli_env, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"ganscale prepare: error: {tmp_path / 'missing'}: "
                                                  "no such file or folder"]
