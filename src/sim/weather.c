/* sim: static maps and the stochastic weather generator (docs/SIMULATOR.md, section 2). */
#include <raci/sim.h>

/* Lattice sub-streams of CORE_RNG_WEATHER (core.h): one per field, so no two
 * fields share numbers. They are a different key from CoreRngStream (the
 * stream word b of node_value, not the salt c), so they stay here. */
enum { ST_ELEV = 1, ST_MAP, ST_WET, ST_CLAY, ST_SOC }; /* 6, 7: SIM_STREAM_ANOM_T, _P */
enum { ST_LATENT_EPS = 8, ST_LATENT_R10 };             /* -sim_latent */
#define STATIC_DAY 0xFFFFFFFFFFFFULL                   /* day key of time-invariant fields */

static double clamp(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }
static double smoothstep(double t) { return t * t * (3 - 2 * t); }

static double node_value(uint64_t seed, uint64_t stream, uint64_t day, uint64_t ix, uint64_t iy)
{
  return core_rng_normal(seed, (iy << 32) | ix, (stream << 48) ^ day, (uint64_t)CORE_RNG_WEATHER);
}

/* Lattice coordinates of a point: node (ix, iy) and blending weights. */
static void lattice_point(double lon, double lat, double scale, uint64_t *ix, uint64_t *iy, double w[4])
{
  double gx = (lon + 360.0) / scale, gy = (lat + 90.0) / scale;
  double fx = floor(gx), fy = floor(gy), tx = smoothstep(gx - fx), ty = smoothstep(gy - fy);
  *ix  = (uint64_t)fx;
  *iy  = (uint64_t)fy;
  w[0] = (1 - tx) * (1 - ty);
  w[1] = tx * (1 - ty);
  w[2] = (1 - tx) * ty;
  w[3] = tx * ty;
}

static double blend(const double w[4], const double g[4])
{
  double v = 0, n2 = 0;
  for (int k = 0; k < 4; k++) {
    v += w[k] * g[k];
    n2 += w[k] * w[k];
  }
  return v / sqrt(n2);
}

double sim_smooth_noise(uint64_t seed, uint64_t stream, uint64_t day, double lon, double lat, double scale)
{
  /* Gaussian values on a lattice of spacing `scale`, blended with smooth
   * weights and renormalised so the result is exactly N(0,1) everywhere. */
  uint64_t ix, iy;
  double   w[4], g[4];

  lattice_point(lon, lat, scale, &ix, &iy, w);
  for (int k = 0; k < 4; k++) g[k] = node_value(seed, stream, day, ix + (uint64_t)(k & 1), iy + (uint64_t)(k >> 1));
  return blend(w, g);
}

int sim_lattice_nodes(double scale, double lon0, double lon1, double lat0, double lat1)
{
  return ((int)(floor((lon1 + 360.0) / scale) - floor((lon0 + 360.0) / scale)) + 2) *
         ((int)(floor((lat1 + 90.0) / scale) - floor((lat0 + 90.0) / scale)) + 2);
}

void sim_lattice_init(SimLattice *L, double scale, double lon0, double lon1, double lat0, double lat1, double *g)
{
  L->scale = scale;
  L->ix0   = (uint64_t)floor((lon0 + 360.0) / scale);
  L->iy0   = (uint64_t)floor((lat0 + 90.0) / scale);
  L->nx    = (int)((uint64_t)floor((lon1 + 360.0) / scale) - L->ix0) + 2;
  L->ny    = (int)((uint64_t)floor((lat1 + 90.0) / scale) - L->iy0) + 2;
  L->g     = g;
}

void sim_lattice_fill(SimLattice *L, uint64_t seed, uint64_t stream, uint64_t day)
{
  for (int j = 0; j < L->ny; j++)
    for (int i = 0; i < L->nx; i++)
      L->g[j * L->nx + i] = node_value(seed, stream, day, L->ix0 + (uint64_t)i, L->iy0 + (uint64_t)j);
}

void sim_lattice_locate(const SimLattice *L, double lon, double lat, SimLatticePoint *p)
{
  uint64_t ix, iy;
  double   n2 = 0;

  lattice_point(lon, lat, L->scale, &ix, &iy, p->w);
  for (int k = 0; k < 4; k++) n2 += p->w[k] * p->w[k];
  for (int k = 0; k < 4; k++) p->w[k] /= sqrt(n2);
  p->idx = (int)((iy - L->iy0) * (uint64_t)L->nx + (ix - L->ix0));
}

double sim_lattice_eval(const SimLattice *L, double lon, double lat)
{
  uint64_t ix, iy;
  double   w[4], g[4];

  lattice_point(lon, lat, L->scale, &ix, &iy, w);
  for (int k = 0; k < 4; k++)
    g[k] = L->g[(iy - L->iy0 + (uint64_t)(k >> 1)) * (uint64_t)L->nx + (ix - L->ix0 + (uint64_t)(k & 1))];
  return blend(w, g);
}

/* Elevation: the Western Cordillera, the Mexican plateau, the Appalachians and
 * the Greenland ice, roughened by a smooth random field, low at the coast. */
static double elevation(const SimWeatherParams *wp, double lat, double lon, double cont)
{
  double lonc  = -113.0 - 0.85 * (lat - 40.0);
  double width = 3.0 + 0.03 * fabs(lat - 40.0);
  double cord  = 2300.0 * exp(-((lon - lonc) / width) * ((lon - lonc) / width)) * (lat > 15 && lat < 68 ? 1.0 : 0.4);
  double mex   = 1500.0 * exp(-((lon + 102) / 4) * ((lon + 102) / 4)) * exp(-((lat - 24) / 5) * ((lat - 24) / 5));
  double app   = 800.0 * exp(-((lon + 80.5 + 0.9 * (lat - 37)) / 2.5) * ((lon + 80.5 + 0.9 * (lat - 37)) / 2.5)) *
               exp(-((lat - 39) / 8) * ((lat - 39) / 8));
  double ice   = (lon > -60 && lat > 60) ? 1500.0 : 0.0;
  double rough = 150.0 * sim_smooth_noise(wp->seed, ST_ELEV, STATIC_DAY, lon, lat, 2.0);
  return fmax(0.0, (cord + mex + app + ice + 200.0 + rough) * fmin(1.0, 0.3 + 3.0 * cont));
}

void sim_cell_init(const SimWeatherParams *wp, uint64_t id, double lat, double lon, double cont, SimCell *c)
{
  double alat = fabs(lat), east, west, z, boost;

  c->id   = id;
  c->lat  = lat;
  c->lon  = lon;
  c->cont = cont;
  c->elev = elevation(wp, lat, lon, cont);
  /* temperature: cooler poleward, uphill (6.5 K/km) and inland; wider seasons inland */
  c->mat = 28.0 - 0.62 * fmax(0.0, alat - 12.0) - 0.0065 * c->elev - 2.0 * cont;
  c->amp = 2.0 + 0.32 * fmax(0.0, alat - 8.0) * (0.5 + cont);
  /* precipitation: wet east and north-west coast, dry south-west interior, orographic */
  east       = 1.0 / (1.0 + exp(-(lon + 97.0) / 5.0));
  west       = lon < -117 ? 1400.0 * clamp(1.0 - 3.0 * cont, 0, 1) * clamp((lat - 35.0) / 10.0, 0, 1) : 0.0;
  c->map     = fmax(60.0, 150.0 + 950.0 * east * (1.0 - 0.4 * clamp((lat - 30.0) / 30.0, 0, 1)) + west + 0.1 * c->elev +
                              120.0 * sim_smooth_noise(wp->seed, ST_MAP, STATIC_DAY, lon, lat, 4.0));
  c->pseason = lon < -117 && cont < 0.4 ? -0.8 : clamp(1.6 * cont - 0.4, -0.8, 0.8);
  /* wetlands: boreal and arctic lowlands, the south-east coastal plain */
  boost = 0.0;
  if (lat > 48 && lat < 62 && c->elev < 350)
    boost = 1.2;
  else if (lat >= 62 && c->elev < 200)
    boost = 0.6;
  else if (lat < 35 && lon > -95 && c->elev < 60)
    boost = 1.0;
  z          = sim_smooth_noise(wp->seed, ST_WET, STATIC_DAY, lon, lat, 3.0) + boost - 1.6;
  c->wetland = z > 0 ? fmin(1.0, z / 1.5) : 0.0;
  /* soils */
  c->clay = 10.0 + 35.0 * 0.5 * erfc(-sim_smooth_noise(wp->seed, ST_CLAY, STATIC_DAY, lon, lat, 3.0) / M_SQRT2);
  c->soc  = fmax(0.5, 3.0 + 18.0 / (1.0 + exp((c->mat - 2.0) / 4.0)) + 40.0 * c->wetland +
                          1.5 * sim_smooth_noise(wp->seed, ST_SOC, STATIC_DAY, lon, lat, 3.0));
  c->whc  = 50.0 + 3.0 * c->clay + 0.8 * c->soc;
  /* unobserved heterogeneity (-sim_latent): smooth over about 4 degrees, in no input */
  c->meps = c->mr10 = 1.0;
  if (wp->latent > 0) {
    c->meps = exp(wp->latent * sim_smooth_noise(wp->seed, ST_LATENT_EPS, STATIC_DAY, lon, lat, 4.0));
    c->mr10 = exp(wp->latent * sim_smooth_noise(wp->seed, ST_LATENT_R10, STATIC_DAY, lon, lat, 4.0));
  }
  /* regime from climate, wetness and the corn belt */
  if (c->wetland > 0.45)
    c->regime = SIM_WETLAND;
  else if (c->mat < -7.0 || (c->mat < 4.0 && c->map < 250.0))
    c->regime = SIM_TUNDRA;
  else if (c->mat < 4.0)
    c->regime = SIM_BOREAL;
  else if (c->map < 350.0)
    c->regime = SIM_DESERT;
  else if (lat > 37 && lat < 49 && lon > -100 && lon < -82 && c->map > 500.0 && c->elev < 600.0)
    c->regime = SIM_CROPLAND;
  else if (c->map < 650.0)
    c->regime = SIM_GRASSLAND;
  else
    c->regime = SIM_TEMPERATE;
}

double sim_toa_radiation(double lat, int doy)
{
  const double gsc = 0.0820; /* solar constant, MJ m-2 min-1 */
  double       j = doy + 1, phi = lat * M_PI / 180.0;
  double       dr = 1 + 0.033 * cos(2 * M_PI * j / 365), delta = 0.409 * sin(2 * M_PI * j / 365 - 1.39);
  double       x = clamp(-tan(phi) * tan(delta), -1, 1), ws = acos(x);
  double       ra = 24 * 60 / M_PI * gsc * dr * (ws * sin(phi) * sin(delta) + cos(phi) * cos(delta) * sin(ws));
  return fmax(0.0, ra) * 1e6 / 86400.0;
}

/* cos(2 pi (doy - shift) / 365) for every day of the year, filled on first use:
 * the weather needs two per cell and day, and cos dominated the profile. */
static double cos_table[2][365];
static int    cos_ready = 0;

static const double *cos_days(int which)
{
  if (!cos_ready) {
    for (int j = 0; j < 365; j++) {
      cos_table[0][j] = cos(2 * M_PI * (j - 15) / 365.0);
      cos_table[1][j] = cos(2 * M_PI * (j - 197) / 365.0);
    }
    cos_ready = 1;
  }
  return cos_table[which];
}

/* Seasonal cycle: coldest around 15 January in the north, 15 July in the south. */
static double season(double lat, int doy) { return -cos_days(0)[doy] * (lat >= 0 ? 1 : -1); }

void sim_state_init(const SimWeatherParams *wp, const SimCell *c, SimState *s)
{
  s->aT   = 0;
  s->aP   = 0;
  s->ts   = c->mat + c->amp * season(c->lat, 0);
  s->w    = 0.5 * c->whc;
  s->snow = 0;
}

void sim_weather_day(const SimWeatherParams *wp, const SimCell *c, SimState *s, int64_t day, int doy, double eta_t,
                     double eta_p, double toa, SimDrivers *d)
{
  const double phi = wp->ar_phi, innov = sqrt(1 - phi * phi);
  uint64_t     dkey = sim_day_key(day);
  double       seas = season(c->lat, doy), winter = fmax(0.0, seas);
  double       pclim, pwet, wet, cloud, rh, es, rain, melt, pet, et, aridity;

  /* spatially smooth, AR(1) in time */
  s->aT = phi * s->aT + innov * eta_t;
  s->aP = phi * s->aP + innov * eta_p;

  d->ta = c->mat + c->amp * seas + (1.5 + 2.5 * c->cont + 1.5 * winter) * s->aT;

  /* rain falls where the wetness anomaly is in its top p_wet quantile */
  pclim = c->map / 365.0 * (1.0 + 0.5 * c->pseason * cos_days(1)[doy]);
  pwet  = clamp(0.12 + pclim / 8.0, 0.05, 0.75);
  wet   = 0.5 * erfc(-s->aP / M_SQRT2) > 1.0 - pwet;
  d->p  = wet ? -pclim / pwet * log(core_rng_uniform(wp->seed, c->id, dkey, (uint64_t)CORE_RNG_PRECIP)) : 0.0;

  cloud = wet ? 0.75 : clamp(0.25 + 0.2 * s->aP, 0, 0.6);
  d->sw = toa * (0.75 - 0.55 * cloud);

  aridity = clamp(1.0 - c->map / 1200.0, 0, 1);
  rh      = clamp(0.85 - 0.45 * aridity + (wet ? 0.12 : 0.0) - 0.05 * s->aT, 0.15, 0.98);
  es      = 0.6108 * exp(17.27 * d->ta / (d->ta + 237.3)); /* kPa */
  d->vpd  = 10.0 * es * (1.0 - rh);

  /* snow, then a bucket of plant-available water with Priestley-Taylor demand */
  if (d->ta < 0) {
    s->snow += d->p;
    rain = 0;
  } else {
    melt = fmin(s->snow, 3.0 * d->ta);
    s->snow -= melt;
    rain = d->p + melt;
  }
  pet  = d->ta > 0 ? 1.26 * clamp(0.45 + 0.014 * d->ta, 0.3, 0.85) * (0.55 * d->sw * 0.0864) / 2.45 : 0.0;
  et   = pet * s->w / c->whc;
  s->w = clamp(s->w + rain - et, 0, c->whc);
  /* wetlands are fed from around them: their part of the cell stays saturated */
  d->swc = (5.0 + 40.0 * s->w / c->whc) * (1.0 - c->wetland) + 45.0 * c->wetland;

  /* soil temperature: an 8-day filter of air temperature, held near 0 under snow */
  s->ts += (d->ta - s->ts) / 8.0;
  d->ts = s->snow > 10.0 ? 0.3 * s->ts : s->ts;
}
