#!/bin/sh
# `make demo`: the main job on the embedded default data: simulate, train with
# a spatial hold-out, predict the continent, evaluate the held-out region, and
# draw the maps (README.md). Outputs go to out/demo/.
set -eu
cd "$(dirname "$0")/.."
OUT=out/demo
NP="${RACI_DEMO_NP:-2}"
export RACI_SHARED_DATA="${RACI_SHARED_DATA:-../shared/data}"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
T0=$(date +%s)
took() { echo "   ... $(($(date +%s) - T0)) s since the start"; }
CREDIT="raci simulate (docs/SIMULATOR.md); land mask NCAR/geocat-datafiles (Apache-2.0)"

echo "== 1. raci simulate on $NP ranks: the embedded default dataset"
echo "      North America at 0.5 degree, 2 years of daily drivers, static maps and GPP, RECO, NEE, CH4"
mpirun -q -n "$NP" bin/raci simulate -options_file inputs/demo-simulate.opts -o "$OUT/simulation.nc"
took
echo
echo "== 2. raci info: what the dataset holds (roles from raci_role attributes)"
bin/raci info "$OUT/simulation.nc"
took
echo
echo "== 3. maps of annual GPP and annual CH4"
/usr/bin/python3 tools/plot_map.py "$OUT/simulation.nc" GPP "$OUT/gpp-annual.png" --annual "g C m-2 yr-1" \
  --title "Simulated annual GPP, North America (raci simulate, $NP ranks)" --credit "$CREDIT"
# nmol CH4 m-2 s-1 as a yearly mass: x 86400 s x 365 d x 16.04e-9 g/nmol
/usr/bin/python3 tools/plot_map.py "$OUT/simulation.nc" FCH4 "$OUT/ch4-annual.png" --cmap magma \
  --annual "g CH4 m-2 yr-1" --scale 0.50584 \
  --title "Simulated annual CH4 emission, North America (raci simulate, $NP ranks)" --credit "$CREDIT"
took
echo
BOX="-100,-88,33,45"
echo "== 4. raci train on $NP ranks: RACI with the central US ($BOX) held out, never seen in training"
mpirun -q -n "$NP" bin/raci train -data "$OUT/simulation.nc" -o "$OUT/raci.ckpt" -overwrite \
  -split_test_box "$BOX" -train_epochs 4 -train_steps 100 -train_report "$OUT/raci-train.json"
took
echo
echo "== 5. raci predict on $NP ranks: every land cell and day of the continent"
mpirun -q -n "$NP" bin/raci predict -ckpt "$OUT/raci.ckpt" -data "$OUT/simulation.nc" -o "$OUT/prediction.nc"
took
echo
echo "== 6. raci eval: the held-out region, per regime class and pooled"
mpirun -q -n "$NP" bin/raci eval -pred "$OUT/prediction.nc" -data "$OUT/simulation.nc" \
  -split_test_box "$BOX" -eval_json "$OUT/eval-heldout.json"
took
echo
echo "== 7. maps of the predictions and of the held-out errors"
PCREDIT="RACI trained on $CREDIT"
/usr/bin/python3 tools/plot_map.py "$OUT/prediction.nc" GPP "$OUT/pred-gpp-annual.png" --annual "g C m-2 yr-1" \
  --title "Predicted annual GPP, North America (RACI, $NP ranks)" --credit "$PCREDIT"
/usr/bin/python3 tools/plot_map.py "$OUT/prediction.nc" NEE "$OUT/pred-nee-annual.png" --annual "g C m-2 yr-1" --cmap RdBu_r \
  --title "Predicted annual NEE, North America (RACI, $NP ranks)" --credit "$PCREDIT"
/usr/bin/python3 tools/plot_errors.py "$OUT/eval-heldout.json" "$OUT/heldout-errors.png" --fluxes GPP,NEE \
  --title "RACI errors on the held-out central US ($BOX)" --credit "$PCREDIT"
took
echo
echo "Outputs (in $OUT/):"
echo "  simulation.nc         CF-1.8 CDF-5, (time, lat, lon): 6 fast drivers, 8 slow maps, 4 targets"
echo "  gpp-annual.png        simulated annual GPP;  ch4-annual.png  simulated annual CH4 emission"
echo "  raci.ckpt             the trained model (checkpoint); raci-train.json its training errors"
echo "  prediction.nc         predicted GPP, RECO, NEE, FCH4 for every land cell and day,"
echo "                        the regime-embedding map and the role shares"
echo "  eval-heldout.json     held-out scores per cell, per class and pooled"
echo "  pred-gpp-annual.png   predicted annual GPP;  pred-nee-annual.png  predicted annual NEE"
echo "  heldout-errors.png    per-cell RMSE of GPP and NEE on the held-out region"
T=$(($(date +%s) - T0))
echo "make demo: done in $((T / 60)) min $((T % 60)) s on $NP ranks"
