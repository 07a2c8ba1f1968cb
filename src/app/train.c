/* raci train -data FILE -o CKPT: train RACI or a baseline (docs/MODEL.md),
 * report validation and held-out (test) errors, write a checkpoint.
 *
 * The checkpoint is rewritten after every epoch and when SIGTERM or SIGUSR1
 * arrives (at the next step boundary; then raci exits 0). -resume continues
 * from it, giving the same final model as a run that never stopped. */
#include <raci/app.h>
#include <raci/train.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* What a checkpoint's "state" section holds besides the arrays. */
typedef struct {
  long   epoch, step, t, bad, finished;
  double best_val, tl, tc;
} StateRecord;

typedef struct {
  MPI_Comm            comm;
  const char         *path;
  const ModelConfig  *cfg;
  const TrainOptions *to;
  const SampleSet    *ss;
  const char         *roles;
  const char         *tatts;
  const char         *units; /* input_units: "name|units\n" per fast and slow variable */
} SaveCtx;

/* One line per fast and slow variable, "name|units", so that predict can
 * refuse inputs in other units than the model was trained with. */
static PetscErrorCode input_units_text(const Dataset *ds, char *buf, size_t len)
{
  PetscFunctionBeginUser;
  buf[0] = '\0';
  for (int k = 0; k < ds->nvar; k++) {
    char u[256];
    if (ds->var[k].role != ROLE_FAST && ds->var[k].role != ROLE_SLOW) continue;
    PetscCall(data_var_units(ds, k, u, sizeof u));
    for (char *p = u; *p; p++)
      if (*p == '|' || *p == '\n') *p = ' ';
    PetscCall(PetscStrlcat(buf, ds->var[k].name, len));
    PetscCall(PetscStrlcat(buf, "|", len));
    PetscCall(PetscStrlcat(buf, u, len));
    PetscCall(PetscStrlcat(buf, "\n", len));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* "fast:A,B;slow:C;target:D": the variables, in the order the model reads them. */
static PetscErrorCode roles_text(const Dataset *ds, char *buf, size_t len)
{
  PetscFunctionBeginUser;
  buf[0] = '\0';
  for (int r = ROLE_FAST; r < NUM_ROLES; r++) {
    int first = 1;
    PetscCall(PetscStrlcat(buf, role_name[r], len));
    PetscCall(PetscStrlcat(buf, ":", len));
    for (int k = 0; k < ds->nvar; k++) {
      if (ds->var[k].role != (Role)r) continue;
      if (!first) PetscCall(PetscStrlcat(buf, ",", len));
      PetscCall(PetscStrlcat(buf, ds->var[k].name, len));
      first = 0;
    }
    PetscCall(PetscStrlcat(buf, ";", len));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One line per target, "name|units|long_name|standard_name", so that
 * predictions carry the units of what the model was trained on. */
static PetscErrorCode target_atts_text(const Dataset *ds, char *buf, size_t len)
{
  static const char *att[3] = {"units", "long_name", "standard_name"};

  PetscFunctionBeginUser;
  buf[0] = '\0';
  for (int k = 0; k < ds->nvar; k++) {
    if (ds->var[k].role != ROLE_TARGET) continue;
    PetscCall(PetscStrlcat(buf, ds->var[k].name, len));
    for (int a = 0; a < 3; a++) {
      char      v[256] = "";
      PetscBool found;
      PetscCall(io_att_text(ds->file, ds->var[k].varid, att[a], v, sizeof v, &found));
      for (char *p = v; *p; p++)
        if (*p == '|' || *p == '\n') *p = ' ';
      PetscCall(PetscStrlcat(buf, "|", len));
      PetscCall(PetscStrlcat(buf, found ? v : "", len));
    }
    PetscCall(PetscStrlcat(buf, "\n", len));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode save_state(void *ctx, const TrainState *st)
{
  SaveCtx    *c = ctx;
  StateRecord rec = {st->epoch, st->step, st->t, st->bad, st->finished, st->best_val, st->tl, st->tc};
  char        hist[4096];
  size_t      nb = st->np * sizeof(float);
  IoSection   sec[] = {
    {"config", (void *)c->cfg, sizeof *c->cfg},
    {"train_opts", (void *)c->to, sizeof *c->to},
    {"roles", (void *)c->roles, strlen(c->roles) + 1},
    {"target_atts", (void *)c->tatts, strlen(c->tatts) + 1},
    {"input_units", (void *)c->units, strlen(c->units) + 1},
    {"norm_fast", (void *)c->ss->norm.fmean, 2 * DATA_MAX_VARS * sizeof(float)},
    {"norm_slow", (void *)c->ss->norm.smean, 2 * DATA_MAX_VARS * sizeof(float)},
    {"norm_ncat", (void *)c->ss->norm.ncat, sizeof c->ss->norm.ncat},
    {"norm_cat", (void *)c->ss->norm.cat, sizeof c->ss->norm.cat},
    {"state", &rec, sizeof rec},
    {"params", st->params, nb},
    {"best", st->best, nb},
    {"adam_m", st->mom, nb},
    {"adam_v", st->vel, nb},
    {"bank_key", st->bank.key, (size_t)st->bank.M * st->bank.Z * sizeof(float)},
    {"bank_val", st->bank.val, (size_t)st->bank.M * st->bank.V * sizeof(float)},
    {"bank_owner", st->bank.owner, (size_t)st->bank.M * sizeof(int32_t)},
    {"bank_lkey", st->bank.lkey, (size_t)st->bank.M * sizeof(int64_t)},
    {"history", hist, 0},
  };
  int n = (int)(sizeof sec / sizeof sec[0]);

  PetscFunctionBeginUser;
  PetscCall(core_history_line(hist, sizeof hist));
  sec[n - 1].bytes = strlen(hist) + 1;
  PetscCall(io_ckpt_write(c->comm, c->path, sec, n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Continue from the checkpoint at path: it must come from the same data
 * roles, network and training options (the number of epochs may grow). */
static PetscErrorCode load_state(SaveCtx *c, const Model *m, TrainState *st)
{
  IoSection         *sec;
  int                n;
  const void        *p;
  const StateRecord *rec;
  TrainOptions       a = *c->to, b;
  size_t             nb = st->np * sizeof(float);
  MPI_Comm           comm = c->comm;

  PetscFunctionBeginUser;
  PetscCall(io_ckpt_read(comm, c->path, &sec, &n));
  PetscCall(io_ckpt_find(comm, c->path, sec, n, "roles", 0, &p));
  PetscCheck(!strcmp(p, c->roles), comm, RACI_ERR_INPUT, "checkpoint '%s' was trained on other variables (%s) than these (%s)", c->path, (const char *)p, c->roles);
  PetscCall(io_ckpt_find(comm, c->path, sec, n, "config", sizeof(ModelConfig), &p));
  PetscCheck(!memcmp(p, c->cfg, sizeof(ModelConfig)), comm, RACI_ERR_INPUT, "checkpoint '%s' is from a different model configuration (model, its sizes, or the targets' normalisation); resume with the options of the run that wrote it", c->path);
  PetscCall(io_ckpt_find(comm, c->path, sec, n, "train_opts", sizeof(TrainOptions), &p));
  memcpy(&b, p, sizeof b);
  a.epochs = b.epochs = 0, a.quiet = b.quiet = PETSC_FALSE, a.check_every = b.check_every = 0; /* free to change */
  PetscCheck(!memcmp(&a, &b, sizeof a), comm, RACI_ERR_INPUT, "checkpoint '%s' was written with other training options (only -train_epochs, -train_check_every and -quiet may change on -resume)", c->path);
  PetscCall(io_ckpt_find(comm, c->path, sec, n, "state", sizeof(StateRecord), (const void **)&rec));
  st->epoch = rec->epoch, st->step = rec->step, st->t = rec->t, st->bad = rec->bad, st->finished = rec->finished;
  st->best_val = rec->best_val, st->tl = rec->tl, st->tc = rec->tc;
  if (st->finished && st->epoch < c->to->epochs && st->bad < c->to->patience) st->finished = 0; /* more epochs were asked for */
  PetscCall(io_ckpt_find(comm, c->path, sec, n, "params", nb, &p));
  PetscCall(PetscArraycpy(st->params, (const float *)p, st->np));
  PetscCall(io_ckpt_find(comm, c->path, sec, n, "best", nb, &p));
  PetscCall(PetscArraycpy(st->best, (const float *)p, st->np));
  PetscCall(io_ckpt_find(comm, c->path, sec, n, "adam_m", nb, &p));
  PetscCall(PetscArraycpy(st->mom, (const float *)p, st->np));
  PetscCall(io_ckpt_find(comm, c->path, sec, n, "adam_v", nb, &p));
  PetscCall(PetscArraycpy(st->vel, (const float *)p, st->np));
  {
    const void *k, *v, *o, *lk = NULL;
    size_t      bo = 0;
    PetscCall(io_ckpt_find(comm, c->path, sec, n, "bank_owner", 0, &o));
    for (int i = 0; i < n; i++)
      if (!strcmp(sec[i].name, "bank_owner")) bo = sec[i].bytes;
    st->bank.M = (int)(bo / sizeof(int32_t));
    st->bank.Z = model_config(m)->Z, st->bank.V = model_config(m)->Z + 2 * model_config(m)->T;
    PetscCall(io_ckpt_find(comm, c->path, sec, n, "bank_key", (size_t)st->bank.M * st->bank.Z * sizeof(float), &k));
    PetscCall(io_ckpt_find(comm, c->path, sec, n, "bank_val", (size_t)st->bank.M * st->bank.V * sizeof(float), &v));
    if (st->bank.M > 0) {
      PetscBool has = PETSC_FALSE;
      for (int i = 0; i < n; i++) has = (PetscBool)(has || !strcmp(sec[i].name, "bank_lkey"));
      PetscCheck(has, comm, RACI_ERR_INPUT, "checkpoint '%s' was written by an older raci (its memory bank has no location keys); start the run afresh", c->path);
      PetscCall(io_ckpt_find(comm, c->path, sec, n, "bank_lkey", (size_t)st->bank.M * sizeof(int64_t), &lk));
    }
    if (st->bank.M > 0) {
      PetscCall(PetscMalloc4((size_t)st->bank.M * st->bank.Z, &st->bank.key, (size_t)st->bank.M * st->bank.V, &st->bank.val, st->bank.M, &st->bank.owner, st->bank.M, &st->bank.lkey));
      PetscCall(PetscArraycpy(st->bank.key, (const float *)k, (size_t)st->bank.M * st->bank.Z));
      PetscCall(PetscArraycpy(st->bank.val, (const float *)v, (size_t)st->bank.M * st->bank.V));
      PetscCall(PetscArraycpy(st->bank.owner, (const int32_t *)o, st->bank.M));
      PetscCall(PetscArraycpy(st->bank.lkey, (const int64_t *)lk, st->bank.M));
    }
  }
  PetscCall(io_ckpt_free(&sec, n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Start from the parameters of another run (-init_from), e.g. pretrained on
 * simulations before fine-tuning on towers: same variables in the same roles
 * and the same network; the optimiser, the epochs and the normalisation
 * (this data's) start afresh. */
static PetscErrorCode init_from(SaveCtx *c, const char *path, TrainState *st)
{
  IoSection  *sec;
  int         n;
  const void *p;
  ModelConfig a = *c->cfg, b;
  MPI_Comm    comm = c->comm;

  PetscFunctionBeginUser;
  PetscCall(io_ckpt_read(comm, path, &sec, &n));
  PetscCall(io_ckpt_find(comm, path, sec, n, "roles", 0, &p));
  PetscCheck(!strcmp(p, c->roles), comm, RACI_ERR_INPUT, "-init_from '%s' was trained on other variables (%s) than these (%s); give both runs the same -fast, -slow and -target", path, (const char *)p, c->roles);
  PetscCall(io_ckpt_find(comm, path, sec, n, "config", sizeof(ModelConfig), &p));
  memcpy(&b, p, sizeof b);
  memset(a.mu, 0, sizeof a.mu), memset(a.sigma, 0, sizeof a.sigma), memset(b.mu, 0, sizeof b.mu), memset(b.sigma, 0, sizeof b.sigma); /* the data's own */
  PetscCheck(!memcmp(&a, &b, sizeof a), comm, RACI_ERR_INPUT, "-init_from '%s' is a different network (model, ablation flags, sizes or target weights); use the model options of the run that wrote it", path);
  PetscCall(io_ckpt_find(comm, path, sec, n, "params", st->np * sizeof(float), &p));
  PetscCall(PetscArraycpy(st->params, (const float *)p, st->np));
  PetscCall(PetscArraycpy(st->best, st->params, st->np));
  PetscCall(io_ckpt_free(&sec, n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* JSON list of the ids (site ids, or global location ids on grids) of the
 * locations of one split, from every rank; written by rank 0. */
static PetscErrorCode report_split(MPI_Comm comm, FILE *fp, const SampleSet *ss, Split split, const char *name)
{
  PetscMPIInt size, rank, nloc = 0, *counts, *displs, total = 0;
  int64_t    *mine, *all;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMalloc1(ss->nloc + 1, &mine));
  for (int c = 0; c < ss->nloc; c++)
    if (ss->owned[c] && ss->split[c] == (unsigned char)split) mine[nloc++] = ss->gid[c];
  PetscCall(PetscMalloc2(size, &counts, size, &displs));
  PetscCallMPI(MPI_Allgather(&nloc, 1, MPI_INT, counts, 1, MPI_INT, comm));
  for (int r = 0; r < size; r++) displs[r] = total, total += counts[r];
  PetscCall(PetscMalloc1(total + 1, &all));
  PetscCallMPI(MPI_Gatherv(mine, nloc, MPI_INT64_T, all, counts, displs, MPI_INT64_T, 0, comm));
  if (rank == 0 && fp) {
    fprintf(fp, ", \"%s_locations\": [", name);
    for (int i = 0; i < total; i++) fprintf(fp, "%s%lld", i ? ", " : "", (long long)all[i]);
    fprintf(fp, "]");
  }
  PetscCall(PetscFree(all));
  PetscCall(PetscFree2(counts, displs));
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_train(MPI_Comm comm)
{
  char         data[PETSC_MAX_PATH_LEN] = "", out[PETSC_MAX_PATH_LEN] = "", report[PETSC_MAX_PATH_LEN] = "", init[PETSC_MAX_PATH_LEN] = "", roles[4096], tatts[4096];
  PetscBool    have_data, have_out, resume = PETSC_FALSE, overwrite = PETSC_FALSE;
  PetscInt     halo = 1;
  RoleOptions  ro;
  SplitOptions so;
  TrainOptions to;
  DataChecks   dc;
  Dataset     *ds;
  static char  units[DATA_MAX_VARS * (NC_MAX_NAME + 260)]; /* the input_units section */
  SampleSet   *ss;
  ModelConfig  cfg;
  Model       *m;
  TrainState   st;
  TrainResult  res;
  SaveCtx      sc;
  PetscInt     unusable, total;
  PetscMPIInt  rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(core_opt_section(comm, "raci train options"));
  PetscCall(core_opt_string(comm, "-data", "Training data (NetCDF, gridded or sites); required", data, sizeof data, &have_data));
  PetscCall(core_opt_string(comm, "-o", "Checkpoint to write (after every epoch and on SIGTERM/SIGUSR1); required", out, sizeof out, &have_out));
  PetscCall(core_opt_bool(comm, "-resume", "Continue from the checkpoint -o if it exists", resume, &resume, NULL));
  PetscCall(core_opt_bool(comm, "-overwrite", "Replace the checkpoint -o if it exists (without -resume or -overwrite an existing -o is refused)", overwrite, &overwrite, NULL));
  PetscCall(core_opt_string(comm, "-init_from", "Start from the parameters of this checkpoint (same variables and network; fine-tuning)", init, sizeof init, NULL));
  PetscCall(core_opt_string(comm, "-train_report", "Also write the validation and test errors as JSON here", report, sizeof report, NULL));
  PetscCall(core_opt_int(comm, "-grid_halo", "Halo width in cells (geographic neighbours)", halo, 0, 1000, &halo, NULL));
  PetscCheck(have_data || core_help(), comm, RACI_ERR_INPUT, "raci train needs -data FILE");
  PetscCheck(have_out || core_help(), comm, RACI_ERR_INPUT, "raci train needs -o CHECKPOINT");
  PetscCall(data_role_options(comm, &ro));
  PetscCall(data_split_options(comm, &so));
  PetscCall(train_options(comm, &to));
  PetscCall(data_check_options(comm, &dc));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options above are listed; nothing runs */
  PetscCall(io_check_writable(comm, out));
  if (report[0]) PetscCall(io_check_writable(comm, report));
  {
    /* an output never replaces an input; a trained model is replaced only on request */
    const char *in[] = {"-data", data, "-init_from", init, NULL}, *outs[] = {"-o", out, "-train_report", report, NULL};
    struct stat st;
    int         exists = 0;
    PetscCall(core_check_paths(comm, in, outs));
    if (rank == 0) exists = !stat(out, &st);
    PetscCallMPI(MPI_Bcast(&exists, 1, MPI_INT, 0, comm));
    PetscCheck(!exists || resume || overwrite, comm, RACI_ERR_INPUT, "checkpoint '%s' (-o) already exists: add -resume to continue its training or -overwrite to replace it", out);
  }
  PetscCall(data_open(comm, data, &ro, halo, &ds));
  PetscCall(core_check_unused_options(comm));
  PetscCall(data_checks_enable(ds, &dc, PETSC_TRUE));
  PetscCall(data_read(ds, 0, ds->nt));
  PetscCall(data_check_usable(ds, &unusable, &total));
  PetscCheck(ds->nt >= to.Lf, comm, RACI_ERR_DATA, "%s: %" PetscInt_FMT " time steps, fewer than the fast window of %" PetscInt_FMT " days", data, ds->nt, to.Lf);
  PetscCall(data_samples_create(ds, &so, (int)to.Lf, (int)to.Ls, (int)to.P, (int)to.Kf, NULL, &ss));
  PetscCall(train_model_config(&to, ss, &cfg));
  {
    int    Q = train_max_queries(&to), R = Q * ((int)to.Kf + 1);
    double buf, np, bytes;
    char   what[256];
    PetscCheck(!model_size(&cfg, Q, R, &buf, &np), PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate a model");
    /* buffers, parameters with gradients and AdamW state, the batch's inputs */
    bytes = buf + 6.0 * sizeof(float) * np + sizeof(float) * ((double)to.Lf * R * ss->F + (double)to.P * Q * ss->F + (double)Q * (ss->S + ss->T));
    PetscCall(PetscSNPrintf(what, sizeof what, "-train_batch %" PetscInt_FMT " with -raci_hidden %" PetscInt_FMT ", -raci_fast_days %" PetscInt_FMT " and -raci_kf %" PetscInt_FMT " (the model's buffers)", to.batch, to.Hf, to.Lf, to.Kf));
    PetscCall(core_check_memory(comm, bytes, what));
    PetscCheck(!model_create(&cfg, Q, R, &m), comm, PETSC_ERR_MEM, "cannot allocate the model's buffers");
  }
  PetscCall(train_state_create(m, (uint64_t)to.seed, &st));
  PetscCall(roles_text(ds, roles, sizeof roles));
  PetscCall(target_atts_text(ds, tatts, sizeof tatts));
  PetscCall(input_units_text(ds, units, sizeof units));
  sc = (SaveCtx){comm, out, &cfg, &to, ss, roles, tatts, units};
  if (init[0]) {
    PetscCall(init_from(&sc, init, &st));
    if (!to.quiet) PetscCall(PetscPrintf(comm, "raci train: parameters from %s\n", init));
  }
  if (resume) {
    int exists = 0;
    if (rank == 0) {
      FILE *fp = fopen(out, "rb");
      exists   = fp != NULL;
      if (fp) fclose(fp);
    }
    PetscCallMPI(MPI_Bcast(&exists, 1, MPI_INT, 0, comm));
    if (exists) {
      PetscCall(load_state(&sc, m, &st));
      if (!to.quiet) PetscCall(PetscPrintf(comm, "raci train: resuming from %s at epoch %ld, step %ld\n", out, st.epoch + 1, st.step));
    }
  }
  if (!to.quiet)
    PetscCall(PetscPrintf(comm, "raci train: %s on %s: %" PetscInt_FMT " locations (%lld train, %lld validation, %lld test, %lld unusable), %" PetscInt_FMT " days, %d fast, %d static features, %d targets; %zu parameters\n", to.model, data, total, (long long)ss->nglobal[SPLIT_TRAIN], (long long)ss->nglobal[SPLIT_VAL], (long long)ss->nglobal[SPLIT_TEST], (long long)ss->nunusable,
                          ds->nt, ss->F, ss->S, ss->T, model_nparams(m)));

  PetscCall(core_signal_install());
  PetscCall(train_run(comm, m, ss, &to, &st, save_state, &sc, &res));
  PetscCall(core_record_text("model", to.model));
  PetscCall(core_record_int("parameters", (long long)model_nparams(m)));
  PetscCall(core_record_int("training_locations", (long long)ss->nglobal[SPLIT_TRAIN]));
  {
    int most = ss->count[SPLIT_TRAIN]; /* the rank with the most training locations sets the pace of a step */
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_INT, MPI_MAX, comm));
    PetscCall(core_record_int("training_locations_rank_max", most));
  }
  PetscCall(core_record_int("epochs", st.epoch));
  PetscCall(core_record_int("steps", st.t));
  PetscCall(core_record_int("samples", res.samples));
  PetscCall(core_record_real("train_seconds", res.seconds));
  PetscCall(core_record_real("step_seconds", res.step_seconds));
  PetscCall(core_record_real("samples_per_second", res.samples / PetscMax(res.step_seconds, 1e-9)));
  PetscCall(core_record_real("bank_seconds", res.bank_seconds));
  PetscCall(core_record_int("interrupted", res.interrupted ? 1 : 0));
  if (res.interrupted) {
    PetscCall(save_state(&sc, &st));
    PetscCall(PetscPrintf(comm, "raci train: stopped by signal %d after step %ld; state saved to %s (continue with the same command and -resume)\n", core_signal_received(), st.t, out));
    goto done;
  }

  /* the best model, its bank, and its errors on training, validation and test locations */
  {
    SampleBatch sb;
    double      loss[3], sse[3][MODEL_MAX_TARGETS], n[3][MODEL_MAX_TARGETS];
    Split       sp[3] = {SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST};
    const char *spn[3] = {"train", "validation", "test (held out)"};
    FILE       *fp = NULL;
    char        tmp_report[PETSC_MAX_PATH_LEN + 32];
    int         rerr = 0;

    PetscCall(data_batch_create(ss, train_max_queries(&to), 0, &sb));
    PetscCall(core_stage_push(CORE_STAGE_EVAL));
    PetscCall(train_bank_build(comm, m, st.params, ss, &to, st.epoch, &sb, &st.bank));
    /* every test day; training and validation days at a stride (diagnostics) */
    for (int i = 0; i < 3; i++) PetscCall(train_evaluate(comm, m, st.params, ss, sp[i], i == 2 ? 1 : (int)(i == 0 ? 4 : 1) * (int)to.val_stride, &st.bank, &sb, &loss[i], sse[i], n[i]));
    PetscCall(core_stage_pop());
    PetscCall(data_batch_destroy(&sb));
    PetscCall(PetscPrintf(comm, "raci train: %ld epochs, %ld steps in all; this run %ld samples in %.1f s; training steps alone %.1f s: %.0f samples/s, %.1f fast-encoder rows per sample; memory bank (%d entries) %.2f s\n", st.epoch, st.t, res.samples, res.seconds, res.step_seconds, res.samples / PetscMax(res.step_seconds, 1e-9), (double)res.rows / (double)PetscMax(res.samples, 1), st.bank.M, res.bank_seconds));
    for (int i = 0; i < 3; i++) {
      char line[512];
      int  used = snprintf(line, sizeof line, "  %-16s loss %.4f  RMSE", spn[i], loss[i]);
      for (int t = 0; t < ss->T && used < (int)sizeof line; t++) used += snprintf(line + used, sizeof line - used, "  %s %.4g", ss->target[t], n[i][t] > 0 ? sqrt(sse[i][t] / n[i][t]) : NAN);
      PetscCall(PetscPrintf(comm, "%s\n", line));
    }
    if (report[0] && rank == 0) {
      fp = core_text_open(report, tmp_report, sizeof tmp_report);
      if (!fp) rerr = errno;
      if (fp) {
        fprintf(fp, "{\"model\": \"%s\", \"no_retrieval\": %d, \"no_slow\": %d, \"no_film\": %d, \"epochs\": %ld, \"samples\": %ld, \"rows\": %ld, \"seconds\": %.3f, \"step_seconds\": %.3f, \"bank_seconds\": %.3f, \"bank_entries\": %d, \"parameters\": %zu", to.model, (int)to.no_retrieval, (int)to.no_slow, (int)to.no_film, st.epoch, res.samples, res.rows, res.seconds, res.step_seconds, res.bank_seconds, st.bank.M, model_nparams(m));
        for (int i = 0; i < 3; i++) {
          /* JSON has no NaN: a split without locations reports null */
          fprintf(fp, ", \"%s\": {\"loss\": ", i == 0 ? "train" : i == 1 ? "validation" : "test");
          fprintf(fp, isfinite(loss[i]) ? "%.6g" : "null", loss[i]);
          for (int t = 0; t < ss->T; t++) {
            fprintf(fp, ", \"rmse_%s\": ", ss->target[t]);
            fprintf(fp, n[i][t] > 0 ? "%.6g" : "null", n[i][t] > 0 ? sqrt(sse[i][t] / n[i][t]) : 0.0);
            fprintf(fp, ", \"n_%s\": %.0f", ss->target[t], n[i][t]);
          }
          fprintf(fp, "}");
        }
      }
    }
    /* which locations were in which split, and whose entries the bank holds
     * (every rank takes part; rank 0 writes) */
    PetscCall(report_split(comm, fp, ss, SPLIT_TRAIN, "train"));
    PetscCall(report_split(comm, fp, ss, SPLIT_VAL, "validation"));
    PetscCall(report_split(comm, fp, ss, SPLIT_TEST, "test"));
    if (fp) {
      fprintf(fp, ", \"bank_locations\": [");
      for (int i = 0; i < st.bank.M; i++) fprintf(fp, "%s%d", i ? ", " : "", (int)st.bank.owner[i]);
      fprintf(fp, "]}\n");
      rerr = core_text_commit(fp, tmp_report, report); /* every write checked; the old file stays on failure */
    }
    PetscCallMPI(MPI_Bcast(&rerr, 1, MPI_INT, 0, comm));
    PetscCheck(!rerr, comm, RACI_ERR_WRITE, "cannot write the report '%s' (-train_report): %s", report, strerror(rerr));
  }
  PetscCall(save_state(&sc, &st)); /* the final model with the bank it was scored with */
  PetscCall(PetscPrintf(comm, "raci train: wrote checkpoint %s\n", out));
done:
  PetscCall(train_state_destroy(&st));
  model_destroy(&m);
  PetscCall(data_samples_destroy(&ss));
  PetscCall(data_close(&ds));
  PetscFunctionReturn(PETSC_SUCCESS);
}
