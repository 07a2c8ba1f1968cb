/* raci eval -pred P -data IN: predictions against the observed targets of IN
 * (same layout), per location, per class and pooled, for the locations of a
 * split (docs/MODEL.md section 9); a table on stdout and JSON. */
#include <raci/app.h>
#include <raci/data.h>
#include <raci/eval.h>

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

static void json_metrics(FILE *fp, const EvalSums *s)
{
  EvalMetrics m;
  double      v[6];
  const char *k[6] = {"rmse", "nrmse", "r2", "nse", "bias", "obs_mean"};
  eval_metrics(s, &m);
  v[0] = m.rmse, v[1] = m.nrmse, v[2] = m.r2, v[3] = m.nse, v[4] = m.bias, v[5] = m.obs_mean;
  fprintf(fp, "{\"n\": %.0f", m.n);
  for (int i = 0; i < 6; i++) {
    fprintf(fp, ", \"%s\": ", k[i]);
    fprintf(fp, isfinite(v[i]) ? "%.6g" : "null", v[i]);
  }
  fprintf(fp, "}");
}

static void table_row(const char *flux, const char *scope, const EvalSums *s)
{
  EvalMetrics m;
  eval_metrics(s, &m);
  printf("%-8s %-24s %10.0f %10.4g %8.3f %8.3f %8.3f %10.4g\n", flux, scope, m.n, m.rmse, m.nrmse, m.r2, m.nse, m.bias);
}

PetscErrorCode app_eval(MPI_Comm comm)
{
  char         pred[PETSC_MAX_PATH_LEN] = "", data[PETSC_MAX_PATH_LEN] = "", json[PETSC_MAX_PATH_LEN] = "", split_s[32] = "", cls_name[NC_MAX_NAME + 1] = "";
  PetscBool    have_pred, have_data, have_cls;
  PetscInt     chunk = 365;
  RoleOptions  ro, rd, rp;
  SplitOptions so;
  Dataset     *dd = NULL, *dp = NULL;
  int          split = -1, T = 0, kd[MODEL_MAX_TARGETS], kp[MODEL_MAX_TARGETS], kc = -1, ncls = 1;
  char         tname[MODEL_MAX_TARGETS][NC_MAX_NAME + 1], oname[MODEL_MAX_TARGETS][NC_MAX_NAME + 16], units[MODEL_MAX_TARGETS][64], meanings[1024] = "", *clsname[EVAL_MAX_CLASSES];
  double       clsval[DATA_MAX_CATS];
  DataLocation *loc;
  EvalSums    *ls, cs[EVAL_MAX_CLASSES][MODEL_MAX_TARGETS], ps[MODEL_MAX_TARGETS];
  int         *lcls;
  PetscInt     nown;
  PetscMPIInt  rank, size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(core_opt_section(comm, "raci eval options"));
  PetscCall(core_opt_string(comm, "-pred", "Predictions (raci predict output); required", pred, sizeof pred, &have_pred));
  PetscCall(core_opt_string(comm, "-data", "Observations: the file with the targets, in the same layout; required", data, sizeof data, &have_data));
  PetscCall(core_opt_string(comm, "-eval_split", "Locations scored: test, validation, train or all (default: test when a test box or site is given, else all)", split_s, sizeof split_s, NULL));
  PetscCall(core_opt_string(comm, "-eval_class", "Slow class variable for the per-class scores (default: the first slow variable with flag_values)", cls_name, sizeof cls_name, &have_cls));
  PetscCall(core_opt_string(comm, "-eval_json", "Also write every score as JSON here", json, sizeof json, NULL));
  PetscCall(core_opt_int(comm, "-eval_chunk_days", "Days read at a time", chunk, 1, 36600, &chunk, NULL));
  PetscCheck(have_pred || core_help(), comm, RACI_ERR_INPUT, "raci eval needs -pred FILE (the output of raci predict)");
  PetscCheck(have_data || core_help(), comm, RACI_ERR_INPUT, "raci eval needs -data FILE (the observations)");
  PetscCall(data_role_options(comm, &ro));
  PetscCall(data_split_options(comm, &so));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options are listed; nothing runs */
  if (!split_s[0]) split = so.nbox || so.nsites ? SPLIT_TEST : SPLIT_NONE;
  for (int i = 0; i < 4 && split < 0; i++)
    if (!strcmp(split_s, split_names[i])) split = i;
  PetscCheck(split >= 0, comm, RACI_ERR_INPUT, "-eval_split must be test, validation, train or all (got '%s')", split_s);
  {
    const char *in[] = {"-pred", pred, "-data", data, NULL}, *outs[] = {"-eval_json", json, NULL};
    PetscCall(core_check_paths(comm, in, outs));
  }
  PetscCall(core_check_unused_options(comm));

  /* the targets of the data that the predictions hold, and the class variable */
  PetscCall(data_open(comm, data, &ro, 0, &dd));
  {
    IoFile *pf;
    PetscCall(io_open(comm, pred, &pf));
    PetscCheck(!have_cls || io_find_var(dd->file, cls_name) >= 0, comm, RACI_ERR_INPUT, "%s: no variable '%s' (named by -eval_class)", data, cls_name);
    for (int k = 0; k < dd->nvar; k++) {
      if (dd->var[k].role == ROLE_TARGET && io_find_var(pf, dd->var[k].name) >= 0 && T < MODEL_MAX_TARGETS) {
        PetscBool found;
        char meas[NC_MAX_NAME + 16];
        PetscCall(PetscStrncpy(tname[T], dd->var[k].name, sizeof tname[T]));
        /* a target trained on gap-filled values is scored on its measured days
         * (raci prep -prep_use_gapfilled keeps them as X_measured) */
        snprintf(meas, sizeof meas, "%s_measured", dd->var[k].name);
        PetscCall(PetscStrncpy(oname[T], io_find_var(dd->file, meas) >= 0 ? meas : dd->var[k].name, sizeof oname[T]));
        PetscCall(io_att_text(dd->file, dd->var[k].varid, "units", units[T], sizeof units[T], &found));
        if (!found) units[T][0] = '\0';
        T++;
      }
      if (!have_cls && !cls_name[0] && dd->var[k].role == ROLE_SLOW) {
        int n;
        PetscCall(io_att_doubles(dd->file, dd->var[k].varid, "flag_values", clsval, DATA_MAX_CATS, &n));
        if (n > 0) PetscCall(PetscStrncpy(cls_name, dd->var[k].name, sizeof cls_name));
      }
    }
    PetscCall(io_close(&pf));
  }
  PetscCheck(T > 0, comm, RACI_ERR_DATA, "%s: none of the targets of %s (raci_role target or -target) is in the predictions", pred, data);
  PetscCall(data_close(&dd));
  PetscCall(PetscMemzero(&rd, sizeof rd));
  PetscCall(PetscMemzero(&rp, sizeof rp));
  for (int r = ROLE_FAST; r < NUM_ROLES; r++) rd.given[r] = rp.given[r] = PETSC_TRUE;
  for (int k = 0; k < T; k++) {
    PetscCall(PetscStrncpy(rd.name[ROLE_TARGET][k], oname[k], sizeof rd.name[0][0]));
    PetscCall(PetscStrncpy(rp.name[ROLE_TARGET][k], tname[k], sizeof rp.name[0][0]));
  }
  rd.n[ROLE_TARGET] = rp.n[ROLE_TARGET] = T;
  if (cls_name[0]) {
    rd.n[ROLE_SLOW] = 1;
    PetscCall(PetscStrncpy(rd.name[ROLE_SLOW][0], cls_name, sizeof rd.name[0][0]));
  }
  PetscCall(data_open(comm, data, &rd, 0, &dd));
  PetscCall(data_open(comm, pred, &rp, 0, &dp));
  PetscCheck(dd->layout == dp->layout && dd->tile.nx == dp->tile.nx && dd->tile.ny == dp->tile.ny && dd->nt == dp->nt, comm, RACI_ERR_DATA, "%s: %" PetscInt_FMT " x %" PetscInt_FMT " locations and %" PetscInt_FMT " days, but %s has %" PetscInt_FMT " x %" PetscInt_FMT " and %" PetscInt_FMT "; evaluate predictions on the file they were made for",
             pred, dp->tile.nx, dp->tile.ny, dp->nt, data, dd->tile.nx, dd->tile.ny, dd->nt);
  for (int k = 0; k < dd->nvar; k++) {
    for (int j = 0; j < T; j++)
      if (!strcmp(dd->var[k].name, oname[j]) && dd->var[k].role == ROLE_TARGET) kd[j] = k;
    if (dd->var[k].role == ROLE_SLOW) kc = k;
  }
  for (int k = 0; k < dp->nvar; k++)
    for (int j = 0; j < T; j++)
      if (!strcmp(dp->var[k].name, tname[j])) kp[j] = k;
  if (kc >= 0) {
    int n;
    PetscCall(io_att_doubles(dd->file, dd->var[kc].varid, "flag_values", clsval, DATA_MAX_CATS, &n));
    PetscCheck(n > 0, comm, RACI_ERR_DATA, "%s: -eval_class '%s' has no flag_values (it must be a class variable)", data, cls_name);
    ncls = n + 1;
    {
      PetscBool found;
      PetscCall(io_att_text(dd->file, dd->var[kc].varid, "flag_meanings", meanings, sizeof meanings, &found));
    }
  }
  {
    char *save = NULL, *w = strtok_r(meanings, " ", &save);
    for (int c = 0; c < ncls; c++) {
      clsname[c] = c < ncls - 1 ? w : "other";
      if (w) w = strtok_r(NULL, " ", &save);
    }
  }

  nown = grid_owned_count(&dd->tile);
  PetscCall(PetscMalloc3(nown + 1, &loc, (size_t)nown * T + 1, &ls, nown + 1, &lcls));
  PetscCall(PetscMemzero(ls, sizeof(EvalSums) * ((size_t)nown * T + 1)));
  PetscCall(data_owned_locations(dd, &so, loc));
  for (PetscInt c0 = 0; c0 < dd->nt; c0 += chunk) {
    PetscInt    n = PetscMin(chunk, dd->nt - c0), ng = grid_ghost_count(&dd->tile), o = 0;
    const Tile *t = &dd->tile;
    PetscCall(data_read(dd, c0, n));
    PetscCall(data_read(dp, c0, n));
    for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
      for (PetscInt x = t->xs; x < t->xs + t->xm; x++, o++) {
        PetscInt g = data_ghost_index(t, x, y);
        if (split != SPLIT_NONE && loc[o].split != split) continue;
        if (c0 == 0) {
          lcls[o] = ncls - 1;
          for (int c = 0; kc >= 0 && c < ncls - 1; c++)
            if (dd->var[kc].val[g] == (float)clsval[c]) lcls[o] = c;
        }
        for (int k = 0; k < T; k++)
          for (PetscInt d = 0; d < n; d++) {
            float p = dp->var[kp[k]].val[d * ng + g], ob = dd->var[kd[k]].val[d * ng + g];
            if (isfinite(p) && isfinite(ob)) eval_add(&ls[(size_t)o * T + k], p, ob);
          }
      }
  }

  /* per class and pooled, over ranks */
  PetscCall(PetscMemzero(cs, sizeof cs));
  PetscCall(PetscMemzero(ps, sizeof ps));
  for (PetscInt o = 0; o < nown; o++)
    for (int k = 0; k < T; k++) {
      if (ls[(size_t)o * T + k].n == 0) continue;
      eval_merge(&cs[lcls[o]][k], &ls[(size_t)o * T + k]);
      eval_merge(&ps[k], &ls[(size_t)o * T + k]);
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, cs, EVAL_MAX_CLASSES * MODEL_MAX_TARGETS * EVAL_NSUMS, MPI_DOUBLE, MPI_SUM, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, ps, MODEL_MAX_TARGETS * EVAL_NSUMS, MPI_DOUBLE, MPI_SUM, comm));
  {
    double pairs = 0;
    for (int k = 0; k < T; k++) pairs += ps[k].n;
    PetscCheck(pairs > 0, comm, RACI_ERR_DATA, "%s against %s: no location of the %s split has both a prediction and an observation", pred, data, split_names[split]);
  }

  /* the scored locations, gathered on rank 0 */
  {
    EvalLoc    *mine, *all = NULL;
    int         nm = 0, *counts = NULL, *displs = NULL, total = 0;
    PetscMPIInt nbytes;
    PetscCall(PetscMalloc1(nown + 1, &mine));
    for (PetscInt o = 0; o < nown; o++) {
      double any = 0;
      for (int k = 0; k < T; k++) any += ls[(size_t)o * T + k].n;
      if (any == 0) continue;
      mine[nm].loc = loc[o], mine[nm].cls = lcls[o];
      PetscCall(PetscMemzero(mine[nm].s, sizeof mine[nm].s));
      for (int k = 0; k < T; k++) mine[nm].s[k] = ls[(size_t)o * T + k];
      nm++;
    }
    if (rank == 0) PetscCall(PetscMalloc2(size, &counts, size, &displs));
    nbytes = (PetscMPIInt)(nm * sizeof(EvalLoc));
    PetscCallMPI(MPI_Gather(&nbytes, 1, MPI_INT, counts, 1, MPI_INT, 0, comm));
    if (rank == 0) {
      for (int r = 0; r < size; r++) displs[r] = total, total += counts[r];
      PetscCall(PetscMalloc1(total / sizeof(EvalLoc) + 1, &all));
    }
    PetscCallMPI(MPI_Gatherv(mine, nbytes, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, comm));
    if (rank == 0) {
      int   nl = (int)(total / sizeof(EvalLoc)), err = 0;
      FILE *fp;
      char  tmp[PETSC_MAX_PATH_LEN + 32];
      printf("raci eval: %s against %s, %s locations: %d scored (RMSE and bias in the targets' units; nRMSE = RMSE / mean |observed|)\n", pred, data, split_names[split], nl);
      printf("%-8s %-24s %10s %10s %8s %8s %8s %10s\n", "flux", "scope", "n", "RMSE", "nRMSE", "R2", "NSE", "bias");
      for (int k = 0; k < T; k++) {
        table_row(tname[k], "pooled", &ps[k]);
        for (int c = 0; c < ncls && kc >= 0; c++) {
          char scope[64];
          if (cs[c][k].n == 0) continue;
          snprintf(scope, sizeof scope, "%s %s", cls_name, clsname[c] ? clsname[c] : "?");
          table_row(tname[k], scope, &cs[c][k]);
        }
      }
      if (dd->layout == LAYOUT_SITE && nl <= 100)
        for (int i = 0; i < nl; i++)
          for (int k = 0; k < T; k++) {
            char scope[64];
            snprintf(scope, sizeof scope, "site %s", all[i].loc.id[0] ? all[i].loc.id : "?");
            if (all[i].s[k].n > 0) table_row(tname[k], scope, &all[i].s[k]);
          }
      fflush(stdout);
      if (json[0]) {
        fp = core_text_open(json, tmp, sizeof tmp);
        if (!fp) err = errno;
        if (fp) {
          fprintf(fp, "{\"pred\": \"%s\", \"data\": \"%s\", \"split\": \"%s\", \"class_variable\": \"%s\", \"fluxes\": {", pred, data, split_names[split], cls_name);
          for (int k = 0; k < T; k++) {
            fprintf(fp, "%s\n \"%s\": {\"units\": \"%s\", \"pooled\": ", k ? "," : "", tname[k], units[k]);
            json_metrics(fp, &ps[k]);
            fprintf(fp, ", \"classes\": {");
            for (int c = 0, first = 1; c < ncls && kc >= 0; c++) {
              if (cs[c][k].n == 0) continue;
              fprintf(fp, "%s\"%s\": ", first ? "" : ", ", clsname[c] ? clsname[c] : "?");
              json_metrics(fp, &cs[c][k]);
              first = 0;
            }
            fprintf(fp, "}, \"locations\": [");
            for (int i = 0, first = 1; i < nl; i++) {
              if (all[i].s[k].n == 0) continue;
              fprintf(fp, "%s\n  {\"id\": \"%s\", \"index\": %lld, \"lon\": %.5f, \"lat\": %.5f, \"class\": \"%s\", \"metrics\": ", first ? "" : ",", all[i].loc.id, (long long)all[i].loc.gid, all[i].loc.lon, all[i].loc.lat, kc >= 0 && clsname[all[i].cls] ? clsname[all[i].cls] : "");
              json_metrics(fp, &all[i].s[k]);
              fprintf(fp, "}");
              first = 0;
            }
            fprintf(fp, "]}");
          }
          fprintf(fp, "}}\n");
          err = core_text_commit(fp, tmp, json); /* every write checked; the old file stays on failure */
        }
      }
      PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, comm));
      PetscCheck(!err, comm, RACI_ERR_WRITE, "cannot write '%s' (-eval_json): %s", json, strerror(err));
      PetscCall(PetscFree2(counts, displs));
      PetscCall(PetscFree(all));
    } else {
      int err;
      PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, comm));
      PetscCheck(!err, comm, RACI_ERR_WRITE, "cannot write '%s' (-eval_json): %s", json, strerror(err));
    }
    PetscCall(PetscFree(mine));
  }
  PetscCall(PetscFree3(loc, ls, lcls));
  PetscCall(data_close(&dd));
  PetscCall(data_close(&dp));
  PetscFunctionReturn(PETSC_SUCCESS);
}
