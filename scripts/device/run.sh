#!/usr/bin/env bash
# The one command a device session runs (from the repository root, with the package from
# scripts/device/pack.sh carried): verify, parity, speed and training, all into $OUT/report.json.
#
#   scripts/device/run.sh                       # on the GPU machine (the device call sets $OUT)
#   OUT=/tmp/dry scripts/device/run.sh --cpu    # dry run on this machine, with tiny counts
#
# Other arguments go to run.py (--package DIR, --steps verify,parity,speed,train,
# --train-seconds S); see scripts/device/run.py. PYTHON: the interpreter [default: python3].
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-python3}" scripts/device/run.py --out "${OUT:-device-out}" "$@"
