/* model: the networks over a batch (docs/MODEL.md sections 3-6): parameter
 * layout, initialisation, RACI forward and backward, output transform. */
#include "network.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ layout */

void model_add_tensor(Model *m, const char *name, int rows, int cols)
{
  ModelTensor *t = &m->tensor[m->ntensor++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rows   = rows;
  t->cols   = cols;
  t->offset = m->nparams;
  t->decay  = strstr(name, ".W") != NULL;
  m->nparams += (size_t)rows * cols;
}

static void head_tensors(Model *m, int in)
{
  model_add_tensor(m, "head.W1", m->cfg.Ho, in);
  model_add_tensor(m, "head.b1", m->cfg.Ho, 1);
  model_add_tensor(m, "head.W2", m->Th, m->cfg.Ho);
  model_add_tensor(m, "head.b2", m->Th, 1);
}

static void layout(Model *m)
{
  const ModelConfig *c = &m->cfg;
  int                V = c->Z + 2 * c->T;

  switch (c->kind) {
  case MODEL_RACI:
    model_add_tensor(m, "fast.W_ih", 3 * c->Hf, c->F);
    model_add_tensor(m, "fast.W_hh", 3 * c->Hf, c->Hf);
    model_add_tensor(m, "fast.b_ih", 3 * c->Hf, 1);
    model_add_tensor(m, "fast.b_hh", 3 * c->Hf, 1);
    model_add_tensor(m, "slow.empty", c->F, 1);
    model_add_tensor(m, "slow.W_ih", 3 * c->Hs, c->F);
    model_add_tensor(m, "slow.W_hh", 3 * c->Hs, c->Hs);
    model_add_tensor(m, "slow.b_ih", 3 * c->Hs, 1);
    model_add_tensor(m, "slow.b_hh", 3 * c->Hs, 1);
    model_add_tensor(m, "z.W1", c->Hz, c->Hs + c->S);
    model_add_tensor(m, "z.b1", c->Hz, 1);
    model_add_tensor(m, "z.W2", c->Z, c->Hz);
    model_add_tensor(m, "z.b2", c->Z, 1);
    model_add_tensor(m, "rs.Wq", c->A, c->Z);
    model_add_tensor(m, "rs.bq", c->A, 1);
    model_add_tensor(m, "rs.Wk", c->A, V);
    model_add_tensor(m, "rs.bk", c->A, 1);
    model_add_tensor(m, "rs.Wv", c->A, V);
    model_add_tensor(m, "rs.bv", c->A, 1);
    model_add_tensor(m, "rf.Wq", c->A, c->Hf);
    model_add_tensor(m, "rf.bq", c->A, 1);
    model_add_tensor(m, "rf.Wk", c->A, c->Hf);
    model_add_tensor(m, "rf.bk", c->A, 1);
    model_add_tensor(m, "rf.Wv", c->A, c->Hf);
    model_add_tensor(m, "rf.bv", c->A, 1);
    model_add_tensor(m, "film.W", 2 * c->Hf, c->Z + c->A);
    model_add_tensor(m, "film.b", 2 * c->Hf, 1);
    head_tensors(m, c->no_film ? c->Hf + c->Z + 2 * c->A : c->Hf + c->A);
    break;
  default:
    baseline_layout(m);
    break;
  }
}

/* A model with its parameter layout but no buffers yet (NULL: no memory). */
static Model *model_new(const ModelConfig *cfg, int max_q, int max_r)
{
  Model *m = calloc(1, sizeof *m);

  if (!m) return NULL;
  m->cfg   = *cfg;
  m->max_q = max_q;
  m->max_r = max_r;
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

int model_create(const ModelConfig *cfg, int max_q, int max_r, Model **out)
{
  Model *m = model_new(cfg, max_q, max_r);

  *out = NULL;
  if (!m) return 1;
  if (model_alloc(m)) {
    model_destroy(&m);
    return 1;
  }
  *out = m;
  return 0;
}

int model_size(const ModelConfig *cfg, int max_q, int max_r, double *buf_bytes, double *nparams)
{
  Model *m = model_new(cfg, max_q, max_r);

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

void model_init_params(const Model *m, float *params, uint64_t seed)
{
  int fan_in = 1;
  for (int i = 0; i < m->ntensor; i++) {
    const ModelTensor *t  = &m->tensor[i];
    float             *p  = params + t->offset;
    size_t             n  = (size_t)t->rows * t->cols;
    int                ln = !strncmp(t->name, "ln", 2);
    double             bound;

    if (t->cols > 1) fan_in = t->cols; /* a vector takes the fan-in of the last matrix before it */
    bound = !strcmp(t->name, "slow.empty") ? 0.0 : 1.0 / sqrt((double)fan_in);
    for (size_t j = 0; j < n; j++) {
      if (ln)
        p[j] = strstr(t->name, ".g") ? 1.0f : 0.0f;
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

int model_alloc(Model *m)
{
  for (int pass = 0; pass < 2; pass++) {
    const ModelConfig *c = &m->cfg;
    size_t             Q = (size_t)m->max_q, R = (size_t)m->max_r, V = (size_t)(c->Z + 2 * c->T);
    size_t             Hin = (size_t)(c->no_film ? c->Hf + c->Z + 2 * c->A : c->Hf + c->A);
    m->bufused             = 0;
    if (c->kind != MODEL_RACI) {
      baseline_alloc(m);
    } else {
      m->hs_f    = model_carve(m, (c->Lf + 1) * R * c->Hf);
      m->gates_f = model_carve(m, c->Lf * R * 3 * c->Hf);
      m->ghn_f   = model_carve(m, c->Lf * R * c->Hf);
      m->work_f  = model_carve(m, 2 * c->Lf * R * 3 * c->Hf);
      m->dhs_f   = model_carve(m, (c->Lf + 1) * R * c->Hf);
      m->xb2     = model_carve(m, c->P * Q * c->F);
      m->hs_s    = model_carve(m, (c->P + 1) * Q * c->Hs);
      m->gates_s = model_carve(m, c->P * Q * 3 * c->Hs);
      m->ghn_s   = model_carve(m, c->P * Q * c->Hs);
      m->work_s  = model_carve(m, 2 * c->P * Q * 3 * c->Hs);
      m->dhs_s   = model_carve(m, (c->P + 1) * Q * c->Hs);
      m->dxb2    = model_carve(m, c->P * Q * c->F);
      m->mz      = model_carve(m, Q * (c->Hs + c->S));
      m->z1      = model_carve(m, Q * c->Hz);
      m->z       = model_carve(m, Q * c->Z);
      m->kv_s    = model_carve(m, Q * c->Ks * V);
      m->q_s     = model_carve(m, Q * c->A);
      m->k_s     = model_carve(m, Q * c->Ks * c->A);
      m->v_s     = model_carve(m, Q * c->Ks * c->A);
      m->p_s     = model_carve(m, Q * c->Ks);
      m->cs      = model_carve(m, Q * c->A);
      m->kv_f    = model_carve(m, Q * c->Kf * c->Hf);
      m->q_f     = model_carve(m, Q * c->A);
      m->k_f     = model_carve(m, Q * c->Kf * c->A);
      m->v_f     = model_carve(m, Q * c->Kf * c->A);
      m->p_f     = model_carve(m, Q * c->Kf);
      m->cf      = model_carve(m, Q * c->A);
      m->u       = model_carve(m, Q * (c->Z + c->A));
      m->gb      = model_carve(m, Q * 2 * c->Hf);
      m->h       = model_carve(m, Q * c->Hf);
      m->hin     = model_carve(m, Q * Hin);
      m->o1      = model_carve(m, Q * c->Ho);
      m->a       = model_carve(m, Q * m->Th);
      /* backward */
      m->yhat   = model_carve(m, Q * c->T);
      m->dyhat  = model_carve(m, Q * c->T);
      m->da     = model_carve(m, Q * m->Th);
      m->do1    = model_carve(m, Q * c->Ho);
      m->dhin   = model_carve(m, Q * Hin);
      m->du     = model_carve(m, Q * (c->Z + c->A));
      m->dz     = model_carve(m, Q * c->Z);
      m->dz1    = model_carve(m, Q * c->Hz);
      m->dmz    = model_carve(m, Q * (c->Hs + c->S));
      m->dcs    = model_carve(m, Q * c->A);
      m->dcf    = model_carve(m, Q * c->A);
      m->dkv_f  = model_carve(m, Q * c->Kf * c->Hf);
      m->dh     = model_carve(m, Q * c->Hf);
      m->work_a = model_carve(m, Q * c->A + 2 * Q * (size_t)(c->Ks > c->Kf ? c->Ks : c->Kf) * c->A + Q * 2 * c->Hf);
      m->mask_s = (uint8_t *)model_carve(m, (Q * c->Ks + 3) / 4);
      m->mask_f = (uint8_t *)model_carve(m, (Q * c->Kf + 3) / 4);
      m->bidx   = (int32_t *)model_carve(m, Q * c->Ks);
      m->dist   = model_carve(m, (size_t)Q * c->Ks + (size_t)c->Z * MODEL_BANK_BLOCK + MODEL_BANK_BLOCK + (size_t)Q);
    }
    if (pass == 0) {
      if (m->count_only) return 0;
      m->buf = calloc(m->bufused + 16, sizeof(float));
      if (!m->buf) return 1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------- outputs */

static void outputs_forward(const Model *m, int Q, const float *a, float *yhat)
{
  const ModelConfig *c = &m->cfg;
  for (int q = 0; q < Q; q++) {
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

static void outputs_backward(const Model *m, int Q, const float *a, const float *dyhat, float *da)
{
  const ModelConfig *c = &m->cfg;
  for (int q = 0; q < Q; q++) {
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

#define PRM(i) (params + m->tensor[i].offset)
#define GRD(i) (grads + m->tensor[i].offset)
enum {
  T_FWIH,
  T_FWHH,
  T_FBIH,
  T_FBHH,
  T_EMPTY,
  T_SWIH,
  T_SWHH,
  T_SBIH,
  T_SBHH,
  T_ZW1,
  T_ZB1,
  T_ZW2,
  T_ZB2,
  T_RSWQ,
  T_RSBQ,
  T_RSWK,
  T_RSBK,
  T_RSWV,
  T_RSBV,
  T_RFWQ,
  T_RFBQ,
  T_RFWK,
  T_RFBK,
  T_RFWV,
  T_RFBV,
  T_FILMW,
  T_FILMB,
  T_HW1,
  T_HB1,
  T_HW2,
  T_HB2
};

/* Slow branch: blocks with the empty vector, GRU, MLP to z. */
static void slow_forward(Model *m, const float *params, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  int                Q = b->Q;

  for (int t = 0; t < c->P; t++)
    for (int q = 0; q < Q; q++) {
      const float *src = b->eb[(size_t)q * c->P + t] ? PRM(T_EMPTY) : b->xb + ((size_t)t * Q + q) * c->F;
      memcpy(m->xb2 + ((size_t)t * Q + q) * c->F, src, sizeof(float) * c->F);
    }
  gru_forward(m->hs_s, m->gates_s, m->ghn_s, m->xb2, PRM(T_SWIH), PRM(T_SWHH), PRM(T_SBIH), PRM(T_SBHH), m->work_s,
              c->P, Q, c->F, c->Hs);
  for (int q = 0; q < Q; q++) {
    memcpy(m->mz + (size_t)q * (c->Hs + c->S), m->hs_s + ((size_t)c->P * Q + q) * c->Hs, sizeof(float) * c->Hs);
    memcpy(m->mz + (size_t)q * (c->Hs + c->S) + c->Hs, b->s + (size_t)q * c->S, sizeof(float) * c->S);
  }
  linear_forward(m->z1, m->mz, PRM(T_ZW1), PRM(T_ZB1), Q, c->Hs + c->S, c->Hz);
  tanh_forward(m->z1, m->z1, (size_t)Q * c->Hz);
  linear_forward(m->z, m->z1, PRM(T_ZW2), PRM(T_ZB2), Q, c->Hz, c->Z);
}

void model_encode_z(Model *m, const float *params, const ModelBatch *b, float *z)
{
  slow_forward(m, params, b);
  memcpy(z, m->z, sizeof(float) * (size_t)b->Q * m->cfg.Z);
}

/* The Ks nearest keys to z(q), never the query's own location. Keys go in
 * blocks of MODEL_BANK_BLOCK, transposed, so the squared distances of a
 * block vectorise across keys while each one is summed in the same order
 * whatever the batch (results do not depend on batch composition, hence on
 * the rank count). Each query keeps a sorted short list; ties: first wins. */
static void bank_select(Model *m, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  const int          Q = b->Q, Z = c->Z, Ks = c->Ks;
  float             *best = m->dist, *keyT = m->dist + (size_t)Q * Ks, *d = keyT + (size_t)Z * MODEL_BANK_BLOCK;
  int               *n = (int *)(d + MODEL_BANK_BLOCK);

  for (int q = 0; q < Q; q++) n[q] = 0;
  for (int j0 = 0; j0 < b->M; j0 += MODEL_BANK_BLOCK) {
    int nb = b->M - j0 < MODEL_BANK_BLOCK ? b->M - j0 : MODEL_BANK_BLOCK;
    for (int j = 0; j < nb; j++)
      for (int k = 0; k < Z; k++) keyT[(size_t)k * nb + j] = b->bank_key[(size_t)(j0 + j) * Z + k];
    for (int q = 0; q < Q; q++) {
      int32_t     *idx = m->bidx + (size_t)q * Ks;
      float       *bq  = best + (size_t)q * Ks;
      const float *zq  = m->z + (size_t)q * Z;
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
        if (b->bank_lkey[j0 + j] == b->lkey[q]) continue; /* the query's own location, in any file layout */
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
    for (int k = n[q]; k < Ks; k++) m->bidx[(size_t)q * Ks + k] = -1;
}

static void raci_forward(Model *m, const float *params, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  int                Q = b->Q, R = b->R, V = c->Z + 2 * c->T, Hin = c->no_film ? c->Hf + c->Z + 2 * c->A : c->Hf + c->A;
  const float       *hf = m->hs_f + (size_t)c->Lf * R * c->Hf; /* (R, Hf), queries first */

  gru_forward(m->hs_f, m->gates_f, m->ghn_f, b->xf, PRM(T_FWIH), PRM(T_FWHH), PRM(T_FBIH), PRM(T_FBHH), m->work_f,
              c->Lf, R, c->F, c->Hf);

  memset(m->z, 0, sizeof(float) * (size_t)Q * c->Z);
  memset(m->cs, 0, sizeof(float) * (size_t)Q * c->A);
  memset(m->cf, 0, sizeof(float) * (size_t)Q * c->A);
  if (!c->no_slow) slow_forward(m, params, b);
  if (!c->no_slow && !c->no_retrieval) {
    if (b->bank_idx)
      memcpy(m->bidx, b->bank_idx, sizeof(int32_t) * (size_t)Q * c->Ks);
    else
      bank_select(m, b);
    for (int q = 0; q < Q; q++)
      for (int k = 0; k < c->Ks; k++) {
        int32_t j                        = m->bidx[(size_t)q * c->Ks + k];
        m->mask_s[(size_t)q * c->Ks + k] = j >= 0;
        if (j >= 0)
          memcpy(m->kv_s + ((size_t)q * c->Ks + k) * V, b->bank_val + (size_t)j * V, sizeof(float) * V);
        else
          memset(m->kv_s + ((size_t)q * c->Ks + k) * V, 0, sizeof(float) * V);
      }
    attn_forward(m->cs, m->q_s, m->k_s, m->v_s, m->p_s, m->z, m->kv_s, m->mask_s, PRM(T_RSWQ), PRM(T_RSBQ), PRM(T_RSWK),
                 PRM(T_RSBK), PRM(T_RSWV), PRM(T_RSBV), Q, c->Ks, c->Z, V, c->A);
  }
  if (!c->no_retrieval) {
    for (int q = 0; q < Q; q++)
      for (int k = 0; k < c->Kf; k++) {
        int32_t r                        = b->nb[(size_t)q * c->Kf + k];
        m->mask_f[(size_t)q * c->Kf + k] = r >= 0;
        if (r >= 0)
          memcpy(m->kv_f + ((size_t)q * c->Kf + k) * c->Hf, hf + (size_t)r * c->Hf, sizeof(float) * c->Hf);
        else
          memset(m->kv_f + ((size_t)q * c->Kf + k) * c->Hf, 0, sizeof(float) * c->Hf);
      }
    attn_forward(m->cf, m->q_f, m->k_f, m->v_f, m->p_f, hf, m->kv_f, m->mask_f, PRM(T_RFWQ), PRM(T_RFBQ), PRM(T_RFWK),
                 PRM(T_RFBK), PRM(T_RFWV), PRM(T_RFBV), Q, c->Kf, c->Hf, c->Hf, c->A);
  }
  for (int q = 0; q < Q; q++) {
    float *hq = m->hin + (size_t)q * Hin;
    if (c->no_film) {
      memcpy(hq, hf + (size_t)q * c->Hf, sizeof(float) * c->Hf);
      memcpy(hq + c->Hf, m->z + (size_t)q * c->Z, sizeof(float) * c->Z);
      memcpy(hq + c->Hf + c->Z, m->cs + (size_t)q * c->A, sizeof(float) * c->A);
      memcpy(hq + c->Hf + c->Z + c->A, m->cf + (size_t)q * c->A, sizeof(float) * c->A);
    } else {
      memcpy(m->u + (size_t)q * (c->Z + c->A), m->z + (size_t)q * c->Z, sizeof(float) * c->Z);
      memcpy(m->u + (size_t)q * (c->Z + c->A) + c->Z, m->cs + (size_t)q * c->A, sizeof(float) * c->A);
    }
  }
  if (!c->no_film) {
    film_forward(m->h, m->gb, hf, m->u, PRM(T_FILMW), PRM(T_FILMB), Q, c->Z + c->A, c->Hf);
    for (int q = 0; q < Q; q++) {
      memcpy(m->hin + (size_t)q * Hin, m->h + (size_t)q * c->Hf, sizeof(float) * c->Hf);
      memcpy(m->hin + (size_t)q * Hin + c->Hf, m->cf + (size_t)q * c->A, sizeof(float) * c->A);
    }
  }
  linear_forward(m->o1, m->hin, PRM(T_HW1), PRM(T_HB1), Q, Hin, c->Ho);
  tanh_forward(m->o1, m->o1, (size_t)Q * c->Ho);
  linear_forward(m->a, m->o1, PRM(T_HW2), PRM(T_HB2), Q, c->Ho, m->Th);
}

static void raci_backward(Model *m, const float *params, float *grads, const ModelBatch *b, float *dxf, float *dxb,
                          float *ds)
{
  const ModelConfig *c = &m->cfg;
  int                Q = b->Q, R = b->R, V = c->Z + 2 * c->T, Hin = c->no_film ? c->Hf + c->Z + 2 * c->A : c->Hf + c->A;
  const float       *hf  = m->hs_f + (size_t)c->Lf * R * c->Hf;
  float             *dhf = m->dhs_f + (size_t)c->Lf * R * c->Hf; /* (R, Hf) */

  memset(m->dhs_f, 0, sizeof(float) * (size_t)(c->Lf + 1) * R * c->Hf);
  memset(m->do1, 0, sizeof(float) * (size_t)Q * c->Ho);
  memset(m->dhin, 0, sizeof(float) * (size_t)Q * Hin);
  memset(m->dz, 0, sizeof(float) * (size_t)Q * c->Z);
  memset(m->dcs, 0, sizeof(float) * (size_t)Q * c->A);
  memset(m->dcf, 0, sizeof(float) * (size_t)Q * c->A);

  /* head */
  linear_backward(m->do1, GRD(T_HW2), GRD(T_HB2), m->da, m->o1, PRM(T_HW2), Q, c->Ho, m->Th);
  for (size_t i = 0; i < (size_t)Q * c->Ho; i++) m->do1[i] *= 1.0f - m->o1[i] * m->o1[i]; /* through tanh */
  linear_backward(m->dhin, GRD(T_HW1), GRD(T_HB1), m->do1, m->hin, PRM(T_HW1), Q, Hin, c->Ho);

  /* split the head input */
  if (c->no_film) {
    for (int q = 0; q < Q; q++) {
      const float *d = m->dhin + (size_t)q * Hin;
      for (int j = 0; j < c->Hf; j++) dhf[(size_t)q * c->Hf + j] += d[j];
      for (int j = 0; j < c->Z; j++) m->dz[(size_t)q * c->Z + j] += d[c->Hf + j];
      for (int j = 0; j < c->A; j++) m->dcs[(size_t)q * c->A + j] += d[c->Hf + c->Z + j];
      for (int j = 0; j < c->A; j++) m->dcf[(size_t)q * c->A + j] += d[c->Hf + c->Z + c->A + j];
    }
  } else {
    for (int q = 0; q < Q; q++) {
      memcpy(m->dh + (size_t)q * c->Hf, m->dhin + (size_t)q * Hin, sizeof(float) * c->Hf);
      for (int j = 0; j < c->A; j++) m->dcf[(size_t)q * c->A + j] += m->dhin[(size_t)q * Hin + c->Hf + j];
    }
    memset(m->du, 0, sizeof(float) * (size_t)Q * (c->Z + c->A));
    film_backward(dhf, m->du, GRD(T_FILMW), GRD(T_FILMB), m->dh, hf, m->u, m->gb, PRM(T_FILMW), m->work_a, Q,
                  c->Z + c->A, c->Hf);
    for (int q = 0; q < Q; q++) {
      for (int j = 0; j < c->Z; j++) m->dz[(size_t)q * c->Z + j] += m->du[(size_t)q * (c->Z + c->A) + j];
      for (int j = 0; j < c->A; j++) m->dcs[(size_t)q * c->A + j] += m->du[(size_t)q * (c->Z + c->A) + c->Z + j];
    }
  }

  /* geographic retrieval: the query rows and the neighbour rows of hf */
  if (!c->no_retrieval) {
    memset(m->dkv_f, 0, sizeof(float) * (size_t)Q * c->Kf * c->Hf);
    attn_backward(dhf, m->dkv_f, GRD(T_RFWQ), GRD(T_RFBQ), GRD(T_RFWK), GRD(T_RFBK), GRD(T_RFWV), GRD(T_RFBV), m->dcf,
                  m->q_f, m->k_f, m->v_f, m->p_f, hf, m->kv_f, PRM(T_RFWQ), PRM(T_RFWK), PRM(T_RFWV), m->work_a, Q,
                  c->Kf, c->Hf, c->Hf, c->A);
    for (int q = 0; q < Q; q++)
      for (int k = 0; k < c->Kf; k++) {
        int32_t r = b->nb[(size_t)q * c->Kf + k];
        if (r < 0) continue;
        for (int j = 0; j < c->Hf; j++) dhf[(size_t)r * c->Hf + j] += m->dkv_f[((size_t)q * c->Kf + k) * c->Hf + j];
      }
  }
  /* functional retrieval: the bank carries no gradient */
  if (!c->no_slow && !c->no_retrieval)
    attn_backward(m->dz, NULL, GRD(T_RSWQ), GRD(T_RSBQ), GRD(T_RSWK), GRD(T_RSBK), GRD(T_RSWV), GRD(T_RSBV), m->dcs,
                  m->q_s, m->k_s, m->v_s, m->p_s, m->z, m->kv_s, PRM(T_RSWQ), PRM(T_RSWK), PRM(T_RSWV), m->work_a, Q,
                  c->Ks, c->Z, V, c->A);

  /* slow branch */
  if (!c->no_slow) {
    memset(m->dz1, 0, sizeof(float) * (size_t)Q * c->Hz);
    linear_backward(m->dz1, GRD(T_ZW2), GRD(T_ZB2), m->dz, m->z1, PRM(T_ZW2), Q, c->Hz, c->Z);
    for (size_t i = 0; i < (size_t)Q * c->Hz; i++) m->dz1[i] *= 1.0f - m->z1[i] * m->z1[i];
    memset(m->dmz, 0, sizeof(float) * (size_t)Q * (c->Hs + c->S));
    linear_backward(m->dmz, GRD(T_ZW1), GRD(T_ZB1), m->dz1, m->mz, PRM(T_ZW1), Q, c->Hs + c->S, c->Hz);
    memset(m->dhs_s, 0, sizeof(float) * (size_t)(c->P + 1) * Q * c->Hs);
    for (int q = 0; q < Q; q++) {
      memcpy(m->dhs_s + ((size_t)c->P * Q + q) * c->Hs, m->dmz + (size_t)q * (c->Hs + c->S), sizeof(float) * c->Hs);
      if (ds)
        for (int j = 0; j < c->S; j++) ds[(size_t)q * c->S + j] += m->dmz[(size_t)q * (c->Hs + c->S) + c->Hs + j];
    }
    memset(m->dxb2, 0, sizeof(float) * (size_t)c->P * Q * c->F);
    gru_backward(m->dxb2, GRD(T_SWIH), GRD(T_SWHH), GRD(T_SBIH), GRD(T_SBHH), m->dhs_s, m->hs_s, m->gates_s, m->ghn_s,
                 m->xb2, PRM(T_SWIH), PRM(T_SWHH), m->work_s, c->P, Q, c->F, c->Hs);
    for (int t = 0; t < c->P; t++)
      for (int q = 0; q < Q; q++) {
        const float *d   = m->dxb2 + ((size_t)t * Q + q) * c->F;
        float       *dst = b->eb[(size_t)q * c->P + t] ? GRD(T_EMPTY) : (dxb ? dxb + ((size_t)t * Q + q) * c->F : NULL);
        if (dst)
          for (int j = 0; j < c->F; j++) dst[j] += d[j];
      }
  }
  /* fast encoder: only its last hidden state is used */
  gru_backward(dxf, GRD(T_FWIH), GRD(T_FWHH), GRD(T_FBIH), GRD(T_FBHH), m->dhs_f, m->hs_f, m->gates_f, m->ghn_f, b->xf,
               PRM(T_FWIH), PRM(T_FWHH), m->work_f, c->Lf, R, c->F, c->Hf);
}

double model_forward(Model *m, const float *params, const ModelBatch *b, float *yhat, double *count)
{
  if (m->cfg.kind == MODEL_RACI)
    raci_forward(m, params, b);
  else
    baseline_forward(m, params, b);
  outputs_forward(m, b->Q, m->a, yhat);
  return mse_forward(yhat, b->y, m->cfg.w, m->cfg.sigma, b->Q, m->cfg.T, count);
}

void model_backward(Model *m, const float *params, float *grads, const ModelBatch *b, double norm_count, float *dxf,
                    float *dxb, float *ds)
{
  const ModelConfig *c    = &m->cfg;
  float             *yhat = m->yhat, *dyhat = m->dyhat;

  /* the outputs again (cheap), then dL/dyhat through the output transform */
  outputs_forward(m, b->Q, m->a, yhat);
  memset(m->da, 0, sizeof(float) * (size_t)b->Q * m->Th);
  memset(dyhat, 0, sizeof(float) * (size_t)b->Q * c->T);
  mse_backward(dyhat, yhat, b->y, c->w, c->sigma, norm_count, b->Q, c->T);
  outputs_backward(m, b->Q, m->a, dyhat, m->da);
  if (c->kind == MODEL_RACI)
    raci_backward(m, params, grads, b, dxf, dxb, ds);
  else
    baseline_backward(m, params, grads, b, dxf, ds);
}
