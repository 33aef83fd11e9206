"""`ganscale animate RUN_DIR --out progress.gif`: the fixed-noise grids of a run as one animation."""

from __future__ import annotations

from pathlib import Path

from ganscale.errors import UserError

NAME = "animate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="turn a run's saved sample grids into a GIF")
    p.add_argument("run_dir", help="a run directory with samples/*.png")
    p.add_argument("--out", required=True, help="output .gif")
    p.add_argument("--frame-ms", type=int, default=120, help="milliseconds per frame")
    p.add_argument("--max-frames", type=int, default=60, help="evenly thin out longer runs")
    p.add_argument("--size", type=int, default=0, help="resize frames to this width in pixels (0 = as is)")


def pick_frames(paths: list[Path], max_frames: int) -> list[Path]:
    """Evenly spaced frames, always keeping the first and the last grid."""
    if len(paths) <= max_frames:
        return paths
    step = (len(paths) - 1) / (max_frames - 1)
    return [paths[round(i * step)] for i in range(max_frames)]


def run(args) -> int:
    from PIL import Image

    from ganscale.sampling import write_gif

    grids = sorted((Path(args.run_dir) / "samples").glob("kimg-*.png"))
    if not grids:
        raise UserError(f"{args.run_dir}: no samples/kimg-*.png grids (is it a ganscale run directory?)")
    if args.max_frames < 2 or args.frame_ms < 1 or args.size < 0:
        raise UserError("--max-frames must be >= 2, --frame-ms >= 1 and --size >= 0")
    frames = [Image.open(p).convert("L") for p in pick_frames(grids, args.max_frames)]
    if args.size:
        height = round(frames[0].height * args.size / frames[0].width)
        frames = [f.resize((args.size, height), Image.LANCZOS) for f in frames]
    # Hold the last frame so the final result is visible.
    durations = [args.frame_ms] * (len(frames) - 1) + [args.frame_ms * 10]
    write_gif(frames, Path(args.out), durations)
    print(f"wrote {len(frames)} frames ({grids[0].stem} .. {grids[-1].stem}) to {args.out}")
    return 0
