/* raci convert -data IN -o OUT: the read-decompose-write path end to end.
 *
 * Reads the role variables of IN over this rank's tile plus halo (grids) or
 * site block, in chunks of time steps, and writes them collectively to OUT as
 * CF-1.8 CDF-5 in raci's layout: float, _FillValue -9999, raci_role set,
 * units and names carried over, coordinates copied. The output does not
 * depend on the number of ranks. */
#include <raci/app.h>
#include <raci/data.h>

#include <libgen.h>
#include <string.h>

/* Attributes not carried over: raci rewrites missing values and unpacks. */
static const char *const skip_atts[] = {"_FillValue",  "missing_value", "valid_range", "valid_min",
                                        "valid_max",   "scale_factor",  "add_offset",  "raci_role",
                                        "flag_values", "flag_masks",    NULL};

typedef struct {
  char     data[PETSC_MAX_PATH_LEN];
  char     out[PETSC_MAX_PATH_LEN];
  PetscInt halo;
  PetscInt chunk; /* time steps per read/write */
} ConvertCtx;

static PetscErrorCode convert_options(MPI_Comm comm, ConvertCtx *ctx)
{
  PetscBool have_data = PETSC_FALSE, have_out = PETSC_FALSE;

  PetscFunctionBeginUser;
  ctx->halo  = 1;
  ctx->chunk = 365;
  PetscCall(core_opt_section(comm, "raci convert options"));
  PetscCall(core_opt_string(comm, "-data", "Input NetCDF file; required", ctx->data, sizeof ctx->data, &have_data));
  PetscCall(core_opt_string(comm, "-o", "Output NetCDF file (CDF-5); required", ctx->out, sizeof ctx->out, &have_out));
  PetscCall(data_opt_halo(comm, &ctx->halo));
  PetscCall(core_opt_int(comm, "-convert_chunk", "Time steps read and written at once", ctx->chunk, 1, 1000000,
                         &ctx->chunk, NULL));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(have_data, comm, RACI_ERR_INPUT, "raci convert needs -data FILE");
  PetscCheck(have_out, comm, RACI_ERR_INPUT, "raci convert needs -o FILE");
  PetscCheck(ctx->chunk > 0, comm, RACI_ERR_INPUT, "-convert_chunk must be positive, got %" PetscInt_FMT, ctx->chunk);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* CF: flag_values and flag_masks have the type of their (now float) variable. */
static PetscErrorCode copy_flags_as_float(const IoFile *in, int v, IoFile *out, int w)
{
  static const char *names[] = {"flag_values", "flag_masks", NULL};

  PetscFunctionBeginUser;
  for (int a = 0; names[a]; a++) {
    double vals[64];
    float  fv[64];
    int    n;
    PetscCall(io_att_doubles(in, v, names[a], vals, 64, &n));
    if (!n) continue;
    for (int i = 0; i < n; i++) fv[i] = (float)vals[i];
    PetscCall(io_put_att_float(out, w, names[a], NC_FLOAT, n, fv));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_convert(MPI_Comm comm)
{
  ConvertCtx    ctx;
  RoleOptions   ro;
  Dataset      *ds;
  IoFile       *out;
  DataOutLayout L;
  int           varid[DATA_MAX_VARS];
  float        *pack[DATA_MAX_VARS] = {NULL};
  char          title[PETSC_MAX_PATH_LEN + 64], base[PETSC_MAX_PATH_LEN];
  PetscInt      nodata, unusable, total, nsteps;
  double        t_read = 0, t_write = 0, bytes = 0, t;
  PetscMPIInt   size;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&ctx, sizeof ctx));
  PetscCall(convert_options(comm, &ctx));
  PetscCall(data_role_options(comm, &ro));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options are listed; nothing runs */
  {
    const char *in[] = {"-data", ctx.data, NULL}, *outs[] = {"-o", ctx.out, NULL};
    PetscCall(core_check_paths(comm, in, outs));
  }
  PetscCall(data_open(comm, ctx.data, &ro, ctx.halo, &ds));
  PetscCall(core_check_unused_options(comm));
  PetscCallMPI(MPI_Comm_size(comm, &size));

  PetscCall(core_stage_push(CORE_STAGE_WRITE));
  PetscCall(io_create(comm, ctx.out, &out));
  PetscCall(PetscStrncpy(base, ctx.data, sizeof base));
  PetscCall(PetscSNPrintf(title, sizeof title, "raci convert of %s", basename(base)));
  PetscCall(data_def_output(ds, out, io_att_text_len(ds->file, NC_GLOBAL, "title") ? NULL : title, &L));
  for (int k = 0; k < ds->nvar; k++) {
    DataVar *dv = &ds->var[k];
    PetscCall(data_def_field(ds, out, &L, dv->name, (PetscBool)(dv->role != ROLE_SLOW), &varid[k]));
    PetscCall(io_copy_atts(ds->file, dv->varid, out, varid[k], skip_atts));
    PetscCall(copy_flags_as_float(ds->file, dv->varid, out, varid[k]));
    PetscCall(io_put_att_text(out, varid[k], "raci_role", role_name[dv->role]));
  }
  PetscCall(io_enddef(out));
  PetscCall(data_put_coords(ds, out, &L));
  PetscCall(core_stage_pop());

  nsteps = ds->tdim >= 0 ? ds->nt : 0;
  for (PetscInt t0 = 0; t0 < nsteps || t0 == 0; t0 += ctx.chunk) {
    PetscInt nt = PetscMin(ctx.chunk, nsteps - t0);

    t = MPI_Wtime();
    PetscCall(data_read(ds, t0, nt));
    t_read += MPI_Wtime() - t;
    t = MPI_Wtime();
    PetscCall(core_stage_push(CORE_STAGE_WRITE));
    for (int k = 0; k < ds->nvar; k++) {
      DataVar  *dv   = &ds->var[k];
      PetscBool slow = (PetscBool)(dv->role == ROLE_SLOW);
      PetscInt  n    = (slow ? 1 : nt) * grid_owned_count(&ds->tile);
      if (slow && t0 > 0) continue;
      PetscCall(PetscFree(pack[k]));
      PetscCall(PetscMalloc1(n + 1, &pack[k]));
      PetscCall(data_iput_field(&ds->tile, ds->layout, out, varid[k], (PetscBool)!slow, t0, nt, dv->val, pack[k]));
      bytes += 4.0 * (double)n;
    }
    PetscCall(io_wait_all(out));
    PetscCall(core_stage_pop());
    t_write += MPI_Wtime() - t;
    if (nsteps == 0) break;
  }
  for (int k = 0; k < ds->nvar; k++) PetscCall(PetscFree(pack[k]));
  PetscCall(data_check_usable(ds, &nodata, &unusable, &total));
  PetscCall(io_commit(&out));

  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &bytes, 1, MPI_DOUBLE, MPI_SUM, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &t_read, 1, MPI_DOUBLE, MPI_MAX, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &t_write, 1, MPI_DOUBLE, MPI_MAX, comm));
  {
    int nf = 0, ns = 0, ntg = 0;
    for (int k = 0; k < ds->nvar; k++) {
      nf += ds->var[k].role == ROLE_FAST;
      ns += ds->var[k].role == ROLE_SLOW;
      ntg += ds->var[k].role == ROLE_TARGET;
    }
    PetscCall(PetscPrintf(comm, "raci convert: %s -> %s\n", ctx.data, ctx.out));
    if (ds->layout == LAYOUT_GRID)
      PetscCall(PetscPrintf(comm,
                            "  grid %" PetscInt_FMT " x %" PetscInt_FMT " cells, %" PetscInt_FMT
                            " time steps; %d ranks as a %d x %d DMDA process grid, halo %" PetscInt_FMT "\n",
                            ds->tile.nx, ds->tile.ny, ds->nt, size, ds->tile.px, ds->tile.py, ds->tile.halo));
    else
      PetscCall(PetscPrintf(
          comm, "  %" PetscInt_FMT " sites, %" PetscInt_FMT " time steps; %d ranks, contiguous site blocks\n",
          ds->tile.nx, ds->nt, size));
    PetscCall(PetscPrintf(comm,
                          "  %d fast, %d slow, %d target variables; of %" PetscInt_FMT " locations, %" PetscInt_FMT
                          " are ocean or no data (no fast or slow value), %" PetscInt_FMT
                          " lack some fast or slow value (towers outside their record, partial masks)\n",
                          nf, ns, ntg, total, nodata, unusable));
    PetscCall(PetscPrintf(comm, "  read %.3f s, wrote %.2f MB in %.3f s (%.1f MB/s)\n", t_read, bytes / 1e6, t_write,
                          t_write > 0 ? bytes / 1e6 / t_write : 0.0));
  }
  PetscCall(data_close(&ds));
  PetscFunctionReturn(PETSC_SUCCESS);
}
