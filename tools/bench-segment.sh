#!/bin/sh
# Benchmark of the segment form (issue 14; not a test, `make check` never
# runs it). Side by side in one run on this machine:
#  1. prediction: a 0.25-degree North American year (47,440 land cells x 365
#     days) predicted by a trained default RACI on 2 ranks, every flux and the
#     diagnostics: wall time, cell-days/s per rank, GFLOP/s of the model's
#     phases (-log_view events) next to the sgemm peak measured in the same
#     run (tools/bench/sgemm_peak.c), and the write rate next to a plain
#     PnetCDF write of the same bytes (tools/bench/pnetcdf_write.c); then the
#     same prediction on 1 rank for the parallel efficiency;
#  2. training: scored cell-days per second per core for RACI and every
#     baseline, next to the windowed form (a git worktree of the last commit
#     before the segment form, built here) on the same data and next to the
#     PyTorch reference of the segment form on one thread
#     (tools/reference/bench_torch.py); RACI's share of the sgemm peak over the
#     whole training step; training on 1 and 2 ranks for the efficiency.
# Prints markdown tables (docs/PERFORMANCE.md has the figures it produced).
#
# usage: tools/bench-segment.sh [RES_DEG] [STEPS]   (default 0.25 100)
# environment: RACI_BENCH_DIR (out/bench-segment), RACI_WINDOWED_COMMIT
#   (1f7f9b4, the windowed form), RACI_BENCH_TORCH (1: run PyTorch; 0: skip)
set -eu
cd "$(dirname "$0")/.."
RES=${1:-0.25}
STEPS=${2:-100}
DIR=${RACI_BENCH_DIR:-out/bench-segment}
OLD=${RACI_WINDOWED_COMMIT:-1f7f9b4}
TORCH=${RACI_BENCH_TORCH:-1}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$DIR"
make -s bin/raci
run() { np=$1; shift; if [ "$np" -eq 1 ]; then bin/raci "$@"; else mpirun -q -n "$np" bin/raci "$@"; fi; }
now() { date +%s.%N; }
CFL="$(pkg-config --cflags pnetcdf openblas) -O2"
mpicc $CFL -o "$DIR/sgemm_peak" tools/bench/sgemm_peak.c $(pkg-config --libs openblas)
mpicc $CFL -o "$DIR/pnetcdf_write" tools/bench/pnetcdf_write.c $(pkg-config --libs pnetcdf)

# the windowed form, built once in a worktree
WT="$DIR/windowed"
if [ ! -x "$WT/bin/raci" ]; then
  [ -d "$WT" ] || git worktree add -f "$WT" "$OLD" > /dev/null
  make -s -C "$WT" bin/raci > "$DIR/windowed-build.log" 2>&1
fi

echo "raci $(git rev-parse --short HEAD) on $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$DIR/sgemm_peak" 1 | tee "$DIR/sgemm.txt"

# ---------------------------------------------------------------- prediction
run 2 simulate -quiet -o "$DIR/sim.nc" -sim_res "$RES" -sim_years 1 -sim_seed 3
run 2 train -quiet -data "$DIR/sim.nc" -o "$DIR/raci.ckpt" -overwrite -train_epochs 1 -train_steps 50 \
  -split_val_frac 0.02 -split_test_box -100,-88,33,45 > /dev/null
for np in 2 1; do
  t0=$(now)
  run "$np" predict -ckpt "$DIR/raci.ckpt" -data "$DIR/sim.nc" -o "$DIR/pred$np.nc" -log_view > "$DIR/predict$np.log"
  t1=$(now)
  echo "$t0 $t1" > "$DIR/predict$np.time"
done
"$PY" - "$DIR/sim.nc" > "$DIR/dims.txt" <<'EOF'
import sys, netCDF4
d = netCDF4.Dataset(sys.argv[1])
print(len(d.dimensions["time"]), len(d.dimensions["y"]), len(d.dimensions["x"]))
EOF
read NT NY NX < "$DIR/dims.txt"
NV=$("$PY" -c "
import netCDF4; d = netCDF4.Dataset('$DIR/pred2.nc')
print(sum(1 for v in d.variables.values() if v.dimensions[:1] == ('time',) and len(v.dimensions) == 3))")
rm -f "$DIR/plain.nc"
mpirun -q -n 2 "$DIR/pnetcdf_write" "$DIR/plain.nc" "$NV" "$NT" "$NY" "$NX" > "$DIR/plain.txt"
rm -f "$DIR/plain.nc"

# ------------------------------------------------------------------ training
TR="-data $DIR/sim.nc -overwrite -train_epochs 1 -train_steps $STEPS -train_val_stride 1000 -split_val_frac 0.02 -split_test_box -100,-88,33,45"
for m in raci lstm ealstm transformer tcn; do
  bin/raci train -quiet $TR -model "$m" -o "$DIR/t-$m.ckpt" -train_report "$DIR/t-$m.json" -log_view > "$DIR/t-$m.log"
  case $m in tcn) ;; *)
    "$WT/bin/raci" train -quiet $TR -model "$m" -o "$DIR/w-$m.ckpt" -train_report "$DIR/w-$m.json" > /dev/null ;;
  esac
done
mpirun -q -n 2 bin/raci train -quiet $TR -o "$DIR/t2.ckpt" -train_report "$DIR/t2-raci.json" > /dev/null
if [ "$TORCH" = 1 ] && "$PY" -c "import torch" 2> /dev/null; then
  "$PY" tools/reference/bench_torch.py -json "$DIR/torch.json" > "$DIR/torch.txt" 2>&1 || echo "bench_torch failed: $DIR/torch.txt" >&2
fi

"$PY" - "$DIR" "$NT" "$NY" "$NX" "$NV" <<'EOF'
import json, os, re, sys
D, NT, NY, NX, NV = sys.argv[1], *map(int, sys.argv[2:])
peak = {}
for line in open(f"{D}/sgemm.txt"):
    _, shape, r = line.split(); peak[shape] = float(r)
P = peak["square_1024"]

def events(path):
    ev = {}
    for line in open(path):
        m = re.match(r"(raci:\w+)\s+(\d+) [\d.]+ ([\d.e+-]+) [\d.]+ ([\d.e+-]+)", line)
        if m: ev[m.group(1)] = (float(m.group(3)), float(m.group(4)))  # seconds (max over ranks), flops (max)
    return ev

def wall(np):
    t0, t1 = map(float, open(f"{D}/predict{np}.time").read().split()); return t1 - t0

model_ev = ["raci:FastEnc", "raci:SlowEnc", "raci:Attention", "raci:BankSearch", "raci:Heads"]
print(f"\nsgemm peak on one core: {P:.1f} GFLOP/s (1024^3); the fast encoder's shapes: recurrent {peak['recurrent_600x192x64']:.1f}, input projection {peak['input_72000x192x4']:.1f}\n")
print("### Prediction (%d x %d cells, %d days, every flux and the diagnostics)\n" % (NX, NY, NT))
print("| ranks | wall s | cell-days | cell-days/s/rank | model GFLOP/s/rank | share of sgemm peak | write s | written MB/s | plain PnetCDF MB/s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
plain = open(f"{D}/plain.txt").read().split()
plain_rate = float(plain[plain.index("MB/s") + 1])
cd = {}
for np in (2, 1):
    log = open(f"{D}/predict{np}.log").read()
    m = re.search(r"wrote \S+: (\d+) cell-days", log)
    cd[np] = int(m.group(1))
    ev = events(f"{D}/predict{np}.log")
    ts = sum(ev[e][0] for e in model_ev if e in ev); fl = sum(ev[e][1] for e in model_ev if e in ev)
    wr = ev.get("raci:Write", (float("nan"), 0))[0]
    size = os.path.getsize(f"{D}/pred{np}.nc") / 1e6
    print(f"| {np} | {wall(np):.1f} | {cd[np]:.3g} | {cd[np] / wall(np) / np:.3g} | {fl / ts / 1e9:.2f} | {fl / ts / 1e9 / P:.0%} | {wr:.2f} | {size / wr:.0f} | {plain_rate:.0f} (2 ranks) |")
print(f"\nparallel efficiency of prediction 1 -> 2 ranks: {wall(1) / (2 * wall(2)):.2f}\n")
print("time by phase on 2 ranks (max over ranks, s): " + ", ".join(f"{e[5:]} {events(f'{D}/predict2.log').get(e, (0, 0))[0]:.1f}" for e in model_ev + ["raci:Read", "raci:Write"]))

print("\n### Training, one core (scored cell-days per second of training steps)\n")
torch = {}
if os.path.exists(f"{D}/torch.json"):
    tj = json.load(open(f"{D}/torch.json"))
    for r in (tj if isinstance(tj, list) else [tj]): torch[r["model"]] = r["cell_days_per_s"]
print("| model | segment form | windowed form | ratio | PyTorch (segment form, 1 thread) | ratio | model GFLOP/s over the step | share of sgemm peak |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for m in ["raci", "lstm", "ealstm", "transformer", "tcn"]:
    j = json.load(open(f"{D}/t-{m}.json")); r = j["samples"] / j["step_seconds"]
    ev = events(f"{D}/t-{m}.log"); fl = sum(ev[e][1] for e in model_ev if e in ev)
    w = f"{D}/w-{m}.json"
    if os.path.exists(w):
        jw = json.load(open(w)); rw = jw["samples"] / jw["step_seconds"]; ws, wr = f"{rw:.3g}", f"{r / rw:.1f}x"
    else:
        ws, wr = "(none)", ""
    t = torch.get(m)
    ts, tr = (f"{t:.3g}", f"{r / t:.1f}x") if t else ("", "")
    g = fl / j["step_seconds"] / 1e9
    print(f"| {m} | {r:.3g} | {ws} | {wr} | {ts} | {tr} | {g:.2f} | {g / P:.0%} |")
j1 = json.load(open(f"{D}/t-raci.json")); j2 = json.load(open(f"{D}/t2-raci.json"))
print(f"\nparallel efficiency of RACI training 1 -> 2 ranks (training steps, same steps): {j1['step_seconds'] / (2 * j2['step_seconds']):.2f}"
      f" (whole run: {j1['seconds'] / (2 * j2['seconds']):.2f})")
EOF
