#!/bin/bash
# Usage: deploy/slurm/submit-predict.sh N [sbatch options…]
# Queues predict-array.sbatch as an array of N tasks (shards 0..N-1) and merge.sbatch after all of
# them succeeded (--dependency=afterok; cancelled if one fails for good). The options go to both
# jobs (e.g. --partition=cpu --account=…); ODQA_* variables as in predict-array.sbatch.
# Prints the two job ids: "ARRAY_JOB_ID MERGE_JOB_ID".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:?usage: submit-predict.sh N [sbatch options…]}
shift
case $n in '' | *[!0-9]* | 0) echo "N must be a positive number, not '$n'" >&2; exit 2 ;; esac
export ODQA_SHARDS=$n
array=$(sbatch --parsable --array="0-$((n - 1))" "$@" "$here/predict-array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes "$@" \
    "$here/merge.sbatch")
echo "${array} ${merge%%;*}"
