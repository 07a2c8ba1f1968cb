/* model: layers with hand-written forward and backward passes (docs/MODEL.md).
 *
 * Pure kernels: no MPI, no IN/O, no allocation. Every matrix product is a
 * cblas_sgemm. Conventions follow llm.c: outputs first, dimensions last, a
 * shape comment on every tensor, `d` for gradients, and backward passes ADD
 * into the gradients of parameters and inputs (callers zero them), so one
 * gradient buffer can collect a whole network. Weights are row-major
 * (out, in), as in PyTorch, so a reference implementation can load them as is.
 * Sequences are time-major: (T, B, C). A NULL input-gradient pointer skips
 * that gradient. */
#ifndef RACI_MODEL_H
#define RACI_MODEL_H

#include <stddef.h>

/* ---------------------------------------------------------------- linear */
/* out (B, O) = inp (B, IN) W^T + b;  W (O, IN), b (O) or NULL */
void linear_forward(float *out, const float *inp, const float *W, const float *b, int B, int IN, int O);
void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W, int B,
                     int IN, int O);

/* ----------------------------------------------------------- activations */
/* element-wise over n values; backward takes the forward output (tanh,
 * sigmoid) or input (softplus) */
void tanh_forward(float *out, const float *inp, size_t n);
void tanh_backward(float *dinp, const float *dout, const float *out, size_t n);
void sigmoid_forward(float *out, const float *inp, size_t n);
void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n);
void softplus_forward(float *out, const float *inp, size_t n);
void softplus_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* ------------------------------------------------------------------- GRU */
/* PyTorch's GRU: r, z, n gates in that order in Wih (3H, IN), Whh (3H, H),
 * bih (3H), bhh (3H); h0 = 0.
 *   r = sig(Wir x + bir + Whr h + bhr), z = sig(Wiz x + biz + Whz h + bhz)
 *   n = tanh(Win x + bin + r * (Whn h + bhn)),  h' = (1 - z) * n + z * h
 * Saved for backward: hs (T+1, B, H) with hs[0] = 0, gates (T, B, 3H) = r, z, n
 * after activation, ghn (T, B, H) = Whn h + bhn. work: (T, B, 3H) floats. */
void gru_forward(float *hs, float *gates, float *ghn, const float *inp, const float *Wih, const float *Whh,
                 const float *bih, const float *bhh, float *work, int T, int B, int IN, int H);
/* dhs (T+1, B, H): loss gradient w.r.t. each hidden state (often only the
 * last is non-zero); it is consumed (overwritten). work: 2 (T, B, 3H) floats. */
void gru_backward(float *dinp, float *dWih, float *dWhh, float *dbih, float *dbhh, float *dhs, const float *hs,
                  const float *gates, const float *ghn, const float *inp, const float *Wih, const float *Whh,
                  float *work, int T, int B, int IN, int H);

/* ------------------------------------------------- attention over a set */
/* For each of B queries, attention over K candidates with a mask:
 *   q = Wq x_q + bq (A), k_j = Wk x_j + bk, v_j = Wv x_j + bv (A),
 *   p = softmax_j(q . k_j / sqrt(A)) over j with mask[j] != 0,  out = sum_j p_j v_j;
 * out = 0 when no candidate is valid.
 * q_in (B, Dq), kv_in (B, K, Dk), mask (B, K) or NULL (all valid);
 * saved: q (B, A), k (B, K, A), v (B, K, A), p (B, K). */
void attn_forward(float *out, float *q, float *k, float *v, float *p, const float *q_in, const float *kv_in,
                  const unsigned char *mask, const float *Wq, const float *bq, const float *Wk, const float *bk,
                  const float *Wv, const float *bv, int B, int K, int Dq, int Dk, int A);
/* work: (B, A) + (B, K, A) + (B, K, A) floats */
void attn_backward(float *dq_in, float *dkv_in, float *dWq, float *dbq, float *dWk, float *dbk, float *dWv, float *dbv,
                   const float *dout, const float *q, const float *k, const float *v, const float *p, const float *q_in,
                   const float *kv_in, const float *Wq, const float *Wk, const float *Wv, float *work, int B, int K,
                   int Dq, int Dk, int A);

/* ------------------------------------------------------------------ FiLM */
/* [gamma, beta] (B, 2H) = u (B, U) Wf^T + bf;  out (B, H) = h * (1 + gamma) + beta.
 * Saved: gb (B, 2H). */
void film_forward(float *out, float *gb, const float *h, const float *u, const float *Wf, const float *bf, int B, int U,
                  int H);
/* work: (B, 2H) floats */
void film_backward(float *dh, float *du, float *dWf, float *dbf, const float *dout, const float *h, const float *u,
                   const float *gb, const float *Wf, float *work, int B, int U, int H);

/* ------------------------------------------------------------ masked MSE */
/* Sum over observed values (y not NaN) of w_k ((pred - y) / scale_k)^2 for
 * pred, y (B, T); *count receives the number of observed values. The loss of a
 * batch is this sum divided by the (global) count. */
double mse_forward(const float *pred, const float *y, const float *w, const float *scale, int B, int T, double *count);
/* dpred (B, T) += d/dpred of (sum / norm_count) */
void mse_backward(float *dpred, const float *pred, const float *y, const float *w, const float *scale,
                  double norm_count, int B, int T);

/* ============================================================ networks
 * RACI and its baselines over one batch (docs/MODEL.md sections 3-6). A
 * Model owns its layout and its activation buffers (sized for at most
 * max_q queries and max_r fast-encoder rows); parameters and gradients are
 * flat float arrays of model->nparams in the layout of model->tensor. */

#include <stdint.h>

typedef enum { MODEL_RACI, MODEL_LSTM, MODEL_EALSTM, MODEL_TRANSFORMER } ModelKind;
typedef enum { OUT_FREE, OUT_SOFTPLUS, OUT_DERIVED } OutKind; /* mu + sigma a, sigma softplus(a), RECO - GPP */

#define MODEL_MAX_TARGETS 8
#define MODEL_MAX_TENSORS 48

typedef struct {
  ModelKind kind;
  int       no_retrieval, no_slow, no_film;
  int       F, S, T; /* fast drivers, static features, targets */
  int       Lf, P;   /* fast window, slow blocks */
  int       Hf, Hs, Hz, Z, A, Ks, Kf, Ho;
  int       D, NH, FF; /* transformer */
  char      target[MODEL_MAX_TARGETS][16];
  float     mu[MODEL_MAX_TARGETS], sigma[MODEL_MAX_TARGETS], w[MODEL_MAX_TARGETS];
} ModelConfig;

typedef struct {
  char   name[24];
  int    rows, cols; /* cols = 1 for vectors */
  size_t offset;
  int    decay; /* weight decay applies (matrices) */
} ModelTensor;

typedef struct {
  int            Q, R;      /* queries; fast-encoder rows, the first Q are the queries */
  const float   *xf;        /* (Lf, R, F) */
  const float   *xb;        /* (P, Q, F), zeros in empty blocks */
  const uint8_t *eb;        /* (Q, P) 1 = empty block */
  const float   *s;         /* (Q, S) */
  const float   *y;         /* (Q, T) NaN = not observed */
  const int32_t *nb;        /* (Q, Kf) row of xf or -1 */
  const float   *bank_key;  /* (M, Z) */
  const float   *bank_val;  /* (M, Z + 2T) */
  const int32_t *bank_idx;  /* (Q, Ks) bank entry or -1; NULL: the model picks the
                               Ks nearest keys to z, skipping entries of the query's own location */
  const int64_t *bank_lkey; /* (M) location key of each bank entry (when bank_idx is NULL) */
  const int64_t *lkey;      /* (Q) location key of each query (when bank_idx is NULL): the same
                               location has the same key in any file (data_location_key) */
  int M;
} ModelBatch;

typedef struct Model Model;

/* Fills the derived parts of cfg (output kinds) and the parameter layout. */
int model_create(const ModelConfig *cfg, int max_q, int max_r, Model **m);
/* What model_create would allocate, without allocating: bytes of buffers and parameters. */
int                model_size(const ModelConfig *cfg, int max_q, int max_r, double *buf_bytes, double *nparams);
void               model_destroy(Model **m);
size_t             model_nparams(const Model *m);
int                model_ntensors(const Model *m);
const ModelTensor *model_tensor(const Model *m, int i);
const ModelConfig *model_config(const Model *m);
/* uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) keyed by (seed, tensor, element) */
void model_init_params(const Model *m, float *params, uint64_t seed);
/* yhat (Q, T) in physical units; returns the loss sum, *count the observed values */
double model_forward(Model *m, const float *params, const ModelBatch *b, float *yhat, double *count);
/* After model_forward on the same batch: grads += d(loss sum / norm_count)/dparams;
 * dxf, dxb, ds (input gradients, same shapes as the inputs) may be NULL. */
void model_backward(Model *m, const float *params, float *grads, const ModelBatch *b, double norm_count, float *dxf,
                    float *dxb, float *ds);
/* The regime embedding z (Q, Z) of a batch's queries (RACI; uses xb, eb, s only). */
void model_encode_z(Model *m, const float *params, const ModelBatch *b, float *z);

/* ------------------------------------------------------- sequence layers */
/* The baselines' layers (docs/MODEL.md section 4), src/model/seq_layers.c.
 * Sequences are time-major (T, B, C) throughout, attention included, so every
 * layer but attention is a row-wise operation on T*B rows. */

/* LSTM, PyTorch's gates i, f, g, o in Wih (4H, IN), Whh (4H, H), bih (4H),
 * bhh (4H); h0 = c0 = 0.
 *   [i, f, g, o] = [sig, sig, tanh, sig](Wih x + bih + Whh h + bhh)
 *   c' = f * c + i * g,  h' = o * tanh(c')
 * inp (T, B, IN); saved for backward: hs (T+1, B, H) and cs (T+1, B, H) with
 * hs[0] = cs[0] = 0, gates (T, B, 4H) = i, f, g, o after activation. */
void lstm_forward(float *hs, float *cs, float *gates, const float *inp, const float *Wih, const float *Whh,
                  const float *bih, const float *bhh, int T, int B, int IN, int H);
/* dhs (T+1, B, H): loss gradient w.r.t. each hidden state; it is consumed
 * (overwritten). work: (T, B, 4H) + (B, H) floats. */
void lstm_backward(float *dinp, float *dWih, float *dWhh, float *dbih, float *dbhh, float *dhs, const float *hs,
                   const float *cs, const float *gates, const float *inp, const float *Wih, const float *Whh,
                   float *work, int T, int B, int IN, int H);

/* EA-LSTM (Kratzert et al. 2019): the input gate comes from the statics and
 * is constant over time, ig (B, H) = sig(s Wi^T + bi) with s (B, S), Wi (H, S),
 * bi (H); gates f, g, o in Wih (3H, IN), Whh (3H, H) and one bias b (3H):
 *   [f, g, o] = [sig, tanh, sig](Wih x + Whh h + b)
 *   c' = f * c + ig * g,  h' = o * tanh(c')
 * inp (T, B, IN); saved: hs, cs (T+1, B, H) (hs[0] = cs[0] = 0), gates
 * (T, B, 3H) = f, g, o after activation, ig (B, H). */
void ealstm_forward(float *hs, float *cs, float *gates, float *ig, const float *inp, const float *s, const float *Wi,
                    const float *bi, const float *Wih, const float *Whh, const float *b, int T, int B, int IN, int S,
                    int H);
/* dhs (T+1, B, H) as for the LSTM, consumed. work: (T, B, 3H) + 2 (B, H) floats. */
void ealstm_backward(float *dinp, float *ds, float *dWi, float *dbi, float *dWih, float *dWhh, float *db, float *dhs,
                     const float *hs, const float *cs, const float *gates, const float *ig, const float *inp,
                     const float *s, const float *Wi, const float *Wih, const float *Whh, float *work, int T, int B,
                     int IN, int S, int H);

/* Layer norm over the last dim: out (N, C) = (inp - mean) * rstd * g + b with
 * the biased variance and eps 1e-5 (PyTorch's); g, b (C); saved: mean, rstd (N). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *g, const float *b, int N,
                       int C);
void layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp, const float *g,
                        const float *mean, const float *rstd, int N, int C);

/* GELU, tanh approximation (PyTorch's approximate='tanh'), element-wise over
 * n values: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); backward takes
 * the forward input. */
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* Multi-head self-attention over each of B sequences of length T, no mask,
 * model dim D, NH heads of hd = D / NH (D divisible by NH):
 *   [q, k, v] = x Wqkv^T + bqkv, Wqkv (3D, D) with the q rows first, then k,
 *   then v (PyTorch's in_proj_weight), bqkv (3D); head h uses columns
 *   h*hd .. (h+1)*hd - 1 of each;
 *   y_h = softmax(q_h k_h^T / sqrt(hd)) v_h,  out = [y_0 .. y_NH-1] Wo^T + bo,
 *   Wo (D, D), bo (D).
 * inp, out (T, B, D) time-major like every sequence; saved: qkv (T, B, 3D),
 * att (B, NH, T, T) the softmax probabilities (row: query, column: key),
 * y (T, B, D) the heads' outputs concatenated. */
void mhsa_forward(float *out, float *qkv, float *att, float *y, const float *inp, const float *Wqkv, const float *bqkv,
                  const float *Wo, const float *bo, int T, int B, int D, int NH);
/* work: (T, B, D) + (T, B, 3D) + (T, T) floats */
void mhsa_backward(float *dinp, float *dWqkv, float *dbqkv, float *dWo, float *dbo, const float *dout, const float *qkv,
                   const float *att, const float *y, const float *inp, const float *Wqkv, const float *Wo, float *work,
                   int T, int B, int D, int NH);

/* Sinusoidal position encoding: out (T, B, D) = inp + pe[t] with
 * pe[t, 2k] = sin(t / 10000^(2k/D)), pe[t, 2k+1] = cos(t / 10000^(2k/D)).
 * out may be inp. No parameters, and the backward pass is the identity. */
void posenc_forward(float *out, const float *inp, int T, int B, int D);

#endif
