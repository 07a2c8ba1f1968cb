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

# raci_launch N ARGS...: raci on N ranks inside the allocation
raci_launch() {
  n=$1; shift
  case ${RACI_LAUNCHER:-srun} in
    srun) srun --mpi=pmix --ntasks="$n" --overcommit "$RACI" "$@" ;;
    mpirun) mpirun -n "$n" "$RACI" "$@" ;;
    *) echo "raci job: RACI_LAUNCHER must be srun or mpirun (got '$RACI_LAUNCHER')" >&2; return 2 ;;
  esac
}

# raci_run N ARGS...: raci_launch in the background, USR1 and TERM (Slurm's
# warning before the time limit, preemption) passed on to the ranks, which
# checkpoint at the next step boundary and exit 0; returns raci's status.
raci_run() {
  raci_launch "$@" &
  pid=$!
  trap 'kill -USR1 $pid 2>/dev/null || true' USR1
  trap 'kill -TERM $pid 2>/dev/null || true' TERM
  rc=0
  while :; do
    wait $pid && rc=0 || rc=$?
    kill -0 $pid 2>/dev/null || break # still running: a trapped signal interrupted wait
  done
  trap - USR1 TERM
  return $rc
}

# record_name OUTPUT: the run record next to an output, one per (re)start
record_name() {
  echo "$1.run${SLURM_RESTART_COUNT:+-r$SLURM_RESTART_COUNT}.json"
}
