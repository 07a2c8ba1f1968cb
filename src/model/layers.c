/* model: layers, forward and backward (docs/MODEL.md section 2). */
#include <raci/model.h>
#include "mathf.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* out (B, O) = inp (B, IN) W^T + b for a small IN: O-long multiply-adds per
 * input, vectorised over the outputs. OpenBLAS's sgemm spends most of its
 * time packing when IN is a handful (the fast drivers' input projection, IN
 * about 6): measured 3x slower for (72000 x 6) (192 x 6)^T. Each row is
 * summed in the same order whatever B, so rows do not depend on the batch. */
#define LINEAR_SMALL_IN 8
static void linear_small_in(float *restrict out, const float *restrict inp, const float *restrict W,
                            const float *restrict b, int B, int IN, int O)
{
  float WT[LINEAR_SMALL_IN * 1024]; /* (IN, O) */
  for (int o = 0; o < O; o++)
    for (int k = 0; k < IN; k++) WT[k * O + o] = W[(size_t)o * IN + k];
  for (int n = 0; n < B; n++) {
    float       *c = out + (size_t)n * O;
    const float *a = inp + (size_t)n * IN;
    for (int o = 0; o < O; o++) c[o] = b ? b[o] : 0.0f;
    for (int k = 0; k < IN; k++) {
      const float  x = a[k];
      const float *w = WT + (size_t)k * O;
      for (int o = 0; o < O; o++) c[o] += x * w[o];
    }
  }
}

void linear_forward(float *out, const float *inp, const float *W, const float *b, int B, int IN, int O)
{
  // out (B, O), inp (B, IN), W (O, IN), b (O)
  if (IN <= LINEAR_SMALL_IN && O <= 1024) {
    linear_small_in(out, inp, W, b, B, IN, O);
    return;
  }
  if (b)
    for (int n = 0; n < B; n++) memcpy(out + (size_t)n * O, b, sizeof(float) * (size_t)O);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, O, IN, 1.0f, inp, IN, W, IN, b ? 1.0f : 0.0f, out, O);
}

void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W, int B,
                     int IN, int O)
{
  // dinp (B, IN) += dout (B, O) W (O, IN);  dW (O, IN) += dout^T inp;  db (O) += column sums of dout
  if (dinp) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, IN, O, 1.0f, dout, O, W, IN, 1.0f, dinp, IN);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, IN, B, 1.0f, dout, O, inp, IN, 1.0f, dW, IN);
  if (db)
    for (int n = 0; n < B; n++)
      for (int o = 0; o < O; o++) db[o] += dout[(size_t)n * O + o];
}

void tanh_forward(float *out, const float *inp, size_t n)
{
  for (size_t i = 0; i < n; i++) out[i] = raci_tanhf(inp[i]);
}

void tanh_backward(float *dinp, const float *dout, const float *out, size_t n)
{
  for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

static inline float sigm(float x) { return raci_sigmoidf(x); }

/* Row b restarts at step t: the state entering the step is 0 (at t = 0 it is 0 anyway). */
static inline int restarts(const int32_t *age, int t, int B, int b)
{
  return age && t > 0 && age[(size_t)t * B + b] <= 0;
}

void sigmoid_forward(float *out, const float *inp, size_t n)
{
  for (size_t i = 0; i < n; i++) out[i] = sigm(inp[i]);
}

void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n)
{
  for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * out[i] * (1.0f - out[i]);
}

void softplus_forward(float *out, const float *inp, size_t n)
{
  // log(1 + e^x), PyTorch's threshold 20 above which it is x
  for (size_t i = 0; i < n; i++) out[i] = inp[i] > 20.0f ? inp[i] : log1pf(expf(inp[i]));
}

void softplus_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
  for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (inp[i] > 20.0f ? 1.0f : sigm(inp[i]));
}

/* One row of GRU gates: gb holds W_hh h + b_hh on entry and r, z, n on exit;
 * the state entering is keep h (keep 0 on a restart, h finite). Separate
 * arrays (restrict), so the loop vectorises. */
static void gru_gates(const float *restrict x, float *restrict gb, float *restrict ghn, float *restrict hn,
                      const float *restrict h, float keep, int H)
{
  for (int j = 0; j < H; j++) {
    float r       = sigm(x[j] + gb[j]);
    float z       = sigm(x[H + j] + gb[H + j]);
    float a       = gb[2 * H + j];
    float n       = raci_tanhf(x[2 * H + j] + r * a);
    ghn[j]        = a;
    gb[j]         = r;
    gb[H + j]     = z;
    gb[2 * H + j] = n;
    hn[j]         = (1.0f - z) * n + z * (keep * h[j]);
  }
}

void gru_forward(float *hs, float *gates, float *ghn, const float *inp, const float *Wih, const float *Whh,
                 const float *bih, const float *bhh, const float *rowb, const int32_t *age, float *work, int T, int B,
                 int IN, int H)
{
  // hs (T+1, B, H), gates (T, B, 3H), ghn (T, B, H), inp (T, B, IN), work (T, B, 3H) = input projections
  const size_t BH = (size_t)B * H, B3H = 3 * BH;
  float       *gx = work;

  linear_forward(gx, inp, Wih, bih, T * B, IN, 3 * H);
  if (rowb)
    for (int t = 0; t < T; t++)
      for (size_t i = 0; i < B3H; i++) gx[t * B3H + i] += rowb[i];
  memset(hs, 0, sizeof(float) * BH);
  for (int t = 0; t < T; t++) {
    const float *h = hs + t * BH, *hin = h;
    float       *hn  = hs + (t + 1) * BH;
    float       *g   = gates + t * B3H; // first W_hh h + b_hh, then the gates in place
    int          any = 0;
    for (int b = 0; b < B; b++) any |= restarts(age, t, B, b);
    if (any) { // the states entering, restarted rows 0, in hn (free until the gates write it); h stays day t-1's output
      memcpy(hn, h, sizeof(float) * BH);
      for (int b = 0; b < B; b++)
        if (restarts(age, t, B, b)) memset(hn + (size_t)b * H, 0, sizeof(float) * H);
      hin = hn;
    }
    linear_forward(g, hin, Whh, bhh, B, H, 3 * H);
    for (int b = 0; b < B; b++)
      gru_gates(gx + t * B3H + (size_t)b * 3 * H, g + (size_t)b * 3 * H, ghn + t * BH + (size_t)b * H,
                hn + (size_t)b * H, h + (size_t)b * H, restarts(age, t, B, b) ? 0.0f : 1.0f, H);
  }
}

/* One row of the GRU gates' backward pass (see gru_backward); restrict
 * arrays, so the loop vectorises. */
static void gru_gates_backward(float *restrict dgx, float *restrict dgh, float *restrict dhprev,
                               const float *restrict g, const float *restrict ghn, const float *restrict h,
                               const float *restrict dh, float keep, int H)
{
  for (int j = 0; j < H; j++) {
    float r = g[j], z = g[H + j], n = g[2 * H + j], a = ghn[j];
    float d  = dh[j];
    float dn = d * (1.0f - z) * (1.0f - n * n); // through tanh
    float dz = d * (keep * h[j] - n) * z * (1.0f - z);
    float dr = dn * a * r * (1.0f - r);
    dgx[j] = dr, dgx[H + j] = dz, dgx[2 * H + j] = dn;
    dgh[j] = dr, dgh[H + j] = dz, dgh[2 * H + j] = dn * r;
    dhprev[j] += d * z * keep; // direct path h -> h'
  }
}

void gru_backward(float *dinp, float *dWih, float *dWhh, float *dbih, float *dbhh, float *drowb, float *dhs,
                  const float *hs, const float *gates, const float *ghn, const float *inp, const float *Wih,
                  const float *Whh, const int32_t *age, float *work, int T, int B, int IN, int H)
{
  // work: dgx (T, B, 3H) then dgh (T, B, 3H)
  const size_t BH = (size_t)B * H, B3H = 3 * BH;
  float       *dgx = work, *dgh = work + (size_t)T * B3H;

  for (int t = T - 1; t >= 0; t--) {
    const float *h  = hs + t * BH;
    const float *g  = gates + t * B3H;
    float       *dh = dhs + (t + 1) * BH, *dg = dgh + t * B3H;
    for (int b = 0; b < B; b++) {
      size_t i3 = (size_t)b * 3 * H, i1 = (size_t)b * H;
      gru_gates_backward(dgx + t * B3H + i3, dg + i3, dhs + t * BH + i1, g + i3, ghn + t * BH + i1, h + i1, dh + i1,
                         restarts(age, t, B, b) ? 0.0f : 1.0f, H);
    }
    // b_hh sees every row; then a restarted row's dgh is zeroed: its entering state
    // is the constant 0, so nothing flows into dhs[t] (day t-1's output gradient stays) nor into dWhh
    for (int b = 0; b < B; b++)
      for (int j = 0; j < 3 * H; j++) dbhh[j] += dg[(size_t)b * 3 * H + j];
    for (int b = 0; b < B; b++)
      if (restarts(age, t, B, b)) memset(dg + (size_t)b * 3 * H, 0, sizeof(float) * 3 * H);
    // recurrent path: dh_prev += dgh_t Whh
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, 3 * H, 1.0f, dg, 3 * H, Whh, H, 1.0f, dhs + t * BH, H);
  }
  if (drowb)
    for (int t = 0; t < T; t++)
      for (size_t i = 0; i < B3H; i++) drowb[i] += dgx[t * B3H + i];
  // all steps at once: dWhh += dgh^T hs[0..T-1], dWih += dgx^T inp, dinp += dgx Wih
  linear_backward(NULL, dWhh, NULL, dgh, hs, Whh, T * B, H, 3 * H);
  linear_backward(dinp, dWih, dbih, dgx, inp, Wih, T * B, IN, 3 * H);
}

void attn_forward(float *out, float *q, float *k, float *v, float *p, const float *q_in, const float *kv_in,
                  const unsigned char *mask, const float *Wq, const float *bq, const float *Wk, const float *bk,
                  const float *Wv, const float *bv, int B, int K, int Dq, int Dk, int A)
{
  const float scale = 1.0f / sqrtf((float)A);

  linear_forward(q, q_in, Wq, bq, B, Dq, A);
  linear_forward(k, kv_in, Wk, bk, B * K, Dk, A);
  linear_forward(v, kv_in, Wv, bv, B * K, Dk, A);
  for (int b = 0; b < B; b++) {
    float *pb = p + (size_t)b * K, *o = out + (size_t)b * A, mx = -INFINITY, sum = 0;
    for (int j = 0; j < K; j++) {
      if (mask && !mask[(size_t)b * K + j]) continue;
      float s = 0;
      for (int a = 0; a < A; a++) s += q[(size_t)b * A + a] * k[((size_t)b * K + j) * A + a];
      pb[j] = s * scale;
      mx    = fmaxf(mx, pb[j]);
    }
    for (int j = 0; j < K; j++) {
      if (mask && !mask[(size_t)b * K + j])
        pb[j] = 0;
      else
        sum += (pb[j] = expf(pb[j] - mx));
    }
    memset(o, 0, sizeof(float) * (size_t)A);
    if (sum == 0) continue; // no valid candidate
    for (int j = 0; j < K; j++) {
      pb[j] /= sum;
      for (int a = 0; a < A; a++) o[a] += pb[j] * v[((size_t)b * K + j) * A + a];
    }
  }
}

void attn_backward(float *dq_in, float *dkv_in, float *dWq, float *dbq, float *dWk, float *dbk, float *dWv, float *dbv,
                   const float *dout, const float *q, const float *k, const float *v, const float *p, const float *q_in,
                   const float *kv_in, const float *Wq, const float *Wk, const float *Wv, float *work, int B, int K,
                   int Dq, int Dk, int A)
{
  // work: dq (B, A), dk (B, K, A), dv (B, K, A)
  const float scale = 1.0f / sqrtf((float)A);
  float      *dq = work, *dk = dq + (size_t)B * A, *dv = dk + (size_t)B * K * A;

  memset(work, 0, sizeof(float) * ((size_t)B * A + 2 * (size_t)B * K * A));
  for (int b = 0; b < B; b++) {
    const float *pb = p + (size_t)b * K, *o = dout + (size_t)b * A;
    float        dp[K > 0 ? K : 1], dot     = 0;
    for (int j = 0; j < K; j++) {
      dp[j] = 0;
      for (int a = 0; a < A; a++) {
        dp[j] += o[a] * v[((size_t)b * K + j) * A + a];
        dv[((size_t)b * K + j) * A + a] = pb[j] * o[a];
      }
      dot += pb[j] * dp[j];
    }
    for (int j = 0; j < K; j++) {
      float ds = pb[j] * (dp[j] - dot) * scale; // softmax, then the 1/sqrt(A) scaling
      for (int a = 0; a < A; a++) {
        dq[(size_t)b * A + a] += ds * k[((size_t)b * K + j) * A + a];
        dk[((size_t)b * K + j) * A + a] = ds * q[(size_t)b * A + a];
      }
    }
  }
  linear_backward(dq_in, dWq, dbq, dq, q_in, Wq, B, Dq, A);
  linear_backward(dkv_in, dWk, dbk, dk, kv_in, Wk, B * K, Dk, A);
  linear_backward(dkv_in, dWv, dbv, dv, kv_in, Wv, B * K, Dk, A);
}

void film_forward(float *out, float *gb, const float *h, const float *u, const float *Wf, const float *bf, int B, int U,
                  int H)
{
  linear_forward(gb, u, Wf, bf, B, U, 2 * H);
  for (int b = 0; b < B; b++)
    for (int j = 0; j < H; j++)
      out[(size_t)b * H + j] =
          h[(size_t)b * H + j] * (1.0f + gb[(size_t)b * 2 * H + j]) + gb[(size_t)b * 2 * H + H + j];
}

void film_backward(float *dh, float *du, float *dWf, float *dbf, const float *dout, const float *h, const float *u,
                   const float *gb, const float *Wf, float *work, int B, int U, int H)
{
  float *dgb = work; // (B, 2H)
  for (int b = 0; b < B; b++)
    for (int j = 0; j < H; j++) {
      float d = dout[(size_t)b * H + j];
      if (dh) dh[(size_t)b * H + j] += d * (1.0f + gb[(size_t)b * 2 * H + j]);
      dgb[(size_t)b * 2 * H + j]     = d * h[(size_t)b * H + j];
      dgb[(size_t)b * 2 * H + H + j] = d;
    }
  linear_backward(du, dWf, dbf, dgb, u, Wf, B, U, 2 * H);
}

double mse_forward(const float *pred, const float *y, const float *w, const float *scale, int B, int T, double *count)
{
  double sum = 0, n = 0;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      float yy = y[(size_t)b * T + t];
      if (isnan(yy)) continue;
      double e = (pred[(size_t)b * T + t] - yy) / scale[t];
      sum += w[t] * e * e;
      n += 1;
    }
  *count = n;
  return sum;
}

void mse_backward(float *dpred, const float *pred, const float *y, const float *w, const float *scale,
                  double norm_count, int B, int T)
{
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      float yy = y[(size_t)b * T + t];
      if (isnan(yy)) continue;
      dpred[(size_t)b * T + t] +=
          (float)(2.0 * w[t] * (pred[(size_t)b * T + t] - yy) / ((double)scale[t] * scale[t] * norm_count));
    }
}
