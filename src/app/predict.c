/* raci predict -ckpt CKPT -data IN -o OUT: a trained model over every usable
 * location (land cell or site) and day of IN, streamed in time chunks, with
 * the regime-embedding map and the role shares as diagnostics
 * (docs/MODEL.md section 8). IN needs the checkpoint's fast and slow
 * variables (names, class values); its targets, if any, are not read. */
#include <raci/app.h>
#include <raci/predict.h>
#include <raci/quantity.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

/* What prediction needs from a checkpoint; the section list owns the data. */
typedef struct {
  IoSection          *sec;
  int                 nsec;
  const ModelConfig  *cfg;
  const TrainOptions *to;
  const char         *roles, *tatts; /* tatts NULL in checkpoints without it */
  const char         *units;         /* input_units, NULL in checkpoints without it */
  SampleNorm          norm;
  const float        *params;
  Bank                bank; /* points into the sections */
  long                finished;
} Trained;

static PetscErrorCode trained_load(MPI_Comm comm, const char *path, Trained *tr)
{
  const void *p, *k, *v, *o, *lk = NULL;
  size_t      nb, bo = 0;
  Model      *m;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(tr, sizeof *tr));
  PetscCall(io_ckpt_read(comm, path, &tr->sec, &tr->nsec));
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "config", sizeof(ModelConfig), &p));
  tr->cfg = p;
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "train_opts", sizeof(TrainOptions), &p));
  tr->to = p;
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "roles", 0, &p));
  tr->roles = p;
  for (int i = 0; i < tr->nsec; i++) {
    if (!strcmp(tr->sec[i].name, "target_atts")) tr->tatts = tr->sec[i].data;
    if (!strcmp(tr->sec[i].name, "input_units")) tr->units = tr->sec[i].data;
    if (!strcmp(tr->sec[i].name, "bank_lkey")) lk = tr->sec[i].data;
    if (!strcmp(tr->sec[i].name, "bank_owner")) bo = tr->sec[i].bytes;
  }
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "norm_fast", 2 * DATA_MAX_VARS * sizeof(float), &p));
  PetscCall(PetscArraycpy(tr->norm.fmean, (const float *)p, DATA_MAX_VARS));
  PetscCall(PetscArraycpy(tr->norm.fstd, (const float *)p + DATA_MAX_VARS, DATA_MAX_VARS));
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "norm_slow", 2 * DATA_MAX_VARS * sizeof(float), &p));
  PetscCall(PetscArraycpy(tr->norm.smean, (const float *)p, DATA_MAX_VARS));
  PetscCall(PetscArraycpy(tr->norm.sstd, (const float *)p + DATA_MAX_VARS, DATA_MAX_VARS));
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "norm_ncat", sizeof tr->norm.ncat, &p));
  PetscCall(PetscArraycpy(tr->norm.ncat, (const int *)p, DATA_MAX_VARS));
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "norm_cat", sizeof tr->norm.cat, &p));
  PetscCall(PetscMemcpy(tr->norm.cat, p, sizeof tr->norm.cat));
  {
    const long *rec; /* the StateRecord of raci train: epoch, step, t, bad, finished, ... */
    PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "state", 0, (const void **)&rec));
    tr->finished = rec[4];
  }
  /* the parameter count follows from the configuration */
  PetscCheck(!model_create(tr->cfg, 1, 1, &m), comm, RACI_ERR_INPUT, "checkpoint '%s' holds a model configuration raci cannot build", path);
  nb = model_nparams(m) * sizeof(float);
  model_destroy(&m);
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "params", nb, &p));
  tr->params = p;
  tr->bank.M = (int)(bo / sizeof(int32_t)), tr->bank.Z = tr->cfg->Z, tr->bank.V = tr->cfg->Z + 2 * tr->cfg->T;
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "bank_owner", 0, &o));
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "bank_key", (size_t)tr->bank.M * tr->bank.Z * sizeof(float), &k));
  PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "bank_val", (size_t)tr->bank.M * tr->bank.V * sizeof(float), &v));
  /* the bank search skips the query's own location by its key (older checkpoints kept only the training file's grid index) */
  PetscCheck(tr->bank.M == 0 || lk, comm, RACI_ERR_INPUT, "checkpoint '%s' was written by an older raci (its memory bank has no location keys); train the model again", path);
  if (tr->bank.M > 0) PetscCall(io_ckpt_find(comm, path, tr->sec, tr->nsec, "bank_lkey", (size_t)tr->bank.M * sizeof(int64_t), &lk));
  tr->bank.key = (float *)k, tr->bank.val = (float *)v, tr->bank.owner = (int32_t *)o, tr->bank.lkey = (int64_t *)lk;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* "fast:A,B;slow:C;target:D;" -> roles for fast and slow; targets are not read. */
static PetscErrorCode roles_parse(MPI_Comm comm, const char *path, const char *text, RoleOptions *ro)
{
  char        buf[4096], *save = NULL;
  const char *part;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(ro, sizeof *ro));
  PetscCall(PetscStrncpy(buf, text, sizeof buf));
  for (part = strtok_r(buf, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
    const char *colon = strchr(part, ':');
    int         r;
    PetscCheck(colon, comm, RACI_ERR_INPUT, "checkpoint '%s': unreadable roles record", path);
    for (r = ROLE_FAST; r < NUM_ROLES; r++)
      if (!strncmp(part, role_name[r], (size_t)(colon - part)) && strlen(role_name[r]) == (size_t)(colon - part)) break;
    PetscCheck(r < NUM_ROLES, comm, RACI_ERR_INPUT, "checkpoint '%s': unknown role in its roles record", path);
    ro->given[r] = PETSC_TRUE;
    if (r == ROLE_TARGET) continue;
    {
      char  names[4096], *s2 = NULL;
      char *nm;
      PetscCall(PetscStrncpy(names, colon + 1, sizeof names));
      for (nm = strtok_r(names, ",", &s2); nm; nm = strtok_r(NULL, ",", &s2)) {
        PetscCheck(ro->n[r] < DATA_MAX_VARS, comm, RACI_ERR_INPUT, "checkpoint '%s': too many variables in its roles record", path);
        PetscCall(PetscStrncpy(ro->name[r][ro->n[r]++], nm, sizeof ro->name[r][0]));
      }
    }
  }
  ro->given[ROLE_TARGET] = PETSC_TRUE; /* no variable of the file becomes a target */
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* units, long_name and standard_name of target name from the checkpoint. */
static void target_att(const char *tatts, const char *name, int which, char *out, size_t len)
{
  const char *line = tatts;
  out[0]           = '\0';
  while (line && *line) {
    const char *end = strchr(line, '\n'), *f = line;
    size_t      n   = strlen(name);
    if (!end) end = line + strlen(line);
    if (!strncmp(line, name, n) && line[n] == '|') {
      f = line + n + 1;
      for (int i = 0; i < which && f < end; i++) {
        const char *bar = memchr(f, '|', (size_t)(end - f));
        f               = bar ? bar + 1 : end;
      }
      {
        const char *bar = memchr(f, '|', (size_t)(end - f));
        size_t      l   = (size_t)((bar ? bar : end) - f);
        if (l >= len) l = len - 1;
        memcpy(out, f, l);
        out[l] = '\0';
      }
      return;
    }
    line = *end ? end + 1 : NULL;
  }
}

/* Every fast and slow variable of ds in the units the model was trained with
 * (the checkpoint's input_units; checkpoints without it are not checked). */
static PetscErrorCode check_input_units(MPI_Comm comm, const char *data, const char *ckpt, const char *units, const Dataset *ds)
{
  PetscFunctionBeginUser;
  if (!units) PetscFunctionReturn(PETSC_SUCCESS);
  for (int k = 0; k < ds->nvar; k++) {
    char        have[256], want[256] = "";
    const char *line = units;
    size_t      n    = strlen(ds->var[k].name);
    PetscBool   known = PETSC_FALSE;
    if (ds->var[k].role != ROLE_FAST && ds->var[k].role != ROLE_SLOW) continue;
    while (*line) { /* "name|units\n" lines */
      const char *end = strchr(line, '\n');
      if (!end) end = line + strlen(line);
      if (!strncmp(line, ds->var[k].name, n) && line[n] == '|') {
        size_t l = (size_t)(end - line - n - 1);
        if (l >= sizeof want) l = sizeof want - 1;
        memcpy(want, line + n + 1, l);
        want[l] = '\0';
        known   = PETSC_TRUE;
        break;
      }
      line = *end ? end + 1 : end;
    }
    if (!known) continue;
    PetscCall(data_var_units(ds, k, have, sizeof have));
    PetscCheck(quantity_units_same(have, want), comm, RACI_ERR_DATA, "%s: %s variable '%s' is in units '%s', but the model of '%s' was trained with '%s'; convert it first", data, role_name[ds->var[k].role], ds->var[k].name, have[0] ? have : "(no units attribute)", ckpt, want[0] ? want : "(no units attribute)");
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_predict(MPI_Comm comm)
{
  char         data[PETSC_MAX_PATH_LEN] = "", out[PETSC_MAX_PATH_LEN] = "", ckpt[PETSC_MAX_PATH_LEN] = "";
  PetscBool    have_data, have_out, have_ckpt, quiet = PETSC_FALSE;
  PetscInt     halo = 1, chunk = 365, diag_stride = 10, batch = 256;
  Trained      tr;
  RoleOptions  ro;
  SplitOptions so;
  DataChecks   dc;
  Dataset     *ds;
  Model       *m;
  IoFile      *f;
  DataOutLayout L;
  PredictOut   po;
  int          vy[MODEL_MAX_TARGETS], vz = -1, vfast = -1, vslow = -1, zdim = -1;
  PetscInt     Lw, nchunk;
  double       t_start, t_io = 0, t_pred = 0;
  long         cell_days = 0;
  size_t       nown;

  PetscFunctionBeginUser;
  PetscCall(core_opt_section(comm, "raci predict options"));
  PetscCall(core_opt_string(comm, "-ckpt", "Checkpoint of raci train; required", ckpt, sizeof ckpt, &have_ckpt));
  PetscCall(core_opt_string(comm, "-data", "Drivers and attributes to predict on (NetCDF, gridded or sites); required", data, sizeof data, &have_data));
  PetscCall(core_opt_string(comm, "-o", "Prediction file to write (NetCDF, CF-1.8); required", out, sizeof out, &have_out));
  PetscCall(core_opt_int(comm, "-predict_chunk_days", "Days predicted per chunk (memory: slow window plus chunk)", chunk, 1, 36600, &chunk, NULL));
  PetscCall(core_opt_int(comm, "-predict_diag_stride", "Diagnostics (regime map, role shares) every this many days; 0 for none", diag_stride, 0, 36600, &diag_stride, NULL));
  PetscCall(core_opt_int(comm, "-predict_batch", "Locations per forward pass", batch, 1, 1 << 20, &batch, NULL));
  PetscCall(core_opt_int(comm, "-grid_halo", "Halo width in cells (geographic neighbours)", halo, 0, 1000, &halo, NULL));
  PetscCall(core_opt_bool(comm, "-quiet", "No progress output", quiet, &quiet, NULL));
  PetscCall(data_check_options(comm, &dc));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options are listed; nothing runs */
  PetscCheck(have_ckpt, comm, RACI_ERR_INPUT, "raci predict needs -ckpt CHECKPOINT");
  PetscCheck(have_data, comm, RACI_ERR_INPUT, "raci predict needs -data FILE");
  PetscCheck(have_out, comm, RACI_ERR_INPUT, "raci predict needs -o FILE");
  PetscCheck(chunk > 0, comm, RACI_ERR_INPUT, "-predict_chunk_days must be positive");
  PetscCheck(diag_stride >= 0, comm, RACI_ERR_INPUT, "-predict_diag_stride must be 0 or positive");
  PetscCheck(batch > 0, comm, RACI_ERR_INPUT, "-predict_batch must be positive");
  PetscCall(core_check_unused_options(comm));
  {
    const char *in[] = {"-ckpt", ckpt, "-data", data, NULL}, *outs[] = {"-o", out, NULL};
    PetscCall(core_check_paths(comm, in, outs));
  }
  t_start = MPI_Wtime();

  PetscCall(trained_load(comm, ckpt, &tr));
  PetscCall(roles_parse(comm, ckpt, tr.roles, &ro));
  {
    IoFile *in;
    PetscCall(io_open(comm, data, &in));
    for (int r = ROLE_FAST; r <= ROLE_SLOW; r++)
      for (int i = 0; i < ro.n[r]; i++) PetscCheck(io_find_var(in, ro.name[r][i]) >= 0, comm, RACI_ERR_DATA, "%s: no variable '%s', which the model of '%s' reads as a %s variable", data, ro.name[r][i], ckpt, role_name[r]);
    PetscCall(io_close(&in));
  }
  PetscCall(data_open(comm, data, &ro, halo, &ds));
  PetscCall(check_input_units(comm, data, ckpt, tr.units, ds));
  PetscCall(data_checks_enable(ds, &dc, PETSC_FALSE));
  PetscCheck(ds->nt >= tr.to->Lf, comm, RACI_ERR_DATA, "%s: %" PetscInt_FMT " time steps, fewer than the model's fast window of %" PetscInt_FMT " days", data, ds->nt, tr.to->Lf);
  PetscCheck(ds->tdim >= 0, comm, RACI_ERR_DATA, "%s: the fast drivers have no time dimension", data);
  PetscCall(PetscMemzero(&so, sizeof so)); /* every location is predicted */
  {
    double buf, np;
    char   what[128];
    PetscCheck(!model_size(tr.cfg, (int)batch, (int)batch * (tr.cfg->Kf + 1), &buf, &np), PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate a model");
    PetscCall(PetscSNPrintf(what, sizeof what, "-predict_batch %" PetscInt_FMT " (the model's buffers)", batch));
    PetscCall(core_check_memory(comm, buf + sizeof(float) * np, what));
  }
  PetscCheck(!model_create(tr.cfg, (int)batch, (int)batch * (tr.cfg->Kf + 1), &m), comm, PETSC_ERR_MEM, "cannot allocate the model's buffers for -predict_batch %" PetscInt_FMT, batch);

  /* the output: the input's layout, one field per flux, the diagnostics */
  PetscCall(io_create(comm, out, &f));
  PetscCall(data_def_output(ds, f, "RACI carbon flux predictions", &L));
  PetscCall(io_put_att_text(f, NC_GLOBAL, "source", "raci " RACI_VERSION " predict (Role-Aware Conditional Inference)"));
  PetscCall(io_put_att_text(f, NC_GLOBAL, "raci_checkpoint", ckpt));
  PetscCall(io_put_att_text(f, NC_GLOBAL, "raci_model", tr.to->model));
  for (int k = 0; k < tr.cfg->T; k++) {
    char att[256], ln[300];
    PetscCall(data_def_field(ds, f, &L, tr.cfg->target[k], PETSC_TRUE, &vy[k]));
    target_att(tr.tatts, tr.cfg->target[k], 0, att, sizeof att);
    if (att[0]) PetscCall(io_put_att_text(f, vy[k], "units", att));
    target_att(tr.tatts, tr.cfg->target[k], 1, att, sizeof att);
    snprintf(ln, sizeof ln, "predicted %s", att[0] ? att : tr.cfg->target[k]);
    PetscCall(io_put_att_text(f, vy[k], "long_name", ln));
    target_att(tr.tatts, tr.cfg->target[k], 2, att, sizeof att);
    if (att[0]) PetscCall(io_put_att_text(f, vy[k], "standard_name", att));
  }
  PetscCall(predict_out_create(m, &ds->tile, (int)PetscMin(chunk, ds->nt), &po));
  if (po.Z && diag_stride) {
    PetscCall(io_def_dim(f, "regime", po.Z, &zdim));
    PetscCall(data_def_field_lead(ds, f, &L, "regime_embedding", zdim, &vz));
    PetscCall(io_put_att_text(f, vz, "long_name", "regime embedding z, mean over the diagnostic days"));
    PetscCall(io_put_att_text(f, vz, "units", "1"));
  }
  if (diag_stride) {
    PetscCall(data_def_field(ds, f, &L, "share_fast", PETSC_FALSE, &vfast));
    PetscCall(io_put_att_text(f, vfast, "long_name", "share of the fast role (drivers, geographic context) in the prediction, by occlusion"));
    PetscCall(io_put_att_text(f, vfast, "units", "1"));
    PetscCall(data_def_field(ds, f, &L, "share_slow", PETSC_FALSE, &vslow));
    PetscCall(io_put_att_text(f, vslow, "long_name", "share of the slow role (slow blocks, attributes, functional context) in the prediction, by occlusion"));
    PetscCall(io_put_att_text(f, vslow, "units", "1"));
  }
  PetscCall(io_enddef(f));
  PetscCall(data_put_coords(ds, f, &L));

  /* chunks: days [c0, c1) need the days from c0 - max(Ls, Lf) + 1 */
  Lw     = PetscMax(tr.to->Ls, tr.to->Lf) - 1;
  nchunk = (ds->nt + chunk - 1) / chunk;
  nown   = (size_t)grid_owned_count(&ds->tile);
  if (!quiet) PetscCall(PetscPrintf(comm, "raci predict: %s model of %s on %s: %" PetscInt_FMT " days in %" PetscInt_FMT " chunk(s) of up to %" PetscInt_FMT " days, %d outputs\n", tr.to->model, ckpt, data, ds->nt, nchunk, chunk, tr.cfg->T));
  if (!quiet && !tr.finished) PetscCall(PetscPrintf(comm, "raci predict: warning: '%s' is from a training run that has not finished; predicting with its current parameters\n", ckpt));
  for (PetscInt ci = 0; ci < nchunk; ci++) {
    PetscInt    c0 = ci * chunk, c1 = PetscMin(ds->nt, c0 + chunk), w0 = PetscMax(0, c0 - Lw);
    SampleSet  *ss;
    SampleBatch sb;
    float      *pack;
    double      t0 = MPI_Wtime(), t1, t2;
    long        cd = po.cell_days, tot;

    PetscCall(data_read(ds, w0, c1 - w0));
    PetscCall(data_samples_create(ds, &so, (int)tr.to->Lf, (int)tr.to->Ls, (int)tr.to->P, (int)tr.to->Kf, &tr.norm, &ss));
    PetscCheck(ss->F == tr.cfg->F && ss->S == tr.cfg->S, comm, RACI_ERR_DATA, "%s: %d fast and %d static features, but the model of '%s' reads %d and %d", data, ss->F, ss->S, ckpt, tr.cfg->F, tr.cfg->S);
    PetscCall(data_batch_create(ss, (int)batch, tr.cfg->T, &sb));
    if (ci == 0 && !quiet) { /* the balance of the decomposition */
      int own = ss->count[SPLIT_TRAIN] + ss->count[SPLIT_VAL] + ss->count[SPLIT_TEST] + ss->count[SPLIT_NONE], mm[2];
      mm[0] = -own, mm[1] = own;
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_INT, MPI_MAX, comm));
      PetscCall(PetscPrintf(comm, "raci predict: usable locations per rank: min %d, max %d\n", -mm[0], mm[1]));
    }
    PetscCall(predict_out_reset(&po, (int)(c1 - c0)));
    t1 = MPI_Wtime();
    PetscCall(core_stage_push(CORE_STAGE_FORWARD));
    PetscCall(predict_days(m, tr.params, &tr.bank, ss, (int)(c0 - w0), (int)diag_stride, &sb, &po));
    PetscCall(core_stage_pop());
    t2 = MPI_Wtime();
    PetscCall(data_batch_destroy(&sb));
    PetscCall(data_samples_destroy(&ss));
    PetscCall(core_stage_push(CORE_STAGE_WRITE));
    PetscCall(PetscMalloc1((size_t)tr.cfg->T * (c1 - c0) * nown + 1, &pack));
    for (int k = 0; k < tr.cfg->T; k++) PetscCall(data_iput_field(&ds->tile, ds->layout, f, vy[k], PETSC_TRUE, c0, c1 - c0, po.y + (size_t)k * (c1 - c0) * po.ng, pack + (size_t)k * (c1 - c0) * nown));
    PetscCall(io_wait_all(f));
    PetscCall(PetscFree(pack));
    PetscCall(core_stage_pop());
    t_io += (t1 - t0) + (MPI_Wtime() - t2), t_pred += t2 - t1;
    tot = po.cell_days - cd;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &tot, 1, MPI_LONG, MPI_SUM, comm));
    cell_days += tot;
    if (!quiet) {
      double el = MPI_Wtime() - t_start;
      PetscCall(PetscPrintf(comm, "raci predict: chunk %" PetscInt_FMT "/%" PetscInt_FMT " (days %" PetscInt_FMT "-%" PetscInt_FMT "): %ld cell-days, %.0f cell-days/s; %.1f s elapsed, about %.0f s left\n", ci + 1, nchunk, c0, c1 - 1, tot, tot / PetscMax(MPI_Wtime() - t0, 1e-9), el, el / (double)(ci + 1) * (double)(nchunk - ci - 1)));
    }
  }

  /* diagnostics: means over the diagnostic days */
  if (diag_stride) {
    float *plane, *pack;
    PetscCall(PetscMalloc2((size_t)(po.Z + 2) * po.ng, &plane, (size_t)(po.Z + 2) * nown + 1, &pack));
    for (size_t g = 0; g < po.ng; g++) {
      double n = po.ndiag[g];
      for (int k = 0; k < po.Z; k++) plane[(size_t)k * po.ng + g] = n > 0 ? (float)(po.zsum[(size_t)k * po.ng + g] / n) : NAN;
      plane[(size_t)po.Z * po.ng + g]       = n > 0 ? (float)(po.fast[g] / n) : NAN;
      plane[(size_t)(po.Z + 1) * po.ng + g] = n > 0 ? (float)((n - po.fast[g]) / n) : NAN;
    }
    PetscCall(core_stage_push(CORE_STAGE_WRITE));
    if (vz >= 0) PetscCall(data_iput_field(&ds->tile, ds->layout, f, vz, PETSC_TRUE, 0, po.Z, plane, pack));
    PetscCall(data_iput_field(&ds->tile, ds->layout, f, vfast, PETSC_FALSE, 0, 1, plane + (size_t)po.Z * po.ng, pack + (size_t)po.Z * nown));
    PetscCall(data_iput_field(&ds->tile, ds->layout, f, vslow, PETSC_FALSE, 0, 1, plane + (size_t)(po.Z + 1) * po.ng, pack + (size_t)(po.Z + 1) * nown));
    PetscCall(io_wait_all(f));
    PetscCall(core_stage_pop());
    PetscCall(PetscFree2(plane, pack));
  }
  {
    /* as train does: a driver without any value, or nothing predicted, is an error, not a file of _FillValue */
    PetscInt unusable, total;
    PetscCall(data_check_usable(ds, &unusable, &total));
    PetscCheck(cell_days > 0, comm, RACI_ERR_DATA, "%s: nothing to predict: none of the %" PetscInt_FMT " locations has every slow attribute and %" PetscInt_FMT " days in a row with every fast driver present", data, total, tr.to->Lf);
  }
  PetscCall(io_commit(&f));
  {
    double tp = t_pred, el = MPI_Wtime() - t_start;
    PetscMPIInt size;
    PetscCallMPI(MPI_Comm_size(comm, &size));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &tp, 1, MPI_DOUBLE, MPI_MAX, comm));
    PetscCall(core_record_int("cell_days", cell_days));
    PetscCall(core_record_real("inference_seconds", tp));
    PetscCall(core_record_real("cell_days_per_second_per_rank", cell_days / PetscMax(tp, 1e-9) / size));
    PetscCall(core_record_real("read_write_seconds", t_io));
    if (!quiet) PetscCall(PetscPrintf(comm, "raci predict: wrote %s: %ld cell-days in %.1f s (inference %.1f s: %.0f cell-days/s per rank on %d rank(s); read and write %.1f s)\n", out, cell_days, el, tp, cell_days / PetscMax(tp, 1e-9) / size, size, t_io));
  }
  PetscCall(predict_out_destroy(&po));
  model_destroy(&m);
  PetscCall(data_close(&ds));
  PetscCall(io_ckpt_free(&tr.sec, tr.nsec));
  PetscFunctionReturn(PETSC_SUCCESS);
}
