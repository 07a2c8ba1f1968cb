/* io: CF time axes ("days since 1950-01-01" with a calendar), CF-1.8 section 4.4. */
#include <raci/io.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JDN_GREGORIAN_START 2299161 /* 1582-10-15, first day of the Gregorian calendar */

static long long floordiv(long long a, long long b)
{
  long long q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Julian day numbers (Richards, Explanatory Supplement to the Astronomical Almanac). */
static long long jdn_gregorian(long long y, int m, int d)
{
  long long a = (14 - m) / 12, yy = y + 4800 - a, mm = m + 12 * a - 3;
  return d + (153 * mm + 2) / 5 + 365 * yy + floordiv(yy, 4) - floordiv(yy, 100) + floordiv(yy, 400) - 32045;
}

static long long jdn_julian(long long y, int m, int d)
{
  long long a = (14 - m) / 12, yy = y + 4800 - a, mm = m + 12 * a - 3;
  return d + (153 * mm + 2) / 5 + 365 * yy + floordiv(yy, 4) - 32083;
}

static void from_jdn_gregorian(long long j, int *y, int *m, int *d)
{
  long long a = j + 32044, b = floordiv(4 * a + 3, 146097), c = a - floordiv(146097 * b, 4);
  long long dd = floordiv(4 * c + 3, 1461), e = c - floordiv(1461 * dd, 4), mm = (5 * e + 2) / 153;
  *d = (int)(e - (153 * mm + 2) / 5 + 1);
  *m = (int)(mm + 3 - 12 * (mm / 10));
  *y = (int)(100 * b + dd - 4800 + mm / 10);
}

static void from_jdn_julian(long long j, int *y, int *m, int *d)
{
  long long c = j + 32082, dd = floordiv(4 * c + 3, 1461), e = c - floordiv(1461 * dd, 4), mm = (5 * e + 2) / 153;
  *d = (int)(e - (153 * mm + 2) / 5 + 1);
  *m = (int)(mm + 3 - 12 * (mm / 10));
  *y = (int)(dd - 4800 + mm / 10);
}

static const int cum_noleap[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
static const int cum_leap[12]   = {0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335};

/* Day number of a date in a calendar; only differences matter. */
long long io_cftime_daynum(CfCalendar cal, long long y, int m, int d)
{
  switch (cal) {
  case CF_CAL_PROLEPTIC:
    return jdn_gregorian(y, m, d);
  case CF_CAL_JULIAN:
    return jdn_julian(y, m, d);
  case CF_CAL_NOLEAP:
    return 365 * y + cum_noleap[m - 1] + d - 1;
  case CF_CAL_ALLLEAP:
    return 366 * y + cum_leap[m - 1] + d - 1;
  case CF_CAL_360:
    return 360 * y + 30 * (m - 1) + d - 1;
  case CF_CAL_STANDARD:
  default: {
    long long g = jdn_gregorian(y, m, d);
    return g >= JDN_GREGORIAN_START ? g : jdn_julian(y, m, d);
  }
  }
}

void io_cftime_from_daynum(CfCalendar cal, long long n, int *y, int *m, int *d)
{
  const int *cum = cal == CF_CAL_ALLLEAP ? cum_leap : cum_noleap;
  long long  len = cal == CF_CAL_ALLLEAP ? 366 : 365, doy;
  int        k;

  switch (cal) {
  case CF_CAL_PROLEPTIC:
    from_jdn_gregorian(n, y, m, d);
    return;
  case CF_CAL_JULIAN:
    from_jdn_julian(n, y, m, d);
    return;
  case CF_CAL_360:
    *y  = (int)floordiv(n, 360);
    doy = n - 360LL * *y;
    *m  = (int)(doy / 30) + 1;
    *d  = (int)(doy % 30) + 1;
    return;
  case CF_CAL_NOLEAP:
  case CF_CAL_ALLLEAP:
    *y  = (int)floordiv(n, len);
    doy = n - len * *y;
    for (k = 11; k > 0 && cum[k] > doy; k--) {}
    *m = k + 1;
    *d = (int)(doy - cum[k]) + 1;
    return;
  case CF_CAL_STANDARD:
  default:
    if (n >= JDN_GREGORIAN_START)
      from_jdn_gregorian(n, y, m, d);
    else
      from_jdn_julian(n, y, m, d);
  }
}

PetscErrorCode io_cftime_parse(const char *units, const char *calendar, CfTime *t, PetscBool *ok)
{
  static const struct {
    const char *name;
    double      sec;
  } unit[] = {
      {"seconds", 1}, {"second", 1}, {"secs", 1},     {"sec", 1},      {"s", 1},       {"minutes", 60},
      {"minute", 60}, {"mins", 60},  {"min", 60},     {"hours", 3600}, {"hour", 3600}, {"hrs", 3600},
      {"hr", 3600},   {"h", 3600},   {"days", 86400}, {"day", 86400},  {"d", 86400},
  };
  char        word[32];
  const char *p = units;
  int         n = 0, y, mo, d, hh = 0, mi = 0;
  double      ss = 0;

  PetscFunctionBeginUser;
  *ok = PETSC_FALSE;
  PetscCall(PetscMemzero(t, sizeof *t));
  while (isspace((unsigned char)*p)) p++;
  while (*p && !isspace((unsigned char)*p) && n < (int)sizeof word - 1) word[n++] = *p++;
  word[n] = '\0';
  for (size_t i = 0; i < sizeof unit / sizeof unit[0]; i++)
    if (!strcasecmp(word, unit[i].name)) t->unit_seconds = unit[i].sec;
  if (t->unit_seconds == 0) PetscFunctionReturn(PETSC_SUCCESS);
  while (isspace((unsigned char)*p)) p++;
  if (strncasecmp(p, "since", 5)) PetscFunctionReturn(PETSC_SUCCESS);
  p += 5;
  if (sscanf(p, " %d-%d-%d", &y, &mo, &d) != 3 || mo < 1 || mo > 12 || d < 1 || d > 31)
    PetscFunctionReturn(PETSC_SUCCESS);
  {
    const char *q = strchr(p, '-');
    q             = strchr(q + 1, '-') + 1;
    while (isdigit((unsigned char)*q)) q++;
    if (*q == 'T' || *q == ' ') {
      int got = sscanf(q + 1, "%d:%d:%lf", &hh, &mi, &ss);
      if (got < 2) hh = mi = 0, ss = 0;
      if (got < 3) ss = 0;
    }
  }
  t->year          = y;
  t->month         = mo;
  t->day           = d;
  t->epoch_seconds = hh * 3600.0 + mi * 60.0 + ss;

  if (!calendar || !calendar[0] || !strcasecmp(calendar, "standard") || !strcasecmp(calendar, "gregorian"))
    t->calendar = CF_CAL_STANDARD;
  else if (!strcasecmp(calendar, "proleptic_gregorian"))
    t->calendar = CF_CAL_PROLEPTIC;
  else if (!strcasecmp(calendar, "julian"))
    t->calendar = CF_CAL_JULIAN;
  else if (!strcasecmp(calendar, "noleap") || !strcasecmp(calendar, "365_day"))
    t->calendar = CF_CAL_NOLEAP;
  else if (!strcasecmp(calendar, "all_leap") || !strcasecmp(calendar, "366_day"))
    t->calendar = CF_CAL_ALLLEAP;
  else if (!strcasecmp(calendar, "360_day"))
    t->calendar = CF_CAL_360;
  else
    PetscFunctionReturn(PETSC_SUCCESS);
  *ok = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

void io_cftime_date(const CfTime *t, double value, int *year, int *month, int *day, double *sec)
{
  double    total = t->epoch_seconds + value * t->unit_seconds;
  long long days  = (long long)floor(total / 86400.0);
  double    s     = total - 86400.0 * (double)days;

  /* round to the millisecond so 3-hourly steps do not print as 02:59:59.999 */
  s = round(s * 1000.0) / 1000.0;
  if (s >= 86400.0) {
    s -= 86400.0;
    days++;
  }
  io_cftime_from_daynum(t->calendar, io_cftime_daynum(t->calendar, t->year, t->month, t->day) + days, year, month, day);
  *sec = s;
}

void io_cftime_format(const CfTime *t, double value, char *buf, size_t len)
{
  int    y, m, d;
  double s;

  io_cftime_date(t, value, &y, &m, &d, &s);
  if (s == 0)
    snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
  else
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d", y, m, d, (int)(s / 3600), (int)fmod(s / 60, 60));
}
