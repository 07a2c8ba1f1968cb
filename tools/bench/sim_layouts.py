#!/usr/bin/python3
"""Held-out layouts of the multi-draw simulation benchmark (issue 15), chosen
by a rule from a seed, never by hand.

usage: sim_layouts.py SIM.nc LAYOUT SEED            prints the raci split options
       sim_layouts.py SIM.nc LAYOUT SEED --cells    prints the held-out cells' ids
                                                    (y * nx + x), one per line
LAYOUT:
  boxes  two boxes of 12 x 8 degrees (lon x lat) centred on land cells drawn
         with the seed; each holds 2-10 % of the land cells and they do not
         overlap (redrawn until so); -split_test_box.
  zone   a whole regime class (the simulator's climate zones, docs/SIMULATOR.md
         section 2.2) drawn with the seed among the classes that hold 4-20 % of
         the land cells; -split_test_class. That class's one-hot static input is
         then never active in training (every model alike).
The draw depends only on the file's land cells, the layout and the seed, so
the benchmark and tests/data/test_layouts.sh apply the same rule.
"""
import sys

import netCDF4
import numpy as np

BOX_W, BOX_H = 12.0, 8.0


def land(path):
    d = netCDF4.Dataset(path)
    lat = np.asarray(d["lat"][:], float)
    lon = np.asarray(d["lon"][:], float)
    cls = np.ma.filled(d["class"][:].astype(float), np.nan)
    return lat, lon, cls


def inside(box, lon2, lat2):
    x0, x1, y0, y1 = box
    return (lon2 >= x0) & (lon2 <= x1) & (lat2 >= y0) & (lat2 <= y1)


def layout(path, name, seed):
    """(raci options, boolean held-out mask (ny, nx)) of a layout."""
    lat, lon, cls = land(path)
    lon2, lat2 = np.meshgrid(lon, lat)
    ok = np.isfinite(cls)
    nland = int(ok.sum())
    rng = np.random.default_rng([int(seed), 15, 0 if name == "boxes" else 1])
    if name == "boxes":
        ys, xs = np.nonzero(ok)
        for _ in range(10000):
            boxes, mask = [], np.zeros_like(ok)
            for _ in range(2):
                i = rng.integers(len(ys))
                cx, cy = lon[xs[i]], lat[ys[i]]
                boxes.append((cx - BOX_W / 2, cx + BOX_W / 2, cy - BOX_H / 2, cy + BOX_H / 2))
            m = [inside(b, lon2, lat2) & ok for b in boxes]
            share = [x.sum() / nland for x in m]
            if all(0.02 <= s <= 0.10 for s in share) and not (m[0] & m[1]).any() and not (
                    inside(boxes[0], lon2, lat2) & inside(boxes[1], lon2, lat2)).any():
                opts = "-split_test_box " + ",".join(f"{v:g}" for b in boxes for v in b)
                return opts, (m[0] | m[1])
        sys.exit(f"sim_layouts.py: {path}: no two boxes of 2-10 % of the land cells found")
    if name == "zone":
        vals, counts = np.unique(cls[ok], return_counts=True)
        share = counts / nland
        cand = [v for v, s in zip(vals, share) if 0.04 <= s <= 0.20]
        if not cand:
            sys.exit(f"sim_layouts.py: {path}: no class holds 4-20 % of the land cells")
        c = cand[rng.integers(len(cand))]
        return f"-split_test_class {c:g}", ok & (cls == c)
    sys.exit(f"sim_layouts.py: unknown layout '{name}' (boxes or zone)")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    opts, mask = layout(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    if "--cells" in sys.argv[4:]:
        nx = mask.shape[1]
        for y, x in zip(*np.nonzero(mask)):
            print(int(y) * nx + int(x))
    else:
        print(opts)


if __name__ == "__main__":
    main()
