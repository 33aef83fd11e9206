"""Checkpoints are safetensors + JSON, written atomically, found by content, loaded without pickle."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from ganscale.checkpoint import (
    TENSOR_FILES,
    Snapshot,
    TrainState,
    flatten_optimizer,
    is_complete,
    latest_checkpoint,
    load_checkpoint,
    load_generator_weights,
    prune,
    read_tensors,
    unflatten_optimizer,
    write_checkpoint,
)
from ganscale.errors import UserError


def forbid_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading a checkpoint")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)


def adam_state():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.99))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    return model, opt


def write(root, name, nimg, model, opt):
    snapshot = Snapshot(generator=model.state_dict(), discriminator=model.state_dict(),
                        generator_ema=model.state_dict(), optimizer_g=opt.state_dict(),
                        optimizer_d=opt.state_dict(), state=TrainState(step=nimg // 10, cur_nimg=nimg))
    return write_checkpoint(root, name, snapshot)


def test_optimizer_state_round_trip():
    _, opt = adam_state()
    tensors, metadata = flatten_optimizer(opt.state_dict())
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    restored = unflatten_optimizer(tensors, metadata)
    original = opt.state_dict()
    assert restored["param_groups"][0]["lr"] == original["param_groups"][0]["lr"]
    for pid, entry in original["state"].items():
        for key, value in entry.items():
            assert torch.equal(restored["state"][pid][key], value)
    opt.load_state_dict(restored)


def test_round_trip_without_pickle(tmp_path, monkeypatch):
    model, opt = adam_state()
    path = write(tmp_path, "a", 1000, model, opt)
    assert sorted(p.name for p in path.iterdir()) == [
        "discriminator.safetensors", "generator.safetensors", "generator_ema.safetensors",
        "optimizer_d.safetensors", "optimizer_g.safetensors", "state.json"]
    tensor_files = sorted(p.name for p in path.iterdir() if p.suffix == ".safetensors")
    assert tensor_files == sorted(f"{name}.safetensors" for name in TENSOR_FILES)
    forbid_pickle(monkeypatch)
    snapshot = load_checkpoint(path)
    assert snapshot.state.cur_nimg == 1000
    for key, value in model.state_dict().items():
        assert torch.equal(snapshot.generator[key], value)
    opt.load_state_dict(snapshot.optimizer_g)


def test_latest_is_chosen_by_saved_progress_not_by_name(tmp_path):
    model, opt = adam_state()
    write(tmp_path, "zzz-old", 500, model, opt)
    newest = write(tmp_path, "aaa-new", 2000, model, opt)
    (tmp_path / ".tmp-kimg-000003-abc").mkdir()  # an interrupted write
    half = tmp_path / "half"  # a directory missing files
    half.mkdir()
    (half / "state.json").write_text(json.dumps({"cur_nimg": 99999}))
    assert not is_complete(half)
    assert latest_checkpoint(tmp_path) == newest


def test_prune_keeps_the_newest(tmp_path):
    model, opt = adam_state()
    paths = [write(tmp_path, f"c{i}", i * 100, model, opt) for i in range(5)]
    (tmp_path / ".tmp-x").mkdir()
    prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [paths[3].name, paths[4].name]


def test_failed_write_leaves_nothing(tmp_path):
    model, opt = adam_state()
    with pytest.raises(Exception):  # noqa: B017 - a non-tensor value makes safetensors fail mid-write
        write_checkpoint(tmp_path, "bad", Snapshot(generator={"w": "not a tensor"}, discriminator={},
                                                    generator_ema={}, optimizer_g={}, optimizer_d={}))
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "g.safetensors"
    save_file({"w": torch.randn(100, 100)}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a readable safetensors file") as err:
        read_tensors(path)
    assert "\n" not in str(err.value)


def test_foreign_safetensors_is_not_a_generator(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(UserError, match="not a ganscale generator export"):
        load_generator_weights(path)


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_generator_weights(path)
    with pytest.raises(UserError, match="expected a checkpoint directory"):
        load_generator_weights(tmp_path / "nowhere")


def test_state_files_of_earlier_versions_still_load(tmp_path):
    """Before the schema had a type, state.json stored the position twice and best/ alone had metrics."""
    model, opt = adam_state()
    path = write(tmp_path, "old", 1600, model, opt)
    old = {"step": 100, "cur_nimg": 1600, "data_position": 1600, "lr_scale": 0.5, "world_size": 2,
           "config": {}, "fingerprint": "f", "rng": [], "scaler_g": {}, "scaler_d": {}}
    (path / "state.json").write_text(json.dumps(old))
    state = load_checkpoint(path).state
    assert (state.step, state.cur_nimg, state.lr_scale, state.world_size) == (100, 1600, 0.5, 2)
    assert state.metrics == {}
    del old["cur_nimg"]  # the position under its other name only
    assert TrainState.from_json(old).cur_nimg == 1600


def test_a_broken_state_file_is_one_line(tmp_path):
    model, opt = adam_state()
    path = write(tmp_path, "x", 10, model, opt)
    (path / "state.json").write_text(json.dumps({"step": 1}))
    with pytest.raises(UserError, match="not a ganscale checkpoint") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)
