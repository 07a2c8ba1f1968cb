/* predict: a trained model over every usable location and day of a sample
 * set, with diagnostics (docs/MODEL.md section 8).
 *
 * Prediction tiles every record into the segments of docs/MODEL.md section 1:
 * segment n covers record days n*Sc .. n*Sc + W + Sc - 1 and scores days
 * n*Sc + W .. (n+1)*Sc + W - 1, so every day from W on is scored by exactly
 * one segment, whatever the time chunks and the rank count.
 *
 * No MPI and no file I/O: the caller reads the days (data_read), builds the
 * SampleSet with the checkpoint's normalisation, and writes what this fills.
 * Outputs are planes of the tile plus halo (as data_iput_field takes them):
 * only owned usable locations are set, everything else stays NaN. */
#ifndef RACI_PREDICT_H
#define RACI_PREDICT_H

#include <raci/data.h>
#include <raci/train.h>

/* Segments that tile a record of nt days: the last one scores day nt - 1
 * (0 when nt <= W: no day can be scored). */
static inline PetscInt predict_nsegments(PetscInt nt, PetscInt W, PetscInt Sc)
{
  return nt > W ? (nt - W + Sc - 1) / Sc : 0;
}

/* First record day that segments n >= n0 read: the segment's first day or the
 * first of the P slow blocks (of Lb days, counted from day 0) before the block
 * of its first scored day, whichever is earlier; 0 at the least. */
static inline PetscInt predict_read_start(PetscInt n0, PetscInt W, PetscInt Sc, PetscInt Lb, PetscInt P)
{
  PetscInt slow = ((n0 * Sc + W) / Lb - P) * Lb;
  return PetscMax(0, PetscMin(n0 * Sc, slow));
}

typedef struct {
  int      T, Z, nd; /* outputs, regime size (0: the model has no regime embedding), days */
  int      ndmax;    /* days the buffers hold */
  PetscInt d0;       /* record day of the first day of y */
  size_t   ng;       /* locations of a plane (tile plus halo) */
  float   *y;        /* (T, nd, ng) predictions of record days d0 .. d0 + nd - 1, physical units; NaN where none */
  /* diagnostics, accumulated over the diagnostic days of every call */
  double *zsum;      /* (Z, ng) sum of the regime embedding z */
  double *fast;      /* (ng) sum of the fast role's share (the slow one's is ndiag - fast) */
  double *ndiag;     /* (ng) diagnostic days summed */
  long    cell_days; /* predictions made (owned location-days) */
  /* progress (optional): called after every batch of predict_segments with
   * the share of its segment-location pairs done, 0 .. 1; local, no MPI */
  void (*progress)(void *ctx, double done);
  void *progress_ctx;
} PredictOut;

/* Buffers for nd days of the model's outputs over the planes of tile t. */
PetscErrorCode predict_out_create(const Model *m, const Tile *t, int nd, PredictOut *po);
PetscErrorCode predict_out_destroy(PredictOut *po);
/* Next chunk: record days [d0, d0 + nd) (nd at most those of create),
 * predictions reset to NaN; the diagnostics keep accumulating. */
PetscErrorCode predict_out_reset(PredictOut *po, PetscInt d0, int nd);

/* Predict the tiling segments n0 <= n < n1 (segment n starts at record day
 * n*Sc, day n*Sc - ss->t0 of the days held, which must be held from there on;
 * days past those held are missing) of every owned usable location of ss, in
 * batches of up to sb->maxb segments. Each scored day with output (age >= W
 * in its segment) of po's days is written into po->y; the others stay NaN.
 * Scored days whose record index is a multiple of diag_stride (0: none) also
 * add the regime embedding of their block and the role shares (occlusion,
 * docs/MODEL.md 8) to the diagnostics. sb: a batch created for ss with the
 * model's targets. */
PetscErrorCode predict_segments(Model *m, const float *params, const Bank *bank, const SampleSet *ss, int n0, int n1,
                                int diag_stride, SampleBatch *sb, PredictOut *po);

#endif
