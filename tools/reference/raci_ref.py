"""PyTorch reference of raci's networks, as docs/MODEL.md defines them.

One batch in the layout of MODEL.md section 6 (time-major):

    xf        (L_f, R, F)   float   rows 0..Q-1 are the queries, rows Q..R-1 neighbour rows
    xb        (P, Q, F)     float   slow blocks (empty blocks hold zeros)
    eb        (Q, P)        uint8   1 for an empty block
    s         (Q, S)        float   statics
    y         (Q, T)        float   targets in physical units, NaN where not observed
    nb        (Q, K_f)      int32   row of xf, -1 for none
    bank_key  (M, Z)        float   (not read by the network; it chose bank_idx)
    bank_val  (M, Z + 2T)   float   [k_j, ybar_j, sigma_j]
    bank_idx  (Q, K_s)      int32   bank entry, -1 for none

Parameters are one flat vector in the order of MODEL.md section 5 (`param_spec`,
`unflatten`, `flatten`); every layer is written out (linear y = x W^T + b with W
(out, in); GRU/LSTM with torch.nn.GRU/LSTM's gate order and shapes) so the C code
can be compared with it tensor by tensor. Everything works in float32 or float64
(the dtype of the parameters and of the batch).

Models: "raci" (flags no_retrieval, no_slow, no_film), "lstm", "ealstm",
"transformer"; the variant names "raci_no_retrieval", "raci_no_slow",
"raci_no_film" are accepted by `parse_variant`.
"""
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as Fn

# Target names with a process-informed output (exact, case-sensitive match).
GPP, RECO, NEE = "GPP", "RECO", "NEE"

MODELS = ("raci", "lstm", "ealstm", "transformer")
VARIANTS = ("raci", "raci_no_retrieval", "raci_no_slow", "raci_no_film", "lstm", "ealstm", "transformer")
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
    """How each target is produced from the head outputs a (Q, T_h).

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


def param_spec(model, d, flags=None):
    """[(name, shape)] in the order of MODEL.md section 5.

    d: dims dict with F, S, T, T_h, H_f, H_o and, by model, H_s, H_z, Z, A
    (raci) or D, FF (transformer). flags: for raci, only no_film changes a
    shape (head.W1 reads [h, z, cs, cf])."""
    if model not in MODELS:
        model, flags = parse_variant(model)
    flags = flags or {}
    F, S, T, Th, Ho = d["F"], d["S"], d["T"], d["T_h"], d["H_o"]
    H = d["H_f"]
    if model == "raci":
        Hs, Hz, Z, A = d["H_s"], d["H_z"], d["Z"], d["A"]
        head_in = H + Z + 2 * A if flags.get("no_film") else H + A
        body = [
            ("fast.W_ih", (3 * H, F)), ("fast.W_hh", (3 * H, H)), ("fast.b_ih", (3 * H,)), ("fast.b_hh", (3 * H,)),
            ("slow.empty", (F,)),
            ("slow.W_ih", (3 * Hs, F)), ("slow.W_hh", (3 * Hs, Hs)), ("slow.b_ih", (3 * Hs,)), ("slow.b_hh", (3 * Hs,)),
            ("z.W1", (Hz, Hs + S)), ("z.b1", (Hz,)), ("z.W2", (Z, Hz)), ("z.b2", (Z,)),
            ("rs.Wq", (A, Z)), ("rs.bq", (A,)), ("rs.Wk", (A, Z + 2 * T)), ("rs.bk", (A,)),
            ("rs.Wv", (A, Z + 2 * T)), ("rs.bv", (A,)),
            ("rf.Wq", (A, H)), ("rf.bq", (A,)), ("rf.Wk", (A, H)), ("rf.bk", (A,)), ("rf.Wv", (A, H)), ("rf.bv", (A,)),
            ("film.W", (2 * H, Z + A)), ("film.b", (2 * H,)),
        ]
    elif model == "lstm":
        head_in = H
        body = [("lstm.W_ih", (4 * H, F + S)), ("lstm.W_hh", (4 * H, H)), ("lstm.b_ih", (4 * H,)), ("lstm.b_hh", (4 * H,))]
    elif model == "ealstm":
        head_in = H
        body = [("ea.W_i", (H, S)), ("ea.b_i", (H,)), ("ea.W_ih", (3 * H, F)), ("ea.W_hh", (3 * H, H)), ("ea.b", (3 * H,))]
    else:  # transformer
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


def gru_last(x, W_ih, W_hh, b_ih, b_hh):
    """torch.nn.GRU (gates r, z, n), h0 = 0; x (T, B, IN) -> last hidden (B, H)."""
    T, B = x.shape[0], x.shape[1]
    H = W_hh.shape[1]
    gx = linear(x, W_ih, b_ih)  # (T, B, 3H)
    h = x.new_zeros(B, H)
    for t in range(T):
        gh = linear(h, W_hh, b_hh)
        r = torch.sigmoid(gx[t, :, :H] + gh[:, :H])
        z = torch.sigmoid(gx[t, :, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gx[t, :, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
    return h


def lstm_last(x, W_ih, W_hh, b_ih, b_hh):
    """torch.nn.LSTM (gates i, f, g, o), h0 = c0 = 0; x (T, B, IN) -> last h (B, H)."""
    T, B = x.shape[0], x.shape[1]
    H = W_hh.shape[1]
    gx = linear(x, W_ih, b_ih)
    h = x.new_zeros(B, H)
    c = x.new_zeros(B, H)
    for t in range(T):
        g = gx[t] + linear(h, W_hh, b_hh)
        i = torch.sigmoid(g[:, :H])
        f = torch.sigmoid(g[:, H:2 * H])
        gg = torch.tanh(g[:, 2 * H:3 * H])
        o = torch.sigmoid(g[:, 3 * H:])
        c = f * c + i * gg
        h = o * torch.tanh(c)
    return h


def ealstm_last(x, s, W_i, b_i, W_ih, W_hh, b):
    """EA-LSTM (Kratzert et al. 2019): i = sig(W_i s + b_i) constant over time;
    [f, g, o] = W_ih x_t + W_hh h + b; c = f c + i g; h = o tanh(c)."""
    T, B = x.shape[0], x.shape[1]
    H = W_hh.shape[1]
    i = torch.sigmoid(linear(s, W_i, b_i))
    gx = linear(x, W_ih, b)
    h = x.new_zeros(B, H)
    c = x.new_zeros(B, H)
    for t in range(T):
        g = gx[t] + linear(h, W_hh)
        f = torch.sigmoid(g[:, :H])
        gg = torch.tanh(g[:, H:2 * H])
        o = torch.sigmoid(g[:, 2 * H:])
        c = f * c + i * gg
        h = o * torch.tanh(c)
    return h


def set_attention(q_in, kv_in, mask, Wq, bq, Wk, bk, Wv, bv):
    """Attention over a set with a mask (MODEL.md section 3).

    q_in (B, Dq), kv_in (B, K, Dk), mask (B, K) bool. q = Wq q_in + bq,
    k_j = Wk kv_j + bk, v_j = Wv kv_j + bv, p = softmax over valid j of
    q.k_j / sqrt(A), out = sum_j p_j v_j; out = 0 (and p = 0) for a query with
    no valid candidate. Returns out (B, A), p (B, K)."""
    A = Wq.shape[0]
    q = linear(q_in, Wq, bq)  # (B, A)
    k = linear(kv_in, Wk, bk)  # (B, K, A)
    v = linear(kv_in, Wv, bv)
    sc = (k * q.unsqueeze(1)).sum(-1) / math.sqrt(A)  # (B, K)
    neg = torch.full_like(sc, -math.inf)
    mx = torch.where(mask, sc, neg).amax(-1, keepdim=True).detach()  # softmax is shift-invariant
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    e = torch.where(mask, torch.exp(torch.where(mask, sc - mx, torch.zeros_like(sc))), torch.zeros_like(sc))
    den = e.sum(-1, keepdim=True)
    p = e / torch.where(den > 0, den, torch.ones_like(den))
    return (p.unsqueeze(-1) * v).sum(1), p


def film(h, u, W, b):
    """[gamma, beta] = W u + b; h (1 + gamma) + beta."""
    H = h.shape[-1]
    gb = linear(u, W, b)
    return h * (1 + gb[:, :H]) + gb[:, H:]


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
    t = 0 for the oldest day; computed in double, then rounded. (L, D)."""
    pe = torch.zeros(L, D, dtype=torch.float64)
    pos = torch.arange(L, dtype=torch.float64).unsqueeze(1)
    i2 = torch.arange(0, D, 2, dtype=torch.float64)
    ang = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), i2 / D)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang[:, : D // 2])
    return pe.to(dtype)


def multi_head_self_attention(x, W_qkv, b_qkv, W_o, b_o, n_heads):
    """x (L, B, D); [q, k, v] = x W_qkv^T + b_qkv (q rows first, as PyTorch's
    in_proj); head h uses columns h*D/n .. (h+1)*D/n; softmax over all L positions
    of q.k / sqrt(D/n) (no causal mask); heads concatenated, then W_o, b_o."""
    L, B, D = x.shape
    dh = D // n_heads
    qkv = linear(x, W_qkv, b_qkv)
    q, k, v = qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:]

    def split(t):  # (L, B, D) -> (B, n, L, dh)
        return t.reshape(L, B, n_heads, dh).permute(1, 2, 0, 3)

    q, k, v = split(q), split(k), split(v)
    sc = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh)  # (B, n, L, L)
    p = torch.softmax(sc, dim=-1)
    o = torch.matmul(p, v)  # (B, n, L, dh)
    o = o.permute(2, 0, 1, 3).reshape(L, B, D)
    return linear(o, W_o, b_o)


# ------------------------------------------------------------------ models
class RefModel(nn.Module):
    """Base: parameters in section-5 order, output transform (7) and loss (8).

    forward(batch, p=None) -> yhat (Q, T) in physical units; p is a dict name ->
    tensor (e.g. unflatten(flat, model.spec)), by default the module's own
    parameters. After a forward, self.last holds intermediate tensors."""

    model = None

    def __init__(self, dims, targets, mean, std, weights=None, flags=None, dtype=torch.float32):
        super().__init__()
        self.targets = list(targets)
        self.kinds, self.heads, T_h = output_layout(self.targets)
        self.dims = dict(dims)
        self.dims["T"] = len(self.targets)
        self.dims["T_h"] = T_h
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
    def raw(self, batch, p):
        raise NotImplementedError

    def outputs(self, a):
        """Head outputs a (Q, T_h) -> yhat (Q, T), physical units."""
        cols = [None] * len(self.targets)
        for k, (kind, h) in enumerate(zip(self.kinds, self.heads)):
            if kind == "softplus":
                cols[k] = self.sigma[k] * softplus(a[:, h])
            elif kind == "free":
                cols[k] = self.mu[k] + self.sigma[k] * a[:, h]
        for k, kind in enumerate(self.kinds):
            if kind == "derived":
                cols[k] = cols[self.targets.index(RECO)] - cols[self.targets.index(GPP)]
        return torch.stack(cols, dim=1)

    def forward(self, batch, p=None):
        p = self.named() if p is None else p
        a = self.raw(batch, p)
        self.last["a"] = a
        return self.outputs(a)

    def loss(self, yhat, y):
        """sum over observed (y not NaN) of w_k ((yhat - y) / sigma_k)^2, divided
        by the number of observed values (0 when nothing is observed)."""
        obs = ~torch.isnan(y)
        y0 = torch.where(obs, y, torch.zeros_like(y))
        e = (yhat - y0) / self.sigma
        tot = (self.w * e * e * obs.to(yhat.dtype)).sum()
        n = int(obs.sum())
        return tot / max(n, 1)


class RaciRef(RefModel):
    """RACI (MODEL.md section 3) with the ablation flags no_retrieval, no_slow, no_film."""

    model = "raci"

    def raw(self, batch, p):
        fl = self.flags
        xf, xb, eb, s = batch["xf"], batch["xb"], batch["eb"], batch["s"]
        Q = s.shape[0]
        # 1. fast encoder over all R rows
        hf_all = gru_last(xf, p["fast.W_ih"], p["fast.W_hh"], p["fast.b_ih"], p["fast.b_hh"])  # (R, H_f)
        hf = hf_all[:Q]
        Z, A = self.dims["Z"], self.dims["A"]
        # 2. slow encoder and z
        if fl["no_slow"]:
            z = xf.new_zeros(Q, Z)
        else:
            empty = eb.t().bool().unsqueeze(-1)  # (P, Q, 1)
            xbp = torch.where(empty, p["slow.empty"].expand_as(xb), xb)
            g = gru_last(xbp, p["slow.W_ih"], p["slow.W_hh"], p["slow.b_ih"], p["slow.b_hh"])  # (Q, H_s)
            z = mlp_head(torch.cat([g, s], dim=1), p["z.W1"], p["z.b1"], p["z.W2"], p["z.b2"])
        # 3. functional retrieval (q_in = z, kv_in = bank values)
        if fl["no_retrieval"] or fl["no_slow"]:
            cs = xf.new_zeros(Q, A)
        else:
            idx = batch["bank_idx"].long()
            kv = batch["bank_val"][idx.clamp(min=0)]  # (Q, K_s, Z + 2T), no gradient
            cs, ps = set_attention(z, kv, idx >= 0, p["rs.Wq"], p["rs.bq"], p["rs.Wk"], p["rs.bk"], p["rs.Wv"], p["rs.bv"])
            self.last["ps"] = ps
        # 4. geographic retrieval (q_in = hf(i), kv_in = hf(j))
        if fl["no_retrieval"]:
            cf = xf.new_zeros(Q, A)
        else:
            nb = batch["nb"].long()
            kv = hf_all[nb.clamp(min=0)]  # (Q, K_f, H_f)
            cf, pf = set_attention(hf, kv, nb >= 0, p["rf.Wq"], p["rf.bq"], p["rf.Wk"], p["rf.bk"], p["rf.Wv"], p["rf.bv"])
            self.last["pf"] = pf
        # 5. FiLM and 6. head
        if fl["no_film"]:
            h = hf
            x = torch.cat([h, z, cs, cf], dim=1)
        else:
            h = film(hf, torch.cat([z, cs], dim=1), p["film.W"], p["film.b"])
            x = torch.cat([h, cf], dim=1)
        self.last.update(hf=hf_all, z=z, cs=cs, cf=cf, h=h)
        return mlp_head(x, p["head.W1"], p["head.b1"], p["head.W2"], p["head.b2"])


class LstmRef(RefModel):
    model = "lstm"

    def raw(self, batch, p):
        s = batch["s"]
        Q = s.shape[0]
        xf = batch["xf"][:, :Q]
        x = torch.cat([xf, s.unsqueeze(0).expand(xf.shape[0], Q, s.shape[1])], dim=2)
        h = lstm_last(x, p["lstm.W_ih"], p["lstm.W_hh"], p["lstm.b_ih"], p["lstm.b_hh"])
        return mlp_head(h, p["head.W1"], p["head.b1"], p["head.W2"], p["head.b2"])


class EaLstmRef(RefModel):
    model = "ealstm"

    def raw(self, batch, p):
        s = batch["s"]
        Q = s.shape[0]
        h = ealstm_last(batch["xf"][:, :Q], s, p["ea.W_i"], p["ea.b_i"], p["ea.W_ih"], p["ea.W_hh"], p["ea.b"])
        return mlp_head(h, p["head.W1"], p["head.b1"], p["head.W2"], p["head.b2"])


class TransformerRef(RefModel):
    """Tokens Linear([xf_t, s]) + PE, one pre-norm encoder layer
    (x += MHA(LN1 x); x += W2 gelu_tanh(W1 LN2 x + b1) + b2), final LN, last day's token."""

    model = "transformer"

    def raw(self, batch, p):
        s = batch["s"]
        Q = s.shape[0]
        xf = batch["xf"][:, :Q]
        L = xf.shape[0]
        D = self.dims["D"]
        x = torch.cat([xf, s.unsqueeze(0).expand(L, Q, s.shape[1])], dim=2)
        x = linear(x, p["tf.W_in"], p["tf.b_in"]) + sinusoidal_pe(L, D, xf.dtype).unsqueeze(1)  # (L, Q, D)
        x = x + multi_head_self_attention(layer_norm(x, p["ln1.g"], p["ln1.b"]), p["attn.W_qkv"], p["attn.b_qkv"],
                                          p["attn.W_o"], p["attn.b_o"], self.dims["n_heads"])
        u = layer_norm(x, p["ln2.g"], p["ln2.b"])
        x = x + linear(gelu_tanh(linear(u, p["ff.W1"], p["ff.b1"])), p["ff.W2"], p["ff.b2"])
        x = layer_norm(x, p["lnf.g"], p["lnf.b"])
        return mlp_head(x[L - 1], p["head.W1"], p["head.b1"], p["head.W2"], p["head.b2"])


CLASSES = {"raci": RaciRef, "lstm": LstmRef, "ealstm": EaLstmRef, "transformer": TransformerRef}


def build(variant, dims, targets, mean, std, weights=None, dtype=torch.float32):
    """Model for a variant name ('raci', 'raci_no_slow', ..., 'transformer')."""
    model, flags = parse_variant(variant)
    return CLASSES[model](dims, targets, mean, std, weights, flags, dtype)
