/* predict: a trained model over every usable location and day of a sample
 * set, with diagnostics (docs/MODEL.md section 8).
 *
 * No MPI and no file I/O: the caller reads the days (data_read), builds the
 * SampleSet with the checkpoint's normalisation, and writes what this fills.
 * Outputs are planes of the tile plus halo (as data_iput_field takes them):
 * only owned usable locations are set, everything else stays NaN. */
#ifndef RACI_PREDICT_H
#define RACI_PREDICT_H

#include <raci/data.h>
#include <raci/train.h>

typedef struct {
  int    T, Z, nd; /* outputs, regime size (0: the model has no regime embedding), days */
  int    ndmax;    /* days the buffers hold */
  size_t ng;       /* locations of a plane (tile plus halo) */
  float *y;        /* (T, nd, ng) predictions, physical units; NaN where none */
  /* diagnostics, accumulated over the diagnostic days of every call */
  double *zsum;      /* (Z, ng) sum of the regime embedding z */
  double *fast;      /* (ng) sum of the fast role's share (the slow one's is ndiag - fast) */
  double *ndiag;     /* (ng) diagnostic days summed */
  long    cell_days; /* predictions made (owned location-days) */
} PredictOut;

/* Buffers for nd days of the model's outputs over the planes of tile t. */
PetscErrorCode predict_out_create(const Model *m, const Tile *t, int nd, PredictOut *po);
PetscErrorCode predict_out_destroy(PredictOut *po);
/* Next chunk: nd days (at most those of create), predictions reset to NaN;
 * the diagnostics keep accumulating. */
PetscErrorCode predict_out_reset(PredictOut *po, int nd);

/* Predict days [d0, d0 + po->nd) of ss (indices relative to ss->t0) into
 * po->y; days before Lf - 1 of the held record cannot be predicted. Days
 * whose record index is a multiple of diag_stride (0: none) also add the
 * regime embedding and the role shares (occlusion, docs/MODEL.md 8) to the
 * diagnostics. sb: a batch created for ss with the model's targets. */
PetscErrorCode predict_days(Model *m, const float *params, const Bank *bank, const SampleSet *ss, int d0,
                            int diag_stride, SampleBatch *sb, PredictOut *po);

#endif
