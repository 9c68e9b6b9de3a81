#!/usr/bin/env python3
"""Two Python threads answering at once against one: the GIL is released while odqa works, so on
a 2-core machine two threads (each pipeline on one core) answer about twice the questions per
second. Uses the committed fixtures (the sample KorQuAD questions, the tiny reader), an index
built by the `odqa` binary (ODQA_BIN, default target/release/odqa). Prints both rates, the ratio
and the CPU; a measurement, not a test.

    python scripts/python-gil-bench.py [--rounds 3]
"""

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import odqa

REPO = Path(__file__).resolve().parents[1]


def cpu():
    for line in open("/proc/cpuinfo", encoding="utf-8"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = os.environ.get("ODQA_BIN", str(REPO / "target/release/odqa"))
    questions_file = REPO / "corpus/korquad-sample.json"
    model = REPO / "tests/fixtures/reader-parity/tiny-bert-qa"
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        subprocess.run([binary, "index", "--corpus", str(questions_file), "--index", str(index)],
                       check=True, capture_output=True, timeout=300)
        questions = [q for _, q in odqa.read_questions(questions_file)] * 4
        pipelines = [odqa.Pipeline(index, model, threads=1, max_seq_len=128, doc_stride=32)
                     for _ in range(2)]
        pipelines[0].answer(questions[:8])  # warm-up
        for r in range(args.rounds):
            started = time.perf_counter()
            for p in pipelines:
                p.answer(questions)
            one = 2 * len(questions) / (time.perf_counter() - started)
            threads = [threading.Thread(target=p.answer, args=(questions,)) for p in pipelines]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=600)
            two = 2 * len(questions) / (time.perf_counter() - started)
            print(f"round {r + 1}: one thread {one:.1f} questions/s, two threads {two:.1f} "
                  f"questions/s: {two / one:.2f}x")
    print(f"CPU: {cpu()}, {os.cpu_count()} threads; {len(questions)} questions per pipeline")


if __name__ == "__main__":
    main()
