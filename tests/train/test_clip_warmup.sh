#!/bin/sh
# -train_clip and -train_warmup_steps on NP ranks, against AdamW's first step
# worked out by hand (docs/MODEL.md section 7). At step 1 Adam's update of an
# element is lr * g / (|g| + eps) = +-lr (bias-corrected moments), plus the
# weight decay lr * wd * p. So, from the same initial parameters p0 (a run
# with lr 1e-30 keeps them):
#  - without either option no element moves by more than lr, and most by
#    about lr (those whose gradient is far above eps);
#  - -train_warmup_steps 4: the first step uses lr / 4, so it moves each such
#    element by a quarter of the plain step (to 1e-3 relative);
#  - -train_clip 1e-12: the whole gradient is scaled to norm 1e-12, far below
#    eps = 1e-8, so no element moves by more than lr * 1e-4 (plus the decay).
# usage: test_clip_warmup.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_clip_warmup.sh NP}
PY=/usr/bin/python3
HERE=$(dirname "$0")

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-90 -sim_lat 35,45 -sim_years 2 -sim_seed 4 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
ONE="-raci_hidden 8 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 8 -train_epochs 1 -train_steps 1 -train_batch 16 -train_seed 3 -split_val_frac 0.2 -train_wd 0"
for c in "p0 -train_lr 1e-30" "plain" "warm -train_warmup_steps 4" "clip -train_clip 1e-12"; do
  set -- $c
  name=$1; shift
  run_np "$NP" train -quiet -data "$TMP/sim.nc" -o "$TMP/$name.ckpt" $ONE "$@" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train $name"; }
done
$PY - "$TMP" "$HERE" <<'PYEOF' || fail "first AdamW step"
import sys, struct
import numpy as np
sys.path.insert(0, sys.argv[2])
import ckpt
def params(name):
    b = ckpt.read(f"{sys.argv[1]}/{name}.ckpt")["params"]
    n = struct.unpack("<q", b[:8])[0]
    return np.frombuffer(b[8:8 + 4 * n], dtype="<f4").astype(float)
p0, plain, warm, clip = (params(n) for n in ("p0", "plain", "warm", "clip"))
lr = 1e-3
d_plain, d_warm, d_clip = plain - p0, warm - p0, clip - p0
moved = np.abs(d_plain) > 0.99 * lr  # elements whose gradient is far above eps
assert np.abs(d_plain).max() < 1.0001 * lr, f"a plain first step moved an element by {np.abs(d_plain).max():.3e} > lr"
assert moved.mean() > 0.5, f"only {moved.mean():.2f} of the parameters moved by about lr in a plain step"
r = d_warm[moved] / d_plain[moved]
assert np.allclose(r, 0.25, rtol=1e-3, atol=0), f"warm-up step / plain step: {r.min():.4f} .. {r.max():.4f}, not 1/4"
assert np.abs(d_clip).max() < 2 * lr * 1e-4, f"a clipped step moved an element by {np.abs(d_clip).max():.2e}"
print(f"  {moved.sum()} of {p0.size} parameters: plain step +-lr, warm-up step {r.mean():.4f} of it, clipped step at most {np.abs(d_clip).max():.1e}")
PYEOF
echo "ok clip and warm-up on $NP rank(s)"
