/* raci prep -format grid -i FILE [-i FILE ...] -o GRID: a user's gridded
 * forcing (reanalysis, gridded observations, a hydrologic model's
 * meteorology; classic, CDF-5 or NetCDF-4) into one daily model-ready grid
 * (docs/DATA.md, "Gridded forcing: raci prep -format grid").
 *
 * Every rank builds the same plan from the files' headers (src/prep/grid.c);
 * rank 0's verdict decides. The days are split over the ranks: each reads
 * its days with netCDF-C, aggregates them, checks their ranges and writes
 * them with PnetCDF into the temporary output, renamed when complete. A bad
 * value found on one rank stops every rank with that rank's one line, and
 * nothing is left behind. */
#include <raci/app.h>
#include <raci/data.h>
#include <raci/gridprep.h>
#include <raci/ncread.h>
#include <raci/quantity.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GRID_BLOCK_BYTES (256.0 * 1024 * 1024) /* working memory of one block of days, per rank */

typedef struct {
  int       nfile;
  char      file[GP_MAX_FILES][GP_PATH_LEN];
  char      out[PETSC_MAX_PATH_LEN];
  GridMaps  maps, units;
  int       accum; /* 1: -prep_accum day; -1: -prep_amount_stamp start */
  PetscBool oor_missing, quiet, same_grid;
  char      class_codes[GP_PATH_LEN];
} GridCtx;

/* "A=B,C=D" into maps; a pair without '=' is an error naming the option */
static PetscErrorCode parse_pairs(MPI_Comm comm, const char *opt, char **list, PetscInt n, GridMaps *m)
{
  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < n; k++) {
    char *eq = strchr(list[k], '=');
    PetscCheck(eq && eq != list[k] && eq[1] && m->n < GP_MAX_MAPS, comm, RACI_ERR_INPUT,
               "%s %s: give NAME=VALUE pairs, comma-separated (at most %d)", opt, list[k], GP_MAX_MAPS);
    *eq = '\0';
    PetscCheck(strlen(list[k]) < GP_NAME_LEN && strlen(eq + 1) < GP_NAME_LEN, comm, RACI_ERR_INPUT,
               "%s: '%s' is too long", opt, list[k]);
    PetscCall(PetscStrncpy(m->name[m->n], list[k], GP_NAME_LEN));
    PetscCall(PetscStrncpy(m->value[m->n], eq + 1, GP_NAME_LEN));
    m->n++;
    PetscCall(PetscFree(list[k]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode grid_options(MPI_Comm comm, GridCtx *ctx)
{
  char      format[32] = "", first[GP_PATH_LEN] = "", accum[16] = "step", stamp[16] = "end", oor[16] = "error";
  char     *list[GP_MAX_MAPS];
  PetscInt  n;
  PetscBool have_out, have_in;

  PetscFunctionBeginUser;
  PetscCall(core_opt_section(comm, "raci prep -format grid options"));
  PetscCall(
      core_opt_string(comm, "-format", "grid: gridded forcing files into one daily grid", format, sizeof format, NULL));
  PetscCall(core_opt_string(comm, "-i",
                            "A forcing or static file (classic, CDF-5 or NetCDF-4); repeat -i for each file; required",
                            first, sizeof first, &have_in));
  PetscCall(core_opt_string(comm, "-o", "Output grid (NetCDF CDF-5); required", ctx->out, sizeof ctx->out, &have_out));
  n = GP_MAX_MAPS;
  PetscCall(core_opt_strings(comm, "-map",
                             "NAME=QUANTITY,...: take variable NAME as TA, TMAX, TMIN, TDEW, VP, VPD, SW_IN, "
                             "SW_DAYLIGHT, DAYL, P, PA, WS, U, V, elev, geopotential, mask, class, whc, clay, soc or "
                             "wetland_frac, or none to leave it out",
                             list, &n, NULL));
  PetscCall(parse_pairs(comm, "-map", list, n, &ctx->maps));
  n = GP_MAX_MAPS;
  PetscCall(core_opt_strings(comm, "-prep_units", "NAME=UNITS,...: units of variable NAME when its attribute is wrong",
                             list, &n, NULL));
  PetscCall(parse_pairs(comm, "-prep_units", list, n, &ctx->units));
  PetscCall(core_opt_string(comm, "-prep_accum",
                            "Amounts (J m-2, mm, m): step (each step holds its own interval, ERA5) or day "
                            "(accumulated since the day began, ERA5-Land)",
                            accum, sizeof accum, NULL));
  PetscCall(core_opt_string(comm, "-prep_amount_stamp",
                            "Sub-daily amounts without time bounds are stamped at the end (ERA5) or start of their "
                            "interval",
                            stamp, sizeof stamp, NULL));
  PetscCall(core_opt_string(comm, "-prep_out_of_range", "Values outside their physical range: error or missing", oor,
                            sizeof oor, NULL));
  PetscCall(core_opt_bool(comm, "-prep_same_grid",
                          "Files of one grid shape whose coordinates disagree: take their cells by index, with the "
                          "coordinates of the first -i file",
                          PETSC_FALSE, &ctx->same_grid, NULL));
  PetscCall(core_opt_string(comm, "-prep_class_codes",
                            "With a class map: the site or grid file the model is trained on, whose class codes the "
                            "map is recoded to",
                            ctx->class_codes, sizeof ctx->class_codes, NULL));
  PetscCall(core_opt_quiet(comm, &ctx->quiet));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS);

  PetscCheck(have_in, comm, RACI_ERR_INPUT, "raci prep -format grid needs -i FILE (one per forcing file)");
  PetscCheck(have_out, comm, RACI_ERR_INPUT, "raci prep needs -o FILE");
  { /* every -i, in order */
    int    argc;
    char **args;
    PetscCall(PetscGetArgs(&argc, &args));
    for (int i = 1; i + 1 < argc; i++)
      if (!strcmp(args[i], "-i")) {
        PetscCheck(ctx->nfile < GP_MAX_FILES, comm, RACI_ERR_INPUT, "raci prep -format grid takes at most %d -i files",
                   GP_MAX_FILES);
        PetscCheck(strlen(args[i + 1]) < GP_PATH_LEN, comm, RACI_ERR_INPUT, "-i %s: path too long", args[i + 1]);
        for (int k = 0; k < ctx->nfile; k++)
          PetscCheck(strcmp(ctx->file[k], args[i + 1]), comm, RACI_ERR_INPUT, "-i %s is given twice", args[i + 1]);
        PetscCall(PetscStrncpy(ctx->file[ctx->nfile++], args[++i], GP_PATH_LEN));
      } else if (!strcmp(args[i], "-format"))
        PetscCheck(!strcmp(args[i + 1], "grid"), comm, RACI_ERR_INPUT,
                   "-format %s with -format grid: gridded forcing and tower files are prepared by separate runs",
                   args[i + 1]);
  }
  PetscCheck(!strcmp(accum, "step") || !strcmp(accum, "day"), comm, RACI_ERR_INPUT, "-prep_accum %s: use step or day",
             accum);
  PetscCheck(!strcmp(stamp, "end") || !strcmp(stamp, "start"), comm, RACI_ERR_INPUT,
             "-prep_amount_stamp %s: use end or start", stamp);
  PetscCheck(!strcmp(accum, "step") || !strcmp(stamp, "end"), comm, RACI_ERR_INPUT,
             "-prep_amount_stamp start is for -prep_accum step");
  ctx->accum = !strcmp(accum, "day") ? 1 : !strcmp(stamp, "start") ? -1 : 0;
  PetscCheck(!strcmp(oor, "error") || !strcmp(oor, "missing"), comm, RACI_ERR_INPUT,
             "-prep_out_of_range %s: use error or missing", oor);
  ctx->oor_missing = (PetscBool)!strcmp(oor, "missing");
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void day_text(const GridPlan *p, long long d, char *buf, size_t len)
{
  int y, m, dd;
  io_cftime_from_daynum(p->calendar, d, &y, &m, &dd);
  snprintf(buf, len, "%04d-%02d-%02d", y, m, dd);
}

static PetscErrorCode define_output(IoFile *out, const GridCtx *ctx, const GridPlan *p, int *vtime, int *vlat,
                                    int *vlon, int vbnds[2], int vvar[])
{
  int         dt, dy, dx, d3[3];
  float       fill = DATA_FILL;
  char        buf[2048], a[16], b[16];
  const char *yname = p->coords == 1 ? "lat" : "y", *xname = p->coords == 1 ? "lon" : "x";

  PetscFunctionBeginUser;
  PetscCall(io_def_dim(out, "time", p->dlast - p->dfirst + 1, &dt));
  PetscCall(io_def_dim(out, yname, p->ny, &dy));
  PetscCall(io_def_dim(out, xname, p->nx, &dx));
  PetscCall(io_def_var(out, "time", NC_DOUBLE, 1, &dt, vtime));
  PetscCall(PetscSNPrintf(buf, sizeof buf, "days since %04d-01-01 00:00:00", p->year0));
  PetscCall(io_put_att_text(out, *vtime, "units", buf));
  PetscCall(io_put_att_text(out, *vtime, "calendar", p->calendar_name));
  PetscCall(io_put_att_text(out, *vtime, "standard_name", "time"));
  PetscCall(io_put_att_text(out, *vtime, "long_name", p->local_day ? "local day" : "day (UTC)"));
  PetscCall(io_put_att_text(out, *vtime, "axis", "T"));
  *vlat = *vlon = -1;
  vbnds[0] = vbnds[1] = -1;
  if (p->coords == 1) { /* with cell bounds (CF 7.1); 2-D grids get none (their cells' corners are not known) */
    int dnv, db[2];
    PetscCall(io_def_var(out, "lat", NC_DOUBLE, 1, &dy, vlat));
    PetscCall(io_def_var(out, "lon", NC_DOUBLE, 1, &dx, vlon));
    PetscCall(io_def_dim(out, "nv", 2, &dnv));
    db[0] = dy, db[1] = dnv;
    PetscCall(io_def_var(out, "lat_bnds", NC_DOUBLE, 2, db, &vbnds[0]));
    db[0] = dx;
    PetscCall(io_def_var(out, "lon_bnds", NC_DOUBLE, 2, db, &vbnds[1]));
    PetscCall(io_put_att_text(out, *vlat, "bounds", "lat_bnds"));
    PetscCall(io_put_att_text(out, *vlon, "bounds", "lon_bnds"));
  } else if (p->coords == 2) {
    d3[0] = dy, d3[1] = dx;
    PetscCall(io_def_var(out, "lat", NC_DOUBLE, 2, d3, vlat));
    PetscCall(io_def_var(out, "lon", NC_DOUBLE, 2, d3, vlon));
  }
  if (p->coords) {
    PetscCall(io_put_att_text(out, *vlat, "units", "degrees_north"));
    PetscCall(io_put_att_text(out, *vlat, "standard_name", "latitude"));
    PetscCall(io_put_att_text(out, *vlat, "long_name", "latitude"));
    PetscCall(io_put_att_text(out, *vlon, "units", "degrees_east"));
    PetscCall(io_put_att_text(out, *vlon, "standard_name", "longitude"));
    PetscCall(io_put_att_text(out, *vlon, "long_name", "longitude"));
  }
  d3[0] = dt, d3[1] = dy, d3[2] = dx;
  for (int o = 0; o < p->nout; o++) {
    const GridOut *go = &p->out[o];
    if (go->is_class) { /* byte codes: the training file's flag_values and flag_meanings, -1 where none */
      signed char flags[GP_MAX_CLASS], none = -1;
      char        meanings[GP_MAX_CLASS * GP_CLASS_LEN] = "";
      PetscCall(io_def_var(out, go->name, NC_BYTE, 2, d3 + 1, &vvar[o]));
      for (int c = 0; c < p->nclass; c++) {
        flags[c] = (signed char)p->class_flag[c];
        if (c) PetscCall(PetscStrlcat(meanings, " ", sizeof meanings));
        PetscCall(PetscStrlcat(meanings, p->class_name[c], sizeof meanings));
      }
      PetscCall(io_agree_nc(out->comm, ncmpi_put_att_schar(out->ncid, vvar[o], "_FillValue", NC_BYTE, 1, &none),
                            RACI_ERR_WRITE, out->path, go->name));
      PetscCall(io_agree_nc(out->comm,
                            ncmpi_put_att_schar(out->ncid, vvar[o], "flag_values", NC_BYTE, p->nclass, flags),
                            RACI_ERR_WRITE, out->path, go->name));
      PetscCall(io_put_att_text(out, vvar[o], "flag_meanings", meanings));
    } else {
      PetscCall(io_def_var(out, go->name, NC_FLOAT, go->is_static ? 2 : 3, go->is_static ? d3 + 1 : d3, &vvar[o]));
      PetscCall(io_put_att_float(out, vvar[o], "_FillValue", NC_FLOAT, 1, &fill));
      PetscCall(io_put_att_text(out, vvar[o], "units", go->units));
    }
    PetscCall(io_put_att_text(out, vvar[o], "long_name", go->long_name));
    if (go->standard_name[0]) PetscCall(io_put_att_text(out, vvar[o], "standard_name", go->standard_name));
    if (go->cell_methods[0]) PetscCall(io_put_att_text(out, vvar[o], "cell_methods", go->cell_methods));
    PetscCall(io_put_att_text(out, vvar[o], "raci_role", go->role));
    PetscCall(io_put_att_text(out, vvar[o], "source", go->source));
    if (go->derived) PetscCall(io_put_att_text(out, vvar[o], "raci_derived", "yes"));
    if (p->coords == 2) PetscCall(io_put_att_text(out, vvar[o], "coordinates", "lat lon"));
  }
  PetscCall(io_put_att_text(out, NC_GLOBAL, "Conventions", "CF-1.8"));
  PetscCall(
      io_put_att_text(out, NC_GLOBAL, "title", "Daily forcing on a user's grid, prepared by raci prep -format grid"));
  buf[0] = '\0';
  for (int k = 0; k < p->nfile; k++) { /* absolute paths (CF: none relative in attributes) */
    char abs[PATH_MAX], one[PATH_MAX + 64];
    PetscCall(PetscSNPrintf(one, sizeof one, "%s%s (%s)", k ? "; " : "", realpath(p->file[k], abs) ? abs : p->file[k],
                            p->format[k]));
    PetscCall(PetscStrlcat(buf, one, sizeof buf));
  }
  PetscCall(io_put_att_text(out, NC_GLOBAL, "source", buf));
  day_text(p, p->dfirst, a, sizeof a);
  day_text(p, p->dlast, b, sizeof b);
  PetscCall(PetscSNPrintf(buf, sizeof buf,
                          "format grid; days: %s (00:00 to 24:00 of the time coordinate%s); span %s to %s, the days "
                          "every input covers (%s); values out of range: %s",
                          p->local_day ? "local" : "UTC", p->local_day ? ", which is local time" : "", a, b, p->spans,
                          ctx->oor_missing ? "missing" : "error"));
  if (p->by_index[0]) {
    char more[GP_TEXT_LEN + 160];
    PetscCall(PetscSNPrintf(more, sizeof more,
                            "; coordinates from the first file; cells of %s taken by index (-prep_same_grid), their "
                            "own coordinates differ",
                            p->by_index));
    PetscCall(PetscStrlcat(buf, more, sizeof buf));
  }
  PetscCall(io_put_att_text(out, NC_GLOBAL, "raci_prep", buf));
  PetscCall(core_history_line(buf, sizeof buf));
  PetscCall(io_put_att_text(out, NC_GLOBAL, "history", buf));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Range checks of a block: count[o] values set missing, or the first bad one into msg. */
static void check_block(const GridCtx *ctx, const GridPlan *p, long long d0, int nd, const double *lat,
                        const double *lon, float *vals[], long long count[], char *msg, size_t len)
{
  size_t n = (size_t)p->ny * p->nx;
  for (int o = 0; o < p->nout && !msg[0]; o++) {
    const Quantity *q = quantity_find(p->out[o].name);
    if (p->out[o].is_static || !q) continue;
    for (size_t k = 0; k < (size_t)nd * n; k++) {
      float x = vals[o][k];
      if (isnan(x) || (x >= q->lo && x <= q->hi)) continue;
      if (ctx->oor_missing) {
        vals[o][k] = NAN, count[o]++;
        continue;
      }
      {
        char   day[16];
        size_t c = k % n;
        day_text(p, p->dfirst + d0 + (long long)(k / n), day, sizeof day);
        snprintf(msg, len,
                 "%s %g %s at lat %g, lon %g (y %zu, x %zu) on %s is outside %g..%g (from %s); check its units, or "
                 "-prep_out_of_range missing",
                 p->out[o].name, (double)x, q->units, lat[c], lon[c], c / p->nx, c % p->nx, day, q->lo, q->hi,
                 p->out[o].source);
        return;
      }
    }
  }
}

/* Range checks of the elevation and soil maps on the cells the grid keeps: values outside the physical range set
 * missing (counted in count[g]) or the first into msg. */
static void check_statics(const GridCtx *ctx, const GridPlan *p, const double *lat, const double *lon,
                          const float *mask, float *num[GS_NUM], long long count[GS_NUM], char *msg, size_t len)
{
  size_t n = (size_t)p->ny * p->nx;
  for (int g = 0; g < GS_NUM && !msg[0]; g++) {
    const Quantity *q   = quantity_find(gridprep_static_name(g));
    const char     *src = "";
    for (int o = 0; o < p->nout; o++)
      if (!strcmp(p->out[o].name, gridprep_static_name(g))) src = p->out[o].source;
    for (size_t c = 0; c < n; c++) {
      float x = num[g][c];
      if (!mask[c] || isnan(x) || (x >= q->lo && x <= q->hi)) continue;
      if (ctx->oor_missing) {
        num[g][c] = NAN, count[g]++;
        continue;
      }
      snprintf(msg, len,
               "%s %g %s at lat %g, lon %g (y %zu, x %zu) is outside %g..%g (from %s); check its units, or "
               "-prep_out_of_range missing",
               q->name, (double)x, q->units, lat[c], lon[c], c / p->nx, c % p->nx, q->lo, q->hi, src);
      return;
    }
  }
}

/* A one-line verdict shared by all ranks: the lowest rank with a message speaks. */
static PetscErrorCode agree_msg(MPI_Comm comm, char *msg, size_t len)
{
  PetscMPIInt rank, who, mine;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  mine = msg[0] ? rank : INT32_MAX;
  PetscCallMPI(MPI_Allreduce(&mine, &who, 1, MPI_INT, MPI_MIN, comm));
  if (who == INT32_MAX) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCallMPI(MPI_Bcast(msg, (int)len, MPI_CHAR, who, comm));
  SETERRQ(comm, RACI_ERR_INPUT, "%s", msg);
}

PetscErrorCode app_prep_grid(MPI_Comm comm)
{
  GridCtx    *ctx;
  GridPlan   *p;
  IoFile     *out;
  NcrFile    *files[GP_MAX_FILES] = {NULL};
  GridWork   *work                = NULL;
  char        msg[2048]           = "";
  int         vtime, vlat, vlon, vbnds[2], vvar[GP_MAX_OUT];
  PetscMPIInt rank, size;
  long long   ndays, my0, my1, nd, iters, oor[GP_MAX_OUT] = {0}, soor[GS_NUM] = {0};
  size_t      n;
  double     *lat = NULL, *lon = NULL, *sums = NULL, *tm = NULL, tsec, tlast;
  float      *vals[GP_MAX_OUT] = {NULL}, *mask = NULL, *num[GS_NUM] = {NULL}, *cls = NULL, *stat = NULL;
  int         ita = -1, ip = -1;
  double      msum[GP_MAX_OUT][2] = {{0}}; /* sum and count of each driver's daily values */

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&ctx));
  PetscCall(PetscNew(&p));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(grid_options(comm, ctx));
  if (core_help()) {
    PetscCall(PetscFree(ctx));
    PetscCall(PetscFree(p));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(core_check_unused_options(comm));
  {
    const char *in[2 * GP_MAX_FILES + 3], *outs[] = {"-o", ctx->out, NULL};
    for (int k = 0; k < ctx->nfile; k++) in[2 * k] = "-i", in[2 * k + 1] = ctx->file[k];
    in[2 * ctx->nfile] = "-prep_class_codes", in[2 * ctx->nfile + 1] = ctx->class_codes;
    in[2 * ctx->nfile + 2] = NULL;
    PetscCall(core_check_paths(comm, in, outs));
  }
  tsec = tlast = MPI_Wtime();

  /* the plan: every rank builds it from the headers; rank 0's verdict is everyone's */
  PetscCall(core_stage_push(CORE_STAGE_LOAD));
  gridprep_plan(ctx->nfile, ctx->file, &ctx->maps, &ctx->units, ctx->accum, ctx->same_grid, ctx->class_codes, p, msg,
                sizeof msg);
  PetscCall(core_rank0_check(comm, msg[0] ? RACI_ERR_INPUT : 0, "%s", msg));
  PetscCall(agree_msg(comm, msg, sizeof msg)); /* a rank that could not read what rank 0 could */
  n     = (size_t)p->ny * p->nx;
  ndays = p->dlast - p->dfirst + 1;
  PetscCall(PetscMalloc4(n, &lat, n, &lon, n, &mask, n, &cls));
  for (int g = 0; g < GS_NUM; g++) PetscCall(PetscMalloc1(n, &num[g]));
  if (gridprep_coords(p, lat, lon, msg, sizeof msg) == 0 && gridprep_statics(p, mask, num, cls, msg, sizeof msg) == 0)
    check_statics(ctx, p, lat, lon, mask, num, soor, msg, sizeof msg);
  PetscCall(agree_msg(comm, msg, sizeof msg));
  for (int o = 0; o < p->nout; o++) {
    if (!strcmp(p->out[o].name, "TA")) ita = o;
    if (!strcmp(p->out[o].name, "P")) ip = o;
  }
  PetscCall(core_stage_pop());

  PetscCall(core_stage_push(CORE_STAGE_WRITE));
  PetscCall(io_create(comm, ctx->out, &out));
  PetscCall(define_output(out, ctx, p, &vtime, &vlat, &vlon, vbnds, vvar));
  PetscCall(io_enddef(out));

  /* this rank's days, in blocks that fit GRID_BLOCK_BYTES */
  my0 = ndays * rank / size, my1 = ndays * (rank + 1) / size;
  nd = (long long)(GRID_BLOCK_BYTES / ((double)n * (4.0 * p->nout + 48.0))); /* GridWork: 5 doubles a cell-day */
  nd = nd < 1 ? 1 : nd > 64 ? 64 : nd;
  {
    long long most = (ndays + size - 1) / size;
    iters          = (most + nd - 1) / nd;
  }
  for (int o = 0; o < p->nout; o++)
    if (!p->out[o].is_static) PetscCall(PetscMalloc1((size_t)nd * n, &vals[o]));
  PetscCall(PetscCalloc1(4 * n, &sums)); /* TA sum, TA count, P sum, P count */
  PetscCall(PetscMalloc1(nd, &tm));
  for (int k = 0; k < p->nfile && !msg[0]; k++) ncr_open(p->file[k], &files[k], msg, sizeof msg);
  if (!msg[0]) gridprep_work_create(p, (int)nd, &work, msg, sizeof msg);
  PetscCall(agree_msg(comm, msg, sizeof msg));
  for (long long it = 0; it < iters; it++) {
    long long  d0 = my0 + it * nd, nb = my1 - d0 < nd ? my1 - d0 : nd;
    MPI_Offset st[3] = {0, 0, 0}, ct[3] = {0, p->ny, p->nx};
    if (nb < 0) nb = 0;
    if (nb > 0 && !msg[0]) {
      if (!gridprep_day_block(p, files, work, d0, (int)nb, lat, mask, vals, msg, sizeof msg))
        check_block(ctx, p, d0, (int)nb, lat, lon, vals, oor, msg, sizeof msg);
    }
    PetscCall(agree_msg(comm, msg, sizeof msg));
    st[0] = d0, ct[0] = nb;
    for (long long d = 0; d < nb; d++) tm[d] = (double)(p->dfirst + d0 + d - p->day_year0);
    for (long long k = 0; k < nb * (long long)n; k++) {
      size_t c = (size_t)(k % (long long)n);
      if (ita >= 0 && !isnan(vals[ita][k])) sums[4 * c] += vals[ita][k], sums[4 * c + 1] += 1;
      if (ip >= 0 && !isnan(vals[ip][k])) sums[4 * c + 2] += vals[ip][k], sums[4 * c + 3] += 1;
    }
    for (int o = 0; o < p->nout; o++) {
      if (p->out[o].is_static) continue;
      for (long long k = 0; k < nb * (long long)n; k++)
        if (isnan(vals[o][k]))
          vals[o][k] = DATA_FILL;
        else
          msum[o][0] += vals[o][k], msum[o][1] += 1;
      PetscCall(io_iput_float(out, vvar[o], st, ct, vals[o]));
    }
    PetscCall(io_iput_double(out, vtime, st, ct, tm));
    PetscCall(io_wait_all(out));
    if (!ctx->quiet && rank == 0 && it + 1 < iters && MPI_Wtime() - tlast > 10.0) { /* long runs only */
      double done = (double)(it + 1) / iters, el = MPI_Wtime() - tsec;
      tlast = MPI_Wtime();
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "raci prep: %lld of %lld days on each rank, %.0f s, about %.0f s left\n",
                            (long long)((it + 1) * nd), (ndays + size - 1) / size, el, el / done - el));
    }
  }
  for (int k = 0; k < p->nfile; k++) ncr_close(&files[k]);
  gridprep_work_destroy(&work);

  /* statics: normals over the span, elevation and soil maps, the class map; coordinates */
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sums, (int)(4 * n), MPI_DOUBLE, MPI_SUM, comm));
  PetscCall(PetscMalloc1(n, &stat));
  for (int o = 0; o < p->nout; o++) {
    MPI_Offset   st[2] = {0, 0}, ct[2] = {rank == 0 ? p->ny : 0, rank == 0 ? p->nx : 0};
    const float *map    = p->out[o].is_class ? cls : NULL; /* a map read from a static file, or a normal (-1) */
    int          normal = -1;                              /* 0: MAT, 2: MAP, from sums */
    if (!p->out[o].is_static) continue;
    if (!strcmp(p->out[o].name, "MAT")) normal = 0;
    if (!strcmp(p->out[o].name, "MAP")) normal = 2;
    for (int g = 0; g < GS_NUM; g++)
      if (!strcmp(p->out[o].name, gridprep_static_name(g))) map = num[g];
    for (size_t c = 0; c < n; c++) {
      double x = map ? map[c] : NAN;
      if (normal >= 0 && sums[4 * c + normal + 1] > 0)
        x = sums[4 * c + normal] / sums[4 * c + normal + 1] * (normal == 2 ? 365.25 : 1.0);
      stat[c] = mask[c] && isfinite(x) ? (float)x : p->out[o].is_class ? -1.0f : DATA_FILL;
    }
    PetscCall(io_iput_float(out, vvar[o], st, ct, stat));
    PetscCall(io_wait_all(out));
  }
  if (p->coords) {
    double    *la = lat, *lo = lon, *row = NULL, *col = NULL, *rb = NULL, *cb = NULL;
    MPI_Offset st[2] = {0, 0}, cy[2] = {rank == 0 ? p->ny : 0, rank == 0 ? p->nx : 0}, cx[1] = {rank == 0 ? p->nx : 0};
    MPI_Offset cyb[2] = {cy[0], rank == 0 ? 2 : 0}, cxb[2] = {cx[0], rank == 0 ? 2 : 0};
    if (p->coords == 1) {
      PetscCall(PetscMalloc4(p->ny, &row, p->nx, &col, 2 * p->ny, &rb, 2 * p->nx, &cb));
      for (int j = 0; j < p->ny; j++) row[j] = lat[(size_t)j * p->nx];
      for (int i = 0; i < p->nx; i++) col[i] = lon[i];
      data_cell_bounds(row, p->ny, rb);
      data_cell_bounds(col, p->nx, cb);
      la = row, lo = col;
      PetscCall(io_iput_double(out, vbnds[0], st, cyb, rb));
      PetscCall(io_iput_double(out, vbnds[1], st, cxb, cb));
    }
    PetscCall(io_iput_double(out, vlat, st, cy, la));
    PetscCall(io_iput_double(out, vlon, st, p->coords == 1 ? cx : cy, lo));
    PetscCall(io_wait_all(out));
    PetscCall(PetscFree4(row, col, rb, cb));
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, msum, 2 * GP_MAX_OUT, MPI_DOUBLE, MPI_SUM, comm));
  PetscCall(io_commit(&out));
  PetscCall(core_stage_pop());

  if (rank == 0) {
    char a[16], b[16];
    for (int o = 0; o < p->nout; o++)
      if (oor[o])
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "raci prep: %s: values outside the physical range set missing\n",
                              p->out[o].name));
    for (int g = 0; g < GS_NUM; g++)
      if (soor[g])
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "raci prep: %s: %lld cells outside the physical range set missing\n",
                              gridprep_static_name(g), soor[g]));
    { /* plausibility of the converted values: a mean far from any climate says the units attribute is wrong */
      static const struct {
        const char *name;
        double      lo, hi;
      } typical[] = {{"TA", -45, 40}, {"SW_IN", 15, 450}, {"VPD", 0, 60},
                     {"P", 0, 40},    {"PA", 50, 106},    {"WS", 0.3, 25}};
      for (int o = 0; o < p->nout; o++)
        for (size_t t = 0; t < sizeof typical / sizeof typical[0]; t++) {
          double m = msum[o][1] > 0 ? msum[o][0] / msum[o][1] : NAN;
          if (strcmp(p->out[o].name, typical[t].name) || !(m < typical[t].lo || m > typical[t].hi)) continue;
          PetscCall(
              PetscPrintf(PETSC_COMM_SELF,
                          "raci prep: warning: %s has a mean of %g %s over the grid and span, outside any climate "
                          "(%g..%g): are the units of %s right? (-prep_units NAME=UNITS)\n",
                          p->out[o].name, m, p->out[o].units, typical[t].lo, typical[t].hi, p->out[o].source));
        }
    }
    if (p->by_index[0])
      PetscCall(PetscPrintf(PETSC_COMM_SELF,
                            "raci prep: warning: cells of %s taken by index (-prep_same_grid): their coordinates "
                            "differ from the first file's, whose coordinates the output has\n",
                            p->by_index));
    if (p->unused[0])
      PetscCall(PetscPrintf(PETSC_COMM_SELF,
                            "raci prep: note: not used (no driver raci knows; -map NAME=QUANTITY): %s\n", p->unused));
    if (p->absent[0])
      PetscCall(
          PetscPrintf(PETSC_COMM_SELF,
                      "raci prep: warning: no static file gives %s (-i a file with an elevation, soil or class map); a "
                      "model to predict this grid must be trained without them\n",
                      p->absent));
    if (p->class_note[0])
      PetscCall(PetscPrintf(PETSC_COMM_SELF,
                            "raci prep: note: classes of the class map that no class of %s matches, written as "
                            "unknown: %s\n",
                            ctx->class_codes, p->class_note));
    if (!ctx->quiet) {
      day_text(p, p->dfirst, a, sizeof a);
      day_text(p, p->dlast, b, sizeof b);
      PetscCall(PetscPrintf(PETSC_COMM_SELF,
                            "raci prep: wrote %s: %d x %d cells (%s, %s), %lld days from %s to %s (%s calendar, %s "
                            "days), %d file%s, %.1f s on %d rank%s\n",
                            ctx->out, p->ny, p->nx, p->ydim, p->xdim, ndays, a, b, p->calendar_name,
                            p->local_day ? "local" : "UTC", p->nfile, p->nfile == 1 ? "" : "s", MPI_Wtime() - tsec,
                            size, size == 1 ? "" : "s"));
      for (int o = 0; o < p->nout; o++)
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "  %-6s %-5s %-14s <- %s\n", p->out[o].name, p->out[o].role,
                              p->out[o].units, p->out[o].source));
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "  spans: %s\n", p->spans));
    }
  }
  for (int o = 0; o < p->nout; o++) PetscCall(PetscFree(vals[o]));
  PetscCall(PetscFree4(lat, lon, mask, cls));
  for (int g = 0; g < GS_NUM; g++) PetscCall(PetscFree(num[g]));
  PetscCall(PetscFree(stat));
  PetscCall(PetscFree(sums));
  PetscCall(PetscFree(tm));
  PetscCall(PetscFree(ctx));
  PetscCall(PetscFree(p));
  PetscFunctionReturn(PETSC_SUCCESS);
}
