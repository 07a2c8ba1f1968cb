#!/usr/bin/python3
"""docs/RESULTS.md from the JSON reports and logs of tools/benchmark-sim.sh
(the multi-draw simulation benchmark, issue 15).

usage: results_table.py OUTDIR RESULTS.md|-
Reports are OUTDIR/s{sim seed}-{layout}-t{training seed}-{model}.json. The
tables are regenerated; the hand-written analysis after the line
"<!-- analysis -->" in RESULTS.md is kept. "-" prints the tables.
"""
import collections
import glob
import io
import json
import os
import re
import statistics as st
import sys

out, doc = sys.argv[1], sys.argv[2]
ORDER = ["raci", "raci_fast_static", "raci_fast_static_h32", "raci_fast_static_no_retrieval", "raci_clip", "raci_z8", "raci_z32", "raci_no_retrieval", "raci_no_slow", "raci_no_film", "lstm", "ealstm", "transformer", "tcn"]
NAME = re.compile(r"s(\d+)-(\w+)-t(\d+)-(\w+)\.json$")

runs = collections.defaultdict(dict)  # model -> (sim, layout, tseed) -> report
for path in glob.glob(os.path.join(out, "s*-*-t*-*.json")):
    m = NAME.search(os.path.basename(path))
    if not m:
        continue
    sim, layout, tseed, model = int(m[1]), m[2], int(m[3]), m[4]
    r = json.load(open(path))
    log = path[:-5] + ".log"
    r["curve"] = []
    if os.path.exists(log):  # epoch lines: train loss, val loss
        for line in open(log):
            e = re.search(r"epoch +(\d+) +train loss (\S+) +val loss (\S+)", line)
            if e:
                r["curve"].append((int(e[1]), float(e[2]), float(e[3])))
    runs[model][(sim, layout, tseed)] = r
if not runs:
    sys.exit(f"results_table.py: no reports in {out}")
models = [m for m in ORDER if m in runs] + sorted(m for m in runs if m not in ORDER)
first = runs[models[0]][next(iter(runs[models[0]]))]
targets = [k[5:] for k in first["test"] if k.startswith("rmse_")]
sims = sorted({k[0] for m in runs.values() for k in m})
layouts = sorted({k[1] for m in runs.values() for k in m})


def ms(values):
    """mean +- standard deviation over draws"""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{st.mean(values):.3f} ± {st.stdev(values):.3f}"


def rel(model, ref, key):
    """mean over the draws both have of model/ref - 1, in %"""
    common = [d for d in runs[model] if d in runs.get(ref, {})]
    if not common:
        return None, 0
    x = [runs[model][d]["test"][key] / runs[ref][d]["test"][key] - 1 for d in common]
    return 100 * st.mean(x), len(common)


# every model of a draw must have held out the same cells (the rule is deterministic)
held = collections.defaultdict(set)
for m in models:
    for (sim, layout, tseed), r in runs[m].items():
        held[(sim, layout)].add(len(r["test_locations"]))
odd = {k: v for k, v in held.items() if len(v) != 1 or 0 in v}

buf = io.StringIO()
sys.stdout = buf
print("# Results\n")
print("## Multi-draw spatial hold-out on the simulation (issue 15)\n")
print("Reproduce with `tools/benchmark-sim.sh` (resumable; about an hour on 2 cores for RACI, LSTM and")
print("EA-LSTM). Data: `raci simulate` over North America at 1 degree, 3 years, observation noise 0.1,")
print(f"simulation seeds {', '.join(map(str, sims))} (docs/SIMULATOR.md; land mask NCAR/geocat-datafiles,")
print("Apache-2.0). Held out, never seen in training and never in the memory bank, by a rule from the")
print("simulation seed (tools/bench/sim_layouts.py, tested by tests/data/test_layouts.sh): `boxes`, two")
print("12 x 8 degree boxes centred on drawn land cells (2-10 % of the land each); `zone`, a whole climate")
print("zone: every cell of a regime class drawn among those with 4-20 % of the land (a class no training")
print("location has: its one-hot static input is 0, \"unknown\", docs/MODEL.md). Validation (early stopping): 10 % of the")
print("other cells. One budget for every model, fixed before the runs: at most 15 epochs of 100 AdamW")
print("steps of 64 segments (30 warm-up + 90 scored days), learning rate 1e-3, weight decay 1e-4,")
seeds_by_layout = "; ".join(f"{lay}: " + ", ".join(map(str, sorted({k[2] for m in runs.values() for k in m if k[1] == lay})))
                            for lay in layouts)
print(f"patience 4, hidden size 64, training seeds ({seeds_by_layout}), one rank. Scores: RMSE over every")
print("held-out cell and day (g C m-2 d-1; FCH4 nmol m-2 s-1), mean ± standard deviation over the draws")
print("(simulation seed x layout x training seed; n = draws; the spread mixes regions, which differ")
print("most, and seeds: the relative tables below compare models on the same draw).\n")
if odd:
    print("**Warning**: runs of one simulation and layout held out different numbers of cells: " +
          ", ".join(f"seed {k[0]} {k[1]}: {sorted(v)}" for k, v in sorted(odd.items())) + "\n")

def seed_sd(m, key):
    """standard deviation over training seeds within a (simulation, layout), averaged"""
    groups = collections.defaultdict(list)
    for (sim, layout, tseed), r in runs[m].items():
        groups[(sim, layout)].append(r["test"][key])
    sds = [st.stdev(v) for v in groups.values() if len(v) > 1]
    return f"{st.mean(sds):.3f}" if sds else "-"


print("| model | n | " + " | ".join(f"{t} RMSE" for t in targets) +
      " | GPP sd over training seeds | epochs | time outside training steps |")
print("| --- | --- | " + " | ".join("---" for _ in targets) + " | --- | --- | --- |")
for m in models:
    rs = list(runs[m].values())
    cells = [ms([r["test"]["rmse_" + t] for r in rs]) for t in targets]
    out_share = st.mean(1 - r["step_seconds"] / r["seconds"] for r in rs)
    print(f"| {m} | {len(rs)} | " + " | ".join(cells) +
          f" | {seed_sd(m, 'rmse_GPP')} | {st.mean(r['epochs'] for r in rs):.1f} | {100 * out_share:.0f} % |")

LABEL = {"lstm": "the LSTM", "ealstm": "the EA-LSTM", "raci": "default RACI (candidates and ablations)"}
for ref in ("lstm", "ealstm", "raci"):
    if ref not in runs:
        continue
    print(f"\nHeld-out RMSE relative to {LABEL[ref]} on the same draw (mean over draws; negative: better than {ref}):\n")
    print("| model | draws | " + " | ".join(targets) + " | draws better on GPP |")
    print("| --- | --- | " + " | ".join("---" for _ in targets) + " | --- |")
    for m in models:
        if m == ref or (ref == "raci" and not m.startswith("raci")):
            continue
        vals, n = [], 0
        for t in targets:
            v, n = rel(m, ref, "rmse_" + t)
            vals.append("-" if v is None else f"{v:+.1f} %")
        common = [d for d in runs[m] if d in runs[ref]]
        wins = sum(runs[m][d]["test"]["rmse_GPP"] < runs[ref][d]["test"]["rmse_GPP"] for d in common) if "GPP" in targets else 0
        print(f"| {m} | {n} | " + " | ".join(vals) + f" | {wins} of {len(common)} |")

print("\nBy layout (mean ± standard deviation of held-out RMSE over simulation and training seeds):\n")
print("| model | layout | n | " + " | ".join(targets) + " |")
print("| --- | --- | --- | " + " | ".join("---" for _ in targets) + " |")
for m in models:
    for lay in layouts:
        rs = [r for d, r in runs[m].items() if d[1] == lay]
        if rs:
            print(f"| {m} | {lay} | {len(rs)} | " + " | ".join(ms([r["test"]["rmse_" + t] for r in rs]) for t in targets) + " |")

print("\nFit (does a model under-fit?): losses of the best epoch's model on the training and validation")
print("cells (the training split's cells, not held out), and the validation loss curve (mean over the")
print("draws; the normalised loss that training minimises):\n")
print("| model | train loss | validation loss | held-out loss | train GPP RMSE | validation GPP RMSE |")
print("| --- | --- | --- | --- | --- | --- |")
for m in models:
    rs = list(runs[m].values())
    print(f"| {m} | {ms([r['train']['loss'] for r in rs])} | {ms([r['validation']['loss'] for r in rs])} | "
          f"{ms([r['test']['loss'] for r in rs])} | {ms([r['train'].get('rmse_GPP', float('nan')) for r in rs])} | "
          f"{ms([r['validation'].get('rmse_GPP', float('nan')) for r in rs])} |")
emax = max((len(r["curve"]) for m in models for r in runs[m].values()), default=0)
if emax:
    cols = [e for e in (1, 2, 3, 5, 8, 10, 12, 15, 20, 30) if e <= emax]
    print("\n| model | " + " | ".join(f"val loss, epoch {e}" for e in cols) + " |")
    print("| --- | " + " | ".join("---" for _ in cols) + " |")
    for m in models:
        row = []
        for e in cols:
            v = [c[2] for r in runs[m].values() for c in r["curve"] if c[0] == e]
            row.append(f"{st.mean(v):.4f} (n {len(v)})" if v else "stopped")
        print(f"| {m} | " + " | ".join(row) + " |")
print()
sys.stdout = sys.__stdout__
if doc == "-":
    print(buf.getvalue())
    sys.exit(0)
keep = ""
if os.path.exists(doc):
    text = open(doc).read()
    if "<!-- analysis -->" in text:
        keep = text[text.index("<!-- analysis -->"):]
tmp = doc + ".tmp"
with open(tmp, "w") as f:
    f.write(buf.getvalue() + keep)
os.replace(tmp, doc)
