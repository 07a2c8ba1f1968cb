#!/usr/bin/python3
"""The towers-16 section of docs/RESULTS.md from tools/benchmark-towers.sh's runs.

usage: towers_report.py OUT FOLDS MEMBERS RESULTS.md|- MODEL...

For every (model, seed) and both forms (member 0 alone, "single", and the
whole ensemble), the predictions of the FOLDS folds are merged so that each
site carries the predictions of the one model that held it out; `raci eval`
scores the merged file against the tower file (measured values only; the
ensemble's X_spread gives the calibration). Tables: pooled per flux (mean
and sample standard deviation over seeds), the ensembles' calibration, per
IGBP or wetland class and per continent (a rule on the site's coordinates,
below), and RACI's ensemble against the best baseline ensemble. The section
between "<!-- towers16:begin -->" and "<!-- towers16:end -->" is replaced
(inserted before the issue 6 towers section when absent).
"""
import glob
import json
import os
import re
import subprocess
import sys

import netCDF4
import numpy as np

out, folds, members, doc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
MODELS = sys.argv[5:]
BASELINES = [m for m in MODELS if not m.startswith("raci")]
FLUXES = ["GPP", "RECO", "NEE", "FCH4"]
RACI = os.environ.get("RACI", "bin/raci")
data = f"{out}/towers.nc"


def continent(lon, lat):
    """A coarse rule on coordinates (degrees east, north); enough to group towers."""
    if lon < -30:
        return "North America" if lat > 12 else "South America"
    if lon >= 110 and lat < -10:
        return "Oceania"
    if lon >= 60 or (lon >= 34 and lat >= 12 and lat < 42):
        return "Asia"
    if lat >= 35:
        return "Europe"
    return "Africa"


def merge_and_eval(model, seed, form):
    """Scores of the merged held-out predictions; None while a fold is missing."""
    base = f"{out}/runs/{model}-s{seed}"
    files = [f"{base}-f{k}-{form}.nc" for k in range(folds)]
    if not all(os.path.exists(f) for f in files):
        return None
    merged, js = f"{base}-{form}-merged.nc", f"{base}-{form}-eval.json"
    if os.path.exists(js) and os.path.getmtime(js) > max(os.path.getmtime(f) for f in files):
        return json.load(open(js))
    with netCDF4.Dataset(files[0]) as src, netCDF4.Dataset(merged + ".tmp", "w", format="NETCDF3_64BIT_DATA") as dst:
        dst.setncatts({a: src.getncattr(a) for a in src.ncattrs()})
        for d, dim in src.dimensions.items():
            dst.createDimension(d, len(dim))
        per_site = []
        for n, v in src.variables.items():
            w = dst.createVariable(n, v.dtype, v.dimensions, fill_value=getattr(v, "_FillValue", None))
            w.setncatts({a: v.getncattr(a) for a in v.ncattrs() if a != "_FillValue"})
            if v.dimensions == ("time", "site"):
                per_site.append(n)
            else:
                w[:] = v[:]
        vals = {n: np.ma.masked_all(src[n].shape, src[n].dtype) for n in per_site}
        for k in range(folds):  # each site from the fold that held it out
            test = json.load(open(f"{base}-f{k}.json"))["test_locations"]
            with netCDF4.Dataset(files[k]) as fk:
                for n in per_site:
                    vals[n][:, test] = fk[n][:, test]
        for n in per_site:
            dst[n][:] = vals[n]
    os.replace(merged + ".tmp", merged)
    subprocess.run([RACI, "eval", "-pred", merged, "-data", data, "-eval_split", "all", "-eval_json", js + ".tmp"],
                   check=True, stdout=subprocess.DEVNULL)
    os.replace(js + ".tmp", js)
    return json.load(open(js))


def fmt(vals, digits=3):
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return "-"
    return f"{v.mean():.{digits}g} ± {v.std(ddof=1):.2g}" if len(v) > 1 else f"{v[0]:.{digits}g}"


def mean(vals):
    v = [x for x in vals if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


seeds = sorted({int(m.group(1)) for f in glob.glob(f"{out}/runs/*-s*-f0-one.nc")
                for m in [re.search(r"-s(\d+)-f0-one\.nc$", f)] if m})
ev = {}  # (model, form) -> [eval json per seed]
for m in MODELS:
    for form in ("one", "ens"):
        runs = [merge_and_eval(m, s, form) for s in seeds]
        ev[(m, form)] = [r for r in runs if r]
done = [m for m in MODELS if ev[(m, "one")]]

# the sites and what they hold
with netCDF4.Dataset(data) as d:
    nsite = len(d.dimensions["site"])
lines = ["<!-- towers16:begin -->", "## Every tower in one training set: leave-sites-out cross-validation (issue 16)", ""]
lines += [
    f"Reproduce with `tools/benchmark-towers.sh` (this run: `RACI_TW_MODELS=\"{' '.join(MODELS)}\" "
    f"RACI_TW_SEEDS=\"{' '.join(map(str, seeds))}\" RACI_TW_MEMBERS={members} tools/benchmark-towers.sh 2`). "
    f"Data: FLUXNET2015 (152 sites), FluxDataKit and FLUXNET-CH4 merged by `raci prep` into one file of {nsite} sites "
    "(a site in two networks is one location; docs/DATA.md), read in place from ../shared/data/towers "
    "(see its README for provenance and licences: FLUXNET2015 CC-BY-4.0 Tier 1, FluxDataKit, FLUXNET-CH4). "
    "Targets GPP, RECO, NEE on measured days (NEE_VUT_REF_QC ≥ 0.8) wherever a network has them, FCH4 at the "
    "FLUXNET-CH4 sites, each with its own mask; inputs absent at a site (P, PA, WS, TS at the FLUXNET2015-only "
    "sites; MAP, whc, elev at some) enter as 0 with an availability flag.",
    "",
    f"**Budget, fixed before the runs, the same for every model:** {folds} folds of sites stratified by class "
    "(`-split_seed 7`), validation a share of the other sites, at most 10 epochs of 50 AdamW steps of 64 segments "
    "(30 warm-up + 90 scored days), learning rate 1e-3, weight decay 1e-4, patience 4, default sizes, "
    f"`-retrieval_radius 50`, one rank per run. Every model is trained as an ensemble of {members} members "
    "(`-ensemble`); *single* is member 0 alone (`raci predict -predict_members 1`), which is exactly the single "
    "model of the same command. Each site is scored only by the models of the fold that held it out; RMSE "
    "over all held-out measured site-days (g C m-2 d-1; FCH4 nmol m-2 s-1), mean ± sample standard deviation over "
    f"{len(seeds)} training seed(s).",
    "",
]
if len(done) < len(MODELS):
    lines += [f"Not finished in this run (no table row): {', '.join(m for m in MODELS if m not in done)}.", ""]

lines += ["| model | form | " + " | ".join(f"{f} RMSE" for f in FLUXES) + " | GPP R2 | NEE R2 |",
          "| --- | --- |" + " --- |" * (len(FLUXES) + 2)]
for m in done:
    for form, name in (("one", "single"), ("ens", f"ensemble of {members}")):
        runs = ev[(m, form)]
        if not runs:
            continue
        cells = [fmt([r["fluxes"][f]["pooled"]["rmse"] for r in runs if f in r["fluxes"]]) for f in FLUXES]
        r2 = [fmt([r["fluxes"][f]["pooled"]["r2"] for r in runs if f in r["fluxes"]]) for f in ("GPP", "NEE")]
        lines.append(f"| {m} | {name} | " + " | ".join(cells + r2) + " |")
lines.append("")

# calibration of the ensembles
lines += ["Ensemble spread on the held-out sites: share of measured values inside mean ± 1 and ± 2 spreads "
          "(0.68 and 0.95 if calibrated normal errors) and CRPS (same units as the flux; lower is better):", "",
          "| model | " + " | ".join(f"{f} in 1 / 2 spreads, CRPS" for f in FLUXES) + " |", "| --- |" + " --- |" * len(FLUXES)]
for m in done:
    runs = ev[(m, "ens")]
    if runs:
        lines.append(f"| {m} | " + " | ".join(
            f"{mean([r['fluxes'][f]['pooled'].get('cover1') for r in runs]):.2f} / "
            f"{mean([r['fluxes'][f]['pooled'].get('cover2') for r in runs]):.2f}, "
            f"{mean([r['fluxes'][f]['pooled'].get('crps') for r in runs]):.3g}" for f in FLUXES) + " |")
lines.append("")

# RACI's ensemble against the best baseline ensemble
best = {}
for f in FLUXES:
    cand = [(mean([r["fluxes"][f]["pooled"]["rmse"] for r in ev[(b, "ens")] if f in r["fluxes"]]), b)
            for b in BASELINES if ev.get((b, "ens"))]
    cand = [c for c in cand if np.isfinite(c[0])]
    if cand:
        best[f] = min(cand)
raci_forms = [m for m in done if m.startswith("raci") and ev[(m, "ens")]]
if best and raci_forms:
    lines += ["RACI's ensembles against the best baseline ensemble per flux (negative: RACI lower; the issue's "
              "target is at least -5 % on GPP and NEE and below on CH4):", "",
              "| RACI form | " + " | ".join(f"{f} (best: {best[f][1]})" for f in FLUXES if f in best) + " |",
              "| --- |" + " --- |" * len(best)]
    for m in raci_forms:
        cells = []
        for f in FLUXES:
            if f not in best:
                continue
            r = mean([x["fluxes"][f]["pooled"]["rmse"] for x in ev[(m, "ens")] if f in x["fluxes"]])
            cells.append(f"{100 * (r / best[f][0] - 1):+.1f} %")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append("")


def grouped(runs, f, key):
    """RMSE per group (key of a location record) pooled over sites, mean over seeds; site counts."""
    per, count = {}, {}
    for r in runs:
        acc = {}
        for loc in r["fluxes"][f]["locations"]:
            g = key(loc)
            n, rmse = loc["metrics"]["n"], loc["metrics"]["rmse"]
            if n > 0 and np.isfinite(rmse):
                s = acc.setdefault(g, [0.0, 0.0, 0])
                s[0] += rmse * rmse * n
                s[1] += n
                s[2] += 1
        for g, (sse, n, k) in acc.items():
            per.setdefault(g, []).append(np.sqrt(sse / n))
            count[g] = k
    return {g: mean(v) for g, v in per.items()}, count


for title, key in (("class", lambda l: l["class"] or "?"), ("continent", lambda l: continent(l["lon"], l["lat"]))):
    for f in ("GPP", "NEE"):
        tabs = {m: grouped(ev[(m, "ens")], f, key) for m in done if ev[(m, "ens")]}
        if not tabs:
            continue
        groups = sorted({g for t in tabs.values() for g in t[1]}, key=lambda g: -max(t[1].get(g, 0) for t in tabs.values()))
        counts = {g: max(t[1].get(g, 0) for t in tabs.values()) for g in groups}
        lines += [f"{f} RMSE of the ensembles per {title} (held-out sites in brackets; the lowest in bold):", "",
                  "| model | " + " | ".join(f"{g} ({counts[g]})" for g in groups) + " |", "| --- |" + " --- |" * len(groups)]
        low = {g: min(t[0].get(g, np.inf) for t in tabs.values()) for g in groups}
        for m, (vals, _) in tabs.items():
            lines.append(f"| {m} | " + " | ".join(
                ("**{:.3g}**" if vals.get(g) == low[g] else "{:.3g}").format(vals[g]) if g in vals else "-" for g in groups) + " |")
        lines.append("")
if done:
    lines += ["Continents by a rule on the coordinates (tools/towers_report.py): west of 30° W North America above "
              "12° N, else South America; Oceania east of 110° E and south of 10° S; Asia east of 60° E or "
              "east of 34° E between 12° and 42° N; Europe the rest north of 35° N; Africa the rest.", ""]
lines.append("<!-- towers16:end -->")
text = "\n".join(lines) + "\n"

if doc == "-":
    print(text)
    sys.exit(0)
old = open(doc).read() if os.path.exists(doc) else ""
if "<!-- towers16:begin -->" in old:
    a, b = old.index("<!-- towers16:begin -->"), old.index("<!-- towers16:end -->") + len("<!-- towers16:end -->\n")
    new = old[:a] + text + old[b:]
elif "<!-- towers:begin -->" in old:
    a = old.index("<!-- towers:begin -->")
    new = old[:a] + text + "\n" + old[a:]
else:
    new = old + "\n" + text
with open(doc + ".tmp", "w") as fp:
    fp.write(new)
os.replace(doc + ".tmp", doc)
