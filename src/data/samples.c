/* data: splits, normalisation, windows, slow blocks, neighbours and batches
 * (docs/MODEL.md sections 1 and 6). */
#include <raci/data.h>

#include <math.h>
#include <string.h>

PetscErrorCode data_split_options(MPI_Comm comm, SplitOptions *so)
{
  PetscInt n = 4 * DATA_MAX_BOXES;
  char    *sites[DATA_MAX_VARS];
  PetscInt ns = DATA_MAX_VARS;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(so, sizeof *so));
  so->val_frac = 0.1;
  so->seed     = 1;
  PetscOptionsBegin(comm, NULL, "Training, validation and test locations", NULL);
  PetscCall(PetscOptionsRealArray("-split_test_box", "Test locations: lon0,lon1,lat0,lat1 boxes (up to 8, concatenated)", NULL, so->box, &n, NULL));
  PetscCall(PetscOptionsStringArray("-split_test_sites", "Test locations: site ids", NULL, sites, &ns, NULL));
  PetscCall(PetscOptionsReal("-split_val_frac", "Fraction of the other locations used for validation", NULL, so->val_frac, &so->val_frac, NULL));
  PetscCall(PetscOptionsInt("-split_seed", "Seed of the validation draw", NULL, so->seed, &so->seed, NULL));
  PetscOptionsEnd();
  PetscCheck(n % 4 == 0, comm, RACI_ERR_INPUT, "-split_test_box takes groups of four numbers lon0,lon1,lat0,lat1; got %" PetscInt_FMT, n);
  PetscCheck(so->val_frac >= 0 && so->val_frac < 1, comm, RACI_ERR_INPUT, "-split_val_frac must be in [0, 1)");
  so->nbox = (int)(n / 4);
  for (PetscInt i = 0; i < ns; i++) {
    PetscCall(PetscStrncpy(so->sites[i], sites[i], sizeof so->sites[i]));
    PetscCall(PetscFree(sites[i]));
  }
  so->nsites = (int)ns;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Longitude and latitude of every location of the tile plus halo. */
static PetscErrorCode read_lonlat(const Dataset *ds, double *lon, double *lat)
{
  const IoFile *f = ds->file;
  const Tile   *t = &ds->tile;
  int           vx = -1, vy = -1;
  PetscBool     twod = PETSC_FALSE;

  PetscFunctionBeginUser;
  if (ds->layout == LAYOUT_GRID) {
    vx = io_find_var(f, f->dims[ds->xdim].name);
    vy = io_find_var(f, f->dims[ds->ydim].name);
    if (vx < 0 || vy < 0 || f->vars[vx].ndims != 1 || f->vars[vy].ndims != 1) {
      vx   = io_find_var(f, "lon");
      vy   = io_find_var(f, "lat");
      twod = PETSC_TRUE;
    }
  } else {
    vx = io_find_var(f, "lon");
    vy = io_find_var(f, "lat");
  }
  PetscCheck(vx >= 0 && vy >= 0, ds->comm, RACI_ERR_DATA, "%s: no longitude/latitude coordinates (1-D coordinate variables of the x and y dimensions, or lon and lat)", f->path);
  if (ds->layout == LAYOUT_GRID && !twod) {
    double    *x, *y;
    MPI_Offset sx = t->gxs, cx = t->gxm, sy = t->gys, cy = t->gym;
    PetscCall(PetscMalloc2(t->gxm, &x, t->gym, &y));
    PetscCall(io_read_double(f, vx, &sx, &cx, x));
    PetscCall(io_read_double(f, vy, &sy, &cy, y));
    for (PetscInt j = 0; j < t->gym; j++)
      for (PetscInt i = 0; i < t->gxm; i++) {
        lon[j * t->gxm + i] = x[i];
        lat[j * t->gxm + i] = y[j];
      }
    PetscCall(PetscFree2(x, y));
  } else {
    MPI_Offset s[2] = {t->gys, t->gxs}, c[2] = {t->gym, t->gxm};
    int        o = ds->layout == LAYOUT_GRID ? 0 : 1;
    PetscCheck(f->vars[vx].ndims == 2 - o && f->vars[vy].ndims == 2 - o, ds->comm, RACI_ERR_DATA, "%s: lon and lat must have the spatial dimensions of the data", f->path);
    PetscCall(io_read_double(f, vx, s + o, c + o, lon));
    PetscCall(io_read_double(f, vy, s + o, c + o, lat));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Site ids of the tile plus halo, (ng, *len) NUL-terminated; NULL for grids
 * and files without site_id(site, nchar). */
static PetscErrorCode read_site_ids(const Dataset *ds, char **ids, size_t *len)
{
  const Tile *t  = &ds->tile;
  PetscInt    ng = grid_ghost_count(t);
  int         v  = io_find_var(ds->file, "site_id");

  PetscFunctionBeginUser;
  *ids = NULL, *len = 0;
  if (ds->layout != LAYOUT_SITE || v < 0 || ds->file->vars[v].ndims != 2) PetscFunctionReturn(PETSC_SUCCESS);
  {
    MPI_Offset nch = ds->file->dims[ds->file->vars[v].dimids[1]].len, s0[2] = {t->gxs, 0}, c0[2] = {t->gxm, nch};
    char      *raw;
    PetscCall(PetscCalloc1(ng * (nch + 1) + 1, ids));
    PetscCall(PetscMalloc1(ng * nch + 1, &raw));
    PetscCall(io_read_text(ds->file, v, s0, c0, raw));
    for (PetscInt g = 0; g < ng; g++) memcpy(*ids + g * (nch + 1), raw + g * nch, (size_t)nch);
    PetscCall(PetscFree(raw));
    *len = (size_t)nch + 1;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static Split split_of(const SplitOptions *so, double lon, double lat, int64_t gid, const char *site)
{
  for (int b = 0; b < so->nbox; b++) {
    const PetscReal *x = so->box + 4 * b;
    if (lon >= x[0] && lon <= x[1] && lat >= x[2] && lat <= x[3]) return SPLIT_TEST;
  }
  for (int i = 0; i < so->nsites && site; i++)
    if (!strcmp(site, so->sites[i])) return SPLIT_TEST;
  return core_rng_uniform((uint64_t)so->seed, (uint64_t)gid, 0, 0x5917ULL) < so->val_frac ? SPLIT_VAL : SPLIT_TRAIN;
}

PetscErrorCode data_samples_create(Dataset *ds, const SplitOptions *so, int Lf, int Ls, int P, int Kf, const SampleNorm *norm, SampleSet **out)
{
  const Tile *t = &ds->tile;
  SampleSet  *ss;
  PetscInt    ng = grid_ghost_count(t), nt = ds->ntr;
  int        *compact;
  double     *lon, *lat;
  char       *site_ids = NULL; /* (ng, site_len) site ids of the tile, NUL-terminated */
  size_t      site_len = 0;
  int         fast[DATA_MAX_VARS], slow[DATA_MAX_VARS], targ[DATA_MAX_VARS], nf = 0, ns = 0, ntg = 0, S = 0;

  PetscFunctionBeginUser;
  PetscCheck(norm || (ds->t0 == 0 && ds->ntr == ds->nt), ds->comm, PETSC_ERR_ARG_WRONGSTATE, "training samples need the whole record read");
  PetscCall(PetscNew(&ss));
  ss->ds = ds, ss->Lf = Lf, ss->Ls = Ls, ss->P = P, ss->Kf = Kf, ss->t0 = ds->t0, ss->nt = nt;
  for (int k = 0; k < ds->nvar; k++) {
    if (ds->var[k].role == ROLE_FAST) fast[nf++] = k;
    else if (ds->var[k].role == ROLE_SLOW) slow[ns++] = k;
    else if (!norm) targ[ntg++] = k; /* prediction does not read targets */
  }
  PetscCheck(nf > 0 && (norm || ntg > 0), ds->comm, RACI_ERR_DATA, "%s: training needs fast drivers and targets (found %d fast, %d target variables)", ds->file->path, nf, ntg);
  PetscCheck(Ls % P == 0, ds->comm, RACI_ERR_INPUT, "the slow window (%d days) must be a multiple of the number of blocks (%d)", Ls, P);
  for (int k = 0; k < ntg; k++) PetscCall(PetscStrncpy(ss->target[k], ds->var[targ[k]].name, sizeof ss->target[k]));
  /* class variables: one-hot over their flag_values */
  for (int k = 0; k < ns; k++) {
    double vals[DATA_MAX_CATS];
    int    n;
    PetscCall(io_att_doubles(ds->file, ds->var[slow[k]].varid, "flag_values", vals, DATA_MAX_CATS, &n));
    if (norm) { /* the categories the model was trained with */
      PetscBool same = (PetscBool)(n == norm->ncat[k]);
      for (int c = 0; c < n && same; c++) same = (PetscBool)((float)vals[c] == norm->cat[k][c]);
      PetscCheck(same, ds->comm, RACI_ERR_DATA, "%s: slow variable '%s' has other classes (flag_values) than the model was trained with (%d classes)", ds->file->path, ds->var[slow[k]].name, norm->ncat[k]);
    }
    ss->norm.ncat[k] = n;
    for (int c = 0; c < n; c++) ss->norm.cat[k][c] = (float)vals[c];
    S += n ? n : 1;
  }
  ss->F = nf, ss->S = S, ss->T = ntg;

  /* usable locations of the tile plus halo: every fast and slow value present */
  PetscCall(PetscMalloc3(ng, &compact, ng, &lon, ng, &lat));
  PetscCall(read_lonlat(ds, lon, lat));
  ss->nloc = 0;
  for (PetscInt g = 0; g < ng; g++) {
    PetscBool ok = PETSC_TRUE;
    for (int k = 0; k < nf && ok; k++)
      for (PetscInt d = 0; d < nt && ok; d++) ok = (PetscBool)!isnan(ds->var[fast[k]].val[d * ng + g]);
    for (int k = 0; k < ns && ok; k++) ok = (PetscBool)!isnan(ds->var[slow[k]].val[g]);
    compact[g] = ok ? ss->nloc++ : -1;
  }
  PetscCall(read_site_ids(ds, &site_ids, &site_len));
  {
    int n = ss->nloc;
    PetscCall(PetscMalloc6(n + 1, &ss->ghost, n + 1, &ss->gid, n + 1, &ss->lon, n + 1, &ss->lat, n + 1, &ss->owned, n + 1, &ss->split));
    PetscCall(PetscMalloc2((size_t)n * nt * nf + 1, &ss->xn, (size_t)n * S + 1, &ss->sf));
    if (ntg) PetscCall(PetscMalloc1((size_t)n * nt * ntg, &ss->y));
    PetscCall(PetscMalloc1((size_t)n * Kf + 1, &ss->nbr));
  }
  for (PetscInt g = 0; g < ng; g++) {
    int      c = compact[g];
    PetscInt x = t->gxs + g % t->gxm, y = t->gys + g / t->gxm;
    if (c < 0) continue;
    ss->ghost[c] = (int)g;
    ss->gid[c]   = (int64_t)y * t->nx + x;
    ss->lon[c]   = lon[g];
    ss->lat[c]   = lat[g];
    ss->owned[c] = (x >= t->xs && x < t->xs + t->xm && y >= t->ys && y < t->ys + t->ym);
    ss->split[c] = (unsigned char)split_of(so, lon[g], lat[g], ss->gid[c], site_ids ? site_ids + g * site_len : NULL);
    if (ss->owned[c]) ss->count[ss->split[c]]++;
  }
  PetscCall(PetscFree(site_ids));
  for (int k = 0; k < 4; k++) ss->nglobal[k] = ss->count[k];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, ss->nglobal, 4, MPIU_INT64, MPI_SUM, ds->comm));
  PetscCheck(norm || ss->nglobal[SPLIT_TRAIN] > 0, ds->comm, RACI_ERR_DATA, "%s: no usable training location (every usable location is in a test box, test site or the validation draw)", ds->file->path);

  /* normalisation over the owned training locations, reduced over ranks */
  if (norm) {
    PetscCall(PetscArraycpy(ss->norm.fmean, norm->fmean, DATA_MAX_VARS));
    PetscCall(PetscArraycpy(ss->norm.fstd, norm->fstd, DATA_MAX_VARS));
    PetscCall(PetscArraycpy(ss->norm.smean, norm->smean, DATA_MAX_VARS));
    PetscCall(PetscArraycpy(ss->norm.sstd, norm->sstd, DATA_MAX_VARS));
  } else {
    double acc[3 * DATA_MAX_VARS * 3] = {0}; /* fast, slow, target: sum, sum of squares, count */
    for (int c = 0; c < ss->nloc; c++) {
      if (!ss->owned[c] || ss->split[c] != SPLIT_TRAIN) continue;
      int g = ss->ghost[c];
      for (int k = 0; k < nf; k++)
        for (PetscInt d = 0; d < nt; d++) {
          double v = ds->var[fast[k]].val[d * ng + g];
          acc[3 * k] += v, acc[3 * k + 1] += v * v, acc[3 * k + 2] += 1;
        }
      for (int k = 0; k < ns; k++) {
        double v = ds->var[slow[k]].val[g];
        acc[3 * (DATA_MAX_VARS + k)] += v, acc[3 * (DATA_MAX_VARS + k) + 1] += v * v, acc[3 * (DATA_MAX_VARS + k) + 2] += 1;
      }
      for (int k = 0; k < ntg; k++)
        for (PetscInt d = 0; d < nt; d++) {
          double v = ds->var[targ[k]].val[d * ng + g];
          if (isnan(v)) continue;
          acc[3 * (2 * DATA_MAX_VARS + k)] += v, acc[3 * (2 * DATA_MAX_VARS + k) + 1] += v * v, acc[3 * (2 * DATA_MAX_VARS + k) + 2] += 1;
        }
    }
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, acc, 9 * DATA_MAX_VARS, MPI_DOUBLE, MPI_SUM, ds->comm));
    for (int r = 0; r < 3; r++)
      for (int k = 0; k < (r == 0 ? nf : r == 1 ? ns : ntg); k++) {
        double *a = acc + 3 * (r * DATA_MAX_VARS + k), n = a[2], mean = n > 0 ? a[0] / n : 0, var = n > 1 ? fmax(a[1] / n - mean * mean, 0) : 0;
        float   sd = var > 1e-12 ? (float)sqrt(var) : 1.0f; /* a constant variable is only centred */
        if (r == 0) ss->norm.fmean[k] = (float)mean, ss->norm.fstd[k] = sd;
        else if (r == 1) ss->norm.smean[k] = (float)mean, ss->norm.sstd[k] = sd;
        else {
          PetscCheck(n > 0, ds->comm, RACI_ERR_DATA, "%s: target '%s' has no observed value at the training locations", ds->file->path, ss->target[k]);
          ss->norm.tmean[k] = (float)mean, ss->norm.tstd[k] = sd;
        }
      }
  }

  /* normalised drivers, static features, targets */
  for (int c = 0; c < ss->nloc; c++) {
    int    g  = ss->ghost[c];
    float *xn = ss->xn + (size_t)c * nt * nf, *sf = ss->sf + (size_t)c * S;
    for (PetscInt d = 0; d < nt; d++)
      for (int k = 0; k < nf; k++) xn[d * nf + k] = (ds->var[fast[k]].val[d * ng + g] - ss->norm.fmean[k]) / ss->norm.fstd[k];
    for (int k = 0, o = 0; k < ns; k++) {
      float v = ds->var[slow[k]].val[g];
      if (ss->norm.ncat[k]) {
        for (int j = 0; j < ss->norm.ncat[k]; j++) sf[o + j] = v == ss->norm.cat[k][j] ? 1.0f : 0.0f;
        o += ss->norm.ncat[k];
      } else sf[o++] = (v - ss->norm.smean[k]) / ss->norm.sstd[k];
    }
    for (PetscInt d = 0; d < nt; d++)
      for (int k = 0; k < ntg; k++) ss->y[((size_t)c * nt + d) * ntg + k] = ds->var[targ[k]].val[d * ng + g];
  }

  /* geographic neighbours of owned locations: grid cells of the halo window,
   * sites within no distance yet (site neighbours come with issue 5) */
  for (int c = 0; c < ss->nloc; c++) {
    int32_t *nb = ss->nbr + (size_t)c * Kf;
    for (int k = 0; k < Kf; k++) nb[k] = -1;
    if (!ss->owned[c] || ds->layout != LAYOUT_GRID) continue;
    {
      int      g = ss->ghost[c], gx = g % (int)t->gxm, gy = g / (int)t->gxm, w = (int)t->halo, n = 0;
      int      cand[64];
      double   dist[64];
      for (int dy = -w; dy <= w; dy++)
        for (int dx = -w; dx <= w; dx++) {
          int x = gx + dx, y = gy + dy, cc;
          if ((!dx && !dy) || x < 0 || y < 0 || x >= t->gxm || y >= t->gym || n == 64) continue;
          cc = compact[y * t->gxm + x];
          if (cc < 0) continue;
          double d = dx * dx + dy * dy;
          int    p = n++;
          while (p > 0 && (dist[p - 1] > d || (dist[p - 1] == d && ss->gid[cand[p - 1]] > ss->gid[cc]))) { /* by distance, then id */
            dist[p] = dist[p - 1];
            cand[p] = cand[p - 1];
            p--;
          }
          dist[p] = d;
          cand[p] = cc;
        }
      for (int k = 0; k < Kf && k < n; k++) nb[k] = cand[k];
    }
  }
  PetscCall(PetscFree3(compact, lon, lat));
  *out = ss;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_samples_destroy(SampleSet **pss)
{
  SampleSet *ss = *pss;

  PetscFunctionBeginUser;
  if (!ss) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree6(ss->ghost, ss->gid, ss->lon, ss->lat, ss->owned, ss->split));
  PetscCall(PetscFree2(ss->xn, ss->sf));
  PetscCall(PetscFree(ss->y));
  PetscCall(PetscFree(ss->nbr));
  PetscCall(PetscFree(ss));
  *pss = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_batch_create(const SampleSet *ss, int maxq, int T, SampleBatch *b)
{
  int maxr = maxq * (ss->Kf + 1);

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(b, sizeof *b));
  b->maxq = maxq, b->maxr = maxr, b->T = T ? T : ss->T;
  PetscCheck(!ss->y || b->T == ss->T, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "batch of %d targets for samples with %d", b->T, ss->T);
  PetscCall(PetscMalloc6(maxr, &b->rloc, maxr, &b->rday, (size_t)ss->Lf * maxr * ss->F, &b->xf, (size_t)ss->P * maxq * ss->F, &b->xb, (size_t)maxq * ss->S + 1, &b->s, (size_t)maxq * b->T + 1, &b->y));
  PetscCall(PetscMalloc3((size_t)maxq * ss->P, &b->eb, (size_t)maxq * ss->Kf, &b->nb, maxq, &b->owner));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_batch_destroy(SampleBatch *b)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree6(b->rloc, b->rday, b->xf, b->xb, b->s, b->y));
  PetscCall(PetscFree3(b->eb, b->nb, b->owner));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Row of (loc, day): an existing one, or a new one at the end. */
static int row_of(SampleBatch *b, int loc, int day)
{
  for (int r = 0; r < b->R; r++)
    if (b->rloc[r] == loc && b->rday[r] == day) return r;
  b->rloc[b->R] = loc;
  b->rday[b->R] = day;
  return b->R++;
}

PetscErrorCode data_batch_fill(const SampleSet *ss, const int *loc, const int *day, int Q, SampleBatch *b, ModelBatch *mb)
{
  const int F = ss->F, Lf = ss->Lf, P = ss->P, Lb = ss->Ls / ss->P, nt = (int)ss->nt;

  PetscFunctionBeginUser;
  PetscCheck(Q <= b->maxq, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "batch of %d queries exceeds its capacity %d", Q, b->maxq);
  b->Q = Q;
  b->R = 0;
  for (int q = 0; q < Q; q++) { /* queries are rows 0..Q-1, even when one repeats */
    b->rloc[b->R] = loc[q];
    b->rday[b->R] = day[q];
    b->R++;
  }
  for (int q = 0; q < Q; q++) {
    const int32_t *nb = ss->nbr + (size_t)loc[q] * ss->Kf;
    for (int k = 0; k < ss->Kf; k++) b->nb[q * ss->Kf + k] = nb[k] < 0 ? -1 : row_of(b, nb[k], day[q]);
  }
  for (int r = 0; r < b->R; r++)
    for (int t = 0; t < Lf; t++) memcpy(b->xf + ((size_t)t * b->R + r) * F, ss->xn + ((size_t)b->rloc[r] * nt + b->rday[r] - Lf + 1 + t) * F, sizeof(float) * F);
  for (int q = 0; q < Q; q++) {
    const float *xn = ss->xn + (size_t)loc[q] * nt * F;
    for (int p = 0; p < P; p++) {
      int    d0 = day[q] - ss->Ls + 1 + p * Lb, d1 = d0 + Lb; /* [d0, d1) clipped to the record */
      float *xb = b->xb + ((size_t)p * Q + q) * F;
      d0 = d0 < 0 ? 0 : d0;
      d1 = d1 > nt ? nt : d1;
      b->eb[q * P + p] = d1 <= d0;
      /* summed day by day, not from prefix sums: the same value whatever
       * the first day held (prediction holds windows of the record) */
      for (int k = 0; k < F; k++) xb[k] = 0.0f;
      for (int d = d0; d < d1; d++)
        for (int k = 0; k < F; k++) xb[k] += xn[(size_t)d * F + k];
      for (int k = 0; k < F; k++) xb[k] = d1 > d0 ? xb[k] / (float)(d1 - d0) : 0.0f;
    }
    memcpy(b->s + (size_t)q * ss->S, ss->sf + (size_t)loc[q] * ss->S, sizeof(float) * ss->S);
    if (ss->y) memcpy(b->y + (size_t)q * ss->T, ss->y + ((size_t)loc[q] * nt + day[q]) * ss->T, sizeof(float) * ss->T);
    else
      for (int k = 0; k < b->T; k++) b->y[(size_t)q * b->T + k] = NAN;
    b->owner[q] = (int32_t)ss->gid[loc[q]];
  }
  *mb = (ModelBatch){.Q = Q, .R = b->R, .xf = b->xf, .xb = b->xb, .eb = b->eb, .s = b->s, .y = b->y, .nb = b->nb, .owner = b->owner};
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_owned_locations(const Dataset *ds, const SplitOptions *so, DataLocation *loc)
{
  const Tile *t  = &ds->tile;
  PetscInt    ng = grid_ghost_count(t);
  double     *lon, *lat;
  char       *ids;
  size_t      len;
  int         o = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(ng, &lon, ng, &lat));
  PetscCall(read_lonlat(ds, lon, lat));
  PetscCall(read_site_ids(ds, &ids, &len));
  for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
    for (PetscInt x = t->xs; x < t->xs + t->xm; x++, o++) {
      PetscInt g = data_ghost_index(t, x, y);
      loc[o].gid = (int64_t)y * t->nx + x;
      loc[o].lon = lon[g], loc[o].lat = lat[g];
      loc[o].split = (unsigned char)split_of(so, lon[g], lat[g], loc[o].gid, ids ? ids + g * len : NULL);
      loc[o].id[0] = '\0';
      if (ids) PetscCall(PetscStrncpy(loc[o].id, ids + g * len, sizeof loc[o].id));
    }
  PetscCall(PetscFree2(lon, lat));
  PetscCall(PetscFree(ids));
  PetscFunctionReturn(PETSC_SUCCESS);
}
