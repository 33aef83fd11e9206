#!/usr/bin/env bash
# The prepared GPU check (issue 14): tools/gpu_check.sh OUT_DIR [--cpu-dry-run] [--budget SECONDS]
# Runs ganscale from this source tree (no install) against the installed torch: PYTHONPATH is the
# repo root, MNIST comes from $GANSCALE_DATA (default ../shared/data beside the repo, else shared/data
# inside it), no tracker is used. PYTHON picks the interpreter (default python3). See tools/gpu_check.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
if [ -z "${GANSCALE_DATA:-}" ]; then
    GANSCALE_DATA="$repo/../shared/data"
    if [ ! -d "$GANSCALE_DATA" ] && [ -d "$repo/shared/data" ]; then
        GANSCALE_DATA="$repo/shared/data"
    fi
fi
export GANSCALE_DATA
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export WANDB_MODE=disabled
export PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" "$here/gpu_check.py" "$@"
