#!/usr/bin/python3
"""What RACI's regime embedding z encodes (issue 15's conditioning probe).

usage: z_probe.py PRED.nc SIM.nc [LAYOUT_CELLS]
PRED.nc is `raci predict` output with the regime_embedding map (the mean z of
each cell over its diagnostic days); SIM.nc the simulation with its static
maps. Linear probes from z, fitted by least squares on the cells not listed
in LAYOUT_CELLS (ids y * nx + x, e.g. `sim_layouts.py ... --cells`) and
scored on the listed ones (all cells, in-sample, without the file):
  - each numeric static input (elev, clay, soc, wetland_frac, whc, MAT, MAP):
    R2 of z -> the input;
  - the regime class: accuracy of argmax of z -> one-hot class;
and, for scale, the same probes from the static inputs themselves where that
is meaningful (class from the numeric statics). Prints a markdown table.
"""
import sys

import netCDF4
import numpy as np

pred, sim = netCDF4.Dataset(sys.argv[1]), netCDF4.Dataset(sys.argv[2])
z = np.ma.filled(pred["regime_embedding"][:].astype(float), np.nan)  # (Z, y, x)
Z, ny, nx = z.shape
zc = z.reshape(Z, -1).T
ok = np.all(np.isfinite(zc), axis=1)
held = np.zeros(ny * nx, bool)
if len(sys.argv) > 3:
    held[[int(v) for v in open(sys.argv[3]).read().split()]] = True
fit = ok & ~held
test = ok & held if held.any() else ok


def design(x):
    return np.hstack([x, np.ones((x.shape[0], 1))])


def r2(x, y):
    w, *_ = np.linalg.lstsq(design(x[fit]), y[fit], rcond=None)
    p = design(x[test]) @ w
    return 1 - np.sum((y[test] - p) ** 2) / np.sum((y[test] - y[test].mean()) ** 2)


statics = ["elev", "clay", "soc", "wetland_frac", "whc", "MAT", "MAP"]
S = np.stack([np.ma.filled(sim[v][:].astype(float), np.nan).ravel() for v in statics], axis=1)
cls = np.ma.filled(sim["class"][:].astype(float), np.nan).ravel()
good = np.all(np.isfinite(S), axis=1) & np.isfinite(cls)
fit &= good
test &= good
names = sim["class"].flag_meanings.split()
print(f"z: {Z} dimensions; fitted on {fit.sum()} cells, scored on {test.sum()}"
      + (" held-out" if held.any() else " (in-sample)") + " cells\n")
print("| probe from z | R2 or accuracy |")
print("| --- | --- |")
for k, v in enumerate(statics):
    print(f"| {v} | {r2(zc, S[:, k]):.3f} |")
onehot = (cls[:, None] == np.arange(len(names))[None, :]).astype(float)
w, *_ = np.linalg.lstsq(design(zc[fit]), onehot[fit], rcond=None)
acc = np.mean(np.argmax(design(zc[test]) @ w, axis=1) == cls[test])
w2, *_ = np.linalg.lstsq(design(S[fit]), onehot[fit], rcond=None)
acc2 = np.mean(np.argmax(design(S[test]) @ w2, axis=1) == cls[test])
base = np.mean(cls[test] == np.bincount(cls[fit].astype(int)).argmax())
print(f"| regime class (accuracy) | {acc:.3f} (from the 7 numeric statics: {acc2:.3f}; majority class: {base:.3f}) |")
