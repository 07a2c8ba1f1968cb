#!/usr/bin/python3
"""Checks `raci prep -format grid` files against the forcing files they came
from. Expected values are computed here, independently of raci, from the
inputs read with netCDF4/numpy (dates from netCDF4's num2date, not raci's
calendar code; units, aggregation and derivations written out again below);
raci's output is only ever read to be compared with them. The case `make`
writes the synthetic inputs of the test (copies of the real ERA5 file and
small made-up grids).

usage: check_grid.py CASE ARGS...
  make TMP ERA5                 write the synthetic inputs into TMP
  mhm OUT DIR                   the mHM Moselle files (-prep_same_grid)
  era5 OUT ERA5                 hourly t2m: daily means, Hargreaves SW_IN
  packed OUT PACKED ERA5        the packed copy: means, fill on filled days
  livneh OUT FORCING PARAMS     Livneh 3-hourly with -prep_amount_stamp start
  noleap OUT FILE               the daily noleap file on a 2-D lat/lon grid (or
                                its copy with vp and values of tmx, tmn missing)
  era5x OUT STEPS all|amounts [STATIC]
                                ERA5-style hourly file (all its drivers), or the
                                ERA5-Land one made from it (TA, P, SW_IN): the
                                totals of STEPS either way; STATIC: z and lsm
  at OUT < LINES                values picked by hand, lines VAR T Y X WANT TOL (WANT fill:
                                _FillValue) on stdin
  CASE ARGS... -                the case, then values picked by hand on stdin as for `at`
"""
import datetime
import math
import os
import sys

import netCDF4
import numpy as np

FAILS = []


def fail(what):
    FAILS.append(what)
    print("FAIL " + what)


def out_var(ds, name):
    """a variable of raci's output as float64, NaN where it holds _FillValue"""
    v = ds[name]
    assert v._FillValue == np.float32(-9999), (name, v._FillValue)
    return np.ma.filled(v[:].astype(np.float64), np.nan)


def compare(what, got, want, rtol, atol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        fail(f"{what}: shape {got.shape}, expected {want.shape}")
        return
    gn, wn = np.isnan(got), np.isnan(want)
    ok = ~wn & ~gn
    err = np.abs(got - want)
    lim = rtol * np.abs(want) + atol
    bad = ok & (err > lim)
    if (gn != wn).any():
        i = tuple(np.argwhere(gn != wn)[0])
        fail(f"{what}: {int((gn != wn).sum())} values fill where not expected or the other way, first at "
             f"{i}: got {got[i]}, expected {want[i]} (the {int(ok.sum())} values both have: "
             f"{int(bad.sum())} off)")
        return
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        fail(f"{what}: {int(bad.sum())} values off, first at {i}: got {got[i]!r}, expected {want[i]!r}")
        return
    print(f"ok {what}: {int(ok.sum())} values, {int(wn.sum())} fill, largest difference "
          f"{(err[ok].max() if ok.any() else 0):.3g}")


def same(what, got, want):
    if got != want:
        fail(f"{what}: {got!r}, expected {want!r}")


def es_hpa(t):
    """saturation vapour pressure, hPa, of T in degC (FAO-56 eq. 11 x 10)"""
    return 6.108 * np.exp(17.27 * t / (t + 237.3))


def ra_wm2(lat_deg, doy, ndays):
    """extraterrestrial radiation, W m-2, FAO-56 eq. 21-25 with Gsc = 1367 W m-2"""
    phi = np.radians(lat_deg)
    x = 2 * np.pi * doy / ndays
    dr = 1 + 0.033 * np.cos(x)
    delta = 0.409 * np.sin(x - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1, 1))
    ra = 1367.0 / np.pi * dr * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))
    return np.maximum(ra, 0)


def hargreaves(lat, doy, ndays, tx, tn):
    """daily SW_IN, W m-2: 0.16 sqrt(Tmax - Tmin) Ra; lat broadcast against tx, doy of each day (axis 0)"""
    ra = np.stack([ra_wm2(lat, d, n) for d, n in zip(doy, ndays)])
    return 0.16 * np.sqrt(np.maximum(tx - tn, 0)) * ra


def read(path, name):
    """an input as float64, NaN where masked (netCDF4 applies _FillValue, scale_factor and add_offset)"""
    return np.ma.filled(netCDF4.Dataset(path)[name][:].astype(np.float64), np.nan)


def stamps(path, var="time"):
    t = netCDF4.Dataset(path)[var]
    return netCDF4.num2date(t[:], t.units, getattr(t, "calendar", "standard"),
                            only_use_cftime_datetimes=False, only_use_python_datetimes=False)


def by_day(x, spd, k0, nday):
    """steps k0, k0+1, ... as (nday, spd, ...)"""
    return x[k0:k0 + nday * spd].reshape((nday, spd) + x.shape[1:])


def check_time(ds, units, calendar, values):
    t = ds["time"]
    same("time units", t.units, units)
    same("time calendar", t.calendar, calendar)
    if not np.array_equal(np.asarray(t[:], np.float64), np.asarray(values, np.float64)):
        fail(f"time values {t[:][:5]}... ({len(t)}), expected {values[:5]}... ({len(values)})")
    else:
        print(f"ok time: {len(values)} days, {units}, calendar {calendar}")


def statics(ds, ta, p, keep=None, rtol=1e-5):
    """MAT and MAP from the expected daily TA and P (days, y, x)"""
    def mean(x):  # over the days that have a value; NaN where none has
        n = np.isfinite(x).sum(axis=0)
        return np.where(n > 0, np.nansum(x, axis=0) / np.maximum(n, 1), np.nan)

    mat = mean(ta) if ta is not None else None
    mp = mean(p) * 365.25 if p is not None else None
    if keep is not None:
        if mat is not None:
            mat[~keep] = np.nan
        if mp is not None:
            mp[~keep] = np.nan
    if mat is not None:
        compare("MAT", out_var(ds, "MAT"), mat, rtol, 1e-4)
    if mp is not None:
        compare("MAP", out_var(ds, "MAP"), mp, rtol, 1e-3)


# ------------------------------------------------------------------ mHM Moselle
def case_mhm(out, d):
    ds = netCDF4.Dataset(out)
    t0 = datetime.datetime(1989, 1, 1)
    nday = 1826
    check_time(ds, "days since 1989-01-01 00:00:00", "standard", np.arange(nday))

    def daily(name):
        """the file's days 1989-01-01..1993-12-31 by their dates (each file has its own time origin)"""
        x = read(f"{d}/{name}.nc", name)
        days = np.array([(s - t0).total_seconds() / 86400 for s in stamps(f"{d}/{name}.nc")])
        assert np.all(days == np.round(days)), name
        e = np.full((nday,) + x.shape[1:], np.nan)
        sel = (days >= 0) & (days < nday)
        e[days[sel].astype(int)] = x[sel]
        assert sel.sum() == nday, (name, sel.sum())
        return e

    mk = netCDF4.Dataset(f"{d}/mask.nc")["mask"][0]
    keep = ~np.ma.getmaskarray(mk) & (np.ma.filled(mk, 0) != 0)
    if keep.sum() != 34:
        fail(f"mask.nc keeps {keep.sum()} cells, expected 34")

    def masked(x):
        x = x.copy()
        x[:, ~keep] = np.nan
        return x

    ta, p, ws, sw = daily("tavg"), daily("pre"), daily("windspeed"), daily("ssrd")
    tx, tn, ea = daily("tmax"), daily("tmin"), daily("eabs") / 100.0  # Pa -> hPa
    vpd = np.maximum(0, 0.5 * (es_hpa(tx) + es_hpa(tn)) - ea)
    vpd[np.isnan(tx) | np.isnan(tn) | np.isnan(ea)] = np.nan
    compare("TA == tavg", out_var(ds, "TA"), masked(ta), 1e-5, 1e-4)
    compare("P == pre", out_var(ds, "P"), masked(p), 1e-5, 1e-4)
    compare("WS == windspeed", out_var(ds, "WS"), masked(ws), 1e-5, 1e-4)
    compare("SW_IN == ssrd", out_var(ds, "SW_IN"), masked(sw), 1e-5, 1e-3)
    compare("VPD from tmax, tmin, eabs", out_var(ds, "VPD"), masked(vpd), 1e-4, 1e-4)
    # every value of every variable kept: fill exactly off the mask
    for v in ("TA", "P", "WS", "SW_IN", "VPD"):
        x = out_var(ds, v)
        if np.isfinite(x[:, ~keep]).any() or not np.isfinite(x[:, keep]).all():
            fail(f"{v}: not fill exactly where mask.nc is missing")
    print(f"ok fill on the {int((~keep).sum())} cells mask.nc leaves out, values on all {int(keep.sum())} others")
    statics(ds, masked(ta), masked(p))
    same("no elev", "elev" in ds.variables, False)
    # coordinates of the first file (pre.nc), 2-D
    pre = netCDF4.Dataset(f"{d}/pre.nc")
    compare("lat from pre.nc", ds["lat"][:], pre["lat"][:], 0, 1e-5)
    compare("lon from pre.nc", ds["lon"][:], pre["lon"][:], 0, 1e-5)
    same("dimensions of TA", ds["TA"].dimensions, ("time", "y", "x"))
    same("VPD raci_derived", getattr(ds["VPD"], "raci_derived", None), "yes")
    same("TA raci_derived", getattr(ds["TA"], "raci_derived", None), None)


# ------------------------------------------------------------------ ERA5 hourly t2m
def era5_expect(path, tname="t2m"):
    """daily TA, Tmax, Tmin (degC) of an hourly file, rows sorted to ascending latitude; dates of its days"""
    src = netCDF4.Dataset(path)
    lat = np.asarray(src["lat"][:], np.float64)
    t = read(path, tname) - 273.15
    st = stamps(path)
    assert st[0].hour == 0 and len(st) % 24 == 0
    nday = len(st) // 24
    order = np.argsort(lat)
    h = by_day(t, 24, 0, nday)[:, :, order, :]
    return lat[order], np.asarray(src["lon"][:], np.float64), h, [st[24 * k] for k in range(nday)]


def doy_of(dates, ndays):
    return [dt.timetuple().tm_yday for dt in dates], [ndays] * len(dates)


def case_era5(out, path):
    ds = netCDF4.Dataset(out)
    lat, lon, h, dates = era5_expect(path)
    same("days", len(dates), 31)
    check_time(ds, "days since 2019-01-01 00:00:00", "standard", np.arange(59, 59 + 31))
    ta, tx, tn = h.mean(axis=1), h.max(axis=1), h.min(axis=1)
    src_lat = np.asarray(netCDF4.Dataset(path)["lat"][:])
    same("input latitudes descend", bool(src_lat[0] > src_lat[-1]), True)
    compare("lat ascending", ds["lat"][:], lat, 0, 1e-9)
    same("lat ascends in the output", bool(np.all(np.diff(ds["lat"][:]) > 0)), True)
    compare("lon", ds["lon"][:], lon, 0, 1e-9)
    same("dimensions of TA", ds["TA"].dimensions, ("time", "lat", "lon"))
    compare("TA = daily mean of t2m - 273.15 (rows flipped)", out_var(ds, "TA"), ta, 1e-5, 1e-4)
    doy, nd = doy_of(dates, 365)
    sw = hargreaves(lat[:, None], doy, nd, tx, tn)
    compare("SW_IN Hargreaves from the hourly max and min", out_var(ds, "SW_IN"), sw, 1e-4, 1e-3)
    same("SW_IN raci_derived", getattr(ds["SW_IN"], "raci_derived", None), "yes")
    same("TA raci_derived", getattr(ds["TA"], "raci_derived", None), None)
    statics(ds, ta, None)


def case_packed(out, packed, orig):
    ds = netCDF4.Dataset(out)
    lat, lon, h, dates = era5_expect(packed)
    ta = h.mean(axis=1)  # NaN on a day with a filled hour
    filled = np.isnan(ta)
    same("days with a filled hour (cells)", int(filled.sum()), 1 + 1 + 33 * 49)
    compare("TA of the packed copy (its unpacked values)", out_var(ds, "TA"), ta, 1e-5, 1e-4)
    _, _, ho, _ = era5_expect(orig)
    to = ho.mean(axis=1)
    to[filled] = np.nan
    sf = float(netCDF4.Dataset(packed)["t2m"].scale_factor)
    compare("TA of the packed copy against the original", out_var(ds, "TA"), to, 0, sf / 2 + 1e-4)
    doy, nd = doy_of(dates, 365)
    sw = hargreaves(lat[:, None], doy, nd, h.max(axis=1), h.min(axis=1))  # NaN with a filled hour
    compare("SW_IN of the packed copy (Hargreaves; fill on the days with a filled hour)", out_var(ds, "SW_IN"), sw,
            1e-4, 1e-3)
    statics(ds, ta, None)


# ------------------------------------------------------------------ Livneh Walnut Gulch
def case_livneh(out, forcing, params):
    ds = netCDF4.Dataset(out)
    st = stamps(forcing)
    same("first stamp", (st[0].year, st[0].month, st[0].day, st[0].hour), (2008, 1, 1, 0))
    spd, nday = 8, 366
    check_time(ds, "days since 2008-01-01 00:00:00", "standard", np.arange(nday))
    same("time long_name", ds["time"].long_name, "local day")
    lat = np.asarray(netCDF4.Dataset(forcing)["lat"][:], np.float64)
    assert np.all(np.diff(lat) > 0)

    def steps(name):
        return by_day(read(forcing, name), spd, 0, nday)

    temp = steps("temp")
    ta, tx, tn = temp.mean(axis=1), temp.max(axis=1), temp.min(axis=1)
    compare("TA = mean of the 8 steps", out_var(ds, "TA"), ta, 1e-5, 1e-4)
    compare("P = sum of the 8 steps", out_var(ds, "P"), steps("prec").sum(axis=1), 1e-5, 1e-4)
    compare("PA = mean of air_pressure (kPa)", out_var(ds, "PA"), steps("air_pressure").mean(axis=1), 1e-5, 1e-4)
    compare("WS = mean of wind (-prep_units m s-1)", out_var(ds, "WS"), steps("wind").mean(axis=1), 1e-5, 1e-4)
    compare("SW_IN = mean of shortwave", out_var(ds, "SW_IN"), steps("shortwave").mean(axis=1), 1e-5, 1e-3)
    ea = steps("vapor_pressure").mean(axis=1) * 10.0  # kPa -> hPa
    compare("VPD from vapor_pressure and the 3-hourly max and min", out_var(ds, "VPD"),
            np.maximum(0, 0.5 * (es_hpa(tx) + es_hpa(tn)) - ea), 1e-4, 1e-4)
    compare("elev == params elev", out_var(ds, "elev"), read(params, "elev"), 1e-6, 1e-3)
    statics(ds, ta, steps("prec").sum(axis=1))


# ------------------------------------------------------------------ synthetic inputs
def write_grid(path, fmt, lat, lon, times, tunits, calendar, vars_, latlon2d=False, time_coord=True):
    """a file (time, y, x) with 1-D lat/lon (dims lat, lon) or 2-D (dims y, x); vars_: name -> (data, attrs)"""
    d = netCDF4.Dataset(path, "w", format=fmt)
    ny, nx = (lat.shape if latlon2d else (len(lat), len(lon)))
    yd, xd = ("y", "x") if latlon2d else ("lat", "lon")
    d.createDimension("time", len(times) if times is not None else None)
    d.createDimension(yd, ny)
    d.createDimension(xd, nx)
    if time_coord and times is not None:
        t = d.createVariable("time", "f8", ("time",))
        t.units, t.calendar, t.standard_name = tunits, calendar, "time"
        t[:] = times
    if latlon2d:
        a = d.createVariable("lat", "f8", (yd, xd))
        b = d.createVariable("lon", "f8", (yd, xd))
    else:
        a = d.createVariable("lat", "f8", (yd,))
        b = d.createVariable("lon", "f8", (xd,))
    a.units, a.standard_name = "degrees_north", "latitude"
    b.units, b.standard_name = "degrees_east", "longitude"
    a[:], b[:] = lat, lon
    for name, (data, attrs) in vars_.items():
        dims = ("time", yd, xd) if data.ndim == 3 else (yd, xd)
        dt = attrs.pop("_dtype", "f4")
        fill = attrs.pop("_FillValue", None)
        v = d.createVariable(name, dt, dims, fill_value=fill)
        v.set_auto_maskandscale(False)
        for k, x in attrs.items():
            setattr(v, k, x)
        v[:] = data
    d.close()


def make(tmp, era5):
    rng = np.random.default_rng(20260101)
    src = netCDF4.Dataset(era5)
    t2m = np.asarray(src["t2m"][:], np.float32)
    lat, lon, tim = np.asarray(src["lat"][:]), np.asarray(src["lon"][:]), np.asarray(src["time"][:])
    tunits = src["time"].units

    # packed short copy (classic CDF-1), a few values set to fill: (day 3, hour 5, y 2, x 7),
    # (day 10, hour 23, y 0, x 0), and the whole of hour 0 of day 20
    sf, off, fill = 0.002, 278.6, np.int16(-32767)
    packed = np.round((t2m.astype(np.float64) - off) / sf).astype(np.int16)
    packed[3 * 24 + 5, 2, 7] = fill
    packed[10 * 24 + 23, 0, 0] = fill
    packed[20 * 24, :, :] = fill
    write_grid(f"{tmp}/packed.nc", "NETCDF3_CLASSIC", lat, lon, tim, tunits, "proleptic_gregorian",
               {"t2m": (packed, {"_dtype": "i2", "_FillValue": fill, "units": "K", "scale_factor": sf,
                                 "add_offset": off})})

    # longitudes 0..360: negative ones + 360, columns rolled to ascend; same basename, CDF-5
    os.makedirs(f"{tmp}/lon360", exist_ok=True)
    order = np.argsort(np.where(lon < 0, lon + 360, lon))
    write_grid(f"{tmp}/lon360/era5-2mt-2019-03-uk.cdf5.nc", "NETCDF3_64BIT_DATA", lat,
               np.where(lon < 0, lon + 360, lon)[order], tim, tunits, "proleptic_gregorian",
               {"t2m": (t2m[:, :, order], {"units": "K", "long_name": "2 metre temperature"})})

    # ERA5-style hourly file: 2019-03-01 00:00 to 03-04 11:00 (84 steps) on a 4 x 5 piece of the UK grid
    # (latitudes descending); instantaneous t2m, d2m, u10, v10, sp; tp (m) and ssrd (J m**-2) per hour,
    # stamped at the end of their hour
    nh, ys, xs = 84, slice(10, 14), slice(20, 25)
    t = t2m[:nh, ys, xs].astype(np.float64)
    shp = t.shape
    hour = (np.arange(nh) % 24)[:, None, None]
    fields = {
        "t2m": (t, {"units": "K"}),
        "d2m": (t - rng.uniform(0.3, 6.0, shp), {"units": "K"}),
        "u10": (rng.normal(0, 4, shp), {"units": "m s**-1"}),
        "v10": (rng.normal(1, 4, shp), {"units": "m s**-1"}),
        "sp": (rng.uniform(98000, 103000, shp), {"units": "Pa"}),
        "tp": (np.where(rng.random(shp) < 0.4, 0, rng.exponential(0.0006, shp)), {"units": "m"}),
        "ssrd": (np.maximum(0, np.sin((hour - 6) / 12 * np.pi)) * rng.uniform(0.5e6, 2.5e6, shp),
                 {"units": "J m**-2"}),
    }
    fields = {k: (v.astype(np.float32), a) for k, (v, a) in fields.items()}
    write_grid(f"{tmp}/era5x.nc", "NETCDF4", lat[ys], lon[xs], np.arange(nh, dtype=float),
               "hours since 2019-03-01 00:00:00", "gregorian", {k: (v, dict(a)) for k, (v, a) in fields.items()})

    # its statics, rows the other way (latitudes ascending): geopotential z and a land-sea mask lsm, 0 at
    # two cells, a fraction at a third (kept)
    lsm = np.ones((1, 4, 5))
    lsm[0, 0, 1] = lsm[0, 2, 3] = 0
    lsm[0, 1, 1] = 0.3
    write_grid(f"{tmp}/era5x-static.nc", "NETCDF4", lat[ys][::-1], lon[xs], np.zeros(1), "hours since 2019-03-01",
               "gregorian", {"z": (rng.uniform(0, 30000, (1, 4, 5)), {"units": "m**2 s**-2"}),
                             "lsm": (lsm, {"units": "(0 - 1)"})})

    # the ERA5-Land way: tp and ssrd accumulated since 00 UTC, the stamp 00:00 holding the previous day's total
    def accum(x):
        a = np.empty(x.shape)
        for k in range(nh):
            h = k % 24
            lo = k - 23 if h == 0 else k - h + 1
            made_up = 7.0 * x[0] if lo < 0 else 0  # stamp 0 holds Feb 28, which no file has
            a[k] = x[max(lo, 0):k + 1].sum(axis=0, dtype=np.float64) + made_up
        return a

    land = {"t2m": fields["t2m"], "tp": (accum(fields["tp"][0]), {"units": "m"}),
            "ssrd": (accum(fields["ssrd"][0]), {"units": "J m**-2"})}
    write_grid(f"{tmp}/era5land.nc", "NETCDF4", lat[ys], lon[xs], np.arange(nh, dtype=float),
               "hours since 2019-03-01 00:00:00", "gregorian",
               {k: (v.astype(np.float64), dict(a)) for k, (v, a) in land.items()})

    # daily noleap year 2000 on a 3 x 4 curvilinear grid (2-D lat/lon, dims y, x): tas (K), tmx and tmn
    # known only by standard_name air_temperature and cell_methods, pr (kg m-2 s-1)
    jj, ii = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    lat2, lon2 = 45 + 0.5 * jj + 0.1 * ii, 10 + 0.7 * ii - 0.2 * jj
    day = np.arange(365)[:, None, None]
    tas = 283.15 + 10 * np.sin(2 * np.pi * (day - 110) / 365) + 0.3 * jj + 0.1 * ii + rng.normal(0, 2, (365, 3, 4))
    rangeT = rng.uniform(2, 14, (365, 3, 4))
    write_grid(f"{tmp}/noleap.nc", "NETCDF4", lat2, lon2, np.arange(365, dtype=float),
               "days since 2000-01-01 00:00:00", "noleap",
               {"tas": (tas, {"units": "K", "standard_name": "air_temperature"}),
                "tmx": (tas + rangeT / 2, {"units": "K", "standard_name": "air_temperature",
                                           "cell_methods": "time: maximum"}),
                "tmn": (tas - rangeT / 2, {"units": "K", "standard_name": "air_temperature",
                                           "cell_methods": "time: minimum"}),
                "pr": (np.where(rng.random((365, 3, 4)) < 0.5, 0, rng.exponential(4e-5, (365, 3, 4))),
                       {"units": "kg m-2 s-1"})},
               latlon2d=True)

    # the same with a vapour pressure vp (hPa) and two values of the daily range missing (_FillValue):
    # tmx at (day 100, y 1, x 2), tmn at (day 200, y 0, x 3)
    tmx, tmn = tas + rangeT / 2, tas - rangeT / 2
    tmx[100, 1, 2] = tmn[200, 0, 3] = -9999.0
    write_grid(f"{tmp}/noleap-gap.nc", "NETCDF4", lat2, lon2, np.arange(365, dtype=float),
               "days since 2000-01-01 00:00:00", "noleap",
               {"tas": (tas, {"units": "K", "standard_name": "air_temperature"}),
                "tmx": (tmx, {"units": "K", "standard_name": "air_temperature", "cell_methods": "time: maximum",
                              "_FillValue": np.float32(-9999)}),
                "tmn": (tmn, {"units": "K", "standard_name": "air_temperature", "cell_methods": "time: minimum",
                              "_FillValue": np.float32(-9999)}),
                "vp": (rng.uniform(2, 9, (365, 3, 4)), {"units": "hPa"})},
               latlon2d=True)

    # bad inputs, on a 3 x 4 grid
    la, lo = np.array([50.0, 50.5, 51.0]), np.array([1.0, 1.5, 2.0, 2.5])
    h48 = np.arange(48, dtype=float)
    tk = 280 + rng.normal(0, 3, (48, 3, 4))
    write_grid(f"{tmp}/furlongs.nc", "NETCDF4", la, lo, h48, "hours since 2019-03-01", "standard",
               {"t2m": (tk, {"units": "furlongs"})})
    write_grid(f"{tmp}/notime.nc", "NETCDF4", la, lo, h48, "", "", {"t2m": (tk, {"units": "K"})},
               time_coord=False)
    d365 = np.arange(365, dtype=float)
    tday = 280 + rng.normal(0, 3, (365, 3, 4))
    write_grid(f"{tmp}/ta2000.nc", "NETCDF4", la, lo, np.arange(366, dtype=float), "days since 2000-01-01",
               "standard", {"tas": (280 + rng.normal(0, 3, (366, 3, 4)), {"units": "K"})})
    write_grid(f"{tmp}/pr2001.nc", "NETCDF4", la, lo, d365, "days since 2001-01-01", "standard",
               {"pr": (np.full((365, 3, 4), 1e-5), {"units": "kg m-2 s-1"})})
    write_grid(f"{tmp}/pr2000noleap.nc", "NETCDF4", la, lo, d365, "days since 2000-01-01", "noleap",
               {"pr": (np.full((365, 3, 4), 1e-5), {"units": "kg m-2 s-1"})})
    write_grid(f"{tmp}/pr2000wide.nc", "NETCDF4", la, np.append(lo, 3.0), np.arange(366, dtype=float),
               "days since 2000-01-01", "standard", {"pr": (np.full((366, 3, 5), 1e-5), {"units": "kg m-2 s-1"})})
    write_grid(f"{tmp}/twod.nc", "NETCDF4", la, lo, d365, "days since 2000-01-01", "standard",
               {"pr": (np.full((365, 3, 4), 1e-5), {"units": "kg m-2 s-1"}), "foo": (tday[0], {"units": "K"})})
    write_grid(f"{tmp}/static3.nc", "NETCDF4", la, lo, np.arange(3, dtype=float), "days since 2000-01-01",
               "standard", {"tas": (tday[:3], {"units": "K"}), "hgt": (tday[:3] * 0 + 100, {"units": "m"})})
    print(f"ok wrote the synthetic inputs into {tmp}")


def case_noleap(out, path):
    ds = netCDF4.Dataset(out)
    check_time(ds, "days since 2000-01-01 00:00:00", "noleap", np.arange(365))
    same("dimensions of TA", ds["TA"].dimensions, ("time", "y", "x"))
    src = netCDF4.Dataset(path)
    compare("2-D lat kept", ds["lat"][:], src["lat"][:], 0, 1e-9)
    compare("2-D lon kept", ds["lon"][:], src["lon"][:], 0, 1e-9)
    ta = read(path, "tas") - 273.15
    compare("TA = tas - 273.15", out_var(ds, "TA"), ta, 1e-5, 1e-4)
    names = netCDF4.Dataset(path).variables
    if "pr" in names:
        compare("P = pr x 86400", out_var(ds, "P"), read(path, "pr") * 86400, 1e-5, 1e-4)
    tx, tn = read(path, "tmx") - 273.15, read(path, "tmn") - 273.15
    # the noleap year: day of year = index + 1 of 365
    sw = hargreaves(np.asarray(src["lat"][:], np.float64), np.arange(1, 366), [365] * 365, tx, tn)
    compare("SW_IN Hargreaves from tmx, tmn (noleap days of year)", out_var(ds, "SW_IN"), sw, 1e-4, 1e-3)
    if "vp" in names:  # missing where tmx or tmn is
        vpd = np.maximum(0, 0.5 * (es_hpa(tx) + es_hpa(tn)) - read(path, "vp"))
        compare("VPD = (es(tmx) + es(tmn)) / 2 - vp", out_var(ds, "VPD"), vpd, 1e-4, 1e-4)
    statics(ds, ta, read(path, "pr") * 86400 if "pr" in names else None)


def case_era5x(out, steps, what, static=None):
    """the totals of the hourly step file STEPS: each day 01:00..24:00 for tp and ssrd, 00:00..23:00 for the rest;
    what: all (the output of STEPS) or amounts (of the ERA5-Land file: TA, P, SW_IN); STATIC: z and lsm"""
    ds = netCDF4.Dataset(out)
    keep = None
    if static:
        order_s = np.argsort(np.asarray(netCDF4.Dataset(static)["lat"][:]))
        lsm = read(static, "lsm")[0][order_s]
        keep = np.isfinite(lsm) & (lsm != 0)
        same("cells lsm keeps", int(keep.sum()), 18)
        elev = read(static, "z")[0][order_s] / 9.80665
        elev[~keep] = np.nan
        compare("elev = z / 9.80665 (rows matched by latitude)", out_var(ds, "elev"), elev, 1e-5, 1e-3)
        same("elev raci_derived", getattr(ds["elev"], "raci_derived", None), "yes")

    def masked(x):
        if keep is not None:
            x = x.copy()
            x[..., ~keep] = np.nan
        return x

    st = stamps(steps)
    assert (st[0].day, st[0].hour, len(st)) == (1, 0, 84)
    nday = 3
    check_time(ds, "days since 2019-01-01 00:00:00", "standard", np.arange(59, 62))
    lat = np.asarray(netCDF4.Dataset(steps)["lat"][:], np.float64)
    order = np.argsort(lat)

    def inst(name):  # stamps 00:00..23:00 of each day
        return by_day(read(steps, name), 24, 0, nday)[:, :, order, :]

    def amount(name):  # stamps 01:00..24:00 (the end of each hour)
        return by_day(read(steps, name), 24, 1, nday)[:, :, order, :]

    t = inst("t2m") - 273.15
    ta, tx, tn = t.mean(axis=1), t.max(axis=1), t.min(axis=1)
    compare("TA", out_var(ds, "TA"), masked(ta), 1e-5, 1e-4)
    p = amount("tp").sum(axis=1) * 1000.0
    compare("P = sum of tp (m) over 01:00..24:00", out_var(ds, "P"), masked(p), 1e-5, 1e-4)
    compare("SW_IN = sum of ssrd (J m-2) / 86400", out_var(ds, "SW_IN"), masked(amount("ssrd").sum(axis=1) / 86400.0),
            1e-5, 1e-3)
    same("SW_IN raci_derived", getattr(ds["SW_IN"], "raci_derived", None), None)
    same("variables", sorted(v for v in ds.variables if v not in ("time", "lat", "lon", "lat_bnds", "lon_bnds")),
         sorted(["TA", "SW_IN", "P", "MAT", "MAP"] + (["VPD", "PA", "WS"] if what == "all" else [])
                + (["elev"] if static else [])))
    if what == "all":
        ea = es_hpa(inst("d2m") - 273.15).mean(axis=1)
        compare("VPD = (es(Tmax) + es(Tmin)) / 2 - mean es(d2m)", out_var(ds, "VPD"),
                masked(np.maximum(0, 0.5 * (es_hpa(tx) + es_hpa(tn)) - ea)), 1e-4, 1e-4)
        compare("WS = mean hypot(u10, v10)", out_var(ds, "WS"),
                masked(np.hypot(inst("u10"), inst("v10")).mean(axis=1)), 1e-5, 1e-4)
        compare("PA = mean sp / 1000", out_var(ds, "PA"), masked(inst("sp").mean(axis=1) / 1000.0), 1e-5, 1e-4)
    statics(ds, ta, p, keep)


def case_at(out):
    """values picked by hand, one a line on stdin: VAR T Y X WANT TOL [# comment]; WANT fill: _FillValue"""
    ds = netCDF4.Dataset(out)
    n, bad = 0, len(FAILS)
    for line in sys.stdin:
        line = line.split("#")[0].split()
        if not line:
            continue
        var, t, y, x, want, tol = line
        got = float(np.ma.filled(ds[var][int(t), int(y), int(x)], np.nan))
        n += 1
        if want == "fill":
            if not math.isnan(got):
                fail(f"{var}[{t}, {y}, {x}] = {got!r}, expected fill")
        elif not abs(got - float(want)) <= float(tol):
            fail(f"{var}[{t}, {y}, {x}] = {got!r}, expected {want}")
    if n == 0:
        fail("no values picked by hand")
    elif len(FAILS) == bad:
        print(f"ok {n} values picked by hand")


if __name__ == "__main__":
    case, args = sys.argv[1], sys.argv[2:]
    hand = args[-1:] == ["-"]  # then values picked by hand on stdin, as for `at`
    if hand:
        args = args[:-1]
    {"make": make, "mhm": case_mhm, "era5": case_era5, "packed": case_packed, "livneh": case_livneh,
     "noleap": case_noleap, "era5x": case_era5x, "at": case_at}[case](*args)
    if hand:
        case_at(args[0])
    sys.exit(1 if FAILS else 0)
