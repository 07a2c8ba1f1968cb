#!/bin/sh
# Geographic (fast-role) retrieval at sites (issue 16): neighbours are the
# sites within -retrieval_radius (great-circle), whichever rank owns them.
# Real FLUXNET2015 sites: the three Mead sites US-Ne1/2/3 (within 2 km of
# each other) and US-Me2/US-Me3 (Metolius, about 10 km apart), with CH-Dav
# and FI-Hyy far from everything.
#  - the neighbour count train prints against the distances computed here
#    from the file's coordinates (haversine in numpy);
#  - the loss curve on NP ranks equals 1 rank (relative 1e-5): the sites are
#    split over the ranks (on 2 ranks US-Me2 and US-Me3 apart, on 4 US-Ne3
#    from US-Ne1/2), so neighbours owned by another rank must be found;
#  - -retrieval_radius 0 (no neighbours) trains another model.
# usage: test_site_neighbours.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_site_neighbours.sh NP}
PY=/usr/bin/python3
F15="$RACI_SHARED_DATA/towers/fluxnet2015-daily"
mkdir -p "$TMP/f15"
cp "$F15/sites.csv" "$TMP/f15/"
for s in US-Ne1 US-Ne2 US-Ne3 US-Me2 US-Me3 CH-Dav FI-Hyy AU-How; do
  f=$(ls "$F15"/FLX_"$s"_FLUXNET2015_DD_*.csv) || fail "no file for $s"
  head -n 800 "$f" > "$TMP/f15/$(basename "$f")"
done
"$RACI" prep -quiet -format fluxnet2015 -i "$TMP/f15" -o "$TMP/s.nc" -prep_out_of_range missing || fail "prep"
want=$($PY - "$TMP/s.nc" <<'EOF'
import sys, numpy as np, netCDF4
d = netCDF4.Dataset(sys.argv[1])
lat, lon = (np.radians(np.asarray(d[v][:], float)) for v in ("lat", "lon"))
h = np.sin((lat[:, None] - lat[None]) / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None]) * np.sin((lon[:, None] - lon[None]) / 2) ** 2
km = 2 * 6371 * np.arcsin(np.sqrt(np.minimum(h, 1)))
n = ((km <= 50) & ~np.eye(len(lat), dtype=bool)).sum(1)
print(f"{(n > 0).sum()} of {len(lat)} usable sites have other sites within 50 km ({n[n > 0].mean():.1f} on average")
EOF
)
SMALL="-train_epochs 3 -train_steps 6 -train_batch 16 -split_val_frac 0 -split_test_sites FI-Hyy"
for np in 1 "$NP"; do
  run_np "$np" train -data "$TMP/s.nc" -o "$TMP/r$np.ckpt" -overwrite $SMALL > "$TMP/train$np.log" 2>&1 || { cat "$TMP/train$np.log"; fail "train on $np ranks"; }
done
grep -qF "geographic neighbours: $want" "$TMP/train$NP.log" || { cat "$TMP/train$NP.log"; fail "neighbour count: want '$want'"; }
echo "ok $want"
run_np 1 train -data "$TMP/s.nc" -o "$TMP/r0.ckpt" $SMALL -retrieval_radius 0 > "$TMP/train0.log" 2>&1 || { cat "$TMP/train0.log"; fail "train without neighbours"; }
grep -q "geographic neighbours: 0 of 8" "$TMP/train0.log" || { cat "$TMP/train0.log"; fail "-retrieval_radius 0 found neighbours"; }
$PY - "$TMP/train1.log" "$TMP/train$NP.log" "$TMP/train0.log" "$NP" <<'EOF' || fail "loss curves"
import sys, re
def curve(p):
    return [(float(m.group(1)), float(m.group(2))) for m in re.finditer(r"train loss (\S+)\s+val loss (\S+)", open(p).read())]
a, b, z = curve(sys.argv[1]), curve(sys.argv[2]), curve(sys.argv[3])
assert len(a) == len(b) == len(z) == 3, (a, b, z)
worst = max(abs(x - y) / abs(x) for p, q in zip(a, b) for x, y in zip(p, q))
assert worst < 1e-5, f"{sys.argv[4]} ranks vs 1: {worst}"
off = max(abs(x - y) / abs(x) for p, q in zip(a, z) for x, y in zip(p, q))
assert off > 1e-4, f"neighbours change nothing ({off})"
print(f"ok loss curve on {sys.argv[4]} ranks vs 1: largest relative difference {worst:.1e}; without neighbours it moves by {off:.1e}")
EOF
echo "test_site_neighbours: ok at $NP ranks"
