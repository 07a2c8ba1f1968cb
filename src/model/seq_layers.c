/* model: the sequence layers of the baselines (docs/MODEL.md section 4):
 * LSTM, EA-LSTM, layer norm, GELU, causal multi-head self-attention over a
 * window, the sinusoidal position encoding and the causal dilated
 * convolution of the TCN, forward and backward. */
#include <raci/model.h>
#include "mathf.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static inline float sigm(float x) { return raci_sigmoidf(x); }

/* Row b restarts at step t: the state entering the step is 0. At t = 0 it is
 * 0 anyway (hs[0] = cs[0] = 0). */
static inline int restarts(const int32_t *age, int t, int B, int b)
{
  return age && t > 0 && age[(size_t)t * B + b] <= 0;
}

/* The hidden states entering step t (B, H): h itself, or, when a row restarts,
 * a copy in tmp with the restarted rows zeroed (h, the saved output of day
 * t-1, is left as it is). */
static const float *state_in(float *tmp, const float *h, const int32_t *age, int t, int B, int H)
{
  int any = 0;
  for (int b = 0; b < B && !any; b++) any = restarts(age, t, B, b);
  if (!any) return h;
  memcpy(tmp, h, sizeof(float) * (size_t)B * H);
  for (int b = 0; b < B; b++)
    if (restarts(age, t, B, b)) memset(tmp + (size_t)b * H, 0, sizeof(float) * H);
  return tmp;
}

/* dh (B, H) += dg (B, G) Whh (G, H), the recurrent path into the state
 * entering step t, except for the rows that restart there (their dh keeps
 * only what it had: the gradient of day t-1's output). tmp: (B, H). */
static void recurrent_backward(float *dh, const float *dg, const float *Whh, const int32_t *age, float *tmp, int t,
                               int B, int G, int H)
{
  int n = 0;
  for (int b = 0; b < B; b++)
    if (restarts(age, t, B, b)) memcpy(tmp + (size_t)n++ * H, dh + (size_t)b * H, sizeof(float) * H);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, G, 1.0f, dg, G, Whh, H, 1.0f, dh, H);
  n = 0;
  for (int b = 0; b < B; b++)
    if (restarts(age, t, B, b)) memcpy(dh + (size_t)b * H, tmp + (size_t)n++ * H, sizeof(float) * H);
}

/* dWhh (G, H) += dg^T hs over all T*B rows of the steps' entering states;
 * dg (T, B, G) is consumed: the rows that restart (entering state 0) are
 * zeroed, so hs (the saved outputs) serves as the entering states. */
static void recurrent_weight_backward(float *dWhh, float *dg, const float *hs, const int32_t *age, int T, int B, int G,
                                      int H)
{
  for (int t = 1; age && t < T; t++)
    for (int b = 0; b < B; b++)
      if (restarts(age, t, B, b)) memset(dg + ((size_t)t * B + b) * G, 0, sizeof(float) * G);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, T * B, 1.0f, dg, G, hs, H, 1.0f, dWhh, H);
}

/* One row of LSTM gates, activated in place: without ig, gb holds the
 * pre-activations of i, f, g, o (4H); with ig (EA-LSTM's static input gate)
 * those of f, g, o (3H). c' = f (keep c) + i g, h' = o tanh(c'), keep 0 on a
 * restart (c is finite, so keep c is 0), else 1. Separate arrays (restrict),
 * so the loop vectorises. */
static void lstm_gates(float *restrict gb, float *restrict cn, float *restrict hn, const float *restrict c, float keep,
                       const float *restrict ig, int H)
{
  if (ig) {
    for (int j = 0; j < H; j++) {
      float fg = sigm(gb[j]), gg = raci_tanhf(gb[H + j]), og = sigm(gb[2 * H + j]);
      gb[j] = fg, gb[H + j] = gg, gb[2 * H + j] = og;
      cn[j] = fg * (keep * c[j]) + ig[j] * gg;
      hn[j] = og * raci_tanhf(cn[j]);
    }
  } else {
    for (int j = 0; j < H; j++) {
      float i = sigm(gb[j]), fg = sigm(gb[H + j]), gg = raci_tanhf(gb[2 * H + j]), og = sigm(gb[3 * H + j]);
      gb[j] = i, gb[H + j] = fg, gb[2 * H + j] = gg, gb[3 * H + j] = og;
      cn[j] = fg * (keep * c[j]) + i * gg;
      hn[j] = og * raci_tanhf(cn[j]);
    }
  }
}

/* The recurrence shared by the LSTM (ig NULL, G = 4H) and the EA-LSTM
 * (G = 3H): gates (T, B, G) hold the input projections and biases on entry. */
static void lstm_steps(float *hs, float *cs, float *gates, const float *ig, const float *Whh, const int32_t *age, int T,
                       int B, int G, int H)
{
  const size_t BH = (size_t)B * H, BG = (size_t)B * G;

  memset(hs, 0, sizeof(float) * BH);
  memset(cs, 0, sizeof(float) * BH);
  for (int t = 0; t < T; t++) {
    const float *c  = cs + t * BH;
    float       *hn = hs + (t + 1) * BH, *cn = cs + (t + 1) * BH;
    float       *g = gates + t * BG;
    const float *h = state_in(hn, hs + t * BH, age, t, B, H); // hn is free until the gates write it
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, G, H, 1.0f, h, H, Whh, H, 1.0f, g, G);
    for (int b = 0; b < B; b++)
      lstm_gates(g + (size_t)b * G, cn + (size_t)b * H, hn + (size_t)b * H, c + (size_t)b * H,
                 restarts(age, t, B, b) ? 0.0f : 1.0f, ig ? ig + (size_t)b * H : NULL, H);
  }
}

void lstm_forward(float *hs, float *cs, float *gates, const float *inp, const float *Wih, const float *Whh,
                  const float *bih, const float *bhh, const int32_t *age, int T, int B, int IN, int H)
{
  // hs, cs (T+1, B, H), gates (T, B, 4H), inp (T, B, IN)
  // gates first hold the pre-activations: all input projections at once, then
  // step by step the recurrent term, activated in place
  linear_forward(gates, inp, Wih, bih, T * B, IN, 4 * H);
  for (size_t r = 0; r < (size_t)T * B; r++)
    for (int j = 0; j < 4 * H; j++) gates[r * 4 * H + j] += bhh[j];
  lstm_steps(hs, cs, gates, NULL, Whh, age, T, B, 4 * H, H);
}

void lstm_backward(float *dinp, float *dWih, float *dWhh, float *dbih, float *dbhh, float *dhs, const float *hs,
                   const float *cs, const float *gates, const float *inp, const float *Wih, const float *Whh,
                   const int32_t *age, float *work, int T, int B, int IN, int H)
{
  // work: dg (T, B, 4H) gradients of the gate pre-activations, dc (B, H), tmp (B, H)
  const size_t BH = (size_t)B * H, B4H = 4 * BH;
  float       *dgates = work, *dc = work + (size_t)T * B4H, *tmp = dc + BH;

  memset(dc, 0, sizeof(float) * BH);
  for (int t = T - 1; t >= 0; t--) {
    const float *g = gates + t * B4H, *c = cs + t * BH, *cn = cs + (t + 1) * BH;
    const float *dh = dhs + (t + 1) * BH;
    float       *dg = dgates + t * B4H;
    for (int b = 0; b < B; b++) {
      const float *gb   = g + (size_t)b * 4 * H;
      float       *dgb  = dg + (size_t)b * 4 * H;
      const float  keep = restarts(age, t, B, b) ? 0.0f : 1.0f; // the cell state entering is keep * c
      for (int j = 0; j < H; j++) {
        size_t i1 = (size_t)b * H + j;
        float  ig = gb[j], fg = gb[H + j], gg = gb[2 * H + j], og = gb[3 * H + j];
        float  tc = raci_tanhf(cn[i1]), d = dh[i1];
        float  dcc     = dc[i1] + d * og * (1.0f - tc * tc); // through h = o tanh(c), plus from c_{t+1}
        dgb[j]         = dcc * gg * ig * (1.0f - ig);
        dgb[H + j]     = dcc * (keep * c[i1]) * fg * (1.0f - fg);
        dgb[2 * H + j] = dcc * ig * (1.0f - gg * gg);
        dgb[3 * H + j] = d * tc * og * (1.0f - og);
        dc[i1]         = dcc * fg * keep;
      }
    }
    recurrent_backward(dhs + t * BH, dg, Whh, age, tmp, t, B, 4 * H, H);
  }
  linear_backward(dinp, dWih, dbih, dgates, inp, Wih, T * B, IN, 4 * H);
  for (size_t r = 0; r < (size_t)T * B; r++)
    for (int j = 0; j < 4 * H; j++) dbhh[j] += dgates[r * 4 * H + j];
  recurrent_weight_backward(dWhh, dgates, hs, age, T, B, 4 * H, H); // last: it zeroes restarted rows of dgates
}

void ealstm_forward(float *hs, float *cs, float *gates, float *ig, const float *inp, const float *s, const float *Wi,
                    const float *bi, const float *Wih, const float *Whh, const float *b, const int32_t *age, int T,
                    int B, int IN, int S, int H)
{
  // hs, cs (T+1, B, H), gates (T, B, 3H), ig (B, H), inp (T, B, IN), s (B, S)
  linear_forward(ig, s, Wi, bi, B, S, H);
  sigmoid_forward(ig, ig, (size_t)B * H);
  linear_forward(gates, inp, Wih, b, T * B, IN, 3 * H);
  lstm_steps(hs, cs, gates, ig, Whh, age, T, B, 3 * H, H);
}

void ealstm_backward(float *dinp, float *ds, float *dWi, float *dbi, float *dWih, float *dWhh, float *db, float *dhs,
                     const float *hs, const float *cs, const float *gates, const float *ig, const float *inp,
                     const float *s, const float *Wi, const float *Wih, const float *Whh, const int32_t *age,
                     float *work, int T, int B, int IN, int S, int H)
{
  // work: dg (T, B, 3H), dc (B, H), di (B, H) (input gate, summed over time), tmp (B, H)
  const size_t BH = (size_t)B * H, B3H = 3 * BH;
  float       *dgates = work, *dc = work + (size_t)T * B3H, *di = dc + BH, *tmp = di + BH;

  memset(dc, 0, sizeof(float) * 2 * BH);
  for (int t = T - 1; t >= 0; t--) {
    const float *g = gates + t * B3H, *c = cs + t * BH, *cn = cs + (t + 1) * BH;
    const float *dh = dhs + (t + 1) * BH;
    float       *dg = dgates + t * B3H;
    for (int n = 0; n < B; n++) {
      const float *gb   = g + (size_t)n * 3 * H;
      float       *dgb  = dg + (size_t)n * 3 * H;
      const float  keep = restarts(age, t, B, n) ? 0.0f : 1.0f;
      for (int j = 0; j < H; j++) {
        size_t i1 = (size_t)n * H + j;
        float  fg = gb[j], gg = gb[H + j], og = gb[2 * H + j];
        float  tc = raci_tanhf(cn[i1]), d = dh[i1];
        float  dcc = dc[i1] + d * og * (1.0f - tc * tc);
        di[i1] += dcc * gg;
        dgb[j]         = dcc * (keep * c[i1]) * fg * (1.0f - fg);
        dgb[H + j]     = dcc * ig[i1] * (1.0f - gg * gg);
        dgb[2 * H + j] = d * tc * og * (1.0f - og);
        dc[i1]         = dcc * fg * keep;
      }
    }
    recurrent_backward(dhs + t * BH, dg, Whh, age, tmp, t, B, 3 * H, H);
  }
  for (size_t i1 = 0; i1 < BH; i1++) di[i1] *= ig[i1] * (1.0f - ig[i1]);
  linear_backward(ds, dWi, dbi, di, s, Wi, B, S, H);
  linear_backward(dinp, dWih, db, dgates, inp, Wih, T * B, IN, 3 * H); // the one bias serves both paths
  recurrent_weight_backward(dWhh, dgates, hs, age, T, B, 3 * H, H);
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *g, const float *b, int N,
                       int C)
{
  // out, inp (N, C), mean, rstd (N), g, b (C)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float       *o = out + (size_t)n * C, m = 0, v = 0;
    for (int j = 0; j < C; j++) m += x[j];
    m /= (float)C;
    for (int j = 0; j < C; j++) v += (x[j] - m) * (x[j] - m);
    v /= (float)C; // biased variance, as PyTorch
    float rs = 1.0f / sqrtf(v + 1e-5f);
    for (int j = 0; j < C; j++) o[j] = (x[j] - m) * rs * g[j] + b[j];
    mean[n] = m, rstd[n] = rs;
  }
}

void layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp, const float *g,
                        const float *mean, const float *rstd, int N, int C)
{
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
    float        m = mean[n], rs = rstd[n], dmean = 0, dnorm_norm = 0;
    for (int j = 0; j < C; j++) {
      float norm = (x[j] - m) * rs, dnorm = g[j] * d[j];
      dmean += dnorm;
      dnorm_norm += dnorm * norm;
      dg[j] += norm * d[j];
      db[j] += d[j];
    }
    dmean /= (float)C, dnorm_norm /= (float)C;
    if (!dinp) continue;
    float *dx = dinp + (size_t)n * C;
    for (int j = 0; j < C; j++) {
      float norm = (x[j] - m) * rs;
      dx[j] += (g[j] * d[j] - dmean - norm * dnorm_norm) * rs; // through the centring and the scaling
    }
  }
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

void gelu_forward(float *out, const float *inp, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    float x = inp[i];
    out[i]  = 0.5f * x * (1.0f + raci_tanhf(GELU_K * (x + GELU_C * x * x * x)));
  }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    float x = inp[i], th = raci_tanhf(GELU_K * (x + GELU_C * x * x * x));
    float du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    dinp[i] += dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
  }
}

/* First key day of query day t in row b: t - min(window, age), t where the
 * day is missing (age < 0), never before the sequence. */
static inline int window_start(const int32_t *age, int window, int t, int B, int b)
{
  int back = window;
  if (age) {
    int a = age[(size_t)t * B + b];
    back  = a < 0 ? 0 : a < window ? a : window;
  }
  return t - back < 0 ? 0 : t - back;
}

void mhsa_forward(float *out, float *qkv, float *att, float *y, const float *inp, const float *Wqkv, const float *bqkv,
                  const float *Wo, const float *bo, const int32_t *age, int window, int T, int B, int D, int NH)
{
  // out, inp, y (T, B, D), qkv (T, B, 3D), att (B, NH, T, K). Row t of att
  // holds the keys t - window .. t (column w: day t - window + w). In
  // time-major qkv, day j of row b is at qkv + (j B + b) 3D.
  const int   hd = D / NH, K = window + 1;
  const float scale = 1.0f / sqrtf((float)hd);

  linear_forward(qkv, inp, Wqkv, bqkv, T * B, D, 3 * D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const float *q  = qkv + ((size_t)t * B + b) * 3 * D + (size_t)h * hd;
        float       *a  = att + (((size_t)b * NH + h) * T + t) * K; // a[j + o]: key day j
        float       *yt = y + ((size_t)t * B + b) * D + (size_t)h * hd;
        const int    o = window - t, lo = window_start(age, window, t, B, b);
        float        mx = -INFINITY, sum = 0;
        for (int j = t - window; j < lo; j++) a[j + o] = 0; // outside the row's days
        for (int j = lo; j <= t; j++) {
          const float *k = qkv + ((size_t)j * B + b) * 3 * D + D + (size_t)h * hd;
          float        s = 0;
          for (int e = 0; e < hd; e++) s += q[e] * k[e];
          a[j + o] = s * scale;
          mx       = fmaxf(mx, a[j + o]);
        }
        for (int j = lo; j <= t; j++) sum += (a[j + o] = expf(a[j + o] - mx));
        for (int e = 0; e < hd; e++) yt[e] = 0;
        for (int j = lo; j <= t; j++) {
          const float *v = qkv + ((size_t)j * B + b) * 3 * D + 2 * D + (size_t)h * hd;
          a[j + o] /= sum;
          for (int e = 0; e < hd; e++) yt[e] += a[j + o] * v[e];
        }
      }
  linear_forward(out, y, Wo, bo, T * B, D, D);
}

void mhsa_backward(float *dinp, float *dWqkv, float *dbqkv, float *dWo, float *dbo, const float *dout, const float *qkv,
                   const float *att, const float *y, const float *inp, const float *Wqkv, const float *Wo,
                   const int32_t *age, int window, float *work, int T, int B, int D, int NH)
{
  // work: dy (T, B, D), dqkv (T, B, 3D), dp (K) for one query
  const int   hd = D / NH, K = window + 1;
  const float scale = 1.0f / sqrtf((float)hd);
  float      *dy = work, *dqkv = dy + (size_t)T * B * D, *dpw = dqkv + (size_t)T * B * 3 * D;

  memset(dy, 0, sizeof(float) * (size_t)T * B * 4 * D); // dy and dqkv
  linear_backward(dy, dWo, dbo, dout, y, Wo, T * B, D, D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const size_t qo = ((size_t)t * B + b) * 3 * D + (size_t)h * hd;
        const float *q = qkv + qo, *dyt = dy + ((size_t)t * B + b) * D + (size_t)h * hd;
        const float *a  = att + (((size_t)b * NH + h) * T + t) * K; // a[j + o], dp[j + o]: key day j
        float       *dq = dqkv + qo, *dp = dpw, dot = 0;
        const int    o = window - t, lo = window_start(age, window, t, B, b);
        for (int j = lo; j <= t; j++) {
          const size_t ko = ((size_t)j * B + b) * 3 * D + (size_t)h * hd;
          const float *v  = qkv + ko + 2 * D;
          float       *dv = dqkv + ko + 2 * D;
          float        d  = 0;
          for (int e = 0; e < hd; e++) {
            d += dyt[e] * v[e];
            dv[e] += a[j + o] * dyt[e];
          }
          dp[j + o] = d;
          dot += a[j + o] * d;
        }
        for (int j = lo; j <= t; j++) {
          const size_t ko = ((size_t)j * B + b) * 3 * D + (size_t)h * hd;
          const float *k  = qkv + ko + D;
          float       *dk = dqkv + ko + D;
          float        ds = a[j + o] * (dp[j + o] - dot) * scale; // softmax, then the 1/sqrt(hd) scaling
          for (int e = 0; e < hd; e++) {
            dq[e] += ds * k[e];
            dk[e] += ds * q[e];
          }
        }
      }
  linear_backward(dinp, dWqkv, dbqkv, dqkv, inp, Wqkv, T * B, D, 3 * D);
}

void posenc_forward(float *out, const float *inp, int T, int B, int D)
{
  // out, inp (T, B, D); out may be inp
  for (int t = 0; t < T; t++)
    for (int j = 0; j < D; j += 2) {
      double angle = t * pow(10000.0, -(double)j / D);
      float  ps = (float)sin(angle), pc = (float)cos(angle);
      for (int b = 0; b < B; b++) {
        size_t o = ((size_t)t * B + b) * D + j;
        out[o]   = inp[o] + ps;
        if (j + 1 < D) out[o + 1] = inp[o + 1] + pc;
      }
    }
}

/* The taps of every (day, row) side by side: col (T*B, K*C), tap k of day t
 * reading inp(t - k dil), or 0 (see tcn_conv_forward). */
static inline int tap_valid(const int32_t *age, int t, int B, int b, int back)
{
  return t - back >= 0 && (!age || back <= age[(size_t)t * B + b]);
}

static void tcn_im2col(float *col, const float *inp, const int32_t *age, int T, int B, int C, int K, int dil)
{
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) {
      float *row = col + ((size_t)t * B + b) * K * C;
      for (int k = 0; k < K; k++) {
        int back = k * dil;
        if (tap_valid(age, t, B, b, back))
          memcpy(row + (size_t)k * C, inp + ((size_t)(t - back) * B + b) * C, sizeof(float) * C);
        else
          memset(row + (size_t)k * C, 0, sizeof(float) * C);
      }
    }
}

void tcn_conv_forward(float *out, const float *inp, const float *W, const float *b, const int32_t *age, float *work,
                      int T, int B, int C, int K, int dil)
{
  // out, inp (T, B, C), W (C, K*C), b (C), work: col (T, B, K*C)
  tcn_im2col(work, inp, age, T, B, C, K, dil);
  linear_forward(out, work, W, b, T * B, K * C, C);
}

void tcn_conv_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W,
                       const int32_t *age, float *work, int T, int B, int C, int K, int dil)
{
  // work: first the taps col (T, B, K*C) for dW, then their gradient dcol
  const int KC = K * C;

  tcn_im2col(work, inp, age, T, B, C, K, dil);
  linear_backward(NULL, dW, db, dout, work, W, T * B, KC, C);
  if (!dinp) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T * B, KC, C, 1.0f, dout, C, W, KC, 0.0f, work, KC);
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) {
      const float *row = work + ((size_t)t * B + b) * KC;
      for (int k = 0; k < K; k++) {
        int back = k * dil;
        if (!tap_valid(age, t, B, b, back)) continue;
        float *d = dinp + ((size_t)(t - back) * B + b) * C;
        for (int c = 0; c < C; c++) d[c] += row[(size_t)k * C + c];
      }
    }
}
