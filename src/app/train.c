/* raci train -data FILE -o CKPT: train RACI or a baseline (docs/MODEL.md),
 * report validation and held-out (test) errors, write a checkpoint. */
#include <raci/app.h>
#include <raci/train.h>

#include <stdio.h>
#include <string.h>

PetscErrorCode app_train(MPI_Comm comm)
{
  char         data[PETSC_MAX_PATH_LEN] = "", out[PETSC_MAX_PATH_LEN] = "", report[PETSC_MAX_PATH_LEN] = "";
  PetscBool    have_data, have_out;
  PetscInt     halo = 1;
  RoleOptions  ro;
  SplitOptions so;
  TrainOptions to;
  Dataset     *ds;
  SampleSet   *ss;
  ModelConfig  cfg;
  Model       *m;
  float       *params;
  Bank         bank = {0};
  TrainResult  res;
  PetscInt     unusable, total;

  PetscFunctionBeginUser;
  PetscOptionsBegin(comm, NULL, "raci train options", NULL);
  PetscCall(PetscOptionsString("-data", "Training data (NetCDF, gridded or sites)", NULL, data, data, sizeof data, &have_data));
  PetscCall(PetscOptionsString("-o", "Checkpoint to write", NULL, out, out, sizeof out, &have_out));
  PetscCall(PetscOptionsString("-train_report", "Also write the validation and test errors as JSON here", NULL, report, report, sizeof report, NULL));
  PetscCall(PetscOptionsInt("-grid_halo", "Halo width in cells (geographic neighbours)", NULL, halo, &halo, NULL));
  PetscOptionsEnd();
  PetscCheck(have_data, comm, RACI_ERR_INPUT, "raci train needs -data FILE");
  PetscCheck(have_out, comm, RACI_ERR_INPUT, "raci train needs -o CHECKPOINT");
  PetscCall(data_role_options(comm, &ro));
  PetscCall(data_split_options(comm, &so));
  PetscCall(train_options(comm, &to));
  PetscCall(io_check_writable(comm, out));
  if (report[0]) PetscCall(io_check_writable(comm, report));
  PetscCall(data_open(comm, data, &ro, halo, &ds));
  PetscCall(core_check_unused_options(comm));
  PetscCall(data_read(ds, 0, ds->nt));
  PetscCall(data_check_usable(ds, &unusable, &total));
  PetscCheck(ds->nt >= to.Lf, comm, RACI_ERR_DATA, "%s: %" PetscInt_FMT " time steps, fewer than the fast window of %" PetscInt_FMT " days", data, ds->nt, to.Lf);
  PetscCall(data_samples_create(ds, &so, (int)to.Lf, (int)to.Ls, (int)to.P, (int)to.Kf, &ss));
  PetscCall(train_model_config(&to, ss, &cfg));
  PetscCheck(!model_create(&cfg, train_max_queries(&to), train_max_queries(&to) * ((int)to.Kf + 1), &m), comm, PETSC_ERR_MEM, "cannot allocate the model's buffers");
  PetscCall(PetscMalloc1(model_nparams(m), &params));
  model_init_params(m, params, (uint64_t)to.seed);
  if (!to.quiet)
    PetscCall(PetscPrintf(comm, "raci train: %s on %s: %" PetscInt_FMT " locations (%lld train, %lld validation, %lld test, %" PetscInt_FMT " unusable), %" PetscInt_FMT " days, %d fast, %d static features, %d targets; %zu parameters\n", to.model, data, total, (long long)ss->nglobal[SPLIT_TRAIN], (long long)ss->nglobal[SPLIT_VAL], (long long)ss->nglobal[SPLIT_TEST], unusable,
                          ds->nt, ss->F, ss->S, ss->T, model_nparams(m)));

  PetscCall(train_run(comm, m, params, ss, &to, &bank, &res));

  /* the best model, its bank, and its errors on validation and test locations */
  {
    SampleBatch sb;
    double      loss[3], sse[3][MODEL_MAX_TARGETS], n[3][MODEL_MAX_TARGETS];
    Split       sp[3] = {SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST};
    const char *spn[3] = {"train", "validation", "test (held out)"};
    FILE       *fp = NULL;
    PetscMPIInt rank;

    PetscCallMPI(MPI_Comm_rank(comm, &rank));
    PetscCall(data_batch_create(ss, train_max_queries(&to), &sb));
    PetscCall(core_stage_push(CORE_STAGE_EVAL));
    PetscCall(train_bank_build(comm, m, params, ss, &to, res.epochs_run, &sb, &bank));
    /* every test day; training and validation days at a stride (diagnostics) */
    for (int i = 0; i < 3; i++) PetscCall(train_evaluate(comm, m, params, ss, sp[i], i == 2 ? 1 : (int)(i == 0 ? 4 : 1) * (int)to.val_stride, &bank, &sb, &loss[i], sse[i], n[i]));
    PetscCall(core_stage_pop());
    PetscCall(data_batch_destroy(&sb));
    PetscCall(PetscPrintf(comm, "raci train: %ld epochs, %ld steps, %ld samples in %.1f s; training steps alone %.1f s: %.0f samples/s, %.1f fast-encoder rows per sample\n", res.epochs_run, res.steps_run, res.samples, res.seconds, res.step_seconds, res.samples / res.step_seconds, (double)res.rows / (double)PetscMax(res.samples, 1)));
    for (int i = 0; i < 3; i++) {
      char line[512];
      int  used = snprintf(line, sizeof line, "  %-16s loss %.4f  RMSE", spn[i], loss[i]);
      for (int t = 0; t < ss->T && used < (int)sizeof line; t++) used += snprintf(line + used, sizeof line - used, "  %s %.4g", ss->target[t], n[i][t] > 0 ? sqrt(sse[i][t] / n[i][t]) : NAN);
      PetscCall(PetscPrintf(comm, "%s\n", line));
    }
    if (report[0] && rank == 0) {
      char tmp[PETSC_MAX_PATH_LEN + 16];
      snprintf(tmp, sizeof tmp, "%s.tmp", report);
      fp = fopen(tmp, "w");
      if (fp) {
        fprintf(fp, "{\"model\": \"%s\", \"no_retrieval\": %d, \"no_slow\": %d, \"no_film\": %d, \"epochs\": %ld, \"samples\": %ld, \"rows\": %ld, \"seconds\": %.3f, \"step_seconds\": %.3f, \"parameters\": %zu", to.model, (int)to.no_retrieval, (int)to.no_slow, (int)to.no_film, res.epochs_run, res.samples, res.rows, res.seconds, res.step_seconds, model_nparams(m));
        for (int i = 0; i < 3; i++) {
          fprintf(fp, ", \"%s\": {\"loss\": %.6g", i == 0 ? "train" : i == 1 ? "validation" : "test", loss[i]);
          for (int t = 0; t < ss->T; t++) fprintf(fp, ", \"rmse_%s\": %.6g, \"n_%s\": %.0f", ss->target[t], n[i][t] > 0 ? sqrt(sse[i][t] / n[i][t]) : -1.0, ss->target[t], n[i][t]);
          fprintf(fp, "}");
        }
        fprintf(fp, "}\n");
        if (fclose(fp) || rename(tmp, report)) fp = NULL;
      }
    }
    {
      int ok = rank != 0 || !report[0] || fp != NULL;
      PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
      PetscCheck(ok, comm, RACI_ERR_WRITE, "cannot write the report '%s'", report);
    }
  }

  /* checkpoint: configuration, normalisation, parameters, bank, options */
  {
    char      hist[4096];
    IoSection sec[8] = {
      {"config", &cfg, sizeof cfg},
      {"train_opts", &to, sizeof to},
      {"norm_fast", ss->fmean, 2 * DATA_MAX_VARS * sizeof(float)},
      {"norm_slow", ss->smean, 2 * DATA_MAX_VARS * sizeof(float)},
      {"params", params, model_nparams(m) * sizeof(float)},
      {"bank_key", bank.key, (size_t)bank.M * bank.Z * sizeof(float)},
      {"bank_val", bank.val, (size_t)bank.M * bank.V * sizeof(float)},
      {"history", hist, 0},
    };
    PetscCall(core_history_line(hist, sizeof hist));
    sec[7].bytes = strlen(hist) + 1;
    PetscCall(io_ckpt_write(comm, out, sec, 8));
    PetscCall(PetscPrintf(comm, "raci train: wrote checkpoint %s\n", out));
  }
  PetscCall(train_bank_free(&bank));
  PetscCall(PetscFree(params));
  model_destroy(&m);
  PetscCall(data_samples_destroy(&ss));
  PetscCall(data_close(&ds));
  PetscFunctionReturn(PETSC_SUCCESS);
}
