# Sourced by every shell test. Environment (set by tests/run-tests.sh or CTest):
#   RACI            the raci binary             (default: bin/raci)
#   RACI_TESTBIN    directory of test binaries  (default: build/tests)
#   RACI_SHARED_DATA the shared real data       (default: ../shared/data)
set -u
: "${RACI:=$PWD/bin/raci}"
: "${RACI_TESTBIN:=$PWD/build/tests}"
: "${RACI_SHARED_DATA:=$PWD/../shared/data}"
export OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
GRID="$RACI_SHARED_DATA/gridded"

# A scratch directory removed at exit.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/raci-test.XXXXXX")
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# run_np NP args...: raci on NP ranks; NP=1 runs it as a plain process (no mpirun).
run_np() {
  np=$1; shift
  if [ "$np" -eq 1 ]; then "$RACI" "$@"
  else mpirun -q -n "$np" "$RACI" "$@"
  fi
}

# same_nc A B: equal headers but for the run-dependent global `history`
# (ncdump -h), and equal data and attributes of every variable (ncmpidiff -v;
# a plain ncmpidiff overflows a buffer on long differing history strings).
same_nc() {
  for f in "$1" "$2"; do
    ncdump -h "$f" | awk 'NR == 1 { next } !skip && /^\t\t:history = / { skip = 1 } !skip { print } skip && / ;$/ { skip = 0 }' > "$f.hdr"
  done
  if ! cmp -s "$1.hdr" "$2.hdr"; then
    diff "$1.hdr" "$2.hdr" >&2
    rm -f "$1.hdr" "$2.hdr"
    return 1
  fi
  rm -f "$1.hdr" "$2.hdr"
  vars=$(ncdump -h "$1" | sed -n 's/^\t[a-z0-9]* \([A-Za-z0-9_]*\)(.*/\1/p; s/^\t[a-z0-9]* \([A-Za-z0-9_]*\) ;$/\1/p' | paste -sd, -)
  out=$(ncmpidiff -v "$vars" "$1" "$2" 2>&1)
  if ! printf '%s\n' "$out" | grep -q 'Compared variable(s) are the same'; then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

# refuses LABEL WANT OUT raci-args...: raci on $NP ranks must fail with exactly
# one line "raci: error: ..." containing WANT, and leave neither OUT nor a
# temporary file in $TMP.
refuses() {
  label=$1 want=$2 out=$3; shift 3
  rm -f "$out"
  if run_np "$NP" "$@" > "$TMP/out" 2> "$TMP/err"; then fail "$label: accepted"; fi
  [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "$label: not one error line"; }
  grep -q "$want" "$TMP/err" || { cat "$TMP/err"; fail "$label: message does not say '$want'"; }
  [ ! -e "$out" ] && ! ls "$TMP"/*.tmp > /dev/null 2>&1 || fail "$label: output written"
  echo "ok refuses $label: $(cat "$TMP/err")"
}
