#!/bin/bash
# Bad input: every case must fail the way raci's contract says:
#   - exactly one stderr line starting "raci: error: ", naming the file,
#     variable or option and what is wrong (checked by keywords); at NP=1
#     (no mpirun) it must be the only stderr line; never a PETSc traceback;
#   - a non-zero exit status, within a time limit (no hang);
#   - stdout does not claim success;
#   - no output left: neither the -o file nor an OUT.*.tmp next to it.
# Positive controls show that the fixtures are otherwise fine.
#
# usage: bash tests/io/test_bad_input.sh NP     (NP = number of MPI ranks)
# Fixtures: tests/data/bad/*.cdl, made into files with ncgen at run time.
# RACI_TEST_JOBS cases run at once (default 4; mpirun spends most of a
# failing run waiting, not computing); RACI_TEST_TIMEOUT seconds per case.
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.." || exit 2
. tests/lib/common.sh

NP=${1:?usage: test_bad_input.sh NP}
JOBS=${RACI_TEST_JOBS:-4}
LIMIT=${RACI_TEST_TIMEOUT:-30}
FIX=tests/data/bad
SEUS=$GRID/bcsd-obs-1999-se-us/bcsd_obs_1999.nc
NC4=$GRID/dvm-dos-tem-toolik-10x10/co2.nc

[ -x "$RACI" ] || fail "no raci binary at $RACI (run make)"
for f in "$SEUS" "$NC4"; do [ -r "$f" ] || fail "shared data missing: $f"; done

# Every case runs one copy of the binary, so a rebuild during the run (a
# half-written binary dies with SIGILL or "Permission denied") cannot
# turn into false failures.
stamp() { stat -c '%i %s %y' "$RACI"; }
built=$(stamp)
cp "$RACI" "$TMP/raci" || fail "cannot copy $RACI"
[ "$(stamp)" = "$built" ] || fail "$RACI changed while it was copied (being rebuilt?); rerun"
RACI=$TMP/raci

# timeout runs its command in a new process group and signals all of it,
# so a hung mpirun is stopped together with its ranks.
export RACI
export -f run_np

IN=$TMP/in
mkdir -p "$IN" "$TMP/case"
for cdl in "$FIX"/*.cdl; do
  ncgen -5 -o "$IN/$(basename "$cdl" .cdl).nc" "$cdl" || fail "ncgen -5 $cdl"
done
ncgen -k nc3 -o "$IN/valid_classic.nc" "$FIX/valid.cdl" || fail "ncgen -k nc3 $FIX/valid.cdl"

ncase=0

# Case directory $TMP/case/NN: out/ is the output directory (@OUT@ in the
# arguments stands for out/x.nc), stdout, stderr, result (one report line).
# run_case DIR args...: raci at NP ranks under the time limit; prints rc.
run_case() {
  local d=$1 a args=()
  shift
  for a in "$@"; do args+=("${a//@OUT@/$d/out/x.nc}"); done
  timeout -k 5 "$LIMIT" bash -c 'run_np "$@"' run_np "$NP" "${args[@]}" >"$d/stdout" 2>"$d/stderr" </dev/null
  echo $?
}

# Files left in a case's output directory, on one line ("" when clean).
leftovers() { (cd "$1/out" && ls -A | tr '\n' ' ' | sed 's/ $//'); }

# details DIR args...: what to show under a FAIL line.
details() {
  local d=$1 a line="raci"
  shift
  for a in "$@"; do line="$line ${a//@OUT@/$d/out/x.nc}"; done
  echo "     | $line"
  sed 's/^/     | stderr: /' "$d/stderr" | head -n 20
  sed 's/^/     | stdout: /' "$d/stdout" | head -n 5
}

# check_error DIR CASE "KEY1|KEY2|..." args...: the bad-input contract;
# every keyword must occur (as a fixed string) in the error line.
check_error() {
  local d=$1 case=$2 keys=$3 why="" rc line nerr nother k ks left
  shift 3
  rc=$(run_case "$d" "$@")
  nerr=$(grep -c '^raci: error: ' "$d/stderr")
  nother=$(grep -vc '^raci: error: ' "$d/stderr")
  line=$(grep -m1 '^raci: error: ' "$d/stderr")
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="timed out after ${LIMIT}s (hang?)"
  elif [ "$rc" -eq 0 ]; then why="exit status 0"
  fi
  [ "$nerr" -eq 1 ] || why="${why:+$why; }$nerr lines start with 'raci: error:' (want 1)"
  ! grep -q 'PETSC ERROR' "$d/stderr" || why="${why:+$why; }PETSc traceback on stderr"
  [ "$NP" -ne 1 ] || [ "$nother" -eq 0 ] || why="${why:+$why; }$nother other stderr lines"
  if [ -n "$line" ]; then
    IFS='|' read -r -a ks <<<"$keys"
    for k in "${ks[@]}"; do
      case "$line" in *"$k"*) ;; *) why="${why:+$why; }message lacks '$k'" ;; esac
    done
  fi
  ! grep -Eq '^raci convert: .* -> |^format: ' "$d/stdout" || why="${why:+$why; }stdout claims success"
  left=$(leftovers "$d")
  [ -z "$left" ] || why="${why:+$why; }left in output dir: $left"
  if [ -z "$why" ]; then printf 'ok   %-26s %s\n' "$case" "$line"
  else
    printf 'FAIL %-26s %s (exit %s)\n' "$case" "$why" "$rc"
    details "$d" "$@"
  fi
}

# check_ok DIR CASE args...: exit 0, a readable output, nothing else left.
check_ok() {
  local d=$1 case=$2 why="" rc left
  shift 2
  rc=$(run_case "$d" "$@")
  [ "$rc" -eq 0 ] || why="exit status $rc"
  ! grep -q '^raci: error:\|PETSC ERROR' "$d/stderr" || why="${why:+$why; }error on stderr"
  if [ ! -s "$d/out/x.nc" ]; then why="${why:+$why; }no output file"
  elif ! ncdump -h "$d/out/x.nc" >/dev/null 2>&1; then why="${why:+$why; }output not readable by ncdump"
  fi
  left=$(leftovers "$d")
  [ "$left" = x.nc ] || why="${why:+$why; }output dir holds: $left"
  if [ -z "$why" ]; then printf 'ok   %-26s %s\n' "$case" "$(grep -m1 '^raci convert: ' "$d/stdout")"
  else
    printf 'FAIL %-26s %s\n' "$case" "$why"
    details "$d" "$@"
  fi
}

# launch CHECK args...: run check_ok or check_error in the background, at
# most JOBS at once; the results are printed in the order of the cases.
launch() {
  local check=$1 d
  shift
  ncase=$((ncase + 1))
  d=$TMP/case/$(printf '%02d' "$ncase")
  mkdir -p "$d/out"
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  "$check" "$d" "$@" >"$d/result" 2>&1 &
}
expect_ok()    { launch check_ok "$@"; }
expect_error() { launch check_error "$@"; }

V=$IN/valid.nc

# Positive controls: the valid fixture (CDF-5 and classic), the SE-US file with roles.
expect_ok control_valid_cdf5 convert -data "$V" -o @OUT@
expect_ok control_valid_classic convert -data "$IN/valid_classic.nc" -o @OUT@
expect_ok control_seus convert -data "$SEUS" -o @OUT@ -fast pr,tas

# 1. missing input file
expect_error missing_input "$IN/nosuch.nc|No such file" convert -data "$IN/nosuch.nc" -o @OUT@

# 2. NetCDF-4/HDF5 input
expect_error netcdf4_info "$NC4|nccopy -k cdf5" info "$NC4"
expect_error netcdf4_convert "$NC4|nccopy -k cdf5" convert -data "$NC4" -o @OUT@ -fast co2

# 3. not a NetCDF file
printf 'time,TA\n0,1.5\n1,2.0\n' >"$IN/text.nc"
expect_error not_netcdf "$IN/text.nc|not a NetCDF file" convert -data "$IN/text.nc" -o @OUT@
: >"$IN/empty.nc"
expect_error empty_file "$IN/empty.nc|not a NetCDF file" convert -data "$IN/empty.nc" -o @OUT@

# 4. truncated file: (a) in the data part, (b) inside the header
for cut in data:200000 header:100; do
  cp "$SEUS" "$IN/trunc_${cut%%:*}.nc" && chmod u+w "$IN/trunc_${cut%%:*}.nc" && truncate -s "${cut#*:}" "$IN/trunc_${cut%%:*}.nc" || fail "truncating a copy of $SEUS"
done
expect_error truncated_data "$IN/trunc_data.nc|truncated" convert -data "$IN/trunc_data.nc" -o @OUT@ -fast pr,tas
expect_error truncated_header "$IN/trunc_header.nc|header" convert -data "$IN/trunc_header.nc" -o @OUT@ -fast pr,tas

# 5. a variable named by an option is not in the file
expect_error missing_var_option "$SEUS|nosuchvar|-fast" convert -data "$SEUS" -o @OUT@ -fast pr,nosuchvar

# 6. wrong dimensions
expect_error fast_without_time "$IN/fast_no_time.nc|SW_IN|dimensions" convert -data "$IN/fast_no_time.nc" -o @OUT@
expect_error slow_with_time "$IN/slow_with_time.nc|whc|dimensions" convert -data "$IN/slow_with_time.nc" -o @OUT@

# 7. time axes that differ between variables
expect_error time_axis_mismatch "$IN/time_mismatch.nc|time axis|SW_IN" convert -data "$IN/time_mismatch.nc" -o @OUT@

# 8. a fast, then a slow variable with no valid value anywhere
expect_error fast_entirely_missing "$IN/fast_all_missing.nc|SW_IN|entirely missing" convert -data "$IN/fast_all_missing.nc" -o @OUT@
expect_error slow_entirely_missing "$IN/slow_all_missing.nc|whc|entirely missing" convert -data "$IN/slow_all_missing.nc" -o @OUT@

# 9. output that cannot be written (tests run as root: no chmod cases)
expect_error out_dir_missing "/nonexistent-dir/x.nc|No such file" convert -data "$V" -o /nonexistent-dir/x.nc
: >"$TMP/afile"
expect_error out_dir_is_file "$TMP/afile/x.nc|Not a directory" convert -data "$V" -o "$TMP/afile/x.nc"

# 10. unknown options
expect_error unknown_option_convert "-bogus_option" convert -data "$V" -o @OUT@ -bogus_option 3
expect_error unknown_option_info "-nosuch" info "$V" -nosuch

# 11. an unknown raci_role value
expect_error bad_raci_role "$IN/bad_role.nc|SW_IN|fasst" convert -data "$IN/bad_role.nc" -o @OUT@

wait
nfail=0
for d in "$TMP"/case/*; do
  if [ -s "$d/result" ]; then cat "$d/result"; else echo "FAIL case $(basename "$d") gave no result"; fi
  grep -q '^ok ' "$d/result" || nfail=$((nfail + 1))
done
if [ ! -f "$TMP/afile" ] || [ -s "$TMP/afile" ]; then
  echo "FAIL out_dir_is_file: $TMP/afile was changed"
  nfail=$((nfail + 1))
fi
echo "$nfail failed, $ncase cases at NP=$NP"
[ "$nfail" -eq 0 ]
