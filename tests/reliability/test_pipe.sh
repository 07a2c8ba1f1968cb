#!/bin/sh
# A closed stdout is not a crash (issue 18, "Help and messages"):
#  - raci info FILE | head -1 and | true, on 1 and 2 ranks, on a real file of
#    $RACI_SHARED_DATA: raci exits 0 and writes nothing to stderr (no PETSc
#    "Broken Pipe", no MPI_ABORT banner);
#  - raci -help_petsc prints PETSc's generic options and exits 0; train -help
#    lists the PETSc options raci reads (-da_processors_x/y); both end quietly
#    with status 0 when piped into head -1.
. "$(dirname "$0")/../lib/common.sh"
F=$GRID/bcsd-obs-1999-se-us/bcsd_obs_1999.nc
[ -x "$RACI" ] || fail "no raci binary at $RACI (run make)"
[ -r "$F" ] || fail "shared data missing: $F"
bad=0
for np in 1 2; do
  for reader in "head -1" "true"; do
    rm -f "$TMP/st" "$TMP/err"
    # the exit status of raci, not of the reader (no pipefail in POSIX sh)
    { run_np "$np" info "$F" 2> "$TMP/err"; echo $? > "$TMP/st"; } | $reader > "$TMP/out"
    st=$(cat "$TMP/st")
    if [ "$st" != 0 ] || [ -s "$TMP/err" ]; then
      echo "FAIL: np $np, raci info F | $reader: exit $st, stderr:"; cat "$TMP/err"; bad=$((bad + 1))
    else
      echo "ok np $np: raci info F | $reader: exit 0, stderr empty"
    fi
  done
done
{ "$RACI" info "$F" | head -1 | grep -q "^file: $F" ; } || { echo "FAIL: first line of info is not 'file: F'"; bad=$((bad + 1)); }

"$RACI" -help_petsc > "$TMP/hp" 2> "$TMP/hp.err"; st=$?
if [ $st -ne 0 ] || ! grep -q "Options for all PETSc programs" "$TMP/hp" || [ -s "$TMP/hp.err" ]; then
  echo "FAIL: raci -help_petsc: exit $st"; cat "$TMP/hp.err"; bad=$((bad + 1))
else echo "ok raci -help_petsc: PETSc's generic options, exit 0"; fi
"$RACI" train -help > "$TMP/th" 2>&1; st=$?
if [ $st -ne 0 ] || ! grep -q -- "-da_processors_x <auto>" "$TMP/th" || ! grep -q -- "-da_processors_y <auto>" "$TMP/th" \
  || grep -q "Options for all PETSc programs" "$TMP/th"; then
  echo "FAIL: raci train -help: exit $st, no -da_processors_x/y or PETSc's generic help"; bad=$((bad + 1))
else echo "ok raci train -help lists -da_processors_x/y"; fi
# PETSc prints its help inside PetscInitialize, before raci's own handling of the pipe
for args in "-help_petsc" "train -help"; do
  rm -f "$TMP/st" "$TMP/err"
  { "$RACI" $args 2> "$TMP/err"; echo $? > "$TMP/st"; } | head -1 > /dev/null
  st=$(cat "$TMP/st")
  if [ "$st" != 0 ] || [ -s "$TMP/err" ]; then
    echo "FAIL: raci $args | head -1: exit $st, stderr:"; cat "$TMP/err"; bad=$((bad + 1))
  else echo "ok raci $args | head -1: exit 0, stderr empty"; fi
done
[ $bad -eq 0 ] || fail "$bad case(s)"
echo "PASS"
