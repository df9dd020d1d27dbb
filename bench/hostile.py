#!/usr/bin/env python3
"""Hostile traffic against a real `hookroute serve` (Python 3 standard library only).

Starts the server itself (so it knows its pid), then, each phase on loopback:

  baseline  a legitimate client sends signed POSTs, one fresh connection each: p50/p99
  slow      N slow-head connections (default 5000), each a partial request line trickled a byte
            a second and reopened when the server closes it, while the client measures again
  fat       M fat connections (default 1100): half send ~390 KB of headers, half a 48 KB head
            declaring a 1 MiB body trickled 16 KB at a time; the server's VmRSS/VmHWM are
            sampled from /proc/<pid>/status while the client measures again

Attackers run in their own processes so their work does not delay the client's clock.
Usage (see BENCHMARKS.md):

    ulimit -n 65536    # the hard limit must hold N + M + a few hundred descriptors
    cargo build --release
    python3 bench/hostile.py [--binary target/release/hookroute] [--slow 5000] [--fat 1100]
"""

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SECRET = "bench-secret"
RULES = f"""
sources:
  house-check:
    dedup: false
    verify: {{scheme: hmac-sha256, secrets: ["{SECRET}"]}}
destinations:
  log: {{type: log}}
rules:
  - name: never
    events: ["never.happens"]
    actions: [{{to: log, text: "x"}}]
"""


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(need, soft)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < need:
        print(f"warning: open-file limit {target} < {need} needed; run `ulimit -n {need}` first",
              file=sys.stderr)
    return target


def start_server(binary, workdir, port):
    rules = os.path.join(workdir, "rules.yaml")
    with open(rules, "w") as f:
        f.write(RULES)
    store = "sqlite://" + os.path.join(workdir, "bench.db")
    log = open(os.path.join(workdir, "serve.log"), "w")
    proc = subprocess.Popen(
        [binary, "serve", "--rules", rules, "--listen", f"127.0.0.1:{port}", "--store", store,
         "--admin-listen", "off", "--no-watch"],
        stdout=log, stderr=log, env={**os.environ, "HOOKROUTE_LOG": "warn"})
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"the server did not start; see {log.name}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def legit(port, n):
    """n signed POSTs, a fresh connection each; latencies in ms and failures."""
    latencies, failures = [], 0
    for i in range(n):
        body = json.dumps({"type": "order.updated", "payload": {"id": i}}).encode()
        sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        started = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("POST", "/hooks/house-check", body,
                      {"signature": sig, "content-type": "application/json"})
            status = c.getresponse().status
            c.close()
        except OSError:
            status = 0
        if status == 202:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            failures += 1
    return latencies, failures


def summary(name, latencies, failures):
    if not latencies:
        return f"{name}: no request succeeded ({failures} failed)"
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return (f"{name}: {len(latencies)} ok, {failures} failed, p50 {q[49]:.1f} ms, "
            f"p99 {q[98]:.1f} ms, max {max(latencies):.1f} ms")


def slow_attacker(port, n, seconds, opened, reopened):
    """Keeps n slow heads open for `seconds`: a partial request line, then one byte a second;
    a connection the server closes is replaced at once."""
    sel = selectors.DefaultSelector()
    fresh, started = set(), set()

    def open_one():
        s = socket.socket()
        s.setblocking(False)
        if s.connect_ex(("127.0.0.1", port)) not in (0, 115):  # 115: EINPROGRESS
            s.close()
            return
        sel.register(s, selectors.EVENT_READ)
        fresh.add(s)

    for _ in range(n):
        open_one()
    end = time.time() + seconds
    next_trickle = time.time()
    while time.time() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                if s.recv(4096):
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
            sel.unregister(s)
            fresh.discard(s)
            started.discard(s)
            s.close()
            reopened.value += 1
            open_one()
        if time.time() >= next_trickle:
            for s in list(fresh):
                try:
                    s.send(b"POST /hooks/house-check HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    fresh.discard(s)
                    started.add(s)
                except OSError:
                    pass
            for s in started:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            next_trickle = time.time() + 1
        opened.value = len(fresh) + len(started)


def fat_attacker(port, m, seconds, outcome):
    """m fat connections: even ones ~390 KB of headers, odd ones a 48 KB head and 1 MiB body."""
    socks = []
    for i in range(m):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        pad = 390_000 if i % 2 == 0 else 48_000
        head = (b"POST /hooks/house-check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + b"".join(b"X-Pad-%d: %s\r\n" % (k, b"a" * 990) for k in range(pad // 1000))
                + b"Content-Length: 1048576\r\n\r\n")
        socks.append([s, head, 0])
    end = time.time() + seconds
    while time.time() < end and socks:
        for entry in list(socks):
            s, data, sent = entry
            try:
                if sent < len(data):
                    entry[2] += s.send(data[sent:sent + 65536])
                elif sent < len(data) + 1_048_576:
                    entry[2] += s.send(b" " * 16384)
                if s.recv(65536):
                    outcome["answered"] = outcome.get("answered", 0) + 1
                    socks.remove(entry)
                    s.close()
            except BlockingIOError:
                pass
            except OSError:
                outcome["closed"] = outcome.get("closed", 0) + 1
                socks.remove(entry)
                s.close()
        outcome["open"] = len(socks)
        time.sleep(0.2)


def memory_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/hookroute")
    ap.add_argument("--slow", type=int, default=5000)
    ap.add_argument("--fat", type=int, default=1100)
    ap.add_argument("--requests", type=int, default=2000, help="legitimate POSTs per phase")
    ap.add_argument("--hold", type=float, default=12.0, help="seconds attackers settle before measuring")
    args = ap.parse_args()
    limit = raise_fd_limit(args.slow + args.fat + 512)
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = start_server(args.binary, workdir, port)
        try:
            print(f"server pid {server.pid} on 127.0.0.1:{port}, open-file limit {limit}")
            print(summary("baseline (no hostile connections)", *legit(port, args.requests)))
            print(f"memory at rest: {memory_kib(server.pid)} KiB")

            opened, reopened = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
            attack = multiprocessing.Process(target=slow_attacker,
                                             args=(port, args.slow, args.hold + 120, opened, reopened))
            attack.start()
            time.sleep(args.hold)
            print(f"slow heads open when measuring: {opened.value}")
            print(summary(f"with {args.slow} slow heads", *legit(port, args.requests)))
            print(f"slow heads open after: {opened.value}; closed by the server and reopened: "
                  f"{reopened.value}")
            attack.terminate()
            attack.join()
            time.sleep(1)

            manager = multiprocessing.Manager()
            outcome = manager.dict()
            fat = multiprocessing.Process(target=fat_attacker, args=(port, args.fat, args.hold + 60, outcome))
            fat.start()
            peak = {"VmRSS": 0, "VmHWM": 0}
            started = time.time()
            while time.time() - started < args.hold:
                for k, v in memory_kib(server.pid).items():
                    peak[k] = max(peak[k], v)
                time.sleep(0.1)
            print(summary(f"with {args.fat} fat connections", *legit(port, args.requests // 4)))
            for k, v in memory_kib(server.pid).items():
                peak[k] = max(peak[k], v)
            print(f"fat connections: {dict(outcome)}")
            print(f"peak VmRSS {peak['VmRSS'] / 1024:.1f} MiB, VmHWM {peak['VmHWM'] / 1024:.1f} MiB")
            fat.terminate()
            fat.join()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
