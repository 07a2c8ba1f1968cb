/* eval: error metrics of predictions against observations (docs/MODEL.md
 * section 9). Pure: sums are accumulated per location and combined by the
 * caller (over classes, over ranks with MPI_SUM) before the metrics. */
#ifndef RACI_EVAL_H
#define RACI_EVAL_H

/* Sums over (prediction p, observation o) pairs; all doubles, so an array of
 * them reduces with MPI_SUM as EVAL_NSUMS doubles each. */
typedef struct {
  double n, sp, so, spp, soo, spo, sse, sabs;
} EvalSums;
#define EVAL_NSUMS 8

typedef struct {
  double n, rmse, nrmse, r2, nse, bias, obs_mean;
} EvalMetrics;

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
