#!/usr/bin/python3
"""The tables of tools/bench-segment.sh from the files it leaves in its directory.
usage: segment_report.py DIR NT NY NX NV"""
import json, os, re, sys
D, NT, NY, NX, NV = sys.argv[1], *map(int, sys.argv[2:])
peak = {}
for line in open(f"{D}/sgemm.txt"):
    _, shape, r = line.split(); peak[shape] = float(r)
P = peak["square_1024"]

def events(path):
    """event: (seconds max over ranks, flops max over ranks, seconds min over ranks)"""
    ev = {}
    for line in open(path):
        m = re.match(r"(raci:\w+)\s+(\d+) [\d.]+ ([\d.e+-]+) ([\d.]+) ([\d.e+-]+)", line)
        if m: ev[m.group(1)] = (float(m.group(3)), float(m.group(5)), float(m.group(3)) / max(float(m.group(4)), 1.0))
    return ev

def stages(path):
    """stage name: flops (PETSc's summary of stages)"""
    st = {}
    for line in open(path):
        m = re.match(r"\s*\d+:\s+(\w+): ([\d.e+-]+)\s+[\d.]+%\s+([\d.e+-]+)", line)
        if m: st[m.group(1)] = float(m.group(3))
    return st

def wall(case):
    t0, t1 = map(float, open(f"{D}/predict{case}.time").read().split()); return t1 - t0

model_ev = ["raci:FastEnc", "raci:SlowEnc", "raci:Attention", "raci:BankSearch", "raci:Heads"]
print(f"\nsgemm peak on one core: {P:.1f} GFLOP/s (1024^3); the fast encoder's shapes: recurrent {peak['recurrent_600x192x64']:.1f}, input projection {peak['input_72000x192x4']:.1f}\n")
print("### Prediction (%d x %d cells, %d days)\n" % (NX, NY, NT))
print("| ranks | diagnostics | wall s | cell-days | cell-days/s/rank | model GFLOP/s/rank | share of sgemm peak | write s (fastest rank) | written MB/s | plain PnetCDF MB/s (2 ranks) | the same + fsync |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
plain = {}
for line in open(f"{D}/plain.txt"):
    w = line.split(); plain[w[0]] = float(w[w.index("MB/s") + 1])
plain_rate = plain.get("pnetcdf_write", float("nan"))
plain_sync = plain.get("pnetcdf_write+fsync", float("nan"))
for case in ("2-10", "2-0", "1-0"):
    np = int(case[0])
    log = open(f"{D}/predict{case}.log").read()
    cd = int(re.search(r"wrote \S+: (\d+) cell-days", log).group(1))
    ev = events(f"{D}/predict{case}.log")
    ts = sum(ev[e][0] for e in model_ev if e in ev); fl = sum(ev[e][1] for e in model_ev if e in ev)
    wr = ev.get("raci:Write", (float("nan"), 0, float("nan")))[2]  # the fastest rank: the others wait for the slowest
    size = os.path.getsize(f"{D}/pred{case}.nc") / 1e6
    diag = "every 10th day, role shares" if case.endswith("-10") else "none"
    print(f"| {np} | {diag} | {wall(case):.1f} | {cd:.3g} | {cd / wall(case) / np:.3g} | {fl / ts / 1e9:.2f} | {fl / ts / 1e9 / P:.0%} | {wr:.2f} | {size / wr:.0f} | {plain_rate:.0f} | {plain_sync:.0f} |")
print(f"\nparallel efficiency of prediction 1 -> 2 ranks (no diagnostics): {wall('1-0') / (2 * wall('2-0')):.2f}\n")
print("time by phase, 2 ranks with diagnostics (max over ranks, s): " + ", ".join(f"{e[5:]} {events(f'{D}/predict2-10.log').get(e, (0, 0))[0]:.1f}" for e in model_ev + ["raci:Read", "raci:Write"]))

print("\n### Training, one core (scored cell-days per second of training steps)\n")
torch = {}
if os.path.exists(f"{D}/torch.json"):
    tj = json.load(open(f"{D}/torch.json"))
    for r in (tj if isinstance(tj, list) else [tj]): torch[r["model"]] = r["cell_days_per_s"]
print("| model | segment form | windowed form | ratio | PyTorch (segment form, 1 thread) | ratio | GFLOP/s over the training step | share of sgemm peak |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for m in ["raci", "lstm", "ealstm", "transformer", "tcn"]:
    j = json.load(open(f"{D}/t-{m}.json")); r = j["samples"] / j["step_seconds"]
    st = stages(f"{D}/t-{m}.log"); fl = sum(st.get(k, 0) for k in ("Forward", "Backward", "Reduction", "Optimizer"))
    w = f"{D}/w-{m}.json"
    if os.path.exists(w):
        jw = json.load(open(w)); rw = jw["samples"] / jw["step_seconds"]; ws, wr = f"{rw:.3g}", f"{r / rw:.1f}x"
    else:
        ws, wr = "(none)", ""
    t = torch.get(m)
    ts, tr = (f"{t:.3g}", f"{r / t:.1f}x") if t else ("", "")
    g = fl / j["step_seconds"] / 1e9
    print(f"| {m} | {r:.3g} | {ws} | {wr} | {ts} | {tr} | {g:.2f} | {g / P:.0%} |")
j1 = json.load(open(f"{D}/t-raci.json")); j2 = json.load(open(f"{D}/t2-raci.json"))
print(f"\nparallel efficiency of RACI training 1 -> 2 ranks (training steps, same steps): {j1['step_seconds'] / (2 * j2['step_seconds']):.2f}"
      f" (whole run: {j1['seconds'] / (2 * j2['seconds']):.2f})")