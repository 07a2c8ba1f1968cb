# Sourced by the raci job scripts (jobs/*.sbatch): where raci is, how ranks are
# launched, signal forwarding. Nothing here names a path of a particular site.
#   RACI_HOME      the raci tree (default: the directory sbatch was run from)
#   RACI           the binary (default: $RACI_HOME/bin/raci)
#   RACI_LAUNCHER  srun (default; Open MPI through PMIx) or mpirun
#   RACI_SHARED_DATA  passed through to raci (the simulator's land mask)
set -eu
RACI_HOME=${RACI_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
RACI=${RACI:-$RACI_HOME/bin/raci}
[ -x "$RACI" ] || { echo "raci job: no raci binary at '$RACI' (set RACI or RACI_HOME, or submit from the raci directory)" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# A warning signal that comes before raci runs (Slurm may send --signal up to a
# minute early) must not kill this script: remember it instead.
RACI_EARLY_SIGNAL=""
trap 'RACI_EARLY_SIGNAL=USR1' USR1
trap 'RACI_EARLY_SIGNAL=TERM' TERM

# raci_launch N ARGS...: raci on N ranks inside the allocation. raci_run
# starts it in a background subshell; exec makes that subshell the launcher
# itself, so a signal sent to its pid reaches srun or mpirun.
raci_launch() {
  n=$1; shift
  case ${RACI_LAUNCHER:-srun} in
    srun) exec srun --mpi=pmix --ntasks="$n" --overcommit "$RACI" "$@" ;;
    mpirun) exec mpirun -n "$n" "$RACI" "$@" ;;
    *) echo "raci job: RACI_LAUNCHER must be srun or mpirun (got '$RACI_LAUNCHER')" >&2; return 2 ;;
  esac
}

# raci_forward SIG: pass a signal to the running ranks. srun would abort the
# step on SIGUSR1, so under srun the job's steps get it from Slurm itself
# (scancel --signal, which leaves the batch shell alone); mpirun forwards
# SIGUSR1 and SIGTERM to its ranks.
raci_forward() {
  if [ "${RACI_LAUNCHER:-srun}" = srun ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    scancel --signal="$1" "$SLURM_JOB_ID" 2> /dev/null || true
  else
    kill -"$1" "$pid" 2> /dev/null || true
  fi
}

# raci_run N ARGS...: raci_launch in the background, USR1 and TERM (Slurm's
# warning before the time limit, preemption) passed on to the ranks, which
# checkpoint at the next step boundary and exit 0; returns raci's status, or
# 99 without running anything when the job was signalled before.
raci_run() {
  [ -z "$RACI_EARLY_SIGNAL" ] || return 99 # signalled before the start: nothing run
  raci_launch "$@" &
  pid=$!
  trap 'raci_forward USR1' USR1
  trap 'raci_forward TERM' TERM
  rc=0
  while :; do
    wait $pid && rc=0 || rc=$?
    kill -0 $pid 2>/dev/null || break # still running: a trapped signal interrupted wait
  done
  # A trapped signal may have interrupted the last wait (status 128 + signal)
  # while raci went on to checkpoint and exit: ask again for raci's own status
  # (bash keeps it), whatever the timing was.
  wait $pid && rc=0 || rc=$?
  trap 'RACI_EARLY_SIGNAL=USR1' USR1
  trap 'RACI_EARLY_SIGNAL=TERM' TERM
  return $rc
}

# record_name OUTPUT: the run record next to an output, one per (re)start
record_name() {
  echo "$1.run${SLURM_RESTART_COUNT:+-r$SLURM_RESTART_COUNT}.json"
}
