"""Turns one bench/run's measurements into results.md (stdout) and cpu.dat (for plot.gp)."""
import json
import os
import sys

out = sys.argv[1]
(verify_us, sign_us, crypto_us, chain_us, hand_us, trivial_chain_ns, trivial_hand_ns) = map(float, sys.argv[2:9])
chain_allocs = sys.argv[9]
echo_cpu, echo_rps, nghttpd_cpu = map(float, sys.argv[10:13])


def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


g, gc, gh = load("gateway-grpc.json"), load("gateway-connect.json"), load("gateway-half.json")
p, pc = load("peer-grpc.json"), load("peer-connect.json")
fan = load("fanout.json")
w1, w2, w2h = load("workers1-grpc.json"), load("workers2-grpc.json"), load("workers2-half.json")
cores = dict(zip(*[iter(open(os.path.join(out, "workers2-cores.txt")).read().split())] * 2))
micro = load("micro.json")["benchmarks"]


def micro_row(name):
    rows = [b for b in micro if b["run_name"] == name and b.get("aggregate_name", "median") == "median"]
    return rows[0] if rows else None


def micro_us(name):
    b = micro_row(name)
    return b["cpu_time"] * {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]] if b else float("nan")
machine = open(os.path.join(out, "machine.txt")).read().strip().splitlines()


def verdict(ok):
    return "**met**" if ok else "**not met**"


gateway_cpu = g["server_cpu_us_per_call"]
ratio = g["requests_per_second"] / max(p["requests_per_second"], 1e-9)
chain_overhead = (chain_us / hand_us - 1) * 100
trivial_overhead = (trivial_chain_ns / trivial_hand_ns - 1) * 100
sub_bytes = fan.get("bytes_per_subscription", 0)
last_ms = max((e["last_ms"] for e in fan["events"]), default=0)
reached_all = all(e["reached"] == fan["subscriptions"] for e in fan["events"])
extra_allocs = float(chain_allocs.split("/")[0])
trivial_allocs = float(chain_allocs.split("/")[1])

speedup = w2["requests_per_second"] / max(w1["requests_per_second"], 1e-9)
cpu_growth = (w2["server_cpu_us_per_call"] / w1["server_cpu_us_per_call"] - 1) * 100
# The cores the gateway got: on a small machine the load, the backend and Redis take the
# rest, so the speed-up is read against them. Amdahl: S on N cores means a serial fraction
# f = (N/S - 1) / (N - 1).
cores1 = w1["requests_per_second"] * w1["server_cpu_us_per_call"] / 1e6
cores2 = w2["requests_per_second"] * w2["server_cpu_us_per_call"] / 1e6
n_eff = cores2 / max(cores1, 1e-9)
serial = min(max((n_eff / speedup - 1) / (n_eff - 1), 0.0), 1.0) if n_eff > 1.05 else float("nan")
amdahl = lambda n: 1 / (serial + (1 - serial) / n)

rows = [
    ("Transport alone: server CPU per gRPC echo (h2load -c16 -m32)", "≤ 25 µs",
     f"{echo_cpu:.1f} µs ({echo_rps:,.0f} req/s)", echo_cpu <= 25),
    ("Transport vs nghttpd static file, same run", "≤ 4×",
     f"{echo_cpu / nghttpd_cpu:.2f}× ({nghttpd_cpu:.1f} µs for nghttpd)", echo_cpu <= 4 * nghttpd_cpu),
    ("Gateway CPU per ExecuteCommand (gRPC, every stage, Redis, signed)", f"≤ crypto {crypto_us:.1f} + 40 = {crypto_us + 40:.1f} µs",
     f"{gateway_cpu:.1f} µs", gateway_cpu <= crypto_us + 40),
    ("Throughput vs connect-node peer (gRPC, same run)", "≥ 5×",
     f"{ratio:.1f}× ({g['requests_per_second']:,.0f} vs {p['requests_per_second']:,.0f} calls/s)", ratio >= 5),
    ("p99 vs the peer at full load", "≤ peer",
     f"{g['latency_ms']['p99']:.2f} ms vs {p['latency_ms']['p99']:.2f} ms", g["latency_ms"]["p99"] <= p["latency_ms"]["p99"]),
    ("p99 at half of peak throughput", "< 5 ms",
     f"{gh['latency_ms']['p99']:.2f} ms at {gh['requests_per_second']:,.0f} calls/s", gh["latency_ms"]["p99"] < 5),
    (f"Memory per idle subscription ({fan['subscriptions']:,} open)", "< 8 KiB",
     f"{sub_bytes / 1024:.1f} KiB", 0 < sub_bytes < 8192),
    ("One pushed event reaches every subscriber", "within 1 s",
     f"{last_ms:.0f} ms (slowest of {len(fan['events'])} events)", reached_all and last_ms < 1000),
    ("Composed chain vs hand-written, contract stages", "within 5 %",
     f"{chain_us:.2f} vs {hand_us:.2f} µs ({chain_overhead:+.1f} %)", abs(chain_overhead) <= 5),
    ("Composed chain vs hand-written, six trivial stages", "within 5 %",
     f"{trivial_chain_ns:.2f} vs {trivial_hand_ns:.2f} ns ({trivial_overhead:+.1f} %)", trivial_overhead <= 5),
    ("Tracing off: the chain with the tracing observer vs without", "within 5 %, 0 allocations added",
     f"{micro_us('contract_chain_tracing/0'):.2f} vs {chain_us:.2f} µs; tracing on {micro_us('contract_chain_tracing/1'):.2f} µs",
     micro_us("contract_chain_tracing/0") <= chain_us * 1.05
     and (micro_row("contract_chain_tracing/0") or {}).get("allocs/op", 1) <= (micro_row("contract_chain") or {}).get("allocs/op", 0) + 0.01),
    ("Calls/s at 2 workers vs 1 (same run)", "≥ 1.6×",
     f"{speedup:.2f}× ({w2['requests_per_second']:,.0f} vs {w1['requests_per_second']:,.0f})", speedup >= 1.6),
    ("Gateway CPU per call at 2 workers vs 1", "≤ +5 %",
     f"{cpu_growth:+.1f} % ({w2['server_cpu_us_per_call']:.1f} vs {w1['server_cpu_us_per_call']:.1f} µs)", cpu_growth <= 5),
    ("p99 at half of peak, 2 workers", "reported",
     f"{w2h['latency_ms']['p99']:.2f} ms at {w2h['requests_per_second']:,.0f} calls/s", True),
    ("Heap allocations the chain adds", "0",
     f"{extra_allocs:.2f} per call (contract), {trivial_allocs:.2f} (trivial)", extra_allocs <= 0.01 and trivial_allocs == 0),
]

print(f"# Benchmark results\n\n{machine[0]} · {machine[1]}  \n{machine[2]}\n")
print("| target | goal | measured | |\n|---|---|---|---|")
for name, goal, measured, ok in rows:
    print(f"| {name} | {goal} | {measured} | {verdict(ok)} |")

print("\n## Calls\n")
print("| server | protocol | calls/s | server CPU / call | p50 | p90 | p99 | p99.9 | outcomes |")
print("|---|---|---|---|---|---|---|---|---|")
for label, d in [("edgepipe-gateway", g), ("edgepipe-gateway", gc), ("edgepipe-gateway, half load", gh),
                 ("connect-node peer", p), ("connect-node peer", pc)]:
    lat = d["latency_ms"]
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(d["outcomes"].items()))
    print(f"| {label} | {d['protocol']} | {d['requests_per_second']:,.0f} | {d['server_cpu_us_per_call']:.1f} µs | "
          f"{lat['p50']:.2f} ms | {lat['p90']:.2f} ms | {lat['p99']:.2f} ms | {lat['p999']:.2f} ms | {outcomes} |")
print(f"\n{g['connections']} connections × {g['streams']} streams, every request signed before the clock started "
      "with a fresh request id. CPU per call is the server process's user + system time over the run.")

print("\n## Workers\n")
print("| gateway | calls/s | gateway CPU / call | cores the gateway used | p50 | p99 |\n|---|---|---|---|---|---|")
for label, d in [("1 worker", w1), ("2 workers", w2), ("2 workers, half of peak", w2h)]:
    used = d["requests_per_second"] * d["server_cpu_us_per_call"] / 1e6
    print(f"| {label} | {d['requests_per_second']:,.0f} | {d['server_cpu_us_per_call']:.1f} µs | {used:.2f} | "
          f"{d['latency_ms']['p50']:.2f} ms | {d['latency_ms']['p99']:.2f} ms |")
backend_cores, redis_cores = float(cores.get("backend", 0)), float(cores.get("redis", 0))
print(f"\nSpeed-up {speedup:.2f}× on 2 workers; CPU per call {cpu_growth:+.1f} %. During the two-worker peak the "
      f"gateway used {cores2:.2f} cores, the demo backend {backend_cores:.2f} and Redis {redis_cores:.2f}, the load "
      f"generator the rest of the machine's {machine[1].split(',')[-2].strip()}: the gateway had {n_eff:.2f}× the CPU "
      f"it had on one worker. Against that, Amdahl's law gives a serial fraction of {serial:.3f}, and on paper "
      f"{amdahl(16):.1f}× on 16 cores and {amdahl(64):.1f}× on 64, given cores for the load and the backend beside it.")

print("\n## The physical limit\n")
print(f"One Ed25519 verify (64-byte input) {verify_us:.1f} µs + one sign {sign_us:.1f} µs = **{crypto_us:.1f} µs** "
      f"(libsodium, same run). The gateway spends {gateway_cpu - crypto_us:.1f} µs per call beyond it.")

print("\n## Fan-out\n")
print(f"{fan['subscriptions']:,} subscriptions opened in {fan['open_seconds']:.2f} s; gateway resident memory "
      f"{fan.get('rss_kib_before', 0) / 1024:.1f} MiB before, {fan.get('rss_kib_open', 0) / 1024:.1f} MiB with them open.\n")
print("| event | reached | p50 | p99 | last |\n|---|---|---|---|---|")
for i, e in enumerate(fan["events"], 1):
    print(f"| {i} | {e['reached']:,} | {e['p50_ms']:.1f} ms | {e['p99_ms']:.1f} ms | {e['last_ms']:.1f} ms |")

with open(os.path.join(out, "cpu.dat"), "w") as f:
    f.write('"nghttpd\\nstatic file" %.2f\n' % nghttpd_cpu)
    f.write('"edgepipe server\\ngRPC echo" %.2f\n' % echo_cpu)
    f.write('"Ed25519\\nverify + sign" %.2f\n' % crypto_us)
    f.write('"edgepipe-gateway\\nExecuteCommand" %.2f\n' % gateway_cpu)
    f.write('"connect-node peer\\nExecuteCommand" %.2f\n' % p["server_cpu_us_per_call"])

print("\n## Micro-benchmarks (median CPU time)\n")
print("| benchmark | time | allocations / op |\n|---|---|---|")
for b in micro:
    if b.get("aggregate_name", "median") != "median" or b.get("error_occurred"):
        continue
    t = b["cpu_time"]
    unit = b["time_unit"]
    text = f"{t:.1f} {unit}" if t >= 10 else f"{t:.2f} {unit}"
    label = f" ({b['label']})" if b.get("label") else ""
    allocs = b.get("allocs/op")
    print(f"| `{b['run_name']}`{label} | {text} | {'' if allocs is None else f'{allocs:.2f}'} |")
