#!/usr/bin/python3
"""CF-1.8 requirements of raci's outputs, one by one (Debian 12 has no CF
checker; issue 18). Each file given is checked against every requirement that
applies to it; a failure names the file, the variable and the requirement.

usage: check_cf.py FILE...

  R1 Conventions = "CF-1.8"
  R2 every time-varying float variable, and every diagnostic mean, has a
     cell_methods naming time ("time: mean", ...)
  R3 coordinates (time, lat, lon, site_id, regime) have a long_name; lat and
     lon have units and standard_name
  R4 1-D lat and lon of a grid have cell bounds: a `bounds` attribute naming
     an (n, 2) variable with lower < centre < upper, contiguous cells
  R5 every dimension of a data variable that indexes something has a
     coordinate variable (time, lat/lon or y/x with 2-D lat/lon, site, regime)
  R6 standard_name is the CF name for the quantity (the table below); the
     variables CF has no name for carry none (docs/DATA.md, "CF metadata")
  R7 no relative paths in attributes: a word with a '/' is an absolute path
     (references to raci's own docs/ excepted)
"""
import sys

import netCDF4
import numpy as np

# raci's variables and their CF standard names (None: the CF table has no name for it; docs/DATA.md)
STANDARD = {
    "TA": "air_temperature", "SW_IN": "surface_downwelling_shortwave_flux_in_air",
    "VPD": "water_vapor_saturation_deficit_in_air", "P": "lwe_precipitation_rate", "PA": "surface_air_pressure",
    "WS": "wind_speed", "TS": "soil_temperature", "SWC": "volume_fraction_of_condensed_water_in_soil",
    "LAI": "leaf_area_index", "GPP": "gross_primary_productivity_of_biomass_expressed_as_carbon",
    "RECO": None, "NEE": None, "FCH4": None, "MAT": "air_temperature", "MAP": None, "elev": "surface_altitude",
    "soc": "soil_mass_content_of_carbon", "clay": None, "wetland_frac": None, "whc": None,
    "time": "time", "lat": "latitude", "lon": "longitude",
}
COORDS = ("time", "lat", "lon", "site_id", "regime", "x", "y")
failures = []


def fail(path, var, req, what):
    failures.append(f"{path}: {var}: {req}: {what}")


def words(text):
    for w in str(text).replace(",", " ").replace(";", " ").replace("(", " ").replace(")", " ").split():
        yield w.strip("'\"")


def check(path):
    with netCDF4.Dataset(path) as d:
        if getattr(d, "Conventions", "") != "CF-1.8":
            fail(path, "global", "R1", f"Conventions = {getattr(d, 'Conventions', None)!r}")
        for name, v in d.variables.items():
            dims = v.dimensions
            # R2
            is_data = v.dtype.kind == "f" and name not in COORDS and not name.endswith("_bnds")
            if is_data and dims and dims[0] == "time" and "time" not in getattr(v, "cell_methods", ""):
                fail(path, name, "R2", "a daily field without cell_methods over time")
            if name in ("regime_embedding", "share_fast", "share_slow") and "time" not in getattr(v, "cell_methods", ""):
                fail(path, name, "R2", "a mean over the diagnostic days without cell_methods")
            # R3
            if name in COORDS and name in d.dimensions or name in ("lat", "lon", "site_id"):
                if not getattr(v, "long_name", ""):
                    fail(path, name, "R3", "a coordinate without long_name")
                if name in ("lat", "lon") and not (getattr(v, "units", "") and getattr(v, "standard_name", "")):
                    fail(path, name, "R3", "latitude or longitude without units or standard_name")
            # R4
            if name in ("lat", "lon") and v.ndim == 1 and "site" not in dims:
                b = getattr(v, "bounds", None)
                if b is None or b not in d.variables:
                    fail(path, name, "R4", f"no cell bounds (bounds = {b!r})")
                else:
                    c, bb = v[:].astype(float), d.variables[b][:].astype(float)
                    if bb.shape != (len(c), 2):
                        fail(path, name, "R4", f"{b} has shape {bb.shape}")
                    elif not (np.all(np.minimum(bb[:, 0], bb[:, 1]) < c) and np.all(c < np.maximum(bb[:, 0], bb[:, 1]))):
                        fail(path, name, "R4", f"{b}: a centre outside its cell")
                    elif len(c) > 1 and not np.allclose(bb[1:, 0], bb[:-1, 1]):
                        fail(path, name, "R4", f"{b}: cells not contiguous")
            # R5
            for dim in dims:
                if dim in ("nv", "nchar"):
                    continue
                ok = dim in d.variables or (dim in ("x", "y", "xc", "yc") and "lat" in d.variables) or \
                    (dim == "site" and "site_id" in d.variables)
                if not ok:
                    fail(path, name, "R5", f"dimension {dim} has no coordinate variable")
            # R6
            base = name
            for suffix in ("_spread", "_member_sd", "_gapfilled", "_measured"):
                if name.endswith(suffix):
                    base = None
            sn = getattr(v, "standard_name", None)
            if base in STANDARD and name not in COORDS:
                if sn != STANDARD[base]:
                    fail(path, name, "R6", f"standard_name {sn!r}, CF's is {STANDARD[base]!r}")
            # R7
            for att in v.ncattrs():
                for w in words(v.getncattr(att)) if isinstance(v.getncattr(att), str) else ():
                    if "/" in w and not w.startswith("/") and not w.startswith("docs/") and "://" not in w \
                            and not w[0].isdigit():
                        fail(path, name, "R7", f"{att} has the relative path {w!r}")
        for att in d.ncattrs():
            val = d.getncattr(att)
            for w in words(val) if isinstance(val, str) else ():
                if "/" in w and not w.startswith("/") and not w.startswith("docs/") and "://" not in w \
                        and not w[0].isdigit():
                    fail(path, "global", "R7", f"{att} has the relative path {w!r}")


for p in sys.argv[1:]:
    check(p)
if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"ok CF requirements R1-R7 in {len(sys.argv) - 1} file(s): " + " ".join(p.rsplit("/", 1)[-1] for p in sys.argv[1:]))
