"""tools/curve.py: the SVG holds one line per (run, key) through every logged point; bad input exits 2."""

import json
import xml.etree.ElementTree as ET

import pytest

from tools import curve


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_one_polyline_per_run_and_key_through_every_point(tmp_path, capsys):
    a = _write(tmp_path / "a" / "metrics.jsonl", [
        {"kimg": 1.0, "aug_p": 0.0, "aug_rt": 0.7}, {"kimg": 2.0, "loss_D": 1.0},
        {"kimg": 3.0, "aug_p": 0.1, "aug_rt": 0.6}, {"kimg": 5.0, "aug_p": 0.2, "aug_rt": 0.55}])
    b = _write(tmp_path / "b" / "metrics.jsonl", [{"kimg": 2.0, "aug_p": 0.3}])
    out = tmp_path / "curve.svg"
    assert curve.main([f"ada={a}", str(b), "--key", "aug_p", "--key", "aug_rt", "--out", str(out)]) == 0
    root = ET.fromstring(out.read_text())
    lines = [el for el in root.iter() if el.tag.endswith("polyline")]
    assert [len(el.get("points").split()) for el in lines] == [3, 3, 1]  # b has no aug_rt
    labels = [el.text for el in root.iter() if el.tag.endswith("text")]
    assert {"ada aug_p", "ada aug_rt", "b aug_p"} <= set(labels)
    xs = [float(p.split(",")[0]) for p in lines[0].get("points").split()]
    assert xs == sorted(xs) and len(set(xs)) == 3  # kimg grows left to right
    assert "wrote" in capsys.readouterr().out


def test_records_with_only_a_step_are_placed_between_the_logged_kimg(tmp_path):
    run = _write(tmp_path / "metrics.jsonl", [
        {"step": 50, "kimg": 3.2, "loss_D": 1.0}, {"step": 100, "kimg": 6.4, "loss_D": 0.9},
        {"step": 75, "eval/kl": 2.0}, {"step": 100, "eval/kl": 1.0}, {"step": 500, "eval/kl": 0.5}])
    assert curve.read_points(run, "eval/kl") == [(pytest.approx(4.8), 2.0), (6.4, 1.0)]  # 500: unknown


def test_missing_file_or_key_is_exit_2(tmp_path, capsys):
    a = _write(tmp_path / "metrics.jsonl", [{"kimg": 1.0, "loss_D": 1.0}])
    assert curve.main([str(tmp_path / "nope.jsonl"), "--key", "x", "--out", str(tmp_path / "o.svg")]) == 2
    assert curve.main([str(a), "--key", "eval/fid", "--out", str(tmp_path / "o.svg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "nope.jsonl" in err[0] and "eval/fid" in err[1]
    assert not (tmp_path / "o.svg").exists()
