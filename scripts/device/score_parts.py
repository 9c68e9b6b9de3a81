"""Helpers of score.sh (standard library only).

    python3 score_parts.py join REPORT_JSON RESULT_DIR DEST   # parts → DEST, every sha256 checked
    python3 score_parts.py parity REPORT_JSON CPU_NBEST       # GPU n-best in the report vs the CPU's
"""

import hashlib
import json
import sys
from pathlib import Path

from run import compare_nbest, sha256


def join(report, result_dir, dest):
    bundle = json.loads(Path(report).read_text())["train"]["bundle"]
    with open(dest, "wb") as out:
        for part in bundle["parts"]:
            data = (Path(result_dir) / part["file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != part["sha256"]:
                sys.exit(f"{part['file']}: sha256 differs from the report's")
            out.write(data)
    if sha256(dest) != bundle["sha256"]:
        sys.exit(f"{dest}: the joined parts' sha256 differs from the report's")
    print(f"joined {len(bundle['parts'])} parts into {dest} ({bundle['bytes']} bytes, sha256 as reported)")


def parity(report, cpu_nbest):
    gpu = json.loads(Path(report).read_text())["train"]["parity_nbest"]
    print(json.dumps(compare_nbest(gpu, json.loads(Path(cpu_nbest).read_text()))))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "join":
        join(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "parity":
        parity(*sys.argv[2:])
    else:
        sys.exit(__doc__)
