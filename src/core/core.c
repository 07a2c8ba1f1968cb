/* core: error handler, agreement, unused options, history, pending outputs, log stages. */
#include <raci/core.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CORE_MAX_PENDING 16

static struct {
  int       argc;
  char    **argv;
  PetscBool reported;    /* a user-input error has been printed */
  PetscBool collective;  /* ...and it was raised on PETSC_COMM_WORLD */
  PetscBool failed_local; /* an error was raised on a smaller communicator */
  char      pending[CORE_MAX_PENDING][PETSC_MAX_PATH_LEN];
  PetscLogStage stage[CORE_NUM_STAGES];
} core;

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
  static const char *names[CORE_NUM_STAGES] = {"Load", "Simulate", "Retrieval", "Forward", "Backward", "Reduction", "Optimizer", "Evaluate", "Write"};

  PetscFunctionBeginUser;
  core.argc = argc;
  core.argv = argv;
  PetscCall(PetscPushErrorHandler(core_error_handler, NULL));
  for (int s = 0; s < CORE_NUM_STAGES; s++) PetscCall(PetscLogStageRegister(names[s], &core.stage[s]));
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

PetscErrorCode core_stage_push(CoreStage s)
{
  PetscFunctionBeginUser;
  PetscCall(PetscLogStagePush(core.stage[s]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_stage_pop(void)
{
  PetscFunctionBeginUser;
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}
