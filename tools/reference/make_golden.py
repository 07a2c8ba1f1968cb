#!/usr/bin/python3
"""Write the golden files of the PyTorch reference: tests/data/golden/<case>/.

Run from anywhere:  /usr/bin/python3 tools/reference/make_golden.py [outdir]
Deterministic (fixed seeds, one thread); never run by `make check`. Inputs and
parameters come from numpy's PCG64 with fixed seeds; the forward, the
gradients and the AdamW curve in float32; torch.autograd.gradcheck on a
float64 copy of every model. See tools/reference/README.md for the format.
"""
import json
import math
import os
import re
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raci_ref as rr  # noqa: E402

torch.set_num_threads(1)

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "golden")

DIMS = dict(L_f=5, R=7, Q=4, P=3, F=3, S=4, H_f=8, H_s=6, H_z=6, Z=4, A=5, K_s=3, K_f=3, H_o=7, M=6,
            D=8, n_heads=2, FF=16)

TARGETS = {
    ("GPP", "RECO", "NEE"): dict(mean=[3.0, 2.5, -0.5], std=[2.5, 1.8, 1.6], weights=[1.0, 0.5, 2.0]),
    ("GPP", "FCH4"): dict(mean=[3.0, 12.0], std=[2.5, 20.0], weights=[1.0, 0.7]),
}

# case directory, model variant, targets
CASES = [
    ("raci", "raci", ("GPP", "RECO", "NEE")),
    ("raci_no_retrieval", "raci_no_retrieval", ("GPP", "RECO", "NEE")),
    ("raci_no_slow", "raci_no_slow", ("GPP", "RECO", "NEE")),
    ("raci_no_film", "raci_no_film", ("GPP", "RECO", "NEE")),
    ("lstm", "lstm", ("GPP", "RECO", "NEE")),
    ("ealstm", "ealstm", ("GPP", "RECO", "NEE")),
    ("transformer", "transformer", ("GPP", "RECO", "NEE")),
    ("raci_gpp_fch4", "raci", ("GPP", "FCH4")),
]

ADAMW = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-4, steps=10)

# Fixed structure of the batch (Q = 4, R = 7, K_f = 3, P = 3, K_s = 3):
NB = [[4, 5, -1],     # two neighbour rows and a hole
      [-1, -1, -1],   # no valid neighbour: cf = 0
      [0, 6, 4],      # a query row (0) as neighbour; row 4 shared with query 0
      [-1, 6, 2]]     # a hole first
EMPTY = [(1, 0), (3, 0), (3, 1)]  # (query, block): the oldest blocks, before the record starts
OWN_BANK = [0, 1, None, 3]        # bank entry of each query's own location (never retrieved)
BANK_HOLES = [(1, 2), (3, 1), (3, 2)]  # (query, slot) set to -1 in bank_idx
NAN_Y = {("GPP", "RECO", "NEE"): [(0, 2), (1, 1), (2, 0), (2, 1)], ("GPP", "FCH4"): [(0, 1), (2, 0)]}
BANK_UNOBSERVED = (5, -1)  # bank entry 5 never observed its last target: ybar = sigma = 0


def dims_for(targets, variant):
    d = dict(DIMS)
    _, _, T_h = rr.output_layout(list(targets))
    d["T"], d["T_h"] = len(targets), T_h
    return d


def init_params(spec, rng):
    """MODEL.md section 5: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in the
    number of columns of a matrix and, for a vector, of the last matrix before
    it in the list. Layer norms 1 + U(-0.2, 0.2) and U(-0.2, 0.2), the
    empty-block vector U(-0.5, 0.5): perturbed from their initial g = 1, b = 0,
    e = 0 so that their gradients are not trivial."""
    out, fan_in = [], None
    for name, shape in spec:
        n = rr.numel(shape)
        pre, leaf = name.split(".")
        if len(shape) == 2:
            fan_in = shape[1]
        if name == "slow.empty":
            v = rng.uniform(-0.5, 0.5, n)
        elif pre.startswith("ln") and leaf == "g":
            v = 1.0 + rng.uniform(-0.2, 0.2, n)
        elif pre.startswith("ln") and leaf == "b":
            v = rng.uniform(-0.2, 0.2, n)
        else:
            bound = 1.0 / math.sqrt(fan_in)
            v = rng.uniform(-bound, bound, n)
        out.append(v)
    return np.concatenate(out).astype(np.float32)


def make_batch(rng, d, targets, z0):
    """Random batch in the section-6 layout. z0 (Q, Z): the queries' z under the
    initial parameters (zeros for models without one), to choose bank_idx as
    the K_s nearest keys, never the query's own entry."""
    L, R, Q, P, F, S, T, Z, M, Ks = (d[k] for k in ("L_f", "R", "Q", "P", "F", "S", "T", "Z", "M", "K_s"))
    xf = rng.normal(0, 1, (L, R, F)).astype(np.float32)
    xb = rng.normal(0, 0.7, (P, Q, F)).astype(np.float32)
    eb = np.zeros((Q, P), np.uint8)
    for q, b in EMPTY:
        eb[q, b] = 1
        xb[b, q, :] = 0
    s = rng.normal(0, 1, (Q, S)).astype(np.float32)
    s[:, S - 2:] = 0  # a class as a one-hot over two flag values
    for q in range(Q):
        s[q, S - 2 + (q % 2)] = 1
    y = np.zeros((Q, T), np.float32)
    gpp = rng.uniform(0.0, 8.0, Q)
    for k, name in enumerate(targets):
        if name == "GPP":
            y[:, k] = gpp
        elif name == "RECO":
            y[:, k] = rng.uniform(0.5, 6.0, Q)
        elif name == "NEE":
            y[:, k] = y[:, list(targets).index("RECO")] - gpp + rng.normal(0, 0.3, Q)
        else:
            y[:, k] = rng.uniform(0.0, 50.0, Q)
    for q, k in NAN_Y[tuple(targets)]:
        y[q, k] = np.nan
    nb = np.array(NB, np.int32)
    bank_key = rng.normal(0, 0.8, (M, Z)).astype(np.float32)
    ybar = rng.normal(0, 0.5, (M, T))
    ysd = rng.uniform(0.3, 1.2, (M, T))
    ybar[BANK_UNOBSERVED] = 0
    ysd[BANK_UNOBSERVED] = 0
    bank_val = np.concatenate([bank_key, ybar, ysd], axis=1).astype(np.float32)
    bank_idx = np.zeros((Q, Ks), np.int32)
    for q in range(Q):
        dist = ((bank_key.astype(np.float64) - z0[q].astype(np.float64)) ** 2).sum(1)
        if OWN_BANK[q] is not None:
            dist[OWN_BANK[q]] = np.inf
        bank_idx[q] = np.argsort(dist, kind="stable")[:Ks]
    for q, j in BANK_HOLES:
        bank_idx[q, j] = -1
    return dict(xf=xf, xb=xb, eb=eb, s=s, y=y, nb=nb, bank_key=bank_key, bank_val=bank_val, bank_idx=bank_idx)


def to_torch(batch, dtype):
    out = {}
    for k, v in batch.items():
        t = torch.from_numpy(np.ascontiguousarray(v))
        out[k] = t.to(dtype) if v.dtype.kind == "f" else t
    return out


def dead_entries(model):
    """Parameter entries whose gradient is zero in exact arithmetic: the key
    bias of an attention adds q.b_k to every score of a query, and the softmax
    is invariant to that shift. [(name, first, end)] within the tensor."""
    out = []
    if model.model == "raci" and not model.flags["no_retrieval"]:
        if not model.flags["no_slow"]:
            out.append(("rs.bk", 0, model.dims["A"]))
        out.append(("rf.bk", 0, model.dims["A"]))
    if model.model == "transformer":
        out.append(("attn.b_qkv", model.dims["D"], 2 * model.dims["D"]))
    return out


def adamw_curve(model, flat0, batch_t):
    """Losses of `steps` torch.optim.AdamW steps (two groups: '.W' tensors with
    weight decay, the rest without), before and after each step. Returns
    (curve, final flat parameters)."""
    leaves = [t.detach().clone().requires_grad_(True) for t in rr.unflatten(flat0.clone(), model.spec).values()]
    named = dict(zip(model.names, leaves))
    dec = [t for n, t in named.items() if rr.is_decayed(n)]
    nod = [t for n, t in named.items() if not rr.is_decayed(n)]
    opt = torch.optim.AdamW([{"params": dec, "weight_decay": ADAMW["weight_decay"]},
                             {"params": nod, "weight_decay": 0.0}],
                            lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]), eps=ADAMW["eps"])
    curve = []
    for step in range(ADAMW["steps"] + 1):
        opt.zero_grad()
        loss = model.loss(model(batch_t, named), batch_t["y"])
        curve.append(float(loss))
        if step == ADAMW["steps"]:
            break
        loss.backward()
        opt.step()
    return np.array(curve, np.float32), rr.flatten({n: t.detach() for n, t in named.items()}, model.spec)


def adamw_manual(model, flat0, batch_t):
    """The same steps written out (the formula the C optimiser must follow):
    p *= 1 - lr wd (decayed tensors only); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    p = flat0.clone()
    m = torch.zeros_like(p)
    v = torch.zeros_like(p)
    wd = torch.zeros_like(p)
    for name, shape, off, size in rr.param_offsets(model.spec):
        if rr.is_decayed(name):
            wd[off:off + size] = ADAMW["weight_decay"]
    lr, b1, b2, eps = ADAMW["lr"], ADAMW["beta1"], ADAMW["beta2"], ADAMW["eps"]
    for t in range(1, ADAMW["steps"] + 1):
        pp = p.clone().requires_grad_(True)
        loss = model.loss(model(batch_t, rr.unflatten(pp, model.spec)), batch_t["y"])
        g, = torch.autograd.grad(loss, pp)
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1 ** t) * m / (v.sqrt() / math.sqrt(1 - b2 ** t) + eps)
    return p


def gradcheck(variant, targets, d, flat, batch):
    """torch.autograd.gradcheck of (yhat, loss) w.r.t. (params, xf, xb, s) in float64."""
    tg = TARGETS[tuple(targets)]
    m64 = rr.build(variant, d, targets, tg["mean"], tg["std"], tg["weights"], dtype=torch.float64)
    b64 = to_torch(batch, torch.float64)
    inputs = (torch.from_numpy(flat).double().requires_grad_(True), b64["xf"].clone().requires_grad_(True),
              b64["xb"].clone().requires_grad_(True), b64["s"].clone().requires_grad_(True))

    def f(p, xf, xb, s):
        bb = dict(b64, xf=xf, xb=xb, s=s)
        yhat = m64(bb, rr.unflatten(p, m64.spec))
        return yhat, m64.loss(yhat, bb["y"])

    ok = torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, raise_exception=False)
    n_in = sum(t.numel() for t in inputs)
    return bool(ok), n_in


class Checks:
    def __init__(self):
        self.failed = []
        self.n = 0

    def __call__(self, case, what, ok):
        self.n += 1
        if not ok:
            self.failed.append("%s: %s" % (case, what))
            print("  FAIL %s" % what)
        return ok


def write_case(case, variant, targets, seed, check):
    d = dims_for(targets, variant)
    tg = TARGETS[tuple(targets)]
    rng = np.random.default_rng(seed)
    model = rr.build(variant, d, targets, tg["mean"], tg["std"], tg["weights"])
    flat = init_params(model.spec, rng)
    model.load_flat(torch.from_numpy(flat))
    Q = d["Q"]
    # z under the initial parameters (for the bank's nearest keys)
    z0 = np.zeros((Q, d["Z"]), np.float32)
    if model.model == "raci" and not model.flags["no_slow"]:
        probe = make_batch(np.random.default_rng(seed + 1000), d, targets, z0)
        with torch.no_grad():
            model(to_torch(probe, torch.float32))
        z0 = model.last["z"].numpy()
    batch = make_batch(np.random.default_rng(seed + 1000), d, targets, z0)
    bt = to_torch(batch, torch.float32)
    for k in ("xf", "xb", "s"):
        bt[k].requires_grad_(True)

    # forward, loss, backward (float32)
    model.zero_grad()
    yhat = model(bt)
    loss = model.loss(yhat, bt["y"])
    loss.backward()
    grads = model.flat_grad().numpy().copy()
    offs = {n: (off, size) for n, _, off, size in rr.param_offsets(model.spec)}
    # exact zeros where the gradient vanishes by softmax shift invariance
    gmax = float(np.abs(grads).max())
    dead = np.zeros(grads.size, bool)
    for n, lo, hi in dead_entries(model):
        o = offs[n][0]
        noise = float(np.abs(grads[o + lo:o + hi]).max())
        check(case, "%s[%d:%d] gradient is rounding noise (%.1e of max)" % (n, lo, hi, noise / gmax), noise <= 1e-6 * gmax)
        grads[o + lo:o + hi] = 0
        dead[o + lo:o + hi] = True
    out = yhat.detach().numpy()
    dxf, dxb, ds = (bt[k].grad.numpy() if bt[k].grad is not None else np.zeros(bt[k].shape, np.float32)
                    for k in ("xf", "xb", "s"))
    last = {k: v.detach() for k, v in model.last.items()}
    n_obs = int((~np.isnan(batch["y"])).sum())

    # AdamW curve
    bt_nograd = to_torch(batch, torch.float32)
    curve, flat_end = adamw_curve(model, torch.from_numpy(flat), bt_nograd)

    # ---------------- checks

    def g_of(prefix):
        return np.concatenate([grads[offs[n][0]:offs[n][0] + offs[n][1]] for n in model.names if n.startswith(prefix)])

    kinds = model.kinds
    if "derived" in kinds:
        k_nee, k_gpp, k_reco = targets.index("NEE"), targets.index("GPP"), targets.index("RECO")
        check(case, "NEE == RECO - GPP exactly", np.array_equal(out[:, k_nee], out[:, k_reco] - out[:, k_gpp]))
    for k, kind in enumerate(kinds):
        if kind == "softplus":
            check(case, "%s >= 0" % targets[k], bool((out[:, k] >= 0).all()))
    # loss recomputed in double from the stored outputs
    yy = batch["y"].astype(np.float64)
    obs = ~np.isnan(yy)
    e = (out.astype(np.float64) - np.where(obs, yy, 0)) / np.array(tg["std"])
    ref = float((np.array(tg["weights"]) * e * e * obs).sum() / obs.sum())
    check(case, "loss = masked MSE (double) %.9g vs %.9g" % (ref, float(loss)), abs(ref - float(loss)) <= 1e-6 * abs(ref))
    check(case, "curve[0] == loss", abs(curve[0] - float(loss)) <= 1e-6 * abs(float(loss)))
    check(case, "AdamW curve decreases", curve[-1] < curve[0])
    # no gradient through empty blocks' xb, nor into the unused neighbour rows
    for q, b in EMPTY:
        check(case, "dxb zero at empty block (%d, %d)" % (q, b), not dxb[b, q].any())
    used_rows = set(range(Q))
    if model.model == "raci" and not model.flags["no_retrieval"]:
        used_rows |= set(int(r) for r in batch["nb"].ravel() if r >= 0)
    for r in range(d["R"]):
        if r not in used_rows:
            check(case, "dxf zero for unused row %d" % r, not dxf[:, r].any())
        else:
            check(case, "dxf non-zero for row %d" % r, bool(dxf[:, r].any()))
    if model.model == "raci":
        fl = model.flags
        zero = []
        if fl["no_retrieval"]:
            zero += ["rs.", "rf."]
        if fl["no_slow"]:
            zero += ["slow.", "z.", "rs.", "film.W"]
        if fl["no_film"]:
            zero += ["film."]
        for pre in sorted(set(zero)):
            check(case, "zero gradient for %s*" % pre, not g_of(pre).any())
        for n in model.names:
            if not any(n.startswith(pre) for pre in zero) and n not in ("rs.bk", "rf.bk"):
                gn = grads[offs[n][0]:offs[n][0] + offs[n][1]]
                check(case, "non-zero gradient for %s" % n, bool(gn.any()))
        if fl["no_slow"]:
            check(case, "dxb = ds = 0 (no slow encoder)", not dxb.any() and not ds.any())
        if not fl["no_retrieval"]:
            check(case, "cf = 0 for the query without neighbours", not last["cf"][1].any())
            check(case, "attention weights 0 at holes", not last["pf"][torch.from_numpy(batch["nb"] < 0)].any())
            if not fl["no_slow"]:
                check(case, "bank attention 0 at holes", not last["ps"][torch.from_numpy(batch["bank_idx"] < 0)].any())
                check(case, "bank rows sum to 1", torch.allclose(last["ps"].sum(1), torch.ones(Q)))
    else:
        check(case, "dxb = 0 (baseline)", not dxb.any())
        for n in model.names:
            gn = grads[offs[n][0]:offs[n][0] + offs[n][1]]
            check(case, "non-zero gradient for %s" % n, bool(gn.any()))
    # AdamW written out == torch.optim.AdamW
    man = adamw_manual(model, torch.from_numpy(flat), bt_nograd)
    live = torch.from_numpy(~dead)
    check(case, "manual AdamW == torch AdamW (max diff %.2e)" % float((man - flat_end)[live].abs().max()),
          torch.allclose(man[live], flat_end[live], rtol=1e-5, atol=1e-6))

    ok, n_in = gradcheck(variant, targets, d, flat, batch)
    check(case, "gradcheck float64", ok)
    print("  gradcheck (float64, %d inputs, outputs yhat and loss): %s" % (n_in, "passed" if ok else "FAILED"))

    # ---------------- write
    outdir = os.path.join(OUT, case)
    os.makedirs(outdir, exist_ok=True)
    arrays = dict(batch)
    arrays.update(params=flat, out=out, loss=np.array([float(loss)], np.float32), grads=grads,
                  dxf=dxf, dxb=dxb, ds=ds, curve=curve)
    order = ["xf", "xb", "eb", "s", "y", "nb", "bank_key", "bank_val", "bank_idx",
             "params", "out", "loss", "grads", "dxf", "dxb", "ds", "curve"]
    man_arrays = OrderedDict()
    for k in order:
        a = np.ascontiguousarray(arrays[k])
        dt = {"f": "float32", "i": "int32", "u": "uint8"}[a.dtype.kind]
        a = a.astype({"float32": "<f4", "int32": "<i4", "uint8": "u1"}[dt])
        a.tofile(os.path.join(outdir, k + ".bin"))
        man_arrays[k] = OrderedDict(file=k + ".bin", dtype=dt, shape=list(a.shape))
    manifest = OrderedDict()
    manifest["case"] = case
    manifest["model"] = model.model
    manifest["variant"] = variant
    manifest["flags"] = model.flags
    manifest["byte_order"] = "little"
    manifest["seed"] = seed
    manifest["dims"] = OrderedDict((k, d[k]) for k in ("L_f", "R", "Q", "P", "F", "S", "T", "T_h", "H_f", "H_s",
                                                        "H_z", "Z", "A", "K_s", "K_f", "H_o", "M", "D", "n_heads", "FF"))
    manifest["targets"] = list(targets)
    manifest["target_kind"] = kinds
    manifest["head_of_target"] = model.heads
    manifest["target_mean"] = tg["mean"]
    manifest["target_std"] = tg["std"]
    manifest["weights"] = tg["weights"]
    manifest["layer_norm_eps"] = rr.LN_EPS
    manifest["loss"] = float(loss)
    manifest["n_observed"] = n_obs
    manifest["curve"] = [float(c) for c in curve]
    manifest["adamw"] = OrderedDict(ADAMW)
    manifest["n_params"] = int(flat.size)
    manifest["params"] = [OrderedDict(name=n, shape=list(s), offset=o, size=z, decay=rr.is_decayed(n))
                          for n, s, o, z in rr.param_offsets(model.spec)]
    manifest["arrays"] = man_arrays
    manifest["zero_by_invariance"] = [OrderedDict(name=n, begin=lo, end=hi) for n, lo, hi in dead_entries(model)]
    manifest["gradcheck_float64"] = ok
    with open(os.path.join(outdir, "manifest.json"), "w") as fh:
        fh.write(dumps(manifest) + "\n")

    # read back and recompute: the files alone reproduce the loss
    rb = {}
    for k, a in man_arrays.items():
        npdt = {"float32": "<f4", "int32": "<i4", "uint8": "u1"}[a["dtype"]]
        rb[k] = np.fromfile(os.path.join(outdir, a["file"]), dtype=npdt).reshape(a["shape"])
    m2 = rr.build(variant, d, targets, tg["mean"], tg["std"], tg["weights"])
    m2.load_flat(torch.from_numpy(rb["params"]))
    with torch.no_grad():
        y2 = m2(to_torch({k: rb[k] for k in order[:9]}, torch.float32))
        l2 = float(m2.loss(y2, torch.from_numpy(rb["y"])))
    check(case, "read-back reproduces out and loss", np.array_equal(y2.numpy(), rb["out"]) and l2 == float(rb["loss"][0]))
    return float(loss), curve, ok


def dumps(obj):
    """JSON (indent 1) with every list of scalars, then every object without
    nested objects, on one line."""
    s = json.dumps(obj, indent=1)
    s = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", s)
    return re.sub(r"\{\s+([^{}]*?)\s+\}", lambda m: "{" + " ".join(m.group(1).split()) + "}", s)


def check_layers(check):
    """The written-out GRU and LSTM equal torch.nn.GRU / torch.nn.LSTM (gate order),
    the layer norm torch's, the tanh GELU torch's approximate='tanh'."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(5, 4, 3, generator=g)
    gru = torch.nn.GRU(3, 6)
    ref = gru(x)[0][-1]
    mine = rr.gru_last(x, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    check("layers", "GRU == torch.nn.GRU", torch.allclose(ref, mine, atol=1e-6))
    lstm = torch.nn.LSTM(3, 6)
    ref = lstm(x)[0][-1]
    mine = rr.lstm_last(x, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    check("layers", "LSTM == torch.nn.LSTM", torch.allclose(ref, mine, atol=1e-6))
    gg, bb = torch.randn(3, generator=g), torch.randn(3, generator=g)
    check("layers", "layer_norm == F.layer_norm",
          torch.allclose(rr.layer_norm(x, gg, bb), torch.nn.functional.layer_norm(x, (3,), gg, bb), atol=1e-5))
    check("layers", "gelu_tanh == F.gelu(approximate='tanh')",
          torch.allclose(rr.gelu_tanh(x), torch.nn.functional.gelu(x, approximate="tanh"), atol=1e-6))
    mha = torch.nn.MultiheadAttention(8, 2)
    t = torch.randn(5, 4, 8, generator=g)
    ref = mha(t, t, t, need_weights=False)[0]
    mine = rr.multi_head_self_attention(t, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight,
                                        mha.out_proj.bias, 2)
    check("layers", "self-attention == torch.nn.MultiheadAttention", torch.allclose(ref, mine, atol=1e-5))
    print("layers: GRU, LSTM, layer norm, GELU, multi-head attention agree with torch.nn")


def main():
    global OUT
    if len(sys.argv) > 1:
        OUT = os.path.abspath(sys.argv[1])
    check = Checks()
    check_layers(check)
    results = []
    for i, (case, variant, targets) in enumerate(CASES):
        print("%s (%s, targets %s)" % (case, variant, ", ".join(targets)))
        loss, curve, ok = write_case(case, variant, list(targets), 20240 + i, check)
        print("  loss %.7g, AdamW curve %.5g -> %.5g" % (loss, curve[0], curve[-1]))
        results.append((case, ok))
    total = 0
    for dp, _, fs in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(dp, f)) for f in fs)
    print("gradcheck (float64): " + ", ".join("%s %s" % (c, "passed" if ok else "FAILED") for c, ok in results))
    print("wrote %s: %d bytes" % (OUT, total))
    if total > 200 * 1024:
        check("all", "golden data under 200 kB", False)
    if check.failed:
        print("%d check(s) failed:\n  %s" % (len(check.failed), "\n  ".join(check.failed)))
        sys.exit(1)
    print("all %d checks passed" % check.n)


if __name__ == "__main__":
    main()
