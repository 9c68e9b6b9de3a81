#!/usr/bin/env bash
# odqa's reader against PyTorch on this CPU, side by side in one run: the same checkpoint
# (multilingual-e5-small-ko, fp32), the same run_qa windows (first $LIMIT questions of KorQuAD
# dev; 51 windows of ≤ 384 tokens for 40), the same thread count, runs alternating A B A B.
#
#   scripts/bench-vs-pytorch.sh                 # ≈ 10 minutes on 2 cores
#   ROUNDS=1 ROWS="infer-b1" scripts/bench-vs-pytorch.sh
#   ODQA=/tmp/odqa-old scripts/bench-vs-pytorch.sh   # another odqa binary (e.g. before a change)
#
# Rows: infer-b8 (batches of 8; PyTorch pads to 384 as run_qa does, odqa cuts each batch to its
# longest window), infer-b1 (one window at a time at its real length), train (CNN head, batch
# 4 × 384, AdamW, dropout; $STEPS optimizer steps). Creates target/bench-venv (torch +
# transformers from PyPI) when missing. Prints windows/s per run, the medians, the ratio
# odqa / PyTorch and the encoder's GFLOP per 384-token window.
#
# Inference rows run every precision of $PRECISIONS side by side: PyTorch fp32, bf16
# (`torch.autocast`, oneDNN/AMX) and int8 (dynamic quantization of the Linear layers); odqa
# `--precision fp32` and `--precision auto` (bf16 on AMX tiles where the CPU has AMX-BF16). The
# summary compares odqa auto with PyTorch's fastest mode of the row.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
DATA=${DATA:-../shared/data/korquad/dev.json}
TRAIN=${TRAIN:-../shared/data/korquad/train.json}
LIMIT=${LIMIT:-40}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-8}
ROWS=${ROWS:-"infer-b8 infer-b1 train"}
TORCH_PRECISIONS=${TORCH_PRECISIONS:-"fp32 bf16 int8"}
ODQA_PRECISIONS=${ODQA_PRECISIONS:-"fp32 auto"}
OUT=${OUT:-bench-out/vs-pytorch}
VENV=${VENV:-target/bench-venv}
mkdir -p "$OUT"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import torch, transformers' 2>/dev/null; then
  echo "== creating $VENV (torch, transformers, safetensors from PyPI)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch transformers safetensors
fi
if [ -z "${ODQA:-}" ]; then
  cargo build --release --bin odqa
  ODQA=target/release/odqa
fi
"$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "threads", '"$THREADS"')'
echo "odqa: $ODQA; cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "cpu features: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_int8)$' | xargs)"

# One odqa run of a row ($2: precision of an inference row): prints windows/s.
odqa_row() {
  local row=$1 precision=${2:-fp32} log="$OUT/odqa-$1-${2:-fp32}.log"
  case $row in
    infer-b8 | infer-b1)
      local b=${row#infer-b}
      "$ODQA" read --model "$MODEL" --data "$DATA" --limit "$LIMIT" --batch-size "$b" \
        --threads "$THREADS" --precision "$precision" --out "$OUT/odqa-$row-$precision.json" \
        2> "$log" || { cat "$log" >&2; exit 1; }
      sed -nE 's/^read .*: ([0-9.]+) windows\/s.*/\1/p' "$log" ;;
    train)
      rm -rf "$OUT/train-run"
      "$ODQA" train --model "$MODEL" --head cnn --train "$TRAIN" --out "$OUT/train-run" \
        --max-steps "$STEPS" --batch-size 4 --gradient-accumulation-steps 1 --save-steps 100000 \
        --threads "$THREADS" 2> "$log" || { cat "$log" >&2; exit 1; }
      sed -nE 's/.* of training \(([0-9.]+) windows\/s\).*/\1/p' "$log" ;;
  esac
}

# One PyTorch run of a row ($2: precision): prints windows/s.
torch_row() {
  "$VENV/bin/python" scripts/bench/pytorch_reader.py --model "$MODEL" --data "$DATA" \
    --limit "$LIMIT" --threads "$THREADS" --mode "$1" --steps "$STEPS" --precision "${2:-fp32}" \
    2> "$OUT/torch-$1-${2:-fp32}.log" \
    | "$VENV/bin/python" -c 'import json,sys; print("%.3f" % json.loads(sys.stdin.read())["windows_per_s"])'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Encoder FLOPs per window of $1 tokens (2 per multiply-add): 12 layers of QKV/output/FFN
# products (24·L·H² with the 4H inner size) and attention (4·L²·H).
gflop() { awk -v l="$1" 'BEGIN {h=384; printf "%.2f", 12 * (24*l*h*h + 4*l*l*h) / 1e9}'; }

# Runs "$1 $2" (a row and a precision) of both systems $ROUNDS times, alternating with the
# others of the row; the medians land in $OUT/medians.
run_row() {
  local row=$1 torch_ps odqa_ps
  torch_ps=$TORCH_PRECISIONS odqa_ps=$ODQA_PRECISIONS
  [ "$row" = train ] && torch_ps=fp32 odqa_ps=fp32
  declare -A runs=()
  for _ in $(seq "$ROUNDS"); do
    for p in $torch_ps; do runs[torch-$p]="${runs[torch-$p]:-} $(torch_row "$row" "$p")"; done
    for p in $odqa_ps; do runs[odqa-$p]="${runs[odqa-$p]:-} $(odqa_row "$row" "$p")"; done
  done
  local best=0 best_name="" key m
  for key in $(printf '%s\n' "${!runs[@]}" | sort); do
    m=$(echo "${runs[$key]}" | median)
    printf '%-9s %-12s %-8s (%s)\n' "$row" "$key" "$m" "$(echo "${runs[$key]}" | xargs)"
    echo "$row $key $m" >> "$OUT/summary.txt"
    if [[ $key == torch-* ]] && awk -v a="$m" -v b="$best" 'BEGIN {exit !(a > b)}'; then
      best=$m best_name=$key
    fi
  done
  local ours=${odqa_ps##* }
  m=$(echo "${runs[odqa-$ours]}" | median)
  printf '%-9s odqa %s / PyTorch'"'"'s fastest (%s): %.2fx\n\n' "$row" "$ours" "$best_name" \
    "$(awk -v a="$m" -v b="$best" 'BEGIN {print a / b}')"
}

printf '\n%-9s %-12s %-8s %s\n' row system "w/s" "(runs)"
for row in $ROWS; do
  run_row "$row"
done
echo
echo "GFLOP per 384-token window (forward): $(gflop 384); training ≈ 3× that per window."
