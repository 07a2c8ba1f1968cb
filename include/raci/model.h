/* model: layers with hand-written forward and backward passes (docs/MODEL.md).
 *
 * Pure kernels: no MPI, no I/O, no allocation. Every matrix product is a
 * cblas_sgemm, except linear_forward with at most 8 inputs (a vectorised
 * loop: sgemm packs more than it multiplies there). Conventions follow llm.c: outputs first, dimensions last, a
 * shape comment on every tensor, `d` for gradients, and backward passes ADD
 * into the gradients of parameters and inputs (callers zero them), so one
 * gradient buffer can collect a whole network. Weights are row-major
 * (out, in), as in PyTorch, so a reference implementation can load them as is.
 * Sequences are time-major: (T, B, C). A NULL input-gradient pointer skips
 * that gradient. */
#ifndef RACI_MODEL_H
#define RACI_MODEL_H

#include <stddef.h>
#include <stdint.h>

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
 * after activation, ghn (T, B, H) = Whn h + bhn. work: (T, B, 3H) floats.
 * rowb (B, 3H) or NULL: a per-row term added to the input projection of
 * every step (the static features' share of the gates, constant in time).
 * age (T, B) or NULL: a row with age[t, b] <= 0 starts step t from a zero
 * state (the step reads 0 for the state entering it and no gradient flows back
 * through it); hs[t] stays the output of day t-1. */
void gru_forward(float *hs, float *gates, float *ghn, const float *inp, const float *Wih, const float *Whh,
                 const float *bih, const float *bhh, const float *rowb, const int32_t *age, float *work, int T, int B,
                 int IN, int H);
/* dhs (T+1, B, H): loss gradient w.r.t. each hidden state (often only the
 * last is non-zero); it is consumed (overwritten). work: 2 (T, B, 3H) floats.
 * drowb (B, 3H) or NULL: += the gradient of rowb. */
void gru_backward(float *dinp, float *dWih, float *dWhh, float *dbih, float *dbhh, float *drowb, float *dhs,
                  const float *hs, const float *gates, const float *ghn, const float *inp, const float *Wih,
                  const float *Whh, const int32_t *age, float *work, int T, int B, int IN, int H);

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
 * RACI and its baselines over one batch of *segments* (DESIGN.md section 3,
 * docs/MODEL.md sections 3-6). A segment is one location's T = W + Sc
 * consecutive days: W warm-up days, then Sc scored days. Every encoder is
 * causal and runs once along the segment's days; outputs exist for the
 * scored days only. A Model owns its layout and its activation buffers (sized
 * for at most max_b segments and max_r rows); parameters and gradients are
 * flat float arrays of model->nparams in the layout of model->tensor. */

#include <stdint.h>

typedef enum { MODEL_RACI, MODEL_LSTM, MODEL_EALSTM, MODEL_TRANSFORMER, MODEL_TCN } ModelKind;
typedef enum { OUT_FREE, OUT_SOFTPLUS, OUT_DERIVED } OutKind; /* mu + sigma a, sigma softplus(a), RECO - GPP */

#define MODEL_MAX_TARGETS 8
#define MODEL_MAX_TENSORS 64

typedef struct {
  ModelKind kind;
  int       no_retrieval, no_slow, no_film;
  int       fast_static; /* RACI: the static features enter the fast GRU's gates every day: 1 as they are
                            (W_s s), 2 through a learned bounded embedding (W_s tanh(W_e s + b_e)) */
  int   head_x;          /* RACI: the scored day's fast drivers enter the head beside the state */
  int   F, S, T;         /* fast drivers, static features, targets */
  int   W, Sc;           /* warm-up and scored days of a segment */
  int   P, Lb;           /* slow blocks before a block, days per block */
  int   Hf, Hs, Hz, Z, A, Ks, Kf, Ho;
  int   D, NH, FF; /* transformer */
  int   Kt, Lt;    /* TCN: kernel width, levels (dilations 1, 2, .., 2^(Lt-1)) */
  char  target[MODEL_MAX_TARGETS][16];
  float mu[MODEL_MAX_TARGETS], sigma[MODEL_MAX_TARGETS], w[MODEL_MAX_TARGETS];
} ModelConfig;

/* Slow blocks a segment's scored days can touch: (Sc - 1) / Lb + 2. */
static inline int model_max_blocks(const ModelConfig *c) { return (c->Sc - 1) / c->Lb + 2; }

typedef enum { INIT_UNIFORM, INIT_ZERO, INIT_ONE } TensorInit;

typedef struct {
  char       name[24];
  int        rows, cols; /* cols = 1 for vectors */
  size_t     offset;
  int        decay;  /* weight decay applies */
  int        fan_in; /* INIT_UNIFORM: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
  TensorInit init;
} ModelTensor;

/* One batch: B query segments over T = W + Sc days each. Rows 0..B-1 of the
 * fast encoder are the queries' segments; rows B..R-1 are their geographic
 * neighbours' segments over the same days (a row may serve several queries).
 * age[t, r] counts the days of unbroken drivers before day t in the row's
 * segment: 0 (re)starts the encoders' state (first day, or the day after a
 * gap), -1 marks a missing day (its drivers enter as 0, it has no output and
 * is no neighbour). The data layer leaves y NaN where a scored day has
 * age < W, so no day is scored before W days of warm-up. */
typedef struct {
  int            B, R, T, NB; /* segments, rows, days, slow blocks per segment (<= model_max_blocks) */
  const float   *xf;          /* (T, R, F) normalised fast drivers, 0 on missing days */
  const int32_t *age;         /* (T, R) see above */
  const float   *s;           /* (R, S) static features of every row */
  const float   *xb;          /* (P, B*NB, F) block summaries before block (b, k), zeros where empty */
  const uint8_t *eb;          /* (B*NB, P) 1 = empty block */
  const int32_t *blk;         /* (B, Sc) slot 0..NB-1 of the block of each scored day */
  const float   *y;           /* (Sc, B, T) targets of the scored days, NaN = not observed or not scored */
  const int32_t *nb;          /* (B, Kf) row of each geographic neighbour or -1 */
  const float   *bank_key;    /* (M, Z) */
  const float   *bank_val;    /* (M, Z + 2T) */
  const int32_t *bank_idx;    /* (B*NB, Ks) bank entry or -1; NULL: the model picks the Ks nearest
                                 keys to z, skipping entries of the query's own location */
  const int64_t *bank_lkey;   /* (M) location key of each bank entry (when bank_idx is NULL) */
  const int64_t *lkey;        /* (B) location key of each query (when bank_idx is NULL): the same
                                 location has the same key in any file (data_location_key) */
  int M;
} ModelBatch;

typedef struct Model Model;

/* Fills the derived parts of cfg (output kinds) and the parameter layout. */
int model_create(const ModelConfig *cfg, int max_b, int max_r, Model **m);
/* What model_create would allocate, without allocating: bytes of buffers and parameters. */
int                model_size(const ModelConfig *cfg, int max_b, int max_r, double *buf_bytes, double *nparams);
void               model_destroy(Model **m);
size_t             model_nparams(const Model *m);
int                model_ntensors(const Model *m);
const ModelTensor *model_tensor(const Model *m, int i);
const ModelConfig *model_config(const Model *m);
/* Each tensor by its TensorInit; uniform values keyed by (seed, tensor, element) */
void model_init_params(const Model *m, float *params, uint64_t seed);
/* yhat (Sc, B, T) in physical units; returns the loss sum, *count the observed values */
double model_forward(Model *m, const float *params, const ModelBatch *b, float *yhat, double *count);
/* After model_forward on the same batch: grads += d(loss sum / norm_count)/dparams;
 * dxf, dxb, ds (input gradients, same shapes as the inputs) may be NULL. */
void model_backward(Model *m, const float *params, float *grads, const ModelBatch *b, double norm_count, float *dxf,
                    float *dxb, float *ds);
/* The regime embedding z (B*NB, Z) of each query segment's blocks (RACI; uses xb, eb, s only). */
void model_encode_z(Model *m, const float *params, const ModelBatch *b, float *z);
/* After model_forward of RACI on b: the z it computed, (B*NB, Z) (zeros with -no_slow). */
void model_last_z(const Model *m, const ModelBatch *b, float *z);
/* Role shares without rerunning the encoders (docs/MODEL.md section 7). After
 * model_forward of RACI on b with the same params: for every scored day
 * (t, q) with sel[t*B + q] != 0, yslow and yfast (Sc, B, T) receive what
 * model_forward would output with the slow role's inputs (xb, eb, s) or the
 * fast role's inputs (xf) set to 0 (their training means), ages kept;
 * other entries are left alone. RACI's fast encoder does not see the slow
 * inputs, and on zero inputs its state depends only on the days since the
 * last restart, so one 1-row trajectory stands for every row. Overwrites the
 * forward's buffers (call model_last_z first). Returns 0, or 1 for a network
 * without this shortcut (the baselines; RACI with fast_static, whose fast
 * encoder reads the statics, or head_x, whose head reads the fast drivers):
 * then run model_forward on the occluded batches. */
int model_role_outputs(Model *m, const float *params, const ModelBatch *b, const char *sel, float *yslow, float *yfast);
/* Profiling hooks (the model knows no PETSc): around each phase of a forward
 * or backward pass the model calls begin(ctx, phase) and end(ctx, phase, flops)
 * with the phase's floating-point operations (2mnk per sgemm, element-wise
 * work included roughly). NULL hooks: none. */
typedef enum {
  MODEL_PHASE_FAST, /* fast encoder (GRU; a baseline's whole encoder) */
  MODEL_PHASE_SLOW, /* slow encoder and z */
  MODEL_PHASE_ATTN, /* retrieval attention (the transformer's self-attention) */
  MODEL_PHASE_BANK, /* bank search */
  MODEL_PHASE_HEAD, /* FiLM, heads, outputs and loss */
  MODEL_NPHASE
} ModelPhase;
typedef struct {
  void (*begin)(void *ctx, ModelPhase ph);
  void (*end)(void *ctx, ModelPhase ph, double flops);
  void *ctx;
} ModelProfiler;
void model_set_profiler(Model *m, const ModelProfiler *p);

/* ------------------------------------------------------- sequence layers */
/* The baselines' layers (docs/MODEL.md section 4), src/model/seq_layers.c.
 * Sequences are time-major (T, B, C) throughout, attention included, so every
 * layer but attention and the convolution is a row-wise operation on T*B rows.
 *
 * Restarts: age (T, B) or NULL (no restart) is the segment's age of each day
 * (ModelBatch). The LSTMs start step t of a row with age[t, b] <= 0 from a
 * zero state (h and c): that step reads 0 for the state entering it, and no
 * gradient flows back through it. The saved outputs are not touched:
 * hs[t + 1] stays the output of day t whatever the next day's age. */

/* LSTM, PyTorch's gates i, f, g, o in Wih (4H, IN), Whh (4H, H), bih (4H),
 * bhh (4H); h0 = c0 = 0.
 *   [i, f, g, o] = [sig, sig, tanh, sig](Wih x + bih + Whh h + bhh)
 *   c' = f * c + i * g,  h' = o * tanh(c')
 * inp (T, B, IN); saved for backward: hs (T+1, B, H) and cs (T+1, B, H) with
 * hs[0] = cs[0] = 0 (hs[t+1], cs[t+1] the states after day t), gates
 * (T, B, 4H) = i, f, g, o after activation. */
void lstm_forward(float *hs, float *cs, float *gates, const float *inp, const float *Wih, const float *Whh,
                  const float *bih, const float *bhh, const int32_t *age, int T, int B, int IN, int H);
/* dhs (T+1, B, H): loss gradient w.r.t. each hidden state; it is consumed
 * (overwritten). work: (T, B, 4H) + 2 (B, H) floats. */
void lstm_backward(float *dinp, float *dWih, float *dWhh, float *dbih, float *dbhh, float *dhs, const float *hs,
                   const float *cs, const float *gates, const float *inp, const float *Wih, const float *Whh,
                   const int32_t *age, float *work, int T, int B, int IN, int H);

/* EA-LSTM (Kratzert et al. 2019): the input gate comes from the statics and
 * is constant over time, ig (B, H) = sig(s Wi^T + bi) with s (B, S), Wi (H, S),
 * bi (H); gates f, g, o in Wih (3H, IN), Whh (3H, H) and one bias b (3H):
 *   [f, g, o] = [sig, tanh, sig](Wih x + Whh h + b)
 *   c' = f * c + ig * g,  h' = o * tanh(c')
 * inp (T, B, IN); saved: hs, cs (T+1, B, H) (hs[0] = cs[0] = 0), gates
 * (T, B, 3H) = f, g, o after activation, ig (B, H). Restarts as the LSTM. */
void ealstm_forward(float *hs, float *cs, float *gates, float *ig, const float *inp, const float *s, const float *Wi,
                    const float *bi, const float *Wih, const float *Whh, const float *b, const int32_t *age, int T,
                    int B, int IN, int S, int H);
/* dhs (T+1, B, H) as for the LSTM, consumed. work: (T, B, 3H) + 3 (B, H) floats. */
void ealstm_backward(float *dinp, float *ds, float *dWi, float *dbi, float *dWih, float *dWhh, float *db, float *dhs,
                     const float *hs, const float *cs, const float *gates, const float *ig, const float *inp,
                     const float *s, const float *Wi, const float *Wih, const float *Whh, const int32_t *age,
                     float *work, int T, int B, int IN, int S, int H);

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

/* Causal multi-head self-attention over a window of days, for each of B
 * sequences of length T, model dim D, NH heads of hd = D / NH (D divisible
 * by NH):
 *   [q, k, v] = x Wqkv^T + bqkv, Wqkv (3D, D) with the q rows first, then k,
 *   then v (PyTorch's in_proj_weight), bqkv (3D); head h uses columns
 *   h*hd .. (h+1)*hd - 1 of each;
 *   y_h(t) = sum_j p(t, j) v_h(j), p(t, .) = softmax over j of q_h(t) . k_h(j) / sqrt(hd)
 *   out = [y_0 .. y_NH-1] Wo^T + bo, Wo (D, D), bo (D).
 * Day t of row b attends to the days j with t - min(window, age[t, b]) <= j <= t
 * (only itself where age[t, b] < 0); age NULL: t - window <= j <= t. Other
 * days get probability 0.
 * inp, out (T, B, D) time-major like every sequence; saved: qkv (T, B, 3D),
 * att (B, NH, T, window + 1) the probabilities of the band (row: query day t,
 * column w: key day j = t - window + w, 0 outside the row's days), y (T, B, D)
 * the heads' outputs concatenated. */
void mhsa_forward(float *out, float *qkv, float *att, float *y, const float *inp, const float *Wqkv, const float *bqkv,
                  const float *Wo, const float *bo, const int32_t *age, int window, int T, int B, int D, int NH);
/* work: (T, B, D) + (T, B, 3D) + (window + 1) floats */
void mhsa_backward(float *dinp, float *dWqkv, float *dbqkv, float *dWo, float *dbo, const float *dout, const float *qkv,
                   const float *att, const float *y, const float *inp, const float *Wqkv, const float *Wo,
                   const int32_t *age, int window, float *work, int T, int B, int D, int NH);

/* Sinusoidal position encoding: out (T, B, D) = inp + pe[t] with
 * pe[t, 2k] = sin(t / 10000^(2k/D)), pe[t, 2k+1] = cos(t / 10000^(2k/D)).
 * out may be inp. No parameters, and the backward pass is the identity. */
void posenc_forward(float *out, const float *inp, int T, int B, int D);

/* Causal dilated convolution over time, C channels in and out, K taps of
 * dilation dil:
 *   out(t) = b + sum_{k=0}^{K-1} W[:, kC:(k+1)C] inp(t - k dil),
 * where a tap reads 0 when t - k dil < 0 or (age given) k dil > age[t, b]
 * (before the row's last restart; on a day with age -1 every tap reads 0).
 * inp, out (T, B, C), W (C, K*C), b (C). The taps are gathered into an
 * im2col matrix (T*B, K*C) in work, so the layer is one sgemm; the backward
 * pass gathers them again from inp. work: (T, B, K*C) floats, both passes. */
void tcn_conv_forward(float *out, const float *inp, const float *W, const float *b, const int32_t *age, float *work,
                      int T, int B, int C, int K, int dil);
void tcn_conv_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W,
                       const int32_t *age, float *work, int T, int B, int C, int K, int dil);

#endif
