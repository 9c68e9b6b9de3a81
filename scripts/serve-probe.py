#!/usr/bin/env python3
"""Hostile probes of a running `odqa serve` (issue 23), loopback only, every loop bounded.

    serve-probe.py ADDR PID QUESTION

1. idle: opens 100 sockets that never send a byte, then asks 5 real questions on new
   connections; prints each one's status and seconds (the server runs under a 64-file limit).
2. abandoned: sends 160 asks and closes each connection at once; meanwhile asks 20 real questions
   one after another and counts their 503s; prints the server's CPU seconds (utime + stime from
   /proc/PID/stat) for the abandoned burst and, for comparison, for 160 answered asks, and the
   server's `abandoned` count from /health.
Prints one JSON object.
"""
import json
import os
import socket
import sys
import time

HOST, PORT = sys.argv[1].rsplit(":", 1)
PORT = int(PORT)
PID = int(sys.argv[2])
QUESTION = sys.argv[3]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    fields = open(f"/proc/{PID}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def request(method, path, body=None):
    data = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n"
        f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def exchange(raw, timeout=60.0):
    """Status and body of one request on a fresh connection, or (None, error)."""
    started = time.monotonic()
    try:
        with socket.create_connection((HOST, PORT), timeout=timeout) as s:
            s.sendall(raw)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as e:
        return None, str(e), time.monotonic() - started
    text = b"".join(chunks).decode("utf-8", "replace")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else None
    return status, text.split("\r\n\r\n", 1)[-1], time.monotonic() - started


def ask():
    return exchange(request("POST", "/v1/ask", {"question": QUESTION}))


def health():
    status, body, _ = exchange(request("GET", "/health"))
    return json.loads(body) if status == 200 else {"status": status, "body": body}


def probe_idle():
    idle = []
    for _ in range(100):
        try:
            idle.append(socket.create_connection((HOST, PORT), timeout=5))
        except OSError as e:
            idle.append(str(e))
    answers = [ask() for _ in range(5)]
    result = {
        "idle_sockets_opened": sum(1 for s in idle if not isinstance(s, str)),
        "real_asks": [{"status": s, "seconds": round(t, 2)} for s, _, t in answers],
        "health": health(),
    }
    for s in idle:
        if not isinstance(s, str):
            s.close()
    return result


def probe_abandoned():
    before = cpu_seconds()
    for _ in range(160):
        with socket.create_connection((HOST, PORT), timeout=5) as s:
            s.sendall(request("POST", "/v1/ask", {"question": QUESTION}))
    real = [ask() for _ in range(20)]
    # Let the server finish whatever it still does for the abandoned asks (bounded).
    deadline = time.monotonic() + 60
    while health().get("queued", 0) > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    abandoned_cpu = cpu_seconds() - before
    real_cpu_before = cpu_seconds()
    answered = [ask() for _ in range(160)]
    answered_cpu = cpu_seconds() - real_cpu_before
    return {
        "real_asks_during_burst": {
            "200": sum(1 for s, _, _ in real if s == 200),
            "503": sum(1 for s, _, _ in real if s == 503),
            "other": [s for s, _, _ in real if s not in (200, 503)],
        },
        "cpu_s_160_abandoned_plus_20_real": round(abandoned_cpu, 2),
        "cpu_s_160_answered": round(answered_cpu, 2),
        "answered_ok": sum(1 for s, _, _ in answered if s == 200),
        "health": health(),
    }


print(json.dumps({"idle": probe_idle(), "abandoned": probe_abandoned()}, indent=1))
