"""`ganscale prepare SOURCE --out DIR`: turn images (a folder, a zip, a named or Hugging Face dataset,
stacked-mnist) into a prepared dataset once; `ganscale prepare --verify DIR` re-checks every byte."""

from __future__ import annotations

import shlex

from ganscale.errors import UserError

NAME = "prepare"
SHOWN_SKIPS = 10
# flag: default (a flag left at its default is not written into the recorded command)
RECORDED = {"resolution": None, "channels": None, "crop": "center", "labels": "auto", "max_images": None,
            "root": None, "image_column": "image", "label_column": None, "strict": False, "seed": 0,
            "count": None}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="make a prepared dataset (memory-mappable uint8) from images")
    p.add_argument("source", nargs="?", help="folder, .zip, .parquet, a dataset name (mnist, cifar10, ...), "
                   "hf:NAME[:split], or stacked-mnist")
    p.add_argument("--out", help="output folder (the prepared dataset)")
    p.add_argument("--resolution", type=int, help="square size: 28, or a power of two 8..1024 "
                   "(default: the source's own)")
    p.add_argument("--channels", type=int, help="1 (grey) or 3 (RGB) (default: the source's own)")
    p.add_argument("--crop", default="center", help="center (largest centred square) or none "
                   "(square images only)")
    p.add_argument("--labels", default="auto", help="auto (the source's own labels: a dataset's classes, "
                   "StyleGAN's dataset.json), folders (first-level sub-folder names) or none")
    p.add_argument("--max-images", type=int, help="keep the first N images")
    p.add_argument("--root", help="folder holding a named dataset's files (default: download them)")
    p.add_argument("--image-column", default="image", help="Hugging Face: the image column")
    p.add_argument("--label-column", help="Hugging Face: the label column (default: 'label' if present)")
    p.add_argument("--strict", action="store_true", help="an unreadable image is an error, not a skip")
    p.add_argument("--seed", type=int, default=0, help="stacked-mnist: the seed that draws the digits")
    p.add_argument("--count", type=int, help="stacked-mnist: how many images (default 128000, PacGAN's)")
    p.add_argument("--verify", metavar="DIR", help="check a prepared dataset's every byte against its "
                   "checksum (no SOURCE then)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def recorded_command(args) -> str:
    """The command line that makes this dataset again, written into dataset.json."""
    words = ["ganscale", NAME, args.source, "--out", args.out]
    for key, default in RECORDED.items():
        value = getattr(args, key)
        if value != default:
            flag = "--" + key.replace("_", "-")
            words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


def verify(directory: str) -> int:
    from ganscale.data.prepared import PreparedDataset

    dataset = PreparedDataset(directory, quick_check=False)
    dataset.verify()
    info = dataset.info
    print(f"{directory}: OK, {info.count} images of {info.channels}x{info.resolution}x{info.resolution}, "
          "every byte matches the checksum")
    return 0


def report(info, out: str, reused: bool) -> None:
    shape = f"{info.channels}x{info.resolution}x{info.resolution}"
    labels = f", {info.num_classes} classes" if info.labelled else ", unlabelled"
    if reused:
        print(f"{out}: already prepared with these arguments ({info.count} images of {shape}{labels}); "
              "nothing to do")
        return
    print(f"prepared {info.count} images of {shape}{labels} into {out}")
    skipped = info.skipped.get("count", 0)
    if skipped:
        print(f"skipped {skipped} unreadable image(s) (all listed in {out}/dataset.json, up to 100):")
        for line in info.skipped["files"][:SHOWN_SKIPS]:
            print(f"  {line}")


def run(args) -> int:
    if args.verify:
        if args.source or args.out:
            raise UserError("--verify DIR checks a prepared dataset; give it no SOURCE or --out")
        return verify(args.verify)
    if not args.source or not args.out:
        raise UserError("give a SOURCE and --out DIR (or --verify DIR)")
    from ganscale.data.prepare import prepare_or_reuse

    options = {key: getattr(args, key) for key in RECORDED}
    info, reused = prepare_or_reuse(args.source, args.out, progress=not args.quiet,
                                    command=recorded_command(args), **options)
    report(info, args.out, reused)
    return 0
