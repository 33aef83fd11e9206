"""Checkpoints are safetensors + JSON, written atomically, found by content, loaded without pickle."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from ganscale.checkpoint import (
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
    weights = {key: model.state_dict() for key in ("generator", "discriminator", "generator_ema")}
    optimizers = {"optimizer_g": opt.state_dict(), "optimizer_d": opt.state_dict()}
    return write_checkpoint(root, name, weights, optimizers, {"cur_nimg": nimg, "step": nimg // 10})


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
    forbid_pickle(monkeypatch)
    state, weights, optimizers = load_checkpoint(path)
    assert state["cur_nimg"] == 1000
    for key, value in model.state_dict().items():
        assert torch.equal(weights["generator"][key], value)
    opt.load_state_dict(optimizers["optimizer_g"])


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
        write_checkpoint(tmp_path, "bad", {"generator": {"w": "not a tensor"}}, {}, {"cur_nimg": 1})
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
