"""Training throughput of the PyTorch reference networks in the segment form (a benchmark, not a test).

Runs the training step of `raci train` -- forward, masked MSE loss, backward and
torch.optim.AdamW (weight decay on the `.W` tensors only) -- with the modules of
raci_ref.py in float32 on one thread (torch.set_num_threads(1)), on random batches
of segments in the layout of docs/MODEL.md section 6, and prints one line per model:
scored cell-days per second (B segments x S_c scored days per step / seconds).

    /usr/bin/python3 tools/reference/bench_torch.py                  # RACI and every baseline
    /usr/bin/python3 tools/reference/bench_torch.py -model raci,tcn -B 64 -R 192 -M 2533

Defaults: W = 30 warm-up and S_c = 90 scored days (T = 120 days per segment), H_f = 64,
a batch of B = 64 segments, K_f = 8 neighbours among R = 3 B fast-encoder rows (RACI; the
baselines read the B query rows only), slow blocks of L_b = 30 days (NB = (S_c - 1)/L_b + 2
block slots per segment), M = 2500 bank entries.

What is timed: `-steps` steps after `-warmup` untimed ones. The batches are made before the
clock starts (raci's figure includes building its batches from the data). Each row's record
has a gap (a missing day, then a restart) with probability `-gap`; scored days with age < W
have no target. RACI gets a precomputed `bank_idx` (K_s random distinct entries per
(segment, slot), all valid), so the search for the K_s nearest bank keys that raci does inside
its step is not timed here; the network's work does not depend on which entries are chosen.
The recurrent loops are raci_ref's (input projection as one product, then the time steps taken
with unbind(0)); torch.nn.GRU/LSTM's kernels cannot restart a row's state mid-sequence.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raci_ref  # noqa: E402

DEFAULT_DIMS = {"W": 30, "Sc": 90, "L_b": 30, "P": 12, "F": 6, "S": 14, "H_f": 64, "H_s": 32, "H_z": 32, "Z": 16,
                "A": 32, "K_s": 8, "K_f": 8, "H_o": 64, "D": 32, "n_heads": 4, "FF": 64, "K_t": 3}
ALL = ("raci", "lstm", "ealstm", "transformer", "tcn")


def ages(rng, T, R, gap):
    """age (T, R): every day present, but with probability `gap` a row misses one day at
    random (-1) and restarts the next day (0)."""
    age = np.tile(np.arange(T, dtype=np.int32)[:, None], (1, R))
    for r in np.nonzero(rng.random(R) < gap)[0]:
        t0 = int(rng.integers(0, T))
        age[t0, r] = -1
        age[t0 + 1:, r] = np.arange(T - t0 - 1)
    return age


def make_batch(rng, d, B, R, M, Tg, gap, dtype):
    """Random batch in MODEL.md section 6 layout. Neighbour rows: each query gets K_f
    distinct rows other than its own, every extra row B..R-1 used at least once."""
    W, Sc, Lb, P, F, S, Z, Ks, Kf = (d[k] for k in ("W", "Sc", "L_b", "P", "F", "S", "Z", "K_s", "K_f"))
    T, NB = W + Sc, (Sc - 1) // Lb + 2
    age = ages(rng, T, R, gap)
    xf = rng.normal(size=(T, R, F))
    xf[age < 0] = 0
    nb = np.stack([[r for r in rng.permutation(R) if r != b][:Kf] for b in range(B)]).astype(np.int32)
    for j, r in enumerate(range(B, R)):  # R <= B (K_f + 1): slot (j % B, j // B) is free for row r
        if r not in nb[j % B]:
            nb[j % B, j // B] = r
    off = rng.integers(0, Lb, B)  # day of its block on which each segment's first scored day falls
    blk = ((off[:, None] + np.arange(Sc)[None, :]) // Lb).astype(np.int32)  # (B, S_c)
    bank_idx = np.stack([rng.choice(M, size=Ks, replace=False) for _ in range(B * NB)]).astype(np.int32)
    y = rng.normal(size=(Sc, B, Tg))
    y[age[W:, :B] < W] = np.nan
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    return {
        "xf": t(xf).to(dtype),
        "age": t(age),
        "s": t(rng.normal(size=(R, S))).to(dtype),
        "xb": t(rng.normal(size=(P, B * NB, F))).to(dtype),
        "eb": t((rng.random((B * NB, P)) < 0.05).astype(np.uint8)),
        "blk": t(blk),
        "y": t(y).to(dtype),
        "nb": t(nb),
        "bank_key": t(rng.normal(size=(M, Z))).to(dtype),
        "bank_val": t(rng.normal(size=(M, Z + 2 * Tg))).to(dtype),
        "bank_idx": t(bank_idx),
    }


def bench(variant, a, dims, targets):
    """Times the training step of one model; returns the figures as a dict."""
    Tg = len(targets)
    B, M = a.B, a.M
    model_name, _ = raci_ref.parse_variant(variant)
    R = (a.R or 3 * B) if model_name == "raci" else B  # baselines read rows 0..B-1 only
    assert B > 0 and B <= R <= B * (dims["K_f"] + 1) and M >= dims["K_s"], (B, R, M)
    torch.manual_seed(a.seed)
    model = raci_ref.build(variant, dims, targets, [0.0] * Tg, [1.0] * Tg, None, torch.float32)
    # MODEL.md section 5 initialisation: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), layer norms 1/0, empty block 0
    with torch.no_grad():
        fan = 1
        for (name, shape), p in zip(model.spec, model.params):
            if len(shape) == 2:
                fan = shape[1]
            if name.startswith("ln") and name.endswith(".g"):
                p.fill_(1.0)
            elif name.startswith("ln") or name == "slow.empty":
                p.zero_()
            else:
                p.uniform_(-1 / fan ** 0.5, 1 / fan ** 0.5)
    decay = [p for (n, _), p in zip(model.spec, model.params) if raci_ref.is_decayed(n)]
    other = [p for (n, _), p in zip(model.spec, model.params) if not raci_ref.is_decayed(n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    rng = np.random.default_rng(a.seed)
    batches = [make_batch(rng, dims, B, R, M, Tg, a.gap, torch.float32) for _ in range(max(1, a.batches))]

    def step(b):
        opt.zero_grad(set_to_none=True)
        loss = model.loss(model(b), b["y"])
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(batches[i % len(batches)])
    t0 = time.perf_counter()
    for i in range(a.steps):
        loss = step(batches[i % len(batches)])
    dt = time.perf_counter() - t0
    Sc, T = dims["Sc"], dims["W"] + dims["Sc"]
    return {"model": variant, "B": B, "R": R, "M": M, "W": dims["W"], "Sc": Sc, "T": T,
            "NB": (Sc - 1) // dims["L_b"] + 2, "steps": a.steps, "warmup": a.warmup, "seconds": dt,
            "cell_days_per_s": B * Sc * a.steps / dt, "segments_per_s": B * a.steps / dt,
            "parameters": raci_ref.n_params(model.spec), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "last_loss": float(loss), "bank_idx": "precomputed" if model_name == "raci" else "none"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-model", default="all", help="comma-separated among %s, or all" % ", ".join(raci_ref.VARIANTS))
    ap.add_argument("-B", type=int, default=64, help="segments per step")
    ap.add_argument("-R", type=int, default=0, help="fast-encoder rows per step for RACI (default 3 B)")
    ap.add_argument("-M", type=int, default=2500, help="bank entries")
    ap.add_argument("-targets", default="GPP,RECO,NEE,FCH4")
    ap.add_argument("-gap", type=float, default=0.05, help="share of rows with a missing day (a restart)")
    ap.add_argument("-steps", type=int, default=50, help="timed steps")
    ap.add_argument("-warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("-batches", type=int, default=4, help="distinct random batches, used in turn")
    ap.add_argument("-threads", type=int, default=1)
    ap.add_argument("-seed", type=int, default=1)
    ap.add_argument("-json", default="", help="also write the figures to this JSON file (a list for several models)")
    for k, v in DEFAULT_DIMS.items():
        ap.add_argument("-" + k, type=int, default=v)
    ap.add_argument("-L_t", type=int, default=0, help="TCN levels (default: the smallest with a field >= W + 1)")
    a = ap.parse_args(argv)
    models = ALL if a.model == "all" else tuple(a.model.split(","))
    for m in models:
        if m not in raci_ref.VARIANTS:
            ap.error("unknown model %r (known: %s)" % (m, ", ".join(raci_ref.VARIANTS)))

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(a.threads)
    dims = {k: getattr(a, k) for k in DEFAULT_DIMS}
    dims["T"] = dims["W"] + dims["Sc"]
    dims["L_t"] = a.L_t or raci_ref.tcn_levels(dims["W"], dims["K_t"])
    targets = a.targets.split(",")
    outs = []
    for m in models:
        r = bench(m, a, dims, targets)
        outs.append(r)
        print("torch %-17s B %d segments (T %d = W %d + Sc %d), R %d, M %d, %d parameters; %d steps in %.3f s: "
              "%.0f scored cell-days/s" % (m, r["B"], r["T"], r["W"], r["Sc"], r["R"], r["M"], r["parameters"],
                                           r["steps"], r["seconds"], r["cell_days_per_s"]), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(outs[0] if len(outs) == 1 else outs, f)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
