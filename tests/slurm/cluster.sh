# A real single-node Slurm cluster for the job tests: munged, slurmctld and
# slurmd from Debian's slurm-wlm and munge packages, as root, without systemd
# or cgroups, state in a scratch directory (../shared/STACK.md). Sourced.
#   slurm_start DIR   start it (fails with the reason when it cannot)
#   slurm_stop DIR    stop the daemons by the PIDs in their pid files
#   slurm_wait JOB... wait until the jobs are COMPLETED (fails on any other end state)
#   slurm_release JOB  start a requeued job now instead of after Slurm's 120 s hold

slurm_start() {
  d=$1
  [ "$(id -u)" -eq 0 ] || { echo "the Slurm tests start munged, slurmctld and slurmd and need root (set RACI_SKIP_SLURM=1 to skip them)"; return 1; }
  for b in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/mungekey; do
    [ -x $b ] || { echo "$b missing: install the slurm group (tools/install-deps.sh slurm; set RACI_SKIP_SLURM=1 to skip these tests)"; return 1; }
  done
  if pgrep -x slurmctld > /dev/null || pgrep -x slurmd > /dev/null; then
    echo "another slurmctld or slurmd is running on this machine; stop it first (set RACI_SKIP_SLURM=1 to skip these tests)"
    return 1
  fi
  mkdir -p "$d/state" "$d/spool" "$d/log"
  cpus=$(nproc)
  cat > "$d/slurm.conf" <<CONF
ClusterName=racitest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MailProg=/bin/true
ReturnToService=2
KillWait=60
MinJobAge=3600
SchedulerParameters=kill_invalid_depend
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
NodeName=localhost NodeHostname=localhost CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=2000
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$d/slurm.conf"
  mkdir -p /run/munge /etc/munge
  chown munge:munge /run/munge 2> /dev/null || true
  [ -f /etc/munge/munge.key ] || mungekey --create > /dev/null 2>&1 || { echo "mungekey --create failed"; return 1; }
  chown munge:munge /etc/munge/munge.key 2> /dev/null || true
  if ! pgrep -x munged > /dev/null; then
    runuser -u munge -- /usr/sbin/munged || { echo "munged did not start"; return 1; }
    touch "$d/munged-ours"
  fi
  /usr/sbin/slurmctld -c -f "$SLURM_CONF" || { echo "slurmctld did not start: $(tail -3 "$d/log/slurmctld.log" 2> /dev/null)"; return 1; }
  /usr/sbin/slurmd -c -N localhost -f "$SLURM_CONF" || { echo "slurmd did not start: $(tail -3 "$d/log/slurmd.log" 2> /dev/null)"; return 1; }
  i=0
  until [ "$(sinfo -h -o %T 2> /dev/null)" = idle ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "the node did not become idle in 20 s: $(sinfo 2>&1 | tail -2)"; return 1; }
    sleep 0.2
  done
  return 0
}

slurm_stop() {
  d=$1
  for f in "$d/slurmd.pid" "$d/slurmctld.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2> /dev/null
  done
  for f in "$d/slurmd.pid" "$d/slurmctld.pid"; do
    i=0
    while [ -f "$f" ] && kill -0 "$(cat "$f")" 2> /dev/null && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.2; done
  done
  if [ -f "$d/munged-ours" ] && [ -f /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2> /dev/null
  fi
  return 0
}

# job_state JOB: the state scontrol reports (COMPLETED, RUNNING, ...)
job_state() {
  scontrol show job "$1" 2> /dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1
}

# slurm_release JOB: once a requeued job is back in the queue, let it start
# soon: Slurm holds requeued jobs for 120 s (EligibleTime), which would only
# make the test wait. Not in the same second, though: the requeue revoked the
# job's launch credential on the node, and slurmd refuses any credential of
# that job created in the second of the revocation or before it ("Killing
# non-startable batch job: Job credential revoked", the job ends FAILED).
# The job shows PENDING while its old run is still being torn down, so wait
# for the node to be idle as well (this test's cluster runs one job at a
# time): the old run is then over, its credential revoked in the past, and
# two seconds from now is a later second whatever the load.
slurm_release() {
  t=0
  until [ "$(job_state "$1")" = PENDING ] && [ "$(sinfo -h -o %T)" = idle ]; do
    t=$((t + 1)); [ $t -gt 1200 ] && { echo "job $1 not back in the queue after 120 s ($(job_state "$1"), node $(sinfo -h -o %T))"; return 1; }
    sleep 0.1
  done
  scontrol update JobId="$1" StartTime=now+2
}

slurm_wait() {
  limit=${SLURM_WAIT_LIMIT:-600}
  for j in "$@"; do
    t=0
    while :; do
      s=$(job_state "$j")
      case $s in
        COMPLETED) break ;;
        FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED | BOOT_FAIL | DEADLINE)
          echo "job $j ended $s: $(scontrol show job "$j" | grep -o 'Reason=[^ ]*')"
          return 1 ;;
      esac
      t=$((t + 1))
      [ $t -gt $((limit * 2)) ] && { echo "job $j still $s after $limit s"; return 1; }
      sleep 0.5
    done
  done
  return 0
}
