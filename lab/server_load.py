"""`unembed serve` under load: N concurrent clients on loopback for a bounded time.

    python lab/server_load.py --clients 4 16 16 --seconds 30 --out docs/bench-server-load.json

Starts a real server in a child process (127.0.0.1, a free port), then for each client count
runs that many threads for the given seconds, each sending requests back to back: /v1/invert
with 1-4 vectors (most), /v1/embed, and a streamed /v1/invert/stream. It counts answers by
status (only 200 and the documented 503 'busy, retry' are acceptable; clients wait as its
Retry-After says), the latency of the successful ones, and samples the server's resident
memory every 0.2 s. Repeating a client count shows whether memory settles or keeps growing.
"""
from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from unembed.runtime.memory import resident_mb

ACCEPTABLE = {200, 503}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: dict) -> tuple[int, float, float]:
    """(status, seconds, the Retry-After the server asked for or 0)."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    start, retry = time.perf_counter(), 0.0
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        e.read()
        status, retry = e.code, float(e.headers.get("Retry-After") or 0)
    except OSError:
        status = -1  # connection refused or reset: never acceptable
    return status, time.perf_counter() - start, retry


def start_server(args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "unembed.cli", "serve", "--port", str(port),
                                "--model", args.model, "--max-concurrent", str(args.max_concurrent)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return process, url
        except OSError:
            if process.poll() is not None:
                raise SystemExit("the server exited during start-up")
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not answer /health in 180 s")


def load(url: str, pid: int, clients: int, seconds: float, texts: list[str], vectors: list) -> dict:
    statuses, latencies, memory = Counter(), [], []
    lock, stop_at = threading.Lock(), time.time() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.time() < stop_at:
            kind = rng.random()
            if kind < 0.75:
                path, body = "/v1/invert", {"vectors": rng.sample(vectors, rng.randint(1, 4))}
            elif kind < 0.9:
                path, body = "/v1/embed", {"texts": rng.sample(texts, 2)}
            else:
                path, body = "/v1/invert/stream", {"text": rng.choice(texts)}
            status, seconds_taken, retry = request(url + path, body)
            with lock:
                statuses[status] += 1
                if status == 200:
                    latencies.append(seconds_taken)
            if retry:  # a polite client waits as told, with jitter so retries do not align
                time.sleep(retry * rng.uniform(0.5, 1.0))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        memory.append(resident_mb(pid) or 0.0)
        time.sleep(0.2)
    for t in threads:
        t.join()
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else None  # noqa: E731
    return {"clients": clients, "seconds": seconds, "requests": sum(statuses.values()),
            "by_status": {str(k): v for k, v in sorted(statuses.items())},
            "unexpected": sum(v for k, v in statuses.items() if k not in ACCEPTABLE),
            "ok_per_s": round(statuses[200] / seconds, 2),
            "latency_ms": {"p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99)},
            "rss_mb": {"start": round(memory[0], 1), "peak": round(max(memory), 1), "end": round(memory[-1], 1)}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="en")
    p.add_argument("--clients", type=int, nargs="+", default=[4, 16, 16])
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--max-concurrent", type=int, default=2)
    p.add_argument("--texts", default=str(Path(__file__).resolve().parents[1] / "tests" / "data" / "sentences.txt"))
    p.add_argument("--out")
    args = p.parse_args()
    texts = [t for t in Path(args.texts).read_text().splitlines() if t.strip()]
    process, url = start_server(args)
    try:
        embed = urllib.request.Request(url + "/v1/embed", data=json.dumps({"texts": texts[:32]}).encode(),
                                       headers={"Content-Type": "application/json"})
        vectors = json.loads(urllib.request.urlopen(embed, timeout=60).read())["vectors"]
        rows = []
        for clients in args.clients:
            row = load(url, process.pid, clients, args.seconds, texts, vectors)
            rows.append(row)
            print(f"{clients:3d} clients: {row['requests']} requests, {row['by_status']}, "
                  f"{row['ok_per_s']} ok/s, p50 {row['latency_ms']['p50']} ms, p95 {row['latency_ms']['p95']} ms, "
                  f"RSS {row['rss_mb']['start']} -> peak {row['rss_mb']['peak']} MB")
    finally:
        process.terminate()
        process.wait(timeout=30)
    result = {"model": args.model, "max_concurrent": args.max_concurrent, "acceptable": sorted(ACCEPTABLE),
              "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if any(r["unexpected"] for r in rows):
        sys.exit("unexpected statuses: see by_status")


if __name__ == "__main__":
    main()
