/* Finite-difference check of whole networks: RACI, its three ablations and the
 * baselines (segment form), over every parameter and every element of the
 * inputs xf, xb and s, on a small random batch of segments with a missing day
 * and a restart, scored days inside a warm-up, missing targets, two block
 * slots, an empty slow block, a query without neighbours and a partly empty
 * bank selection. Also causality (no output depends on a later day) and that
 * a restart forgets the days before it. Also: NEE is
 * exactly RECO - GPP, GPP and RECO are non-negative, and tensors an ablation
 * does not use get no gradient. A tensor fails when its error norm exceeds
 * 2e-2 of its gradient norm (floor 1e-2) or an element is off by more than
 * 2e-2 relative plus 2e-3 absolute. */
#include <raci/core.h>
#include <raci/model.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nfail = 0;

typedef struct {
  Model     *m;
  float     *params, *grads, *xf, *xb, *s, *dxf, *dxb, *ds, *yhat;
  ModelBatch b;
} Ctx;

static double loss(Ctx *c)
{
  double n, sum = model_forward(c->m, c->params, &c->b, c->yhat, &n);
  return sum / n;
}

static void fd(const char *model, const char *what, float *x, const float *ana, size_t n, Ctx *c)
{
  /* fourth-order central differences: eps = 1e-2 keeps float rounding small
   * while the truncation error (eps^4) stays below it, layer norms included */
  const float eps   = 1e-2f;
  double      diff2 = 0, norm2 = 0;
  int         bad = 0;
  for (size_t i = 0; i < n; i++) {
    float       save = x[i];
    double      l[4], num, err;
    const float step[4] = {2 * eps, eps, -eps, -2 * eps};
    for (int k = 0; k < 4; k++) {
      x[i] = save + step[k];
      l[k] = loss(c);
    }
    x[i] = save;
    num  = (-l[0] + 8 * l[1] - 8 * l[2] + l[3]) / (12.0 * eps);
    err  = fabs(num - ana[i]);
    diff2 += err * err;
    norm2 += fmax(num * num, (double)ana[i] * ana[i]);
    if (err > 2e-2 * fmax(fabs(num), fabs(ana[i])) + 2e-3) bad++;
  }
  double rel = sqrt(diff2) / fmax(sqrt(norm2), 1e-2);
  if (bad || rel > 2e-2) {
    nfail++;
    printf("FAIL %-18s d%-12s relative error %.2e, %d of %zu off\n", model, what, rel, bad, n);
  } else
    printf("ok   %-18s d%-12s relative error %.2e over %zu\n", model, what, rel, n);
}

static void run(const char *name, ModelConfig cfg)
{
  enum { B = 3, R = 5, M = 6, NB = 2 };
  const int T = cfg.W + cfg.Sc, Sc = cfg.Sc, Nz = B * NB;
  Ctx       c = {0};
  int32_t   nb[B * 3], bidx[Nz * 3], *age, blk[B * 8];
  uint8_t   eb[Nz * 3];
  float    *bank_key, *bank_val, *y;
  int       V       = cfg.Z + 2 * cfg.T;
  int64_t   lkey[B] = {1, 2, 3};
  double    n;

  if (model_create(&cfg, B, R, &c.m)) {
    printf("FAIL %s: model_create\n", name);
    nfail++;
    return;
  }
  size_t np = model_nparams(c.m);
  c.params = malloc(sizeof(float) * np), c.grads = calloc(np, sizeof(float));
  model_init_params(c.m, c.params, 11);
  for (size_t i = 0; i < np; i++)
    c.params[i] += 0.05f * (float)core_rng_normal(5, i, 0, 0); /* layer-norm gains off 1, empty vector off 0 */
  c.xf = malloc(sizeof(float) * T * R * cfg.F), c.dxf = calloc((size_t)T * R * cfg.F, sizeof(float));
  c.xb = malloc(sizeof(float) * cfg.P * Nz * cfg.F), c.dxb = calloc((size_t)cfg.P * Nz * cfg.F, sizeof(float));
  c.s = malloc(sizeof(float) * R * cfg.S), c.ds = calloc((size_t)R * cfg.S, sizeof(float));
  y = malloc(sizeof(float) * Sc * B * cfg.T), c.yhat = malloc(sizeof(float) * Sc * B * cfg.T);
  age      = malloc(sizeof(int32_t) * T * R);
  bank_key = malloc(sizeof(float) * M * cfg.Z), bank_val = malloc(sizeof(float) * M * V);
  for (int i = 0; i < T * R * cfg.F; i++) c.xf[i] = (float)core_rng_normal(1, i, 0, 0);
  for (int i = 0; i < cfg.P * Nz * cfg.F; i++) c.xb[i] = (float)core_rng_normal(2, i, 0, 0);
  for (int i = 0; i < R * cfg.S; i++) c.s[i] = (float)core_rng_normal(3, i, 0, 0);
  /* ages: rows start at day 0; row 1 misses day 2 and restarts on day 3, so its first scored
   * days lie inside the new warm-up; row 4 (a neighbour) misses the last day */
  for (int t = 0; t < T; t++)
    for (int r = 0; r < R; r++) age[t * R + r] = t;
  for (int t = 2; t < T; t++) age[t * R + 1] = t == 2 ? -1 : t - 3;
  age[(T - 1) * R + 4] = -1;
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++)
      if (age[t * R + r] < 0)
        for (int k = 0; k < cfg.F; k++) c.xf[(t * R + r) * cfg.F + k] = 0;
  for (int i = 0; i < Sc * B * cfg.T; i++)
    y[i] = cfg.mu[i % cfg.T] + cfg.sigma[i % cfg.T] * (float)core_rng_normal(4, i, 0, 0);
  y[1] = y[cfg.T + 2] = NAN; /* unobserved targets */
  for (int t = 0; t < Sc; t++)
    if (age[(cfg.W + t) * R + 1] < cfg.W)
      for (int k = 0; k < cfg.T; k++) y[(t * B + 1) * cfg.T + k] = NAN; /* not scored inside a warm-up */
  for (int q = 0; q < B; q++)
    for (int t = 0; t < Sc; t++) blk[q * Sc + t] = (t + q) * NB / (Sc + B) < NB ? (t + q) * NB / (Sc + B) : NB - 1;
  for (int i = 0; i < M * cfg.Z; i++) bank_key[i] = (float)core_rng_normal(6, i, 0, 0);
  for (int i = 0; i < M * V; i++) bank_val[i] = (float)core_rng_normal(7, i, 0, 0);
  for (int q = 0; q < B; q++)
    for (int k = 0; k < 3; k++) nb[q * 3 + k] = q == 2 ? -1 : (int32_t)((q + k + 1) % R); /* query 2: none */
  for (int q = 0; q < Nz; q++)
    for (int k = 0; k < 3; k++) {
      bidx[q * 3 + k] = (q == 1 && k == 2) ? -1 : (int32_t)((q * 2 + k) % M);
      eb[q * 3 + k]   = (q == 0 && k == 0); /* one empty block */
    }
  for (int q = 0; q < Nz; q++)
    if (eb[q * 3]) memset(c.xb + q * cfg.F, 0, sizeof(float) * cfg.F);
  c.b = (ModelBatch){.B        = B,
                     .R        = R,
                     .T        = T,
                     .NB       = NB,
                     .xf       = c.xf,
                     .age      = age,
                     .xb       = c.xb,
                     .eb       = eb,
                     .blk      = blk,
                     .s        = c.s,
                     .y        = y,
                     .nb       = nb,
                     .bank_key = bank_key,
                     .bank_val = bank_val,
                     .bank_idx = bidx,
                     .lkey     = lkey,
                     .M        = M};

  model_forward(c.m, c.params, &c.b, c.yhat, &n);
  model_backward(c.m, c.params, c.grads, &c.b, n, c.dxf, c.dxb, c.ds);
  for (int t = 0; t < model_ntensors(c.m); t++) {
    const ModelTensor *mt = model_tensor(c.m, t);
    fd(name, mt->name, c.params + mt->offset, c.grads + mt->offset, (size_t)mt->rows * mt->cols, &c);
  }
  fd(name, "xf", c.xf, c.dxf, (size_t)T * R * cfg.F, &c);
  if (cfg.kind == MODEL_RACI && !cfg.no_slow) {
    /* empty blocks take the learned vector: their inputs have no gradient */
    fd(name, "xb", c.xb, c.dxb, (size_t)cfg.P * Nz * cfg.F, &c);
  }
  fd(name, "s", c.s, c.ds, (size_t)R * cfg.S, &c);

  /* process-informed outputs */
  model_forward(c.m, c.params, &c.b, c.yhat, &n);
  for (int q = 0; q < Sc * B; q++) {
    const float *yq = c.yhat + q * cfg.T;
    if (yq[0] < 0 || yq[1] < 0 || yq[2] != yq[1] - yq[0]) {
      printf("FAIL %s: output row %d GPP %g RECO %g NEE %g\n", name, q, yq[0], yq[1], yq[2]);
      nfail++;
    }
  }
  /* causality: changing the drivers of the last day changes no earlier output */
  {
    float *y0 = malloc(sizeof(float) * Sc * B * cfg.T);
    memcpy(y0, c.yhat, sizeof(float) * Sc * B * cfg.T);
    for (int r = 0; r < R; r++)
      for (int k = 0; k < cfg.F; k++) c.xf[((T - 1) * R + r) * cfg.F + k] += 1.0f;
    model_forward(c.m, c.params, &c.b, c.yhat, &n);
    for (int i = 0; i < (Sc - 1) * B * cfg.T; i++)
      if (c.yhat[i] != y0[i]) {
        printf("FAIL %s: output %d of an earlier day depends on the last day's drivers\n", name, i);
        nfail++;
        break;
      }
    for (int r = 0; r < R; r++)
      for (int k = 0; k < cfg.F; k++) c.xf[((T - 1) * R + r) * cfg.F + k] -= 1.0f;
    free(y0);
  }
  /* a restart forgets: row 1's outputs after its restart do not depend on its days before the gap */
  {
    float *y0 = malloc(sizeof(float) * Sc * B * cfg.T);
    model_forward(c.m, c.params, &c.b, y0, &n);
    for (int k = 0; k < cfg.F; k++) c.xf[(0 * R + 1) * cfg.F + k] += 1.0f;
    model_forward(c.m, c.params, &c.b, c.yhat, &n);
    for (int t = 0; t < Sc; t++)
      for (int k = 0; k < cfg.T; k++)
        if (c.yhat[(t * B + 1) * cfg.T + k] != y0[(t * B + 1) * cfg.T + k]) {
          printf("FAIL %s: row 1 day %d remembers a day before its restart\n", name, cfg.W + t);
          nfail++;
          t = Sc;
          break;
        }
    for (int k = 0; k < cfg.F; k++) c.xf[(0 * R + 1) * cfg.F + k] -= 1.0f;
    free(y0);
  }
  /* unused tensors of an ablation get exactly zero gradient */
  for (int t = 0; t < model_ntensors(c.m); t++) {
    const ModelTensor *mt     = model_tensor(c.m, t);
    int                unused = (cfg.no_retrieval && (!strncmp(mt->name, "rs.", 3) || !strncmp(mt->name, "rf.", 3))) ||
                 (cfg.no_slow && (!strncmp(mt->name, "slow.", 5) || !strncmp(mt->name, "z.", 2) ||
                                  !strncmp(mt->name, "rs.", 3) || !strcmp(mt->name, "film.W"))) ||
                 (cfg.no_film && !strncmp(mt->name, "film.", 5));
    if (!unused) continue;
    for (int i = 0; i < mt->rows * mt->cols; i++)
      if (c.grads[mt->offset + i] != 0) {
        printf("FAIL %s: unused %s has gradient\n", name, mt->name);
        nfail++;
        break;
      }
  }
  /* role shares: model_role_outputs against full forwards with a role's
   * inputs at 0, with the given bank selection and with the model's own
   * search (query 1's location is in the bank) */
  if (cfg.kind == MODEL_RACI) {
    size_t  ny = (size_t)Sc * B * cfg.T, nxf = (size_t)T * R * cfg.F, nxb = (size_t)cfg.P * Nz * cfg.F;
    float  *ys = malloc(sizeof(float) * ny), *yf = malloc(sizeof(float) * ny), *yr = malloc(sizeof(float) * ny);
    float  *zf = calloc(nxf, sizeof(float)), *zb = calloc(nxb, sizeof(float)), *zs = calloc((size_t)R * cfg.S, 4);
    uint8_t eb0[Nz * 3];
    int64_t bank_lkey[M] = {7, 2, 9, 8, 6, 5};
    char    sel[Sc * B];
    for (int i = 0; i < Sc * B; i++) sel[i] = i % 3 != 1;
    memset(eb0, 0, sizeof eb0);
    c.b.bank_lkey = bank_lkey;
    for (int search = 0; search < 2; search++) {
      ModelBatch ob       = c.b;
      double     worst[2] = {0, 0};
      if (search) c.b.bank_idx = ob.bank_idx = NULL;
      model_forward(c.m, c.params, &c.b, c.yhat, &n);
      if (model_role_outputs(c.m, c.params, &c.b, sel, ys, yf)) {
        int documented = cfg.fast_static || cfg.head_x; /* model.h: no shortcut for these */
        nfail += !documented;
        printf("%s %-18s role outputs: %s\n", documented ? "ok  " : "FAIL", name,
               documented ? "none (fast encoder reads statics, or head reads drivers), as documented" : "missing");
        break;
      }
      for (int role = 0; role < 2; role++) {
        ob = c.b;
        if (role == 0)
          ob.xb = zb, ob.eb = eb0, ob.s = zs;
        else
          ob.xf = zf;
        model_forward(c.m, c.params, &ob, yr, &n);
        for (size_t i = 0; i < ny; i++) {
          const float *yo = role ? yf : ys;
          double       e  = fabs((double)yo[i] - yr[i]) / (1e-3 + fabs(yr[i]));
          if (!sel[i / cfg.T]) continue;
          worst[role] = fmax(worst[role], e);
        }
      }
      int bad = !(worst[0] < 1e-5 && worst[1] < 1e-5);
      nfail += bad;
      printf("%s %-18s role outputs (%s) against occluded forwards: slow %.1e, fast %.1e\n", bad ? "FAIL" : "ok  ",
             name, search ? "bank search" : "bank selection given", worst[0], worst[1]);
    }
    c.b.bank_idx = bidx;
    free(ys), free(yf), free(yr), free(zf), free(zb), free(zs);
  }
  model_destroy(&c.m);
  free(c.params), free(c.grads), free(c.xf), free(c.dxf), free(c.xb), free(c.dxb), free(c.s), free(c.ds), free(y),
      free(c.yhat), free(bank_key), free(bank_val), free(age);
}

int main(int argc, char **argv)
{
  ModelConfig base     = {.kind = MODEL_RACI,
                          .F    = 3,
                          .S    = 4,
                          .T    = 4,
                          .W    = 3,
                          .Sc   = 4,
                          .P    = 3,
                          .Lb   = 2,
                          .Kt   = 2,
                          .Lt   = 2,
                          .Hf   = 8,
                          .Hs   = 6,
                          .Hz   = 6,
                          .Z    = 4,
                          .A    = 5,
                          .Ks   = 3,
                          .Kf   = 3,
                          .Ho   = 7,
                          .D    = 8,
                          .NH   = 2,
                          .FF   = 16};
  const char *names[4] = {"GPP", "RECO", "NEE", "FCH4"};
  float       mu[4] = {3, 2.5f, -0.5f, 10}, sigma[4] = {2, 1.5f, 1.8f, 20};
  (void)argc, (void)argv;
  for (int k = 0; k < 4; k++) {
    strcpy(base.target[k], names[k]);
    base.mu[k] = mu[k], base.sigma[k] = sigma[k], base.w[k] = 1.0f + 0.25f * k;
  }
  ModelConfig c = base;
  run("raci", c);
  c = base, c.no_retrieval = 1;
  run("raci_no_retrieval", c);
  c = base, c.no_slow = 1;
  run("raci_no_slow", c);
  c = base, c.no_film = 1;
  run("raci_no_film", c);
  c = base, c.fast_static = 1;
  run("raci_fast_static", c);
  c = base, c.fast_static = 2;
  run("raci_fast_embed", c);
  c = base, c.head_x = 1;
  run("raci_head_drivers", c);
  const char *bn[4] = {"lstm", "ealstm", "transformer", "tcn"};
  ModelKind   bk[4] = {MODEL_LSTM, MODEL_EALSTM, MODEL_TRANSFORMER, MODEL_TCN};
  for (int i = 0; i < 4; i++) {
    c = base, c.kind = bk[i];
    run(bn[i], c);
  }
  printf("test_model_grad: %s\n", nfail ? "FAILED" : "ok");
  return nfail ? 1 : 0;
}
