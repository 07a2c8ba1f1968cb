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
  GruParams  fast;    /* IN = F, H = Hf: the fast encoder, state carried along the segment */
  float     *empty;   /* (F) stands for an empty slow block */
  GruParams  slow;    /* IN = F, H = Hs: over the P block summaries before a block */
  float     *zW1;     /* (Hz, Hs + S) */
  float     *zb1;     /* (Hz) */
  float     *zW2;     /* (Z, Hz) */
  float     *zb2;     /* (Z) */
  AttnParams rs;      /* functional retrieval: Dq = Z, Dk = Z + 2T */
  AttnParams rf;      /* geographic retrieval: Dq = Dk = Hf */
  float     *filmW;   /* (2Hf, Z + A) */
  float     *filmb;   /* (2Hf) */
  HeadParams head;    /* IN = Hf + A, or Hf + Z + 2A without FiLM */
} RaciParams;

/* ---- baselines: parameter and activation structs (baselines.c owns this block) */
typedef struct {
  int unused; /* LSTM, EA-LSTM, transformer and TCN parameter structs go here */
} BaselineParams;

typedef struct {
  float *unused; /* the baselines' activations, named, carved in baseline_alloc */
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
  /* slow encoder over (P, B*NB) block rows */
  float *xb2, *hs_s, *gates_s, *ghn_s, *work_s, *dhs_s, *dxb2;
  float *mz, *z1, *z; /* per (segment, block) */
  float *kv_s, *q_s, *k_s, *v_s, *p_s, *cs;
  /* per scored day (Sc, B) */
  float   *hq, *q_f, *k_f, *v_f, *p_f, *cf; /* k_f, v_f: (Sc, R, A) once per (day, row) */
  float   *u, *gb, *h, *hin, *o1, *a;
  uint8_t *mask_s, *mask_f;
  int32_t *bidx;
  float   *dist;
  /* backward */
  float *yhat, *dyhat, *da, *do1, *dhin, *du, *dz, *dz1, *dmz, *dcs, *dcf, *dkv_f, *dh, *dhq, *work_a; /* dkv_f: dk, dv */
  BaselineActs  bl;   /* baselines.c carves these in baseline_alloc */
  ModelProfiler prof; /* hooks, zero when unset */
};

#define MODEL_BANK_BLOCK 256 /* bank keys per distance sgemm */
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
