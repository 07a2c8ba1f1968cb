#!/bin/sh
# Benchmark of `raci simulate` (not a test): cell-days per second per rank for
# simulating and for writing, and the write next to a plain sequential write of
# the same number of bytes on the same disk (dd, buffered and with fdatasync),
# measured side by side in one run.
# usage: tools/bench-simulate.sh [RES] [YEARS] [NP ...]   (default: 0.25 1 1 2)
set -eu
cd "$(dirname "$0")/.."
RES=${1:-0.25}; YEARS=${2:-1}
[ $# -ge 2 ] && shift 2 || set --
NPS=${*:-"1 2"}
DIR=${RACI_BENCH_DIR:-out/bench}
mkdir -p "$DIR"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
make -s bin/raci

echo "raci simulate benchmark: $RES degree North America, $YEARS year(s); $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo "disk: $(df -h "$DIR" | awk 'NR==2{print $1" ("$2")"}')"
echo
echo "| ranks | land cell-days | simulate s | sim cell-days/s/rank | write s | MB | write MB/s | written cell-days/s/rank | dd MB/s | dd+fdatasync MB/s | (sim+write)/dd |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for np in $NPS; do
  log="$DIR/simulate-np$np.log"
  sync
  mpirun -q -n "$np" bin/raci simulate -quiet -sim_res "$RES" -sim_years "$YEARS" -o "$DIR/sim.nc" > "$log"
  land=$(sed -n 's/.*degree, \([0-9]*\) land, \([0-9]*\) days.*/\1 \2/p' "$log")
  cells=$(sed -n 's/^  \([0-9]*\) x \([0-9]*\) cells.*/\1 \2/p' "$log")
  set -- $(sed -n 's/^  simulate \([0-9.]*\) s .*write \([0-9.]*\) MB in \([0-9.]*\) s.*/\1 \2 \3/p' "$log")
  tsim=$1 mb=$2 twrite=$3
  bytes=$(stat -c %s "$DIR/sim.nc")
  count=$(( (bytes + 4194303) / 4194304 ))
  sync
  t0=$(date +%s.%N); dd if=/dev/zero of="$DIR/dd.bin" bs=4M count=$count 2>/dev/null; t1=$(date +%s.%N)
  sync; t1=$(date +%s.%N)
  dd if=/dev/zero of="$DIR/dd.bin" bs=4M count=$count conv=fdatasync 2>/dev/null; t2=$(date +%s.%N)
  rm -f "$DIR/dd.bin"
  echo "$np $land $cells $tsim $mb $twrite $count $t0 $t1 $t2" | awk '{
    np=$1; lc=$2*$3; cd=$4*$5*$3; tsim=$6; mb=$7; tw=$8; dd=$9*4.194304; tdd=$11-$10; tsync=$12-$11;
    printf "| %d | %.3g | %.2f | %.3g | %.2f | %.0f | %.0f | %.3g | %.0f | %.0f | %.2f |\n",
      np, lc, tsim, lc/tsim/np, tw, mb, mb/tw, cd/tw/np, dd/tdd, dd/tsync, (tsim+tw)/tdd }'
done
rm -f "$DIR/sim.nc"
