"""Progress GIFs and latent interpolations from the CLI."""

import torch
from PIL import Image

from ganscale.checkpoint import export_generator
from ganscale.cli import main
from ganscale.commands.animate import pick_frames
from ganscale.commands.interpolate import slerp
from ganscale.config import load_config
from ganscale.models import build_models
from ganscale.sampling import save_grid


def exported_generator(tmp_path, preset="mnist-dcgan"):
    cfg = load_config(preset)
    torch.manual_seed(0)
    generator, _ = build_models(cfg.model)
    return export_generator(cfg.to_dict(), generator.state_dict(), tmp_path / f"{preset}.safetensors")


def test_animate_makes_a_looping_gif_in_training_order(tmp_path, capsys):
    samples = tmp_path / "run" / "samples"
    for i, nimg in enumerate([0, 5000, 10000, 120000]):
        save_grid(torch.full((4, 1, 28, 28), -1.0 + 0.5 * i), samples / f"kimg-{nimg // 1000:06d}.000.png")
    assert main(["animate", str(tmp_path / "run"), "--out", str(tmp_path / "p.gif")]) == 0
    gif = Image.open(tmp_path / "p.gif")
    assert gif.n_frames == 4 and gif.info["loop"] == 0
    first = gif.convert("L").getpixel((10, 10))
    gif.seek(3)
    assert gif.convert("L").getpixel((10, 10)) - first > 150  # grids in kimg order: brightest last
    assert main(["animate", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.gif")]) == 2
    assert "no samples/kimg-*.png" in capsys.readouterr().err


def test_pick_frames_keeps_both_ends():
    frames = pick_frames(list(range(100)), 5)
    assert frames[0] == 0 and frames[-1] == 99 and len(frames) == 5


def test_slerp_keeps_the_ends_and_the_norm():
    torch.manual_seed(0)
    a, b = torch.randn(3, 100), torch.randn(3, 100)
    path = slerp(a, b, torch.linspace(0, 1, 7))
    assert torch.allclose(path[:, 0], a, atol=1e-5) and torch.allclose(path[:, -1], b, atol=1e-5)
    # No dip towards 0 on the way (a straight line would lose ~30% of the norm in the middle).
    smaller_end = torch.minimum(a.norm(dim=-1), b.norm(dim=-1)).unsqueeze(-1)
    assert (path.norm(dim=-1) > 0.95 * smaller_end).all()


def test_interpolate_strip_and_gif(tmp_path):
    exported = exported_generator(tmp_path)
    assert main(["interpolate", "--checkpoint", str(exported), "--out", str(tmp_path / "s.png"),
                 "--steps", "6", "--rows", "2"]) == 0
    assert Image.open(tmp_path / "s.png").size == (6 * 30 + 2, 2 * 30 + 2)
    assert main(["interpolate", "--checkpoint", str(exported), "--out", str(tmp_path / "s.gif"),
                 "--steps", "4", "--rows", "2"]) == 0
    assert Image.open(tmp_path / "s.gif").n_frames == 6  # 4 steps there, 2 back


def test_interpolate_conditional_rows_keep_their_digit(tmp_path, capsys):
    exported = exported_generator(tmp_path, "mnist-cgan")
    assert main(["interpolate", "--checkpoint", str(exported), "--out", str(tmp_path / "c.png"),
                 "--digit", "7", "--steps", "3", "--rows", "1"]) == 0
    assert main(["interpolate", "--checkpoint", str(exported), "--out", str(tmp_path / "c.png"),
                 "--digit", "12"]) == 2
    assert "--digit 12" in capsys.readouterr().err


def test_conditional_sample_grid_has_one_row_per_digit(tmp_path):
    """`ganscale sample` of a cGAN to .png: 30 samples -> 10 rows (digits 0..9) of 3."""
    from ganscale.commands.sample import noise_and_layout

    exported = exported_generator(tmp_path, "mnist-cgan")
    out = tmp_path / "g.png"
    assert main(["sample", "--checkpoint", str(exported), "--num", "30", "--out", str(out)]) == 0
    assert Image.open(out).size == (3 * 30 + 2, 10 * 30 + 2)
    _, asked, nrow = noise_and_layout(load_config("mnist-cgan").model, 30, 0, None, ".png")  # what it drew
    assert nrow == 3 and asked.tolist() == [d for d in range(10) for _ in range(3)]
