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
void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W, int B, int IN, int O);

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
void gru_forward(float *hs, float *gates, float *ghn, const float *inp, const float *Wih, const float *Whh, const float *bih, const float *bhh, float *work, int T, int B, int IN, int H);
/* dhs (T+1, B, H): loss gradient w.r.t. each hidden state (often only the
 * last is non-zero); it is consumed (overwritten). work: 2 (T, B, 3H) floats. */
void gru_backward(float *dinp, float *dWih, float *dWhh, float *dbih, float *dbhh, float *dhs, const float *hs, const float *gates, const float *ghn, const float *inp, const float *Wih, const float *Whh, float *work, int T, int B, int IN, int H);

/* ------------------------------------------------- attention over a set */
/* For each of B queries, attention over K candidates with a mask:
 *   q = Wq x_q + bq (A), k_j = Wk x_j + bk, v_j = Wv x_j + bv (A),
 *   p = softmax_j(q . k_j / sqrt(A)) over j with mask[j] != 0,  out = sum_j p_j v_j;
 * out = 0 when no candidate is valid.
 * q_in (B, Dq), kv_in (B, K, Dk), mask (B, K) or NULL (all valid);
 * saved: q (B, A), k (B, K, A), v (B, K, A), p (B, K). */
void attn_forward(float *out, float *q, float *k, float *v, float *p, const float *q_in, const float *kv_in, const unsigned char *mask, const float *Wq, const float *bq, const float *Wk, const float *bk, const float *Wv, const float *bv, int B, int K, int Dq, int Dk, int A);
/* work: (B, A) + (B, K, A) + (B, K, A) floats */
void attn_backward(float *dq_in, float *dkv_in, float *dWq, float *dbq, float *dWk, float *dbk, float *dWv, float *dbv, const float *dout, const float *q, const float *k, const float *v, const float *p, const float *q_in, const float *kv_in, const float *Wq, const float *Wk, const float *Wv, float *work, int B, int K, int Dq, int Dk, int A);

/* ------------------------------------------------------------------ FiLM */
/* [gamma, beta] (B, 2H) = u (B, U) Wf^T + bf;  out (B, H) = h * (1 + gamma) + beta.
 * Saved: gb (B, 2H). */
void film_forward(float *out, float *gb, const float *h, const float *u, const float *Wf, const float *bf, int B, int U, int H);
/* work: (B, 2H) floats */
void film_backward(float *dh, float *du, float *dWf, float *dbf, const float *dout, const float *h, const float *u, const float *gb, const float *Wf, float *work, int B, int U, int H);

/* ------------------------------------------------------------ masked MSE */
/* Sum over observed values (y not NaN) of w_k ((pred - y) / scale_k)^2 for
 * pred, y (B, T); *count receives the number of observed values. The loss of a
 * batch is this sum divided by the (global) count. */
double mse_forward(const float *pred, const float *y, const float *w, const float *scale, int B, int T, double *count);
/* dpred (B, T) += d/dpred of (sum / norm_count) */
void mse_backward(float *dpred, const float *pred, const float *y, const float *w, const float *scale, double norm_count, int B, int T);

#endif
