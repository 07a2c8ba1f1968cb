/* The simulator's process equations at hand-computed points (docs/SIMULATOR.md
 * section 3), the FAO-56 radiation example, and properties of the random
 * fields: smooth noise is N(0,1) and spatially correlated, draws are keyed
 * by their counter only. */
#include <raci/sim.h>

static int nfail = 0;

static void near(const char *what, double got, double want, double rtol)
{
  double err = fabs(got - want), tol = rtol * fmax(fabs(want), 1e-12);
  if (err > tol) {
    printf("FAIL %s: got %.10g, want %.10g\n", what, got, want);
    nfail++;
  } else
    printf("ok   %s = %.8g\n", what, got);
}

static void fluxes_at(SimRegime r, double soc, double wet, int doy, double ta, double sw, double vpd, double ts,
                      double swc, SimFluxes *f)
{
  SimCell    c = {0};
  SimDrivers d = {ta, sw, vpd, 0, ts, swc};
  c.regime     = r;
  c.soc        = soc;
  c.wetland    = wet;
  c.meps = c.mr10 = 1; /* no unobserved heterogeneity (-sim_latent 0) */
  sim_fluxes(&c, &d, doy, f);
}

int main(int argc, char **argv)
{
  SimFluxes f;
  if (PetscInitialize(&argc, &argv, NULL, NULL)) return 1;

  /* A. cropland at the height of its season (doy 195: sin^2(pi (195-130)/130) = 1),
   * TA at its optimum, wet soil: PAR = 0.5*300*0.0864 = 12.96 MJ, fAPAR 0.95,
   * f_VPD = 1/(1+10/20) = 2/3, f_W = 1: GPP = 2.4*0.95*12.96*2/3 = 19.6992;
   * Rh = 1.6*sqrt(10/10)*2^((20-10)/10)*(0.2+0.8*1) = 3.2; RECO = 0.45 GPP + Rh. */
  fluxes_at(SIM_CROPLAND, 10, 0, 195, 25, 300, 10, 20, 30, &f);
  near("A cropland GPP", f.gpp, 19.6992, 1e-12);
  near("A cropland RECO", f.reco, 12.06464, 1e-12);
  near("A cropland NEE", f.nee, -7.63456, 1e-12);
  near("A cropland CH4 (no wetland)", f.fch4, 0, 0);
  /* outside the season a crop has only its dormant fAPAR 0.05 */
  fluxes_at(SIM_CROPLAND, 10, 0, 100, 25, 300, 10, 20, 30, &f);
  near("A' cropland GPP before sowing", f.gpp, 19.6992 * 0.05 / 0.95, 1e-12);

  /* B. wetland in summer: green-up 1/(1+e^-3.5), f_T = exp(-(5/12)^2), f_VPD = 0.875;
   * wet soil slows decomposition: f_M = 1 - 0.7*0.8; CH4 = 0.8*80*3^0.2*0.925^3. */
  fluxes_at(SIM_WETLAND, 40, 0.8, 200, 15, 200, 5, 12, 42, &f);
  near("B wetland GPP", f.gpp, 5.944433485564618, 1e-12);
  near("B wetland RECO", f.reco, 4.589584026618135, 1e-12);
  near("B wetland NEE", f.nee, -1.3548494589464832, 1e-12);
  near("B wetland CH4", f.fch4, 63.10000928434481, 1e-12);

  /* C. desert on a hot day: 20 K above its optimum, so a cooler day has more GPP
   * (the opposite of the tundra's temperature response). */
  fluxes_at(SIM_DESERT, 2, 0, 190, 35, 320, 45, 30, 12, &f);
  near("C desert GPP at 35 degC", f.gpp, 0.0025028845821635616, 1e-10);
  near("C desert RECO", f.reco, 0.30439085702003693, 1e-12);
  fluxes_at(SIM_DESERT, 2, 0, 190, 20, 320, 45, 30, 12, &f);
  near("C desert GPP at 20 degC", f.gpp, 0.25648585816100467, 1e-12);
  {
    SimFluxes cold, warm;
    fluxes_at(SIM_TUNDRA, 10, 0, 190, 8, 250, 5, 8, 30, &cold);
    fluxes_at(SIM_TUNDRA, 10, 0, 190, 12, 250, 5, 8, 30, &warm);
    if (!(warm.gpp > cold.gpp)) {
      printf("FAIL tundra GPP should rise from 8 to 12 degC\n");
      nfail++;
    } else
      printf("ok   tundra GPP rises with temperature, desert GPP falls\n");
  }
  /* water-limited grassland gains GPP with soil water; energy-limited boreal does not */
  {
    SimFluxes dry, wet;
    fluxes_at(SIM_GRASSLAND, 10, 0, 190, 20, 250, 10, 18, 12, &dry);
    fluxes_at(SIM_GRASSLAND, 10, 0, 190, 20, 250, 10, 18, 25, &wet);
    near("grassland GPP ratio wet/dry = (25-10)/(12-10)", wet.gpp / dry.gpp, 7.5, 1e-12);
    fluxes_at(SIM_BOREAL, 10, 0, 190, 16, 250, 10, 12, 12, &dry);
    fluxes_at(SIM_BOREAL, 10, 0, 190, 16, 250, 10, 12, 25, &wet);
    near("boreal GPP ratio wet/dry", wet.gpp / dry.gpp, 1.0, 1e-12);
  }

  /* D. frozen tundra soil: no GPP below tmin, CH4 cut to a tenth. */
  fluxes_at(SIM_TUNDRA, 20, 0.3, 300, -5, 40, 1, -2, 35, &f);
  near("D tundra GPP below tmin", f.gpp, 0, 0);
  near("D tundra RECO", f.reco, 0.32967425044538584, 1e-12);
  near("D tundra CH4 frozen", f.fch4, 0.13546263854703894, 1e-12);

  /* FAO-56 example 8: 20 degS on 3 September (day 246) gets Ra = 32.2 MJ m-2 d-1. */
  near("FAO-56 Ra, MJ m-2 d-1", sim_toa_radiation(-20, 245) * 86400 / 1e6, 32.2, 2e-3);
  near("polar night radiation", sim_toa_radiation(80, 355), 0, 0);

  /* Smooth noise: mean 0, variance 1, correlated nearby, independent far away.
   * Each sample is from another day's field, so samples are independent and
   * the sampling error of each statistic is about 1/sqrt(n) = 0.007. */
  {
    double s = 0, s2 = 0, near_c = 0, far_c = 0;
    int    n = 20000;
    for (int i = 0; i < n; i++) {
      double lon = -170 + 120.0 * core_rng_uniform(7, i, 0, 1), lat = 10 + 60.0 * core_rng_uniform(7, i, 0, 2);
      double a = sim_smooth_noise(42, 3, i, lon, lat, 4.5);
      s += a;
      s2 += a * a;
      near_c += a * sim_smooth_noise(42, 3, i, lon + 0.5, lat, 4.5);
      far_c += a * sim_smooth_noise(42, 3, i, lon + 40, lat, 4.5);
    }
    near("smooth noise variance", s2 / n, 1.0, 0.05);
    if (fabs(s / n) > 0.035 || near_c / n < 0.8 || fabs(far_c / n) > 0.035) {
      printf("FAIL smooth noise: mean %g, correlation at 0.5 deg %g, at 40 deg %g\n", s / n, near_c / n, far_c / n);
      nfail++;
    } else
      printf("ok   smooth noise: mean %.3f, correlation %.3f at 0.5 deg, %.3f at 40 deg\n", s / n, near_c / n,
             far_c / n);
  }
  /* the per-day lattice gives the same field as point-wise evaluation */
  {
    double          g[4096], worst = 0;
    SimLattice      L;
    SimLatticePoint pt;
    int             n = sim_lattice_nodes(2.25, -130, -60, 20, 60);
    if (n > 4096) {
      printf("FAIL lattice of %d nodes\n", n);
      nfail++;
    } else {
      sim_lattice_init(&L, 2.25, -130, -60, 20, 60, g);
      sim_lattice_fill(&L, 9, 6, 123);
      for (double lon = -130; lon <= -60; lon += 0.37)
        for (double lat = 20; lat <= 60; lat += 0.41) {
          double a = sim_smooth_noise(9, 6, 123, lon, lat, 2.25);
          sim_lattice_locate(&L, lon, lat, &pt);
          worst = fmax(worst, fmax(fabs(sim_lattice_eval(&L, lon, lat) - a), fabs(sim_lattice_at(&L, &pt) - a)));
        }
      if (worst > 1e-12) {
        printf("FAIL lattice differs from point-wise noise by %g\n", worst);
        nfail++;
      } else
        printf("ok   lattice equals point-wise noise (max difference %.2g)\n", worst);
    }
  }
  /* counter-based draws depend on their key only */
  if (core_rng_bits(1, 2, 3, 4) != core_rng_bits(1, 2, 3, 4) ||
      core_rng_bits(1, 2, 3, 4) == core_rng_bits(1, 2, 3, 5) ||
      core_rng_bits(1, 2, 3, 4) == core_rng_bits(2, 2, 3, 4)) {
    printf("FAIL counter-based RNG keys\n");
    nfail++;
  }
  printf("test_sim_process: %s\n", nfail ? "FAILED" : "ok");
  PetscFinalize();
  return nfail ? 1 : 0;
}
