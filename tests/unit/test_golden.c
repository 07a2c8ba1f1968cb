/* The C networks against the PyTorch reference (tools/reference/): for every
 * case in tests/data/golden (a batch of segments, docs/MODEL.md section 6), the
 * same parameters and batch must give the same outputs yhat (Sc, B, Tg) and
 * loss (5e-6 relative) and observed count, the same gradients of every
 * parameter and of xf, xb and s (1e-4 of the tensor's largest gradient), the
 * same parameter layout (names, shapes, offsets, weight decay, in order), and
 * the same 10-step AdamW loss curve (1e-4 relative). Manifest dims: T is the
 * days of a segment, T_g the targets (ModelConfig.T).
 * usage: test_golden [DIR]   (default tests/data/golden) */
#include <raci/core.h>
#include <raci/model.h>
#include <raci/train.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nfail = 0;

static char *slurp(const char *path, size_t *len)
{
  FILE *fp = fopen(path, "rb");
  char *buf;
  long  n;
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) n = 0;
  fclose(fp);
  if (buf) buf[n] = '\0';
  if (len) *len = (size_t)n;
  return buf;
}

/* Minimal readers for the manifest's flat keys. */
static const char *after(const char *js, const char *key)
{
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(js, pat);
  return p ? p + strlen(pat) : NULL;
}
static double num(const char *js, const char *key)
{
  const char *p = after(js, key);
  return p ? strtod(p, NULL) : NAN;
}
static int nums(const char *js, const char *key, double *v, int max)
{
  const char *p = after(js, key);
  int         n = 0;
  if (!p || !(p = strchr(p, '['))) return 0;
  p++;
  while (n < max && *p && *p != ']') {
    char *e;
    v[n] = strtod(p, &e);
    if (e == p) break;
    n++;
    p = e;
    while (*p == ',' || *p == ' ') p++;
  }
  return n;
}
static int strs(const char *js, const char *key, char out[][16], int max)
{
  const char *p = after(js, key);
  int         n = 0;
  if (!p || !(p = strchr(p, '['))) return 0;
  while (n < max && (p = strchr(p, '"')) && p < strchr(after(js, key), ']')) {
    const char *e = strchr(p + 1, '"');
    snprintf(out[n++], 16, "%.*s", (int)(e - p - 1), p + 1);
    p = e + 1;
  }
  return n;
}

static void *bin(const char *dir, const char *name, size_t expect_bytes)
{
  char   path[2048];
  size_t len;
  snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  char *b = slurp(path, &len);
  if (!b || (expect_bytes && len != expect_bytes)) {
    printf("FAIL %s: %zu bytes, expected %zu\n", path, b ? len : 0, expect_bytes);
    nfail++;
  }
  return b;
}

static void compare(const char *cs, const char *what, const float *got, const float *want, size_t n, double rtol_of_max)
{
  double mx = 0, worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
  for (size_t i = 0; i < n; i++) {
    double e = fabs(got[i] - want[i]);
    if (isnan(e)) e = INFINITY; /* a NaN on one side only is the worst difference */
    if (isnan(got[i]) && isnan(want[i])) e = 0;
    if (e > worst) worst = e, at = i;
  }
  if (worst > rtol_of_max * fmax(mx, 1e-3)) {
    printf("FAIL %-18s %-12s max difference %.3g at [%zu] (%.7g vs %.7g; largest value %.3g)\n", cs, what, worst, at,
           got[at], want[at], mx);
    nfail++;
  } else if (getenv("GOLDEN_VERBOSE"))
    printf("ok   %-18s %-12s max difference %.3g (largest value %.3g)\n", cs, what, worst, mx);
}

/* The i-th entry of the manifest's "params" list: name, shape, offset and decay. */
static const char *layout_end(const char *js)
{
  const char *e = after(js, "arrays"); /* the manifest lists "arrays" after "params" */
  return e ? e : js + strlen(js);
}

static int layout_entry(const char *js, int i, char *name, int *rows, int *cols, size_t *off, int *decay)
{
  const char *p = after(js, "params");
  if (!p || !(p = strchr(p, '['))) return 1;
  for (int k = 0; k <= i; k++)
    if (!(p = strstr(p + 1, "{\"name\": \"")) || p > layout_end(js)) return 1;
  const char *e = strchr(p + 10, '"');
  snprintf(name, 24, "%.*s", (int)(e - p - 10), p + 10);
  const char *sh = strstr(p, "\"shape\": [") + 10;
  *rows          = (int)strtol(sh, (char **)&e, 10);
  *cols          = *e == ',' ? (int)strtol(e + 1, NULL, 10) : 1;
  *off           = (size_t)strtod(strstr(p, "\"offset\":") + 9, NULL);
  *decay         = strncmp(strstr(p, "\"decay\":") + 9, "true", 4) == 0;
  return 0;
}

static void run_case(const char *root, const char *cs)
{
  char        dir[1024], path[1100], tnames[MODEL_MAX_TARGETS][16];
  char       *js;
  double      d[16];
  ModelConfig c = {0};
  Model      *m;
  int         B, R, T, NB, M, Sc;
  const int   before = nfail; /* this case's failures are nfail - before: every case is checked */

  snprintf(dir, sizeof dir, "%s/%s", root, cs);
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  if (!(js = slurp(path, NULL))) {
    printf("FAIL %s: no %s\n", cs, path);
    nfail++;
    return;
  }
  {
    const char *model = after(js, "model");
    c.kind            = strstr(model, "\"lstm\"") == strchr(model, '"')          ? MODEL_LSTM
                        : strstr(model, "\"ealstm\"") == strchr(model, '"')      ? MODEL_EALSTM
                        : strstr(model, "\"transformer\"") == strchr(model, '"') ? MODEL_TRANSFORMER
                        : strstr(model, "\"tcn\"") == strchr(model, '"')         ? MODEL_TCN
                                                                                 : MODEL_RACI;
  }
  c.no_retrieval = strstr(js, "\"no_retrieval\": true") != NULL;
  c.no_slow      = strstr(js, "\"no_slow\": true") != NULL;
  c.no_film      = strstr(js, "\"no_film\": true") != NULL;
  /* dims: T is the days of a segment (W + Sc), T_g the targets (the model's T) */
  c.W = (int)num(js, "W"), c.Sc = (int)num(js, "Sc"), c.P = (int)num(js, "P"), c.Lb = (int)num(js, "L_b");
  c.F = (int)num(js, "F"), c.S = (int)num(js, "S"), c.T = (int)num(js, "T_g");
  c.Hf = (int)num(js, "H_f"), c.Hs = (int)num(js, "H_s"), c.Hz = (int)num(js, "H_z"), c.Z = (int)num(js, "Z"),
  c.A  = (int)num(js, "A");
  c.Ks = (int)num(js, "K_s"), c.Kf = (int)num(js, "K_f"), c.Ho = (int)num(js, "H_o"), c.D = (int)num(js, "D"),
  c.NH = (int)num(js, "n_heads"), c.FF = (int)num(js, "FF"), c.Kt = (int)num(js, "K_t"), c.Lt = (int)num(js, "L_t");
  B = (int)num(js, "B"), R = (int)num(js, "R"), T = (int)num(js, "T"), NB = (int)num(js, "NB"), M = (int)num(js, "M");
  Sc = c.Sc;
  strs(js, "targets", tnames, MODEL_MAX_TARGETS);
  for (int k = 0; k < c.T; k++) strcpy(c.target[k], tnames[k]);
  nums(js, "target_mean", d, 16);
  for (int k = 0; k < c.T; k++) c.mu[k] = (float)d[k];
  nums(js, "target_std", d, 16);
  for (int k = 0; k < c.T; k++) c.sigma[k] = (float)d[k];
  nums(js, "weights", d, 16);
  for (int k = 0; k < c.T; k++) c.w[k] = (float)d[k];
  if (T != c.W + Sc || model_max_blocks(&c) < NB) {
    printf("FAIL %s: manifest dims T %d, W %d, Sc %d, NB %d, L_b %d do not fit\n", cs, T, c.W, Sc, NB, c.Lb);
    nfail++;
    free(js);
    return;
  }
  if (model_create(&c, B, R, &m)) {
    printf("FAIL %s: model_create\n", cs);
    nfail++;
    free(js);
    return;
  }
  size_t np = model_nparams(m);
  if ((double)np != num(js, "n_params")) {
    printf("FAIL %s: %zu parameters, the reference has %.0f\n", cs, np, num(js, "n_params"));
    nfail++;
  }
  { /* the same tensors in the same order: names, shapes, offsets, weight decay */
    int nref = 0;
    for (const char *p = strchr(after(js, "params"), '['); (p = strstr(p + 1, "{\"name\": \"")) && p < layout_end(js);
         nref++) {}
    if (nref != model_ntensors(m)) {
      printf("FAIL %s: %d tensors, the reference has %d\n", cs, model_ntensors(m), nref);
      nfail++;
    }
    for (int i = 0; i < model_ntensors(m) && i < nref; i++) {
      const ModelTensor *t        = model_tensor(m, i);
      char               name[24] = "";
      int                rows = 0, cols = 0, decay = 0;
      size_t             off = 0;
      if (layout_entry(js, i, name, &rows, &cols, &off, &decay) || strcmp(name, t->name) || rows != t->rows ||
          cols != t->cols || off != t->offset || decay != !!t->decay) {
        printf("FAIL %s: tensor %d is %s (%d x %d at %zu, decay %d), the reference has %s (%d x %d at %zu, decay %d)\n",
               cs, i, t->name, t->rows, t->cols, t->offset, !!t->decay, name, rows, cols, off, decay);
        nfail++;
      }
    }
  }
  const size_t nxf = (size_t)T * R * c.F, nxb = (size_t)c.P * B * NB * c.F, ns = (size_t)R * c.S,
               ny = (size_t)Sc * B * c.T;
  float   *params = bin(dir, "params", np * 4), *xf = bin(dir, "xf", nxf * 4), *xb = bin(dir, "xb", nxb * 4);
  int32_t *age = bin(dir, "age", (size_t)T * R * 4), *blk = bin(dir, "blk", (size_t)B * Sc * 4);
  uint8_t *eb = bin(dir, "eb", (size_t)B * NB * c.P);
  float   *s = bin(dir, "s", ns * 4), *y = bin(dir, "y", ny * 4);
  int32_t *nb = bin(dir, "nb", (size_t)B * c.Kf * 4), *bidx = bin(dir, "bank_idx", (size_t)B * NB * c.Ks * 4);
  float   *bk = bin(dir, "bank_key", (size_t)M * c.Z * 4), *bv = bin(dir, "bank_val", (size_t)M * (c.Z + 2 * c.T) * 4);
  float   *out = bin(dir, "yhat", ny * 4), *grads = bin(dir, "grads", np * 4), *curve = bin(dir, "curve", 11 * 4);
  float   *dxf = bin(dir, "dxf", nxf * 4), *dxb = bin(dir, "dxb", nxb * 4), *ds = bin(dir, "ds", ns * 4);
  if (nfail > before) goto done;
  {
    ModelBatch b    = {.B        = B,
                       .R        = R,
                       .T        = T,
                       .NB       = NB,
                       .xf       = xf,
                       .age      = age,
                       .s        = s,
                       .xb       = xb,
                       .eb       = eb,
                       .blk      = blk,
                       .y        = y,
                       .nb       = nb,
                       .bank_key = bk,
                       .bank_val = bv,
                       .bank_idx = bidx,
                       .M        = M};
    float     *yhat = malloc(sizeof(float) * ny), *g = calloc(np, 4), *gxf = calloc(nxf, 4), *gxb = calloc(nxb, 4),
          *gs  = calloc(ns, 4);
    float *mom = calloc(np, 4), *vel = calloc(np, 4), *p = malloc(np * 4), lossc[11];
    double n, loss = model_forward(m, params, &b, yhat, &n);
    if (n != num(js, "n_observed")) {
      printf("FAIL %s: %.0f observed values, the reference has %.0f\n", cs, n, num(js, "n_observed"));
      nfail++;
    }
    loss /= n > 0 ? n : 1;
    compare(cs, "outputs", yhat, out, ny, 5e-6);
    if (!(fabs(loss - num(js, "loss")) <= 5e-6 * fabs(num(js, "loss")))) {
      printf("FAIL %s: loss %.9g, reference %.9g\n", cs, loss, num(js, "loss"));
      nfail++;
    }
    model_backward(m, params, g, &b, n, gxf, gxb, gs);
    for (int i = 0; i < model_ntensors(m); i++) {
      const ModelTensor *t = model_tensor(m, i);
      if (t->offset + (size_t)t->rows * t->cols <= np)
        compare(cs, t->name, g + t->offset, grads + t->offset, (size_t)t->rows * t->cols, 1e-4);
    }
    compare(cs, "dxf", gxf, dxf, nxf, 1e-4);
    compare(cs, "dxb", gxb, dxb, nxb, 1e-4);
    compare(cs, "ds", gs, ds, ns, 1e-4);
    /* 10 AdamW steps on this batch */
    memcpy(p, params, np * 4);
    for (int st = 0; st <= 10; st++) {
      double cnt;
      memset(g, 0, np * 4);
      lossc[st] = (float)(model_forward(m, p, &b, yhat, &cnt) / (cnt > 0 ? cnt : 1));
      if (st == 10) break;
      model_backward(m, p, g, &b, cnt, NULL, NULL, NULL);
      for (int i = 0; i < model_ntensors(m); i++) {
        const ModelTensor *t = model_tensor(m, i);
        adamw_step(p + t->offset, g + t->offset, mom + t->offset, vel + t->offset, (size_t)t->rows * t->cols, 1e-2f,
                   0.9f, 0.999f, 1e-8f, 1e-4f, t->decay, st + 1);
      }
    }
    for (int st = 0; st <= 10; st++)
      if (!(fabs(lossc[st] - curve[st]) <= 1e-4 * fabs(curve[st]))) {
        printf("FAIL %s: AdamW step %d loss %.7g, reference %.7g\n", cs, st, lossc[st], curve[st]);
        nfail++;
        break;
      }
    printf(
        "%s %-18s outputs, loss, %zu parameter gradients, input gradients, 10-step AdamW curve (final %.6f vs %.6f)\n",
        nfail > before ? "----" : "ok  ", cs, np, lossc[10], curve[10]);
    free(yhat), free(g), free(gxf), free(gxb), free(gs), free(mom), free(vel), free(p);
  }
done:
  free(params), free(xf), free(xb), free(age), free(blk), free(eb), free(s), free(y), free(nb), free(bidx), free(bk),
      free(bv), free(out), free(grads), free(curve), free(dxf), free(dxb), free(ds);
  model_destroy(&m);
  free(js);
}

int main(int argc, char **argv)
{
  const char    *root = argc > 1 ? argv[1] : "tests/data/golden";
  DIR           *d    = opendir(root);
  struct dirent *e;
  int            ncase = 0;
  if (!d) {
    printf("FAIL cannot open %s\n", root);
    return 1;
  }
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    run_case(root, e->d_name);
    ncase++;
  }
  closedir(d);
  if (ncase < 9) {
    printf("FAIL only %d golden cases\n", ncase);
    nfail++;
  }
  printf("test_golden: %d cases, %s\n", ncase, nfail ? "FAILED" : "ok");
  return nfail ? 1 : 0;
}
