#!/bin/sh
# Data loss (issue 12), NP ranks: no output replaces an input or is left half
# written.  usage: test_outputs.sh NP
#  1. an output that is an input (same path, symbolic link, hard link):
#     predict -o = -data / -ckpt, train -o / -train_report = -data, train -o =
#     -init_from, convert -o = -data, simulate -o = -sim_mask, eval
#     -eval_json = -pred / -data, -run_record = an input, prep -o = one of
#     the CSVs of -i; two outputs that are one file: refused before any work
#     with one line naming both options, the input byte-identical, nothing
#     written;
#  2. an unwritable -run_record fails at the start, before the output is
#     written (it used to fail after all the work);
#  3. train -o onto an existing checkpoint: refused without -resume or
#     -overwrite (the model byte-identical); -overwrite replaces it, -resume
#     continues it;
#  4. SIGTERM (and SIGINT on 1 rank) to simulate and predict, and SIGTERM to
#     mpirun on NP ranks: non-zero exit, no OUT.<pid>.tmp left, an existing
#     output byte-identical;
#  5. stale temporaries (OUT.<pid>.tmp of a process that no longer runs) of a
#     run's own outputs are removed, those of running processes and of other
#     outputs are kept;
#  6. a 300-character path: simulate, convert and info (Open MPI's OMPIO
#     shared-file-pointer component used to abort with a buffer overflow).
# Every case runs (a failing one does not stop the others); the test fails
# if any did.
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_outputs.sh NP}
nfail=0
# in a subshell, so that a failure (fail exits) ends only its case
check() { ( "$@" ) || nfail=$((nfail + 1)); }

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-96 -sim_lat 40,44 -sim_years 1 -sim_seed 5 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
SMALL="-quiet -raci_hidden 8 -raci_slow_hidden 4 -raci_z 2 -raci_attn 4 -raci_head 8 -raci_slow_days 60 -raci_blocks 2 -train_epochs 1 -train_steps 3 -train_batch 8 -train_seed 2 -split_test_box -98,-96,40,42"
run_np 1 train -data "$TMP/sim.nc" -o "$TMP/m.ckpt" $SMALL > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train"; }
run_np 1 predict -quiet -ckpt "$TMP/m.ckpt" -data "$TMP/sim.nc" -o "$TMP/p.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "predict"; }
cp "$GRID/landsea-1deg/landsea.nc" "$TMP/mask.nc" || fail "no land-sea mask in $GRID"
no_tmp() { ! ls "$TMP"/*.tmp > /dev/null 2>&1 || { ls "$TMP"/*.tmp; fail "$1: temporary file left"; }; }

# protects LABEL WANT FILES -- raci-args: raci on NP ranks fails with one
# line "raci: error: ..." containing WANT; every FILE is byte-identical
# afterwards (each case works on its own copies) and no temporary is left.
protects() {
  label=$1 want=$2; shift 2
  files=""
  while [ "$1" != -- ]; do files="$files $1"; shift; done
  shift
  # shellcheck disable=SC2086
  md5sum $files > "$TMP/sums"
  if run_np "$NP" "$@" > "$TMP/out" 2> "$TMP/err"; then fail "$label: accepted (exit 0)"; fi
  [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "$label: not one error line"; }
  grep -qF -- "$want" "$TMP/err" || { cat "$TMP/err"; fail "$label: the message does not say '$want'"; }
  md5sum -c --quiet "$TMP/sums" || fail "$label: an input changed"
  no_tmp "$label"
  echo "ok $label: $(cat "$TMP/err")"
}
fresh() { for f in "$@"; do cp "$TMP/$f" "$TMP/c-$f"; done; } # per-case copies

# 1. an output that is an input, two outputs that are one file
t1() {
  fresh sim.nc
  protects "predict -o = -data" "-o '$TMP/c-sim.nc' is the same file as -data '$TMP/c-sim.nc'" "$TMP/c-sim.nc" -- \
    predict -quiet -ckpt "$TMP/m.ckpt" -data "$TMP/c-sim.nc" -o "$TMP/c-sim.nc"
}
t2() {
  fresh m.ckpt
  ln -sf "$TMP/c-m.ckpt" "$TMP/link.ckpt"
  protects "predict -o = -ckpt (symbolic link)" "-o '$TMP/link.ckpt' is the same file as -ckpt '$TMP/c-m.ckpt'" "$TMP/c-m.ckpt" -- \
    predict -quiet -ckpt "$TMP/c-m.ckpt" -data "$TMP/sim.nc" -o "$TMP/link.ckpt"
}
t3() {
  fresh sim.nc
  rm -f "$TMP/hard.nc" && ln "$TMP/c-sim.nc" "$TMP/hard.nc"
  protects "predict -o = -data (hard link)" "-o '$TMP/hard.nc' is the same file as -data '$TMP/c-sim.nc'" "$TMP/c-sim.nc" -- \
    predict -quiet -ckpt "$TMP/m.ckpt" -data "$TMP/c-sim.nc" -o "$TMP/hard.nc"
}
t4() {
  fresh sim.nc
  protects "train -o = -data" "-o '$TMP/c-sim.nc' is the same file as -data" "$TMP/c-sim.nc" -- \
    train -data "$TMP/c-sim.nc" -o "$TMP/c-sim.nc" $SMALL
}
t5() {
  fresh sim.nc
  protects "train -train_report = -data" "-train_report '$TMP/c-sim.nc' is the same file as -data" "$TMP/c-sim.nc" -- \
    train -data "$TMP/c-sim.nc" -o "$TMP/new.ckpt" -train_report "$TMP/c-sim.nc" $SMALL
  [ ! -e "$TMP/new.ckpt" ] || fail "train -train_report = -data: a checkpoint was written"
}
t6() {
  fresh m.ckpt
  protects "train -o = -init_from" "-o '$TMP/c-m.ckpt' is the same file as -init_from" "$TMP/c-m.ckpt" -- \
    train -data "$TMP/sim.nc" -o "$TMP/c-m.ckpt" -init_from "$TMP/c-m.ckpt" $SMALL
}
t7() {
  fresh sim.nc
  protects "convert -o = -data" "-o '$TMP/c-sim.nc' is the same file as -data" "$TMP/c-sim.nc" -- \
    convert -data "$TMP/c-sim.nc" -o "$TMP/c-sim.nc"
}
t8() {
  fresh mask.nc
  protects "simulate -o = -sim_mask" "-o '$TMP/c-mask.nc' is the same file as -sim_mask" "$TMP/c-mask.nc" -- \
    simulate -quiet -o "$TMP/c-mask.nc" -sim_mask "$TMP/c-mask.nc" -sim_lon -100,-96 -sim_lat 40,44 -sim_years 1
}
t9() {
  fresh p.nc
  protects "eval -eval_json = -pred" "-eval_json '$TMP/c-p.nc' is the same file as -pred" "$TMP/c-p.nc" -- \
    eval -pred "$TMP/c-p.nc" -data "$TMP/sim.nc" -eval_json "$TMP/c-p.nc"
}
t10() {
  fresh sim.nc
  protects "eval -eval_json = -data" "-eval_json '$TMP/c-sim.nc' is the same file as -data" "$TMP/c-sim.nc" -- \
    eval -pred "$TMP/p.nc" -data "$TMP/c-sim.nc" -eval_json "$TMP/c-sim.nc"
}
t11() {
  fresh sim.nc
  ln -sf "$TMP/c-sim.nc" "$TMP/link.nc"
  protects "info FILE -run_record FILE" "-run_record '$TMP/link.nc' is the same file as FILE" "$TMP/c-sim.nc" -- \
    info "$TMP/c-sim.nc" -run_record "$TMP/link.nc"
}
t12() {
  fresh sim.nc
  protects "convert -run_record = -data" "-run_record '$TMP/c-sim.nc' is the same file as -data" "$TMP/c-sim.nc" -- \
    convert -data "$TMP/c-sim.nc" -o "$TMP/new.nc" -run_record "$TMP/c-sim.nc"
  [ ! -e "$TMP/new.nc" ] || fail "convert -run_record = -data: the output was written"
}
t13() {
  rm -f "$TMP/new.ckpt"
  protects "train -o = -train_report" "-o '$TMP/new.ckpt' and -train_report '$TMP/new.ckpt' are the same file" "$TMP/sim.nc" -- \
    train -data "$TMP/sim.nc" -o "$TMP/new.ckpt" -train_report "$TMP/new.ckpt" $SMALL
  [ ! -e "$TMP/new.ckpt" ] || fail "train -o = -train_report: written"
}
t14() {
  rm -f "$TMP/e.json"
  protects "eval -eval_json = -run_record" "-eval_json '$TMP/e.json' and -run_record '$TMP/e.json' are the same file" "$TMP/p.nc" -- \
    eval -pred "$TMP/p.nc" -data "$TMP/sim.nc" -eval_json "$TMP/e.json" -run_record "$TMP/e.json"
  [ ! -e "$TMP/e.json" ] || fail "eval -eval_json = -run_record: written"
}
t15() {
  fresh p.nc
  protects "predict -o = -run_record (existing output)" "-o '$TMP/c-p.nc' and -run_record '$TMP/c-p.nc' are the same file" "$TMP/c-p.nc" -- \
    predict -quiet -ckpt "$TMP/m.ckpt" -data "$TMP/sim.nc" -o "$TMP/c-p.nc" -run_record "$TMP/c-p.nc"
}
t23() {
  src="$RACI_SHARED_DATA/towers/fluxnet-ch4-daily"
  mkdir -p "$TMP/ch4" && cp "$src"/FLX_AA-Flx_CH4-META_*.csv "$src"/FLX_FI-Lom_*.csv "$src"/FLX_BW-Gum_*.csv "$TMP/ch4/" || fail "no FLUXNET-CH4 files in $src"
  csv=$(ls "$TMP"/ch4/FLX_FI-Lom_*.csv)
  protects "prep -o = a CSV of -i" "-o '$csv' is one of the CSV files of -i '$TMP/ch4'" "$csv" -- \
    prep -quiet -format fluxnet-ch4 -i "$TMP/ch4" -o "$csv" -prep_out_of_range missing
}
for t in t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t23; do check $t; done

# 2. an unwritable -run_record fails before the work
t16() {
  rm -f "$TMP/new.nc"
  protects "simulate -run_record in a missing directory" "cannot write output '$TMP/none/r.json' (-run_record)" "$TMP/sim.nc" -- \
    simulate -quiet -o "$TMP/new.nc" -sim_lon -100,-96 -sim_lat 40,44 -sim_years 1 -run_record "$TMP/none/r.json"
  [ ! -e "$TMP/new.nc" ] || fail "simulate -run_record in a missing directory: the work ran and -o was written"
}
t17() {
  rm -f "$TMP/new.nc"; mkdir -p "$TMP/adir"
  protects "predict -run_record a directory" "cannot write output '$TMP/adir' (-run_record): Is a directory" "$TMP/sim.nc" -- \
    predict -quiet -ckpt "$TMP/m.ckpt" -data "$TMP/sim.nc" -o "$TMP/new.nc" -run_record "$TMP/adir"
  [ ! -e "$TMP/new.nc" ] || fail "predict -run_record a directory: -o was written"
}
check t16
check t17

# 3. train -o onto an existing checkpoint
t18() {
  fresh m.ckpt
  protects "train -o an existing checkpoint" "checkpoint '$TMP/c-m.ckpt' (-o) already exists: add -resume to continue its training or -overwrite to replace it" "$TMP/c-m.ckpt" -- \
    train -data "$TMP/sim.nc" -o "$TMP/c-m.ckpt" $SMALL
  run_np "$NP" train -data "$TMP/sim.nc" -o "$TMP/c-m.ckpt" $SMALL -train_seed 3 -overwrite > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train -overwrite failed"; }
  ! cmp -s "$TMP/c-m.ckpt" "$TMP/m.ckpt" || fail "train -overwrite did not replace the checkpoint"
  run_np "$NP" train -data "$TMP/sim.nc" -o "$TMP/c-m.ckpt" $SMALL -train_seed 3 -resume > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train -resume failed"; }
  no_tmp "train -overwrite, -resume"
  echo "ok train -o an existing checkpoint: -overwrite replaces it, -resume continues it"
}
check t18

# 4. signals: start raci in the background, wait for its temporary, signal it
# interrupt LABEL SIG OUT raci-args: on NP ranks (SIGTERM to mpirun), or on 1
# rank as a plain process with SIGINT's default action restored (a shell
# starts background jobs with SIGINT ignored). OUT may exist before: it must
# be byte-identical afterwards. Exit 2 when raci finished before the signal.
interrupt() {
  label=$1 sig=$2 out=$3; shift 3
  before=absent
  [ -e "$out" ] && before=$(md5sum < "$out")
  if [ "$NP" -eq 1 ]; then
    /usr/bin/python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' "$RACI" "$@" > "$TMP/sig.log" 2>&1 &
  else
    mpirun -q -n "$NP" "$RACI" "$@" > "$TMP/sig.log" 2>&1 &
  fi
  pid=$!
  t=0
  # the temporary with its size reserved (not the empty probe of the start)
  until [ -n "$(find "$(dirname "$out")" -maxdepth 1 -name "$(basename "$out").*.tmp" -size +0 2> /dev/null)" ]; do
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1; t=$((t + 1))
    [ $t -lt 600 ] || { kill -KILL "$pid"; fail "$label: no temporary file after 60 s"; }
  done
  kill -"$sig" "$pid" 2> /dev/null
  wait "$pid"; rc=$?
  if [ $rc -eq 0 ]; then grep -q "wrote" "$TMP/sig.log" && return 2; cat "$TMP/sig.log"; fail "$label: exit 0 after SIG$sig"; fi
  no_tmp "$label"
  after=absent
  [ -e "$out" ] && after=$(md5sum < "$out")
  # renamed into place before the signal took effect (raci prints "wrote" only after the rename): finished
  [ "$before" != "$after" ] && grep -q "wrote" "$TMP/sig.log" && return 2
  [ "$before" = "$after" ] || fail "$label: the output changed (before: $before, after: $after)"
  echo "ok $label: exit $rc, no temporary left, the output as before ($before)"
}
t19() {
  rm -f "$TMP/big.nc"
  for years in 12 36; do # a long enough run: about 4 s per 12 years on one rank
    interrupt "simulate, SIGTERM on $NP rank(s)" TERM "$TMP/big.nc" simulate -quiet -o "$TMP/big.nc" -sim_res 0.25 -sim_lon -110,-90 -sim_lat 35,45 -sim_years $years
    rc=$?
    [ $rc -eq 2 ] || return $rc
    echo "  (simulate of $years years finished before the signal; again with more)"; rm -f "$TMP/big.nc"
  done
  fail "simulate finished before SIGTERM every time"
}
check t19
run_np 1 simulate -quiet -o "$TMP/grid.nc" -sim_lon -110,-90 -sim_lat 35,45 -sim_res 0.5 -sim_years 4 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate for predict"; }
t20() { # predict over an existing good output: about a minute of work on one rank (4 years, the
  # role shares on every day), so the signal lands long before the end (the segment form
  # predicted the 2 years of the windowed form's test in about 2 s, and a signal after the
  # rename is too late to keep the old file)
  # not -quiet: "wrote" tells a run that finished before the signal (then again, slower: small batches)
  for sig in TERM $( [ "$NP" -eq 1 ] && echo INT ); do
    for batch in 256 8 1; do
      cp "$TMP/p.nc" "$TMP/pg.nc"
      interrupt "predict over an existing output, SIG$sig on $NP rank(s)" $sig "$TMP/pg.nc" predict -ckpt "$TMP/m.ckpt" -data "$TMP/grid.nc" -o "$TMP/pg.nc" -predict_chunk_days 30 -predict_diag_stride 1 -predict_batch $batch
      rc=$?
      [ $rc -eq 2 ] || break
      echo "  (predict with -predict_batch $batch finished before the signal; again, slower)"
    done
    [ $rc -eq 0 ] || fail "predict finished before SIG$sig every time"
  done
}
check t20

# 5. stale temporaries
t21() {
  dead=999999
  while kill -0 $dead 2> /dev/null; do dead=$((dead - 1)); done
  : > "$TMP/s5.nc.$dead.tmp"; : > "$TMP/s5.nc.$$.tmp"; : > "$TMP/other.nc.$dead.tmp"
  : > "$TMP/e5.json.$dead.tmp"; : > "$TMP/r5.json.$dead.tmp"
  run_np "$NP" simulate -quiet -o "$TMP/s5.nc" -sim_lon -100,-96 -sim_lat 40,44 -sim_years 1 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate with a stale temporary"; }
  [ ! -e "$TMP/s5.nc.$dead.tmp" ] || fail "stale temporary of process $dead (not running) left"
  grep -q "removed '$TMP/s5.nc.$dead.tmp'" "$TMP/log" || { cat "$TMP/log"; fail "the removal is not reported"; }
  [ -e "$TMP/s5.nc.$$.tmp" ] || fail "the temporary of a running process ($$) was removed"
  [ -e "$TMP/other.nc.$dead.tmp" ] || fail "the temporary of another output was removed"
  run_np "$NP" eval -pred "$TMP/p.nc" -data "$TMP/sim.nc" -eval_json "$TMP/e5.json" -run_record "$TMP/r5.json" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "eval with stale temporaries"; }
  [ ! -e "$TMP/e5.json.$dead.tmp" ] && [ ! -e "$TMP/r5.json.$dead.tmp" ] || fail "stale temporaries of -eval_json or -run_record left"
  rm -f "$TMP/s5.nc.$$.tmp" "$TMP/other.nc.$dead.tmp"
  no_tmp "stale temporaries"
  echo "ok stale temporaries of process $dead removed (simulate -o, -eval_json, -run_record); a running process's and another output's kept"
}
check t21

# 6. a 300-character path
t22() {
  d=$TMP
  for c in a b c d e; do d="$d/$(printf "$c%.0s" $(seq 1 55))"; done
  mkdir -p "$d" || fail "mkdir"
  long="$d/sim.nc"
  [ ${#long} -ge 300 ] || fail "the long path has only ${#long} characters"
  run_np "$NP" simulate -quiet -o "$long" -sim_lon -100,-96 -sim_lat 40,44 -sim_years 1 > "$TMP/log" 2>&1 || { tail -5 "$TMP/log"; fail "simulate to a ${#long}-character path"; }
  run_np "$NP" convert -data "$long" -o "$d/c.nc" > "$TMP/log" 2>&1 || { tail -5 "$TMP/log"; fail "convert on a ${#long}-character path"; }
  run_np "$NP" info "$d/c.nc" > "$TMP/log" 2>&1 || { tail -5 "$TMP/log"; fail "info on a ${#long}-character path"; }
  grep -q "^file: $d/c.nc" "$TMP/log" || { cat "$TMP/log"; fail "info output"; }
  echo "ok a ${#long}-character path: simulate, convert, info"
}
check t22

[ $nfail -eq 0 ] || fail "$nfail case(s) failed"
echo "test_outputs: ok at $NP ranks"
