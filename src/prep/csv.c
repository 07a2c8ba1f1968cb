/* prep: CSV files, numbers and dates. */
#include <raci/prep.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits one line (no line end) into fields in place. Stores at most cap
 * field pointers but counts them all, so a row with too many fields is told
 * apart from one with the right number. Returns -1 on a malformed quote. */
static int split_line(char *s, char **field, int cap)
{
  int n = 0;

  for (;;) {
    char *out = s;
    if (n < cap) field[n] = s;
    if (*s == '"') {
      /* quoted: "" is a quote; the closing quote must end the field */
      char *w = s;
      s++;
      for (;;) {
        if (!*s) return -1;
        if (*s == '"') {
          if (s[1] == '"') {
            *w++ = '"';
            s += 2;
            continue;
          }
          s++;
          break;
        }
        *w++ = *s++;
      }
      if (*s && *s != ',') return -1;
      out = w;
    } else {
      while (*s && *s != ',') s++;
      out = s;
    }
    n++;
    if (!*s) {
      *out = '\0';
      return n;
    }
    *out = '\0';
    if (out != s) *s = '\0';
    s++;
  }
}

PetscErrorCode prep_csv_read(const char *path, PrepCsv *csv, char *msg, size_t len)
{
  FILE  *fp;
  long   size;
  size_t nlines = 1, ncommas = 0, got;
  char  *p, *end;
  int    lineno = 0;

  PetscFunctionBeginUser;
  msg[0] = '\0';
  PetscCall(PetscMemzero(csv, sizeof *csv));
  PetscCall(PetscStrncpy(csv->path, path, sizeof csv->path));
  fp = fopen(path, "rb");
  if (!fp) {
    PetscCall(PetscSNPrintf(msg, len, "%s: cannot open: %s", path, strerror(errno)));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (fseek(fp, 0, SEEK_END) || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET)) {
    PetscCall(PetscSNPrintf(msg, len, "%s: cannot read: %s", path, strerror(errno)));
    fclose(fp);
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscMalloc1((size_t)size + 1, &csv->text));
  got = fread(csv->text, 1, (size_t)size, fp);
  fclose(fp);
  if (got != (size_t)size) {
    PetscCall(PetscSNPrintf(msg, len, "%s: cannot read: short read", path));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  csv->text[size] = '\0';
  if (memchr(csv->text, '\0', (size_t)size)) {
    PetscCall(PetscSNPrintf(msg, len, "%s: not a text file (NUL bytes)", path));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (long i = 0; i < size; i++) {
    nlines += csv->text[i] == '\n';
    ncommas += csv->text[i] == ',';
  }
  /* upper bounds: every row has ncol fields, so rows * ncol <= commas + lines */
  PetscCall(PetscMalloc2(nlines, &csv->line, ncommas + nlines, &csv->cell));

  for (p = csv->text; *p; p = end) {
    char *nl = strchr(p, '\n'), *e;
    int   n;
    end = nl ? nl + 1 : p + strlen(p);
    e   = nl ? nl : end;
    lineno++;
    if (e > p && e[-1] == '\r') e--;
    *e = '\0';
    if (!*p || *p == '#') continue;
    if (!csv->col) {
      /* the header: its own array, so cell holds rows only */
      int cap = 1;
      for (char *q = p; *q; q++) cap += *q == ',';
      PetscCall(PetscMalloc1(cap, &csv->col));
      n = split_line(p, csv->col, cap);
      if (n < 0) {
        PetscCall(PetscSNPrintf(msg, len, "%s:%d: unbalanced quote in the header", path, lineno));
        PetscFunctionReturn(PETSC_SUCCESS);
      }
      csv->ncol = n;
      for (int a = 0; a < n; a++)
        for (int b = 0; b < a; b++)
          if (!strcmp(csv->col[a], csv->col[b])) {
            PetscCall(
                PetscSNPrintf(msg, len, "%s:%d: column '%s' appears twice in the header", path, lineno, csv->col[a]));
            PetscFunctionReturn(PETSC_SUCCESS);
          }
      continue;
    }
    n = split_line(p, csv->cell + (size_t)csv->nrow * csv->ncol, csv->ncol);
    if (n < 0) {
      PetscCall(PetscSNPrintf(msg, len, "%s:%d: unbalanced quote", path, lineno));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    if (n != csv->ncol) {
      PetscCall(PetscSNPrintf(msg, len, "%s:%d: %d fields, the header has %d", path, lineno, n, csv->ncol));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    csv->line[csv->nrow++] = lineno;
  }
  if (!csv->col) PetscCall(PetscSNPrintf(msg, len, "%s: empty file (no header line)", path));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode prep_csv_destroy(PrepCsv *csv)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree2(csv->line, csv->cell));
  PetscCall(PetscFree(csv->col));
  PetscCall(PetscFree(csv->text));
  csv->ncol = csv->nrow = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

int prep_csv_column(const PrepCsv *csv, const char *name)
{
  for (int c = 0; c < csv->ncol; c++)
    if (!strcmp(csv->col[c], name)) return c;
  return -1;
}

PetscBool prep_parse_number(const char *s, double *v)
{
  char *end;

  if (!*s || isspace((unsigned char)*s)) return PETSC_FALSE;
  errno = 0;
  *v    = strtod(s, &end);
  /* underflow to a denormal or zero is a number; overflow is not */
  if (*end || (errno == ERANGE && fabs(*v) > 1.0)) return PETSC_FALSE;
  return PETSC_TRUE;
}

int64_t prep_days_from_civil(int y, int m, int d)
{
  int64_t yy  = (int64_t)y - (m <= 2);
  int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
  int64_t yoe = yy - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void prep_civil_from_days(int64_t z, int *y, int *m, int *d)
{
  int64_t era, doe, yoe, doy, mp;

  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = z - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp  = (5 * doy + 2) / 153;
  *d  = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m  = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y  = (int)(yoe + era * 400 + (*m <= 2));
}

static int digits(const char *s, int n)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = 10 * v + (s[i] - '0');
  }
  return v;
}

PetscBool prep_parse_date(PrepFormat f, const char *s, int64_t *day)
{
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int              y, m, d;

  if (f != PREP_FLUXDATAKIT) {
    if (strlen(s) != 8) return PETSC_FALSE;
    y = digits(s, 4), m = digits(s + 4, 2), d = digits(s + 6, 2);
  } else {
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return PETSC_FALSE;
    y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
  }
  if (y < 1583 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return PETSC_FALSE;
  if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return PETSC_FALSE;
  *day = prep_days_from_civil(y, m, d);
  return PETSC_TRUE;
}
