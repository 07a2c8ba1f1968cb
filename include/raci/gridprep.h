/* gridprep: a user's gridded forcing files turned into one model-ready daily
 * grid (raci prep -format grid; docs/DATA.md, "Gridded forcing").
 *
 * Planning (gridprep_plan) opens every input with netCDF-C (raci/ncread.h),
 * recognises each variable (CF standard_name, then the usual names of
 * reanalysis and gridded-observation products, then -map), works out its
 * units with udunits2, its time axis and which steps make each day, checks
 * that every file is on one grid, and settles the common span. The plan is
 * plain data, the same on every rank that builds it.
 *
 * Computing (gridprep_day_block) turns the steps of a block of days into the
 * daily drivers: means, sums of amounts, derived VPD, wind speed and
 * shortwave. It reads through ncread and knows no MPI; the app splits the
 * days over ranks and writes with PnetCDF.
 *
 * Bad input is not a PETSc error: functions fill `msg` with one line and
 * return 1 (0 when all went well). */
#ifndef RACI_GRIDPREP_H
#define RACI_GRIDPREP_H

#include <raci/io.h>
#include <raci/ncread.h>
#include <stddef.h>
#include <stdint.h>

#define GP_MAX_FILES  32
#define GP_MAX_INPUTS 32
#define GP_MAX_MAPS   32
#define GP_MAX_OUT    12
#define GP_PATH_LEN   1024
#define GP_NAME_LEN   64
#define GP_TEXT_LEN   256
#define GP_MAX_CLASS  64 /* classes of a class map, and of the training file's class variable */
#define GP_CLASS_LEN  48

/* What an input variable is. */
typedef enum {
  GQ_TA,      /* air temperature, mean or instantaneous */
  GQ_TMAX,    /* daily maximum air temperature */
  GQ_TMIN,    /* daily minimum air temperature */
  GQ_TDEW,    /* dew point temperature */
  GQ_VP,      /* vapour pressure */
  GQ_VPD,     /* vapour pressure deficit */
  GQ_SW,      /* downwelling shortwave at the surface */
  GQ_SWDL,    /* shortwave averaged over the daylight hours (Daymet srad) */
  GQ_DAYL,    /* day length */
  GQ_P,       /* precipitation */
  GQ_PA,      /* surface air pressure */
  GQ_WS,      /* wind speed */
  GQ_U,       /* eastward wind */
  GQ_V,       /* northward wind */
  GQ_ELEV,    /* surface elevation (static) */
  GQ_GEOPOT,  /* surface geopotential (static) */
  GQ_MASK,    /* land or domain mask (static): 0 or missing = no data */
  GQ_CLASS,   /* vegetation class map (static): integer codes with flag_values and flag_meanings */
  GQ_WHC,     /* soil water holding capacity (static) */
  GQ_CLAY,    /* soil clay content (static) */
  GQ_SOC,     /* soil organic carbon stock (static) */
  GQ_WETLAND, /* wetland fraction of the cell (static) */
  GQ_NUM
} GridQty;

/* The -map names of the quantities (TA, TMAX, TMIN, TDEW, VP, VPD, SW_IN, SW_DAYLIGHT, DAYL, P, PA, WS, U, V, elev,
 * geopotential, mask, class, whc, clay, soc, wetland_frac). */
extern const char *const gridprep_qty_name[GQ_NUM];

typedef enum {
  GK_MEAN,   /* a state or rate: the day is the mean of its steps */
  GK_AMOUNT, /* an amount per step (mm, J m-2): the day is the sum of its steps */
  GK_ACCUM   /* an amount accumulated since the day began (ERA5-Land): the day is its last step */
} GridKind;

typedef struct {
  int       file;
  char      var[GP_NAME_LEN];
  GridQty   qty;
  GridKind  kind;
  int       is_static;
  char      units[GP_NAME_LEN]; /* as the file has them */
  char      how[GP_NAME_LEN];   /* how it was recognised: standard_name, name, -map */
  double    slope, intercept;   /* stored value -> canonical units (per step for amounts) */
  int       tvar;               /* (file) time coordinate's varid, -1 for statics */
  CfTime    time;               /* its units and calendar */
  double    step;               /* seconds between steps */
  int       spd;                /* steps per day */
  long long dfirst, dlast;      /* first and last complete day (calendar day numbers) */
  long long kfirst;             /* index of the first step of dfirst */
  long long nsteps;             /* length of the time axis */
  int       dims4;              /* a variable (time, 1, y, x): a singleton level between */
  int       flip_y, flip_x;     /* its rows (columns) run the other way than the first file's */
} GridInput;

/* One output variable. */
typedef struct {
  char name[16], units[24], role[8], long_name[96], standard_name[64], cell_methods[64];
  char source[GP_TEXT_LEN]; /* where it comes from: FILE:VAR (units, steps) or the derivation */
  int  derived;
  int  is_static;
  int  is_class; /* the class map: byte codes with the training file's flag_values and flag_meanings */
} GridOut;

typedef struct {
  int       nfile;
  char      file[GP_MAX_FILES][GP_PATH_LEN];
  char      format[GP_MAX_FILES][32];
  int       ninput;
  GridInput in[GP_MAX_INPUTS];
  int       iq[GQ_NUM]; /* input index of each quantity, -1 when none */
  /* the grid: first file with a gridded variable */
  int  ny, nx;
  char ydim[GP_NAME_LEN], xdim[GP_NAME_LEN];
  int  coords; /* 0: none; 1: 1-D lat(y), lon(x); 2: 2-D lat(y,x), lon(y,x) */
  int  flip_y; /* 1-D latitudes descending: rows flipped so they ascend */
  int  roll_x; /* 1-D longitudes in 0..360 wrapped: output column i is input (i+roll_x)%nx */
  /* time */
  CfCalendar calendar;
  char       calendar_name[24];
  long long  dfirst, dlast; /* the common span: calendar day numbers */
  int        year0;         /* output time units: days since year0-01-01 */
  long long  day_year0;     /* day number of year0-01-01 */
  int        local_day;     /* the time coordinate is local time */
  int        accum_day;     /* -prep_accum day */
  int        nout;
  GridOut    out[GP_MAX_OUT];
  char       unused[GP_TEXT_LEN * 2]; /* variables recognised as nothing, FILE:VAR */
  char       spans[GP_TEXT_LEN * 4];  /* each file's span, when they differ */
  char       absent[GP_TEXT_LEN];     /* slow inputs no file gives */
  char       by_index[GP_TEXT_LEN];   /* files taken by index though their coordinates differ (-prep_same_grid) */
  /* a class map, recoded to the classes of the training file (-prep_class_codes) */
  char   class_var[GP_NAME_LEN];                 /* the training file's class variable, "" without a class map */
  int    nclass;                                 /* the training file's classes */
  double class_flag[GP_MAX_CLASS];               /* its flag_values */
  char   class_name[GP_MAX_CLASS][GP_CLASS_LEN]; /* its flag_meanings */
  int    nmap;                                   /* the class map's own codes */
  double map_value[GP_MAX_CLASS];                /* a code of the map */
  int    map_class[GP_MAX_CLASS];                /* its class in the training file's list */
  char   class_note[GP_TEXT_LEN * 2];            /* classes of the map that became unknown */
  int    oor_missing;
} GridPlan;

typedef struct {
  int  n;
  char name[GP_MAX_MAPS][GP_NAME_LEN];  /* a variable name in the files */
  char value[GP_MAX_MAPS][GP_NAME_LEN]; /* a quantity name, or units for -prep_units */
} GridMaps;

/* Builds the plan from the files; `maps` (-map NAME=QTY) and `units` (-prep_units NAME=UNITS) override.
 * same_grid (-prep_same_grid): files whose coordinates disagree but whose grids have the same shape are
 * taken cell by cell in index order, with the coordinates of the first file that has any. class_codes
 * (-prep_class_codes, "" for none): the site or grid file a model was trained on, whose class variable's
 * flag_values and flag_meanings a class map is recoded to (MODIS IGBP names or abbreviations). */
int gridprep_plan(int nfile, char files[][GP_PATH_LEN], const GridMaps *maps, const GridMaps *units, int accum_day,
                  int same_grid, const char *class_codes, GridPlan *plan, char *msg, size_t len);

/* Coordinates of the output grid, (ny, nx) each, in output order (rows with
 * ascending latitude for 1-D, longitudes in -180..180); NaN when the files have none. */
int gridprep_coords(const GridPlan *plan, double *lat, double *lon, char *msg, size_t len);
/* The numeric static maps a grid carries when a file gives them: elevation and soil. */
enum { GS_ELEV, GS_WHC, GS_CLAY, GS_SOC, GS_WETLAND, GS_NUM };
const char *gridprep_static_name(int s); /* its output name, the quantity's: elev whc clay soc wetland_frac */
/* Static outputs: (ny, nx), output order; mask 1/0 (1 where no mask is given); num[s] map s in its canonical
 * units (NaN where no file gives it); class the training file's flag_values (NaN where the map has no value or no
 * class map is given). */
int gridprep_statics(const GridPlan *plan, float *mask, float *num[GS_NUM], float *cls, char *msg, size_t len);
/* The IGBP abbreviation (ENF, DBF, CRO, ...) of a class name as MODIS writes it
 * ("evergreen_needleleaf_forest", "Croplands", ...) or of the abbreviation itself; NULL when unknown. */
const char *gridprep_igbp(const char *name);

/* The working memory of up to nd days (one per rank, made once). */
typedef struct GridWork GridWork;
int                     gridprep_work_create(const GridPlan *plan, int nd, GridWork **w, char *msg, size_t len);
void                    gridprep_work_destroy(GridWork **w);

/* Days d0 .. d0+nd-1 (offsets from plan->dfirst) of every time-varying
 * output, into out[o] ((nd, ny, nx) each, NaN missing, canonical units);
 * lat (ny*nx, output order) for derived shortwave; mask applied. Reads with
 * the files open in `files` (ncread handles, one per plan file). */
int gridprep_day_block(const GridPlan *plan, NcrFile *const files[], GridWork *w, long long d0, int nd,
                       const double *lat, const float *mask, float *out[], char *msg, size_t len);

/* Pure helpers (tested against hand values) */
double gridprep_es_hpa(double t_degc); /* saturation vapour pressure over water, hPa (FAO-56 eq. 11) */
/* Extraterrestrial radiation, W m-2 daily mean, at latitude (deg) on day of year doy of a year of ndays days (FAO-56
 * eq. 21). */
double gridprep_ra_wm2(double lat_deg, int doy, int ndays);

#endif
