"""Bad and re-laid-out copies of a small raci simulation, for test_inputs.sh.

usage: make_inputs.py SIM.nc OUTDIR

Every file is SIM.nc copied variable by variable (CDF-5) with one change:
a non-finite or absurd value, a missing-value marker without _FillValue,
other units, another time step, units or calendar, every driver missing,
the latitudes reversed, or a sub-region.
"""
import sys
import numpy as np
import netCDF4

src_path, out = sys.argv[1], sys.argv[2]
src = netCDF4.Dataset(src_path)
src.set_auto_maskandscale(False)
FAST = [n for n, v in src.variables.items() if getattr(v, "raci_role", "") == "fast"]


def copy(name, data=None, atts=None, drop=(), lat=slice(None), lon=slice(None), flip=False, rename=None):
    """SIM.nc as OUT/name: data {var: fn(array) -> array}, atts {var: {att: value or None}},
    the variables' attributes in `drop` left out; lat/lon: index ranges kept; flip: latitudes reversed;
    rename {var: new name} (after data and atts, which use the old names)."""
    data, atts, rename = data or {}, atts or {}, rename or {}
    d = netCDF4.Dataset(f"{out}/{name}", "w", format="NETCDF3_64BIT_DATA")
    d.setncatts({a: src.getncattr(a) for a in src.ncattrs()})
    for n, dim in src.dimensions.items():
        size = len(dim)
        if n in ("lat", "lon"):
            size = len(range(size)[lat if n == "lat" else lon])
        d.createDimension(n, None if dim.isunlimited() else size)
    for n, v in src.variables.items():
        a = {k: v.getncattr(k) for k in v.ncattrs()}
        for k, x in atts.get(n, {}).items():
            if x is None:
                a.pop(k, None)
            else:
                a[k] = x
        fill = None if (n, "_FillValue") in drop else a.pop("_FillValue", None)
        a.pop("_FillValue", None)
        w = d.createVariable(rename.get(n, n), v.dtype, v.dimensions, fill_value=fill)
        w.set_auto_maskandscale(False)
        w.setncatts(a)
        x = v[...]
        idx = tuple(lat if dn == "lat" else lon if dn == "lon" else slice(None) for dn in v.dimensions)
        x = x[idx]
        if flip and "lat" in v.dimensions:
            x = np.flip(x, axis=v.dimensions.index("lat"))
        if n in data:
            x = data[n](np.array(x))
        w[...] = x
    d.close()


def put(ix, value):
    def f(x):
        x[ix] = value
        return x
    return f


# 1. non-finite and absurd values; -9999 without _FillValue
copy("inf_driver.nc", data={"TA": put((40, 2, 2), np.inf)})
copy("ninf_static.nc", data={"elev": put((1, 4), -np.inf)})
copy("huge_target.nc", data={"GPP": put((100, 0, 0), 1e30)})
# clay, soc are canonical (range-checked); a variable raci has no range for is checked only for 1e15
copy("huge_noncanonical.nc", data={"clay": put((3, 3), 1e30)}, rename={"clay": "sand"})
copy("nan_noncanonical.nc", data={"soc": put((3, 3), np.inf)}, rename={"soc": "peat_depth"})
copy("clay_range.nc", data={"clay": put((3, 3), 300.0)})
copy("m9999_nofill.nc", data={"TA": put((200, 5, 1), -9999.0)}, drop={("TA", "_FillValue")})
# 2. units
copy("ta_kelvin.nc", data={"TA": lambda x: (x + 273.15).astype(np.float32)}, atts={"TA": {"units": "K"}})
copy("vpd_pa.nc", data={"VPD": lambda x: (x * 100).astype(np.float32)}, atts={"VPD": {"units": "Pa"}})
copy("clay_fraction.nc", data={"clay": lambda x: (x / 100).astype(np.float32)}, atts={"clay": {"units": "1"}})
copy("ta_degree_celsius.nc", atts={"TA": {"units": "degree_Celsius"}})
# 3. time axes
copy("hourly.nc", atts={"time": {"units": "hours since 2001-01-01 00:00:00"}})
copy("fivedaily.nc", data={"time": lambda t: t * 5})
copy("months.nc", atts={"time": {"units": "months since 2001-01-01"}})
copy("lunar.nc", atts={"time": {"calendar": "lunar"}})
# 5. every driver missing
copy("no_drivers.nc", data={n: (lambda x: np.full_like(x, -9999.0)) for n in FAST})
# 6. the same cells laid out otherwise: latitudes decreasing; a sub-region
copy("flipped.nc", flip=True)
copy("subregion.nc", lat=slice(1, 6), lon=slice(1, 6))
