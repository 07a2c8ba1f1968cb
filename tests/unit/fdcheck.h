/* Finite-difference checking shared by the layer tests: the loss is
 * sum(out * R) for a fixed random R (so dout = R); central differences in
 * float with eps = 1e-2 over every element of every tensor. A gradient is
 * wrong when its tensor's error norm exceeds 1e-2 of its norm (or of 1e-2 for
 * a zero gradient), or one element is off by more than 1e-2 relative plus
 * 2e-3 absolute. Include once per test program. */
#ifndef RACI_TEST_FDCHECK_H
#define RACI_TEST_FDCHECK_H

#include <raci/core.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nfail = 0;

typedef struct {
  const char *name;
  float      *x, *dx;
  int         n;
} Tensor;

typedef double (*LossFn)(void *ctx);
typedef void (*GradFn)(void *ctx);

static float *rnd(int n, float scale, uint64_t seed)
{
  float *a = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  for (int i = 0; i < n; i++) a[i] = (float)(scale * core_rng_normal(seed, (uint64_t)i, 0, 0));
  return a;
}

static float *zeros(int n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static double dot(const float *a, const float *b, int n)
{
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

static void check(const char *layer, Tensor *t, int nt, LossFn loss, GradFn grad, void *ctx)
{
  const float eps = 1e-2f;
  for (int k = 0; k < nt; k++) memset(t[k].dx, 0, sizeof(float) * (size_t)t[k].n);
  grad(ctx);
  for (int k = 0; k < nt; k++) {
    double num2 = 0, diff2 = 0, ana2 = 0;
    int    bad = 0, worst = -1;
    double worst_err = 0;
    for (int i = 0; i < t[k].n; i++) {
      float  save = t[k].x[i];
      double lp, lm, num, ana = t[k].dx[i], err;
      t[k].x[i] = save + eps;
      lp        = loss(ctx);
      t[k].x[i] = save - eps;
      lm        = loss(ctx);
      t[k].x[i] = save;
      num       = (lp - lm) / (2.0 * eps);
      err       = fabs(num - ana);
      num2 += num * num;
      ana2 += ana * ana;
      diff2 += err * err;
      if (err > 1e-2 * fmax(fabs(num), fabs(ana)) + 2e-3) bad++;
      if (err > worst_err) worst_err = err, worst = i;
    }
    double rel = sqrt(diff2) / fmax(sqrt(fmax(num2, ana2)),
                                    1e-2); /* a zero gradient (the key bias under softmax) is judged absolutely */
    if (bad || rel > 1e-2) {
      nfail++;
      printf("FAIL %-10s d%-6s relative error %.2e, %d of %d elements off (worst [%d] by %.3g)\n", layer, t[k].name,
             rel, bad, t[k].n, worst, worst_err);
    } else
      printf("ok   %-10s d%-6s relative error %.2e over %d elements\n", layer, t[k].name, rel, t[k].n);
  }
}

#endif
