"""Training throughput of the PyTorch reference networks (a benchmark, not a test).

Runs the training step of `raci train` -- forward, masked MSE loss, backward and
torch.optim.AdamW (weight decay on the `.W` tensors only) -- with the modules of
raci_ref.py in float32 on one thread, on random batches in the layout of
docs/MODEL.md section 6, and reports samples per second. tools/bench-train.sh
runs it next to `raci train` with the batch shapes raci used (Q queries and R
fast-encoder rows per step, M bank entries).

    /usr/bin/python3 tools/reference/bench_torch.py -model raci -Q 64 -R 150 -M 2533

What is timed: `-steps` steps after `-warmup` untimed ones. The batches are
made before the clock starts (raci's figure includes building its batches from
the data). RACI gets a precomputed `bank_idx` (K_s random distinct entries per
query, all valid), so the search for the K_s nearest bank keys that raci does
inside its step is not timed here; the network's work does not depend on which
entries are chosen.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raci_ref  # noqa: E402

DEFAULT_DIMS = {"L_f": 30, "P": 12, "F": 6, "S": 14, "H_f": 64, "H_s": 32, "H_z": 32, "Z": 16, "A": 32,
                "K_s": 8, "K_f": 8, "H_o": 64, "D": 32, "n_heads": 4, "FF": 64}


def make_batch(rng, d, Q, R, M, T, dtype):
    """Random batch in MODEL.md section 6 layout. Neighbour rows: each query gets
    K_f distinct rows other than its own, every extra row Q..R-1 used at least once."""
    Lf, P, F, S, Z, Ks, Kf = d["L_f"], d["P"], d["F"], d["S"], d["Z"], d["K_s"], d["K_f"]
    nb = np.stack([[r for r in rng.permutation(R) if r != q][:Kf] for q in range(Q)]).astype(np.int32)
    for j, r in enumerate(range(Q, R)):  # R <= Q (K_f + 1): slot (j % Q, j // Q) is free for row r
        if r not in nb[j % Q]:
            nb[j % Q, j // Q] = r
    bank_idx = np.stack([rng.choice(M, size=Ks, replace=False) for _ in range(Q)]).astype(np.int32)
    y = rng.normal(size=(Q, T)).astype(np.float32)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    return {
        "xf": t(rng.normal(size=(Lf, R, F))).to(dtype),
        "xb": t(rng.normal(size=(P, Q, F))).to(dtype),
        "eb": t((rng.random((Q, P)) < 0.05).astype(np.uint8)),
        "s": t(rng.normal(size=(Q, S))).to(dtype),
        "y": t(y).to(dtype),
        "nb": t(nb),
        "bank_key": t(rng.normal(size=(M, Z))).to(dtype),
        "bank_val": t(rng.normal(size=(M, Z + 2 * T))).to(dtype),
        "bank_idx": t(bank_idx),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-model", default="raci", choices=raci_ref.VARIANTS)
    ap.add_argument("-Q", type=int, default=64, help="queries (samples) per step")
    ap.add_argument("-R", type=int, default=0, help="fast-encoder rows per step (default Q; RACI adds neighbour rows)")
    ap.add_argument("-M", type=int, default=2500, help="bank entries")
    ap.add_argument("-targets", default="GPP,RECO,NEE,FCH4")
    ap.add_argument("-steps", type=int, default=50, help="timed steps")
    ap.add_argument("-warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("-batches", type=int, default=4, help="distinct random batches, used in turn")
    ap.add_argument("-threads", type=int, default=1)
    ap.add_argument("-seed", type=int, default=1)
    ap.add_argument("-json", default="", help="also write the figures to this JSON file")
    for k, v in DEFAULT_DIMS.items():
        ap.add_argument("-" + k, type=int, default=v)
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(a.threads)
    torch.manual_seed(a.seed)
    dtype = torch.float32
    dims = {k: getattr(a, k) for k in DEFAULT_DIMS}
    targets = a.targets.split(",")
    T = len(targets)
    Q, M = a.Q, a.M
    model_name, _ = raci_ref.parse_variant(a.model)
    R = (a.R or Q) if model_name == "raci" else Q  # baselines read rows 0..Q-1 only
    assert R >= Q and Q > 0 and M >= dims["K_s"]

    model = raci_ref.build(a.model, dims, targets, [0.0] * T, [1.0] * T, None, dtype)
    # MODEL.md section 5 initialisation: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), layer norms 1/0
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
    batches = [make_batch(rng, dims, Q, R, M, T, dtype) for _ in range(max(1, a.batches))]

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
    out = {"model": a.model, "Q": Q, "R": R, "M": M, "steps": a.steps, "warmup": a.warmup, "seconds": dt,
           "samples_per_s": Q * a.steps / dt, "parameters": raci_ref.n_params(model.spec), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "last_loss": float(loss), "bank_idx": "precomputed" if model_name == "raci" else "none"}
    print("torch %s: Q %d, R %d, M %d, %d parameters; %d steps in %.3f s: %.0f samples/s" %
          (a.model, Q, R, M, out["parameters"], a.steps, dt, out["samples_per_s"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
