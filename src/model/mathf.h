/* model: exp and tanh for the hot loops, written without branches or library
 * calls so that the compiler vectorises the loops that use them (glibc's
 * expf is a scalar call; its tanhf goes through expm1f, which once took half
 * of the training time, docs/PERFORMANCE.md).
 *
 * raci_expf: Cephes' single-precision exp (range reduction by ln 2 in two
 * parts, degree-6 polynomial, 2^n assembled in the exponent bits), within
 * 2 float ulps of expf; arguments are clamped to [-87, 88] so that 2^n stays
 * a normal float (exp(-87) = 1.6e-38 stands for anything smaller).
 * raci_tanhf: (1 - e) / (1 + e) with e = exp(-2|x|), a Taylor series near 0;
 * within a few float ulps of tanhf. */
#ifndef RACI_MODEL_MATHF_H
#define RACI_MODEL_MATHF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float raci_expf(float x)
{
  x            = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
  float   t    = x * 1.44269504088896341f;
  int32_t n    = (int32_t)(t + (t >= 0.0f ? 0.5f : -0.5f)); /* round to nearest */
  float   fn   = (float)n;
  float   r    = x - fn * 0.693359375f + fn * 2.12194440e-4f;
  float   p    = 1.9875691500e-4f;
  p            = p * r + 1.3981999507e-3f;
  p            = p * r + 8.3334519073e-3f;
  p            = p * r + 4.1665795894e-2f;
  p            = p * r + 1.6666665459e-1f;
  p            = p * r + 5.0000001201e-1f;
  p            = p * (r * r) + r + 1.0f;
  int32_t bits = (n + 127) << 23;
  float   s;
  memcpy(&s, &bits, sizeof s);
  return p * s;
}

static inline float raci_tanhf(float x)
{
  float ax = fabsf(x), x2 = x * x;
  /* Taylor series below 1/16: the x^9 term is below 2e-13 there */
  float small = x * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f))));
  float e     = raci_expf(-2.0f * ax);
  float big   = copysignf((1.0f - e) / (1.0f + e), x);
  return ax < 0.0625f ? small : big;
}

static inline float raci_sigmoidf(float x) { return 1.0f / (1.0f + raci_expf(-x)); }

#endif
