/* raci simulate -o FILE: the embedded default dataset (DESIGN.md section 7).
 *
 * Every rank simulates its own DMDA tile for all days, in chunks of days, and
 * writes each chunk collectively. The land mask is read whole on every rank
 * (it is small) so continentality and the tower draw need no messages, and all
 * random numbers are keyed by global cell and day: the file is the same on any
 * number of ranks. */
#include <raci/app.h>
#include <raci/data.h>
#include <raci/sim.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char      out[PETSC_MAX_PATH_LEN];
  char      mask[PETSC_MAX_PATH_LEN];
  PetscReal res;
  PetscReal lon[2], lat[2];
  PetscInt  years, start_year, chunk, spinup, towers;
  PetscInt  seed;
  PetscReal length_km, phi, noise, latent, local;
  PetscBool quiet;
} SimCtx;

/* The variables of the output, in file order. */
enum { V_TA, V_SW_IN, V_VPD, V_P, V_TS, V_SWC, V_GPP, V_RECO, V_NEE, V_FCH4, NV_DAILY };
enum { S_CLASS, S_ELEV, S_CLAY, S_SOC, S_WETLAND, S_WHC, S_MAT, S_MAP, NV_STATIC };

typedef struct {
  const char *name, *units, *long_name, *standard_name;
  Role        role;
} SimVarInfo;

static const SimVarInfo daily_info[NV_DAILY] = {
    {"TA", "degC", "air temperature, daily mean", "air_temperature", ROLE_FAST},
    {"SW_IN", "W m-2", "incoming shortwave radiation, daily mean", "surface_downwelling_shortwave_flux_in_air",
     ROLE_FAST},
    {"VPD", "hPa", "vapour pressure deficit, daily mean", "water_vapor_saturation_deficit_in_air", ROLE_FAST},
    {"P", "mm d-1", "precipitation, daily total", "lwe_precipitation_rate", ROLE_FAST},
    {"TS", "degC", "soil temperature, daily mean", "soil_temperature", ROLE_FAST},
    {"SWC", "%", "soil water content, volumetric", "volume_fraction_of_condensed_water_in_soil", ROLE_FAST},
    {"GPP", "g m-2 d-1", "gross primary productivity, carbon",
     "gross_primary_productivity_of_biomass_expressed_as_carbon", ROLE_TARGET},
    {"RECO", "g m-2 d-1", "ecosystem respiration, carbon", NULL, ROLE_TARGET},
    {"NEE", "g m-2 d-1", "net ecosystem exchange of CO2, carbon, positive to the atmosphere (RECO - GPP)", NULL,
     ROLE_TARGET},
    {"FCH4", "nmol m-2 s-1", "methane flux, daily mean, positive to the atmosphere", NULL, ROLE_TARGET},
};
static const SimVarInfo static_info[NV_STATIC] = {
    {"class", NULL, "regime class", NULL, ROLE_SLOW},
    {"elev", "m", "elevation above sea level", "surface_altitude", ROLE_SLOW},
    {"clay", "%", "soil clay content", NULL, ROLE_SLOW},
    {"soc", "kg m-2", "soil organic carbon", "soil_mass_content_of_carbon", ROLE_SLOW},
    {"wetland_frac", "1", "wetland fraction of the cell", NULL, ROLE_SLOW},
    {"whc", "mm", "plant-available water-holding capacity", NULL, ROLE_SLOW},
    {"MAT", "degC", "air temperature, climatological annual mean", "air_temperature", ROLE_SLOW},
    {"MAP", "mm yr-1", "precipitation, climatological annual total", NULL, ROLE_SLOW},
};

/* Typical size of each target, the unit of -sim_noise. */
static const double noise_scale[NV_DAILY] = {0, 0, 0, 0, 0, 0, 1.0, 1.0, 1.0, 10.0};

/* The default land-sea mask: under $RACI_SHARED_DATA when set, else under
 * the shared data beside the project the binary was built in
 * (bin/../../shared/data), so it does not depend on the current directory. */
static void default_mask(char *path, size_t len, PetscBool *from_env)
{
  const char *shared = getenv("RACI_SHARED_DATA");
  const char *rel    = "gridded/landsea-1deg/landsea.nc";
  char        exe[PETSC_MAX_PATH_LEN - 64];
  ssize_t     n;

  *from_env = (PetscBool)(shared && *shared);
  if (*from_env) {
    snprintf(path, len, "%s/%s", shared, rel);
    return;
  }
  n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    char *slash;
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/'))) *slash = '\0'; /* .../bin */
    snprintf(path, len, "%s/../../shared/data/%s", exe, rel);
  } else
    snprintf(path, len, "../shared/data/%s", rel);
}

static PetscErrorCode sim_options(MPI_Comm comm, SimCtx *ctx)
{
  PetscBool have_out, have_mask, from_env, found;
  PetscInt  n;

  PetscFunctionBeginUser;
  ctx->res        = 1.0;
  ctx->lon[0]     = -170;
  ctx->lon[1]     = -50;
  ctx->lat[0]     = 10;
  ctx->lat[1]     = 75;
  ctx->years      = 2;
  ctx->start_year = 2001;
  ctx->chunk      = 73;
  ctx->spinup     = 365;
  ctx->towers     = 0;
  ctx->seed       = 1;
  ctx->length_km  = 500;
  ctx->phi        = 0.7;
  ctx->noise      = 0;
  ctx->latent     = 0;
  ctx->local      = 0;
  ctx->quiet      = PETSC_FALSE;
  default_mask(ctx->mask, sizeof ctx->mask, &from_env);
  PetscCall(core_opt_section(comm, "raci simulate options"));
  PetscCall(core_opt_string(comm, "-o", "Output NetCDF file (CDF-5); required", ctx->out, sizeof ctx->out, &have_out));
  PetscCall(core_opt_real(comm, "-sim_res", "Grid spacing, degrees (1, 0.5, 0.25, ...: 1/res must be a whole number)",
                          ctx->res, 0, 1, CORE_OPT_OPEN_MIN, &ctx->res, NULL));
  n = 2;
  PetscCall(core_opt_reals(comm, "-sim_lon", "Longitude range west,east (degrees east)", ctx->lon, 2, 2, &n, NULL));
  n = 2;
  PetscCall(core_opt_reals(comm, "-sim_lat", "Latitude range south,north (degrees north)", ctx->lat, 2, 2, &n, NULL));
  PetscCall(
      core_opt_int(comm, "-sim_years", "Years simulated (365-day years)", ctx->years, 1, 1000, &ctx->years, NULL));
  PetscCall(core_opt_int(comm, "-sim_start_year", "Calendar year of the first day", ctx->start_year, 1, 9999,
                         &ctx->start_year, NULL));
  PetscCall(core_opt_int(comm, "-sim_seed", "Random seed", ctx->seed, PETSC_MIN_INT, PETSC_MAX_INT, &ctx->seed, NULL));
  PetscCall(core_opt_real(comm, "-sim_length_scale", "Correlation length of daily weather anomalies, km",
                          ctx->length_km, 0, 20000, CORE_OPT_OPEN_MIN, &ctx->length_km, NULL));
  PetscCall(core_opt_real(comm, "-sim_ar_phi", "Day-to-day persistence (AR(1) coefficient) of anomalies", ctx->phi, 0,
                          1, CORE_OPT_OPEN_MAX, &ctx->phi, NULL));
  PetscCall(core_opt_real(comm, "-sim_latent",
                          "Unobserved heterogeneity: sd of smooth log-multipliers of light-use efficiency and "
                          "respiration (in no input; 0: none)",
                          ctx->latent, 0, 2, CORE_OPT_CLOSED, &ctx->latent, NULL));
  PetscCall(core_opt_real(comm, "-sim_local",
                          "Point weather, as a tower records it: sd of daily anomalies of temperature and wetness "
                          "that differ from cell to cell, added to the smooth ones (0: the cell's smooth forcing)",
                          ctx->local, 0, 3, CORE_OPT_CLOSED, &ctx->local, NULL));
  PetscCall(core_opt_real(comm, "-sim_noise",
                          "Observation noise on targets, in units of 1 g C m-2 d-1 (CO2) and 10 nmol m-2 s-1 (CH4)",
                          ctx->noise, 0, 1000, CORE_OPT_CLOSED, &ctx->noise, NULL));
  PetscCall(core_opt_int(comm, "-sim_towers", "Keep targets only at this many land cells (0: everywhere)", ctx->towers,
                         0, PETSC_MAX_INT, &ctx->towers, NULL));
  PetscCall(core_opt_int(comm, "-sim_spinup", "Days of weather spin-up before the first written day", ctx->spinup, 0,
                         36500, &ctx->spinup, NULL));
  PetscCall(
      core_opt_int(comm, "-sim_chunk", "Days simulated and written at once", ctx->chunk, 1, 36500, &ctx->chunk, NULL));
  PetscCall(core_opt_string(comm, "-sim_mask",
                            "Global 1-degree land-sea mask (LSMASK: 1 land, 3 small island); default: under "
                            "$RACI_SHARED_DATA, else the shared data beside the binary's project",
                            ctx->mask, sizeof ctx->mask, &have_mask));
  PetscCall(core_opt_quiet(comm, &ctx->quiet));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(have_out, comm, RACI_ERR_INPUT, "raci simulate needs -o FILE");
  PetscCheck(ctx->res > 0 && ctx->res <= 1 && fabs(1.0 / ctx->res - round(1.0 / ctx->res)) < 1e-9, comm, RACI_ERR_INPUT,
             "-sim_res %.10g: 1/res must be a whole number (1, 0.5, 0.25, ...)", (double)ctx->res);
  PetscCheck(ctx->lon[0] < ctx->lon[1] && ctx->lon[0] >= -180 && ctx->lon[1] <= 360, comm, RACI_ERR_INPUT,
             "-sim_lon %.10g,%.10g: need west < east within [-180, 360]", (double)ctx->lon[0], (double)ctx->lon[1]);
  PetscCheck(ctx->lat[0] < ctx->lat[1] && ctx->lat[0] >= -90 && ctx->lat[1] <= 90, comm, RACI_ERR_INPUT,
             "-sim_lat %.10g,%.10g: need south < north within [-90, 90]", (double)ctx->lat[0], (double)ctx->lat[1]);
  ctx->chunk = PetscMin(ctx->chunk, ctx->years * 365); /* a chunk longer than the run is the run */
  if (!have_mask) {
    PetscCall(core_agree(comm, (PetscBool)(access(ctx->mask, R_OK) == 0), &found));
    PetscCheck(found, comm, RACI_ERR_OPEN,
               "no land-sea mask at %s (%s): set RACI_SHARED_DATA to the shared data directory or give -sim_mask FILE",
               ctx->mask, from_env ? "from RACI_SHARED_DATA" : "RACI_SHARED_DATA is not set; looked beside the binary");
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Refuses grids whose cell count overflows an int or whose buffers exceed
 * the memory, naming the options that set them. Collective. */
static PetscErrorCode sim_check_size(MPI_Comm comm, const SimCtx *ctx, double nx, double ny, double nt)
{
  PetscMPIInt size;
  double      cells = nx * ny, per_rank, bytes;
  char        what[256];

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  /* snprintf, not PETSc's printf: that one prints %g as "-170." */
  snprintf(what, sizeof what, "-sim_res %g over -sim_lon %g,%g and -sim_lat %g,%g", (double)ctx->res,
           (double)ctx->lon[0], (double)ctx->lon[1], (double)ctx->lat[0], (double)ctx->lat[1]);
  PetscCheck(cells <= PETSC_MAX_INT, comm, RACI_ERR_INPUT,
             "%s: the grid would have %.0f x %.0f = %.0f cells, too many (at most %d); use a coarser -sim_res or a "
             "smaller domain",
             what, nx, ny, cells, PETSC_MAX_INT);
  /* a rank's tile (at most cells/size + nx + ny + 1 cells, whatever the process grid): a chunk of
   * daily fields, static maps, cell state; the tower draw and coordinates of the whole grid */
  per_rank = ceil(cells / size) + nx + ny + 1;
  bytes = per_rank * (sizeof(float) * (NV_DAILY * (double)ctx->chunk + NV_STATIC) + sizeof(SimCell) + sizeof(SimState) +
                      2 * sizeof(SimLatticePoint) + 1) +
          (ctx->towers ? sizeof(double) * cells : 0) + sizeof(double) * (nx + ny + nt);
  snprintf(what + strlen(what), sizeof what - strlen(what), " (%.0f x %.0f cells) with -sim_chunk %d", nx, ny,
           (int)ctx->chunk);
  PetscCall(core_check_memory(comm, bytes, what));
  /* one chunk buffer is indexed with int */
  PetscCheck(NV_DAILY * (double)ctx->chunk * per_rank <= PETSC_MAX_INT, comm, RACI_ERR_INPUT,
             "%s: a chunk holds more than %d values per rank; use a smaller -sim_chunk or more ranks", what,
             PETSC_MAX_INT);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The global 1-degree mask, on every rank: (180 lat from -89.5, 360 lon from 0.5). */
static PetscErrorCode read_mask(MPI_Comm comm, const char *path, unsigned char *land)
{
  IoFile    *f;
  int        v;
  float     *m;
  MPI_Offset start[2] = {0, 0}, count[2] = {180, 360};
  double     lat0, lon0;

  PetscFunctionBeginUser;
  PetscCall(io_open(comm, path, &f));
  v = io_find_var(f, "LSMASK");
  PetscCheck(v >= 0, comm, RACI_ERR_DATA, "%s: no variable LSMASK (the 1-degree land-sea mask)", path);
  PetscCheck(f->vars[v].ndims == 2 && f->dims[f->vars[v].dimids[0]].len == 180 &&
                 f->dims[f->vars[v].dimids[1]].len == 360,
             comm, RACI_ERR_DATA, "%s: LSMASK must be (lat = 180, lon = 360)", path);
  {
    int        vlat = io_find_var(f, "lat"), vlon = io_find_var(f, "lon");
    MPI_Offset one = 1, zero = 0;
    PetscCheck(vlat >= 0 && vlon >= 0, comm, RACI_ERR_DATA, "%s: no lat/lon coordinates", path);
    PetscCall(io_read_double(f, vlat, &zero, &one, &lat0));
    PetscCall(io_read_double(f, vlon, &zero, &one, &lon0));
    PetscCheck(fabs(lat0 + 89.5) < 1e-3 && fabs(lon0 - 0.5) < 1e-3, comm, RACI_ERR_DATA,
               "%s: expected a global 1-degree grid starting at lat -89.5, lon 0.5 (got %.10g, %.10g)", path, lat0,
               lon0);
  }
  PetscCall(PetscMalloc1(180 * 360, &m));
  PetscCall(io_read_float(f, v, start, count, m));
  for (int i = 0; i < 180 * 360; i++) land[i] = (m[i] == 1.0f || m[i] == 3.0f); /* land, small island */
  PetscCall(PetscFree(m));
  PetscCall(io_close(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static int mask_index(double lat, double lon)
{
  int i = (int)floor(lat + 90.0), j = (int)floor(fmod(fmod(lon, 360.0) + 360.0, 360.0));
  i = i < 0 ? 0 : (i > 179 ? 179 : i);
  j = j > 359 ? 359 : j;
  return i * 360 + j;
}

/* Distance to the nearest ocean cell of the 1-degree mask, scaled to 0..1 at 12 degrees. */
static double continentality(const unsigned char *land, double lat, double lon)
{
  double best = 12.0, coslat = cos(lat * M_PI / 180.0);
  for (int di = -12; di <= 12; di++)
    for (int dj = -15; dj <= 15; dj++) {
      double dla = di, dlo = dj * coslat, d = sqrt(dla * dla + dlo * dlo);
      if (d >= best) continue;
      if (!land[mask_index(lat + di, lon + dj)]) best = d;
    }
  return best / 12.0;
}

/* Keep targets at the N land cells with the smallest draw: a threshold all ranks agree on. */
static PetscErrorCode tower_threshold(const SimCtx *ctx, const unsigned char *land, PetscInt nx, PetscInt ny,
                                      double *thresh)
{
  double  *u;
  PetscInt n = 0;

  PetscFunctionBeginUser;
  *thresh = 2.0;
  if (ctx->towers == 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscMalloc1(nx * ny, &u));
  for (PetscInt y = 0; y < ny; y++)
    for (PetscInt x = 0; x < nx; x++) {
      double lat = ctx->lat[0] + (y + 0.5) * ctx->res, lon = ctx->lon[0] + (x + 0.5) * ctx->res;
      if (land[mask_index(lat, lon)])
        u[n++] = core_rng_uniform((uint64_t)ctx->seed, (uint64_t)(y * nx + x), 0, (uint64_t)CORE_RNG_SIM_TOWERS);
    }
  if (ctx->towers < n) {
    PetscCall(PetscSortReal(n, u));
    *thresh = u[ctx->towers - 1];
  }
  PetscCall(PetscFree(u));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode define_output(const SimCtx *ctx, IoFile *out, PetscInt nx, PetscInt ny, PetscInt nt, int vdaily[],
                                    int vstatic[], int *vlat, int *vlon, int *vtime, int vbnds[2])
{
  int   dt, dy, dx, dnv, d3[3], d2[2];
  float fill = DATA_FILL;
  char  buf[256];

  PetscFunctionBeginUser;
  PetscCall(io_def_dim(out, "time", nt, &dt));
  PetscCall(io_def_dim(out, "lat", ny, &dy));
  PetscCall(io_def_dim(out, "lon", nx, &dx));
  d3[0] = dt, d3[1] = dy, d3[2] = dx;
  d2[0] = dy, d2[1] = dx;
  PetscCall(io_def_var(out, "time", NC_DOUBLE, 1, &dt, vtime));
  PetscCall(PetscSNPrintf(buf, sizeof buf, "days since %04d-01-01 00:00:00", (int)ctx->start_year));
  PetscCall(io_put_att_text(out, *vtime, "units", buf));
  PetscCall(io_put_att_text(out, *vtime, "calendar", "noleap"));
  PetscCall(io_put_att_text(out, *vtime, "standard_name", "time"));
  PetscCall(io_put_att_text(out, *vtime, "long_name", "time"));
  PetscCall(io_put_att_text(out, *vtime, "axis", "T"));
  PetscCall(io_def_dim(out, "nv", 2, &dnv));
  PetscCall(io_def_var(out, "lat", NC_DOUBLE, 1, &dy, vlat));
  PetscCall(io_put_att_text(out, *vlat, "units", "degrees_north"));
  PetscCall(io_put_att_text(out, *vlat, "standard_name", "latitude"));
  PetscCall(io_put_att_text(out, *vlat, "long_name", "latitude"));
  PetscCall(io_put_att_text(out, *vlat, "axis", "Y"));
  PetscCall(io_put_att_text(out, *vlat, "bounds", "lat_bnds"));
  PetscCall(io_def_var(out, "lon", NC_DOUBLE, 1, &dx, vlon));
  PetscCall(io_put_att_text(out, *vlon, "units", "degrees_east"));
  PetscCall(io_put_att_text(out, *vlon, "standard_name", "longitude"));
  PetscCall(io_put_att_text(out, *vlon, "long_name", "longitude"));
  PetscCall(io_put_att_text(out, *vlon, "axis", "X"));
  PetscCall(io_put_att_text(out, *vlon, "bounds", "lon_bnds"));
  d2[0] = dy, d2[1] = dnv;
  PetscCall(io_def_var(out, "lat_bnds", NC_DOUBLE, 2, d2, &vbnds[0]));
  d2[0] = dx;
  PetscCall(io_def_var(out, "lon_bnds", NC_DOUBLE, 2, d2, &vbnds[1]));
  d2[0] = dy, d2[1] = dx;
  for (int k = 0; k < NV_DAILY + NV_STATIC; k++) {
    const SimVarInfo *vi = k < NV_DAILY ? &daily_info[k] : &static_info[k - NV_DAILY];
    int              *id = k < NV_DAILY ? &vdaily[k] : &vstatic[k - NV_DAILY];
    if (k == NV_DAILY + S_CLASS) {
      signed char fv            = -1, flags[SIM_NUM_REGIMES];
      char        meanings[256] = "";
      PetscCall(io_def_var(out, vi->name, NC_BYTE, 2, d2, id));
      for (int r = 0; r < SIM_NUM_REGIMES; r++) {
        flags[r] = (signed char)r;
        PetscCall(PetscStrlcat(meanings, r ? " " : "", sizeof meanings));
        for (const char *s = sim_regime[r].name; *s; s++) {
          char c[2] = {*s == ' ' ? '_' : *s, 0};
          PetscCall(PetscStrlcat(meanings, c, sizeof meanings));
        }
      }
      PetscCall(io_agree_nc(out->comm, ncmpi_put_att_schar(out->ncid, *id, "_FillValue", NC_BYTE, 1, &fv),
                            RACI_ERR_WRITE, out->path, "class"));
      PetscCall(io_agree_nc(out->comm,
                            ncmpi_put_att_schar(out->ncid, *id, "flag_values", NC_BYTE, SIM_NUM_REGIMES, flags),
                            RACI_ERR_WRITE, out->path, "class"));
      PetscCall(io_put_att_text(out, *id, "flag_meanings", meanings));
    } else {
      PetscCall(io_def_var(out, vi->name, NC_FLOAT, k < NV_DAILY ? 3 : 2, k < NV_DAILY ? d3 : d2, id));
      PetscCall(io_put_att_float(out, *id, "_FillValue", NC_FLOAT, 1, &fill));
      PetscCall(io_put_att_text(out, *id, "units", vi->units));
    }
    PetscCall(io_put_att_text(out, *id, "long_name", vi->long_name));
    if (vi->standard_name) PetscCall(io_put_att_text(out, *id, "standard_name", vi->standard_name));
    /* CF 7.3: daily values are means over the day (P and the fluxes as rates); MAT and MAP are the
     * climate the weather generator is built around, not statistics of the written days */
    if (k < NV_DAILY)
      PetscCall(io_put_att_text(out, *id, "cell_methods", "time: mean"));
    else if (k == NV_DAILY + S_MAT || k == NV_DAILY + S_MAP)
      PetscCall(io_put_att_text(out, *id, "comment",
                                "the climate the weather generator is built around: a formula of the location "
                                "(docs/SIMULATOR.md), not a statistic of the days in this file"));
    PetscCall(io_put_att_text(out, *id, "raci_role", role_name[vi->role]));
  }
  PetscCall(io_put_att_text(out, NC_GLOBAL, "Conventions", "CF-1.8"));
  PetscCall(io_put_att_text(out, NC_GLOBAL, "title", "raci simulate: process-based daily carbon fluxes and drivers"));
  PetscCall(io_put_att_text(out, NC_GLOBAL, "source",
                            "raci " RACI_VERSION " process-based simulator (docs/SIMULATOR.md); land mask: landsea.nc "
                            "of the NCAR geocat-datafiles repository (Apache-2.0)"));
  snprintf(buf, sizeof buf, "seed %lld, %g degree, noise %g, towers %lld, latent %g, local %g", (long long)ctx->seed,
           (double)ctx->res, (double)ctx->noise, (long long)ctx->towers, (double)ctx->latent,
           (double)ctx->local); /* not PetscSNPrintf: it prints %g as "1." */
  PetscCall(io_put_att_text(out, NC_GLOBAL, "raci_simulation", buf));
  {
    char line[4096];
    PetscCall(core_history_line(line, sizeof line));
    PetscCall(io_put_att_text(out, NC_GLOBAL, "history", line));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What one simulated day needs, shared by spin-up and output days. */
typedef struct {
  const SimCtx           *ctx;
  const SimWeatherParams *wp;
  const Tile             *tile;
  const SimCell          *cells; /* (ym, xm) owned by app_simulate; id UINT64_MAX over the ocean */
  SimState               *state;
  SimLattice              lat_t, lat_p; /* the day's anomaly fields over the tile */
  SimLatticePoint        *pt_t, *pt_p;  /* (ym, xm) each cell located in them, once */
  unsigned char          *tower;        /* (ym, xm) 1 where targets are kept */
  float                  *out;          /* (NV_DAILY, nsteps, ym, xm) or NULL in spin-up */
  PetscInt                nsteps;
} SimDay;

/* Advance every land cell of the tile by one day; with k, store the day as step *k of out. */
static PetscErrorCode simulate_day(SimDay *sd, PetscInt day, const PetscInt *k)
{
  const SimCtx *ctx   = sd->ctx;
  const Tile   *t     = sd->tile;
  PetscInt      ncell = t->xm * t->ym, vs = sd->nsteps * ncell;
  int           doy = (int)(((day % 365) + 365) % 365);

  PetscFunctionBeginUser;
  sim_lattice_fill(&sd->lat_t, sd->wp->seed, SIM_STREAM_ANOM_T, sim_day_key(day));
  sim_lattice_fill(&sd->lat_p, sd->wp->seed, SIM_STREAM_ANOM_P, sim_day_key(day));
  for (PetscInt y = 0, i = 0; y < t->ym; y++) {
    double lat = ctx->lat[0] + (t->ys + y + 0.5) * ctx->res, toa = sim_toa_radiation(lat, doy);
    for (PetscInt x = 0; x < t->xm; x++, i++) {
      const SimCell *c = &sd->cells[i];
      float         *v = k ? sd->out + *k * ncell + i : NULL;
      SimDrivers     dr;
      SimFluxes      fl;
      double         val[NV_DAILY], eta_t, eta_p;
      PetscBool      tower;

      if (c->id == UINT64_MAX) {
        if (v)
          for (int j = 0; j < NV_DAILY; j++) v[j * vs] = DATA_FILL;
        continue;
      }
      eta_t = sim_lattice_at(&sd->lat_t, &sd->pt_t[i]);
      eta_p = sim_lattice_at(&sd->lat_p, &sd->pt_p[i]);
      if (ctx->local > 0) { /* -sim_local: the point's own anomalies, independent from cell to cell */
        eta_t += ctx->local * core_rng_normal(sd->wp->seed, c->id, sim_day_key(day), (uint64_t)CORE_RNG_SIM_LOCAL);
        eta_p += ctx->local * core_rng_normal(sd->wp->seed, c->id, sim_day_key(day), (uint64_t)CORE_RNG_SIM_LOCAL + 1);
      }
      sim_weather_day(sd->wp, c, &sd->state[i], day, doy, eta_t, eta_p, toa, &dr);
      if (!v) continue;
      sim_fluxes(c, &dr, doy, &fl);
      val[V_TA] = dr.ta, val[V_SW_IN] = dr.sw, val[V_VPD] = dr.vpd, val[V_P] = dr.p, val[V_TS] = dr.ts,
      val[V_SWC] = dr.swc;
      val[V_GPP] = fl.gpp, val[V_RECO] = fl.reco, val[V_NEE] = fl.nee, val[V_FCH4] = fl.fch4;
      tower = (PetscBool)sd->tower[i];
      for (int j = 0; j < NV_DAILY; j++) {
        if (daily_info[j].role == ROLE_TARGET) {
          if (!tower)
            val[j] = DATA_FILL;
          else if (ctx->noise > 0)
            val[j] += ctx->noise * noise_scale[j] *
                      core_rng_normal(sd->wp->seed, c->id, (uint64_t)day, (uint64_t)CORE_RNG_SIM_NOISE + (uint64_t)j);
        }
        v[j * vs] = (float)val[j];
      }
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_simulate(MPI_Comm comm)
{
  SimCtx           ctx;
  SimWeatherParams wp;
  unsigned char   *land;
  Tile             tile;
  IoFile          *out;
  PetscInt         nx, ny, nt, ncell, nland = 0, ntower = 0;
  int              vdaily[NV_DAILY], vstatic[NV_STATIC], vlat, vlon, vtime, vbnds[2];
  SimCell         *cells;
  SimState        *state;
  float           *daily, *stat;
  double          *gT, *gP;
  SimDay           day;
  double           thresh, t_sim = 0, t_write = 0, t, bytes = 0;
  PetscMPIInt      rank, size;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&ctx, sizeof ctx));
  PetscCall(sim_options(comm, &ctx));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options are listed; nothing runs */
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  {
    const char *in[] = {"-sim_mask", ctx.mask, NULL}, *outs[] = {"-o", ctx.out, NULL};
    PetscCall(core_check_paths(comm, in, outs));
  }
  PetscCall(sim_check_size(comm, &ctx, round((ctx.lon[1] - ctx.lon[0]) / ctx.res),
                           round((ctx.lat[1] - ctx.lat[0]) / ctx.res), ctx.years * 365.0));
  nx = (PetscInt)round((ctx.lon[1] - ctx.lon[0]) / ctx.res);
  ny = (PetscInt)round((ctx.lat[1] - ctx.lat[0]) / ctx.res);
  nt = ctx.years * 365;
  PetscCall(grid_tile_create(comm, nx, ny, 0, NULL, &tile));
  PetscCall(core_check_unused_options(comm));
  PetscCall(PetscMalloc1(180 * 360, &land));
  PetscCall(read_mask(comm, ctx.mask, land));
  PetscCall(tower_threshold(&ctx, land, nx, ny, &thresh));

  wp.seed             = (uint64_t)ctx.seed;
  wp.length_scale_deg = ctx.length_km / 111.2;
  wp.ar_phi           = ctx.phi;
  wp.latent           = ctx.latent;

  /* static maps and spin-up of this rank's land cells */
  t     = MPI_Wtime();
  ncell = tile.xm * tile.ym;
  PetscCall(PetscMalloc3(ncell, &cells, ncell, &state, NV_STATIC * ncell, &stat));
  PetscCall(PetscMalloc1(NV_DAILY * ctx.chunk * ncell + 1, &daily));
  PetscCall(core_stage_push(CORE_STAGE_SIMULATE));
  for (PetscInt y = tile.ys, i = 0; y < tile.ys + tile.ym; y++)
    for (PetscInt x = tile.xs; x < tile.xs + tile.xm; x++, i++) {
      double lat = ctx.lat[0] + (y + 0.5) * ctx.res, lon = ctx.lon[0] + (x + 0.5) * ctx.res;
      if (!land[mask_index(lat, lon)]) {
        cells[i].id = UINT64_MAX; /* ocean: never simulated */
        for (int s = 0; s < NV_STATIC; s++) stat[s * ncell + i] = s == S_CLASS ? -1.0f : DATA_FILL;
        continue;
      }
      sim_cell_init(&wp, (uint64_t)(y * nx + x), lat, lon, continentality(land, lat, lon), &cells[i]);
      sim_state_init(&wp, &cells[i], &state[i]);
      stat[S_CLASS * ncell + i]   = (float)cells[i].regime;
      stat[S_ELEV * ncell + i]    = (float)cells[i].elev;
      stat[S_CLAY * ncell + i]    = (float)cells[i].clay;
      stat[S_SOC * ncell + i]     = (float)cells[i].soc;
      stat[S_WETLAND * ncell + i] = (float)cells[i].wetland;
      stat[S_WHC * ncell + i]     = (float)cells[i].whc;
      stat[S_MAT * ncell + i]     = (float)cells[i].mat;
      stat[S_MAP * ncell + i]     = (float)cells[i].map;
      nland++;
    }
  {
    double lon0 = ctx.lon[0] + (tile.xs + 0.5) * ctx.res, lon1 = ctx.lon[0] + (tile.xs + tile.xm - 0.5) * ctx.res;
    double lat0 = ctx.lat[0] + (tile.ys + 0.5) * ctx.res, lat1 = ctx.lat[0] + (tile.ys + tile.ym - 0.5) * ctx.res;
    double sT = wp.length_scale_deg, sP = 0.5 * wp.length_scale_deg;
    PetscCall(PetscMalloc2(sim_lattice_nodes(sT, lon0, lon1, lat0, lat1), &gT,
                           sim_lattice_nodes(sP, lon0, lon1, lat0, lat1), &gP));
    sim_lattice_init(&day.lat_t, sT, lon0, lon1, lat0, lat1, gT);
    sim_lattice_init(&day.lat_p, sP, lon0, lon1, lat0, lat1, gP);
    day.ctx   = &ctx;
    day.wp    = &wp;
    day.tile  = &tile;
    day.cells = cells;
    day.state = state;
    PetscCall(PetscCalloc3(ncell, &day.pt_t, ncell, &day.pt_p, ncell, &day.tower));
    for (PetscInt i = 0; i < ncell; i++) {
      if (cells[i].id == UINT64_MAX) continue;
      sim_lattice_locate(&day.lat_t, cells[i].lon, cells[i].lat, &day.pt_t[i]);
      sim_lattice_locate(&day.lat_p, cells[i].lon, cells[i].lat, &day.pt_p[i]);
      day.tower[i] = core_rng_uniform(wp.seed, cells[i].id, 0, (uint64_t)CORE_RNG_SIM_TOWERS) <= thresh;
    }
  }
  for (PetscInt d = -ctx.spinup; d < 0; d++) PetscCall(simulate_day(&day, d, NULL));
  PetscCall(core_stage_pop());
  t_sim += MPI_Wtime() - t;
  for (PetscInt i = 0; i < ncell; i++) ntower += day.tower[i];

  PetscCall(core_stage_push(CORE_STAGE_WRITE));
  t = MPI_Wtime();
  PetscCall(io_create(comm, ctx.out, &out));
  PetscCall(define_output(&ctx, out, nx, ny, nt, vdaily, vstatic, &vlat, &vlon, &vtime, vbnds));
  PetscCall(io_enddef(out));
  {
    double    *lat, *lon, *tm, *lb, *ob;
    MPI_Offset s0 = 0, cy = rank == 0 ? ny : 0, cx = rank == 0 ? nx : 0, ct = rank == 0 ? nt : 0;
    MPI_Offset start[2] = {tile.ys, tile.xs}, count[2] = {tile.ym, tile.xm}, b0[2] = {0, 0};
    MPI_Offset cyb[2] = {cy, rank == 0 ? 2 : 0}, cxb[2] = {cx, rank == 0 ? 2 : 0};
    PetscCall(PetscMalloc5(ny, &lat, nx, &lon, nt, &tm, 2 * ny, &lb, 2 * nx, &ob));
    for (PetscInt y = 0; y < ny; y++) lat[y] = ctx.lat[0] + (y + 0.5) * ctx.res;
    for (PetscInt x = 0; x < nx; x++) lon[x] = ctx.lon[0] + (x + 0.5) * ctx.res;
    for (PetscInt d = 0; d < nt; d++) tm[d] = (double)d;
    data_cell_bounds(lat, (int)ny, lb);
    data_cell_bounds(lon, (int)nx, ob);
    PetscCall(io_iput_double(out, vlat, &s0, &cy, lat));
    PetscCall(io_iput_double(out, vlon, &s0, &cx, lon));
    PetscCall(io_iput_double(out, vbnds[0], b0, cyb, lb));
    PetscCall(io_iput_double(out, vbnds[1], b0, cxb, ob));
    PetscCall(io_iput_double(out, vtime, &s0, &ct, tm));
    for (int s = 0; s < NV_STATIC; s++) PetscCall(io_iput_float(out, vstatic[s], start, count, stat + s * ncell));
    PetscCall(io_wait_all(out));
    PetscCall(PetscFree5(lat, lon, tm, lb, ob));
    bytes += NV_STATIC * 4.0 * ncell;
  }
  t_write += MPI_Wtime() - t;
  PetscCall(core_stage_pop());

  for (PetscInt d0 = 0; d0 < nt; d0 += ctx.chunk) {
    PetscInt   n        = PetscMin(ctx.chunk, nt - d0);
    MPI_Offset start[3] = {d0, tile.ys, tile.xs}, count[3] = {n, tile.ym, tile.xm};

    t = MPI_Wtime();
    PetscCall(core_stage_push(CORE_STAGE_SIMULATE));
    day.out    = daily;
    day.nsteps = n;
    for (PetscInt k = 0; k < n; k++) PetscCall(simulate_day(&day, d0 + k, &k));
    PetscCall(core_stage_pop());
    t_sim += MPI_Wtime() - t;

    t = MPI_Wtime();
    PetscCall(core_stage_push(CORE_STAGE_WRITE));
    for (int j = 0; j < NV_DAILY; j++) PetscCall(io_iput_float(out, vdaily[j], start, count, daily + j * n * ncell));
    PetscCall(io_wait_all(out));
    PetscCall(core_stage_pop());
    t_write += MPI_Wtime() - t;
    bytes += NV_DAILY * 4.0 * n * ncell;
    if (!ctx.quiet && ((d0 + n) % 365 == 0 || d0 + n == nt))
      PetscCall(PetscPrintf(comm, "raci simulate: day %" PetscInt_FMT " of %" PetscInt_FMT " written\n", d0 + n, nt));
  }
  t = MPI_Wtime();
  PetscCall(io_commit(&out));
  t_write += MPI_Wtime() - t;

  {
    double tmax[2] = {t_sim, t_write}, sum[3] = {bytes, (double)nland, (double)ntower};
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, tmax, 2, MPI_DOUBLE, MPI_MAX, comm));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sum, 3, MPI_DOUBLE, MPI_SUM, comm));
    PetscCall(PetscPrintf(comm, "raci simulate: wrote %s\n", ctx.out));
    PetscCall(PetscPrintf(comm,
                          "  %" PetscInt_FMT " x %" PetscInt_FMT " cells at %.4g degree, %.0f land, %" PetscInt_FMT
                          " days; %d ranks as a %d x %d DMDA process grid\n",
                          nx, ny, (double)ctx.res, sum[1], nt, size, tile.px, tile.py));
    if (ctx.towers) PetscCall(PetscPrintf(comm, "  targets kept at %.0f tower cells\n", sum[2]));
    PetscCall(PetscPrintf(
        comm, "  simulate %.2f s (%.3g land cell-days/s per rank), write %.2f MB in %.2f s (%.1f MB/s)\n", tmax[0],
        sum[1] * nt / size / PetscMax(tmax[0], 1e-9), sum[0] / 1e6, tmax[1], sum[0] / 1e6 / PetscMax(tmax[1], 1e-9)));
  }
  PetscCall(PetscFree(daily));
  PetscCall(PetscFree2(gT, gP));
  PetscCall(PetscFree3(day.pt_t, day.pt_p, day.tower));
  PetscCall(PetscFree3(cells, state, stat));
  PetscCall(PetscFree(land));
  PetscCall(grid_tile_destroy(&tile));
  PetscFunctionReturn(PETSC_SUCCESS);
}
