/* The C networks against the PyTorch reference (tools/reference/): for every
 * case in tests/data/golden, the same parameters and batch must give the same
 * outputs and loss (5e-6 relative), the same gradients of every parameter and
 * of xf, xb and s (1e-4 of the tensor's largest gradient), the same parameter
 * layout, and the same 10-step AdamW loss curve (1e-4 relative).
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
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
  for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - want[i]));
  if (worst > rtol_of_max * fmax(mx, 1e-3)) {
    printf("FAIL %-18s %-12s max difference %.3g (largest value %.3g)\n", cs, what, worst, mx);
    nfail++;
  } else if (getenv("GOLDEN_VERBOSE"))
    printf("ok   %-18s %-12s max difference %.3g (largest value %.3g)\n", cs, what, worst, mx);
}

static void run_case(const char *root, const char *cs)
{
  char        dir[1024], path[1100], tnames[MODEL_MAX_TARGETS][16];
  char       *js;
  double      d[16];
  ModelConfig c = {0};
  Model      *m;
  int         Q, R, M;
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
                                                                                 : MODEL_RACI;
  }
  c.no_retrieval = strstr(js, "\"no_retrieval\": true") != NULL;
  c.no_slow      = strstr(js, "\"no_slow\": true") != NULL;
  c.no_film      = strstr(js, "\"no_film\": true") != NULL;
  c.Lf = (int)num(js, "L_f"), c.P = (int)num(js, "P"), c.F = (int)num(js, "F"), c.S = (int)num(js, "S"),
  c.T  = (int)num(js, "T");
  c.Hf = (int)num(js, "H_f"), c.Hs = (int)num(js, "H_s"), c.Hz = (int)num(js, "H_z"), c.Z = (int)num(js, "Z"),
  c.A  = (int)num(js, "A");
  c.Ks = (int)num(js, "K_s"), c.Kf = (int)num(js, "K_f"), c.Ho = (int)num(js, "H_o"), c.D = (int)num(js, "D"),
  c.NH = (int)num(js, "n_heads"), c.FF = (int)num(js, "FF");
  Q = (int)num(js, "Q"), R = (int)num(js, "R"), M = (int)num(js, "M");
  strs(js, "targets", tnames, MODEL_MAX_TARGETS);
  for (int k = 0; k < c.T; k++) strcpy(c.target[k], tnames[k]);
  nums(js, "target_mean", d, 16);
  for (int k = 0; k < c.T; k++) c.mu[k] = (float)d[k];
  nums(js, "target_std", d, 16);
  for (int k = 0; k < c.T; k++) c.sigma[k] = (float)d[k];
  nums(js, "weights", d, 16);
  for (int k = 0; k < c.T; k++) c.w[k] = (float)d[k];
  if (model_create(&c, Q, R, &m)) {
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
  for (int i = 0; i < model_ntensors(m); i++) { /* same names and offsets, in order */
    const ModelTensor *t = model_tensor(m, i);
    char               pat[128];
    snprintf(pat, sizeof pat, "{\"name\": \"%s\", \"shape\": [%d%s", t->name, t->rows, t->cols > 1 ? "," : "]");
    const char *p = strstr(js, pat);
    if (!p || (size_t)strtod(strstr(p, "\"offset\":") + 9, NULL) != t->offset) {
      printf("FAIL %s: tensor %s (%d x %d at %zu) not in the reference layout\n", cs, t->name, t->rows, t->cols,
             t->offset);
      nfail++;
    }
  }
  float *params = bin(dir, "params", np * 4), *xf = bin(dir, "xf", (size_t)c.Lf * R * c.F * 4),
        *xb   = bin(dir, "xb", (size_t)c.P * Q * c.F * 4);
  uint8_t *eb = bin(dir, "eb", (size_t)Q * c.P);
  float   *s = bin(dir, "s", (size_t)Q * c.S * 4), *y = bin(dir, "y", (size_t)Q * c.T * 4);
  int32_t *nb = bin(dir, "nb", (size_t)Q * c.Kf * 4), *bidx = bin(dir, "bank_idx", (size_t)Q * c.Ks * 4);
  float   *bk = bin(dir, "bank_key", (size_t)M * c.Z * 4), *bv = bin(dir, "bank_val", (size_t)M * (c.Z + 2 * c.T) * 4);
  float   *out = bin(dir, "out", (size_t)Q * c.T * 4), *grads = bin(dir, "grads", np * 4),
        *curve = bin(dir, "curve", 11 * 4);
  float *dxf = bin(dir, "dxf", (size_t)c.Lf * R * c.F * 4), *dxb = bin(dir, "dxb", (size_t)c.P * Q * c.F * 4),
        *ds = bin(dir, "ds", (size_t)Q * c.S * 4);
  if (nfail > before) goto done;
  {
    ModelBatch b    = {.Q        = Q,
                       .R        = R,
                       .xf       = xf,
                       .xb       = xb,
                       .eb       = eb,
                       .s        = s,
                       .y        = y,
                       .nb       = nb,
                       .bank_key = bk,
                       .bank_val = bv,
                       .bank_idx = bidx,
                       .M        = M};
    float     *yhat = malloc(sizeof(float) * Q * c.T), *g = calloc(np, 4), *gxf = calloc((size_t)c.Lf * R * c.F, 4),
          *gxb = calloc((size_t)c.P * Q * c.F, 4), *gs = calloc((size_t)Q * c.S, 4);
    float *mom = calloc(np, 4), *vel = calloc(np, 4), *p = malloc(np * 4), lossc[11];
    double n, loss = model_forward(m, params, &b, yhat, &n) / 1.0;
    loss /= n;
    compare(cs, "outputs", yhat, out, (size_t)Q * c.T, 5e-6);
    if (fabs(loss - num(js, "loss")) > 5e-6 * fabs(num(js, "loss"))) {
      printf("FAIL %s: loss %.9g, reference %.9g\n", cs, loss, num(js, "loss"));
      nfail++;
    }
    model_backward(m, params, g, &b, n, gxf, gxb, gs);
    for (int i = 0; i < model_ntensors(m); i++) {
      const ModelTensor *t = model_tensor(m, i);
      compare(cs, t->name, g + t->offset, grads + t->offset, (size_t)t->rows * t->cols, 1e-4);
    }
    compare(cs, "dxf", gxf, dxf, (size_t)c.Lf * R * c.F, 1e-4);
    compare(cs, "dxb", gxb, dxb, (size_t)c.P * Q * c.F, 1e-4);
    compare(cs, "ds", gs, ds, (size_t)Q * c.S, 1e-4);
    /* 10 AdamW steps on this batch */
    memcpy(p, params, np * 4);
    for (int st = 0; st <= 10; st++) {
      double cnt;
      memset(g, 0, np * 4);
      lossc[st] = (float)(model_forward(m, p, &b, yhat, &cnt) / cnt);
      if (st == 10) break;
      model_backward(m, p, g, &b, cnt, NULL, NULL, NULL);
      for (int i = 0; i < model_ntensors(m); i++) {
        const ModelTensor *t = model_tensor(m, i);
        adamw_step(p + t->offset, g + t->offset, mom + t->offset, vel + t->offset, (size_t)t->rows * t->cols, 1e-2f,
                   0.9f, 0.999f, 1e-8f, 1e-4f, t->decay, st + 1);
      }
    }
    for (int st = 0; st <= 10; st++)
      if (fabs(lossc[st] - curve[st]) > 1e-4 * fabs(curve[st])) {
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
  free(params), free(xf), free(xb), free(eb), free(s), free(y), free(nb), free(bidx), free(bk), free(bv), free(out),
      free(grads), free(curve), free(dxf), free(dxb), free(ds);
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
  if (ncase < 8) {
    printf("FAIL only %d golden cases\n", ncase);
    nfail++;
  }
  printf("test_golden: %d cases, %s\n", ncase, nfail ? "FAILED" : "ok");
  return nfail ? 1 : 0;
}
