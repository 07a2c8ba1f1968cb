/* raci: one binary, one subcommand per job. */
#include <raci/app.h>

#include <cblas.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "raci " RACI_VERSION " - Role-Aware Conditional Inference for ecosystem carbon fluxes\n"
                            "\n"
                            "usage: raci <command> [FILE] [-option value ...]   (also under mpirun -n N)\n"
                            "\n"
                            "commands:\n"
                            "  info FILE                 dimensions, variables with units and roles, missing\n"
                            "                            fraction per variable, time span\n"
                            "  simulate -o OUT           the process-based simulator: daily drivers, static maps\n"
                            "                            and fluxes over North America (docs/SIMULATOR.md)\n"
                            "  train -data IN -o CKPT    train RACI (or -model lstm|ealstm|transformer) on a\n"
                            "                            spatial split, report held-out errors, write a checkpoint\n"
                            "  predict -ckpt CKPT -data IN -o OUT\n"
                            "                            the trained model over every location and day of IN\n"
                            "                            (time chunks, parallel writes), regime map, role shares\n"
                            "  eval -pred P -data IN     RMSE, nRMSE, R2, NSE and bias of predictions against the\n"
                            "                            observed targets, per location, class and pooled\n"
                            "  convert -data IN -o OUT   read the role variables of IN, decompose them over the\n"
                            "                            ranks (tile + halo for grids, blocks for sites) and write\n"
                            "                            them as a CF-1.8 CDF-5 file in raci's layout\n"
                            "  prep -format fluxnet-ch4|fluxdatakit|fluxnet2015 -i DIR -o OUT\n"
                            "                            daily tower CSVs of one directory into one site\n"
                            "                            file (time, site) with fast, slow and target roles\n"
                            "  prep -format grid -i FILE [-i FILE ...] -o OUT\n"
                            "                            gridded forcing (ERA5, Daymet, E-OBS, ...; classic,\n"
                            "                            CDF-5 or NetCDF-4; sub-daily steps) into one daily grid\n"
                            "\n"
                            "options shared by commands that read data:\n"
                            "  -fast A,B   -slow C,D   -target E   roles (replace raci_role attributes)\n"
                            "  -grid_halo W                        halo width in cells (default 1)\n"
                            "  -options_file F, -log_view          PETSc conventions\n"
                            "  -help_petsc                         PETSc's generic options (runs nothing)\n"
                            "  raci COMMAND -help                  the command's options, defaults and ranges\n"
                            "                                      (runs nothing, writes nothing)\n"
                            "  -run_record FILE                    a JSON record of the run: ranks, process grid,\n"
                            "                                      time per stage, I/O rate (job scripts, scaling)\n";

/* raci COMMAND -help: the command's options, read by its own option code in
 * help mode (core_help()), which prints them and returns before any work. */
static PetscErrorCode command_help(MPI_Comm comm, const char *cmd)
{
  static const struct {
    const char *name, *synopsis;
    PetscErrorCode (*run)(MPI_Comm);
    PetscBool grid; /* lays a grid out over the ranks (grid_tile_create) */
  } cmds[] = {
      {"simulate", "simulate -o OUT [options]", app_simulate, PETSC_TRUE},
      {"train", "train -data IN -o CKPT [options]", app_train, PETSC_TRUE},
      {"predict", "predict -ckpt CKPT -data IN -o OUT [options]", app_predict, PETSC_TRUE},
      {"eval", "eval -pred P -data IN [options]", app_eval, PETSC_TRUE},
      {"convert", "convert -data IN -o OUT [options]", app_convert, PETSC_TRUE},
      {"prep",
       "prep -format fluxnet-ch4|fluxdatakit|fluxnet2015 -i DIR -o OUT, or -format grid -i FILE ... -o OUT [options]",
       app_prep, PETSC_FALSE},
      {"info", "info FILE [options]", NULL, PETSC_FALSE},
  };

  PetscFunctionBeginUser;
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    if (strcmp(cmd, cmds[i].name)) continue;
    PetscCall(PetscPrintf(
        comm, "usage: raci %s   (also under mpirun -n N)\noptions: -name <default> meaning; accepted values\n",
        cmds[i].synopsis));
    if (cmds[i].run)
      PetscCall(cmds[i].run(comm));
    else
      PetscCall(app_info(comm, NULL));
    if (cmds[i].grid) PetscCall(core_opt_petsc_grid_help(comm));
    PetscCall(PetscPrintf(
        comm, "\noptions of every command:\n"
              "  -run_record FILE           a JSON record of the run: ranks, process grid, time per stage, I/O rate\n"
              "  -options_file FILE         read options from FILE (PETSc); -log_view: time per stage (PETSc)\n"
              "  -help                      this list; nothing is read, run or written\n"
              "  -help_petsc                PETSc's generic options (debugging, profiling, memory); runs nothing\n"));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  SETERRQ(comm, RACI_ERR_INPUT, "unknown command '%s' (commands: info, simulate, train, predict, eval, convert, prep)",
          cmd);
}

static PetscErrorCode app_main(int argc, char **argv)
{
  const char *cmd  = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
  const char *file = cmd && argc > 2 && argv[2][0] != '-' ? argv[2] : NULL;
  MPI_Comm    comm = PETSC_COMM_WORLD;
  PetscBool   help = core_help();

  PetscFunctionBeginUser;
  if (!cmd) {
    PetscCall(PetscPrintf(comm, "%s", usage));
    PetscCheck(help, comm, RACI_ERR_INPUT, "no command given (raci -help lists them)");
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (help) { /* whatever else is on the command line */
    PetscCall(command_help(comm, cmd));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  { /* read by core_initialize: a missing value would silently mean no record */
    const char *v;
    PetscBool   set;
    PetscCall(PetscOptionsFindPair(NULL, NULL, "-run_record", &v, &set));
    PetscCheck(!set || (v && *v), comm, RACI_ERR_INPUT, "-run_record needs a value: the JSON file to write");
  }
  if (!strcmp(cmd, "info")) {
    PetscCheck(file || help, comm, RACI_ERR_INPUT, "usage: raci info FILE");
    PetscCall(app_info(comm, file));
  } else if (!strcmp(cmd, "convert")) {
    PetscCheck(!file, comm, RACI_ERR_INPUT, "raci convert takes no positional argument (got '%s'); use -data FILE",
               file);
    PetscCall(app_convert(comm));
  } else if (!strcmp(cmd, "simulate")) {
    PetscCheck(!file, comm, RACI_ERR_INPUT, "raci simulate takes no positional argument (got '%s'); use -o FILE", file);
    PetscCall(app_simulate(comm));
  } else if (!strcmp(cmd, "train")) {
    PetscCheck(!file, comm, RACI_ERR_INPUT, "raci train takes no positional argument (got '%s'); use -data FILE", file);
    PetscCall(app_train(comm));
  } else if (!strcmp(cmd, "predict")) {
    PetscCheck(!file, comm, RACI_ERR_INPUT, "raci predict takes no positional argument (got '%s'); use -data FILE",
               file);
    PetscCall(app_predict(comm));
  } else if (!strcmp(cmd, "eval")) {
    PetscCheck(!file, comm, RACI_ERR_INPUT,
               "raci eval takes no positional argument (got '%s'); use -pred FILE -data FILE", file);
    PetscCall(app_eval(comm));
  } else if (!strcmp(cmd, "prep")) {
    PetscCheck(!file, comm, RACI_ERR_INPUT, "raci prep takes no positional argument (got '%s'); use -i DIR", file);
    PetscCall(app_prep(comm));
  } else
    SETERRQ(comm, RACI_ERR_INPUT,
            "unknown command '%s' (commands: info, simulate, train, predict, eval, convert, prep)", cmd);
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;
  PetscBool      help = PETSC_FALSE, help_petsc = PETSC_FALSE;
  int            n            = 1;
  static char    petsc_help[] = "-help";

  /* -help is raci's: taken off the command line so PETSc does not print its
   * generic help (and so that nothing runs, whatever else is given).
   * -help_petsc passes -help on to PETSc, which prints its generic options. */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-help") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      help = PETSC_TRUE;
    else if (!strcmp(argv[i], "-help_petsc") || !strcmp(argv[i], "--help_petsc")) {
      help = help_petsc = PETSC_TRUE;
      argv[n++]         = petsc_help;
    } else
      argv[n++] = argv[i];
  }
  argv[n] = NULL;
  argc    = n;
  if (help_petsc) { /* PETSc prints its help inside PetscInitialize, after it installs its signal handler,
                     * which would report a closed pipe (raci -help_petsc | head) as a crash: none then */
    static char no_handler[] = "-no_signal_handler";
    char      **av           = malloc(sizeof *av * (size_t)(argc + 2));
    if (!av) return 1;
    for (int i = 0; i < argc; i++) av[i] = argv[i];
    av[argc++] = no_handler;
    av[argc]   = NULL;
    argv       = av; /* kept to the end: PETSc holds on to argv */
  }
  signal(SIGPIPE, SIG_IGN); /* raci -help_petsc | head: PETSc prints before core_initialize ignores it again */
  core_mpi_io_defaults();   /* environment read by MPI_Init */
  ierr =
      PetscInitialize(&argc, &argv, NULL,
                      help_petsc ? "raci: PETSc's generic options follow (raci's own: raci COMMAND -help)\n" : usage);
  if (ierr) return 1;
  /* one BLAS thread per rank unless asked otherwise: ranks already fill the cores */
  if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
  ierr = core_initialize(argc, argv);
  if (!ierr && !help) ierr = PetscOptionsHasHelp(NULL, &help); /* -help in an options file or PETSC_OPTIONS */
  core_help_set(help);
  /* a closed stdout (raci info F | head) ends the run quietly: SIGPIPE is
   * ignored and EPIPE drops later prints (core_initialize) */
  if (!ierr && !help_petsc) ierr = app_main(argc, argv);
  if (!ierr && !help) ierr = core_record_write(PETSC_COMM_WORLD);
  return core_finish(ierr);
}
