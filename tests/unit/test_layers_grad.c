/* Finite-difference checks of every layer's backward pass, over every element
 * of every parameter and input. The loss is sum(out * R) for a fixed random R
 * (so dout = R); central differences in float with eps = 1e-2. A gradient is
 * wrong when its tensor's error norm exceeds 1e-2 of its norm (or of 1e-2 for
 * a zero gradient), or one element is off by more than 1e-2 relative plus
 * 2e-3 absolute. A deliberately wrong backward (a sign, a missing term) fails
 * by orders of magnitude. The GRU is also checked with restarts (ages) and its
 * forward pass against a naive double-precision reference. */
#include <raci/core.h>
#include <raci/model.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdcheck.h"

/* ------------------------------------------------------------------ linear */
typedef struct {
  int    B, IN, O;
  float *x, *W, *b, *dx, *dW, *db, *R, *out;
} LinCtx;
static double lin_loss(void *c)
{
  LinCtx *s = c;
  linear_forward(s->out, s->x, s->W, s->b, s->B, s->IN, s->O);
  return dot(s->out, s->R, s->B * s->O);
}
static void lin_grad(void *c)
{
  LinCtx *s = c;
  lin_loss(s);
  linear_backward(s->dx, s->dW, s->db, s->R, s->x, s->W, s->B, s->IN, s->O);
}

/* ------------------------------------------------------------- activations */
typedef struct {
  int    n, kind;
  float *x, *dx, *R, *out;
} ActCtx;
static double act_loss(void *c)
{
  ActCtx *s = c;
  if (s->kind == 0)
    tanh_forward(s->out, s->x, (size_t)s->n);
  else if (s->kind == 1)
    sigmoid_forward(s->out, s->x, (size_t)s->n);
  else
    softplus_forward(s->out, s->x, (size_t)s->n);
  return dot(s->out, s->R, s->n);
}
static void act_grad(void *c)
{
  ActCtx *s = c;
  act_loss(s);
  if (s->kind == 0)
    tanh_backward(s->dx, s->R, s->out, (size_t)s->n);
  else if (s->kind == 1)
    sigmoid_backward(s->dx, s->R, s->out, (size_t)s->n);
  else
    softplus_backward(s->dx, s->R, s->x, (size_t)s->n);
}

/* --------------------------------------------------------------------- GRU */
typedef struct {
  int            T, B, IN, H;
  const int32_t *age;
  float         *x, *Wih, *Whh, *bih, *bhh, *dx, *dWih, *dWhh, *dbih, *dbhh, *rowb, *drowb;
  float         *hs, *gates, *ghn, *work, *R, *dhs;
} GruCtx;
static double gru_loss(void *c)
{
  GruCtx *s = c;
  gru_forward(s->hs, s->gates, s->ghn, s->x, s->Wih, s->Whh, s->bih, s->bhh, s->rowb, s->age, s->work, s->T, s->B,
              s->IN, s->H);
  return dot(s->hs + s->B * s->H, s->R + s->B * s->H, s->T * s->B * s->H); // every hidden state
}
static void gru_grad(void *c)
{
  GruCtx *s = c;
  gru_loss(s);
  memcpy(s->dhs, s->R, sizeof(float) * (size_t)(s->T + 1) * s->B * s->H);
  memset(s->dhs, 0, sizeof(float) * (size_t)s->B * s->H);
  gru_backward(s->dx, s->dWih, s->dWhh, s->dbih, s->dbhh, s->drowb, s->dhs, s->hs, s->gates, s->ghn, s->x, s->Wih,
               s->Whh, s->age, s->work, s->T, s->B, s->IN, s->H);
}
static double sigd(double x) { return 1.0 / (1.0 + exp(-x)); }
/* The states after each day (T+1, B, H) of PyTorch's GRU (gates r, z, n), in
 * double, the state entering day t being 0 where age[t] <= 0 (t > 0). */
static void gru_ref(double *hs, const GruCtx *s)
{
  int     T = s->T, B = s->B, IN = s->IN, H = s->H;
  double *h = malloc(sizeof(double) * (size_t)H);
  memset(hs, 0, sizeof(double) * (size_t)B * H);
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) {
      int restart = s->age && t > 0 && s->age[t * B + b] <= 0;
      for (int j = 0; j < H; j++) h[j] = restart ? 0.0 : hs[(t * B + b) * H + j];
      for (int j = 0; j < H; j++) {
        double gi[3], gh[3];
        for (int q = 0; q < 3; q++) {
          int row = q * H + j;
          gi[q] = s->bih[row] + (s->rowb ? s->rowb[b * 3 * H + row] : 0.0), gh[q] = s->bhh[row];
          for (int m = 0; m < IN; m++) gi[q] += (double)s->Wih[row * IN + m] * s->x[(t * B + b) * IN + m];
          for (int m = 0; m < H; m++) gh[q] += (double)s->Whh[row * H + m] * h[m];
        }
        double r = sigd(gi[0] + gh[0]), z = sigd(gi[1] + gh[1]), n = tanh(gi[2] + r * gh[2]);
        hs[((t + 1) * B + b) * H + j] = (1 - z) * n + z * h[j];
      }
    }
  free(h);
}

/* --------------------------------------------------------------- attention */
typedef struct {
  int            B, K, Dq, Dk, A;
  float         *qi, *kv, *Wq, *bq, *Wk, *bk, *Wv, *bv;
  float         *dqi, *dkv, *dWq, *dbq, *dWk, *dbk, *dWv, *dbv;
  float         *q, *k, *v, *p, *out, *R, *work;
  unsigned char *mask;
} AttnCtx;
static double attn_loss(void *c)
{
  AttnCtx *s = c;
  attn_forward(s->out, s->q, s->k, s->v, s->p, s->qi, s->kv, s->mask, s->Wq, s->bq, s->Wk, s->bk, s->Wv, s->bv, s->B,
               s->K, s->Dq, s->Dk, s->A);
  return dot(s->out, s->R, s->B * s->A);
}
static void attn_grad(void *c)
{
  AttnCtx *s = c;
  attn_loss(s);
  attn_backward(s->dqi, s->dkv, s->dWq, s->dbq, s->dWk, s->dbk, s->dWv, s->dbv, s->R, s->q, s->k, s->v, s->p, s->qi,
                s->kv, s->Wq, s->Wk, s->Wv, s->work, s->B, s->K, s->Dq, s->Dk, s->A);
}

/* -------------------------------------------------------------------- FiLM */
typedef struct {
  int    B, U, H;
  float *h, *u, *Wf, *bf, *dh, *du, *dWf, *dbf, *gb, *out, *R, *work;
} FilmCtx;
static double film_loss(void *c)
{
  FilmCtx *s = c;
  film_forward(s->out, s->gb, s->h, s->u, s->Wf, s->bf, s->B, s->U, s->H);
  return dot(s->out, s->R, s->B * s->H);
}
static void film_grad(void *c)
{
  FilmCtx *s = c;
  film_loss(s);
  film_backward(s->dh, s->du, s->dWf, s->dbf, s->R, s->h, s->u, s->gb, s->Wf, s->work, s->B, s->U, s->H);
}

/* --------------------------------------------------------------------- MSE */
typedef struct {
  int    B, T;
  float *pred, *dpred, *y, *w, *scale;
} MseCtx;
static double mse_loss(void *c)
{
  MseCtx *s = c;
  double  n, sum = mse_forward(s->pred, s->y, s->w, s->scale, s->B, s->T, &n);
  return sum / n;
}
static void mse_grad(void *c)
{
  MseCtx *s = c;
  double  n;
  mse_forward(s->pred, s->y, s->w, s->scale, s->B, s->T, &n);
  mse_backward(s->dpred, s->pred, s->y, s->w, s->scale, n, s->B, s->T);
}

int main(void)
{
  {
    LinCtx s = {.B = 4, .IN = 5, .O = 3};
    s.x = rnd(20, 1, 1), s.W = rnd(15, 0.5f, 2), s.b = rnd(3, 0.5f, 3), s.R = rnd(12, 1, 4);
    s.dx = zeros(20), s.dW = zeros(15), s.db = zeros(3), s.out = zeros(12);
    Tensor t[] = {{"x", s.x, s.dx, 20}, {"W", s.W, s.dW, 15}, {"b", s.b, s.db, 3}};
    check("linear", t, 3, lin_loss, lin_grad, &s);
  }
  for (int kind = 0; kind < 3; kind++) {
    static const char *names[] = {"tanh", "sigmoid", "softplus"};
    ActCtx             s       = {.n = 40, .kind = kind};
    s.x = rnd(40, 2, 5), s.R = rnd(40, 1, 6), s.dx = zeros(40), s.out = zeros(40);
    s.x[0]     = 25.0f; /* softplus above its threshold */
    Tensor t[] = {{"x", s.x, s.dx, 40}};
    check(names[kind], t, 1, act_loss, act_grad, &s);
  }
  /* GRU without ages, then with restarts (and a per-row term added to the
   * input projection, as the static features of RACI's -raci_fast_static): row 1 misses day 2 (age -1) and
   * restarts on day 3, row 2 restarts on day 3 without a missing day and misses
   * its last day. The forward pass is compared with gru_ref on every day's
   * state: the day before a missing day keeps its own state (the restart is
   * of the state entering the next step, docs/MODEL.md section 2). */
  for (int with_age = 0; with_age < 2; with_age++) {
    int32_t age[6 * 3];
    GruCtx  s  = {.T = 6, .B = 3, .IN = 5, .H = 6, .age = with_age ? age : NULL};
    int     nt = with_age ? 6 : 5;
    int     T = s.T, B = s.B, IN = s.IN, H = s.H;
    for (int t = 0; t < T; t++) {
      age[t * B + 0] = t;
      age[t * B + 1] = t < 2 ? t : t == 2 ? -1 : t - 3;
      age[t * B + 2] = t == T - 1 ? -1 : t < 3 ? t : t - 3;
    }
    s.x = rnd(T * B * IN, 1, 7), s.Wih = rnd(3 * H * IN, 0.4f, 8), s.Whh = rnd(3 * H * H, 0.4f, 9),
    s.bih = rnd(3 * H, 0.3f, 10), s.bhh = rnd(3 * H, 0.3f, 11);
    s.dx = zeros(T * B * IN), s.dWih = zeros(3 * H * IN), s.dWhh = zeros(3 * H * H), s.dbih = zeros(3 * H),
    s.dbhh = zeros(3 * H);
    s.rowb = with_age ? rnd(B * 3 * H, 0.3f, 19) : NULL, s.drowb = with_age ? zeros(B * 3 * H) : NULL;
    s.hs = zeros((T + 1) * B * H), s.gates = zeros(T * B * 3 * H), s.ghn = zeros(T * B * H),
    s.work = zeros(2 * T * B * 3 * H);
    s.R = rnd((T + 1) * B * H, 1, 12), s.dhs = zeros((T + 1) * B * H);
    Tensor      t[]  = {{"x", s.x, s.dx, T * B * IN},      {"Wih", s.Wih, s.dWih, 3 * H * IN},
                        {"Whh", s.Whh, s.dWhh, 3 * H * H}, {"bih", s.bih, s.dbih, 3 * H},
                        {"bhh", s.bhh, s.dbhh, 3 * H},     {"rowb", s.rowb, s.drowb, B * 3 * H}};
    const char *name = with_age ? "gru+age" : "gru";
    check(name, t, nt, gru_loss, gru_grad, &s);
    double *ref = malloc(sizeof(double) * (size_t)(T + 1) * B * H), worst = 0;
    int     at = -1;
    gru_ref(ref, &s);
    gru_loss(&s);
    for (int i = B * H; i < (T + 1) * B * H; i++) {
      double e = fabs(s.hs[i] - ref[i]) / (1.0 + fabs(ref[i]));
      if (e > worst) worst = e, at = i;
    }
    if (!(worst <= 1e-5)) {
      nfail++;
      printf("FAIL %-10s forward: the state after day %d of row %d is off by %.2e\n", name, at / (B * H) - 1,
             at / H % B, worst);
    } else
      printf("ok   %-10s forward: every day's state within %.2e of the reference\n", name, worst);
    free(ref);
  }
  {
    AttnCtx       s = {.B = 3, .K = 4, .Dq = 5, .Dk = 6, .A = 4};
    int           B = s.B, K = s.K, Dq = s.Dq, Dk = s.Dk, A = s.A;
    unsigned char mask[12] = {1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1}; /* query 1 has no valid candidate */
    s.mask                 = mask;
    s.qi = rnd(B * Dq, 1, 13), s.kv = rnd(B * K * Dk, 1, 14);
    s.Wq = rnd(A * Dq, 0.5f, 15), s.bq = rnd(A, 0.3f, 16), s.Wk = rnd(A * Dk, 0.5f, 17), s.bk = rnd(A, 0.3f, 18),
    s.Wv = rnd(A * Dk, 0.5f, 19), s.bv = rnd(A, 0.3f, 20);
    s.dqi = zeros(B * Dq), s.dkv = zeros(B * K * Dk), s.dWq = zeros(A * Dq), s.dbq = zeros(A), s.dWk = zeros(A * Dk),
    s.dbk = zeros(A), s.dWv = zeros(A * Dk), s.dbv = zeros(A);
    s.q = zeros(B * A), s.k = zeros(B * K * A), s.v = zeros(B * K * A), s.p = zeros(B * K), s.out = zeros(B * A),
    s.R = rnd(B * A, 1, 21), s.work = zeros(B * A + 2 * B * K * A);
    Tensor t[] = {{"q_in", s.qi, s.dqi, B * Dq}, {"kv_in", s.kv, s.dkv, B * K * Dk},
                  {"Wq", s.Wq, s.dWq, A * Dq},   {"bq", s.bq, s.dbq, A},
                  {"Wk", s.Wk, s.dWk, A * Dk},   {"bk", s.bk, s.dbk, A},
                  {"Wv", s.Wv, s.dWv, A * Dk},   {"bv", s.bv, s.dbv, A}};
    check("attention", t, 8, attn_loss, attn_grad, &s);
  }
  {
    FilmCtx s = {.B = 3, .U = 5, .H = 4};
    int     B = s.B, U = s.U, H = s.H;
    s.h = rnd(B * H, 1, 22), s.u = rnd(B * U, 1, 23), s.Wf = rnd(2 * H * U, 0.5f, 24), s.bf = rnd(2 * H, 0.3f, 25);
    s.dh = zeros(B * H), s.du = zeros(B * U), s.dWf = zeros(2 * H * U), s.dbf = zeros(2 * H), s.gb = zeros(B * 2 * H),
    s.out = zeros(B * H), s.R = rnd(B * H, 1, 26), s.work = zeros(B * 2 * H);
    Tensor t[] = {
        {"h", s.h, s.dh, B * H}, {"u", s.u, s.du, B * U}, {"Wf", s.Wf, s.dWf, 2 * H * U}, {"bf", s.bf, s.dbf, 2 * H}};
    check("film", t, 4, film_loss, film_grad, &s);
  }
  {
    MseCtx s    = {.B = 5, .T = 3};
    float  w[3] = {1.0f, 0.5f, 2.0f}, scale[3] = {1.0f, 3.0f, 0.5f};
    s.pred = rnd(15, 1, 27), s.y = rnd(15, 1, 28), s.dpred = zeros(15), s.w = w, s.scale = scale;
    s.y[2] = s.y[7] = NAN; /* unobserved targets carry no loss */
    Tensor t[]      = {{"pred", s.pred, s.dpred, 15}};
    check("mse", t, 1, mse_loss, mse_grad, &s);
    if (s.dpred[2] != 0 || s.dpred[7] != 0) {
      printf("FAIL mse: gradient at a missing target\n");
      nfail++;
    }
  }
  printf("test_layers_grad: %s\n", nfail ? "FAILED" : "ok");
  return nfail ? 1 : 0;
}
