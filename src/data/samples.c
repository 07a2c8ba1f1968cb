/* data: splits, normalisation, runs of complete days, slow blocks,
 * neighbours and batches of segments (docs/MODEL.md sections 1 and 6). */
#include <raci/data.h>

#include <math.h>
#include <string.h>

PetscErrorCode data_split_options(MPI_Comm comm, SplitOptions *so)
{
  PetscInt n = 4 * DATA_MAX_BOXES;
  char    *sites[DATA_MAX_VARS];
  PetscInt ns = DATA_MAX_VARS, nc = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(so, sizeof *so));
  so->val_frac = 0.1;
  so->seed     = 1;
  PetscCall(PetscStrncpy(so->strata, "class", sizeof so->strata));
  PetscCall(core_opt_section(comm, "Training, validation and test locations"));
  n = 0;
  PetscCall(core_opt_reals(comm, "-split_test_box", "Test locations: lon0,lon1,lat0,lat1 boxes (up to 8, concatenated)",
                           so->box, 4, 4 * DATA_MAX_BOXES, &n, NULL));
  PetscCall(core_opt_strings(comm, "-split_test_sites", "Test locations: site ids", sites, &ns, NULL));
  PetscCall(
      core_opt_reals(comm, "-split_test_class",
                     "Test locations: every location whose -split_strata variable (class) has one of these values",
                     so->cls, 1, DATA_MAX_VARS, &nc, NULL));
  PetscCall(core_opt_real(comm, "-split_val_frac", "Fraction of the other locations used for validation", so->val_frac,
                          0, 1, CORE_OPT_OPEN_MAX, &so->val_frac, &so->val_frac_set));
  PetscCall(core_opt_int(comm, "-split_seed", "Seed of the validation draw and of the fold assignment", so->seed,
                         PETSC_MIN_INT, PETSC_MAX_INT, &so->seed, NULL));
  PetscCall(core_opt_int(comm, "-split_folds",
                         "Leave-sites-out cross-validation with this many folds (site files; 0: off)", so->nfolds, 0,
                         100000, &so->nfolds, NULL));
  PetscCall(core_opt_int(comm, "-split_fold", "The fold whose sites are the test set, 0 .. folds-1", so->fold, 0,
                         100000, &so->fold, NULL));
  PetscCall(core_opt_string(comm, "-split_strata", "Class variable the folds are stratified by", so->strata,
                            sizeof so->strata, &so->strata_set));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(so->nfolds >= 0 && so->nfolds != 1, comm, RACI_ERR_INPUT,
             "-split_folds must be 0 (off) or at least 2; got %" PetscInt_FMT, so->nfolds);
  PetscCheck(!so->nfolds || (so->fold >= 0 && so->fold < so->nfolds), comm, RACI_ERR_INPUT,
             "-split_fold must be in 0 .. %" PetscInt_FMT " (-split_folds %" PetscInt_FMT "); got %" PetscInt_FMT,
             so->nfolds - 1, so->nfolds, so->fold);
  PetscCheck(n % 4 == 0, comm, RACI_ERR_INPUT,
             "-split_test_box takes groups of four numbers lon0,lon1,lat0,lat1; got %" PetscInt_FMT, n);
  PetscCheck(so->val_frac >= 0 && so->val_frac < 1, comm, RACI_ERR_INPUT, "-split_val_frac must be in [0, 1)");
  so->nbox = (int)(n / 4);
  so->ncls = (int)nc;
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
  const IoFile *f  = ds->file;
  const Tile   *t  = &ds->tile;
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
  PetscCheck(
      vx >= 0 && vy >= 0, ds->comm, RACI_ERR_DATA,
      "%s: no longitude/latitude coordinates (1-D coordinate variables of the x and y dimensions, or lon and lat)",
      f->path);
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
    PetscCheck(f->vars[vx].ndims == 2 - o && f->vars[vy].ndims == 2 - o, ds->comm, RACI_ERR_DATA,
               "%s: lon and lat must have the spatial dimensions of the data", f->path);
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

typedef struct {
  double  cls, u;
  int64_t gid;
} FoldItem;

static int fold_cmp(const void *a, const void *b)
{
  const FoldItem *x = a, *y = b;
  if (x->cls != y->cls) return x->cls < y->cls ? -1 : 1;
  if (x->u != y->u) return x->u < y->u ? -1 : 1;
  return (x->gid > y->gid) - (x->gid < y->gid);
}

/* Split of every site of the file under -split_folds (NULL without): sites
 * sorted by class, then by a draw keyed by (seed, site index), dealt to the
 * folds in turn, so each class is spread evenly over the folds and the
 * assignment depends on neither the rank count nor the site order in the
 * file; fold -split_fold is the test set, the rest train or validate. */
static PetscErrorCode fold_table(const Dataset *ds, const SplitOptions *so, int **fold)
{
  const IoFile *f = ds->file;
  PetscInt      n;
  int           v;
  float        *cls;
  FoldItem     *it;

  PetscFunctionBeginUser;
  *fold = NULL;
  if (!so->nfolds) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(ds->layout == LAYOUT_SITE, ds->comm, RACI_ERR_INPUT,
             "%s: -split_folds holds out whole sites and needs a site file; on grids use -split_test_box", f->path);
  n = ds->tile.nx;
  PetscCheck(so->nfolds <= n, ds->comm, RACI_ERR_INPUT,
             "%s: -split_folds %" PetscInt_FMT " exceeds the %" PetscInt_FMT " sites", f->path, so->nfolds, n);
  v = io_find_var(f, so->strata);
  PetscCheck(v >= 0 || !so->strata_set, ds->comm, RACI_ERR_INPUT, "%s: -split_strata: no variable '%s'", f->path,
             so->strata);
  PetscCall(PetscMalloc2(n, &cls, n, &it));
  PetscCall(PetscMalloc1(n, fold));
  if (v >= 0) {
    MPI_Offset s0 = 0, c0 = n;
    PetscCheck(f->vars[v].ndims == 1, ds->comm, RACI_ERR_INPUT,
               "%s: -split_strata variable '%s' must be one value per site", f->path, so->strata);
    PetscCall(io_read_float(f, v, &s0, &c0, cls));
  } else
    for (PetscInt i = 0; i < n; i++) cls[i] = 0;
  for (PetscInt i = 0; i < n; i++)
    it[i] = (FoldItem){isnan(cls[i]) ? -INFINITY : cls[i],
                       core_rng_uniform((uint64_t)so->seed, (uint64_t)i, 0, (uint64_t)CORE_RNG_FOLD), i};
  qsort(it, (size_t)n, sizeof *it, fold_cmp);
  for (PetscInt j = 0; j < n; j++) (*fold)[it[j].gid] = (int)(j % so->nfolds) == so->fold ? SPLIT_TEST : SPLIT_TRAIN;
  /* validation: drawn among the other sites with targets (site_validation) */
  PetscCall(PetscFree2(cls, it));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -split_test_class: the -split_strata variable's values over the tile plus
 * halo (read from the file: eval does not load slow inputs), NULL without
 * the option; the caller frees. Collective. */
static PetscErrorCode test_class_values(const Dataset *ds, const SplitOptions *so, float **strata)
{
  const IoFile *f = ds->file;
  const Tile   *t = &ds->tile;
  int           v;

  PetscFunctionBeginUser;
  *strata = NULL;
  if (!so->ncls) PetscFunctionReturn(PETSC_SUCCESS);
  v = io_find_var(f, so->strata);
  PetscCheck(v >= 0, ds->comm, RACI_ERR_INPUT, "%s: -split_test_class: no class variable '%s' (-split_strata)", f->path,
             so->strata);
  if (ds->layout == LAYOUT_GRID) {
    MPI_Offset s[2] = {t->gys, t->gxs}, c[2] = {t->gym, t->gxm};
    PetscCheck(f->vars[v].ndims == 2 && f->vars[v].dimids[0] == ds->ydim && f->vars[v].dimids[1] == ds->xdim, ds->comm,
               RACI_ERR_INPUT, "%s: -split_test_class: '%s' must be a (%s, %s) map", f->path, so->strata,
               f->dims[ds->ydim].name, f->dims[ds->xdim].name);
    PetscCall(PetscMalloc1(t->gym * t->gxm, strata));
    PetscCall(io_read_float(f, v, s, c, *strata));
  } else {
    MPI_Offset s = t->gxs, c = t->gxm;
    PetscCheck(f->vars[v].ndims == 1 && f->vars[v].dimids[0] == ds->xdim, ds->comm, RACI_ERR_INPUT,
               "%s: -split_test_class: '%s' must be one value per site", f->path, so->strata);
    PetscCall(PetscMalloc1(t->gxm, strata));
    PetscCall(io_read_float(f, v, &s, &c, *strata));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static Split split_of(const SplitOptions *so, const int *fold, double lon, double lat, int64_t gid, const char *site,
                      float cls)
{
  for (int i = 0; i < so->ncls; i++)
    if (cls == (float)so->cls[i]) return SPLIT_TEST;
  for (int b = 0; b < so->nbox; b++) {
    const PetscReal *x = so->box + 4 * b;
    if (lon >= x[0] && lon <= x[1] && lat >= x[2] && lat <= x[3]) return SPLIT_TEST;
  }
  for (int i = 0; i < so->nsites && site; i++)
    if (!strcmp(site, so->sites[i])) return SPLIT_TEST;
  if (fold && fold[gid] == SPLIT_TEST) return SPLIT_TEST;
  /* validation on site files is redrawn by site_validation in training (it needs the targets) */
  return core_rng_uniform((uint64_t)so->seed, (uint64_t)gid, 0, (uint64_t)CORE_RNG_VALIDATION) < so->val_frac
             ? SPLIT_VAL
             : SPLIT_TRAIN;
}

/* Whether held day d of location g (tile plus halo) can be read: every fast
 * driver that is neither absent there (absent: (nf) flags of g, or NULL) nor
 * flagged (flagged: (nf), or NULL) present, and some driver not absent there
 * present. A flagged driver missing on the day does not break the record: a
 * segment reading such a day enters it as absent (data_batch_fill). */
static PetscBool day_present(const Dataset *ds, const int *fast, int nf, PetscInt ng, PetscInt g, PetscInt d,
                             const unsigned char *absent, const unsigned char *flagged)
{
  PetscBool any = PETSC_FALSE;
  for (int k = 0; k < nf; k++) {
    PetscBool v = (PetscBool)!isnan(ds->var[fast[k]].val[d * ng + g]);
    if (absent && absent[k]) continue;
    if (!v && !(flagged && flagged[k])) return PETSC_FALSE;
    any = (PetscBool)(any || v);
  }
  return any;
}

/* Training: every test box and test site selects some usable location, and
 * a validation fraction some validation location; otherwise the run would
 * train on everything and report a test error of nan (or have no validation).
 * nbox, nsite, ncls, ext: this rank's counts and extent, reduced here. Collective. */
static PetscErrorCode check_splits(const Dataset *ds, const SplitOptions *so, const SampleSet *ss, int64_t *nbox,
                                   int64_t *nsite, int64_t *ncls, double *ext)
{
  const char *path = ds->file->path;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, nbox, DATA_MAX_BOXES, MPI_INT64_T, MPI_SUM, ds->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, nsite, DATA_MAX_VARS, MPI_INT64_T, MPI_SUM, ds->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, ncls, DATA_MAX_VARS, MPI_INT64_T, MPI_SUM, ds->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, ext, 4, MPI_DOUBLE, MPI_MIN, ds->comm));
  for (int b = 0; b < so->nbox; b++) {
    const PetscReal *x = so->box + 4 * b;
    /* a box in the other longitude convention (0..360 against -180..180) */
    PetscBool other =
        (PetscBool)((x[0] - 360 <= -ext[1] && x[1] - 360 >= ext[0]) || (x[0] + 360 <= -ext[1] && x[1] + 360 >= ext[0]));
    char msg[PETSC_MAX_PATH_LEN + 1024]; /* snprintf: PETSc's formatting prints %g as "500." */
    snprintf(msg, sizeof msg,
             "-split_test_box %g,%g,%g,%g selects no usable location of %s, whose usable locations span lon %g..%g, "
             "lat %g..%g%s",
             (double)x[0], (double)x[1], (double)x[2], (double)x[3], path, ext[0], -ext[1], ext[2], -ext[3],
             other ? " (the box uses the other longitude convention: shift it by 360 degrees)" : "");
    PetscCheck(nbox[b] > 0, ds->comm, RACI_ERR_INPUT, "%s", msg);
  }
  for (int i = 0; i < so->ncls; i++) {
    char msg[PETSC_MAX_PATH_LEN + 2 * NC_MAX_NAME + 256];
    snprintf(msg, sizeof msg, "-split_test_class %g: no usable location of %s has %s = %g", (double)so->cls[i], path,
             so->strata, (double)so->cls[i]);
    PetscCheck(ncls[i] > 0, ds->comm, RACI_ERR_INPUT, "%s", msg);
  }
  for (int i = 0; i < so->nsites; i++)
    PetscCheck(nsite[i] > 0, ds->comm, RACI_ERR_INPUT, "-split_test_sites: %s has no usable site '%s'", path,
               so->sites[i]);
  if (so->val_frac > 0 && ss->nglobal[SPLIT_VAL] == 0) {
    /* asked for: an error; the default fraction on a few sites: said, not silent */
    char msg[PETSC_MAX_PATH_LEN + 1024];
    if (so->val_frac_set) {
      snprintf(msg, sizeof msg,
               "-split_val_frac %g selects no validation location among the %lld usable locations outside the test set "
               "of %s; raise it, or give -split_val_frac 0 to train without validation",
               (double)so->val_frac, (long long)ss->nglobal[SPLIT_TRAIN], path);
      SETERRQ(ds->comm, RACI_ERR_INPUT, "%s", msg);
    }
    snprintf(msg, sizeof msg,
             "raci: %s: the validation draw (-split_val_frac %g) selected none of the %lld usable locations outside "
             "the test set: the training loss picks the best epoch (-split_folds always validates on some sites)\n",
             path, (double)so->val_frac, (long long)ss->nglobal[SPLIT_TRAIN]);
    PetscCall(PetscPrintf(ds->comm, "%s", msg));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What the phases of data_samples_create share besides the sample set: the
 * variables by role and, per location of the tile plus halo, where it is and
 * whether it is usable. */
typedef struct {
  Dataset       *ds;
  const Tile    *t;
  PetscInt       ng, nt; /* locations of the tile plus halo, days held */
  int            fast[DATA_MAX_VARS], slow[DATA_MAX_VARS], targ[DATA_MAX_VARS], nf, ns, ntg; /* variables by role */
  int           *compact;   /* (ng) index among the usable locations; -1: unusable */
  unsigned char *absent;    /* (ng, nf + ns) 1: the input is absent at the location (driver availability) */
  double        *lon, *lat; /* (ng) */
  int           *nscg;      /* (ng) days with at least W complete days before them (days a segment can score) */
} SampleScan;

/* This rank's usable owned locations per test box and test site, and their
 * extent (min lon, -max lon, min lat, -max lat), for check_splits. */
typedef struct {
  int64_t nbox[DATA_MAX_BOXES], nsite[DATA_MAX_VARS], ncls[DATA_MAX_VARS];
  double  ext[4];
} SplitTally;

static PetscBool ghost_owned(const Tile *t, PetscInt g)
{
  PetscInt x = t->gxs + g % t->gxm, y = t->gys + g / t->gxm;
  return (PetscBool)(x >= t->xs && x < t->xs + t->xm && y >= t->ys && y < t->ys + t->ym);
}

/* Variables: fast and slow ones, and the targets when training (norm NULL);
 * class variables one-hot over their flag_values, which under prediction
 * must be the model's. Sets ss->target, norm.ncat/cat, F, S and T. */
static PetscErrorCode samples_variables(SampleScan *sc, const SampleNorm *norm, SampleSet *ss)
{
  const Dataset *ds = sc->ds;
  int            S  = 0;

  PetscFunctionBeginUser;
  for (int k = 0; k < ds->nvar; k++) {
    if (ds->var[k].role == ROLE_FAST)
      sc->fast[sc->nf++] = k;
    else if (ds->var[k].role == ROLE_SLOW)
      sc->slow[sc->ns++] = k;
    else if (!norm)
      sc->targ[sc->ntg++] = k; /* prediction does not read targets */
  }
  PetscCheck(sc->nf > 0 && (norm || sc->ntg > 0), ds->comm, RACI_ERR_DATA,
             "%s: training needs fast drivers and targets (found %d fast, %d target variables)", ds->file->path, sc->nf,
             sc->ntg);
  PetscCheck(ss->Ls % ss->P == 0, ds->comm, RACI_ERR_INPUT,
             "the slow window (%d days) must be a multiple of the number of blocks (%d)", ss->Ls, ss->P);
  for (int k = 0; k < sc->ntg; k++)
    PetscCall(PetscStrncpy(ss->target[k], ds->var[sc->targ[k]].name, sizeof ss->target[k]));
  ss->ns = sc->ns;
  for (int k = 0; k < sc->ns; k++) {
    const DataVar *v = &ds->var[sc->slow[k]];
    double         vals[DATA_MAX_CATS];
    int            n;
    PetscCall(io_att_doubles(ds->file, v->varid, "flag_values", vals, DATA_MAX_CATS, &n));
    if (norm) { /* the categories the model was trained with */
      PetscBool same = (PetscBool)(n == norm->ncat[k]);
      for (int c = 0; c < n && same; c++) same = (PetscBool)((float)vals[c] == norm->cat[k][c]);
      PetscCheck(same, ds->comm, RACI_ERR_DATA,
                 "%s: slow variable '%s' has other classes (flag_values) than the model was trained with (%d classes)",
                 ds->file->path, v->name, norm->ncat[k]);
    }
    ss->norm.ncat[k] = n;
    ss->sfpos[k]     = n ? -1 : S;
    for (int c = 0; c < n; c++) ss->norm.cat[k][c] = (float)vals[c];
    if (n) { /* the word "unknown" among flag_meanings (in flag_values order) */
      char      meanings[DATA_MAX_CATS * 48] = "", *save = NULL, *w;
      PetscBool found;
      int       c = 0;
      PetscCall(io_att_text(ds->file, v->varid, "flag_meanings", meanings, sizeof meanings, &found));
      for (w = strtok_r(meanings, " ", &save); w && c < n; w = strtok_r(NULL, " ", &save), c++)
        ss->nameless[k][c] = !strcmp(w, "unknown");
    }
    S += n ? n : 1;
  }
  ss->F = sc->nf, ss->S = S, ss->T = sc->ntg;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Driver availability (docs/DATA.md): fast input k is absent at location g
 * when g has no valid value of it over the record (ds->present) or, without
 * that scan, over the days held; a slow input when its value is missing.
 * Sets sc->absent; returns the number of fast inputs available at g. */
static int samples_absence(SampleScan *sc, PetscInt g)
{
  const Dataset *ds  = sc->ds;
  const int      nin = sc->nf + sc->ns;
  unsigned char *a   = sc->absent + (size_t)g * nin;
  int            nav = 0;

  for (int k = 0; k < sc->nf; k++) {
    PetscBool present = PETSC_FALSE;
    if (ds->present)
      present = (PetscBool)ds->present[g * sc->nf + k];
    else
      for (PetscInt d = 0; d < sc->nt && !present; d++)
        present = (PetscBool)!isnan(ds->var[sc->fast[k]].val[d * sc->ng + g]);
    a[k] = !present;
    nav += present;
  }
  for (int k = 0; k < sc->ns; k++) a[sc->nf + k] = isnan(ds->var[sc->slow[k]].val[g]);
  return nav;
}

/* Whether fast driver k, available at g, is missing there DATA_HOLE_FLAG_DAYS
 * days in a row or more on days another available driver has a value (a
 * merged network's years without it). */
static PetscBool long_hole(const SampleScan *sc, PetscInt g, int k)
{
  const Dataset       *ds  = sc->ds;
  const unsigned char *a   = sc->absent + (size_t)g * (sc->nf + sc->ns);
  int                  len = 0;

  if (a[k]) return PETSC_FALSE;
  for (PetscInt d = 0; d < sc->nt; d++) {
    PetscBool other = PETSC_FALSE;
    if (!isnan(ds->var[sc->fast[k]].val[d * sc->ng + g])) {
      len = 0;
      continue;
    }
    for (int j = 0; j < sc->nf && !other; j++)
      other = (PetscBool)(j != k && !a[j] && !isnan(ds->var[sc->fast[j]].val[d * sc->ng + g]));
    len = other ? len + 1 : 0;
    if (len >= DATA_HOLE_FLAG_DAYS) return PETSC_TRUE;
  }
  return PETSC_FALSE;
}

/* The inputs with an availability flag: the model's (norm), or, training,
 * every fast and numeric slow input absent at some location that has a fast
 * driver, and every fast driver missing DATA_HOLE_FLAG_DAYS days in a row
 * at some location (all of them with ds->flag_all). Collective when training. */
static PetscErrorCode samples_flags(SampleScan *sc, const SampleNorm *norm, SampleSet *ss, const int *nav)
{
  const Dataset *ds                     = sc->ds;
  const int      nin                    = sc->nf + sc->ns;
  int            any[2 * DATA_MAX_VARS] = {0};

  PetscFunctionBeginUser;
  if (norm) {
    ss->norm.nflag = norm->nflag;
    PetscCall(PetscArraycpy(ss->norm.flag, norm->flag, norm->nflag));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (PetscInt g = 0; g < sc->ng; g++)
    if (nav[g] > 0 && ghost_owned(sc->t, g)) {
      for (int i = 0; i < nin; i++) any[i] |= sc->absent[(size_t)g * nin + i];
      for (int k = 0; k < sc->nf; k++) any[k] |= long_hole(sc, g, k);
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, any, nin, MPI_INT, MPI_MAX, ds->comm));
  ss->norm.nflag = 0;
  for (int k = 0; k < sc->nf; k++)
    if (any[k] || ds->flag_all) ss->norm.flag[ss->norm.nflag++] = k;
  for (int k = 0; k < sc->ns; k++)
    if (!ss->norm.ncat[k] && (any[sc->nf + k] || ds->flag_all)) ss->norm.flag[ss->norm.nflag++] = DATA_MAX_VARS + k;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Input index (fast k, then slow k) of flag i. */
static inline int flag_input(const SampleSet *ss, int i)
{
  int f = ss->norm.flag[i];
  return f < DATA_MAX_VARS ? f : ss->F + (f - DATA_MAX_VARS);
}

/* Usable locations of the tile plus halo: some fast driver, every absent
 * input flagged (a class value present), and at least one day a segment can
 * score (W days in a row with every fast driver that is not absent there
 * before it). Fills the scan's coordinates, absence, compact indices and
 * scored-day counts, the flags (ss->norm.nflag, ss->S), ss->nloc,
 * ss->nunusable and ss->absent_unflagged (owned, all ranks). Collective. */
static PetscErrorCode samples_usable(SampleScan *sc, const SampleNorm *norm, SampleSet *ss)
{
  const Dataset *ds = sc->ds;
  PetscInt       ng = sc->ng, nt = sc->nt;
  const int      nin = sc->nf + sc->ns;
  int           *nav;
  unsigned char  flagged[2 * DATA_MAX_VARS] = {0};

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc4(ng, &sc->compact, ng, &sc->lon, ng, &sc->lat, ng, &sc->nscg));
  PetscCall(PetscMalloc1((size_t)ng * nin + 1, &sc->absent));
  PetscCall(PetscMalloc1(ng + 1, &nav));
  PetscCall(read_lonlat(ds, sc->lon, sc->lat));
  for (PetscInt g = 0; g < ng; g++) nav[g] = samples_absence(sc, g);
  PetscCall(samples_flags(sc, norm, ss, nav));
  ss->S += ss->norm.nflag;
  for (int i = 0; i < ss->norm.nflag; i++) flagged[flag_input(ss, i)] = 1;
  ss->nloc = 0;
  for (PetscInt g = 0; g < ng; g++) {
    const unsigned char *a   = sc->absent + (size_t)g * nin;
    PetscBool            ok  = (PetscBool)(nav[g] > 0); /* no fast driver at all: not a location (ocean) */
    int                  run = -1;                      /* days of unbroken drivers before day d */
    for (int i = 0; i < nin && ok; i++)
      if (a[i] && !flagged[i]) {
        ok = PETSC_FALSE;
        if (ghost_owned(sc->t, g) && i < sc->nf) ss->absent_unflagged[i]++; /* slow values missing: as ever */
      }
    sc->nscg[g] = 0;
    for (PetscInt d = 0; d < nt && ok; d++) {
      run = day_present(ds, sc->fast, sc->nf, ng, g, d, a, flagged) ? run + 1 : -1;
      sc->nscg[g] += run >= ss->W;
    }
    sc->compact[g] = ok && sc->nscg[g] > 0 ? ss->nloc++ : -1;
    if (sc->compact[g] < 0 && ghost_owned(sc->t, g)) ss->nunusable++;
    if (nav[g] == 0 && ghost_owned(sc->t, g)) ss->nnodata++;
  }
  PetscCall(PetscFree(nav));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ss->nunusable, 1, MPIU_INT64, MPI_SUM, ds->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ss->nnodata, 1, MPIU_INT64, MPI_SUM, ds->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, ss->absent_unflagged, sc->nf, MPIU_INT64, MPI_SUM, ds->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The per-location arrays of ss (data_samples_destroy frees them). */
static PetscErrorCode samples_alloc(const SampleScan *sc, SampleSet *ss)
{
  int      n  = ss->nloc;
  PetscInt nt = sc->nt;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc6(n + 1, &ss->ghost, n + 1, &ss->gid, n + 1, &ss->lon, n + 1, &ss->lat, n + 1, &ss->owned, n + 1,
                         &ss->split));
  PetscCall(PetscMalloc1(n + 1, &ss->lkey));
  PetscCall(PetscMalloc2((size_t)n * nt * sc->nf + 1, &ss->xn, (size_t)n * ss->S + 1, &ss->sf));
  if (sc->ntg) PetscCall(PetscMalloc1((size_t)n * nt * sc->ntg, &ss->y));
  PetscCall(PetscMalloc1((size_t)n * ss->Kf + 1, &ss->nbr));
  PetscCall(PetscMalloc2((size_t)n * nt + 1, &ss->run, n + 1, &ss->nscored));
  PetscCall(PetscMalloc1((size_t)n * (sc->nf + sc->ns) + 1, &ss->absent));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Whether location g has an observed value of some target on a day held
 * (always true without targets: prediction). */
static PetscBool has_target(const SampleScan *sc, PetscInt g)
{
  if (!sc->ntg) return PETSC_TRUE;
  for (int k = 0; k < sc->ntg; k++)
    for (PetscInt d = 0; d < sc->nt; d++)
      if (!isnan(sc->ds->var[sc->targ[k]].val[d * sc->ng + g])) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* Site files: the validation sites are a share (-split_val_frac) of the
 * usable sites outside the test set that have an observed target, those of
 * the smallest draws, at least 3 when there are 10 or more such sites and at
 * least 1 otherwise (one always trains), the same on every rank; then, for
 * each target that some sites lack (per-target masks, several networks),
 * sites holding it are added in the same order until its share (at least 3
 * of 10 or more, 1 of 2 or more) validates too, so early stopping and an
 * ensemble's residual spread see every target. A Bernoulli draw per site can
 * leave a dozen towers without validation. */
static PetscErrorCode site_validation(const SampleScan *sc, const SplitOptions *so, SampleSet *ss)
{
  const PetscInt n = sc->ds->tile.nx;
  const int      T = sc->ntg;
  int           *cand, *tmask, *chosen;
  FoldItem      *it;
  PetscInt       nrest = 0, nval;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc3(n, &cand, (size_t)n * T + 1, &tmask, n, &chosen));
  PetscCall(PetscMalloc1(n + 1, &it));
  for (int c = 0; c < ss->nloc; c++) {
    if (!ss->owned[c] || (ss->split[c] != SPLIT_TRAIN && ss->split[c] != SPLIT_VAL)) continue;
    cand[ss->gid[c]] = 1;
    for (int k = 0; k < T; k++)
      for (PetscInt d = 0; d < sc->nt && !tmask[ss->gid[c] * T + k]; d++)
        tmask[ss->gid[c] * T + k] = !isnan(sc->ds->var[sc->targ[k]].val[d * sc->ng + ss->ghost[c]]);
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, cand, (PetscMPIInt)n, MPI_INT, MPI_MAX, sc->ds->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, tmask, (PetscMPIInt)(n * T), MPI_INT, MPI_MAX, sc->ds->comm));
  for (PetscInt i = 0; i < n; i++)
    if (cand[i])
      it[nrest++] =
          (FoldItem){0, core_rng_uniform((uint64_t)so->seed, (uint64_t)i, 0, (uint64_t)CORE_RNG_VALIDATION), i};
  nval = (PetscInt)floor(so->val_frac * (double)nrest + 0.5);
  nval = PetscMax(nval, nrest >= 10 ? 3 : 1);
  nval = PetscMin(nval, nrest - 1);
  qsort(it, (size_t)nrest, sizeof *it, fold_cmp);
  for (PetscInt j = 0; j < nval; j++) chosen[it[j].gid] = 1;
  for (int k = 0; k < T; k++) { /* every target its share */
    PetscInt have = 0, pool = 0, want;
    for (PetscInt j = 0; j < nrest; j++)
      pool += tmask[it[j].gid * T + k], have += chosen[it[j].gid] && tmask[it[j].gid * T + k];
    if (pool < 2) continue;
    want = PetscMin(PetscMax((PetscInt)floor(so->val_frac * (double)pool + 0.5), pool >= 10 ? 3 : 1), pool - 1);
    for (PetscInt j = 0; j < nrest && have < want; j++)
      if (!chosen[it[j].gid] && tmask[it[j].gid * T + k]) chosen[it[j].gid] = 1, have++;
  }
  for (int c = 0; c < ss->nloc; c++)
    if (ss->split[c] == SPLIT_TRAIN || ss->split[c] == SPLIT_VAL)
      ss->split[c] = chosen[ss->gid[c]] ? SPLIT_VAL : SPLIT_TRAIN;
  PetscCall(PetscFree3(cand, tmask, chosen));
  PetscCall(PetscFree(it));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Split: each usable location's place (ghost index, global id, key,
 * coordinates, owner) and split, from the test boxes and sites, the folds
 * or the validation draw; counts per split and the tally of the owned ones. */
static PetscErrorCode samples_split(const SampleScan *sc, const SplitOptions *so, SampleSet *ss, SplitTally *tally)
{
  const Tile *t        = sc->t;
  char       *site_ids = NULL; /* (ng, site_len) site ids of the tile, NUL-terminated */
  size_t      site_len = 0;
  int        *fold;

  float *strata;

  PetscFunctionBeginUser;
  PetscCall(read_site_ids(sc->ds, &site_ids, &site_len));
  PetscCall(fold_table(sc->ds, so, &fold));
  PetscCall(test_class_values(sc->ds, so, &strata));
  for (PetscInt g = 0; g < sc->ng; g++) {
    int         c = sc->compact[g];
    PetscInt    x = t->gxs + g % t->gxm, y = t->gys + g / t->gxm;
    double      lon = sc->lon[g], lat = sc->lat[g];
    const char *site = site_ids ? site_ids + g * site_len : NULL;
    if (c < 0) continue;
    ss->ghost[c] = (int)g;
    ss->gid[c]   = (int64_t)y * t->nx + x;
    ss->lkey[c]  = data_location_key(lon, lat, site, ss->gid[c]);
    ss->lon[c]   = lon;
    ss->lat[c]   = lat;
    ss->owned[c] = ghost_owned(t, g);
    ss->split[c] = (unsigned char)split_of(so, fold, lon, lat, ss->gid[c], site, strata ? strata[g] : NAN);
    if ((ss->split[c] == SPLIT_TRAIN || ss->split[c] == SPLIT_VAL) && !has_target(sc, g)) {
      ss->split[c] = SPLIT_NONE; /* nothing to learn from or to validate on: not in training, validation or the bank */
      ss->nnotarget += ss->owned[c];
    }
    if (!ss->owned[c]) continue;
    for (int b = 0; b < so->nbox; b++) {
      const PetscReal *box = so->box + 4 * b;
      tally->nbox[b] += lon >= box[0] && lon <= box[1] && lat >= box[2] && lat <= box[3];
    }
    for (int i = 0; i < so->nsites && site; i++) tally->nsite[i] += !strcmp(site, so->sites[i]);
    for (int i = 0; i < so->ncls; i++) tally->ncls[i] += strata[g] == (float)so->cls[i];
    tally->ext[0] = PetscMin(tally->ext[0], lon), tally->ext[1] = PetscMin(tally->ext[1], -lon);
    tally->ext[2] = PetscMin(tally->ext[2], lat), tally->ext[3] = PetscMin(tally->ext[3], -lat);
  }
  PetscCall(PetscFree(site_ids));
  PetscCall(PetscFree(fold));
  PetscCall(PetscFree(strata));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ss->nnotarget, 1, MPIU_INT64, MPI_SUM, sc->ds->comm));
  if (sc->ds->layout == LAYOUT_SITE && so->val_frac > 0 && sc->ntg) PetscCall(site_validation(sc, so, ss));
  for (int c = 0; c < ss->nloc; c++)
    if (ss->owned[c]) ss->count[ss->split[c]]++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Runs: for every usable location and day held, the days of unbroken
 * drivers before it (0 on the first day held and after a gap, -1 on a day
 * missing a driver), and the number of days with run >= W. */
static void samples_runs(const SampleScan *sc, SampleSet *ss)
{
  const Dataset *ds = sc->ds;
  PetscInt       ng = sc->ng, nt = sc->nt;
  unsigned char  flagged[2 * DATA_MAX_VARS] = {0};

  for (int i = 0; i < ss->norm.nflag; i++) flagged[flag_input(ss, i)] = 1;
  for (PetscInt g = 0; g < ng; g++) {
    int      c = sc->compact[g], run = -1;
    int32_t *r;
    if (c < 0) continue;
    r = ss->run + (size_t)c * nt;
    for (PetscInt d = 0; d < nt; d++) {
      run  = day_present(ds, sc->fast, sc->nf, ng, g, d, sc->absent + (size_t)g * (sc->nf + sc->ns), flagged) ? run + 1
                                                                                                              : -1;
      r[d] = run;
    }
    ss->nscored[c] = sc->nscg[g];
    memcpy(ss->absent + (size_t)c * (sc->nf + sc->ns), sc->absent + (size_t)g * (sc->nf + sc->ns), sc->nf + sc->ns);
  }
}

/* Locations per split over every rank; when training, every test box, test
 * site and validation fraction must select some location (check_splits) and
 * some location must be left to train on. Collective. */
static PetscErrorCode samples_check_splits(const SampleScan *sc, const SplitOptions *so, const SampleNorm *norm,
                                           SampleSet *ss, SplitTally *tally)
{
  const Dataset *ds = sc->ds;

  PetscFunctionBeginUser;
  for (int k = 0; k < 4; k++) ss->nglobal[k] = ss->count[k];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, ss->nglobal, 4, MPIU_INT64, MPI_SUM, ds->comm));
  if (!norm) PetscCall(check_splits(ds, so, ss, tally->nbox, tally->nsite, tally->ncls, tally->ext));
  PetscCheck(norm || ss->nglobal[SPLIT_TRAIN] > 0, ds->comm, RACI_ERR_DATA,
             "%s: no usable training location (every usable location is in a test box, test site or the validation "
             "draw)",
             ds->file->path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void moments_add(double *a, double v) { a[0] += v, a[1] += v * v, a[2] += 1; }

/* ss->unknown: usable owned locations, all ranks, whose class no training
 * location has. Collective. */
static PetscErrorCode samples_unknown_classes(const SampleScan *sc, SampleSet *ss)
{
  const Dataset *ds = sc->ds;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(ss->unknown, sizeof ss->unknown));
  for (int c = 0; c < ss->nloc; c++) {
    if (!ss->owned[c]) continue;
    for (int k = 0; k < sc->ns; k++)
      for (int j = 0; j < ss->norm.ncat[k]; j++)
        ss->unknown[k][j] += !ss->norm.seen[k][j] && ds->var[sc->slow[k]].val[ss->ghost[c]] == ss->norm.cat[k][j];
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, ss->unknown, DATA_MAX_VARS * DATA_MAX_CATS, MPI_INT64_T, MPI_SUM, ds->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_report_unknown_classes(const SampleSet *ss, const char *cmd)
{
  const Dataset *ds = ss->ds;

  PetscFunctionBeginUser;
  for (int v = 0, k = 0; v < ds->nvar; v++) {
    if (ds->var[v].role != ROLE_SLOW) continue;
    for (int j = 0; j < ss->norm.ncat[k]; j++)
      if (ss->unknown[k][j]) {
        char msg[2 * NC_MAX_NAME + PETSC_MAX_PATH_LEN + 256]; /* snprintf: PETSc's %g prints "5." */
        if (ss->nameless[k][j])
          snprintf(msg, sizeof msg,
                   "raci %s: warning: %lld usable locations of %s have %s = %g, the class 'unknown' (none in the "
                   "input): their %s input is 0\n",
                   cmd, (long long)ss->unknown[k][j], ds->file->path, ds->var[v].name, (double)ss->norm.cat[k][j],
                   ds->var[v].name);
        else
          snprintf(msg, sizeof msg,
                   "raci %s: warning: %lld usable locations of %s have %s = %g, a class no training location has: "
                   "their %s input is 0 (unknown class)\n",
                   cmd, (long long)ss->unknown[k][j], ds->file->path, ds->var[v].name, (double)ss->norm.cat[k][j],
                   ds->var[v].name);
        PetscCall(PetscPrintf(ds->comm, "%s", msg));
      }
    k++;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_report_availability(const SampleSet *ss, const char *cmd, PetscBool quiet)
{
  const Dataset *ds                           = ss->ds;
  const int      nin                          = ss->F + ss->ns;
  int64_t        n[2 * 2 * DATA_MAX_VARS + 1] = {0}; /* per flag: usable locations lacking it, training ones; usable */
  char           msg[2 * NC_MAX_NAME + PETSC_MAX_PATH_LEN + 320], line[1024] = "";
  const int      nf = ss->norm.nflag;

  PetscFunctionBeginUser;
  if (!nf) goto unflagged;
  for (int c = 0; c < ss->nloc; c++) {
    if (!ss->owned[c]) continue;
    n[2 * nf]++;
    for (int i = 0; i < nf; i++)
      if (ss->absent[(size_t)c * nin + flag_input(ss, i)]) n[2 * i]++, n[2 * i + 1] += ss->split[c] == SPLIT_TRAIN;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, n, 2 * nf + 1, MPIU_INT64, MPI_SUM, ds->comm));
  /* one line: the flagged inputs, and where any is absent */
  for (int i = 0; i < nf; i++) {
    PetscCall(PetscStrlcat(line, i ? ", " : "", sizeof line));
    PetscCall(PetscStrlcat(line, ds->var[flag_input(ss, i)].name, sizeof line)); /* ds->var: fast, then slow */
    if (n[2 * i]) {
      snprintf(msg, sizeof msg, " (absent at %lld)", (long long)n[2 * i]);
      PetscCall(PetscStrlcat(line, msg, sizeof line));
    } else if (!ds->flag_all && flag_input(ss, i) < ss->F)
      PetscCall(PetscStrlcat(line, " (missing for long stretches)", sizeof line));
  }
  if (!quiet) { /* prediction sees the locations of its first time chunk here */
    snprintf(msg, sizeof msg,
             "raci %s: availability flags (an absent input enters as 0 with its flag set), over %lld usable "
             "locations%s: %s\n",
             cmd, (long long)n[2 * nf], strcmp(cmd, "train") ? " of the first time chunk" : "", line);
    PetscCall(PetscPrintf(ds->comm, "%s", msg));
  }
  for (int i = 0; i < nf; i++)
    if (!strcmp(cmd, "train") && !ds->flag_all && n[2 * i] > 0 && n[2 * i + 1] == 0) {
      snprintf(msg, sizeof msg,
               "raci train: warning: %s is absent only at validation or test locations: its availability flag is never "
               "set in training (-train_input_dropout trains it)\n",
               ds->var[flag_input(ss, i)].name);
      PetscCall(PetscPrintf(ds->comm, "%s", msg));
    }
unflagged:
  for (int k = 0; k < ss->F; k++)
    if (ss->absent_unflagged[k]) {
      snprintf(
          msg, sizeof msg,
          "raci %s: warning: %lld locations of %s have no %s at all, and the model has no availability flag for it: "
          "they are left out (train with -train_input_dropout, or on data where %s is absent somewhere)\n",
          cmd, (long long)ss->absent_unflagged[k], ds->file->path, ds->var[k].name, ds->var[k].name);
      PetscCall(PetscPrintf(ds->comm, "%s", msg));
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_report_neighbours(const SampleSet *ss, const char *cmd)
{
  const Dataset *ds   = ss->ds;
  int64_t        n[3] = {0, 0, 0}; /* sites, sites with a neighbour, neighbours */
  char           msg[256];

  PetscFunctionBeginUser;
  if (ds->layout != LAYOUT_SITE) PetscFunctionReturn(PETSC_SUCCESS);
  for (int c = 0; c < ss->nloc; c++) {
    int k = 0;
    if (!ss->owned[c]) continue;
    while (k < ss->Kf && ss->nbr[(size_t)c * ss->Kf + k] >= 0) k++;
    n[0]++, n[1] += k > 0, n[2] += k;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, n, 3, MPIU_INT64, MPI_SUM, ds->comm));
  snprintf(msg, sizeof msg,
           "raci %s: geographic neighbours: %lld of %lld usable sites have other sites within %g km (%.1f on "
           "average, at most %d)\n",
           cmd, (long long)n[1], (long long)n[0], ds->site_radius_km, n[1] ? (double)n[2] / (double)n[1] : 0.0, ss->Kf);
  PetscCall(PetscPrintf(ds->comm, "%s", msg));
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  double share;
  char   id[32];
} LostShare;

static int lost_cmp(const void *a, const void *b)
{
  const LostShare *x = a, *y = b;
  return x->share < y->share ? 1 : x->share > y->share ? -1 : strcmp(x->id, y->id);
}

PetscErrorCode data_day_tally_create(const Dataset *ds, DayTally *dt)
{
  PetscFunctionBeginUser;
  dt->ng = (size_t)grid_ghost_count(&ds->tile);
  PetscCall(PetscCalloc1(4 * dt->ng + 1, &dt->n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_day_tally_destroy(DayTally *dt)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(dt->n));
  dt->ng = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

void data_day_tally_add(const SampleSet *ss, PetscInt d0, PetscInt d1, DayTally *dt)
{
  const int nt = (int)ss->nt;
  const int a0 = (int)PetscMax(d0 - ss->t0, 0), e0 = (int)PetscMin(d1 - ss->t0, nt);

  for (int c = 0; c < ss->nloc; c++) {
    const int32_t *r = ss->run + (size_t)c * nt;
    int64_t       *n = dt->n + 4 * (size_t)ss->ghost[c];
    if (!ss->owned[c]) continue;
    for (int d = a0; d < e0; d++) {
      if (r[d] < 0) { /* a gap if some driver has a value that day; outside the record if none has */
        const float         *x   = ss->xn + ((size_t)c * nt + d) * ss->F;
        const unsigned char *ab  = ss->absent + (size_t)c * (ss->F + ss->ns);
        PetscBool            any = PETSC_FALSE;
        for (int k = 0; k < ss->F && !any; k++) any = (PetscBool)(!ab[k] && !isnan(x[k]));
        if (!any) continue;
      }
      n[0]++, n[1] += r[d] < 0, n[2] += r[d] >= 0 && r[d] < ss->W, n[3] += r[d] >= ss->W;
    }
  }
}

void data_day_tally_output(const Dataset *ds, PetscInt d0, PetscInt d1, const float *y, DayTally *dt)
{
  const Tile *t  = &ds->tile;
  PetscInt    ng = grid_ghost_count(t);
  int         fast[DATA_MAX_VARS], nf = 0;

  for (int k = 0; k < ds->nvar; k++)
    if (ds->var[k].role == ROLE_FAST) fast[nf++] = k;
  for (PetscInt yy = t->ys; yy < t->ys + t->ym; yy++)
    for (PetscInt x = t->xs; x < t->xs + t->xm; x++) {
      PetscInt      g = data_ghost_index(t, x, yy);
      int64_t      *n = dt->n + 4 * (size_t)g;
      unsigned char avail[DATA_MAX_VARS];
      for (int k = 0; k < nf; k++) { /* available at g: over the record when scanned, else over the days held */
        avail[k] = ds->present ? ds->present[g * nf + k] : 0;
        for (PetscInt d = 0; !ds->present && d < ds->ntr && !avail[k]; d++)
          avail[k] = !isnan(ds->var[fast[k]].val[d * ng + g]);
      }
      for (PetscInt d = d0; d < d1; d++) {
        PetscInt  i   = d - ds->t0;
        PetscBool any = PETSC_FALSE, gap = PETSC_FALSE;
        for (int k = 0; k < nf; k++) {
          PetscBool v = (PetscBool)!isnan(ds->var[fast[k]].val[i * ng + g]);
          any         = (PetscBool)(any || v);
          gap         = (PetscBool)(gap || (avail[k] && !v));
        }
        if (!any) continue; /* outside the record */
        n[0]++;
        if (!isnan(y[(d - d0) * ng + g]))
          n[3]++;
        else if (gap)
          n[1]++;
        else
          n[2]++;
      }
    }
}

PetscErrorCode data_day_tally_report(const Dataset *ds, const DayTally *dt, int W, const char *cmd)
{
  const PetscBool pred = (PetscBool)!strcmp(cmd, "predict");
  const Tile     *t    = &ds->tile;
  int64_t         n[4] = {0, 0, 0, 0}; /* with drivers, gap, warm-up, scored */
  LostShare       top[3], *all = NULL;
  char           *ids   = NULL, msg[512];
  size_t          idlen = 0;
  PetscMPIInt     size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(ds->comm, &size));
  for (int k = 0; k < 3; k++) top[k].share = -1, top[k].id[0] = '\0';
  if (ds->layout == LAYOUT_SITE) PetscCall(read_site_ids(ds, &ids, &idlen));
  for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
    for (PetscInt x = t->xs; x < t->xs + t->xm; x++) {
      PetscInt       g = data_ghost_index(t, x, y);
      const int64_t *c = dt->n + 4 * (size_t)g;
      for (int k = 0; k < 4; k++) n[k] += c[k];
      if (ids && c[0] > 0) { /* this rank's three sites that lose the largest share */
        LostShare s = {(double)(c[1] + c[2]) / (double)c[0], ""};
        snprintf(s.id, sizeof s.id, "%s", ids + (size_t)g * idlen);
        for (int k = 0; k < 3; k++)
          if (lost_cmp(&s, &top[k]) < 0) {
            for (int j = 2; j > k; j--) top[j] = top[j - 1];
            top[k] = s;
            break;
          }
      }
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, n, 4, MPIU_INT64, MPI_SUM, ds->comm));
  snprintf(msg, sizeof msg,
           "raci %s: %lld location-days with drivers: %lld %s, %lld lost to driver gaps (a driver missing on "
           "a day others have), %lld to warm-up (%d days after a record's start or a gap)%s\n",
           cmd, (long long)n[0], (long long)n[3], pred ? "predicted" : "scored", (long long)n[1], (long long)n[2], W,
           pred ? " or at locations the model cannot use (a slow input missing, or a driver absent that it has no "
                  "flag for)"
                : "");
  PetscCall(PetscPrintf(ds->comm, "%s", msg));
  if (ids) { /* the three of all ranks */
    char line[256] = "";
    PetscCall(PetscMalloc1(3 * (size_t)size, &all));
    PetscCallMPI(
        MPI_Allgather(top, (PetscMPIInt)sizeof top, MPI_BYTE, all, (PetscMPIInt)sizeof top, MPI_BYTE, ds->comm));
    qsort(all, 3 * (size_t)size, sizeof *all, lost_cmp);
    for (int k = 0; k < 3 && all[k].share > 0; k++)
      snprintf(line + strlen(line), sizeof line - strlen(line), "%s %s %.0f %%", k ? "," : "", all[k].id,
               100 * all[k].share);
    if (line[0]) {
      snprintf(msg, sizeof msg, "raci %s: the sites losing the largest share of their record:%s\n", cmd, line);
      PetscCall(PetscPrintf(ds->comm, "%s", msg));
    }
    PetscCall(PetscFree(all));
  }
  PetscCall(PetscFree(ids));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_report_days(const SampleSet *ss, const char *cmd)
{
  DayTally dt;

  PetscFunctionBeginUser;
  PetscCall(data_day_tally_create(ss->ds, &dt));
  data_day_tally_add(ss, ss->t0, ss->t0 + ss->nt, &dt);
  PetscCall(data_day_tally_report(ss->ds, &dt, ss->W, cmd));
  PetscCall(data_day_tally_destroy(&dt));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Normalisation: the model's (norm given), or means and standard deviations
 * over the owned training locations, reduced over ranks (a constant
 * variable is only centred). Collective when training. */
static PetscErrorCode samples_normalisation(const SampleScan *sc, const SampleNorm *norm, SampleSet *ss)
{
  const Dataset *ds = sc->ds;
  PetscInt       ng = sc->ng, nt = sc->nt;
  double         acc[3 * DATA_MAX_VARS * 3] = {0}; /* fast, slow, target: sum, sum of squares, count */

  PetscFunctionBeginUser;
  if (norm) {
    PetscCall(PetscArraycpy(ss->norm.fmean, norm->fmean, DATA_MAX_VARS));
    PetscCall(PetscArraycpy(ss->norm.fstd, norm->fstd, DATA_MAX_VARS));
    PetscCall(PetscArraycpy(ss->norm.smean, norm->smean, DATA_MAX_VARS));
    PetscCall(PetscArraycpy(ss->norm.sstd, norm->sstd, DATA_MAX_VARS));
    PetscCall(PetscMemcpy(ss->norm.seen, norm->seen, sizeof ss->norm.seen));
    PetscCall(samples_unknown_classes(sc, ss));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (int c = 0; c < ss->nloc; c++) {
    int g = ss->ghost[c];
    if (!ss->owned[c] || ss->split[c] != SPLIT_TRAIN) continue;
    for (int k = 0; k < sc->nf; k++)
      for (PetscInt d = 0; d < nt; d++) {
        double v = ds->var[sc->fast[k]].val[d * ng + g];
        if (!isnan(v)) moments_add(acc + 3 * k, v); /* NaN: outside a tower's record */
      }
    for (int k = 0; k < sc->ns; k++) {
      double v = ds->var[sc->slow[k]].val[g];
      if (!isnan(v)) moments_add(acc + 3 * (DATA_MAX_VARS + k), v); /* NaN: absent there */
    }
    for (int k = 0; k < sc->ntg; k++)
      for (PetscInt d = 0; d < nt; d++) {
        double v = ds->var[sc->targ[k]].val[d * ng + g];
        if (!isnan(v)) moments_add(acc + 3 * (2 * DATA_MAX_VARS + k), v);
      }
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, acc, 9 * DATA_MAX_VARS, MPI_DOUBLE, MPI_SUM, ds->comm));
  for (int r = 0; r < 3; r++)
    for (int k = 0; k < (r == 0 ? sc->nf : r == 1 ? sc->ns : sc->ntg); k++) {
      double *a = acc + 3 * (r * DATA_MAX_VARS + k), n = a[2], mean = n > 0 ? a[0] / n : 0;
      double  var = n > 1 ? fmax(a[1] / n - mean * mean, 0) : 0;
      float   sd  = var > 1e-12 ? (float)sqrt(var) : 1.0f;
      if (r == 0)
        ss->norm.fmean[k] = (float)mean, ss->norm.fstd[k] = sd;
      else if (r == 1)
        ss->norm.smean[k] = (float)mean, ss->norm.sstd[k] = sd;
      else {
        PetscCheck(n > 0, ds->comm, RACI_ERR_DATA, "%s: target '%s' has no observed value at the training locations",
                   ds->file->path, ss->target[k]);
        ss->norm.tmean[k] = (float)mean, ss->norm.tstd[k] = sd;
      }
    }
  { /* classes that occur at some training location */
    double n[DATA_MAX_VARS * DATA_MAX_CATS] = {0};
    for (int c = 0; c < ss->nloc; c++) {
      if (!ss->owned[c] || ss->split[c] != SPLIT_TRAIN) continue;
      for (int k = 0; k < sc->ns; k++)
        for (int j = 0; j < ss->norm.ncat[k]; j++)
          n[k * DATA_MAX_CATS + j] += ds->var[sc->slow[k]].val[ss->ghost[c]] == ss->norm.cat[k][j];
    }
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, n, DATA_MAX_VARS * DATA_MAX_CATS, MPI_DOUBLE, MPI_SUM, ds->comm));
    for (int k = 0; k < DATA_MAX_VARS; k++)
      for (int j = 0; j < DATA_MAX_CATS; j++)
        ss->norm.seen[k][j] = k < sc->ns && n[k * DATA_MAX_CATS + j] > 0 && !ss->nameless[k][j];
  }
  PetscCall(samples_unknown_classes(sc, ss));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Features of every usable location: normalised fast drivers (nt, F),
 * static features (S: one-hot classes, normalised values) and the targets
 * in physical units. */
static void samples_features(const SampleScan *sc, SampleSet *ss)
{
  const Dataset *ds = sc->ds;
  PetscInt       ng = sc->ng, nt = sc->nt;
  int            nf = sc->nf, ntg = sc->ntg;

  for (int c = 0; c < ss->nloc; c++) {
    int                  g = ss->ghost[c], o = 0;
    float               *xn = ss->xn + (size_t)c * nt * nf, *sf = ss->sf + (size_t)c * ss->S;
    const unsigned char *a = ss->absent + (size_t)c * (nf + sc->ns);
    for (PetscInt d = 0; d < nt; d++) /* an absent driver enters as 0 (its training mean) */
      for (int k = 0; k < nf; k++)
        xn[d * nf + k] = a[k] ? 0.0f : (ds->var[sc->fast[k]].val[d * ng + g] - ss->norm.fmean[k]) / ss->norm.fstd[k];
    for (int k = 0; k < sc->ns; k++) {
      float v = ds->var[sc->slow[k]].val[g];
      if (ss->norm.ncat[k]) {
        for (int j = 0; j < ss->norm.ncat[k]; j++) /* a class no training location has: no class ("unknown") */
          sf[o + j] = v == ss->norm.cat[k][j] && ss->norm.seen[k][j] ? 1.0f : 0.0f;
        o += ss->norm.ncat[k];
      } else
        sf[o++] = a[nf + k] ? 0.0f : (v - ss->norm.smean[k]) / ss->norm.sstd[k];
    }
    for (int i = 0; i < ss->norm.nflag; i++) sf[o++] = a[flag_input(ss, i)] ? 1.0f : 0.0f;
    for (PetscInt d = 0; d < nt; d++)
      for (int k = 0; k < ntg; k++) ss->y[((size_t)c * nt + d) * ntg + k] = ds->var[sc->targ[k]].val[d * ng + g];
  }
}

/* Great-circle distance in km (haversine, Earth radius 6371 km). */
static double distance_km(double lon1, double lat1, double lon2, double lat2)
{
  const double r = M_PI / 180, a = sin((lat2 - lat1) * r / 2), b = sin((lon2 - lon1) * r / 2);
  double       h = a * a + cos(lat1 * r) * cos(lat2 * r) * b * b;
  return 2 * 6371.0 * asin(sqrt(fmin(1.0, h)));
}

/* Keeps the cap nearest candidates in cand/dist, sorted by distance, then
 * location key (not the file's order): candidate j at distance d. */
static void nearest_insert(const SampleSet *ss, int *cand, double *dist, int *n, int cap, int j, double d)
{
  int p;
  if (*n == cap && (d > dist[*n - 1] || (d == dist[*n - 1] && ss->lkey[j] > ss->lkey[cand[*n - 1]]))) return;
  p = *n < cap ? (*n)++ : *n - 1;
  while (p > 0 && (dist[p - 1] > d || (dist[p - 1] == d && ss->lkey[cand[p - 1]] > ss->lkey[j]))) {
    dist[p] = dist[p - 1];
    cand[p] = cand[p - 1];
    p--;
  }
  dist[p] = d;
  cand[p] = j;
}

/* Site files: the Kf nearest usable sites within ds->site_radius_km of each
 * owned site (every rank holds every site). */
static void site_neighbours(const SampleScan *sc, SampleSet *ss)
{
  const int Kf = ss->Kf, K = Kf < 64 ? Kf : 64;
  double    r = sc->ds->site_radius_km;

  for (int c = 0; c < ss->nloc; c++) {
    int32_t *nb = ss->nbr + (size_t)c * Kf;
    int      n  = 0, cand[64];
    double   dist[64];
    for (int k = 0; k < Kf; k++) nb[k] = -1;
    if (!ss->owned[c] || r <= 0) continue;
    for (int j = 0; j < ss->nloc; j++) {
      double d = j == c ? INFINITY : distance_km(ss->lon[c], ss->lat[c], ss->lon[j], ss->lat[j]);
      if (d <= r) nearest_insert(ss, cand, dist, &n, K, j, d);
    }
    for (int k = 0; k < n; k++) nb[k] = cand[k];
  }
}

/* Neighbours: the Kf nearest usable grid cells of each owned location within
 * the halo window, by distance, then location key; -1 where there are
 * fewer. Sites: site_neighbours. */
static void samples_neighbours(const SampleScan *sc, SampleSet *ss)
{
  const Tile *t  = sc->t;
  const int   Kf = ss->Kf, K = Kf < 64 ? Kf : 64;

  if (sc->ds->layout == LAYOUT_SITE) {
    site_neighbours(sc, ss);
    return;
  }
  for (int c = 0; c < ss->nloc; c++) {
    int32_t *nb = ss->nbr + (size_t)c * Kf;
    int      g = ss->ghost[c], gx = g % (int)t->gxm, gy = g / (int)t->gxm, w = (int)t->halo, n = 0;
    int      cand[64];
    double   dist[64];
    for (int k = 0; k < Kf; k++) nb[k] = -1;
    if (!ss->owned[c]) continue;
    for (int dy = -w; dy <= w; dy++)
      for (int dx = -w; dx <= w; dx++) {
        int x = gx + dx, y = gy + dy, cc;
        if ((!dx && !dy) || x < 0 || y < 0 || x >= t->gxm || y >= t->gym) continue;
        if ((cc = sc->compact[y * t->gxm + x]) >= 0) nearest_insert(ss, cand, dist, &n, K, cc, dx * dx + dy * dy);
      }
    for (int k = 0; k < n; k++) nb[k] = cand[k];
  }
}

PetscErrorCode data_samples_create(Dataset *ds, const SplitOptions *so, int W, int Sc, int Ls, int P, int Kf,
                                   const SampleNorm *norm, SampleSet **out)
{
  SampleScan sc    = {.ds = ds, .t = &ds->tile, .ng = grid_ghost_count(&ds->tile), .nt = ds->ntr};
  SplitTally tally = {.ext = {INFINITY, INFINITY, INFINITY, INFINITY}};
  SampleSet *ss;

  PetscFunctionBeginUser;
  PetscCheck(norm || (ds->t0 == 0 && ds->ntr == ds->nt), ds->comm, PETSC_ERR_ARG_WRONGSTATE,
             "training samples need the whole record read");
  PetscCall(PetscNew(&ss));
  PetscCheck(W >= 1 && Sc >= 1, ds->comm, PETSC_ERR_ARG_OUTOFRANGE, "segments need W >= 1 and Sc >= 1 (%d, %d)", W, Sc);
  ss->ds = ds, ss->W = W, ss->Sc = Sc, ss->Ls = Ls, ss->P = P, ss->Kf = Kf, ss->t0 = ds->t0, ss->nt = sc.nt;
  PetscCall(samples_variables(&sc, norm, ss));
  PetscCall(samples_usable(&sc, norm, ss));
  PetscCall(samples_alloc(&sc, ss));
  PetscCall(samples_split(&sc, so, ss, &tally));
  samples_runs(&sc, ss);
  PetscCall(samples_check_splits(&sc, so, norm, ss, &tally));
  PetscCall(samples_normalisation(&sc, norm, ss));
  samples_features(&sc, ss);
  samples_neighbours(&sc, ss);
  PetscCall(PetscFree4(sc.compact, sc.lon, sc.lat, sc.nscg));
  PetscCall(PetscFree(sc.absent));
  *out = ss;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_samples_destroy(SampleSet **pss)
{
  SampleSet *ss = *pss;

  PetscFunctionBeginUser;
  if (!ss) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree6(ss->ghost, ss->gid, ss->lon, ss->lat, ss->owned, ss->split));
  PetscCall(PetscFree(ss->lkey));
  PetscCall(PetscFree2(ss->xn, ss->sf));
  PetscCall(PetscFree(ss->y));
  PetscCall(PetscFree(ss->nbr));
  PetscCall(PetscFree2(ss->run, ss->nscored));
  PetscCall(PetscFree(ss->absent));
  PetscCall(PetscFree(ss));
  *pss = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Slow blocks: block k covers the record's days k Lb .. (k+1) Lb - 1, counted
 * from the record's first day (ds time step 0), whatever days are held. */
static inline int block_of(const SampleSet *ss, int d, int Lb) { return (int)((ss->t0 + d) / Lb); }

PetscErrorCode data_batch_create(const SampleSet *ss, int maxb, int Tg, SampleBatch *b)
{
  int    maxr = maxb * (ss->Kf + 1), T = ss->W + ss->Sc, NB = (ss->Sc - 1) / (ss->Ls / ss->P) + 2;
  size_t nslot = (size_t)maxb * NB;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(b, sizeof *b));
  b->maxb = maxb, b->maxr = maxr, b->T = T, b->NB = NB, b->Tg = Tg ? Tg : ss->T;
  PetscCheck(!ss->y || b->Tg == ss->T, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "batch of %d targets for samples with %d",
             b->Tg, ss->T);
  PetscCall(PetscMalloc6(maxr, &b->rloc, maxr, &b->rday, (size_t)T * maxr * ss->F + 1, &b->xf,
                         (size_t)ss->P * nslot * ss->F + 1, &b->xb, (size_t)maxr * ss->S + 1, &b->s,
                         (size_t)ss->Sc * maxb * b->Tg + 1, &b->y));
  PetscCall(PetscMalloc5((size_t)T * maxr, &b->age, (size_t)maxb * ss->Sc, &b->blk, (size_t)maxb * ss->Kf + 1, &b->nb,
                         nslot * ss->P, &b->eb, maxb, &b->lkey));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_batch_destroy(SampleBatch *b)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree6(b->rloc, b->rday, b->xf, b->xb, b->s, b->y));
  PetscCall(PetscFree5(b->age, b->blk, b->nb, b->eb, b->lkey));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rows by (location, first day): an open-addressing table of row indices
 * (-1 empty), nh a power of two above twice the rows. */
static uint32_t row_hash(int loc, int day, uint32_t mask)
{
  uint64_t h = ((uint64_t)(uint32_t)loc << 32 | (uint32_t)day) * 0x9e3779b97f4a7c15ULL;
  return (uint32_t)(h >> 32) & mask;
}

/* Row of (loc, day): an existing one, or a new one at the end. */
static int row_of(SampleBatch *b, int *tab, uint32_t mask, int loc, int day)
{
  uint32_t h = row_hash(loc, day, mask);
  for (; tab[h] >= 0; h = (h + 1) & mask)
    if (b->rloc[tab[h]] == loc && b->rday[tab[h]] == day) return tab[h];
  b->rloc[b->R] = loc;
  b->rday[b->R] = day;
  return tab[h] = b->R++;
}

/* The summary of block k of location c: the mean of its normalised drivers
 * over the block's held days that can be read (run >= 0), summed day by day
 * in order (not from prefix sums, so the value does not depend on which days
 * are held), each driver over the days it has (a flagged driver may miss
 * some); 0 where there is none. xb (F); returns the days read. */
static int block_summary(const SampleSet *ss, int c, int k, int Lb, float *xb)
{
  const int      F = ss->F, nt = (int)ss->nt;
  const float   *xn  = ss->xn + (size_t)c * nt * F;
  const int32_t *run = ss->run + (size_t)c * nt;
  PetscInt       a = (PetscInt)k * Lb - ss->t0, e = a + Lb; /* [a, e) relative to the days held */
  int            n = 0, nf[DATA_MAX_VARS] = {0};

  for (int f = 0; f < F; f++) xb[f] = 0.0f;
  if (k < 0) return 0;
  a = PetscMax(a, 0), e = PetscMin(e, nt);
  for (PetscInt d = a; d < e; d++) {
    if (run[d] < 0) continue; /* a driver is missing (outside a tower's record) */
    for (int f = 0; f < F; f++) {
      float v = xn[(size_t)d * F + f];
      if (isnan(v)) continue;
      xb[f] += v, nf[f]++;
    }
    n++;
  }
  for (int f = 0; f < F; f++) xb[f] = nf[f] > 0 ? xb[f] / (float)nf[f] : 0.0f;
  return n;
}

/* A flagged fast driver available at a row's location but missing on some
 * day the row reads (a hole in its record, a network's years without it)
 * is absent for the whole row: its column 0 on every day and, for a query,
 * in its block summaries, and its flag set, as -train_input_dropout drops
 * an input. */
static void holes_absent(const SampleSet *ss, SampleBatch *b, int NB)
{
  const int F = ss->F, S = ss->S, P = ss->P, T = b->T, nin = ss->F + ss->ns, s0 = ss->S - ss->norm.nflag;

  for (int r = 0; r < b->R; r++) {
    const unsigned char *a = ss->absent + (size_t)b->rloc[r] * nin;
    for (int i = 0; i < ss->norm.nflag; i++) {
      int       in   = flag_input(ss, i);
      PetscBool hole = PETSC_FALSE;
      if (in >= F || a[in]) continue;
      for (int t = 0; t < T && !hole; t++) hole = (PetscBool)isnan(b->xf[((size_t)t * b->R + r) * F + in]);
      if (!hole) continue;
      for (int t = 0; t < T; t++) b->xf[((size_t)t * b->R + r) * F + in] = 0.0f;
      if (r < b->B)
        for (int j = 0; j < NB; j++)
          for (int p = 0; p < P; p++) b->xb[((size_t)p * b->B * NB + (size_t)r * NB + j) * F + in] = 0.0f;
      b->s[(size_t)r * S + s0 + i] = 1.0f;
    }
  }
}

/* -train_input_dropout: each row (location, first day) loses each available
 * flagged input with chance b->drop, drawn from the location key, the step
 * key and the first day (so a row shared by several queries loses the same
 * inputs): its fast column 0 on every day (and in a query's block
 * summaries), a slow value 0, and its availability flag set. */
static void drop_inputs(const SampleSet *ss, SampleBatch *b, int NB)
{
  const int F = ss->F, S = ss->S, P = ss->P, T = b->T, nin = ss->F + ss->ns, s0 = ss->S - ss->norm.nflag;

  for (int r = 0; r < b->R; r++) {
    const int            loc = b->rloc[r];
    const unsigned char *a   = ss->absent + (size_t)loc * nin;
    uint64_t             key = b->drop_key * 0x9E3779B97F4A7C15ULL + (uint64_t)b->rday[r];
    for (int i = 0; i < ss->norm.nflag; i++) {
      int in = flag_input(ss, i);
      if (a[in] || core_rng_uniform(b->drop_seed, (uint64_t)ss->lkey[loc], key,
                                    (uint64_t)CORE_RNG_INPUT_DROP + (uint64_t)in) >= b->drop)
        continue;
      if (in < F) {
        for (int t = 0; t < T; t++) b->xf[((size_t)t * b->R + r) * F + in] = 0.0f;
        if (r < b->B) /* a query: its block summaries too */
          for (int j = 0; j < NB; j++)
            for (int p = 0; p < P; p++) b->xb[((size_t)p * b->B * NB + (size_t)r * NB + j) * F + in] = 0.0f;
      } else
        b->s[(size_t)r * S + ss->sfpos[in - F]] = 0.0f;
      b->s[(size_t)r * S + s0 + i] = 1.0f;
    }
  }
}

PetscErrorCode data_batch_fill(const SampleSet *ss, const int *loc, const int *d0, int B, SampleBatch *b,
                               ModelBatch *mb)
{
  const int F = ss->F, S = ss->S, P = ss->P, W = ss->W, Sc = ss->Sc, Kf = ss->Kf, T = W + Sc, Tg = b->Tg;
  const int Lb = ss->Ls / ss->P, nt = (int)ss->nt;
  int      *tab, R;
  int       NB = 1; /* block slots: the most any segment needs */
  uint32_t  nh = 16;

  PetscFunctionBeginUser;
  PetscCheck(B <= b->maxb, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "batch of %d segments exceeds its capacity %d", B,
             b->maxb);
  while (nh < 2 * (uint32_t)b->maxr) nh *= 2;
  PetscCall(PetscMalloc1(nh, &tab));
  for (uint32_t h = 0; h < nh; h++) tab[h] = -1;
  b->B = B, b->R = 0;
  /* rows 0..B-1: the query segments, even when one repeats */
  for (int q = 0; q < B; q++) {
    uint32_t h = row_hash(loc[q], d0[q], nh - 1);
    PetscCheck(d0[q] >= 0 && loc[q] >= 0 && loc[q] < ss->nloc, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "segment %d: location %d, first day %d", q, loc[q], d0[q]);
    b->rloc[b->R] = loc[q], b->rday[b->R] = d0[q];
    for (; tab[h] >= 0; h = (h + 1) & (nh - 1))
      if (b->rloc[tab[h]] == loc[q] && b->rday[tab[h]] == d0[q]) break;
    if (tab[h] < 0) tab[h] = b->R;
    b->R++;
  }
  /* neighbour rows over the same days, shared between the queries that need them */
  for (int q = 0; q < B; q++) {
    const int32_t *nb = ss->nbr + (size_t)loc[q] * Kf;
    for (int k = 0; k < Kf; k++) b->nb[q * Kf + k] = nb[k] < 0 ? -1 : row_of(b, tab, nh - 1, nb[k], d0[q]);
  }
  PetscCall(PetscFree(tab));
  R = b->R;
  /* fast drivers, age and statics of every row */
  for (int r = 0; r < R; r++) {
    const float   *xn  = ss->xn + (size_t)b->rloc[r] * nt * F;
    const int32_t *run = ss->run + (size_t)b->rloc[r] * nt;
    for (int t = 0; t < T; t++) {
      int    d   = b->rday[r] + t;
      float *x   = b->xf + ((size_t)t * R + r) * F;
      int    age = d < nt ? run[d] : -1;
      if (age < 0) {
        for (int f = 0; f < F; f++) x[f] = 0.0f; /* a missing day: no driver enters */
      } else
        memcpy(x, xn + (size_t)d * F, sizeof(float) * F);
      b->age[(size_t)t * R + r] = age < 0 ? -1 : PetscMin(t, age);
    }
    memcpy(b->s + (size_t)r * S, ss->sf + (size_t)b->rloc[r] * S, sizeof(float) * S);
  }
  /* block slots: slot j of segment q is block k0 + j, k0 the block of its first scored day */
  for (int q = 0; q < B; q++) NB = PetscMax(NB, block_of(ss, d0[q] + T - 1, Lb) - block_of(ss, d0[q] + W, Lb) + 1);
  PetscCheck(NB <= (Sc - 1) / Lb + 2, PETSC_COMM_SELF, PETSC_ERR_PLIB, "%d block slots, more than %d", NB,
             (Sc - 1) / Lb + 2);
  for (int q = 0; q < B; q++) {
    int k0 = block_of(ss, d0[q] + W, Lb);
    for (int j = 0; j < NB; j++)
      for (int p = 0; p < P; p++) {
        size_t slot = (size_t)q * NB + j;
        int    n    = block_summary(ss, loc[q], k0 + j - P + p, Lb, b->xb + ((size_t)p * B * NB + slot) * F);

        b->eb[slot * P + p] = n == 0;
      }
    for (int t = 0; t < Sc; t++) {
      int          d = d0[q] + W + t, age = b->age[(size_t)(W + t) * R + q];
      const float *y   = ss->y && d < nt ? ss->y + ((size_t)loc[q] * nt + d) * Tg : NULL;
      float       *out = b->y + ((size_t)t * B + q) * Tg;

      b->blk[q * Sc + t] = block_of(ss, d, Lb) - k0;
      for (int k = 0; k < Tg; k++) out[k] = y && age >= W ? y[k] : NAN; /* no day is scored before W days of warm-up */
    }
    b->lkey[q] = ss->lkey[loc[q]];
  }
  holes_absent(ss, b, NB);
  if (b->drop > 0) drop_inputs(ss, b, NB);
  b->NB = NB;
  *mb   = (ModelBatch){.B    = B,
                       .R    = R,
                       .T    = T,
                       .NB   = NB,
                       .xf   = b->xf,
                       .age  = b->age,
                       .s    = b->s,
                       .xb   = b->xb,
                       .eb   = b->eb,
                       .blk  = b->blk,
                       .y    = b->y,
                       .nb   = b->nb,
                       .lkey = b->lkey};
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_owned_locations(const Dataset *ds, const SplitOptions *so, DataLocation *loc)
{
  const Tile *t  = &ds->tile;
  PetscInt    ng = grid_ghost_count(t);
  double     *lon, *lat;
  char       *ids;
  size_t      len;
  int         o = 0, *fold;
  float      *strata;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(ng, &lon, ng, &lat));
  PetscCall(read_lonlat(ds, lon, lat));
  PetscCall(read_site_ids(ds, &ids, &len));
  PetscCall(fold_table(ds, so, &fold));
  PetscCall(test_class_values(ds, so, &strata));
  for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
    for (PetscInt x = t->xs; x < t->xs + t->xm; x++, o++) {
      PetscInt g = data_ghost_index(t, x, y);
      loc[o].gid = (int64_t)y * t->nx + x;
      loc[o].lon = lon[g], loc[o].lat = lat[g];
      loc[o].split = (unsigned char)split_of(so, fold, lon[g], lat[g], loc[o].gid, ids ? ids + g * len : NULL,
                                             strata ? strata[g] : NAN);
      loc[o].id[0] = '\0';
      if (ids) PetscCall(PetscStrncpy(loc[o].id, ids + g * len, sizeof loc[o].id));
    }
  PetscCall(PetscFree2(lon, lat));
  PetscCall(PetscFree(ids));
  PetscCall(PetscFree(fold));
  PetscCall(PetscFree(strata));
  PetscFunctionReturn(PETSC_SUCCESS);
}
