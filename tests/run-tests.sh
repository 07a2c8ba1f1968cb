#!/bin/sh
# Runs every test in tests/tests.list; ends with "N passed, N failed".
# Line format: <name> <np> <command> [args...]
#   np = 0: run the command as it is; np >= 1: mpirun -n np command.
#   @raci@, @tests@ and @data@ in the command stand for bin/raci, build/tests
#   and $RACI_SHARED_DATA (default ../shared/data).
# Logs: $RACI_TEST_LOGS/<name>.log (default build/test-logs).
#   tests/run-tests.sh              every test
#   RACI_TESTS=regex tests/run-tests.sh   the tests whose names match
#   tests/run-tests.sh NAME...      exactly these tests (CTest runs one each);
#                                   an unknown name is a failure
cd "$(dirname "$0")/.." || exit 2
RACI="${RACI:-$PWD/bin/raci}"
RACI_TESTBIN="${RACI_TESTBIN:-$PWD/build/tests}"
RACI_SHARED_DATA="${RACI_SHARED_DATA:-$PWD/../shared/data}"
export RACI RACI_TESTBIN RACI_SHARED_DATA OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
logs=${RACI_TEST_LOGS:-build/test-logs}
mkdir -p "$logs"
pass=0; fail=0; failed=""
for want in "$@"; do
  grep -Eq "^$want[[:space:]]" tests/tests.list || { echo "run-tests.sh: no test '$want' in tests/tests.list" >&2; exit 2; }
done
# selected: whether the test of this name runs (RACI_TESTS, names given)
selected() {
  if [ -n "${RACI_TESTS:-}" ] && ! echo "$1" | grep -Eq "$RACI_TESTS"; then return 1; fi
  if [ $# -gt 1 ]; then n=$1; shift; printf '%s\n' "$@" | grep -qx "$n" || return 1; fi
  return 0
}
total=0
while read -r name np cmd; do
  case "$name" in ''|'#'*) continue ;; esac
  selected "$name" "$@" && total=$((total + 1))
done < tests/tests.list
i=0; t_all=$(date +%s)
while read -r name np cmd; do
  case "$name" in ''|'#'*) continue ;; esac
  selected "$name" "$@" || continue
  i=$((i + 1))
  cmd=$(echo "$cmd" | sed "s|@raci@|$RACI|g; s|@tests@|$RACI_TESTBIN|g; s|@data@|$RACI_SHARED_DATA|g")
  start=$(date +%s)
  if [ "$np" -ge 1 ]; then
    sh -c "mpirun -q -n $np $cmd" < /dev/null > "$logs/$name.log" 2>&1
  else
    sh -c "$cmd" < /dev/null > "$logs/$name.log" 2>&1
  fi
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1)); printf '[%s/%s] PASS %-40s %4ss\n' "$i" "$total" "$name" "$secs"
  else
    fail=$((fail + 1)); failed="$failed $name"
    printf '[%s/%s] FAIL %-40s %4ss (exit %s, log %s)\n' "$i" "$total" "$name" "$secs" "$rc" "$logs/$name.log"
    tail -n 15 "$logs/$name.log" | sed 's/^/     | /'
  fi
done < tests/tests.list
[ -n "$failed" ] && echo "failed:$failed"
secs=$(( $(date +%s) - t_all ))
printf 'total time %dm%02ds\n' $((secs / 60)) $((secs % 60))
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
