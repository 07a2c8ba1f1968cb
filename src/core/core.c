/* core: error handler, agreement, unused options, history, pending outputs, log stages. */
#include <raci/core.h>
#include <raci/json.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CORE_MAX_PENDING 16
#define CORE_MAX_RECORD  32
#define CORE_STACK       16

/* A run-record entry: rank 0's value, written as a JSON number or string. */
typedef struct {
  char      key[48];
  char      type; /* the member holding the value: 'i', 'r' or 's' */
  long long i;
  double    r;
  char      s[256];
} CoreRecordEntry;

static struct {
  int                   argc;
  char                **argv;
  PetscBool             reported;     /* a user-input error has been printed */
  PetscBool             collective;   /* ...and it was raised on PETSC_COMM_WORLD */
  PetscBool             failed_local; /* an error was raised on a smaller communicator */
  char                  pending[CORE_MAX_PENDING][PETSC_MAX_PATH_LEN];
  volatile sig_atomic_t pending_used[CORE_MAX_PENDING]; /* set once pending[i] is complete (signal handlers read it) */
  PetscLogStage         stage[CORE_NUM_STAGES];
  /* run record */
  double          t_start, t_last;              /* MPI_Wtime at initialise and at the last stage change */
  double          t_stage[CORE_NUM_STAGES + 1]; /* seconds per stage; the last: outside every stage */
  int             stack[CORE_STACK], depth;
  double          io_read, io_written;
  int             nrec;
  CoreRecordEntry rec[CORE_MAX_RECORD];
  char            rec_path[PETSC_MAX_PATH_LEN]; /* -run_record, "" without */
} core;

static const char *stage_names[CORE_NUM_STAGES] = {"Load",      "Simulate",  "Retrieval", "Forward", "Backward",
                                                   "Reduction", "Optimizer", "Evaluate",  "Write"};

static PetscErrorCode core_cleanup_signals_install(void);

static PetscBool is_user_error(PetscErrorCode n)
{
  return (PetscBool)(n == RACI_ERR_INPUT || n == RACI_ERR_OPEN || n == RACI_ERR_READ || n == RACI_ERR_WRITE ||
                     n == RACI_ERR_DATA);
}

static PetscBool comm_is_world(MPI_Comm comm)
{
  int cmp = MPI_UNEQUAL;
  if (comm == MPI_COMM_NULL) return PETSC_FALSE;
  MPI_Comm_compare(comm, PETSC_COMM_WORLD, &cmp);
  return (PetscBool)(cmp == MPI_IDENT || cmp == MPI_CONGRUENT);
}

/* One line for bad input, PETSc's traceback for everything else. */
static PetscErrorCode core_error_handler(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n,
                                         PetscErrorType p, const char *mess, void *ctx)
{
  (void)ctx;
  if (p == PETSC_ERROR_INITIAL) {
    /* a malformed value of an option PETSc reads itself: every rank reads the
     * same options and fails alike, whatever communicator PETSc names */
    PetscBool optval = core_opt_petsc_error(n, mess);
    PetscBool world  = (PetscBool)(comm_is_world(comm) || optval);
    if (!world) core.failed_local = PETSC_TRUE;
    if (is_user_error(n) || optval) {
      int rank = 0;
      if (optval)
        MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
      else if (comm != MPI_COMM_NULL)
        MPI_Comm_rank(comm, &rank);
      if (rank == 0) {
        fprintf(stderr, "raci: error: %s%s\n", optval ? "bad option value: " : "", mess ? mess : "(no message)");
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

/* stdout closed by its reader (raci info F | head): the write failed with
 * EPIPE (SIGPIPE is ignored). Later prints to stdout are dropped and the run
 * ends as it would have, with no message about the pipe. */
static int stdout_closed;
static PetscErrorCode (*vfprintf_petsc)(FILE *, const char[], va_list); /* PETSc's, saved */

/* Held output (core_stdout_hold): prints to stdout are kept in memory and
 * written with one write at the release. Under mpirun, rank 0's stdout is a
 * pipe to mpirun, which forwards each flushed print as a separate write to its
 * own stdout; when that reader has gone (mpirun -n 2 raci info F | head -1),
 * Open MPI's mpirun aborts the job after ten SIGPIPEs. One write of the whole
 * report leaves it at most one. */
static FILE  *held;
static char  *held_buf;
static size_t held_len;

static PetscErrorCode vfprintf_pipe(FILE *fd, const char format[], va_list ap)
{
  PetscErrorCode ierr;

  if (fd != stdout) return vfprintf_petsc(fd, format, ap);
  if (stdout_closed) return PETSC_SUCCESS;
  if (held) return vfprintf(held, format, ap) < 0 ? PETSC_ERR_SYS : PETSC_SUCCESS;
  errno = 0;
  ierr  = vfprintf_petsc(fd, format, ap);
  if (fflush(stdout) || ferror(stdout)) {
    if (errno == EPIPE) {
      stdout_closed = 1;
      clearerr(stdout);
      return PETSC_SUCCESS;
    }
  }
  return ierr;
}

PetscBool core_stdout_closed(void) { return stdout_closed ? PETSC_TRUE : PETSC_FALSE; }

void core_stdout_hold(void)
{
  /* also on a terminal: mpirun gives ranks a pseudo-terminal as stdout */
  if (held) return;
  fflush(stdout);
  held = open_memstream(&held_buf, &held_len); /* NULL: prints go straight out, as before */
}

void core_stdout_release(void)
{
  const char *p;
  size_t      left;

  if (!held) return;
  fclose(held);
  held = NULL;
  for (p = held_buf, left = held_len; left > 0 && !stdout_closed;) {
    ssize_t w = write(STDOUT_FILENO, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      if (errno == EPIPE) stdout_closed = 1; /* quiet, as for every other print */
      break;
    }
    p += w;
    left -= (size_t)w;
  }
  free(held_buf);
  held_buf = NULL;
  held_len = 0;
}

PetscErrorCode core_stdout_closed_all(MPI_Comm comm, PetscBool *closed)
{
  int c = stdout_closed;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Bcast(&c, 1, MPI_INT, 0, comm)); /* PetscPrintf writes from rank 0 */
  *closed = c ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_initialize(int argc, char **argv)
{
  PetscFunctionBeginUser;
  /* after PetscInitialize, whose signal handler would report SIGPIPE as a crash */
  signal(SIGPIPE, SIG_IGN);
  if (PetscVFPrintf != vfprintf_pipe) {
    vfprintf_petsc = PetscVFPrintf;
    PetscVFPrintf  = vfprintf_pipe;
  }
  core.argc    = argc;
  core.argv    = argv;
  core.t_start = core.t_last = MPI_Wtime();
  PetscCall(PetscPushErrorHandler(core_error_handler, NULL));
  for (int s = 0; s < CORE_NUM_STAGES; s++) PetscCall(PetscLogStageRegister(stage_names[s], &core.stage[s]));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-run_record", core.rec_path, sizeof core.rec_path,
                                  NULL)); /* read now: any command takes it */
  PetscCall(core_cleanup_signals_install());
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void core_remove_pending(void)
{
  for (int i = 0; i < CORE_MAX_PENDING; i++) {
    if (core.pending_used[i]) {
      unlink(core.pending[i]);
      core.pending_used[i] = 0;
      atomic_signal_fence(memory_order_seq_cst);
      core.pending[i][0] = '\0';
    }
  }
}

/* SIGTERM, SIGINT, SIGHUP, SIGUSR1: remove the unfinished outputs, then die
 * of the signal (async-signal-safe: unlink, sigaction, raise). */
static void core_on_fatal_signal(int sig)
{
  struct sigaction dfl;
  int              saved = errno;

  for (int i = 0; i < CORE_MAX_PENDING; i++)
    if (core.pending_used[i]) unlink(core.pending[i]);
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  raise(sig); /* delivered when the handler returns */
  errno = saved;
}

static PetscErrorCode core_cleanup_signals_install(void)
{
  const int        sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
  struct sigaction sa, old;

  PetscFunctionBeginUser;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = core_on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    /* a signal ignored at start stays ignored (nohup, background jobs of a shell) */
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    PetscCheck(!sigaction(sigs[i], &sa, NULL), PETSC_COMM_SELF, PETSC_ERR_SYS,
               "cannot install the handler of signal %d: %s", sigs[i], strerror(errno));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

int core_finish(PetscErrorCode status)
{
  core_stdout_release(); /* a report cut short by an error is still shown */
  if (stdout_closed && status == PETSC_ERR_FILE_WRITE) status = PETSC_SUCCESS; /* the reader went away */
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
  PetscCheck(!sigaction(SIGTERM, &sa, NULL) && !sigaction(SIGUSR1, &sa, NULL), PETSC_COMM_SELF, PETSC_ERR_SYS,
             "cannot install the SIGTERM/SIGUSR1 handlers: %s", strerror(errno));
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

/* Rank 0's verdict and its message reach every rank, which all fail alike. */
static PetscErrorCode rank0_raise(MPI_Comm comm, PetscErrorCode code, long err, const char *fmt, va_list ap)
{
  static char msg[3 * PETSC_MAX_PATH_LEN + 256];
  PetscMPIInt rank;
  long        c = (long)code;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Bcast(&c, 1, MPI_LONG, 0, comm));
  if (!c) PetscFunctionReturn(PETSC_SUCCESS);
  if (rank == 0) {
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (err && n >= 0 && (size_t)n < sizeof msg) snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror((int)err));
  }
  PetscCallMPI(MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, comm));
  SETERRQ(comm, (PetscErrorCode)c, "%s", msg);
}

PetscErrorCode core_rank0_check(MPI_Comm comm, PetscErrorCode code, const char *fmt, ...)
{
  va_list        ap;
  PetscErrorCode ierr;

  va_start(ap, fmt);
  ierr = rank0_raise(comm, code, 0, fmt, ap);
  va_end(ap);
  return ierr;
}

PetscErrorCode core_rank0_errno(MPI_Comm comm, PetscErrorCode code, long err, const char *fmt, ...)
{
  va_list        ap;
  PetscErrorCode ierr;

  va_start(ap, fmt);
  ierr = rank0_raise(comm, err ? code : 0, err, fmt, ap);
  va_end(ap);
  return ierr;
}

/* Options PETSc itself reads only inside PetscFinalize, after our check. */
static PetscBool read_at_finalize(const char *name)
{
  static const char *late[] = {"options_left",      "options_view", "options_table", "malloc_dump",
                               "malloc_view",       "memory_view",  "objects_dump",  "log_view_memory",
                               "log_view_gpu_time", "log_all",      "log_trace",     NULL};
  for (int i = 0; late[i]; i++)
    if (!strcmp(name, late[i])) return PETSC_TRUE;
  return PETSC_FALSE;
}

PetscErrorCode core_check_unused_options(MPI_Comm comm)
{
  PetscInt n     = 0;
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

/* An argument of the command line as history records it: a path that exists, or the value of an option that
 * names an output, made absolute (CF: no relative paths in attributes); anything else as it is. */
static void history_arg(const char *prev, const char *a, char *out, size_t len)
{
  static const char *outputs[] = {"-o", "-eval_json", "-train_report", "-run_record", NULL};
  char               dir[PATH_MAX], abs[PATH_MAX];
  const char        *slash;
  int                is_out = 0;
  snprintf(out, len, "%s", a);
  if (a[0] == '-' || a[0] == '/' || !a[0]) return;
  if (realpath(a, abs)) {
    snprintf(out, len, "%s", abs);
    return;
  }
  for (int i = 0; prev && outputs[i]; i++) is_out = is_out || !strcmp(prev, outputs[i]);
  if (!is_out) return;
  slash = strrchr(a, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - a) : 1, slash ? a : ".");
  if (slash == a) snprintf(dir, sizeof dir, "/");
  if (realpath(dir, abs)) snprintf(out, len, "%s/%s", abs, slash ? slash + 1 : a);
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
    char arg[PATH_MAX + 256];
    int  w;
    history_arg(i ? core.argv[i - 1] : NULL, core.argv[i], arg, sizeof arg);
    w = snprintf(buf + used, len - used, " %s", arg);
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
  PetscCheck(strlen(path) < sizeof core.pending[0], PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
             "temporary file name too long: %s", path);
  for (int i = 0; i < CORE_MAX_PENDING; i++) {
    if (!core.pending_used[i]) {
      PetscCall(PetscStrncpy(core.pending[i], path, sizeof core.pending[i]));
      atomic_signal_fence(memory_order_seq_cst); /* the name is complete before a handler may see it */
      core.pending_used[i] = 1;
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  SETERRQ(PETSC_COMM_SELF, PETSC_ERR_MEM, "more than %d outputs open at once", CORE_MAX_PENDING);
}

PetscErrorCode core_pending_remove(const char *path)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < CORE_MAX_PENDING; i++)
    if (core.pending_used[i] && !strcmp(core.pending[i], path)) {
      core.pending_used[i] = 0;
      atomic_signal_fence(memory_order_seq_cst);
      core.pending[i][0] = '\0';
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ------------------------------------------------------------ outputs */

void core_tmp_path(char *buf, size_t len, const char *path, long pid) { snprintf(buf, len, "%s.%ld.tmp", path, pid); }

int core_probe_writable(const char *path)
{
  char        probe[PETSC_MAX_PATH_LEN];
  struct stat st;
  int         fd;

  if (!path[0]) return ENOENT;
  if (strlen(path) + 32 > sizeof probe) return ENAMETOOLONG; /* room for ".<pid>.tmp" */
  if (!stat(path, &st) && S_ISDIR(st.st_mode)) return EISDIR;
  core_tmp_path(probe, sizeof probe, path, (long)getpid());
  if (core_pending_add(probe)) return ENOMEM; /* a signal now removes it too */
  fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    int err = errno;
    (void)core_pending_remove(probe);
    return err;
  }
  close(fd);
  unlink(probe);
  (void)core_pending_remove(probe);
  return 0;
}

/* What a path names: an existing file by device and inode, or a file still
 * to be created by its directory's device and inode and its name. */
typedef struct {
  int   known, exists;
  dev_t dev;
  ino_t ino;
  char  name[256];
} PathId;

static void path_id(const char *path, PathId *id)
{
  struct stat st;
  char        a[PETSC_MAX_PATH_LEN], b[PETSC_MAX_PATH_LEN];

  memset(id, 0, sizeof *id);
  if (!stat(path, &st)) {
    id->known = id->exists = 1;
    id->dev = st.st_dev, id->ino = st.st_ino;
    return;
  }
  snprintf(a, sizeof a, "%s", path);
  snprintf(b, sizeof b, "%s", path);
  if (stat(dirname(a), &st)) return;
  id->known = 1;
  id->dev = st.st_dev, id->ino = st.st_ino;
  snprintf(id->name, sizeof id->name, "%s", basename(b));
}

/* Rank 0: "<path>.<pid>.tmp" beside path whose process is gone (or is this
 * one: its name is about to be used). Silent about what it cannot remove. */
static void remove_stale_temporaries(const char *path)
{
  char           a[PETSC_MAX_PATH_LEN], b[PETSC_MAX_PATH_LEN], full[2 * PETSC_MAX_PATH_LEN];
  const char    *dir, *base;
  size_t         nb;
  DIR           *d;
  struct dirent *e;

  snprintf(a, sizeof a, "%s", path);
  snprintf(b, sizeof b, "%s", path);
  dir  = dirname(a);
  base = basename(b);
  nb   = strlen(base);
  if (!(d = opendir(dir))) return;
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    char       *end;
    long        pid;
    if (strncmp(n, base, nb) || n[nb] != '.' || !isdigit((unsigned char)n[nb + 1])) continue;
    errno = 0;
    pid   = strtol(n + nb + 1, &end, 10);
    if (errno || pid <= 0 || strcmp(end, ".tmp")) continue;
    if (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
      continue; /* running, or not ours to judge */
    snprintf(full, sizeof full, "%s/%s", dir, n);
    if (!unlink(full)) {
      printf("raci: removed '%s', an unfinished output left by process %ld, which no longer runs\n", full, pid);
      fflush(stdout);
    }
  }
  closedir(d);
}

PetscErrorCode core_check_paths(MPI_Comm comm, const char *const inputs[], const char *const outputs[])
{
  enum { MAXOUT = 16 };
  const char *oname[MAXOUT], *opath[MAXOUT];
  int         no = 0;
  PetscMPIInt rank;
  long        code = 0;
  char        why[3 * PETSC_MAX_PATH_LEN];

  PetscFunctionBeginUser;
  why[0] = '\0';
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  for (int i = 0; outputs && outputs[i]; i += 2) {
    if (!outputs[i + 1] || !outputs[i + 1][0]) continue;
    PetscCheck(no < MAXOUT - 1, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "more than %d outputs", MAXOUT - 1);
    oname[no] = outputs[i], opath[no++] = outputs[i + 1];
  }
  if (core.rec_path[0]) oname[no] = "-run_record", opath[no++] = core.rec_path;
  if (rank == 0) {
    PathId oid[MAXOUT];
    for (int o = 0; o < no; o++) path_id(opath[o], &oid[o]);
    /* an output that is an input */
    for (int i = 0; inputs && inputs[i] && !why[0]; i += 2) {
      const char *ip = inputs[i + 1];
      struct stat st;
      if (!ip || !ip[0] || stat(ip, &st)) continue; /* missing inputs are reported when read */
      for (int o = 0; o < no && !why[0]; o++)
        if (oid[o].exists && oid[o].dev == st.st_dev && oid[o].ino == st.st_ino) {
          snprintf(why, sizeof why,
                   "%s '%s' is the same file as %s '%s': writing the output would destroy the input; choose another "
                   "output path",
                   oname[o], opath[o], inputs[i], ip);
          code = RACI_ERR_INPUT;
        }
    }
    /* two outputs that are one file */
    for (int a = 0; a < no && !why[0]; a++)
      for (int b = a + 1; b < no && !why[0]; b++)
        if (oid[a].known && oid[b].known && oid[a].exists == oid[b].exists && oid[a].dev == oid[b].dev &&
            oid[a].ino == oid[b].ino && (oid[a].exists || !strcmp(oid[a].name, oid[b].name))) {
          snprintf(why, sizeof why, "%s '%s' and %s '%s' are the same file; give each output a path of its own",
                   oname[a], opath[a], oname[b], opath[b]);
          code = RACI_ERR_INPUT;
        }
    for (int o = 0; o < no && !why[0]; o++) {
      int err;
      remove_stale_temporaries(opath[o]);
      if ((err = core_probe_writable(opath[o]))) {
        snprintf(why, sizeof why, "cannot write output '%s' (%s): %s", opath[o], oname[o], strerror(err));
        code = RACI_ERR_WRITE;
      }
    }
  }
  PetscCall(core_rank0_check(comm, (PetscErrorCode)code, "%s", why));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Text outputs are composed in memory and written in one go at commit, so
 * that every failure has its errno (a stdio stream that fails halfway
 * through keeps only an error flag) and a temporary exists only briefly. */
static struct {
  FILE  *fp;
  char  *buf;
  size_t len;
} core_texts[4];

FILE *core_text_open(const char *path, char *tmp, size_t len)
{
  core_tmp_path(tmp, len, path, (long)getpid());
  for (size_t i = 0; i < sizeof core_texts / sizeof core_texts[0]; i++)
    if (!core_texts[i].fp) {
      core_texts[i].buf = NULL, core_texts[i].len = 0;
      return core_texts[i].fp = open_memstream(&core_texts[i].buf, &core_texts[i].len);
    }
  errno = EMFILE;
  return NULL;
}

int core_text_commit(FILE *fp, const char *tmp, const char *path)
{
  size_t i = 0, n = sizeof core_texts / sizeof core_texts[0], off = 0;
  int    err = 0, fd;

  while (i < n && core_texts[i].fp != fp) i++;
  if (i == n) return EINVAL;
  if (fclose(fp)) err = errno ? errno : ENOMEM;
  core_texts[i].fp = NULL;
  if (!err && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
    err = errno;
  else if (!err) {
    if (core_pending_add(tmp)) err = ENOMEM;
    while (!err && off < core_texts[i].len) {
      ssize_t w = write(fd, core_texts[i].buf + off, core_texts[i].len - off);
      if (w < 0 && errno != EINTR)
        err = errno;
      else if (w > 0)
        off += (size_t)w;
    }
    if (!err && fsync(fd)) err = errno;
    if (close(fd) && !err) err = errno;
    if (!err && rename(tmp, path)) err = errno;
    if (err) unlink(tmp); /* the previous file stays as it was */
    (void)core_pending_remove(tmp);
  }
  free(core_texts[i].buf);
  core_texts[i].buf = NULL;
  return err;
}

void core_mpi_io_defaults(void)
{
  /* Open MPI 4.1's OMPIO prints "No space left on device" but returns
   * success from collective writes (a full disk gave a truncated or sparse
   * file and exit 0); ROMIO returns the error. Its priority is raised, not
   * the component named, so an Open MPI without it still runs (OMPIO). */
  const char *io = getenv("OMPI_MCA_io"), *sfp = getenv("OMPI_MCA_sharedfp");
  if (!io || !*io) {
    setenv("OMPI_MCA_io_romio321_priority", "100", 0);
    setenv("OMPI_MCA_io_romio341_priority", "100", 0);
  }
  /* OMPIO's lockedfile shared-file-pointer component overflows a buffer on
   * paths of 236 characters or more; raci uses no shared file pointers */
  if (!sfp || !*sfp) setenv("OMPI_MCA_sharedfp", "^lockedfile", 1);
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

/* Entry key (an existing one is replaced), its order kept. */
static PetscErrorCode record_entry(const char *key, CoreRecordEntry **e)
{
  int i = 0;

  PetscFunctionBeginUser;
  while (i < core.nrec && strcmp(core.rec[i].key, key)) i++;
  PetscCheck(i < CORE_MAX_RECORD, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "more than %d run-record entries",
             CORE_MAX_RECORD);
  if (i == core.nrec) core.nrec++;
  *e = &core.rec[i];
  PetscCall(PetscMemzero(*e, sizeof **e));
  PetscCall(PetscStrncpy((*e)->key, key, sizeof(*e)->key));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_record_int(const char *key, long long v)
{
  CoreRecordEntry *e;

  PetscFunctionBeginUser;
  PetscCall(record_entry(key, &e));
  e->type = 'i', e->i = v;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_record_real(const char *key, double v)
{
  CoreRecordEntry *e;

  PetscFunctionBeginUser;
  PetscCall(record_entry(key, &e));
  e->type = 'r', e->r = v;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_record_text(const char *key, const char *v)
{
  CoreRecordEntry *e;

  PetscFunctionBeginUser;
  PetscCall(record_entry(key, &e));
  e->type = 's';
  PetscCall(PetscStrncpy(e->s, v, sizeof e->s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

void core_record_io(double bytes_read, double bytes_written)
{
  core.io_read += bytes_read;
  core.io_written += bytes_written;
}

/* The run record's text (rank 0): mx and sum hold the stage times (Other
 * last), the wall time, bytes read and bytes written, maxima and sums over
 * the size ranks. Returns json_finish's verdict. */
static int record_json(FILE *fp, int size, const double *mx, const double *sum)
{
  const char *env[] = {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID",  "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NUM_NODES",
                       "SLURM_NTASKS", "SLURM_RESTART_COUNT", "SLURM_JOB_PARTITION"};
  const int   n     = CORE_NUM_STAGES + 1;
  double      wsec = mx[CORE_STAGE_WRITE], written = sum[n + 2];
  char        hist[4096], stamp[32];
  time_t      now = time(NULL);
  JsonWriter  w;

  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  if (core_history_line(hist, sizeof hist)) hist[0] = '\0';
  json_init(&w, fp, 1);
  json_object_begin(&w);
  json_key(&w, "version"), json_string(&w, RACI_VERSION);
  json_key(&w, "finished"), json_string(&w, stamp);
  json_key(&w, "command"), json_string(&w, hist);
  json_key(&w, "ranks"), json_int(&w, size);
  json_key(&w, "slurm"), json_object_begin(&w);
  for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
    if (getenv(env[i])) json_key(&w, env[i]), json_string(&w, getenv(env[i]));
  json_object_end(&w);
  json_key(&w, "wall_seconds"), json_number(&w, mx[n]);
  json_key(&w, "stages_max_seconds"), json_object_begin(&w);
  for (int s = 0; s < n; s++) json_key(&w, s < CORE_NUM_STAGES ? stage_names[s] : "Other"), json_number(&w, mx[s]);
  json_object_end(&w);
  json_key(&w, "stages_mean_seconds"), json_object_begin(&w);
  for (int s = 0; s < n; s++)
    json_key(&w, s < CORE_NUM_STAGES ? stage_names[s] : "Other"), json_number(&w, sum[s] / size);
  json_object_end(&w);
  json_key(&w, "bytes_read"), json_fixed(&w, sum[n + 1], 0);
  json_key(&w, "bytes_written"), json_fixed(&w, written, 0);
  json_key(&w, "write_MB_per_s"), json_number(&w, wsec > 0 && written > 0 ? written / wsec / 1e6 : NAN);
  for (int i = 0; i < core.nrec; i++) {
    const CoreRecordEntry *e = &core.rec[i];
    json_key(&w, e->key);
    if (e->type == 'i')
      json_int(&w, e->i);
    else if (e->type == 'r')
      json_number(&w, e->r);
    else
      json_string(&w, e->s);
  }
  json_object_end(&w);
  return json_finish(&w);
}

PetscErrorCode core_record_write(MPI_Comm comm)
{
  const char *path = core.rec_path;
  char        tmp[PETSC_MAX_PATH_LEN + 32];
  double      loc[CORE_NUM_STAGES + 4], mx[CORE_NUM_STAGES + 4], sum[CORE_NUM_STAGES + 4];
  PetscMPIInt size, rank;
  int         err = 0, n = CORE_NUM_STAGES + 1;

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
    FILE *fp = core_text_open(path, tmp, sizeof tmp);
    if (fp) {
      int bad = record_json(fp, (int)size, mx, sum);
      err     = core_text_commit(fp, tmp, path);
      if (!err && bad) err = EINVAL; /* a bug: the writer was misused */
    } else
      err = errno;
  }
  PetscCall(core_rank0_errno(comm, RACI_ERR_WRITE, err, "cannot write the run record '%s' (-run_record)", path));
  PetscFunctionReturn(PETSC_SUCCESS);
}
