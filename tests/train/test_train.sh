#!/bin/sh
# raci train end to end on a small simulation, NP ranks: every model trains and
# beats the climatological mean on held-out cells; the checkpoint and report
# are written; all ranks hold identical parameters (checked every 5 steps);
# bad options are refused before any work.  usage: test_train.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_train.sh NP}
PY=/usr/bin/python3

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-80 -sim_lat 35,50 -sim_years 1 -sim_seed 5 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
SMALL="-train_check_every 5 -raci_hidden 16 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 16 -raci_slow_days 120 -raci_blocks 4 -train_epochs 3 -train_steps 15 -train_batch 32 -train_lr 3e-3"
SPLIT="-split_test_box -92,-88,40,44"

for spec in "raci" "raci -train_bank_max 40" "raci -raci_no_retrieval" "raci -raci_no_slow" "raci -raci_no_film" "lstm" "ealstm" "transformer" "tcn"; do
  set -- $spec
  model=$1; shift
  label="$model$(echo "$*" | tr -d ' ')"
  run_np "$NP" train -quiet -data "$TMP/sim.nc" -o "$TMP/$label.ckpt" -model "$model" "$@" $SMALL $SPLIT -train_report "$TMP/$label.json" > "$TMP/$label.log" 2>&1 || { cat "$TMP/$label.log"; fail "$label: training failed"; }
  [ "$(head -c 8 "$TMP/$label.ckpt")" = RACICKPT ] || fail "$label: no checkpoint"
  ls "$TMP"/*.tmp > /dev/null 2>&1 && fail "$label: temporary file left"
  # held-out RMSE below the spread of the held-out targets (better than their mean)
  $PY - "$TMP/sim.nc" "$TMP/$label.json" <<'PYEOF' || { cat "$TMP/$label.log"; fail "$label: no better than the mean on held-out cells"; }
import sys, json, numpy as np, netCDF4
r = json.load(open(sys.argv[2]))
with netCDF4.Dataset(sys.argv[1]) as ds:
    lon, lat = ds["lon"][:], ds["lat"][:]
    sel = (lon >= -92) & (lon <= -88)
    rows = (lat >= 40) & (lat <= 44)
    for t in ("GPP", "RECO"):
        v = np.ma.filled(ds[t][29:, :, :][:, rows][:, :, sel].astype(float), np.nan)
        sd = np.nanstd(v)
        rmse = r["test"]["rmse_" + t]
        assert rmse < sd, (t, rmse, sd)
        print(f"  {t}: held-out RMSE {rmse:.3f} < spread {sd:.3f}")
PYEOF
  case "$label" in *bank_max*)
    # about 40 of the ~200 training cells make the bank, drawn by cell id
    n=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['bank_entries'])" "$TMP/$label.json")
    [ "$n" -gt 10 ] && [ "$n" -lt 80 ] || fail "$label: $n bank entries, expected about 40"
    echo "  bank of $n prototypes" ;;
  esac
  echo "ok $label ($NP ranks)"
done

# bad options: one error line, non-zero exit, nothing written
for bad in "-model forest" "-train_batch 0" "-split_test_box -180,0,0,90" "-raci_slow_days 100 -raci_blocks 12"; do
  if run_np "$NP" train -quiet -data "$TMP/sim.nc" -o "$TMP/bad.ckpt" $bad > "$TMP/out" 2> "$TMP/err"; then fail "train $bad succeeded"; fi
  [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "train $bad: not one error line"; }
  [ ! -e "$TMP/bad.ckpt" ] || fail "train $bad wrote a checkpoint"
  echo "ok refuses $bad: $(cat "$TMP/err")"
done
if run_np "$NP" train -quiet -data "$TMP/sim.nc" -o /nonexistent/x.ckpt > "$TMP/out" 2> "$TMP/err"; then fail "unwritable checkpoint accepted"; fi
grep -q "cannot write output '/nonexistent/x.ckpt'" "$TMP/err" || { cat "$TMP/err"; fail "unwritable checkpoint: message"; }
echo "test_train: ok at $NP ranks"
