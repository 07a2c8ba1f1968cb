/* The JSON writer: escaped strings, non-finite numbers as null, layout, and
 * misuse reported by json_finish; the texts compared with literals written by
 * hand and, when /usr/bin/python3 is there, parsed by Python's json module. */
#include <raci/json.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int nfail = 0;

typedef void (*Writer)(JsonWriter *w);

/* Python's json module accepts text (and no NaN or Infinity literals). */
static int python_accepts(const char *text)
{
  const char *py = "/usr/bin/python3";
  char        cmd[512];
  FILE       *p;

  if (access(py, X_OK)) return -1;
  snprintf(cmd, sizeof cmd,
           "%s -c 'import json, sys\n"
           "def bad(c): raise ValueError(c)\n"
           "json.loads(sys.stdin.read(), parse_constant=bad)'",
           py);
  if (!(p = popen(cmd, "w"))) return -1;
  fputs(text, p);
  return pclose(p) == 0;
}

static void expect(const char *what, int wrap, Writer write, const char *want, int valid)
{
  char      *buf = NULL;
  size_t     len = 0;
  FILE      *fp  = open_memstream(&buf, &len);
  JsonWriter w;
  int        fin, py;

  json_init(&w, fp, wrap);
  write(&w);
  fin = json_finish(&w);
  fclose(fp);
  if (want && strcmp(buf, want)) {
    printf("FAIL %s:\n got: %s\nwant: %s\n", what, buf, want);
    nfail++;
  } else if ((fin == 0) != valid) {
    printf("FAIL %s: json_finish %d for %s\n", what, fin, valid ? "valid JSON" : "misuse");
    nfail++;
  } else if (valid && (py = python_accepts(buf)) == 0) {
    printf("FAIL %s: python3 rejects %s\n", what, buf);
    nfail++;
  } else
    printf("ok   %s%s\n", what, valid && py < 0 ? " (python3 missing: not parsed)" : "");
  free(buf);
}

static void strings(JsonWriter *w)
{
  json_array_begin(w);
  json_string(w, "say \"hi\"");
  json_string(w, "C:\\dir\\file");
  json_string(w, "line 1\nline 2\r\n\ttab");
  json_string(w, "\x01\x08\x0c\x1f end");
  json_string(w, "caf\xc3\xa9 \x7f /");
  json_string(w, "");
  json_string(w, NULL);
  json_array_end(w);
}

static void numbers(JsonWriter *w)
{
  json_object_begin(w);
  json_key(w, "nan"), json_number(w, NAN);
  json_key(w, "inf"), json_number(w, INFINITY);
  json_key(w, "-inf"), json_number(w, -INFINITY);
  json_key(w, "fixed nan"), json_fixed(w, NAN, 3);
  json_key(w, "tenth"), json_number(w, 0.1);
  json_key(w, "big"), json_number(w, 12345678.0);
  json_key(w, "small"), json_number(w, -1.5e-5);
  json_key(w, "fixed"), json_fixed(w, 1234.56789, 3);
  json_key(w, "count"), json_fixed(w, 40000000000.0, 0);
  json_key(w, "int"), json_int(w, LLONG_MIN);
  json_key(w, "yes"), json_bool(w, 1);
  json_key(w, "no"), json_bool(w, 0);
  json_key(w, "none"), json_null(w);
  json_object_end(w);
}

static void keys(JsonWriter *w)
{
  json_object_begin(w);
  json_key(w, "a \"key\"\\\n"), json_int(w, 1);
  json_object_end(w);
}

static void nested(JsonWriter *w)
{
  json_object_begin(w);
  json_key(w, "a"), json_object_begin(w);
  json_key(w, "b"), json_array_begin(w);
  json_int(w, 1), json_int(w, 2);
  json_object_begin(w), json_object_end(w);
  json_array_begin(w), json_array_end(w);
  json_array_end(w);
  json_key(w, "c"), json_object_begin(w), json_object_end(w);
  json_object_end(w);
  json_key(w, "d"), json_string(w, "e");
  json_object_end(w);
}

static void scalar(JsonWriter *w) { json_number(w, NAN); }
static void no_key(JsonWriter *w) { json_object_begin(w), json_int(w, 1), json_object_end(w); }
static void key_in_array(JsonWriter *w) { json_array_begin(w), json_key(w, "k"), json_int(w, 1), json_array_end(w); }
static void key_no_value(JsonWriter *w) { json_object_begin(w), json_key(w, "k"), json_object_end(w); }
static void unclosed(JsonWriter *w) { json_object_begin(w), json_key(w, "k"), json_array_begin(w); }
static void mismatched(JsonWriter *w) { json_object_begin(w), json_array_end(w); }
static void two_values(JsonWriter *w) { json_int(w, 1), json_int(w, 2); }
static void nothing(JsonWriter *w) { (void)w; }

static void too_deep(JsonWriter *w)
{
  for (int i = 0; i <= JSON_MAX_DEPTH; i++) json_array_begin(w);
  for (int i = 0; i <= JSON_MAX_DEPTH; i++) json_array_end(w);
}

int main(void)
{
  expect("strings escaped", 0, strings,
         "[\"say \\\"hi\\\"\", \"C:\\\\dir\\\\file\", \"line 1\\nline 2\\r\\n\\ttab\", "
         "\"\\u0001\\b\\f\\u001f end\", \"caf\xc3\xa9 \x7f /\", \"\", null]\n",
         1);
  expect("numbers; non-finite as null", 0, numbers,
         "{\"nan\": null, \"inf\": null, \"-inf\": null, \"fixed nan\": null, \"tenth\": 0.1, "
         "\"big\": 1.23457e+07, \"small\": -1.5e-05, \"fixed\": 1234.568, \"count\": 40000000000, "
         "\"int\": -9223372036854775808, \"yes\": true, \"no\": false, \"none\": null}\n",
         1);
  expect("keys escaped", 0, keys, "{\"a \\\"key\\\"\\\\\\n\": 1}\n", 1);
  expect("one line (wrap 0)", 0, nested, "{\"a\": {\"b\": [1, 2, {}, []], \"c\": {}}, \"d\": \"e\"}\n", 1);
  expect("outer members on lines (wrap 1)", 1, nested,
         "{\n \"a\": {\"b\": [1, 2, {}, []], \"c\": {}},\n \"d\": \"e\"\n}\n", 1);
  expect("two levels on lines (wrap 2)", 2, nested,
         "{\n \"a\": {\n  \"b\": [1, 2, {}, []],\n  \"c\": {}\n },\n \"d\": \"e\"\n}\n", 1);
  expect("a scalar alone", 1, scalar, "null\n", 1);
  expect("misuse: a member without key", 0, no_key, NULL, 0);
  expect("misuse: a key in an array", 0, key_in_array, NULL, 0);
  expect("misuse: a key without value", 0, key_no_value, NULL, 0);
  expect("misuse: unclosed", 0, unclosed, NULL, 0);
  expect("misuse: mismatched end", 0, mismatched, NULL, 0);
  expect("misuse: two values", 0, two_values, NULL, 0);
  expect("misuse: no value", 0, nothing, NULL, 0);
  expect("misuse: deeper than JSON_MAX_DEPTH", 0, too_deep, NULL, 0);
  printf("%s\n", nfail ? "FAILED" : "all passed");
  return nfail ? 1 : 0;
}
