# shellcheck shell=bash
# Sourced by the retrieval benchmarks (bench-hybrid.sh, bench-hybrid-en.sh).
#
#   recall_table OUT INDEX SETS RETRIEVERS   one TSV row per question set and retriever:
#       set, retriever, R@1, R@5, R@20, R@100, p50 ms (`odqa eval retrieval --json` on INDEX);
#       SETS is an array name of "name:path" entries, RETRIEVERS one of retriever options.
#   print_table OUT CORPUS                   the table, the corpus size and the CPU.
recall_table() {
  local out=$1 index=$2
  local -n sets_=$3 retrievers_=$4
  printf 'set\tretriever\tR@1\tR@5\tR@20\tR@100\tp50 ms\n' > "$out"
  local set name data retriever line
  for set in "${sets_[@]}"; do
    name=${set%%:*} data=${set#*:}
    for retriever in "${retrievers_[@]}"; do
      # shellcheck disable=SC2086 # one retriever's options
      line=$("$ODQA" eval retrieval --index "$index" --data "$data" --top-k 1,5,20,100 --json --retriever $retriever)
      python3 -c 'import json,sys; d=json.loads(sys.argv[3]); ks=("recall@1","recall@5","recall@20","recall@100"); print("\t".join([sys.argv[1], sys.argv[2]] + ["%.4f" % d[k] for k in ks] + ["%.1f" % d["latency_ms_p50"]]))' \
        "$name" "$retriever" "$line" >> "$out"
    done
  done
}

print_table() {
  column -t -s $'\t' "$1"
  echo "corpus: $(wc -l < "$2") passages ($2); CPU: $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1), $(nproc) threads"
}
