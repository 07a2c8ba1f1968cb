/* json: the streaming JSON writer of include/raci/json.h. */
#include <raci/json.h>

#include <math.h>
#include <string.h>

void json_init(JsonWriter *w, FILE *fp, int wrap)
{
  memset(w, 0, sizeof *w);
  w->fp   = fp;
  w->wrap = wrap;
}

/* Comma and line break before a member of the innermost open container. */
static void separate(JsonWriter *w)
{
  int d = w->depth, first = !w->members[d];

  if (!first) fputc(',', w->fp);
  if (d <= w->wrap) {
    fputc('\n', w->fp);
    for (int i = 0; i < d; i++) fputc(' ', w->fp);
  } else if (!first)
    fputc(' ', w->fp);
  w->members[d] = 1;
}

/* Before any value: after its key in an object, as a member of an array, or
 * the one value of the text. */
static void before_value(JsonWriter *w)
{
  if (w->keyed) {
    w->keyed = 0;
    return;
  }
  if (w->depth == 0) {
    if (w->nvalues++) w->err = 1;
    return;
  }
  if (w->kind[w->depth] == '{') w->err = 1; /* an object member without a key */
  separate(w);
}

static void write_escaped(FILE *fp, const char *s)
{
  fputc('"', fp);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", fp);
      break;
    case '\\':
      fputs("\\\\", fp);
      break;
    case '\n':
      fputs("\\n", fp);
      break;
    case '\r':
      fputs("\\r", fp);
      break;
    case '\t':
      fputs("\\t", fp);
      break;
    case '\b':
      fputs("\\b", fp);
      break;
    case '\f':
      fputs("\\f", fp);
      break;
    default:
      if (*p < 0x20)
        fprintf(fp, "\\u%04x", *p);
      else
        fputc(*p, fp);
    }
  }
  fputc('"', fp);
}

static void begin(JsonWriter *w, char open)
{
  before_value(w);
  fputc(open, w->fp);
  if (w->depth == JSON_MAX_DEPTH) {
    w->err = 1;
    return;
  }
  w->depth++;
  w->kind[w->depth]    = open;
  w->members[w->depth] = 0;
}

static void end(JsonWriter *w, char open, char close)
{
  int d = w->depth;

  if (d == 0 || w->kind[d] != open || w->keyed) w->err = 1;
  if (d > 0 && w->members[d] && d <= w->wrap) {
    fputc('\n', w->fp);
    for (int i = 0; i < d - 1; i++) fputc(' ', w->fp);
  }
  fputc(close, w->fp);
  if (d > 0) w->depth--;
  w->keyed = 0;
}

void json_object_begin(JsonWriter *w) { begin(w, '{'); }
void json_object_end(JsonWriter *w) { end(w, '{', '}'); }
void json_array_begin(JsonWriter *w) { begin(w, '['); }
void json_array_end(JsonWriter *w) { end(w, '[', ']'); }

void json_key(JsonWriter *w, const char *key)
{
  if (w->depth == 0 || w->kind[w->depth] != '{' || w->keyed) w->err = 1;
  separate(w);
  write_escaped(w->fp, key ? key : "");
  fputs(": ", w->fp);
  w->keyed = 1;
}

void json_string(JsonWriter *w, const char *s)
{
  before_value(w);
  if (s)
    write_escaped(w->fp, s);
  else
    fputs("null", w->fp);
}

void json_number(JsonWriter *w, double v)
{
  before_value(w);
  if (isfinite(v))
    fprintf(w->fp, "%.6g", v);
  else
    fputs("null", w->fp);
}

void json_fixed(JsonWriter *w, double v, int decimals)
{
  before_value(w);
  if (isfinite(v))
    fprintf(w->fp, "%.*f", decimals, v);
  else
    fputs("null", w->fp);
}

void json_int(JsonWriter *w, long long v)
{
  before_value(w);
  fprintf(w->fp, "%lld", v);
}

void json_bool(JsonWriter *w, int v)
{
  before_value(w);
  fputs(v ? "true" : "false", w->fp);
}

void json_null(JsonWriter *w)
{
  before_value(w);
  fputs("null", w->fp);
}

int json_finish(JsonWriter *w)
{
  fputc('\n', w->fp);
  return w->err || w->depth || w->keyed || w->nvalues != 1 ? -1 : 0;
}
