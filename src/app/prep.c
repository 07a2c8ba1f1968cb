/* raci prep -format fluxnet-ch4|fluxdatakit|fluxnet2015 -i DIR -o OUT: daily tower CSVs
 * into one site file (docs/DATA.md, "Tower data: raci prep").
 *
 * The CSVs are small, so rank 0 reads and converts them all (src/prep/); a
 * problem it finds is sent to every rank, which all fail with the same one
 * line, so no rank is left waiting in a collective. Every rank then defines
 * the same file from the broadcast header and rank 0 puts all the values
 * (the others put nothing): a file written like every other output, under a
 * temporary name renamed when complete. */
#include <raci/app.h>
#include <raci/data.h>
#include <raci/prep.h>

#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREP_MAX_SOURCES 8

typedef struct {
  PrepOptions opt; /* the options every source shares; format and dir of the first */
  int         nsrc;
  PrepFormat  fmt[PREP_MAX_SOURCES]; /* repeated -format F -i DIR pairs, in order */
  char        dir[PREP_MAX_SOURCES][PETSC_MAX_PATH_LEN];
  char        out[PETSC_MAX_PATH_LEN];
  PetscBool   quiet;
} PrepCtx;

static PetscBool prep_has_format(const PrepCtx *ctx, PrepFormat f)
{
  for (int k = 0; k < ctx->nsrc; k++)
    if (ctx->fmt[k] == f) return PETSC_TRUE;
  return PETSC_FALSE;
}

static PetscErrorCode prep_options(MPI_Comm comm, PrepCtx *ctx)
{
  char      format[32] = "", oor[32] = "error", *sites[PREP_MAX_SITES];
  PetscInt  nsites = PREP_MAX_SITES;
  PetscBool have_format, have_dir, have_out, have_classes, have_min_qc;

  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(ctx->opt.classes, "inputs/fluxdatakit-igbp.csv", sizeof ctx->opt.classes));
  PetscCall(core_opt_section(comm, "raci prep options"));
  PetscCall(core_opt_string(comm, "-format",
                            "Tower product: fluxnet-ch4, fluxdatakit or fluxnet2015; required (-format F -i DIR "
                            "repeated: several sources in one file); -format grid -help: gridded forcing",
                            format, sizeof format, &have_format));
  PetscCall(core_opt_string(comm, "-i", "Directory of the daily site CSVs; required", ctx->opt.dir, sizeof ctx->opt.dir,
                            &have_dir));
  PetscCall(
      core_opt_string(comm, "-o", "Output site file (NetCDF CDF-5); required", ctx->out, sizeof ctx->out, &have_out));
  PetscCall(core_opt_strings(comm, "-prep_sites", "Keep only these sites (comma-separated ids)", sites, &nsites, NULL));
  PetscCall(core_opt_string(comm, "-prep_meta", "Site metadata CSV (default: the one in the -i directory)",
                            ctx->opt.meta, sizeof ctx->opt.meta, NULL));
  PetscCall(core_opt_string(comm, "-prep_classes", "fluxdatakit: CSV site,class with the IGBP class of each site",
                            ctx->opt.classes, sizeof ctx->opt.classes, &have_classes));
  PetscCall(core_opt_bool(comm, "-prep_use_gapfilled",
                          "fluxnet-ch4: the target is the gap-filled series, the measured one is kept as X_measured",
                          ctx->opt.use_gapfilled, &ctx->opt.use_gapfilled, NULL));
  {
    PetscReal q;
    PetscCall(core_opt_real(comm, "-prep_min_qc",
                            "fluxnet2015: a day is measured (GPP, RECO, NEE) when NEE_VUT_REF_QC is at least this", 0.8,
                            0, 1, CORE_OPT_CLOSED, &q, &have_min_qc));
    ctx->opt.min_qc = q;
  }
  PetscCall(core_opt_string(comm, "-prep_out_of_range", "Values outside their physical range: error or missing", oor,
                            sizeof oor, NULL));
  PetscCall(core_opt_quiet(comm, &ctx->quiet));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS);

  for (PetscInt i = 0; i < nsites; i++) {
    size_t n = strlen(sites[i]);
    PetscCheck(n > 0 && n < PREP_ID_LEN, comm, RACI_ERR_INPUT,
               "-prep_sites: '%s' is not a site id (1 to %d characters)", sites[i], PREP_ID_LEN - 1);
    PetscCall(PetscStrncpy(ctx->opt.sites[i], sites[i], PREP_ID_LEN));
    PetscCall(PetscFree(sites[i]));
  }
  ctx->opt.nsites = (int)nsites;
  PetscCheck(have_format, comm, RACI_ERR_INPUT, "raci prep needs -format fluxnet-ch4|fluxdatakit|fluxnet2015");
  PetscCheck(have_dir, comm, RACI_ERR_INPUT, "raci prep needs -i DIR (the directory of the site CSVs)");
  { /* several sources: -format F -i DIR repeated on the command line, paired in order */
    int    argc, nf = 0, ni = 0;
    char **args, *fmts[PREP_MAX_SOURCES + 1], *dirs[PREP_MAX_SOURCES + 1];
    PetscCall(PetscGetArgs(&argc, &args));
    for (int i = 1; i + 1 < argc; i++) {
      if (!strcmp(args[i], "-format") && nf <= PREP_MAX_SOURCES)
        fmts[nf++] = args[++i];
      else if (!strcmp(args[i], "-i") && ni <= PREP_MAX_SOURCES)
        dirs[ni++] = args[++i];
    }
    PetscCheck(nf <= PREP_MAX_SOURCES, comm, RACI_ERR_INPUT, "raci prep takes at most %d -format -i pairs",
               PREP_MAX_SOURCES);
    PetscCheck(nf == ni || (nf <= 1 && ni <= 1), comm, RACI_ERR_INPUT,
               "%d -format and %d -i options: give one -format before each -i (-format F1 -i DIR1 -format F2 -i DIR2)",
               nf, ni);
    ctx->nsrc = nf > 1 ? nf : 1;
    for (int k = 0; k < ctx->nsrc; k++) {
      const char *f = nf > 1 ? fmts[k] : format;
      ctx->fmt[k]   = PREP_NUM_FORMATS;
      for (int j = 0; j < PREP_NUM_FORMATS; j++)
        if (!strcmp(f, prep_format_name[j])) ctx->fmt[k] = (PrepFormat)j;
      PetscCheck(ctx->fmt[k] != PREP_NUM_FORMATS, comm, RACI_ERR_INPUT,
                 "-format %s: unknown tower format (fluxnet-ch4, fluxdatakit or fluxnet2015)", f);
      PetscCall(PetscStrncpy(ctx->dir[k], nf > 1 ? dirs[k] : ctx->opt.dir, sizeof ctx->dir[k]));
      for (int j = 0; j < k; j++)
        PetscCheck(strcmp(ctx->dir[j], ctx->dir[k]) || ctx->fmt[j] != ctx->fmt[k], comm, RACI_ERR_INPUT,
                   "-format %s -i %s is given twice", f, ctx->dir[k]);
    }
    ctx->opt.format = ctx->fmt[0];
    PetscCall(PetscStrncpy(ctx->opt.dir, ctx->dir[0], sizeof ctx->opt.dir));
    PetscCheck(ctx->nsrc == 1 || (!ctx->opt.meta[0] && !ctx->opt.nsites), comm, RACI_ERR_INPUT,
               "-prep_meta and -prep_sites take one source; with several -format -i pairs each directory's own site "
               "metadata is read and every site kept");
  }
  PetscCheck(!have_min_qc || prep_has_format(ctx, PREP_FLUXNET2015), comm, RACI_ERR_INPUT,
             "-prep_min_qc is for -format fluxnet2015");
  PetscCheck(have_out, comm, RACI_ERR_INPUT, "raci prep needs -o FILE");
  PetscCheck(!strcmp(oor, "error") || !strcmp(oor, "missing"), comm, RACI_ERR_INPUT,
             "-prep_out_of_range %s: use error or missing", oor);
  ctx->opt.oor_missing = (PetscBool)!strcmp(oor, "missing");
  if (!have_classes && access(ctx->opt.classes, R_OK) != 0) {
    /* run from elsewhere: the table beside the binary's tree (bin/../inputs) */
    char    exe[PETSC_MAX_PATH_LEN - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      char *slash;
      exe[n] = '\0';
      if ((slash = strrchr(exe, '/'))) *slash = '\0';
      snprintf(ctx->opt.classes, sizeof ctx->opt.classes, "%s/../inputs/fluxdatakit-igbp.csv", exe);
    }
  }
  PetscCheck(!have_classes || prep_has_format(ctx, PREP_FLUXDATAKIT), comm, RACI_ERR_INPUT,
             "-prep_classes is for -format fluxdatakit (FLUXNET-CH4 classes come from its site metadata)");
  /* FluxDataKit has no measured-only series to keep beside a gap-filled one */
  PetscCheck(!ctx->opt.use_gapfilled || prep_has_format(ctx, PREP_FLUXNET_CH4), comm, RACI_ERR_INPUT,
             "-prep_use_gapfilled is for -format fluxnet-ch4 (FluxDataKit's GPP is already the reference product)");
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode define_output(IoFile *out, const PrepCtx *ctx, const PrepHeader *h, int *vtime, int *vsite,
                                    int *vlat, int *vlon, int vvar[])
{
  int   dt, ds, dc, d2[2];
  float fill = DATA_FILL;
  char  buf[256];

  PetscFunctionBeginUser;
  PetscCall(io_def_dim(out, "time", h->nt, &dt));
  PetscCall(io_def_dim(out, "site", h->nsite, &ds));
  PetscCall(io_def_dim(out, "nchar", PREP_ID_LEN, &dc));
  PetscCall(io_def_var(out, "time", NC_DOUBLE, 1, &dt, vtime));
  PetscCall(PetscSNPrintf(buf, sizeof buf, "days since %04d-01-01 00:00:00", h->year0));
  PetscCall(io_put_att_text(out, *vtime, "units", buf));
  PetscCall(io_put_att_text(out, *vtime, "calendar", "standard"));
  PetscCall(io_put_att_text(out, *vtime, "standard_name", "time"));
  PetscCall(io_put_att_text(out, *vtime, "long_name", "time"));
  PetscCall(io_put_att_text(out, *vtime, "axis", "T"));
  d2[0] = ds, d2[1] = dc;
  PetscCall(io_def_var(out, "site_id", NC_CHAR, 2, d2, vsite));
  PetscCall(io_put_att_text(out, *vsite, "long_name", "FLUXNET site id"));
  PetscCall(io_put_att_text(out, *vsite, "cf_role", "timeseries_id"));
  PetscCall(io_def_var(out, "lat", NC_FLOAT, 1, &ds, vlat));
  PetscCall(io_put_att_text(out, *vlat, "units", "degrees_north"));
  PetscCall(io_put_att_text(out, *vlat, "standard_name", "latitude"));
  PetscCall(io_put_att_text(out, *vlat, "long_name", "latitude"));
  PetscCall(io_def_var(out, "lon", NC_FLOAT, 1, &ds, vlon));
  PetscCall(io_put_att_text(out, *vlon, "units", "degrees_east"));
  PetscCall(io_put_att_text(out, *vlon, "standard_name", "longitude"));
  PetscCall(io_put_att_text(out, *vlon, "long_name", "longitude"));

  d2[0] = dt, d2[1] = ds;
  for (int v = 0; v < h->nvar; v++) {
    const PrepVar *pv = &h->var[v];
    if (pv->is_class) {
      signed char flags[PREP_MAX_CLASSES];
      char        meanings[PREP_MAX_CLASSES * PREP_CLASS_LEN] = "";
      PetscCall(io_def_var(out, pv->name, NC_BYTE, 1, &ds, &vvar[v]));
      for (int c = 0; c < h->nclass; c++) {
        flags[c] = (signed char)c;
        if (c) PetscCall(PetscStrlcat(meanings, " ", sizeof meanings));
        PetscCall(PetscStrlcat(meanings, h->class_name[c], sizeof meanings));
      }
      PetscCall(io_agree_nc(out->comm,
                            ncmpi_put_att_schar(out->ncid, vvar[v], "flag_values", NC_BYTE, h->nclass, flags),
                            RACI_ERR_WRITE, out->path, pv->name));
      PetscCall(io_put_att_text(out, vvar[v], "flag_meanings", meanings));
    } else {
      PetscCall(io_def_var(out, pv->name, NC_FLOAT, pv->timevarying ? 2 : 1, pv->timevarying ? d2 : &ds, &vvar[v]));
      PetscCall(io_put_att_float(out, vvar[v], "_FillValue", NC_FLOAT, 1, &fill));
      PetscCall(io_put_att_text(out, vvar[v], "units", pv->units));
      if (pv->timevarying) PetscCall(io_put_att_text(out, vvar[v], "cell_methods", "time: mean")); /* daily means */
    }
    PetscCall(io_put_att_text(out, vvar[v], "long_name", pv->long_name));
    if (pv->standard_name[0]) PetscCall(io_put_att_text(out, vvar[v], "standard_name", pv->standard_name));
    if (pv->role[0]) PetscCall(io_put_att_text(out, vvar[v], "raci_role", pv->role));
    if (pv->comment[0]) PetscCall(io_put_att_text(out, vvar[v], "comment", pv->comment));
    PetscCall(io_put_att_text(out, vvar[v], "coordinates", "lat lon site_id"));
  }

  PetscCall(io_put_att_text(out, NC_GLOBAL, "Conventions", "CF-1.8"));
  PetscCall(io_put_att_text(out, NC_GLOBAL, "title", h->title));
  PetscCall(io_put_att_text(out, NC_GLOBAL, "featureType", "timeSeries"));
  PetscCall(io_put_att_text(out, NC_GLOBAL, "source", h->source));
  if (h->references[0]) PetscCall(io_put_att_text(out, NC_GLOBAL, "references", h->references));
  PetscCall(PetscSNPrintf(buf, sizeof buf, "format %s; target %s; values out of range: %s", h->formats,
                          ctx->opt.use_gapfilled ? "gap-filled" : "measured",
                          ctx->opt.oor_missing ? "missing" : "error"));
  PetscCall(io_put_att_text(out, NC_GLOBAL, "raci_prep", buf));
  {
    char line[4096];
    PetscCall(core_history_line(line, sizeof line));
    PetscCall(io_put_att_text(out, NC_GLOBAL, "history", line));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void format_day(int64_t day, char *buf, size_t len)
{
  int y, m, d;
  prep_civil_from_days(day, &y, &m, &d);
  snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
}

/* Rank 0: what was turned missing (always, since it changes the data), then
 * the summary unless -quiet. */
static PetscErrorCode report(const PrepCtx *ctx, const PrepSet *set)
{
  const PrepHeader *h = &set->h;
  char              a[16], b[16], line[PETSC_MAX_PATH_LEN + 256];
  int               total = 0;

  PetscFunctionBeginUser;
  for (int i = 0; i < set->noor; i++) {
    const PrepOutOfRange *o = &set->oor[i];
    snprintf(line, sizeof line,
             "raci prep: %s: column %s: %d value%s outside %s %g..%g %s set missing (first on line %d)\n", o->file,
             o->column, o->count, o->count == 1 ? "" : "s", o->var, o->lo, o->hi, o->units, o->first_line);
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "%s", line));
    total += o->count;
  }
  if (h->unknown_class[0])
    PetscCall(PetscPrintf(PETSC_COMM_SELF,
                          "raci prep: warning: sites without a class in the site table or -prep_classes get the class "
                          "unknown (their class input is 0): %s\n",
                          h->unknown_class));
  if (h->partial[0])
    PetscCall(PetscPrintf(PETSC_COMM_SELF,
                          "raci prep: note: drivers that one of a site's sources lacks, kept where the others have "
                          "them (training flags a driver missing for %d days in a row or more, and enters it as absent "
                          "in the segments that lack it): %s\n",
                          DATA_HOLE_FLAG_DAYS, h->partial));
  if (ctx->quiet) PetscFunctionReturn(PETSC_SUCCESS);
  format_day(h->day0, a, sizeof a);
  format_day(h->day0 + h->nt - 1, b, sizeof b);
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "raci prep: wrote %s: %s, %d sites, %d days from %s to %s\n", ctx->out,
                        h->formats, h->nsite, h->nt, a, b));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "  %-10s %-10s %-10s %6s %9s\n", "site", "first", "last", "rows",
                        h->var[set->target].name));
  for (int s = 0; s < h->nsite; s++) {
    format_day(set->first[s], a, sizeof a);
    format_day(set->last[s], b, sizeof b);
    PetscCall(
        PetscPrintf(PETSC_COMM_SELF, "  %-10s %-10s %-10s %6d %9d\n", h->site[s], a, b, set->nrow[s], set->ntarget[s]));
  }
  for (int r = 1; r < 4; r++) {
    static const char *roles[]    = {"", "fast", "slow", "target"};
    char               names[512] = "";
    for (int v = 0; v < h->nvar; v++)
      if (!strcmp(h->var[v].role, roles[r])) {
        PetscCall(PetscStrlcat(names, " ", sizeof names));
        PetscCall(PetscStrlcat(names, h->var[v].name, sizeof names));
      }
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "  %s:%s\n", roles[r], names));
  }
  if (h->notrole[0])
    PetscCall(PetscPrintf(PETSC_COMM_SELF,
                          "  no role (some site lacks them entirely; name them with -fast to use them): %s\n",
                          h->notrole));
  if (ctx->opt.oor_missing) PetscCall(PetscPrintf(PETSC_COMM_SELF, "  values out of range set missing: %d\n", total));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_prep(MPI_Comm comm)
{
  PrepCtx     ctx;
  PrepSet     set;
  PrepHeader *h = &set.h;
  IoFile     *out;
  char        msg[PREP_MSG_LEN] = "";
  int         vtime, vsite, vlat, vlon, vvar[PREP_MAX_VARS];
  double     *tm  = NULL;
  char       *ids = NULL;
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  { /* gridded forcing is its own path (src/app/prep_grid.c) */
    char      f[32] = "";
    PetscBool set_f = PETSC_FALSE;
    PetscCall(PetscOptionsGetString(NULL, NULL, "-format", f, sizeof f, &set_f));
    if (set_f && !strcmp(f, "grid")) PetscFunctionReturn(app_prep_grid(comm));
  }
  PetscCall(PetscMemzero(&ctx, sizeof ctx));
  PetscCall(PetscMemzero(&set, sizeof set));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(prep_options(comm, &ctx));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options are listed; nothing runs */
  PetscCall(core_check_unused_options(comm));
  {
    const char *in[]   = {"-prep_meta", ctx.opt.meta, "-prep_classes", ctx.opt.classes, NULL},
               *outs[] = {"-o", ctx.out, NULL};
    size_t n           = strlen(ctx.out);
    int    bad = 0, k = 0;
    PetscCall(core_check_paths(comm, in, outs));
    /* the *.csv files of -i are inputs too: an existing one is never the output */
    if (rank == 0 && n > 4 && !strcmp(ctx.out + n - 4, ".csv")) {
      struct stat so, sd;
      char        dir[PETSC_MAX_PATH_LEN];
      PetscCall(PetscStrncpy(dir, ctx.out, sizeof dir));
      bad = !stat(ctx.out, &so) && !stat(dirname(dir), &so);
      for (k = 0; bad && k < ctx.nsrc; k++)
        if (!stat(ctx.dir[k], &sd) && so.st_dev == sd.st_dev && so.st_ino == sd.st_ino) break;
      bad = bad && k < ctx.nsrc;
    }
    PetscCall(core_rank0_check(comm, bad ? RACI_ERR_INPUT : 0,
                               "-o '%s' is one of the CSV files of -i '%s' that raci prep reads: writing the output "
                               "would destroy the input; choose another output path",
                               ctx.out, ctx.dir[bad ? k : 0]));
  }

  PetscCall(core_stage_push(CORE_STAGE_LOAD));
  if (rank == 0) {
    if (ctx.nsrc == 1)
      PetscCall(prep_load(&ctx.opt, &set, msg, sizeof msg));
    else { /* each source, then one set */
      PrepSet src[PREP_MAX_SOURCES];
      int     k = 0;
      PetscCall(PetscMemzero(src, sizeof src));
      for (; k < ctx.nsrc && !msg[0]; k++) {
        PrepOptions o = ctx.opt;
        o.format      = ctx.fmt[k];
        PetscCall(PetscStrncpy(o.dir, ctx.dir[k], sizeof o.dir));
        PetscCall(prep_load(&o, &src[k], msg, sizeof msg));
      }
      if (msg[0])
        for (int j = 0; j < k; j++) PetscCall(prep_set_destroy(&src[j]));
      else
        PetscCall(prep_merge(src, ctx.nsrc, &set, msg, sizeof msg));
    }
    if (msg[0]) PetscCall(prep_set_destroy(&set));
  }
  PetscCall(core_rank0_check(comm, msg[0] ? RACI_ERR_INPUT : 0, "%s", msg));
  PetscCallMPI(MPI_Bcast(h, sizeof *h, MPI_BYTE, 0, comm));
  PetscCall(core_stage_pop());

  PetscCall(core_stage_push(CORE_STAGE_WRITE));
  PetscCall(io_create(comm, ctx.out, &out));
  PetscCall(define_output(out, &ctx, h, &vtime, &vsite, &vlat, &vlon, vvar));
  PetscCall(io_enddef(out));
  {
    /* rank 0 writes everything; the others join the collective wait with nothing */
    MPI_Offset zero[2] = {0, 0}, cnt_t = 0, cnt_s = 0, cnt_id[2] = {0, 0}, cnt_ts[2] = {0, 0};
    if (rank == 0) {
      int64_t epoch = prep_days_from_civil(h->year0, 1, 1);
      cnt_t = h->nt, cnt_s = h->nsite;
      cnt_id[0] = h->nsite, cnt_id[1] = PREP_ID_LEN;
      cnt_ts[0] = h->nt, cnt_ts[1] = h->nsite;
      PetscCall(PetscMalloc1(h->nt, &tm));
      PetscCall(PetscCalloc1((size_t)h->nsite * PREP_ID_LEN, &ids));
      for (int t = 0; t < h->nt; t++) tm[t] = (double)(h->day0 - epoch + t);
      /* site ids NUL-padded to nchar, as site-input.cdl has them */
      for (int s = 0; s < h->nsite; s++) memcpy(ids + (size_t)s * PREP_ID_LEN, h->site[s], strlen(h->site[s]));
      for (int v = 0; v < h->nvar; v++) {
        size_t n = h->var[v].timevarying ? (size_t)h->nt * h->nsite : (size_t)h->nsite;
        for (size_t i = 0; i < n; i++)
          if (isnan(set.val[v][i])) set.val[v][i] = DATA_FILL;
      }
    }
    PetscCall(io_iput_double(out, vtime, zero, &cnt_t, tm));
    PetscCall(io_iput_text(out, vsite, zero, cnt_id, ids));
    PetscCall(io_iput_float(out, vlat, zero, &cnt_s, set.lat));
    PetscCall(io_iput_float(out, vlon, zero, &cnt_s, set.lon));
    /* class codes are floats in memory; PnetCDF converts them to the byte variable */
    for (int v = 0; v < h->nvar; v++)
      PetscCall(io_iput_float(out, vvar[v], zero, h->var[v].timevarying ? cnt_ts : &cnt_s, set.val[v]));
    PetscCall(io_wait_all(out));
  }
  PetscCall(io_commit(&out));
  PetscCall(core_stage_pop());

  if (rank == 0) PetscCall(report(&ctx, &set));
  PetscCall(PetscFree(tm));
  PetscCall(PetscFree(ids));
  PetscCall(prep_set_destroy(&set));
  PetscFunctionReturn(PETSC_SUCCESS);
}
