/* model: what the network code shares between its files (not installed). */
#ifndef RACI_MODEL_NETWORK_H
#define RACI_MODEL_NETWORK_H

#include <raci/core.h>
#include <raci/model.h>

#include <stdio.h>

/* ------------------------------------------------------------ layouts
 * Each network names its parameters in a struct of pointers with a shape
 * comment on every field (llm.c's ParameterTensors). One layout function per
 * network walks the fields in order through layout_tensor(): when building
 * the model it records name, shape, offset, weight decay and initialisation;
 * at every forward or backward pass it points the fields into a flat array
 * (parameters or gradients). Order, names and shapes live in one place. */

typedef enum { NO_DECAY = 0, DECAY = 1 } TensorDecay;

typedef struct {
  struct Model *m;    /* record: append to m->tensor */
  float        *base; /* point: fields into base (NULL when recording) */
  size_t        off;
  int           record;
} TensorWalk;

/* The next tensor of the walk: rows x cols (cols = 1 for vectors). fan_in:
 * uniform init bound 1/sqrt(fan_in) (PyTorch's default for a layer's weight
 * and bias); ignored for INIT_ZERO / INIT_ONE. */
void layout_tensor(TensorWalk *w, float **field, const char *name, int rows, int cols, int fan_in, TensorDecay decay,
                   TensorInit init);

typedef struct {
  float *W_ih; /* (3H, IN) */
  float *W_hh; /* (3H, H) */
  float *b_ih; /* (3H) */
  float *b_hh; /* (3H) */
} GruParams;

typedef struct {
  float *Wq, *bq; /* (A, Dq), (A) */
  float *Wk, *bk; /* (A, Dk), (A) */
  float *Wv, *bv; /* (A, Dk), (A) */
} AttnParams;

typedef struct {
  float *W1, *b1; /* (Ho, IN), (Ho) */
  float *W2, *b2; /* (Th, Ho), (Th) */
} HeadParams;

/* The head's tensors (RACI's and every baseline's), last in each layout. */
void head_tensors(TensorWalk *w, HeadParams *p, int IN, int Ho, int Th);

typedef struct {
  GruParams  fast;      /* IN = F, H = Hf: the fast encoder, state carried along the segment */
  float     *fsW;       /* (3Hf, S), or (3Hf, Z) after the embedding: the statics into the fast gates (fast_static) */
  float     *feW, *feb; /* (Z, S), (Z): the statics' embedding tanh(feW s + feb) (fast_static 2; else absent) */
  float     *empty;     /* (F) stands for an empty slow block */
  GruParams  slow;      /* IN = F, H = Hs: over the P block summaries before a block */
  float     *zW1;       /* (Hz, Hs + S) */
  float     *zb1;       /* (Hz) */
  float     *zW2;       /* (Z, Hz) */
  float     *zb2;       /* (Z) */
  AttnParams rs;        /* functional retrieval: Dq = Z, Dk = Z + 2T */
  AttnParams rf;        /* geographic retrieval: Dq = Dk = Hf */
  float     *filmW;     /* (2Hf, Z + A) */
  float     *filmb;     /* (2Hf) */
  HeadParams head;      /* IN = Hf + A, or Hf + Z + 2A without FiLM */
} RaciParams;

/* ---- baselines: parameter and activation structs (baselines.c owns this block) */
/* docs/MODEL.md sections 4 and 5: H = C = Hf, IN = F + S (the day inputs
 * [xf_t, s]), D, NH, FF, K = Kt, Lt from ModelConfig. */
#define BASELINE_TCN_MAX_LEVELS 16 /* Lt; W <= 3660 and K >= 2 need at most 12 */

typedef struct {
  float     *W_ih; /* (4H, IN) gates i, f, g, o */
  float     *W_hh; /* (4H, H) */
  float     *b_ih; /* (4H) */
  float     *b_hh; /* (4H) */
  HeadParams head; /* IN = H */
} LstmParams;

typedef struct {
  float     *W_i;  /* (H, S) the static input gate */
  float     *b_i;  /* (H) */
  float     *W_ih; /* (3H, F) gates f, g, o */
  float     *W_hh; /* (3H, H) */
  float     *b;    /* (3H) */
  HeadParams head; /* IN = H */
} EalstmParams;

typedef struct {
  float     *W_in;  /* (D, IN) day tokens */
  float     *b_in;  /* (D) */
  float     *ln1_g; /* (D) */
  float     *ln1_b; /* (D) */
  float     *W_qkv; /* (3D, D) q rows, then k, then v */
  float     *b_qkv; /* (3D) */
  float     *W_o;   /* (D, D) */
  float     *b_o;   /* (D) */
  float     *ln2_g; /* (D) */
  float     *ln2_b; /* (D) */
  float     *ff_W1; /* (FF, D) */
  float     *ff_b1; /* (FF) */
  float     *ff_W2; /* (D, FF) */
  float     *ff_b2; /* (D) */
  float     *lnf_g; /* (D) */
  float     *lnf_b; /* (D) */
  HeadParams head;  /* IN = D */
} TransformerParams;

typedef struct {
  float     *W_in;                       /* (C, IN) */
  float     *b_in;                       /* (C) */
  float     *W[BASELINE_TCN_MAX_LEVELS]; /* (C, K*C) level l, dilation 2^l, tap k in columns kC .. (k+1)C-1 */
  float     *b[BASELINE_TCN_MAX_LEVELS]; /* (C) */
  HeadParams head;                       /* IN = C */
} TcnParams;

typedef struct { /* only the model's own kind is pointed; the others stay NULL */
  LstmParams        lstm;
  EalstmParams      ea;
  TransformerParams tf;
  TcnParams         tcn;
} BaselineParams;

/* Activations, T = W + Sc days, B = max_b segments (the query rows), N = Sc*B
 * scored days; only the model's own kind is carved, the others stay NULL. */
typedef struct {
  /* every baseline */
  int32_t *age; /* (T, B) the queries' ages (ModelBatch age, rows 0..B-1) */
  float   *x;   /* (T, B, IN) day inputs [xf_t, s]; the EA-LSTM's xf_t alone (IN = F) */
  float   *dx;  /* (T, B, IN) */
  float   *o1;  /* (N, Ho) the head's hidden layer after tanh */
  float   *do1; /* (N, Ho) */
  /* LSTM and EA-LSTM */
  float *hs;    /* (T+1, B, H) hidden states after each day, hs[0] = 0; hs[W+1..] the head's input */
  float *cs;    /* (T+1, B, H) cell states */
  float *gates; /* (T, B, 4H) after activation (EA-LSTM: (T, B, 3H)) */
  float *ig;    /* (B, H) the EA-LSTM's input gate */
  float *dhs;   /* (T+1, B, H) */
  float *work;  /* (T, B, 4H) + 3 (B, H): lstm_backward, ealstm_backward */
  /* transformer */
  float *x0;     /* (T, B, D) tokens W_in x + b_in + position encoding */
  float *x1;     /* (T, B, D) ln1(x0) */
  float *mean1;  /* (T, B) */
  float *rstd1;  /* (T, B) */
  float *qkv;    /* (T, B, 3D) */
  float *att;    /* (B, NH, T, W+1) attention probabilities over the window */
  float *y;      /* (T, B, D) the heads' outputs, concatenated */
  float *ao;     /* (T, B, D) attention output */
  float *x2;     /* (T, B, D) x0 + ao */
  float *x3;     /* (T, B, D) ln2(x2) */
  float *mean2;  /* (T, B) */
  float *rstd2;  /* (T, B) */
  float *f1;     /* (T, B, FF) ff.W1 x3 + ff.b1 */
  float *g1;     /* (T, B, FF) GELU(f1) */
  float *x4;     /* (T, B, D) x2 + ff.W2 g1 + ff.b2 */
  float *hf;     /* (N, D) lnf(x4) of the scored days, the head's input */
  float *meanf;  /* (N) */
  float *rstdf;  /* (N) */
  float *dhf;    /* (N, D) */
  float *dx2;    /* (T, B, D) dL/dx4 (= dL/dx2 through the residual), then dL/dx0 */
  float *dx3;    /* (T, B, D) dL/dx3, then dL/dx1 */
  float *dg1;    /* (T, B, FF) */
  float *df1;    /* (T, B, FF) */
  float *work_t; /* (T, B, D) + (T, B, 3D) + (W+1): mhsa_backward */
  /* TCN (C = H) */
  float *xl;  /* (Lt+1, T, B, C) level inputs x^0 .. x^Lt; x^Lt of the scored days is the head's input */
  float *ul;  /* (Lt, T, B, C) each level's convolution before GELU */
  float *dxl; /* (T, B, C) dL/dx^l, level by level downwards */
  float *dul; /* (T, B, C) dL/du of one level */
  float *col; /* (T, B, K*C) im2col scratch of tcn_conv_forward/backward */
} BaselineActs;
/* ---- end of the baselines block */

struct Model {
  ModelConfig cfg;
  OutKind     out[MODEL_MAX_TARGETS];
  int         head_of[MODEL_MAX_TARGETS]; /* raw head output of each target, -1 if derived */
  int         gpp, reco;                  /* target indices, -1 when absent */
  int         Th;                         /* raw head outputs */
  int         ntensor;
  ModelTensor tensor[MODEL_MAX_TENSORS];
  size_t      nparams;
  int         max_b, max_r;
  float      *buf; /* every array below points into it; owned */
  size_t      bufused;
  int         count_only; /* model_size: model_alloc counts and allocates nothing */
  /* RACI forward: fast encoder over (T, R) rows */
  float *hs_f, *gates_f, *ghn_f, *work_f, *dhs_f;
  float *rowb, *drowb; /* (R, 3Hf) fsW s of every row and its gradient (fast_static) */
  float *es, *des;     /* (R, Z) the statics' embedding of every row and its gradient (fast_static 2) */
  /* slow encoder over (P, B*NB) block rows */
  float *xb2, *hs_s, *gates_s, *ghn_s, *work_s, *dhs_s, *dxb2;
  float *mz, *z1, *z; /* per (segment, block) */
  float *kv_s, *q_s, *k_s, *v_s, *p_s, *cs;
  /* per scored day (Sc, B) */
  float   *hq, *q_f, *k_f, *v_f, *p_f, *cf; /* k_f, v_f: (Sc, R, A) once per (day, row) */
  float   *u, *gb, *hin, *o1, *a;
  uint8_t *mask_s, *mask_f;
  int32_t *bidx;
  float   *dist;
  /* role shares (model_role_outputs): rzero stays 0; rk, rv, rq (T, A) the
   * zero-input trajectory's keys, values, queries; rzq (B*NB, Z) z at 0;
   * rwork the bank search of z at 0; rks (Sc, R) steps since the last
   * restart; rsel (Sc*B) the selected days; rlist (Ks + MODEL_ROLE_SPARE) */
  float   *rzero, *rk, *rv, *rq, *rzq, *rwork;
  int32_t *rks, *rsel, *rlist;
  /* backward */
  float *yhat, *dyhat, *da, *do1, *dhin, *du, *dz, *dz1, *dmz, *dcs, *dcf, *dkv_f, *dhq, *work_a; /* dkv_f: dk, dv */
  BaselineActs  bl;   /* baselines.c carves these in baseline_alloc */
  ModelProfiler prof; /* hooks, zero when unset */
};

#define MODEL_BANK_BLOCK 256 /* bank keys per distance sgemm */
#define MODEL_ROLE_SPARE 4   /* bank entries of one location a role-share search can skip */
static inline void model_phase_begin(Model *m, ModelPhase ph)
{
  if (m->prof.begin) m->prof.begin(m->prof.ctx, ph);
}
static inline void model_phase_end(Model *m, ModelPhase ph, double flops)
{
  if (m->prof.end) m->prof.end(m->prof.ctx, ph, flops);
}
float *model_carve(Model *m, size_t n);
int    model_alloc(Model *m);

/* baselines.c */
void baseline_layout(TensorWalk *w, const ModelConfig *c, int Th, BaselineParams *p);
void baseline_alloc(Model *m);
void baseline_forward(Model *m, const float *params, const ModelBatch *b);
void baseline_backward(Model *m, const float *params, float *grads, const ModelBatch *b, float *dxf, float *ds);

#endif
