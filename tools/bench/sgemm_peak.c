/* sgemm_peak: OpenBLAS sgemm rate on this core, for the benchmarks'
 * "share of the sgemm peak" (docs/PERFORMANCE.md). One thread
 * (OPENBLAS_NUM_THREADS=1). Prints GFLOP/s for a large square product and
 * for the shapes of the fast encoder's products (rows x 3H x H and x F).
 * usage: sgemm_peak [SECONDS_PER_SHAPE]   (default 1) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* C (M, N) = A (M, K) B^T, B (N, K): the layout of linear_forward */
static double rate(int M, int N, int K, double secs)
{
  float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C = malloc(sizeof(float) * M * N);
  long   reps = 0;
  double t0, t;
  for (long i = 0; i < (long)M * K; i++) A[i] = (float)(i % 7) * 0.1f;
  for (long i = 0; i < (long)N * K; i++) B[i] = (float)(i % 5) * 0.1f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N); /* warm up */
  t0 = now();
  do {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    reps++;
  } while ((t = now() - t0) < secs);
  free(A), free(B), free(C);
  return 2.0 * M * N * K * reps / t / 1e9;
}

int main(int argc, char **argv)
{
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  printf("sgemm_peak square_1024 %.2f\n", rate(1024, 1024, 1024, secs));
  printf("sgemm_peak recurrent_600x192x64 %.2f\n", rate(600, 192, 64, secs));
  printf("sgemm_peak input_72000x192x4 %.2f\n", rate(72000, 192, 4, secs));
  return 0;
}
