/* predict: the tiling segments of every usable location of a sample set
 * through a trained model, with the regime map and the role shares
 * (docs/MODEL.md section 8). */
#include <raci/predict.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

PetscErrorCode predict_out_reset(PredictOut *po, PetscInt d0, int nd)
{
  PetscFunctionBeginUser;
  PetscCheck(nd <= po->ndmax, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "chunk of %d days in buffers for %d", nd,
             po->ndmax);
  po->d0 = d0, po->nd = nd;
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

/* Owned locations in the order the batches take them: grid cells by square
 * blocks of about a batch (side bs, the integer square root of the batch
 * size), row-major inside a block, so a batch is compact and its queries
 * share their neighbours' rows; sites in their order. */
static PetscErrorCode query_order(const SampleSet *ss, int maxb, int *loc, int *n)
{
  const Tile *t = &ss->ds->tile;
  Order      *o;
  int         k = 0, bs = 1;

  PetscFunctionBeginUser;
  while ((bs + 1) * (bs + 1) <= maxb) bs++;
  PetscCall(PetscMalloc1(ss->nloc + 1, &o));
  for (int i = 0; i < ss->nloc; i++) {
    if (!ss->owned[i]) continue;
    int64_t x = ss->gid[i] % t->nx, y = ss->gid[i] / t->nx, B = bs;
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

/* Whether segment [s0, s0 + W + Sc) of location c (days held) scores a day:
 * a scored day has W days of unbroken drivers before it in the segment, and
 * as every scored day is W or more days into the segment, that is run >= W. */
static PetscBool segment_scores(const SampleSet *ss, int c, int s0)
{
  const int32_t *run = ss->run + (size_t)c * ss->nt;
  for (PetscInt d = s0 + ss->W; d < PetscMin(s0 + ss->W + ss->Sc, ss->nt); d++)
    if (run[d] >= ss->W) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* The memory bank of a batch that data_batch_fill has (re)built; the model searches it. */
static void batch_bank(ModelBatch *mb, const Bank *bank)
{
  mb->bank_key = bank->key, mb->bank_val = bank->val, mb->bank_lkey = bank->lkey, mb->M = bank->M, mb->bank_idx = NULL;
}

/* d (Sc, B): sum over outputs of |a - b| / sigma, per scored day and segment
 * of outputs a, b (Sc, B, T), where sel (Sc, B) is set. */
static void output_change(const ModelConfig *c, const float *a, const float *b, const char *sel, int n, float *d)
{
  for (int q = 0; q < n; q++) {
    double s = 0;
    if (!sel[q]) continue;
    for (int k = 0; k < c->T; k++) s += fabs((double)a[(size_t)q * c->T + k] - b[(size_t)q * c->T + k]) / c->sigma[k];
    d[q] = (float)s;
  }
}

PetscErrorCode predict_segments(Model *m, const float *params, const Bank *bank, const SampleSet *ss, int n0, int n1,
                                int diag_stride, SampleBatch *sb, PredictOut *po)
{
  const ModelConfig *c = model_config(m);
  int                T = c->T, W = ss->W, Sc = ss->Sc, maxb = sb->maxb, NBmax = model_max_blocks(c), nq;
  int               *order, *valid, *d0;
  float             *yhat, *yslow, *yfast, *dslow, *dfast, *z = NULL;
  char              *diag; /* (Sc, B) 1 where a scored day of po's days is a diagnostic day */
  ModelBatch         mb;
  double             cnt;

  PetscFunctionBeginUser;
  PetscCheck(sb->Tg == T, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "batch of %d targets for a model of %d", sb->Tg, T);
  PetscCheck(c->W == W && c->Sc == Sc, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
             "samples of segments %d + %d days for a model of %d + %d", W, Sc, c->W, c->Sc);
  PetscCheck(n0 >= 0 && n0 <= n1 && (PetscInt)n0 * Sc >= ss->t0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "segments [%d, %d) start before the first day held, %" PetscInt_FMT, n0, n1, ss->t0);
  PetscCall(PetscMalloc4(ss->nloc + 1, &order, ss->nloc + 1, &valid, maxb, &d0, (size_t)Sc * maxb, &diag));
  PetscCall(PetscMalloc5((size_t)Sc * maxb * T, &yhat, (size_t)Sc * maxb * T, &yslow, (size_t)Sc * maxb * T, &yfast,
                         (size_t)Sc * maxb, &dslow, (size_t)Sc * maxb, &dfast));
  if (po->Z) PetscCall(PetscMalloc1((size_t)maxb * NBmax * po->Z, &z));
  PetscCall(query_order(ss, maxb, order, &nq));
  for (int n = n0; n < n1; n++) {
    const double share = 1.0 / PetscMax(n1 - n0, 1);            /* of the call's work, per segment */
    int          s0 = (int)((PetscInt)n * Sc - ss->t0), nv = 0; /* the segment's first day among the days held */
    for (int i = 0; i < nq; i++)
      if (segment_scores(ss, order[i], s0)) valid[nv++] = order[i];
    for (int b0 = 0; b0 < nv; b0 += maxb) {
      int      B = PetscMin(maxb, nv - b0), *loc = valid + b0, ndiag = 0;
      PetscInt rd0 = (PetscInt)n * Sc + W; /* record day of the first scored day */

      if (po->progress) po->progress(po->progress_ctx, share * ((n - n0) + (double)b0 / nv));
      for (int b = 0; b < B; b++) d0[b] = s0;
      PetscCall(data_batch_fill(ss, loc, d0, B, sb, &mb));
      PetscCheck(mb.NB <= NBmax, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "batch of %d block slots for a model of %d", mb.NB,
                 NBmax);
      batch_bank(&mb, bank);
      (void)model_forward(m, params, &mb, yhat, &cnt);
      /* yhat (Sc, B, T) -> the scored days with output (age >= W) among po's days */
      for (int t = 0; t < Sc; t++) {
        PetscInt p = rd0 + t - po->d0;
        for (int b = 0; b < B; b++) {
          size_t g        = (size_t)ss->ghost[loc[b]];
          diag[t * B + b] = 0;
          if (p < 0 || p >= po->nd || mb.age[(size_t)(W + t) * mb.R + b] < W) continue;
          for (int k = 0; k < T; k++) po->y[((size_t)k * po->nd + p) * po->ng + g] = yhat[((size_t)t * B + b) * T + k];
          po->cell_days++;
          if (diag_stride > 0 && (rd0 + t) % diag_stride == 0) diag[t * B + b] = 1, ndiag++;
        }
      }
      if (!ndiag) continue;
      /* regime embedding: z (B*NB, Z) of each segment's block slots, the diagnostic day's slot */
      if (po->Z) {
        model_last_z(m, &mb, z);
        for (int t = 0; t < Sc; t++)
          for (int b = 0; b < B; b++) {
            const float *zr = z + ((size_t)b * mb.NB + mb.blk[(size_t)b * Sc + t]) * po->Z;
            if (!diag[t * B + b]) continue;
            for (int k = 0; k < po->Z; k++) po->zsum[(size_t)k * po->ng + ss->ghost[loc[b]]] += zr[k];
          }
      }
      /* role shares: how far the outputs move when a role's inputs are set
       * to their training means (normalised 0; classes to none); the days'
       * ages are kept, so the same days are scored. RACI reuses its forward
       * pass (model_role_outputs); a baseline runs two more. */
      if (model_role_outputs(m, params, &mb, diag, yslow, yfast)) {
        memset(sb->xb, 0, sizeof(float) * (size_t)ss->P * B * mb.NB * ss->F);
        memset(sb->eb, 0, (size_t)B * mb.NB * ss->P);
        memset(sb->s, 0, sizeof(float) * (size_t)mb.R * ss->S);
        (void)model_forward(m, params, &mb, yslow, &cnt);
        PetscCall(data_batch_fill(ss, loc, d0, B, sb, &mb));
        batch_bank(&mb, bank);
        memset(sb->xf, 0, sizeof(float) * (size_t)mb.T * mb.R * ss->F);
        (void)model_forward(m, params, &mb, yfast, &cnt);
      }
      output_change(c, yhat, yslow, diag, Sc * B, dslow);
      output_change(c, yhat, yfast, diag, Sc * B, dfast);
      for (int q = 0; q < Sc * B; q++) {
        size_t g   = (size_t)ss->ghost[loc[q % B]];
        double tot = (double)dslow[q] + dfast[q];
        if (!diag[q]) continue;
        po->ndiag[g] += 1;
        po->fast[g] += tot > 0 ? dfast[q] / tot : 0.5;
      }
    }
  }
  PetscCall(PetscFree4(order, valid, d0, diag));
  PetscCall(PetscFree5(yhat, yslow, yfast, dslow, dfast));
  PetscCall(PetscFree(z));
  PetscFunctionReturn(PETSC_SUCCESS);
}
