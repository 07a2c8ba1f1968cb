/* prep: gridded forcing into one daily model-ready grid (raci/gridprep.h). */
#include <raci/gridprep.h>
#include <raci/ncread.h>
#include <raci/quantity.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <udunits2.h>

const char *const gridprep_qty_name[GQ_NUM] = {
    "TA", "TMAX", "TMIN", "TDEW", "VP",           "VPD",  "SW_IN", "SW_DAYLIGHT", "DAYL", "P",   "PA",
    "WS", "U",    "V",    "elev", "geopotential", "mask", "class", "whc",         "clay", "soc", "wetland_frac"};

/* ------------------------------------------------------------------ recognition */
static const struct {
  const char *standard_name;
  GridQty     q;
} std_table[] = {
    {"air_temperature", GQ_TA},
    {"dew_point_temperature", GQ_TDEW},
    {"water_vapor_partial_pressure_in_air", GQ_VP},
    {"vapor_pressure", GQ_VP},
    {"water_vapor_saturation_deficit_in_air", GQ_VPD},
    {"surface_downwelling_shortwave_flux_in_air", GQ_SW},
    {"surface_downwelling_shortwave_flux", GQ_SW},
    {"integral_wrt_time_of_surface_downwelling_shortwave_flux_in_air", GQ_SW},
    {"precipitation_flux", GQ_P},
    {"precipitation_amount", GQ_P},
    {"lwe_precipitation_rate", GQ_P},
    {"lwe_thickness_of_precipitation_amount", GQ_P},
    {"thickness_of_rainfall_amount", GQ_P},
    {"surface_air_pressure", GQ_PA},
    {"air_pressure", GQ_PA},
    {"wind_speed", GQ_WS},
    {"eastward_wind", GQ_U},
    {"northward_wind", GQ_V},
    {"surface_altitude", GQ_ELEV},
    {"height_above_mean_sea_level", GQ_ELEV},
    {"surface_geopotential", GQ_GEOPOT},
    {"land_binary_mask", GQ_MASK},
    {"land_area_fraction", GQ_MASK},
    {"land_cover_lccs", GQ_CLASS},
    {"soil_mass_content_of_carbon", GQ_SOC},
};

/* The usual names of ERA5 and ERA5-Land, Daymet, gridMET, Livneh/VIC, E-OBS, mHM and CMIP (docs/DATA.md). */
static const struct {
  const char *name;
  GridQty     q;
} name_table[] = {
    {"t2m", GQ_TA},
    {"tas", GQ_TA},
    {"tavg", GQ_TA},
    {"tg", GQ_TA},
    {"tair", GQ_TA},
    {"temp", GQ_TA},
    {"tmean", GQ_TA},
    {"TA", GQ_TA},
    {"tmax", GQ_TMAX},
    {"tmmx", GQ_TMAX},
    {"tx", GQ_TMAX},
    {"tasmax", GQ_TMAX},
    {"tmin", GQ_TMIN},
    {"tmmn", GQ_TMIN},
    {"tn", GQ_TMIN},
    {"tasmin", GQ_TMIN},
    {"d2m", GQ_TDEW},
    {"tdew", GQ_TDEW},
    {"tdps", GQ_TDEW},
    {"vp", GQ_VP},
    {"eabs", GQ_VP},
    {"vapor_pressure", GQ_VP},
    {"vapour_pressure", GQ_VP},
    {"vapor_press", GQ_VP},
    {"vpd", GQ_VPD},
    {"ssrd", GQ_SW},
    {"rsds", GQ_SW},
    {"qq", GQ_SW},
    {"shortwave", GQ_SW},
    {"swdown", GQ_SW},
    {"sw_in", GQ_SW},
    {"nirr", GQ_SW},
    {"srad", GQ_SW},
    {"dayl", GQ_DAYL},
    {"tp", GQ_P},
    {"pr", GQ_P},
    {"prcp", GQ_P},
    {"pre", GQ_P},
    {"precip", GQ_P},
    {"prec", GQ_P},
    {"rr", GQ_P},
    {"precipitation", GQ_P},
    {"P", GQ_P},
    {"sp", GQ_PA},
    {"ps", GQ_PA},
    {"pres", GQ_PA},
    {"psurf", GQ_PA},
    {"air_pressure", GQ_PA},
    {"PA", GQ_PA},
    {"windspeed", GQ_WS},
    {"wind", GQ_WS},
    {"ws", GQ_WS},
    {"vs", GQ_WS},
    {"fg", GQ_WS},
    {"sfcwind", GQ_WS},
    {"wspd", GQ_WS},
    {"u10", GQ_U},
    {"uas", GQ_U},
    {"v10", GQ_V},
    {"vas", GQ_V},
    {"elev", GQ_ELEV},
    {"elevation", GQ_ELEV},
    {"orog", GQ_ELEV},
    {"hgt", GQ_ELEV},
    {"altitude", GQ_ELEV},
    {"dem", GQ_ELEV},
    {"z", GQ_GEOPOT},
    {"mask", GQ_MASK},
    {"landmask", GQ_MASK},
    {"lsm", GQ_MASK},
    {"land_sea_mask", GQ_MASK},
    {"lsmask", GQ_MASK},
    {"class", GQ_CLASS},
    {"igbp", GQ_CLASS},
    {"landcover", GQ_CLASS},
    {"land_cover", GQ_CLASS},
    {"lc_type1", GQ_CLASS},
    {"lccs_class", GQ_CLASS},
    {"whc", GQ_WHC}, /* soil maps: raci's names, HWSD, SoilGrids, GSDE and wetland products */
    {"awc", GQ_WHC},
    {"taw", GQ_WHC},
    {"awc_mm", GQ_WHC},
    {"clay", GQ_CLAY},
    {"t_clay", GQ_CLAY},
    {"clyppt", GQ_CLAY},
    {"clay_content", GQ_CLAY},
    {"soc", GQ_SOC},
    {"ocs", GQ_SOC},
    {"soc_stock", GQ_SOC},
    {"wetland_frac", GQ_WETLAND},
    {"wetland_fraction", GQ_WETLAND},
    {"wetland", GQ_WETLAND},
    {"fwet", GQ_WETLAND},
};

/* dst = src, cut to size - 1 characters */
static void copy(char *dst, size_t size, const char *src)
{
  size_t n = strlen(src);
  if (n >= size) n = size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* dst += src, cut at the end of dst's size */
static void append(char *dst, size_t size, const char *src)
{
  size_t n = strlen(dst);
  if (n + 1 < size) copy(dst + n, size - n, src);
}

static int is_static_qty(GridQty q) { return q >= GQ_ELEV; }

/* the quantity of numeric static map s (elevation: a geopotential also gives it) */
static const GridQty static_qty[GS_NUM] = {GQ_ELEV, GQ_WHC, GQ_CLAY, GQ_SOC, GQ_WETLAND};
const char          *gridprep_static_name(int s) { return gridprep_qty_name[static_qty[s]]; }
static const char *static_long_name[GS_NUM] = {"surface elevation", "soil water holding capacity", "soil clay content",
                                               "soil organic carbon", "wetland fraction of the cell"};

/* the input that gives numeric static map s, -1 when none */
static int static_input(const GridPlan *p, int s)
{
  if (s == GS_ELEV && p->iq[GQ_ELEV] < 0) return p->iq[GQ_GEOPOT];
  return p->iq[static_qty[s]];
}

/* MODIS land cover type 1 (IGBP) names and raci's IGBP abbreviations (the towers' classes) */
static const struct {
  const char *abbr, *name;
} igbp_table[] = {
    {"ENF", "evergreen_needleleaf_forest"},
    {"EBF", "evergreen_broadleaf_forest"},
    {"DNF", "deciduous_needleleaf_forest"},
    {"DBF", "deciduous_broadleaf_forest"},
    {"MF", "mixed_forest"},
    {"MF", "mixed_forests"},
    {"CSH", "closed_shrublands"},
    {"OSH", "open_shrublands"},
    {"WSA", "woody_savannas"},
    {"SAV", "savannas"},
    {"GRA", "grasslands"},
    {"WET", "permanent_wetlands"},
    {"CRO", "croplands"},
    {"URB", "urban_and_built_up_lands"},
    {"URB", "urban_and_built_up"},
    {"CVM", "cropland_natural_vegetation_mosaic"},
    {"CVM", "cropland_natural_vegetation_mosaics"},
    {"SNO", "permanent_snow_and_ice"},
    {"SNO", "snow_and_ice"},
    {"BSV", "barren"},
    {"BSV", "barren_or_sparsely_vegetated"},
    {"WAT", "water_bodies"},
    {"WAT", "water"},
};

const char *gridprep_igbp(const char *name)
{
  char   low[GP_CLASS_LEN];
  size_t n = strlen(name);
  if (n == 0 || n >= sizeof low) return NULL;
  for (size_t k = 0; k <= n; k++)
    low[k] = (char)(name[k] == ' ' || name[k] == '-' ? '_' : tolower((unsigned char)name[k]));
  for (size_t k = 0; k < sizeof igbp_table / sizeof igbp_table[0]; k++)
    if (!strcasecmp(name, igbp_table[k].abbr) || !strcmp(low, igbp_table[k].name)) return igbp_table[k].abbr;
  return NULL;
}

/* Up to GP_MAX_CLASS words of a flag_meanings attribute; the count, -1 when there are more. */
static int meanings_of(NcrFile *f, int v, char words[][GP_CLASS_LEN])
{
  char text[GP_MAX_CLASS * GP_CLASS_LEN], *save = NULL, *w;
  int  n = 0;
  if (!ncr_att_text(f, v, "flag_meanings", text, sizeof text)) return 0;
  for (w = strtok_r(text, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
    if (n == GP_MAX_CLASS) return -1;
    copy(words[n++], GP_CLASS_LEN, w);
  }
  return n;
}

/* The training file's class variable (-prep_class_codes) and the recoding of the map's codes to it. */
static int class_plan(GridPlan *p, NcrFile *map, int mv, const char *codes, char *msg, size_t len)
{
  NcrFile *f = NULL;
  char     words[GP_MAX_CLASS][GP_CLASS_LEN];
  int      rc = 1, v = -1, unknown = -1, nm;
  double   vals[GP_MAX_CLASS];
  if (!codes || !codes[0]) {
    snprintf(msg, len,
             "%s: variable %s is a class map: give -prep_class_codes FILE, the site or grid file the model is trained "
             "on, so its classes get the codes the model knows",
             ncr_path(map), p->in[p->iq[GQ_CLASS]].var);
    return 1;
  }
  if (ncr_open(codes, &f, msg, len)) return 1;
  for (int k = 0; k < ncr_nvars(f) && v < 0; k++) { /* the slow variable with flag_meanings */
    char role[16];
    if (ncr_att_text(f, k, "flag_meanings", words[0], GP_CLASS_LEN) &&
        (!ncr_att_text(f, k, "raci_role", role, sizeof role) || !strcmp(role, "slow")))
      v = k;
  }
  if (v < 0) {
    snprintf(msg, len, "-prep_class_codes %s: no class variable (a slow variable with flag_values and flag_meanings)",
             codes);
    goto done;
  }
  {
    NcrVar cv;
    if (ncr_var(f, v, &cv, msg, len)) goto done;
    copy(p->class_var, sizeof p->class_var, cv.name);
  }
  p->nclass = meanings_of(f, v, p->class_name);
  if (p->nclass <= 0 || ncr_att_doubles(f, v, "flag_values", p->class_flag, GP_MAX_CLASS) != p->nclass) {
    snprintf(msg, len, "-prep_class_codes %s: variable %s needs as many flag_values as flag_meanings (at most %d)",
             codes, p->class_var, GP_MAX_CLASS);
    goto done;
  }
  for (int c = 0; c < p->nclass; c++)
    if (!strcmp(p->class_name[c], "unknown")) unknown = c;
  /* the map's own codes and names */
  p->nmap = ncr_att_doubles(map, mv, "flag_values", vals, GP_MAX_CLASS);
  nm      = meanings_of(map, mv, words);
  if (p->nmap <= 0 || nm != p->nmap) {
    snprintf(
        msg, len,
        "%s: class map %s needs flag_values and as many flag_meanings (the class names: IGBP abbreviations or MODIS "
        "names such as evergreen_needleleaf_forest)",
        ncr_path(map), p->in[p->iq[GQ_CLASS]].var);
    goto done;
  }
  for (int k = 0; k < p->nmap; k++) {
    const char *abbr = gridprep_igbp(words[k]);
    int         c    = -1;
    for (int j = 0; j < p->nclass && c < 0; j++)
      if (!strcmp(p->class_name[j], words[k]) || (abbr && !strcmp(p->class_name[j], abbr))) c = j;
    if (c < 0) { /* a class no tower has */
      if (unknown < 0) {
        snprintf(msg, len,
                 "%s: class %s (code %g) of %s is not among the classes of %s (%d) and that file has no class "
                 "unknown to put it in",
                 ncr_path(map), words[k], vals[k], p->in[p->iq[GQ_CLASS]].var, codes, p->nclass);
        goto done;
      }
      c = unknown;
      if (p->class_note[0]) append(p->class_note, sizeof p->class_note, " ");
      append(p->class_note, sizeof p->class_note, words[k]);
    }
    p->map_value[k] = vals[k];
    p->map_class[k] = c;
  }
  rc = 0;
done:
  ncr_close(&f);
  return rc;
}

/* ------------------------------------------------------------------ units (udunits2) */
static ut_system *units_system(void)
{
  static ut_system *sys = NULL;
  if (!sys) {
    ut_set_error_message_handler(ut_ignore);
    sys = ut_read_xml(NULL);
  }
  return sys;
}

static void trim(char *s)
{
  size_t n = strlen(s), k = 0;
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  while (isspace((unsigned char)s[k])) k++;
  memmove(s, s + k, n - k + 1);
}

/* slope and intercept from `from` to `to`, 0 when udunits converts them */
static int convert(const char *from, const char *to, double *slope, double *intercept)
{
  ut_system    *sys = units_system();
  ut_unit      *a, *b;
  cv_converter *cv;
  int           ok = 0;
  if (!sys) return 1;
  a = ut_parse(sys, from, UT_ASCII);
  b = ut_parse(sys, to, UT_ASCII);
  if (a && b && ut_are_convertible(a, b) && (cv = ut_get_converter(a, b))) {
    *intercept = cv_convert_double(cv, 0.0);
    *slope     = cv_convert_double(cv, 1.0) - *intercept;
    cv_free(cv);
    ok = 1;
  }
  ut_free(a);
  ut_free(b);
  return !ok;
}

/* The units of an input into canonical ones: sets kind, slope and intercept. */
static int units_of(GridInput *in, const char *file, int accum_day, char *msg, size_t len)
{
  char u[GP_NAME_LEN + 16];
  int  per_step = 0;
  snprintf(u, sizeof u, "%s", in->units);
  trim(u);
  /* "mm timestep-1", "mm per timestep", "mm/timestep": an amount per step */
  {
    static const char *suffix[] = {"timestep-1", "per timestep", "/timestep", "timestep^-1", "per time step"};
    for (size_t k = 0; k < sizeof suffix / sizeof suffix[0]; k++) {
      size_t n = strlen(u), m = strlen(suffix[k]);
      if (n > m && !strcasecmp(u + n - m, suffix[k])) {
        u[n - m] = '\0';
        trim(u);
        per_step = 1;
      }
    }
  }
  if (in->qty <= GQ_TDEW) { /* temperatures: "C" is Celsius here, not coulomb */
    static const char *celsius[] = {"C", "deg C", "degrees C", "degree C", "Celsius", "degrees Celsius", "deg_C"};
    for (size_t k = 0; k < sizeof celsius / sizeof celsius[0]; k++)
      if (!strcasecmp(u, celsius[k])) snprintf(u, sizeof u, "degC");
    if (!strcasecmp(u, "deg K") || !strcasecmp(u, "degK") || !strcasecmp(u, "degrees K")) snprintf(u, sizeof u, "K");
  }
  in->kind = GK_MEAN;
  switch (in->qty) {
  case GQ_TA:
  case GQ_TMAX:
  case GQ_TMIN:
  case GQ_TDEW:
    if (!per_step && !convert(u, "degC", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_VP:
  case GQ_VPD:
    if (!per_step && !convert(u, "hPa", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_SW:
  case GQ_SWDL:
    if (!per_step && !convert(u, "W m-2", &in->slope, &in->intercept)) return 0;
    if (in->qty == GQ_SW && !convert(u, "J m-2", &in->slope, &in->intercept)) {
      in->kind = accum_day ? GK_ACCUM : GK_AMOUNT;
      return 0;
    }
    break;
  case GQ_DAYL:
    if (!per_step && !convert(u, "s", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_P:
    if (!per_step && !convert(u, "mm d-1", &in->slope, &in->intercept)) return 0;
    if (!per_step && !convert(u, "kg m-2 d-1", &in->slope, &in->intercept)) return 0; /* 1 kg m-2 of water = 1 mm */
    if (!convert(u, "mm", &in->slope, &in->intercept) || !convert(u, "kg m-2", &in->slope, &in->intercept)) {
      in->kind = accum_day && !per_step ? GK_ACCUM : GK_AMOUNT;
      return 0;
    }
    break;
  case GQ_PA:
    if (!per_step && !convert(u, "kPa", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_WS:
  case GQ_U:
  case GQ_V:
    if (!per_step && !convert(u, "m s-1", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_ELEV:
    if (!convert(u, "m", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_GEOPOT:
    if (!convert(u, "m2 s-2", &in->slope, &in->intercept)) {
      in->slope /= 9.80665, in->intercept /= 9.80665; /* geopotential height */
      return 0;
    }
    break;
  case GQ_WHC:
    if (!convert(u, "mm", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_CLAY: /* a mass fraction: %, g kg-1, 1 */
    if (!convert(u, "percent", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_SOC: /* a stock: kg m-2, t ha-1 */
    if (!convert(u, "kg m-2", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_WETLAND:
    if (!convert(u, "1", &in->slope, &in->intercept)) return 0;
    break;
  case GQ_MASK:
  case GQ_CLASS:
    in->slope = 1, in->intercept = 0;
    return 0;
  default:
    break;
  }
  {
    static const char *want[GQ_NUM] = {"degC",
                                       "degC",
                                       "degC",
                                       "degC",
                                       "hPa or Pa",
                                       "hPa or Pa",
                                       "W m-2 or J m-2",
                                       "W m-2",
                                       "s",
                                       "mm d-1, kg m-2 s-1, mm or m",
                                       "kPa or Pa",
                                       "m s-1",
                                       "m s-1",
                                       "m s-1",
                                       "m",
                                       "m2 s-2",
                                       "",
                                       "",
                                       "mm",
                                       "% or g kg-1",
                                       "kg m-2 or t ha-1",
                                       "1 or %"};
    snprintf(msg, len,
             "%s: variable %s (%s): units '%s' are not units of %s (udunits2 cannot convert them to %s); fix the "
             "attribute or give -prep_units %s=UNITS",
             file, in->var, gridprep_qty_name[in->qty], in->units, gridprep_qty_name[in->qty], want[in->qty], in->var);
  }
  return 1;
}

/* ------------------------------------------------------------------ time axes */
/* The time coordinate of a variable's first dimension: varid, or -1 with msg. */
static int time_axis(NcrFile *f, const NcrVar *v, GridInput *in, int stamp_start, char *msg, size_t len)
{
  char      units[GP_TEXT_LEN], cal[64], bounds[GP_NAME_LEN];
  int       tv = ncr_find_var(f, v->dim[0]);
  NcrVar    tvar;
  size_t    n = v->len[0], start[2] = {0, 0}, count[2] = {0, 2};
  double   *t;
  PetscBool ok = PETSC_FALSE;

  if (tv < 0 || ncr_var(f, tv, &tvar, msg, len) || tvar.ndims != 1 ||
      !ncr_att_text(f, tv, "units", units, sizeof units)) {
    snprintf(msg, len,
             "%s: variable %s: no time axis (its first dimension '%s' has no coordinate variable with units '<unit> "
             "since <date>'); a driver needs (time, y, x)",
             ncr_path(f), v->name, v->dim[0]);
    return 1;
  }
  ncr_att_text(f, tv, "calendar", cal, sizeof cal);
  if (io_cftime_parse(units, cal, &in->time, &ok) || !ok) {
    snprintf(msg, len, "%s: time of %s: units '%s', calendar '%s' are not a CF time axis ('<unit> since <date>')",
             ncr_path(f), v->name, units, cal[0] ? cal : "standard");
    return 1;
  }
  in->tvar   = tv;
  in->nsteps = (long long)n;
  if (n == 0) {
    snprintf(msg, len, "%s: variable %s has no time steps", ncr_path(f), v->name);
    return 1;
  }
  t = malloc(n * sizeof *t);
  if (!t) {
    snprintf(msg, len, "%s: out of memory", ncr_path(f));
    return 1;
  }
  count[0] = n;
  if (ncr_read_raw(f, tv, start, count, t, msg, len)) {
    free(t);
    return 1;
  }
  in->step = n > 1 ? (t[1] - t[0]) * in->time.unit_seconds : 86400.0;
  for (size_t k = 1; k < n; k++) {
    double d = (t[k] - t[k - 1]) * in->time.unit_seconds;
    if (!isfinite(d) || fabs(d - in->step) > 1e-6 * fabs(in->step) + 1e-3) {
      char a[32], b[32];
      io_cftime_format(&in->time, t[k - 1], a, sizeof a);
      io_cftime_format(&in->time, t[k], b, sizeof b);
      snprintf(
          msg, len,
          "%s: time of %s is not regular: %g s between steps, then %g s from %s to %s (a missing or repeated step)",
          ncr_path(f), v->name, in->step, d, a, b);
      free(t);
      return 1;
    }
  }
  if (!(in->step > 0) || in->step > 86400.0 + 1e-3 || fmod(86400.0, in->step) > 1e-3 * in->step) {
    snprintf(msg, len,
             "%s: time step of %s is %g s (%g days): raci prep -format grid needs daily steps or steps that divide a "
             "day (hourly, 3-hourly, ...)",
             ncr_path(f), v->name, in->step, in->step / 86400.0);
    free(t);
    return 1;
  }
  in->spd = (int)lround(86400.0 / in->step);
  {
    /* which day a step belongs to: its interval's start. Amounts of sub-daily steps are stamped at the end of
     * their interval (ERA5) unless time has bounds or -prep_amount_stamp start. */
    double    shift = 0, s0;
    long long days;
    if (ncr_att_text(f, tv, "bounds", bounds, sizeof bounds) && ncr_find_var(f, bounds) >= 0) {
      double b[2];
      count[0] = 1;
      if (!ncr_read_raw(f, ncr_find_var(f, bounds), start, count, b, msg, len))
        shift = (t[0] - fmin(b[0], b[1])) * in->time.unit_seconds;
      else {
        free(t);
        return 1;
      }
    } else if (in->kind != GK_MEAN && in->spd > 1 && !stamp_start)
      shift = in->step;
    s0   = in->time.epoch_seconds + t[0] * in->time.unit_seconds - shift;
    days = (long long)floor(s0 / 86400.0 + 1e-9);
    s0 -= 86400.0 * (double)days;
    days += io_cftime_daynum(in->time.calendar, in->time.year, in->time.month, in->time.day);
    if (s0 < 1e-3 || s0 < in->step - 1e-3) {
      in->kfirst = 0;
      in->dfirst = days;
    } else {
      in->kfirst = lround((86400.0 - s0) / in->step);
      in->dfirst = days + 1;
    }
    in->dlast = in->dfirst + (in->nsteps - in->kfirst) / in->spd - 1;
  }
  free(t);
  if (in->dlast < in->dfirst) {
    snprintf(msg, len, "%s: variable %s has no complete day (%lld steps of %g s)", ncr_path(f), v->name, in->nsteps,
             in->step);
    return 1;
  }
  return 0;
}

static const char *cal_name(CfCalendar c)
{
  static const char *n[] = {"standard", "proleptic_gregorian", "julian", "noleap", "all_leap", "360_day"};
  return n[c];
}

static void day_text(CfCalendar cal, long long d, char *buf, size_t len)
{
  int y, m, dd;
  io_cftime_from_daynum(cal, d, &y, &m, &dd);
  snprintf(buf, len, "%04d-%02d-%02d", y, m, dd);
}

/* ------------------------------------------------------------------ grid coordinates */
static int is_lat(NcrFile *f, int v, const char *name)
{
  char s[GP_TEXT_LEN];
  if (ncr_att_text(f, v, "standard_name", s, sizeof s) && !strcmp(s, "latitude")) return 1;
  if (ncr_att_text(f, v, "units", s, sizeof s) && !strncasecmp(s, "degree", 6) &&
      (strchr(s, 'N') || strstr(s, "north")))
    return 1;
  return !strcasecmp(name, "lat") || !strcasecmp(name, "latitude") || !strcasecmp(name, "nav_lat");
}

static int is_lon(NcrFile *f, int v, const char *name)
{
  char s[GP_TEXT_LEN];
  if (ncr_att_text(f, v, "standard_name", s, sizeof s) && !strcmp(s, "longitude")) return 1;
  if (ncr_att_text(f, v, "units", s, sizeof s) && !strncasecmp(s, "degree", 6) && (strchr(s, 'E') || strstr(s, "east")))
    return 1;
  return !strcasecmp(name, "lon") || !strcasecmp(name, "longitude") || !strcasecmp(name, "nav_lon");
}

/* lat and lon of a gridded variable's cells, (ny, nx) in the file's order; kind 0 none, 1 from 1-D, 2 from 2-D. */
static int file_coords(NcrFile *f, const NcrVar *v, double *lat, double *lon, int *kind, char *msg, size_t len)
{
  const char *yd = v->dim[v->ndims - 2], *xd = v->dim[v->ndims - 1];
  size_t      ny = v->len[v->ndims - 2], nx = v->len[v->ndims - 1];
  int         vl = -1, vo = -1, dl = 0, dox = 0;
  *kind = 0;
  for (int k = 0; k < ncr_nvars(f); k++) {
    NcrVar c;
    char   m2[8];
    if (ncr_var(f, k, &c, m2, sizeof m2)) continue;
    if (c.ndims == 1 && !strcmp(c.dim[0], yd) && is_lat(f, k, c.name)) vl = k, dl = 1;
    if (c.ndims == 1 && !strcmp(c.dim[0], xd) && is_lon(f, k, c.name)) vo = k, dox = 1;
    if (c.ndims == 2 && !strcmp(c.dim[0], yd) && !strcmp(c.dim[1], xd)) {
      if (is_lat(f, k, c.name) && vl < 0) vl = k, dl = 2;
      if (is_lon(f, k, c.name) && vo < 0) vo = k, dox = 2;
    }
  }
  if (vl < 0 || vo < 0) return 0;
  {
    double *a = malloc(ny * nx * sizeof *a), *b = malloc(ny * nx * sizeof *b);
    size_t  st[2] = {0, 0}, cy[2] = {ny, nx}, cx[1] = {nx};
    int     bad = !a || !b;
    if (!bad) bad = ncr_read_raw(f, vl, st, dl == 1 ? cy : cy, a, msg, len);
    if (!bad) bad = ncr_read_raw(f, vo, st, dox == 1 ? cx : cy, b, msg, len);
    if (!bad)
      for (size_t j = 0; j < ny; j++)
        for (size_t i = 0; i < nx; i++) {
          lat[j * nx + i] = dl == 1 ? a[j] : a[j * nx + i];
          lon[j * nx + i] = dox == 1 ? b[i] : b[j * nx + i];
        }
    free(a);
    free(b);
    if (bad) return 1;
  }
  *kind = dl == 1 && dox == 1 ? 1 : 2;
  return 0;
}

static double wrap_lon(double x) { return x > 180.0 ? x - 360.0 : x; }

/* ------------------------------------------------------------------ the plan */
static int add_out(GridPlan *p, const char *name, const char *role, const char *long_name, const char *cell_methods,
                   const char *source, int derived)
{
  const Quantity *q = quantity_find(name);
  GridOut        *o = &p->out[p->nout++];
  memset(o, 0, sizeof *o);
  snprintf(o->name, sizeof o->name, "%s", name);
  snprintf(o->units, sizeof o->units, "%s", q ? q->units : "1");
  snprintf(o->role, sizeof o->role, "%s", role);
  snprintf(o->long_name, sizeof o->long_name, "%s", long_name);
  if (q && q->standard_name) snprintf(o->standard_name, sizeof o->standard_name, "%s", q->standard_name);
  snprintf(o->cell_methods, sizeof o->cell_methods, "%s", cell_methods);
  snprintf(o->source, sizeof o->source, "%s", source);
  o->derived   = derived;
  o->is_static = strcmp(role, "fast") != 0;
  return 0;
}

static void describe(const GridPlan *p, int i, char *buf, size_t len)
{
  const GridInput *in   = &p->in[i];
  const char      *kind = in->kind == GK_MEAN ? "mean" : in->kind == GK_AMOUNT ? "sum" : "last step";
  const char      *base = strrchr(p->file[in->file], '/');
  base                  = base ? base + 1 : p->file[in->file];
  if (in->is_static)
    snprintf(buf, len, "%s:%s (%s)", base, in->var, in->units);
  else if (in->spd == 1)
    snprintf(buf, len, "%s:%s (%s, daily)", base, in->var, in->units);
  else
    snprintf(buf, len, "%s:%s (%s, %d steps a day, %s)", base, in->var, in->units, in->spd, kind);
}

int gridprep_plan(int nfile, char files[][GP_PATH_LEN], const GridMaps *maps, const GridMaps *units, int accum_day,
                  int same_grid, const char *class_codes, GridPlan *p, char *msg, size_t len)
{
  int     rc = 1, first_grid = -1, stamp_start = 0;
  double *lat0 = NULL, *lon0 = NULL, *lat = NULL, *lon = NULL;
  char    src[GP_TEXT_LEN], tmp[GP_TEXT_LEN];

  memset(p, 0, sizeof *p);
  msg[0] = '\0';
  for (int q = 0; q < GQ_NUM; q++) p->iq[q] = -1;
  p->accum_day = accum_day > 0;
  stamp_start  = accum_day < 0; /* -prep_amount_stamp start, passed as accum_day -1 */
  if (nfile > GP_MAX_FILES) {
    snprintf(msg, len, "raci prep -format grid takes at most %d files (-i)", GP_MAX_FILES);
    return 1;
  }
  p->nfile = nfile;
  for (int k = 0; k < nfile; k++) snprintf(p->file[k], GP_PATH_LEN, "%s", files[k]);
  for (int m = 0; m < maps->n; m++) {
    int ok = 0;
    for (int q = 0; q < GQ_NUM; q++) ok = ok || !strcmp(maps->value[m], gridprep_qty_name[q]);
    if (!ok && strcmp(maps->value[m], "none")) {
      snprintf(msg, len,
               "-map %s=%s: unknown quantity '%s' (TA, TMAX, TMIN, TDEW, VP, VPD, SW_IN, SW_DAYLIGHT, DAYL, P, PA, WS, "
               "U, V, elev, geopotential, mask, class, whc, clay, soc, wetland_frac, or none to leave it out)",
               maps->name[m], maps->value[m], maps->value[m]);
      return 1;
    }
  }

  for (int k = 0; k < nfile; k++) {
    NcrFile *f = NULL;
    if (ncr_open(files[k], &f, msg, len)) goto done;
    snprintf(p->format[k], sizeof p->format[k], "%s", ncr_format(f));
    for (int v = 0; v < ncr_nvars(f); v++) {
      NcrVar     var;
      GridInput *in;
      char       stdn[GP_TEXT_LEN] = "", cm[GP_TEXT_LEN] = "", how[GP_NAME_LEN] = "";
      int        q = -1, mapped = 0;
      if (ncr_var(f, v, &var, msg, len)) {
        ncr_close(&f);
        goto done;
      }
      for (int m = 0; m < maps->n; m++)
        if (!strcmp(maps->name[m], var.name)) {
          for (int j = 0; j < GQ_NUM; j++)
            if (!strcmp(maps->value[m], gridprep_qty_name[j])) q = j;
          snprintf(how, sizeof how, "-map");
          mapped = 1;
        }
      if (!mapped && var.ndims >= 2) {
        if (ncr_att_text(f, v, "standard_name", stdn, sizeof stdn))
          for (size_t j = 0; j < sizeof std_table / sizeof std_table[0] && q < 0; j++)
            if (!strcmp(stdn, std_table[j].standard_name))
              q = std_table[j].q, snprintf(how, sizeof how, "standard_name");
        for (size_t j = 0; j < sizeof name_table / sizeof name_table[0] && q < 0; j++)
          if (!strcasecmp(var.name, name_table[j].name)) q = name_table[j].q, snprintf(how, sizeof how, "name");
        if (q == GQ_TA && ncr_att_text(f, v, "cell_methods", cm, sizeof cm)) { /* tasmax as air_temperature */
          if (strstr(cm, "maximum")) q = GQ_TMAX;
          if (strstr(cm, "minimum")) q = GQ_TMIN;
        }
      }
      if (q < 0) {
        /* coordinates, bounds and 1-D variables are not drivers; a gridded one nobody knows is listed */
        if (var.ndims >= 2 && !is_lat(f, v, var.name) && !is_lon(f, v, var.name) && strstr(var.name, "bnds") == NULL &&
            strstr(var.name, "bounds") == NULL) {
          const char *base = strrchr(files[k], '/');
          if (p->unused[0]) append(p->unused, sizeof p->unused, " ");
          append(p->unused, sizeof p->unused, base ? base + 1 : files[k]);
          append(p->unused, sizeof p->unused, ":");
          append(p->unused, sizeof p->unused, var.name);
        }
        continue;
      }
      if (q >= 0 && !strcmp(how, "name")) {
        /* a name that only looks like a quantity: used when its shape fits and nothing gave the quantity yet */
        int fits = is_static_qty((GridQty)q) ? var.ndims == 2 || (var.ndims == 3 && var.len[0] == 1)
                                             : var.ndims == 3 || (var.ndims == 4 && var.len[1] == 1);
        if (!fits || p->iq[q] >= 0) {
          const char *base = strrchr(files[k], '/');
          if (p->unused[0]) append(p->unused, sizeof p->unused, " ");
          append(p->unused, sizeof p->unused, base ? base + 1 : files[k]);
          append(p->unused, sizeof p->unused, ":");
          append(p->unused, sizeof p->unused, var.name);
          append(p->unused, sizeof p->unused, fits ? "(a second " : "(not (time, y, x) or (y, x) as ");
          append(p->unused, sizeof p->unused, gridprep_qty_name[q]);
          append(p->unused, sizeof p->unused, ")");
          continue;
        }
      }
      if (p->iq[q] >= 0) {
        snprintf(msg, len,
                 "%s: variable %s gives %s, and so does %s:%s; keep one file, or -map the other to another quantity",
                 files[k], var.name, gridprep_qty_name[q], p->file[p->in[p->iq[q]].file], p->in[p->iq[q]].var);
        ncr_close(&f);
        goto done;
      }
      if (p->ninput == GP_MAX_INPUTS) {
        snprintf(msg, len, "%s: more than %d recognised variables", files[k], GP_MAX_INPUTS);
        ncr_close(&f);
        goto done;
      }
      in = &p->in[p->ninput];
      memset(in, 0, sizeof *in);
      in->file = k, in->qty = (GridQty)q, in->tvar = -1;
      if (strlen(var.name) >= sizeof in->var) {
        snprintf(msg, len, "%s: variable name too long (at most %d characters)", files[k], (int)sizeof in->var - 1);
        ncr_close(&f);
        goto done;
      }
      copy(in->var, sizeof in->var, var.name);
      snprintf(in->how, sizeof in->how, "%s", how);
      ncr_att_text(f, v, "units", in->units, sizeof in->units);
      for (int m = 0; m < units->n; m++)
        if (!strcmp(units->name[m], var.name)) snprintf(in->units, sizeof in->units, "%s", units->value[m]);
      if (!in->units[0] && q == GQ_WETLAND)
        snprintf(in->units, sizeof in->units, "1"); /* CF: a fraction may omit them */
      if (!in->units[0] && q != GQ_MASK && q != GQ_CLASS) {
        snprintf(msg, len, "%s: variable %s (%s) has no units attribute; give -prep_units %s=UNITS", files[k], var.name,
                 gridprep_qty_name[q], var.name);
        ncr_close(&f);
        goto done;
      }
      /* dimensions: a driver (time, y, x) or (time, 1, y, x); a static (y, x) or (1, y, x) */
      in->is_static = is_static_qty((GridQty)q);
      if (in->is_static) {
        if (!(var.ndims == 2 || (var.ndims == 3 && var.len[0] == 1))) {
          snprintf(msg, len, "%s: variable %s (%s) has %d dimensions; a static map needs (y, x) or (1, y, x)", files[k],
                   var.name, gridprep_qty_name[q], var.ndims);
          ncr_close(&f);
          goto done;
        }
      } else if (!(var.ndims == 3 || (var.ndims == 4 && var.len[1] == 1))) {
        char dims[GP_TEXT_LEN] = "";
        for (int d = 0; d < var.ndims; d++) {
          if (d) append(dims, sizeof dims, ", ");
          append(dims, sizeof dims, var.dim[d]);
        }
        snprintf(msg, len, "%s: variable %s (%s) has dimensions (%s); a driver needs (time, y, x)", files[k], var.name,
                 gridprep_qty_name[q], dims);
        ncr_close(&f);
        goto done;
      }
      in->dims4 = var.ndims == 4;
      if (units_of(in, files[k], accum_day > 0, msg, len)) {
        ncr_close(&f);
        goto done;
      }
      if (!in->is_static && time_axis(f, &var, in, stamp_start, msg, len)) {
        ncr_close(&f);
        goto done;
      }
      if (!in->is_static) {
        char lt[GP_TEXT_LEN] = "";
        if ((ncr_att_text(f, in->tvar, "standard_name", lt, sizeof lt) && !strcmp(lt, "local_time")) ||
            (ncr_att_text(f, in->tvar, "long_name", lt, sizeof lt) && strstr(lt, "local")))
          p->local_day = 1;
      }
      /* the grid */
      {
        int    ny = (int)var.len[var.ndims - 2], nx = (int)var.len[var.ndims - 1], kind;
        size_t n = (size_t)ny * nx;
        if (first_grid < 0) {
          first_grid = p->ninput;
          p->ny = ny, p->nx = nx;
          snprintf(p->ydim, sizeof p->ydim, "%s", var.dim[var.ndims - 2]);
          snprintf(p->xdim, sizeof p->xdim, "%s", var.dim[var.ndims - 1]);
          lat0 = malloc(n * sizeof *lat0), lon0 = malloc(n * sizeof *lon0);
          if (!lat0 || !lon0 || file_coords(f, &var, lat0, lon0, &p->coords, msg, len)) {
            ncr_close(&f);
            if (!msg[0]) snprintf(msg, len, "out of memory");
            goto done;
          }
        } else {
          const GridInput *g = &p->in[first_grid];
          if (ny != p->ny || nx != p->nx) {
            snprintf(msg, len,
                     "%s: variable %s is on a %d x %d grid (%s, %s), %s:%s on %d x %d: raci prep does not regrid; give "
                     "files on one grid",
                     files[k], var.name, ny, nx, var.dim[var.ndims - 2], var.dim[var.ndims - 1], p->file[g->file],
                     g->var, p->ny, p->nx);
            ncr_close(&f);
            goto done;
          }
          free(lat), free(lon);
          lat = malloc(n * sizeof *lat), lon = malloc(n * sizeof *lon);
          if (!lat || !lon || file_coords(f, &var, lat, lon, &kind, msg, len)) {
            ncr_close(&f);
            if (!msg[0]) snprintf(msg, len, "out of memory");
            goto done;
          }
          if (kind && p->coords) { /* the same cells, maybe with rows or columns the other way round */
            int match = -1;
            for (int flip = 0; flip < 4 && match < 0; flip++) {
              int ok = 1;
              for (size_t c = 0; c < n && ok; c++) {
                size_t j = c / nx, i = c % nx, r;
                if (flip & 1) j = ny - 1 - j;
                if (flip & 2) i = nx - 1 - i;
                r  = j * nx + i;
                ok = !(isfinite(lat[r]) && isfinite(lat0[c]) && fabs(lat[r] - lat0[c]) > 1e-4) &&
                     !(isfinite(lon[r]) && isfinite(lon0[c]) && fabs(wrap_lon(lon[r]) - wrap_lon(lon0[c])) > 1e-4);
              }
              if (ok) match = flip;
            }
            if (match < 0 && same_grid) { /* by index, as the user says */
              const char *base = strrchr(files[k], '/');
              base             = base ? base + 1 : files[k];
              if (!strstr(p->by_index, base)) {
                if (p->by_index[0]) append(p->by_index, sizeof p->by_index, " ");
                append(p->by_index, sizeof p->by_index, base);
              }
              match = 0;
            }
            if (match < 0) {
              snprintf(msg, len,
                       "%s: variable %s: its cell (y 0, x 0) is at lat %g, lon %g, but %s's first cell is at lat %g, "
                       "lon %g and no flip of the %d x %d grid matches: raci prep does not regrid; if the files are "
                       "one grid with wrong coordinates in some, -prep_same_grid takes the cells by index with the "
                       "coordinates of the first -i file",
                       files[k], var.name, lat[0], lon[0], p->file[g->file], lat0[0], lon0[0], p->ny, p->nx);
              ncr_close(&f);
              goto done;
            }
            in->flip_y = match & 1, in->flip_x = (match & 2) != 0;
          }
          if (!p->coords && kind) { /* the first file had none: take these */
            memcpy(lat0, lat, n * sizeof *lat0), memcpy(lon0, lon, n * sizeof *lon0);
            p->coords = kind;
          }
        }
      }
      p->iq[q] = p->ninput++;
      if (q == GQ_CLASS && class_plan(p, f, v, class_codes, msg, len)) {
        ncr_close(&f);
        goto done;
      }
    }
    ncr_close(&f);
  }
  if (first_grid < 0) {
    snprintf(msg, len,
             "no driver recognised in the files (%s); name each with -map NAME=TA (or SW_IN, VPD, P, PA, WS, TMAX, "
             "TMIN, TDEW, VP, U, V)",
             p->unused[0] ? p->unused : "no gridded variables");
    goto done;
  }
  /* 1-D coordinates: rows with ascending latitude, longitudes wrapped to -180..180 and ascending */
  if (p->coords == 1) {
    int ny = p->ny, nx = p->nx, imin = 0;
    p->flip_y = ny > 1 && lat0[0] > lat0[(size_t)(ny - 1) * nx];
    for (int i = 1; i < nx; i++)
      if (wrap_lon(lon0[i]) < wrap_lon(lon0[imin])) imin = i;
    p->roll_x = imin;
    for (int i = 1; i < nx; i++)
      if (wrap_lon(lon0[(i + imin) % nx]) <= wrap_lon(lon0[(i - 1 + imin) % nx])) p->roll_x = 0;
  }
  /* time: one calendar, the common span */
  {
    int have = 0;
    for (int i = 0; i < p->ninput; i++) {
      GridInput *in = &p->in[i];
      CfCalendar c;
      if (in->is_static) continue;
      c = in->time.calendar == CF_CAL_PROLEPTIC ? CF_CAL_STANDARD : in->time.calendar;
      if (!have) {
        p->calendar = c, p->dfirst = in->dfirst, p->dlast = in->dlast, have = 1;
        continue;
      }
      if (c != p->calendar) {
        snprintf(msg, len,
                 "%s: variable %s uses the %s calendar, %s the %s calendar: raci prep does not convert between "
                 "calendars",
                 p->file[in->file], in->var, cal_name(in->time.calendar), p->file[p->in[0].file],
                 cal_name(p->calendar));
        goto done;
      }
      if (in->dfirst > p->dfirst) p->dfirst = in->dfirst;
      if (in->dlast < p->dlast) p->dlast = in->dlast;
    }
    if (!have) {
      snprintf(msg, len, "no time-varying driver in the files, only static maps");
      goto done;
    }
    for (int i = 0; i < p->ninput; i++) {
      const GridInput *in = &p->in[i];
      char             a[16], b[16];
      if (in->is_static) continue;
      day_text(p->calendar, in->dfirst, a, sizeof a);
      day_text(p->calendar, in->dlast, b, sizeof b);
      snprintf(tmp, sizeof tmp, "%s%s %s..%s", p->spans[0] ? "; " : "", in->var, a, b);
      if (strlen(p->spans) + strlen(tmp) + 1 < sizeof p->spans) strcat(p->spans, tmp);
    }
    if (p->dlast < p->dfirst) {
      snprintf(msg, len, "the files have no day in common: %s", p->spans);
      goto done;
    }
    {
      int y, m, d;
      io_cftime_from_daynum(p->calendar, p->dfirst, &y, &m, &d);
      p->year0     = y;
      p->day_year0 = io_cftime_daynum(p->calendar, y, 1, 1);
      snprintf(p->calendar_name, sizeof p->calendar_name, "%s", cal_name(p->calendar));
    }
  }
  /* the outputs */
  {
    int ta = p->iq[GQ_TA], tx = p->iq[GQ_TMAX], tn = p->iq[GQ_TMIN],
        range = (tx >= 0 && tn >= 0) || (ta >= 0 && p->in[ta].spd >= 4);
    if (ta >= 0)
      describe(p, ta, src, sizeof src), add_out(p, "TA", "fast", "air temperature, daily mean", "time: mean", src, 0);
    else if (tx >= 0 && tn >= 0)
      add_out(p, "TA", "fast", "air temperature, daily mean", "time: mean",
              "derived: (TMAX + TMIN) / 2 of the daily maximum and minimum", 1);
    if (p->iq[GQ_SW] >= 0 && p->iq[GQ_DAYL] >= 0 && !strcasecmp(p->in[p->iq[GQ_SW]].var, "srad"))
      p->in[p->iq[GQ_SW]].qty = GQ_SWDL, p->iq[GQ_SWDL] = p->iq[GQ_SW], p->iq[GQ_SW] = -1; /* Daymet */
    if (p->iq[GQ_SW] >= 0)
      describe(p, p->iq[GQ_SW], src, sizeof src),
          add_out(p, "SW_IN", "fast", "incoming shortwave radiation, daily mean", "time: mean", src, 0);
    else if (p->iq[GQ_SWDL] >= 0 && p->iq[GQ_DAYL] >= 0)
      add_out(p, "SW_IN", "fast", "incoming shortwave radiation, daily mean", "time: mean",
              "derived: daylight-average shortwave x day length / 86400 s (Daymet srad, dayl)", 1);
    else if (range && p->coords)
      add_out(p, "SW_IN", "fast", "incoming shortwave radiation, daily mean", "time: mean",
              "derived: Hargreaves-Samani from the daily temperature range, 0.16 sqrt(Tmax - Tmin) Ra (FAO-56 eq. 50, "
              "Ra eq. 21): no radiation in the inputs",
              1);
    if (p->iq[GQ_VPD] >= 0)
      describe(p, p->iq[GQ_VPD], src, sizeof src),
          add_out(p, "VPD", "fast", "vapour pressure deficit, daily mean", "time: mean", src, 0);
    else if ((p->iq[GQ_VP] >= 0 || p->iq[GQ_TDEW] >= 0) && (ta >= 0 || (tx >= 0 && tn >= 0))) {
      snprintf(src, sizeof src, "derived: es(T) - ea, es %s, ea %s (FAO-56 eq. 11-12)",
               range ? "the mean of es(Tmax) and es(Tmin)" : "of the daily mean temperature",
               p->iq[GQ_VP] >= 0 ? "the vapour pressure" : "es of the dew point");
      add_out(p, "VPD", "fast", "vapour pressure deficit, daily mean", "time: mean", src, 1);
    }
    if (p->iq[GQ_P] >= 0)
      describe(p, p->iq[GQ_P], src, sizeof src),
          add_out(p, "P", "fast", "precipitation, daily total", "time: mean", src, 0);
    if (p->iq[GQ_PA] >= 0)
      describe(p, p->iq[GQ_PA], src, sizeof src),
          add_out(p, "PA", "fast", "surface air pressure, daily mean", "time: mean", src, 0);
    if (p->iq[GQ_WS] >= 0)
      describe(p, p->iq[GQ_WS], src, sizeof src),
          add_out(p, "WS", "fast", "wind speed, daily mean", "time: mean", src, 0);
    else if (p->iq[GQ_U] >= 0 && p->iq[GQ_V] >= 0) {
      const GridInput *u = &p->in[p->iq[GQ_U]], *w = &p->in[p->iq[GQ_V]];
      if (u->spd != w->spd) {
        snprintf(msg, len, "%s and %s (wind components) have different time steps: give them on one time axis", u->var,
                 w->var);
        goto done;
      }
      add_out(p, "WS", "fast", "wind speed, daily mean", "time: mean",
              "derived: mean over the steps of sqrt(u^2 + v^2) of the wind components", 1);
    }
    if (p->nout == 0) {
      char found[GP_TEXT_LEN] = "";
      for (int i = 0; i < p->ninput; i++) {
        snprintf(tmp, sizeof tmp, " %s=%s", p->in[i].var, gridprep_qty_name[p->in[i].qty]);
        append(found, sizeof found, tmp);
      }
      snprintf(msg, len,
               "no driver raci uses could be made from the files (recognised:%s); a grid needs TA, or TMAX and TMIN, "
               "or another driver (docs/DATA.md, \"Gridded forcing\")",
               found[0] ? found : " nothing");
      goto done;
    }
    for (int o = 0; o < p->nout; o++) {
      if (!strcmp(p->out[o].name, "TA"))
        add_out(p, "MAT", "slow", "air temperature, mean over the span of the forcing", "time: mean",
                "derived: mean of the daily TA over the span", 1);
      if (!strcmp(p->out[o].name, "P"))
        add_out(p, "MAP", "slow", "precipitation, annual total, mean over the span of the forcing", "time: mean",
                "derived: mean daily P over the span x 365.25", 1);
      if (p->nout >= GP_MAX_OUT - 1) break;
    }
    for (int g = 0; g < GS_NUM; g++) { /* elevation and soil maps from static files */
      int e = static_input(p, g);
      if (e >= 0) {
        describe(p, e, src, sizeof src);
        if (p->in[e].qty == GQ_GEOPOT) append(src, sizeof src, " / 9.80665 m s-2");
        add_out(p, gridprep_static_name(g), "slow", static_long_name[g], "", src, p->in[e].qty == GQ_GEOPOT);
      } else {
        if (p->absent[0]) append(p->absent, sizeof p->absent, ", ");
        append(p->absent, sizeof p->absent, gridprep_static_name(g));
      }
    }
    if (p->iq[GQ_CLASS] >= 0) {
      describe(p, p->iq[GQ_CLASS], src, sizeof src);
      append(src, sizeof src, ", recoded to the classes of -prep_class_codes");
      add_out(p, p->class_var, "slow", "vegetation class", "", src, 0);
      p->out[p->nout - 1].is_class = 1;
    } else {
      if (p->absent[0]) append(p->absent, sizeof p->absent, ", ");
      append(p->absent, sizeof p->absent, "class");
    }
  }
  rc = 0;
done:
  free(lat0), free(lon0), free(lat), free(lon);
  return rc;
}

/* ------------------------------------------------------------------ values */
/* the cell of input `in` (NULL: the first file's order) that is output cell c */
static size_t in_cell(const GridPlan *p, const GridInput *in, size_t c)
{
  size_t j = c / p->nx, i = c % p->nx;
  if (p->flip_y) j = p->ny - 1 - j;
  i = (i + p->roll_x) % p->nx;
  if (in && in->flip_y) j = p->ny - 1 - j;
  if (in && in->flip_x) i = p->nx - 1 - i;
  return j * p->nx + i;
}

int gridprep_coords(const GridPlan *p, double *lat, double *lon, char *msg, size_t len)
{
  size_t   n = (size_t)p->ny * p->nx;
  double  *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  NcrFile *f    = NULL;
  int      kind = 0, rc = 1, src = 0;
  NcrVar   var;
  for (size_t c = 0; c < n; c++) lat[c] = lon[c] = NAN;
  if (!a || !b) goto done;
  for (int i = 0; i < p->ninput && !kind; i++) {
    src = i;
    if (ncr_open(p->file[p->in[i].file], &f, msg, len)) goto done;
    if (ncr_var(f, ncr_find_var(f, p->in[i].var), &var, msg, len) || file_coords(f, &var, a, b, &kind, msg, len)) {
      ncr_close(&f);
      goto done;
    }
    ncr_close(&f);
  }
  if (kind)
    for (size_t c = 0; c < n; c++)
      lat[c] = a[in_cell(p, &p->in[src], c)], lon[c] = wrap_lon(b[in_cell(p, &p->in[src], c)]);
  rc = 0;
done:
  free(a), free(b);
  return rc;
}

static int read_static(const GridPlan *p, int i, double *buf, char *msg, size_t len)
{
  NcrFile *f     = NULL;
  size_t   st[3] = {0, 0, 0}, ct[3] = {1, (size_t)p->ny, (size_t)p->nx};
  NcrVar   var;
  int      v, rc;
  if (ncr_open(p->file[p->in[i].file], &f, msg, len)) return 1;
  v  = ncr_find_var(f, p->in[i].var);
  rc = ncr_var(f, v, &var, msg, len) || ncr_read_values(f, v, st, var.ndims == 3 ? ct : ct + 1, buf, msg, len);
  ncr_close(&f);
  return rc;
}

int gridprep_statics(const GridPlan *p, float *mask, float *num[GS_NUM], float *cls, char *msg, size_t len)
{
  size_t  n = (size_t)p->ny * p->nx;
  double *b = malloc(n * sizeof *b);
  if (!b) {
    snprintf(msg, len, "out of memory");
    return 1;
  }
  for (size_t c = 0; c < n; c++) mask[c] = 1, cls[c] = NAN;
  if (p->iq[GQ_CLASS] >= 0) { /* the map's codes to the training file's flag_values; NaN where it has none */
    const GridInput *in = &p->in[p->iq[GQ_CLASS]];
    if (read_static(p, p->iq[GQ_CLASS], b, msg, len)) goto fail;
    for (size_t c = 0; c < n; c++) {
      double x = b[in_cell(p, in, c)];
      for (int k = 0; k < p->nmap; k++)
        if (x == p->map_value[k]) cls[c] = (float)p->class_flag[p->map_class[k]];
    }
  }
  if (p->iq[GQ_MASK] >= 0) {
    if (read_static(p, p->iq[GQ_MASK], b, msg, len)) goto fail;
    for (size_t c = 0; c < n; c++) {
      double x = b[in_cell(p, &p->in[p->iq[GQ_MASK]], c)];
      mask[c]  = isfinite(x) && x != 0;
    }
  }
  for (int g = 0; g < GS_NUM; g++) {
    int              e  = static_input(p, g);
    const GridInput *in = e >= 0 ? &p->in[e] : NULL;
    for (size_t c = 0; c < n; c++) num[g][c] = NAN;
    if (!in) continue;
    if (read_static(p, e, b, msg, len)) goto fail;
    for (size_t c = 0; c < n; c++) num[g][c] = (float)(in->slope * b[in_cell(p, in, c)] + in->intercept);
  }
  free(b);
  return 0;
fail:
  free(b);
  return 1;
}

double gridprep_es_hpa(double t) { return 6.108 * exp(17.27 * t / (t + 237.3)); }

double gridprep_ra_wm2(double lat_deg, int doy, int ndays)
{
  const double gsc = 1367.0; /* W m-2, FAO-56's 0.0820 MJ m-2 min-1 */
  double       phi = lat_deg * M_PI / 180.0, x = 2.0 * M_PI * doy / ndays;
  double       dr = 1 + 0.033 * cos(x), delta = 0.409 * sin(x - 1.39), a = -tan(phi) * tan(delta);
  double       ws = a >= 1 ? 0 : a <= -1 ? M_PI : acos(a);
  double       ra = gsc / M_PI * dr * (ws * sin(phi) * sin(delta) + cos(phi) * cos(delta) * sin(ws));
  return ra > 0 ? ra : 0;
}

typedef enum { AG_MEAN, AG_SUM, AG_LAST, AG_MEAN_ES, AG_SPEED } Agg;

static Agg kind_agg(GridKind k) { return k == GK_MEAN ? AG_MEAN : k == GK_AMOUNT ? AG_SUM : AG_LAST; }

struct GridWork {
  int     nd;                   /* days it holds */
  double *step, *step2;         /* (ny * nx) one time step of an input (two for u and v), the file's order */
  double *acc, *mx, *mn;        /* (ny * nx) one day's aggregates, the file's order */
  double *ta, *tx, *tn, *a, *b; /* (nd, ny * nx) daily mean, max and min temperature; one output; a second input */
};

int gridprep_work_create(const GridPlan *p, int nd, GridWork **w, char *msg, size_t len)
{
  size_t    n = (size_t)p->ny * p->nx, nday = (size_t)nd * n;
  GridWork *g = calloc(1, sizeof *g);
  *w          = g;
  if (!g) goto oom;
  g->nd   = nd;
  g->step = malloc(n * sizeof *g->step), g->step2 = malloc(n * sizeof *g->step2);
  g->acc = malloc(n * sizeof *g->acc), g->mx = malloc(n * sizeof *g->mx), g->mn = malloc(n * sizeof *g->mn);
  g->ta = malloc(nday * sizeof *g->ta), g->tx = malloc(nday * sizeof *g->tx), g->tn = malloc(nday * sizeof *g->tn);
  g->a = malloc(nday * sizeof *g->a), g->b = malloc(nday * sizeof *g->b);
  if (g->step && g->step2 && g->acc && g->mx && g->mn && g->ta && g->tx && g->tn && g->a && g->b) return 0;
oom:
  snprintf(msg, len, "out of memory for %d days of %zu cells", nd, n);
  gridprep_work_destroy(w);
  return 1;
}

void gridprep_work_destroy(GridWork **w)
{
  GridWork *g = *w;
  if (!g) return;
  free(g->step), free(g->step2), free(g->acc), free(g->mx), free(g->mn);
  free(g->ta), free(g->tx), free(g->tn), free(g->a), free(g->b);
  free(g);
  *w = NULL;
}

/* Time step k of input i, converted to canonical units, into buf (ny * nx, the file's order). */
static int read_step(const GridPlan *p, NcrFile *const files[], int i, long long k, double *buf, char *msg, size_t len)
{
  const GridInput *in    = &p->in[i];
  NcrFile         *f     = files[in->file];
  size_t           st[4] = {(size_t)k, 0, 0, 0}, ct[4] = {1, 1, (size_t)p->ny, (size_t)p->nx};
  if (!in->dims4) ct[1] = (size_t)p->ny, ct[2] = (size_t)p->nx;
  return ncr_read_affine(f, ncr_find_var(f, in->var), st, ct, in->slope, in->intercept, buf, msg, len);
}

/* a (the file's order) into day d of out (the output's order), a row at a time */
static void to_output(const GridPlan *p, const GridInput *in, const double *a, double *out)
{
  for (int j = 0; j < p->ny; j++) {
    int           jj  = p->flip_y ? p->ny - 1 - j : j;
    const double *row = a + (size_t)(in->flip_y ? p->ny - 1 - jj : jj) * p->nx;
    double       *o   = out + (size_t)j * p->nx;
    if (!p->roll_x && !in->flip_x) {
      memcpy(o, row, p->nx * sizeof *o);
      continue;
    }
    for (int i = 0, ii = p->roll_x; i < p->nx; i++, ii = ii + 1 == p->nx ? 0 : ii + 1)
      o[i] = row[in->flip_x ? p->nx - 1 - ii : ii];
  }
}

/* The daily aggregate of input i (with iv for the wind speed of u = i and v = iv) over days d0..d0+nd-1
 * into out ((nd, ny * nx), the output's order), and the daily max and min into outmax and outmin when
 * they are not NULL. The steps are read one at a time and folded in while in cache; a day with a
 * missing step is missing (NaN propagates through the sums, max and min). */
static int daily(const GridPlan *p, NcrFile *const files[], GridWork *w, int i, int iv, long long d0, int nd, Agg how,
                 double *out, double *outmax, double *outmin, char *msg, size_t len)
{
  const GridInput *in  = &p->in[i];
  size_t           n   = (size_t)p->ny * p->nx;
  double          *acc = w->acc, *mx = w->mx, *mn = w->mn, *x = w->step, *y = w->step2;
  for (int d = 0; d < nd; d++) {
    long long k0 = in->kfirst + (p->dfirst + d0 + d - in->dfirst) * in->spd;
    for (int k = 0; k < in->spd; k++) {
      if (read_step(p, files, i, k0 + k, x, msg, len)) return 1;
      if (how == AG_SPEED) {
        const GridInput *v = &p->in[iv];
        if (read_step(p, files, iv, v->kfirst + (p->dfirst + d0 + d - v->dfirst) * v->spd + k, y, msg, len)) return 1;
        for (size_t c = 0; c < n; c++) x[c] = sqrt(x[c] * x[c] + y[c] * y[c]);
      } else if (how == AG_MEAN_ES)
        for (size_t c = 0; c < n; c++) x[c] = gridprep_es_hpa(x[c]);
      if (k == 0) {
        memcpy(acc, x, n * sizeof *acc);
        if (outmax) memcpy(mx, x, n * sizeof *mx), memcpy(mn, x, n * sizeof *mn);
        continue;
      }
      if (how == AG_LAST)
        memcpy(acc, x, n * sizeof *acc);
      else
        for (size_t c = 0; c < n; c++) acc[c] += x[c];
      if (outmax) /* NaN stays NaN */
        for (size_t c = 0; c < n; c++) {
          mx[c] = x[c] > mx[c] || isnan(x[c]) ? x[c] : mx[c];
          mn[c] = x[c] < mn[c] || isnan(x[c]) ? x[c] : mn[c];
        }
    }
    if (how == AG_MEAN || how == AG_MEAN_ES || how == AG_SPEED)
      for (size_t c = 0; c < n; c++) acc[c] /= in->spd;
    to_output(p, in, acc, out + (size_t)d * n);
    if (outmax) to_output(p, in, mx, outmax + (size_t)d * n), to_output(p, in, mn, outmin + (size_t)d * n);
  }
  return 0;
}

int gridprep_day_block(const GridPlan *p, NcrFile *const files[], GridWork *w, long long d0, int nd, const double *lat,
                       const float *mask, float *out[], char *msg, size_t len)
{
  size_t  n = (size_t)p->ny * p->nx, nday = (size_t)nd * n;
  int     rc = 1;
  double *ta = w->ta, *tx = w->tx, *tn = w->tn, *a = w->a;
  if (nd > w->nd) {
    snprintf(msg, len, "gridprep_day_block: %d days in a workspace of %d", nd, w->nd);
    return 1;
  }
  /* temperatures first: TA, and the daily range where the plan has one (the same formulas at every cell:
   * a cell missing the range on a day is missing, never computed another way) */
  int have_range = (p->iq[GQ_TMAX] >= 0 && p->iq[GQ_TMIN] >= 0) || (p->iq[GQ_TA] >= 0 && p->in[p->iq[GQ_TA]].spd >= 4);
  for (size_t c = 0; c < nday; c++) ta[c] = tx[c] = tn[c] = NAN;
  {
    int iq = p->iq[GQ_TA], ix = p->iq[GQ_TMAX], in_ = p->iq[GQ_TMIN];
    int range = ix >= 0 && in_ >= 0;
    if (range && (daily(p, files, w, ix, -1, d0, nd, AG_MEAN, tx, NULL, NULL, msg, len) ||
                  daily(p, files, w, in_, -1, d0, nd, AG_MEAN, tn, NULL, NULL, msg, len)))
      goto done;
    if (iq >= 0) { /* the range of the sub-daily steps, when there is no other */
      int steps_range = !range && p->in[iq].spd >= 4;
      if (daily(p, files, w, iq, -1, d0, nd, AG_MEAN, ta, steps_range ? tx : NULL, steps_range ? tn : NULL, msg, len))
        goto done;
    } else
      for (size_t c = 0; c < nday; c++) ta[c] = 0.5 * (tx[c] + tn[c]);
  }
  for (int o = 0; o < p->nout; o++) {
    const GridOut *go  = &p->out[o];
    float         *dst = out[o];
    if (go->is_static) continue;
    if (!strcmp(go->name, "TA")) {
      for (size_t c = 0; c < nday; c++) a[c] = ta[c];
    } else if (!strcmp(go->name, "SW_IN")) {
      int is = p->iq[GQ_SW], idl = p->iq[GQ_SWDL], iday = p->iq[GQ_DAYL];
      if (is >= 0) {
        if (daily(p, files, w, is, -1, d0, nd, kind_agg(p->in[is].kind), a, NULL, NULL, msg, len)) goto done;
        if (p->in[is].kind != GK_MEAN)
          for (size_t c = 0; c < nday; c++) a[c] /= 86400.0; /* J m-2 per day -> W m-2 */
      } else if (idl >= 0 && iday >= 0) {
        double *dl = w->b; /* the day lengths */
        if (daily(p, files, w, iday, -1, d0, nd, AG_MEAN, dl, NULL, NULL, msg, len) ||
            daily(p, files, w, idl, -1, d0, nd, AG_MEAN, a, NULL, NULL, msg, len))
          goto done;
        for (size_t c = 0; c < nday; c++) a[c] *= dl[c] / 86400.0;
      } else { /* Hargreaves-Samani */
        for (int d = 0; d < nd; d++) {
          int       y, m, dd, doy, ndays;
          long long today = p->dfirst + d0 + d, jan1;
          double    ra = 0, ra_lat = NAN;
          io_cftime_from_daynum(p->calendar, today, &y, &m, &dd);
          jan1  = io_cftime_daynum(p->calendar, y, 1, 1);
          doy   = (int)(today - jan1) + 1;
          ndays = (int)(io_cftime_daynum(p->calendar, y + 1, 1, 1) - jan1);
          for (size_t c = 0; c < n; c++) {
            size_t k = (size_t)d * n + c;
            double r = tx[k] - tn[k];
            if (lat[c] != ra_lat) ra = gridprep_ra_wm2(lat[c], doy, ndays), ra_lat = lat[c]; /* a row shares it */
            a[k] = isnan(r) ? NAN : 0.16 * sqrt(r > 0 ? r : 0) * ra;
          }
        }
      }
    } else if (!strcmp(go->name, "VPD")) {
      int iv = p->iq[GQ_VPD];
      if (iv >= 0) {
        if (daily(p, files, w, iv, -1, d0, nd, AG_MEAN, a, NULL, NULL, msg, len)) goto done;
      } else {
        int ie = p->iq[GQ_VP] >= 0 ? p->iq[GQ_VP] : p->iq[GQ_TDEW];
        if (daily(p, files, w, ie, -1, d0, nd, p->in[ie].qty == GQ_VP ? AG_MEAN : AG_MEAN_ES, a, NULL, NULL, msg, len))
          goto done;
        for (size_t c = 0; c < nday; c++) {
          double es = have_range ? 0.5 * (gridprep_es_hpa(tx[c]) + gridprep_es_hpa(tn[c])) : gridprep_es_hpa(ta[c]);
          double v  = es - a[c];
          a[c]      = isnan(v) ? NAN : v > 0 ? v : 0;
        }
      }
    } else if (!strcmp(go->name, "WS") && p->iq[GQ_WS] < 0) {
      if (daily(p, files, w, p->iq[GQ_U], p->iq[GQ_V], d0, nd, AG_SPEED, a, NULL, NULL, msg, len)) goto done;
    } else { /* P, PA, WS: one input each */
      int i = p->iq[!strcmp(go->name, "P") ? GQ_P : !strcmp(go->name, "PA") ? GQ_PA : GQ_WS];
      if (daily(p, files, w, i, -1, d0, nd, kind_agg(p->in[i].kind), a, NULL, NULL, msg, len)) goto done;
    }
    for (size_t c = 0; c < nday; c++) dst[c] = mask[c % n] ? (float)a[c] : NAN;
  }
  rc = 0;
done:
  return rc;
}
