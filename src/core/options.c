/* core: raci's command-line options.
 *
 * raci reads its options itself (from PETSc's database, so -options_file and
 * PETSC_OPTIONS still work) instead of with PetscOptionsInt and friends:
 * every value is checked against an explicit range and a bad one is refused
 * with one line naming the option and what is wrong (PETSc's own parsers
 * raise errors that print a traceback, and accept NaN, a missing value or a
 * wrong count of array values without a word). With -help the same calls
 * print the command's options, defaults and ranges and read nothing. */
#include <raci/core.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static PetscBool help_mode;

void      core_help_set(PetscBool on) { help_mode = on; }
PetscBool core_help(void) { return help_mode; }

PetscErrorCode core_opt_section(MPI_Comm comm, const char *title)
{
  PetscFunctionBeginUser;
  if (help_mode) PetscCall(PetscPrintf(comm, "\n%s:\n", title));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One help line: "  -name <default>   help". */
static PetscErrorCode help_line(MPI_Comm comm, const char *name, const char *def, const char *help, const char *range)
{
  char head[128];

  PetscFunctionBeginUser;
  snprintf(head, sizeof head, "%s <%s>", name, def);
  if (strlen(head) > 26)
    PetscCall(PetscPrintf(comm, "  %s\n  %-26s %s%s%s\n", head, "", help, range[0] ? "; " : "", range));
  else
    PetscCall(PetscPrintf(comm, "  %-26s %s%s%s\n", head, help, range[0] ? "; " : "", range));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The raw value of an option: *set false when absent, *value NULL when given without one. */
static PetscErrorCode raw(const char *name, const char **value, PetscBool *set)
{
  PetscFunctionBeginUser;
  *value = NULL;
  PetscCall(PetscOptionsFindPair(NULL, NULL, name, value, set));
  if (*set && *value && !**value) *value = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void int_range(char *buf, size_t len, PetscInt min, PetscInt max)
{
  if (min == PETSC_MIN_INT && max == PETSC_MAX_INT)
    snprintf(buf, len, "an integer");
  else if (max == PETSC_MAX_INT)
    snprintf(buf, len, "an integer >= %lld", (long long)min);
  else
    snprintf(buf, len, "an integer in %lld .. %lld", (long long)min, (long long)max);
}

PetscErrorCode core_opt_int(MPI_Comm comm, const char *name, const char *help, PetscInt def, PetscInt min, PetscInt max,
                            PetscInt *val, PetscBool *set)
{
  const char *s;
  PetscBool   given;
  char        range[96], *end;
  long long   v;

  PetscFunctionBeginUser;
  *val = def;
  if (set) *set = PETSC_FALSE;
  int_range(range, sizeof range, min, max);
  if (help_mode) {
    char d[32];
    snprintf(d, sizeof d, "%lld", (long long)def);
    PetscCall(help_line(comm, name, d, help, range));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(raw(name, &s, &given));
  if (!given) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(s, comm, RACI_ERR_INPUT, "%s needs a value: %s", name, range);
  errno = 0;
  v     = strtoll(s, &end, 10);
  PetscCheck(end != s && !*end && !isspace((unsigned char)*s), comm, RACI_ERR_INPUT,
             "%s %s: not an integer; expected %s", name, s, range);
  PetscCheck(errno != ERANGE && v >= min && v <= max, comm, RACI_ERR_INPUT, "%s %s: out of range; expected %s", name, s,
             range);
  *val = (PetscInt)v;
  if (set) *set = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void real_range(char *buf, size_t len, PetscReal min, PetscReal max, int open)
{
  char lo[32], hi[32];
  snprintf(lo, sizeof lo, "%g", (double)min);
  snprintf(hi, sizeof hi, "%g", (double)max);
  if (max >= PETSC_MAX_REAL)
    snprintf(buf, len, "a number %s %s", (open & CORE_OPT_OPEN_MIN) ? ">" : ">=", lo);
  else
    snprintf(buf, len, "a number in %s%s, %s%s", (open & CORE_OPT_OPEN_MIN) ? "(" : "[", lo, hi,
             (open & CORE_OPT_OPEN_MAX) ? ")" : "]");
}

static PetscErrorCode parse_real(MPI_Comm comm, const char *name, const char *s, const char *all, const char *range,
                                 PetscReal *v)
{
  char  *end;
  double x;

  PetscFunctionBeginUser;
  errno = 0;
  x     = strtod(s, &end);
  PetscCheck(end != s && !*end && !isspace((unsigned char)*s), comm, RACI_ERR_INPUT,
             "%s %s: %s%s%snot a number; expected %s", name, all, strcmp(s, all) ? "'" : "", strcmp(s, all) ? s : "",
             strcmp(s, all) ? "' is " : "", range);
  PetscCheck(isfinite(x) && errno != ERANGE, comm, RACI_ERR_INPUT, "%s %s: %s%s%snot a finite number; expected %s",
             name, all, strcmp(s, all) ? "'" : "", strcmp(s, all) ? s : "", strcmp(s, all) ? "' is " : "", range);
  *v = (PetscReal)x;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_opt_real(MPI_Comm comm, const char *name, const char *help, PetscReal def, PetscReal min,
                             PetscReal max, int open, PetscReal *val, PetscBool *set)
{
  const char *s;
  PetscBool   given, ok;
  char        range[96];
  PetscReal   v;

  PetscFunctionBeginUser;
  *val = def;
  if (set) *set = PETSC_FALSE;
  real_range(range, sizeof range, min, max, open);
  if (help_mode) {
    char d[32];
    snprintf(d, sizeof d, "%g", (double)def);
    PetscCall(help_line(comm, name, d, help, range));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(raw(name, &s, &given));
  if (!given) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(s, comm, RACI_ERR_INPUT, "%s needs a value: %s", name, range);
  PetscCall(parse_real(comm, name, s, s, range, &v));
  ok = (PetscBool)(((open & CORE_OPT_OPEN_MIN) ? v > min : v >= min) &&
                   ((open & CORE_OPT_OPEN_MAX) ? v < max : v <= max));
  PetscCheck(ok, comm, RACI_ERR_INPUT, "%s %s: out of range; expected %s", name, s, range);
  *val = v;
  if (set) *set = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_opt_bool(MPI_Comm comm, const char *name, const char *help, PetscBool def, PetscBool *val,
                             PetscBool *set)
{
  static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
  const char        *s;
  PetscBool          given;

  PetscFunctionBeginUser;
  *val = def;
  if (set) *set = PETSC_FALSE;
  if (help_mode) {
    PetscCall(help_line(comm, name, def ? "true" : "false", help, ""));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(raw(name, &s, &given));
  if (!given) PetscFunctionReturn(PETSC_SUCCESS);
  if (set) *set = PETSC_TRUE;
  if (!s) { /* -quiet alone */
    *val = PETSC_TRUE;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (int i = 0; i < 4; i++) {
    if (!strcasecmp(s, yes[i])) *val = PETSC_TRUE;
    if (!strcasecmp(s, no[i])) *val = PETSC_FALSE;
    if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) PetscFunctionReturn(PETSC_SUCCESS);
  }
  SETERRQ(comm, RACI_ERR_INPUT, "%s %s: expected true or false (or the option alone for true)", name, s);
}

PetscErrorCode core_opt_quiet(MPI_Comm comm, PetscBool *quiet)
{
  PetscFunctionBeginUser;
  PetscCall(core_opt_bool(comm, "-quiet", "No progress output or summary", PETSC_FALSE, quiet, NULL));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_opt_string(MPI_Comm comm, const char *name, const char *help, char *val, size_t len, PetscBool *set)
{
  const char *s;
  PetscBool   given;

  PetscFunctionBeginUser;
  if (set) *set = PETSC_FALSE;
  if (help_mode) {
    PetscCall(help_line(comm, name, val[0] ? val : "string", help, ""));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(raw(name, &s, &given));
  if (!given) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(s, comm, RACI_ERR_INPUT, "%s needs a value (%s)", name, help);
  PetscCheck(strlen(s) < len, comm, RACI_ERR_INPUT, "%s: value longer than %zu characters", name, len - 1);
  PetscCall(PetscStrncpy(val, s, len));
  if (set) *set = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Comma-separated items: how many, and buf split at its commas, in place (item has room for all). */
static int count_items(const char *s)
{
  int n = 1;
  for (; *s; s++) n += *s == ',';
  return n;
}

static void split_commas(char *buf, char **item)
{
  int n = 0;
  for (char *p = buf;;) {
    char *c   = strchr(p, ',');
    item[n++] = p;
    if (!c) break;
    *c = '\0';
    p  = c + 1;
  }
}

PetscErrorCode core_opt_strings(MPI_Comm comm, const char *name, const char *help, char **list, PetscInt *n,
                                PetscBool *set)
{
  const char *s;
  PetscBool   given;
  char       *buf, **item;
  int         max = (int)*n, k;

  PetscFunctionBeginUser;
  *n = 0;
  if (set) *set = PETSC_FALSE;
  if (help_mode) {
    PetscCall(help_line(comm, name, "a,b,...", help, ""));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(raw(name, &s, &given));
  if (!given) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(s, comm, RACI_ERR_INPUT, "%s needs a value (%s)", name, help);
  k = count_items(s);
  PetscCheck(k <= max, comm, RACI_ERR_INPUT, "%s %s: %d names, at most %d", name, s, k, max);
  PetscCall(PetscStrallocpy(s, &buf));
  PetscCall(PetscMalloc1(k, &item));
  split_commas(buf, item);
  for (int i = 0; i < k; i++) {
    if (!item[i][0]) {
      PetscCall(PetscFree(item));
      PetscCall(PetscFree(buf));
      SETERRQ(comm, RACI_ERR_INPUT, "%s %s: an empty name", name, s);
    }
  }
  for (int i = 0; i < k; i++) PetscCall(PetscStrallocpy(item[i], &list[i]));
  PetscCall(PetscFree(item));
  PetscCall(PetscFree(buf));
  *n = k;
  if (set) *set = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode core_opt_reals(MPI_Comm comm, const char *name, const char *help, PetscReal *val, PetscInt nmin,
                              PetscInt nmax, PetscInt *n, PetscBool *set)
{
  const char *s;
  PetscBool   given;
  char       *buf, **item, want[64];
  int         k;

  PetscFunctionBeginUser;
  if (set) *set = PETSC_FALSE;
  if (nmin == nmax)
    snprintf(want, sizeof want, "%d comma-separated numbers", (int)nmin);
  else
    snprintf(want, sizeof want, "%d to %d comma-separated numbers", (int)nmin, (int)nmax);
  if (help_mode) {
    char d[128] = "";
    for (PetscInt i = 0; i < *n && strlen(d) + 20 < sizeof d; i++)
      snprintf(d + strlen(d), sizeof d - strlen(d), "%s%g", i ? "," : "", (double)val[i]);
    PetscCall(help_line(comm, name, d[0] ? d : "numbers", help, want));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(raw(name, &s, &given));
  if (!given) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(s, comm, RACI_ERR_INPUT, "%s needs a value: %s (%s)", name, want, help);
  k = count_items(s);
  PetscCheck(k >= nmin && k <= nmax, comm, RACI_ERR_INPUT, "%s %s: %d number%s, expected %s (%s)", name, s, k,
             k == 1 ? "" : "s", want, help);
  PetscCall(PetscStrallocpy(s, &buf));
  PetscCall(PetscMalloc1(k, &item));
  split_commas(buf, item);
  for (int i = 0; i < k; i++) {
    PetscErrorCode ierr = parse_real(comm, name, item[i], s, want, &val[i]);
    if (ierr) {
      PetscCall(PetscFree(item));
      PetscCall(PetscFree(buf));
      return ierr;
    }
  }
  PetscCall(PetscFree(item));
  PetscCall(PetscFree(buf));
  *n = k;
  if (set) *set = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -help lines of the PETSc options raci reads where it lays a grid out over
 * the ranks (grid_tile_create): PETSc parses them, raci documents them. */
PetscErrorCode core_opt_petsc_grid_help(MPI_Comm comm)
{
  PetscFunctionBeginUser;
  if (!help_mode) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(core_opt_section(comm, "Process grid of gridded files (PETSc DMDA options)"));
  PetscCall(help_line(comm, "-da_processors_x", "auto",
                      "Ranks along x (longitude); with -da_processors_y: their product is the rank count",
                      "an integer >= 1"));
  PetscCall(
      help_line(comm, "-da_processors_y", "auto",
                "Ranks along y (latitude); default: whole rows per rank when each gets 8 or more, else PETSc's choice",
                "an integer >= 1"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* PETSc's own parsers (options it reads itself, such as -da_processors_x)
 * raise these for a malformed value. */
PetscBool core_opt_petsc_error(PetscErrorCode n, const char *mess)
{
  if (!mess || (n != PETSC_ERR_ARG_OUTOFRANGE && n != PETSC_ERR_ARG_WRONG)) return PETSC_FALSE;
  return (PetscBool)(strstr(mess, "Input string ") == mess || strstr(mess, "Unknown logical value") == mess);
}

PetscErrorCode core_check_memory(MPI_Comm comm, double bytes, const char *what)
{
  MPI_Comm    node;
  PetscMPIInt nlocal;
  double      phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE), limit;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &bytes, 1, MPI_DOUBLE, MPI_MAX, comm));
  PetscCallMPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  PetscCallMPI(MPI_Comm_size(node, &nlocal));
  PetscCallMPI(MPI_Comm_free(&node));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &nlocal, 1, MPI_INT, MPI_MAX, comm));
  if (phys <= 0) PetscFunctionReturn(PETSC_SUCCESS); /* unknown */
  limit = phys / nlocal;
  if (bytes > limit) {
    char need[32], have[32], node_gb[32]; /* snprintf: PETSc's printf writes %g of 298 as "298." */
    snprintf(need, sizeof need, "%.3g", bytes / 1e9);
    snprintf(have, sizeof have, "%.3g", limit / 1e9);
    snprintf(node_gb, sizeof node_gb, "%.3g", phys / 1e9);
    SETERRQ(comm, RACI_ERR_INPUT,
            "%s would need about %s GB of memory per rank, more than the %s GB per rank here (%d rank%s on a node of "
            "%s GB)",
            what, need, have, nlocal, nlocal == 1 ? "" : "s", node_gb);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
