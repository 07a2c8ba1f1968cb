#!/usr/bin/python3
"""An hourly, ERA5-like forcing file made from a raci simulation (daily TA,
SW_IN, P on a lat/lon grid), for the raci prep -format grid benchmark:
t2m (K, a diurnal cycle around the daily mean), ssrd (J m-2 per hour,
stamped at the end of its hour, the day's total spread over the daylight
hours) and tp (m per hour, the day's total spread evenly), latitudes
descending as ERA5 has them, CDF-5, `hours since` the first day.

usage: era5_like.py SIM.nc OUT.nc [DAYS]
"""
import sys

import netCDF4
import numpy as np


def main():
    sim, out = sys.argv[1], sys.argv[2]
    with netCDF4.Dataset(sim) as s:
        nd = len(s.dimensions["time"]) if len(sys.argv) < 4 else min(int(sys.argv[3]), len(s.dimensions["time"]))
        lat = np.asarray(s["lat"][:], float)[::-1]
        lon = np.asarray(s["lon"][:], float)
        hours = np.arange(24)
        cyc = np.sin(2 * np.pi * (hours - 9) / 24.0)                   # warmest at 15 h
        light = np.clip(np.sin(np.pi * (hours + 1 - 6) / 12.0), 0, None)  # the hour ending at h+1
        light /= light.sum()
        with netCDF4.Dataset(out + ".tmp", "w", format="NETCDF3_64BIT_DATA") as o:
            o.createDimension("time", None)
            o.createDimension("latitude", len(lat))
            o.createDimension("longitude", len(lon))
            t = o.createVariable("time", "f8", ("time",))
            t.units, t.calendar, t.standard_name = "hours since 2001-01-01 00:00:00", "proleptic_gregorian", "time"
            v = o.createVariable("latitude", "f8", ("latitude",))
            v.units, v.standard_name = "degrees_north", "latitude"
            v[:] = lat
            v = o.createVariable("longitude", "f8", ("longitude",))
            v.units, v.standard_name = "degrees_east", "longitude"
            v[:] = lon
            var = {}
            for name, units in (("t2m", "K"), ("ssrd", "J m**-2"), ("tp", "m")):
                var[name] = o.createVariable(name, "f4", ("time", "latitude", "longitude"), fill_value=np.float32(-32767))
                var[name].units = units
            for d in range(nd):
                ta = np.ma.filled(np.ma.asarray(s["TA"][d])[::-1].astype(np.float32), np.nan)
                sw = np.ma.filled(np.ma.asarray(s["SW_IN"][d])[::-1].astype(np.float32), np.nan)
                pr = np.ma.filled(np.ma.asarray(s["P"][d])[::-1].astype(np.float32), np.nan)
                sl = slice(24 * d, 24 * d + 24)
                t[sl] = 24 * d + hours
                for name, x in (("t2m", ta[None] + 273.15 + 5 * cyc[:, None, None]),
                                ("ssrd", sw[None] * 86400.0 * light[:, None, None]),
                                ("tp", np.broadcast_to(pr[None] / 1000.0 / 24.0, (24,) + pr.shape))):
                    var[name][sl] = np.where(np.isnan(x), np.float32(-32767), x).astype(np.float32)
    import os
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
