"""Share of perf samples per category, from `perf report --no-children --sort dso,symbol --stdio -q`.

Each line is `  12.34%  DSO  [.] SYMBOL`; a symbol goes to the first category whose pattern it
matches, otherwise to "the rest". Prints a Markdown table and the top symbols
of "the rest", so a new hot spot is not hidden.

    python3 scripts/bench/profile_categories.py bench-out/profile/train.symbols.txt
"""

import re
import sys

# Self time only (no call graphs): AdamW's passes run as burn's elementwise ops and cannot be told
# apart from the model's; gemm's packing runs inside gemm_common's vectorized loops; odqa-reader's
# fused kernels are written with pulp, whose vectorized closures carry pulp's name.
CATEGORIES = [
    ("gemm microkernel", r"gemm_\w+::microkernel"),
    ("gemm packing", r"gemm_common::|pack_(lhs|rhs|operands)"),
    ("zero-filling and copies", r"clear_page|memset|memmove|memcpy|_mi_page_malloc_zero|to_contiguous"),
    ("fused kernels (odqa-reader, pulp)", r"odqa_reader::fused|^pulp::"),
    ("burn elementwise ops and autodiff (AdamW included)", r"burn_flex|burn_autodiff|macerator|StridedIter"),
    ("tokenization", r"tokenizers::"),
]


def main(path):
    shares = {name: 0.0 for name, _ in CATEGORIES}
    rest = []
    total = 0.0
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+\[.\]\s+(.*)", line)
        if not m:
            continue
        share, dso, symbol = float(m.group(1)), m.group(2), m.group(3).strip()
        total += share
        for name, pattern in CATEGORIES:
            if re.search(pattern, symbol):
                shares[name] += share
                break
        else:
            rest.append((share, f"{dso} {symbol}"))
    print("| category | share of samples |")
    print("|---|---:|")
    for name, _ in CATEGORIES:
        print(f"| {name} | {shares[name]:.1f} % |")
    print(f"| the rest | {sum(s for s, _ in rest):.1f} % |")
    print(f"(total {total:.1f} %; top of the rest:)")
    for share, symbol in sorted(rest, reverse=True)[:8]:
        print(f"  {share:5.1f} %  {symbol[:110]}")


if __name__ == "__main__":
    main(sys.argv[1])
