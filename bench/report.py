#!/usr/bin/env python3
"""Prints bench/run's Markdown report from the raw results of one run (its work directory's res/).

Every figure is the median of the repetitions with [min–max]; every ratio is taken repetition by
repetition between runs made next to each other, then summarised the same way."""

import glob
import json
import os
import statistics
import sys

work = sys.argv[1]
RES = os.path.join(work, "res")
env = json.load(open(os.path.join(work, "env.json")))
REPS = env["reps"]


def load(name):
    path = os.path.join(RES, name)
    return json.load(open(path)) if os.path.exists(path) else None


def fmt(values, digits=0, unit=""):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    u = f" {unit}" if unit else ""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.{digits}f}{u}"
    return f"{med:,.{digits}f}{u} [{min(values):,.{digits}f}–{max(values):,.{digits}f}]"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def verdict(value, goal, higher_is_better=True):
    if value is None:
        return "not measured"
    ok = value >= goal if higher_is_better else value <= goal
    return "**met**" if ok else "**not met**"


def oha(name):
    """accepted/s, latency percentiles (ms), failures of one oha JSON result."""
    d = load(name)
    if d is None:
        return None
    codes = d.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    errors = sum(d.get("errorDistribution", {}).values())
    pct = d.get("latencyPercentiles", {})
    secs = d["summary"]["total"]

    def p(key):
        v = pct.get(key)
        return v * 1000 if v is not None else None

    return {
        "ok": ok,
        "rps": ok / secs if secs else 0,
        "p50": p("p50"),
        "p99": p("p99"),
        "p999": p("p99.9"),
        "failed": sum(codes.values()) - ok + errors,
        "codes": codes,
        "errors": d.get("errorDistribution", {}),
    }


def reps(fn):
    return [fn(r) for r in range(1, REPS + 1)]


def ratio(a, b):
    return a / b if a is not None and b else None


out = []
w = out.append
w("# hookroute benchmark")
w("")
w(f"{env['date']}, commit {env['commit']}; {env['nproc']} cores ({env['cpu']}), {env['mem']}, "
  f"Linux {env['kernel']}; {env['oha']}; {env['webhook'] or 'adnanh/webhook not installed'}.")
w(f"Every figure: median of {REPS} repetition(s) [min–max]; ratios are taken run by run between "
  f"runs made next to each other, in this run. Load: oha, {env['conns']} connections, the signed "
  f"{env['event_bytes']}-byte House Check event.")
if REPS < 3:
    w("")
    w(f"**Smoke run: {REPS} repetition(s), fewer than the 3 a result needs.**")

# ---- 1 -------------------------------------------------------------------------------------------
if load("s1-hookroute-1.json"):
    w("")
    w(f"## 1. Ingest ({env['rules']} rules, one matching; {env['duration']} per run; SQLite store)")
    w("")
    systems = [("bare", "bare axum (ceiling)"), ("hookroute", "hookroute, SQLite"),
               ("webhook", "adnanh/webhook 2.8")]
    systems = [(s, label) for s, label in systems if load(f"s1-{s}-1.json")]
    runs = {s: reps(lambda r, s=s: oha(f"s1-{s}-{r}.json")) for s, _ in systems}
    metas = {s: reps(lambda r, s=s: load(f"s1-{s}-{r}.meta.json")) for s, _ in systems}
    stores = reps(lambda r: load(f"s1-hookroute-{r}.store.json"))
    hr = runs["hookroute"]

    def col(s, f):
        return [f(x) if x else None for x in runs[s]]

    def mcol(s, f):
        return [f(x) if x else None for x in metas[s]]

    rows = [
        ("accepted events/s", lambda s: fmt(col(s, lambda x: x["rps"]))),
        ("hookroute ÷ this (run by run)", lambda s: fmt(
            [ratio(h["rps"], x["rps"]) for h, x in zip(hr, runs[s])], 2) + "×" if s != "hookroute" else ""),
        ("ack latency p50", lambda s: fmt(col(s, lambda x: x["p50"]), 2, "ms")),
        ("ack latency p99", lambda s: fmt(col(s, lambda x: x["p99"]), 2, "ms")),
        ("ack latency p99.9", lambda s: fmt(col(s, lambda x: x["p999"]), 2, "ms")),
        ("received → delivered p50", lambda s: fmt(
            [x["e2e_ms"].get("p50") if x else None for x in stores], 0, "ms") if s == "hookroute" else ""),
        ("received → delivered p99", lambda s: fmt(
            [x["e2e_ms"].get("p99") if x else None for x in stores], 0, "ms") if s == "hookroute" else ""),
        ("received → delivered p99.9", lambda s: fmt(
            [x["e2e_ms"].get("p999") if x else None for x in stores], 0, "ms") if s == "hookroute" else ""),
        ("deliveries/s (first attempt → last done)", lambda s: fmt(
            [x["delivered"] / ((x["last_done_ms"] - x["first_attempt_ms"]) / 1000)
             if x and x.get("first_attempt_ms") and x["last_done_ms"] > x["first_attempt_ms"] else None
             for x in stores]) if s == "hookroute" else ""),
        ("backlog drained after the run", lambda s: fmt(
            mcol(s, lambda m: m.get("drain_ms", 0) / 1000), 1, "s") if s == "hookroute" else ""),
        ("CPU seconds (run + drain)", lambda s: fmt(mcol(s, lambda m: m["cpu_s"]), 1, "s")),
        ("CPU ms per 1 000 events", lambda s: fmt(
            [m["cpu_s"] * 1e6 / x["ok"] if m and x and x["ok"] else None for m, x in zip(metas[s], runs[s])], 0, "ms")),
        ("peak RSS", lambda s: fmt(mcol(s, lambda m: m["hwm_kib"] / 1024), 1, "MiB")),
        ("failed requests (sum)", lambda s: f"{sum(x['failed'] for x in runs[s] if x):,}"),
    ]
    w("| | " + " | ".join(label for _, label in systems) + " |")
    w("| --- |" + " --- |" * len(systems))
    for label, f in rows:
        w(f"| {label} | " + " | ".join(f(s) for s, _ in systems) + " |")
    w("")
    w("Received → delivered is measured at full load, where hookroute accepts events faster than it "
      "delivers them, so it is mostly time spent waiting in the backlog. Scenario 5's first column gives it at a fixed rate.")
    w("")
    vs_bare = [ratio(h["rps"], b["rps"]) for h, b in zip(hr, runs["bare"])]
    w(f"- Goal: ingest ≥ 0.5× the bare axum endpoint: {fmt(vs_bare, 2)}× — {verdict(med(vs_bare), 0.5)}")
    if "webhook" in runs:
        vs_wh = [ratio(h["rps"], x["rps"]) for h, x in zip(hr, runs["webhook"])]
        w(f"- Goal: ingest ≥ 10× adnanh/webhook: {fmt(vs_wh, 1)}× — {verdict(med(vs_wh), 10)}")
    else:
        w("- Goal: ingest ≥ 10× adnanh/webhook: not measured (webhook not installed)")
    rss = [m["hwm_kib"] / 1024 for m in metas["hookroute"] if m]
    w(f"- Goal: peak RSS ≤ 64 MiB: {fmt(rss, 1)} MiB (max {max(rss):.1f}) — "
      f"{verdict(max(rss) if rss else None, 64, False)}")
    failed = {s: sum(x["failed"] for x in runs[s] if x) for s, _ in systems}
    if any(failed.values()):
        details = {s: [(x["codes"], x["errors"]) for x in runs[s] if x and x["failed"]] for s in failed if failed[s]}
        w(f"- Failures: {json.dumps(details)}")

# ---- 2 -------------------------------------------------------------------------------------------
counts = [int(n) for n in env["rule_counts"].split()]
if any(load(f"s2-{n}.json") for n in counts):
    w("")
    w("## 2. Rule scaling (generated mix, see bench/rulegen.rs)")
    w("")
    w("| rules | file | candidates for the event | evaluation per event | ÷ smallest file | compile | "
      "memory of the compiled rules | first copy (upper bound) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    first = None
    by_n = {}
    for n in counts:
        d = load(f"s2-{n}.json")
        if not d:
            continue
        if "route_ns" not in d:
            lines = [x for x in d.get("error", "").splitlines() if x.strip()]
            error = os.path.basename(lines[-1]) if lines else "failed"
            error = error.replace("|", "\\|")
            w(f"| {n:,} | {d['bytes'] / 1048576:.1f} MiB | refused: `{error}` | | | | | |")
            continue
        by_n[n] = d
        ns = d["route_ns"]
        if first is None:
            first = ns
        rel = [a / b for a, b in zip(ns, first)] if len(ns) == len(first) else []
        w(f"| {n:,} | {d['bytes'] / 1048576:.1f} MiB | {d['candidates']:,} | {fmt([x / 1000 for x in ns], 2, 'µs')} | "
          f"{fmt(rel, 1)}× | {fmt([x / 1000 for x in d['compile_ms']], 3, 's')} | "
          f"{d['memory_per_copy_kib'] / 1024:,.1f} MiB | {d['memory_first_kib'] / 1024:,.1f} MiB |")
    w("")
    d = by_n.get(10000)
    if d:
        ev = med(d["route_ns"]) / 1000
        comp = med(d["compile_ms"]) / 1000
        w(f"- Goal: evaluation with 10 000 rules ≤ 20 µs per event: {ev:.2f} µs — {verdict(ev, 20, False)}")
        w(f"- Goal: compile of 10 000 rules ≤ 0.5 s: {comp:.3f} s — {verdict(comp, 0.5, False)}")
    else:
        w("- Goals at 10 000 rules: not measured in this run (RULE_COUNTS)")
    fired = {n: d["fired"] for n, d in by_n.items() if d["fired"] != ["order-ready-to-schedule"]}
    if fired:
        w(f"- **Unexpected**: rules fired other than the one expected: {fired}")

# ---- 3 -------------------------------------------------------------------------------------------
if load("s3-steady-1.json"):
    w("")
    w(f"## 3. Reload under load ({env['swap_rules']:,} rules; {env['swaps']} swaps per "
      f"{env['swap_duration']} run; SQLite store)")
    w("")
    steady = reps(lambda r: oha(f"s3-steady-{r}.json"))
    swaps = reps(lambda r: oha(f"s3-swaps-{r}.json"))
    sw = reps(lambda r: load(f"s3-swaps-{r}.swaps.json"))
    smeta = reps(lambda r: load(f"s3-swaps-{r}.meta.json"))

    def during(s, m):
        if not s or not m:
            return None
        return sum(1 for t in s["swap_at_ms"] if m["from_ms"] <= t <= m["to_ms"])

    w("| | without swaps | with swaps |")
    w("| --- | --- | --- |")
    for label, key, digits, unit in [("accepted events/s", "rps", 0, ""), ("ack latency p50", "p50", 2, "ms"),
                                     ("ack latency p99", "p99", 2, "ms"), ("ack latency p99.9", "p999", 2, "ms")]:
        w(f"| {label} | {fmt([x[key] for x in steady if x], digits, unit)} | "
          f"{fmt([x[key] for x in swaps if x], digits, unit)} |")
    w(f"| p99 with ÷ without (run by run) | | "
      f"{fmt([ratio(b['p99'], a['p99']) for a, b in zip(steady, swaps) if a and b], 2)}× |")
    w(f"| failed requests (sum) | {sum(x['failed'] for x in steady if x):,} | "
      f"{sum(x['failed'] for x in swaps if x):,} |")
    w(f"| swaps made during the load / asked | | "
      f"{fmt([during(s, m) for s, m in zip(sw, smeta)])} / {env['swaps']} |")
    w(f"| reload time (rename → new version in /readyz), median of a run | | "
      f"{fmt([med(s['reload_ms']) for s in sw if s and s['reload_ms']], 0, 'ms')} |")
    w(f"| reload time, slowest of a run | | "
      f"{fmt([max(s['reload_ms']) for s in sw if s and s['reload_ms']], 0, 'ms')} |")
    w(f"| reloads not seen within 15 s (sum) | | {sum(s['timeouts'] for s in sw if s)} |")
    w("")
    total_failed = sum(x["failed"] for x in swaps if x)
    w(f"- Goal: 0 failed requests during the swaps: {total_failed} — "
      f"{'**met**' if total_failed == 0 else '**not met**'}")
    if total_failed:
        w(f"- Failures: {json.dumps([(x['codes'], x['errors']) for x in swaps if x and x['failed']])}")

# ---- 4 -------------------------------------------------------------------------------------------
if load("s4-sqlite-1.store.json"):
    w("")
    w(f"## 4. Delivery throughput ({env['deliveries']:,} stored deliveries to a local receiver)")
    w("")

    def rate(s):
        if not s or not s.get("first_attempt_ms") or s["last_done_ms"] <= s["first_attempt_ms"]:
            return None
        return s["delivered"] / ((s["last_done_ms"] - s["first_attempt_ms"]) / 1000)

    stores = [s for s in ("sqlite", "postgres") if load(f"s4-{s}-1.store.json")]
    data = {s: (reps(lambda r, s=s: load(f"s4-{s}-{r}.store.json")),
                reps(lambda r, s=s: load(f"s4-{s}-{r}.meta.json"))) for s in stores}
    w("| store | deliveries/s (first attempt → last done) | ÷ SQLite (run by run) | wall time from start | "
      "delivered | CPU seconds |")
    w("| --- | --- | --- | --- | --- | --- |")
    sq = [rate(x) for x in data["sqlite"][0]]
    for s in stores:
        st, mt = data[s]
        rates = [rate(x) for x in st]
        w(f"| {'SQLite' if s == 'sqlite' else 'PostgreSQL'} | {fmt(rates)} | "
          f"{fmt([ratio(a, b) for a, b in zip(rates, sq)], 2)}× | "
          f"{fmt([(m['to_ms'] - m['from_ms']) / 1000 if m else None for m in mt], 1, 's')} | "
          f"{fmt([x['delivered'] if x else None for x in st])} | {fmt([m['cpu_s'] if m else None for m in mt], 1, 's')} |")
    if "postgres" not in stores:
        w("")
        w("- PostgreSQL: not measured (no server answered at PG_URL)")

# ---- 5 -------------------------------------------------------------------------------------------
if load("s5-slow-1.json"):
    w("")
    w(f"## 5. Slow destination (one answering after {env['slow_delay_ms']} ms; {env['slow_rate']} "
      f"requests/s for {env['duration']})")
    w("")
    variants = ("none", "fast2", "slow")
    runs = {v: reps(lambda r, v=v: oha(f"s5-{v}-{r}.json")) for v in variants}
    stores = {v: reps(lambda r, v=v: load(f"s5-{v}-{r}.store.json")) for v in variants}
    metas = {v: reps(lambda r, v=v: load(f"s5-{v}-{r}.meta.json")) for v in variants}

    def fast_e2e(v, key):
        return [s["by_destination"].get("fast", {}).get(key) if s else None for s in stores[v]]

    def row(label, a, b, c, digits, unit):
        w(f"| {label} | {fmt(a, digits, unit)} | {fmt(b, digits, unit)} | {fmt(c, digits, unit)} | "
          f"{fmt([ratio(z, y) for y, z in zip(b, c)], 2)}× |")

    w("| | fast destination alone | fast + a second fast one | fast + the slow one | "
      "slow ÷ second fast (run by run) |")
    w("| --- | --- | --- | --- | --- |")
    for label, key in [("ack latency p50", "p50"), ("ack latency p99", "p99"), ("ack latency p99.9", "p999")]:
        row(label, *[[x[key] if x else None for x in runs[v]] for v in variants], 2, "ms")
    for label, key in [("fast destination: received → delivered p50", "p50"),
                       ("fast destination: received → delivered p99", "p99"),
                       ("fast destination: received → delivered p99.9", "p999")]:
        row(label, *[fast_e2e(v, key) for v in variants], 0, "ms")
    row("accepted events/s", *[[x["rps"] if x else None for x in runs[v]] for v in variants], 0, "")
    row("hookroute CPU seconds (run + drain)", *[[m["cpu_s"] if m else None for m in metas[v]] for v in variants],
        1, "s")
    w(f"| slow destination: requests answered during the run | | | "
      f"{fmt([m.get('slow_received') if m else None for m in metas['slow']])} | |")
    w("| failed requests (sum) | " + " | ".join(str(sum(x["failed"] for x in runs[v] if x)) for v in variants)
      + " | |")

# ---- 6 -------------------------------------------------------------------------------------------
if load("s6-plain-1.json"):
    w("")
    w(f"## 6. Entity state ({env['entity_keys']:,} keys × {env['entity_events']} events; "
      f"{env['entity_conns']} keep-alive connections; a fresh SQLite store per run)")
    w("")
    variants = (("plain", "without `key` (`equals`)"), ("keyed", "with `key` (`becomes`)"))
    runs = {v: reps(lambda r, v=v: load(f"s6-{v}-{r}.json")) for v, _ in variants}
    metas = {v: reps(lambda r, v=v: load(f"s6-{v}-{r}.meta.json")) for v, _ in variants}
    rps = {v: [x["rps"] if x else None for x in runs[v]] for v, _ in variants}
    cost = [1 - ratio(k, p) if ratio(k, p) is not None else None for p, k in zip(rps["plain"], rps["keyed"])]
    w("| | " + " | ".join(label for _, label in variants) + " |")
    w("| --- | --- | --- |")
    w("| accepted events/s | " + " | ".join(fmt(rps[v]) for v, _ in variants) + " |")
    w("| with ÷ without (run by run) | | " + fmt([ratio(k, p) for p, k in zip(rps["plain"], rps["keyed"])], 3)
      + " |")
    w("| time to send all | " + " | ".join(fmt([x["secs"] if x else None for x in runs[v]], 1, "s")
                                          for v, _ in variants) + " |")
    w("| CPU ms per 1 000 events | " + " | ".join(fmt(
        [m["cpu_s"] * 1e6 / x["accepted"] if m and x and x["accepted"] else None
         for m, x in zip(metas[v], runs[v])], 0, "ms") for v, _ in variants) + " |")
    w("| deliveries made during the run / planned | " + " | ".join(fmt([m["delivered"] if m else None for m in metas[v]])
                                                        + f" / {metas[v][0]['expected']:,}" if metas[v][0] else "–"
                                                        for v, _ in variants) + " |")
    w("| peak RSS | " + " | ".join(fmt([m["hwm_kib"] / 1024 if m else None for m in metas[v]], 1, "MiB")
                                   for v, _ in variants) + " |")
    w("| refused + failed requests (sum) | " + " | ".join(
        f"{sum(x['refused'] + x['errors'] for x in runs[v] if x):,}" for v, _ in variants) + " |")
    w("")
    c = med(cost)
    w(f"- Goal: state lookups cost ≤ 20 % of ingest throughput: {fmt([x * 100 if x is not None else None for x in cost], 1, '%')} "
      f"less with `key` — {verdict(c, 0.20, False)}")
    if any(x and x.get("timed_out") for v, _ in variants for x in runs[v]):
        w("- **A run hit ENTITY_LIMIT**: its figure counts only what was sent in time.")

print("\n".join(out))
