"""The device run: everything odqa measures on a GPU machine, from a package built by pack.sh.
Standard library only (torch is used when installed, for the PyTorch reference rows).

    python3 scripts/device/run.py [--package DIR] [--out DIR] [--cpu] [--steps verify,parity,speed,train]

Steps (each adds its section to OUT/report.json as soon as it ends, so a run cut short keeps what
it measured):
  verify  sha256 of every package file; the binary unpacked (xz) and hashed; the model restored by
          `odqa model unpack` and its sha256 checked again here, independently of odqa
  parity  `odqa read` on the parity questions vs the CPU n-best shipped in the package: max |Δ| of
          start/end logits over the candidates both lists hold, identical top answers
  speed   odqa read (windows/s per batch size) and odqa train (windows/s) vs the PyTorch
          reference (torch_reader.py) on the same windows, fp32 and bf16
  train   fine-tune the CNN reader on all of train.json for --train-seconds (less when
          --deadline-seconds is near), pack the result
          against the base model, split it into parts of at most 15 MiB in OUT (score.sh
          restores and scores it), and read the parity questions with it (for score.sh's
          GPU-vs-CPU check of the trained model)
--cpu is the dry run on a machine without a GPU: the same steps with tiny counts.
"""

import argparse
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PART_BYTES = 15 << 20


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Run:
    """The package, the work folder, the report and the settings of one run."""

    def __init__(self, a):
        self.pkg = Path(a.package).resolve()
        self.out = Path(a.out).resolve()
        self.work = Path(a.work).resolve()
        self.cpu = a.cpu
        self.train_seconds = a.train_seconds
        self.deadline = time.monotonic() + a.deadline_seconds
        self.out.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self.manifest = json.loads((self.pkg / "MANIFEST.json").read_text())
        self.odqa = self.work / "odqa"
        self.model = self.work / "model"
        self.report = {"package": self.manifest, "mode": "cpu" if a.cpu else "gpu", "host": host()}
        w = self.manifest["windows"]
        self.windows = ["--max-seq-len", str(w["max_seq_len"]), "--doc-stride", str(w["doc_stride"])]
        self.threads = (["--threads", "2"] if a.cpu else []) + self.windows

    def seconds_left(self):
        """Seconds until --deadline-seconds (from the start of the run)."""
        return self.deadline - time.monotonic()

    def save(self):
        tmp = self.out / "report.json.tmp"
        tmp.write_text(json.dumps(self.report, indent=1, ensure_ascii=False))
        tmp.replace(self.out / "report.json")

    def odqa_run(self, args, timeout, log):
        """Runs the unpacked odqa; returns its stderr (also kept in WORK/log)."""
        started = time.perf_counter()
        p = subprocess.run([str(self.odqa)] + args, capture_output=True, text=True, timeout=timeout)
        (self.work / log).write_text(p.stdout + p.stderr)
        if p.returncode != 0:
            raise RuntimeError(f"odqa {args[0]} exited {p.returncode}: {p.stderr[-2000:]}")
        return p.stderr, time.perf_counter() - started


def host():
    info = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )
        info["gpu"] = smi.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        info["gpu"] = None
    return info


def verify(run):
    checks = {}
    sums = [line.split() for line in (run.pkg / "SHA256SUMS").read_text().splitlines()]
    bad = [name for digest, name in sums if sha256(run.pkg / name) != digest]
    checks["package_files"] = {"files": len(sums), "mismatched": bad}
    with lzma.open(run.pkg / run.manifest["binary"]["file"]) as src, open(run.odqa, "wb") as dst:
        shutil.copyfileobj(src, dst)
    run.odqa.chmod(0o755)
    checks["binary_sha256"] = sha256(run.odqa) == run.manifest["binary"]["sha256"]
    version = subprocess.run([str(run.odqa), "--version"], capture_output=True, text=True, timeout=60)
    checks["binary_runs"] = version.stdout.strip()
    run.model.mkdir(exist_ok=True)
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(run.pkg / "model" / name, run.model / name)
    restored = run.model / "model.safetensors"
    _, seconds = run.odqa_run(
        ["model", "unpack", str(run.pkg / run.manifest["model"]["file"]), "--out", str(restored)], 300, "unpack.log"
    )
    checks["model_sha256"] = sha256(restored) == run.manifest["model"]["sha256"]
    checks["model_bytes"] = restored.stat().st_size
    checks["unpack_seconds"] = round(seconds, 2)
    checks["ok"] = not bad and checks["binary_sha256"] and checks["model_sha256"]
    return checks


def compare_nbest(ours, reference):
    """Top answers and logits of two n-best files ({id: [{text, start, end, start_logit, ...}]})."""
    same_top, deltas, matched, total = 0, [], 0, 0
    for qid, ref in reference.items():
        got = ours.get(qid, [])
        same_top += bool(got and ref and got[0]["text"] == ref[0]["text"])
        by_span = {(c["start"], c["end"]): c for c in got}
        for c in ref:
            total += 1
            o = by_span.get((c["start"], c["end"]))
            if o is not None:
                matched += 1
                deltas.append(abs(o["start_logit"] - c["start_logit"]))
                deltas.append(abs(o["end_logit"] - c["end_logit"]))
    return {
        "questions": len(reference),
        "identical_top_answers": same_top,
        "candidates_matched": matched,
        "candidates": total,
        "max_abs_logit_diff": max(deltas) if deltas else None,
        "mean_abs_logit_diff": sum(deltas) / len(deltas) if deltas else None,
    }


def parity(run):
    n = run.manifest["parity_questions"]
    nbest = run.work / "parity-nbest.json"
    log, seconds = run.odqa_run(
        ["read", "--model", str(run.model), "--data", str(run.pkg / "data/dev.json"), "--limit", str(n),
         "--out", str(run.work / "parity-predictions.json"), "--nbest-out", str(nbest)] + run.threads,
        600, "parity.log",
    )
    result = compare_nbest(json.loads(nbest.read_text()), json.loads((run.pkg / "ref/cpu-nbest.json").read_text()))
    result["seconds"] = round(seconds, 2)
    return result


def torch_row(run, args, timeout=600):
    """One torch_reader.py run, or the reason it was skipped."""
    windows = run.pkg / "ref/windows.json"
    if not windows.exists():
        return {"skipped": "the package has no windows.json (pack.sh found no transformers)"}
    try:
        import torch  # noqa: F401
    except ImportError:
        return {"skipped": "no torch here"}
    cmd = [sys.executable, str(HERE / "torch_reader.py"), "--model", str(run.model), "--windows", str(windows)]
    tiny = ["--threads", "2", "--max-windows", "8"] if run.cpu else []
    tiny += ["--max-seq-len", str(run.manifest["windows"]["max_seq_len"])]
    p = subprocess.run(cmd + args + tiny, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        return {"error": p.stderr[-2000:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def odqa_read_timed(run, questions, batch):
    """(windows, seconds) of one `odqa read` of the first `questions` dev questions."""
    log, _ = run.odqa_run(
        ["read", "--model", str(run.model), "--data", str(run.pkg / "data/dev.json"), "--limit", str(questions),
         "--batch-size", str(batch), "--out", str(run.work / "speed-read.json")] + run.threads,
        900, f"speed-read-q{questions}-b{batch}.log",
    )
    # The seconds from the rate: the printed seconds have one decimal only.
    m = re.search(r"\(([0-9]+) windows of .*: ([0-9.]+) windows/s", log)
    windows, rate = int(m.group(1)), float(m.group(2))
    return windows, windows / rate if rate > 0 else 0.0


def odqa_train_timed(run, steps, batch):
    """(windows seen, seconds of training) of one `odqa train` run of `steps` steps."""
    out = run.work / "speed-train"
    shutil.rmtree(out, ignore_errors=True)
    run.odqa_run(
        ["train", "--model", str(run.model), "--head", "cnn", "--train", str(run.pkg / "data/train.json"),
         "--out", str(out), "--max-steps", str(steps), "--batch-size", str(batch),
         "--gradient-accumulation-steps", "1", "--save-steps", "1000000", "--quiet"]
        + (["--max-train-examples", "8"] if run.cpu else []) + run.threads,
        900, f"speed-train-{steps}.log",
    )
    info = json.loads((out / "training.json").read_text())
    return info["windows_seen"], info["train_seconds"]


def warm_rate(short, long):
    """Windows/s between two runs of different lengths: start-up, first-use kernel compilation and
    autotuning cancel out."""
    (w1, t1), (w2, t2) = short, long
    return round((w2 - w1) / (t2 - t1), 3) if t2 > t1 and w2 > w1 else None


def speed(run):
    questions = 8 if run.cpu else run.manifest["speed_questions"]
    batches = [8] if run.cpu else [8, 64]
    train_batch, train_steps = (2, 2) if run.cpu else (32, 30)
    rows = []
    for b in batches:
        if run.seconds_left() < run.train_seconds + 120:
            rows.append({"work": f"infer b{b}", "skipped": "too close to --deadline-seconds"})
            continue
        short = odqa_read_timed(run, max(1, questions // 4), b)
        long = odqa_read_timed(run, questions, b)
        row = {"work": f"infer b{b}", "windows": long[0], "odqa_fp32_single_run": ratio(long[0], long[1]),
               "odqa_fp32": warm_rate(short, long)}
        for dtype in ("fp32", "bf16"):
            t = torch_row(run, ["--mode", "infer", "--batch-size", str(b), "--dtype", dtype])
            row[f"torch_{dtype}"] = t.get("windows_per_s", t)
        row["ratio_vs_torch_fp32"] = ratio(row["odqa_fp32"], row["torch_fp32"])
        rows.append(row)
        run.report["speed"] = rows
        run.save()
    if run.seconds_left() < run.train_seconds + 120:
        rows.append({"work": "train", "skipped": "too close to --deadline-seconds"})
        return rows
    short = odqa_train_timed(run, 1, train_batch)
    long = odqa_train_timed(run, 1 + train_steps, train_batch)
    row = {"work": f"train b{train_batch}x{run.manifest['windows']['max_seq_len']} (CNN, AdamW)", "odqa_fp32_single_run": ratio(long[0], long[1]),
           "odqa_fp32": warm_rate(short, long)}
    for dtype in ("fp32", "bf16"):
        t = torch_row(run, ["--mode", "train", "--batch-size", str(train_batch), "--steps", str(train_steps), "--dtype", dtype])
        row[f"torch_{dtype}"] = t.get("windows_per_s", t)
    row["ratio_vs_torch_fp32"] = ratio(row["odqa_fp32"], row["torch_fp32"])
    rows.append(row)
    return rows


def ratio(a, b):
    ok = all(isinstance(x, (int, float)) for x in (a, b))
    return round(a / b, 3) if ok and b > 0 else None


def train(run):
    out = run.work / "trained"
    shutil.rmtree(out, ignore_errors=True)
    batch, accum = (2, 1) if run.cpu else (32, 1)
    # The training budget: --train-seconds, or less when the deadline is nearer (90 s are kept
    # for packing the model and the parity read).
    budget = max(30, min(run.train_seconds, int(run.seconds_left()) - 90))
    if run.cpu:
        steps = 2
    else:
        # As many steps as fit in the budget at the speed row's warm rate (75 % of it, for the
        # start-up, tokenization and kernel compilation that the warm rate leaves out).
        rate = next((r.get("odqa_fp32") for r in run.report.get("speed", []) if r["work"].startswith("train")), None)
        steps = max(10, int(0.75 * budget * (rate or 20.0) / (batch * accum)))
    log, seconds = run.odqa_run(
        ["train", "--model", str(run.model), "--head", "cnn", "--train", str(run.pkg / "data/train.json"),
         "--out", str(out), "--epochs", "100", "--max-steps", str(steps), "--batch-size", str(batch),
         "--gradient-accumulation-steps", str(accum), "--learning-rate", "1e-4", "--freeze-word-embeddings",
         "--save-steps", "1000000", "--quiet"]
        + (["--max-train-examples", "8"] if run.cpu else []) + run.threads,
        max(120, int(run.seconds_left()) - 45), "train.log",
    )
    info = json.loads((out / "training.json").read_text())
    packed = run.work / "trained.odqapack"
    run.odqa_run(["model", "pack", str(out), "--base", str(run.model), "--out", str(packed)], 600, "pack.log")
    bundle = run.work / "trained.tar"
    subprocess.run(["tar", "-cf", str(bundle), "-C", str(run.work), "trained.odqapack",
                    "-C", str(out), "config.json", "training.json"], check=True)
    parts = split(bundle, run.out)
    nbest = run.work / "trained-nbest.json"
    run.odqa_run(
        ["read", "--model", str(out), "--data", str(run.pkg / "data/dev.json"), "--limit", str(run.manifest["parity_questions"]),
         "--out", str(run.work / "trained-predictions.json"), "--nbest-out", str(nbest)] + run.threads,
        600, "trained-read.log",
    )
    log_entries = info.get("log", [])
    return {
        "steps": info.get("step"),
        "epochs": round(info.get("step", 0) / max(1, info.get("steps_per_epoch", 1)), 3),
        "train_examples": info.get("train_examples"),
        "train_windows": info.get("train_windows"),
        "windows_seen": info.get("windows_seen"),
        "train_seconds": info.get("train_seconds"),
        "windows_per_s": round(info["windows_seen"] / info["train_seconds"], 3) if info.get("train_seconds") else None,
        "wall_seconds": round(seconds, 1),
        "loss_first": log_entries[0]["loss"] if log_entries else None,
        "loss_last": log_entries[-1]["loss"] if log_entries else None,
        "loss_log": [(e["step"], round(e["loss"], 4)) for e in log_entries],
        "bundle": {"sha256": sha256(bundle), "bytes": bundle.stat().st_size, "parts": parts},
        "parity_nbest": json.loads(nbest.read_text()),
    }


def split(path, dest):
    """Splits `path` into dest/NAME.part-NN files of at most PART_BYTES; their names and hashes."""
    parts = []
    with open(path, "rb") as f:
        for i, chunk in enumerate(iter(lambda: f.read(PART_BYTES), b"")):
            part = dest / f"{path.name}.part-{i:02d}"
            part.write_bytes(chunk)
            parts.append({"file": part.name, "sha256": hashlib.sha256(chunk).hexdigest(), "bytes": len(chunk)})
    return parts


STEPS = {"verify": verify, "parity": parity, "speed": speed, "train": train}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", default="target/device-pack")
    p.add_argument("--out", default=os.environ.get("OUT", "device-out"))
    p.add_argument("--work", default=None, help="scratch folder [default: OUT/../device-work]")
    p.add_argument("--cpu", action="store_true", help="dry run without a GPU: tiny counts")
    p.add_argument("--steps", default="verify,parity,speed,train")
    p.add_argument("--train-seconds", type=int, default=180, help="training budget of the train step")
    p.add_argument("--deadline-seconds", type=int, default=540,
                   help="the whole run's budget: speed rows are skipped and training shortened to end before it")
    a = p.parse_args()
    a.work = a.work or str(Path(a.out).resolve().parent / "device-work")
    steps = a.steps.split(",")
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        p.error(f"unknown steps {unknown}; choose from {list(STEPS)}")
    if steps[0] != "verify":
        steps.insert(0, "verify")  # every other step needs the unpacked binary and model
    run = Run(a)
    failed = False
    for step in steps:
        started = time.perf_counter()
        print(f"== {step}", file=sys.stderr, flush=True)
        try:
            run.report[step] = STEPS[step](run)
        except Exception as e:  # noqa: BLE001 — record the failure, go on with the next step
            run.report[step] = {"error": f"{type(e).__name__}: {e}"}
            failed = True
        run.report.setdefault("seconds", {})[step] = round(time.perf_counter() - started, 1)
        run.save()
        print(json.dumps(run.report[step], ensure_ascii=False)[:2000], file=sys.stderr, flush=True)
        if step == "verify" and not run.report[step].get("ok"):
            print("verify failed: nothing else is run", file=sys.stderr)
            return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
