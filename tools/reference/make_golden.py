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

# T = W + S_c days per segment; T_g (targets) and T_h (heads) are set per case. L_b is not
# read by the networks: a C model needs model_max_blocks = (S_c - 1) / L_b + 2 >= NB.
DIMS = dict(W=3, Sc=4, T=7, B=3, R=5, NB=2, L_b=4, P=3, F=3, S=4, H_f=8, H_s=6, H_z=6, Z=4, A=5, K_s=3, K_f=3,
            H_o=7, M=6, D=8, n_heads=2, FF=16, K_t=3, L_t=2)
DIM_ORDER = ("W", "Sc", "T", "B", "R", "NB", "L_b", "P", "F", "S", "T_g", "T_h", "H_f", "H_s", "H_z", "Z", "A", "K_s",
             "K_f", "H_o", "M", "D", "n_heads", "FF", "K_t", "L_t")

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
    ("tcn", "tcn", ("GPP", "RECO", "NEE")),
    ("raci_gpp_fch4", "raci", ("GPP", "FCH4")),
]

ADAMW = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-4, steps=10)

# Fixed structure of the batch (W = 3, S_c = 4, T = 7, B = 3, R = 5, NB = 2, K_f = 3, P = 3, K_s = 3).
# age[t, r], one list per row r (days t = 0..6, scored days t = 3..6):
AGE = [[0, 1, 2, 3, 4, 5, 6],    # query 0: every day; all 4 scored days count
       [0, -1, 0, 1, 2, 3, 4],   # query 1: day 1 missing, restart on day 2; scored days 3, 4 have age < W
       [-1, 0, 1, 2, 3, -1, 0],  # query 2: starts before its record; scored day 5 missing, restart on day 6
       [0, 1, 2, 3, 4, -1, 0],   # neighbour row: day 5 missing (masked as neighbour that day)
       [-1, -1, 0, 1, 2, -1, 0]]  # neighbour row: day 5 missing too, so query 0 has no neighbour on day 5
NBR = [[3, 4, -1],     # two neighbour rows and a hole
       [-1, -1, -1],   # no neighbour: cf = 0
       [-1, 0, 3]]     # a hole first, a query row (0) as neighbour, row 3 shared with query 0
BLK = [[0, 1, 1, 1],  # block slot of each scored day
       [0, 0, 0, 1],
       [0, 0, 1, 1]]  # query 2 scores only day 4 (slot 0): its slot 1 (row 5) gets no gradient
# (row b*NB + j, block p): empty blocks, the oldest; row 4 (query 2, slot 0) has no block at all
EMPTY = [(0, 0), (2, 0), (2, 1), (4, 0), (4, 1), (4, 2)]
UNUSED_SLOTS = [5]                     # rows of xb whose days are never scored
OWN_BANK = [0, 1, None]                # bank entry of each query's own location (never retrieved)
BANK_HOLES = [(1, 2), (2, 0), (2, 1), (2, 2), (3, 0), (3, 2)]  # (row, k) set to -1: row 2 has none (cs = 0)
NAN_Y = {("GPP", "RECO", "NEE"): [(1, 0, 2), (3, 0, 0), (2, 1, 1)],  # (scored day, query, target) unobserved
         ("GPP", "FCH4"): [(1, 0, 1), (3, 1, 0)]}
BANK_UNOBSERVED = (5, -1)  # bank entry 5 never observed its last target: ybar = sigma = 0


def dims_for(targets):
    d = dict(DIMS)
    _, _, T_h = rr.output_layout(list(targets))
    d["T_g"], d["T_h"] = len(targets), T_h
    assert d["T"] == d["W"] + d["Sc"] and (d["Sc"] - 1) // d["L_b"] + 2 >= d["NB"]
    assert d["L_t"] == rr.tcn_levels(d["W"], d["K_t"])
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
    """Random batch in the section-6 layout. z0 (B*NB, Z): each (segment, slot)'s z under
    the initial parameters (zeros for models without one), to choose bank_idx as the K_s
    nearest keys, never the query's own entry."""
    T, W, Sc, R, B, NB, P, F, S, Tg, Z, M, Ks = (d[k] for k in ("T", "W", "Sc", "R", "B", "NB", "P", "F", "S", "T_g",
                                                                "Z", "M", "K_s"))
    age = np.array(AGE, np.int32).T.copy()  # (T, R)
    xf = rng.normal(0, 1, (T, R, F)).astype(np.float32)
    xf[age < 0] = 0  # drivers of a missing day enter as 0
    xb = rng.normal(0, 0.7, (P, B * NB, F)).astype(np.float32)
    eb = np.zeros((B * NB, P), np.uint8)
    for r, p in EMPTY:
        eb[r, p] = 1
        xb[p, r, :] = 0
    s = rng.normal(0, 1, (R, S)).astype(np.float32)
    s[:, S - 2:] = 0  # a class as a one-hot over two flag values
    for r in range(R):
        s[r, S - 2 + (r % 2)] = 1
    blk = np.array(BLK, np.int32)
    y = np.zeros((Sc, B, Tg), np.float32)
    gpp = rng.uniform(0.0, 8.0, (Sc, B))
    for k, name in enumerate(targets):
        if name == "GPP":
            y[..., k] = gpp
        elif name == "RECO":
            y[..., k] = rng.uniform(0.5, 6.0, (Sc, B))
        elif name == "NEE":
            y[..., k] = y[..., list(targets).index("RECO")] - gpp + rng.normal(0, 0.3, (Sc, B))
        else:
            y[..., k] = rng.uniform(0.0, 50.0, (Sc, B))
    y[age[W:, :B] < W] = np.nan  # not scored before W days of warm-up (and not on a missing day)
    for t, b, k in NAN_Y[tuple(targets)]:
        assert age[W + t, b] >= W
        y[t, b, k] = np.nan
    nb = np.array(NBR, np.int32)
    bank_key = rng.normal(0, 0.8, (M, Z)).astype(np.float32)
    ybar = rng.normal(0, 0.5, (M, Tg))
    ysd = rng.uniform(0.3, 1.2, (M, Tg))
    ybar[BANK_UNOBSERVED] = 0
    ysd[BANK_UNOBSERVED] = 0
    bank_val = np.concatenate([bank_key, ybar, ysd], axis=1).astype(np.float32)
    bank_idx = np.zeros((B * NB, Ks), np.int32)
    for r in range(B * NB):
        dist = ((bank_key.astype(np.float64) - z0[r].astype(np.float64)) ** 2).sum(1)
        if OWN_BANK[r // NB] is not None:
            dist[OWN_BANK[r // NB]] = np.inf
        bank_idx[r] = np.argsort(dist, kind="stable")[:Ks]
    for r, j in BANK_HOLES:
        bank_idx[r, j] = -1
    return OrderedDict(xf=xf, age=age, s=s, xb=xb, eb=eb, blk=blk, y=y, nb=nb, bank_key=bank_key, bank_val=bank_val,
                       bank_idx=bank_idx)


BATCH_KEYS = ("xf", "age", "s", "xb", "eb", "blk", "y", "nb", "bank_key", "bank_val", "bank_idx")


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


def last_restart(age_r, t):
    """The last day <= t of a row whose state restarts (age <= 0)."""
    return max(u for u in range(t + 1) if age_r[u] <= 0)


def dependency_checks(case, model, batch, check):
    """Which days of xf each output may read, from autograd (exact zeros): the output of scored
    day s of query b depends on no day after W + s (causal), on no row's days before that row's
    last restart at or before W + s, for the transformer on no day before W + s - W (window),
    and it does depend on the query's own day W + s."""
    d = model.dims
    W, Sc, B = d["W"], d["Sc"], d["B"]
    age = batch["age"]
    bt = to_torch(batch, torch.float32)
    bad = []
    for s in range(Sc):
        for b in range(B):
            xf = bt["xf"].clone().requires_grad_(True)
            yhat = model(dict(bt, xf=xf))
            g, = torch.autograd.grad(yhat[s, b].sum(), xf)
            g = g.abs().sum(-1).numpy()  # (T, R)
            t = W + s
            if g[t + 1:].any():
                bad.append("yhat[%d, %d] reads days after %d" % (s, b, t))
            for r in range(batch["xf"].shape[1]):
                lo = last_restart(age[:, r], t)
                if g[:lo, r].any():
                    bad.append("yhat[%d, %d] reads row %d before its restart on day %d" % (s, b, r, lo))
            if model.model == "transformer" and g[:t - W].any():
                bad.append("yhat[%d, %d] reads days before %d (window W = %d)" % (s, b, t - W, W))
            if not g[t, b] > 0:
                bad.append("yhat[%d, %d] does not read its own day %d" % (s, b, t))
    check(case, "outputs causal, restarted at age <= 0%s, and reading their own day (%s)" %
          (", windowed" if model.model == "transformer" else "", "; ".join(bad[:3]) or "every scored day"), not bad)


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
    d = dims_for(targets)
    tg = TARGETS[tuple(targets)]
    rng = np.random.default_rng(seed)
    model = rr.build(variant, d, targets, tg["mean"], tg["std"], tg["weights"])
    flat = init_params(model.spec, rng)
    model.load_flat(torch.from_numpy(flat))
    W, Sc, B, R, NB = d["W"], d["Sc"], d["B"], d["R"], d["NB"]
    # z under the initial parameters (for the bank's nearest keys)
    z0 = np.zeros((B * NB, d["Z"]), np.float32)
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
        check(case, "%s[%d:%d] gradient is rounding noise (%.1e of max)" % (n, lo, hi, noise / gmax),
              noise <= 1e-6 * gmax)
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
    check(case, "outputs (S_c, B, T_g) finite", out.shape == (Sc, B, len(targets)) and bool(np.isfinite(out).all()))
    if "derived" in kinds:
        k_nee, k_gpp, k_reco = targets.index("NEE"), targets.index("GPP"), targets.index("RECO")
        check(case, "NEE == RECO - GPP exactly", np.array_equal(out[..., k_nee], out[..., k_reco] - out[..., k_gpp]))
    for k, kind in enumerate(kinds):
        if kind == "softplus":
            check(case, "%s >= 0" % targets[k], bool((out[..., k] >= 0).all()))
    # loss recomputed in double from the stored outputs
    yy = batch["y"].astype(np.float64)
    obs = ~np.isnan(yy)
    e = (out.astype(np.float64) - np.where(obs, yy, 0)) / np.array(tg["std"])
    ref = float((np.array(tg["weights"]) * e * e * obs).sum() / obs.sum())
    check(case, "loss = masked MSE (double) %.9g vs %.9g" % (ref, float(loss)),
          abs(ref - float(loss)) <= 1e-6 * abs(ref))
    check(case, "no target observed on a day with age < W", not obs[batch["age"][W:, :B] < W].any())
    check(case, "curve[0] == loss", abs(curve[0] - float(loss)) <= 1e-6 * abs(float(loss)))
    check(case, "AdamW curve decreases", curve[-1] < curve[0])
    # no gradient through empty blocks' xb, nor through a slot whose days are never scored
    for r, p in EMPTY:
        check(case, "dxb zero at empty block (row %d, block %d)" % (r, p), not dxb[p, r].any())
    for r in UNUSED_SLOTS:
        check(case, "dxb zero for the unscored slot row %d" % r, not dxb[:, r].any())
    used_rows = set(range(B))
    if model.model == "raci" and not model.flags["no_retrieval"]:
        used_rows |= set(int(r) for r in batch["nb"].ravel() if r >= 0)
    for r in range(R):
        if r not in used_rows:
            check(case, "dxf zero for unused row %d" % r, not dxf[:, r].any())
        else:
            check(case, "dxf non-zero for row %d" % r, bool(dxf[:, r].any()))
    check(case, "ds zero for the neighbour rows", not ds[B:].any())
    dependency_checks(case, model, batch, check)
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
        else:
            check(case, "dxb non-zero at a used slot's non-empty block", bool(dxb[:, 1].any()))
            check(case, "ds non-zero for the queries", all(ds[b].any() for b in range(B)))
        if not fl["no_retrieval"]:
            check(case, "cf = 0 for the query without neighbours", not last["cf"][:, 1].any())
            check(case, "cf = 0 for query 0 on day 5 (both neighbours missing)", not last["cf"][5 - W, 0].any())
            check(case, "attention weights 0 at masked neighbours", not last["pf"][~last["mask_f"]].any())
            check(case, "a missing neighbour day is masked", not bool(last["mask_f"][5 - W, 2, 2]))
            if not fl["no_slow"]:
                hole = torch.from_numpy(batch["bank_idx"] < 0)
                anyv = ~hole.all(1)
                check(case, "bank attention 0 at holes", not last["ps"][hole].any())
                check(case, "bank rows with an entry sum to 1", torch.allclose(last["ps"][anyv].sum(1),
                                                                           torch.ones(int(anyv.sum()))))
                check(case, "cs = 0 for the slot with no bank entry", not last["cs"][~anyv].any())
    else:
        check(case, "dxb = 0 (baseline)", not dxb.any())
        for n in model.names:
            gn = grads[offs[n][0]:offs[n][0] + offs[n][1]]
            if not (model.model == "transformer" and n == "attn.b_qkv"):
                check(case, "non-zero gradient for %s" % n, bool(gn.any()))
        if model.model == "transformer":
            allow = last["allow"]
            check(case, "transformer window: a missing day attends only to itself",
                  bool(allow[2, 5].sum() == 1 and allow[2, 5, 5]))
            check(case, "transformer window: day 6 of query 0 attends days 3..6",
                  allow[0, 6].nonzero().ravel().tolist() == [3, 4, 5, 6])
            check(case, "transformer window: day 3 of query 1 attends days 2..3 (restart on day 2)",
                  allow[1, 3].nonzero().ravel().tolist() == [2, 3])
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
    for f in os.listdir(outdir):  # files of an older format
        if f.endswith(".bin") or f == "manifest.json":
            os.remove(os.path.join(outdir, f))
    arrays = dict(batch)
    arrays.update(yhat=out, params=flat, loss=np.array([float(loss)], np.float32), grads=grads,
                  dxf=dxf, dxb=dxb, ds=ds, curve=curve)
    order = list(BATCH_KEYS) + ["yhat", "params", "loss", "grads", "dxf", "dxb", "ds", "curve"]
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
    manifest["dims"] = OrderedDict((k, d[k]) for k in DIM_ORDER)
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

    # read back and recompute: the files alone reproduce the outputs and the loss
    rb = {}
    for k, a in man_arrays.items():
        npdt = {"float32": "<f4", "int32": "<i4", "uint8": "u1"}[a["dtype"]]
        rb[k] = np.fromfile(os.path.join(outdir, a["file"]), dtype=npdt).reshape(a["shape"])
    m2 = rr.build(variant, d, targets, tg["mean"], tg["std"], tg["weights"])
    m2.load_flat(torch.from_numpy(rb["params"]))
    with torch.no_grad():
        y2 = m2(to_torch({k: rb[k] for k in BATCH_KEYS}, torch.float32))
        l2 = float(m2.loss(y2, torch.from_numpy(rb["y"])))
    check(case, "read-back reproduces yhat and loss",
          np.array_equal(y2.numpy(), rb["yhat"]) and l2 == float(rb["loss"][0]))
    return float(loss), curve, ok


def dumps(obj):
    """JSON (indent 1) with every list of scalars, then every object without
    nested objects, on one line."""
    s = json.dumps(obj, indent=1)
    s = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", s)
    return re.sub(r"\{\s+([^{}]*?)\s+\}", lambda m: "{" + " ".join(m.group(1).split()) + "}", s)


def check_layers(check):
    """The written-out layers against torch.nn: GRU and LSTM (gate order) without restarts,
    and with restarts equal to torch.nn run separately on each stretch between them; layer
    norm; tanh GELU; multi-head attention (full, and windowed with a window as long as the
    sequence = torch's causal mask); the causal dilated convolution = conv1d with left
    padding (the taps in reverse order)."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 4, 3, generator=g)
    age = torch.tensor([[0, 1, 2, -1, 0, 1]] * 4, dtype=torch.int32).t().contiguous()  # (6, 4)
    age[:, 1] = torch.arange(6)  # one row without a restart
    gru = torch.nn.GRU(3, 6)
    lstm = torch.nn.LSTM(3, 6)
    pg = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    pl = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    with torch.no_grad():
        check("layers", "GRU == torch.nn.GRU", torch.allclose(gru(x)[0], rr.gru_seq(x, None, *pg), atol=1e-6))
        check("layers", "LSTM == torch.nn.LSTM", torch.allclose(lstm(x)[0], rr.lstm_seq(x, None, *pl), atol=1e-6))
        hg, hl = rr.gru_seq(x, age, *pg), rr.lstm_seq(x, age, *pl)
        ok_g = ok_l = True
        for b in range(4):
            cut = [t for t in range(6) if age[t, b] <= 0] + [6]
            for t0, t1 in zip(cut[:-1], cut[1:]):
                xs = x[t0:t1, b:b + 1]
                ok_g &= torch.allclose(gru(xs)[0][:, 0], hg[t0:t1, b], atol=1e-6)
                ok_l &= torch.allclose(lstm(xs)[0][:, 0], hl[t0:t1, b], atol=1e-6)
        check("layers", "GRU with restarts == torch.nn.GRU on each stretch", ok_g)
        check("layers", "LSTM with restarts == torch.nn.LSTM on each stretch", ok_l)
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
        causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
        ref = mha(t, t, t, attn_mask=causal, need_weights=False)[0]
        allow = rr.window_mask(torch.arange(5).view(5, 1).expand(5, 4), 5)
        mine = rr.multi_head_self_attention(t, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight,
                                            mha.out_proj.bias, 2, allow)
        check("layers", "windowed self-attention (W >= T) == torch's causal mask", torch.allclose(ref, mine, atol=1e-5))
        C, K, dil = 5, 3, 2
        Wc, bc = torch.randn(C, K * C, generator=g), torch.randn(C, generator=g)
        xc = torch.randn(9, 4, C, generator=g)
        wt = torch.stack([Wc[:, k * C:(k + 1) * C] for k in reversed(range(K))], -1)  # (C, C, K), tap K-1 first
        ref = torch.nn.functional.conv1d(torch.nn.functional.pad(xc.permute(1, 2, 0), ((K - 1) * dil, 0)), wt, bc,
                                         dilation=dil).permute(2, 0, 1)
        mine = rr.causal_conv(xc, torch.arange(9).view(9, 1).expand(9, 4), Wc, bc, K, dil)
        check("layers", "causal dilated convolution == conv1d with left padding", torch.allclose(ref, mine, atol=1e-5))
    print("layers: GRU, LSTM (with restarts), layer norm, GELU, (windowed) multi-head attention, dilated "
          "convolution agree with torch.nn")


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
