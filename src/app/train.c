/* raci train -data FILE -o CKPT: train RACI or a baseline (docs/MODEL.md),
 * report validation and held-out (test) errors, write a checkpoint.
 *
 * The checkpoint is rewritten after every epoch and when SIGTERM or SIGUSR1
 * arrives (at the next step boundary; then raci exits 0). -resume continues
 * from it, giving the same final model as a run that never stopped. */
#include <raci/app.h>
#include <raci/json.h>
#include <raci/checkpoint.h>
#include <raci/profile.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* What every phase of raci train shares; one per run (heap: the role options are large). */
typedef struct {
  MPI_Comm    comm;
  PetscMPIInt rank;
  /* options */
  char         data[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN], report[PETSC_MAX_PATH_LEN], init[PETSC_MAX_PATH_LEN];
  PetscBool    resume, overwrite;
  PetscInt     halo;
  RoleOptions  ro;
  SplitOptions so;
  TrainOptions to;  /* as given: member 0's seed */
  TrainOptions mto; /* the member in training: its seed (train_member_seed) */
  DataChecks   dc;
  /* data, samples, model */
  Dataset    *ds;
  SampleSet  *ss;
  PetscInt    nodata, unusable, total;
  ModelConfig cfg;
  Model      *m;
  TrainState  st;  /* the member in training (or the last one, once all have finished) */
  TrainResult res; /* the member in training's run */
  TrainResult all; /* every member's run of this invocation, summed */
  int         ndone;
  Member      mem[TRAIN_MAX_MEMBERS];  /* the finished members */
  double      sres[MODEL_MAX_TARGETS]; /* the ensemble's residual spread (train_final_evaluation) */
  /* what a checkpoint records besides the state (ckpt_save) */
  char    roles[4096], tatts[4096];
  char    units[DATA_MAX_VARS * (NC_MAX_NAME + 260)]; /* the input_units section */
  Trained model;                                      /* cfg, to, texts and normalisation; no state */
  /* the final timing line (rank 0's wall time): setup, the members' banks and
   * checkpoint writes outside train_run, the final evaluation */
  double t0, t_setup, t_bank, t_save, t_final;
} TrainRun;

/* The train/validation/test errors of the final model (an ensemble: of the
 * members' mean, with the calibration of their spread). */
typedef struct {
  double   loss[3];
  EvalSums es[3][MODEL_MAX_TARGETS];
} FinalErrors;

/* One line per fast and slow variable, "name|units", so that predict can
 * refuse inputs in other units than the model was trained with. */
static PetscErrorCode input_units_text(const Dataset *ds, char *buf, size_t len)
{
  PetscFunctionBeginUser;
  buf[0] = '\0';
  for (int k = 0; k < ds->nvar; k++) {
    char u[256];
    if (ds->var[k].role != ROLE_FAST && ds->var[k].role != ROLE_SLOW) continue;
    PetscCall(data_var_units(ds, k, u, sizeof u));
    for (char *p = u; *p; p++)
      if (*p == '|' || *p == '\n') *p = ' ';
    PetscCall(PetscStrlcat(buf, ds->var[k].name, len));
    PetscCall(PetscStrlcat(buf, "|", len));
    PetscCall(PetscStrlcat(buf, u, len));
    PetscCall(PetscStrlcat(buf, "\n", len));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* "fast:A,B;slow:C;target:D": the variables, in the order the model reads them. */
static PetscErrorCode roles_text(const Dataset *ds, char *buf, size_t len)
{
  PetscFunctionBeginUser;
  buf[0] = '\0';
  for (int r = ROLE_FAST; r < NUM_ROLES; r++) {
    int first = 1;
    PetscCall(PetscStrlcat(buf, role_name[r], len));
    PetscCall(PetscStrlcat(buf, ":", len));
    for (int k = 0; k < ds->nvar; k++) {
      if (ds->var[k].role != (Role)r) continue;
      if (!first) PetscCall(PetscStrlcat(buf, ",", len));
      PetscCall(PetscStrlcat(buf, ds->var[k].name, len));
      first = 0;
    }
    PetscCall(PetscStrlcat(buf, ";", len));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One line per target, "name|units|long_name|standard_name", so that
 * predictions carry the units of what the model was trained on. */
static PetscErrorCode target_atts_text(const Dataset *ds, char *buf, size_t len)
{
  static const char *att[3] = {"units", "long_name", "standard_name"};

  PetscFunctionBeginUser;
  buf[0] = '\0';
  for (int k = 0; k < ds->nvar; k++) {
    if (ds->var[k].role != ROLE_TARGET) continue;
    PetscCall(PetscStrlcat(buf, ds->var[k].name, len));
    for (int a = 0; a < 3; a++) {
      char      v[256] = "";
      PetscBool found;
      PetscCall(io_att_text(ds->file, ds->var[k].varid, att[a], v, sizeof v, &found));
      for (char *p = v; *p; p++)
        if (*p == '|' || *p == '\n') *p = ' ';
      PetscCall(PetscStrlcat(buf, "|", len));
      PetscCall(PetscStrlcat(buf, found ? v : "", len));
    }
    PetscCall(PetscStrlcat(buf, "\n", len));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* TrainSaveFn: the checkpoint -o of the model and the state st. */
static PetscErrorCode save_state(void *ctx, const TrainState *st)
{
  TrainRun *run = ctx;
  Trained   tr  = run->model;

  PetscFunctionBeginUser;
  tr.st    = *st;
  tr.nens  = (int)run->to.ensemble;
  tr.ndone = run->ndone;
  tr.mem   = run->mem;
  PetscCall(PetscArraycpy(tr.sres, run->sres, MODEL_MAX_TARGETS));
  PetscCall(ckpt_save(run->comm, run->out, &tr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Continue from the checkpoint -o: it must come from the same data roles,
 * network and training options (the number of epochs may grow). */
static PetscErrorCode load_state(TrainRun *run)
{
  Trained     tr;
  TrainState *st = &run->st;

  PetscFunctionBeginUser;
  PetscCall(ckpt_load(run->comm, run->out, &tr));
  PetscCall(ckpt_check_resume(run->comm, run->out, &tr, run->roles, &run->cfg, &run->to));
  PetscCheck(tr.st.np == st->np, run->comm, RACI_ERR_INPUT, "checkpoint '%s' holds %zu parameters, this model %zu",
             run->out, tr.st.np, st->np);
  PetscCall(PetscArraycpy(st->params, tr.st.params, st->np));
  PetscCall(PetscArraycpy(st->best, tr.st.best, st->np));
  PetscCall(PetscArraycpy(st->mom, tr.st.mom, st->np));
  PetscCall(PetscArraycpy(st->vel, tr.st.vel, st->np));
  st->epoch = tr.st.epoch, st->step = tr.st.step, st->t = tr.st.t, st->bad = tr.st.bad, st->finished = tr.st.finished;
  st->best_val = tr.st.best_val, st->tl = tr.st.tl, st->tc = tr.st.tc;
  if (st->finished && st->epoch < run->to.epochs && st->bad < run->to.patience)
    st->finished = 0; /* more epochs asked */
  PetscCall(train_bank_free(&st->bank));
  st->bank   = tr.st.bank; /* the bank moves into the state */
  tr.st.bank = (Bank){0};
  for (int k = 0; k < tr.ndone; k++) run->mem[k] = tr.mem[k]; /* the finished members move too */
  run->ndone = tr.ndone, tr.ndone = 0;
  PetscCall(ckpt_free(&tr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Start from the parameters of another run (-init_from), e.g. pretrained on
 * simulations before fine-tuning on towers: same variables in the same roles
 * and the same network; the optimiser, the epochs and the normalisation
 * (this data's) start afresh. */
static PetscErrorCode init_from(TrainRun *run, int member)
{
  Trained      tr;
  const float *params;
  const Bank  *bank;

  PetscFunctionBeginUser;
  PetscCall(ckpt_load(run->comm, run->init, &tr));
  PetscCall(ckpt_check_init(run->comm, run->init, &tr, run->roles, &run->cfg, &run->to));
  /* member k of an ensemble starts from member k of an ensemble's checkpoint (cycling when it has fewer) */
  ckpt_member(&tr, member % ckpt_members(&tr), &params, &bank);
  PetscCall(PetscArraycpy(run->st.params, params, run->st.np));
  PetscCall(PetscArraycpy(run->st.best, run->st.params, run->st.np));
  PetscCall(ckpt_free(&tr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* JSON list of the ids (site ids, or global location ids on grids) of the
 * locations of one split, from every rank; written by rank 0 (w NULL on the
 * other ranks). */
static PetscErrorCode report_split(MPI_Comm comm, JsonWriter *w, const SampleSet *ss, Split split, const char *name)
{
  PetscMPIInt size, rank, nloc = 0, *counts, *displs, total = 0;
  int64_t    *mine, *all;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMalloc1(ss->nloc + 1, &mine));
  for (int c = 0; c < ss->nloc; c++)
    if (ss->owned[c] && ss->split[c] == (unsigned char)split) mine[nloc++] = ss->gid[c];
  PetscCall(PetscMalloc2(size, &counts, size, &displs));
  PetscCallMPI(MPI_Allgather(&nloc, 1, MPI_INT, counts, 1, MPI_INT, comm));
  for (int r = 0; r < size; r++) displs[r] = total, total += counts[r];
  PetscCall(PetscMalloc1(total + 1, &all));
  PetscCallMPI(MPI_Gatherv(mine, nloc, MPI_INT64_T, all, counts, displs, MPI_INT64_T, 0, comm));
  if (rank == 0 && w) {
    char key[64];
    snprintf(key, sizeof key, "%s_locations", name);
    json_key(w, key), json_array_begin(w);
    for (int i = 0; i < total; i++) json_int(w, all[i]);
    json_array_end(w);
  }
  PetscCall(PetscFree(all));
  PetscCall(PetscFree2(counts, displs));
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Options: the command line into run; nothing is checked, read or written
 * under -help (core_help()). */
static PetscErrorCode train_read_options(TrainRun *run)
{
  MPI_Comm  comm = run->comm;
  PetscBool have_data, have_out;

  PetscFunctionBeginUser;
  run->halo = 1;
  PetscCall(core_opt_section(comm, "raci train options"));
  PetscCall(core_opt_string(comm, "-data", "Training data (NetCDF, gridded or sites); required", run->data,
                            sizeof run->data, &have_data));
  PetscCall(core_opt_string(comm, "-o", "Checkpoint to write (after every epoch and on SIGTERM/SIGUSR1); required",
                            run->out, sizeof run->out, &have_out));
  PetscCall(
      core_opt_bool(comm, "-resume", "Continue from the checkpoint -o if it exists", run->resume, &run->resume, NULL));
  PetscCall(
      core_opt_bool(comm, "-overwrite",
                    "Replace the checkpoint -o if it exists (without -resume or -overwrite an existing -o is refused)",
                    run->overwrite, &run->overwrite, NULL));
  PetscCall(core_opt_string(comm, "-init_from",
                            "Start from the parameters of this checkpoint (same variables and network; fine-tuning)",
                            run->init, sizeof run->init, NULL));
  PetscCall(core_opt_string(comm, "-train_report", "Also write the validation and test errors as JSON here",
                            run->report, sizeof run->report, NULL));
  PetscCall(data_opt_halo(comm, &run->halo));
  PetscCheck(have_data || core_help(), comm, RACI_ERR_INPUT, "raci train needs -data FILE");
  PetscCheck(have_out || core_help(), comm, RACI_ERR_INPUT, "raci train needs -o CHECKPOINT");
  PetscCall(data_role_options(comm, &run->ro));
  PetscCall(data_split_options(comm, &run->so));
  PetscCall(train_options(comm, &run->to));
  PetscCall(data_check_options(comm, &run->dc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Outputs: writable, never an input, and an existing -o only with -resume or -overwrite. */
static PetscErrorCode train_check_outputs(TrainRun *run)
{
  MPI_Comm    comm   = run->comm;
  const char *in[]   = {"-data", run->data, "-init_from", run->init, NULL};
  const char *outs[] = {"-o", run->out, "-train_report", run->report, NULL};
  struct stat sb;
  int         exists = 0;

  PetscFunctionBeginUser;
  /* an output never replaces an input and can be written (core_check_paths probes each one); a trained model is
   * replaced only on request */
  PetscCall(core_check_paths(comm, in, outs));
  if (run->rank == 0) exists = !stat(run->out, &sb);
  PetscCall(core_rank0_check(
      comm, exists && !run->resume && !run->overwrite ? RACI_ERR_INPUT : 0,
      "checkpoint '%s' (-o) already exists: add -resume to continue its training or -overwrite to replace it",
      run->out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Open data: the whole record of -data read, checked and counted. */
static PetscErrorCode train_open_data(TrainRun *run)
{
  MPI_Comm comm = run->comm;

  PetscFunctionBeginUser;
  PetscCall(data_open(comm, run->data, &run->ro, run->halo, &run->ds));
  PetscCall(core_check_unused_options(comm));
  PetscCall(data_checks_enable(run->ds, &run->dc, PETSC_TRUE));
  PetscCall(data_read(run->ds, 0, run->ds->nt));
  PetscCall(data_check_usable(run->ds, &run->nodata, &run->unusable, &run->total));
  PetscCheck(run->ds->nt >= run->to.W + 1, comm, RACI_ERR_DATA,
             "%s: %" PetscInt_FMT " time steps: a segment scores no day before %" PetscInt_FMT
             " days of warm-up (-raci_warmup_days), so training needs at least %" PetscInt_FMT " days",
             run->data, run->ds->nt, run->to.W, run->to.W + 1);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Model: the network for these samples (memory checked first), fresh
 * parameters, and the description a checkpoint records. */
static PetscErrorCode train_make_model(TrainRun *run)
{
  const TrainOptions *to = &run->to;
  const SampleSet    *ss = run->ss;
  int                 B = train_max_segments(to, ss), R = B * ((int)to->Kf + 1), T = (int)(to->W + to->Sc);
  double              buf, np, bytes, NB;
  char                what[256];

  PetscFunctionBeginUser;
  PetscCall(train_model_config(to, ss, &run->cfg));
  NB = model_max_blocks(&run->cfg);
  PetscCheck(!model_size(&run->cfg, B, R, &buf, &np), PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate a model");
  /* buffers, parameters with gradients and AdamW state, the batch of segments (data_batch_create) */
  bytes = buf + 6.0 * sizeof(float) * np +
          sizeof(float) * ((double)T * R * ss->F + (double)to->P * B * NB * ss->F + (double)R * ss->S +
                           (double)to->Sc * B * 2 * ss->T) +
          sizeof(int32_t) * ((double)T * R + (double)B * to->Sc + (double)B * to->Kf) + (double)B * NB * to->P;
  PetscCall(PetscSNPrintf(what, sizeof what,
                          "-train_batch %" PetscInt_FMT " with -raci_hidden %" PetscInt_FMT
                          ", segments of %d days (-raci_warmup_days + -raci_scored_days) and -raci_kf %" PetscInt_FMT
                          " (the model's buffers)",
                          to->batch, to->Hf, T, to->Kf));
  PetscCall(core_check_memory(run->comm, bytes, what));
  PetscCheck(!model_create(&run->cfg, B, R, &run->m), run->comm, PETSC_ERR_MEM, "cannot allocate the model's buffers");
  {
    ModelProfiler p;
    profile_model_hooks(&p);
    model_set_profiler(run->m, &p);
  }
  PetscCall(train_state_create(run->m, (uint64_t)to->seed, &run->st));
  PetscCall(roles_text(run->ds, run->roles, sizeof run->roles));
  PetscCall(target_atts_text(run->ds, run->tatts, sizeof run->tatts));
  PetscCall(input_units_text(run->ds, run->units, sizeof run->units));
  run->model       = (Trained){.cfg = run->cfg, .to = *to, .norm = ss->norm};
  run->model.roles = run->roles, run->model.tatts = run->tatts, run->model.units = run->units;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Resume/init: parameters from -init_from, then everything from -o with -resume if it exists. */
static PetscErrorCode train_start_state(TrainRun *run)
{
  int exists = 0;

  PetscFunctionBeginUser;
  if (run->init[0]) {
    PetscCall(init_from(run, 0));
    if (!run->to.quiet) PetscCall(PetscPrintf(run->comm, "raci train: parameters from %s\n", run->init));
  }
  if (!run->resume) PetscFunctionReturn(PETSC_SUCCESS);
  if (run->rank == 0) {
    FILE *fp = fopen(run->out, "rb");
    exists   = fp != NULL;
    if (fp) fclose(fp);
  }
  PetscCallMPI(MPI_Bcast(&exists, 1, MPI_INT, 0, run->comm));
  if (exists) {
    PetscCall(load_state(run));
    if (!run->to.quiet)
      PetscCall(PetscPrintf(run->comm, "raci train: resuming from %s at epoch %ld, step %ld\n", run->out,
                            run->st.epoch + 1, run->st.step));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What the data gives training, reported once before the first member. */
static PetscErrorCode train_report_data(TrainRun *run)
{
  MPI_Comm         comm = run->comm;
  const SampleSet *ss   = run->ss;

  PetscFunctionBeginUser;
  if (!run->to.quiet)
    PetscCall(PetscPrintf(
        comm,
        "raci train: %s on %s: %" PetscInt_FMT
        " locations (%lld train, %lld validation, %lld test, %lld ocean or no data, %lld "
        "unusable), %" PetscInt_FMT " days, %d fast, %d static features, %d targets; %zu parameters%s\n",
        run->to.model, run->data, run->total, (long long)ss->nglobal[SPLIT_TRAIN], (long long)ss->nglobal[SPLIT_VAL],
        (long long)ss->nglobal[SPLIT_TEST], (long long)ss->nnodata, (long long)(ss->nunusable - ss->nnodata),
        run->ds->nt, ss->F, ss->S, ss->T, model_nparams(run->m), run->to.ensemble > 1 ? " per member" : ""));
  if (!run->to.quiet && ss->nunusable > ss->nnodata)
    PetscCall(PetscPrintf(comm,
                          "raci train: %lld locations have data but are unusable: a slow input missing (or a fast "
                          "driver without an availability flag), or no %d days in a row with every fast driver "
                          "(%d days of warm-up, then a day to score)\n",
                          (long long)(ss->nunusable - ss->nnodata), ss->W + 1, ss->W));
  if (ss->nnotarget)
    PetscCall(PetscPrintf(comm,
                          "raci train: %lld usable locations outside the test set have no observed target: not in "
                          "training, validation or the memory bank\n",
                          (long long)ss->nnotarget));
  PetscCall(data_report_unknown_classes(ss, "train"));
  PetscCall(data_report_availability(ss, "train", run->to.quiet));
  if (!run->to.quiet) PetscCall(data_report_days(ss, "train"));
  if (!run->to.quiet) PetscCall(data_report_neighbours(ss, "train"));
  PetscCall(core_signal_install());
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Run: the training loop of the member in training (saving -o after every
 * epoch); its run is added to the ensemble's. */
static PetscErrorCode train_run_loop(TrainRun *run)
{
  TrainResult *res = &run->res, *all = &run->all;

  PetscFunctionBeginUser;
  run->mto        = run->to;
  run->mto.seed   = train_member_seed(run->to.seed, run->ndone);
  run->mto.member = run->ndone;
  if (run->to.ensemble > 1 && !run->to.quiet)
    PetscCall(PetscPrintf(run->comm, "raci train: member %d of %d (seed %" PetscInt_FMT ")\n", run->ndone + 1,
                          (int)run->to.ensemble, run->mto.seed));
  PetscCall(train_run(run->comm, run->m, run->ss, &run->mto, &run->st, save_state, run, res));
  all->segments += res->segments, all->samples += res->samples, all->rows += res->rows;
  all->seconds += res->seconds, all->step_seconds += res->step_seconds, all->bank_seconds += res->bank_seconds;
  all->val_seconds += res->val_seconds, all->save_seconds += res->save_seconds;
  all->interrupted = res->interrupted;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A member has finished: its bank for its best parameters, and both into
 * the finished members; the state starts the next member afresh (its seed),
 * saved at once so that a stop now resumes there. */
static PetscErrorCode train_next_member(TrainRun *run)
{
  Member     *mb = &run->mem[run->ndone];
  SampleBatch sb;
  double      t = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCall(data_batch_create(run->ss, train_max_segments(&run->mto, run->ss), 0, &sb));
  PetscCall(train_bank_build(run->comm, run->m, run->st.params, run->ss, &run->mto, run->st.epoch, &sb, &run->st.bank));
  PetscCall(data_batch_destroy(&sb));
  run->t_bank += MPI_Wtime() - t;
  PetscCall(PetscMalloc1(run->st.np + 1, &mb->params));
  PetscCall(PetscArraycpy(mb->params, run->st.params, run->st.np));
  mb->bank = run->st.bank, run->st.bank = (Bank){0};
  mb->epochs = run->st.epoch, mb->steps = run->st.t, mb->best_val = run->st.best_val;
  run->ndone++;
  PetscCall(train_state_destroy(&run->st));
  PetscCall(train_state_create(run->m, (uint64_t)train_member_seed(run->to.seed, run->ndone), &run->st));
  if (run->init[0]) PetscCall(init_from(run, run->ndone));
  t = MPI_Wtime();
  PetscCall(save_state(run, &run->st));
  run->t_save += MPI_Wtime() - t;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The run record (-log_view's and -raci_record's): the whole invocation. */
static PetscErrorCode train_record(TrainRun *run)
{
  MPI_Comm           comm = run->comm;
  const SampleSet   *ss   = run->ss;
  const TrainResult *all  = &run->all;
  int                most = ss->count[SPLIT_TRAIN]; /* the rank with the most training locations sets the pace */

  PetscFunctionBeginUser;
  PetscCall(core_record_text("model", run->to.model));
  PetscCall(core_record_int("parameters", (long long)model_nparams(run->m)));
  PetscCall(core_record_int("members", (long long)run->to.ensemble));
  PetscCall(core_record_int("training_locations", (long long)ss->nglobal[SPLIT_TRAIN]));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_INT, MPI_MAX, comm));
  PetscCall(core_record_int("training_locations_rank_max", most));
  PetscCall(core_record_int("epochs", run->st.epoch));
  PetscCall(core_record_int("steps", run->st.t));
  PetscCall(core_record_int("segments", all->segments));
  PetscCall(core_record_int("samples", all->samples)); /* scored cell-days */
  PetscCall(core_record_int("rows", all->rows));       /* fast-encoder row-days */
  PetscCall(core_record_real("train_seconds", all->seconds));
  PetscCall(core_record_real("step_seconds", all->step_seconds));
  PetscCall(core_record_real("samples_per_second", all->samples / PetscMax(all->step_seconds, 1e-9)));
  PetscCall(core_record_real("bank_seconds", all->bank_seconds));
  PetscCall(core_record_int("interrupted", all->interrupted ? 1 : 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Final evaluation: the last member's bank, and the errors of the members'
 * mean (one member: the model's) on training, validation and test
 * locations, printed; with several members, the spread's calibration. */
static PetscErrorCode train_final_evaluation(TrainRun *run, FinalErrors *fe)
{
  MPI_Comm           comm = run->comm;
  const SampleSet   *ss   = run->ss;
  const TrainState  *st   = &run->st;
  const TrainResult *all  = &run->all;
  const int          nmem = run->ndone + 1;
  const float       *params[TRAIN_MAX_MEMBERS];
  const Bank        *bank[TRAIN_MAX_MEMBERS];
  SampleBatch        sb;
  Split              sp[3]  = {SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST};
  const char        *spn[3] = {"train", "validation", "test (held out)"};

  PetscFunctionBeginUser;
  PetscCall(data_batch_create(ss, train_max_segments(&run->mto, ss), 0, &sb));
  PetscCall(core_stage_push(CORE_STAGE_EVAL));
  PetscCall(train_bank_build(comm, run->m, st->params, ss, &run->mto, st->epoch, &sb, &run->st.bank));
  for (int k = 0; k < nmem; k++) {
    params[k] = k < run->ndone ? run->mem[k].params : st->params;
    bank[k]   = k < run->ndone ? &run->mem[k].bank : &st->bank;
  }
  /* an ensemble's residual spread: what the validation error of the mean exceeds the members' spread by */
  if (nmem > 1) {
    SpreadGap gap;
    PetscCall(PetscMemzero(&gap, sizeof gap));
    PetscCall(train_evaluate_members(comm, run->m, nmem, params, bank, ss, SPLIT_VAL, (int)run->to.val_stride, NULL,
                                     &gap, &sb, &fe->loss[1], fe->es[1]));
    for (int t = 0; t < ss->T; t++) PetscCall(train_residual_spread(comm, &gap, t, TRAIN_SPREAD_COVER, &run->sres[t]));
    PetscCall(train_spread_gap_free(&gap));
  }
  /* every test segment of the tiling; training and validation segments at a stride (diagnostics) */
  for (int i = 0; i < 3; i++)
    PetscCall(train_evaluate_members(comm, run->m, nmem, params, bank, ss, sp[i],
                                     i == 2 ? 1 : (int)(i == 0 ? 4 : 1) * (int)run->to.val_stride,
                                     nmem > 1 ? run->sres : NULL, NULL, &sb, &fe->loss[i], fe->es[i]));
  PetscCall(core_stage_pop());
  PetscCall(data_batch_destroy(&sb));
  PetscCall(PetscPrintf(
      comm,
      "raci train: %ld epochs, %ld steps in all%s; this run %ld segments, %ld scored cell-days in %.1f s; training "
      "steps alone %.1f s: %.0f scored cell-days/s of step time, %.2f fast-encoder row-days per scored cell-day; "
      "memory bank (%d "
      "entries) %.2f s\n",
      st->epoch, st->t, nmem > 1 ? " (last member)" : "", all->segments, all->samples, all->seconds, all->step_seconds,
      all->samples / PetscMax(all->step_seconds, 1e-9), (double)all->rows / (double)PetscMax(all->samples, 1),
      st->bank.M, all->bank_seconds));
  if (nmem > 1)
    PetscCall(PetscPrintf(comm,
                          "raci train: errors of the mean of %d members; spread = sqrt(the members' variance + a "
                          "residual spread^2), the residual spread set so that 68.3 %% of the validation values lie "
                          "inside mean +- spread; calibration: share of observations inside mean +-1 and +-2 spreads "
                          "(0.68 and 0.95 for normal errors), CRPS of the normal with that mean and spread\n",
                          nmem));
  if (nmem > 1) {
    char line[1024];
    int  used = snprintf(line, sizeof line, "raci train: residual spread (validation)");
    for (int t = 0; t < ss->T && used < (int)sizeof line; t++)
      used += snprintf(line + used, sizeof line - used, "  %s %.4g", ss->target[t], run->sres[t]);
    PetscCall(PetscPrintf(comm, "%s\n", line));
  }
  for (int i = 0; i < 3; i++) {
    char line[1024];
    int  used = snprintf(line, sizeof line, "  %-16s loss %.4f  RMSE", spn[i], fe->loss[i]);
    for (int t = 0; t < ss->T && used < (int)sizeof line; t++) {
      EvalMetrics em;
      eval_metrics(&fe->es[i][t], &em);
      used += snprintf(line + used, sizeof line - used, "  %s %.4g", ss->target[t], em.rmse);
      if (nmem > 1 && used < (int)sizeof line)
        used += snprintf(line + used, sizeof line - used, " (in 1sd %.2f, 2sd %.2f, CRPS %.3g)", em.cover1, em.cover2,
                         em.crps);
    }
    PetscCall(PetscPrintf(comm, "%s\n", line));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The -train_report object up to the split lists (rank 0): the run, then per
 * split its loss and each target's RMSE and pair count (JSON has no NaN: a
 * split without locations reports null). */
static void report_errors(JsonWriter *w, const TrainRun *run, const FinalErrors *fe)
{
  static const char  *split[3] = {"train", "validation", "test"};
  const SampleSet    *ss       = run->ss;
  const TrainState   *st       = &run->st;
  const TrainOptions *to       = &run->to;
  const TrainResult  *res      = &run->all;

  json_object_begin(w);
  json_key(w, "model"), json_string(w, to->model);
  json_key(w, "members"), json_int(w, to->ensemble);
  json_key(w, "no_retrieval"), json_int(w, to->no_retrieval);
  json_key(w, "no_slow"), json_int(w, to->no_slow);
  json_key(w, "no_film"), json_int(w, to->no_film);
  json_key(w, "fast_static"), json_int(w, to->fast_embed ? 2 : to->fast_static);
  json_key(w, "head_drivers"), json_int(w, to->head_x);
  json_key(w, "clip"), json_number(w, to->clip);
  json_key(w, "input_dropout"), json_number(w, to->input_dropout);
  json_key(w, "retrieval_radius"), json_number(w, to->radius);
  json_key(w, "warmup_steps"), json_int(w, to->warmup);
  json_key(w, "epochs"), json_int(w, st->epoch);
  json_key(w, "segments"), json_int(w, res->segments);
  json_key(w, "samples"), json_int(w, res->samples); /* scored cell-days */
  json_key(w, "rows"), json_int(w, res->rows);
  json_key(w, "seconds"), json_fixed(w, res->seconds, 3);
  json_key(w, "step_seconds"), json_fixed(w, res->step_seconds, 3);
  json_key(w, "bank_seconds"), json_fixed(w, res->bank_seconds, 3);
  json_key(w, "bank_entries"), json_int(w, st->bank.M);
  json_key(w, "parameters"), json_int(w, (long long)model_nparams(run->m));
  for (int i = 0; i < 3; i++) {
    json_key(w, split[i]), json_object_begin(w);
    json_key(w, "loss"), json_number(w, fe->loss[i]);
    for (int t = 0; t < ss->T; t++) {
      EvalMetrics em;
      char        key[NC_MAX_NAME + 16];
      eval_metrics(&fe->es[i][t], &em);
      snprintf(key, sizeof key, "rmse_%s", ss->target[t]);
      json_key(w, key), json_number(w, em.rmse);
      snprintf(key, sizeof key, "n_%s", ss->target[t]);
      json_key(w, key), json_fixed(w, em.n, 0);
      if (to->ensemble < 2) continue;
      snprintf(key, sizeof key, "cover1_%s", ss->target[t]);
      json_key(w, key), json_number(w, em.cover1);
      snprintf(key, sizeof key, "cover2_%s", ss->target[t]);
      json_key(w, key), json_number(w, em.cover2);
      snprintf(key, sizeof key, "spread_%s", ss->target[t]);
      json_key(w, key), json_number(w, em.spread);
      snprintf(key, sizeof key, "crps_%s", ss->target[t]);
      json_key(w, key), json_number(w, em.crps);
      snprintf(key, sizeof key, "residual_spread_%s", ss->target[t]);
      json_key(w, key), json_number(w, run->sres[t]);
    }
    json_object_end(w);
  }
}

/* Report: -train_report as JSON (rank 0 writes; every rank takes part in the
 * split lists); nothing without -train_report but the collective gathers. */
static PetscErrorCode train_write_report(TrainRun *run, const FinalErrors *fe)
{
  const SampleSet *ss = run->ss;
  FILE            *fp = NULL;
  JsonWriter       jw, *w = NULL; /* rank 0 with -train_report */
  char             tmp[PETSC_MAX_PATH_LEN + 32];
  int              err = 0;

  PetscFunctionBeginUser;
  if (run->report[0] && run->rank == 0) {
    if ((fp = core_text_open(run->report, tmp, sizeof tmp))) {
      w = &jw;
      json_init(w, fp, 1);
      report_errors(w, run, fe);
    } else
      err = errno;
  }
  /* which locations were in which split, and whose entries the bank holds */
  PetscCall(report_split(run->comm, w, ss, SPLIT_TRAIN, "train"));
  PetscCall(report_split(run->comm, w, ss, SPLIT_VAL, "validation"));
  PetscCall(report_split(run->comm, w, ss, SPLIT_TEST, "test"));
  if (w) {
    int bad;
    json_key(w, "bank_locations"), json_array_begin(w);
    for (int i = 0; i < run->st.bank.M; i++) json_int(w, run->st.bank.owner[i]);
    json_array_end(w);
    json_object_end(w);
    bad = json_finish(w);
    err = core_text_commit(fp, tmp, run->report); /* every write checked; the old file stays on failure */
    if (!err && bad) err = EINVAL;                /* a bug: the writer was misused */
  }
  PetscCall(
      core_rank0_errno(run->comm, RACI_ERR_WRITE, err, "cannot write the report '%s' (-train_report)", run->report));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode train_destroy(TrainRun *run)
{
  PetscFunctionBeginUser;
  if (run->st.params) PetscCall(train_state_destroy(&run->st));
  for (int k = 0; k < run->ndone; k++) PetscCall(train_member_free(&run->mem[k]));
  model_destroy(&run->m);
  PetscCall(data_samples_destroy(&run->ss));
  PetscCall(data_close(&run->ds));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_train(MPI_Comm comm)
{
  TrainRun   *run;
  FinalErrors fe;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&run));
  run->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &run->rank));
  PetscCall(profile_register());
  PetscCall(train_read_options(run));
  if (core_help()) goto done; /* -help: the options above are listed; nothing runs */
  run->t0 = MPI_Wtime();
  PetscCall(train_check_outputs(run));
  PetscCall(train_open_data(run));
  run->ds->flag_all       = (PetscBool)(run->to.input_dropout > 0);
  run->ds->site_radius_km = run->to.radius;
  PetscCall(data_samples_create(run->ds, &run->so, (int)run->to.W, (int)run->to.Sc, (int)run->to.Ls, (int)run->to.P,
                                (int)run->to.Kf, NULL, &run->ss));
  PetscCall(train_make_model(run));
  PetscCall(train_start_state(run));
  PetscCall(train_report_data(run));
  run->t_setup = MPI_Wtime() - run->t0;
  for (;;) { /* the members in turn, each data-parallel over every rank */
    PetscCall(train_run_loop(run));
    if (run->res.interrupted || run->ndone + 1 >= run->to.ensemble) break;
    PetscCall(train_next_member(run));
  }
  PetscCall(train_record(run));
  if (run->res.interrupted) {
    PetscCall(save_state(run, &run->st));
    PetscCall(PetscPrintf(comm,
                          "raci train: stopped by signal %d after step %ld; state saved to %s (continue with the same "
                          "command and -resume)\n",
                          core_signal_received(), run->st.t, run->out));
    goto done;
  }
  {
    double t = MPI_Wtime();
    PetscCall(train_final_evaluation(run, &fe));
    run->t_final = MPI_Wtime() - t;
  }
  PetscCall(train_write_report(run, &fe));
  {
    double t = MPI_Wtime();
    PetscCall(save_state(run, &run->st)); /* the final model with the bank it was scored with */
    run->t_save += MPI_Wtime() - t;
  }
  PetscCall(PetscPrintf(comm, "raci train: wrote checkpoint %s\n", run->out));
  if (!run->to.quiet) { /* rank 0's wall time; "other": reports, signals, what no item above holds */
    const TrainResult *a = &run->all;
    double total = MPI_Wtime() - run->t0, bank = a->bank_seconds + run->t_bank, save = a->save_seconds + run->t_save;
    double other = total - (run->t_setup + a->step_seconds + a->val_seconds + bank + save + run->t_final);
    PetscCall(PetscPrintf(comm,
                          "raci train: time: setup (data, samples, model) %.1f s, training steps %.1f s, validation "
                          "%.1f s, memory bank %.1f s, checkpoint writes %.1f s, final evaluation %.1f s, other %.1f "
                          "s; total %.1f s\n",
                          run->t_setup, a->step_seconds, a->val_seconds, bank, save, run->t_final, other, total));
  }
done:
  PetscCall(train_destroy(run));
  PetscCall(PetscFree(run));
  PetscFunctionReturn(PETSC_SUCCESS);
}
