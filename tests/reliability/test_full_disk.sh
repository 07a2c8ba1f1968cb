#!/bin/sh
# Data loss (issue 12), NP ranks: a full disk never gives a truncated, sparse
# or half-written output, nor replaces a good one. Small tmpfs file systems
# (mounted here, so root is needed: CI runs as root) too small for the output:
#  1. simulate onto a file system half the output's size: non-zero exit, one
#     error line, nothing left (it used to exit 0 with a sparse file whose
#     holes read as 0.0: Open MPI's OMPIO prints "No space left on device"
#     but returns success);
#  2. convert and 3. predict over an existing good output with room for it
#     but not for a second copy: the good file byte-identical, no temporary
#     (a truncated file used to replace it, exit 0);
#  4. train -o onto a file system smaller than the checkpoint, and 5. train
#     -overwrite over a good checkpoint: nothing left, the good one intact;
#  6. eval -eval_json and 7. -run_record over good JSON on a full file
#     system: the good files intact, no temporary.
# usage: test_full_disk.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_full_disk.sh NP}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: test_full_disk.sh mounts small tmpfs file systems, which needs root (CI runs the tests as root)"
  exit 0
fi
FS="$TMP/fs"
mkdir -p "$FS"
trap 'umount "$FS" 2> /dev/null; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
nfail=0
check() { ( "$@" ) || nfail=$((nfail + 1)); }

# mountfs KIB: a fresh, empty tmpfs of KIB KiB at $FS
mountfs() {
  umount "$FS" 2> /dev/null
  mount -t tmpfs -o size="$1"k tmpfs "$FS" || fail "cannot mount a tmpfs of $1 KiB at $FS"
}
size() { stat -c %s "$1"; }
half() { echo $(($(size "$1") / 2048)); }                 # KiB: half the file
room_for_one() { echo $(($(size "$1") * 3 / 2048 + 4)); } # KiB: the file and half again

# full LABEL KEEP raci-args: raci on NP ranks fails with one error line about
# the full disk; afterwards $FS holds exactly the files named in KEEP (besides
# the filler), each byte-identical to $TMP/good-NAME.
full() {
  label=$1 keep=$2; shift 2
  if run_np "$NP" "$@" > "$TMP/out" 2> "$TMP/err"; then ls -ls "$FS"; fail "$label: exit 0 on a full disk"; fi
  [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "$label: not one error line"; }
  grep -Eq "No space left on device|reached the disk" "$TMP/err" || { cat "$TMP/err"; fail "$label: the message does not say the disk is full"; }
  have=$(ls -A "$FS" | grep -vx fill | sort | paste -sd' ' -)
  [ "$have" = "$keep" ] || { ls -ls "$FS"; fail "$label: the file system holds '$have', expected '$keep'"; }
  for f in $keep; do cmp -s "$FS/$f" "$TMP/good-$f" || fail "$label: $f changed"; done
  echo "ok $label: $(cat "$TMP/err")"
}
# put NAME: the good copy of NAME into $FS
put() { cp "$TMP/good-$1" "$FS/$1" || fail "cannot copy $1 onto the tmpfs"; }
# fill: no byte left on $FS
fill() { dd if=/dev/zero of="$FS/fill" bs=1k 2> /dev/null; [ "$(df -k --output=avail "$FS" | tail -1)" -eq 0 ] || fail "the tmpfs is not full"; }

# good outputs, made on the ordinary disk
SIM="-sim_lon -100,-96 -sim_lat 40,44 -sim_years 1 -sim_seed 5"
SMALL="-quiet -raci_hidden 8 -raci_slow_hidden 4 -raci_z 2 -raci_attn 4 -raci_head 8 -raci_slow_days 60 -raci_blocks 2 -train_epochs 1 -train_steps 3 -train_batch 8 -train_seed 2 -split_test_box -98,-96,40,42"
run_np 1 simulate -quiet -o "$TMP/sim.nc" $SIM > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
run_np 1 convert -data "$TMP/sim.nc" -o "$TMP/good-c.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "convert"; }
run_np 1 train -data "$TMP/sim.nc" -o "$TMP/good-m.ckpt" $SMALL > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train"; }
run_np 1 predict -quiet -ckpt "$TMP/good-m.ckpt" -data "$TMP/sim.nc" -o "$TMP/good-p.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "predict"; }
run_np 1 eval -pred "$TMP/good-p.nc" -data "$TMP/sim.nc" -eval_json "$TMP/good-e.json" -run_record "$TMP/good-r.json" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "eval"; }

c1() { mountfs "$(half "$TMP/sim.nc")"; full "simulate onto a full disk" "" simulate -quiet -o "$FS/s.nc" $SIM; }
c2() { mountfs "$(room_for_one "$TMP/good-c.nc")"; put c.nc; full "convert over a good output" "c.nc" convert -data "$TMP/sim.nc" -o "$FS/c.nc"; }
c3() { mountfs "$(room_for_one "$TMP/good-p.nc")"; put p.nc; full "predict over a good output" "p.nc" predict -quiet -ckpt "$TMP/good-m.ckpt" -data "$TMP/sim.nc" -o "$FS/p.nc"; }
c4() { mountfs "$(half "$TMP/good-m.ckpt")"; full "train -o onto a full disk" "" train -data "$TMP/sim.nc" -o "$FS/m.ckpt" $SMALL; }
c5() { mountfs "$(room_for_one "$TMP/good-m.ckpt")"; put m.ckpt; full "train -overwrite over a good checkpoint" "m.ckpt" train -data "$TMP/sim.nc" -o "$FS/m.ckpt" -overwrite $SMALL; }
c6() { mountfs 64; put e.json; fill; full "eval -eval_json over good JSON" "e.json" eval -pred "$TMP/good-p.nc" -data "$TMP/sim.nc" -eval_json "$FS/e.json"; }
c7() { mountfs 64; put r.json; fill; full "-run_record over a good record" "r.json" info "$TMP/sim.nc" -run_record "$FS/r.json"; }
for c in c1 c2 c3 c4 c5 c6 c7; do check $c; done

[ $nfail -eq 0 ] || fail "$nfail case(s) failed"
echo "test_full_disk: ok at $NP ranks"
