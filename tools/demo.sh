#!/bin/sh
# `make demo`: the main job on the embedded default data, as far as raci goes
# today (see README.md, "What raci does today"). Outputs go to out/demo/.
set -eu
cd "$(dirname "$0")/.."
DATA="${RACI_SHARED_DATA:-../shared/data}"
OUT=out/demo
NP="${RACI_DEMO_NP:-2}"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
IN="$DATA/gridded/bcsd-obs-1999-se-us/bcsd_obs_1999.nc"

echo "== raci demo: read a real grid, decompose it over $NP MPI ranks, write a CF map"
echo "   input: $IN"
echo "   (Maurer et al. 2002 gridded observations, via Debian r-cran-stars, Apache-2.0)"
echo
echo "== 1. raci info: what the input holds"
bin/raci info "$IN"
echo
echo "== 2. raci convert on $NP ranks: PETSc DMDA tiles with a 1-cell halo, PnetCDF"
echo "      collective reads and writes, CF-1.8 CDF-5 output renamed into place when complete"
mpirun -q -n "$NP" bin/raci convert -data "$IN" -options_file inputs/demo-convert.opts -o "$OUT/se-us-1999.nc"
echo
echo "== 3. raci info on the output"
bin/raci info "$OUT/se-us-1999.nc"
echo
echo "== 4. PNG map of the 1999 mean air temperature"
/usr/bin/python3 tools/plot_map.py "$OUT/se-us-1999.nc" tas "$OUT/se-us-1999-tas.png" \
  --title "SE US, mean air temperature 1999 (raci convert on $NP ranks)" \
  --credit "Data: Maurer et al. (2002) gridded observations (BCSD obs), Apache-2.0 via r-cran-stars"
echo
echo "Outputs:"
echo "  $OUT/se-us-1999.nc       CF-1.8 CDF-5 map of pr and tas, 12 months x 33 x 81 cells"
echo "  $OUT/se-us-1999-tas.png  map of the annual mean of tas"
echo
echo "What this demo did not do: raci cannot yet simulate (issue 3), train or predict"
echo "(issues 4 and 5); the demo grows with each of them."
