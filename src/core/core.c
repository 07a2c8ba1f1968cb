/* core: error handler, agreement, unused options, history, pending outputs, log stages. */
#include <raci/core.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CORE_MAX_PENDING 16
#define CORE_MAX_RECORD  32
#define CORE_STACK       16

static struct {
  int       argc;
  char    **argv;
  PetscBool reported;    /* a user-input error has been printed */
  PetscBool collective;  /* ...and it was raised on PETSC_COMM_WORLD */
  PetscBool failed_local; /* an error was raised on a smaller communicator */
  char      pending[CORE_MAX_PENDING][PETSC_MAX_PATH_LEN];
  PetscLogStage stage[CORE_NUM_STAGES];
  /* run record */
  double    t_start, t_last;        /* MPI_Wtime at initialise and at the last stage change */
  double    t_stage[CORE_NUM_STAGES + 1]; /* seconds per stage; the last: outside every stage */
  int       stack[CORE_STACK], depth;
  double    io_read, io_written;
  int       nrec;
  char      rec_key[CORE_MAX_RECORD][48];
  char      rec_val[CORE_MAX_RECORD][256]; /* JSON text of the value */
  char      rec_path[PETSC_MAX_PATH_LEN];   /* -run_record, "" without */
} core;

static const char *stage_names[CORE_NUM_STAGES] = {"Load", "Simulate", "Retrieval", "Forward", "Backward", "Reduction", "Optimizer", "Evaluate", "Write"};

static PetscBool is_user_error(PetscErrorCode n)
{
  return (PetscBool)(n == RACI_ERR_INPUT || n == RACI_ERR_OPEN || n == RACI_ERR_READ || n == RACI_ERR_WRITE || n == RACI_ERR_DATA);
}

static PetscBool comm_is_world(MPI_Comm comm)
{
  int cmp = MPI_UNEQUAL;
  if (comm == MPI_COMM_NULL) return PETSC_FALSE;
  MPI_Comm_compare(comm, PETSC_COMM_WORLD, &cmp);
  return (PetscBool)(cmp == MPI_IDENT || cmp == MPI_CONGRUENT);
}

/* One line for bad input, PETSc's traceback for everything else. */
static PetscErrorCode core_error_handler(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  (void)ctx;
  if (p == PETSC_ERROR_INITIAL) {
    PetscBool world = comm_is_world(comm);
    if (!world) core.failed_local = PETSC_TRUE;
    if (is_user_error(n)) {
      int rank = 0;
      if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank);
      if (rank == 0) {
        fprintf(stderr, "raci: error: %s\n", mess ? mess : "(no message)");
        fflush(stderr);
      }
      core.reported   = PETSC_TRUE;
      core.collective = world;
      return n;
    }
  } else if (core.reported) {
    return n;
  }
  return PetscTraceBackErrorHandler(comm, line, fun, file, n, p, mess, NULL);
}

PetscErrorCode core_initialize(int argc, char **argv)
{
  PetscFunctionBeginUser;
  core.argc = argc;
  core.argv = argv;
  core.t_start = core.t_last = MPI_Wtime();
  PetscCall(PetscPushErrorHandler(core_error_handler, NULL));
  for (int s = 0; s < CORE_NUM_STAGES; s++) PetscCall(PetscLogStageRegister(stage_names[s], &core.stage[s]));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-run_record", core.rec_path, sizeof core.rec_path, NULL)); /* read now: any command takes it */
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void core_remove_pending(void)
{
  for (int i = 0; i < CORE_MAX_PENDING; i++) {
    if (core.pending[i][0]) {
      unlink(core.pending[i]);
      core.pending[i][0] = '\0';
    }
  }
}

int core_finish(PetscErrorCode status)
{
  if (status == PETSC_SUCCESS) {
    PetscErrorCode ierr = PetscFinalize();
    return ierr ? 1 : 0;
  }
  core_remove_pending();
  if (core.failed_local || (core.reported && !core.collective)) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  (void)PetscFinalize();
  return 1;
}

static volatile sig_atomic_t core_signal;

static void core_on_signal(int sig) { core_signal = sig; }

PetscErrorCode core_signal_install(void)
{
  struct sigaction sa;

  PetscFunctionBeginUser;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = core_on_signal;
  sigemptyset(&sa.sa_mask);
  PetscCheck(!sigaction(SIGTERM, &sa, NULL) && !sigaction(SIGUSR1, &sa, NULL), PETSC_COMM_SELF, PETSC_ERR_SYS, "cannot install the SIGTERM/SIGUSR1 handlers: %s", strerror(errno));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int core_signal_received(void) { return (int)core_signal; }

PetscErrorCode core_agree(MPI_Comm comm, PetscBool local_ok, PetscBool *all_ok)
{
  int mine = local_ok ? 1 : 0, all = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm));
  *all_ok = all ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Options PETSc itself reads only inside PetscFinalize, after our check. */
static PetscBool read_at_finalize(const char *name)
{
  static const char *late[] = {"options_left", "options_view", "options_table", "malloc_dump", "malloc_view", "memory_view", "objects_dump", "log_view_memory", "log_view_gpu_time", "log_all", "log_trace", NULL};
  for (int i = 0; late[i]; i++)
    if (!strcmp(name, late[i])) return PETSC_TRUE;
  return PETSC_FALSE;
}

PetscErrorCode core_check_unused_options(MPI_Comm comm)
{
  PetscInt n = 0;
  char   **names = NULL, **values = NULL;
  char     bad[256] = "";

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsLeftGet(NULL, &n, &names, &values));
  for (PetscInt i = 0; i < n; i++) {
    if (read_at_finalize(names[i])) continue;
    PetscCall(PetscSNPrintf(bad, sizeof bad, "%s", names[i]));
    break;
  }
  PetscCall(PetscOptionsLeftRestore(NULL, &n, &names, &values));
  PetscCheck(!bad[0], comm, RACI_ERR_INPUT, "unknown option -%s (raci -help lists the options of each command)", bad);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_history_line(char *buf, size_t len)
{
  time_t      now = time(NULL);
  const char *sde = getenv("SOURCE_DATE_EPOCH");
  struct tm   tm;
  size_t      used;

  PetscFunctionBeginUser;
  if (sde && *sde) now = (time_t)strtoll(sde, NULL, 10);
  gmtime_r(&now, &tm);
  used = strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ raci " RACI_VERSION ":", &tm);
  for (int i = 0; i < core.argc && used + 2 < len; i++) {
    int w = snprintf(buf + used, len - used, " %s", core.argv[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
  if (used >= len) used = len - 1;
  buf[used] = '\0';
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_pending_add(const char *path)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < CORE_MAX_PENDING; i++) {
    if (!core.pending[i][0]) {
      PetscCall(PetscStrncpy(core.pending[i], path, sizeof core.pending[i]));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  SETERRQ(PETSC_COMM_SELF, PETSC_ERR_MEM, "more than %d outputs open at once", CORE_MAX_PENDING);
}

PetscErrorCode core_pending_remove(const char *path)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < CORE_MAX_PENDING; i++)
    if (!strcmp(core.pending[i], path)) core.pending[i][0] = '\0';
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The time since the last change goes to the stage on top of the stack. */
static void stage_clock(void)
{
  double now = MPI_Wtime();
  core.t_stage[core.depth > 0 ? core.stack[core.depth - 1] : CORE_NUM_STAGES] += now - core.t_last;
  core.t_last = now;
}

PetscErrorCode core_stage_push(CoreStage s)
{
  PetscFunctionBeginUser;
  stage_clock();
  if (core.depth < CORE_STACK) core.stack[core.depth] = (int)s;
  core.depth++;
  PetscCall(PetscLogStagePush(core.stage[s]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_stage_pop(void)
{
  PetscFunctionBeginUser;
  stage_clock();
  if (core.depth > 0) core.depth--;
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode record_put(const char *key, const char *json)
{
  int i = 0;

  PetscFunctionBeginUser;
  while (i < core.nrec && strcmp(core.rec_key[i], key)) i++;
  PetscCheck(i < CORE_MAX_RECORD, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "more than %d run-record entries", CORE_MAX_RECORD);
  if (i == core.nrec) core.nrec++;
  PetscCall(PetscStrncpy(core.rec_key[i], key, sizeof core.rec_key[i]));
  PetscCall(PetscStrncpy(core.rec_val[i], json, sizeof core.rec_val[i]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_record_int(const char *key, long long v)
{
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", v);
  return record_put(key, buf);
}

PetscErrorCode core_record_real(const char *key, double v)
{
  char buf[32];
  if (isfinite(v)) snprintf(buf, sizeof buf, "%.6g", v);
  else snprintf(buf, sizeof buf, "null");
  return record_put(key, buf);
}

/* JSON string of text (quotes, backslashes and control characters escaped). */
static void json_string(char *buf, size_t len, const char *text)
{
  size_t o = 0;
  if (len < 3) return;
  buf[o++] = '"';
  for (const char *p = text; *p && o + 8 < len; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') buf[o++] = '\\', buf[o++] = (char)c;
    else if (c < 0x20) o += (size_t)snprintf(buf + o, len - o, "\\u%04x", c);
    else buf[o++] = (char)c;
  }
  buf[o++] = '"';
  buf[o]   = '\0';
}

PetscErrorCode core_record_text(const char *key, const char *v)
{
  char buf[256];
  json_string(buf, sizeof buf, v);
  return record_put(key, buf);
}

void core_record_io(double bytes_read, double bytes_written)
{
  core.io_read += bytes_read;
  core.io_written += bytes_written;
}

PetscErrorCode core_record_write(MPI_Comm comm)
{
  const char *path = core.rec_path;
  char        tmp[PETSC_MAX_PATH_LEN + 8];
  double      loc[CORE_NUM_STAGES + 4], mx[CORE_NUM_STAGES + 4], sum[CORE_NUM_STAGES + 4];
  PetscMPIInt size, rank;
  int         ok = 1, n = CORE_NUM_STAGES + 1;

  PetscFunctionBeginUser;
  if (!path[0]) PetscFunctionReturn(PETSC_SUCCESS);
  stage_clock();
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  for (int s = 0; s < n; s++) loc[s] = core.t_stage[s];
  loc[n] = MPI_Wtime() - core.t_start, loc[n + 1] = core.io_read, loc[n + 2] = core.io_written;
  PetscCallMPI(MPI_Reduce(loc, mx, n + 3, MPI_DOUBLE, MPI_MAX, 0, comm));
  PetscCallMPI(MPI_Reduce(loc, sum, n + 3, MPI_DOUBLE, MPI_SUM, 0, comm));
  if (rank == 0) {
    FILE       *fp;
    char        hist[4096], js[4200], stamp[32];
    time_t      now = time(NULL);
    const char *env[] = {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NUM_NODES", "SLURM_NTASKS", "SLURM_RESTART_COUNT", "SLURM_JOB_PARTITION"};
    double      wsec = mx[CORE_STAGE_WRITE];

    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    PetscCall(core_history_line(hist, sizeof hist));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fp = fopen(tmp, "w");
    if (fp) {
      json_string(js, sizeof js, hist);
      fprintf(fp, "{\n \"version\": \"%s\",\n \"finished\": \"%s\",\n \"command\": %s,\n \"ranks\": %d,\n", RACI_VERSION, stamp, js, (int)size);
      fprintf(fp, " \"slurm\": {");
      for (size_t i = 0, first = 1; i < sizeof env / sizeof env[0]; i++) {
        const char *v = getenv(env[i]);
        if (!v) continue;
        json_string(js, sizeof js, v);
        fprintf(fp, "%s\"%s\": %s", first ? "" : ", ", env[i], js);
        first = 0;
      }
      fprintf(fp, "},\n \"wall_seconds\": %.6g,\n \"stages_max_seconds\": {", mx[n]);
      for (int s = 0; s < n; s++) fprintf(fp, "%s\"%s\": %.6g", s ? ", " : "", s < CORE_NUM_STAGES ? stage_names[s] : "Other", mx[s]);
      fprintf(fp, "},\n \"stages_mean_seconds\": {");
      for (int s = 0; s < n; s++) fprintf(fp, "%s\"%s\": %.6g", s ? ", " : "", s < CORE_NUM_STAGES ? stage_names[s] : "Other", sum[s] / size);
      fprintf(fp, "},\n \"bytes_read\": %.0f,\n \"bytes_written\": %.0f,\n \"write_MB_per_s\": ", sum[n + 1], sum[n + 2]);
      if (wsec > 0 && sum[n + 2] > 0) fprintf(fp, "%.6g", sum[n + 2] / wsec / 1e6);
      else fprintf(fp, "null");
      for (int i = 0; i < core.nrec; i++) fprintf(fp, ",\n \"%s\": %s", core.rec_key[i], core.rec_val[i]);
      fprintf(fp, "\n}\n");
      ok = !fclose(fp) && !rename(tmp, path);
      if (!ok) unlink(tmp);
    } else ok = 0;
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, RACI_ERR_WRITE, "cannot write the run record '%s'", path);
  PetscFunctionReturn(PETSC_SUCCESS);
}
