/* raci eval -pred P -data IN: predictions against the observed targets of IN
 * (same layout), per location, per class and pooled, for the locations of a
 * split (docs/MODEL.md section 9); a table on stdout and JSON. */
#include <raci/app.h>
#include <raci/data.h>
#include <raci/eval.h>
#include <raci/json.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define EVAL_MAX_CLASSES (DATA_MAX_CATS + 1) /* the flag values, then "other" */

/* What rank 0 gathers about each scored location. */
typedef struct {
  DataLocation loc;
  int          cls;
  EvalSums     s[MODEL_MAX_TARGETS];
} EvalLoc;

static const char *split_names[4] = {"all", "train", "validation", "test"};

/* What the phases of app_eval share, each part filled by the phase named. */
typedef struct {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  /* eval_options */
  char         pred[PETSC_MAX_PATH_LEN], data[PETSC_MAX_PATH_LEN], json[PETSC_MAX_PATH_LEN];
  char         cls_name[NC_MAX_NAME + 1]; /* the class variable; "" without one */
  PetscBool    have_cls;                  /* named by -eval_class */
  PetscInt     chunk;                     /* days read at a time */
  RoleOptions  ro;
  SplitOptions so;
  int          split; /* the split scored; SPLIT_NONE: all */
  /* eval_discover: the targets of the data that the predictions hold */
  int  T;
  char tname[MODEL_MAX_TARGETS][NC_MAX_NAME + 1];  /* in the predictions */
  char oname[MODEL_MAX_TARGETS][NC_MAX_NAME + 16]; /* observed: the target or its X_measured */
  char units[MODEL_MAX_TARGETS][64];
  int  spread[MODEL_MAX_TARGETS]; /* the predictions hold X_spread (an ensemble's) */
  int  nspread;
  /* eval_open: both files with those variables only */
  Dataset *dd, *dp;                                      /* observations, predictions */
  int      kd[MODEL_MAX_TARGETS], kp[MODEL_MAX_TARGETS]; /* the targets' variables in dd and dp */
  int      ks[MODEL_MAX_TARGETS];                        /* X_spread in dp; -1: none */
  double   nopred[MODEL_MAX_TARGETS]; /* observations of the scored split without a prediction, all ranks */
  int      kc;                        /* the class variable in dd; -1: none */
  int      ncls;                      /* classes: the flag values, then "other" */
  double   clsval[DATA_MAX_CATS];
  char     meanings[1024], *clsname[EVAL_MAX_CLASSES]; /* clsname[c] in meanings; NULL: unnamed */
  /* eval_accumulate: per owned location */
  PetscInt      nown;
  DataLocation *loc;  /* (nown) */
  EvalSums     *ls;   /* (nown, T) pairs of the scored split */
  int          *lcls; /* (nown) class (set for the scored split) */
  /* eval_reduce: over ranks */
  EvalSums cs[EVAL_MAX_CLASSES][MODEL_MAX_TARGETS], ps[MODEL_MAX_TARGETS]; /* per class, pooled */
  /* eval_gather: the scored locations, on rank 0 */
  EvalLoc *all;
  int      nl;
} Eval;

/* Reads and checks the options, the paths and that no option is unknown.
 * Under -help only lists the options. Collective. */
static PetscErrorCode eval_options(Eval *e)
{
  MPI_Comm  comm        = e->comm;
  char      split_s[32] = "";
  PetscBool have_pred, have_data;

  PetscFunctionBeginUser;
  PetscCall(core_opt_section(comm, "raci eval options"));
  PetscCall(core_opt_string(comm, "-pred", "Predictions (raci predict output); required", e->pred, sizeof e->pred,
                            &have_pred));
  PetscCall(core_opt_string(comm, "-data", "Observations: the file with the targets, in the same layout; required",
                            e->data, sizeof e->data, &have_data));
  PetscCall(core_opt_string(comm, "-eval_split",
                            "Locations scored: test, validation, train or all (default: test when a test box, site, "
                            "class or fold is given, else all)",
                            split_s, sizeof split_s, NULL));
  PetscCall(core_opt_string(comm, "-eval_class",
                            "Slow class variable for the per-class scores (default: the first slow variable with "
                            "flag_values)",
                            e->cls_name, sizeof e->cls_name, &e->have_cls));
  PetscCall(core_opt_string(comm, "-eval_json", "Also write every score as JSON here", e->json, sizeof e->json, NULL));
  PetscCall(core_opt_int(comm, "-eval_chunk_days", "Days read at a time", e->chunk, 1, 36600, &e->chunk, NULL));
  PetscCheck(have_pred || core_help(), comm, RACI_ERR_INPUT, "raci eval needs -pred FILE (the output of raci predict)");
  PetscCheck(have_data || core_help(), comm, RACI_ERR_INPUT, "raci eval needs -data FILE (the observations)");
  PetscCall(data_role_options(comm, &e->ro));
  PetscCall(data_split_options(comm, &e->so));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS);
  if (!split_s[0]) e->split = e->so.nbox || e->so.nsites || e->so.ncls || e->so.nfolds ? SPLIT_TEST : SPLIT_NONE;
  for (int i = 0; i < 4 && e->split < 0; i++)
    if (!strcmp(split_s, split_names[i])) e->split = i;
  PetscCheck(e->split >= 0, comm, RACI_ERR_INPUT, "-eval_split must be test, validation, train or all (got '%s')",
             split_s);
  {
    const char *in[] = {"-pred", e->pred, "-data", e->data, NULL}, *outs[] = {"-eval_json", e->json, NULL};
    PetscCall(core_check_paths(comm, in, outs));
  }
  PetscCall(core_check_unused_options(comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The targets of the data (its roles) that the predictions hold: their names
 * in both files and units; and the class variable when none was named: the
 * first slow variable with flag_values. Opens and closes both files. */
static PetscErrorCode eval_discover(Eval *e)
{
  Dataset *dd;
  IoFile  *pf;

  PetscFunctionBeginUser;
  PetscCall(data_open(e->comm, e->data, &e->ro, 0, &dd));
  PetscCall(io_open(e->comm, e->pred, &pf));
  PetscCheck(!e->have_cls || io_find_var(dd->file, e->cls_name) >= 0, e->comm, RACI_ERR_INPUT,
             "%s: no variable '%s' (named by -eval_class)", e->data, e->cls_name);
  for (int k = 0; k < dd->nvar; k++) {
    const DataVar *v = &dd->var[k];
    if (v->role == ROLE_TARGET && io_find_var(pf, v->name) >= 0 && e->T < MODEL_MAX_TARGETS) {
      PetscBool found;
      char      meas[NC_MAX_NAME + 16];
      PetscCall(PetscStrncpy(e->tname[e->T], v->name, sizeof e->tname[e->T]));
      /* a target trained on gap-filled values is scored on its measured days
       * (raci prep -prep_use_gapfilled keeps them as X_measured) */
      snprintf(meas, sizeof meas, "%s_measured", v->name);
      PetscCall(PetscStrncpy(e->oname[e->T], io_find_var(dd->file, meas) >= 0 ? meas : v->name, sizeof e->oname[0]));
      PetscCall(io_att_text(dd->file, v->varid, "units", e->units[e->T], sizeof e->units[e->T], &found));
      if (!found) e->units[e->T][0] = '\0';
      snprintf(meas, sizeof meas, "%s_spread", v->name);
      e->spread[e->T] = io_find_var(pf, meas) >= 0;
      e->nspread += e->spread[e->T];
      e->T++;
    }
    if (!e->have_cls && !e->cls_name[0] && v->role == ROLE_SLOW) {
      int n;
      PetscCall(io_att_doubles(dd->file, v->varid, "flag_values", e->clsval, DATA_MAX_CATS, &n));
      if (n > 0) PetscCall(PetscStrncpy(e->cls_name, v->name, sizeof e->cls_name));
    }
  }
  PetscCall(io_close(&pf));
  PetscCheck(e->T > 0, e->comm, RACI_ERR_DATA,
             "%s: none of the targets of %s (raci_role target or -target) is in the predictions", e->pred, e->data);
  PetscCall(data_close(&dd));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Opens the observations (the observed targets and the class variable) and
 * the predictions (the targets) for good; they must match in layout, size
 * and days. Finds the variables and the classes with their names. */
static PetscErrorCode eval_open(Eval *e)
{
  RoleOptions rd, rp;
  Dataset    *dd, *dp;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&rd, sizeof rd));
  PetscCall(PetscMemzero(&rp, sizeof rp));
  for (int r = ROLE_FAST; r < NUM_ROLES; r++) rd.given[r] = rp.given[r] = PETSC_TRUE;
  for (int k = 0; k < e->T; k++) {
    PetscCall(PetscStrncpy(rd.name[ROLE_TARGET][k], e->oname[k], sizeof rd.name[0][0]));
    PetscCall(PetscStrncpy(rp.name[ROLE_TARGET][k], e->tname[k], sizeof rp.name[0][0]));
  }
  rd.n[ROLE_TARGET] = rp.n[ROLE_TARGET] = e->T;
  for (int k = 0; k < e->T; k++) /* an ensemble's spreads are read beside the fluxes */
    if (e->spread[k])
      snprintf(rp.name[ROLE_TARGET][rp.n[ROLE_TARGET]++], sizeof rp.name[0][0], "%s_spread", e->tname[k]);
  if (e->cls_name[0]) {
    rd.n[ROLE_SLOW] = 1;
    PetscCall(PetscStrncpy(rd.name[ROLE_SLOW][0], e->cls_name, sizeof rd.name[0][0]));
  }
  PetscCall(data_open(e->comm, e->data, &rd, 0, &e->dd));
  PetscCall(data_open(e->comm, e->pred, &rp, 0, &e->dp));
  dd = e->dd, dp = e->dp;
  PetscCheck(dd->layout == dp->layout && dd->tile.nx == dp->tile.nx && dd->tile.ny == dp->tile.ny && dd->nt == dp->nt,
             e->comm, RACI_ERR_DATA,
             "%s: %" PetscInt_FMT " x %" PetscInt_FMT " locations and %" PetscInt_FMT " days, but %s has %" PetscInt_FMT
             " x %" PetscInt_FMT " and %" PetscInt_FMT "; evaluate predictions on the file they were made for",
             e->pred, dp->tile.nx, dp->tile.ny, dp->nt, e->data, dd->tile.nx, dd->tile.ny, dd->nt);
  for (int k = 0; k < dd->nvar; k++) {
    for (int j = 0; j < e->T; j++)
      if (!strcmp(dd->var[k].name, e->oname[j]) && dd->var[k].role == ROLE_TARGET) e->kd[j] = k;
    if (dd->var[k].role == ROLE_SLOW) e->kc = k;
  }
  for (int j = 0; j < e->T; j++) e->ks[j] = -1;
  for (int k = 0; k < dp->nvar; k++)
    for (int j = 0; j < e->T; j++) {
      char sn[NC_MAX_NAME + 16];
      snprintf(sn, sizeof sn, "%s_spread", e->tname[j]);
      if (!strcmp(dp->var[k].name, e->tname[j])) e->kp[j] = k;
      if (e->spread[j] && !strcmp(dp->var[k].name, sn)) e->ks[j] = k;
    }
  if (e->kc >= 0) {
    int       n;
    PetscBool found;
    PetscCall(io_att_doubles(dd->file, dd->var[e->kc].varid, "flag_values", e->clsval, DATA_MAX_CATS, &n));
    PetscCheck(n > 0, e->comm, RACI_ERR_DATA, "%s: -eval_class '%s' has no flag_values (it must be a class variable)",
               e->data, e->cls_name);
    e->ncls = n + 1;
    PetscCall(io_att_text(dd->file, dd->var[e->kc].varid, "flag_meanings", e->meanings, sizeof e->meanings, &found));
  }
  {
    char *save = NULL, *w = strtok_r(e->meanings, " ", &save);
    for (int c = 0; c < e->ncls; c++) {
      e->clsname[c] = c < e->ncls - 1 ? w : "other";
      if (w) w = strtok_r(NULL, " ", &save);
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Error sums per owned location of the scored split over every day, read
 * -eval_chunk_days at a time, and each location's class. Collective. */
static PetscErrorCode eval_accumulate(Eval *e)
{
  const Dataset *dd = e->dd, *dp = e->dp;
  const Tile    *t = &dd->tile;
  const int      T = e->T, kc = e->kc, ncls = e->ncls;
  PetscInt       ng = grid_ghost_count(t);

  PetscFunctionBeginUser;
  e->nown = grid_owned_count(t);
  PetscCall(PetscMalloc3(e->nown + 1, &e->loc, (size_t)e->nown * T + 1, &e->ls, e->nown + 1, &e->lcls));
  PetscCall(PetscMemzero(e->ls, sizeof(EvalSums) * ((size_t)e->nown * T + 1)));
  PetscCall(data_owned_locations(dd, &e->so, e->loc));
  for (PetscInt c0 = 0; c0 < dd->nt; c0 += e->chunk) {
    PetscInt n = PetscMin(e->chunk, dd->nt - c0), o = 0;
    PetscCall(data_read(e->dd, c0, n));
    PetscCall(data_read(e->dp, c0, n));
    for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
      for (PetscInt x = t->xs; x < t->xs + t->xm; x++, o++) {
        PetscInt g = data_ghost_index(t, x, y);
        if (e->split != SPLIT_NONE && e->loc[o].split != e->split) continue;
        if (c0 == 0) {
          e->lcls[o] = ncls - 1;
          for (int c = 0; kc >= 0 && c < ncls - 1; c++)
            if (dd->var[kc].val[g] == (float)e->clsval[c]) e->lcls[o] = c;
        }
        for (int k = 0; k < T; k++)
          for (PetscInt d = 0; d < n; d++) {
            float p = dp->var[e->kp[k]].val[d * ng + g], ob = dd->var[e->kd[k]].val[d * ng + g];
            e->nopred[k] += isfinite(ob) && !isfinite(p);
            if (!isfinite(p) || !isfinite(ob)) continue;
            eval_add(&e->ls[(size_t)o * T + k], p, ob);
            if (e->ks[k] >= 0) {
              float sd = dp->var[e->ks[k]].val[d * ng + g];
              if (isfinite(sd) && sd >= 0) eval_add_spread(&e->ls[(size_t)o * T + k], p, sd, ob);
            }
          }
      }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The sums per class and pooled, over every rank; fails when no location
 * of the split has a pair. Collective. */
static PetscErrorCode eval_reduce(Eval *e)
{
  const int T     = e->T;
  double    pairs = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(e->cs, sizeof e->cs));
  PetscCall(PetscMemzero(e->ps, sizeof e->ps));
  for (PetscInt o = 0; o < e->nown; o++)
    for (int k = 0; k < T; k++) {
      if (e->ls[(size_t)o * T + k].n == 0) continue;
      eval_merge(&e->cs[e->lcls[o]][k], &e->ls[(size_t)o * T + k]);
      eval_merge(&e->ps[k], &e->ls[(size_t)o * T + k]);
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, e->cs, EVAL_MAX_CLASSES * MODEL_MAX_TARGETS * EVAL_NSUMS, MPI_DOUBLE,
                             MPI_SUM, e->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, e->ps, MODEL_MAX_TARGETS * EVAL_NSUMS, MPI_DOUBLE, MPI_SUM, e->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, e->nopred, MODEL_MAX_TARGETS, MPI_DOUBLE, MPI_SUM, e->comm));
  for (int k = 0; k < T; k++) pairs += e->ps[k].n;
  PetscCheck(pairs > 0, e->comm, RACI_ERR_DATA,
             "%s against %s: no location of the %s split has both a prediction and an observation", e->pred, e->data,
             split_names[e->split]);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The locations with a pair, their class and sums, gathered on rank 0 in
 * rank order (e->all, e->nl). Collective. */
static PetscErrorCode eval_gather(Eval *e)
{
  const int   T = e->T;
  EvalLoc    *mine;
  int         nm = 0, *counts = NULL, *displs = NULL, total = 0;
  PetscMPIInt nbytes;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(e->nown + 1, &mine));
  for (PetscInt o = 0; o < e->nown; o++) {
    double any = 0;
    for (int k = 0; k < T; k++) any += e->ls[(size_t)o * T + k].n;
    if (any == 0) continue;
    mine[nm].loc = e->loc[o], mine[nm].cls = e->lcls[o];
    PetscCall(PetscMemzero(mine[nm].s, sizeof mine[nm].s));
    for (int k = 0; k < T; k++) mine[nm].s[k] = e->ls[(size_t)o * T + k];
    nm++;
  }
  if (e->rank == 0) PetscCall(PetscMalloc2(e->size, &counts, e->size, &displs));
  nbytes = (PetscMPIInt)(nm * sizeof(EvalLoc));
  PetscCallMPI(MPI_Gather(&nbytes, 1, MPI_INT, counts, 1, MPI_INT, 0, e->comm));
  if (e->rank == 0) {
    for (int r = 0; r < e->size; r++) displs[r] = total, total += counts[r];
    PetscCall(PetscMalloc1(total / sizeof(EvalLoc) + 1, &e->all));
    e->nl = (int)(total / sizeof(EvalLoc));
  }
  PetscCallMPI(MPI_Gatherv(mine, nbytes, MPI_BYTE, e->all, counts, displs, MPI_BYTE, 0, e->comm));
  PetscCall(PetscFree2(counts, displs));
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void table_row(const char *flux, const char *scope, const EvalSums *s, int spread)
{
  EvalMetrics m;
  eval_metrics(s, &m);
  printf("%-8s %-24s %10.0f %10.4g %8.3f %8.3f %8.3f %10.4g", flux, scope, m.n, m.rmse, m.nrmse, m.r2, m.nse, m.bias);
  if (spread) printf(" %7.3f %7.3f %10.4g", m.cover1, m.cover2, m.crps);
  printf("\n");
}

/* The table on stdout (rank 0): per target pooled and per class, then per
 * site on site files of up to 100 scored sites. */
static void eval_report_table(const Eval *e)
{
  printf("raci eval: %s against %s, %s locations: %d scored (RMSE and bias in the targets' units; nRMSE = RMSE / mean "
         "|observed|)\n",
         e->pred, e->data, split_names[e->split], e->nl);
  {
    double any = 0;
    for (int k = 0; k < e->T; k++) any += e->nopred[k];
    if (any > 0) {
      printf("observations not scored for want of a prediction (warm-up or driver gaps: raci predict reports them):");
      for (int k = 0; k < e->T; k++) printf(" %s %.0f", e->tname[k], e->nopred[k]);
      printf("\n");
    }
  }
  if (e->nspread)
    printf("ensemble spread (X_spread): in1sd, in2sd = share of observations inside the mean +-1 and +-2 spreads "
           "(0.683 and 0.954 for calibrated normal errors); CRPS of the normal with that mean and spread\n");
  printf("%-8s %-24s %10s %10s %8s %8s %8s %10s", "flux", "scope", "n", "RMSE", "nRMSE", "R2", "NSE", "bias");
  if (e->nspread) printf(" %7s %7s %10s", "in1sd", "in2sd", "CRPS");
  printf("\n");
  for (int k = 0; k < e->T; k++) {
    table_row(e->tname[k], "pooled", &e->ps[k], e->nspread);
    for (int c = 0; c < e->ncls && e->kc >= 0; c++) {
      char scope[64];
      if (e->cs[c][k].n == 0) continue;
      /* a long name is cut to the scope's 63 characters, as it always was */
      if (snprintf(scope, sizeof scope, "%s %s", e->cls_name, e->clsname[c] ? e->clsname[c] : "?") < 0) continue;
      table_row(e->tname[k], scope, &e->cs[c][k], e->nspread);
    }
  }
  if (e->dd->layout == LAYOUT_SITE && e->nl <= 100)
    for (int i = 0; i < e->nl; i++)
      for (int k = 0; k < e->T; k++) {
        char scope[64];
        snprintf(scope, sizeof scope, "site %s", e->all[i].loc.id[0] ? e->all[i].loc.id : "?");
        if (e->all[i].s[k].n > 0) table_row(e->tname[k], scope, &e->all[i].s[k], e->nspread);
      }
  fflush(stdout);
}

static void json_metrics(JsonWriter *w, const EvalSums *s)
{
  EvalMetrics m;

  eval_metrics(s, &m);
  json_object_begin(w);
  json_key(w, "n"), json_fixed(w, m.n, 0);
  json_key(w, "rmse"), json_number(w, m.rmse);
  json_key(w, "nrmse"), json_number(w, m.nrmse);
  json_key(w, "r2"), json_number(w, m.r2);
  json_key(w, "nse"), json_number(w, m.nse);
  json_key(w, "bias"), json_number(w, m.bias);
  json_key(w, "obs_mean"), json_number(w, m.obs_mean);
  if (s->ns > 0) { /* an ensemble's spread */
    json_key(w, "n_spread"), json_fixed(w, s->ns, 0);
    json_key(w, "cover1"), json_number(w, m.cover1);
    json_key(w, "cover2"), json_number(w, m.cover2);
    json_key(w, "spread"), json_number(w, m.spread);
    json_key(w, "crps"), json_number(w, m.crps);
  }
  json_object_end(w);
}

/* Every score as JSON (rank 0): per target its units, pooled, per class and
 * per scored location. Returns json_finish's verdict. */
static int eval_json_text(const Eval *e, FILE *fp)
{
  JsonWriter w;

  json_init(&w, fp, 4);
  json_object_begin(&w);
  json_key(&w, "pred"), json_string(&w, e->pred);
  json_key(&w, "data"), json_string(&w, e->data);
  json_key(&w, "split"), json_string(&w, split_names[e->split]);
  json_key(&w, "class_variable"), json_string(&w, e->cls_name);
  json_key(&w, "fluxes"), json_object_begin(&w);
  for (int k = 0; k < e->T; k++) {
    json_key(&w, e->tname[k]), json_object_begin(&w);
    json_key(&w, "units"), json_string(&w, e->units[k]);
    json_key(&w, "pooled"), json_metrics(&w, &e->ps[k]);
    json_key(&w, "observed_without_prediction"), json_fixed(&w, e->nopred[k], 0);
    json_key(&w, "classes"), json_object_begin(&w);
    for (int c = 0; c < e->ncls && e->kc >= 0; c++)
      if (e->cs[c][k].n > 0) json_key(&w, e->clsname[c] ? e->clsname[c] : "?"), json_metrics(&w, &e->cs[c][k]);
    json_object_end(&w);
    json_key(&w, "locations"), json_array_begin(&w);
    for (int i = 0; i < e->nl; i++) {
      const EvalLoc *l = &e->all[i];
      if (l->s[k].n == 0) continue;
      json_object_begin(&w);
      json_key(&w, "id"), json_string(&w, l->loc.id);
      json_key(&w, "index"), json_int(&w, (long long)l->loc.gid);
      json_key(&w, "lon"), json_fixed(&w, l->loc.lon, 5);
      json_key(&w, "lat"), json_fixed(&w, l->loc.lat, 5);
      json_key(&w, "class"), json_string(&w, e->kc >= 0 && e->clsname[l->cls] ? e->clsname[l->cls] : "");
      json_key(&w, "metrics"), json_metrics(&w, &l->s[k]);
      json_object_end(&w);
    }
    json_array_end(&w);
    json_object_end(&w);
  }
  json_object_end(&w);
  json_object_end(&w);
  return json_finish(&w);
}

/* -eval_json: written by rank 0; every rank fails when it cannot be.
 * Collective. */
static PetscErrorCode eval_report_json(const Eval *e)
{
  int err = 0;

  PetscFunctionBeginUser;
  if (e->rank == 0 && e->json[0]) {
    char  tmp[PETSC_MAX_PATH_LEN + 32];
    FILE *fp = core_text_open(e->json, tmp, sizeof tmp);
    if (fp) {
      int bad = eval_json_text(e, fp);
      err     = core_text_commit(fp, tmp, e->json); /* every write checked; the old file stays on failure */
      if (!err && bad) err = EINVAL;                /* a bug: the writer was misused */
    } else
      err = errno;
  }
  PetscCall(core_rank0_errno(e->comm, RACI_ERR_WRITE, err, "cannot write '%s' (-eval_json)", e->json));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_eval(MPI_Comm comm)
{
  Eval e = {.comm = comm, .chunk = 365, .split = -1, .kc = -1, .ncls = 1};

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &e.rank));
  PetscCallMPI(MPI_Comm_size(comm, &e.size));
  PetscCall(eval_options(&e));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options are listed; nothing runs */
  PetscCall(eval_discover(&e));                        /* which targets, under which names; the class variable */
  PetscCall(eval_open(&e));                            /* both files with those variables; the classes */
  PetscCall(eval_accumulate(&e));                      /* sums per owned location */
  PetscCall(eval_reduce(&e));                          /* per class and pooled, over ranks */
  PetscCall(eval_gather(&e));                          /* the scored locations, on rank 0 */
  if (e.rank == 0) eval_report_table(&e);
  PetscCall(eval_report_json(&e));
  PetscCall(PetscFree3(e.loc, e.ls, e.lcls));
  PetscCall(PetscFree(e.all));
  PetscCall(data_close(&e.dd));
  PetscCall(data_close(&e.dp));
  PetscFunctionReturn(PETSC_SUCCESS);
}
