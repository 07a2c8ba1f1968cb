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

`-rnn` chooses the recurrent layers (GRU, LSTM, EA-LSTM), which the script
swaps in raci_ref's module namespace; all three compute the same function (the
script checks the loss and every gradient against raci_ref's own loops first):

- `ref` (default): raci_ref's loops as they are. They index the input
  projection as `gx[t]`, so autograd builds the gradient of gx by adding L_f
  full-size tensors, each zero but for one time step: most of the backward time.
- `unbind`: the same loops taking the time steps with `gx.unbind(0)`: the same
  operations in the same order (bitwise the same results), gx's gradient built once.
- `nn`: the kernels of torch.nn.GRU and torch.nn.LSTM (`torch.gru`,
  `torch.lstm`) with raci_ref's weights, which have their gate order and shapes.
  EA-LSTM has no torch.nn counterpart and uses the `unbind` loop.
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


def gru_last_unbind(x, W_ih, W_hh, b_ih, b_hh):
    """raci_ref.gru_last with the time steps of gx taken by unbind(0)."""
    H = W_hh.shape[1]
    h = x.new_zeros(x.shape[1], H)
    for g in raci_ref.linear(x, W_ih, b_ih).unbind(0):
        gh = raci_ref.linear(h, W_hh, b_hh)
        r = torch.sigmoid(g[:, :H] + gh[:, :H])
        z = torch.sigmoid(g[:, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(g[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
    return h


def lstm_last_unbind(x, W_ih, W_hh, b_ih, b_hh):
    """raci_ref.lstm_last with the time steps of gx taken by unbind(0)."""
    H = W_hh.shape[1]
    h = x.new_zeros(x.shape[1], H)
    c = x.new_zeros(x.shape[1], H)
    for gt in raci_ref.linear(x, W_ih, b_ih).unbind(0):
        g = gt + raci_ref.linear(h, W_hh, b_hh)
        i = torch.sigmoid(g[:, :H])
        f = torch.sigmoid(g[:, H:2 * H])
        gg = torch.tanh(g[:, 2 * H:3 * H])
        o = torch.sigmoid(g[:, 3 * H:])
        c = f * c + i * gg
        h = o * torch.tanh(c)
    return h


def ealstm_last_unbind(x, s, W_i, b_i, W_ih, W_hh, b):
    """raci_ref.ealstm_last with the time steps of gx taken by unbind(0)."""
    H = W_hh.shape[1]
    i = torch.sigmoid(raci_ref.linear(s, W_i, b_i))
    h = x.new_zeros(x.shape[1], H)
    c = x.new_zeros(x.shape[1], H)
    for gt in raci_ref.linear(x, W_ih, b).unbind(0):
        g = gt + raci_ref.linear(h, W_hh)
        f = torch.sigmoid(g[:, :H])
        gg = torch.tanh(g[:, H:2 * H])
        o = torch.sigmoid(g[:, 2 * H:])
        c = f * c + i * gg
        h = o * torch.tanh(c)
    return h


def gru_last_nn(x, W_ih, W_hh, b_ih, b_hh):
    """torch.nn.GRU's kernel (torch.gru) with raci_ref's weights (same gate order and shapes)."""
    h0 = x.new_zeros(1, x.shape[1], W_hh.shape[1])
    _, h = torch.gru(x, h0, [W_ih, W_hh, b_ih, b_hh], True, 1, 0.0, True, False, False)
    return h[0]


def lstm_last_nn(x, W_ih, W_hh, b_ih, b_hh):
    """torch.nn.LSTM's kernel (torch.lstm) with raci_ref's weights (same gate order and shapes)."""
    h0 = x.new_zeros(1, x.shape[1], W_hh.shape[1])
    _, h, _ = torch.lstm(x, (h0, h0), [W_ih, W_hh, b_ih, b_hh], True, 1, 0.0, True, False, False)
    return h[0]


RNN = {  # EA-LSTM has no torch.nn counterpart: its "nn" version is the unbind loop
    "unbind": {"gru_last": gru_last_unbind, "lstm_last": lstm_last_unbind, "ealstm_last": ealstm_last_unbind},
    "nn": {"gru_last": gru_last_nn, "lstm_last": lstm_last_nn, "ealstm_last": ealstm_last_unbind},
}


def use_rnn(kind):
    """Point raci_ref's module-level recurrent functions (looked up by RaciRef,
    LstmRef, EaLstmRef at call time) at the chosen version; "ref" restores them."""
    for name in ("gru_last", "lstm_last", "ealstm_last"):
        if not hasattr(raci_ref, "_orig_" + name):
            setattr(raci_ref, "_orig_" + name, getattr(raci_ref, name))
        setattr(raci_ref, name, RNN[kind][name] if kind in RNN else getattr(raci_ref, "_orig_" + name))


def loss_and_grad(model, b):
    model.zero_grad(set_to_none=True)
    loss = model.loss(model(b), b["y"])
    loss.backward()
    return loss.detach().clone(), model.flat_grad().clone()


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
    ap.add_argument("-rnn", default="ref", choices=("ref", "unbind", "nn"),
                    help="recurrent layers: raci_ref's loops as they are, the loops with unbind(0), "
                         "or torch.nn.GRU/LSTM's kernels (same math)")
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
    assert Q > 0 and Q <= R <= Q * (dims["K_f"] + 1) and M >= dims["K_s"], (Q, R, M)

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

    if a.rnn != "ref" and model_name != "transformer":
        # same math: loss and gradients agree with raci_ref's own loops to float32 rounding
        use_rnn("ref")
        l0, g0 = loss_and_grad(model, batches[0])
        use_rnn(a.rnn)
        l1, g1 = loss_and_grad(model, batches[0])
        err = float((g1 - g0).abs().max() / g0.abs().max().clamp(min=1e-30))
        if not (torch.allclose(l0, l1, rtol=1e-5, atol=0) and err < 1e-4):
            print("bench_torch: -rnn %s disagrees with raci_ref: loss %r vs %r, gradient %.3g" % (a.rnn, float(l0), float(l1), err), file=sys.stderr)
            return 1
        print("bench_torch: -rnn %s agrees with raci_ref: loss %r vs %r, largest gradient difference %.2g of the largest gradient" % (a.rnn, float(l0), float(l1), err), file=sys.stderr)
    use_rnn(a.rnn)

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
    out = {"model": a.model, "rnn": a.rnn, "Q": Q, "R": R, "M": M, "steps": a.steps, "warmup": a.warmup, "seconds": dt,
           "samples_per_s": Q * a.steps / dt, "parameters": raci_ref.n_params(model.spec), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "last_loss": float(loss), "bank_idx": "precomputed" if model_name == "raci" else "none"}
    print("torch %s (%s loops): Q %d, R %d, M %d, %d parameters; %d steps in %.3f s: %.0f samples/s" %
          (a.model, a.rnn, Q, R, M, out["parameters"], a.steps, dt, out["samples_per_s"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
