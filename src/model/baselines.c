/* model: the baselines LSTM, EA-LSTM, transformer and TCN in the segment form
 * (docs/MODEL.md sections 4 and 5), in the same framework as RACI: same
 * segments, outputs and loss, no retrieval. They read only the query rows
 * (0..B-1) of xf, age and s; every encoder is causal, runs once along the
 * segment's T = W + Sc days and restarts where age <= 0, and the head reads
 * its output on the Sc scored days. */
#include "network.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ layout */

static void lstm_layout(TensorWalk *w, const ModelConfig *c, int Th, LstmParams *p)
{
  const int H = c->Hf, IN = c->F + c->S;

  layout_tensor(w, &p->W_ih, "lstm.W_ih", 4 * H, IN, IN, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->W_hh, "lstm.W_hh", 4 * H, H, H, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b_ih, "lstm.b_ih", 4 * H, 1, H, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b_hh, "lstm.b_hh", 4 * H, 1, H, NO_DECAY, INIT_UNIFORM);
  head_tensors(w, &p->head, H, c->Ho, Th);
}

static void ealstm_layout(TensorWalk *w, const ModelConfig *c, int Th, EalstmParams *p)
{
  const int H = c->Hf;

  layout_tensor(w, &p->W_i, "ea.W_i", H, c->S, c->S, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b_i, "ea.b_i", H, 1, c->S, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->W_ih, "ea.W_ih", 3 * H, c->F, c->F, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->W_hh, "ea.W_hh", 3 * H, H, H, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b, "ea.b", 3 * H, 1, H, NO_DECAY, INIT_UNIFORM);
  head_tensors(w, &p->head, H, c->Ho, Th);
}

static void transformer_layout(TensorWalk *w, const ModelConfig *c, int Th, TransformerParams *p)
{
  const int D = c->D, FF = c->FF, IN = c->F + c->S;

  /* a layer norm's fan-in (unused: its init is 1 or 0) is the previous matrix's, as for any vector */
  layout_tensor(w, &p->W_in, "tf.W_in", D, IN, IN, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b_in, "tf.b_in", D, 1, IN, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->ln1_g, "ln1.g", D, 1, IN, NO_DECAY, INIT_ONE);
  layout_tensor(w, &p->ln1_b, "ln1.b", D, 1, IN, NO_DECAY, INIT_ZERO);
  layout_tensor(w, &p->W_qkv, "attn.W_qkv", 3 * D, D, D, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b_qkv, "attn.b_qkv", 3 * D, 1, D, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->W_o, "attn.W_o", D, D, D, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b_o, "attn.b_o", D, 1, D, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->ln2_g, "ln2.g", D, 1, D, NO_DECAY, INIT_ONE);
  layout_tensor(w, &p->ln2_b, "ln2.b", D, 1, D, NO_DECAY, INIT_ZERO);
  layout_tensor(w, &p->ff_W1, "ff.W1", FF, D, D, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->ff_b1, "ff.b1", FF, 1, D, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->ff_W2, "ff.W2", D, FF, FF, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->ff_b2, "ff.b2", D, 1, FF, NO_DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->lnf_g, "lnf.g", D, 1, FF, NO_DECAY, INIT_ONE);
  layout_tensor(w, &p->lnf_b, "lnf.b", D, 1, FF, NO_DECAY, INIT_ZERO);
  head_tensors(w, &p->head, D, c->Ho, Th);
}

static void tcn_layout(TensorWalk *w, const ModelConfig *c, int Th, TcnParams *p)
{
  const int C = c->Hf, KC = c->Kt * c->Hf, IN = c->F + c->S;
  char      n[24];

  layout_tensor(w, &p->W_in, "tcn.W_in", C, IN, IN, DECAY, INIT_UNIFORM);
  layout_tensor(w, &p->b_in, "tcn.b_in", C, 1, IN, NO_DECAY, INIT_UNIFORM);
  for (int l = 0; l < c->Lt; l++) {
    float **W = l < BASELINE_TCN_MAX_LEVELS ? &p->W[l] : NULL, **b = l < BASELINE_TCN_MAX_LEVELS ? &p->b[l] : NULL;
    snprintf(n, sizeof n, "tcn.W%d", l), layout_tensor(w, W, n, C, KC, KC, DECAY, INIT_UNIFORM);
    snprintf(n, sizeof n, "tcn.b%d", l), layout_tensor(w, b, n, C, 1, KC, NO_DECAY, INIT_UNIFORM);
  }
  head_tensors(w, &p->head, C, c->Ho, Th);
}

void baseline_layout(TensorWalk *w, const ModelConfig *c, int Th, BaselineParams *p)
{
  memset(p, 0, sizeof *p);
  switch (c->kind) {
  case MODEL_LSTM:
    lstm_layout(w, c, Th, &p->lstm);
    break;
  case MODEL_EALSTM:
    ealstm_layout(w, c, Th, &p->ea);
    break;
  case MODEL_TRANSFORMER:
    transformer_layout(w, c, Th, &p->tf);
    break;
  case MODEL_TCN:
    tcn_layout(w, c, Th, &p->tcn);
    break;
  default:
    break;
  }
}

/* Points the fields of p into base (parameters or gradients). */
static void baseline_point(const Model *m, const float *base, BaselineParams *p)
{
  TensorWalk w = {.m = (Model *)m, .base = (float *)base, .off = 0, .record = 0};
  baseline_layout(&w, &m->cfg, m->Th, p);
}

/* ----------------------------------------------------------- buffers */

static int day_inputs(const ModelConfig *c) { return c->kind == MODEL_EALSTM ? c->F : c->F + c->S; }

void baseline_alloc(Model *m)
{
  const ModelConfig *c = &m->cfg;
  BaselineActs      *a = &m->bl;
  const size_t       B = (size_t)m->max_b, T = (size_t)(c->W + c->Sc), TB = T * B, N = (size_t)c->Sc * B;
  const size_t       IN = (size_t)day_inputs(c), H = (size_t)c->Hf, D = (size_t)c->D, FF = (size_t)c->FF;

  memset(a, 0, sizeof *a);
  a->age = (int32_t *)model_carve(m, TB);
  a->x   = model_carve(m, TB * IN);
  a->dx  = model_carve(m, TB * IN);
  a->o1  = model_carve(m, N * c->Ho);
  a->do1 = model_carve(m, N * c->Ho);
  switch (c->kind) {
  case MODEL_LSTM:
  case MODEL_EALSTM:
    a->hs    = model_carve(m, (T + 1) * B * H);
    a->cs    = model_carve(m, (T + 1) * B * H);
    a->gates = model_carve(m, TB * 4 * H); /* 3H for the EA-LSTM */
    a->ig    = c->kind == MODEL_EALSTM ? model_carve(m, B * H) : NULL;
    a->dhs   = model_carve(m, (T + 1) * B * H);
    a->work  = model_carve(m, TB * 4 * H + 3 * B * H);
    break;
  case MODEL_TRANSFORMER:
    a->x0     = model_carve(m, TB * D);
    a->x1     = model_carve(m, TB * D);
    a->mean1  = model_carve(m, TB);
    a->rstd1  = model_carve(m, TB);
    a->qkv    = model_carve(m, TB * 3 * D);
    a->att    = model_carve(m, B * c->NH * T * (size_t)(c->W + 1));
    a->y      = model_carve(m, TB * D);
    a->ao     = model_carve(m, TB * D);
    a->x2     = model_carve(m, TB * D);
    a->x3     = model_carve(m, TB * D);
    a->mean2  = model_carve(m, TB);
    a->rstd2  = model_carve(m, TB);
    a->f1     = model_carve(m, TB * FF);
    a->g1     = model_carve(m, TB * FF);
    a->x4     = model_carve(m, TB * D);
    a->hf     = model_carve(m, N * D);
    a->meanf  = model_carve(m, N);
    a->rstdf  = model_carve(m, N);
    a->dhf    = model_carve(m, N * D);
    a->dx2    = model_carve(m, TB * D);
    a->dx3    = model_carve(m, TB * D);
    a->dg1    = model_carve(m, TB * FF);
    a->df1    = model_carve(m, TB * FF);
    a->work_t = model_carve(m, TB * 4 * D + (size_t)(c->W + 1));
    break;
  case MODEL_TCN:
    a->xl  = model_carve(m, (size_t)(c->Lt + 1) * TB * H);
    a->ul  = model_carve(m, (size_t)c->Lt * TB * H);
    a->dxl = model_carve(m, TB * H);
    a->dul = model_carve(m, TB * H);
    a->col = model_carve(m, TB * (size_t)c->Kt * H);
    break;
  default:
    break;
  }
}

/* ------------------------------------------------------ inputs, head */

/* The queries' day inputs x (T, B, IN) = [xf_t, s] (the EA-LSTM: xf_t) and
 * ages (T, B) from the batch's rows 0..B-1; returns the ages or NULL. */
static const int32_t *gather_inputs(Model *m, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  BaselineActs      *a = &m->bl;
  const int          T = c->W + c->Sc, B = b->B, IN = day_inputs(c), F = c->F, S = c->S;

  for (int t = 0; t < T; t++)
    for (int q = 0; q < B; q++) {
      float *dst = a->x + ((size_t)t * B + q) * IN;
      memcpy(dst, b->xf + ((size_t)t * b->R + q) * F, sizeof(float) * F);
      if (IN > F) memcpy(dst + F, b->s + (size_t)q * S, sizeof(float) * S);
    }
  if (!b->age) return NULL;
  for (int t = 0; t < T; t++) memcpy(a->age + (size_t)t * B, b->age + (size_t)t * b->R, sizeof(int32_t) * B);
  return a->age;
}

/* dxf (T, R, F) (query rows) and ds (R, S) (rows 0..B-1) += the parts of dx (T, B, IN) */
static void scatter_input_grads(Model *m, const ModelBatch *b, float *dxf, float *ds)
{
  const ModelConfig *c = &m->cfg;
  const int          T = c->W + c->Sc, B = b->B, IN = day_inputs(c), F = c->F, S = c->S;

  for (int t = 0; t < T; t++)
    for (int q = 0; q < B; q++) {
      const float *d = m->bl.dx + ((size_t)t * B + q) * IN;
      if (dxf)
        for (int j = 0; j < F; j++) dxf[((size_t)t * b->R + q) * F + j] += d[j];
      if (ds && IN > F)
        for (int j = 0; j < S; j++) ds[(size_t)q * S + j] += d[F + j];
    }
}

/* a (N, Th) = W2 tanh(W1 hin + b1) + b2 over the N = Sc*B scored days, hin (N, IN) */
static void head_forward(Model *m, const HeadParams *p, const float *hin, int N, int IN)
{
  const int Ho = m->cfg.Ho;

  model_phase_begin(m, MODEL_PHASE_HEAD);
  linear_forward(m->bl.o1, hin, p->W1, p->b1, N, IN, Ho);
  tanh_forward(m->bl.o1, m->bl.o1, (size_t)N * Ho);
  linear_forward(m->a, m->bl.o1, p->W2, p->b2, N, Ho, m->Th);
  model_phase_end(m, MODEL_PHASE_HEAD, 2.0 * N * ((double)IN * Ho + (double)Ho * m->Th) + 4.0 * N * Ho);
}

/* From da (N, Th): the head's gradients, and dhin (N, IN) += dL/dhin */
static void head_backward(Model *m, const HeadParams *p, const HeadParams *g, const float *hin, float *dhin, int N,
                          int IN)
{
  const int Ho = m->cfg.Ho;
  float    *o1 = m->bl.o1, *do1 = m->bl.do1;

  model_phase_begin(m, MODEL_PHASE_HEAD);
  memset(do1, 0, sizeof(float) * (size_t)N * Ho);
  linear_backward(do1, g->W2, g->b2, m->da, o1, p->W2, N, Ho, m->Th);
  for (size_t i = 0; i < (size_t)N * Ho; i++) do1[i] *= 1.0f - o1[i] * o1[i]; /* through tanh */
  linear_backward(dhin, g->W1, g->b1, do1, hin, p->W1, N, IN, Ho);
  model_phase_end(m, MODEL_PHASE_HEAD, 4.0 * N * ((double)IN * Ho + (double)Ho * m->Th) + 3.0 * N * Ho);
}

/* Flops of the transformer's attention kernel: projections, then scores and
 * weighted sums over each day's window (at most W + 1 days), and the softmax. */
static double mhsa_flops(const ModelConfig *c, int B)
{
  const int T     = c->W + c->Sc;
  double    pairs = 0; /* (query, key) pairs of one sequence */
  for (int t = 0; t < T; t++) pairs += (t < c->W ? t : c->W) + 1;
  return 2.0 * T * B * 4.0 * c->D * c->D + B * pairs * (4.0 * c->D + 5.0 * c->NH);
}

/* -------------------------------------------------------------- forward */

void baseline_forward(Model *m, const float *params, const ModelBatch *b)
{
  const ModelConfig *c = &m->cfg;
  BaselineActs      *a = &m->bl;
  const int          B = b->B, W = c->W, T = W + c->Sc, N = c->Sc * B, IN = day_inputs(c);
  const int          H = c->Hf, D = c->D, FF = c->FF;
  const size_t       TB = (size_t)T * B;
  BaselineParams     p;
  const int32_t     *age;

  baseline_point(m, params, &p);
  model_phase_begin(m, MODEL_PHASE_FAST);
  age = gather_inputs(m, b);
  switch (c->kind) {
  case MODEL_LSTM:
    lstm_forward(a->hs, a->cs, a->gates, a->x, p.lstm.W_ih, p.lstm.W_hh, p.lstm.b_ih, p.lstm.b_hh, age, T, B, IN, H);
    model_phase_end(m, MODEL_PHASE_FAST, 2.0 * TB * 4 * H * (IN + H) + 24.0 * TB * H);
    head_forward(m, &p.lstm.head, a->hs + (size_t)(W + 1) * B * H, N, H); /* states after the scored days */
    break;
  case MODEL_EALSTM:
    ealstm_forward(a->hs, a->cs, a->gates, a->ig, a->x, b->s, p.ea.W_i, p.ea.b_i, p.ea.W_ih, p.ea.W_hh, p.ea.b, age, T,
                   B, IN, c->S, H);
    model_phase_end(m, MODEL_PHASE_FAST, 2.0 * TB * 3 * H * (IN + H) + 2.0 * B * H * c->S + 20.0 * TB * H);
    head_forward(m, &p.ea.head, a->hs + (size_t)(W + 1) * B * H, N, H);
    break;
  case MODEL_TRANSFORMER: {
    const TransformerParams *q = &p.tf;
    linear_forward(a->x0, a->x, q->W_in, q->b_in, (int)TB, IN, D);
    posenc_forward(a->x0, a->x0, T, B, D); /* position: the day's index in the segment */
    layernorm_forward(a->x1, a->mean1, a->rstd1, a->x0, q->ln1_g, q->ln1_b, (int)TB, D);
    model_phase_end(m, MODEL_PHASE_FAST, 2.0 * TB * D * IN + 10.0 * TB * D);
    model_phase_begin(m, MODEL_PHASE_ATTN);
    mhsa_forward(a->ao, a->qkv, a->att, a->y, a->x1, q->W_qkv, q->b_qkv, q->W_o, q->b_o, age, W, T, B, D, c->NH);
    model_phase_end(m, MODEL_PHASE_ATTN, mhsa_flops(c, B));
    model_phase_begin(m, MODEL_PHASE_FAST);
    for (size_t i = 0; i < TB * D; i++) a->x2[i] = a->x0[i] + a->ao[i];
    layernorm_forward(a->x3, a->mean2, a->rstd2, a->x2, q->ln2_g, q->ln2_b, (int)TB, D);
    linear_forward(a->f1, a->x3, q->ff_W1, q->ff_b1, (int)TB, D, FF);
    gelu_forward(a->g1, a->f1, TB * FF);
    linear_forward(a->x4, a->g1, q->ff_W2, q->ff_b2, (int)TB, FF, D);
    for (size_t i = 0; i < TB * D; i++) a->x4[i] += a->x2[i];
    /* the final norm is row-wise: the scored days' tokens only */
    layernorm_forward(a->hf, a->meanf, a->rstdf, a->x4 + (size_t)W * B * D, q->lnf_g, q->lnf_b, N, D);
    model_phase_end(m, MODEL_PHASE_FAST, 4.0 * TB * D * FF + 12.0 * TB * D + 10.0 * TB * FF + 8.0 * N * D);
    head_forward(m, &q->head, a->hf, N, D);
    break;
  }
  case MODEL_TCN: {
    const TcnParams *q = &p.tcn;
    const int        C = H, K = c->Kt;
    linear_forward(a->xl, a->x, q->W_in, q->b_in, (int)TB, IN, C);
    for (int l = 0; l < c->Lt; l++) { /* x^{l+1} = x^l + GELU(conv_l(x^l)), dilation 2^l */
      const float *xin = a->xl + (size_t)l * TB * C;
      float       *u = a->ul + (size_t)l * TB * C, *xout = a->xl + (size_t)(l + 1) * TB * C;
      tcn_conv_forward(u, xin, q->W[l], q->b[l], age, a->col, T, B, C, K, 1 << l);
      gelu_forward(xout, u, TB * C);
      for (size_t i = 0; i < TB * C; i++) xout[i] += xin[i];
    }
    model_phase_end(m, MODEL_PHASE_FAST, 2.0 * TB * C * IN + c->Lt * (2.0 * TB * C * K * C + 12.0 * TB * C));
    head_forward(m, &q->head, a->xl + ((size_t)c->Lt * T + W) * B * C, N, C);
    break;
  }
  default:
    model_phase_end(m, MODEL_PHASE_FAST, 0.0);
    break;
  }
}

/* ------------------------------------------------------------- backward */

void baseline_backward(Model *m, const float *params, float *grads, const ModelBatch *b, float *dxf, float *ds)
{
  const ModelConfig *c = &m->cfg;
  BaselineActs      *a = &m->bl;
  const int          B = b->B, W = c->W, T = W + c->Sc, N = c->Sc * B, IN = day_inputs(c);
  const int          H = c->Hf, D = c->D, FF = c->FF;
  const size_t       TB  = (size_t)T * B;
  const int32_t     *age = b->age ? a->age : NULL; /* gathered by the forward pass */
  BaselineParams     p, g;
  /* the day inputs' gradient, when an input gradient is asked for (the EA-LSTM's ds comes from its kernel) */
  float *dx = (dxf || (ds && IN > c->F)) ? a->dx : NULL;

  baseline_point(m, params, &p);
  baseline_point(m, grads, &g);
  if (dx) memset(dx, 0, sizeof(float) * TB * IN);
  switch (c->kind) {
  case MODEL_LSTM:
  case MODEL_EALSTM: {
    const HeadParams *hp = c->kind == MODEL_LSTM ? &p.lstm.head : &p.ea.head;
    const HeadParams *hg = c->kind == MODEL_LSTM ? &g.lstm.head : &g.ea.head;
    const size_t      h0 = (size_t)(W + 1) * B * H; /* the scored days' states */
    memset(a->dhs, 0, sizeof(float) * (TB + B) * H);
    head_backward(m, hp, hg, a->hs + h0, a->dhs + h0, N, H);
    model_phase_begin(m, MODEL_PHASE_FAST);
    if (c->kind == MODEL_LSTM) {
      lstm_backward(dx, g.lstm.W_ih, g.lstm.W_hh, g.lstm.b_ih, g.lstm.b_hh, a->dhs, a->hs, a->cs, a->gates, a->x,
                    p.lstm.W_ih, p.lstm.W_hh, age, a->work, T, B, IN, H);
      model_phase_end(m, MODEL_PHASE_FAST, 4.0 * TB * 4 * H * (IN + H) + 30.0 * TB * H);
    } else {
      ealstm_backward(dx, ds, g.ea.W_i, g.ea.b_i, g.ea.W_ih, g.ea.W_hh, g.ea.b, a->dhs, a->hs, a->cs, a->gates, a->ig,
                      a->x, b->s, p.ea.W_i, p.ea.W_ih, p.ea.W_hh, age, a->work, T, B, IN, c->S, H);
      model_phase_end(m, MODEL_PHASE_FAST, 4.0 * TB * 3 * H * (IN + H) + 4.0 * B * H * c->S + 25.0 * TB * H);
    }
    break;
  }
  case MODEL_TRANSFORMER: {
    const TransformerParams *q = &p.tf, *gq = &g.tf;
    memset(a->dhf, 0, sizeof(float) * (size_t)N * D);
    head_backward(m, &q->head, &gq->head, a->hf, a->dhf, N, D);
    model_phase_begin(m, MODEL_PHASE_FAST);
    /* final norm of the scored days; x4 = x2 + ff(ln2(x2)): dx2 holds dL/dx4 and collects the residual */
    memset(a->dx2, 0, sizeof(float) * TB * D);
    layernorm_backward(a->dx2 + (size_t)W * B * D, gq->lnf_g, gq->lnf_b, a->dhf, a->x4 + (size_t)W * B * D, q->lnf_g,
                       a->meanf, a->rstdf, N, D);
    memset(a->dg1, 0, sizeof(float) * TB * FF);
    linear_backward(a->dg1, gq->ff_W2, gq->ff_b2, a->dx2, a->g1, q->ff_W2, (int)TB, FF, D);
    memset(a->df1, 0, sizeof(float) * TB * FF);
    gelu_backward(a->df1, a->dg1, a->f1, TB * FF);
    memset(a->dx3, 0, sizeof(float) * TB * D);
    linear_backward(a->dx3, gq->ff_W1, gq->ff_b1, a->df1, a->x3, q->ff_W1, (int)TB, D, FF);
    layernorm_backward(a->dx2, gq->ln2_g, gq->ln2_b, a->dx3, a->x2, q->ln2_g, a->mean2, a->rstd2, (int)TB, D);
    model_phase_end(m, MODEL_PHASE_FAST, 8.0 * TB * D * FF + 20.0 * TB * D + 15.0 * TB * FF + 10.0 * N * D);
    /* x2 = x0 + attn(ln1(x0)): dx3 becomes dL/dx1, then dx2 dL/dx0 */
    model_phase_begin(m, MODEL_PHASE_ATTN);
    memset(a->dx3, 0, sizeof(float) * TB * D);
    mhsa_backward(a->dx3, gq->W_qkv, gq->b_qkv, gq->W_o, gq->b_o, a->dx2, a->qkv, a->att, a->y, a->x1, q->W_qkv, q->W_o,
                  age, W, a->work_t, T, B, D, c->NH);
    model_phase_end(m, MODEL_PHASE_ATTN, 2.0 * mhsa_flops(c, B));
    model_phase_begin(m, MODEL_PHASE_FAST);
    layernorm_backward(a->dx2, gq->ln1_g, gq->ln1_b, a->dx3, a->x0, q->ln1_g, a->mean1, a->rstd1, (int)TB, D);
    /* x0 = W_in x + b_in + pe */
    linear_backward(dx, gq->W_in, gq->b_in, a->dx2, a->x, q->W_in, (int)TB, IN, D);
    model_phase_end(m, MODEL_PHASE_FAST, (dx ? 4.0 : 2.0) * TB * D * IN + 10.0 * TB * D);
    break;
  }
  case MODEL_TCN: {
    const TcnParams *q = &p.tcn, *gq = &g.tcn;
    const int        C = H, K = c->Kt;
    memset(a->dxl, 0, sizeof(float) * TB * C);
    head_backward(m, &q->head, &gq->head, a->xl + ((size_t)c->Lt * T + W) * B * C, a->dxl + (size_t)W * B * C, N, C);
    model_phase_begin(m, MODEL_PHASE_FAST);
    for (int l = c->Lt - 1; l >= 0; l--) { /* dxl: dL/dx^{l+1} in, dL/dx^l out (residual plus convolution) */
      memset(a->dul, 0, sizeof(float) * TB * C);
      gelu_backward(a->dul, a->dxl, a->ul + (size_t)l * TB * C, TB * C);
      tcn_conv_backward(a->dxl, gq->W[l], gq->b[l], a->dul, a->xl + (size_t)l * TB * C, q->W[l], age, a->col, T, B, C,
                        K, 1 << l);
    }
    linear_backward(dx, gq->W_in, gq->b_in, a->dxl, a->x, q->W_in, (int)TB, IN, C);
    model_phase_end(m, MODEL_PHASE_FAST,
                    (dx ? 4.0 : 2.0) * TB * C * IN + c->Lt * (4.0 * TB * C * K * C + 20.0 * TB * C));
    break;
  }
  default:
    break;
  }
  if (dx) scatter_input_grads(m, b, dxf, ds);
}
