/* json: a small streaming JSON writer, the one way raci writes JSON (train
 * reports, eval scores, run records). Local, no MPI, no PETSc; the stream is
 * usually one from core_text_open, committed by core_text_commit.
 *
 * Strings are escaped (quotes, backslashes, control characters; other bytes
 * are copied as they are, so UTF-8 text stays UTF-8). Numbers are printed
 * with "%.6g" (json_number) or a fixed count of decimals (json_fixed); a
 * non-finite number is written as null, since JSON has no NaN or infinity.
 *
 * Usage: every member of an object is json_key then one value (a scalar or
 * a container); members of an array are values alone:
 *
 *   JsonWriter w;
 *   json_init(&w, fp, 1);
 *   json_object_begin(&w);
 *   json_key(&w, "loss"), json_number(&w, loss);
 *   json_key(&w, "ids"), json_array_begin(&w);
 *   for (i = 0; i < n; i++) json_int(&w, id[i]);
 *   json_array_end(&w);
 *   json_object_end(&w);
 *   if (json_finish(&w)) ... a bug: unbalanced, or a value without its key
 *
 * Layout: members of the containers nested `wrap` deep or less (the
 * outermost is 1) start on lines of their own, indented one space per
 * level; deeper containers stay on one line. */
#ifndef RACI_JSON_H
#define RACI_JSON_H

#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct {
  FILE *fp;
  int   wrap;                        /* members of containers this deep or less: one per line */
  int   depth;                       /* containers open */
  int   keyed;                       /* a key was written; its value comes next */
  int   err;                         /* misuse seen (json_finish reports it) */
  int   nvalues;                     /* values written at the outermost level */
  char  kind[JSON_MAX_DEPTH + 1];    /* per open container: '{' or '[' */
  char  members[JSON_MAX_DEPTH + 1]; /* per open container: has a member yet */
} JsonWriter;

void json_init(JsonWriter *w, FILE *fp, int wrap);
void json_object_begin(JsonWriter *w);
void json_object_end(JsonWriter *w);
void json_array_begin(JsonWriter *w);
void json_array_end(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);
void json_string(JsonWriter *w, const char *s);         /* NULL: null */
void json_number(JsonWriter *w, double v);              /* "%.6g"; non-finite: null */
void json_fixed(JsonWriter *w, double v, int decimals); /* "%.*f"; non-finite: null */
void json_int(JsonWriter *w, long long v);
void json_bool(JsonWriter *w, int v);
void json_null(JsonWriter *w);
/* Ends the text with a newline; 0 when exactly one value was written, every
 * container closed and every object member had a key and a value, else -1. */
int json_finish(JsonWriter *w);

#endif
