#!/bin/sh
# `make demo`: the main job on the embedded default data, as far as raci goes
# today (README.md, "What raci does today"). Outputs go to out/demo/.
set -eu
cd "$(dirname "$0")/.."
OUT=out/demo
NP="${RACI_DEMO_NP:-2}"
export RACI_SHARED_DATA="${RACI_SHARED_DATA:-../shared/data}"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
CREDIT="raci simulate (docs/SIMULATOR.md); land mask NCAR/geocat-datafiles (Apache-2.0)"

echo "== 1. raci simulate on $NP ranks: the embedded default dataset"
echo "      North America at 1 degree, 2 years of daily drivers, static maps and GPP, RECO, NEE, CH4"
mpirun -q -n "$NP" bin/raci simulate -options_file inputs/demo-simulate.opts -o "$OUT/simulation.nc"
echo
echo "== 2. raci info: what the dataset holds (roles from raci_role attributes)"
bin/raci info "$OUT/simulation.nc"
echo
echo "== 3. maps of annual GPP and annual CH4"
/usr/bin/python3 tools/plot_map.py "$OUT/simulation.nc" GPP "$OUT/gpp-annual.png" --annual "g C m-2 yr-1" \
  --title "Simulated annual GPP, North America (raci simulate, $NP ranks)" --credit "$CREDIT"
# nmol CH4 m-2 s-1 as a yearly mass: x 86400 s x 365 d x 16.04e-9 g/nmol
/usr/bin/python3 tools/plot_map.py "$OUT/simulation.nc" FCH4 "$OUT/ch4-annual.png" --cmap magma \
  --annual "g CH4 m-2 yr-1" --scale 0.50584 \
  --title "Simulated annual CH4 emission, North America (raci simulate, $NP ranks)" --credit "$CREDIT"
echo
echo "== 4. raci train on $NP ranks: RACI with the central US held out (never seen in training)"
mpirun -q -n "$NP" bin/raci train -data "$OUT/simulation.nc" -o "$OUT/raci.ckpt" \
  -split_test_box -100,-88,33,45 -train_epochs 3 -train_steps 100 -train_batch 64 -train_report "$OUT/raci-train.json"
echo
echo "Outputs:"
echo "  $OUT/simulation.nc     CF-1.8 CDF-5, (time, lat, lon): 6 fast drivers, 8 slow maps, 4 targets"
echo "  $OUT/gpp-annual.png    annual GPP"
echo "  $OUT/ch4-annual.png    annual CH4 emission"
echo "  $OUT/raci.ckpt         the trained model (checkpoint)"
echo "  $OUT/raci-train.json   its training, validation and held-out errors"
echo
echo "Not yet: predicting the continent with the trained model, evaluation maps (issue 5);"
echo "the demo grows with them. raci convert and raci info also read real grids (README.md)."
