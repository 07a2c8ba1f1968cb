/* eval: error metrics of predictions against observations (docs/MODEL.md
 * section 9). Pure: sums are accumulated per location and combined by the
 * caller (over classes, over ranks with MPI_SUM) before the metrics. */
#ifndef RACI_EVAL_H
#define RACI_EVAL_H

/* Sums over (prediction p, observation o) pairs; all doubles, so an array of
 * them reduces with MPI_SUM as EVAL_NSUMS doubles each. With an ensemble
 * spread sd beside p (eval_add_spread): the pairs with a spread, those with o
 * inside p +- sd and p +- 2 sd, the spreads and the CRPS summed. */
typedef struct {
  double n, sp, so, spp, soo, spo, sse, sabs;
  double ns, in1, in2, ssd, ssd2, crps;
} EvalSums;
#define EVAL_NSUMS 14

typedef struct {
  double n, rmse, nrmse, r2, nse, bias, obs_mean;
  double cover1, cover2, spread, crps; /* shares inside +-1 and +-2 spreads, mean spread, mean CRPS; NaN: no spread */
} EvalMetrics;

/* CRPS of the normal distribution N(mu, sd^2) for the observation o
 * (Gneiting et al. 2005, eq. 5); |o - mu| when sd is 0. */
double eval_crps_normal(double mu, double sd, double o);

static inline void eval_add_spread(EvalSums *s, double p, double sd, double o)
{
  double e = o > p ? o - p : p - o;
  s->ns += 1, s->in1 += e <= sd, s->in2 += e <= 2 * sd, s->ssd += sd, s->ssd2 += sd * sd;
  s->crps += eval_crps_normal(p, sd, o);
}

static inline void eval_add(EvalSums *s, double p, double o)
{
  s->n += 1, s->sp += p, s->so += o, s->spp += p * p, s->soo += o * o, s->spo += p * o;
  s->sse += (p - o) * (p - o), s->sabs += o < 0 ? -o : o;
}
void eval_merge(EvalSums *into, const EvalSums *s);
/* RMSE; nRMSE = RMSE / mean |o|; R2 = squared Pearson correlation; NSE = 1 -
 * SSE / sum (o - mean o)^2; bias = mean (p - o). NaN where undefined (no
 * pair; R2 and NSE with constant observations). */
void eval_metrics(const EvalSums *s, EvalMetrics *m);

#endif
