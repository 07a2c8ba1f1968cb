/* train: the optimiser, the functional memory bank, batches of segments,
 * gradient reduction and the training loop (docs/MODEL.md section 7).
 *
 * A sample is a segment: W warm-up and Sc scored days of one location.
 * Sampling is keyed by global location ids and (seed, epoch, step), so the
 * segments of a step do not depend on the rank count; the gradient lives in
 * one buffer reduced with one MPI_Allreduce per step and divided by the
 * global number of observed target values; every rank applies the same AdamW
 * update, so parameters stay identical. */
#ifndef RACI_TRAIN_H
#define RACI_TRAIN_H

#include <raci/data.h>
#include <raci/model.h>
#include <raci/eval.h>

#include <math.h>

/* PyTorch's AdamW: p -= lr wd p (if decay), then the Adam step; t counts from 1. */
void adamw_step(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2, float eps,
                float wd, int decay, long t);

typedef struct {
  char      model[16];
  PetscBool no_retrieval, no_slow, no_film;
  PetscBool fast_static; /* -raci_fast_static */
  PetscBool fast_embed;  /* -raci_fast_embed */
  PetscBool head_x;      /* -raci_head_drivers */
  PetscInt  W, Sc;       /* segment: warm-up and scored days (-raci_warmup_days, -raci_scored_days) */
  PetscInt  Ls, P, Hf, Hs, Hz, Z, A, Ks, Kf, Ho, D, NH, FF;
  PetscInt  Kt; /* TCN kernel width (-tcn_kernel) */
  PetscReal lr, wd;
  PetscReal clip;              /* -train_clip: largest global gradient norm, 0 = none */
  PetscReal input_dropout;     /* -train_input_dropout: chance a segment loses an available input (flagged) */
  PetscReal radius;            /* -retrieval_radius: site neighbours within this distance, km (0: none) */
  PetscInt  warmup;            /* -train_warmup_steps: linear learning-rate ramp over the first steps, 0 = none */
  PetscReal beta1, beta2, eps; /* AdamW's moment decay rates and epsilon */
  PetscInt  batch;             /* expected segments per step, all ranks */
  PetscInt  bank_days;         /* a bank key averages z over up to bank_days / Sc + 1 tiled segments */
  PetscInt  val_stride;        /* validation keeps the tiled segments n with n % val_stride == 0 */
  PetscInt  steps, epochs, patience, seed, patch, bank_every;
  PetscInt  check_every; /* debug: prove every n steps that all ranks hold the same parameters */
  PetscInt  bank_max;    /* at most about this many bank entries (prototypes drawn by location id) */
  PetscInt  ensemble;    /* -ensemble: members trained in turn, member k with seed train_member_seed(seed, k) */
  PetscInt  member;      /* the member in training, 0 .. ensemble-1 (time-left estimate; not saved) */
  PetscBool quiet;
} TrainOptions;

PetscErrorCode train_options(MPI_Comm comm, TrainOptions *to);
/* Segments a batch holds at most on this rank: the model's and the batches'
 * capacity, twice the rank's expected segments per step (its share of the
 * training locations), within 32 .. 1024. A step that draws more on one rank
 * runs them in several batches (the same gradient up to rounding), so the
 * capacity bounds memory, never the draw. */
static inline int train_max_segments(const TrainOptions *to, const SampleSet *ss)
{
  double e = ss->nglobal[SPLIT_TRAIN] > 0 ? (double)to->batch * ss->count[SPLIT_TRAIN] / ss->nglobal[SPLIT_TRAIN] : 0;
  return (int)PetscMin(PetscMax(ceil(2 * e), 32), 1024);
}
/* TCN levels: the smallest count whose receptive field 1 + (Kt-1)(2^Lt - 1) covers W + 1 days. */
static inline int train_tcn_levels(PetscInt Kt, PetscInt W)
{
  int Lt = 1;
  while (Kt > 1 && Lt < 60 && 1 + (double)(Kt - 1) * (ldexp(1.0, Lt) - 1) < (double)(W + 1)) Lt++;
  return Lt;
}
/* The network configuration for a sample set under these options. */
PetscErrorCode train_model_config(const TrainOptions *to, const SampleSet *ss, ModelConfig *cfg);

/* The functional memory bank, gathered from all ranks (MPI_Allgatherv). */
typedef struct {
  int      M, Z, V;
  float   *key, *val; /* (M, Z), (M, V) owned */
  int32_t *owner;     /* (M) global location id in the training file (reports) */
  int64_t *lkey;      /* (M) location key (data_location_key): what the search excludes */
} Bank;

PetscErrorCode train_bank_build(MPI_Comm comm, Model *m, const float *params, const SampleSet *ss,
                                const TrainOptions *to, long epoch, SampleBatch *sb, Bank *bank);
PetscErrorCode train_bank_free(Bank *bank);

/* Loss and per-target squared errors over the scored days of a split: the
 * tiling of every location's record into segments (segment n starts at day
 * n Sc, n >= 0, while n Sc + W < nt; docs/MODEL.md section 1), keeping the
 * segments n with n % stride == 0; collective. sse, n: (T) sums over ranks in
 * physical units. */
PetscErrorCode train_evaluate(MPI_Comm comm, Model *m, const float *params, const SampleSet *ss, Split split,
                              int stride, const Bank *bank, SampleBatch *sb, double *loss, double *sse, double *n);
/* What an ensemble's spread lacks at each scored value with an observation:
 * r = sqrt(max(0, (mean - obs)^2 - sd^2)) per target (sd the members' sample
 * standard deviation), collected by train_evaluate_members. */
typedef struct {
  float *r[MODEL_MAX_TARGETS];
  long   n[MODEL_MAX_TARGETS], cap[MODEL_MAX_TARGETS];
} SpreadGap;

/* The same tiling scored with the mean of nmem models (an ensemble; params[k]
 * with bank[k]): es (T) sums of the mean against the observations, with the
 * spread beside it when nmem > 1: sqrt(sd^2 + sres^2), sd the members' sample
 * standard deviation, sres (T) the residual spread (NULL: 0); gap (may be
 * NULL) collects what the members' spread lacks; *loss the mean of the
 * members' losses. Collective; es summed over ranks. */
PetscErrorCode train_evaluate_members(MPI_Comm comm, Model *m, int nmem, const float *const *params,
                                      const Bank *const *bank, const SampleSet *ss, Split split, int stride,
                                      const double *sres, SpreadGap *gap, SampleBatch *sb, double *loss, EvalSums *es);
/* The residual spread of target t: the q-quantile of gap's values over all
 * ranks (bisection on counts, MPI_Allreduce), so that a share q of the
 * values collected lies inside mean +- sqrt(sd^2 + sres^2); 0 without values.
 * Collective. */
PetscErrorCode train_residual_spread(MPI_Comm comm, const SpreadGap *gap, int t, double q, double *sres);
PetscErrorCode train_spread_gap_free(SpreadGap *gap);

/* Everything a run needs to continue exactly where it stopped: parameters,
 * AdamW moments, the best model so far, position, early-stopping state and the
 * memory bank in use. Saved in checkpoints; one allocation per array, owned. */
typedef struct {
  size_t np;
  float *params, *mom, *vel, *best; /* (np) each, the layout of the model's tensors */
  long   epoch, step, t;            /* next epoch, next step in it, steps done */
  long   bad;                       /* epochs without validation improvement */
  double best_val, tl, tc;          /* best validation loss; the epoch's training loss sum and count */
  long   finished;                  /* 1 once training has ended (patience or epochs) */
  Bank   bank;
} TrainState;

#define TRAIN_MAX_MEMBERS  64       /* -ensemble at most */
#define TRAIN_SPREAD_COVER 0.682689 /* share of validation values inside an ensemble's mean +- spread */

/* The training seed of ensemble member k (member 0: the run's own seed). */
static inline PetscInt train_member_seed(PetscInt seed, int k) { return seed + 1000 * (PetscInt)k; }

/* A finished member of an ensemble: the parameters it ended with (its best
 * validation model), the bank it was scored with, and its run. */
typedef struct {
  float *params; /* (np) owned */
  Bank   bank;   /* owned */
  long   epochs, steps;
  double best_val;
} Member;

PetscErrorCode train_member_free(Member *mb);

PetscErrorCode train_state_create(const Model *m, uint64_t seed, TrainState *st);
PetscErrorCode train_state_destroy(TrainState *st);

typedef struct {
  long   epochs_run, steps_run;
  long   segments; /* segments trained on in this run, all ranks */
  long   samples;  /* their scored cell-days (days with W days of warm-up behind them), all ranks */
  long   rows;     /* fast-encoder row-days (rows times T: queries and neighbours), all ranks */
  double last_train;
  double seconds;      /* the whole run, bank and validation included */
  double step_seconds; /* batches, forward, backward, reduction, AdamW only (max over ranks) */
  double bank_seconds; /* building and gathering the memory bank (max over ranks) */
  double val_seconds;  /* the validation pass after every epoch (rank's own) */
  double save_seconds; /* checkpoint writes after every epoch (rank's own) */
  int    interrupted;  /* stopped by SIGTERM or SIGUSR1 at a step boundary */
} TrainResult;

/* Continue training from st until the epochs run out, patience ends it, or a
 * signal asks to stop (then st holds the next step, ready to save). With
 * ckpt_path, the state is saved there after every epoch as well. On a normal
 * end st->params holds the best validation model. */
typedef PetscErrorCode (*TrainSaveFn)(void *ctx, const TrainState *st);
PetscErrorCode train_run(MPI_Comm comm, Model *m, const SampleSet *ss, const TrainOptions *to, TrainState *st,
                         TrainSaveFn save, void *save_ctx, TrainResult *res);

#endif
