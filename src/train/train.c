/* train: AdamW, the memory bank, evaluation and the training loop. */
#include <raci/train.h>

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
  to->Lf = 30, to->Ls = 360, to->P = 12, to->Hf = 64, to->Hs = 32, to->Hz = 32, to->Z = 16, to->A = 32, to->Ks = 8,
  to->Kf = 8, to->Ho = 64;
  to->D = 32, to->NH = 4, to->FF = 64;
  to->lr = 1e-3, to->wd = 1e-4, to->beta1 = 0.9, to->beta2 = 0.999, to->eps = 1e-8;
  to->bank_max = 4096;
  to->batch = 64, to->steps = 100, to->epochs = 20, to->patience = 5, to->seed = 1, to->patch = 4, to->bank_days = 8,
  to->bank_every = 1, to->val_stride = 5;
  PetscCall(core_opt_section(comm, "Model and training"));
  PetscCall(core_opt_string(comm, "-model", "raci, lstm, ealstm or transformer", to->model, sizeof to->model, NULL));
  PetscCall(core_opt_bool(comm, "-raci_no_retrieval", "Ablation: no functional or geographic retrieval",
                          to->no_retrieval, &to->no_retrieval, NULL));
  PetscCall(core_opt_bool(comm, "-raci_no_slow", "Ablation: no slow encoder (and so no functional retrieval)",
                          to->no_slow, &to->no_slow, NULL));
  PetscCall(
      core_opt_bool(comm, "-raci_no_film", "Ablation: concatenate instead of FiLM", to->no_film, &to->no_film, NULL));
  /* upper bounds keep every buffer size within int; the memory they need together is checked when the model is made */
  PetscCall(core_opt_int(comm, "-raci_fast_days", "L_f: days of the fast window", to->Lf, 1, 3660, &to->Lf, NULL));
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
  PetscCall(core_opt_real(comm, "-train_lr", "AdamW learning rate", to->lr, 0, 10, CORE_OPT_OPEN_MIN, &to->lr, NULL));
  PetscCall(core_opt_real(comm, "-train_wd", "AdamW weight decay (matrices only)", to->wd, 0, 10, CORE_OPT_CLOSED,
                          &to->wd, NULL));
  PetscCall(core_opt_real(comm, "-train_beta1", "AdamW decay rate of the first moment (the gradient's running mean)",
                          to->beta1, 0, 1, CORE_OPT_OPEN_MIN | CORE_OPT_OPEN_MAX, &to->beta1, NULL));
  PetscCall(core_opt_real(comm, "-train_beta2",
                          "AdamW decay rate of the second moment (the squared gradient's running mean)", to->beta2, 0,
                          1, CORE_OPT_OPEN_MIN | CORE_OPT_OPEN_MAX, &to->beta2, NULL));
  PetscCall(core_opt_real(comm, "-train_eps", "AdamW epsilon added to the second moment's square root", to->eps, 0, 1,
                          CORE_OPT_OPEN_MIN, &to->eps, NULL));
  PetscCall(core_opt_int(comm, "-train_batch", "Expected samples per step (all ranks)", to->batch, 1, 1 << 20,
                         &to->batch, NULL));
  PetscCall(core_opt_int(comm, "-train_steps", "Steps per epoch", to->steps, 1, 100000000, &to->steps, NULL));
  PetscCall(core_opt_int(comm, "-train_epochs", "Maximum epochs", to->epochs, 1, 1000000, &to->epochs, NULL));
  PetscCall(core_opt_int(comm, "-train_patience", "Epochs without validation improvement before stopping", to->patience,
                         0, 1000000, &to->patience, NULL));
  PetscCall(core_opt_int(comm, "-train_seed", "Seed of initialisation and sampling", to->seed, PETSC_MIN_INT,
                         PETSC_MAX_INT, &to->seed, NULL));
  PetscCall(core_opt_int(comm, "-train_patch", "Grid cells per side of a sampling patch", to->patch, 1, 4096,
                         &to->patch, NULL));
  PetscCall(core_opt_int(comm, "-train_bank_days", "Days per location averaged into its bank key", to->bank_days, 1,
                         36600, &to->bank_days, NULL));
  PetscCall(core_opt_int(comm, "-train_bank_every", "R: rebuild the memory bank every R epochs", to->bank_every, 1,
                         1000000, &to->bank_every, NULL));
  PetscCall(core_opt_int(comm, "-train_bank_max",
                         "M: with more training locations, a random subset of about M of them makes the bank",
                         to->bank_max, 1, 100000000, &to->bank_max, NULL));
  PetscCall(core_opt_int(comm, "-train_val_stride", "Validation uses every n-th day", to->val_stride, 1, 1000000,
                         &to->val_stride, NULL));
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
                 !strcmp(to->model, "transformer"),
             comm, RACI_ERR_INPUT, "-model %s: expected raci, lstm, ealstm or transformer", to->model);
  PetscCheck(to->batch > 0 && to->steps > 0 && to->epochs > 0 && to->patch > 0 && to->val_stride > 0 &&
                 to->bank_days > 0 && to->bank_every > 0 && to->bank_max > 0,
             comm, RACI_ERR_INPUT,
             "training sizes (-train_batch, -train_steps, -train_epochs, -train_patch, -train_val_stride, "
             "-train_bank_*) must be positive");
  PetscCheck(to->Lf > 0 && to->P > 0 && to->Ls >= to->P && to->Ls % to->P == 0, comm, RACI_ERR_INPUT,
             "-raci_slow_days must be a positive multiple of -raci_blocks, and -raci_fast_days positive");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode train_model_config(const TrainOptions *to, const SampleSet *ss, ModelConfig *c)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(c, sizeof *c));
  c->kind         = !strcmp(to->model, "lstm")          ? MODEL_LSTM
                    : !strcmp(to->model, "ealstm")      ? MODEL_EALSTM
                    : !strcmp(to->model, "transformer") ? MODEL_TRANSFORMER
                                                        : MODEL_RACI;
  c->no_retrieval = to->no_retrieval, c->no_slow = to->no_slow, c->no_film = to->no_film;
  c->F = ss->F, c->S = ss->S, c->T = ss->T, c->Lf = (int)to->Lf, c->P = (int)to->P;
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

/* A query day of location c (a full fast window), uniform over them. */
static int day_draw(const SampleSet *ss, int c, double u)
{
  return data_query_day(ss, c, (int)floor(u * (double)ss->nq[c]));
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

PetscErrorCode train_bank_build(MPI_Comm comm, Model *m, const float *params, const SampleSet *ss,
                                const TrainOptions *to, long epoch, SampleBatch *sb, Bank *bank)
{
  const ModelConfig *c = model_config(m);
  int                Z = c->Z, T = ss->T, V = Z + 2 * T, nown = 0, size, *counts, *displs, M = 0;
  float             *key, *val, *z;
  int32_t           *own;
  int64_t           *okey;      /* (nown) location keys */
  int               *loc, *day; /* (maxq) the days averaged into one key */
  ModelBatch         mb;

  PetscFunctionBeginUser;
  PetscCall(train_bank_free(bank));
  bank->Z = Z, bank->V = V;
  if (!uses_bank(m)) PetscFunctionReturn(PETSC_SUCCESS);
  for (int i = 0; i < ss->nloc; i++) nown += in_bank(ss, to, i);
  PetscCall(PetscMalloc4((size_t)nown * Z + 1, &key, (size_t)nown * V + 1, &val, nown + 1, &own, nown + 1, &okey));
  PetscCall(PetscMalloc3((size_t)sb->maxq * Z, &z, sb->maxq, &loc, sb->maxq, &day));
  for (int i = 0, j = 0; i < ss->nloc; i++) {
    if (!in_bank(ss, to, i)) continue;
    float *k = key + (size_t)j * Z, *v = val + (size_t)j * V;
    int    nd = (int)PetscMin(to->bank_days, sb->maxq);
    /* key: mean z over bank_days days of the location, keyed by (seed, epoch, location) */
    for (int d = 0; d < nd; d++) {
      loc[d] = i;
      day[d] = day_draw(ss, i,
                        core_rng_uniform((uint64_t)to->seed, (uint64_t)ss->gid[i], (uint64_t)epoch,
                                         (uint64_t)CORE_RNG_EPOCH_DAY + (uint64_t)d));
    }
    PetscCall(data_batch_fill(ss, loc, day, nd, sb, &mb));
    model_encode_z(m, params, &mb, z);
    for (int q = 0; q < Z; q++) {
      double s = 0;
      for (int d = 0; d < nd; d++) s += z[d * Z + q];
      k[q] = v[q] = (float)(s / nd);
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
  PetscCall(PetscFree3(z, loc, day));
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

PetscErrorCode train_evaluate(MPI_Comm comm, Model *m, const float *params, const SampleSet *ss, Split split,
                              int stride, const Bank *bank, SampleBatch *sb, double *loss, double *sse, double *n)
{
  int        T = ss->T, nq = 0, *loc, *day;
  double     acc[2 + 2 * MODEL_MAX_TARGETS] = {0};
  float     *yhat;
  ModelBatch mb;
  long       total = 0, done = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(sb->maxq, &loc, sb->maxq, &day, (size_t)sb->maxq * T, &yhat));
  for (int d = ss->Lf - 1; d < ss->nt; d += stride)
    for (int i = 0; i < ss->nloc; i++)
      if (ss->owned[i] && ss->split[i] == (unsigned char)split && data_query_valid(ss, i, d)) total++;
  /* day by day, so that the queries of a batch share their neighbours' rows */
  for (int d = ss->Lf - 1; d < ss->nt; d += stride) {
    for (int i = 0; i < ss->nloc; i++) {
      if (!ss->owned[i] || ss->split[i] != (unsigned char)split || !data_query_valid(ss, i, d)) continue;
      loc[nq] = i, day[nq] = d, nq++;
      done++;
      if (nq == sb->maxq || done == total) {
        double cnt, sum;
        PetscCall(data_batch_fill(ss, loc, day, nq, sb, &mb));
        attach_bank(&mb, bank);
        sum = model_forward(m, params, &mb, yhat, &cnt);
        acc[0] += sum, acc[1] += cnt;
        for (int q = 0; q < nq; q++)
          for (int t = 0; t < T; t++) {
            float y = mb.y[q * T + t];
            if (isnan(y)) continue;
            acc[2 + t] += (double)(yhat[q * T + t] - y) * (yhat[q * T + t] - y);
            acc[2 + MODEL_MAX_TARGETS + t] += 1;
          }
        nq = 0;
      }
    }
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, acc, 2 + 2 * MODEL_MAX_TARGETS, MPI_DOUBLE, MPI_SUM, comm));
  *loss = acc[1] > 0 ? acc[0] / acc[1] : NAN;
  for (int t = 0; t < T; t++) sse[t] = acc[2 + t], n[t] = acc[2 + MODEL_MAX_TARGETS + t];
  PetscCall(PetscFree3(loc, day, yhat));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The queries of a step on this rank: owned training locations whose patch
 * (grid: patch x patch cells on a fixed lattice; sites: the site) is drawn,
 * each on its patch's day. Depends on global ids only, not on the ranks. */
static PetscErrorCode step_queries(const SampleSet *ss, const TrainOptions *to, long epoch, long step, int maxq,
                                   int *loc, int *day, int *nq)
{
  const Tile *t    = &ss->ds->tile;
  double      rate = (double)to->batch / (double)ss->nglobal[SPLIT_TRAIN]; /* E[Q] = rate * training locations */
  uint64_t    key  = ((uint64_t)epoch << 32) ^ (uint64_t)step;
  int         Q    = 0;

  PetscFunctionBeginUser;
  for (int i = 0; i < ss->nloc; i++) {
    uint64_t patch = (uint64_t)ss->gid[i];
    if (!ss->owned[i] || ss->split[i] != SPLIT_TRAIN) continue;
    if (ss->ds->layout == LAYOUT_GRID) {
      int64_t x = ss->gid[i] % t->nx, y = ss->gid[i] / t->nx;
      patch = (uint64_t)((y / to->patch) * ((t->nx + to->patch - 1) / to->patch) + x / to->patch);
    }
    /* draw j of a patch, j < rate: with fewer training locations than the
     * batch (a few dozen towers) each takes several days per step */
    for (int j = 0; j < rate; j++) {
      if (core_rng_uniform((uint64_t)to->seed, patch, key, (uint64_t)CORE_RNG_PATCH_RATE + (uint64_t)j) >= rate - j)
        continue;
      /* dropping samples would make the run depend on the rank count: refuse instead
       * (with 4x the expected batch as capacity this does not happen in practice) */
      PetscCheck(Q < maxq, PETSC_COMM_SELF, RACI_ERR_INPUT,
                 "step %ld of epoch %ld drew more than %d samples on one rank; use a larger -train_batch or a smaller "
                 "-train_patch",
                 step + 1, epoch + 1, maxq);
      loc[Q] = i;
      day[Q] =
          day_draw(ss, i, core_rng_uniform((uint64_t)to->seed, patch, key, (uint64_t)CORE_RNG_PATCH_DAY + (uint64_t)j));
      Q++;
    }
  }
  *nq = Q;
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

PetscErrorCode train_run(MPI_Comm comm, Model *m, const SampleSet *ss, const TrainOptions *to, TrainState *st,
                         TrainSaveFn save, void *save_ctx, TrainResult *res)
{
  size_t      np = st->np;
  float      *grads, *yhat, *params = st->params;
  int        *loc, *day, maxq       = train_max_queries(to);
  SampleBatch sb;
  ModelBatch  mb;
  double      t0       = MPI_Wtime(), sse[MODEL_MAX_TARGETS], n[MODEL_MAX_TARGETS];
  long        samples0 = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(res, sizeof *res));
  PetscCall(PetscCalloc1(np, &grads));
  PetscCall(PetscMalloc3(maxq, &loc, maxq, &day, (size_t)maxq * ss->T, &yhat));
  PetscCall(data_batch_create(ss, maxq, 0, &sb));
  while (!st->finished && st->epoch < to->epochs) {
    long   epoch = st->epoch;
    double val;
    int    stop = 0;
    if (st->step == 0 && epoch % to->bank_every == 0) {
      double tb = MPI_Wtime();
      PetscCall(core_stage_push(CORE_STAGE_RETRIEVAL));
      PetscCall(train_bank_build(comm, m, params, ss, to, epoch, &sb, &st->bank));
      PetscCall(core_stage_pop());
      res->bank_seconds += MPI_Wtime() - tb;
    }
    for (; st->step < to->steps; st->step++, st->t++) {
      double cnt[3] = {0, 0, (double)core_signal_received()}, sum = 0, ts = MPI_Wtime();
      int    Q;
      PetscCall(step_queries(ss, to, epoch, st->step, maxq, loc, day, &Q));
      PetscCall(PetscArrayzero(grads, np));
      PetscCall(core_stage_push(CORE_STAGE_FORWARD));
      if (Q > 0) {
        PetscCall(data_batch_fill(ss, loc, day, Q, &sb, &mb));
        attach_bank(&mb, &st->bank);
        sum    = model_forward(m, params, &mb, yhat, &cnt[0]);
        cnt[1] = sum;
      }
      PetscCall(core_stage_pop());
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
        PetscCall(core_stage_push(CORE_STAGE_BACKWARD));
        if (Q > 0) model_backward(m, params, grads, &mb, cnt[0], NULL, NULL, NULL);
        PetscCall(core_stage_pop());
        PetscCall(core_stage_push(CORE_STAGE_REDUCE));
        PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, grads, (int)np, MPI_FLOAT, MPI_SUM, comm));
        PetscCall(core_stage_pop());
        PetscCall(core_stage_push(CORE_STAGE_OPTIMIZER));
        for (int i = 0; i < model_ntensors(m); i++) {
          const ModelTensor *mt = model_tensor(m, i);
          size_t             o = mt->offset, len = (size_t)mt->rows * mt->cols;
          adamw_step(params + o, grads + o, st->mom + o, st->vel + o, len, (float)to->lr, (float)to->beta1,
                     (float)to->beta2, (float)to->eps, (float)to->wd, mt->decay, st->t + 1);
        }
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
        res->samples += (long)Q;
        res->rows += Q > 0 ? (long)mb.R : 0;
      }
      res->step_seconds += MPI_Wtime() - ts;
      if (stop && st->step + 1 < to->steps) { /* the epoch's last step finishes the epoch first */
        st->step++, st->t++;
        res->interrupted = 1;
        break;
      }
    }
    if (res->interrupted) break;
    PetscCall(core_stage_push(CORE_STAGE_EVAL));
    PetscCall(train_evaluate(comm, m, params, ss, SPLIT_VAL, (int)to->val_stride, &st->bank, &sb, &val, sse, n));
    PetscCall(core_stage_pop());
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
      double el = MPI_Wtime() - t0, rate = (double)(res->samples - samples0) / PetscMax(el, 1e-9);
      PetscCall(PetscPrintf(
          comm, "epoch %3ld  train loss %.7g  val loss %.7g%s  %.0f samples/s  %.0f s, at most %.0f s left\n",
          epoch + 1, res->last_train, val, st->bad ? "" : " *", rate, el,
          el / (res->epochs_run + 1) * (to->epochs - epoch - 1)));
    }
    res->epochs_run++;
    st->epoch++, st->step = 0, st->tl = st->tc = 0;
    if (st->bad >= to->patience || st->epoch >= to->epochs) {
      st->finished = 1;
      PetscCall(PetscArraycpy(params, st->best, np)); /* the best validation model */
    }
    if (save) PetscCall(save(save_ctx, st));
    if (stop) {
      res->interrupted = !st->finished;
      break;
    }
  }
  {
    long s[2] = {res->samples, res->rows};
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, 2, MPI_LONG, MPI_SUM, comm));
    res->samples = s[0], res->rows = s[1];
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &res->step_seconds, 1, MPI_DOUBLE, MPI_MAX, comm));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &res->bank_seconds, 1, MPI_DOUBLE, MPI_MAX, comm));
  }
  res->steps_run = st->t;
  res->seconds   = MPI_Wtime() - t0;
  PetscCall(data_batch_destroy(&sb));
  PetscCall(PetscFree(grads));
  PetscCall(PetscFree3(loc, day, yhat));
  PetscFunctionReturn(PETSC_SUCCESS);
}
