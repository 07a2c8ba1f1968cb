#!/bin/bash
# jobs/lib.sh's raci_run returns raci's own exit status when the warning
# signal (SIGUSR1 before the time limit, SIGTERM on preemption) reaches the
# batch shell, whatever the timing. A trapped signal interrupts bash's `wait`
# with status 128 + signal; if raci checkpoints and exits before the shell
# looks again, that interrupted status used to be returned, and the job ended
# FAILED instead of requeueing (seen under load in the Slurm test).
# Here the timing is forced rather than hoped for: the forwarding step waits
# until the stand-in for raci has exited before it returns, which is the
# losing order of the race. No Slurm needed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/raci-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A stand-in for raci: says it is ready, and on USR1 or TERM "checkpoints" and exits $1.
cat > "$TMP/fake-raci" <<'SH'
#!/bin/sh
code=$1
trap 'echo saved > "$2.ckpt"; exit $code' USR1 TERM
: > "$2.ready"
while :; do sleep 0.05; done
SH
chmod +x "$TMP/fake-raci"

# case SIG CODE: raci_run under a signal to the shell; prints raci_run's status
one_case() {
  sig=$1 code=$2 tag="$TMP/run-$1-$2"
  RACI="$TMP/fake-raci" RACI_HOME="$ROOT" bash -c '
    . "$RACI_HOME/jobs/lib.sh"
    raci_launch() { shift; exec "$RACI" "$@"; }
    # the losing order of the race: raci has exited (and been reaped) before
    # the trap returns to the wait loop
    raci_forward() { kill -"$1" "$pid"; while kill -0 "$pid" 2> /dev/null; do sleep 0.01; done; }
    rc=0; raci_run 1 '"$code"' "'"$tag"'" || rc=$?
    echo "$rc" > "'"$tag"'.rc"' &
  shell=$!
  t=0
  until [ -e "$tag.ready" ]; do
    t=$((t + 1)); [ $t -gt 600 ] && fail "$sig: the stand-in did not start in 60 s"
    sleep 0.1
  done
  kill -"$sig" "$shell"
  wait "$shell"
  [ -e "$tag.ckpt" ] || fail "$sig: the signal did not reach raci"
  cat "$tag.rc"
}

for sig in USR1 TERM; do
  for code in 0 3; do
    got=$(one_case "$sig" "$code") || exit 1
    [ "$got" = "$code" ] || fail "raci exited $code after $sig, raci_run returned $got"
    echo "ok $sig to the batch shell, raci exits $code: raci_run returns $got"
  done
done
# a signal before raci starts: nothing is run, status 99 (the job requeues)
rc=0
RACI="$TMP/fake-raci" RACI_HOME="$ROOT" bash -c '. "$RACI_HOME/jobs/lib.sh"; kill -USR1 $$; raci_run 1 0 "'"$TMP/early"'"' || rc=$?
[ "$rc" -eq 99 ] && [ ! -e "$TMP/early.ready" ] || fail "early signal: status $rc"
echo "ok a signal before raci starts: nothing run, status 99"
echo "test_job_signal: ok"
