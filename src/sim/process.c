/* sim: the process equations and their parameters (docs/SIMULATOR.md, section 3). */
#include <raci/sim.h>

/* Table 2 of docs/SIMULATOR.md. Regimes differ in sign of response, not only in
 * size: water-limited regimes (grassland, cropland, desert, temperate forest)
 * gain GPP with soil water, energy-limited ones (tundra, boreal, wetland) do
 * not; desert and grassland summers run past their temperature optimum, so
 * warmer days lower GPP there while they raise it in the tundra; wet soil
 * speeds decomposition in uplands and slows it in wetlands. */
const SimRegimeParams sim_regime[SIM_NUM_REGIMES] = {
    /* name               eps  fmin  fmax  tgrn topt tw  tmin vpd0 wlo whi  ra    r10  q10 anaer ch4 */
    {"tundra", 1.0, 0.05, 0.55, 3, 14, 10, -2, 40, 0, 0, 0.45, 0.7, 2.5, 0, 40},
    {"boreal forest", 1.3, 0.35, 0.85, 4, 16, 11, -3, 30, 0, 0, 0.50, 1.0, 2.2, 0, 50},
    {"temperate forest", 1.6, 0.20, 0.90, 8, 22, 12, 0, 25, 8, 20, 0.50, 1.8, 2.0, 0, 30},
    {"grassland", 1.4, 0.10, 0.75, 8, 20, 9, 2, 15, 10, 28, 0.45, 1.3, 2.0, 0, 25},
    {"cropland", 2.4, 0.05, 0.95, 0, 25, 11, 5, 20, 10, 26, 0.45, 1.6, 2.0, 0, 25},
    {"desert", 0.8, 0.05, 0.30, 10, 15, 9, 2, 12, 6, 18, 0.40, 0.4, 2.0, 0, 20},
    {"wetland", 1.2, 0.10, 0.80, 5, 20, 12, -1, 35, 0, 0, 0.50, 1.6, 2.0, 1, 80},
};

static double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }

/* Crops grow between day of year 130 (10 May) and 260 (17 September). */
#define CROP_SOW    130
#define CROP_SEASON 130

void sim_fluxes(const SimCell *c, const SimDrivers *d, int doy, SimFluxes *f)
{
  const SimRegimeParams *p   = &sim_regime[c->regime];
  double                 par = 0.5 * d->sw * 0.0864; /* MJ m-2 d-1 of PAR */
  double                 green, fapar, ft, fvpd, fw, rh, fm, sat;

  if (c->regime == SIM_CROPLAND) {
    double s = (double)(doy - CROP_SOW) / CROP_SEASON;
    green    = (s > 0 && s < 1) ? sin(M_PI * s) * sin(M_PI * s) : 0;
  } else
    green = 1.0 / (1.0 + exp(-(d->ts - p->t_green) / 2.0));
  fapar  = p->fapar_min + (p->fapar_max - p->fapar_min) * green;
  ft     = d->ta <= p->tmin ? 0 : exp(-((d->ta - p->topt) / p->twidth) * ((d->ta - p->topt) / p->twidth));
  fvpd   = 1.0 / (1.0 + d->vpd / p->vpd0);
  fw     = p->w_hi > p->w_lo ? clamp01((d->swc - p->w_lo) / (p->w_hi - p->w_lo)) : 1.0;
  f->gpp = p->eps * c->meps * fapar * par * ft * fvpd * fw;

  fm      = p->anaerobic ? 1.0 - 0.7 * clamp01((d->swc - 30) / 15) : 0.2 + 0.8 * clamp01((d->swc - 5) / 25);
  rh      = p->r10 * c->mr10 * sqrt(c->soc / 10.0) * pow(p->q10, (d->ts - 10) / 10) * fm;
  f->reco = p->ra_frac * f->gpp + rh;
  f->nee  = f->reco - f->gpp;

  sat     = clamp01((d->swc - 5) / 40); /* water-table proxy: 1 = water at the surface */
  f->fch4 = c->wetland * p->ch4_10 * exp(1.0986122886681098 * (d->ts - 10) / 10) /* 3^x */ * sat * sat * sat *
            (d->ts < 0 ? 0.1 : 1.0);
}
