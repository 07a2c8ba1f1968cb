/* checkpoint: what a trained model is on disk (docs/MODEL.md, "Checkpoint
 * format"), the one schema that `raci train` writes and that `raci predict`,
 * `raci train -resume` and `raci train -init_from` read.
 *
 * The container (named sections, checksum, atomic rename) is io_ckpt_* of
 * io.h; this module encodes every section field by field as little-endian
 * int64 / float32 / float64 values and length-prefixed strings, so a file does
 * not depend on the compiler's struct layout, the host's byte order or the
 * width of PetscInt (the writer's width is recorded; integers are int64
 * whatever it was, and read back with a range check). Sections:
 *
 *   format       schema version, the writer's sizeof(PetscInt), raci version
 *   model        architecture, ablation flags, sizes, segment (warm-up and
 *                scored days), slow history, TCN kernel, targets with their
 *                normalisation (mu, sigma) and loss weights
 *   roles, target_atts, input_units   texts (see app/train.c)
 *   norm         input normalisation and class values
 *   train_opts   optimiser and loop options (not needed to predict)
 *   state        position and early-stopping state
 *   params, best, adam_m, adam_v      float32 arrays
 *   bank_key, bank_val, bank_owner, bank_lkey   the memory bank
 *   history      raci version and command line of the writer
 *   ensemble     (schema 6) members asked, members finished before the
 *                state above, each finished member's epochs, steps and best
 *                validation loss, and the residual spread of each target
 *   mK.params, mK.bank_key, mK.bank_val, mK.bank_owner, mK.bank_lkey
 *                finished member K (0 <= K < finished): its parameters and bank
 *
 * An ensemble of N members is one checkpoint: the finished members in mK.*,
 * the member in training (or, once all are done, the last one) in the
 * sections of a single model.
 *
 * Checkpoints of schema 1 (raw structs, no `format` section) and of schema 2
 * (the windowed model of raci before the segment form) are refused: the
 * model must be trained again. */
#ifndef RACI_CHECKPOINT_H
#define RACI_CHECKPOINT_H

#include <raci/train.h>

#define CKPT_SCHEMA 6

/* A trained model and, for -resume, its optimiser and loop state. */
typedef struct {
  ModelConfig  cfg;                    /* the network, with the targets' normalisation */
  TrainOptions to;                     /* model options (model, segment, sizes) and optimiser and loop options;
                                          -quiet and -train_check_every are not recorded (false, 0 on load) */
  const char *roles;                   /* "fast:A,B;slow:C;target:D;" in the order the model reads them */
  const char *tatts;                   /* "name|units|long_name|standard_name\n" per target */
  const char *units;                   /* "name|units\n" per fast and slow variable */
  SampleNorm  norm;                    /* input normalisation and class values (tmean, tstd not recorded) */
  TrainState  st;                      /* params, best, moments, position, early stopping, bank */
  int         nens;                    /* members of the ensemble (-ensemble); 1: a single model */
  int         ndone;                   /* members finished before st, 0 .. nens - 1 */
  Member     *mem;                     /* (ndone) the finished members (caller's on save; owned on load) */
  double      sres[MODEL_MAX_TARGETS]; /* an ensemble's residual spread per target (train_residual_spread);
                                          0 until training has finished */
  int   int_bytes;                     /* on load: sizeof(PetscInt) of the writer */
  char *text;                          /* on load: storage of roles, tatts and units; owned */
} Trained;

/* Members the checkpoint can predict with: the finished ones and the state's
 * (all nens when training has finished). */
static inline int ckpt_members(const Trained *tr) { return tr->ndone + 1; }
/* Parameters and bank of member k < ckpt_members(tr). */
static inline void ckpt_member(const Trained *tr, int k, const float **params, const Bank **bank)
{
  *params = k < tr->ndone ? tr->mem[k].params : tr->st.params;
  *bank   = k < tr->ndone ? &tr->mem[k].bank : &tr->st.bank;
}

/* Write tr (texts and arrays are the caller's) to path: collective, rank 0
 * writes under a temporary name and renames (io_ckpt_write). */
PetscErrorCode ckpt_save(MPI_Comm comm, const char *path, const Trained *tr);
/* Read every section of path into tr (owned; ckpt_free). The parameter count
 * follows from the model configuration. Errors name the file and what is wrong. */
PetscErrorCode ckpt_load(MPI_Comm comm, const char *path, Trained *tr);
PetscErrorCode ckpt_free(Trained *tr);

/* -resume: ok when the checkpoint has the same roles, network and training
 * options as this run (the number of epochs may grow); else an error naming
 * the first option that differs. */
PetscErrorCode ckpt_check_resume(MPI_Comm comm, const char *path, const Trained *tr, const char *roles,
                                 const ModelConfig *cfg, const TrainOptions *to);
/* -init_from: the same roles and network (targets' normalisation aside). */
PetscErrorCode ckpt_check_init(MPI_Comm comm, const char *path, const Trained *tr, const char *roles,
                               const ModelConfig *cfg, const TrainOptions *to);

/* The sections of tr as ckpt_save writes them, with int_bytes recorded as the
 * writer's PetscInt width (tests write 8 to stand for a 64-bit-index build).
 * Local; free with ckpt_sections_free. */
PetscErrorCode ckpt_encode(const Trained *tr, int int_bytes, IoSection **sec, int *n);
PetscErrorCode ckpt_sections_free(IoSection **sec, int n);
/* Decode sections (as io_ckpt_read returns them) into tr; path names the file in errors. */
PetscErrorCode ckpt_decode(MPI_Comm comm, const char *path, const IoSection *sec, int n, Trained *tr);

#endif
