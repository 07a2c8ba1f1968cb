/* model: what the network code shares between its files (not installed). */
#ifndef RACI_MODEL_NETWORK_H
#define RACI_MODEL_NETWORK_H

#include <raci/core.h>
#include <raci/model.h>

#include <stdio.h>

struct Model {
  ModelConfig cfg;
  OutKind     out[MODEL_MAX_TARGETS];
  int         head_of[MODEL_MAX_TARGETS]; /* raw head output of each target, -1 if derived */
  int         gpp, reco;                  /* target indices, -1 when absent */
  int         Th;                         /* raw head outputs */
  int         ntensor;
  ModelTensor tensor[MODEL_MAX_TENSORS];
  size_t      nparams;
  int         max_q, max_r;
  float      *buf; /* every array below points into it; owned */
  size_t      bufused;
  int         count_only; /* model_size: model_alloc counts and allocates nothing */
  /* RACI forward */
  float   *hs_f, *gates_f, *ghn_f, *work_f, *dhs_f;
  float   *xb2, *hs_s, *gates_s, *ghn_s, *work_s, *dhs_s, *dxb2;
  float   *mz, *z1, *z;
  float   *kv_s, *q_s, *k_s, *v_s, *p_s, *cs;
  float   *kv_f, *q_f, *k_f, *v_f, *p_f, *cf;
  float   *u, *gb, *h, *hin, *o1, *a;
  uint8_t *mask_s, *mask_f;
  int32_t *bidx;
  float   *dist;
  /* backward */
  float *yhat, *dyhat, *da, *do1, *dhin, *du, *dz, *dz1, *dmz, *dcs, *dcf, *dkv_f, *dh, *work_a;
  /* baselines */
  float *xin, *seq_h, *seq_c, *seq_g, *seq_work, *dseq_h, *dxin;
  float *tf[24]; /* transformer activations, see baselines.c */
};

#define MODEL_BANK_BLOCK 256 /* bank keys per distance sgemm */
float *model_carve(Model *m, size_t n);
/* Appends a tensor to the parameter layout (docs/MODEL.md section 5). */
void model_add_tensor(Model *m, const char *name, int rows, int cols);
int  model_alloc(Model *m);

/* baselines.c */
void baseline_layout(Model *m);
void baseline_alloc(Model *m);
void baseline_forward(Model *m, const float *params, const ModelBatch *b);
void baseline_backward(Model *m, const float *params, float *grads, const ModelBatch *b, float *dxf, float *ds);

#endif
