/* model: the baselines LSTM, EA-LSTM and Transformer (docs/MODEL.md section 4),
 * in the same framework as RACI: same batch, outputs and loss, no retrieval.
 * They read only the queries' rows of xf and their statics. */
#include "network.h"

#include <math.h>
#include <string.h>

#define PRM(i) (params + m->tensor[i].offset)
#define GRD(i) (grads + m->tensor[i].offset)

enum { L_WIH, L_WHH, L_BIH, L_BHH, L_HEAD };    /* lstm */
enum { E_WI, E_BI, E_WIH, E_WHH, E_B, E_HEAD }; /* ealstm */
enum {
  X_WIN,
  X_BIN,
  X_LN1G,
  X_LN1B,
  X_WQKV,
  X_BQKV,
  X_WO,
  X_BO,
  X_LN2G,
  X_LN2B,
  X_W1,
  X_B1,
  X_W2,
  X_B2,
  X_LNFG,
  X_LNFB,
  X_HEAD
}; /* transformer */
/* transformer activations in m->tf[] */
enum {
  A_X0,
  A_X1,
  A_M1,
  A_R1,
  A_QKV,
  A_ATT,
  A_Y,
  A_ATTN,
  A_X2,
  A_X3,
  A_M2,
  A_R2,
  A_F1,
  A_G1,
  A_X4,
  A_XL,
  A_MF,
  A_RF,
  A_DX0,
  A_DX1,
  A_DX2,
  A_DX3,
  A_DG,
  A_WORK
};

void baseline_layout(Model *m)
{
  const ModelConfig *c = &m->cfg;
  int                H = c->Hf, in = c->F + c->S, hin = H;

  switch (c->kind) {
  case MODEL_LSTM:
    model_add_tensor(m, "lstm.W_ih", 4 * H, in);
    model_add_tensor(m, "lstm.W_hh", 4 * H, H);
    model_add_tensor(m, "lstm.b_ih", 4 * H, 1);
    model_add_tensor(m, "lstm.b_hh", 4 * H, 1);
    break;
  case MODEL_EALSTM:
    model_add_tensor(m, "ea.W_i", H, c->S);
    model_add_tensor(m, "ea.b_i", H, 1);
    model_add_tensor(m, "ea.W_ih", 3 * H, c->F);
    model_add_tensor(m, "ea.W_hh", 3 * H, H);
    model_add_tensor(m, "ea.b", 3 * H, 1);
    break;
  case MODEL_TRANSFORMER:
    model_add_tensor(m, "tf.W_in", c->D, in);
    model_add_tensor(m, "tf.b_in", c->D, 1);
    model_add_tensor(m, "ln1.g", c->D, 1);
    model_add_tensor(m, "ln1.b", c->D, 1);
    model_add_tensor(m, "attn.W_qkv", 3 * c->D, c->D);
    model_add_tensor(m, "attn.b_qkv", 3 * c->D, 1);
    model_add_tensor(m, "attn.W_o", c->D, c->D);
    model_add_tensor(m, "attn.b_o", c->D, 1);
    model_add_tensor(m, "ln2.g", c->D, 1);
    model_add_tensor(m, "ln2.b", c->D, 1);
    model_add_tensor(m, "ff.W1", c->FF, c->D);
    model_add_tensor(m, "ff.b1", c->FF, 1);
    model_add_tensor(m, "ff.W2", c->D, c->FF);
    model_add_tensor(m, "ff.b2", c->D, 1);
    model_add_tensor(m, "lnf.g", c->D, 1);
    model_add_tensor(m, "lnf.b", c->D, 1);
    hin = c->D;
    break;
  default:
    break;
  }
  model_add_tensor(m, "head.W1", c->Ho, hin);
  model_add_tensor(m, "head.b1", c->Ho, 1);
  model_add_tensor(m, "head.W2", m->Th, c->Ho);
  model_add_tensor(m, "head.b2", m->Th, 1);
}

void baseline_alloc(Model *m)
{
  const ModelConfig *c = &m->cfg;
  size_t Q = (size_t)m->max_q, L = (size_t)c->Lf, H = (size_t)c->Hf, in = (size_t)(c->F + c->S), D = (size_t)c->D;
  size_t hin = c->kind == MODEL_TRANSFORMER ? D : H;

  m->xin  = model_carve(m, L * Q * in);
  m->dxin = model_carve(m, L * Q * in);
  if (c->kind == MODEL_TRANSFORMER) {
    size_t N    = L * Q;
    m->tf[A_X0] = model_carve(m, N * D), m->tf[A_X1] = model_carve(m, N * D);
    m->tf[A_M1] = model_carve(m, N), m->tf[A_R1] = model_carve(m, N);
    m->tf[A_QKV] = model_carve(m, N * 3 * D), m->tf[A_ATT] = model_carve(m, Q * (size_t)c->NH * L * L),
    m->tf[A_Y]    = model_carve(m, N * D);
    m->tf[A_ATTN] = model_carve(m, N * D), m->tf[A_X2] = model_carve(m, N * D), m->tf[A_X3] = model_carve(m, N * D);
    m->tf[A_M2] = model_carve(m, N), m->tf[A_R2] = model_carve(m, N);
    m->tf[A_F1] = model_carve(m, N * (size_t)c->FF), m->tf[A_G1] = model_carve(m, N * (size_t)c->FF),
    m->tf[A_X4] = model_carve(m, N * D);
    m->tf[A_XL] = model_carve(m, Q * D), m->tf[A_MF] = model_carve(m, Q), m->tf[A_RF] = model_carve(m, Q);
    m->tf[A_DX0] = model_carve(m, N * D), m->tf[A_DX1] = model_carve(m, N * D), m->tf[A_DX2] = model_carve(m, N * D),
    m->tf[A_DX3]  = model_carve(m, N * D);
    m->tf[A_DG]   = model_carve(m, N * (size_t)c->FF);
    m->tf[A_WORK] = model_carve(m, N * D + N * 3 * D + L * L);
  } else {
    m->seq_h    = model_carve(m, (L + 1) * Q * H);
    m->seq_c    = model_carve(m, (L + 1) * Q * H);
    m->seq_g    = model_carve(m, L * Q * 4 * H + Q * H); /* gates, and EA-LSTM's input gate */
    m->seq_work = model_carve(m, L * Q * 4 * H + 2 * Q * H);
    m->dseq_h   = model_carve(m, (L + 1) * Q * H);
  }
  m->hin   = model_carve(m, Q * hin);
  m->dhin  = model_carve(m, Q * hin);
  m->o1    = model_carve(m, Q * (size_t)c->Ho);
  m->do1   = model_carve(m, Q * (size_t)c->Ho);
  m->a     = model_carve(m, Q * (size_t)m->Th);
  m->da    = model_carve(m, Q * (size_t)m->Th);
  m->yhat  = model_carve(m, Q * (size_t)c->T);
  m->dyhat = model_carve(m, Q * (size_t)c->T);
}

/* Day inputs [xf_t, s] of the queries (the lstm and the transformer); the
 * EA-LSTM reads xf_t alone. */
static void gather_inputs(Model *m, const ModelBatch *b, int with_static)
{
  const ModelConfig *c  = &m->cfg;
  int                in = c->F + (with_static ? c->S : 0);
  for (int t = 0; t < c->Lf; t++)
    for (int q = 0; q < b->Q; q++) {
      float *dst = m->xin + ((size_t)t * b->Q + q) * in;
      memcpy(dst, b->xf + ((size_t)t * b->R + q) * c->F, sizeof(float) * c->F);
      if (with_static) memcpy(dst + c->F, b->s + (size_t)q * c->S, sizeof(float) * c->S);
    }
}

static void scatter_input_grads(Model *m, const ModelBatch *b, int with_static, float *dxf, float *ds)
{
  const ModelConfig *c  = &m->cfg;
  int                in = c->F + (with_static ? c->S : 0);
  for (int t = 0; t < c->Lf; t++)
    for (int q = 0; q < b->Q; q++) {
      const float *d = m->dxin + ((size_t)t * b->Q + q) * in;
      if (dxf)
        for (int j = 0; j < c->F; j++) dxf[((size_t)t * b->R + q) * c->F + j] += d[j];
      if (with_static && ds)
        for (int j = 0; j < c->S; j++) ds[(size_t)q * c->S + j] += d[c->F + j];
    }
}

static void head_forward(Model *m, const float *params, int head, int Q, int hin)
{
  linear_forward(m->o1, m->hin, PRM(head), PRM(head + 1), Q, hin, m->cfg.Ho);
  tanh_forward(m->o1, m->o1, (size_t)Q * m->cfg.Ho);
  linear_forward(m->a, m->o1, PRM(head + 2), PRM(head + 3), Q, m->cfg.Ho, m->Th);
}

static void head_backward(Model *m, const float *params, float *grads, int head, int Q, int hin)
{
  memset(m->do1, 0, sizeof(float) * (size_t)Q * m->cfg.Ho);
  memset(m->dhin, 0, sizeof(float) * (size_t)Q * hin);
  linear_backward(m->do1, GRD(head + 2), GRD(head + 3), m->da, m->o1, PRM(head + 2), Q, m->cfg.Ho, m->Th);
  for (size_t i = 0; i < (size_t)Q * m->cfg.Ho; i++) m->do1[i] *= 1.0f - m->o1[i] * m->o1[i];
  linear_backward(m->dhin, GRD(head), GRD(head + 1), m->do1, m->hin, PRM(head), Q, hin, m->cfg.Ho);
}

void baseline_forward(Model *m, const float *params, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  int                Q = b->Q, L = c->Lf, H = c->Hf, D = c->D, in = c->F + c->S;
  size_t             N = (size_t)L * Q;

  switch (c->kind) {
  case MODEL_LSTM:
    gather_inputs(m, b, 1);
    lstm_forward(m->seq_h, m->seq_c, m->seq_g, m->xin, PRM(L_WIH), PRM(L_WHH), PRM(L_BIH), PRM(L_BHH), L, Q, in, H);
    memcpy(m->hin, m->seq_h + (size_t)L * Q * H, sizeof(float) * (size_t)Q * H);
    head_forward(m, params, L_HEAD, Q, H);
    break;
  case MODEL_EALSTM:
    gather_inputs(m, b, 0);
    ealstm_forward(m->seq_h, m->seq_c, m->seq_g, m->seq_g + (size_t)L * Q * 4 * H, m->xin, b->s, PRM(E_WI), PRM(E_BI),
                   PRM(E_WIH), PRM(E_WHH), PRM(E_B), L, Q, c->F, c->S, H);
    memcpy(m->hin, m->seq_h + (size_t)L * Q * H, sizeof(float) * (size_t)Q * H);
    head_forward(m, params, E_HEAD, Q, H);
    break;
  case MODEL_TRANSFORMER: {
    float **a = m->tf;
    gather_inputs(m, b, 1);
    linear_forward(a[A_X0], m->xin, PRM(X_WIN), PRM(X_BIN), (int)N, in, D);
    posenc_forward(a[A_X0], a[A_X0], L, Q, D);
    layernorm_forward(a[A_X1], a[A_M1], a[A_R1], a[A_X0], PRM(X_LN1G), PRM(X_LN1B), (int)N, D);
    mhsa_forward(a[A_ATTN], a[A_QKV], a[A_ATT], a[A_Y], a[A_X1], PRM(X_WQKV), PRM(X_BQKV), PRM(X_WO), PRM(X_BO), L, Q,
                 D, c->NH);
    for (size_t i = 0; i < N * D; i++) a[A_X2][i] = a[A_X0][i] + a[A_ATTN][i];
    layernorm_forward(a[A_X3], a[A_M2], a[A_R2], a[A_X2], PRM(X_LN2G), PRM(X_LN2B), (int)N, D);
    linear_forward(a[A_F1], a[A_X3], PRM(X_W1), PRM(X_B1), (int)N, D, c->FF);
    gelu_forward(a[A_G1], a[A_F1], N * c->FF);
    linear_forward(a[A_X4], a[A_G1], PRM(X_W2), PRM(X_B2), (int)N, c->FF, D);
    for (size_t i = 0; i < N * D; i++) a[A_X4][i] += a[A_X2][i];
    /* the final norm of the last day's tokens only: it is row-wise */
    layernorm_forward(m->hin, a[A_MF], a[A_RF], a[A_X4] + (size_t)(L - 1) * Q * D, PRM(X_LNFG), PRM(X_LNFB), Q, D);
    head_forward(m, params, X_HEAD, Q, D);
    break;
  }
  default:
    break;
  }
}

void baseline_backward(Model *m, const float *params, float *grads, const ModelBatch *b, float *dxf, float *ds)
{
  const ModelConfig *c = &m->cfg;
  int                Q = b->Q, L = c->Lf, H = c->Hf, D = c->D, in = c->F + c->S;
  size_t             N = (size_t)L * Q;

  switch (c->kind) {
  case MODEL_LSTM:
    head_backward(m, params, grads, L_HEAD, Q, H);
    memset(m->dseq_h, 0, sizeof(float) * (size_t)(L + 1) * Q * H);
    memcpy(m->dseq_h + (size_t)L * Q * H, m->dhin, sizeof(float) * (size_t)Q * H);
    memset(m->dxin, 0, sizeof(float) * N * in);
    lstm_backward(m->dxin, GRD(L_WIH), GRD(L_WHH), GRD(L_BIH), GRD(L_BHH), m->dseq_h, m->seq_h, m->seq_c, m->seq_g,
                  m->xin, PRM(L_WIH), PRM(L_WHH), m->seq_work, L, Q, in, H);
    scatter_input_grads(m, b, 1, dxf, ds);
    break;
  case MODEL_EALSTM:
    head_backward(m, params, grads, E_HEAD, Q, H);
    memset(m->dseq_h, 0, sizeof(float) * (size_t)(L + 1) * Q * H);
    memcpy(m->dseq_h + (size_t)L * Q * H, m->dhin, sizeof(float) * (size_t)Q * H);
    memset(m->dxin, 0, sizeof(float) * N * c->F);
    ealstm_backward(m->dxin, ds, GRD(E_WI), GRD(E_BI), GRD(E_WIH), GRD(E_WHH), GRD(E_B), m->dseq_h, m->seq_h, m->seq_c,
                    m->seq_g, m->seq_g + (size_t)L * Q * 4 * H, m->xin, b->s, PRM(E_WI), PRM(E_WIH), PRM(E_WHH),
                    m->seq_work, L, Q, c->F, c->S, H);
    scatter_input_grads(m, b, 0, dxf, NULL);
    break;
  case MODEL_TRANSFORMER: {
    float **a = m->tf;
    head_backward(m, params, grads, X_HEAD, Q, D);
    memset(a[A_DX2], 0, sizeof(float) * N * D);
    layernorm_backward(a[A_DX2] + (size_t)(L - 1) * Q * D, GRD(X_LNFG), GRD(X_LNFB), m->dhin,
                       a[A_X4] + (size_t)(L - 1) * Q * D, PRM(X_LNFG), a[A_MF], a[A_RF], Q, D);
    /* x4 = x2 + ff(ln2(x2)): dx2 holds dx4 and collects the residual */
    memset(a[A_DG], 0, sizeof(float) * N * c->FF);
    linear_backward(a[A_DG], GRD(X_W2), GRD(X_B2), a[A_DX2], a[A_G1], PRM(X_W2), (int)N, c->FF, D);
    memset(a[A_DX3], 0, sizeof(float) * N * D);
    {
      float *df1 = a[A_G1]; /* the GELU output is no longer needed: reuse it for df1 */
      memset(df1, 0, sizeof(float) * N * c->FF);
      gelu_backward(df1, a[A_DG], a[A_F1], N * c->FF);
      linear_backward(a[A_DX3], GRD(X_W1), GRD(X_B1), df1, a[A_X3], PRM(X_W1), (int)N, D, c->FF);
    }
    layernorm_backward(a[A_DX2], GRD(X_LN2G), GRD(X_LN2B), a[A_DX3], a[A_X2], PRM(X_LN2G), a[A_M2], a[A_R2], (int)N, D);
    /* x2 = x0 + attn(ln1(x0)) */
    memcpy(a[A_DX0], a[A_DX2], sizeof(float) * N * D);
    memset(a[A_DX1], 0, sizeof(float) * N * D);
    mhsa_backward(a[A_DX1], GRD(X_WQKV), GRD(X_BQKV), GRD(X_WO), GRD(X_BO), a[A_DX2], a[A_QKV], a[A_ATT], a[A_Y],
                  a[A_X1], PRM(X_WQKV), PRM(X_WO), a[A_WORK], L, Q, D, c->NH);
    layernorm_backward(a[A_DX0], GRD(X_LN1G), GRD(X_LN1B), a[A_DX1], a[A_X0], PRM(X_LN1G), a[A_M1], a[A_R1], (int)N, D);
    /* x0 = W_in xin + b_in + pe */
    memset(m->dxin, 0, sizeof(float) * N * in);
    linear_backward(m->dxin, GRD(X_WIN), GRD(X_BIN), a[A_DX0], m->xin, PRM(X_WIN), (int)N, in, D);
    scatter_input_grads(m, b, 1, dxf, ds);
    break;
  }
  default:
    break;
  }
}
