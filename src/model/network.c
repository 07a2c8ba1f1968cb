/* model: the networks over a batch of segments (docs/MODEL.md sections 3-6):
 * parameter layout, initialisation, RACI forward and backward, output
 * transform, loss. */
#include "network.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ layout */

void layout_tensor(TensorWalk *w, float **field, const char *name, int rows, int cols, int fan_in, TensorDecay decay,
                   TensorInit init)
{
  if (w->record) {
    Model       *m = w->m;
    ModelTensor *t = &m->tensor[m->ntensor++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows   = rows;
    t->cols   = cols;
    t->offset = w->off;
    t->decay  = decay == DECAY;
    t->fan_in = fan_in;
    t->init   = init;
  }
  if (field) *field = w->base ? w->base + w->off : NULL;
  w->off += (size_t)rows * cols;
}

static void gru_tensors(TensorWalk *w, GruParams *p, const char *pre, int IN, int H)
{
  char n[24];
  snprintf(n, sizeof n, "%s.W_ih", pre), layout_tensor(w, &p->W_ih, n, 3 * H, IN, IN, DECAY, INIT_UNIFORM);
  snprintf(n, sizeof n, "%s.W_hh", pre), layout_tensor(w, &p->W_hh, n, 3 * H, H, H, DECAY, INIT_UNIFORM);
  snprintf(n, sizeof n, "%s.b_ih", pre), layout_tensor(w, &p->b_ih, n, 3 * H, 1, H, NO_DECAY, INIT_UNIFORM);
  snprintf(n, sizeof n, "%s.b_hh", pre), layout_tensor(w, &p->b_hh, n, 3 * H, 1, H, NO_DECAY, INIT_UNIFORM);
}

static void attn_tensors(TensorWalk *w, AttnParams *p, const char *pre, int Dq, int Dk, int A)
{
  char n[24];
  snprintf(n, sizeof n, "%s.Wq", pre), layout_tensor(w, &p->Wq, n, A, Dq, Dq, DECAY, INIT_UNIFORM);
  snprintf(n, sizeof n, "%s.bq", pre), layout_tensor(w, &p->bq, n, A, 1, Dq, NO_DECAY, INIT_UNIFORM);
  snprintf(n, sizeof n, "%s.Wk", pre), layout_tensor(w, &p->Wk, n, A, Dk, Dk, DECAY, INIT_UNIFORM);
  snprintf(n, sizeof n, "%s.bk", pre), layout_tensor(w, &p->bk, n, A, 1, Dk, NO_DECAY, INIT_UNIFORM);
  snprintf(n, sizeof n, "%s.Wv", pre), layout_tensor(w, &p->Wv, n, A, Dk, Dk, DECAY, INIT_UNIFORM);
  snprintf(n, sizeof n, "%s.bv", pre), layout_tensor(w, &p->bv, n, A, 1, Dk, NO_DECAY, INIT_UNIFORM);
}

/* The head: W1 (Ho, IN), b1 (Ho), W2 (Th, Ho), b2 (Th); also the baselines' head. */
void head_tensors(TensorWalk *w, HeadParams *p, int IN, int Ho, int Th)
{
  layout_tensor(w, &p->W1, "head.W1", Ho, IN, IN, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b1, "head.b1", Ho, 1, IN, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->W2, "head.W2", Th, Ho, Ho, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b2, "head.b2", Th, 1, Ho, NO_DECAY, INIT_UNIFORM);
}

static int raci_head_in(const ModelConfig *c)
{
  return (c->no_film ? c->Hf + c->Z + 2 * c->A : c->Hf + c->A) + (c->head_x ? c->F : 0);
}

/* RACI's tensors in the order of docs/MODEL.md section 5. */
static void raci_layout(TensorWalk *w, const ModelConfig *c, int Th, RaciParams *p)
{
  int V = c->Z + 2 * c->T;

  gru_tensors(w, &p->fast, "fast", c->F, c->Hf);
  if (c->fast_static == 1) layout_tensor(w, &p->fsW, "fast.W_s", 3 * c->Hf, c->S, c->S, DECAY, INIT_UNIFORM);
  if (c->fast_static == 2) {
    layout_tensor(w, &p->feW, "fast.W_e", c->Z, c->S, c->S, DECAY, INIT_UNIFORM);
    layout_tensor(w, &p->feb, "fast.b_e", c->Z, 1, c->S, NO_DECAY, INIT_UNIFORM);
    layout_tensor(w, &p->fsW, "fast.W_s", 3 * c->Hf, c->Z, c->Z, DECAY, INIT_UNIFORM);
  }
  layout_tensor(w, &p->empty, "slow.empty", c->F, 1, 1, NO_DECAY, INIT_ZERO);
  gru_tensors(w, &p->slow, "slow", c->F, c->Hs);
  layout_tensor(w, &p->zW1, "z.W1", c->Hz, c->Hs + c->S, c->Hs + c->S, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->zb1, "z.b1", c->Hz, 1, c->Hs + c->S, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->zW2, "z.W2", c->Z, c->Hz, c->Hz, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->zb2, "z.b2", c->Z, 1, c->Hz, NO_DECAY, INIT_UNIFORM);
  attn_tensors(w, &p->rs, "rs", c->Z, V, c->A);
  attn_tensors(w, &p->rf, "rf", c->Hf, c->Hf, c->A);
  layout_tensor(w, &p->filmW, "film.W", 2 * c->Hf, c->Z + c->A, c->Z + c->A, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->filmb, "film.b", 2 * c->Hf, 1, c->Z + c->A, NO_DECAY, INIT_UNIFORM);
  head_tensors(w, &p->head, raci_head_in(c), c->Ho, Th);
}

/* Points the fields of p into base (parameters or gradients). */
static void raci_point(const Model *m, const float *base, RaciParams *p)
{
  TensorWalk w = {.m = (Model *)m, .base = (float *)base, .off = 0, .record = 0};
  raci_layout(&w, &m->cfg, m->Th, p);
}

static void layout(Model *m)
{
  TensorWalk w = {.m = m, .base = NULL, .off = 0, .record = 1};

  if (m->cfg.kind == MODEL_RACI) {
    RaciParams p;
    raci_layout(&w, &m->cfg, m->Th, &p);
  } else {
    BaselineParams p;
    baseline_layout(&w, &m->cfg, m->Th, &p);
  }
  m->nparams = w.off;
}

/* A model with its parameter layout but no buffers yet (NULL: no memory). */
static Model *model_new(const ModelConfig *cfg, int max_b, int max_r)
{
  Model *m = calloc(1, sizeof *m);

  if (!m) return NULL;
  m->cfg   = *cfg;
  m->max_b = max_b;
  m->max_r = max_r < max_b ? max_b : max_r;
  m->gpp = m->reco = -1;
  for (int k = 0; k < cfg->T; k++) {
    if (!strcmp(cfg->target[k], "GPP")) m->gpp = k;
    if (!strcmp(cfg->target[k], "RECO")) m->reco = k;
  }
  /* heads: one per target but a derived NEE */
  for (int k = 0; k < cfg->T; k++) {
    if (!strcmp(cfg->target[k], "NEE") && m->gpp >= 0 && m->reco >= 0) {
      m->out[k]     = OUT_DERIVED;
      m->head_of[k] = -1;
      continue;
    }
    m->out[k]     = (k == m->gpp || k == m->reco) ? OUT_SOFTPLUS : OUT_FREE;
    m->head_of[k] = m->Th++;
  }
  layout(m);
  return m;
}

int model_create(const ModelConfig *cfg, int max_b, int max_r, Model **out)
{
  Model *m = model_new(cfg, max_b, max_r);

  *out = NULL;
  if (!m) return 1;
  if (model_alloc(m)) {
    model_destroy(&m);
    return 1;
  }
  *out = m;
  return 0;
}

int model_size(const ModelConfig *cfg, int max_b, int max_r, double *buf_bytes, double *nparams)
{
  Model *m = model_new(cfg, max_b, max_r);

  if (!m) return 1;
  m->count_only = 1;
  (void)model_alloc(m); /* counts the buffers, allocates nothing */
  *buf_bytes = sizeof(float) * ((double)m->bufused + 16);
  *nparams   = (double)m->nparams;
  free(m);
  return 0;
}

void model_destroy(Model **pm)
{
  if (!*pm) return;
  free((*pm)->buf);
  free(*pm);
  *pm = NULL;
}

size_t             model_nparams(const Model *m) { return m->nparams; }
int                model_ntensors(const Model *m) { return m->ntensor; }
const ModelTensor *model_tensor(const Model *m, int i) { return &m->tensor[i]; }
const ModelConfig *model_config(const Model *m) { return &m->cfg; }
void               model_set_profiler(Model *m, const ModelProfiler *p) { m->prof = p ? *p : (ModelProfiler){0}; }

void model_init_params(const Model *m, float *params, uint64_t seed)
{
  for (int i = 0; i < m->ntensor; i++) {
    const ModelTensor *t     = &m->tensor[i];
    float             *p     = params + t->offset;
    size_t             n     = (size_t)t->rows * t->cols;
    double             bound = 1.0 / sqrt((double)(t->fan_in > 0 ? t->fan_in : 1));
    for (size_t j = 0; j < n; j++) {
      if (t->init == INIT_ZERO)
        p[j] = 0.0f;
      else if (t->init == INIT_ONE)
        p[j] = 1.0f;
      else
        p[j] = (float)(bound * (2.0 * core_rng_uniform(seed, (uint64_t)i, j, (uint64_t)CORE_RNG_INIT) - 1.0));
    }
  }
}

/* -------------------------------------------------------- buffers */

/* One allocation for every activation and scratch array, carved in order:
 * a first pass (buf NULL) counts, the second hands out pointers. */
float *model_carve(Model *m, size_t n)
{
  float *p = m->buf ? m->buf + m->bufused : NULL;
  m->bufused += (n + 15) & ~(size_t)15; /* keep 64-byte alignment */
  return p;
}

static void raci_alloc(Model *m)
{
  const ModelConfig *c = &m->cfg;
  size_t             T = (size_t)(c->W + c->Sc), R = (size_t)m->max_r, V = (size_t)(c->Z + 2 * c->T);
  size_t             Nz = (size_t)m->max_b * model_max_blocks(c), N = (size_t)c->Sc * m->max_b;
  size_t             Hf = (size_t)c->Hf, Hs = (size_t)c->Hs, A = (size_t)c->A, Hin = (size_t)raci_head_in(c);
  size_t             Kmax = (size_t)(c->Ks > c->Kf ? c->Ks : c->Kf), Nmax = N > Nz ? N : Nz;

  m->hs_f    = model_carve(m, (T + 1) * R * Hf);
  m->rowb    = c->fast_static ? model_carve(m, R * 3 * Hf) : NULL;
  m->drowb   = c->fast_static ? model_carve(m, R * 3 * Hf) : NULL;
  m->es      = c->fast_static == 2 ? model_carve(m, R * c->Z) : NULL;
  m->des     = c->fast_static == 2 ? model_carve(m, R * c->Z) : NULL;
  m->gates_f = model_carve(m, T * R * 3 * Hf);
  m->ghn_f   = model_carve(m, T * R * Hf);
  m->work_f  = model_carve(m, 2 * T * R * 3 * Hf);
  m->dhs_f   = model_carve(m, (T + 1) * R * Hf);
  m->xb2     = model_carve(m, c->P * Nz * c->F);
  m->hs_s    = model_carve(m, (c->P + 1) * Nz * Hs);
  m->gates_s = model_carve(m, c->P * Nz * 3 * Hs);
  m->ghn_s   = model_carve(m, c->P * Nz * Hs);
  m->work_s  = model_carve(m, 2 * c->P * Nz * 3 * Hs);
  m->dhs_s   = model_carve(m, (c->P + 1) * Nz * Hs);
  m->dxb2    = model_carve(m, c->P * Nz * c->F);
  m->mz      = model_carve(m, Nz * (Hs + c->S));
  m->z1      = model_carve(m, Nz * c->Hz);
  m->z       = model_carve(m, Nz * c->Z);
  m->kv_s    = model_carve(m, Nz * c->Ks * V);
  m->q_s     = model_carve(m, Nz * A);
  m->k_s     = model_carve(m, Nz * c->Ks * A);
  m->v_s     = model_carve(m, Nz * c->Ks * A);
  m->p_s     = model_carve(m, Nz * c->Ks);
  m->cs      = model_carve(m, Nz * A);
  m->u       = model_carve(m, Nz * (c->Z + A));
  m->gb      = model_carve(m, Nz * 2 * Hf);
  /* per scored day */
  m->hq  = model_carve(m, N * Hf);
  m->q_f = model_carve(m, N * A);
  m->k_f = model_carve(m, (size_t)c->Sc * R * A); /* keys and values once per (day, row) */
  m->v_f = model_carve(m, (size_t)c->Sc * R * A);
  m->p_f = model_carve(m, N * c->Kf);
  m->cf  = model_carve(m, N * A);
  m->hin = model_carve(m, N * Hin);
  m->o1  = model_carve(m, N * c->Ho);
  /* backward */
  m->do1    = model_carve(m, N * c->Ho);
  m->dhin   = model_carve(m, N * Hin);
  m->du     = model_carve(m, Nz * (c->Z + A));
  m->dz     = model_carve(m, Nz * c->Z);
  m->dz1    = model_carve(m, Nz * c->Hz);
  m->dmz    = model_carve(m, Nz * (Hs + c->S));
  m->dcs    = model_carve(m, Nz * A);
  m->dcf    = model_carve(m, N * A);
  m->dkv_f  = model_carve(m, 2 * (size_t)c->Sc * R * A); /* dk, dv per (day, row) */
  m->dhq    = model_carve(m, N * Hf);
  m->work_a = model_carve(m, Nmax * A + 2 * Nmax * Kmax * A + Nmax * 2 * Hf);
  m->mask_s = (uint8_t *)model_carve(m, (Nz * c->Ks + 3) / 4);
  m->mask_f = (uint8_t *)model_carve(m, (N * c->Kf + 3) / 4);
  m->bidx   = (int32_t *)model_carve(m, Nz * c->Ks);
  m->dist   = model_carve(m, Nz * c->Ks + (size_t)c->Z * MODEL_BANK_BLOCK + MODEL_BANK_BLOCK + Nz);
  /* role shares */
  size_t Kr = (size_t)c->Ks + MODEL_ROLE_SPARE, nz0 = T * c->F;
  if (nz0 < (size_t)c->P * c->F + c->S + c->P) nz0 = (size_t)c->P * c->F + c->S + c->P;
  m->rzero = model_carve(m, nz0);
  m->rk    = model_carve(m, T * A);
  m->rv    = model_carve(m, T * A);
  m->rq    = model_carve(m, T * A);
  m->rzq   = model_carve(m, Nz * c->Z);
  m->rwork = model_carve(m, Kr + (size_t)c->Z * MODEL_BANK_BLOCK + MODEL_BANK_BLOCK + 1);
  m->rks   = (int32_t *)model_carve(m, (size_t)c->Sc * R);
  m->rsel  = (int32_t *)model_carve(m, N);
  m->rlist = (int32_t *)model_carve(m, Kr);
}

int model_alloc(Model *m)
{
  for (int pass = 0; pass < 2; pass++) {
    const ModelConfig *c = &m->cfg;
    size_t             N = (size_t)c->Sc * m->max_b;
    m->bufused           = 0;
    /* outputs and their gradients, every kind */
    m->a     = model_carve(m, N * m->Th);
    m->da    = model_carve(m, N * m->Th);
    m->yhat  = model_carve(m, N * c->T);
    m->dyhat = model_carve(m, N * c->T);
    if (c->kind == MODEL_RACI)
      raci_alloc(m);
    else
      baseline_alloc(m);
    if (pass == 0) {
      if (m->count_only) return 0;
      m->buf = calloc(m->bufused + 16, sizeof(float));
      if (!m->buf) return 1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------- outputs */

static void outputs_forward(const Model *m, int N, const float *a, float *yhat)
{
  const ModelConfig *c = &m->cfg;
  for (int q = 0; q < N; q++) {
    const float *aq = a + (size_t)q * m->Th;
    float       *yq = yhat + (size_t)q * c->T;
    for (int k = 0; k < c->T; k++) {
      if (m->out[k] == OUT_FREE)
        yq[k] = c->mu[k] + c->sigma[k] * aq[m->head_of[k]];
      else if (m->out[k] == OUT_SOFTPLUS) {
        float x = aq[m->head_of[k]];
        yq[k]   = c->sigma[k] * (x > 20.0f ? x : log1pf(expf(x)));
      }
    }
    for (int k = 0; k < c->T; k++)
      if (m->out[k] == OUT_DERIVED) yq[k] = yq[m->reco] - yq[m->gpp];
  }
}

static void outputs_backward(const Model *m, int N, const float *a, const float *dyhat, float *da)
{
  const ModelConfig *c = &m->cfg;
  for (int q = 0; q < N; q++) {
    const float *aq = a + (size_t)q * m->Th, *dy = dyhat + (size_t)q * c->T;
    float       *dq = da + (size_t)q * m->Th;
    for (int k = 0; k < c->T; k++) {
      float d = dy[k];
      if (m->out[k] == OUT_DERIVED) continue;
      for (int j = 0; j < c->T; j++) /* NEE = RECO - GPP passes its gradient on */
        if (m->out[j] == OUT_DERIVED) d += (k == m->reco ? 1.0f : (k == m->gpp ? -1.0f : 0.0f)) * dy[j];
      if (m->out[k] == OUT_FREE)
        dq[m->head_of[k]] += c->sigma[k] * d;
      else {
        float x = aq[m->head_of[k]];
        dq[m->head_of[k]] += c->sigma[k] * d * (x > 20.0f ? 1.0f : 1.0f / (1.0f + expf(-x)));
      }
    }
  }
}

/* ------------------------------------------------------------- RACI */

/* Slow branch, once per (segment, block slot): blocks with the empty vector,
 * GRU over the P blocks, MLP to z (B*NB, Z). */
static void slow_forward(Model *m, const RaciParams *p, const ModelBatch *b)
{
  const ModelConfig *c  = &m->cfg;
  int                Nz = b->B * b->NB;

  for (int t = 0; t < c->P; t++)
    for (int q = 0; q < Nz; q++) {
      const float *src = b->eb[(size_t)q * c->P + t] ? p->empty : b->xb + ((size_t)t * Nz + q) * c->F;
      memcpy(m->xb2 + ((size_t)t * Nz + q) * c->F, src, sizeof(float) * c->F);
    }
  gru_forward(m->hs_s, m->gates_s, m->ghn_s, m->xb2, p->slow.W_ih, p->slow.W_hh, p->slow.b_ih, p->slow.b_hh, NULL, NULL,
              m->work_s, c->P, Nz, c->F, c->Hs);
  for (int q = 0; q < Nz; q++) {
    memcpy(m->mz + (size_t)q * (c->Hs + c->S), m->hs_s + ((size_t)c->P * Nz + q) * c->Hs, sizeof(float) * c->Hs);
    memcpy(m->mz + (size_t)q * (c->Hs + c->S) + c->Hs, b->s + (size_t)(q / b->NB) * c->S, sizeof(float) * c->S);
  }
  linear_forward(m->z1, m->mz, p->zW1, p->zb1, Nz, c->Hs + c->S, c->Hz);
  tanh_forward(m->z1, m->z1, (size_t)Nz * c->Hz);
  linear_forward(m->z, m->z1, p->zW2, p->zb2, Nz, c->Hz, c->Z);
}

static double slow_flops(const ModelConfig *c, int Nz)
{
  return 2.0 * c->P * Nz * 3 * c->Hs * (c->F + c->Hs) + 10.0 * c->P * Nz * c->Hs +
         2.0 * Nz * ((double)c->Hz * (c->Hs + c->S) + (double)c->Z * c->Hz);
}

void model_encode_z(Model *m, const float *params, const ModelBatch *b, float *z)
{
  RaciParams p;
  raci_point(m, params, &p);
  slow_forward(m, &p, b);
  memcpy(z, m->z, sizeof(float) * (size_t)b->B * b->NB * m->cfg.Z);
}

/* The Ks nearest keys to each query vector zs(q) (Q, Z), never an entry of
 * the query's own location self[q / per] (self NULL: no exclusion). Keys go
 * in blocks of MODEL_BANK_BLOCK, transposed, so the squared distances of a
 * block vectorise across keys while each one is summed in the same order
 * whatever the batch (results do not depend on batch composition, hence on
 * the rank count). Each query keeps a sorted short list; ties: first wins.
 * idx (Q, Ks), -1 where the bank has fewer entries; work: Q*Ks +
 * Z*MODEL_BANK_BLOCK + MODEL_BANK_BLOCK + Q floats. */
static void bank_nearest(const ModelBatch *b, const float *zs, int Q, int Z, int Ks, const int64_t *self, int per,
                         float *work, int32_t *bidx)
{
  float *best = work, *keyT = work + (size_t)Q * Ks, *d = keyT + (size_t)Z * MODEL_BANK_BLOCK;
  int   *n = (int *)(d + MODEL_BANK_BLOCK);

  for (int q = 0; q < Q; q++) n[q] = 0;
  for (int j0 = 0; j0 < b->M; j0 += MODEL_BANK_BLOCK) {
    int nb = b->M - j0 < MODEL_BANK_BLOCK ? b->M - j0 : MODEL_BANK_BLOCK;
    for (int j = 0; j < nb; j++)
      for (int k = 0; k < Z; k++) keyT[(size_t)k * nb + j] = b->bank_key[(size_t)(j0 + j) * Z + k];
    for (int q = 0; q < Q; q++) {
      int32_t     *idx = bidx + (size_t)q * Ks;
      float       *bq  = best + (size_t)q * Ks;
      const float *zq  = zs + (size_t)q * Z;
      for (int j = 0; j < nb; j++) d[j] = 0;
      for (int k = 0; k < Z; k++) {
        const float  zk = zq[k];
        const float *kt = keyT + (size_t)k * nb;
        for (int j = 0; j < nb; j++) {
          float e = zk - kt[j];
          d[j] += e * e;
        }
      }
      for (int j = 0; j < nb; j++) {
        if (n[q] == Ks && d[j] >= bq[Ks - 1]) continue;
        if (self && b->bank_lkey[j0 + j] == self[q / per]) continue; /* the query's own location, in any file layout */
        int pos = n[q] < Ks ? n[q]++ : Ks - 1;
        while (pos > 0 && bq[pos - 1] > d[j]) { /* insertion into the sorted short list */
          bq[pos]  = bq[pos - 1];
          idx[pos] = idx[pos - 1];
          pos--;
        }
        bq[pos]  = d[j];
        idx[pos] = j0 + j;
      }
    }
  }
  for (int q = 0; q < Q; q++)
    for (int k = n[q]; k < Ks; k++) bidx[(size_t)q * Ks + k] = -1;
}

static void bank_select(Model *m, const ModelBatch *b)
{
  bank_nearest(b, m->z, b->B * b->NB, m->cfg.Z, m->cfg.Ks, b->lkey, b->NB, m->dist, m->bidx);
}

/* Gathers the bank values of the selection m->bidx (Q, Ks) into kv_s, mask 0 where -1. */
static void bank_gather(Model *m, const ModelBatch *b, int Q)
{
  const int V = m->cfg.Z + 2 * m->cfg.T, Ks = m->cfg.Ks;
  for (int q = 0; q < Q; q++)
    for (int k = 0; k < Ks; k++) {
      int32_t j                     = m->bidx[(size_t)q * Ks + k];
      m->mask_s[(size_t)q * Ks + k] = j >= 0;
      if (j >= 0)
        memcpy(m->kv_s + ((size_t)q * Ks + k) * V, b->bank_val + (size_t)j * V, sizeof(float) * V);
      else
        memset(m->kv_s + ((size_t)q * Ks + k) * V, 0, sizeof(float) * V);
    }
}

/* State of row r on segment day t: hs_f[t + 1]. */
static inline const float *hf_at(const Model *m, const ModelBatch *b, int t, int r)
{
  return m->hs_f + ((size_t)(t + 1) * b->R + r) * m->cfg.Hf;
}

/* One query's attention over its Kf neighbours' keys kv[k] and values vv[k]
 * (A each; used where mk[k]): probabilities pn (Kf), output o (A). */
static void geo_attend(const float *qv, const float *const *kv, const float *const *vv, const uint8_t *mk, float *pn,
                       float *o, int Kf, int A, float scale)
{
  float mx = -INFINITY, sum = 0;
  for (int k = 0; k < Kf; k++) {
    if (!mk[k]) continue;
    float s = 0;
    for (int a = 0; a < A; a++) s += qv[a] * kv[k][a];
    pn[k] = s * scale;
    mx    = fmaxf(mx, pn[k]);
  }
  for (int k = 0; k < Kf; k++) sum += mk[k] ? (pn[k] = expf(pn[k] - mx)) : (pn[k] = 0);
  memset(o, 0, sizeof(float) * A);
  if (sum == 0) return;
  for (int k = 0; k < Kf; k++) {
    if (!mk[k]) continue;
    pn[k] /= sum;
    for (int a = 0; a < A; a++) o[a] += pn[k] * vv[k][a];
  }
}

/* Geographic retrieval on the scored days: keys and values are projected
 * once per (day, row) with one sgemm each over the Sc*R states (a row serves
 * several queries), the queries' projections once per (day, query). A
 * neighbour counts where nb >= 0 and its day is not missing. */
static void geo_forward(Model *m, const RaciParams *p, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  const int          B = b->B, R = b->R, Sc = c->Sc, W = c->W, A = c->A, Kf = c->Kf, N = Sc * B;
  const float        scale = 1.0f / sqrtf((float)A);
  const float       *hsc   = hf_at(m, b, W, 0); /* (Sc, R, Hf) contiguous */

  linear_forward(m->k_f, hsc, p->rf.Wk, p->rf.bk, Sc * R, c->Hf, A);
  linear_forward(m->v_f, hsc, p->rf.Wv, p->rf.bv, Sc * R, c->Hf, A);
  linear_forward(m->q_f, m->hq, p->rf.Wq, p->rf.bq, N, c->Hf, A);
  for (int t = 0; t < Sc; t++)
    for (int q = 0; q < B; q++) {
      size_t       n  = (size_t)t * B + q;
      float       *pn = m->p_f + n * Kf, *o = m->cf + n * A;
      uint8_t     *mk = m->mask_f + n * Kf;
      const float *qv = m->q_f + n * A;
      const float *kv[Kf > 0 ? Kf : 1], *vv[Kf > 0 ? Kf : 1];
      for (int k = 0; k < Kf; k++) {
        int32_t r = b->nb[(size_t)q * Kf + k];
        mk[k]     = r >= 0 && b->age[(size_t)(W + t) * R + r] >= 0;
        kv[k] = vv[k] = NULL;
        if (!mk[k]) continue;
        kv[k] = m->k_f + ((size_t)t * R + r) * A;
        vv[k] = m->v_f + ((size_t)t * R + r) * A;
      }
      geo_attend(qv, kv, vv, mk, pn, o, Kf, A, scale);
    }
}

/* Adds dhs_f of the scored days (through the key and value projections) and
 * dhq (through the query projection). */
static void geo_backward(Model *m, const RaciParams *p, RaciParams *g, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  const int          B = b->B, R = b->R, Sc = c->Sc, W = c->W, A = c->A, Kf = c->Kf, N = Sc * B;
  const float        scale = 1.0f / sqrtf((float)A);
  float             *dk = m->dkv_f, *dv = m->dkv_f + (size_t)Sc * R * A, *dq = m->work_a;
  const float       *hsc  = hf_at(m, b, W, 0);
  float             *dhsc = m->dhs_f + ((size_t)(W + 1) * R) * c->Hf;

  memset(m->dkv_f, 0, sizeof(float) * 2 * (size_t)Sc * R * A);
  memset(dq, 0, sizeof(float) * (size_t)N * A);
  for (int t = 0; t < Sc; t++)
    for (int q = 0; q < B; q++) {
      size_t         n  = (size_t)t * B + q;
      const float   *pn = m->p_f + n * Kf, *o = m->dcf + n * A, *qv = m->q_f + n * A;
      const uint8_t *mk = m->mask_f + n * Kf;
      float          dp[Kf > 0 ? Kf : 1], dot = 0;
      for (int k = 0; k < Kf; k++) {
        dp[k] = 0;
        if (!mk[k]) continue;
        size_t       rv = (size_t)t * R + b->nb[(size_t)q * Kf + k];
        const float *vv = m->v_f + rv * A;
        for (int a = 0; a < A; a++) {
          dp[k] += o[a] * vv[a];
          dv[rv * A + a] += pn[k] * o[a];
        }
        dot += pn[k] * dp[k];
      }
      for (int k = 0; k < Kf; k++) {
        if (!mk[k]) continue;
        size_t       rv = (size_t)t * R + b->nb[(size_t)q * Kf + k];
        const float *kv = m->k_f + rv * A;
        float        ds = pn[k] * (dp[k] - dot) * scale;
        for (int a = 0; a < A; a++) {
          dq[n * A + a] += ds * kv[a];
          dk[rv * A + a] += ds * qv[a];
        }
      }
    }
  linear_backward(dhsc, g->rf.Wk, g->rf.bk, dk, hsc, p->rf.Wk, Sc * R, c->Hf, A);
  linear_backward(dhsc, g->rf.Wv, g->rf.bv, dv, hsc, p->rf.Wv, Sc * R, c->Hf, A);
  linear_backward(m->dhq, g->rf.Wq, g->rf.bq, dq, m->hq, p->rf.Wq, N, c->Hf, A);
}

/* The head's input of one scored day from its state hv (Hf), its block's
 * row zq of u = [z, cs] and gb = [gamma, beta], its geographic context
 * cf (A) and, with head_x, its fast drivers x (F): [FiLM(hv), cf (, x)], or
 * [hv, u, cf (, x)] without FiLM. */
static void head_input(const Model *m, const float *hv, int zq, const float *cf, const float *x, float *hi)
{
  const ModelConfig *c  = &m->cfg;
  const int          Hf = c->Hf, A = c->A, U = c->Z + A;
  if (c->head_x) memcpy(hi + raci_head_in(c) - c->F, x, sizeof(float) * c->F);
  if (c->no_film) {
    memcpy(hi, hv, sizeof(float) * Hf);
    memcpy(hi + Hf, m->u + (size_t)zq * U, sizeof(float) * U);
    memcpy(hi + Hf + U, cf, sizeof(float) * A);
  } else {
    const float *gm = m->gb + (size_t)zq * 2 * Hf, *bt = gm + Hf;
    for (int j = 0; j < Hf; j++) hi[j] = hv[j] * (1.0f + gm[j]) + bt[j];
    memcpy(hi + Hf, cf, sizeof(float) * A);
  }
}

/* The MLP head over the first N rows of m->hin: m->o1, then m->a. */
static void head_rows(Model *m, const RaciParams *p, int N)
{
  const ModelConfig *c = &m->cfg;
  linear_forward(m->o1, m->hin, p->head.W1, p->head.b1, N, raci_head_in(c), c->Ho);
  tanh_forward(m->o1, m->o1, (size_t)N * c->Ho);
  linear_forward(m->a, m->o1, p->head.W2, p->head.b2, N, c->Ho, m->Th);
}

/* Functional retrieval of the Nz block queries zq (Nz, Z) over the bank
 * entries selected in m->bidx: cs (Nz, A). */
static void bank_context(Model *m, const RaciParams *p, const ModelBatch *b, int Nz, const float *zq)
{
  const ModelConfig *c = &m->cfg;
  const int          V = c->Z + 2 * c->T, A = c->A;
  model_phase_begin(m, MODEL_PHASE_ATTN);
  bank_gather(m, b, Nz);
  attn_forward(m->cs, m->q_s, m->k_s, m->v_s, m->p_s, zq, m->kv_s, m->mask_s, p->rs.Wq, p->rs.bq, p->rs.Wk, p->rs.bk,
               p->rs.Wv, p->rs.bv, Nz, c->Ks, c->Z, V, A);
  model_phase_end(m, MODEL_PHASE_ATTN, 2.0 * Nz * A * (c->Z + 2.0 * c->Ks * V) + 4.0 * Nz * c->Ks * A);
}

/* u = [zq, cs] per (segment, slot) and, with FiLM, gb = [gamma, beta] of each block. */
static void film_blocks(Model *m, const RaciParams *p, int Nz, const float *zq)
{
  const ModelConfig *c = &m->cfg;
  const int          U = c->Z + c->A;
  for (int q = 0; q < Nz; q++) {
    memcpy(m->u + (size_t)q * U, zq + (size_t)q * c->Z, sizeof(float) * c->Z);
    memcpy(m->u + (size_t)q * U + c->Z, m->cs + (size_t)q * c->A, sizeof(float) * c->A);
  }
  if (!c->no_film) linear_forward(m->gb, m->u, p->filmW, p->filmb, Nz, U, 2 * c->Hf);
}

static void raci_forward(Model *m, const float *params, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  const int          B = b->B, R = b->R, NB = b->NB, Nz = B * NB, Sc = c->Sc, W = c->W, T = W + Sc, N = Sc * B;
  const int          Hf = c->Hf, A = c->A, Hin = raci_head_in(c), U = c->Z + A;
  RaciParams         p;

  raci_point(m, params, &p);
  model_phase_begin(m, MODEL_PHASE_FAST);
  if (c->fast_static == 1) /* the static features' share of the gates, once per row */
    linear_forward(m->rowb, b->s, p.fsW, NULL, R, c->S, 3 * Hf);
  if (c->fast_static == 2) { /* through their embedding */
    linear_forward(m->es, b->s, p.feW, p.feb, R, c->S, c->Z);
    tanh_forward(m->es, m->es, (size_t)R * c->Z);
    linear_forward(m->rowb, m->es, p.fsW, NULL, R, c->Z, 3 * Hf);
  }
  gru_forward(m->hs_f, m->gates_f, m->ghn_f, b->xf, p.fast.W_ih, p.fast.W_hh, p.fast.b_ih, p.fast.b_hh,
              c->fast_static ? m->rowb : NULL, b->age, m->work_f, T, R, c->F, Hf);
  for (int t = 0; t < Sc; t++) /* the queries' states on the scored days, (Sc, B, Hf) */
    memcpy(m->hq + (size_t)t * B * Hf, hf_at(m, b, W + t, 0), sizeof(float) * (size_t)B * Hf);
  model_phase_end(m, MODEL_PHASE_FAST, 2.0 * T * R * 3 * Hf * (c->F + Hf) + 12.0 * T * R * Hf);

  memset(m->z, 0, sizeof(float) * (size_t)Nz * c->Z);
  memset(m->cs, 0, sizeof(float) * (size_t)Nz * A);
  memset(m->cf, 0, sizeof(float) * (size_t)N * A);
  if (!c->no_slow) {
    model_phase_begin(m, MODEL_PHASE_SLOW);
    slow_forward(m, &p, b);
    model_phase_end(m, MODEL_PHASE_SLOW, slow_flops(c, Nz));
  }
  if (!c->no_slow && !c->no_retrieval) {
    model_phase_begin(m, MODEL_PHASE_BANK);
    if (b->bank_idx)
      memcpy(m->bidx, b->bank_idx, sizeof(int32_t) * (size_t)Nz * c->Ks);
    else
      bank_select(m, b);
    model_phase_end(m, MODEL_PHASE_BANK, b->bank_idx ? 0.0 : 3.0 * Nz * (double)b->M * c->Z);
    bank_context(m, &p, b, Nz, m->z);
  }
  if (!c->no_retrieval) {
    model_phase_begin(m, MODEL_PHASE_ATTN);
    geo_forward(m, &p, b);
    model_phase_end(m, MODEL_PHASE_ATTN, 4.0 * Sc * R * A * Hf + 2.0 * N * A * Hf + 4.0 * N * c->Kf * A);
  }

  model_phase_begin(m, MODEL_PHASE_HEAD);
  film_blocks(m, &p, Nz, m->z);
  for (int t = 0; t < Sc; t++)
    for (int q = 0; q < B; q++) {
      size_t n  = (size_t)t * B + q;
      int    zq = q * NB + b->blk[(size_t)q * Sc + t];
      head_input(m, m->hq + n * Hf, zq, m->cf + n * A, b->xf + ((size_t)(W + t) * R + q) * c->F, m->hin + n * Hin);
    }
  head_rows(m, &p, N);
  model_phase_end(m, MODEL_PHASE_HEAD,
                  (c->no_film ? 0.0 : 2.0 * Nz * 2 * Hf * U + 3.0 * N * Hf) +
                      2.0 * N * ((double)Hin * c->Ho + (double)c->Ho * m->Th) + 4.0 * N * c->Ho);
}

static void raci_backward(Model *m, const float *params, float *grads, const ModelBatch *b, float *dxf, float *dxb,
                          float *ds)
{
  const ModelConfig *c = &m->cfg;
  const int          B = b->B, R = b->R, NB = b->NB, Nz = B * NB, Sc = c->Sc, W = c->W, T = W + Sc, N = Sc * B;
  const int          V = c->Z + 2 * c->T, Hf = c->Hf, A = c->A, Hin = raci_head_in(c), U = c->Z + A;
  RaciParams         p, g;
  double             fl_head, fl_attn = 0, fl_slow;

  raci_point(m, params, &p);
  raci_point(m, grads, &g);
  memset(m->dhs_f, 0, sizeof(float) * (size_t)(T + 1) * R * Hf);
  memset(m->dhq, 0, sizeof(float) * (size_t)N * Hf);
  memset(m->do1, 0, sizeof(float) * (size_t)N * c->Ho);
  memset(m->dhin, 0, sizeof(float) * (size_t)N * Hin);
  memset(m->du, 0, sizeof(float) * (size_t)Nz * U);
  memset(m->dcf, 0, sizeof(float) * (size_t)N * A);

  /* head */
  model_phase_begin(m, MODEL_PHASE_HEAD);
  linear_backward(m->do1, g.head.W2, g.head.b2, m->da, m->o1, p.head.W2, N, c->Ho, m->Th);
  for (size_t i = 0; i < (size_t)N * c->Ho; i++) m->do1[i] *= 1.0f - m->o1[i] * m->o1[i]; /* through tanh */
  linear_backward(m->dhin, g.head.W1, g.head.b1, m->do1, m->hin, p.head.W1, N, Hin, c->Ho);
  /* split the head input: hq, [z, cs] of the day's block, cf */
  float *dgb = m->work_a; /* (Nz, 2Hf) */
  if (!c->no_film) memset(dgb, 0, sizeof(float) * (size_t)Nz * 2 * Hf);
  for (int t = 0; t < Sc; t++)
    for (int q = 0; q < B; q++) {
      size_t       n  = (size_t)t * B + q;
      int          zq = q * NB + b->blk[(size_t)q * Sc + t];
      const float *d  = m->dhin + n * Hin;
      float       *dh = m->dhq + n * Hf;
      if (c->no_film) {
        for (int j = 0; j < Hf; j++) dh[j] += d[j];
        for (int j = 0; j < U; j++) m->du[(size_t)zq * U + j] += d[Hf + j];
        for (int j = 0; j < A; j++) m->dcf[n * A + j] += d[Hf + U + j];
      } else {
        const float *gm = m->gb + (size_t)zq * 2 * Hf, *hv = m->hq + n * Hf;
        float       *dg = dgb + (size_t)zq * 2 * Hf;
        for (int j = 0; j < Hf; j++) {
          dh[j] += d[j] * (1.0f + gm[j]);
          dg[j] += d[j] * hv[j];
          dg[Hf + j] += d[j];
        }
        for (int j = 0; j < A; j++) m->dcf[n * A + j] += d[Hf + j];
      }
      if (c->head_x && dxf) /* the scored day's drivers */
        for (int j = 0; j < c->F; j++) dxf[((size_t)(W + t) * R + q) * c->F + j] += d[Hin - c->F + j];
    }
  if (!c->no_film) linear_backward(m->du, g.filmW, g.filmb, dgb, m->u, p.filmW, Nz, U, 2 * Hf);
  fl_head = 2.0 * (2.0 * N * ((double)Hin * c->Ho + (double)c->Ho * m->Th)) +
            (c->no_film ? 0.0 : 4.0 * Nz * 2 * Hf * U + 4.0 * N * Hf);
  model_phase_end(m, MODEL_PHASE_HEAD, fl_head);

  memset(m->dz, 0, sizeof(float) * (size_t)Nz * c->Z);
  memset(m->dcs, 0, sizeof(float) * (size_t)Nz * A);
  for (int q = 0; q < Nz; q++) {
    for (int j = 0; j < c->Z; j++) m->dz[(size_t)q * c->Z + j] += m->du[(size_t)q * U + j];
    for (int j = 0; j < A; j++) m->dcs[(size_t)q * A + j] += m->du[(size_t)q * U + c->Z + j];
  }

  model_phase_begin(m, MODEL_PHASE_ATTN);
  if (!c->no_retrieval) { /* geographic retrieval: query and neighbour states */
    geo_backward(m, &p, &g, b);
    fl_attn += 8.0 * Sc * R * A * Hf + 4.0 * N * A * Hf + 8.0 * N * c->Kf * A;
  }
  if (!c->no_slow && !c->no_retrieval) { /* functional retrieval: the bank carries no gradient */
    attn_backward(m->dz, NULL, g.rs.Wq, g.rs.bq, g.rs.Wk, g.rs.bk, g.rs.Wv, g.rs.bv, m->dcs, m->q_s, m->k_s, m->v_s,
                  m->p_s, m->z, m->kv_s, p.rs.Wq, p.rs.Wk, p.rs.Wv, m->work_a, Nz, c->Ks, c->Z, V, A);
    fl_attn += 4.0 * Nz * A * (c->Z + 2.0 * c->Ks * V) + 8.0 * Nz * c->Ks * A;
  }
  model_phase_end(m, MODEL_PHASE_ATTN, fl_attn);

  /* slow branch */
  if (!c->no_slow) {
    model_phase_begin(m, MODEL_PHASE_SLOW);
    memset(m->dz1, 0, sizeof(float) * (size_t)Nz * c->Hz);
    linear_backward(m->dz1, g.zW2, g.zb2, m->dz, m->z1, p.zW2, Nz, c->Hz, c->Z);
    for (size_t i = 0; i < (size_t)Nz * c->Hz; i++) m->dz1[i] *= 1.0f - m->z1[i] * m->z1[i];
    memset(m->dmz, 0, sizeof(float) * (size_t)Nz * (c->Hs + c->S));
    linear_backward(m->dmz, g.zW1, g.zb1, m->dz1, m->mz, p.zW1, Nz, c->Hs + c->S, c->Hz);
    memset(m->dhs_s, 0, sizeof(float) * (size_t)(c->P + 1) * Nz * c->Hs);
    for (int q = 0; q < Nz; q++) {
      memcpy(m->dhs_s + ((size_t)c->P * Nz + q) * c->Hs, m->dmz + (size_t)q * (c->Hs + c->S), sizeof(float) * c->Hs);
      if (ds)
        for (int j = 0; j < c->S; j++)
          ds[(size_t)(q / NB) * c->S + j] += m->dmz[(size_t)q * (c->Hs + c->S) + c->Hs + j];
    }
    memset(m->dxb2, 0, sizeof(float) * (size_t)c->P * Nz * c->F);
    gru_backward(m->dxb2, g.slow.W_ih, g.slow.W_hh, g.slow.b_ih, g.slow.b_hh, NULL, m->dhs_s, m->hs_s, m->gates_s,
                 m->ghn_s, m->xb2, p.slow.W_ih, p.slow.W_hh, NULL, m->work_s, c->P, Nz, c->F, c->Hs);
    for (int t = 0; t < c->P; t++)
      for (int q = 0; q < Nz; q++) {
        const float *d   = m->dxb2 + ((size_t)t * Nz + q) * c->F;
        float       *dst = b->eb[(size_t)q * c->P + t] ? g.empty : (dxb ? dxb + ((size_t)t * Nz + q) * c->F : NULL);
        if (dst)
          for (int j = 0; j < c->F; j++) dst[j] += d[j];
      }
    fl_slow = 2.0 * slow_flops(c, Nz);
    model_phase_end(m, MODEL_PHASE_SLOW, fl_slow);
  }

  /* fast encoder: the queries' states of the scored days, and the rows' states through the keys */
  model_phase_begin(m, MODEL_PHASE_FAST);
  for (int t = 0; t < Sc; t++) {
    float       *dst = m->dhs_f + ((size_t)(W + t + 1) * R) * Hf;
    const float *src = m->dhq + (size_t)t * B * Hf;
    for (size_t i = 0; i < (size_t)B * Hf; i++) dst[i] += src[i];
  }
  if (c->fast_static) memset(m->drowb, 0, sizeof(float) * (size_t)R * 3 * Hf);
  gru_backward(dxf, g.fast.W_ih, g.fast.W_hh, g.fast.b_ih, g.fast.b_hh, c->fast_static ? m->drowb : NULL, m->dhs_f,
               m->hs_f, m->gates_f, m->ghn_f, b->xf, p.fast.W_ih, p.fast.W_hh, b->age, m->work_f, T, R, c->F, Hf);
  if (c->fast_static == 1) /* ds (R, S) += drowb fsW; dfsW += drowb^T s */
    linear_backward(ds, g.fsW, NULL, m->drowb, b->s, p.fsW, R, c->S, 3 * Hf);
  if (c->fast_static == 2) { /* back through fsW, tanh and the embedding */
    memset(m->des, 0, sizeof(float) * (size_t)R * c->Z);
    linear_backward(m->des, g.fsW, NULL, m->drowb, m->es, p.fsW, R, c->Z, 3 * Hf);
    for (size_t i = 0; i < (size_t)R * c->Z; i++) m->des[i] *= 1.0f - m->es[i] * m->es[i];
    linear_backward(ds, g.feW, g.feb, m->des, b->s, p.feW, R, c->S, c->Z);
  }
  model_phase_end(m, MODEL_PHASE_FAST, 2.0 * (2.0 * T * R * 3 * Hf * (c->F + Hf)) + 20.0 * T * R * Hf);
}

/* ------------------------------------------------------- role shares */

void model_last_z(const Model *m, const ModelBatch *b, float *z)
{
  memcpy(z, m->z, sizeof(float) * (size_t)b->B * b->NB * m->cfg.Z);
}

/* The selected rows' outputs from m->hin (ns rows) into y (Sc, B, T) at list. */
static void role_heads(Model *m, const RaciParams *p, int ns, const int32_t *list, float *y)
{
  const int T = m->cfg.T;
  head_rows(m, p, ns);
  outputs_forward(m, ns, m->a, m->yhat);
  for (int i = 0; i < ns; i++) memcpy(y + (size_t)list[i] * T, m->yhat + (size_t)i * T, sizeof(float) * T);
}

int model_role_outputs(Model *m, const float *params, const ModelBatch *b, const char *sel, float *yslow, float *yfast)
{
  const ModelConfig *c = &m->cfg;
  if (c->kind != MODEL_RACI || c->fast_static || c->head_x) return 1; /* no shortcut (header) */
  const int   B = b->B, R = b->R, NB = b->NB, Nz = B * NB, Sc = c->Sc, W = c->W, T = W + Sc;
  const int   Hf = c->Hf, A = c->A, Hin = raci_head_in(c), Kf = c->Kf, Ks = c->Ks, Z = c->Z, U = Z + A;
  const float scale = 1.0f / sqrtf((float)A);
  int32_t    *list  = m->rsel;
  int         ns    = 0;
  RaciParams  p;

  if (!B) return 0;
  for (int n = 0; n < Sc * B; n++)
    if (sel[n]) list[ns++] = n;
  if (!ns) return 0;
  raci_point(m, params, &p);

  /* Fast role at 0: from a zero state over zero inputs every row follows the
   * same trajectory hs[j] (j steps since the state was last 0), so the state
   * of row r on day t is hs[rks] with rks the steps since its last restart. */
  model_phase_begin(m, MODEL_PHASE_FAST);
  gru_forward(m->hs_f, m->gates_f, m->ghn_f, m->rzero, p.fast.W_ih, p.fast.W_hh, p.fast.b_ih, p.fast.b_hh, NULL, NULL,
              m->work_f, T, 1, c->F, Hf);
  for (int r = 0; r < R; r++) {
    int k = 0;
    for (int t = 0; t < T; t++) {
      k = (t > 0 && b->age[(size_t)t * R + r] <= 0) ? 1 : k + 1;
      if (t >= W) m->rks[(size_t)(t - W) * R + r] = k;
    }
  }
  model_phase_end(m, MODEL_PHASE_FAST, 2.0 * T * 3 * Hf * (c->F + Hf) + 12.0 * T * Hf);
  if (!c->no_retrieval) { /* the trajectory's keys, values and queries, row j - 1 for hs[j] */
    model_phase_begin(m, MODEL_PHASE_ATTN);
    linear_forward(m->rk, m->hs_f + Hf, p.rf.Wk, p.rf.bk, T, Hf, A);
    linear_forward(m->rv, m->hs_f + Hf, p.rf.Wv, p.rf.bv, T, Hf, A);
    linear_forward(m->rq, m->hs_f + Hf, p.rf.Wq, p.rf.bq, T, Hf, A);
    model_phase_end(m, MODEL_PHASE_ATTN, 6.0 * T * A * Hf + 4.0 * ns * Kf * A);
  }
  model_phase_begin(m, MODEL_PHASE_HEAD);
  for (int i = 0; i < ns; i++) {
    int          t = list[i] / B, q = list[i] % B, zq = q * NB + b->blk[(size_t)q * Sc + t];
    const float *hv = m->hs_f + (size_t)m->rks[(size_t)t * R + q] * Hf;
    float       *hi = m->hin + (size_t)i * Hin, cf[A], pn[Kf > 0 ? Kf : 1];
    memset(cf, 0, sizeof(float) * A);
    if (!c->no_retrieval) {
      const float *kv[Kf > 0 ? Kf : 1], *vv[Kf > 0 ? Kf : 1];
      uint8_t      mk[Kf > 0 ? Kf : 1];
      for (int k = 0; k < Kf; k++) {
        int32_t r = b->nb[(size_t)q * Kf + k];
        mk[k]     = r >= 0 && b->age[(size_t)(W + t) * R + r] >= 0;
        kv[k] = vv[k] = NULL;
        if (!mk[k]) continue;
        kv[k] = m->rk + (size_t)(m->rks[(size_t)t * R + r] - 1) * A;
        vv[k] = m->rv + (size_t)(m->rks[(size_t)t * R + r] - 1) * A;
      }
      geo_attend(m->rq + (size_t)(m->rks[(size_t)t * R + q] - 1) * A, kv, vv, mk, pn, cf, Kf, A, scale);
    }
    head_input(m, hv, zq, cf, NULL, hi);
  }
  role_heads(m, &p, ns, list, yfast);
  model_phase_end(m, MODEL_PHASE_HEAD, 2.0 * ns * ((double)Hin * c->Ho + (double)c->Ho * m->Th));

  /* Slow role at 0: z of zero block summaries and statics is one vector z0
   * for every query; its bank neighbours are the Ks nearest to z0 without
   * the query's own location: one search for Ks + MODEL_ROLE_SPARE. */
  memset(m->rzq, 0, sizeof(float) * (size_t)Nz * Z);
  memset(m->cs, 0, sizeof(float) * (size_t)Nz * A);
  if (!c->no_slow) {
    const float *zero = m->rzero;
    ModelBatch   zb   = {.B = 1, .NB = 1, .xb = zero, .eb = (const uint8_t *)(zero + c->P * c->F + c->S), .s = zero};
    model_phase_begin(m, MODEL_PHASE_SLOW);
    slow_forward(m, &p, &zb);
    for (int q = 0; q < Nz; q++) memcpy(m->rzq + (size_t)q * Z, m->z, sizeof(float) * Z);
    model_phase_end(m, MODEL_PHASE_SLOW, slow_flops(c, 1));
  }
  if (!c->no_slow && !c->no_retrieval) {
    const int Kr = Ks + MODEL_ROLE_SPARE;
    model_phase_begin(m, MODEL_PHASE_BANK);
    if (b->bank_idx)
      memcpy(m->bidx, b->bank_idx, sizeof(int32_t) * (size_t)Nz * Ks);
    else {
      bank_nearest(b, m->rzq, 1, Z, Kr, NULL, 1, m->rwork, m->rlist);
      for (int q = 0; q < Nz; q++) {
        int32_t *idx = m->bidx + (size_t)q * Ks;
        int      n   = 0;
        for (int k = 0; k < Kr && n < Ks; k++)
          if (m->rlist[k] >= 0 && b->bank_lkey[m->rlist[k]] != b->lkey[q / NB]) idx[n++] = m->rlist[k];
        for (; n < Ks; n++) idx[n] = -1;
      }
    }
    model_phase_end(m, MODEL_PHASE_BANK, b->bank_idx ? 0.0 : 3.0 * (double)b->M * Z);
    bank_context(m, &p, b, Nz, m->rzq);
  }
  model_phase_begin(m, MODEL_PHASE_HEAD);
  film_blocks(m, &p, Nz, m->rzq);
  for (int i = 0; i < ns; i++) {
    int t = list[i] / B, q = list[i] % B;
    head_input(m, m->hq + (size_t)list[i] * Hf, q * NB + b->blk[(size_t)q * Sc + t], m->cf + (size_t)list[i] * A, NULL,
               m->hin + (size_t)i * Hin);
  }
  role_heads(m, &p, ns, list, yslow);
  model_phase_end(m, MODEL_PHASE_HEAD,
                  2.0 * Nz * 2 * Hf * U + 2.0 * ns * ((double)Hin * c->Ho + (double)c->Ho * m->Th));
  return 0;
}

double model_forward(Model *m, const float *params, const ModelBatch *b, float *yhat, double *count)
{
  const int N = m->cfg.Sc * b->B;
  double    loss;

  if (b->B == 0) {
    *count = 0;
    return 0;
  }
  if (m->cfg.kind == MODEL_RACI)
    raci_forward(m, params, b);
  else
    baseline_forward(m, params, b);
  model_phase_begin(m, MODEL_PHASE_HEAD);
  outputs_forward(m, N, m->a, yhat);
  loss = mse_forward(yhat, b->y, m->cfg.w, m->cfg.sigma, N, m->cfg.T, count);
  model_phase_end(m, MODEL_PHASE_HEAD, 8.0 * N * m->cfg.T);
  return loss;
}

void model_backward(Model *m, const float *params, float *grads, const ModelBatch *b, double norm_count, float *dxf,
                    float *dxb, float *ds)
{
  const ModelConfig *c    = &m->cfg;
  const int          N    = c->Sc * b->B;
  float             *yhat = m->yhat, *dyhat = m->dyhat;

  if (b->B == 0) return;
  /* the outputs again (cheap), then dL/dyhat through the output transform */
  model_phase_begin(m, MODEL_PHASE_HEAD);
  outputs_forward(m, N, m->a, yhat);
  memset(m->da, 0, sizeof(float) * (size_t)N * m->Th);
  memset(dyhat, 0, sizeof(float) * (size_t)N * c->T);
  mse_backward(dyhat, yhat, b->y, c->w, c->sigma, norm_count, N, c->T);
  outputs_backward(m, N, m->a, dyhat, m->da);
  model_phase_end(m, MODEL_PHASE_HEAD, 16.0 * N * c->T);
  if (c->kind == MODEL_RACI)
    raci_backward(m, params, grads, b, dxf, dxb, ds);
  else
    baseline_backward(m, params, grads, b, dxf, ds);
}
