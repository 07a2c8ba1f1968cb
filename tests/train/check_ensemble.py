#!/usr/bin/python3
"""Checks an ensemble of raci train -ensemble N against N single runs with the
members' seeds (tests/train/test_ensemble.sh), independently of raci:

  - member k of the ensemble's checkpoint has exactly the parameters and bank
    of the single run with seed -train_seed + 1000 k;
  - the ensemble's predictions are the members' mean, X_member_sd their sample
    standard deviation and X_spread sqrt(sd^2 + r^2), r the residual spread
    of the train report, computed here with numpy from the single runs'
    predictions;
  - raci eval's coverage and CRPS on the test locations equal those computed
    here from the files (normal CRPS with math.erf), and match the train
    report's test scores.

usage: check_ensemble.py ENS.ckpt ENS_PRED.nc REPORT.json EVAL.json OBS.nc SINGLE.ckpt:PRED.nc...
"""
import json
import math
import sys

import netCDF4
import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
import ckpt  # noqa: E402

ens_ckpt, ens_pred, report, evaljs, obs = sys.argv[1:6]
singles = [a.split(":") for a in sys.argv[6:]]
N = len(singles)
bad = []

# 1. members = single runs, bit for bit
ens = ckpt.read(ens_ckpt)
for k, (c, _) in enumerate(singles):
    one = ckpt.read(c)
    for part in ("params", "bank_key", "bank_val", "bank_owner", "bank_lkey"):
        mine = ens[f"m{k}.{part}"] if k < N - 1 else ens[part]
        if mine != one[part]:
            bad.append(f"member {k}: section {part} differs from the single run {c}")
print(f"ok members: {N} members equal their single runs' parameters and banks" if not bad else "\n".join(bad))

# 2. mean, sd, spread from the single runs' predictions
rep = json.load(open(report))
with netCDF4.Dataset(ens_pred) as e:
    targets = [v for v in e.variables if v + "_spread" in e.variables]
    assert targets, "no X_spread in the ensemble's predictions"
    for t in targets:
        runs = []
        for _, p in singles:
            with netCDF4.Dataset(p) as f:
                runs.append(np.ma.filled(f[t][:].astype(np.float64), np.nan))
        runs = np.array(runs)
        mean, sd = runs.mean(axis=0), runs.std(axis=0, ddof=1)
        r = float(e[t + "_spread"].residual_spread)
        if abs(r - rep["test"][f"residual_spread_{t}"]) > 1e-6 * max(1, r):
            bad.append(f"{t}: residual_spread attribute {r} but the train report says {rep['test']['residual_spread_' + t]}")
        spread = np.sqrt(sd**2 + r**2)
        for name, want in ((t, mean), (t + "_member_sd", sd), (t + "_spread", spread)):
            got = np.ma.filled(e[name][:].astype(np.float64), np.nan)
            if not np.array_equal(np.isnan(got), np.isnan(want)):
                bad.append(f"{name}: values where the single runs have none, or the reverse")
                continue
            ok = ~np.isnan(want)
            err = np.abs(got[ok] - want[ok]).max()
            scale = np.abs(runs[:, ok]).max()
            if err > 1e-5 * scale:
                bad.append(f"{name}: differs from numpy's by {err:.3g} (scale {scale:.3g})")
        print(f"ok {t}: mean, member sd and spread (r = {r:.4g}) agree with numpy over {ok.sum()} values")

# 3. coverage and CRPS on the test locations, from the files
ids = rep["test_locations"]  # global ids y * nx + x
ev = json.load(open(evaljs))
with netCDF4.Dataset(ens_pred) as e, netCDF4.Dataset(obs) as o:
    nx = len(e.dimensions["lon"])
    for t in targets:
        p = np.ma.filled(e[t][:].astype(np.float64), np.nan)
        s = np.ma.filled(e[t + "_spread"][:].astype(np.float64), np.nan)
        y = np.ma.filled(o[t][:].astype(np.float64), np.nan)
        cols = [(i // nx, i % nx) for i in ids]
        pp = np.concatenate([p[:, a, b] for a, b in cols])
        ss = np.concatenate([s[:, a, b] for a, b in cols])
        yy = np.concatenate([y[:, a, b] for a, b in cols])
        ok = ~np.isnan(pp) & ~np.isnan(yy)
        pp, ss, yy = pp[ok], ss[ok], yy[ok]
        e1 = np.mean(np.abs(yy - pp) <= ss)
        e2 = np.mean(np.abs(yy - pp) <= 2 * ss)
        z = (yy - pp) / ss
        erf = np.vectorize(math.erf)
        crps = np.mean(ss * (z * erf(z / math.sqrt(2)) + 2 * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
                             - 1 / math.sqrt(math.pi)))
        m = ev["fluxes"][t]["pooled"]
        for name, mine, theirs, tol in (("in 1 spread", e1, m["cover1"], 1e-9), ("in 2 spreads", e2, m["cover2"], 1e-9),
                                        ("CRPS", crps, m["crps"], 1e-4 * max(crps, 1e-3))):
            if abs(mine - theirs) > tol + 0.5 / len(yy):  # a value on the edge may round either way
                bad.append(f"{t}: eval's {name} {theirs} but numpy's {mine}")
        tr = rep["test"]
        for name, mine, key in (("in 1 spread", e1, "cover1_"), ("CRPS", crps, "crps_")):
            if abs(mine - tr[key + t]) > 0.01 * max(abs(mine), 0.01):
                bad.append(f"{t}: train report's test {name} {tr[key + t]} but numpy's {mine}")
        print(f"ok {t}: {len(yy)} test values, {e1:.3f} inside 1 spread, {e2:.3f} inside 2, CRPS {crps:.4g}")

if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
