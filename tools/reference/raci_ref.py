"""PyTorch reference of raci's networks in the segment form, as docs/MODEL.md defines them.

A sample is a segment: T = W + S_c consecutive days of one location, W warm-up days then S_c
scored days. One batch of B segments in the layout of MODEL.md section 6 (time-major):

    xf        (T, R, F)        float   rows 0..B-1 are the query segments, rows B..R-1 neighbour segments
    age       (T, R)           int32   days of unbroken drivers before day t; 0 restarts the state, -1 missing day
    s         (R, S)           float   statics of every row
    xb        (P, B*NB, F)     float   block summaries before each (segment, block slot); empty ones hold zeros
    eb        (B*NB, P)        uint8   1 for an empty block
    blk       (B, S_c)         int32   block slot 0..NB-1 of each scored day
    y         (S_c, B, T_g)    float   targets in physical units, NaN where not observed or not scored
    nb        (B, K_f)         int32   row of xf, -1 for none
    bank_key  (M, Z)           float   (not read by the network; it chose bank_idx)
    bank_val  (M, Z + 2T_g)    float   [k_j, ybar_j, sigma_j]
    bank_idx  (B*NB, K_s)      int32   bank entry, -1 for none

Outputs yhat (S_c, B, T_g), physical units. Row b*NB + j of xb, eb, bank_idx is slot j of
segment b. Parameters are one flat vector in the order of MODEL.md section 5 (`param_spec`,
`unflatten`, `flatten`); every layer is written out (linear y = x W^T + b with W (out, in);
GRU/LSTM with torch.nn.GRU/LSTM's gate order and shapes) so the C code can be compared with it
tensor by tensor. Everything works in float32 or float64 (the dtype of the parameters and of
the batch).

A recurrent state restarts where age <= 0: the state entering that step of that row is 0 and
no gradient flows back through it (torch.where with a zero constant).

Models: "raci" (flags no_retrieval, no_slow, no_film), "lstm", "ealstm", "transformer",
"tcn"; the variant names "raci_no_retrieval", "raci_no_slow", "raci_no_film" are accepted by
`parse_variant`.
"""
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as Fn

# Target names with a process-informed output (exact, case-sensitive match).
GPP, RECO, NEE = "GPP", "RECO", "NEE"

MODELS = ("raci", "lstm", "ealstm", "transformer", "tcn")
VARIANTS = ("raci", "raci_no_retrieval", "raci_no_slow", "raci_no_film", "lstm", "ealstm", "transformer", "tcn")
FLAGS = ("no_retrieval", "no_slow", "no_film")

LN_EPS = 1e-5  # layer norm epsilon (PyTorch's default)


# ------------------------------------------------------------------ layout
def parse_variant(variant):
    """'raci_no_slow' -> ('raci', {'no_retrieval': False, 'no_slow': True, 'no_film': False})."""
    flags = dict.fromkeys(FLAGS, False)
    if variant in MODELS:
        return variant, flags
    for f in FLAGS:
        if variant == "raci_" + f:
            flags[f] = True
            return "raci", flags
    raise ValueError("unknown model variant %r" % variant)


def output_layout(targets):
    """How each target is produced from the head outputs a (..., T_h).

    Returns (kinds, heads, T_h): kinds[k] is 'softplus' (GPP, RECO:
    sigma_k * softplus(a)), 'derived' (NEE when GPP and RECO are also targets:
    RECO - GPP, no head) or 'free' (mu_k + sigma_k * a); heads[k] is the
    column of a for target k (-1 for 'derived'). Heads are numbered in target
    order, skipping the derived NEE."""
    derived = GPP in targets and RECO in targets
    kinds, heads, n = [], [], 0
    for name in targets:
        if name == NEE and derived:
            kinds.append("derived")
            heads.append(-1)
            continue
        kinds.append("softplus" if name in (GPP, RECO) else "free")
        heads.append(n)
        n += 1
    return kinds, heads, n


def tcn_levels(W, K):
    """The smallest level count L_t with a receptive field 1 + (K-1)(2^L_t - 1) >= W + 1 (4 for W = 30, K = 3)."""
    L = 1
    while 1 + (K - 1) * (2 ** L - 1) < W + 1:
        L += 1
    return L


def param_spec(model, d, flags=None):
    """[(name, shape)] in the order of MODEL.md section 5.

    d: dims dict with F, S, T_g (targets), T_h, H_f, H_o and, by model, H_s, H_z, Z, A
    (raci), D, FF (transformer) or K_t, L_t (tcn). flags: for raci, only no_film changes a
    shape (head.W1 reads [h, z, cs, cf])."""
    if model not in MODELS:
        model, flags = parse_variant(model)
    flags = flags or {}
    F, S, Tg, Th, Ho = d["F"], d["S"], d["T_g"], d["T_h"], d["H_o"]
    H = d["H_f"]
    if model == "raci":
        Hs, Hz, Z, A = d["H_s"], d["H_z"], d["Z"], d["A"]
        head_in = H + Z + 2 * A if flags.get("no_film") else H + A
        body = [
            ("fast.W_ih", (3 * H, F)), ("fast.W_hh", (3 * H, H)), ("fast.b_ih", (3 * H,)), ("fast.b_hh", (3 * H,)),
            ("slow.empty", (F,)),
            ("slow.W_ih", (3 * Hs, F)), ("slow.W_hh", (3 * Hs, Hs)), ("slow.b_ih", (3 * Hs,)), ("slow.b_hh", (3 * Hs,)),
            ("z.W1", (Hz, Hs + S)), ("z.b1", (Hz,)), ("z.W2", (Z, Hz)), ("z.b2", (Z,)),
            ("rs.Wq", (A, Z)), ("rs.bq", (A,)), ("rs.Wk", (A, Z + 2 * Tg)), ("rs.bk", (A,)),
            ("rs.Wv", (A, Z + 2 * Tg)), ("rs.bv", (A,)),
            ("rf.Wq", (A, H)), ("rf.bq", (A,)), ("rf.Wk", (A, H)), ("rf.bk", (A,)), ("rf.Wv", (A, H)), ("rf.bv", (A,)),
            ("film.W", (2 * H, Z + A)), ("film.b", (2 * H,)),
        ]
    elif model == "lstm":
        head_in = H
        body = [("lstm.W_ih", (4 * H, F + S)), ("lstm.W_hh", (4 * H, H)), ("lstm.b_ih", (4 * H,)),
                ("lstm.b_hh", (4 * H,))]
    elif model == "ealstm":
        head_in = H
        body = [("ea.W_i", (H, S)), ("ea.b_i", (H,)), ("ea.W_ih", (3 * H, F)), ("ea.W_hh", (3 * H, H)),
                ("ea.b", (3 * H,))]
    elif model == "transformer":
        D, FF = d["D"], d["FF"]
        head_in = D
        body = [
            ("tf.W_in", (D, F + S)), ("tf.b_in", (D,)),
            ("ln1.g", (D,)), ("ln1.b", (D,)),
            ("attn.W_qkv", (3 * D, D)), ("attn.b_qkv", (3 * D,)), ("attn.W_o", (D, D)), ("attn.b_o", (D,)),
            ("ln2.g", (D,)), ("ln2.b", (D,)),
            ("ff.W1", (FF, D)), ("ff.b1", (FF,)), ("ff.W2", (D, FF)), ("ff.b2", (D,)),
            ("lnf.g", (D,)), ("lnf.b", (D,)),
        ]
    else:  # tcn, C = H_f channels
        K, Lt = d["K_t"], d["L_t"]
        head_in = H
        body = [("tcn.W_in", (H, F + S)), ("tcn.b_in", (H,))]
        for l in range(Lt):
            body += [("tcn.W%d" % l, (H, K * H)), ("tcn.b%d" % l, (H,))]
    head = [("head.W1", (Ho, head_in)), ("head.b1", (Ho,)), ("head.W2", (Th, Ho)), ("head.b2", (Th,))]
    return body + head


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def param_offsets(spec):
    """[(name, shape, offset, size)] of each tensor in the flat vector."""
    out, off = [], 0
    for name, shape in spec:
        out.append((name, tuple(shape), off, numel(shape)))
        off += numel(shape)
    return out


def n_params(spec):
    return sum(numel(s) for _, s in spec)


def unflatten(flat, spec):
    """Flat parameter vector -> OrderedDict name -> view of the documented shape
    (views share storage and autograd history with `flat`)."""
    assert flat.dim() == 1 and flat.numel() == n_params(spec), (flat.shape, n_params(spec))
    out = OrderedDict()
    for name, shape, off, size in param_offsets(spec):
        out[name] = flat[off:off + size].view(shape)
    return out


def flatten(named, spec):
    """OrderedDict (or dict) name -> tensor -> flat vector in spec order."""
    return torch.cat([named[name].reshape(-1) for name, _ in spec])


def is_decayed(name):
    """AdamW's weight decay applies to the matrices: names containing '.W'."""
    return ".W" in name


# ------------------------------------------------------------------ layers
def linear(x, W, b=None):
    """y = x W^T + b, W (out, in)."""
    y = torch.matmul(x, W.t())
    return y + b if b is not None else y


def softplus(x):
    """log(1 + e^x), x above 20 taken as is (PyTorch's threshold)."""
    return Fn.softplus(x, beta=1, threshold=20)


def restart(h, age_t):
    """The state entering a step: 0 on the rows with age <= 0, no gradient back through it.
    h (R, H), age_t (R) or None."""
    if age_t is None:
        return h
    return torch.where((age_t <= 0).unsqueeze(-1), torch.zeros_like(h), h)


def gru_seq(x, age, W_ih, W_hh, b_ih, b_hh):
    """torch.nn.GRU (gates r, z, n) along a sequence, h0 = 0, state restarted where age <= 0.
    x (T, R, IN), age (T, R) or None -> every hidden state (T, R, H). The input projection is
    one product; its time steps are taken with unbind(0), so autograd builds its gradient once."""
    H = W_hh.shape[1]
    h = x.new_zeros(x.shape[1], H)
    hs = []
    for t, gx in enumerate(linear(x, W_ih, b_ih).unbind(0)):
        h = restart(h, None if age is None else age[t])
        gh = linear(h, W_hh, b_hh)
        r = torch.sigmoid(gx[:, :H] + gh[:, :H])
        z = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        hs.append(h)
    return torch.stack(hs)


def lstm_seq(x, age, W_ih, W_hh, b_ih, b_hh):
    """torch.nn.LSTM (gates i, f, g, o), h0 = c0 = 0, h and c restarted where age <= 0.
    x (T, R, IN) -> every h (T, R, H)."""
    H = W_hh.shape[1]
    h = x.new_zeros(x.shape[1], H)
    c = x.new_zeros(x.shape[1], H)
    hs = []
    for t, gx in enumerate(linear(x, W_ih, b_ih).unbind(0)):
        a = None if age is None else age[t]
        h, c = restart(h, a), restart(c, a)
        g = gx + linear(h, W_hh, b_hh)
        i = torch.sigmoid(g[:, :H])
        f = torch.sigmoid(g[:, H:2 * H])
        gg = torch.tanh(g[:, 2 * H:3 * H])
        o = torch.sigmoid(g[:, 3 * H:])
        c = f * c + i * gg
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs)


def ealstm_seq(x, s, age, W_i, b_i, W_ih, W_hh, b):
    """EA-LSTM (Kratzert et al. 2019): i = sig(W_i s + b_i) constant over time;
    [f, g, o] = W_ih x_t + W_hh h + b; c = f c + i g; h = o tanh(c); h and c restarted
    where age <= 0. x (T, R, F), s (R, S) -> every h (T, R, H)."""
    H = W_hh.shape[1]
    i = torch.sigmoid(linear(s, W_i, b_i))
    h = x.new_zeros(x.shape[1], H)
    c = x.new_zeros(x.shape[1], H)
    hs = []
    for t, gx in enumerate(linear(x, W_ih, b).unbind(0)):
        a = None if age is None else age[t]
        h, c = restart(h, a), restart(c, a)
        g = gx + linear(h, W_hh)
        f = torch.sigmoid(g[:, :H])
        gg = torch.tanh(g[:, H:2 * H])
        o = torch.sigmoid(g[:, 2 * H:])
        c = f * c + i * gg
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs)


def set_attention(q_in, kv_in, mask, Wq, bq, Wk, bk, Wv, bv):
    """Attention over a set with a mask (MODEL.md section 3), over any leading dims (...).

    q_in (..., Dq), kv_in (..., K, Dk), mask (..., K) bool. q = Wq q_in + bq,
    k_j = Wk kv_j + bk, v_j = Wv kv_j + bv, p = softmax over valid j of
    q.k_j / sqrt(A), out = sum_j p_j v_j; out = 0 (and p = 0) for a query with
    no valid candidate. Returns out (..., A), p (..., K)."""
    A = Wq.shape[0]
    q = linear(q_in, Wq, bq)  # (..., A)
    k = linear(kv_in, Wk, bk)  # (..., K, A)
    v = linear(kv_in, Wv, bv)
    sc = (k * q.unsqueeze(-2)).sum(-1) / math.sqrt(A)  # (..., K)
    neg = torch.full_like(sc, -math.inf)
    mx = torch.where(mask, sc, neg).amax(-1, keepdim=True).detach()  # softmax is shift-invariant
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    e = torch.where(mask, torch.exp(torch.where(mask, sc - mx, torch.zeros_like(sc))), torch.zeros_like(sc))
    den = e.sum(-1, keepdim=True)
    p = e / torch.where(den > 0, den, torch.ones_like(den))
    return (p.unsqueeze(-1) * v).sum(-2), p


def film(h, u, W, b):
    """[gamma, beta] = W u + b; h (1 + gamma) + beta."""
    H = h.shape[-1]
    gb = linear(u, W, b)
    return h * (1 + gb[..., :H]) + gb[..., H:]


def mlp_head(x, W1, b1, W2, b2):
    """a = W2 tanh(W1 x + b1) + b2."""
    return linear(torch.tanh(linear(x, W1, b1)), W2, b2)


def layer_norm(x, g, b, eps=LN_EPS):
    """Over the last axis, biased variance, (x - mean) / sqrt(var + eps) g + b."""
    m = x.mean(-1, keepdim=True)
    xc = x - m
    var = (xc * xc).mean(-1, keepdim=True)
    return xc / torch.sqrt(var + eps) * g + b


def gelu_tanh(x):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def sinusoidal_pe(L, D, dtype=torch.float32):
    """pe[t, 2i] = sin(t / 10000^(2i/D)), pe[t, 2i+1] = cos(t / 10000^(2i/D)),
    t the day's index in the segment (0 for its first day); computed in double, then
    rounded. (L, D)."""
    pe = torch.zeros(L, D, dtype=torch.float64)
    pos = torch.arange(L, dtype=torch.float64).unsqueeze(1)
    i2 = torch.arange(0, D, 2, dtype=torch.float64)
    ang = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), i2 / D)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang[:, : D // 2])
    return pe.to(dtype)


def window_mask(age, W):
    """allow (B, T, T) bool: day t (row) attends to day j (column) for
    t - min(W, age_t) <= j <= t, and only to itself on a missing day (age_t < 0).
    age (T, B)."""
    T = age.shape[0]
    t = torch.arange(T).view(T, 1)
    j = torch.arange(T).view(1, T)
    a = age.t().long()  # (B, T)
    lo = (t.view(1, T) - torch.clamp(a, max=W)).unsqueeze(-1)  # (B, T, 1)
    allow = (j.unsqueeze(0) >= lo) & (j.unsqueeze(0) <= t.unsqueeze(0))
    return torch.where((a < 0).unsqueeze(-1), (j == t).unsqueeze(0).expand_as(allow), allow)


def multi_head_self_attention(x, W_qkv, b_qkv, W_o, b_o, n_heads, allow=None):
    """x (L, B, D); [q, k, v] = x W_qkv^T + b_qkv (q rows first, as PyTorch's
    in_proj); head h uses columns h*D/n .. (h+1)*D/n; softmax of q.k / sqrt(D/n) over
    the positions allow[b, t, :] permits (all L when allow is None); heads
    concatenated, then W_o, b_o."""
    L, B, D = x.shape
    dh = D // n_heads
    qkv = linear(x, W_qkv, b_qkv)
    q, k, v = qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:]

    def split(t):  # (L, B, D) -> (B, n, L, dh)
        return t.reshape(L, B, n_heads, dh).permute(1, 2, 0, 3)

    q, k, v = split(q), split(k), split(v)
    sc = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh)  # (B, n, L, L)
    if allow is not None:
        sc = sc.masked_fill(~allow.unsqueeze(1), -math.inf)
    p = torch.softmax(sc, dim=-1)
    o = torch.matmul(p, v)  # (B, n, L, dh)
    o = o.permute(2, 0, 1, 3).reshape(L, B, D)
    return linear(o, W_o, b_o)


def causal_conv(x, age, W, b, K, d):
    """Causal dilated convolution: u_t = b + sum_k W[:, kC:(k+1)C] x_{t-kd}, a tap with
    k d > age_t reading 0 (before the segment's start or the last restart; every tap on a
    missing day, age -1). x (T, B, C), age (T, B) -> u (T, B, O)."""
    T = x.shape[0]
    taps = []
    for k in range(K):
        sh = k * d
        if sh == 0:
            xs = x
        elif sh >= T:
            xs = torch.zeros_like(x)
        else:
            xs = torch.cat([x.new_zeros((sh,) + x.shape[1:]), x[:T - sh]], 0)
        taps.append(torch.where((k * d > age).unsqueeze(-1), torch.zeros_like(xs), xs))
    return linear(torch.cat(taps, -1), W, b)


# ------------------------------------------------------------------ models
class RefModel(nn.Module):
    """Base: parameters in section-5 order, output transform (7) and loss (8).

    forward(batch, p=None) -> yhat (S_c, B, T_g) in physical units; p is a dict name ->
    tensor (e.g. unflatten(flat, model.spec)), by default the module's own
    parameters. After a forward, self.last holds intermediate tensors."""

    model = None

    def __init__(self, dims, targets, mean, std, weights=None, flags=None, dtype=torch.float32):
        super().__init__()
        self.targets = list(targets)
        self.kinds, self.heads, T_h = output_layout(self.targets)
        self.dims = dict(dims)
        self.dims["T_g"] = len(self.targets)
        self.dims["T_h"] = T_h
        if self.model == "tcn":
            self.dims.setdefault("K_t", 3)
            self.dims.setdefault("L_t", tcn_levels(self.dims["W"], self.dims["K_t"]))
        self.flags = dict.fromkeys(FLAGS, False)
        self.flags.update(flags or {})
        self.spec = param_spec(self.model, self.dims, self.flags)
        self.names = [n for n, _ in self.spec]
        self.params = nn.ParameterList([nn.Parameter(torch.zeros(shape, dtype=dtype)) for _, shape in self.spec])
        w = [1.0] * len(self.targets) if weights is None else list(weights)
        self.register_buffer("mu", torch.tensor(list(mean), dtype=dtype))
        self.register_buffer("sigma", torch.tensor(list(std), dtype=dtype))
        self.register_buffer("w", torch.tensor(w, dtype=dtype))
        self.last = {}

    # parameters ------------------------------------------------------
    def named(self):
        return OrderedDict(zip(self.names, self.params))

    def flat(self):
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def load_flat(self, flat):
        with torch.no_grad():
            for p, (name, t) in zip(self.params, unflatten(flat.to(self.params[0].dtype), self.spec).items()):
                p.copy_(t)

    def flat_grad(self):
        """Gradients in the flat layout (zeros for tensors without one)."""
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self.params])

    # network ---------------------------------------------------------
    def segment(self, batch):
        """(W, S_c, B) of a batch; checks the shapes against the dims."""
        T, B, Sc = batch["xf"].shape[0], batch["blk"].shape[0], batch["blk"].shape[1]
        W = self.dims["W"]
        assert T == W + Sc, (T, W, Sc)
        return W, Sc, B

    def raw(self, batch, p):
        raise NotImplementedError

    def outputs(self, a):
        """Head outputs a (..., T_h) -> yhat (..., T_g), physical units."""
        cols = [None] * len(self.targets)
        for k, (kind, h) in enumerate(zip(self.kinds, self.heads)):
            if kind == "softplus":
                cols[k] = self.sigma[k] * softplus(a[..., h])
            elif kind == "free":
                cols[k] = self.mu[k] + self.sigma[k] * a[..., h]
        for k, kind in enumerate(self.kinds):
            if kind == "derived":
                cols[k] = cols[self.targets.index(RECO)] - cols[self.targets.index(GPP)]
        return torch.stack(cols, dim=-1)

    def forward(self, batch, p=None):
        p = self.named() if p is None else p
        a = self.raw(batch, p)
        self.last["a"] = a
        return self.outputs(a)

    def loss(self, yhat, y):
        """sum over observed (y not NaN) of w_k ((yhat - y) / sigma_k)^2, divided
        by the number of observed values (0 when nothing is observed). yhat, y (S_c, B, T_g)."""
        obs = ~torch.isnan(y)
        y0 = torch.where(obs, y, torch.zeros_like(y))
        e = (yhat - y0) / self.sigma
        tot = (self.w * e * e * obs.to(yhat.dtype)).sum()
        n = int(obs.sum())
        return tot / max(n, 1)

    def head(self, x, p):
        return mlp_head(x, p["head.W1"], p["head.b1"], p["head.W2"], p["head.b2"])

    def day_inputs(self, batch, B):
        """x_t = [xf_t, s] of the query rows, statics repeated every day: (T, B, F + S)."""
        xf, s = batch["xf"][:, :B], batch["s"][:B]
        return torch.cat([xf, s.unsqueeze(0).expand(xf.shape[0], B, s.shape[1])], dim=2)


class RaciRef(RefModel):
    """RACI (MODEL.md section 3) with the ablation flags no_retrieval, no_slow, no_film."""

    model = "raci"

    def raw(self, batch, p):
        fl = self.flags
        W, Sc, B = self.segment(batch)
        xf, age, xb, eb, s = batch["xf"], batch["age"], batch["xb"], batch["eb"], batch["s"]
        NB = eb.shape[0] // B
        Z, A = self.dims["Z"], self.dims["A"]
        # 1. fast encoder over every row and day, restarted where age <= 0
        hf = gru_seq(xf, age, p["fast.W_ih"], p["fast.W_hh"], p["fast.b_ih"], p["fast.b_hh"])  # (T, R, H_f)
        hq = hf[W:, :B]  # (S_c, B, H_f) the queries' scored days
        # 2. slow encoder and z, per (segment, slot): row b*NB + j
        if fl["no_slow"]:
            z = xf.new_zeros(B * NB, Z)
        else:
            empty = eb.t().bool().unsqueeze(-1)  # (P, B*NB, 1)
            xbp = torch.where(empty, p["slow.empty"].expand_as(xb), xb)
            g = gru_seq(xbp, None, p["slow.W_ih"], p["slow.W_hh"], p["slow.b_ih"], p["slow.b_hh"])[-1]  # (B*NB, H_s)
            sq = s[:B].repeat_interleave(NB, dim=0)  # (B*NB, S)
            z = mlp_head(torch.cat([g, sq], dim=1), p["z.W1"], p["z.b1"], p["z.W2"], p["z.b2"])  # (B*NB, Z)
        # 3. functional retrieval per (segment, slot): q_in = z, kv_in = bank values (no gradient)
        if fl["no_retrieval"] or fl["no_slow"]:
            cs = xf.new_zeros(B * NB, A)
        else:
            idx = batch["bank_idx"].long()
            kv = batch["bank_val"][idx.clamp(min=0)]  # (B*NB, K_s, Z + 2T_g)
            cs, ps = set_attention(z, kv, idx >= 0, p["rs.Wq"], p["rs.bq"], p["rs.Wk"], p["rs.bk"], p["rs.Wv"],
                                   p["rs.bv"])
            self.last["ps"] = ps
        # 4. geographic retrieval per scored day: kv = the neighbour rows' hf of the same day,
        # masked where nb < 0 or the neighbour's day is missing
        if fl["no_retrieval"]:
            cf = xf.new_zeros(Sc, B, A)
        else:
            nb = batch["nb"].long()  # (B, K_f)
            rows = nb.clamp(min=0)
            kv = hf[W:, rows]  # (S_c, B, K_f, H_f)
            mask = (nb >= 0).unsqueeze(0) & (age[W:, rows] >= 0)  # (S_c, B, K_f)
            cf, pf = set_attention(hq, kv, mask, p["rf.Wq"], p["rf.bq"], p["rf.Wk"], p["rf.bk"], p["rf.Wv"], p["rf.bv"])
            self.last["pf"], self.last["mask_f"] = pf, mask
        # each scored day reads its block slot's z and cs
        sel = (torch.arange(B).unsqueeze(0) * NB + batch["blk"].long().t())  # (S_c, B) row b*NB + blk[b, t]
        zd, csd = z[sel], cs[sel]  # (S_c, B, Z), (S_c, B, A)
        # 5. FiLM and 6. head, per scored day
        if fl["no_film"]:
            h = hq
            x = torch.cat([h, zd, csd, cf], dim=-1)
        else:
            h = film(hq, torch.cat([zd, csd], dim=-1), p["film.W"], p["film.b"])
            x = torch.cat([h, cf], dim=-1)
        self.last.update(hf=hf, z=z, cs=cs, cf=cf, h=h)
        return self.head(x, p)  # (S_c, B, T_h)


class LstmRef(RefModel):
    """LSTM over x_t = [xf_t, s], state carried day to day and restarted where age <= 0."""

    model = "lstm"

    def raw(self, batch, p):
        W, Sc, B = self.segment(batch)
        h = lstm_seq(self.day_inputs(batch, B), batch["age"][:, :B], p["lstm.W_ih"], p["lstm.W_hh"], p["lstm.b_ih"],
                     p["lstm.b_hh"])
        return self.head(h[W:], p)


class EaLstmRef(RefModel):
    """EA-LSTM over xf_t with the input gate from the statics, restarted where age <= 0."""

    model = "ealstm"

    def raw(self, batch, p):
        W, Sc, B = self.segment(batch)
        h = ealstm_seq(batch["xf"][:, :B], batch["s"][:B], batch["age"][:, :B], p["ea.W_i"], p["ea.b_i"], p["ea.W_ih"],
                       p["ea.W_hh"], p["ea.b"])
        return self.head(h[W:], p)


class TransformerRef(RefModel):
    """Tokens Linear([xf_t, s]) + PE(index of the day in the segment), one pre-norm encoder
    layer (x += MHA(LN1 x) with causal attention over the window t - min(W, age_t) .. t, only
    itself on a missing day; x += W2 gelu_tanh(W1 LN2 x + b1) + b2), final LN, each scored
    day's token -> head."""

    model = "transformer"

    def raw(self, batch, p):
        W, Sc, B = self.segment(batch)
        x = self.day_inputs(batch, B)
        T, D = x.shape[0], self.dims["D"]
        allow = window_mask(batch["age"][:, :B], W)
        x = linear(x, p["tf.W_in"], p["tf.b_in"]) + sinusoidal_pe(T, D, x.dtype).unsqueeze(1)  # (T, B, D)
        x = x + multi_head_self_attention(layer_norm(x, p["ln1.g"], p["ln1.b"]), p["attn.W_qkv"], p["attn.b_qkv"],
                                          p["attn.W_o"], p["attn.b_o"], self.dims["n_heads"], allow)
        u = layer_norm(x, p["ln2.g"], p["ln2.b"])
        x = x + linear(gelu_tanh(linear(u, p["ff.W1"], p["ff.b1"])), p["ff.W2"], p["ff.b2"])
        x = layer_norm(x, p["lnf.g"], p["lnf.b"])
        self.last["allow"] = allow
        return self.head(x[W:], p)


class TcnRef(RefModel):
    """x0 = W_in [xf_t, s] + b_in; L_t levels of x^{l+1} = x^l + gelu_tanh(causal_conv(x^l))
    with dilation 2^l and K_t taps; each scored day's x^{L_t} -> head."""

    model = "tcn"

    def raw(self, batch, p):
        W, Sc, B = self.segment(batch)
        age = batch["age"][:, :B]
        x = linear(self.day_inputs(batch, B), p["tcn.W_in"], p["tcn.b_in"])  # (T, B, C)
        K = self.dims["K_t"]
        for l in range(self.dims["L_t"]):
            x = x + gelu_tanh(causal_conv(x, age, p["tcn.W%d" % l], p["tcn.b%d" % l], K, 2 ** l))
        return self.head(x[W:], p)


CLASSES = {"raci": RaciRef, "lstm": LstmRef, "ealstm": EaLstmRef, "transformer": TransformerRef, "tcn": TcnRef}


def build(variant, dims, targets, mean, std, weights=None, dtype=torch.float32):
    """Model for a variant name ('raci', 'raci_no_slow', ..., 'transformer', 'tcn')."""
    model, flags = parse_variant(variant)
    return CLASSES[model](dims, targets, mean, std, weights, flags, dtype)
