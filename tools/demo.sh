#!/bin/sh
# `make demo`: the main job on the embedded default data: simulate, train with
# a spatial hold-out, predict the continent, evaluate the held-out region, and
# draw the maps (README.md). Outputs go to out/demo/. Each stage prints its own
# time and the files it wrote; apt and compiler output (--build: stage 0 runs
# tools/install-deps.sh and make, as `make demo` does) go to out/demo/demo.log.
# usage: tools/demo.sh [--build]
set -eu
cd "$(dirname "$0")/.."
OUT=out/demo
LOG="$OUT/demo.log"
NP="${RACI_DEMO_NP:-2}"
export RACI_SHARED_DATA="${RACI_SHARED_DATA:-../shared/data}"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
: > "$LOG"
T0=$(date +%s)
MARK="$OUT/.stage"
# stage: a new stage starts now; took: its time, the total, and the files it wrote
stage() { TS=$(date +%s); touch "$MARK"; }
took() {
  now=$(date +%s)
  echo "   ... $((now - TS)) s ($((now - T0)) s since the start)"
  files=$(find "$OUT" -type f -newer "$MARK" ! -name .stage ! -name '*.tmp*' ! -name demo.log | sort)
  for f in $files; do
    printf '   wrote %-34s %s\n' "$f" "$(du -h "$f" | cut -f1)"
  done
}
CREDIT="raci simulate (docs/SIMULATOR.md); land mask NCAR/geocat-datafiles (Apache-2.0); coastlines and borders GSHHG 2.3.7 (gmt-gshhg-low)"
echo "make demo: apt and compiler output, if any, in $LOG"

if [ "${1:-}" = "--build" ]; then
  echo "== 0. dependencies (tools/install-deps.sh) and the build (make bin/raci)"
  stage
  if ! tools/install-deps.sh >> "$LOG" 2>&1 || ! make -s --no-print-directory bin/raci >> "$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    echo "make demo: failed; the whole output is in $LOG" >&2
    exit 1
  fi
  echo "   ... $(($(date +%s) - TS)) s"
  echo
fi

stage
echo "== 1. raci simulate on $NP ranks: the embedded default dataset"
echo "      North America at 0.5 degree, 2 years of daily drivers, static maps and GPP, RECO, NEE, CH4"
mpirun -q -n "$NP" bin/raci simulate -options_file inputs/demo-simulate.opts -o "$OUT/simulation.nc"
took
echo
stage
echo "== 2. raci info: what the dataset holds (roles from raci_role attributes)"
bin/raci info "$OUT/simulation.nc"
took
echo
stage
echo "== 3. map of the simulated annual CH4 emission (all days of the simulation)"
# nmol CH4 m-2 s-1 as a yearly mass: x 86400 s x 365 d x 16.04e-9 g/nmol
/usr/bin/python3 tools/plot_map.py "$OUT/simulation.nc" FCH4 "$OUT/ch4-annual.png" --cmap magma \
  --annual "g CH4 m-2 yr-1" --scale 0.50584 \
  --title "Simulated annual CH4 emission, North America (raci simulate, $NP ranks)" --credit "$CREDIT"
took
echo
BOX="-100,-88,33,45"
stage
echo "== 4. raci train on $NP ranks: RACI with the central US ($BOX) held out, never seen in training"
mpirun -q -n "$NP" bin/raci train -data "$OUT/simulation.nc" -o "$OUT/raci.ckpt" -overwrite \
  -split_test_box "$BOX" -train_epochs 4 -train_steps 100 -train_report "$OUT/raci-train.json"
took
echo
stage
echo "== 5. raci predict on $NP ranks: every land cell and day of the continent"
mpirun -q -n "$NP" bin/raci predict -ckpt "$OUT/raci.ckpt" -data "$OUT/simulation.nc" -o "$OUT/prediction.nc"
took
echo
stage
echo "== 6. raci eval: the held-out region, per regime class and pooled"
mpirun -q -n "$NP" bin/raci eval -pred "$OUT/prediction.nc" -data "$OUT/simulation.nc" \
  -split_test_box "$BOX" -eval_json "$OUT/eval-heldout.json"
took
echo
stage
echo "== 7. maps: simulated | predicted | difference over the same days (annual GPP, annual NEE), held-out errors"
PCREDIT="RACI trained on $CREDIT"
/usr/bin/python3 tools/plot_map.py "$OUT/prediction.nc" GPP "$OUT/gpp-compare.png" --compare "$OUT/simulation.nc" \
  --annual "g C m-2 yr-1" --box="$BOX" \
  --title "Annual GPP, North America: simulated, predicted by RACI ($BOX held out), and their difference" --credit "$PCREDIT"
/usr/bin/python3 tools/plot_map.py "$OUT/prediction.nc" NEE "$OUT/nee-compare.png" --compare "$OUT/simulation.nc" \
  --annual "g C m-2 yr-1" --box="$BOX" \
  --title "Annual NEE (positive: source to the atmosphere), simulated, predicted by RACI, and their difference" --credit "$PCREDIT"
/usr/bin/python3 tools/plot_errors.py "$OUT/eval-heldout.json" "$OUT/heldout-errors.png" --fluxes GPP,NEE --box="$BOX" \
  --title "RACI errors on the held-out central US ($BOX)" --credit "$PCREDIT"
took
rm -f "$MARK"
echo
echo "Outputs (in $OUT/):"
echo "  simulation.nc         CF-1.8 CDF-5, (time, lat, lon): 6 fast drivers, 8 slow maps, 4 targets"
echo "  ch4-annual.png        simulated annual CH4 emission (g CH4 m-2 yr-1)"
echo "  raci.ckpt             the trained model (checkpoint); raci-train.json its training errors"
echo "  prediction.nc         predicted GPP, RECO, NEE, FCH4 for every land cell and day after the"
echo "                        model's warm-up, the regime-embedding map and the role shares"
echo "  eval-heldout.json     held-out scores per cell, per class and pooled"
echo "  gpp-compare.png       annual GPP: simulated | predicted | predicted - simulated, same days"
echo "  nee-compare.png       annual NEE the same way, diverging colours centred at zero"
echo "  heldout-errors.png    per-cell RMSE of daily GPP and NEE on the held-out region"
echo "  *.json next to a map  what it drew: colour limits and centre, the days averaged"
echo "  demo.log              apt and compiler output"
T=$(($(date +%s) - T0))
echo "make demo: done in $((T / 60)) min $((T % 60)) s on $NP ranks"
