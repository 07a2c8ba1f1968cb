/* Checks of the baselines' sequence layers (src/model/seq_layers.c).
 *
 * Backward: finite differences over every element of every parameter and
 * input, as in test_layers_grad.c. The loss is sum(out * R) for a fixed random
 * R (so dout = R); central differences in float with eps = 1e-2. A gradient
 * is wrong when its tensor's error norm exceeds 1e-2 of its norm (or of 1e-2
 * for a zero gradient), or one element is off by more than 1e-2 relative plus
 * 2e-3 absolute. A backward pass given NULL input gradients must leave the
 * parameter gradients unchanged. Every sequence layer is checked without ages
 * and with ages that restart: a row missing a day (age -1) and restarting the
 * day after (age 0), and a row restarting without a missing day.
 *
 * Forward: the documented formulas (gate order, q/k/v rows, head split,
 * restarts, the attention window, the convolution's taps, position encoding)
 * evaluated naively in double, and compared element-wise.
 *
 * Dependencies: for every input day of every row, the inputs are changed and
 * the outputs that change must be exactly those the documented rules allow:
 * an LSTM's day t depends on the days since its last restart, the attention's
 * on the keys of its window (never a later day, never an older one, never one
 * before a restart), the convolution's on its valid taps. */
#include <raci/core.h>
#include <raci/model.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdcheck.h"

static double sigd(double x) { return 1.0 / (1.0 + exp(-x)); }

/* After check(): the gradients of tensors nin.. (the parameters) again with
 * NULL input gradients (*nullin = 1) must come out bit for bit the same. */
static void check_null_inputs(const char *layer, Tensor *t, int nin, int nt, GradFn grad, void *ctx, int *nullin)
{
  float *keep[16];
  int    same = 1;
  for (int k = nin; k < nt; k++) {
    keep[k] = malloc(sizeof(float) * (size_t)t[k].n);
    memcpy(keep[k], t[k].dx, sizeof(float) * (size_t)t[k].n);
    memset(t[k].dx, 0, sizeof(float) * (size_t)t[k].n);
  }
  *nullin = 1;
  grad(ctx);
  *nullin = 0;
  for (int k = nin; k < nt; k++) {
    same &= !memcmp(keep[k], t[k].dx, sizeof(float) * (size_t)t[k].n);
    free(keep[k]);
  }
  if (!same) nfail++;
  printf("%s %-10s NULL input gradients leave the parameter gradients %s\n", same ? "ok  " : "FAIL", layer,
         same ? "unchanged" : "CHANGED");
}

/* max |a - ref| / (1 + |ref|) over n values */
static void compare(const char *what, const float *a, const double *ref, int n, double tol)
{
  double worst = 0;
  for (int i = 0; i < n; i++) worst = fmax(worst, fabs(a[i] - ref[i]) / (1.0 + fabs(ref[i])));
  if (!(worst <= tol)) nfail++;
  printf("%s %-28s max error %.2e over %d values\n", worst <= tol ? "ok  " : "FAIL", what, worst, n);
}

/* Ages (T, B) shared by the sequence tests: row 0 unbroken; row 1 misses
 * day 2 (-1) and restarts on day 3 (0); row 2 restarts on day T/2 without a
 * missing day and misses its last day. */
static int32_t *test_ages(int T, int B)
{
  int32_t *age = malloc(sizeof(int32_t) * (size_t)T * B);
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) {
      int a = t;
      if (b % 3 == 1) a = t < 2 ? t : t == 2 ? -1 : t - 3;
      if (b % 3 == 2) a = t == T - 1 ? -1 : t < T / 2 ? t : t - T / 2;
      age[t * B + b] = a;
    }
  return age;
}

/* The state entering step t of row b is 0 (docs/MODEL.md section 2). */
static int restart_ref(const int32_t *age, int t, int B, int b) { return age && t > 0 && age[t * B + b] <= 0; }

/* Which outputs an input may move: out(t, b) from the inputs of (j0, b0). */
typedef int (*DepFn)(const void *ctx, int t, int b, int j0, int b0);

/* For each (day j0, row b0): add 0.5 to its IN inputs, run the forward pass
 * and compare every output row (t, b) (OUT values at out + (t*B + b)*OUT)
 * with the unperturbed one: it must change exactly where dep() says. */
static void check_deps(const char *layer, void *ctx, LossFn fwd, DepFn dep, float *x, int IN, const float *out, int OUT,
                       int T, int B)
{
  size_t n     = (size_t)T * B * OUT;
  float *ref   = malloc(sizeof(float) * n), save[64];
  int    wrong = 0, moved = 0, total = 0;
  fwd(ctx);
  memcpy(ref, out, sizeof(float) * n);
  for (int j0 = 0; j0 < T; j0++)
    for (int b0 = 0; b0 < B; b0++) {
      float *xi = x + ((size_t)j0 * B + b0) * IN;
      memcpy(save, xi, sizeof(float) * IN);
      for (int k = 0; k < IN; k++) xi[k] += 0.5f;
      fwd(ctx);
      for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
          const float *o = out + ((size_t)t * B + b) * OUT, *r = ref + ((size_t)t * B + b) * OUT;
          int          changed = 0, expect = dep(ctx, t, b, j0, b0);
          for (int k = 0; k < OUT; k++) changed |= o[k] != r[k];
          if (changed != expect) {
            if (!wrong)
              printf("     %s: output (day %d, row %d) %s on input (day %d, row %d)\n", layer, t, b,
                     changed ? "depends" : "does not depend", j0, b0);
            wrong++;
          }
          moved += changed, total++;
        }
      memcpy(xi, save, sizeof(float) * IN);
    }
  fwd(ctx);
  if (wrong) nfail++;
  printf("%s %-10s dependencies: %d of %d (output, input) pairs wrong, %d dependent\n", wrong ? "FAIL" : "ok  ", layer,
         wrong, total, moved);
  free(ref);
}

/* -------------------------------------------------------------------- LSTM */
typedef struct {
  int            T, B, IN, H, nullin;
  const int32_t *age;
  float         *x, *Wih, *Whh, *bih, *bhh, *dx, *dWih, *dWhh, *dbih, *dbhh;
  float         *hs, *cs, *gates, *work, *R, *dhs;
} LstmCtx;
static double lstm_loss(void *c)
{
  LstmCtx *s = c;
  lstm_forward(s->hs, s->cs, s->gates, s->x, s->Wih, s->Whh, s->bih, s->bhh, s->age, s->T, s->B, s->IN, s->H);
  return dot(s->hs + s->B * s->H, s->R + s->B * s->H, s->T * s->B * s->H); // every hidden state
}
static void lstm_grad(void *c)
{
  LstmCtx *s = c;
  lstm_loss(s);
  memcpy(s->dhs, s->R, sizeof(float) * (size_t)(s->T + 1) * s->B * s->H);
  memset(s->dhs, 0, sizeof(float) * (size_t)s->B * s->H);
  lstm_backward(s->nullin ? NULL : s->dx, s->dWih, s->dWhh, s->dbih, s->dbhh, s->dhs, s->hs, s->cs, s->gates, s->x,
                s->Wih, s->Whh, s->age, s->work, s->T, s->B, s->IN, s->H);
}
/* hs, cs (T+1, B, H) of PyTorch's LSTM, gates i, f, g, o, a zero state entering a restart */
static void lstm_ref(double *hs, double *cs, const LstmCtx *s)
{
  int T = s->T, B = s->B, IN = s->IN, H = s->H;
  memset(hs, 0, sizeof(double) * (size_t)B * H), memset(cs, 0, sizeof(double) * (size_t)B * H);
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) {
      double keep = restart_ref(s->age, t, B, b) ? 0.0 : 1.0;
      for (int j = 0; j < H; j++) {
        double pre[4];
        for (int q = 0; q < 4; q++) {
          int row = q * H + j;
          pre[q]  = (double)s->bih[row] + s->bhh[row];
          for (int m = 0; m < IN; m++) pre[q] += (double)s->Wih[row * IN + m] * s->x[(t * B + b) * IN + m];
          for (int m = 0; m < H; m++) pre[q] += (double)s->Whh[row * H + m] * keep * hs[(t * B + b) * H + m];
        }
        double c                      = sigd(pre[1]) * keep * cs[(t * B + b) * H + j] + sigd(pre[0]) * tanh(pre[2]);
        cs[((t + 1) * B + b) * H + j] = c;
        hs[((t + 1) * B + b) * H + j] = sigd(pre[3]) * tanh(c);
      }
    }
}
/* Day t's state depends on the days since the row's last restart. */
static int recurrent_dep(const int32_t *age, int B, int t, int b, int j0, int b0)
{
  if (b != b0 || j0 > t) return 0;
  for (int u = j0 + 1; u <= t; u++)
    if (restart_ref(age, u, B, b)) return 0;
  return 1;
}
static int lstm_dep(const void *c, int t, int b, int j0, int b0)
{
  const LstmCtx *s = c;
  return recurrent_dep(s->age, s->B, t, b, j0, b0);
}

/* ----------------------------------------------------------------- EA-LSTM */
typedef struct {
  int            T, B, IN, S, H, nullin;
  const int32_t *age;
  float         *x, *st, *Wi, *bi, *Wih, *Whh, *b, *dx, *dst, *dWi, *dbi, *dWih, *dWhh, *db;
  float         *hs, *cs, *gates, *ig, *work, *R, *dhs;
} EaCtx;
static double ea_loss(void *c)
{
  EaCtx *s = c;
  ealstm_forward(s->hs, s->cs, s->gates, s->ig, s->x, s->st, s->Wi, s->bi, s->Wih, s->Whh, s->b, s->age, s->T, s->B,
                 s->IN, s->S, s->H);
  return dot(s->hs + s->B * s->H, s->R + s->B * s->H, s->T * s->B * s->H);
}
static void ea_grad(void *c)
{
  EaCtx *s = c;
  ea_loss(s);
  memcpy(s->dhs, s->R, sizeof(float) * (size_t)(s->T + 1) * s->B * s->H);
  memset(s->dhs, 0, sizeof(float) * (size_t)s->B * s->H);
  ealstm_backward(s->nullin ? NULL : s->dx, s->nullin ? NULL : s->dst, s->dWi, s->dbi, s->dWih, s->dWhh, s->db, s->dhs,
                  s->hs, s->cs, s->gates, s->ig, s->x, s->st, s->Wi, s->Wih, s->Whh, s->age, s->work, s->T, s->B, s->IN,
                  s->S, s->H);
}
/* hs, cs (T+1, B, H) of the EA-LSTM, input gate from the statics, gates f, g, o */
static void ea_ref(double *hs, double *cs, const EaCtx *s)
{
  int T = s->T, B = s->B, IN = s->IN, S = s->S, H = s->H;
  memset(hs, 0, sizeof(double) * (size_t)B * H), memset(cs, 0, sizeof(double) * (size_t)B * H);
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) {
      double keep = restart_ref(s->age, t, B, b) ? 0.0 : 1.0;
      for (int j = 0; j < H; j++) {
        double ig = s->bi[j], pre[3];
        for (int m = 0; m < S; m++) ig += (double)s->Wi[j * S + m] * s->st[b * S + m];
        for (int q = 0; q < 3; q++) {
          int row = q * H + j;
          pre[q]  = s->b[row];
          for (int m = 0; m < IN; m++) pre[q] += (double)s->Wih[row * IN + m] * s->x[(t * B + b) * IN + m];
          for (int m = 0; m < H; m++) pre[q] += (double)s->Whh[row * H + m] * keep * hs[(t * B + b) * H + m];
        }
        double c                      = sigd(pre[0]) * keep * cs[(t * B + b) * H + j] + sigd(ig) * tanh(pre[1]);
        cs[((t + 1) * B + b) * H + j] = c;
        hs[((t + 1) * B + b) * H + j] = sigd(pre[2]) * tanh(c);
      }
    }
}
static int ea_dep(const void *c, int t, int b, int j0, int b0)
{
  const EaCtx *s = c;
  return recurrent_dep(s->age, s->B, t, b, j0, b0);
}

/* -------------------------------------------------------------- layer norm */
typedef struct {
  int    N, C, nullin;
  float *x, *g, *b, *dx, *dg, *db, *mean, *rstd, *out, *R;
} LnCtx;
static double ln_loss(void *c)
{
  LnCtx *s = c;
  layernorm_forward(s->out, s->mean, s->rstd, s->x, s->g, s->b, s->N, s->C);
  return dot(s->out, s->R, s->N * s->C);
}
static void ln_grad(void *c)
{
  LnCtx *s = c;
  ln_loss(s);
  layernorm_backward(s->nullin ? NULL : s->dx, s->dg, s->db, s->R, s->x, s->g, s->mean, s->rstd, s->N, s->C);
}

/* -------------------------------------------------------------------- GELU */
typedef struct {
  int    n;
  float *x, *dx, *R, *out;
} GeluCtx;
static double gelu_loss(void *c)
{
  GeluCtx *s = c;
  gelu_forward(s->out, s->x, (size_t)s->n);
  return dot(s->out, s->R, s->n);
}
static void gelu_grad(void *c)
{
  GeluCtx *s = c;
  gelu_loss(s);
  gelu_backward(s->dx, s->R, s->x, (size_t)s->n);
}

/* ------------------------------------------------- multi-head self-attention */
typedef struct {
  int            T, B, D, NH, window, nullin;
  const int32_t *age;
  float         *x, *Wqkv, *bqkv, *Wo, *bo, *dx, *dWqkv, *dbqkv, *dWo, *dbo;
  float         *qkv, *att, *y, *out, *R, *work;
} MhsaCtx;
static double mhsa_loss(void *c)
{
  MhsaCtx *s = c;
  mhsa_forward(s->out, s->qkv, s->att, s->y, s->x, s->Wqkv, s->bqkv, s->Wo, s->bo, s->age, s->window, s->T, s->B, s->D,
               s->NH);
  return dot(s->out, s->R, s->T * s->B * s->D);
}
static void mhsa_grad(void *c)
{
  MhsaCtx *s = c;
  mhsa_loss(s);
  mhsa_backward(s->nullin ? NULL : s->dx, s->dWqkv, s->dbqkv, s->dWo, s->dbo, s->R, s->qkv, s->att, s->y, s->x, s->Wqkv,
                s->Wo, s->age, s->window, s->work, s->T, s->B, s->D, s->NH);
}
/* First key day of query day t: t - min(window, age), only t on a missing day */
static int first_key(const MhsaCtx *s, int t, int b)
{
  int back = s->window;
  if (s->age) {
    int a = s->age[t * s->B + b];
    back  = a < 0 ? 0 : (a < s->window ? a : s->window);
  }
  return t - back > 0 ? t - back : 0;
}
/* out (T, B, D), one sequence, one head and one query at a time */
static void mhsa_ref(double *out, const MhsaCtx *s)
{
  int     T = s->T, B = s->B, D = s->D, NH = s->NH, hd = D / NH;
  double *qkv = malloc(sizeof(double) * (size_t)T * 3 * D), *y = malloc(sizeof(double) * (size_t)T * D),
         *p = malloc(sizeof(double) * (size_t)T);
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++)
      for (int r = 0; r < 3 * D; r++) {
        qkv[t * 3 * D + r] = s->bqkv[r];
        for (int m = 0; m < D; m++) qkv[t * 3 * D + r] += (double)s->Wqkv[r * D + m] * s->x[(t * B + b) * D + m];
      }
    for (int h = 0; h < NH; h++)
      for (int tq = 0; tq < T; tq++) {
        double sum = 0;
        for (int tk = 0; tk < T; tk++) {
          double sc = 0;
          for (int e = 0; e < hd; e++) sc += qkv[tq * 3 * D + h * hd + e] * qkv[tk * 3 * D + D + h * hd + e];
          p[tk] = tk >= first_key(s, tq, b) && tk <= tq ? exp(sc / sqrt((double)hd)) : 0.0; // the window
          sum += p[tk];
        }
        for (int e = 0; e < hd; e++) {
          y[tq * D + h * hd + e] = 0;
          for (int tk = 0; tk < T; tk++) y[tq * D + h * hd + e] += p[tk] / sum * qkv[tk * 3 * D + 2 * D + h * hd + e];
        }
      }
    for (int t = 0; t < T; t++)
      for (int r = 0; r < D; r++) {
        double o = s->bo[r];
        for (int m = 0; m < D; m++) o += (double)s->Wo[r * D + m] * y[t * D + m];
        out[(t * B + b) * D + r] = o;
      }
  }
  free(qkv), free(y), free(p);
}
static int mhsa_dep(const void *c, int t, int b, int j0, int b0)
{
  const MhsaCtx *s = c;
  return b == b0 && j0 <= t && j0 >= first_key(s, t, b);
}

/* ---------------------------------------------- causal dilated convolution */
typedef struct {
  int            T, B, C, K, dil, nullin;
  const int32_t *age;
  float         *x, *W, *b, *dx, *dW, *db, *out, *R, *work;
} ConvCtx;
static double conv_loss(void *c)
{
  ConvCtx *s = c;
  tcn_conv_forward(s->out, s->x, s->W, s->b, s->age, s->work, s->T, s->B, s->C, s->K, s->dil);
  return dot(s->out, s->R, s->T * s->B * s->C);
}
static void conv_grad(void *c)
{
  ConvCtx *s = c;
  conv_loss(s);
  tcn_conv_backward(s->nullin ? NULL : s->dx, s->dW, s->db, s->R, s->x, s->W, s->age, s->work, s->T, s->B, s->C, s->K,
                    s->dil);
}
/* Tap k of day t reads day t - k dil when that day is in the sequence and not before the last restart. */
static int tap_ref(const ConvCtx *s, int t, int b, int k)
{
  int back = k * s->dil;
  return t - back >= 0 && (!s->age || back <= s->age[t * s->B + b]);
}
static void conv_ref(double *out, const ConvCtx *s)
{
  int C = s->C, K = s->K, B = s->B;
  for (int t = 0; t < s->T; t++)
    for (int b = 0; b < B; b++)
      for (int o = 0; o < C; o++) {
        double u = s->b[o];
        for (int k = 0; k < K; k++)
          if (tap_ref(s, t, b, k))
            for (int c = 0; c < C; c++)
              u += (double)s->W[o * K * C + k * C + c] * s->x[((t - k * s->dil) * B + b) * C + c];
        out[(t * B + b) * C + o] = u;
      }
}
static int conv_dep(const void *c, int t, int b, int j0, int b0)
{
  const ConvCtx *s = c;
  for (int k = 0; k < s->K && b == b0; k++)
    if (t - k * s->dil == j0 && tap_ref(s, t, b, k)) return 1;
  return 0;
}

static void run_lstm(const int32_t *age, const char *name)
{
  LstmCtx s = {.T = 6, .B = 3, .IN = 5, .H = 6, .age = age};
  int     T = s.T, B = s.B, IN = s.IN, H = s.H;
  s.x = rnd(T * B * IN, 1, 101), s.Wih = rnd(4 * H * IN, 0.4f, 102), s.Whh = rnd(4 * H * H, 0.4f, 103),
  s.bih = rnd(4 * H, 0.3f, 104), s.bhh = rnd(4 * H, 0.3f, 105);
  s.dx = zeros(T * B * IN), s.dWih = zeros(4 * H * IN), s.dWhh = zeros(4 * H * H), s.dbih = zeros(4 * H),
  s.dbhh = zeros(4 * H);
  s.hs = zeros((T + 1) * B * H), s.cs = zeros((T + 1) * B * H), s.gates = zeros(T * B * 4 * H),
  s.work = zeros(T * B * 4 * H + 2 * B * H);
  s.R = rnd((T + 1) * B * H, 1, 106), s.dhs = zeros((T + 1) * B * H);
  Tensor t[] = {{"x", s.x, s.dx, T * B * IN},
                {"Wih", s.Wih, s.dWih, 4 * H * IN},
                {"Whh", s.Whh, s.dWhh, 4 * H * H},
                {"bih", s.bih, s.dbih, 4 * H},
                {"bhh", s.bhh, s.dbhh, 4 * H}};
  check(name, t, 5, lstm_loss, lstm_grad, &s);
  check_null_inputs(name, t, 1, 5, lstm_grad, &s, &s.nullin);
  double *hs = malloc(sizeof(double) * (size_t)(T + 1) * B * H), *cs = malloc(sizeof(double) * (size_t)(T + 1) * B * H);
  lstm_ref(hs, cs, &s);
  lstm_loss(&s);
  compare(age ? "lstm+age forward hs" : "lstm forward hs", s.hs, hs, (T + 1) * B * H, 1e-5);
  compare(age ? "lstm+age forward cs" : "lstm forward cs", s.cs, cs, (T + 1) * B * H, 1e-5);
  check_deps(name, &s, lstm_loss, lstm_dep, s.x, IN, s.hs + B * H, H, T, B);
  free(hs), free(cs);
}

static void run_ealstm(const int32_t *age, const char *name)
{
  EaCtx s = {.T = 6, .B = 3, .IN = 5, .S = 4, .H = 6, .age = age};
  int   T = s.T, B = s.B, IN = s.IN, S = s.S, H = s.H;
  s.x = rnd(T * B * IN, 1, 111), s.st = rnd(B * S, 1, 112), s.Wi = rnd(H * S, 0.5f, 113), s.bi = rnd(H, 0.3f, 114);
  s.Wih = rnd(3 * H * IN, 0.4f, 115), s.Whh = rnd(3 * H * H, 0.4f, 116), s.b = rnd(3 * H, 0.3f, 117);
  s.dx = zeros(T * B * IN), s.dst = zeros(B * S), s.dWi = zeros(H * S), s.dbi = zeros(H), s.dWih = zeros(3 * H * IN),
  s.dWhh = zeros(3 * H * H), s.db = zeros(3 * H);
  s.hs = zeros((T + 1) * B * H), s.cs = zeros((T + 1) * B * H), s.gates = zeros(T * B * 3 * H), s.ig = zeros(B * H),
  s.work = zeros(T * B * 3 * H + 3 * B * H);
  s.R = rnd((T + 1) * B * H, 1, 118), s.dhs = zeros((T + 1) * B * H);
  Tensor t[] = {{"x", s.x, s.dx, T * B * IN}, {"s", s.st, s.dst, B * S},          {"Wi", s.Wi, s.dWi, H * S},
                {"bi", s.bi, s.dbi, H},       {"Wih", s.Wih, s.dWih, 3 * H * IN}, {"Whh", s.Whh, s.dWhh, 3 * H * H},
                {"b", s.b, s.db, 3 * H}};
  check(name, t, 7, ea_loss, ea_grad, &s);
  check_null_inputs(name, t, 2, 7, ea_grad, &s, &s.nullin);
  double *hs = malloc(sizeof(double) * (size_t)(T + 1) * B * H), *cs = malloc(sizeof(double) * (size_t)(T + 1) * B * H);
  ea_ref(hs, cs, &s);
  ea_loss(&s);
  compare(age ? "ealstm+age forward hs" : "ealstm forward hs", s.hs, hs, (T + 1) * B * H, 1e-5);
  compare(age ? "ealstm+age forward cs" : "ealstm forward cs", s.cs, cs, (T + 1) * B * H, 1e-5);
  check_deps(name, &s, ea_loss, ea_dep, s.x, IN, s.hs + B * H, H, T, B);
  free(hs), free(cs);
}

static void run_mhsa(const int32_t *age, int T, int window, const char *name)
{
  MhsaCtx s = {.T = T, .B = 3, .D = 8, .NH = 2, .window = window, .age = age};
  int     B = s.B, D = s.D;
  s.x = rnd(T * B * D, 1, 141), s.Wqkv = rnd(3 * D * D, 0.5f, 142), s.bqkv = rnd(3 * D, 0.3f, 143),
  s.Wo = rnd(D * D, 0.5f, 144), s.bo = rnd(D, 0.3f, 145);
  s.dx = zeros(T * B * D), s.dWqkv = zeros(3 * D * D), s.dbqkv = zeros(3 * D), s.dWo = zeros(D * D), s.dbo = zeros(D);
  s.qkv = zeros(T * B * 3 * D), s.att = zeros(B * s.NH * T * (window + 1)), s.y = zeros(T * B * D),
  s.out = zeros(T * B * D), s.R = rnd(T * B * D, 1, 146);
  s.work     = zeros(T * B * D + T * B * 3 * D + window + 1);
  Tensor t[] = {{"x", s.x, s.dx, T * B * D},
                {"Wqkv", s.Wqkv, s.dWqkv, 3 * D * D},
                {"bqkv", s.bqkv, s.dbqkv, 3 * D},
                {"Wo", s.Wo, s.dWo, D * D},
                {"bo", s.bo, s.dbo, D}};
  check(name, t, 5, mhsa_loss, mhsa_grad, &s);
  check_null_inputs(name, t, 1, 5, mhsa_grad, &s, &s.nullin);
  double *ref = malloc(sizeof(double) * (size_t)T * B * D);
  mhsa_ref(ref, &s);
  mhsa_loss(&s);
  char what[40];
  snprintf(what, sizeof what, "%s forward", name);
  compare(what, s.out, ref, T * B * D, 1e-5);
  /* the probabilities of each (sequence, head, query) sum to 1 over the window, 0 outside */
  double worst = 0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < s.NH; h++)
      for (int tq = 0; tq < T; tq++) {
        const float *a   = s.att + (((size_t)b * s.NH + h) * T + tq) * (window + 1);
        double       sum = 0, out = 0;
        for (int w = 0; w <= window; w++) {
          int j = tq - window + w;
          if (j >= first_key(&s, tq, b))
            sum += a[w];
          else
            out += fabs(a[w]);
        }
        worst = fmax(worst, fabs(sum - 1) + out);
      }
  if (!(worst < 1e-6)) nfail++;
  printf("%s %-28s probabilities off by %.2e\n", worst < 1e-6 ? "ok  " : "FAIL", name, worst);
  check_deps(name, &s, mhsa_loss, mhsa_dep, s.x, D, s.out, D, T, B);
  free(ref);
}

static void run_conv(const int32_t *age, const char *name)
{
  ConvCtx s = {.T = 9, .B = 3, .C = 3, .K = 3, .dil = 2, .age = age};
  int     T = s.T, B = s.B, C = s.C, K = s.K;
  s.x = rnd(T * B * C, 1, 151), s.W = rnd(C * K * C, 0.5f, 152), s.b = rnd(C, 0.3f, 153);
  s.dx = zeros(T * B * C), s.dW = zeros(C * K * C), s.db = zeros(C), s.out = zeros(T * B * C),
  s.R = rnd(T * B * C, 1, 154), s.work = zeros(T * B * K * C);
  Tensor t[] = {{"x", s.x, s.dx, T * B * C}, {"W", s.W, s.dW, C * K * C}, {"b", s.b, s.db, C}};
  check(name, t, 3, conv_loss, conv_grad, &s);
  check_null_inputs(name, t, 1, 3, conv_grad, &s, &s.nullin);
  double *ref = malloc(sizeof(double) * (size_t)T * B * C);
  conv_ref(ref, &s);
  conv_loss(&s);
  char what[40];
  snprintf(what, sizeof what, "%s forward", name);
  compare(what, s.out, ref, T * B * C, 1e-5);
  check_deps(name, &s, conv_loss, conv_dep, s.x, C, s.out, C, T, B);
  free(ref);
}

int main(void)
{
  int32_t *age6 = test_ages(6, 3), *age7 = test_ages(7, 3), *age9 = test_ages(9, 3);
  run_lstm(NULL, "lstm");
  run_lstm(age6, "lstm+age");
  run_ealstm(NULL, "ealstm");
  run_ealstm(age6, "ealstm+age");
  {
    LnCtx s = {.N = 6, .C = 8};
    int   N = s.N, C = s.C;
    s.x = rnd(N * C, 1, 121), s.g = rnd(C, 0.3f, 122), s.b = rnd(C, 0.3f, 123), s.R = rnd(N * C, 1, 124);
    for (int j = 0; j < C; j++) s.g[j] += 1.0f;
    for (int i = 0; i < N * C; i++) s.x[i] += (float)(i / C) - 2.0f; /* rows with non-zero means */
    s.dx = zeros(N * C), s.dg = zeros(C), s.db = zeros(C), s.mean = zeros(N), s.rstd = zeros(N), s.out = zeros(N * C);
    Tensor t[] = {{"x", s.x, s.dx, N * C}, {"g", s.g, s.dg, C}, {"b", s.b, s.db, C}};
    check("layernorm", t, 3, ln_loss, ln_grad, &s);
    check_null_inputs("layernorm", t, 1, 3, ln_grad, &s, &s.nullin);
    double ref[48];
    for (int n = 0; n < N; n++) {
      double m = 0, v = 0;
      for (int j = 0; j < C; j++) m += s.x[n * C + j] / (double)C;
      for (int j = 0; j < C; j++) v += (s.x[n * C + j] - m) * (s.x[n * C + j] - m) / C;
      for (int j = 0; j < C; j++) ref[n * C + j] = (s.x[n * C + j] - m) / sqrt(v + 1e-5) * s.g[j] + s.b[j];
    }
    ln_loss(&s);
    compare("layernorm forward", s.out, ref, N * C, 1e-5);
  }
  {
    GeluCtx s = {.n = 40};
    s.x = rnd(40, 2, 131), s.R = rnd(40, 1, 132), s.dx = zeros(40), s.out = zeros(40);
    Tensor t[] = {{"x", s.x, s.dx, 40}};
    check("gelu", t, 1, gelu_loss, gelu_grad, &s);
    double ref[40]; /* the tanh form differs from the erf form by up to 5e-4 */
    for (int i = 0; i < 40; i++) {
      double x = s.x[i];
      ref[i]   = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    }
    gelu_loss(&s);
    compare("gelu forward", s.out, ref, 40, 1e-6);
  }
  run_mhsa(NULL, 5, 4, "mhsa"); /* a window as long as the sequence: plain causal attention */
  run_mhsa(NULL, 7, 2, "mhsa+window");
  run_mhsa(age7, 7, 2, "mhsa+age");
  run_mhsa(age7, 7, 4, "mhsa+age+w4");
  run_conv(NULL, "conv");
  run_conv(age9, "conv+age");
  {
    enum { T = 31, B = 2, D = 6 };
    float  x[T * B * D], out[T * B * D];
    double ref[T * B * D];
    for (int i = 0; i < T * B * D; i++) x[i] = (float)(0.01 * i);
    for (int t = 0; t < T; t++)
      for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) {
          double freq              = exp(-(j / 2 * 2) * log(10000.0) / D); /* PyTorch's div_term */
          ref[(t * B + b) * D + j] = x[(t * B + b) * D + j] + (j % 2 ? cos(t * freq) : sin(t * freq));
        }
    posenc_forward(out, x, T, B, D);
    compare("posenc forward", out, ref, T * B * D, 1e-6);
    posenc_forward(x, x, T, B, D);
    compare("posenc forward in place", x, ref, T * B * D, 1e-6);
  }
  free(age6), free(age7), free(age9);
  printf("test_seq_layers_grad: %s\n", nfail ? "FAILED" : "ok");
  return nfail ? 1 : 0;
}
