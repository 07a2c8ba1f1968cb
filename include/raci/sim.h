/* sim: the process-based simulator behind `raci simulate` (DESIGN.md section 7).
 *
 * Pure kernels, no MPI and no I/O: static maps and daily weather of one grid
 * cell from counter-based random numbers keyed by (seed, global cell, day,
 * stream) and from smooth random fields evaluated at the cell's coordinates,
 * so every value is the same whichever rank computes it; and the process
 * equations of docs/SIMULATOR.md, which turn a day's drivers and the cell's
 * static maps into GPP, RECO, NEE and CH4. */
#ifndef RACI_SIM_H
#define RACI_SIM_H

#include <raci/core.h>

typedef enum {
  SIM_TUNDRA,
  SIM_BOREAL,
  SIM_TEMPERATE,
  SIM_GRASSLAND,
  SIM_CROPLAND,
  SIM_DESERT,
  SIM_WETLAND,
  SIM_NUM_REGIMES
} SimRegime;

/* Process parameters of one regime (docs/SIMULATOR.md, table 2). */
typedef struct {
  const char *name;
  double      eps;                  /* light-use efficiency, g C per MJ of PAR */
  double      fapar_min, fapar_max; /* canopy absorption, dormant and full */
  double      t_green;              /* soil temperature of half green-up, degC */
  double      topt, twidth, tmin;   /* GPP temperature optimum, width, cut-off, degC */
  double      vpd0;                 /* VPD of half GPP reduction, hPa */
  double      w_lo, w_hi;           /* SWC (%) of zero and full water scalar; equal: no water limit */
  double      ra_frac;              /* autotrophic respiration, fraction of GPP */
  double      r10;                  /* heterotrophic respiration at 10 degC and 10 kg C m-2, g C m-2 d-1 */
  double      q10;                  /* of heterotrophic respiration */
  int         anaerobic;            /* 1: wet soil suppresses decomposition */
  double      ch4_10;               /* CH4 at 10 degC, saturated, all wetland, nmol m-2 s-1 */
} SimRegimeParams;

extern const SimRegimeParams sim_regime[SIM_NUM_REGIMES];

/* Settings of the weather generator (options -sim_*). */
typedef struct {
  uint64_t seed;
  double   length_scale_deg; /* of daily anomalies */
  double   ar_phi;           /* day-to-day persistence of anomalies */
  double   latent;           /* -sim_latent: sd of the unobserved log-multipliers of eps and R_10 (0: none) */
} SimWeatherParams;

/* Static maps and climate of one land cell. */
typedef struct {
  uint64_t  id;             /* global cell index, y * nx + x */
  double    lat, lon;       /* degrees */
  double    cont;           /* continentality: 0 at the coast, 1 far inland */
  double    elev;           /* m */
  double    mat, amp;       /* annual mean and half range of air temperature, degC */
  double    map;            /* mean annual precipitation, mm yr-1 */
  double    pseason;        /* precipitation seasonality: +summer, -winter maximum */
  double    wetland;        /* wetland fraction, 0..1 */
  double    clay, soc, whc; /* %, kg C m-2, mm */
  SimRegime regime;
  double    meps, mr10; /* unobserved multipliers of eps and R_10 (1 without -sim_latent); never written */
} SimCell;

/* Weather state carried from day to day. */
typedef struct {
  double aT, aP; /* AR(1) anomalies of temperature and wetness, N(0,1) */
  double ts;     /* soil temperature filter, degC */
  double w;      /* plant-available water, mm */
  double snow;   /* snow water equivalent, mm */
} SimState;

/* One day of drivers, FLUXNET names and units. */
typedef struct {
  double ta;  /* TA, degC */
  double sw;  /* SW_IN, W m-2, daily mean */
  double vpd; /* VPD, hPa */
  double p;   /* P, mm d-1 */
  double ts;  /* TS, degC */
  double swc; /* SWC, % */
} SimDrivers;

typedef struct {
  double gpp, reco, nee; /* g C m-2 d-1 */
  double fch4;           /* nmol CH4 m-2 s-1 */
} SimFluxes;

/* A smooth random field: N(0,1) at every point, correlated over `scale` degrees. */
double sim_smooth_noise(uint64_t seed, uint64_t stream, uint64_t day, double lon, double lat, double scale);

/* The same field for one day over a box, with its lattice values drawn once:
 * sim_lattice_eval gives exactly sim_smooth_noise at any point of the box. */
typedef struct {
  double   scale;
  uint64_t ix0, iy0; /* first lattice node */
  int      nx, ny;   /* nodes covered */
  double  *g;        /* (ny, nx) node values; caller-owned, sim_lattice_nodes() entries */
} SimLattice;
int    sim_lattice_nodes(double scale, double lon0, double lon1, double lat0, double lat1);
void   sim_lattice_init(SimLattice *L, double scale, double lon0, double lon1, double lat0, double lat1, double *g);
void   sim_lattice_fill(SimLattice *L, uint64_t seed, uint64_t stream, uint64_t day);
double sim_lattice_eval(const SimLattice *L, double lon, double lat);
/* A point of the box located once (its nodes and normalised weights), so that
 * each day's value costs four multiply-adds: sim_lattice_at equals
 * sim_lattice_eval to rounding. */
typedef struct {
  int    idx;  /* first node in L->g */
  double w[4]; /* weights of nodes idx, idx + 1, idx + nx, idx + nx + 1, divided by their 2-norm */
} SimLatticePoint;
void                 sim_lattice_locate(const SimLattice *L, double lon, double lat, SimLatticePoint *p);
static inline double sim_lattice_at(const SimLattice *L, const SimLatticePoint *p)
{
  const double *g = L->g + p->idx;
  return p->w[0] * g[0] + p->w[1] * g[1] + p->w[2] * g[L->nx] + p->w[3] * g[L->nx + 1];
}

/* Streams of the daily anomaly fields and the day key of day d (negative in spin-up). */
enum { SIM_STREAM_ANOM_T = 6, SIM_STREAM_ANOM_P = 7 };
static inline uint64_t sim_day_key(int64_t day) { return (uint64_t)(day + (1LL << 40)); }

/* Static maps of a land cell; `cont` comes from the land mask. */
void sim_cell_init(const SimWeatherParams *wp, uint64_t id, double lat, double lon, double cont, SimCell *c);
/* Stationary start of the weather state. */
void sim_state_init(const SimWeatherParams *wp, const SimCell *c, SimState *s);
/* Advance one day. `day` counts from the start of the run (negative in spin-up),
 * doy is 0..364; eta_t and eta_p are the day's anomaly fields at the cell
 * (SIM_STREAM_ANOM_T at length scale L, SIM_STREAM_ANOM_P at L/2) and toa is
 * sim_toa_radiation(lat, doy): shared by many cells, computed once by the caller. */
void sim_weather_day(const SimWeatherParams *wp, const SimCell *c, SimState *s, int64_t day, int doy, double eta_t,
                     double eta_p, double toa, SimDrivers *d);
/* Daily mean top-of-atmosphere shortwave radiation, W m-2 (FAO-56 eq. 21). */
double sim_toa_radiation(double lat, int doy);
/* The process equations. */
void sim_fluxes(const SimCell *c, const SimDrivers *d, int doy, SimFluxes *f);

#endif
