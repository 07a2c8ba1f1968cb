/* raci predict -ckpt CKPT -data IN -o OUT: a trained model over every usable
 * location (land cell or site) and day of IN, the record tiled into the
 * model's segments and streamed in time chunks of whole segments, with the
 * regime-embedding map and the role shares as diagnostics (docs/MODEL.md
 * section 8). IN needs the checkpoint's fast and slow variables (names, class
 * values); its targets, if any, are not read. */
#include <raci/app.h>
#include <raci/checkpoint.h>
#include <raci/predict.h>
#include <raci/profile.h>
#include <raci/quantity.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        PetscCheck(ro->n[r] < DATA_MAX_VARS, comm, RACI_ERR_INPUT,
                   "checkpoint '%s': too many variables in its roles record", path);
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
    size_t      n = strlen(name);
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
static PetscErrorCode check_input_units(MPI_Comm comm, const char *data, const char *ckpt, const char *units,
                                        const Dataset *ds)
{
  PetscFunctionBeginUser;
  if (!units) PetscFunctionReturn(PETSC_SUCCESS);
  for (int k = 0; k < ds->nvar; k++) {
    char        have[256], want[256] = "";
    const char *line  = units;
    size_t      n     = strlen(ds->var[k].name);
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
    PetscCheck(quantity_units_same(have, want), comm, RACI_ERR_DATA,
               "%s: %s variable '%s' is in units '%s', but the model of '%s' was trained with '%s'; convert it first",
               data, role_name[ds->var[k].role], ds->var[k].name, have[0] ? have : "(no units attribute)", ckpt,
               want[0] ? want : "(no units attribute)");
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What every phase of raci predict shares; one per run (heap: the role options are large). */
typedef struct {
  MPI_Comm comm;
  /* options */
  char       data[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN], ckpt[PETSC_MAX_PATH_LEN];
  PetscBool  quiet;
  PetscInt   halo, chunk, diag_stride, batch;
  PetscInt   members; /* -predict_members: the first this many of an ensemble; 0: all */
  DataChecks dc;
  /* the tiling: nseg segments of the record, spc per chunk */
  PetscInt nseg, spc;
  /* the model, the input, the output */
  Trained       tr;
  RoleOptions   ro;
  SplitOptions  so;
  Dataset      *ds;
  Model        *m;
  IoFile       *f;
  DataOutLayout L;
  PredictOut    po;
  int           vy[MODEL_MAX_TARGETS], vz, vfast, vslow, vreg; /* vreg: the regime coordinate, -1 without */
  /* an ensemble: its members, and per flux the spread and the members' standard deviation */
  int      nmem;
  int      vs[MODEL_MAX_TARGETS], vsd[MODEL_MAX_TARGETS];
  float   *ysd, *ym2; /* (T, nd, ng) as po.y: the members' sd (first their sum of squared deviations) */
  DayTally days;      /* the days each location is predicted and loses, over the chunks */
  /* progress */
  double t_start, t_io, t_pred;
  double t_ckpt, t_setup, t_diag, t_commit; /* the rest of the final timing line (rank 0's) */
  long   cell_days;
  /* progress inside a chunk (rank 0's share of the work, scaled to all
   * ranks): a line every PREDICT_PROGRESS_SECONDS of wall time */
  double   t_loop, t_line;   /* start of the chunk loop, time of the last progress line */
  double   chunk_cd, all_cd; /* expected cell-days of the chunk, of the run (all ranks) */
  int      member;           /* the member predicting */
  PetscInt ci, nchunk;
  long     usable; /* usable locations, all ranks (first chunk) */
} PredictRun;

#define PREDICT_PROGRESS_SECONDS 10.0

/* Progress inside a chunk, after each batch on rank 0 (no MPI: rank 0 alone
 * prints): cell-days done, estimated from the share of rank 0's segments done
 * times the chunk's expected cell-days, and the time left at the rate so far. */
static void predict_progress(void *ctx, double share)
{
  PredictRun *run = (PredictRun *)ctx;
  double      now = MPI_Wtime(), done, left, el;

  if (run->quiet || now - run->t_line < PREDICT_PROGRESS_SECONDS) return;
  run->t_line = now;
  done        = run->cell_days + run->chunk_cd * (run->member + share) / PetscMax(run->nmem, 1);
  left        = PetscMax(run->all_cd - done, 0.0);
  el          = now - run->t_loop;
  (void)PetscPrintf(run->comm,
                    "raci predict: chunk %" PetscInt_FMT "/%" PetscInt_FMT
                    ": about %.0f of %.0f cell-days done (%.0f %%); %.1f s elapsed, about %.0f s left\n",
                    run->ci + 1, run->nchunk, done, run->all_cd, 100.0 * done / PetscMax(run->all_cd, 1.0), el,
                    done > 0 ? el * left / done : 0.0);
}

/* Options: the command line into run, checked; nothing is checked, read or
 * written under -help (core_help()). */
static PetscErrorCode predict_read_options(PredictRun *run)
{
  MPI_Comm  comm = run->comm;
  PetscBool have_data, have_out, have_ckpt;

  PetscFunctionBeginUser;
  run->halo = 1, run->chunk = 365, run->diag_stride = 10, run->batch = 256;
  PetscCall(core_opt_section(comm, "raci predict options"));
  PetscCall(
      core_opt_string(comm, "-ckpt", "Checkpoint of raci train; required", run->ckpt, sizeof run->ckpt, &have_ckpt));
  PetscCall(core_opt_string(comm, "-data", "Drivers and attributes to predict on (NetCDF, gridded or sites); required",
                            run->data, sizeof run->data, &have_data));
  PetscCall(core_opt_string(comm, "-o", "Prediction file to write (NetCDF, CF-1.8); required", run->out,
                            sizeof run->out, &have_out));
  PetscCall(core_opt_int(comm, "-predict_chunk_days",
                         "Days predicted per chunk, rounded to whole segments (memory: slow window plus chunk)",
                         run->chunk, 1, 36600, &run->chunk, NULL));
  PetscCall(core_opt_int(comm, "-predict_diag_stride",
                         "Diagnostics (regime map, role shares) every this many days; 0 for none", run->diag_stride, 0,
                         36600, &run->diag_stride, NULL));
  PetscCall(
      core_opt_int(comm, "-predict_batch", "Segments per forward pass", run->batch, 1, 1 << 20, &run->batch, NULL));
  PetscCall(core_opt_int(comm, "-predict_members",
                         "An ensemble's checkpoint: predict with its first n members only (1: member 0, the single "
                         "model of the same training command, without spread); 0: all",
                         run->members, 0, TRAIN_MAX_MEMBERS, &run->members, NULL));
  PetscCall(data_opt_halo(comm, &run->halo));
  PetscCall(core_opt_quiet(comm, &run->quiet));
  PetscCall(data_check_options(comm, &run->dc));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options are listed; nothing runs */
  PetscCheck(have_ckpt, comm, RACI_ERR_INPUT, "raci predict needs -ckpt CHECKPOINT");
  PetscCheck(have_data, comm, RACI_ERR_INPUT, "raci predict needs -data FILE");
  PetscCheck(have_out, comm, RACI_ERR_INPUT, "raci predict needs -o FILE");
  PetscCheck(run->chunk > 0, comm, RACI_ERR_INPUT, "-predict_chunk_days must be positive");
  PetscCheck(run->diag_stride >= 0, comm, RACI_ERR_INPUT, "-predict_diag_stride must be 0 or positive");
  PetscCheck(run->batch > 0, comm, RACI_ERR_INPUT, "-predict_batch must be positive");
  PetscCall(core_check_unused_options(comm));
  {
    const char *in[] = {"-ckpt", run->ckpt, "-data", run->data, NULL}, *outs[] = {"-o", run->out, NULL};
    PetscCall(core_check_paths(comm, in, outs));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Open input: -data with the checkpoint's fast and slow variables (by name,
 * in its units), checked; and the model's buffers for -predict_batch. */
static PetscErrorCode predict_open_input(PredictRun *run)
{
  MPI_Comm       comm = run->comm;
  const Trained *tr   = &run->tr;
  const char    *data = run->data, *ckpt = run->ckpt;
  int            batch = (int)run->batch;
  IoFile        *in;
  double         buf, np;
  char           what[128];

  PetscFunctionBeginUser;
  PetscCall(io_open(comm, data, &in));
  for (int r = ROLE_FAST; r <= ROLE_SLOW; r++)
    for (int i = 0; i < run->ro.n[r]; i++)
      PetscCheck(io_find_var(in, run->ro.name[r][i]) >= 0, comm, RACI_ERR_DATA,
                 "%s: no variable '%s', which the model of '%s' reads as a %s variable", data, run->ro.name[r][i], ckpt,
                 role_name[r]);
  PetscCall(io_close(&in));
  PetscCall(data_open(comm, data, &run->ro, run->halo, &run->ds));
  run->ds->site_radius_km = tr->to.radius; /* the model's site neighbours */
  PetscCall(check_input_units(comm, data, ckpt, tr->units, run->ds));
  PetscCall(data_checks_enable(run->ds, &run->dc, PETSC_FALSE));
  PetscCheck(run->ds->nt > tr->cfg.W, comm, RACI_ERR_DATA,
             "%s: %" PetscInt_FMT " time steps, but the model of '%s' predicts a day after %d days of warm-up "
             "(its -raci_warmup_days): give it more than %d days",
             data, run->ds->nt, ckpt, tr->cfg.W, tr->cfg.W);
  PetscCheck(run->ds->tdim >= 0, comm, RACI_ERR_DATA, "%s: the fast drivers have no time dimension", data);
  PetscCall(PetscMemzero(&run->so, sizeof run->so)); /* every location is predicted */
  PetscCheck(!model_size(&tr->cfg, batch, batch * (tr->cfg.Kf + 1), &buf, &np), PETSC_COMM_SELF, PETSC_ERR_MEM,
             "cannot allocate a model");
  PetscCall(PetscSNPrintf(what, sizeof what, "-predict_batch %" PetscInt_FMT " (the model's buffers)", run->batch));
  PetscCall(core_check_memory(comm, buf + sizeof(float) * np, what));
  PetscCheck(!model_create(&tr->cfg, batch, batch * (tr->cfg.Kf + 1), &run->m), comm, PETSC_ERR_MEM,
             "cannot allocate the model's buffers for -predict_batch %" PetscInt_FMT, run->batch);
  {
    ModelProfiler p;
    profile_model_hooks(&p);
    model_set_profiler(run->m, &p);
  }
  /* the tiling, and chunks of whole segments: -predict_chunk_days rounded, one segment at least */
  run->nseg = predict_nsegments(run->ds->nt, tr->cfg.W, tr->cfg.Sc);
  run->spc  = PetscMin(PetscMax(1, (run->chunk + tr->cfg.Sc / 2) / tr->cfg.Sc), run->nseg);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* An ensemble's two fields beside flux k: X_spread, the predictive spread
 * (members' sd and the residual spread in quadrature, what raci eval scores),
 * and X_member_sd, the members' standard deviation alone. */
static PetscErrorCode predict_define_spread(PredictRun *run, int k)
{
  const Trained *tr = &run->tr;
  const char    *t  = tr->cfg.target[k];
  char           name[NC_MAX_NAME + 16], att[256], text[512];

  PetscFunctionBeginUser;
  target_att(tr->tatts, t, 0, att, sizeof att);
  snprintf(name, sizeof name, "%s_spread", t);
  PetscCall(data_def_field(run->ds, run->f, &run->L, name, PETSC_TRUE, &run->vs[k]));
  if (att[0]) PetscCall(io_put_att_text(run->f, run->vs[k], "units", att));
  snprintf(text, sizeof text, "predictive spread of %s: sqrt(%s_member_sd^2 + residual_spread^2)", t, t);
  PetscCall(io_put_att_text(run->f, run->vs[k], "long_name", text));
  PetscCall(io_put_att_text(run->f, run->vs[k], "cell_methods", "time: mean"));
  {
    float r = (float)tr->sres[k];
    PetscCall(io_put_att_float(run->f, run->vs[k], "residual_spread", NC_FLOAT, 1, &r));
  }
  snprintf(text, sizeof text,
           "residual_spread: set by raci train so that 68.3 %% of the validation values lay inside the members' mean "
           "+- this spread; %d members",
           run->nmem);
  PetscCall(io_put_att_text(run->f, run->vs[k], "comment", text));
  snprintf(name, sizeof name, "%s_member_sd", t);
  PetscCall(data_def_field(run->ds, run->f, &run->L, name, PETSC_TRUE, &run->vsd[k]));
  if (att[0]) PetscCall(io_put_att_text(run->f, run->vsd[k], "units", att));
  snprintf(text, sizeof text, "standard deviation of predicted %s over the ensemble's members", t);
  PetscCall(io_put_att_text(run->f, run->vsd[k], "long_name", text));
  PetscCall(io_put_att_text(run->f, run->vsd[k], "cell_methods", "time: mean realization: standard_deviation"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Define output: the input's layout, one field per flux with the training
 * data's attributes, the diagnostics; then the coordinates. */
static PetscErrorCode predict_define_output(PredictRun *run)
{
  MPI_Comm       comm = run->comm;
  const Trained *tr   = &run->tr;
  Dataset       *ds   = run->ds;
  IoFile        *f;
  int            zdim = -1;

  PetscFunctionBeginUser;
  run->vz = run->vfast = run->vslow = run->vreg = -1;
  PetscCall(io_create(comm, run->out, &run->f));
  f = run->f;
  PetscCall(data_def_output(ds, f, "RACI carbon flux predictions", &run->L));
  PetscCall(
      io_put_att_text(f, NC_GLOBAL, "source", "raci " RACI_VERSION " predict (Role-Aware Conditional Inference)"));
  { /* CF: no relative paths in attributes */
    char abs[PATH_MAX];
    PetscCall(io_put_att_text(f, NC_GLOBAL, "raci_checkpoint", realpath(run->ckpt, abs) ? abs : run->ckpt));
  }
  PetscCall(io_put_att_text(f, NC_GLOBAL, "raci_model", tr->to.model));
  {
    float nm = (float)run->nmem;
    PetscCall(io_put_att_float(f, NC_GLOBAL, "raci_members", NC_INT, 1, &nm));
  }
  for (int k = 0; k < tr->cfg.T; k++) {
    char att[256], ln[300];
    PetscCall(data_def_field(ds, f, &run->L, tr->cfg.target[k], PETSC_TRUE, &run->vy[k]));
    target_att(tr->tatts, tr->cfg.target[k], 0, att, sizeof att);
    if (att[0]) PetscCall(io_put_att_text(f, run->vy[k], "units", att));
    target_att(tr->tatts, tr->cfg.target[k], 1, att, sizeof att);
    snprintf(ln, sizeof ln, "predicted %s", att[0] ? att : tr->cfg.target[k]);
    PetscCall(io_put_att_text(f, run->vy[k], "long_name", ln));
    target_att(tr->tatts, tr->cfg.target[k], 2, att, sizeof att);
    if (att[0]) PetscCall(io_put_att_text(f, run->vy[k], "standard_name", att));
    PetscCall(
        io_put_att_text(f, run->vy[k], "cell_methods", run->nmem > 1 ? "time: mean realization: mean" : "time: mean"));
    if (run->nmem > 1) PetscCall(predict_define_spread(run, k));
  }
  /* a chunk writes the scored days of its segments, the first one days 0 .. W - 1 (fill) too */
  PetscCall(predict_out_create(run->m, &ds->tile, (int)PetscMin(run->spc * tr->cfg.Sc + tr->cfg.W, ds->nt), &run->po));
  if (run->nmem > 1) {
    size_t n = (size_t)run->po.T * run->po.ndmax * run->po.ng;
    PetscCall(PetscMalloc2(n + 1, &run->ysd, n + 1, &run->ym2));
  }
  if (run->po.Z && run->diag_stride) {
    PetscCall(io_def_dim(f, "regime", run->po.Z, &zdim));
    PetscCall(io_def_var(f, "regime", NC_INT, 1, &zdim, &run->vreg)); /* its coordinate variable */
    PetscCall(io_put_att_text(f, run->vreg, "long_name", "component of the regime embedding z"));
    PetscCall(io_put_att_text(f, run->vreg, "units", "1"));
    PetscCall(data_def_field_lead(ds, f, &run->L, "regime_embedding", zdim, &run->vz));
    PetscCall(io_put_att_text(f, run->vz, "long_name", "regime embedding z, mean over the diagnostic days"));
    PetscCall(io_put_att_text(f, run->vz, "units", "1"));
    PetscCall(io_put_att_text(f, run->vz, "cell_methods", "time: mean"));
  }
  if (run->diag_stride) {
    PetscCall(data_def_field(ds, f, &run->L, "share_fast", PETSC_FALSE, &run->vfast));
    PetscCall(io_put_att_text(f, run->vfast, "long_name",
                              "share of the fast role (drivers, geographic context) in the prediction, by occlusion"));
    PetscCall(io_put_att_text(f, run->vfast, "units", "1"));
    PetscCall(io_put_att_text(f, run->vfast, "cell_methods", "time: mean"));
    PetscCall(data_def_field(ds, f, &run->L, "share_slow", PETSC_FALSE, &run->vslow));
    PetscCall(io_put_att_text(
        f, run->vslow, "long_name",
        "share of the slow role (slow blocks, attributes, functional context) in the prediction, by occlusion"));
    PetscCall(io_put_att_text(f, run->vslow, "units", "1"));
    PetscCall(io_put_att_text(f, run->vslow, "cell_methods", "time: mean"));
  }
  PetscCall(io_enddef(f));
  PetscCall(data_put_coords(ds, f, &run->L));
  if (run->vreg >= 0) { /* rank 0 writes the regime axis 0 .. Z-1 */
    PetscMPIInt rank;
    double      reg[256];
    MPI_Offset  z0 = 0, nz = PetscMin(run->po.Z, 256);
    PetscCallMPI(MPI_Comm_rank(comm, &rank));
    for (MPI_Offset i = 0; i < nz; i++) reg[i] = (double)i;
    if (rank != 0) nz = 0;
    PetscCall(io_iput_double(f, run->vreg, &z0, &nz, reg));
    PetscCall(io_wait_all(f));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The segments [n0, n1) by every member: po->y their mean; with several
 * members run->ysd their standard deviation and run->ym2 the predictive
 * spread sqrt(sd^2 + residual spread^2). Diagnostics and cell-days come from
 * member 0 (the members' regime embeddings are different spaces). */
static PetscErrorCode predict_members(PredictRun *run, const SampleSet *ss, PetscInt n0, PetscInt n1, PetscInt o0,
                                      PetscInt o1, SampleBatch *sb)
{
  const Trained *tr  = &run->tr;
  PredictOut    *po  = &run->po;
  const size_t   per = (size_t)(o1 - o0) * po->ng, n = (size_t)tr->cfg.T * per;
  long           cd = 0;

  PetscFunctionBeginUser;
  for (int k = 0; k < run->nmem; k++) {
    const float *params;
    const Bank  *bank;
    run->member = k;
    ckpt_member(tr, k, &params, &bank);
    PetscCall(predict_out_reset(po, o0, (int)(o1 - o0)));
    PetscCall(predict_segments(run->m, params, bank, ss, (int)n0, (int)n1, k ? 0 : (int)run->diag_stride, sb, po));
    if (k == 0) cd = po->cell_days;
    po->cell_days = cd;
    if (run->nmem < 2) break;
    for (size_t i = 0; i < n; i++) { /* Welford: ysd the running mean, ym2 the squared deviations */
      float y = po->y[i], d;
      if (k == 0) {
        run->ysd[i] = y, run->ym2[i] = isnan(y) ? NAN : 0;
        continue;
      }
      d = y - run->ysd[i];
      run->ysd[i] += d / (float)(k + 1);
      run->ym2[i] += d * (y - run->ysd[i]);
    }
  }
  if (run->nmem < 2) PetscFunctionReturn(PETSC_SUCCESS);
  for (size_t i = 0; i < n; i++) {
    double sd = sqrt(run->ym2[i] / (run->nmem - 1)), r = tr->sres[i / per];
    po->y[i]    = run->ysd[i];
    run->ysd[i] = (float)sd;
    run->ym2[i] = (float)sqrt(sd * sd + r * r);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One chunk: segments [n0, n1) predicted from the days [w0, r1) they read,
 * and record days [o0, o1) written; *tot: the owned cell-days predicted on
 * all ranks. */
static PetscErrorCode predict_chunk(PredictRun *run, PetscInt ci, PetscInt n0, PetscInt n1, PetscInt o0, PetscInt o1,
                                    long *tot)
{
  MPI_Comm       comm = run->comm;
  const Trained *tr   = &run->tr;
  const int      W = tr->cfg.W, Sc = tr->cfg.Sc;
  Dataset       *ds   = run->ds;
  PredictOut    *po   = &run->po;
  size_t         nown = (size_t)grid_owned_count(&ds->tile);
  PetscInt       w0 = predict_read_start(n0, W, Sc, tr->cfg.Lb, tr->cfg.P), r1 = PetscMin(ds->nt, n1 * Sc + W);
  SampleSet     *ss;
  SampleBatch    sb;
  float         *pack;
  double         t0 = MPI_Wtime(), t1, t2;
  long           cd = po->cell_days;

  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(raci_events.read, 0, 0, 0, 0));
  PetscCall(data_read(ds, w0, r1 - w0));
  PetscCall(PetscLogEventEnd(raci_events.read, 0, 0, 0, 0));
  PetscCall(data_samples_create(ds, &run->so, W, Sc, (int)tr->to.Ls, tr->cfg.P, tr->cfg.Kf, &tr->norm, &ss));
  PetscCheck(ss->F == tr->cfg.F && ss->S == tr->cfg.S, comm, RACI_ERR_DATA,
             "%s: %d fast and %d static features, but the model of '%s' reads %d and %d", run->data, ss->F, ss->S,
             run->ckpt, tr->cfg.F, tr->cfg.S);
  PetscCall(data_batch_create(ss, (int)run->batch, tr->cfg.T, &sb));
  if (ci == 0) PetscCall(data_day_tally_create(ds, &run->days));
  if (ci == 0) PetscCall(data_report_unknown_classes(ss, "predict"));
  if (ci == 0) PetscCall(data_report_availability(ss, "predict", run->quiet));
  if (ci == 0 && !run->quiet) { /* the balance of the decomposition */
    int own = ss->count[SPLIT_TRAIN] + ss->count[SPLIT_VAL] + ss->count[SPLIT_TEST] + ss->count[SPLIT_NONE], mm[2];
    mm[0] = -own, mm[1] = own;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_INT, MPI_MAX, comm));
    run->usable = own;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &run->usable, 1, MPI_LONG, MPI_SUM, comm));
    run->all_cd = (double)run->usable * (double)(ds->nt - W); /* the first W days are warm-up */
    PetscCall(PetscPrintf(comm, "raci predict: usable locations per rank: min %d, max %d\n", -mm[0], mm[1]));
    PetscCall(PetscPrintf(comm,
                          "raci predict: %" PetscInt_FMT " locations: %lld ocean or no data (no fast driver on any "
                          "day), %lld unusable (a slow input missing, or no %d days in a row with every fast driver: "
                          "%d of warm-up and a day to predict)%s\n",
                          ds->tile.nx * ds->tile.ny, (long long)ss->nnodata, (long long)(ss->nunusable - ss->nnodata),
                          W + 1, W, o1 < ds->nt ? " in the first chunk's days" : ""));
  }
  t1            = MPI_Wtime();
  run->ci       = ci;
  run->chunk_cd = (double)run->usable * (double)(o1 - o0 - (ci ? 0 : PetscMin(W, o1 - o0)));
  po->progress = predict_progress, po->progress_ctx = run;
  PetscCall(core_stage_push(CORE_STAGE_FORWARD));
  PetscCall(predict_members(run, ss, n0, n1, o0, o1, &sb));
  PetscCall(core_stage_pop());
  t2 = MPI_Wtime();
  PetscCall(data_batch_destroy(&sb));
  PetscCall(data_samples_destroy(&ss));
  data_day_tally_output(ds, o0, o1, po->y, &run->days);
  PetscCall(core_stage_push(CORE_STAGE_WRITE));
  PetscCall(PetscLogEventBegin(raci_events.write, 0, 0, 0, 0));
  PetscCall(PetscMalloc1((size_t)3 * tr->cfg.T * (o1 - o0) * nown + 1, &pack));
  for (int k = 0; k < tr->cfg.T; k++) {
    size_t at = (size_t)k * (o1 - o0), T = (size_t)tr->cfg.T;
    PetscCall(data_iput_field(&ds->tile, ds->layout, run->f, run->vy[k], PETSC_TRUE, o0, o1 - o0, po->y + at * po->ng,
                              pack + at * nown));
    if (run->nmem < 2) continue;
    PetscCall(data_iput_field(&ds->tile, ds->layout, run->f, run->vs[k], PETSC_TRUE, o0, o1 - o0,
                              run->ym2 + at * po->ng, pack + (T * (o1 - o0) + at) * nown));
    PetscCall(data_iput_field(&ds->tile, ds->layout, run->f, run->vsd[k], PETSC_TRUE, o0, o1 - o0,
                              run->ysd + at * po->ng, pack + (2 * T * (o1 - o0) + at) * nown));
  }
  PetscCall(io_wait_all(run->f));
  PetscCall(PetscFree(pack));
  PetscCall(PetscLogFlops(0));
  PetscCall(PetscLogEventEnd(raci_events.write, 0, 0, 0, 0));
  PetscCall(core_stage_pop());
  run->t_io += (t1 - t0) + (MPI_Wtime() - t2), run->t_pred += t2 - t1;
  *tot = po->cell_days - cd;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, tot, 1, MPI_LONG, MPI_SUM, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Chunk loop: chunks of run->spc segments; chunk ci holds segments
 * [n0, n1) and writes the days they score, [n0 Sc + W, n1 Sc + W) within the
 * record, the first chunk days 0 .. W - 1 (fill) too, so every day of the
 * record is written once. */
static PetscErrorCode predict_chunk_loop(PredictRun *run)
{
  MPI_Comm       comm = run->comm;
  const Trained *tr   = &run->tr;
  const int      W = tr->cfg.W, Sc = tr->cfg.Sc;
  PetscInt       nt = run->ds->nt, spc = run->spc, nchunk = (run->nseg + spc - 1) / spc;

  PetscFunctionBeginUser;
  run->nchunk = nchunk;
  run->t_loop = run->t_line = MPI_Wtime();
  if (!run->quiet)
    PetscCall(PetscPrintf(comm,
                          "raci predict: %s model of %s on %s: %" PetscInt_FMT " days, %" PetscInt_FMT
                          " segment(s) of %d + %d days in %" PetscInt_FMT " chunk(s) of up to %" PetscInt_FMT
                          " segment(s), %d outputs\n",
                          tr->to.model, run->ckpt, run->data, nt, run->nseg, W, Sc, nchunk, spc, tr->cfg.T));
  if (!run->quiet && !tr->st.finished)
    PetscCall(PetscPrintf(comm,
                          "raci predict: warning: '%s' is from a training run that has not finished; predicting "
                          "with its current parameters%s\n",
                          run->ckpt, tr->nens > 1 ? " and the members finished so far" : ""));
  if (!run->quiet && run->nmem > 1)
    PetscCall(PetscPrintf(
        comm, "raci predict: ensemble of %d members: writing their mean, spread and standard deviation\n", run->nmem));
  { /* absence of a fast driver is judged over the whole record, not per chunk: on site files (small), and
     * on grids when the model has a fast availability flag (otherwise a driver missing at a cell is a gap) */
    PetscBool scan = (PetscBool)(run->ds->layout == LAYOUT_SITE);
    for (int i = 0; i < tr->norm.nflag; i++) scan = (PetscBool)(scan || tr->norm.flag[i] < DATA_MAX_VARS);
    if (scan && nchunk > 1) PetscCall(data_scan_presence(run->ds, run->chunk));
  }
  for (PetscInt ci = 0; ci < nchunk; ci++) {
    PetscInt n0 = ci * spc, n1 = PetscMin(run->nseg, n0 + spc);
    PetscInt o0 = ci ? n0 * Sc + W : 0, o1 = PetscMin(nt, n1 * Sc + W);
    double   t0 = MPI_Wtime();
    long     tot;

    PetscCall(predict_chunk(run, ci, n0, n1, o0, o1, &tot));
    run->cell_days += tot;
    if (!run->quiet) { /* time left: the rate of the chunk loop so far over the cell-days expected */
      double now = MPI_Wtime(), el = now - run->t_start, loop = now - run->t_loop;
      double left = ci + 1 < nchunk ? PetscMax(run->all_cd - (double)run->cell_days, 0.0) : 0.0;
      PetscCall(PetscPrintf(comm,
                            "raci predict: chunk %" PetscInt_FMT "/%" PetscInt_FMT " (days %" PetscInt_FMT
                            "-%" PetscInt_FMT "): %ld cell-days, %.0f cell-days/s; %.1f s elapsed, about %.0f s left\n",
                            ci + 1, nchunk, o0, o1 - 1, tot, tot / PetscMax(now - t0, 1e-9), el,
                            run->cell_days > 0 ? loop * left / (double)run->cell_days : 0.0));
      run->t_line = now;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Diagnostics: the regime embedding and the role shares, means over the diagnostic days. */
static PetscErrorCode predict_diagnostics(PredictRun *run)
{
  const Dataset    *ds   = run->ds;
  const PredictOut *po   = &run->po;
  size_t            nown = (size_t)grid_owned_count(&ds->tile);
  float            *plane, *pack;

  PetscFunctionBeginUser;
  if (!run->diag_stride) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscMalloc2((size_t)(po->Z + 2) * po->ng, &plane, (size_t)(po->Z + 2) * nown + 1, &pack));
  for (size_t g = 0; g < po->ng; g++) {
    double n = po->ndiag[g];
    for (int k = 0; k < po->Z; k++)
      plane[(size_t)k * po->ng + g] = n > 0 ? (float)(po->zsum[(size_t)k * po->ng + g] / n) : NAN;
    plane[(size_t)po->Z * po->ng + g]       = n > 0 ? (float)(po->fast[g] / n) : NAN;
    plane[(size_t)(po->Z + 1) * po->ng + g] = n > 0 ? (float)((n - po->fast[g]) / n) : NAN;
  }
  PetscCall(core_stage_push(CORE_STAGE_WRITE));
  PetscCall(PetscLogEventBegin(raci_events.write, 0, 0, 0, 0));
  if (run->vz >= 0)
    PetscCall(data_iput_field(&ds->tile, ds->layout, run->f, run->vz, PETSC_TRUE, 0, po->Z, plane, pack));
  PetscCall(data_iput_field(&ds->tile, ds->layout, run->f, run->vfast, PETSC_FALSE, 0, 1,
                            plane + (size_t)po->Z * po->ng, pack + (size_t)po->Z * nown));
  PetscCall(data_iput_field(&ds->tile, ds->layout, run->f, run->vslow, PETSC_FALSE, 0, 1,
                            plane + (size_t)(po->Z + 1) * po->ng, pack + (size_t)(po->Z + 1) * nown));
  PetscCall(io_wait_all(run->f));
  PetscCall(PetscLogFlops(0));
  PetscCall(PetscLogEventEnd(raci_events.write, 0, 0, 0, 0));
  PetscCall(core_stage_pop());
  PetscCall(PetscFree2(plane, pack));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Commit: refuse an output without a single prediction, rename it into place, report. */
static PetscErrorCode predict_commit(PredictRun *run)
{
  MPI_Comm    comm = run->comm;
  PetscInt    nodata, unusable, total;
  double      tp = run->t_pred, tp0 = run->t_pred, el, other, tc = MPI_Wtime();
  long        cell_days = run->cell_days;
  PetscMPIInt size;

  PetscFunctionBeginUser;
  /* as train does: a driver without any value, or nothing predicted, is an error, not a file of _FillValue */
  PetscCall(data_check_usable(run->ds, &nodata, &unusable, &total));
  PetscCheck(cell_days > 0, comm, RACI_ERR_DATA,
             "%s: nothing to predict: none of the %" PetscInt_FMT
             " locations has every slow attribute and %d days in a row with every fast driver present (%d days of "
             "warm-up, -raci_warmup_days of the model, then a day to predict)",
             run->data, total, run->tr.cfg.W + 1, run->tr.cfg.W);
  PetscCall(io_commit(&run->f));
  run->t_commit = MPI_Wtime() - tc;
  if (!run->quiet) PetscCall(data_day_tally_report(run->ds, &run->days, run->tr.cfg.W, "predict"));
  el    = MPI_Wtime() - run->t_start;
  other = el - (run->t_ckpt + run->t_setup + tp0 + run->t_io + run->t_diag + run->t_commit);
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &tp, 1, MPI_DOUBLE, MPI_MAX, comm));
  PetscCall(core_record_int("cell_days", cell_days));
  PetscCall(core_record_real("inference_seconds", tp));
  PetscCall(core_record_real("cell_days_per_second_per_rank", cell_days / PetscMax(tp, 1e-9) / size));
  PetscCall(core_record_real("read_write_seconds", run->t_io));
  if (!run->quiet) {
    PetscCall(PetscPrintf(comm,
                          "raci predict: wrote %s: %ld cell-days in %.1f s, %.0f cell-days/s per rank of inference on "
                          "%d rank(s) (slowest rank's inference time)\n",
                          run->out, cell_days, el, cell_days / PetscMax(tp, 1e-9) / size, size));
    PetscCall(PetscPrintf(comm,
                          "raci predict: time (rank 0): checkpoint load %.1f s, input checks and output definition "
                          "%.1f s, inference %.1f s, read and write %.1f s, diagnostics %.1f s, commit %.1f s, other "
                          "%.1f s; total %.1f s\n",
                          run->t_ckpt, run->t_setup, tp0, run->t_io, run->t_diag, run->t_commit, other, el));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_predict(MPI_Comm comm)
{
  PredictRun *run;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&run));
  run->comm = comm;
  PetscCall(predict_read_options(run));
  if (core_help()) {
    PetscCall(PetscFree(run));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  run->t_start = MPI_Wtime();
  PetscCall(profile_register());
  PetscCall(ckpt_load(comm, run->ckpt, &run->tr));
  run->t_ckpt = MPI_Wtime() - run->t_start;
  PetscCall(roles_parse(comm, run->ckpt, run->tr.roles, &run->ro));
  run->nmem = ckpt_members(&run->tr);
  if (run->members > 0) run->nmem = (int)PetscMin(run->nmem, run->members);
  PetscCall(predict_open_input(run));
  PetscCall(predict_define_output(run));
  run->t_setup = MPI_Wtime() - run->t_start - run->t_ckpt;
  PetscCall(predict_chunk_loop(run));
  {
    double t = MPI_Wtime();
    PetscCall(predict_diagnostics(run));
    run->t_diag = MPI_Wtime() - t;
  }
  PetscCall(predict_commit(run));
  PetscCall(predict_out_destroy(&run->po));
  if (run->ysd) PetscCall(PetscFree2(run->ysd, run->ym2));
  PetscCall(data_day_tally_destroy(&run->days));
  model_destroy(&run->m);
  PetscCall(data_close(&run->ds));
  PetscCall(ckpt_free(&run->tr));
  PetscCall(PetscFree(run));
  PetscFunctionReturn(PETSC_SUCCESS);
}
