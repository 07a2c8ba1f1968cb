#!/usr/bin/python3
"""The towers section of docs/RESULTS.md from tools/benchmark-accuracy.sh's runs.

usage: accuracy_report.py OUT SEEDS FOLDS EPOCHS RESULTS.md FIGDIR

For every (task, model, seed), the predictions of the K folds are merged so
that each site carries the predictions of the one model that held it out;
`raci eval` then scores the merged file against the tower file (measured
values only) per site, per class and pooled. Tables give the mean and the
spread (sample standard deviation) over seeds. The section between
"<!-- towers:begin -->" and "<!-- towers:end -->" is replaced (appended when
absent); the rest of RESULTS.md is kept.
"""
import json
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import netCDF4  # noqa: E402
import numpy as np  # noqa: E402

out, seeds, folds, epochs, doc, figdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
VARIANTS = ["raci", "raci_no_retrieval", "raci_no_slow", "raci_no_film", "lstm", "ealstm", "transformer"]
TASKS = {"ch4": ("FCH4", "wetland CH4, FLUXNET-CH4 (13 sites)"), "fdk": ("GPP", "GPP, FluxDataKit (20 sites)"),
         "nee": ("NEE", "NEE at the FLUXNET-CH4 wetland sites (13 sites, measured days)")}
DATA = {"ch4": "ch4", "fdk": "fdk", "nee": "ch4"}
EVAL_ARGS = {"nee": ["-target", "NEE"]}  # the tower file's own target role is FCH4
TRANSFER = {"ch4_tr": "ch4", "fdk_tr": "fdk"}


def merge_and_eval(task, data, name, extra=()):
    """Merged held-out predictions of one (task, model, seed) scored by raci eval; None if a run is missing."""
    base = f"{out}/runs/{task}-{name}"
    files = [f"{base}-f{k}.nc" for k in range(folds)]
    if not all(os.path.exists(f) for f in files):
        return None
    merged = f"{base}-merged.nc"
    with netCDF4.Dataset(files[0]) as src, netCDF4.Dataset(merged + ".tmp", "w", format="NETCDF3_64BIT_DATA") as dst:
        dst.setncatts({a: src.getncattr(a) for a in src.ncattrs()})
        for d, dim in src.dimensions.items():
            dst.createDimension(d, len(dim))
        targets = []
        for n, v in src.variables.items():
            w = dst.createVariable(n, v.dtype, v.dimensions, fill_value=getattr(v, "_FillValue", None))
            w.setncatts({a: v.getncattr(a) for a in v.ncattrs() if a != "_FillValue"})
            if v.dimensions == ("time", "site"):
                targets.append(n)
            else:
                w[:] = v[:]
        held = np.zeros(len(src.dimensions["site"]), bool)
        merged_vals = {n: np.ma.masked_all(src[n].shape, src[n].dtype) for n in targets}
        for k in range(folds):  # each site from the fold that held it out
            test = json.load(open(f"{base}-f{k}.json"))["test_locations"]
            with netCDF4.Dataset(files[k]) as fk:
                for n in targets:
                    merged_vals[n][:, test] = fk[n][:, test]
            held[test] = True
        for n in targets:  # sites no fold held out (unusable ones) stay masked
            dst[n][:] = merged_vals[n]
    os.replace(merged + ".tmp", merged)
    js = f"{base}-eval.json"
    subprocess.run([os.environ.get("RACI", "bin/raci"), "eval", "-pred", merged, "-data", data, "-eval_split", "all", "-eval_json", js, *extra],
                   check=True, stdout=subprocess.DEVNULL)
    return json.load(open(js))["fluxes"]


def stats(vals):
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return "-"
    return f"{v.mean():.3g} ± {v.std(ddof=1):.2g}" if len(v) > 1 else f"{v[0]:.3g}"


def mean(vals):
    v = [x for x in vals if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


lines = ["<!-- towers:begin -->", "## Real flux towers: leave-sites-out cross-validation (issue 6)", ""]
lines += [
    "Reproduce with `tools/benchmark-accuracy.sh " + f"{seeds} {folds}` (regenerates this section and",
    "`docs/figures/towers-*.png`). Every site is scored only by the model of the fold that held it",
    f"out: {folds} folds of sites, stratified by class and fixed by `-split_seed 7` (the same folds for",
    "every model and seed); 20 % of the remaining sites validate (early stopping; at least one). Scores are over",
    "*measured* target days only (`raci eval`; FluxDataKit has no measured-only GPP, so its reference",
    "GPP is scored), pooled over all held-out site-days; mean ± standard deviation over",
    f"{seeds} training seeds (`-train_seed 1..{seeds}`).",
    "",
    "**Budget and tuning, the same for every model:** at most " + f"{epochs} epochs of 50 AdamW steps of",
    "64 segments (30 warm-up + 90 scored days), learning rate 1e-3, weight decay 1e-4, patience 5, DESIGN.md's default sizes",
    "(hidden 64, slow hidden 32, z 16, K_s = K_f = 8, W = 30, S_c = 90, L_s = 360 in 12 blocks; transformer",
    "d = 32, 2 heads), one rank. Nothing was tuned per model or per task: these are the defaults, and",
    "the budget was fixed before the first run. Inputs are the roles `raci prep` writes (docs/DATA.md):",
    "CH4 task fast TA, SW_IN, VPD, P, PA, WS; slow MAT, MAP, wetland class; target measured FCH4",
    "(nmol m-2 s-1); NEE task the same inputs, target measured NEE (g C m-2 d-1). GPP task fast TA, SW_IN, VPD, P, PA, WS, LAI; slow MAT, MAP, IGBP class, elev,",
    "whc; target GPP (g C m-2 d-1). Out-of-range values were set missing (`-prep_out_of_range",
    "missing`; the counts are in `out/accuracy/prep-*.log`).",
    "",
]
evals = {}
for task, (tgt, title) in TASKS.items():
    data = f"{out}/{DATA[task]}.nc"
    if not os.path.exists(f"{out}/runs/{task}-raci-s1-f0.nc"):
        continue
    lines += [f"### {title}", "", f"| model | {tgt} RMSE | nRMSE | R2 | NSE | bias | held-out values |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for v in VARIANTS:
        runs = [merge_and_eval(task, data, f"{v}-s{s}", EVAL_ARGS.get(task, ())) for s in range(1, seeds + 1)]
        runs = [r[tgt] for r in runs if r and tgt in r]
        evals[(task, v)] = runs
        if not runs:
            continue
        p = [r["pooled"] for r in runs]
        lines.append(f"| {v} | {stats([x['rmse'] for x in p])} | {stats([x['nrmse'] for x in p])} | {stats([x['r2'] for x in p])} | "
                     f"{stats([x['nse'] for x in p])} | {stats([x['bias'] for x in p])} | {p[0]['n']} |")
    classes = sorted({c for v in VARIANTS for r in evals.get((task, v), []) for c in r["classes"]})
    lines += ["", f"{tgt} per class: RMSE / nRMSE / R2, each the mean over seeds (sites per class in brackets):", ""]
    nsite = {}
    for r in evals.get((task, "raci"), [])[:1]:
        for loc in r["locations"]:
            nsite[loc["class"]] = nsite.get(loc["class"], 0) + 1
    lines += ["| model | " + " | ".join(f"{c} ({nsite.get(c, 0)})" for c in classes) + " |", "| --- |" + " --- |" * len(classes)]
    for v in VARIANTS:
        runs = evals.get((task, v), [])
        if runs:
            lines.append(f"| {v} | " + " | ".join(" / ".join(f"{mean([r['classes'][c][m] for r in runs if c in r['classes']]):.3g}" for m in ("rmse", "nrmse", "r2")) for c in classes) + " |")
    lines.append("")

    # figure: per-site RMSE by model (mean over seeds)
    sites = [loc["id"] for loc in evals[(task, "raci")][0]["locations"]] if evals.get((task, "raci")) else []
    if sites:
        fig, ax = plt.subplots(figsize=(max(8, len(sites) * 0.7), 4))
        w = 0.8 / len(VARIANTS)
        for i, v in enumerate(VARIANTS):
            runs = evals.get((task, v), [])
            per = [mean([next((l["metrics"]["rmse"] for l in r["locations"] if l["id"] == s), np.nan) for r in runs]) for s in sites]
            ax.bar(np.arange(len(sites)) + i * w, per, w, label=v)
        ax.set_xticks(np.arange(len(sites)) + 0.4)
        ax.set_xticklabels(sites, rotation=60, fontsize=8)
        ax.set_ylabel(f"held-out {tgt} RMSE")
        ax.legend(fontsize=7, ncol=4)
        ax.set_title(f"{title}: RMSE per held-out site (mean over {seeds} seeds)", fontsize=9)
        fig.tight_layout()
        fig.savefig(f"{figdir}/towers-{task}-sites.png", dpi=110)
        plt.close(fig)
        lines += [f"![per-site RMSE]({os.path.basename(figdir)}/towers-{task}-sites.png)", ""]

        # figure: predicted versus observed for the two sites with the most measured days
        best = min(VARIANTS[4:], key=lambda v: mean([r["pooled"]["rmse"] for r in evals.get((task, v), [])]))
        counts = sorted(((l["metrics"]["n"], l["id"]) for l in evals[(task, "raci")][0]["locations"]), reverse=True)[:2]
        with netCDF4.Dataset(data) as d:
            ids = [bytes(x).decode().rstrip("\0 ") for x in np.asarray(d["site_id"][:])]
            obs = d[tgt][:]
            t = d["time"][:]
            tu = d["time"].units
        fig, axs = plt.subplots(len(counts), 1, figsize=(10, 3 * len(counts)), squeeze=False)
        for ax, (_, sid) in zip(axs[:, 0], counts):
            j = ids.index(sid)
            ax.plot(t, obs[:, j], ".", ms=2, color="k", label="observed (measured)")
            for v, col in (("raci", "C0"), (best, "C3")):
                with netCDF4.Dataset(f"{out}/runs/{task}-{v}-s1-merged.nc") as p:
                    ax.plot(t, p[tgt][:, j], lw=0.8, color=col, label=f"{v} (held out, seed 1)")
            ok = ~np.ma.getmaskarray(obs[:, j])
            if ok.any():
                ax.set_xlim(t[ok].min() - 30, t[ok].max() + 30)
            ax.set_title(f"{sid}", fontsize=9)
            ax.set_ylabel(tgt)
            ax.legend(fontsize=7)
        axs[-1, 0].set_xlabel(tu)
        fig.tight_layout()
        fig.savefig(f"{figdir}/towers-{task}-series.png", dpi=110)
        plt.close(fig)
        lines += [f"![predicted and observed]({os.path.basename(figdir)}/towers-{task}-series.png)", ""]

# transfer
lines += ["### Simulation-to-observation transfer (RACI)", "",
          "RACI with the variables the simulator shares with the towers (CH4: fast TA, SW_IN, VPD, P; slow",
          "MAT, MAP. GPP: the same plus elev and whc), trained on the towers alone (`scratch`) or first",
          "pretrained on `raci simulate -sim_res 1 -sim_years 3` (North America, every land cell, same",
          "budget) and then fine-tuned with `-init_from` (`pretrained`). Same folds, seeds and budget.", "",
          "| task | start | RMSE | nRMSE | R2 | NSE |", "| --- | --- | --- | --- | --- | --- |"]
for task, base in TRANSFER.items():
    tgt = TASKS[base][0]
    for init in ("scratch", "pretrained"):
        runs = [merge_and_eval(task, f"{out}/{base}.nc", f"raci_{init}-s{s}") for s in range(1, seeds + 1)]
        runs = [r[tgt] for r in runs if r and tgt in r]
        evals[(task, init)] = runs
        if runs:
            p = [r["pooled"] for r in runs]
            lines.append(f"| {tgt} ({base}) | {init} | {stats([x['rmse'] for x in p])} | {stats([x['nrmse'] for x in p])} | {stats([x['r2'] for x in p])} | {stats([x['nse'] for x in p])} |")
lines += ["", "Data: FLUXNET-CH4 Community Product v1.0 (Delwiche et al. 2021, Earth System Science Data 13,",
          "3607-3689; CC-BY-4.0), site metadata and wetland classes from KGML-CH4/wetland_methane_ML (MIT);",
          "FluxDataKit (ONEFlux-processed ICOS/AmeriFlux data, CC-BY-4.0) via",
          "geco-bern/hybrid_vegetation_model_intercomparison; see ../shared/data/README.md.", "",
          "<!-- towers:analysis -->"]

text = open(doc).read() if os.path.exists(doc) else "# Results\n"
analysis = ""
if "<!-- towers:begin -->" in text:
    head, rest = text.split("<!-- towers:begin -->", 1)
    old, tail = rest.split("<!-- towers:end -->", 1)
    if "<!-- towers:analysis -->" in old:  # the hand-written analysis is kept
        analysis = old.split("<!-- towers:analysis -->", 1)[1].strip("\n")
else:
    head, tail = text.rstrip("\n") + "\n\n", "\n"
section = "\n".join(lines) + "\n" + (analysis + "\n" if analysis else "") + "<!-- towers:end -->"
open(doc + ".tmp", "w").write(head + section + tail)
os.replace(doc + ".tmp", doc)
json.dump({f"{k[0]}/{k[1]}": [r["pooled"] for r in v] for k, v in evals.items()}, open(f"{out}/summary.json", "w"), indent=1)
print("\n".join(lines))
