/* profile: where the time goes, for PETSc's -log_view (docs/PERFORMANCE.md).
 *
 * One PetscLogEvent per kernel family with its flop count (PetscLogFlops),
 * so -log_view's table gives seconds and GFLOP/s per kernel: the model's
 * phases (fast encoder, slow encoder, attention, bank search, heads) through
 * the model's profiling hooks, and around them batch building, the gradient
 * reduction, the optimiser, reads and writes. Registered once per run. */
#ifndef RACI_PROFILE_H
#define RACI_PROFILE_H

#include <petscsys.h>
#include <raci/model.h>

typedef struct {
  PetscLogEvent model[MODEL_NPHASE]; /* raci:FastEnc, raci:SlowEnc, raci:Attention, raci:BankSearch, raci:Heads */
  PetscLogEvent batch;               /* raci:Batch: building a batch of segments */
  PetscLogEvent reduce;              /* raci:Allreduce: the gradient reduction */
  PetscLogEvent adamw;               /* raci:AdamW */
  PetscLogEvent read;                /* raci:Read: data_read */
  PetscLogEvent write;               /* raci:Write: queued writes and their completion */
} RaciEvents;

extern RaciEvents raci_events;

/* Registers the events (idempotent). */
PetscErrorCode profile_register(void);
/* Hooks that turn the model's phases into the events above. */
void profile_model_hooks(ModelProfiler *p);

#endif
