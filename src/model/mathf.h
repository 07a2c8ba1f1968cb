/* model: tanh for the hot loops. glibc's tanhf goes through expm1f, which took
 * half of the training time (perf, docs/PERFORMANCE.md); this one costs one
 * expf and stays within a few float ulps of tanhf. */
#ifndef RACI_MODEL_MATHF_H
#define RACI_MODEL_MATHF_H

#include <math.h>

static inline float raci_tanhf(float x)
{
  float ax = fabsf(x);
  if (ax < 0.0625f) { /* Taylor series: the x^9 term is below 2e-13 here */
    float x2 = x * x;
    return x * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f))));
  }
  float e = expf(-2.0f * ax);
  return copysignf((1.0f - e) / (1.0f + e), x);
}

#endif
