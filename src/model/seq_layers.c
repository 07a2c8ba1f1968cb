/* model: the sequence layers of the baselines (docs/MODEL.md section 4):
 * LSTM, EA-LSTM, layer norm, GELU, multi-head self-attention and the
 * sinusoidal position encoding, forward and backward. */
#include <raci/model.h>
#include "mathf.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static inline float sigm(float x) { return raci_sigmoidf(x); }

/* One row of LSTM gates, activated in place: without ig, gb holds the
 * pre-activations of i, f, g, o (4H); with ig (EA-LSTM's static input gate)
 * those of f, g, o (3H). c' = f c + i g, h' = o tanh(c'). Separate arrays
 * (restrict), so the loop vectorises. */
static void lstm_gates(float *restrict gb, float *restrict cn, float *restrict hn, const float *restrict c,
                       const float *restrict ig, int H)
{
  if (ig) {
    for (int j = 0; j < H; j++) {
      float fg = sigm(gb[j]), gg = raci_tanhf(gb[H + j]), og = sigm(gb[2 * H + j]);
      gb[j] = fg, gb[H + j] = gg, gb[2 * H + j] = og;
      cn[j] = fg * c[j] + ig[j] * gg;
      hn[j] = og * raci_tanhf(cn[j]);
    }
  } else {
    for (int j = 0; j < H; j++) {
      float i = sigm(gb[j]), fg = sigm(gb[H + j]), gg = raci_tanhf(gb[2 * H + j]), og = sigm(gb[3 * H + j]);
      gb[j] = i, gb[H + j] = fg, gb[2 * H + j] = gg, gb[3 * H + j] = og;
      cn[j] = fg * c[j] + i * gg;
      hn[j] = og * raci_tanhf(cn[j]);
    }
  }
}

void lstm_forward(float *hs, float *cs, float *gates, const float *inp, const float *Wih, const float *Whh,
                  const float *bih, const float *bhh, int T, int B, int IN, int H)
{
  // hs, cs (T+1, B, H), gates (T, B, 4H), inp (T, B, IN)
  const size_t BH = (size_t)B * H, B4H = 4 * BH;

  // gates first hold the pre-activations: all input projections at once, then
  // step by step the recurrent term, activated in place
  linear_forward(gates, inp, Wih, bih, T * B, IN, 4 * H);
  for (size_t r = 0; r < (size_t)T * B; r++)
    for (int j = 0; j < 4 * H; j++) gates[r * 4 * H + j] += bhh[j];
  memset(hs, 0, sizeof(float) * BH);
  memset(cs, 0, sizeof(float) * BH);
  for (int t = 0; t < T; t++) {
    const float *h = hs + t * BH, *c = cs + t * BH;
    float       *hn = hs + (t + 1) * BH, *cn = cs + (t + 1) * BH;
    float       *g = gates + t * B4H;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, 4 * H, H, 1.0f, h, H, Whh, H, 1.0f, g, 4 * H);
    for (int b = 0; b < B; b++)
      lstm_gates(g + (size_t)b * 4 * H, cn + (size_t)b * H, hn + (size_t)b * H, c + (size_t)b * H, NULL, H);
  }
}

void lstm_backward(float *dinp, float *dWih, float *dWhh, float *dbih, float *dbhh, float *dhs, const float *hs,
                   const float *cs, const float *gates, const float *inp, const float *Wih, const float *Whh,
                   float *work, int T, int B, int IN, int H)
{
  // work: dg (T, B, 4H) gradients of the gate pre-activations, then dc (B, H)
  const size_t BH = (size_t)B * H, B4H = 4 * BH;
  float       *dgates = work, *dc = work + (size_t)T * B4H;

  memset(dc, 0, sizeof(float) * BH);
  for (int t = T - 1; t >= 0; t--) {
    const float *g = gates + t * B4H, *c = cs + t * BH, *cn = cs + (t + 1) * BH;
    const float *dh = dhs + (t + 1) * BH;
    float       *dg = dgates + t * B4H;
    for (int b = 0; b < B; b++) {
      const float *gb  = g + (size_t)b * 4 * H;
      float       *dgb = dg + (size_t)b * 4 * H;
      for (int j = 0; j < H; j++) {
        size_t i1 = (size_t)b * H + j;
        float  ig = gb[j], fg = gb[H + j], gg = gb[2 * H + j], og = gb[3 * H + j];
        float  tc = raci_tanhf(cn[i1]), d = dh[i1];
        float  dcc     = dc[i1] + d * og * (1.0f - tc * tc); // through h = o tanh(c), plus from c_{t+1}
        dgb[j]         = dcc * gg * ig * (1.0f - ig);
        dgb[H + j]     = dcc * c[i1] * fg * (1.0f - fg);
        dgb[2 * H + j] = dcc * ig * (1.0f - gg * gg);
        dgb[3 * H + j] = d * tc * og * (1.0f - og);
        dc[i1]         = dcc * fg;
      }
    }
    // recurrent path: dh_prev += dg_t Whh
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, 4 * H, 1.0f, dg, 4 * H, Whh, H, 1.0f, dhs + t * BH, H);
  }
  linear_backward(NULL, dWhh, dbhh, dgates, hs, Whh, T * B, H, 4 * H);
  linear_backward(dinp, dWih, dbih, dgates, inp, Wih, T * B, IN, 4 * H);
}

void ealstm_forward(float *hs, float *cs, float *gates, float *ig, const float *inp, const float *s, const float *Wi,
                    const float *bi, const float *Wih, const float *Whh, const float *b, int T, int B, int IN, int S,
                    int H)
{
  // hs, cs (T+1, B, H), gates (T, B, 3H), ig (B, H), inp (T, B, IN), s (B, S)
  const size_t BH = (size_t)B * H, B3H = 3 * BH;

  linear_forward(ig, s, Wi, bi, B, S, H);
  sigmoid_forward(ig, ig, BH);
  linear_forward(gates, inp, Wih, b, T * B, IN, 3 * H);
  memset(hs, 0, sizeof(float) * BH);
  memset(cs, 0, sizeof(float) * BH);
  for (int t = 0; t < T; t++) {
    const float *h = hs + t * BH, *c = cs + t * BH;
    float       *hn = hs + (t + 1) * BH, *cn = cs + (t + 1) * BH;
    float       *g = gates + t * B3H;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, 3 * H, H, 1.0f, h, H, Whh, H, 1.0f, g, 3 * H);
    for (int n = 0; n < B; n++)
      lstm_gates(g + (size_t)n * 3 * H, cn + (size_t)n * H, hn + (size_t)n * H, c + (size_t)n * H, ig + (size_t)n * H,
                 H);
  }
}

void ealstm_backward(float *dinp, float *ds, float *dWi, float *dbi, float *dWih, float *dWhh, float *db, float *dhs,
                     const float *hs, const float *cs, const float *gates, const float *ig, const float *inp,
                     const float *s, const float *Wi, const float *Wih, const float *Whh, float *work, int T, int B,
                     int IN, int S, int H)
{
  // work: dg (T, B, 3H), dc (B, H), di (B, H) (input gate, summed over time)
  const size_t BH = (size_t)B * H, B3H = 3 * BH;
  float       *dgates = work, *dc = work + (size_t)T * B3H, *di = dc + BH;

  memset(dc, 0, sizeof(float) * 2 * BH);
  for (int t = T - 1; t >= 0; t--) {
    const float *g = gates + t * B3H, *c = cs + t * BH, *cn = cs + (t + 1) * BH;
    const float *dh = dhs + (t + 1) * BH;
    float       *dg = dgates + t * B3H;
    for (int n = 0; n < B; n++) {
      const float *gb  = g + (size_t)n * 3 * H;
      float       *dgb = dg + (size_t)n * 3 * H;
      for (int j = 0; j < H; j++) {
        size_t i1 = (size_t)n * H + j;
        float  fg = gb[j], gg = gb[H + j], og = gb[2 * H + j];
        float  tc = raci_tanhf(cn[i1]), d = dh[i1];
        float  dcc = dc[i1] + d * og * (1.0f - tc * tc);
        di[i1] += dcc * gg;
        dgb[j]         = dcc * c[i1] * fg * (1.0f - fg);
        dgb[H + j]     = dcc * ig[i1] * (1.0f - gg * gg);
        dgb[2 * H + j] = d * tc * og * (1.0f - og);
        dc[i1]         = dcc * fg;
      }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, 3 * H, 1.0f, dg, 3 * H, Whh, H, 1.0f, dhs + t * BH, H);
  }
  for (size_t i1 = 0; i1 < BH; i1++) di[i1] *= ig[i1] * (1.0f - ig[i1]);
  linear_backward(ds, dWi, dbi, di, s, Wi, B, S, H);
  linear_backward(NULL, dWhh, NULL, dgates, hs, Whh, T * B, H, 3 * H);
  linear_backward(dinp, dWih, db, dgates, inp, Wih, T * B, IN, 3 * H); // the one bias serves both paths
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

void mhsa_forward(float *out, float *qkv, float *att, float *y, const float *inp, const float *Wqkv, const float *bqkv,
                  const float *Wo, const float *bo, int T, int B, int D, int NH)
{
  // out, inp, y (T, B, D), qkv (T, B, 3D), att (B, NH, T, T).
  // In time-major qkv the (T, hd) block of one sequence and head is a strided
  // matrix with leading dimension 3BD, so each head is two sgemms in place.
  const int    hd    = D / NH;
  const int    ld    = 3 * B * D;
  const float  scale = 1.0f / sqrtf((float)hd);
  const size_t TT    = (size_t)T * T;

  linear_forward(qkv, inp, Wqkv, bqkv, T * B, D, 3 * D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++) {
      const float *q = qkv + (size_t)b * 3 * D + (size_t)h * hd, *k = q + D, *v = q + 2 * D;
      float       *a = att + ((size_t)b * NH + h) * TT;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, ld, k, ld, 0.0f, a, T);
      for (int r = 0; r < T; r++) {
        float *ar = a + (size_t)r * T, mx = -INFINITY, sum = 0;
        for (int c = 0; c < T; c++) mx = fmaxf(mx, ar[c]);
        for (int c = 0; c < T; c++) sum += (ar[c] = expf(ar[c] - mx));
        for (int c = 0; c < T; c++) ar[c] /= sum;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, a, T, v, ld, 0.0f,
                  y + (size_t)b * D + (size_t)h * hd, B * D);
    }
  linear_forward(out, y, Wo, bo, T * B, D, D);
}

void mhsa_backward(float *dinp, float *dWqkv, float *dbqkv, float *dWo, float *dbo, const float *dout, const float *qkv,
                   const float *att, const float *y, const float *inp, const float *Wqkv, const float *Wo, float *work,
                   int T, int B, int D, int NH)
{
  // work: dy (T, B, D), dqkv (T, B, 3D), da (T, T) for one sequence and head
  const int    hd    = D / NH;
  const int    ld    = 3 * B * D;
  const float  scale = 1.0f / sqrtf((float)hd);
  const size_t TT    = (size_t)T * T;
  float       *dy = work, *dqkv = dy + (size_t)T * B * D, *da = dqkv + (size_t)T * B * 3 * D;

  memset(dy, 0, sizeof(float) * (size_t)T * B * D);
  linear_backward(dy, dWo, dbo, dout, y, Wo, T * B, D, D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++) {
      size_t       off = (size_t)b * 3 * D + (size_t)h * hd;
      const float *q = qkv + off, *k = q + D, *v = q + 2 * D;
      float       *dq = dqkv + off, *dk = dq + D, *dv = dq + 2 * D;
      const float *a = att + ((size_t)b * NH + h) * TT, *dyb = dy + (size_t)b * D + (size_t)h * hd;
      // every (sequence, head) block of dqkv is written once, so beta = 0
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, a, T, dyb, B * D, 0.0f, dv, ld);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dyb, B * D, v, ld, 0.0f, da, T);
      for (int r = 0; r < T; r++) {
        const float *ar  = a + (size_t)r * T;
        float       *dar = da + (size_t)r * T, dot = 0;
        for (int c = 0; c < T; c++) dot += ar[c] * dar[c];
        for (int c = 0; c < T; c++) dar[c] = ar[c] * (dar[c] - dot) * scale; // softmax, then the 1/sqrt(hd) scaling
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, da, T, k, ld, 0.0f, dq, ld);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, da, T, q, ld, 0.0f, dk, ld);
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
