/* prep: the tower products, their columns, and a directory of site files
 * loaded onto one daily axis (docs/DATA.md, "Tower data: raci prep"). */
#include <raci/prep.h>
#include <raci/quantity.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const prep_format_name[PREP_NUM_FORMATS] = {"fluxnet-ch4", "fluxdatakit", "fluxnet2015"};

/* ------------------------------------------------------------ known columns */

/* FLUXNET-CH4: variable families, some numbered by sensor (TS_1, G_2,
 * SWC_3; the number may be absent, as in G), each with the product's
 * gap-filling and quality suffixes. */
static const char *const ch4_base[] = {
    "NEE", "H",  "LE", "FCH4", "USTAR",  "SW_IN", "SW_OUT", "LW_IN", "LW_OUT", "NETRAD",  "PPFD_IN", "PPFD_OUT", "VPD",
    "RH",  "PA", "TA", "P",    "D_SNOW", "WD",    "WS",     "WTD",   "GPP_NT", "RECO_NT", "GPP_DT",  "RECO_DT",  NULL};
static const char *const ch4_numbered[] = {"TS", "G", "SWC", NULL};
static const char *const ch4_suffix[]   = {"", "_F", "_F_ANNOPTLM", "_QC", "_F_ANNOPTLM_QC", NULL};

/* FluxDataKit PLUMBER FULLSET daily: every column of the released files
 * (BE-Bra adds doy and WS_F_meandoy in front). */
static const char *const fdk_columns[] = {"TIMESTAMP",
                                          "doy",
                                          "WS_F_meandoy",
                                          "P_F",
                                          "P_F_QC",
                                          "TA_F_MDS",
                                          "TA_F_MDS_QC",
                                          "TMIN_F_MDS",
                                          "TMAX_F_MDS",
                                          "SW_IN_F_MDS",
                                          "SW_IN_F_MDS_QC",
                                          "LW_IN_F_MDS",
                                          "LW_IN_F_MDS_QC",
                                          "VPD_F_MDS",
                                          "VPD_F_MDS_QC",
                                          "WS_F",
                                          "WS_F_QC",
                                          "PA_F",
                                          "PA_F_QC",
                                          "CO2_F_MDS",
                                          "CO2_F_MDS_QC",
                                          "NEE_VUT_REF",
                                          "NEE_VUT_REF_QC",
                                          "GPP_NT_VUT_REF",
                                          "GPP_DT_VUT_REF",
                                          "RECO_NT_VUT_REF",
                                          "NETRAD",
                                          "NETRAD_QC",
                                          "USTAR",
                                          "USTAR_QC",
                                          "SW_OUT",
                                          "LE_F_MDS",
                                          "LE_F_MDS_QC",
                                          "LE_CORR",
                                          "LE_CORR_QC",
                                          "LE_CORR_JOINTUNC",
                                          "H_F_MDS",
                                          "H_F_MDS_QC",
                                          "H_CORR",
                                          "H_CORR_QC",
                                          "H_CORR_JOINTUNC",
                                          "LAI",
                                          "FPAR",
                                          "TA_DAY_F_MDS",
                                          "VPD_DAY_F_MDS",
                                          NULL};

static PetscBool in_list(const char *const list[], const char *s)
{
  for (int i = 0; list[i]; i++)
    if (!strcmp(list[i], s)) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* FLUXNET2015 (FULLSET and SUBSET DD files, and the daily files of
 * ../shared/data): a variable family followed by qualifiers, each "_WORD"
 * from the product's naming (gap-filling method, partitioning, USTAR
 * filtering, percentiles, uncertainties, quality flags), numbers included
 * (sensor numbers, percentiles 05..95). NEE_VUT_REF_QC, GPP_DT_CUT_MEAN,
 * TA_F_MDS_NIGHT_SD, LE_CORR_JOINTUNC, SWC_F_MDS_1_QC, NIGHT_D_RANDUNC_N. */
static const char *const f15_base[] = {"TIMESTAMP",
                                       "TIMESTAMP_START",
                                       "TIMESTAMP_END",
                                       "TA",
                                       "SW_IN_POT",
                                       "SW_IN",
                                       "LW_IN",
                                       "LW_IN_JSB",
                                       "VPD",
                                       "PA",
                                       "P",
                                       "WS",
                                       "WD",
                                       "RH",
                                       "USTAR",
                                       "NETRAD",
                                       "PPFD_IN",
                                       "PPFD_DIF",
                                       "PPFD_OUT",
                                       "SW_DIF",
                                       "SW_OUT",
                                       "LW_OUT",
                                       "CO2",
                                       "TS",
                                       "SWC",
                                       "G",
                                       "LE",
                                       "H",
                                       "NEE",
                                       "RECO",
                                       "GPP",
                                       "EBC_CF",
                                       "NIGHT",
                                       "DAY",
                                       NULL};
static const char *const f15_word[] = {"F",       "MDS",    "ERA", "QC",    "NT",       "DT",      "SR",
                                       "VUT",     "CUT",    "REF", "MEAN",  "SE",       "USTAR50", "JOINTUNC",
                                       "RANDUNC", "METHOD", "N",   "CORR",  "DAY",      "NIGHT",   "SD",
                                       "JSB",     "D",      "UNC", "NOREF", "ANNOPTLM", "CF",      NULL};

static PetscBool fluxnet2015_column(const char *name)
{
  for (int i = 0; f15_base[i]; i++) {
    size_t      n = strlen(f15_base[i]);
    const char *r = name + n;
    if (strncmp(name, f15_base[i], n) || (*r && *r != '_')) continue;
    while (*r == '_') { /* each qualifier a known word or a number */
      char   w[16];
      size_t k = 0;
      r++;
      while (*r && *r != '_' && k + 1 < sizeof w) w[k++] = *r++;
      w[k] = '\0';
      if (!k || (*r && *r != '_')) break;
      if (in_list(f15_word, w)) continue;
      for (size_t j = 0; j < k; j++)
        if (!isdigit((unsigned char)w[j])) goto next_base;
    }
    if (!*r) return PETSC_TRUE;
  next_base:;
  }
  return PETSC_FALSE;
}

PetscBool prep_known_column(PrepFormat f, const char *name)
{
  if (f == PREP_FLUXDATAKIT) return in_list(fdk_columns, name);
  if (f == PREP_FLUXNET2015) return fluxnet2015_column(name);
  if (!strcmp(name, "TIMESTAMP")) return PETSC_TRUE;
  for (int i = 0; ch4_base[i]; i++) {
    size_t n = strlen(ch4_base[i]);
    if (!strncmp(name, ch4_base[i], n) && in_list(ch4_suffix, name + n)) return PETSC_TRUE;
  }
  for (int i = 0; ch4_numbered[i]; i++) {
    size_t      n = strlen(ch4_numbered[i]);
    const char *r = name + n;
    if (strncmp(name, ch4_numbered[i], n)) continue;
    if (r[0] == '_' && isdigit((unsigned char)r[1])) {
      r++;
      while (isdigit((unsigned char)*r)) r++;
    }
    if (in_list(ch4_suffix, r)) return PETSC_TRUE;
  }
  return PETSC_FALSE;
}

/* ------------------------------------------------------------ quantities */

/* Units written and physical range: the shared table of include/raci/quantity.h
 * (docs/DATA.md, Checks), which train and predict check inputs against too. */
static const Quantity *quantity(const char *name) { return quantity_find(name); }

/* FLUXNET-CH4 daily files are daily means of the half-hourly product:
 * umol CO2 m-2 s-1 -> g C m-2 d-1 is 12.011e-6 g umol-1 x 86400 s d-1. */
#define UMOL_CO2_TO_GC_PER_DAY 1.0377504

/* One daily output variable taken from one column of the site files. */
typedef struct {
  const char *name, *column, *quantity, *role, *long_name;
  double      scale;
  PetscBool   optional; /* files may lack the column */
  const char *qc;       /* a day counts (is measured) only where this column >= -prep_min_qc */
  const char *sum[2];   /* a file without the column: the sum of these two columns */
} ColumnMap;

static const ColumnMap ch4_drivers[] = {
    {"TA", "TA_F", "TA", "fast", "air temperature, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"SW_IN",
     "SW_IN_F",
     "SW_IN",
     "fast",
     "incoming shortwave radiation, daily mean",
     1,
     PETSC_FALSE,
     NULL,
     {NULL, NULL}},
    {"VPD", "VPD_F", "VPD", "fast", "vapour pressure deficit, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"P", "P_F", "P", "fast", "precipitation, daily total", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"PA", "PA_F", "PA", "fast", "air pressure, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"WS", "WS_F", "WS", "fast", "wind speed, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"TS", "TS_1", "TS", "fast", "soil temperature, shallowest sensor, daily mean", 1, PETSC_TRUE, NULL, {NULL, NULL}},
};
/* FLUXNET2015 DD: the ERA-merged drivers (_F), fluxes already in g C m-2 d-1. */
static const ColumnMap f15_drivers[] = {
    {"TA", "TA_F", "TA", "fast", "air temperature, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"SW_IN",
     "SW_IN_F",
     "SW_IN",
     "fast",
     "incoming shortwave radiation, daily mean",
     1,
     PETSC_FALSE,
     NULL,
     {NULL, NULL}},
    {"VPD", "VPD_F", "VPD", "fast", "vapour pressure deficit, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"P", "P_F", "P", "fast", "precipitation, daily total", 1, PETSC_TRUE, NULL, {NULL, NULL}},
    {"PA", "PA_F", "PA", "fast", "air pressure, daily mean", 1, PETSC_TRUE, NULL, {NULL, NULL}},
    {"WS", "WS_F", "WS", "fast", "wind speed, daily mean", 1, PETSC_TRUE, NULL, {NULL, NULL}},
};
#define F15_QC "NEE_VUT_REF_QC"
#define F15_RECO_SUM                                                                                                   \
  {                                                                                                                    \
    "GPP_NT_VUT_REF", "NEE_VUT_REF"                                                                                    \
  }
static const ColumnMap f15_targets[] = {
    {"GPP",
     "GPP_NT_VUT_REF",
     "GPP",
     "target",
     "gross primary productivity as carbon, night-time partitioning, measured days only",
     1,
     PETSC_FALSE,
     F15_QC,
     {NULL, NULL}},
    {"GPP_gapfilled",
     "GPP_NT_VUT_REF",
     "GPP",
     "",
     "gross primary productivity as carbon, night-time partitioning, gap-filled",
     1,
     PETSC_FALSE,
     NULL,
     {NULL, NULL}},
    {"RECO", "RECO_NT_VUT_REF", "RECO", "target",
     "ecosystem respiration as carbon, night-time partitioning, measured days only", 1, PETSC_TRUE, F15_QC,
     F15_RECO_SUM},
    {"RECO_gapfilled", "RECO_NT_VUT_REF", "RECO", "",
     "ecosystem respiration as carbon, night-time partitioning, gap-filled", 1, PETSC_TRUE, NULL, F15_RECO_SUM},
    {"NEE",
     "NEE_VUT_REF",
     "NEE",
     "target",
     "net ecosystem exchange of CO2 as carbon, measured days only, positive to the atmosphere",
     1,
     PETSC_FALSE,
     F15_QC,
     {NULL, NULL}},
    {"NEE_gapfilled",
     "NEE_VUT_REF",
     "NEE",
     "",
     "net ecosystem exchange of CO2 as carbon, gap-filled, positive to the atmosphere",
     1,
     PETSC_FALSE,
     NULL,
     {NULL, NULL}},
};

static const ColumnMap fdk_drivers[] = {
    {"TA", "TA_F_MDS", "TA", "fast", "air temperature, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"SW_IN",
     "SW_IN_F_MDS",
     "SW_IN",
     "fast",
     "incoming shortwave radiation, daily mean",
     1,
     PETSC_FALSE,
     NULL,
     {NULL, NULL}},
    {"VPD", "VPD_F_MDS", "VPD", "fast", "vapour pressure deficit, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"P", "P_F", "P", "fast", "precipitation, daily total", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"PA", "PA_F", "PA", "fast", "air pressure, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"WS", "WS_F", "WS", "fast", "wind speed, daily mean", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"LAI", "LAI", "LAI", "fast", "leaf area index", 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"GPP",
     "GPP_NT_VUT_REF",
     "GPP",
     "target",
     "gross primary productivity as carbon, night-time partitioning (reference)",
     1,
     PETSC_FALSE,
     NULL,
     {NULL, NULL}},
};

#define CH4_MEAS "methane flux, measured days only, daily mean, positive to the atmosphere"
#define CH4_GAPF "methane flux, gap-filled, daily mean, positive to the atmosphere"
#define NEE_MEAS "net ecosystem exchange of CO2 as carbon, measured days only, positive to the atmosphere"
#define NEE_GAPF "net ecosystem exchange of CO2 as carbon, gap-filled, positive to the atmosphere"
static const ColumnMap ch4_targets[] = {
    {"FCH4", "FCH4", "FCH4", "target", CH4_MEAS, 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"FCH4_gapfilled", "FCH4_F", "FCH4", "", CH4_GAPF, 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"NEE", "NEE", "NEE", "", NEE_MEAS, UMOL_CO2_TO_GC_PER_DAY, PETSC_FALSE, NULL, {NULL, NULL}},
    {"NEE_gapfilled", "NEE_F", "NEE", "", NEE_GAPF, UMOL_CO2_TO_GC_PER_DAY, PETSC_FALSE, NULL, {NULL, NULL}},
};
/* -prep_use_gapfilled: the target is the gap-filled series; the measured one
 * stays beside it as X_measured, which raci eval scores against. */
static const ColumnMap ch4_targets_gapfilled[] = {
    {"FCH4", "FCH4_F", "FCH4", "target", CH4_GAPF, 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"FCH4_measured", "FCH4", "FCH4", "", CH4_MEAS, 1, PETSC_FALSE, NULL, {NULL, NULL}},
    {"NEE", "NEE_F", "NEE", "", NEE_GAPF, UMOL_CO2_TO_GC_PER_DAY, PETSC_FALSE, NULL, {NULL, NULL}},
    {"NEE_measured", "NEE", "NEE", "", NEE_MEAS, UMOL_CO2_TO_GC_PER_DAY, PETSC_FALSE, NULL, {NULL, NULL}},
};

#define MAX_MAPS 16

static int column_maps(const PrepOptions *opt, ColumnMap map[MAX_MAPS])
{
  int n = 0;
  if (opt->format == PREP_FLUXDATAKIT) {
    for (size_t i = 0; i < sizeof fdk_drivers / sizeof fdk_drivers[0]; i++) map[n++] = fdk_drivers[i];
  } else if (opt->format == PREP_FLUXNET2015) {
    for (size_t i = 0; i < sizeof f15_drivers / sizeof f15_drivers[0]; i++) map[n++] = f15_drivers[i];
    for (size_t i = 0; i < sizeof f15_targets / sizeof f15_targets[0]; i++) map[n++] = f15_targets[i];
  } else {
    const ColumnMap *t = opt->use_gapfilled ? ch4_targets_gapfilled : ch4_targets;
    for (size_t i = 0; i < sizeof ch4_drivers / sizeof ch4_drivers[0]; i++) map[n++] = ch4_drivers[i];
    for (size_t i = 0; i < sizeof ch4_targets / sizeof ch4_targets[0]; i++) map[n++] = t[i];
  }
  return n;
}

/* ------------------------------------------------------------ files */

typedef struct {
  const char *site_prefix, *site_infix; /* FLX_<SITE><infix>...csv */
  const char *site_part;                /* the name must also contain this ("" none) */
  const char *meta_prefix;              /* <prefix>...csv in the directory */
  const char *meta_site, *meta_lat, *meta_lon, *meta_class, *meta_elev, *meta_whc;
  const char *missing_text; /* the missing marker besides -9999 ("" none) */
} FormatInfo;

static const FormatInfo formats[PREP_NUM_FORMATS] = {
    {"FLX_", "_FLUXNET-CH4_DD_", "", "FLX_AA-Flx_CH4-META_", "SITE_ID", "LAT", "LON", "SITE_CLASSIFICATION", NULL, NULL,
     ""},
    {"FLX_", "_PLUMBER_FULLSET_DD_", "", "rsofun_drivers_", "sitename", "site_info_lat", "site_info_lon", NULL,
     "site_info_elv", "site_info_whc", "NA"},
    /* FLX_<SITE>_FLUXNET2015_DD_*, _FULLSET_DD_*, _SUBSET_DD_*: the daily files among HH, WW, MM, YY */
    {"FLX_", "_FLUXNET2015_", "_DD_", "sites", "SITE_ID", "LAT", "LON", "IGBP", "ELEV", NULL, ""},
};

static PetscBool ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);
  return (PetscBool)(n >= k && !strcmp(s + n - k, suffix));
}

typedef struct {
  char id[PREP_ID_LEN];
  char path[PETSC_MAX_PATH_LEN];
} SiteFile;

static int site_file_cmp(const void *a, const void *b)
{
  return strcmp(((const SiteFile *)a)->id, ((const SiteFile *)b)->id);
}

/* The site files of dir, sorted by site id, kept to opt->sites when given. */
static PetscErrorCode find_site_files(const PrepOptions *opt, SiteFile **files, int *nfiles, char *msg, size_t len)
{
  const FormatInfo *fi = &formats[opt->format];
  DIR              *dir;
  struct dirent    *e;
  int               n = 0, cap = 64;
  SiteFile         *all;

  PetscFunctionBeginUser;
  *files  = NULL;
  *nfiles = 0;
  dir     = opendir(opt->dir);
  if (!dir) {
    PetscCall(PetscSNPrintf(msg, len, "-i %s: cannot open the directory: %s", opt->dir, strerror(errno)));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscMalloc1(cap, &all));
  while ((e = readdir(dir))) {
    const char *name = e->d_name, *id = name + strlen(fi->site_prefix), *us;
    size_t      idlen;
    if (strncmp(name, fi->site_prefix, strlen(fi->site_prefix)) || !ends_with(name, ".csv")) continue;
    us = strchr(id, '_');
    if (!us || strncmp(us, fi->site_infix, strlen(fi->site_infix))) continue;
    if (fi->site_part[0] && !strstr(us, fi->site_part)) continue;
    idlen = (size_t)(us - id);
    if (idlen == 0 || idlen >= PREP_ID_LEN) {
      PetscCall(PetscSNPrintf(msg, len, "%s/%s: site id of %zu characters (1 to %d)", opt->dir, name, idlen,
                              PREP_ID_LEN - 1));
      break;
    }
    if (n == cap) {
      SiteFile *more;
      PetscCall(PetscMalloc1(2 * cap, &more));
      PetscCall(PetscArraycpy(more, all, n));
      PetscCall(PetscFree(all));
      all = more;
      cap *= 2;
    }
    PetscCall(PetscMemzero(&all[n], sizeof all[n]));
    memcpy(all[n].id, id, idlen);
    PetscCall(PetscSNPrintf(all[n].path, sizeof all[n].path, "%s/%s", opt->dir, name));
    n++;
  }
  closedir(dir);
  if (msg[0]) {
    PetscCall(PetscFree(all));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  qsort(all, (size_t)n, sizeof *all, site_file_cmp);
  for (int i = 1; i < n && !msg[0]; i++)
    if (!strcmp(all[i].id, all[i - 1].id))
      PetscCall(PetscSNPrintf(msg, len, "%s: two files for site %s: %s and %s", opt->dir, all[i].id, all[i - 1].path,
                              all[i].path));
  if (!msg[0] && n == 0)
    PetscCall(PetscSNPrintf(msg, len, "-i %s: no %s<SITE>%s*%s%s.csv files (is -format %s right?)", opt->dir,
                            fi->site_prefix, fi->site_infix, fi->site_part, fi->site_part[0] ? "*" : "",
                            prep_format_name[opt->format]));
  if (!msg[0] && opt->nsites) {
    /* keep the listed sites, in id order */
    int k = 0;
    for (int s = 0; s < opt->nsites && !msg[0]; s++) {
      PetscBool found = PETSC_FALSE;
      for (int i = 0; i < n; i++) found = (PetscBool)(found || !strcmp(all[i].id, opt->sites[s]));
      if (!found)
        PetscCall(PetscSNPrintf(msg, len, "-prep_sites: no file %s%s%s*.csv in %s", fi->site_prefix, opt->sites[s],
                                fi->site_infix, opt->dir));
    }
    for (int i = 0; i < n; i++) {
      PetscBool keep = PETSC_FALSE;
      for (int s = 0; s < opt->nsites; s++) keep = (PetscBool)(keep || !strcmp(all[i].id, opt->sites[s]));
      if (keep) all[k++] = all[i];
    }
    n = k;
  }
  if (!msg[0] && n > PREP_MAX_SITES)
    PetscCall(PetscSNPrintf(msg, len, "-i %s: %d sites, more than raci prep takes (%d; choose some with -prep_sites)",
                            opt->dir, n, PREP_MAX_SITES));
  if (msg[0]) {
    PetscCall(PetscFree(all));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  *files  = all;
  *nfiles = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The metadata file: -prep_meta, or the one file of dir with the format's prefix. */
static PetscErrorCode find_meta_file(const PrepOptions *opt, char *path, size_t plen, char *msg, size_t len)
{
  const FormatInfo *fi = &formats[opt->format];
  DIR              *dir;
  struct dirent    *e;

  PetscFunctionBeginUser;
  path[0] = '\0';
  if (opt->meta[0]) {
    PetscCall(PetscStrncpy(path, opt->meta, plen));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  dir = opendir(opt->dir);
  if (!dir) {
    PetscCall(PetscSNPrintf(msg, len, "-i %s: cannot open the directory: %s", opt->dir, strerror(errno)));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  while ((e = readdir(dir)) && !msg[0]) {
    if (strncmp(e->d_name, fi->meta_prefix, strlen(fi->meta_prefix)) || !ends_with(e->d_name, ".csv")) continue;
    if (path[0])
      PetscCall(PetscSNPrintf(msg, len, "%s: two site metadata files, %s and %s (choose one with -prep_meta)", opt->dir,
                              path, e->d_name));
    else
      PetscCall(PetscSNPrintf(path, plen, "%s/%s", opt->dir, e->d_name));
  }
  closedir(dir);
  if (!msg[0] && !path[0])
    PetscCall(
        PetscSNPrintf(msg, len, "%s: no site metadata %s*.csv (give -prep_meta FILE)", opt->dir, fi->meta_prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode need_column(const PrepCsv *csv, const char *name, const char *what, int *col, char *msg,
                                  size_t len)
{
  PetscFunctionBeginUser;
  *col = prep_csv_column(csv, name);
  if (*col < 0) PetscCall(PetscSNPrintf(msg, len, "%s: no column '%s' (%s)", csv->path, name, what));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A class name as one flag_meanings word: spaces and punctuation to '_',
 * lower case for the wetland classes ("Wet tundra" -> "wet_tundra"). */
static void class_word(const char *s, PetscBool lower, char *w, size_t n)
{
  size_t k = 0;
  for (; *s && k + 1 < n; s++)
    w[k++] = isalnum((unsigned char)*s) ? (char)(lower ? tolower((unsigned char)*s) : *s) : '_';
  w[k] = '\0';
}

static int class_cmp(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* The class of a site: "NA" or empty is "unknown" where the format allows it. */
static void site_class(const char *s, PetscBool lower, PetscBool na_unknown, char *w, size_t n)
{
  class_word(s, lower, w, n);
  if (na_unknown && (!w[0] || !strcmp(s, "NA"))) snprintf(w, n, "%s", PREP_CLASS_UNKNOWN);
}

/* Every distinct class of column col of csv, sorted, into h->class_name. */
static PetscErrorCode collect_classes(const PrepCsv *csv, int col, PetscBool lower, PetscBool na_unknown, PrepHeader *h,
                                      char *msg, size_t len)
{
  PetscFunctionBeginUser;
  h->nclass = 0;
  for (int r = 0; r < csv->nrow; r++) {
    char      w[PREP_CLASS_LEN];
    PetscBool seen = PETSC_FALSE;
    site_class(prep_csv_at(csv, r, col), lower, na_unknown, w, sizeof w);
    if (!w[0]) continue;
    for (int c = 0; c < h->nclass; c++) seen = (PetscBool)(seen || !strcmp(h->class_name[c], w));
    if (seen) continue;
    if (h->nclass == PREP_MAX_CLASSES) {
      PetscCall(PetscSNPrintf(msg, len, "%s: more than %d classes in column '%s'", csv->path, PREP_MAX_CLASSES,
                              csv->col[col]));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    PetscCall(PetscStrncpy(h->class_name[h->nclass++], w, PREP_CLASS_LEN));
  }
  qsort(h->class_name, (size_t)h->nclass, PREP_CLASS_LEN, class_cmp);
  if (!h->nclass) PetscCall(PetscSNPrintf(msg, len, "%s: no class in column '%s'", csv->path, csv->col[col]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Row of site id in column col, -1 when absent; a site listed twice is an error. */
static PetscErrorCode find_row(const PrepCsv *csv, int col, const char *id, int *row, char *msg, size_t len)
{
  PetscFunctionBeginUser;
  *row = -1;
  for (int r = 0; r < csv->nrow; r++) {
    if (strcmp(prep_csv_at(csv, r, col), id)) continue;
    if (*row >= 0) {
      PetscCall(PetscSNPrintf(msg, len, "%s:%d: site %s listed again (first on line %d)", csv->path, csv->line[r], id,
                              csv->line[*row]));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    *row = r;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode add_out_of_range(PrepSet *set, const char *file, const char *column, const Quantity *q, int line)
{
  PrepOutOfRange *o;

  PetscFunctionBeginUser;
  for (int i = 0; i < set->noor; i++) {
    o = &set->oor[i];
    if (!strcmp(o->file, file) && !strcmp(o->column, column)) {
      if (line != o->last_line) o->count++; /* a column feeding two variables counts once */
      o->last_line = line;
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  if (set->noor == set->maxoor) {
    PrepOutOfRange *more;
    int             cap = set->maxoor ? 2 * set->maxoor : 16;
    PetscCall(PetscCalloc1(cap, &more));
    if (set->noor) PetscCall(PetscArraycpy(more, set->oor, set->noor));
    PetscCall(PetscFree(set->oor));
    set->oor    = more;
    set->maxoor = cap;
  }
  o = &set->oor[set->noor++];
  PetscCall(PetscStrncpy(o->file, file, sizeof o->file));
  PetscCall(PetscStrncpy(o->column, column, sizeof o->column));
  PetscCall(PetscStrncpy(o->var, q->name, sizeof o->var));
  PetscCall(PetscStrncpy(o->units, q->units, sizeof o->units));
  o->lo         = q->lo;
  o->hi         = q->hi;
  o->count      = 1;
  o->first_line = line;
  o->last_line  = line;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A value in its physical range, or missing (NaN) with -prep_out_of_range
 * missing, or an input error. *v is in the units written, the column's value
 * times scale. */
static PetscErrorCode range_check(const PrepOptions *opt, PrepSet *set, const Quantity *q, const char *file, int line,
                                  const char *column, double scale, double *v, char *msg, size_t len)
{
  PetscFunctionBeginUser;
  if (*v >= q->lo && *v <= q->hi) PetscFunctionReturn(PETSC_SUCCESS);
  if (opt->oor_missing) {
    PetscCall(add_out_of_range(set, file, column, q, line));
    *v = NAN;
  } else {
    char conv[64] = "";
    /* not PetscSNPrintf: it prints %g as "500." */
    if (scale != 1) snprintf(conv, sizeof conv, " (%g %s)", *v, q->units);
    snprintf(msg, len,
             "%s:%d: %s = %g%s is outside the physical range of %s, %g..%g %s (-prep_out_of_range missing makes such "
             "values missing)",
             file, line, column, *v / scale, conv, q->name, q->lo, q->hi, q->units);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A metadata number: "NA" or "" is missing when allowed. */
static PetscErrorCode meta_number(const PrepCsv *csv, int row, int col, PetscBool may_miss, double *v, char *msg,
                                  size_t len)
{
  const char *s = prep_csv_at(csv, row, col);

  PetscFunctionBeginUser;
  if (may_miss && (!*s || !strcmp(s, "NA") || !strcmp(s, "-9999")))
    *v = NAN;
  else if (!prep_parse_number(s, v) || !isfinite(*v))
    PetscCall(PetscSNPrintf(msg, len, "%s:%d: column '%s': '%s' is not a number", csv->path, csv->line[row],
                            csv->col[col], s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One site file, parsed: dates and the mapped columns (NaN = missing). */
typedef struct {
  int      nrow;
  int64_t *day; /* (nrow) */
  float   *v;   /* (nrow, nmap) */
} SiteRows;

/* A field's value; false when it is the missing marker or -9999 (the
 * caller has checked that every field is a number or the marker). */
static PetscBool field_value(const FormatInfo *fi, const char *s, double *x)
{
  if (fi->missing_text[0] && !strcmp(s, fi->missing_text)) return PETSC_FALSE;
  return (PetscBool)(prep_parse_number(s, x) && *x != -9999.0);
}

static PetscErrorCode read_site(const PrepOptions *opt, PrepSet *set, const char *path, const ColumnMap *map, int nmap,
                                SiteRows *sr, char *msg, size_t len)
{
  const FormatInfo *fi = &formats[opt->format];
  PrepCsv           csv;
  int               ct = -1, col[MAX_MAPS], qcol[MAX_MAPS], scol[MAX_MAPS][2];
  char              label[MAX_MAPS][40]; /* the column(s) a value comes from, for messages */

  PetscFunctionBeginUser;
  sr->nrow = 0;
  sr->day  = NULL;
  sr->v    = NULL;
  PetscCall(prep_csv_read(path, &csv, msg, len));
  for (int c = 0; c < csv.ncol && !msg[0]; c++)
    if (!prep_known_column(opt->format, csv.col[c]))
      PetscCall(PetscSNPrintf(msg, len, "%s: unknown column '%s' for format %s", path, csv.col[c],
                              prep_format_name[opt->format]));
  if (!msg[0]) PetscCall(need_column(&csv, "TIMESTAMP", "the date", &ct, msg, len));
  for (int m = 0; m < nmap && !msg[0]; m++) {
    char what[64];
    col[m]  = prep_csv_column(&csv, map[m].column);
    qcol[m] = scol[m][0] = scol[m][1] = -1;
    PetscCall(PetscStrncpy(label[m], map[m].column, sizeof label[m]));
    PetscCall(PetscSNPrintf(what, sizeof what, "needed for %s", map[m].name));
    if (map[m].qc) PetscCall(need_column(&csv, map[m].qc, what, &qcol[m], msg, len));
    if (col[m] < 0 && map[m].sum[0] && !msg[0]) { /* derived: the sum of two columns */
      PetscCall(need_column(&csv, map[m].sum[0], what, &scol[m][0], msg, len));
      if (!msg[0]) PetscCall(need_column(&csv, map[m].sum[1], what, &scol[m][1], msg, len));
      snprintf(label[m], sizeof label[m], "%s + %s", map[m].sum[0], map[m].sum[1]);
      continue;
    }
    if (col[m] >= 0 || map[m].optional || msg[0]) continue;
    PetscCall(need_column(&csv, map[m].column, what, &col[m], msg, len));
  }
  if (!msg[0] && csv.nrow == 0) PetscCall(PetscSNPrintf(msg, len, "%s: no data rows", path));
  if (msg[0]) {
    PetscCall(prep_csv_destroy(&csv));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscMalloc2(csv.nrow, &sr->day, (size_t)csv.nrow * nmap, &sr->v));
  sr->nrow = csv.nrow;
  for (int r = 0; r < csv.nrow && !msg[0]; r++) {
    const char *ts   = prep_csv_at(&csv, r, ct);
    int         line = csv.line[r];

    if (!prep_parse_date(opt->format, ts, &sr->day[r])) {
      PetscCall(PetscSNPrintf(msg, len, "%s:%d: TIMESTAMP '%s' is not a date %s", path, line, ts,
                              opt->format == PREP_FLUXDATAKIT ? "YYYY-MM-DD" : "YYYYMMDD"));
      break;
    }
    if (r > 0 && sr->day[r] <= sr->day[r - 1]) {
      const char *prev = prep_csv_at(&csv, r - 1, ct);
      if (sr->day[r] == sr->day[r - 1])
        PetscCall(PetscSNPrintf(msg, len, "%s:%d: date %s repeats (line %d)", path, line, ts, csv.line[r - 1]));
      else
        PetscCall(PetscSNPrintf(msg, len, "%s:%d: date %s goes backwards (after %s on line %d)", path, line, ts, prev,
                                csv.line[r - 1]));
      break;
    }
    /* every field must be a number or the missing marker, taken or not */
    for (int c = 0; c < csv.ncol; c++) {
      const char *s = prep_csv_at(&csv, r, c);
      double      x;
      if (c == ct || (fi->missing_text[0] && !strcmp(s, fi->missing_text)) || prep_parse_number(s, &x)) continue;
      if (fi->missing_text[0])
        PetscCall(PetscSNPrintf(msg, len, "%s:%d: column '%s': '%s' is neither a number nor the missing marker %s",
                                path, line, csv.col[c], s, fi->missing_text));
      else
        PetscCall(PetscSNPrintf(msg, len, "%s:%d: column '%s': '%s' is not a number", path, line, csv.col[c], s));
      break;
    }
    for (int m = 0; m < nmap && !msg[0]; m++) {
      double x, q = NAN;
      float *out = &sr->v[(size_t)r * nmap + m];
      *out       = NAN;
      if (qcol[m] >= 0) { /* the share of good records: 0..1, -9999 missing */
        if (!field_value(fi, prep_csv_at(&csv, r, qcol[m]), &q)) q = NAN;
        if (!isnan(q) && !(q >= 0 && q <= 1)) {
          PetscCall(PetscSNPrintf(msg, len,
                                  "%s:%d: %s = %s is outside 0..1 (the share of measured and good gap-filled records)",
                                  path, line, map[m].qc, prep_csv_at(&csv, r, qcol[m])));
          break;
        }
      }
      if (col[m] >= 0) {
        if (!field_value(fi, prep_csv_at(&csv, r, col[m]), &x)) continue;
      } else if (scol[m][0] >= 0) {
        double a, b;
        if (!field_value(fi, prep_csv_at(&csv, r, scol[m][0]), &a) ||
            !field_value(fi, prep_csv_at(&csv, r, scol[m][1]), &b))
          continue;
        x = a + b;
      } else
        continue;
      x *= map[m].scale;
      PetscCall(range_check(opt, set, quantity(map[m].quantity), path, line, label[m], map[m].scale, &x, msg, len));
      if (qcol[m] >= 0 && !(q >= opt->min_qc)) continue; /* not a measured day */
      *out = (float)x;
    }
  }
  PetscCall(prep_csv_destroy(&csv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode add_var(PrepHeader *h, const char *name, const char *qname, const char *role,
                              const char *long_name, const char *comment, int timevarying, int *index)
{
  PrepVar        *v = &h->var[h->nvar];
  const Quantity *q = qname ? quantity(qname) : NULL;

  PetscFunctionBeginUser;
  PetscCheck(h->nvar < PREP_MAX_VARS, PETSC_COMM_SELF, PETSC_ERR_PLIB, "more than %d prep variables", PREP_MAX_VARS);
  PetscCall(PetscMemzero(v, sizeof *v));
  PetscCall(PetscStrncpy(v->name, name, sizeof v->name));
  PetscCall(PetscStrncpy(v->role, role, sizeof v->role));
  PetscCall(PetscStrncpy(v->long_name, long_name, sizeof v->long_name));
  if (comment) PetscCall(PetscStrncpy(v->comment, comment, sizeof v->comment));
  if (q) PetscCall(PetscStrncpy(v->units, q->units, sizeof v->units));
  if (q && q->standard_name) PetscCall(PetscStrncpy(v->standard_name, q->standard_name, sizeof v->standard_name));
  v->timevarying = timevarying;
  *index         = h->nvar++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Coordinates, class and (FluxDataKit) elevation and water-holding capacity
 * of every site, and the classes of the whole metadata. */
static PetscErrorCode load_meta(const PrepOptions *opt, PrepSet *set, const SiteFile *files, int nsite, int iel,
                                int iwhc, int icls, char *msg, size_t len)
{
  const FormatInfo *fi = &formats[opt->format];
  PrepHeader       *h  = &set->h;
  PrepCsv           meta, cls;
  char              path[PETSC_MAX_PATH_LEN];
  int               csite = -1, clat = -1, clon = -1, cclass = -1, celev = -1, cwhc = -1, ksite = -1, kclass = -1;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&cls, sizeof cls));
  PetscCall(find_meta_file(opt, path, sizeof path, msg, len));
  if (msg[0]) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(prep_csv_read(path, &meta, msg, len));
  if (!msg[0]) PetscCall(need_column(&meta, fi->meta_site, "site id", &csite, msg, len));
  if (!msg[0]) PetscCall(need_column(&meta, fi->meta_lat, "latitude", &clat, msg, len));
  if (!msg[0]) PetscCall(need_column(&meta, fi->meta_lon, "longitude", &clon, msg, len));
  if (!msg[0] && fi->meta_class)
    PetscCall(need_column(&meta, fi->meta_class, opt->format == PREP_FLUXNET2015 ? "IGBP class" : "wetland class",
                          &cclass, msg, len));
  if (!msg[0] && fi->meta_elev) PetscCall(need_column(&meta, fi->meta_elev, "elevation", &celev, msg, len));
  if (!msg[0] && fi->meta_whc) PetscCall(need_column(&meta, fi->meta_whc, "water-holding capacity", &cwhc, msg, len));
  if (!msg[0] && opt->format == PREP_FLUXNET_CH4)
    PetscCall(collect_classes(&meta, cclass, PETSC_TRUE, PETSC_FALSE, h, msg, len));
  if (!msg[0] && opt->format == PREP_FLUXNET2015)
    PetscCall(collect_classes(&meta, cclass, PETSC_FALSE, PETSC_TRUE, h, msg, len));
  if (!msg[0] && opt->format == PREP_FLUXDATAKIT) {
    PetscCall(prep_csv_read(opt->classes, &cls, msg, len));
    if (msg[0] && !cls.text) {
      /* the default table is found relative to the working directory: say which option sets it */
      char why[PREP_MSG_LEN];
      PetscCall(PetscStrncpy(why, msg, sizeof why));
      PetscCall(PetscSNPrintf(msg, len, "-prep_classes %s", why));
    }
    if (!msg[0]) PetscCall(need_column(&cls, "site", "site id", &ksite, msg, len));
    if (!msg[0]) PetscCall(need_column(&cls, "class", "IGBP class", &kclass, msg, len));
    if (!msg[0]) PetscCall(collect_classes(&cls, kclass, PETSC_FALSE, PETSC_TRUE, h, msg, len));
    for (int s = 0; s < nsite && !msg[0]; s++) { /* a site the table lacks: the class unknown */
      int rc;
      PetscCall(find_row(&cls, ksite, files[s].id, &rc, msg, len));
      if (rc >= 0 || msg[0]) continue;
      PetscBool have = PETSC_FALSE;
      for (int c = 0; c < h->nclass; c++) have = (PetscBool)(have || !strcmp(h->class_name[c], PREP_CLASS_UNKNOWN));
      if (!have && h->nclass < PREP_MAX_CLASSES) {
        PetscCall(PetscStrncpy(h->class_name[h->nclass++], PREP_CLASS_UNKNOWN, PREP_CLASS_LEN));
        qsort(h->class_name, (size_t)h->nclass, PREP_CLASS_LEN, class_cmp);
      }
    }
  }

  PetscCall(PetscMalloc2(nsite, &set->lat, nsite, &set->lon));
  for (int s = 0; s < nsite && !msg[0]; s++) {
    int    r, rc = -1;
    double lat = 0, lon = 0, x;
    char   w[PREP_CLASS_LEN] = "";

    PetscCall(find_row(&meta, csite, files[s].id, &r, msg, len));
    if (msg[0]) break;
    if (r < 0) {
      PetscCall(
          PetscSNPrintf(msg, len, "%s: site %s is not in the site metadata %s", files[s].path, files[s].id, path));
      break;
    }
    PetscCall(meta_number(&meta, r, clat, PETSC_FALSE, &lat, msg, len));
    if (!msg[0]) PetscCall(meta_number(&meta, r, clon, PETSC_FALSE, &lon, msg, len));
    if (!msg[0] && (lat < -90 || lat > 90 || lon < -180 || lon > 360))
      PetscCall(PetscSNPrintf(msg, len, "%s:%d: site %s at latitude %g, longitude %g: not a place on Earth", path,
                              meta.line[r], files[s].id, lat, lon));
    if (msg[0]) break;
    set->lat[s] = (float)lat;
    set->lon[s] = (float)lon;
    if (celev >= 0) {
      PetscCall(meta_number(&meta, r, celev, PETSC_TRUE, &x, msg, len));
      if (!msg[0] && !isnan(x))
        PetscCall(range_check(opt, set, quantity("elev"), path, meta.line[r], fi->meta_elev, 1, &x, msg, len));
      set->val[iel][s] = (float)x;
    }
    if (cwhc >= 0 && !msg[0]) {
      PetscCall(meta_number(&meta, r, cwhc, PETSC_TRUE, &x, msg, len));
      if (!msg[0] && !isnan(x))
        PetscCall(range_check(opt, set, quantity("whc"), path, meta.line[r], fi->meta_whc, 1, &x, msg, len));
      set->val[iwhc][s] = (float)x;
    }
    if (msg[0]) break;
    if (opt->format == PREP_FLUXNET2015) {
      site_class(prep_csv_at(&meta, r, cclass), PETSC_FALSE, PETSC_TRUE, w, sizeof w);
      if (!strcmp(w, PREP_CLASS_UNKNOWN)) {
        if (h->unknown_class[0]) PetscCall(PetscStrlcat(h->unknown_class, " ", sizeof h->unknown_class));
        PetscCall(PetscStrlcat(h->unknown_class, files[s].id, sizeof h->unknown_class));
      }
    } else if (opt->format == PREP_FLUXNET_CH4) {
      class_word(prep_csv_at(&meta, r, cclass), PETSC_TRUE, w, sizeof w);
      if (!w[0])
        PetscCall(PetscSNPrintf(msg, len, "%s:%d: site %s has no %s", path, meta.line[r], files[s].id, fi->meta_class));
    } else {
      PetscCall(find_row(&cls, ksite, files[s].id, &rc, msg, len));
      if (!msg[0] && rc >= 0) site_class(prep_csv_at(&cls, rc, kclass), PETSC_FALSE, PETSC_TRUE, w, sizeof w);
      if (!msg[0] && (rc < 0 || !strcmp(w, PREP_CLASS_UNKNOWN))) { /* not in the table, or NA there: unknown */
        PetscCall(PetscStrncpy(w, PREP_CLASS_UNKNOWN, sizeof w));
        if (h->unknown_class[0]) PetscCall(PetscStrlcat(h->unknown_class, " ", sizeof h->unknown_class));
        PetscCall(PetscStrlcat(h->unknown_class, files[s].id, sizeof h->unknown_class));
      }
    }
    if (msg[0]) break;
    for (int c = 0; c < h->nclass; c++)
      if (!strcmp(h->class_name[c], w)) set->val[icls][s] = (float)c;
  }
  PetscCall(prep_csv_destroy(&meta));
  PetscCall(prep_csv_destroy(&cls));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A fast or slow variable that no site has gets no role (train would refuse
 * it), and MAP none without P; one that only some sites lack keeps its role:
 * it is absent there (driver availability, docs/DATA.md). */
static PetscErrorCode prep_roles(PrepSet *set)
{
  PrepHeader *h    = &set->h;
  int         imap = -1;

  PetscFunctionBeginUser;
  h->notrole[0] = '\0';
  for (int v = 0; v < h->nvar; v++)
    if (!strcmp(h->var[v].name, "MAP")) imap = v;
  for (int v = 0; v < h->nvar; v++) {
    PrepVar  *pv  = &h->var[v];
    size_t    n   = pv->timevarying ? (size_t)h->nt * h->nsite : (size_t)h->nsite;
    PetscBool any = PETSC_FALSE;
    if (strcmp(pv->role, "fast") && strcmp(pv->role, "slow")) continue;
    for (size_t i = 0; i < n && !any; i++) any = (PetscBool)!isnan(set->val[v][i]);
    if (any) continue;
    pv->role[0] = '\0';
    if (h->notrole[0]) PetscCall(PetscStrlcat(h->notrole, " ", sizeof h->notrole));
    PetscCall(PetscStrlcat(h->notrole, pv->name, sizeof h->notrole));
    if (!strcmp(pv->name, "P") && imap >= 0 && h->var[imap].role[0]) { /* MAP comes from P */
      h->var[imap].role[0] = '\0';
      PetscCall(PetscStrlcat(h->notrole, " MAP", sizeof h->notrole));
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode prep_load(const PrepOptions *opt, PrepSet *set, char *msg, size_t len)
{
  PrepHeader *h = &set->h;
  ColumnMap   map[MAX_MAPS];
  int         nmap = column_maps(opt, map), nsite, idx[MAX_MAPS], imat, imap, iel = -1, iwhc = -1, icls;
  SiteFile   *files;
  SiteRows   *rows = NULL;
  int64_t     dmin = INT64_MAX, dmax = INT64_MIN;
  int         y, mo, d;
  PetscBool   target_seen = PETSC_FALSE; /* the first target is the one counted per site */

  PetscFunctionBeginUser;
  msg[0] = '\0';
  PetscCall(PetscMemzero(set, sizeof *set));
  h->format = opt->format;
  PetscCall(PetscStrncpy(h->formats, prep_format_name[opt->format], sizeof h->formats));
  PetscCall(find_site_files(opt, &files, &nsite, msg, len));
  if (msg[0]) PetscFunctionReturn(PETSC_SUCCESS);
  h->nsite = nsite;
  for (int s = 0; s < nsite; s++) PetscCall(PetscStrncpy(h->site[s], files[s].id, PREP_ID_LEN));

  /* variables: daily ones in map order, then the site attributes */
  for (int m = 0; m < nmap; m++) {
    char comment[96];
    if (map[m].sum[0] && map[m].qc)
      snprintf(comment, sizeof comment, "column %s, else %s + %s; days with %s >= %g", map[m].column, map[m].sum[0],
               map[m].sum[1], map[m].qc, opt->min_qc);
    else if (map[m].sum[0])
      snprintf(comment, sizeof comment, "column %s, else %s + %s", map[m].column, map[m].sum[0], map[m].sum[1]);
    else if (map[m].qc)
      snprintf(comment, sizeof comment, "column %s on days with %s >= %g", map[m].column, map[m].qc, opt->min_qc);
    else if (map[m].scale != 1)
      snprintf(comment, sizeof comment, "column %s (umol CO2 m-2 s-1) x %.8g", map[m].column, map[m].scale);
    else
      PetscCall(PetscSNPrintf(comment, sizeof comment, "column %s", map[m].column));
    PetscCall(add_var(h, map[m].name, map[m].quantity, map[m].role, map[m].long_name, comment, 1, &idx[m]));
  }
  PetscCall(add_var(h, "MAT", "TA", "slow", "air temperature, mean over the site's record", "mean of TA", 0, &imat));
  PetscCall(add_var(h, "MAP", "P", "slow", "precipitation, annual total, mean over the site's record",
                    "mean of P x 365.25", 0, &imap));
  PetscCall(PetscStrncpy(h->var[imap].units, "mm yr-1", sizeof h->var[imap].units));
  h->var[imap].standard_name[0] = '\0';
  if (opt->format == PREP_FLUXDATAKIT) {
    PetscCall(add_var(h, "elev", "elev", "slow", "elevation above sea level", "site_info_elv of the rsofun site table",
                      0, &iel));
    PetscCall(add_var(h, "whc", "whc", "slow", "plant-available water-holding capacity",
                      "site_info_whc of the rsofun site table", 0, &iwhc));
    PetscCall(add_var(h, "class", NULL, "slow", "IGBP vegetation class", "from the -prep_classes table", 0, &icls));
  } else if (opt->format == PREP_FLUXNET2015) {
    PetscCall(add_var(h, "elev", "elev", "slow", "elevation above sea level", "ELEV of the sites table", 0, &iel));
    PetscCall(add_var(h, "class", NULL, "slow", "IGBP vegetation class",
                      "IGBP of the sites table; NA there is the class unknown (its one-hot input is 0)", 0, &icls));
  } else
    PetscCall(add_var(h, "class", NULL, "slow", "wetland class", "SITE_CLASSIFICATION of the FLUXNET-CH4 site metadata",
                      0, &icls));
  h->var[icls].is_class = 1;
  for (int v = 0; v < h->nvar; v++)
    if (!h->var[v].timevarying) {
      PetscCall(PetscMalloc1(nsite, &set->val[v]));
      for (int s = 0; s < nsite; s++) set->val[v][s] = NAN;
    }

  PetscCall(load_meta(opt, set, files, nsite, iel, iwhc, icls, msg, len));

  /* the site files */
  PetscCall(PetscCalloc1(nsite, &rows));
  for (int s = 0; s < nsite && !msg[0]; s++) {
    PetscCall(read_site(opt, set, files[s].path, map, nmap, &rows[s], msg, len));
    if (msg[0]) break;
    dmin = PetscMin(dmin, rows[s].day[0]);
    dmax = PetscMax(dmax, rows[s].day[rows[s].nrow - 1]);
  }

  if (!msg[0]) {
    /* one daily axis over every site's record */
    prep_civil_from_days(dmin, &y, &mo, &d);
    h->year0 = y;
    h->day0  = dmin;
    h->nt    = (int)(dmax - dmin + 1);
    PetscCall(PetscMalloc4(nsite, &set->first, nsite, &set->last, nsite, &set->nrow, nsite, &set->ntarget));
    for (int m = 0; m < nmap; m++) {
      PetscCall(PetscMalloc1((size_t)h->nt * nsite, &set->val[idx[m]]));
      for (size_t i = 0; i < (size_t)h->nt * nsite; i++) set->val[idx[m]][i] = NAN;
      if (!strcmp(map[m].role, "target") && !target_seen) set->target = idx[m], target_seen = PETSC_TRUE;
    }
    for (int s = 0; s < nsite; s++) {
      const SiteRows *sr     = &rows[s];
      double          sum_ta = 0, sum_p = 0;
      int             n_ta = 0, n_p = 0;
      set->first[s]   = sr->day[0];
      set->last[s]    = sr->day[sr->nrow - 1];
      set->nrow[s]    = sr->nrow;
      set->ntarget[s] = 0;
      for (int r = 0; r < sr->nrow; r++) {
        size_t k = (size_t)(sr->day[r] - dmin) * nsite + s;
        for (int m = 0; m < nmap; m++) {
          float x             = sr->v[(size_t)r * nmap + m];
          set->val[idx[m]][k] = x;
          if (isnan(x)) continue;
          if (!strcmp(map[m].name, "TA")) sum_ta += x, n_ta++;
          if (!strcmp(map[m].name, "P")) sum_p += x, n_p++;
          if (idx[m] == set->target) set->ntarget[s]++;
        }
      }
      /* climate normals over the site's own record */
      set->val[imat][s] = n_ta ? (float)(sum_ta / n_ta) : NAN;
      set->val[imap][s] = n_p ? (float)(sum_p / n_p * 365.25) : NAN;
    }
    PetscCall(prep_roles(set));
    if (opt->format == PREP_FLUXNET2015) {
      PetscCall(PetscStrncpy(h->title, "FLUXNET2015 daily tower data, prepared by raci prep", sizeof h->title));
      PetscCall(PetscStrncpy(h->source,
                             "FLUXNET2015 Dataset, daily (DD) files (ONEFlux-processed, CC-BY-4.0); site metadata "
                             "from the sites table (LAT, LON, ELEV, IGBP of the FLUXNET2015 BADM site file)",
                             sizeof h->source));
      PetscCall(
          PetscStrncpy(h->references,
                       "Pastorello, G. et al. (2020): The FLUXNET2015 dataset and the ONEFlux processing pipeline "
                       "for eddy covariance data. Sci. Data 7, 225",
                       sizeof h->references));
    } else if (opt->format == PREP_FLUXNET_CH4) {
      PetscCall(PetscStrncpy(h->title, "FLUXNET-CH4 daily tower data, prepared by raci prep", sizeof h->title));
      PetscCall(PetscStrncpy(h->source,
                             "FLUXNET-CH4 Community Product v1.0, daily files (Delwiche et al. 2021, CC-BY-4.0); site "
                             "metadata FLX_AA-Flx_CH4-META (KGML-CH4/wetland_methane_ML, MIT)",
                             sizeof h->source));
      PetscCall(
          PetscStrncpy(h->references,
                       "Delwiche, K. B. et al. (2021): FLUXNET-CH4: a global, multi-ecosystem dataset and analysis of "
                       "methane seasonality from freshwater wetlands. Earth Syst. Sci. Data 13, 3607-3689",
                       sizeof h->references));
    } else {
      PetscCall(PetscStrncpy(h->title, "FluxDataKit daily tower data, prepared by raci prep", sizeof h->title));
      PetscCall(PetscStrncpy(h->source,
                             "FluxDataKit PLUMBER FULLSET daily files (ONEFlux-processed ICOS/AmeriFlux data, "
                             "CC-BY-4.0); site table rsofun_drivers; IGBP classes from -prep_classes",
                             sizeof h->source));
    }
  }

  for (int s = 0; s < nsite; s++) PetscCall(PetscFree2(rows[s].day, rows[s].v));
  PetscCall(PetscFree(rows));
  PetscCall(PetscFree(files));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode prep_set_destroy(PrepSet *set)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree2(set->lat, set->lon));
  for (int v = 0; v < PREP_MAX_VARS; v++) PetscCall(PetscFree(set->val[v]));
  PetscCall(PetscFree4(set->first, set->last, set->nrow, set->ntarget));
  PetscCall(PetscFree(set->oor));
  set->noor = set->maxoor = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ------------------------------------------------------------ several sources */

static int find_var(const PrepHeader *h, const char *name)
{
  for (int v = 0; v < h->nvar; v++)
    if (!strcmp(h->var[v].name, name)) return v;
  return -1;
}

static int id_cmp(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

PetscErrorCode prep_merge(PrepSet *in, int n, PrepSet *out, char *msg, size_t len)
{
  PrepHeader *h    = &out->h;
  int64_t     dmin = INT64_MAX, dmax = INT64_MIN;
  int         y, mo, d, imat, imap, ita, ip;
  int        *site_of; /* (n, PREP_MAX_SITES) output site of each source's site */

  PetscFunctionBeginUser;
  msg[0] = '\0';
  PetscCall(PetscMemzero(out, sizeof *out));
  PetscCall(PetscMalloc1((size_t)n * PREP_MAX_SITES, &site_of));
  /* sites: the union by id, sorted */
  for (int i = 0; i < n; i++)
    for (int s = 0; s < in[i].h.nsite; s++) {
      PetscBool seen = PETSC_FALSE;
      for (int k = 0; k < h->nsite && !seen; k++) seen = (PetscBool)!strcmp(h->site[k], in[i].h.site[s]);
      if (seen) continue;
      if (h->nsite == PREP_MAX_SITES) {
        PetscCall(PetscSNPrintf(msg, len, "more than %d sites in all the sources", PREP_MAX_SITES));
        goto done;
      }
      PetscCall(PetscStrncpy(h->site[h->nsite++], in[i].h.site[s], PREP_ID_LEN));
    }
  qsort(h->site, (size_t)h->nsite, PREP_ID_LEN, id_cmp);
  for (int i = 0; i < n; i++)
    for (int s = 0; s < in[i].h.nsite; s++)
      for (int k = 0; k < h->nsite; k++)
        if (!strcmp(h->site[k], in[i].h.site[s])) site_of[i * PREP_MAX_SITES + s] = k;
  /* one daily axis over every record */
  for (int i = 0; i < n; i++) {
    dmin = PetscMin(dmin, in[i].h.day0);
    dmax = PetscMax(dmax, in[i].h.day0 + in[i].h.nt - 1);
  }
  prep_civil_from_days(dmin, &y, &mo, &d);
  h->year0 = y, h->day0 = dmin, h->nt = (int)(dmax - dmin + 1);
  /* variables: the union by name, in the order they first appear; the first
   * source's metadata; a role any source gives */
  for (int i = 0; i < n; i++)
    for (int v = 0; v < in[i].h.nvar; v++) {
      const PrepVar *pv = &in[i].h.var[v];
      int            o  = find_var(h, pv->name);
      if (o < 0) {
        if (h->nvar == PREP_MAX_VARS) {
          PetscCall(PetscSNPrintf(msg, len, "more than %d variables in all the sources", PREP_MAX_VARS));
          goto done;
        }
        h->var[o = h->nvar++] = *pv;
      } else if (h->var[o].timevarying != pv->timevarying || strcmp(h->var[o].units, pv->units)) {
        PetscCall(PetscSNPrintf(msg, len, "source %d (-format %s): variable %s is %s in %s, but %s in %s before", i + 1,
                                prep_format_name[in[i].h.format], pv->name, pv->timevarying ? "daily" : "static",
                                pv->units, h->var[o].timevarying ? "daily" : "static", h->var[o].units));
        goto done;
      }
      if (!h->var[o].role[0] && pv->role[0]) PetscCall(PetscStrncpy(h->var[o].role, pv->role, sizeof h->var[o].role));
    }
  /* classes: the union of names, sorted */
  for (int i = 0; i < n; i++)
    for (int c = 0; c < in[i].h.nclass; c++) {
      PetscBool seen = PETSC_FALSE;
      for (int k = 0; k < h->nclass && !seen; k++) seen = (PetscBool)!strcmp(h->class_name[k], in[i].h.class_name[c]);
      if (seen) continue;
      if (h->nclass == PREP_MAX_CLASSES) {
        PetscCall(PetscSNPrintf(msg, len, "more than %d classes in all the sources", PREP_MAX_CLASSES));
        goto done;
      }
      PetscCall(PetscStrncpy(h->class_name[h->nclass++], in[i].h.class_name[c], PREP_CLASS_LEN));
    }
  qsort(h->class_name, (size_t)h->nclass, PREP_CLASS_LEN, class_cmp);
  /* values: NaN, then each source where nothing earlier is */
  PetscCall(PetscMalloc2(h->nsite, &out->lat, h->nsite, &out->lon));
  PetscCall(PetscMalloc4(h->nsite, &out->first, h->nsite, &out->last, h->nsite, &out->nrow, h->nsite, &out->ntarget));
  for (int s = 0; s < h->nsite; s++) {
    out->lat[s] = out->lon[s] = NAN;
    out->first[s] = INT64_MAX, out->last[s] = INT64_MIN, out->nrow[s] = 0, out->ntarget[s] = 0;
  }
  for (int v = 0; v < h->nvar; v++) {
    size_t nv = h->var[v].timevarying ? (size_t)h->nt * h->nsite : (size_t)h->nsite;
    PetscCall(PetscMalloc1(nv, &out->val[v]));
    for (size_t k = 0; k < nv; k++) out->val[v][k] = NAN;
  }
  for (int i = 0; i < n; i++) {
    const PrepSet *src = &in[i];
    int            off = (int)(src->h.day0 - dmin);
    for (int s = 0; s < src->h.nsite; s++) {
      int o = site_of[i * PREP_MAX_SITES + s];
      if (isnan(out->lat[o])) out->lat[o] = src->lat[s], out->lon[o] = src->lon[s];
      out->first[o] = PetscMin(out->first[o], src->first[s]);
      out->last[o]  = PetscMax(out->last[o], src->last[s]);
      out->nrow[o] += src->nrow[s];
    }
    for (int v = 0; v < src->h.nvar; v++) {
      const PrepVar *pv = &src->h.var[v];
      int            ov = find_var(h, pv->name);
      for (int s = 0; s < src->h.nsite; s++) {
        int o = site_of[i * PREP_MAX_SITES + s];
        if (!pv->timevarying) {
          float x = src->val[v][s];
          if (pv->is_class && !isnan(x)) { /* the code of its name among the merged classes */
            for (int k = 0; k < h->nclass; k++)
              if (!strcmp(h->class_name[k], src->h.class_name[(int)x])) x = (float)k;
          }
          if (isnan(out->val[ov][o])) out->val[ov][o] = x;
          continue;
        }
        for (int t = 0; t < src->h.nt; t++) {
          float *dst = &out->val[ov][(size_t)(t + off) * h->nsite + o];
          if (isnan(*dst)) *dst = src->val[v][(size_t)t * src->h.nsite + s];
        }
      }
    }
  }
  /* a fast driver that one of a site's sources lacks there is kept where the others have it: its
   * stretches without it, as long as that source's record, give it an availability flag in training
   * and enter as absent in the segments that read them (docs/DATA.md), so no record is lost */
  for (int o = 0; o < h->nsite; o++)
    for (int v = 0; v < h->nvar; v++) {
      PetscBool has = PETSC_FALSE, lacks = PETSC_FALSE;
      if (!h->var[v].timevarying || strcmp(h->var[v].role, "fast")) continue;
      for (int i = 0; i < n; i++) {
        int iv = find_var(&in[i].h, h->var[v].name), is = -1;
        for (int s = 0; s < in[i].h.nsite; s++)
          if (site_of[i * PREP_MAX_SITES + s] == o) is = s;
        if (is < 0) continue; /* the source does not have the site */
        PetscBool any = PETSC_FALSE;
        for (int t = 0; iv >= 0 && t < in[i].h.nt && !any; t++)
          any = (PetscBool)!isnan(in[i].val[iv][(size_t)t * in[i].h.nsite + is]);
        has = (PetscBool)(has || any), lacks = (PetscBool)(lacks || !any);
      }
      if (!(has && lacks)) continue;
      if (h->partial[0]) PetscCall(PetscStrlcat(h->partial, " ", sizeof h->partial));
      PetscCall(PetscStrlcat(h->partial, h->site[o], sizeof h->partial));
      PetscCall(PetscStrlcat(h->partial, ":", sizeof h->partial));
      PetscCall(PetscStrlcat(h->partial, h->var[v].name, sizeof h->partial));
    }
  /* climate normals from the merged drivers; the counted target: the first */
  imat = find_var(h, "MAT"), imap = find_var(h, "MAP"), ita = find_var(h, "TA"), ip = find_var(h, "P");
  out->target = -1;
  for (int v = 0; v < h->nvar && out->target < 0; v++)
    if (!strcmp(h->var[v].role, "target")) out->target = v;
  for (int s = 0; s < h->nsite; s++) {
    double sum_ta = 0, sum_p = 0;
    int    n_ta = 0, n_p = 0;
    for (int t = 0; t < h->nt; t++) {
      size_t k = (size_t)t * h->nsite + s;
      if (ita >= 0 && !isnan(out->val[ita][k])) sum_ta += out->val[ita][k], n_ta++;
      if (ip >= 0 && !isnan(out->val[ip][k])) sum_p += out->val[ip][k], n_p++;
      if (out->target >= 0 && !isnan(out->val[out->target][k])) out->ntarget[s]++;
    }
    if (imat >= 0) out->val[imat][s] = n_ta ? (float)(sum_ta / n_ta) : NAN;
    if (imap >= 0) out->val[imap][s] = n_p ? (float)(sum_p / n_p * 365.25) : NAN;
  }
  if (out->target < 0) out->target = 0;
  PetscCall(prep_roles(out));
  /* provenance */
  h->format = in[0].h.format;
  PetscCall(PetscStrncpy(h->title, "Daily tower data of several networks, prepared by raci prep", sizeof h->title));
  for (int i = 0; i < n; i++) {
    if (i) {
      PetscCall(PetscStrlcat(h->source, "; ", sizeof h->source));
      PetscCall(PetscStrlcat(h->formats, "+", sizeof h->formats));
      if (in[i].h.references[0] && h->references[0]) PetscCall(PetscStrlcat(h->references, "; ", sizeof h->references));
    }
    PetscCall(PetscStrlcat(h->source, in[i].h.source, sizeof h->source));
    PetscCall(PetscStrlcat(h->formats, prep_format_name[in[i].h.format], sizeof h->formats));
    PetscCall(PetscStrlcat(h->references, in[i].h.references, sizeof h->references));
    if (in[i].h.unknown_class[0] && h->unknown_class[0])
      PetscCall(PetscStrlcat(h->unknown_class, " ", sizeof h->unknown_class));
    PetscCall(PetscStrlcat(h->unknown_class, in[i].h.unknown_class, sizeof h->unknown_class));
  }
  /* values turned missing, every source's */
  for (int i = 0; i < n; i++) out->maxoor += in[i].noor;
  if (out->maxoor) PetscCall(PetscMalloc1(out->maxoor, &out->oor));
  for (int i = 0; i < n; i++)
    for (int k = 0; k < in[i].noor; k++) out->oor[out->noor++] = in[i].oor[k];
done:
  PetscCall(PetscFree(site_of));
  for (int i = 0; i < n; i++) PetscCall(prep_set_destroy(&in[i]));
  if (msg[0]) PetscCall(prep_set_destroy(out));
  PetscFunctionReturn(PETSC_SUCCESS);
}
