#!/usr/bin/python3
"""Independent check of raci's outputs with netCDF-C (python3-netCDF4), not PnetCDF.

usage: compare_values.py IN OUT VAR [VAR ...]
Each VAR of OUT must equal VAR of IN as float32 wherever IN has a value, and be
missing (_FillValue) exactly where IN is missing (its _FillValue, missing_value,
valid range or NaN). Coordinate variables shared by both files must be equal.
"""
import sys
import numpy as np
import netCDF4


def values(ds, name):
    v = ds.variables[name]
    v.set_auto_maskandscale(True)
    a = np.ma.masked_invalid(np.ma.asarray(v[...]).astype(np.float64))
    return a


def main():
    src, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    fails = 0
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(out) as b:
        for name in names:
            x, y = values(a, name), values(b, name)
            if x.shape != y.shape:
                print(f"FAIL {name}: shape {x.shape} vs {y.shape}")
                fails += 1
                continue
            mx, my = np.ma.getmaskarray(x), np.ma.getmaskarray(y)
            if (mx != my).any():
                print(f"FAIL {name}: missing masks differ at {int((mx != my).sum())} of {mx.size} values")
                fails += 1
            both = ~mx & ~my
            xv = x.data[both].astype(np.float32)
            yv = y.data[both].astype(np.float32)
            bad = int((xv != yv).sum())
            if bad:
                print(f"FAIL {name}: {bad} values differ (max abs diff {np.abs(xv - yv).max()})")
                fails += 1
            else:
                print(f"ok {name}: {int(both.sum())} values equal, {int(mx.sum())} missing in both")
        for name in b.variables:
            if name in a.variables and name not in names and a.variables[name].dtype != str and b.variables[name].dtype.kind != 'S':
                if b.variables[name].ndim and not np.array_equal(np.asarray(a.variables[name][...]), np.asarray(b.variables[name][...])):
                    print(f"FAIL coordinate {name} differs")
                    fails += 1
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
