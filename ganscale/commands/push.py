"""`ganscale push --checkpoint PATH --repo OWNER/NAME [--private] [--revision R] [--dry-run --out DIR]`:
share G_ema on the Hugging Face Hub with a model card (share.py builds the folder, hub.py uploads it).

`--dry-run --out DIR` writes exactly the folder that would be uploaded and talks to no server, so it
can be checked (and loaded: `ganscale sample --checkpoint DIR`) before anything is public.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from ganscale.commands.generator_args import ANY_GENERATOR, add_trust_arch
from ganscale.errors import UserError

NAME = "push"
LICENSE = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="upload G_ema with a model card to the Hugging Face Hub")
    p.add_argument("--checkpoint", required=True, help=ANY_GENERATOR)
    p.add_argument("--repo", required=True, help="the Hub model repository, OWNER/NAME (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", help="the branch to push to (created if missing; default main)")
    p.add_argument("--license", default="other", help="the card's license id, e.g. mit or apache-2.0 "
                   "(default: other)")
    p.add_argument("--dataset", action="append", help="the Hub id of the training dataset for the card "
                   "(default: inferred from the run's data; repeatable)")
    p.add_argument("--dry-run", action="store_true", help="upload nothing; write the folder to --out")
    p.add_argument("--out", help="with --dry-run: the folder to write")
    add_trust_arch(p)


def _check(args) -> None:
    from ganscale.hub import check_repo_id, require_hub

    check_repo_id(args.repo)
    if args.dry_run != bool(args.out):
        raise UserError("--dry-run and --out go together: --dry-run --out DIR writes the folder without "
                        "uploading it")
    if not LICENSE.match(args.license):
        raise UserError(f"--license {args.license!r}: expected a Hub license id such as mit, apache-2.0 or "
                        "other")
    if args.revision is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", args.revision):
        raise UserError(f"--revision {args.revision!r}: expected a branch name")
    require_hub()  # the card is written with huggingface_hub too, so even --dry-run needs the extra


def run(args) -> int:
    _check(args)  # before torch is imported: a mistake is answered at once
    from ganscale.hub import upload
    from ganscale.share import check_out, write_folder

    options = {"license": args.license, "datasets": args.dataset, "trust_arch": args.trust_arch}
    if args.dry_run:
        out = Path(args.out)
        check_out(out)
        write_folder(args.checkpoint, out, args.repo, **options)
        print(f"wrote the repository for {args.repo} to {out} (nothing uploaded)")
        return 0
    with tempfile.TemporaryDirectory(prefix="ganscale-push-") as tmp:
        folder = write_folder(args.checkpoint, Path(tmp) / "repo", args.repo, **options)
        url = upload(folder, args.repo, private=args.private, revision=args.revision)
    print(f"pushed G_ema of {args.checkpoint} to {url}")
    return 0
