#!/bin/sh
# Benchmark of `raci prep -format grid` (not a test; docs/PERFORMANCE.md):
# an hourly ERA5-like year over North America at RES degree (t2m, ssrd, tp;
# made from raci simulate by tools/bench/era5_like.py, CDF-5) is turned into
# daily drivers, next to a plain PnetCDF read of the same bytes in the same
# blocks (tools/bench/pnetcdf_read.c), side by side in one run, both from the
# page cache (one read before the timed ones).
# usage: tools/bench-prep-grid.sh [RES] [DAYS] [NP ...]   (default: 0.25 365 1 2)
set -eu
cd "$(dirname "$0")/.."
RES=${1:-0.25}; DAYS=${2:-365}
[ $# -ge 2 ] && shift 2 || set --
NPS=${*:-"1 2"}
DIR=${RACI_BENCH_DIR:-out/bench-prep}
RACI=${RACI_BIN:-bin/raci}
mkdir -p "$DIR"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -n "${RACI_BIN:-}" ] || make -s bin/raci
mpicc -O2 -o "$DIR/pnetcdf_read" tools/bench/pnetcdf_read.c $(pkg-config --cflags --libs pnetcdf)
if [ ! -f "$DIR/era5-like.nc" ]; then
  mpirun -q -n 2 "$RACI" simulate -quiet -sim_res "$RES" -sim_lon -170,-50 -sim_lat 10,75 -sim_years 1 -o "$DIR/sim.nc"
  /usr/bin/python3 tools/bench/era5_like.py "$DIR/sim.nc" "$DIR/era5-like.nc" "$DAYS"
  rm -f "$DIR/sim.nc"
fi
MB=$(du -m "$DIR/era5-like.nc" | cut -f1)
echo "raci prep -format grid benchmark: hourly ERA5-like t2m, ssrd, tp, $RES degree North America, $DAYS days, $MB MB;"
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo
echo "| ranks | PnetCDF read s | PnetCDF MB/s | raci prep s | prep MB/s of input | prep / PnetCDF rate |"
echo "| --- | --- | --- | --- | --- | --- |"
cat "$DIR/era5-like.nc" > /dev/null
for np in $NPS; do
  r=$(mpirun -q -n "$np" "$DIR/pnetcdf_read" "$DIR/era5-like.nc" | sed -n 's/.* in \([0-9.]*\) s.*/\1/p')
  mpirun -q -n "$np" "$RACI" prep -format grid -i "$DIR/era5-like.nc" -o "$DIR/daily.nc" > "$DIR/prep-np$np.log" 2>&1
  # prep's own time: from the plan to the renamed output (process start-up excluded, as for the read)
  p=$(sed -n 's/^raci prep: wrote .* \([0-9.]*\) s on [0-9]* rank.*/\1/p' "$DIR/prep-np$np.log")
  awk -v np="$np" -v r="$r" -v p="$p" -v mb="$MB" 'BEGIN {
    printf "| %d | %.2f | %.0f | %.2f | %.0f | %.2f |\n", np, r, mb / r, p, mb / p, (mb / p) / (mb / r) }'
done
