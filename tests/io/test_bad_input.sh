#!/bin/bash
# Bad input: every case must fail the way raci's contract says.
#   - exactly one stderr line starting "raci: error: ", naming the file,
#     variable or option and what is wrong (checked by keywords);
#     at NP=1 (no mpirun) it must be the only stderr line, and no case may
#     print a PETSc traceback;
#   - a non-zero exit status, within a time limit (no hang);
#   - stdout does not claim success;
#   - no output left: neither the -o file nor an OUT.*.tmp next to it.
# Positive controls show that the fixtures are otherwise fine.
#
# usage: bash tests/io/test_bad_input.sh NP     (NP = number of MPI ranks)
# Fixtures: tests/data/bad/*.cdl, made into CDF-5 files with ncgen at run time.
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.." || exit 2
. tests/lib/common.sh

NP=${1:?usage: test_bad_input.sh NP}
LIMIT=${RACI_TEST_TIMEOUT:-30} # seconds per case
FIX=tests/data/bad
SEUS=$GRID/bcsd-obs-1999-se-us/bcsd_obs_1999.nc
NC4=$GRID/dvm-dos-tem-toolik-10x10/co2.nc

# timeout runs its command in a new process group and signals all of it,
# so a hung mpirun and its ranks are all stopped.
export RACI
export -f run_np

[ -x "$RACI" ] || fail "no raci binary at $RACI (run make)"
for f in "$SEUS" "$NC4"; do [ -r "$f" ] || fail "shared data missing: $f"; done

IN=$TMP/in
OUT=$TMP/out
mkdir -p "$IN" "$OUT"
for cdl in "$FIX"/*.cdl; do
  name=$(basename "$cdl" .cdl)
  ncgen -5 -o "$IN/$name.nc" "$cdl" || fail "ncgen -5 $cdl"
done
ncgen -k nc3 -o "$IN/valid_classic.nc" "$FIX/valid.cdl" || fail "ncgen -k nc3 $FIX/valid.cdl"

nfail=0
ncase=0

# One run of raci under the time limit; sets rc and fills $TMP/stdout, $TMP/stderr.
run_raci() {
  rm -rf "$OUT"
  mkdir -p "$OUT"
  timeout -k 5 "$LIMIT" bash -c 'run_np "$@"' run_np "$NP" "$@" >"$TMP/stdout" 2>"$TMP/stderr" </dev/null
  rc=$?
}

# Files left in the output directory, on one line ("" when clean).
leftovers() { (cd "$OUT" && ls -A | tr '\n' ' ' | sed 's/ $//'); }

report() { # status case message
  if [ "$1" = ok ]; then printf 'ok   %-28s %s\n' "$2" "$3"
  else
    printf 'FAIL %-28s %s\n' "$2" "$3"
    nfail=$((nfail + 1))
  fi
}

# expect_error CASE "KEYWORD1|KEYWORD2|..." raci-args...
# Runs raci with the args at NP ranks and checks the bad-input contract;
# every keyword must appear (fixed string) in the error line.
expect_error() {
  local case=$1 keys=$2 why="" line nerr n k left ks
  shift 2
  ncase=$((ncase + 1))
  run_raci "$@"
  nerr=$(grep -c '^raci: error: ' "$TMP/stderr")
  line=$(grep -m1 '^raci: error: ' "$TMP/stderr")
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="timed out after ${LIMIT}s (hang?)"
  elif [ "$rc" -eq 0 ]; then why="exit status 0"
  fi
  if [ "$nerr" -ne 1 ]; then why="${why:+$why; }$nerr lines start with 'raci: error:' (want 1)"; fi
  if grep -q 'PETSC ERROR' "$TMP/stderr"; then why="${why:+$why; }PETSc traceback on stderr"; fi
  n=$(grep -vc '^raci: error: ' "$TMP/stderr")
  if [ "$NP" -eq 1 ] && [ "$n" -gt 0 ]; then why="${why:+$why; }$n other stderr lines"; fi
  if [ -n "$line" ]; then
    IFS='|' read -r -a ks <<<"$keys"
    for k in "${ks[@]}"; do
      case "$line" in *"$k"*) ;; *) why="${why:+$why; }message lacks '$k'" ;; esac
    done
  fi
  if grep -Eq '^raci convert: .* -> |^format: ' "$TMP/stdout"; then why="${why:+$why; }stdout claims success"; fi
  left=$(leftovers)
  if [ -n "$left" ]; then why="${why:+$why; }left in output dir: $left"; fi
  if [ -z "$why" ]; then report ok "$case" "$line"
  else
    report FAIL "$case" "$why (exit $rc)"
    echo "     | raci $*"
    sed 's/^/     | stderr: /' "$TMP/stderr" | head -n 20
    sed 's/^/     | stdout: /' "$TMP/stdout" | head -n 5
  fi
}

# expect_ok CASE raci-convert-args... (output always $OUT/x.nc)
expect_ok() {
  local case=$1 why="" left
  shift
  ncase=$((ncase + 1))
  run_raci "$@"
  if [ "$rc" -ne 0 ]; then why="exit status $rc"; fi
  if grep -q '^raci: error:\|PETSC ERROR' "$TMP/stderr"; then why="${why:+$why; }error on stderr"; fi
  if [ ! -s "$OUT/x.nc" ]; then why="${why:+$why; }no output $OUT/x.nc"
  elif ! ncdump -h "$OUT/x.nc" >/dev/null 2>&1; then why="${why:+$why; }output is not readable by ncdump"
  fi
  left=$(leftovers)
  if [ "$left" != x.nc ]; then why="${why:+$why; }output dir holds: $left"; fi
  if [ -z "$why" ]; then report ok "$case" "$(grep -m1 '^raci convert: ' "$TMP/stdout")"
  else
    report FAIL "$case" "$why"
    echo "     | raci $*"
    sed 's/^/     | stderr: /' "$TMP/stderr" | head -n 20
  fi
}

X=$OUT/x.nc
V=$IN/valid.nc

# Positive controls: the valid fixture (CDF-5 and classic) and the SE-US file with roles.
expect_ok control_valid_cdf5 convert -data "$V" -o "$X"
expect_ok control_valid_classic convert -data "$IN/valid_classic.nc" -o "$X"
expect_ok control_seus convert -data "$SEUS" -o "$X" -fast pr,tas

# 1. missing input file
expect_error missing_input "$IN/nosuch.nc|No such file" convert -data "$IN/nosuch.nc" -o "$X"

# 2. NetCDF-4/HDF5 input
expect_error netcdf4_info "$NC4|nccopy -k cdf5" info "$NC4"
expect_error netcdf4_convert "$NC4|nccopy -k cdf5" convert -data "$NC4" -o "$X" -fast co2

# 3. not a NetCDF file
printf 'time,TA\n0,1.5\n1,2.0\n' >"$IN/text.nc"
expect_error not_netcdf "$IN/text.nc|not a NetCDF file" convert -data "$IN/text.nc" -o "$X"

# 4. truncated file: (a) in the data part, (b) inside the header
cp "$SEUS" "$IN/trunc_data.nc" && chmod u+w "$IN/trunc_data.nc" && truncate -s 200000 "$IN/trunc_data.nc"
cp "$SEUS" "$IN/trunc_header.nc" && chmod u+w "$IN/trunc_header.nc" && truncate -s 100 "$IN/trunc_header.nc"
expect_error truncated_data "$IN/trunc_data.nc|truncated" convert -data "$IN/trunc_data.nc" -o "$X" -fast pr,tas
expect_error truncated_header "$IN/trunc_header.nc|header" convert -data "$IN/trunc_header.nc" -o "$X" -fast pr,tas

# 5. a variable named by an option is not in the file
expect_error missing_var_option "$SEUS|nosuchvar|-fast" convert -data "$SEUS" -o "$X" -fast pr,nosuchvar

# 6. wrong dimensions
expect_error fast_without_time "$IN/fast_no_time.nc|SW_IN|dimensions" convert -data "$IN/fast_no_time.nc" -o "$X"
expect_error slow_with_time "$IN/slow_with_time.nc|whc|dimensions" convert -data "$IN/slow_with_time.nc" -o "$X"

# 7. time axes that differ between variables
expect_error time_axis_mismatch "$IN/time_mismatch.nc|time axis|SW_IN" convert -data "$IN/time_mismatch.nc" -o "$X"

# 8. a fast, then a slow variable with no valid value anywhere
expect_error fast_entirely_missing "$IN/fast_all_missing.nc|SW_IN|entirely missing" convert -data "$IN/fast_all_missing.nc" -o "$X"
expect_error slow_entirely_missing "$IN/slow_all_missing.nc|whc|entirely missing" convert -data "$IN/slow_all_missing.nc" -o "$X"

# 9. output that cannot be written (tests run as root: no chmod cases)
expect_error out_dir_missing "/nonexistent-dir/x.nc|No such file" convert -data "$V" -o /nonexistent-dir/x.nc
: >"$TMP/afile"
expect_error out_dir_is_file "$TMP/afile/x.nc|Not a directory" convert -data "$V" -o "$TMP/afile/x.nc"
[ -f "$TMP/afile" ] && [ ! -s "$TMP/afile" ] || report FAIL out_dir_is_file "$TMP/afile was changed"

# 10. unknown options
expect_error unknown_option_convert "-bogus_option" convert -data "$V" -o "$X" -bogus_option 3
expect_error unknown_option_info "-nosuch" info "$V" -nosuch

# 11. an unknown raci_role value
expect_error bad_raci_role "$IN/bad_role.nc|SW_IN|fasst" convert -data "$IN/bad_role.nc" -o "$X"

echo "$((ncase - nfail)) of $ncase cases ok at NP=$NP"
[ "$nfail" -eq 0 ]
