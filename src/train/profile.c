/* profile: PETSc log events for the model's phases and the work around them. */
#include <raci/core.h>
#include <raci/profile.h>

RaciEvents raci_events;

static PetscBool registered = PETSC_FALSE;

PetscErrorCode profile_register(void)
{
  static const char *name[MODEL_NPHASE] = {"raci:FastEnc", "raci:SlowEnc", "raci:Attention", "raci:BankSearch",
                                           "raci:Heads"};
  PetscClassId       cls;

  PetscFunctionBeginUser;
  if (registered) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscClassIdRegister("raci", &cls));
  for (int k = 0; k < MODEL_NPHASE; k++) PetscCall(PetscLogEventRegister(name[k], cls, &raci_events.model[k]));
  PetscCall(PetscLogEventRegister("raci:Batch", cls, &raci_events.batch));
  PetscCall(PetscLogEventRegister("raci:Allreduce", cls, &raci_events.reduce));
  PetscCall(PetscLogEventRegister("raci:AdamW", cls, &raci_events.adamw));
  PetscCall(PetscLogEventRegister("raci:Read", cls, &raci_events.read));
  PetscCall(PetscLogEventRegister("raci:Write", cls, &raci_events.write));
  registered = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The hooks cannot return errors to the model (which knows no PETSc); the
 * log calls only fail on a corrupted event table, which PETSc reports itself. */
static void hook_begin(void *ctx, ModelPhase ph) { (void)PetscLogEventBegin(raci_events.model[ph], 0, 0, 0, 0); }

static void hook_end(void *ctx, ModelPhase ph, double flops)
{
  (void)PetscLogFlops(flops);
  (void)PetscLogEventEnd(raci_events.model[ph], 0, 0, 0, 0);
}

void profile_model_hooks(ModelProfiler *p) { *p = (ModelProfiler){.begin = hook_begin, .end = hook_end, .ctx = NULL}; }
