/* checkpoint: the schema of a trained model, field by field (include/raci/checkpoint.h). */
#include <raci/checkpoint.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ encoding
 * Little-endian int64, float32 and float64; strings as an int64 length and
 * the bytes (no NUL). */

typedef struct {
  unsigned char *p;
  size_t         n, cap;
  int            oom;
} Buf;

static void put_bytes(Buf *b, const void *data, size_t n)
{
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t         cap = PetscMax(2 * b->cap, b->n + n + 64);
    unsigned char *p   = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p, b->cap = cap;
  }
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
}

static void put_u64(Buf *b, uint64_t v)
{
  unsigned char c[8];
  for (int i = 0; i < 8; i++) c[i] = (unsigned char)(v >> (8 * i));
  put_bytes(b, c, 8);
}

static void put_i64(Buf *b, int64_t v) { put_u64(b, (uint64_t)v); }

static void put_f64(Buf *b, double v)
{
  uint64_t u;
  memcpy(&u, &v, 8);
  put_u64(b, u);
}

static void put_f32(Buf *b, float v)
{
  uint32_t      u;
  unsigned char c[4];
  memcpy(&u, &v, 4);
  for (int i = 0; i < 4; i++) c[i] = (unsigned char)(u >> (8 * i));
  put_bytes(b, c, 4);
}

static void put_str(Buf *b, const char *s)
{
  size_t n = s ? strlen(s) : 0;
  put_i64(b, (int64_t)n);
  put_bytes(b, s, n);
}

static void put_f32s(Buf *b, const float *v, size_t n)
{
  for (size_t i = 0; i < n; i++) put_f32(b, v[i]);
}

/* A section being read: every getter checks the bounds; the first problem is
 * kept in why (and later values read as 0). */
typedef struct {
  const unsigned char *p;
  size_t               n, off;
  const char          *name;
  char                 why[256];
} Rd;

static int have(Rd *r, size_t n)
{
  if (r->why[0]) return 0;
  if (n > r->n - r->off) {
    snprintf(r->why, sizeof r->why, "section '%s' ends early (%zu bytes)", r->name, r->n);
    return 0;
  }
  return 1;
}

static uint64_t get_u64(Rd *r)
{
  uint64_t v = 0;
  if (!have(r, 8)) return 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[r->off + i] << (8 * i);
  r->off += 8;
  return v;
}

/* An integer in [lo, hi]; what names the field in the message. */
static int64_t get_int(Rd *r, const char *what, int64_t lo, int64_t hi)
{
  int64_t v = (int64_t)get_u64(r);
  if (!r->why[0] && (v < lo || v > hi)) {
    snprintf(r->why, sizeof r->why, "section '%s': %s is %lld, outside %lld..%lld", r->name, what, (long long)v,
             (long long)lo, (long long)hi);
    return 0;
  }
  return v;
}

/* A PetscInt option: recorded as int64, it must fit this build's PetscInt. */
static PetscInt get_pint(Rd *r, const char *opt) { return (PetscInt)get_int(r, opt, PETSC_MIN_INT, PETSC_MAX_INT); }

static double get_f64(Rd *r)
{
  uint64_t u = get_u64(r);
  double   v;
  memcpy(&v, &u, 8);
  return v;
}

static float get_f32(Rd *r)
{
  uint32_t u = 0;
  float    v;
  if (!have(r, 4)) return 0;
  for (int i = 0; i < 4; i++) u |= (uint32_t)r->p[r->off + i] << (8 * i);
  r->off += 4;
  memcpy(&v, &u, 4);
  return v;
}

static void get_f32s(Rd *r, float *v, size_t n)
{
  if (!have(r, 4 * n)) return;
  for (size_t i = 0; i < n; i++) v[i] = get_f32(r);
}

/* A string into buf (len bytes with the NUL); longer ones are an error. */
static void get_str(Rd *r, const char *what, char *buf, size_t len)
{
  int64_t n = get_int(r, what, 0, (int64_t)len - 1);
  buf[0]    = '\0';
  if (!have(r, (size_t)n)) return;
  memcpy(buf, r->p + r->off, (size_t)n);
  buf[n] = '\0';
  r->off += (size_t)n;
}

/* ------------------------------------------------------------ sections */

static const char *const kind_name[] = {"raci", "lstm", "ealstm", "transformer", "tcn"};

static void enc_format(Buf *b, int int_bytes)
{
  put_i64(b, CKPT_SCHEMA);
  put_i64(b, int_bytes);
  put_str(b, RACI_VERSION);
}

/* The model options prediction needs: architecture, flags, sizes, segment
 * and slow history, targets with their normalisation and loss weights. */
static void enc_model(Buf *b, const ModelConfig *c, const TrainOptions *to)
{
  const int v[] = {c->kind, c->no_retrieval, c->no_slow,     c->no_film, c->F,  c->S,  c->T,
                   c->W,    (int)to->Ls,     c->P,           c->Hf,      c->Hs, c->Hz, c->Z,
                   c->A,    c->Ks,           c->Kf,          c->Ho,      c->D,  c->NH, c->FF,
                   c->Sc,   c->Kt,           c->fast_static, c->head_x};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) put_i64(b, v[i]);
  put_str(b, to->model);
  for (int k = 0; k < c->T; k++) {
    put_str(b, c->target[k]);
    put_f32(b, c->mu[k]), put_f32(b, c->sigma[k]), put_f32(b, c->w[k]);
  }
}

static void dec_model(Rd *r, int schema, ModelConfig *c, TrainOptions *to)
{
  c->kind         = (ModelKind)get_int(r, "the model kind", MODEL_RACI, MODEL_TCN);
  c->no_retrieval = (int)get_int(r, "-raci_no_retrieval", 0, 1);
  c->no_slow      = (int)get_int(r, "-raci_no_slow", 0, 1);
  c->no_film      = (int)get_int(r, "-raci_no_film", 0, 1);
  c->F            = (int)get_int(r, "the fast feature count", 0, DATA_MAX_VARS);
  c->S            = (int)get_int(r, "the static feature count", 0, 1 << 20);
  c->T            = (int)get_int(r, "the target count", 0, MODEL_MAX_TARGETS);
  c->W            = (int)get_int(r, "-raci_warmup_days", 1, 3660);
  to->Ls          = (PetscInt)get_int(r, "-raci_slow_days", 1, 36600);
  c->P            = (int)get_int(r, "-raci_blocks", 1, 3660);
  c->Hf           = (int)get_int(r, "-raci_hidden", 1, 4096);
  c->Hs           = (int)get_int(r, "-raci_slow_hidden", 1, 4096);
  c->Hz           = (int)get_int(r, "the slow head size", 1, 4096);
  c->Z            = (int)get_int(r, "-raci_z", 1, 4096);
  c->A            = (int)get_int(r, "-raci_attn", 1, 4096);
  c->Ks           = (int)get_int(r, "-raci_ks", 1, 256);
  c->Kf           = (int)get_int(r, "-raci_kf", 1, 256);
  c->Ho           = (int)get_int(r, "-raci_head", 1, 4096);
  c->D            = (int)get_int(r, "the transformer width", 1, 4096);
  c->NH           = (int)get_int(r, "the transformer heads", 1, 4096);
  c->FF           = (int)get_int(r, "the transformer feed-forward size", 1, 1 << 16);
  c->Sc           = (int)get_int(r, "-raci_scored_days", 1, 3660);
  c->Kt           = (int)get_int(r, "-tcn_kernel", 2, 16);
  c->fast_static  = schema >= 4 ? (int)get_int(r, "-raci_fast_static", 0, 2) : 0;  /* schema 3: none */
  c->head_x       = schema >= 5 ? (int)get_int(r, "-raci_head_drivers", 0, 1) : 0; /* schema 3, 4: none */
  get_str(r, "the model name", to->model, sizeof to->model);
  for (int k = 0; k < c->T; k++) {
    get_str(r, "a target name", c->target[k], sizeof c->target[k]);
    c->mu[k] = get_f32(r), c->sigma[k] = get_f32(r), c->w[k] = get_f32(r);
  }
  if (!r->why[0] && strcmp(to->model, kind_name[c->kind]))
    snprintf(r->why, sizeof r->why, "section 'model': model '%s' of kind %d", to->model, (int)c->kind);
  to->no_retrieval = (PetscBool)c->no_retrieval, to->no_slow = (PetscBool)c->no_slow,
  to->no_film = (PetscBool)c->no_film, to->fast_static = (PetscBool)(c->fast_static == 1);
  to->fast_embed = (PetscBool)(c->fast_static == 2);
  to->head_x     = (PetscBool)c->head_x;
  if (!r->why[0] && to->Ls % c->P)
    snprintf(r->why, sizeof r->why, "section 'model': -raci_slow_days %d is not a multiple of -raci_blocks %d",
             (int)to->Ls, c->P);
  c->Lb = r->why[0] ? 1 : (int)(to->Ls / c->P);
  c->Lt = r->why[0] ? 1 : train_tcn_levels(c->Kt, c->W);
  to->W = c->W, to->Sc = c->Sc, to->Kt = c->Kt, to->P = c->P, to->Hf = c->Hf, to->Hs = c->Hs, to->Hz = c->Hz,
  to->Z = c->Z, to->A = c->A;
  to->Ks = c->Ks, to->Kf = c->Kf, to->Ho = c->Ho, to->D = c->D, to->NH = c->NH, to->FF = c->FF;
}

/* The optimiser and loop options (-quiet and -train_check_every are not recorded). */
static void enc_train_opts(Buf *b, const TrainOptions *to)
{
  const PetscInt v[] = {to->batch, to->steps,     to->epochs,     to->patience,   to->seed,
                        to->patch, to->bank_days, to->bank_every, to->val_stride, to->bank_max};
  put_f64(b, to->lr), put_f64(b, to->wd), put_f64(b, to->beta1), put_f64(b, to->beta2), put_f64(b, to->eps);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) put_i64(b, v[i]);
  put_f64(b, to->clip), put_i64(b, to->warmup);          /* schema 4 */
  put_f64(b, to->input_dropout), put_f64(b, to->radius); /* schema 5 */
  put_i64(b, PetscMax(to->ensemble, 1));                 /* schema 6 */
}

static void dec_train_opts(Rd *r, int schema, TrainOptions *to)
{
  to->lr            = get_f64(r);
  to->wd            = get_f64(r);
  to->beta1         = get_f64(r);
  to->beta2         = get_f64(r);
  to->eps           = get_f64(r);
  to->batch         = get_pint(r, "-train_batch");
  to->steps         = get_pint(r, "-train_steps");
  to->epochs        = get_pint(r, "-train_epochs");
  to->patience      = get_pint(r, "-train_patience");
  to->seed          = get_pint(r, "-train_seed");
  to->patch         = get_pint(r, "-train_patch");
  to->bank_days     = get_pint(r, "-train_bank_days");
  to->bank_every    = get_pint(r, "-train_bank_every");
  to->val_stride    = get_pint(r, "-train_val_stride");
  to->bank_max      = get_pint(r, "-train_bank_max");
  to->clip          = schema >= 4 ? get_f64(r) : 0; /* schema 3: neither */
  to->warmup        = schema >= 4 ? get_pint(r, "-train_warmup_steps") : 0;
  to->input_dropout = schema >= 5 ? get_f64(r) : 0;               /* schema 3, 4: none */
  to->radius        = schema >= 5 ? get_f64(r) : 0;               /* schema 3, 4: no site neighbours */
  to->ensemble      = schema >= 6 ? get_pint(r, "-ensemble") : 1; /* schema 3 to 5: one model */
  if (!r->why[0] && (to->ensemble < 1 || to->ensemble > TRAIN_MAX_MEMBERS))
    snprintf(r->why, sizeof r->why, "section 'train_opts': -ensemble %d outside 1..%d", (int)to->ensemble,
             TRAIN_MAX_MEMBERS);
}

static void enc_norm(Buf *b, const SampleNorm *nm)
{
  put_i64(b, DATA_MAX_VARS), put_i64(b, DATA_MAX_CATS);
  put_f32s(b, nm->fmean, DATA_MAX_VARS), put_f32s(b, nm->fstd, DATA_MAX_VARS);
  put_f32s(b, nm->smean, DATA_MAX_VARS), put_f32s(b, nm->sstd, DATA_MAX_VARS);
  for (int i = 0; i < DATA_MAX_VARS; i++) put_i64(b, nm->ncat[i]);
  for (int i = 0; i < DATA_MAX_VARS; i++) put_f32s(b, nm->cat[i], DATA_MAX_CATS);
  for (int i = 0; i < DATA_MAX_VARS; i++) /* schema 4: the classes seen in training */
    for (int j = 0; j < DATA_MAX_CATS; j++) put_i64(b, nm->seen[i][j]);
  put_i64(b, nm->nflag); /* schema 5: the inputs with an availability flag */
  for (int i = 0; i < nm->nflag; i++) put_i64(b, nm->flag[i]);
}

static void dec_norm(Rd *r, int schema, SampleNorm *nm)
{
  int nv = (int)get_int(r, "the variable count", 0, DATA_MAX_VARS),
      nc = (int)get_int(r, "the class count", 0, DATA_MAX_CATS);
  get_f32s(r, nm->fmean, nv), get_f32s(r, nm->fstd, nv), get_f32s(r, nm->smean, nv), get_f32s(r, nm->sstd, nv);
  for (int i = 0; i < nv; i++) nm->ncat[i] = (int)get_int(r, "a class count", 0, nc);
  for (int i = 0; i < nv; i++) get_f32s(r, nm->cat[i], (size_t)nc);
  for (int i = 0; i < nv; i++) /* schema 3: every class counted as seen */
    for (int j = 0; j < nc; j++)
      nm->seen[i][j] = schema >= 4 ? (unsigned char)get_int(r, "a seen-class flag", 0, 1) : 1;
  nm->nflag = schema >= 5 ? (int)get_int(r, "the availability flag count", 0, 2 * DATA_MAX_VARS) : 0;
  for (int i = 0; i < nm->nflag; i++) nm->flag[i] = (int)get_int(r, "an availability flag", 0, 2 * DATA_MAX_VARS - 1);
}

static void enc_state(Buf *b, const TrainState *st)
{
  put_i64(b, st->epoch), put_i64(b, st->step), put_i64(b, st->t), put_i64(b, st->bad), put_i64(b, st->finished);
  put_f64(b, st->best_val), put_f64(b, st->tl), put_f64(b, st->tc);
}

static void dec_state(Rd *r, TrainState *st)
{
  st->epoch    = (long)get_int(r, "the epoch", 0, LONG_MAX);
  st->step     = (long)get_int(r, "the step", 0, LONG_MAX);
  st->t        = (long)get_int(r, "the step count", 0, LONG_MAX);
  st->bad      = (long)get_int(r, "the epochs without improvement", 0, LONG_MAX);
  st->finished = (long)get_int(r, "the finished flag", 0, 1);
  st->best_val = get_f64(r), st->tl = get_f64(r), st->tc = get_f64(r);
}

/* An array: its length, then the values. */
static void enc_floats(Buf *b, const float *v, size_t n)
{
  put_i64(b, (int64_t)n);
  put_f32s(b, v, n);
}

static void dec_floats(Rd *r, float *v, size_t n)
{
  get_int(r, "the array length", (int64_t)n, (int64_t)n);
  get_f32s(r, v, n);
}

/* ------------------------------------------------------------ the section list */

typedef void (*EncFn)(Buf *, const Trained *, int);

static void e_format(Buf *b, const Trained *tr, int w) { enc_format(b, w); }
static void e_model(Buf *b, const Trained *tr, int w) { enc_model(b, &tr->cfg, &tr->to); }
static void e_roles(Buf *b, const Trained *tr, int w) { put_str(b, tr->roles); }
static void e_tatts(Buf *b, const Trained *tr, int w) { put_str(b, tr->tatts); }
static void e_units(Buf *b, const Trained *tr, int w) { put_str(b, tr->units); }
static void e_norm(Buf *b, const Trained *tr, int w) { enc_norm(b, &tr->norm); }
static void e_opts(Buf *b, const Trained *tr, int w) { enc_train_opts(b, &tr->to); }
static void e_state(Buf *b, const Trained *tr, int w) { enc_state(b, &tr->st); }
static void e_params(Buf *b, const Trained *tr, int w) { enc_floats(b, tr->st.params, tr->st.np); }
static void e_best(Buf *b, const Trained *tr, int w) { enc_floats(b, tr->st.best, tr->st.np); }
static void e_adam_m(Buf *b, const Trained *tr, int w) { enc_floats(b, tr->st.mom, tr->st.np); }
static void e_adam_v(Buf *b, const Trained *tr, int w) { enc_floats(b, tr->st.vel, tr->st.np); }

static void enc_bank_key(Buf *b, const Bank *bk)
{
  put_i64(b, bk->M), put_i64(b, bk->Z);
  put_f32s(b, bk->key, (size_t)bk->M * bk->Z);
}

static void enc_bank_val(Buf *b, const Bank *bk)
{
  put_i64(b, bk->M), put_i64(b, bk->V);
  put_f32s(b, bk->val, (size_t)bk->M * bk->V);
}

static void enc_bank_owner(Buf *b, const Bank *bk)
{
  put_i64(b, bk->M);
  for (int i = 0; i < bk->M; i++) put_i64(b, bk->owner[i]);
}

static void enc_bank_lkey(Buf *b, const Bank *bk)
{
  put_i64(b, bk->M);
  for (int i = 0; i < bk->M; i++) put_i64(b, bk->lkey[i]);
}

static void e_bank_key(Buf *b, const Trained *tr, int w) { enc_bank_key(b, &tr->st.bank); }
static void e_bank_val(Buf *b, const Trained *tr, int w) { enc_bank_val(b, &tr->st.bank); }
static void e_bank_owner(Buf *b, const Trained *tr, int w) { enc_bank_owner(b, &tr->st.bank); }
static void e_bank_lkey(Buf *b, const Trained *tr, int w) { enc_bank_lkey(b, &tr->st.bank); }

/* members asked, members finished, and each finished member's run */
static void e_ensemble(Buf *b, const Trained *tr, int w)
{
  put_i64(b, PetscMax(tr->nens, 1)), put_i64(b, tr->ndone);
  for (int k = 0; k < tr->ndone; k++) {
    put_i64(b, tr->mem[k].epochs), put_i64(b, tr->mem[k].steps);
    put_f64(b, tr->mem[k].best_val);
  }
  for (int t = 0; t < tr->cfg.T; t++) put_f64(b, tr->sres[t]);
}

static void e_history(Buf *b, const Trained *tr, int w)
{
  char hist[4096];
  if (core_history_line(hist, sizeof hist)) hist[0] = '\0';
  put_str(b, hist);
}

static const struct {
  const char *name;
  EncFn       enc;
} sections[] = {
    {"format", e_format},     {"model", e_model},       {"roles", e_roles},           {"target_atts", e_tatts},
    {"input_units", e_units}, {"norm", e_norm},         {"train_opts", e_opts},       {"state", e_state},
    {"params", e_params},     {"best", e_best},         {"adam_m", e_adam_m},         {"adam_v", e_adam_v},
    {"bank_key", e_bank_key}, {"bank_val", e_bank_val}, {"bank_owner", e_bank_owner}, {"bank_lkey", e_bank_lkey},
    {"history", e_history},   {"ensemble", e_ensemble},
};
#define NSECTIONS ((int)(sizeof sections / sizeof sections[0]))

/* The sections of finished member k, named mK.<part>. */
static const char *const member_part[] = {"params", "bank_key", "bank_val", "bank_owner", "bank_lkey"};
#define NMEMBER_PARTS 5

static void enc_member(Buf *b, const Trained *tr, int k, int part)
{
  const Member *mb = &tr->mem[k];
  switch (part) {
  case 0:
    enc_floats(b, mb->params, tr->st.np);
    break;
  case 1:
    enc_bank_key(b, &mb->bank);
    break;
  case 2:
    enc_bank_val(b, &mb->bank);
    break;
  case 3:
    enc_bank_owner(b, &mb->bank);
    break;
  default:
    enc_bank_lkey(b, &mb->bank);
    break;
  }
}

PetscErrorCode ckpt_encode(const Trained *tr, int int_bytes, IoSection **out, int *nout)
{
  IoSection *sec;
  int        n = NSECTIONS + NMEMBER_PARTS * tr->ndone;

  PetscFunctionBeginUser;
  PetscCheck(tr->ndone >= 0 && tr->ndone < PetscMax(tr->nens, 1) && tr->ndone < TRAIN_MAX_MEMBERS, PETSC_COMM_SELF,
             PETSC_ERR_PLIB, "checkpoint of %d finished members out of %d", tr->ndone, tr->nens);
  PetscCall(PetscCalloc1(n, &sec));
  for (int i = 0; i < n; i++) {
    Buf b = {NULL, 0, 0, 0};
    if (i < NSECTIONS) {
      sections[i].enc(&b, tr, int_bytes);
      PetscCall(PetscStrncpy(sec[i].name, sections[i].name, sizeof sec[i].name));
    } else {
      int k = (i - NSECTIONS) / NMEMBER_PARTS, part = (i - NSECTIONS) % NMEMBER_PARTS;
      enc_member(&b, tr, k, part);
      snprintf(sec[i].name, sizeof sec[i].name, "m%d.%s", k % 100, member_part[part]); /* k < 64 */
    }
    sec[i].data = b.p, sec[i].bytes = b.n;
    if (b.oom) {
      PetscCall(ckpt_sections_free(&sec, n));
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_MEM, "no memory to encode checkpoint section %d", i);
    }
  }
  *out = sec, *nout = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ckpt_sections_free(IoSection **sec, int n)
{
  PetscFunctionBeginUser;
  if (!*sec) PetscFunctionReturn(PETSC_SUCCESS);
  for (int i = 0; i < n; i++) free((*sec)[i].data);
  PetscCall(PetscFree(*sec));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ckpt_save(MPI_Comm comm, const char *path, const Trained *tr)
{
  IoSection  *sec = NULL;
  int         n   = 0;
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) PetscCall(ckpt_encode(tr, (int)sizeof(PetscInt), &sec, &n)); /* only rank 0 writes */
  PetscCall(io_ckpt_write(comm, path, sec, n));
  PetscCall(ckpt_sections_free(&sec, n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ------------------------------------------------------------ reading */

static const IoSection *section(const IoSection *sec, int n, const char *name)
{
  for (int i = 0; i < n; i++)
    if (!strcmp(sec[i].name, name)) return &sec[i];
  return NULL;
}

/* A reader over the named section, or an error naming the file and the section. */
static PetscErrorCode reader(MPI_Comm comm, const char *path, const IoSection *sec, int n, const char *name, Rd *r)
{
  const IoSection *s = section(sec, n, name);

  PetscFunctionBeginUser;
  PetscCheck(s, comm, RACI_ERR_READ, "checkpoint '%s' has no section '%s'", path, name);
  *r = (Rd){s->data, s->bytes, 0, s->name, ""};
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The section was read to its end without a problem. */
static PetscErrorCode done(MPI_Comm comm, const char *path, Rd *r)
{
  PetscFunctionBeginUser;
  if (!r->why[0] && r->off != r->n)
    snprintf(r->why, sizeof r->why, "section '%s' has %zu bytes, %zu expected", r->name, r->n, r->off);
  PetscCheck(!r->why[0], comm, RACI_ERR_READ, "checkpoint '%s' is invalid: %s", path, r->why);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Whether the writer's command line (section history) used -raci_fast_days,
 * the fast window of the windowed model. */
static PetscBool windowed_history(const IoSection *sec, int n)
{
  const IoSection *h   = section(sec, n, "history");
  const char      *opt = "-raci_fast_days";
  size_t           k   = strlen(opt);
  if (!h) return PETSC_FALSE;
  for (size_t i = 8; i + k <= h->bytes; i++) /* past the string's length */
    if (!memcmp((const char *)h->data + i, opt, k)) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* The bank of sections <prefix>bank_* (prefix "" for the state's, "mK." for member K's). */
static PetscErrorCode dec_bank(MPI_Comm comm, const char *path, const IoSection *sec, int n, const char *prefix,
                               const ModelConfig *cfg, Bank *bk)
{
  Rd   r;
  char name[4][40];

  PetscFunctionBeginUser;
  for (int i = 0; i < 4; i++) snprintf(name[i], sizeof name[i], "%s%s", prefix, member_part[1 + i]);
  bk->Z = cfg->Z, bk->V = cfg->Z + 2 * cfg->T;
  PetscCall(reader(comm, path, sec, n, name[2], &r)); /* bank_owner: the size */
  bk->M = (int)get_int(&r, "the bank size", 0, ((int64_t)r.n - 8) / 8);
  PetscCall(PetscMalloc4((size_t)bk->M * bk->Z + 1, &bk->key, (size_t)bk->M * bk->V + 1, &bk->val, bk->M + 1,
                         &bk->owner, bk->M + 1, &bk->lkey));
  for (int i = 0; i < bk->M; i++) bk->owner[i] = (int32_t)get_int(&r, "a bank owner", 0, INT32_MAX);
  PetscCall(done(comm, path, &r));
  PetscCall(reader(comm, path, sec, n, name[3], &r));
  get_int(&r, "the bank size", bk->M, bk->M);
  for (int i = 0; i < bk->M; i++) bk->lkey[i] = (int64_t)get_u64(&r);
  PetscCall(done(comm, path, &r));
  PetscCall(reader(comm, path, sec, n, name[0], &r));
  get_int(&r, "the bank size", bk->M, bk->M), get_int(&r, "the bank key size", bk->Z, bk->Z);
  get_f32s(&r, bk->key, (size_t)bk->M * bk->Z);
  PetscCall(done(comm, path, &r));
  PetscCall(reader(comm, path, sec, n, name[1], &r));
  get_int(&r, "the bank size", bk->M, bk->M), get_int(&r, "the bank value size", bk->V, bk->V);
  get_f32s(&r, bk->val, (size_t)bk->M * bk->V);
  PetscCall(done(comm, path, &r));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ckpt_decode(MPI_Comm comm, const char *path, const IoSection *sec, int n, Trained *tr)
{
  Rd     r;
  char   version[64];
  int    schema;
  size_t lens[3], total = 0;
  Model *m;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(tr, sizeof *tr));
  PetscCheck(section(sec, n, "format"), comm, RACI_ERR_INPUT,
             "checkpoint '%s' was written by an older raci (checkpoint schema 1); train the model again with this one",
             path);
  PetscCall(reader(comm, path, sec, n, "format", &r));
  schema = (int)get_int(&r, "the schema version", 1, INT_MAX);
  PetscCheck(
      r.why[0] || (schema != 2 && !windowed_history(sec, n)), comm, RACI_ERR_INPUT,
      "%s: a checkpoint of the windowed model (schema 2, raci before the segment form); retrain it with this raci",
      path);
  PetscCheck(r.why[0] || (schema >= 3 && schema <= CKPT_SCHEMA), comm, RACI_ERR_INPUT,
             "checkpoint '%s' has schema %d: written by %s raci; this one reads schemas 3 to %d", path, schema,
             schema < CKPT_SCHEMA ? "an older" : "a newer", CKPT_SCHEMA);
  tr->int_bytes = (int)get_int(&r, "the writer's PetscInt width", 4, 8);
  if (!r.why[0] && tr->int_bytes != 4 && tr->int_bytes != 8)
    snprintf(r.why, sizeof r.why, "section 'format': the writer's PetscInt width is %d bytes, not 4 or 8",
             tr->int_bytes);
  get_str(&r, "the raci version", version, sizeof version);
  PetscCall(done(comm, path, &r));

  PetscCall(reader(comm, path, sec, n, "model", &r));
  dec_model(&r, schema, &tr->cfg, &tr->to);
  PetscCall(done(comm, path, &r));
  PetscCall(reader(comm, path, sec, n, "train_opts", &r));
  dec_train_opts(&r, schema, &tr->to);
  PetscCall(done(comm, path, &r));
  PetscCall(reader(comm, path, sec, n, "norm", &r));
  dec_norm(&r, schema, &tr->norm);
  PetscCall(done(comm, path, &r));

  /* the three texts in one allocation */
  {
    const char  *tn[3]  = {"roles", "target_atts", "input_units"};
    const char **dst[3] = {&tr->roles, &tr->tatts, &tr->units};
    for (int i = 0; i < 3; i++) {
      PetscCall(reader(comm, path, sec, n, tn[i], &r));
      lens[i] = (size_t)get_int(&r, "the text length", 0, (int64_t)r.n - 8);
      r.off += lens[i];
      PetscCall(done(comm, path, &r));
      total += lens[i] + 1;
    }
    PetscCall(PetscMalloc1(total, &tr->text));
    total = 0;
    for (int i = 0; i < 3; i++) {
      memcpy(tr->text + total, (const char *)section(sec, n, tn[i])->data + 8, lens[i]);
      tr->text[total + lens[i]] = '\0';
      *dst[i]                   = tr->text + total;
      total += lens[i] + 1;
    }
  }

  /* the parameter count follows from the configuration */
  PetscCheck(!model_create(&tr->cfg, 1, 1, &m), comm, RACI_ERR_INPUT,
             "checkpoint '%s' holds a model configuration raci cannot build", path);
  tr->st.np = model_nparams(m);
  model_destroy(&m);
  PetscCall(
      PetscCalloc4(tr->st.np, &tr->st.params, tr->st.np, &tr->st.mom, tr->st.np, &tr->st.vel, tr->st.np, &tr->st.best));
  PetscCall(reader(comm, path, sec, n, "state", &r));
  dec_state(&r, &tr->st);
  PetscCall(done(comm, path, &r));
  {
    const char *an[4]  = {"params", "best", "adam_m", "adam_v"};
    float      *dst[4] = {tr->st.params, tr->st.best, tr->st.mom, tr->st.vel};
    for (int i = 0; i < 4; i++) {
      PetscCall(reader(comm, path, sec, n, an[i], &r));
      dec_floats(&r, dst[i], tr->st.np);
      PetscCall(done(comm, path, &r));
    }
  }

  PetscCall(dec_bank(comm, path, sec, n, "", &tr->cfg, &tr->st.bank));

  /* the ensemble: members asked and finished (schema 6; before, one model) */
  tr->nens = 1, tr->ndone = 0;
  if (schema >= 6) {
    PetscCall(reader(comm, path, sec, n, "ensemble", &r));
    tr->nens  = (int)get_int(&r, "the member count", 1, TRAIN_MAX_MEMBERS);
    tr->ndone = (int)get_int(&r, "the finished member count", 0, PetscMax(tr->nens - 1, 0));
    if (!r.why[0] && tr->nens != (int)tr->to.ensemble && !(tr->nens == 1 && tr->to.ensemble <= 1))
      snprintf(r.why, sizeof r.why, "section 'ensemble': %d members, -ensemble %d", tr->nens, (int)tr->to.ensemble);
    PetscCall(PetscCalloc1(tr->ndone + 1, &tr->mem));
    for (int k = 0; k < tr->ndone; k++) {
      tr->mem[k].epochs   = (long)get_int(&r, "a member's epochs", 0, LONG_MAX);
      tr->mem[k].steps    = (long)get_int(&r, "a member's steps", 0, LONG_MAX);
      tr->mem[k].best_val = get_f64(&r);
    }
    for (int t = 0; t < tr->cfg.T; t++) {
      tr->sres[t] = get_f64(&r);
      if (!r.why[0] && !(tr->sres[t] >= 0 && isfinite(tr->sres[t])))
        snprintf(r.why, sizeof r.why, "section 'ensemble': residual spread of %s is %g", tr->cfg.target[t],
                 tr->sres[t]);
    }
    PetscCall(done(comm, path, &r));
  }
  for (int k = 0; k < tr->ndone; k++) {
    char name[32];
    snprintf(name, sizeof name, "m%d.params", k % 100);
    PetscCall(PetscMalloc1(tr->st.np + 1, &tr->mem[k].params));
    PetscCall(reader(comm, path, sec, n, name, &r));
    dec_floats(&r, tr->mem[k].params, tr->st.np);
    PetscCall(done(comm, path, &r));
    snprintf(name, sizeof name, "m%d.", k % 100);
    PetscCall(dec_bank(comm, path, sec, n, name, &tr->cfg, &tr->mem[k].bank));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ckpt_load(MPI_Comm comm, const char *path, Trained *tr)
{
  IoSection *sec;
  int        n;

  PetscFunctionBeginUser;
  PetscCall(io_ckpt_read(comm, path, &sec, &n));
  PetscCall(ckpt_decode(comm, path, sec, n, tr));
  PetscCall(io_ckpt_free(&sec, n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ckpt_free(Trained *tr)
{
  PetscFunctionBeginUser;
  for (int k = 0; tr->mem && k < tr->ndone; k++) PetscCall(train_member_free(&tr->mem[k]));
  PetscCall(PetscFree(tr->mem));
  tr->ndone = 0;
  if (tr->st.params)
    PetscCall(train_state_destroy(&tr->st));
  else
    PetscCall(train_bank_free(&tr->st.bank));
  PetscCall(PetscFree(tr->text));
  tr->roles = tr->tatts = tr->units = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ------------------------------------------------------------ comparisons
 * The first field that differs, as "OPTION A there, B here", into why. */

#define DIFF(opt, a, b)                                                                                                \
  do {                                                                                                                 \
    if (!why[0] && (a) != (b)) snprintf(why, len, "%s %.10g there, %.10g here", opt, (double)(a), (double)(b));        \
  } while (0)

static void network_diff(const ModelConfig *a, const ModelConfig *b, PetscBool norm, char *why, size_t len)
{
  if (a->kind != b->kind) snprintf(why, len, "-model %s there, %s here", kind_name[a->kind], kind_name[b->kind]);
  DIFF("-raci_no_retrieval", a->no_retrieval, b->no_retrieval);
  DIFF("-raci_no_slow", a->no_slow, b->no_slow);
  DIFF("-raci_no_film", a->no_film, b->no_film);
  DIFF("statics in the fast encoder (1 -raci_fast_static, 2 -raci_fast_embed)", a->fast_static, b->fast_static);
  DIFF("-raci_head_drivers", a->head_x, b->head_x);
  DIFF("fast features", a->F, b->F);
  DIFF("static features", a->S, b->S);
  DIFF("targets", a->T, b->T);
  DIFF("-raci_warmup_days", a->W, b->W);
  DIFF("-raci_scored_days", a->Sc, b->Sc);
  DIFF("-tcn_kernel", a->Kt, b->Kt);
  DIFF("-raci_blocks", a->P, b->P);
  DIFF("-raci_hidden", a->Hf, b->Hf);
  DIFF("-raci_slow_hidden", a->Hs, b->Hs);
  DIFF("slow head size", a->Hz, b->Hz);
  DIFF("-raci_z", a->Z, b->Z);
  DIFF("-raci_attn", a->A, b->A);
  DIFF("-raci_ks", a->Ks, b->Ks);
  DIFF("-raci_kf", a->Kf, b->Kf);
  DIFF("-raci_head", a->Ho, b->Ho);
  DIFF("transformer width", a->D, b->D);
  DIFF("transformer heads", a->NH, b->NH);
  DIFF("transformer feed-forward size", a->FF, b->FF);
  for (int k = 0; k < a->T && k < b->T && !why[0]; k++) {
    char what[64];
    if (strcmp(a->target[k], b->target[k]))
      snprintf(why, len, "target %d %s there, %s here", k + 1, a->target[k], b->target[k]);
    snprintf(what, sizeof what, "loss weight of %s", a->target[k]);
    DIFF(what, a->w[k], b->w[k]);
    if (!norm) continue;
    snprintf(what, sizeof what, "normalisation mean of %s", a->target[k]);
    DIFF(what, a->mu[k], b->mu[k]);
    snprintf(what, sizeof what, "normalisation sd of %s", a->target[k]);
    DIFF(what, a->sigma[k], b->sigma[k]);
  }
}

static void options_diff(const TrainOptions *a, const TrainOptions *b, char *why, size_t len)
{
  if (strcmp(a->model, b->model)) snprintf(why, len, "-model %s there, %s here", a->model, b->model);
  DIFF("-raci_slow_days", a->Ls, b->Ls);
  DIFF("-train_lr", a->lr, b->lr);
  DIFF("-train_wd", a->wd, b->wd);
  DIFF("-train_clip", a->clip, b->clip);
  DIFF("-train_warmup_steps", a->warmup, b->warmup);
  DIFF("-train_input_dropout", a->input_dropout, b->input_dropout);
  DIFF("-retrieval_radius", a->radius, b->radius);
  DIFF("-train_beta1", a->beta1, b->beta1);
  DIFF("-train_beta2", a->beta2, b->beta2);
  DIFF("-train_eps", a->eps, b->eps);
  DIFF("-train_batch", a->batch, b->batch);
  DIFF("-train_steps", a->steps, b->steps);
  DIFF("-train_patience", a->patience, b->patience);
  DIFF("-train_seed", a->seed, b->seed);
  DIFF("-train_patch", a->patch, b->patch);
  DIFF("-train_bank_days", a->bank_days, b->bank_days);
  DIFF("-train_bank_every", a->bank_every, b->bank_every);
  DIFF("-train_val_stride", a->val_stride, b->val_stride);
  DIFF("-train_bank_max", a->bank_max, b->bank_max);
  DIFF("-ensemble", a->ensemble, b->ensemble);
}

PetscErrorCode ckpt_check_resume(MPI_Comm comm, const char *path, const Trained *tr, const char *roles,
                                 const ModelConfig *cfg, const TrainOptions *to)
{
  char why[256] = "";

  PetscFunctionBeginUser;
  PetscCheck(!strcmp(tr->roles, roles), comm, RACI_ERR_INPUT,
             "checkpoint '%s' was trained on other variables (%s) than these (%s)", path, tr->roles, roles);
  network_diff(&tr->cfg, cfg, PETSC_TRUE, why, sizeof why);
  PetscCheck(
      !why[0], comm, RACI_ERR_INPUT,
      "checkpoint '%s' is from a different model configuration (%s); resume with the options of the run that wrote it",
      path, why);
  options_diff(&tr->to, to, why, sizeof why);
  PetscCheck(!why[0], comm, RACI_ERR_INPUT,
             "checkpoint '%s' was written with other training options (%s; only -train_epochs, -train_check_every and "
             "-quiet may change on -resume)",
             path, why);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ckpt_check_init(MPI_Comm comm, const char *path, const Trained *tr, const char *roles,
                               const ModelConfig *cfg, const TrainOptions *to)
{
  char why[256] = "";

  PetscFunctionBeginUser;
  (void)to;
  PetscCheck(
      !strcmp(tr->roles, roles), comm, RACI_ERR_INPUT,
      "-init_from '%s' was trained on other variables (%s) than these (%s); give both runs the same -fast, -slow "
      "and -target",
      path, tr->roles, roles);
  network_diff(&tr->cfg, cfg, PETSC_FALSE, why, sizeof why); /* the normalisation is the data's own */
  PetscCheck(!why[0], comm, RACI_ERR_INPUT,
             "-init_from '%s' is a different network (%s); use the model options of the run that wrote it", path, why);
  PetscFunctionReturn(PETSC_SUCCESS);
}
