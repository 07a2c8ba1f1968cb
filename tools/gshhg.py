#!/usr/bin/python3
"""Coastlines and political borders from GMT's binned GSHHG files, read by
hand (no GMT, no cartopy, nothing downloaded): Debian 12's gmt-gshhg-low
package installs them in /usr/share/gmt-gshhg (tools/install-deps.sh).

The files split the world into 10-degree bins numbered from the north-west
corner, row by row; each bin holds line segments whose points are unsigned
16-bit offsets (1/65535 of the bin size) from the bin's south-west corner.
Coastline segments pack their point count and level in one integer
(n << 9 | level << 6 | entry << 3 | exit; level 1 land, 2 lake, 3 island in
a lake, 4 pond); border segments have the count and level in their own
variables (level 1 national, 2 internal such as US states and Canadian
provinces, 3 maritime). Data: GSHHG 2.3.7, P. Wessel and W. H. F. Smith (LGPL).

    segments(kind, levels, west, east, south, north) -> list of (n, 2) lon/lat arrays
"""
import os

import netCDF4
import numpy as np

DIRS = [os.environ.get("RACI_GSHHG_DIR", ""), "/usr/share/gmt-gshhg", "/usr/share/gmt/coast"]
FILES = {"coast": "binned_GSHHS_{r}.nc", "border": "binned_border_{r}.nc"}


def find(kind, res="l"):
    """path of the binned file of KIND ('coast' or 'border') at resolution RES, or None"""
    for d in DIRS:
        p = os.path.join(d, FILES[kind].format(r=res)) if d else ""
        if p and os.path.exists(p):
            return p
    return None


def segments(kind, levels=(1,), west=-180.0, east=180.0, south=-90.0, north=90.0, res="l", min_area=0.0):
    """line segments of KIND at the given levels that touch the box, longitudes in
    west's convention (-180..180 when west < 0, else 0..360); coastlines of
    polygons (lakes...) of at least MIN_AREA km2 only; None without the file"""
    path = find(kind, res)
    if path is None:
        return None
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        g = lambda n: np.asarray(ds.variables[n][...])
        bsize = int(g("Bin_size_in_minutes")[0]) / 60.0
        nx = int(g("N_bins_in_360_longitude_range")[0])
        first_seg = g("Id_of_first_segment_in_a_bin").astype(np.int64)
        nseg_bin = g("N_segments_in_a_bin").astype(np.int64)
        first_pt = g("Id_of_first_point_in_a_segment").astype(np.int64)
        if kind == "coast":
            info = g("Embedded_npts_levels_exit_entry_for_a_segment").astype(np.int64)
            npts, level = info >> 9, (info >> 6) & 7
            area = g("The_km_squared_area_of_polygons")[g("Id_of_GSHHS_ID")]
        else:
            npts = g("N_points_for_a_segment").astype(np.int64) & 0xFFFF
            area = np.full(len(npts), np.inf)
            level = g("Hierarchial_level_of_a_segment").astype(np.int64)
        dx = g("Relative_longitude_from_SW_corner_of_bin").astype(np.int64) & 0xFFFF
        dy = g("Relative_latitude_from_SW_corner_of_bin").astype(np.int64) & 0xFFFF
    scale = bsize / 65535.0
    shift = -360.0 if west < 0 else 0.0
    out = []
    for b in range(len(first_seg)):
        lat_sw = 90.0 - (b // nx + 1) * bsize
        lon_sw = (b % nx) * bsize
        if shift and lon_sw >= 180.0:
            lon_sw += shift
        if lat_sw > north or lat_sw + bsize < south or lon_sw > east or lon_sw + bsize < west:
            continue
        for s in range(first_seg[b], first_seg[b] + nseg_bin[b]):
            if level[s] not in levels or area[s] < min_area:
                continue
            p = slice(first_pt[s], first_pt[s] + npts[s])
            out.append(np.column_stack([lon_sw + dx[p] * scale, lat_sw + dy[p] * scale]))
    return out
