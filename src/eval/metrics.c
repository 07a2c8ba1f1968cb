/* eval: RMSE, nRMSE, R2, NSE and bias from sums (include/raci/eval.h). */
#include <raci/eval.h>

#include <math.h>

void eval_merge(EvalSums *into, const EvalSums *s)
{
  into->n += s->n, into->sp += s->sp, into->so += s->so, into->spp += s->spp;
  into->soo += s->soo, into->spo += s->spo, into->sse += s->sse, into->sabs += s->sabs;
  into->ns += s->ns, into->in1 += s->in1, into->in2 += s->in2, into->ssd += s->ssd, into->ssd2 += s->ssd2;
  into->crps += s->crps;
}

double eval_crps_normal(double mu, double sd, double o)
{
  double z;
  if (!(sd > 0)) return fabs(o - mu);
  z = (o - mu) / sd;
  /* sd (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)) */
  return sd * (z * erf(z / M_SQRT2) + 2.0 * exp(-0.5 * z * z) / sqrt(2.0 * M_PI) - 1.0 / sqrt(M_PI));
}

void eval_metrics(const EvalSums *s, EvalMetrics *m)
{
  double n  = s->n;
  m->n      = n;
  m->cover1 = s->ns > 0 ? s->in1 / s->ns : NAN;
  m->cover2 = s->ns > 0 ? s->in2 / s->ns : NAN;
  m->spread = s->ns > 0 ? s->ssd / s->ns : NAN;
  m->crps   = s->ns > 0 ? s->crps / s->ns : NAN;
  if (n <= 0) {
    m->rmse = m->nrmse = m->r2 = m->nse = m->bias = m->obs_mean = NAN;
    return;
  }
  {
    double mo = s->so / n, mp = s->sp / n;
    double vo = s->soo / n - mo * mo, vp = s->spp / n - mp * mp, cov = s->spo / n - mo * mp;
    double sso  = vo * n; /* sum of (o - mean o)^2 */
    m->obs_mean = mo;
    m->rmse     = sqrt(s->sse / n);
    m->nrmse    = s->sabs > 0 ? m->rmse / (s->sabs / n) : NAN;
    m->bias     = mp - mo;
    m->r2       = vo > 0 && vp > 0 ? cov * cov / (vo * vp) : NAN;
    m->nse      = sso > 0 ? 1.0 - s->sse / sso : NAN;
  }
}
