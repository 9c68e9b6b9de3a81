#!/usr/bin/env python3
"""Load and fault test of a running `odqa serve` (127.0.0.1 only; standard library only).

For each concurrency level, N client threads send COUNT questions (KorQuAD dev, SQuAD JSON) to
POST /v1/ask, with a bad request mixed in after every --bad-every good ones (malformed JSON, wrong
types, empty or over-long questions, unknown paths, a body cut off mid-way). Every response is
checked: a good question must get 200 with well-formed answers (character offsets, probability in
0..1), a bad one its documented 4xx error JSON; 503 is retried after Retry-After. The server's RSS
is sampled from /proc/PID/status throughout.

Prints one row per level (questions/s, p50/p95 latency, responses checked, 503 retries, peak RSS)
and writes them as JSON to --out. Exits 1 when any response is malformed or unexpected.
"""

import argparse
import http.client
import json
import socket
import statistics
import sys
import threading
import time
import urllib.parse

BAD_REQUESTS = [
    # (method, path, body, expected status, expected error code)
    ("POST", "/v1/ask", b"{not json", 400, "bad_json"),
    ("POST", "/v1/ask", b'{"question": 5}', 400, "bad_json"),
    ("POST", "/v1/ask", b'{"question": "   "}', 422, "empty_question"),
    ("POST", "/v1/ask", json.dumps({"question": "가" * 3000}).encode(), 413, "question_too_long"),
    ("POST", "/v1/ask", b'{"question": "q", "top_k": 0}', 422, "bad_option"),
    ("POST", "/v1/ask", b'{"question": "?!"}', 422, "no_searchable_words"),
    ("GET", "/v1/missing", None, 404, "not_found"),
]


def questions_of(path, count):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    out = [qa["question"] for article in data for p in article["paragraphs"] for qa in p["qas"]]
    return out[:count]


def request(host, port, method, path, body, timeout=300):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def check_answer(body, question):
    """Problems with a 200 answer to `question` (empty list: well-formed)."""
    problems = []
    try:
        data = json.loads(body)
    except ValueError:
        return ["not JSON"]
    if data.get("question") != question.strip():
        problems.append("question not echoed")
    passages = {p["id"]: p["text"] for p in data.get("passages", [])}
    for a in data.get("answers", []):
        text = passages.get(a.get("passage_id"))
        if text is None:
            problems.append("answer from a passage not listed")
            continue
        start, end = a.get("start", -1), a.get("end", -1)
        if not (0 <= start <= end <= len(text)):
            problems.append(f"offsets {start}..{end} outside the passage")
        elif text[start:end] != a["evidence"]["answer"]:
            problems.append("offsets do not give the answer's text")
        if not (0.0 <= a.get("probability", -1) <= 1.0):
            problems.append("probability outside 0..1")
    if "timings" not in data:
        problems.append("no timings")
    return problems


def cut_off_body(host, port):
    """A request whose body stops half-way, then a closed connection: the server must drop it
    (and keep answering others)."""
    s = socket.create_connection((host, port), timeout=10)
    try:
        s.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"question\": \"")
    finally:
        s.close()


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running and self.pid:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                return
            time.sleep(0.2)


def run_level(host, port, questions, concurrency, bad_every, pid):
    work = []
    for i, q in enumerate(questions):
        work.append(("good", q))
        if bad_every and (i + 1) % bad_every == 0:
            work.append(("bad", BAD_REQUESTS[(i // bad_every) % len(BAD_REQUESTS)]))
    work.append(("cut", None))
    lock = threading.Lock()
    latencies, problems, retries, checked = [], [], [0], [0]
    sampler = RssSampler(pid)
    sampler.start()

    def client():
        while True:
            with lock:
                if not work:
                    return
                kind, item = work.pop(0)
            if kind == "cut":
                cut_off_body(host, port)
                continue
            if kind == "good":
                body = json.dumps({"question": item}).encode()
                method, path, want, code = "POST", "/v1/ask", 200, None
            else:
                method, path, body, want, code = item
            while True:
                started = time.perf_counter()
                try:
                    status, headers, payload = request(host, port, method, path, body)
                except OSError as e:
                    with lock:
                        problems.append(f"{kind} {path}: {e}")
                    break
                if status == 503:
                    with lock:
                        retries[0] += 1
                    time.sleep(float(headers.get("Retry-After", "1")))
                    continue
                elapsed = time.perf_counter() - started
                found = []
                if status != want:
                    found.append(f"status {status}, expected {want}: {payload[:200]!r}")
                elif kind == "good":
                    found = check_answer(payload, item)
                else:
                    try:
                        got = json.loads(payload)["error"]["code"]
                        if got != code:
                            found.append(f"code {got}, expected {code}")
                    except (ValueError, KeyError, TypeError):
                        found.append("error body is not {\"error\": {\"code\", \"message\"}}")
                with lock:
                    checked[0] += 1
                    if kind == "good":
                        latencies.append(elapsed)
                    problems.extend(f"{kind} {path}: {p}" for p in found)
                break

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    sampler.running = False
    sampler.join()
    latencies.sort()
    q95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else 0
    return {
        "concurrency": concurrency,
        "questions": len(latencies),
        "seconds": round(wall, 2),
        "questions_per_second": round(len(latencies) / wall, 3),
        "p50_ms": round(1e3 * statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(1e3 * q95, 1),
        "responses_checked": checked[0],
        "retries_503": retries[0],
        "peak_rss_mb": round(sampler.peak / 2**20, 1) if pid else None,
        "problems": problems,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--questions", required=True, help="SQuAD JSON (KorQuAD dev)")
    ap.add_argument("--count", type=int, default=48, help="questions per level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--bad-every", type=int, default=8, help="a bad request after every N questions (0: none)")
    ap.add_argument("--pid", type=int, default=0, help="server process, for RSS")
    ap.add_argument("--out", help="write the rows as JSON here")
    args = ap.parse_args()
    url = urllib.parse.urlparse(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("load tests run against 127.0.0.1 only")
    questions = questions_of(args.questions, args.count)
    rows = []
    print("concurrency  questions/s   p50 ms   p95 ms  checked  503 retries  peak RSS MB  problems")
    for c in args.concurrency:
        row = run_level(url.hostname, url.port or 80, questions, c, args.bad_every, args.pid)
        rows.append(row)
        print(f"{c:>11}  {row['questions_per_second']:>11.3f}  {row['p50_ms']:>7}  {row['p95_ms']:>7}  "
              f"{row['responses_checked']:>7}  {row['retries_503']:>11}  {row['peak_rss_mb']!s:>11}  "
              f"{len(row['problems'])}", flush=True)
        for p in row["problems"][:10]:
            print("    " + p)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2, ensure_ascii=False)
    sys.exit(1 if any(r["problems"] for r in rows) else 0)


if __name__ == "__main__":
    main()
