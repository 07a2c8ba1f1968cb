/* CF time axes: dates computed by hand for each calendar (CF-1.8 section 4.4.1). */
#include <raci/io.h>

#include <string.h>

static int nfail = 0;

static void expect_date(const char *units, const char *cal, double value, const char *want)
{
  CfTime    t;
  PetscBool ok;
  char      got[64];

  if (io_cftime_parse(units, cal, &t, &ok) || !ok) {
    printf("FAIL parse \"%s\" (%s)\n", units, cal ? cal : "no calendar");
    nfail++;
    return;
  }
  io_cftime_format(&t, value, got, sizeof got);
  if (strcmp(got, want)) {
    printf("FAIL %g %s (%s): got %s, want %s\n", value, units, cal ? cal : "-", got, want);
    nfail++;
  } else
    printf("ok   %g %s (%s) = %s\n", value, units, cal ? cal : "-", got);
}

static void expect_reject(const char *units, const char *cal)
{
  CfTime    t;
  PetscBool ok = PETSC_TRUE;
  if (io_cftime_parse(units, cal, &t, &ok) || ok) {
    printf("FAIL accepted \"%s\" (%s)\n", units, cal ? cal : "-");
    nfail++;
  } else
    printf("ok   rejects \"%s\" (%s)\n", units, cal ? cal : "-");
}

int main(int argc, char **argv)
{
  if (PetscInitialize(&argc, &argv, NULL, NULL)) return 1;
  /* the real files of ../shared/data/gridded */
  expect_date("hours since 2008-01-01", "proleptic_gregorian", 2927 * 3, "2008-12-31 21:00"); /* 366 d * 24 - 3 */
  expect_date("days since 1950-01-01 00:00:00", "standard", 17927,
              "1999-01-31"); /* SE-US first step: 49 y * 365 + 12 leap days + 30 */
  expect_date("hours since 2019-3-1 00:00:00", "proleptic_gregorian", 743, "2019-03-31 23:00");
  /* 50 years with 12 leap days */
  expect_date("days since 1950-01-01", NULL, 18262, "2000-01-01");
  expect_date("days since 2000-01-01", "gregorian", -1, "1999-12-31");
  expect_date("days since 2000-01-01", "standard", 59, "2000-02-29");
  expect_date("seconds since 1970-01-01T00:00:00Z", "standard", 86399, "1970-01-01 23:59");
  expect_date("minutes since 2000-01-01 12:00", "standard", 720, "2000-01-02");
  expect_date("d since 2000-01-01", "standard", 0.5, "2000-01-01 12:00");
  /* the Gregorian reform: 1582-10-04 (Julian) is followed by 1582-10-15 */
  expect_date("days since 1582-10-04", "standard", 1, "1582-10-15");
  expect_date("days since 1582-10-04", "proleptic_gregorian", 1, "1582-10-05");
  /* 1900 is a leap year only in the Julian calendar */
  expect_date("days since 1900-02-28", "julian", 1, "1900-02-29");
  expect_date("days since 1900-02-28", "proleptic_gregorian", 1, "1900-03-01");
  /* model calendars */
  expect_date("days since 2000-01-01", "noleap", 59, "2000-03-01");
  expect_date("days since 2000-01-01", "365_day", 365, "2001-01-01");
  expect_date("days since 2000-01-01", "all_leap", 59, "2000-02-29");
  expect_date("days since 2001-01-01", "366_day", 365, "2001-12-31");
  expect_date("days since 2000-01-01", "360_day", 30, "2000-02-01");
  expect_date("days since 2000-01-01", "360_day", 359, "2000-12-30");
  expect_date("days since 2000-01-01", "360_day", 360, "2001-01-01");
  expect_date("days since 2000-01-01", "noleap", -1, "1999-12-31");
  /* not CF time */
  expect_reject("months since 2000-01-01", "standard"); /* months and years are not fixed lengths */
  expect_reject("days after 2000-01-01", "standard");
  expect_reject("days since 2000-13-01", "standard");
  expect_reject("days since 2000-01-01", "none");
  expect_reject("kelvin", NULL);
  printf("test_cftime: %s\n", nfail ? "FAILED" : "ok");
  PetscFinalize();
  return nfail ? 1 : 0;
}
