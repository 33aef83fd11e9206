"""Sharing a generator through the Hugging Face Hub: `hf://OWNER/NAME[@REVISION]` ids, the folder
`ganscale push` uploads, the upload, and the download `load_generator("hf://...")` starts with.

Everything goes through huggingface_hub (the optional extra `ganscale[hub]`), so its cache, HF_HOME,
HF_HUB_OFFLINE and tokens work as in every other Hugging Face library. A download fetches
config.json and model.safetensors only, and ends in the same Hub-style folder loader a local folder
uses (checkpoint/hub_folder.py): nothing a repository holds is ever imported or unpickled.
"""

from __future__ import annotations

import re
from pathlib import Path

from ganscale.checkpoint.hub_folder import CONFIG_FILE, MODEL_FILE
from ganscale.errors import MissingExtraError, NotAGeneratorError, UserError

SCHEME = "hf://"
# The Hub's rule for a repo id part: letters, digits, '-', '_', '.', not starting or ending in '-'/'.'.
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
REPO_ID = re.compile(rf"^{_PART}/{_PART}$")
HUB_ID_FORM = "hf://OWNER/NAME or hf://OWNER/NAME@REVISION"


def require_hub():
    """huggingface_hub, or one line saying which extra brings it."""
    try:
        import huggingface_hub
    except ImportError:
        raise MissingExtraError("the Hugging Face Hub needs huggingface_hub: pip install 'ganscale[hub]'") \
            from None
    return huggingface_hub


def check_repo_id(repo_id: str, flag: str = "--repo") -> str:
    if not REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise UserError(f"{flag} {repo_id!r}: expected OWNER/NAME (letters, digits, '-', '_', '.')")
    return repo_id


def is_hub_id(source) -> bool:
    return isinstance(source, str) and source.startswith(SCHEME)


def parse_hub_id(source: str) -> tuple[str, str | None]:
    """(repo id, revision or None) from hf://OWNER/NAME[@REVISION]."""
    repo_id, _, revision = source[len(SCHEME):].partition("@")
    if not REPO_ID.match(repo_id) or ".." in repo_id or (_ and not revision) or "@" in revision:
        raise UserError(f"{source!r}: not a Hub model id; expected {HUB_ID_FORM}")
    return repo_id, revision or None


def download(source: str) -> Path:
    """The local snapshot folder of hf://OWNER/NAME[@REV], from the Hub cache or downloaded into it."""
    repo_id, revision = parse_hub_id(source)
    hub = require_hub()
    from huggingface_hub.utils import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from ganscale import __version__

    try:
        folder = Path(hub.snapshot_download(repo_id, revision=revision,
                                            allow_patterns=[CONFIG_FILE, MODEL_FILE],
                                            library_name="ganscale", library_version=__version__))
    except RepositoryNotFoundError:
        raise NotAGeneratorError(f"{source}: no such model repository on the Hub, or a private one you "
                                 "have no access to (log in with `hf auth login` or set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise UserError(f"{source}: the repository has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        raise UserError(f"{source}: not in the local Hub cache ({hub.constants.HF_HUB_CACHE}) and the Hub "
                        "cannot be reached (HF_HUB_OFFLINE, or no network)") from None
    except (HfHubHTTPError, OSError) as err:
        raise UserError(f"{source}: the Hub download failed ({_one_line(err)})") from None
    if not (folder / CONFIG_FILE).is_file() or not (folder / MODEL_FILE).is_file():
        raise NotAGeneratorError(f"{source}: not a ganscale generator (the repository has no "
                                 f"{CONFIG_FILE} and {MODEL_FILE})")
    return folder


def upload(folder: Path, repo_id: str, *, private: bool, revision: str | None) -> str:
    """Create the repository (and branch) when missing, then upload `folder` as one commit; its URL."""
    hub = require_hub()
    if hub.constants.HF_HUB_OFFLINE:
        raise UserError("HF_HUB_OFFLINE is set: pushing needs the Hub (or write the folder with "
                        "--dry-run --out DIR)")
    from huggingface_hub.utils import HfHubHTTPError

    api = hub.HfApi(library_name="ganscale")
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision,
                                   commit_message="Upload ganscale generator")
    except (HfHubHTTPError, OSError, ValueError) as err:
        raise UserError(f"--repo {repo_id}: the upload failed ({_one_line(err)}); a missing or "
                        "read-only token: `hf auth login` or HF_TOKEN") from None
    return str(getattr(commit, "commit_url", None) or f"{hub.constants.ENDPOINT}/{repo_id}")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:240] or type(err).__name__
