/* data: the data contract of DESIGN.md sections 2 and 5.
 *
 * A Dataset is one input file seen through roles: fast drivers x_f(i,t),
 * slow attributes s(i) and targets y(i,t) at locations i that are grid cells
 * (dims (time, y, x), any names) or tower sites (dims (time, site)). Roles
 * come from `raci_role` attributes; -fast/-slow/-target options replace the
 * attribute roles of their role (options win).
 *
 * data_open() reads and checks the header and decides the decomposition;
 * data_read() reads the role variables for this rank's tile plus halo for a
 * range of time steps, once. Values are float with NaN for missing.
 * The Dataset owns every buffer it points to; data_close() frees them. */
#ifndef RACI_DATA_H
#define RACI_DATA_H

#include <raci/io.h>
#include <raci/grid.h>

typedef enum { ROLE_NONE = 0, ROLE_FAST, ROLE_SLOW, ROLE_TARGET, NUM_ROLES } Role;
typedef enum { LAYOUT_GRID, LAYOUT_SITE } Layout;

extern const char *const role_name[NUM_ROLES]; /* "none", "fast", "slow", "target" */

#define DATA_MAX_VARS 64

/* Which variables play which role, as asked on the command line. */
typedef struct {
  int       n[NUM_ROLES];
  char      name[NUM_ROLES][DATA_MAX_VARS][NC_MAX_NAME + 1];
  PetscBool given[NUM_ROLES]; /* the option was on the command line */
} RoleOptions;

/* Reads -fast, -slow, -target (comma-separated names). */
PetscErrorCode data_role_options(MPI_Comm comm, RoleOptions *ro);
/* -grid_halo (default 1, 0 .. 1000): cells read around each tile, the
 * geographic neighbours; every command that opens a dataset with data_open */
PetscErrorCode data_opt_halo(MPI_Comm comm, PetscInt *halo);
/* The role of file variable v: option if one names it or replaces its role, else raci_role. Local. */
PetscErrorCode data_var_role(const IoFile *f, int v, const RoleOptions *ro, Role *role);

typedef struct {
  char   name[NC_MAX_NAME + 1];
  Role   role;
  int    varid;
  float *val; /* fast/target: (nt_read, gym, gxm); slow: (gym, gxm); NaN = missing; owned */
} DataVar;

typedef struct {
  MPI_Comm  comm;
  IoFile   *file; /* open for the Dataset's lifetime; owned */
  Layout    layout;
  int       xdim, ydim, tdim; /* file dimension ids; ydim = -1 for sites, tdim = -1 without time */
  int       time_varid;       /* -1 when the file has no time coordinate */
  PetscInt  nt;               /* time steps in the file */
  double   *time;             /* (nt) time coordinate values; owned */
  CfTime    cftime;
  PetscBool has_cftime;
  Tile      tile;
  int       nvar; /* role variables, fast first, then slow, then target */
  DataVar   var[DATA_MAX_VARS];
  PetscInt  t0, ntr; /* time steps held in val: [t0, t0 + ntr) */
  /* What data_read has seen so far, over owned locations of this rank: */
  PetscInt       nvalid[DATA_MAX_VARS]; /* valid values per variable */
  unsigned char *usable;                /* (ym, xm) 1 while every fast and slow value is valid; owned */
  unsigned char *anyvalid;              /* (ym, xm) 1 once some fast or slow value was valid; owned */
  /* value checks of data_read, off unless data_checks_enable turned them on (train, predict) */
  PetscBool check_values, oor_missing;
  PetscInt  checked_to; /* out-of-range values of steps before this have been reported */
  /* training with -train_input_dropout: every fast and numeric slow input
   * gets an availability flag, not only those absent somewhere */
  PetscBool flag_all;
  /* site files: geographic neighbours (fast-role retrieval) are the sites
   * within this great-circle distance, km; 0: none (train's -retrieval_radius) */
  double site_radius_km;
  /* prediction: (ng, nf) 1 where a fast input has a valid value somewhere in
   * the whole record (data_scan_presence), so absence does not depend on the
   * time chunk read; NULL: judged from the days held; owned */
  unsigned char *present;
} Dataset;

/* What train and predict check beyond the layout: -out_of_range error|missing
 * (values outside the physical range of a canonical variable, include/raci/quantity.h,
 * are an error, or become missing). */
typedef struct {
  PetscBool oor_missing;
} DataChecks;
PetscErrorCode data_check_options(MPI_Comm comm, DataChecks *dc);

/* Header checks, roles, decomposition. halo: grid halo width in cells.
 * Refuses time units in months or years and unknown calendars. */
PetscErrorCode data_open(MPI_Comm comm, const char *path, const RoleOptions *ro, PetscInt halo, Dataset **ds);
/* Read every role variable for time steps [t0, t0 + nt) over tile plus halo. */
PetscErrorCode data_read(Dataset *ds, PetscInt t0, PetscInt nt);
/* For train and predict, after data_open: the time axis must have one step
 * per day; training: every canonical variable must carry its canonical units;
 * and from now on data_read refuses non-finite values (and, not canonical,
 * values beyond 1e15: undeclared fill values), and values of canonical
 * variables outside their physical range (or makes them missing). Errors
 * name the variable, the location and the day. Collective. */
PetscErrorCode data_checks_enable(Dataset *ds, const DataChecks *dc, PetscBool training);
/* The units attribute of role variable k ("" when absent). Local. */
PetscErrorCode data_var_units(const Dataset *ds, int k, char *buf, size_t len);
/* A location id that depends on the location only, not on the file's layout:
 * site id (when the file has them) or longitude and latitude rounded to
 * 1e-4 degrees, longitudes taken modulo 360 (gid only without coordinates). Local. */
int64_t        data_location_key(double lon, double lat, const char *site, int64_t gid);
PetscErrorCode data_close(Dataset **ds);

/* After the reads: fails (RACI_ERR_DATA) when a fast or slow variable has no
 * valid value anywhere, and returns the numbers of locations (all ranks)
 * without any fast or slow value (nodata: ocean, outside a mask) and of the
 * others that lack some fast or slow value and so cannot be used. Collective. */
PetscErrorCode data_check_usable(Dataset *ds, PetscInt *nodata, PetscInt *unusable, PetscInt *total);
/* Reads the fast variables over the whole record in chunks of `chunk` steps
 * and sets ds->present. Collective. */
PetscErrorCode data_scan_presence(Dataset *ds, PetscInt chunk);

/* Index of location (x, y) of the ghosted tile in a val plane. */
static inline PetscInt data_ghost_index(const Tile *t, PetscInt x, PetscInt y)
{
  return (y - t->gys) * t->gxm + (x - t->gxs);
}

/* ------------------------------------------------------------ outputs
 * Output files share the input's layout: the same time, y/x or site
 * dimensions, with its coordinate variables (time, 1-D and 2-D lat/lon,
 * site_id) and global attributes copied, Conventions = CF-1.8, and a
 * `history` line with raci's version and command line in front. */

#define DATA_FILL       (-9999.0f) /* _FillValue of every float field raci writes */
#define DATA_MAX_COORDS 8

typedef struct {
  int tdim, ydim, xdim; /* output dimension ids (-1 when absent) */
  int ncoord;
  int coord_src[DATA_MAX_COORDS];  /* input varid of each copied coordinate */
  int coord_dst[DATA_MAX_COORDS];  /* its output varid */
  int coord_bnds[DATA_MAX_COORDS]; /* its cell bounds (X_bnds(X, nv)) for 1-D lat/lon of grids, else -1 */
} DataOutLayout;

/* Cell bounds of n centres c (n, 2): midpoints between neighbours, the ends
 * half a step beyond (CF 7.1, contiguous cells). Local. */
void data_cell_bounds(const double *c, int n, double *b);

/* Define mode: dimensions, coordinates, global attributes. title: NULL keeps the input's. */
PetscErrorCode data_def_output(const Dataset *ds, IoFile *out, const char *title, DataOutLayout *L);
/* Define mode: a float field over (time, y, x) / (time, site), or without time. */
PetscErrorCode data_def_field(const Dataset *ds, IoFile *out, const DataOutLayout *L, const char *name,
                              PetscBool timevarying, int *varid);
/* The same with any leading dimension (lead: output dimension id, -1 for
 * none), e.g. a component axis; data_iput_field writes it with t0, nt as the
 * start and count along that dimension. */
PetscErrorCode data_def_field_lead(const Dataset *ds, IoFile *out, const DataOutLayout *L, const char *name, int lead,
                                   int *varid);
/* Data mode: write the coordinate values (collective, completes its writes). */
PetscErrorCode data_put_coords(const Dataset *ds, IoFile *out, const DataOutLayout *L);
/* Data mode: pack the owned part of `ghosted` (nt planes of tile t plus its
 * halo) into `pack` (nt * owned count), NaN -> DATA_FILL, and queue its write
 * at time step t0 of a (time, y, x) field (grid) or (time, site) field.
 * `pack` must live until io_wait_all. */
PetscErrorCode data_iput_field(const Tile *t, Layout layout, IoFile *out, int varid, PetscBool timevarying, PetscInt t0,
                               PetscInt nt, const float *ghosted, float *pack);

/* ------------------------------------------------------------ samples
 * What training and prediction read (docs/MODEL.md section 1): normalised
 * fast drivers (slow blocks are their block means), static features,
 * targets, the split of every location and its geographic neighbours, for
 * the usable locations of this rank's tile plus halo ("compact" indices).
 * Normalisation statistics are global (reduced over ranks) over the
 * training locations. */

#include <raci/model.h>

typedef enum { SPLIT_NONE = 0, SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST } Split;

#define DATA_MAX_BOXES 8
#define DATA_MAX_CATS  32
/* Training gives a fast driver an availability flag when some location misses it this many days
 * in a row or more while another driver is there (a network without it, merged in). */
#define DATA_HOLE_FLAG_DAYS 120

/* Which locations train, validate and test: -split_test_box, -split_test_sites,
 * -split_test_class (every location of some classes of -split_strata),
 * -split_folds/-split_fold/-split_strata (site files: leave-sites-out k-fold,
 * stratified by class), -split_val_frac, -split_seed. Shared by train,
 * predict and eval; docs/DATA.md "Splits". */
typedef struct {
  PetscReal box[4 * DATA_MAX_BOXES]; /* lon0, lon1, lat0, lat1 per box */
  int       nbox;
  char      sites[DATA_MAX_VARS][32];
  int       nsites;
  PetscReal val_frac;
  PetscBool val_frac_set; /* -split_val_frac was given (training refuses a draw of no location) */
  PetscInt  seed;
  PetscInt  nfolds, fold;            /* -split_folds K -split_fold k: sites of fold k are the test set */
  char      strata[NC_MAX_NAME + 1]; /* -split_strata: class variable the folds are stratified by */
  PetscBool strata_set;
  PetscReal cls[DATA_MAX_VARS]; /* -split_test_class: values of the strata variable held out */
  int       ncls;
} SplitOptions;

PetscErrorCode data_split_options(MPI_Comm comm, SplitOptions *so);

/* Normalisation: computed over the training locations by training, stored
 * in its checkpoint, given back to prediction. */
typedef struct {
  float fmean[DATA_MAX_VARS], fstd[DATA_MAX_VARS];
  float smean[DATA_MAX_VARS], sstd[DATA_MAX_VARS]; /* numeric slow variables */
  float tmean[DATA_MAX_VARS], tstd[DATA_MAX_VARS];
  int   ncat[DATA_MAX_VARS]; /* categories of a class variable, 0 if numeric */
  float cat[DATA_MAX_VARS][DATA_MAX_CATS];
  /* 1: the class occurs at some training location; 0: its one-hot input
   * stays 0 ("unknown": its weights never saw a gradient) */
  unsigned char seen[DATA_MAX_VARS][DATA_MAX_CATS];
  /* Driver availability (docs/DATA.md): the inputs with an availability
   * flag, in the order their flags follow the other static features: fast
   * input k as k, numeric slow input k as DATA_MAX_VARS + k */
  int nflag;
  int flag[2 * DATA_MAX_VARS];
} SampleNorm;

typedef struct {
  const Dataset *ds;
  int            F, S, T;          /* fast variables, static features, targets */
  int            W, Sc, Ls, P, Kf; /* segment geometry (warm-up, scored days), slow history, neighbours */
  PetscInt       t0, nt;           /* days held: record days [t0, t0 + nt); day indices below are relative to t0 */
  SampleNorm     norm;
  char           target[DATA_MAX_VARS][NC_MAX_NAME + 1];
  /* locations (compact) */
  int            nloc;
  int           *ghost; /* (nloc) index in the tile plus halo */
  int64_t       *gid;   /* (nloc) global location id: y * nx + x, or the site index */
  int64_t       *lkey;  /* (nloc) data_location_key: the same location in any file has the same key */
  double        *lon, *lat;
  unsigned char *owned, *split;
  float         *xn; /* (nloc, nt, F) normalised fast drivers, NaN where missing */
  int32_t *run; /* (nloc, nt) days of unbroken drivers before day d among the days held, -1 where a driver is missing */
  float   *sf;  /* (nloc, S) static features; the last norm.nflag are availability flags */
  unsigned char *absent; /* (nloc, F + ns) 1: fast input k (then slow input k) is absent at the location */
  int            ns;     /* slow variables */
  int            sfpos[DATA_MAX_VARS];            /* column of numeric slow input k in sf (-1: a class) */
  int64_t        absent_unflagged[DATA_MAX_VARS]; /* owned locations, all ranks, left unusable by fast input k
                                                    absent without a flag */
  float   *y;          /* (nloc, nt, T) targets, physical units, NaN = missing; NULL without targets */
  int32_t *nbr;        /* (nloc, Kf) compact neighbours (owned locations), -1 none */
  int     *nscored;    /* (nloc) days with run >= W: the days a segment can score */
  int64_t  nunusable;  /* owned locations, all ranks, with a missing slow value or no day to score */
  int64_t  nnodata;    /* of those, the ones without any fast driver on any day (ocean, outside a mask) */
  int64_t  nnotarget;  /* usable locations, all ranks, outside the test set without any observed target: split NONE */
  int      count[4];   /* owned locations per split */
  int64_t  nglobal[4]; /* locations per split, all ranks */
  int64_t  unknown[DATA_MAX_VARS][DATA_MAX_CATS]; /* usable owned locations, all ranks, of a class no training
                                                     location has (norm.seen 0): their class input is 0 */
  /* 1: the class's flag_meanings word is "unknown" (raci prep's class of a
   * site without one): never trained, its one-hot input is always 0 */
  unsigned char nameless[DATA_MAX_VARS][DATA_MAX_CATS];
} SampleSet;

/* From the days data_read holds. norm NULL (training): normalisation computed
 * over the training locations, targets required. norm given (prediction):
 * used as is, class variables must have its categories, and targets are not
 * read (y = NULL, T = 0). Segments of W + Sc days; slow blocks of Ls / P days
 * counted from the record's first day (ds time step 0). */
PetscErrorCode data_samples_create(Dataset *ds, const SplitOptions *so, int W, int Sc, int Ls, int P, int Kf,
                                   const SampleNorm *norm, SampleSet **ss);
PetscErrorCode data_samples_destroy(SampleSet **ss);
/* One warning line per class that usable locations have and no training location had (ss->unknown). */
PetscErrorCode data_report_unknown_classes(const SampleSet *ss, const char *cmd);
/* Driver availability: per flagged input, the usable locations (all ranks)
 * where it is absent (and, training, how many train); a warning for a flag
 * no training location sets, and for locations left out by an absent
 * driver the model has no flag for. Collective. */
PetscErrorCode data_report_availability(const SampleSet *ss, const char *cmd, PetscBool quiet);
/* The days of the usable locations (all ranks) over the days held: with
 * drivers (some driver available there has a value that day), lost to
 * driver gaps (a driver available there missing on the day), lost to warm-up
 * (the W days after a record's start or a gap), scored; and on site files the
 * sites that lose the largest share. One or two lines. Collective. */
PetscErrorCode data_report_days(const SampleSet *ss, const char *cmd);
/* The same counts gathered over several sample sets of one dataset (the time
 * chunks of predict): per location of the tile plus halo. */
typedef struct {
  int64_t *n; /* (ng, 4): days with drivers, lost to gaps, lost to warm-up, scored; by ghost index */
  size_t   ng;
} DayTally;
PetscErrorCode data_day_tally_create(const Dataset *ds, DayTally *dt);
/* Record days [d0, d1) (within the days ss holds) of ss's owned usable locations. */
void data_day_tally_add(const SampleSet *ss, PetscInt d0, PetscInt d1, DayTally *dt);
/* Prediction: record days [d0, d1) (held by ds) of every owned location by
 * what the output y (d1 - d0, ng: one output's plane, NaN = none) holds: with
 * drivers (some has a value), predicted, lost to a gap (a driver available
 * at the location, data_scan_presence or the days held, missing that day),
 * lost otherwise (warm-up, or a location the model cannot use). */
void data_day_tally_output(const Dataset *ds, PetscInt d0, PetscInt d1, const float *y, DayTally *dt);
/* data_report_days's lines from the tally. Collective. */
PetscErrorCode data_day_tally_report(const Dataset *ds, const DayTally *dt, int W, const char *cmd);
PetscErrorCode data_day_tally_destroy(DayTally *dt);
/* Site files: how many usable sites (all ranks) have geographic neighbours
 * within ds->site_radius_km, and how many on average. Collective. */
PetscErrorCode data_report_neighbours(const SampleSet *ss, const char *cmd);

/* Every owned location (usable or not) in the order of ds->usable and of
 * data_iput_field's packing: id, coordinates and split. */
typedef struct {
  int64_t       gid;
  double        lon, lat;
  unsigned char split;
  char          id[32]; /* site id; empty on grids */
} DataLocation;
PetscErrorCode data_owned_locations(const Dataset *ds, const SplitOptions *so, DataLocation *loc);

/* A batch of segments under construction: query segments (location, first
 * day) and the neighbour rows they need (docs/MODEL.md section 6). */
typedef struct {
  int      maxb, maxr, B, R, T, NB, Tg; /* segments, rows, days per segment, block slots, targets */
  double   drop;                        /* -train_input_dropout: chance that a row loses an available flagged input */
  uint64_t drop_key, drop_seed;         /* keys of those draws (the training step; the seed) */
  int     *rloc, *rday;                 /* (maxr) location and first day of each fast-encoder row */
  float   *xf, *xb, *s, *y;
  int32_t *age, *blk, *nb;
  uint8_t *eb;
  int64_t *lkey; /* (maxb) location key of each query */
} SampleBatch;

/* Tg: targets per query (the model's; ss->T when 0) */
PetscErrorCode data_batch_create(const SampleSet *ss, int maxb, int Tg, SampleBatch *b);
PetscErrorCode data_batch_destroy(SampleBatch *b);
/* Fill b from B segments (compact location, first day d0 >= 0; days past
 * the days held are missing) and point mb at it; without targets in ss,
 * mb->y holds NaN. */
PetscErrorCode data_batch_fill(const SampleSet *ss, const int *loc, const int *d0, int B, SampleBatch *b,
                               ModelBatch *mb);

#endif
