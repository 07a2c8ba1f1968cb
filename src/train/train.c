/* train: AdamW, the memory bank, evaluation and the training loop over
 * batches of segments (docs/MODEL.md section 7). */
#include <raci/train.h>
#include <raci/profile.h>

#include <math.h>
#include <string.h>

void adamw_step(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2, float eps,
                float wd, int decay, long t)
{
  float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
  for (size_t i = 0; i < n; i++) {
    if (decay) p[i] -= lr * wd * p[i];
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    p[i] -= lr * (m[i] / c1) / (sqrtf(v[i] / c2) + eps);
  }
}

PetscErrorCode train_options(MPI_Comm comm, TrainOptions *to)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(to, sizeof *to));
  PetscCall(PetscStrcpy(to->model, "raci"));
  to->W = 30, to->Sc = 90, to->Kt = 3, to->Ls = 360, to->P = 12, to->Hf = 64, to->Hs = 32, to->Hz = 32, to->Z = 16,
  to->A = 32, to->Ks = 8, to->Kf = 8, to->Ho = 64;
  to->D = 32, to->NH = 4, to->FF = 64;
  to->lr = 1e-3, to->wd = 1e-4, to->beta1 = 0.9, to->beta2 = 0.999, to->eps = 1e-8;
  to->bank_max = 4096;
  to->batch = 64, to->steps = 100, to->epochs = 20, to->patience = 5, to->seed = 1, to->patch = 4, to->bank_days = 8,
  to->bank_every = 1, to->val_stride = 5;
  to->radius = 50, to->ensemble = 1;
  PetscCall(core_opt_section(comm, "Model and training"));
  PetscCall(
      core_opt_string(comm, "-model", "raci, lstm, ealstm, transformer or tcn", to->model, sizeof to->model, NULL));
  PetscCall(core_opt_bool(comm, "-raci_no_retrieval", "Ablation: no functional or geographic retrieval",
                          to->no_retrieval, &to->no_retrieval, NULL));
  PetscCall(core_opt_bool(comm, "-raci_no_slow", "Ablation: no slow encoder (and so no functional retrieval)",
                          to->no_slow, &to->no_slow, NULL));
  PetscCall(
      core_opt_bool(comm, "-raci_no_film", "Ablation: concatenate instead of FiLM", to->no_film, &to->no_film, NULL));
  PetscCall(core_opt_bool(comm, "-raci_fast_static",
                          "The static features enter the fast encoder's gates every day (as the LSTM's inputs)",
                          to->fast_static, &to->fast_static, NULL));
  PetscCall(core_opt_bool(comm, "-raci_fast_embed",
                          "The static features enter the fast encoder's gates every day through a learned bounded "
                          "embedding (size -raci_z)",
                          to->fast_embed, &to->fast_embed, NULL));
  PetscCall(core_opt_bool(comm, "-raci_head_drivers",
                          "The scored day's fast drivers enter the head beside the encoder state", to->head_x,
                          &to->head_x, NULL));
  /* upper bounds keep every buffer size within int; the memory they need together is checked when the model is made */
  PetscCall(core_opt_int(comm, "-raci_warmup_days", "W: warm-up days of a segment (no day is scored before W days)",
                         to->W, 1, 3660, &to->W, NULL));
  PetscCall(core_opt_int(comm, "-raci_scored_days", "S_c: scored days of a segment", to->Sc, 1, 3660, &to->Sc, NULL));
  PetscCall(core_opt_int(comm, "-raci_slow_days", "L_s: days of the slow window", to->Ls, 1, 36600, &to->Ls, NULL));
  PetscCall(core_opt_int(comm, "-raci_blocks", "P: blocks of the slow window", to->P, 1, 3660, &to->P, NULL));
  PetscCall(core_opt_int(comm, "-raci_hidden", "H_f: fast encoder (and baseline) hidden size", to->Hf, 1, 4096, &to->Hf,
                         NULL));
  PetscCall(core_opt_int(comm, "-raci_slow_hidden", "H_s: slow encoder hidden size", to->Hs, 1, 4096, &to->Hs, NULL));
  PetscCall(core_opt_int(comm, "-raci_z", "Z: regime embedding size", to->Z, 1, 4096, &to->Z, NULL));
  PetscCall(core_opt_int(comm, "-raci_attn", "A: attention size", to->A, 1, 4096, &to->A, NULL));
  PetscCall(core_opt_int(comm, "-raci_ks", "K_s: functional neighbours", to->Ks, 1, 256, &to->Ks, NULL));
  PetscCall(core_opt_int(comm, "-raci_kf", "K_f: geographic neighbours", to->Kf, 1, 256, &to->Kf, NULL));
  PetscCall(core_opt_int(comm, "-raci_head", "H_o: head hidden size", to->Ho, 1, 4096, &to->Ho, NULL));
  PetscCall(core_opt_int(comm, "-tcn_kernel", "K: kernel width of the TCN baseline", to->Kt, 2, 16, &to->Kt, NULL));
  PetscCall(core_opt_real(comm, "-train_lr", "AdamW learning rate", to->lr, 0, 10, CORE_OPT_OPEN_MIN, &to->lr, NULL));
  PetscCall(core_opt_real(comm, "-train_wd", "AdamW weight decay (matrices only)", to->wd, 0, 10, CORE_OPT_CLOSED,
                          &to->wd, NULL));
  PetscCall(core_opt_real(comm, "-retrieval_radius",
                          "Site files: geographic neighbours (fast-role retrieval) are the sites within this distance, "
                          "km; 0: none",
                          to->radius, 0, 20000, CORE_OPT_CLOSED, &to->radius, NULL));
  PetscCall(core_opt_real(comm, "-train_input_dropout",
                          "Chance that a training segment loses each available fast or numeric slow input (entered "
                          "as absent: 0 with its availability flag set); > 0 gives every input a flag",
                          to->input_dropout, 0, 1, CORE_OPT_OPEN_MAX, &to->input_dropout, NULL));
  PetscCall(core_opt_real(comm, "-train_clip",
                          "Largest norm of the whole gradient (of the normalised loss) before AdamW; 0: no clipping",
                          to->clip, 0, 1e30, CORE_OPT_CLOSED, &to->clip, NULL));
  PetscCall(
      core_opt_int(comm, "-train_warmup_steps",
                   "Learning rate ramped linearly from -train_lr / n to -train_lr over the first n steps; 0: none",
                   to->warmup, 0, 1 << 30, &to->warmup, NULL));
  PetscCall(core_opt_real(comm, "-train_beta1", "AdamW decay rate of the first moment (the gradient's running mean)",
                          to->beta1, 0, 1, CORE_OPT_OPEN_MIN | CORE_OPT_OPEN_MAX, &to->beta1, NULL));
  PetscCall(core_opt_real(comm, "-train_beta2",
                          "AdamW decay rate of the second moment (the squared gradient's running mean)", to->beta2, 0,
                          1, CORE_OPT_OPEN_MIN | CORE_OPT_OPEN_MAX, &to->beta2, NULL));
  PetscCall(core_opt_real(comm, "-train_eps", "AdamW epsilon added to the second moment's square root", to->eps, 0, 1,
                          CORE_OPT_OPEN_MIN, &to->eps, NULL));
  PetscCall(core_opt_int(comm, "-train_batch", "Expected segments per step (all ranks)", to->batch, 1, 1 << 20,
                         &to->batch, NULL));
  PetscCall(core_opt_int(comm, "-train_steps", "Steps per epoch", to->steps, 1, 100000000, &to->steps, NULL));
  PetscCall(core_opt_int(comm, "-train_epochs", "Maximum epochs", to->epochs, 1, 1000000, &to->epochs, NULL));
  PetscCall(core_opt_int(comm, "-train_patience", "Epochs without validation improvement before stopping", to->patience,
                         0, 1000000, &to->patience, NULL));
  PetscCall(core_opt_int(comm, "-train_seed", "Seed of initialisation and sampling", to->seed, PETSC_MIN_INT,
                         PETSC_MAX_INT, &to->seed, NULL));
  PetscCall(core_opt_int(comm, "-ensemble",
                         "Members of an ensemble, trained in turn with seeds -train_seed + 1000 k; predict writes "
                         "their mean and spread",
                         to->ensemble, 1, TRAIN_MAX_MEMBERS, &to->ensemble, NULL));
  PetscCall(core_opt_int(comm, "-train_patch", "Grid cells per side of a sampling patch", to->patch, 1, 4096,
                         &to->patch, NULL));
  PetscCall(core_opt_int(comm, "-train_bank_days",
                         "Scored days per location averaged into its bank key (up to this / S_c + 1 segments)",
                         to->bank_days, 1, 36600, &to->bank_days, NULL));
  PetscCall(core_opt_int(comm, "-train_bank_every", "R: rebuild the memory bank every R epochs", to->bank_every, 1,
                         1000000, &to->bank_every, NULL));
  PetscCall(core_opt_int(comm, "-train_bank_max",
                         "M: with more training locations, a random subset of about M of them makes the bank",
                         to->bank_max, 1, 100000000, &to->bank_max, NULL));
  PetscCall(core_opt_int(comm, "-train_val_stride", "Validation uses every n-th segment of each record", to->val_stride,
                         1, 1000000, &to->val_stride, NULL));
  PetscCall(core_opt_int(comm, "-train_check_every",
                         "Debug: every n steps, check that all ranks hold identical parameters (0: never)",
                         to->check_every, 0, PETSC_MAX_INT, &to->check_every, NULL));
  PetscCall(core_opt_quiet(comm, &to->quiet));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS);
  /* the optimiser runs in single precision: 0.99999999 would round to 1 (and 1e-50 to 0) */
  PetscCheck((float)to->beta1 < 1.0f && (float)to->beta2 < 1.0f && (float)to->eps > 0.0f, comm, RACI_ERR_INPUT,
             "-train_beta1, -train_beta2, -train_eps: AdamW runs in single precision, where the betas must stay below "
             "1 and epsilon above 0 (a value this close to 1 or to 0 rounds to it)");
  PetscCheck(!strcmp(to->model, "raci") || !strcmp(to->model, "lstm") || !strcmp(to->model, "ealstm") ||
                 !strcmp(to->model, "transformer") || !strcmp(to->model, "tcn"),
             comm, RACI_ERR_INPUT, "-model %s: expected raci, lstm, ealstm, transformer or tcn", to->model);
  PetscCheck(to->batch > 0 && to->steps > 0 && to->epochs > 0 && to->patch > 0 && to->val_stride > 0 &&
                 to->bank_days > 0 && to->bank_every > 0 && to->bank_max > 0,
             comm, RACI_ERR_INPUT,
             "training sizes (-train_batch, -train_steps, -train_epochs, -train_patch, -train_val_stride, "
             "-train_bank_*) must be positive");
  PetscCheck((int64_t)to->seed + 1000 * (int64_t)(to->ensemble - 1) <= PETSC_MAX_INT, comm, RACI_ERR_INPUT,
             "-train_seed %" PetscInt_FMT " with -ensemble %" PetscInt_FMT
             ": the last member's seed (+1000 per member) would not fit; give a smaller -train_seed",
             to->seed, to->ensemble);
  PetscCheck(to->P > 0 && to->Ls >= to->P && to->Ls % to->P == 0, comm, RACI_ERR_INPUT,
             "-raci_slow_days must be a positive multiple of -raci_blocks");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_model_config(const TrainOptions *to, const SampleSet *ss, ModelConfig *c)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(c, sizeof *c));
  c->kind         = !strcmp(to->model, "lstm")          ? MODEL_LSTM
                    : !strcmp(to->model, "ealstm")      ? MODEL_EALSTM
                    : !strcmp(to->model, "transformer") ? MODEL_TRANSFORMER
                    : !strcmp(to->model, "tcn")         ? MODEL_TCN
                                                        : MODEL_RACI;
  c->no_retrieval = to->no_retrieval, c->no_slow = to->no_slow, c->no_film = to->no_film;
  c->fast_static = to->fast_embed ? 2 : to->fast_static ? 1 : 0;
  c->head_x      = to->head_x;
  c->F = ss->F, c->S = ss->S, c->T = ss->T, c->W = (int)to->W, c->Sc = (int)to->Sc;
  c->P = (int)to->P, c->Lb = (int)(to->Ls / to->P);
  c->Kt = (int)to->Kt, c->Lt = train_tcn_levels(to->Kt, to->W);
  c->Hf = (int)to->Hf, c->Hs = (int)to->Hs, c->Hz = (int)to->Hz, c->Z = (int)to->Z, c->A = (int)to->A,
  c->Ks = (int)to->Ks, c->Kf = (int)to->Kf, c->Ho = (int)to->Ho;
  c->D = (int)to->D, c->NH = (int)to->NH, c->FF = (int)to->FF;
  PetscCheck(ss->T <= MODEL_MAX_TARGETS, PETSC_COMM_SELF, RACI_ERR_DATA, "at most %d targets", MODEL_MAX_TARGETS);
  for (int k = 0; k < ss->T; k++) {
    PetscCall(PetscStrncpy(c->target[k], ss->target[k], sizeof c->target[k]));
    c->mu[k] = ss->norm.tmean[k], c->sigma[k] = ss->norm.tstd[k], c->w[k] = 1.0f;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscBool uses_bank(const Model *m)
{
  const ModelConfig *c = model_config(m);
  return (PetscBool)(c->kind == MODEL_RACI && !c->no_slow && !c->no_retrieval);
}

/* The tiling of a record (docs/MODEL.md section 1): segment n starts at
 * record day n Sc and exists while n Sc + W < the record's length; its first
 * day relative to the days held, and the range of n over the days held. */
static int  tile_d0(const SampleSet *ss, long n) { return (int)(n * ss->Sc - ss->t0); }
static long tile_first(const SampleSet *ss) { return (long)((ss->t0 + ss->Sc - 1) / ss->Sc); }
static long tile_end(const SampleSet *ss)
{
  long e = (long)(ss->t0 + ss->nt - ss->W); /* n Sc < e */
  return e > 0 ? (e + ss->Sc - 1) / ss->Sc : 0;
}

/* Whether the segment of location c from day d0 scores some day: a scored
 * day with W days of unbroken drivers before it. */
static PetscBool segment_scores(const SampleSet *ss, int c, int d0)
{
  const int32_t *run = ss->run + (size_t)c * ss->nt;
  int            e   = (int)PetscMin((PetscInt)d0 + ss->W + ss->Sc, ss->nt);
  for (int d = PetscMax(d0 + ss->W, 0); d < e; d++)
    if (run[d] >= ss->W) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* Scored cell-days of a filled batch: the days of its segments (rows 0..B-1) with age >= W. */
static long scored_days(const SampleSet *ss, const ModelBatch *mb)
{
  long n = 0;
  for (int t = ss->W; t < mb->T; t++)
    for (int q = 0; q < mb->B; q++) n += mb->age[(size_t)t * mb->R + q] >= ss->W;
  return n;
}

/* The days a training draw picks from, per owned training location: those
 * with run >= W and an observed target, or, for a location without any, all
 * those with run >= W. Ascending; days[off[c] .. off[c+1]). */
typedef struct {
  int64_t *off;
  int32_t *day;
} DayList;

static PetscBool day_observed(const SampleSet *ss, int c, PetscInt d)
{
  for (int k = 0; k < ss->T; k++)
    if (!isnan(ss->y[((size_t)c * ss->nt + d) * ss->T + k])) return PETSC_TRUE;
  return PETSC_FALSE;
}

static PetscErrorCode day_list_create(const SampleSet *ss, DayList *dl)
{
  int64_t n = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(ss->nloc + 1, &dl->off));
  for (int pass = 0; pass < 2; pass++) {
    n = 0;
    for (int c = 0; c < ss->nloc; c++) {
      const int32_t *run = ss->run + (size_t)c * ss->nt;
      int            obs = 0;
      if (!pass) dl->off[c] = n;
      if (!ss->owned[c] || ss->split[c] != SPLIT_TRAIN) continue;
      for (PetscInt d = 0; d < ss->nt && ss->y; d++) obs += run[d] >= ss->W && day_observed(ss, c, d);
      for (PetscInt d = 0; d < ss->nt; d++) {
        if (run[d] < ss->W || (obs && !day_observed(ss, c, d))) continue;
        if (pass) dl->day[n] = (int32_t)d;
        n++;
      }
    }
    if (!pass) PetscCall(PetscMalloc1(n + 1, &dl->day));
  }
  dl->off[ss->nloc] = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode day_list_destroy(DayList *dl)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(dl->off));
  PetscCall(PetscFree(dl->day));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Owned training locations in the bank: all of them, or with more than
 * bank_max in all a draw keyed by location id (the same on any rank count). */
static PetscBool in_bank(const SampleSet *ss, const TrainOptions *to, int i)
{
  double keep = (double)to->bank_max / (double)ss->nglobal[SPLIT_TRAIN];
  if (!ss->owned[i] || ss->split[i] != SPLIT_TRAIN) return PETSC_FALSE;
  return (PetscBool)(keep >= 1.0 || core_rng_uniform((uint64_t)to->seed, (uint64_t)ss->gid[i], 0,
                                                     (uint64_t)CORE_RNG_BANK_KEEP) < keep);
}

/* Bank keys under construction: sums of z over counted (segment, slot) pairs. */
typedef struct {
  double *sum; /* (nown, Z) */
  long   *n;   /* (nown) */
  int    *ent; /* (maxb) entry of each segment of the pending batch */
  int    *loc, *d0;
  int     B;
  float  *z;    /* (maxb * NB, Z) */
  char   *used; /* (NB) */
} KeyAcc;

/* z of the pending segments; each (segment, slot) whose block holds a scored
 * day with age >= W adds to its entry's key. */
static PetscErrorCode bank_flush(Model *m, const float *params, const SampleSet *ss, SampleBatch *sb, KeyAcc *ka)
{
  const int  Z = model_config(m)->Z, W = ss->W, Sc = ss->Sc;
  ModelBatch mb;

  PetscFunctionBeginUser;
  if (!ka->B) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscLogEventBegin(raci_events.batch, 0, 0, 0, 0));
  PetscCall(data_batch_fill(ss, ka->loc, ka->d0, ka->B, sb, &mb));
  PetscCall(PetscLogEventEnd(raci_events.batch, 0, 0, 0, 0));
  model_encode_z(m, params, &mb, ka->z);
  for (int q = 0; q < mb.B; q++) {
    double *sum = ka->sum + (size_t)ka->ent[q] * Z;
    for (int j = 0; j < mb.NB; j++) ka->used[j] = 0;
    for (int t = 0; t < Sc; t++)
      if (mb.age[(size_t)(W + t) * mb.R + q] >= W) ka->used[mb.blk[q * Sc + t]] = 1;
    for (int j = 0; j < mb.NB; j++) {
      const float *z = ka->z + ((size_t)q * mb.NB + j) * Z;
      if (!ka->used[j]) continue;
      for (int k = 0; k < Z; k++) sum[k] += z[k];
      ka->n[ka->ent[q]]++;
    }
  }
  ka->B = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_bank_build(MPI_Comm comm, Model *m, const float *params, const SampleSet *ss,
                                const TrainOptions *to, long epoch, SampleBatch *sb, Bank *bank)
{
  const ModelConfig *c = model_config(m);
  int      Z = c->Z, T = ss->T, V = Z + 2 * T, nown = 0, size, *counts, *displs, M = 0, NB = model_max_blocks(c);
  int      nseg = (int)(to->bank_days / ss->Sc) + 1, maxb = sb->maxb;
  long     n0 = tile_first(ss), n1 = tile_end(ss), *tiles;
  float   *key, *val;
  int32_t *own;
  int64_t *okey; /* (nown) location keys */
  KeyAcc   ka = {0};

  PetscFunctionBeginUser;
  PetscCall(profile_register());
  PetscCall(train_bank_free(bank));
  bank->Z = Z, bank->V = V;
  if (!uses_bank(m)) PetscFunctionReturn(PETSC_SUCCESS);
  for (int i = 0; i < ss->nloc; i++) nown += in_bank(ss, to, i);
  PetscCall(PetscMalloc4((size_t)nown * Z + 1, &key, (size_t)nown * V + 1, &val, nown + 1, &own, nown + 1, &okey));
  PetscCall(PetscCalloc2((size_t)nown * Z + 1, &ka.sum, nown + 1, &ka.n));
  PetscCall(PetscMalloc5(maxb, &ka.ent, maxb, &ka.loc, maxb, &ka.d0, (size_t)maxb * NB * Z, &ka.z, NB, &ka.used));
  PetscCall(PetscMalloc1(n1 - n0 + 1, &tiles));
  for (int i = 0, j = 0; i < ss->nloc; i++) {
    float *v  = val + (size_t)j * V;
    int    na = 0, start;
    if (!in_bank(ss, to, i)) continue;
    /* key: z over up to bank_days / Sc + 1 of the location's tiled segments
     * that score some day, consecutive from one drawn by (seed, epoch, location) */
    for (long n = n0; n < n1; n++)
      if (segment_scores(ss, i, tile_d0(ss, n))) tiles[na++] = n;
    start = (int)PetscMin(floor(core_rng_uniform((uint64_t)to->seed, (uint64_t)ss->gid[i], (uint64_t)epoch,
                                                 (uint64_t)CORE_RNG_EPOCH_DAY) *
                                na),
                          na - 1);
    for (int k = 0; k < nseg && k < na; k++) {
      if (ka.B == maxb) PetscCall(bank_flush(m, params, ss, sb, &ka));
      ka.ent[ka.B] = j, ka.loc[ka.B] = i, ka.d0[ka.B] = tile_d0(ss, tiles[(start + k) % na]), ka.B++;
    }
    /* summary of the location's observed response: mean and sd of its normalised targets */
    for (int t = 0; t < T; t++) {
      double s = 0, s2 = 0, n = 0;
      for (PetscInt d = 0; d < ss->nt; d++) {
        float y = ss->y[((size_t)i * ss->nt + d) * T + t];
        if (isnan(y)) continue;
        y = (y - ss->norm.tmean[t]) / ss->norm.tstd[t];
        s += y, s2 += (double)y * y, n += 1;
      }
      v[Z + t]     = n > 0 ? (float)(s / n) : 0.0f;
      v[Z + T + t] = n > 1 ? (float)sqrt(fmax(s2 / n - (s / n) * (s / n), 0)) : 0.0f;
    }
    own[j]    = (int32_t)ss->gid[i];
    okey[j++] = ss->lkey[i];
  }
  PetscCall(bank_flush(m, params, ss, sb, &ka));
  for (int j = 0; j < nown; j++)
    for (int q = 0; q < Z; q++)
      key[(size_t)j * Z + q] = val[(size_t)j * V + q] =
          ka.n[j] > 0 ? (float)(ka.sum[(size_t)j * Z + q] / (double)ka.n[j]) : 0.0f;
  /* every rank gets every training location's entry */
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscMalloc2(size, &counts, size, &displs));
  PetscCallMPI(MPI_Allgather(&nown, 1, MPI_INT, counts, 1, MPI_INT, comm));
  for (int r = 0; r < size; r++) displs[r] = M, M += counts[r];
  bank->M = M;
  PetscCall(PetscMalloc4((size_t)M * Z + 1, &bank->key, (size_t)M * V + 1, &bank->val, M + 1, &bank->owner, M + 1,
                         &bank->lkey));
  PetscCallMPI(MPI_Allgatherv(own, nown, MPI_INT32_T, bank->owner, counts, displs, MPI_INT32_T, comm));
  PetscCallMPI(MPI_Allgatherv(okey, nown, MPI_INT64_T, bank->lkey, counts, displs, MPI_INT64_T, comm));
  for (int r = 0; r < size; r++) counts[r] *= Z, displs[r] *= Z;
  PetscCallMPI(MPI_Allgatherv(key, nown * Z, MPI_FLOAT, bank->key, counts, displs, MPI_FLOAT, comm));
  for (int r = 0; r < size; r++) counts[r] = counts[r] / Z * V, displs[r] = displs[r] / Z * V;
  PetscCallMPI(MPI_Allgatherv(val, nown * V, MPI_FLOAT, bank->val, counts, displs, MPI_FLOAT, comm));
  PetscCall(PetscFree2(counts, displs));
  PetscCall(PetscFree4(key, val, own, okey));
  PetscCall(PetscFree2(ka.sum, ka.n));
  PetscCall(PetscFree5(ka.ent, ka.loc, ka.d0, ka.z, ka.used));
  PetscCall(PetscFree(tiles));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_bank_free(Bank *bank)
{
  PetscFunctionBeginUser;
  if (bank->key) PetscCall(PetscFree4(bank->key, bank->val, bank->owner, bank->lkey));
  bank->M = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void attach_bank(ModelBatch *mb, const Bank *bank)
{
  mb->bank_key = bank->key, mb->bank_val = bank->val, mb->bank_lkey = bank->lkey, mb->M = bank->M, mb->bank_idx = NULL;
}

/* Loss and squared errors of B pending segments into acc (loss sum, count, then per target sse and n). */
static PetscErrorCode eval_flush(Model *m, const float *params, const SampleSet *ss, const Bank *bank, SampleBatch *sb,
                                 const int *loc, const int *d0, int B, float *yhat, double *acc)
{
  const int  T = ss->T;
  ModelBatch mb;
  double     cnt;

  PetscFunctionBeginUser;
  if (!B) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscLogEventBegin(raci_events.batch, 0, 0, 0, 0));
  PetscCall(data_batch_fill(ss, loc, d0, B, sb, &mb));
  PetscCall(PetscLogEventEnd(raci_events.batch, 0, 0, 0, 0));
  attach_bank(&mb, bank);
  acc[0] += model_forward(m, params, &mb, yhat, &cnt);
  acc[1] += cnt;
  for (size_t i = 0; i < (size_t)ss->Sc * B; i++) /* (Sc, B) scored days */
    for (int t = 0; t < T; t++) {
      float y = mb.y[i * T + t], e = yhat[i * T + t] - y;
      if (isnan(y)) continue;
      acc[2 + t] += (double)e * e;
      acc[2 + MODEL_MAX_TARGETS + t] += 1;
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_evaluate(MPI_Comm comm, Model *m, const float *params, const SampleSet *ss, Split split,
                              int stride, const Bank *bank, SampleBatch *sb, double *loss, double *sse, double *n)
{
  int    T = ss->T, B = 0, *loc, *d0;
  double acc[2 + 2 * MODEL_MAX_TARGETS] = {0};
  float *yhat;

  PetscFunctionBeginUser;
  PetscCall(profile_register());
  PetscCall(PetscMalloc3(sb->maxb, &loc, sb->maxb, &d0, (size_t)ss->Sc * sb->maxb * T + 1, &yhat));
  /* segment by segment of the tiling, so that the segments of a batch share
   * their first day and so their neighbours' rows */
  for (long k = tile_first(ss); k < tile_end(ss); k++) {
    if (k % stride) continue;
    for (int i = 0; i < ss->nloc; i++) {
      if (!ss->owned[i] || ss->split[i] != (unsigned char)split || !segment_scores(ss, i, tile_d0(ss, k))) continue;
      loc[B] = i, d0[B] = tile_d0(ss, k), B++;
      if (B == sb->maxb) {
        PetscCall(eval_flush(m, params, ss, bank, sb, loc, d0, B, yhat, acc));
        B = 0;
      }
    }
  }
  PetscCall(eval_flush(m, params, ss, bank, sb, loc, d0, B, yhat, acc));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, acc, 2 + 2 * MODEL_MAX_TARGETS, MPI_DOUBLE, MPI_SUM, comm));
  *loss = acc[1] > 0 ? acc[0] / acc[1] : NAN;
  for (int t = 0; t < T; t++) sse[t] = acc[2 + t], n[t] = acc[2 + MODEL_MAX_TARGETS + t];
  PetscCall(PetscFree3(loc, d0, yhat));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* B pending segments scored by the mean of nmem members into es (T): the
 * batch is filled once, each member runs on it with its bank; the members'
 * mean and sample standard deviation per scored value (Welford). */
static PetscErrorCode members_flush(Model *m, int nmem, const float *const *params, const Bank *const *bank,
                                    const SampleSet *ss, const double *sres, SpreadGap *gap, SampleBatch *sb,
                                    const int *loc, const int *d0, int B, float *yhat, double *mean, double *m2,
                                    double *loss, EvalSums *es)
{
  const int  T  = ss->T;
  const long nv = (long)ss->Sc * B * T;
  ModelBatch mb;
  double     cnt;

  PetscFunctionBeginUser;
  if (!B) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscLogEventBegin(raci_events.batch, 0, 0, 0, 0));
  PetscCall(data_batch_fill(ss, loc, d0, B, sb, &mb));
  PetscCall(PetscLogEventEnd(raci_events.batch, 0, 0, 0, 0));
  for (int k = 0; k < nmem; k++) {
    attach_bank(&mb, bank[k]);
    loss[0] += model_forward(m, params[k], &mb, yhat, &cnt);
    loss[1] += cnt;
    for (long i = 0; i < nv; i++) {
      double d = yhat[i] - (k ? mean[i] : 0);
      if (!k) {
        mean[i] = yhat[i], m2[i] = 0;
        continue;
      }
      mean[i] += d / (k + 1);
      m2[i] += d * (yhat[i] - mean[i]);
    }
  }
  for (long i = 0; i < nv; i++) {
    float y = mb.y[i];
    if (isnan(y)) continue;
    eval_add(&es[i % T], mean[i], y);
    if (nmem > 1) {
      double r = sres ? sres[i % T] : 0, var = m2[i] / (nmem - 1), e = mean[i] - y;
      eval_add_spread(&es[i % T], mean[i], sqrt(var + r * r), y);
      if (gap) {
        int t = (int)(i % T);
        if (gap->n[t] == gap->cap[t]) {
          long   cap = PetscMax(1024, 2 * gap->cap[t]);
          float *p   = realloc(gap->r[t], sizeof(float) * (size_t)cap);
          PetscCheck(p, PETSC_COMM_SELF, PETSC_ERR_MEM, "no memory for %ld validation values", cap);
          gap->r[t] = p, gap->cap[t] = cap;
        }
        gap->r[t][gap->n[t]++] = (float)sqrt(PetscMax(0, e * e - var));
      }
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_evaluate_members(MPI_Comm comm, Model *m, int nmem, const float *const *params,
                                      const Bank *const *bank, const SampleSet *ss, Split split, int stride,
                                      const double *sres, SpreadGap *gap, SampleBatch *sb, double *loss, EvalSums *es)
{
  const int T     = ss->T;
  int       B     = 0, *loc, *d0;
  double    lc[2] = {0, 0}, *mean, *m2;
  float    *yhat;
  size_t    nv = (size_t)ss->Sc * sb->maxb * T + 1;

  PetscFunctionBeginUser;
  PetscCall(profile_register());
  PetscCall(PetscMemzero(es, sizeof(EvalSums) * T));
  PetscCall(PetscMalloc5(sb->maxb, &loc, sb->maxb, &d0, nv, &yhat, nv, &mean, nv, &m2));
  for (long k = tile_first(ss); k < tile_end(ss); k++) { /* the tiling, as train_evaluate */
    if (k % stride) continue;
    for (int i = 0; i < ss->nloc; i++) {
      if (!ss->owned[i] || ss->split[i] != (unsigned char)split || !segment_scores(ss, i, tile_d0(ss, k))) continue;
      loc[B] = i, d0[B] = tile_d0(ss, k), B++;
      if (B == sb->maxb) {
        PetscCall(members_flush(m, nmem, params, bank, ss, sres, gap, sb, loc, d0, B, yhat, mean, m2, lc, es));
        B = 0;
      }
    }
  }
  PetscCall(members_flush(m, nmem, params, bank, ss, sres, gap, sb, loc, d0, B, yhat, mean, m2, lc, es));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, lc, 2, MPI_DOUBLE, MPI_SUM, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, es, T * EVAL_NSUMS, MPI_DOUBLE, MPI_SUM, comm));
  *loss = lc[1] > 0 ? lc[0] / lc[1] : NAN;
  PetscCall(PetscFree5(loc, d0, yhat, mean, m2));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_residual_spread(MPI_Comm comm, const SpreadGap *gap, int t, double q, double *sres)
{
  double lo = 0, hi = 0, n = (double)gap->n[t];

  PetscFunctionBeginUser;
  for (long i = 0; i < gap->n[t]; i++) hi = PetscMax(hi, gap->r[t][i]);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_DOUBLE, MPI_MAX, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_DOUBLE, MPI_SUM, comm));
  /* the smallest x with a share q of the values <= x, to a 2^-40 of the largest */
  for (int it = 0; it < 40 && n > 0 && hi > 0; it++) {
    double x = 0.5 * (lo + hi), c = 0;
    for (long i = 0; i < gap->n[t]; i++) c += gap->r[t][i] <= x;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &c, 1, MPI_DOUBLE, MPI_SUM, comm));
    if (c >= q * n)
      hi = x;
    else
      lo = x;
  }
  *sres = n > 0 ? hi : 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_spread_gap_free(SpreadGap *gap)
{
  PetscFunctionBeginUser;
  for (int t = 0; t < MODEL_MAX_TARGETS; t++) free(gap->r[t]);
  PetscCall(PetscMemzero(gap, sizeof *gap));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_member_free(Member *mb)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(mb->params));
  PetscCall(train_bank_free(&mb->bank));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The segments of a step on this rank: owned training locations whose patch
 * (grid: patch x patch cells on a fixed lattice; sites: the site) is drawn.
 * Each gets a segment whose scored part holds a day drawn from its DayList by
 * the patch's draw (so a patch's cells with the same days share their first
 * day, and with it their neighbours' rows), at an offset inside the scored
 * part drawn likewise: d0 = day - W - offset, at least 0. Depends on global
 * ids only, not on the ranks. cap: room in loc and d0. */
static PetscErrorCode step_segments(const SampleSet *ss, const TrainOptions *to, const DayList *dl, long epoch,
                                    long step, int cap, int *loc, int *d0, int *nseg)
{
  const Tile *t    = &ss->ds->tile;
  double      rate = (double)to->batch / (double)ss->nglobal[SPLIT_TRAIN]; /* E[B] = rate * training locations */
  uint64_t    key = ((uint64_t)epoch << 32) ^ (uint64_t)step, seed = (uint64_t)to->seed;
  int         B = 0;

  PetscFunctionBeginUser;
  for (int i = 0; i < ss->nloc; i++) {
    uint64_t patch = (uint64_t)ss->gid[i];
    int64_t  nd    = dl->off[i + 1] - dl->off[i];
    if (!ss->owned[i] || ss->split[i] != SPLIT_TRAIN) continue;
    if (ss->ds->layout == LAYOUT_GRID) {
      int64_t x = ss->gid[i] % t->nx, y = ss->gid[i] / t->nx;
      patch = (uint64_t)((y / to->patch) * ((t->nx + to->patch - 1) / to->patch) + x / to->patch);
    }
    /* draw j of a patch, j < rate: with fewer training locations than the
     * batch (a few dozen towers) each takes several segments per step */
    for (int j = 0; j < rate; j++) {
      double u;
      int    day, off;
      if (core_rng_uniform(seed, patch, key, (uint64_t)CORE_RNG_PATCH_RATE + (uint64_t)j) >= rate - j) continue;
      PetscCheck(B < cap, PETSC_COMM_SELF, PETSC_ERR_PLIB, "step %ld drew more than %d segments", step + 1, cap);
      u      = core_rng_uniform(seed, patch, key, (uint64_t)CORE_RNG_PATCH_DAY + (uint64_t)j);
      day    = dl->day[dl->off[i] + PetscMin((int64_t)floor(u * (double)nd), nd - 1)];
      u      = core_rng_uniform(seed, patch, key, (uint64_t)CORE_RNG_SEGMENT_OFFSET + (uint64_t)j);
      off    = (int)PetscMin(floor(u * ss->Sc), ss->Sc - 1);
      loc[B] = i;
      d0[B]  = PetscMax(day - ss->W - off, 0);
      B++;
    }
  }
  *nseg = B;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_state_create(const Model *m, uint64_t seed, TrainState *st)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(st, sizeof *st));
  st->np       = model_nparams(m);
  st->best_val = INFINITY;
  PetscCall(PetscCalloc4(st->np, &st->params, st->np, &st->mom, st->np, &st->vel, st->np, &st->best));
  model_init_params(m, st->params, seed);
  PetscCall(PetscArraycpy(st->best, st->params, st->np));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_state_destroy(TrainState *st)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree4(st->params, st->mom, st->vel, st->best));
  PetscCall(train_bank_free(&st->bank));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The final evaluation's time (raci train after the last epoch), estimated
 * from one validation pass (tv s): the members' passes over the training
 * locations at 4 times the validation stride, the validation locations (twice
 * with an ensemble: the residual spread) and every test segment, scaled by
 * their segments, plus a bank build (tb s). Without validation locations:
 * from the step rate (scored cell-days/s), a forward pass taken as a third of
 * a step. */
static double final_eval_estimate(const SampleSet *ss, const TrainOptions *to, double tv, double tb, double rate)
{
  double vs = (double)PetscMax(to->val_stride, 1), nmem = (double)PetscMax(to->ensemble, 1);
  double ntr = (double)ss->nglobal[SPLIT_TRAIN], nva = (double)ss->nglobal[SPLIT_VAL],
         nte  = (double)ss->nglobal[SPLIT_TEST];
  double work = ntr / (4 * vs) + nva / vs * (nmem > 1 ? 2 : 1) + nte; /* in validation passes' location units */

  if (nva > 0) return tb + tv * nmem * work / (nva / vs);
  /* cell-days evaluated: locations times the scored days of the record */
  return tb + nmem * work * (double)PetscMax(ss->nt - ss->W, 0) / PetscMax(3 * rate, 1e-9);
}

PetscErrorCode train_run(MPI_Comm comm, Model *m, const SampleSet *ss, const TrainOptions *to, TrainState *st,
                         TrainSaveFn save, void *save_ctx, TrainResult *res)
{
  size_t      np = st->np;
  float      *grads, *yhat, *params = st->params;
  int        *loc, *d0, maxb = train_max_segments(to, ss), cap = (int)to->batch + ss->count[SPLIT_TRAIN] + 1;
  SampleBatch sb;
  ModelBatch  mb;
  DayList     dl;
  double      t0 = MPI_Wtime(), sse[MODEL_MAX_TARGETS], n[MODEL_MAX_TARGETS], t_bank = 0;

  PetscFunctionBeginUser;
  PetscCall(profile_register());
  PetscCall(PetscMemzero(res, sizeof *res));
  PetscCall(PetscCalloc1(np, &grads));
  PetscCall(PetscMalloc3(cap, &loc, cap, &d0, (size_t)ss->Sc * maxb * ss->T, &yhat));
  PetscCall(data_batch_create(ss, maxb, 0, &sb));
  PetscCall(day_list_create(ss, &dl));
  while (!st->finished && st->epoch < to->epochs) {
    long   epoch = st->epoch, samples0 = res->samples;
    double val, steps0                 = res->step_seconds, tv;
    int    stop = 0;
    if (st->step == 0 && epoch % to->bank_every == 0) {
      double tb = MPI_Wtime();
      PetscCall(core_stage_push(CORE_STAGE_RETRIEVAL));
      PetscCall(train_bank_build(comm, m, params, ss, to, epoch, &sb, &st->bank));
      PetscCall(core_stage_pop());
      res->bank_seconds += MPI_Wtime() - tb;
      t_bank = MPI_Wtime() - tb;
    }
    for (; st->step < to->steps; st->step++, st->t++) {
      double cnt[3] = {0, 0, (double)core_signal_received()}, ts = MPI_Wtime();
      long   ncell = 0, nrow = 0;
      int    nseg;
      PetscCall(PetscLogEventBegin(raci_events.batch, 0, 0, 0, 0));
      PetscCall(step_segments(ss, to, &dl, epoch, st->step, cap, loc, d0, &nseg));
      PetscCall(PetscLogEventEnd(raci_events.batch, 0, 0, 0, 0));
      PetscCall(PetscArrayzero(grads, np));
      /* in batches of at most maxb segments (one, unless the draw was
       * unusually large): each batch's gradient of its loss sum is added
       * up, and the sum divided by the global count of observed values */
      for (int b0 = 0; b0 < nseg; b0 += maxb) {
        int    B = PetscMin(maxb, nseg - b0);
        double c, sum;
        PetscCall(core_stage_push(CORE_STAGE_FORWARD));
        PetscCall(PetscLogEventBegin(raci_events.batch, 0, 0, 0, 0));
        sb.drop = to->input_dropout, sb.drop_seed = (uint64_t)to->seed;
        sb.drop_key = ((uint64_t)epoch << 32) ^ (uint64_t)st->step;
        PetscCall(data_batch_fill(ss, loc + b0, d0 + b0, B, &sb, &mb));
        sb.drop = 0; /* validation and the bank never drop */
        PetscCall(PetscLogEventEnd(raci_events.batch, 0, 0, 0, 0));
        attach_bank(&mb, &st->bank);
        sum = model_forward(m, params, &mb, yhat, &c);
        PetscCall(core_stage_pop());
        cnt[0] += c, cnt[1] += sum;
        if (c > 0) {
          PetscCall(core_stage_push(CORE_STAGE_BACKWARD));
          model_backward(m, params, grads, &mb, 1.0, NULL, NULL, NULL);
          PetscCall(core_stage_pop());
        }
        ncell += scored_days(ss, &mb);
        nrow += (long)mb.R * mb.T;
      }
      /* the global count of observed values normalises the loss of every rank;
       * a stop request on any rank travels with it */
      PetscCall(core_stage_push(CORE_STAGE_REDUCE));
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 3, MPI_DOUBLE, MPI_SUM, comm));
      PetscCall(core_stage_pop());
      stop = cnt[2] > 0;
      /* the reduced loss is the same on every rank: all stop together */
      PetscCheck(isfinite(cnt[1]), comm, RACI_ERR_DATA,
                 "training loss is %s at step %ld of epoch %ld (step %ld in all): the model diverged; lower -train_lr, "
                 "or check the inputs and any -init_from checkpoint",
                 isnan(cnt[1]) ? "nan" : "infinite", st->step + 1, epoch + 1, st->t + 1);
      if (cnt[0] > 0) {
        const float scale = (float)(1.0 / cnt[0]);
        PetscCall(core_stage_push(CORE_STAGE_REDUCE));
        PetscCall(PetscLogEventBegin(raci_events.reduce, 0, 0, 0, 0));
        PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, grads, (int)np, MPI_FLOAT, MPI_SUM, comm));
        PetscCall(PetscLogEventEnd(raci_events.reduce, 0, 0, 0, 0));
        PetscCall(core_stage_pop());
        PetscCall(core_stage_push(CORE_STAGE_OPTIMIZER));
        PetscCall(PetscLogEventBegin(raci_events.adamw, 0, 0, 0, 0));
        for (size_t i = 0; i < np; i++) grads[i] *= scale; /* d(loss sum / global count) */
        if (to->clip > 0) { /* the reduced gradient is the same on every rank, so is its norm */
          double norm = 0;
          for (size_t i = 0; i < np; i++) norm += (double)grads[i] * grads[i];
          norm = sqrt(norm);
          if (norm > to->clip)
            for (size_t i = 0; i < np; i++) grads[i] *= (float)(to->clip / norm);
        }
        const double lr_t = to->warmup > 0 && st->t < to->warmup ? to->lr * (double)(st->t + 1) / to->warmup : to->lr;
        for (int i = 0; i < model_ntensors(m); i++) {
          const ModelTensor *mt = model_tensor(m, i);
          size_t             o = mt->offset, len = (size_t)mt->rows * mt->cols;
          adamw_step(params + o, grads + o, st->mom + o, st->vel + o, len, (float)lr_t, (float)to->beta1,
                     (float)to->beta2, (float)to->eps, (float)to->wd, mt->decay, st->t + 1);
        }
        PetscCall(PetscLogFlops(12.0 * np));
        PetscCall(PetscLogEventEnd(raci_events.adamw, 0, 0, 0, 0));
        PetscCall(core_stage_pop());
        if (to->check_every > 0 && (st->t + 1) % to->check_every == 0) {
          /* FNV-1a of the parameter bytes: the same on every rank, or the run is wrong */
          uint64_t             h = 0xcbf29ce484222325ULL, lo, hi;
          const unsigned char *b = (const unsigned char *)params;
          for (size_t i = 0; i < np * sizeof(float); i++) h = (h ^ b[i]) * 0x100000001b3ULL;
          PetscCallMPI(MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, comm));
          PetscCallMPI(MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, comm));
          PetscCheck(lo == hi, comm, PETSC_ERR_PLIB,
                     "parameters differ between ranks after step %ld (checksums %016llx and %016llx)", st->t + 1,
                     (unsigned long long)lo, (unsigned long long)hi);
        }
        st->tl += cnt[1], st->tc += cnt[0];
        res->segments += nseg;
        res->samples += ncell;
        res->rows += nrow;
      }
      res->step_seconds += MPI_Wtime() - ts;
      if (stop && st->step + 1 < to->steps) { /* the epoch's last step finishes the epoch first */
        st->step++, st->t++;
        res->interrupted = 1;
        break;
      }
    }
    if (res->interrupted) break;
    tv = MPI_Wtime();
    PetscCall(core_stage_push(CORE_STAGE_EVAL));
    PetscCall(train_evaluate(comm, m, params, ss, SPLIT_VAL, (int)to->val_stride, &st->bank, &sb, &val, sse, n));
    PetscCall(core_stage_pop());
    tv = MPI_Wtime() - tv;
    res->val_seconds += tv;
    if (ss->nglobal[SPLIT_VAL] == 0)
      val = st->tc > 0 ? st->tl / st->tc : INFINITY; /* no validation locations: the training loss decides */
    res->last_train = st->tc > 0 ? st->tl / st->tc : NAN;
    if (val < st->best_val) {
      st->best_val = val;
      st->bad      = 0;
      PetscCall(PetscArraycpy(st->best, params, np));
    } else
      st->bad++;
    if (!to->quiet) {
      /* throughput as in the summary: scored cell-days (all ranks) per second of training steps (slowest rank) */
      double ep[2] = {(double)(res->samples - samples0), res->step_seconds - steps0}, el = MPI_Wtime() - t0, per, left;
      double fin;
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ep[0], 1, MPI_DOUBLE, MPI_SUM, comm));
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ep[1], 1, MPI_DOUBLE, MPI_MAX, comm));
      per  = el / (res->epochs_run + 1); /* an epoch, with its bank, validation and checkpoint */
      fin  = final_eval_estimate(ss, to, tv, t_bank, ep[0] / PetscMax(ep[1], 1e-9));
      left = per * (double)(to->epochs - epoch - 1) +
             per * (double)to->epochs * (double)PetscMax(to->ensemble - to->member - 1, 0) + fin;
      PetscCall(PetscPrintf(comm,
                            "epoch %3ld  train loss %.7g  val loss %.7g%s  %.0f scored cell-days/s of step time  %.0f "
                            "s, at most %.0f s left (final evaluation about %.0f s of it)\n",
                            epoch + 1, res->last_train, val, st->bad ? "" : " *", ep[0] / PetscMax(ep[1], 1e-9), el,
                            left, fin));
    }
    res->epochs_run++;
    st->epoch++, st->step = 0, st->tl = st->tc = 0;
    if (st->bad >= to->patience || st->epoch >= to->epochs) {
      st->finished = 1;
      PetscCall(PetscArraycpy(params, st->best, np)); /* the best validation model */
    }
    if (save) {
      double tw = MPI_Wtime();
      PetscCall(save(save_ctx, st));
      res->save_seconds += MPI_Wtime() - tw;
    }
    if (stop) {
      res->interrupted = !st->finished;
      break;
    }
  }
  {
    long s[3] = {res->segments, res->samples, res->rows};
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, 3, MPI_LONG, MPI_SUM, comm));
    res->segments = s[0], res->samples = s[1], res->rows = s[2];
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &res->step_seconds, 1, MPI_DOUBLE, MPI_MAX, comm));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &res->bank_seconds, 1, MPI_DOUBLE, MPI_MAX, comm));
  }
  res->steps_run = st->t;
  res->seconds   = MPI_Wtime() - t0;
  PetscCall(day_list_destroy(&dl));
  PetscCall(data_batch_destroy(&sb));
  PetscCall(PetscFree(grads));
  PetscCall(PetscFree3(loc, d0, yhat));
  PetscFunctionReturn(PETSC_SUCCESS);
}
