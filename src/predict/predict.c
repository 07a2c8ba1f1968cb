/* predict: every usable location and day of a sample set through a trained
 * model, with the regime map and the role shares (docs/MODEL.md section 8). */
#include <raci/predict.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREDICT_BLOCK 16 /* grid queries go in blocks of 16 x 16 cells, so neighbours' rows are shared */

PetscErrorCode predict_out_create(const Model *m, const Tile *t, int nd, PredictOut *po)
{
  const ModelConfig *c = model_config(m);

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(po, sizeof *po));
  po->T  = c->T;
  po->Z  = c->kind == MODEL_RACI && !c->no_slow ? c->Z : 0;
  po->nd = po->ndmax = nd;
  po->ng             = (size_t)grid_ghost_count(t);
  PetscCall(PetscMalloc1((size_t)po->T * nd * po->ng + 1, &po->y));
  PetscCall(PetscCalloc3((size_t)po->Z * po->ng + 1, &po->zsum, po->ng, &po->fast, po->ng, &po->ndiag));
  for (size_t i = 0; i < (size_t)po->T * nd * po->ng; i++) po->y[i] = NAN;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode predict_out_reset(PredictOut *po, int nd)
{
  PetscFunctionBeginUser;
  PetscCheck(nd <= po->ndmax, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "chunk of %d days in buffers for %d", nd,
             po->ndmax);
  po->nd = nd;
  for (size_t i = 0; i < (size_t)po->T * nd * po->ng; i++) po->y[i] = NAN;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode predict_out_destroy(PredictOut *po)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(po->y));
  PetscCall(PetscFree3(po->zsum, po->fast, po->ndiag));
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  int64_t key;
  int     loc;
} Order;

static int order_cmp(const void *a, const void *b)
{
  int64_t x = ((const Order *)a)->key, y = ((const Order *)b)->key;
  return (x > y) - (x < y);
}

/* Owned locations in the order the batches take them: grid cells by blocks
 * of PREDICT_BLOCK x PREDICT_BLOCK cells, row-major inside a block; sites in
 * their order. */
static PetscErrorCode query_order(const SampleSet *ss, int *loc, int *n)
{
  const Tile *t = &ss->ds->tile;
  Order      *o;
  int         k = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(ss->nloc + 1, &o));
  for (int i = 0; i < ss->nloc; i++) {
    if (!ss->owned[i]) continue;
    int64_t x = ss->gid[i] % t->nx, y = ss->gid[i] / t->nx, B = PREDICT_BLOCK;
    o[k].key = ss->ds->layout == LAYOUT_GRID ? (((y / B) * ((t->nx + B - 1) / B) + x / B) * B + y % B) * B + x % B
                                             : ss->gid[i];
    o[k].loc = i;
    k++;
  }
  qsort(o, (size_t)k, sizeof *o, order_cmp);
  for (int i = 0; i < k; i++) loc[i] = o[i].loc;
  *n = k;
  PetscCall(PetscFree(o));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Sum over outputs of |a - b| / sigma, per query. */
static void output_change(const ModelConfig *c, const float *a, const float *b, int Q, float *d)
{
  for (int q = 0; q < Q; q++) {
    double s = 0;
    for (int k = 0; k < c->T; k++) s += fabs((double)a[q * c->T + k] - b[q * c->T + k]) / c->sigma[k];
    d[q] = (float)s;
  }
}

PetscErrorCode predict_days(Model *m, const float *params, const Bank *bank, const SampleSet *ss, int d0,
                            int diag_stride, SampleBatch *sb, PredictOut *po)
{
  const ModelConfig *c = model_config(m);
  int                T = c->T, maxq = sb->maxq, nq, *order, *valid, *day;
  float             *yhat, *yocc, *dslow, *dfast, *z = NULL;
  ModelBatch         mb;
  double             cnt;

  PetscFunctionBeginUser;
  PetscCheck(sb->T == T, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "batch of %d targets for a model of %d", sb->T, T);
  PetscCheck(d0 >= 0 && d0 + po->nd <= ss->nt, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "days [%d, %d) outside the %" PetscInt_FMT " days held", d0, d0 + po->nd, ss->nt);
  PetscCall(PetscMalloc6(ss->nloc + 1, &order, maxq, &day, (size_t)maxq * T, &yhat, (size_t)maxq * T, &yocc, maxq,
                         &dslow, maxq, &dfast));
  PetscCall(PetscMalloc1(ss->nloc + 1, &valid));
  if (po->Z) PetscCall(PetscMalloc1((size_t)maxq * po->Z, &z));
  PetscCall(query_order(ss, order, &nq));
  for (int d = PetscMax(d0, ss->Lf - 1); d < d0 + po->nd; d++) {
    PetscBool diag = (PetscBool)(diag_stride > 0 && (ss->t0 + d) % diag_stride == 0);
    int       nv   = 0;
    for (int q = 0; q < maxq; q++) day[q] = d;
    for (int i = 0; i < nq; i++) /* the locations with a full fast window on day d */
      if (data_query_valid(ss, order[i], d)) valid[nv++] = order[i];
    for (int b0 = 0; b0 < nv; b0 += maxq) {
      int  Q   = PetscMin(maxq, nv - b0);
      int *loc = valid + b0;

      PetscCall(data_batch_fill(ss, loc, day, Q, sb, &mb));
      mb.bank_key = bank->key, mb.bank_val = bank->val, mb.bank_lkey = bank->lkey, mb.M = bank->M, mb.bank_idx = NULL;
      (void)model_forward(m, params, &mb, yhat, &cnt);
      for (int q = 0; q < Q; q++)
        for (int k = 0; k < T; k++)
          po->y[((size_t)k * po->nd + (d - d0)) * po->ng + ss->ghost[loc[q]]] = yhat[q * T + k];
      po->cell_days += Q;
      if (!diag) continue;
      /* regime embedding */
      if (po->Z) {
        model_encode_z(m, params, &mb, z);
        for (int q = 0; q < Q; q++)
          for (int k = 0; k < po->Z; k++) po->zsum[(size_t)k * po->ng + ss->ghost[loc[q]]] += z[q * po->Z + k];
      }
      /* role shares: how far the outputs move when a role's inputs are set
       * to their training means (normalised 0; classes to none) */
      memset(sb->xb, 0, sizeof(float) * (size_t)ss->P * Q * ss->F);
      memset(sb->eb, 0, (size_t)ss->P * Q);
      memset(sb->s, 0, sizeof(float) * (size_t)Q * ss->S);
      (void)model_forward(m, params, &mb, yocc, &cnt);
      output_change(c, yhat, yocc, Q, dslow);
      PetscCall(data_batch_fill(ss, loc, day, Q, sb, &mb));
      memset(sb->xf, 0, sizeof(float) * (size_t)ss->Lf * mb.R * ss->F);
      (void)model_forward(m, params, &mb, yocc, &cnt);
      output_change(c, yhat, yocc, Q, dfast);
      for (int q = 0; q < Q; q++) {
        size_t g   = (size_t)ss->ghost[loc[q]];
        double tot = (double)dslow[q] + dfast[q];
        po->ndiag[g] += 1;
        po->fast[g] += tot > 0 ? dfast[q] / tot : 0.5;
      }
    }
  }
  PetscCall(PetscFree6(order, day, yhat, yocc, dslow, dfast));
  PetscCall(PetscFree(valid));
  PetscCall(PetscFree(z));
  PetscFunctionReturn(PETSC_SUCCESS);
}
