#!/usr/bin/python3
"""PNG map of held-out errors from `raci eval -eval_json`: the RMSE of every
scored location, one panel per flux.

usage: plot_errors.py EVAL.json OUT.png [--fluxes GPP,NEE] [--title TEXT] [--credit TEXT]
Needs Debian's python3-matplotlib (/usr/bin/python3).
"""
import argparse
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json")
    p.add_argument("out")
    p.add_argument("--fluxes", default="GPP,NEE")
    p.add_argument("--title", default=None)
    p.add_argument("--credit", default=None)
    a = p.parse_args()
    ev = json.load(open(a.json))
    fluxes = [f for f in a.fluxes.split(",") if f in ev["fluxes"]]
    if not fluxes:
        sys.exit(f"plot_errors.py: error: {a.json}: none of {a.fluxes} was evaluated")
    fig, axes = plt.subplots(1, len(fluxes), figsize=(5.5 * len(fluxes), 4.2), dpi=110, squeeze=False)
    for ax, f in zip(axes[0], fluxes):
        e = ev["fluxes"][f]
        locs = [l for l in e["locations"] if l["metrics"]["rmse"] is not None]
        lon = np.array([l["lon"] for l in locs])
        lat = np.array([l["lat"] for l in locs])
        rmse = np.array([l["metrics"]["rmse"] for l in locs])
        m = ax.scatter(lon, lat, c=rmse, s=40, marker="s", cmap="magma_r")
        fig.colorbar(m, ax=ax, label=f"RMSE ({e['units']})")
        pooled = e["pooled"]
        ax.set_title(f"{f}: pooled RMSE {pooled['rmse']:.3g}, R2 {pooled['r2'] or float('nan'):.2f}, {len(locs)} locations")
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")
        if len(lat):
            ax.set_aspect(1.0 / max(np.cos(np.deg2rad(lat.mean())), 0.2))
    fig.suptitle(a.title or f"held-out errors ({ev['split']} locations): {os.path.basename(ev['pred'])}")
    if a.credit:
        fig.text(0.01, -0.03, a.credit, fontsize=7, color="0.3")
    tmp = a.out + ".tmp.png"
    fig.savefig(tmp, bbox_inches="tight")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
