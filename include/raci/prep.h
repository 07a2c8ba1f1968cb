/* prep: daily flux-tower CSVs turned into one site table (docs/DATA.md,
 * "Tower data: raci prep").
 *
 * Kernels without MPI or NetCDF: a CSV reader, number and date parsing, the
 * columns each product knows, the mapping of product columns onto raci's
 * variables with their units and physical ranges, and the loading of a whole
 * directory into a PrepSet (values on one daily axis, climate normals, site
 * metadata). The app (src/app/prep.c) reads on rank 0 and writes the NetCDF.
 *
 * Bad input is not a PETSc error here: functions fill `msg` with one line,
 * "FILE:LINE: what" (or "FILE: what"), and return PETSC_SUCCESS, so the
 * caller can hand the message to every rank before anyone stops. A PETSc
 * error code means a bug or no memory. msg is "" when all went well. */
#ifndef RACI_PREP_H
#define RACI_PREP_H

#include <raci/core.h>

typedef enum { PREP_FLUXNET_CH4, PREP_FLUXDATAKIT, PREP_FLUXNET2015, PREP_NUM_FORMATS } PrepFormat;
extern const char *const prep_format_name[PREP_NUM_FORMATS]; /* "fluxnet-ch4", "fluxdatakit", "fluxnet2015" */

#define PREP_MSG_LEN     1024
#define PREP_MAX_SITES   512
#define PREP_ID_LEN      16 /* site ids, and the nchar dimension of site_id */
#define PREP_MAX_VARS    24
#define PREP_MAX_CLASSES 32
#define PREP_CLASS_LEN   32
/* The class of a site whose table says NA (fluxnet2015): raci's data layer
 * never trains its one-hot input (docs/DATA.md). */
#define PREP_CLASS_UNKNOWN "unknown"

/* ------------------------------------------------------------ CSV
 * A whole CSV file in memory. Lines end in \n or \r\n (the last may lack
 * one); blank lines and lines starting with '#' are skipped; fields may be
 * double-quoted ("" inside is a quote). The first line read is the header. */
typedef struct {
  char   path[PETSC_MAX_PATH_LEN];
  int    ncol, nrow;
  char **col;  /* (ncol) header names; point into text */
  char **cell; /* (nrow * ncol) fields, row by row; point into text */
  int   *line; /* (nrow) line number of each row in the file, from 1 */
  char  *text; /* the file's bytes, split in place; owned */
} PrepCsv;

/* Reads path. A row with another number of fields than the header is an
 * input error "path:LINE: N fields, the header has M". */
PetscErrorCode prep_csv_read(const char *path, PrepCsv *csv, char *msg, size_t len);
PetscErrorCode prep_csv_destroy(PrepCsv *csv);
/* Column index of name, -1 when absent. */
int                       prep_csv_column(const PrepCsv *csv, const char *name);
static inline const char *prep_csv_at(const PrepCsv *csv, int row, int col)
{
  return csv->cell[(size_t)row * csv->ncol + col];
}

/* ------------------------------------------------------------ parsing */
/* A decimal number with nothing around it (strtod syntax, so "inf" and
 * "nan" parse: the range checks refuse them where a value is taken). */
PetscBool prep_parse_number(const char *s, double *v);
/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's
 * days_from_civil algorithm). Years from 1583 on, where the standard calendar
 * written to the file is the proleptic one. */
int64_t prep_days_from_civil(int y, int m, int d);
void    prep_civil_from_days(int64_t z, int *y, int *m, int *d);
/* TIMESTAMP of the format: YYYYMMDD (fluxnet-ch4, fluxnet2015) or
 * YYYY-MM-DD (fluxdatakit), a real date from 1583 to 9999. */
PetscBool prep_parse_date(PrepFormat f, const char *s, int64_t *day);
/* Whether the product has a column of this name (its variable families with
 * their suffixes; docs/DATA.md). */
PetscBool prep_known_column(PrepFormat f, const char *name);

/* ------------------------------------------------------------ loading */
typedef struct {
  PrepFormat format;
  char       dir[PETSC_MAX_PATH_LEN];
  char       meta[PETSC_MAX_PATH_LEN];    /* "" : found in dir */
  char       classes[PETSC_MAX_PATH_LEN]; /* fluxdatakit: site,class table */
  int        nsites;                      /* 0: every site with a file */
  char       sites[PREP_MAX_SITES][PREP_ID_LEN];
  PetscBool  use_gapfilled; /* target from the gap-filled series */
  PetscBool  oor_missing;   /* out-of-range values become missing instead of an error */
  double     min_qc;        /* fluxnet2015: a day is measured when NEE_VUT_REF_QC >= min_qc */
} PrepOptions;

/* One output variable: (time, site) when timevarying, else (site). */
typedef struct {
  char name[32], units[24], role[8]; /* role "" : no raci_role */
  char long_name[128], standard_name[64], comment[96];
  int  timevarying;
  int  is_class; /* byte class codes 0..nclass-1 with flag_values/flag_meanings */
} PrepVar;

/* What every rank needs to define the file: plain data, sent as bytes. */
typedef struct {
  PrepFormat format;
  int        nsite, nt;
  int        year0; /* time units: days since year0-01-01 */
  int64_t    day0;  /* first day of the axis, days since 1970-01-01 */
  char       site[PREP_MAX_SITES][PREP_ID_LEN];
  int        nvar;
  PrepVar    var[PREP_MAX_VARS];
  int        nclass;
  char       class_name[PREP_MAX_CLASSES][PREP_CLASS_LEN]; /* flag_meanings words */
  char       source[1024], title[128], references[768];
  char       formats[96];        /* the -format of each source, '+'-separated */
  char       notrole[128];       /* drivers left without a role, space-separated */
  char       unknown_class[256]; /* sites of class unknown, space-separated */
  char       partial[1024]; /* SITE:VAR of drivers one of a site's sources lacks (kept where the others have them) */
} PrepHeader;

/* Values turned missing by -prep_out_of_range missing: one per file and column. */
typedef struct {
  char   file[PETSC_MAX_PATH_LEN];
  char   column[32], var[32], units[24];
  double lo, hi;
  int    count, first_line, last_line;
} PrepOutOfRange;

/* Everything rank 0 loads. Owns every buffer; prep_set_destroy frees them. */
typedef struct {
  PrepHeader      h;
  float          *lat, *lon;          /* (nsite) degrees */
  float          *val[PREP_MAX_VARS]; /* timevarying (nt, nsite), else (nsite); NaN = missing; class codes as float */
  int64_t        *first, *last;       /* (nsite) first and last date of each site's record */
  int            *nrow;               /* (nsite) data rows of each site's file */
  int            *ntarget;            /* (nsite) valid values of the role-target variable */
  int             target;             /* index in val of the target variable */
  PrepOutOfRange *oor;
  int             noor, maxoor;
} PrepSet;

/* Loads every site file of opt->dir (and its metadata) into set. */
PetscErrorCode prep_load(const PrepOptions *opt, PrepSet *set, char *msg, size_t len);
/* Several sources (one PrepSet each, in the order given) into one set on one
 * daily axis (docs/DATA.md, "Several sources"): the union of sites (by id)
 * and of variables (by name); where two sources have a value for the same
 * site, variable and day, the earlier source's is kept; a variable a source
 * lacks is absent at its sites; classes merged by name; MAT and MAP
 * recomputed from the merged drivers. The inputs are destroyed. */
PetscErrorCode prep_merge(PrepSet *in, int n, PrepSet *out, char *msg, size_t len);
PetscErrorCode prep_set_destroy(PrepSet *set);

#endif
