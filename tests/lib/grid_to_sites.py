#!/usr/bin/python3
"""A site file (time, site) from a gridded raci simulation, for tests.

usage: grid_to_sites.py GRID.nc SITES.nc EVERY [COUNT [RECORDS.txt]]

Every EVERY-th land cell (at most COUNT) becomes a site S000, S001, ... with
the cell's coordinates and every (time, lat, lon) and (lat, lon) variable.
With RECORDS.txt, site k keeps values only on its own record [a_k, b_k), with
a 20-day gap inside for k % 5 == 0, as towers on one time axis do; the
records are written to RECORDS.txt as "a b gap0 gap1" lines (-1: no gap).
"""
import sys

import netCDF4
import numpy as np

src = netCDF4.Dataset(sys.argv[1])
every = int(sys.argv[3])
count = int(sys.argv[4]) if len(sys.argv) > 4 else None
records = sys.argv[5] if len(sys.argv) > 5 else None
land = np.argwhere(~np.ma.getmaskarray(src["TA"][0]))[::every][:count]
nt = len(src.dimensions["time"])
rec = []
if records:
    for k in range(len(land)):
        a, b = (k * 37) % 200, nt - (k * 53) % 250
        rec.append((a, b, (a + 100, a + 120) if k % 5 == 0 else None))
    with open(records, "w") as f:
        for a, b, g in rec:
            f.write(f"{a} {b} {g[0] if g else -1} {g[1] if g else -1}\n")
with netCDF4.Dataset(sys.argv[2], "w", format="NETCDF3_64BIT_DATA") as d:
    d.setncatts({a: src.getncattr(a) for a in src.ncattrs()})
    d.createDimension("time", nt)
    d.createDimension("site", len(land))
    d.createDimension("nchar", 8)
    for n, v in src.variables.items():
        if n in ("lat", "lon"):
            w = d.createVariable(n, "f8", ("site",))
            w.setncatts({a: v.getncattr(a) for a in v.ncattrs() if a not in ("axis", "_FillValue")})
            w[:] = [(src["lat"][j] if n == "lat" else src["lon"][i]) for j, i in land]
            continue
        if n == "time":
            dims = ("time",)
        elif v.dimensions[-2:] == ("lat", "lon"):
            dims = v.dimensions[:-2] + ("site",)
        else:
            continue
        w = d.createVariable(n, v.dtype, dims, fill_value=getattr(v, "_FillValue", None))
        w.setncatts({a: v.getncattr(a) for a in v.ncattrs() if a != "_FillValue"})
        x = v[:]
        if n == "time":
            w[:] = x
            continue
        x = np.ma.array(x[..., land[:, 0], land[:, 1]])
        if x.ndim == 2:
            for k, (a, b, g) in enumerate(rec):
                x[:a, k] = np.ma.masked
                x[b:, k] = np.ma.masked
                if g:
                    x[g[0]:g[1], k] = np.ma.masked
        w[:] = x
    sid = d.createVariable("site_id", "S1", ("site", "nchar"))
    sid[:] = netCDF4.stringtochar(np.array([f"S{k:03d}" for k in range(len(land))], dtype="S8"))
