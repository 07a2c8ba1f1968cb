#!/bin/sh
# Benchmark of `raci train` (not a test; `make check` never runs it): training
# samples per second on one core for RACI and the baselines, next to the same
# training steps in PyTorch (tools/reference/bench_torch.py, the networks of
# tools/reference/raci_ref.py in float32 on one thread), and the share of
# raci's training time spent in OpenBLAS's sgemm (perf). Raci then PyTorch for
# each model, side by side in one run; prints a markdown table. PyTorch runs
# three versions of the recurrent layers (bench_torch.py -rnn ref|unbind|nn:
# raci_ref's loops as written, the same loops with unbind, torch.nn's kernels).
#
# usage: tools/bench-train.sh [STEPS] [MODEL ...]   (default: 200 raci lstm ealstm transformer)
# environment: RACI_BENCH_DIR (out/bench), RACI_BENCH_MAXLOAD (1.5) and
#   RACI_BENCH_WAIT (1500 s): wait up to that long for the 1-minute load
#   average to fall to MAXLOAD before measuring; RACI_BENCH_TORCH_STEPS (50).
#   bin/raci is built only if missing (run `make` first for a fresh binary).
set -eu
cd "$(dirname "$0")/.."
CMD="tools/bench-train.sh $*"
STEPS=${1:-200}
[ $# -ge 1 ] && shift
MODELS=${*:-"raci lstm ealstm transformer"}
DIR=${RACI_BENCH_DIR:-out/bench}
MAXLOAD=${RACI_BENCH_MAXLOAD:-1.5}
WAIT=${RACI_BENCH_WAIT:-1500}
TSTEPS=${RACI_BENCH_TORCH_STEPS:-50}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$DIR"
[ -x bin/raci ] || make -s bin/raci
$PY -c "import torch" 2>/dev/null || { echo "bench-train: $PY cannot import torch (tools/install-deps.sh torch)" >&2; exit 1; }

load1() { cut -d' ' -f1 /proc/loadavg; }
above() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a > b)}'; }

# the simulation: North America at 1 degree, 2 years
bin/raci simulate -quiet -o "$DIR/sim.nc" -sim_res 1 -sim_years 2 > "$DIR/simulate.log"
TRAIN="-data $DIR/sim.nc -o $DIR/x.ckpt -overwrite -train_epochs 1 -train_steps $STEPS -train_batch 64 -train_val_stride 1000 -split_test_box -100,-88,33,45"

# perf: software clock (a VM may have no hardware counters)
PERF=0
if command -v perf > /dev/null 2>&1 && perf record -q -e cpu-clock -o "$DIR/check.perf" true > /dev/null 2>&1; then PERF=1; fi
rm -f "$DIR/check.perf"
if [ $PERF = 1 ]; then
  if perf stat -x, -e instructions true 2>&1 | grep -q "not supported"; then HW="no hardware counters here (instructions: not supported), sampling on cpu-clock"; else HW="sampling on cpu-clock"; fi
else
  HW="perf record does not work here: no sgemm share"
fi

# wait for a quiet machine
waited=0
while above "$(load1)" "$MAXLOAD" && [ "$waited" -lt "$WAIT" ]; do
  [ "$waited" -eq 0 ] && echo "bench-train: load $(load1) above $MAXLOAD, waiting up to $WAIT s" >&2
  sleep 30; waited=$((waited + 30))
done
LOAD0=$(load1)
QUIET="$LOAD0 at the start"
above "$LOAD0" "$MAXLOAD" && QUIET="$QUIET (still above $MAXLOAD after waiting $waited s: figures disturbed)"
[ "$waited" -gt 0 ] && QUIET="$QUIET, after waiting $waited s"

# share of the samples of the raci process in sgemm* symbols, over the
# training steps: from its first to its last sample in a backward pass or AdamW
# (so reading the data, building the bank and evaluating are left out); then
# the same over the whole process, and the symbols over 2 % of the steps' samples
sgemm_share() {
  perf script -i "$1" -F comm,time,ip,sym 2> /dev/null | awk '
    $1 == "raci" { n++; T[n] = $2 + 0; S[n] = $4; if ($4 ~ /backward|adamw_step/) { if (!lo || T[n] < lo) lo = T[n]; if (T[n] > hi) hi = T[n] } }
    END { for (i = 1; i <= n; i++) { all++; if (S[i] ~ /sgemm/) ga++; if (T[i] >= lo && T[i] <= hi) { w++; c[S[i]]++; if (S[i] ~ /sgemm/) g++ } }
          if (w == 0) { print "nan 0 nan 0"; exit }
          printf "%.3f %d %.3f %d", g / w, w, ga / all, all
          for (k in c) if (c[k] > 0.02 * w) printf " %s:%.0f%%", k, 100 * c[k] / w
          printf "\n" }'
}
json() { $PY -c "import json,sys; r=json.load(open(sys.argv[1])); v=($2); print(*(v if isinstance(v, tuple) else (v,)))" "$1"; }

ROWS=""
LOADS=""
for model in $MODELS; do
  LOADS="$LOADS $model $(load1),"
  log="$DIR/$model.log"
  rm -f "$DIR/$model-torch-"*.json
  bin/raci train $TRAIN -train_report "$DIR/$model.json" -model "$model" > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
  set -- $(json "$DIR/$model.json" "r['samples'], r['rows'], r['step_seconds'], r['parameters'], r['epochs'], ','.join(k[5:] for k in r['train'] if k.startswith('rmse_'))")
  samples=$1 rows=$2 secs=$3 nparam=$4 epochs=$5 targets=$6
  # steps run (a step with no observed target is skipped): from raci's last line, else epochs x STEPS
  steps=$(sed -n 's/^raci train: [0-9]* epochs, \([0-9]*\) steps[ ,].*/\1/p' "$log")
  steps=${steps:-$((epochs * STEPS))}
  M=$(sed -n 's/.*locations (\([0-9]*\) train,.*/\1/p' "$log")
  F=$(sed -n 's/.* days, \([0-9]*\) fast, \([0-9]*\) static features.*/\1/p' "$log")
  S=$(sed -n 's/.* days, \([0-9]*\) fast, \([0-9]*\) static features.*/\2/p' "$log")
  M=${M:-2500} F=${F:-6} S=${S:-14}
  Q=$(awk -v s="$samples" -v n="$steps" 'BEGIN{printf "%d", (n > 0 ? s / n + 0.5 : 0)}')
  R=$(awk -v s="$samples" -v r="$rows" -v q="$Q" 'BEGIN{printf "%d", (s > 0 ? q * r / s + 0.5 : 0)}')
  if [ "$Q" -lt 1 ] || [ "$Q" -gt 4096 ] || [ "$R" -lt "$Q" ] || [ "$R" -gt $((Q * 9)) ]; then
    echo "bench-train: $model: implausible batch shape Q $Q, R $R (samples $samples, rows $rows, steps $steps): see $log" >&2; exit 1
  fi
  share="-"
  if [ $PERF = 1 ]; then
    rm -f "$DIR/$model.perf" "$DIR/$model.perf.old"
    perf record -q -e cpu-clock -F 1000 -o "$DIR/$model.perf" -- bin/raci train $TRAIN -quiet -train_report "$DIR/$model-perf.json" -model "$model" > "$DIR/$model-perf.log" 2>&1
    set -- $(sgemm_share "$DIR/$model.perf")
    share=$(awk -v a="$1" 'BEGIN{printf "%.0f %%", 100 * a}')
    echo "bench-train: $model: sgemm $1 of $2 raci samples over the training steps ($3 of $4 over the whole process)" >&2
    shift 4
    echo "bench-train: $model: symbols over 2 % of the training steps' samples: $*" >&2
  fi
  tj() { json "$DIR/$model-torch-$1.json" "'%.0f %d' % (r['samples_per_s'], r['parameters'])"; }
  for rnn in ref unbind nn; do
    case "$model:$rnn" in transformer:unbind|transformer:nn|ealstm:nn) continue ;; esac
    $PY tools/reference/bench_torch.py -model "$model" -Q "$Q" -R "$R" -M "$M" -F "$F" -S "$S" -targets "$targets" \
      -steps "$TSTEPS" -warmup 5 -rnn "$rnn" -json "$DIR/$model-torch-$rnn.json" >&2
    set -- $(tj "$rnn")
    [ "$2" = "$nparam" ] || echo "bench-train: $model: PyTorch has $2 parameters, raci $nparam" >&2
  done
  rate=$(awk -v s="$samples" -v t="$secs" 'BEGIN{printf "%.0f", s / t}')
  col() { if [ -f "$DIR/$model-torch-$1.json" ]; then
            t=$(json "$DIR/$model-torch-$1.json" "'%.0f' % r['samples_per_s']"); awk -v a="$rate" -v b="$t" 'BEGIN{printf "| %s | %.2f ", b, a / b}'
          else printf "| - | - "; fi; }
  ROWS="$ROWS| $model | $Q | $(awk -v s="$samples" -v r="$rows" 'BEGIN{printf "%.2f", r / s}') | $rate $(col ref)$(col unbind)$(col nn)| $share |
"
  rm -f "$DIR/x.ckpt"
done
LOAD1=$(load1)

echo "raci train benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(getconf _NPROCESSORS_ONLN) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), one core used"
echo "command: $CMD"
echo "raci: bin/raci train $TRAIN -model MODEL, OPENBLAS_NUM_THREADS=1, one process; samples/s = samples / step_seconds of -train_report"
echo "PyTorch $($PY -c 'import torch; print(torch.__version__)'): tools/reference/bench_torch.py, 1 thread, float32, $TSTEPS timed steps after 5, Q and R of raci's run, M = training locations, precomputed bank_idx"
echo "perf: $HW"
echo "load average (1 min): $QUIET; before each model:$LOADS at the end $LOAD1"
echo
echo "| model | Q | rows/sample | raci samples/s | PyTorch samples/s (raci_ref) | ratio | PyTorch, unbind loops | ratio | PyTorch, torch.nn GRU/LSTM | ratio | share of raci time in sgemm |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf "%s" "$ROWS"
rm -f "$DIR/sim.nc"
