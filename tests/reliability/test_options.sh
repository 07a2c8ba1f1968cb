#!/bin/sh
# Options (issue 12, "Crashes and options"), NP ranks:
#  - bad option values are refused with one line "raci: error: ..." naming the
#    option and what is wrong, a non-zero exit, no output and never a PETSc
#    traceback: a missing value, a negative or NaN learning rate, a zero size,
#    a wrong count of -sim_lon/-sim_lat values, a name given twice or in two
#    roles, non-integers for integer options, sizes that overflow an int or the
#    memory, a file with 0 time steps;
#  - raci COMMAND -help lists the command's options and exits 0 without doing
#    the work, whatever else is on the command line;
#  - the default land-sea mask of raci simulate is found under
#    $RACI_SHARED_DATA, else beside the binary, from any directory, and a
#    missing one is named with RACI_SHARED_DATA and -sim_mask.
# Every case runs, then the failures are counted (so a run against an older
# binary shows each case that fails).       usage: test_options.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_options.sh NP}
LIMIT=${RACI_TEST_TIMEOUT:-60}
MASK=$GRID/landsea-1deg/landsea.nc
SMALLSIM="-sim_lon -100,-96 -sim_lat 40,44 -sim_years 1 -sim_spinup 0"
[ -x "$RACI" ] || fail "no raci binary at $RACI (run make)"
[ -r "$MASK" ] || fail "shared data missing: $MASK"

# run_np under a time limit: an old binary may run the work instead of refusing
run_np() {
  np=$1; shift
  if [ "$np" -eq 1 ]; then timeout -k 5 "$LIMIT" "$RACI" "$@"
  else timeout -k 5 "$LIMIT" mpirun -q -n "$np" "$RACI" "$@"
  fi
}

# Cases run JOBS at a time (mpirun mostly waits), each in its own directory
# $BASE/case/NN as $TMP (refuses keeps its files there); the results are
# printed in order at the end.
BASE=$TMP JOBS=${RACI_TEST_JOBS:-3} ncase=0
launch() { # FUNCTION args...
  while [ $((ncase - $(ls "$BASE"/case/*/done 2> /dev/null | wc -l))) -ge "$JOBS" ]; do sleep 0.1; done
  ncase=$((ncase + 1))
  d=$BASE/case/$(printf '%02d' "$ncase")
  mkdir -p "$d"
  (TMP=$d; ("$@") > "$d/result" 2>&1 || grep -q '^FAIL' "$d/result" || echo "FAIL: $2" >> "$d/result"; touch "$d/done") &
}

# bad LABEL WANT raci-args...: `refuses` (one error line containing WANT, a
# regular expression; non-zero exit; no output) and no PETSc traceback.
bad_case() {
  label=$1 want=$2; shift 2
  n=$#
  while [ "$n" -gt 0 ]; do # @OUT@ stands for the case's output file
    a=$1; shift; [ "$a" = @OUT@ ] && a=$TMP/out.x
    set -- "$@" "$a"; n=$((n - 1))
  done
  refuses "$label" "$want" "$TMP/out.x" "$@" || return 1
  ! grep -q 'PETSC ERROR\|^-----' "$TMP/err" || { echo "FAIL: $label: PETSc traceback on stderr"; return 1; }
}
bad() { launch bad_case "$@"; }

# the inputs: a 4 x 4-cell simulation and a file with 0 time steps
run_np 1 simulate -quiet -o "$TMP/sim.nc" $SMALLSIM -sim_mask "$MASK" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate the input"; }
cat > "$TMP/zero.cdl" <<'EOF'
netcdf zero {
dimensions:
  time = UNLIMITED ;
  lat = 2 ;
  lon = 2 ;
variables:
  double time(time) ;
    time:units = "days since 2000-01-01" ;
  double lat(lat) ;
  double lon(lon) ;
  float TA(time, lat, lon) ;
    TA:raci_role = "fast" ;
  float GPP(time, lat, lon) ;
    GPP:raci_role = "target" ;
  float elev(lat, lon) ;
    elev:raci_role = "slow" ;
data:
  lat = 40, 41 ;
  lon = -100, -99 ;
  elev = 1, 2, 3, 4 ;
}
EOF
ncgen -5 -o "$TMP/zero.nc" "$TMP/zero.cdl" || fail "ncgen zero.cdl"

T="train -quiet -data $TMP/sim.nc -o @OUT@"
S="simulate -quiet -o @OUT@ -sim_mask $MASK"

# 1. option values
bad "a missing value at the end"            'train_batch needs a value'          $T -train_batch
bad "a missing value before an option"      'train_batch needs a value'          $T -train_batch -train_steps 2
bad "a missing file name"                   '^raci: error: -o needs a value'     simulate -quiet -sim_mask "$MASK" -o
bad "a missing -run_record value"           'run_record needs a value'           info "$TMP/sim.nc" -run_record
bad "a negative learning rate"              'train_lr -1: out of range'          $T -train_lr -1
bad "a NaN learning rate"                   'train_lr nan: not a finite number'  $T -train_lr nan
bad "a NaN weight decay"                    'train_wd nan: not a finite number'  $T -train_wd nan
bad "an infinite length scale"              'sim_length_scale inf: not a finite' $S $SMALLSIM -sim_length_scale inf
bad "a zero hidden size"                    'raci_hidden 0: out of range'        $T -raci_hidden 0
bad "one -sim_lon value"                    'sim_lon -100: 1 number, expected 2' $S -sim_lon -100 -sim_lat 40,44
bad "three -sim_lat values"                 'sim_lat 40,42,44: 3 numbers, expected 2' $S -sim_lon -100,-96 -sim_lat 40,42,44
bad "a name twice in -fast"                 "fast names 'TA' twice"              $T -fast TA,TA -target GPP
bad "a name in -fast and -target"           "'TA' is given two roles, -fast and -target" $T -fast TA -target TA
bad "a name in -slow and -fast"             "'elev' is given two roles, -fast and -slow" $T -fast TA,elev -slow elev -target GPP
bad "an empty name"                         'fast TA,,P: an empty name'          $T -fast TA,,P
bad "a decimal for an integer"              'train_batch 3.5: not an integer'    $T -train_batch 3.5
bad "a word for an integer"                 'train_batch abc: not an integer'    $T -train_batch abc
bad "a word for an integer (predict)"       'predict_chunk_days abc: not an integer' predict -ckpt "$TMP/none.ckpt" -data "$TMP/sim.nc" -o @OUT@ -predict_chunk_days abc
bad "a word for a true/false option"        'quiet maybe: expected true or false' $S $SMALLSIM -quiet maybe
bad "a bad value of a PETSc option"         'bad option value: Input string abc'  $S $SMALLSIM -da_processors_x abc

# 2. sizes that overflow an int or the memory
bad "a batch of 2e9"                        'train_batch 2000000000: out of range' $T -train_batch 2000000000
bad "a hidden size of 100000"               'raci_hidden 100000: out of range'   $T -raci_hidden 100000
bad "-sim_res 0.0001"                       'grid would have 1200000 x 650000 = 780000000000 cells, too many' simulate -quiet -o @OUT@ -sim_mask "$MASK" -sim_res 0.0001
bad "-sim_res 0.002"                        'sim_res 0.002 .*would need about .* GB of memory per rank' simulate -quiet -o @OUT@ -sim_mask "$MASK" -sim_res 0.002
bad "a model too large for the memory"      'train_batch 1048576 with -raci_hidden 4096.*would need about .* GB of memory per rank' $T -train_batch 1048576 -raci_hidden 4096

# 3. a file with 0 time steps
bad "0 time steps (train)"                  'zero.nc has 0 time steps'           train -quiet -data "$TMP/zero.nc" -o @OUT@
bad "0 time steps (convert)"                'zero.nc has 0 time steps'           convert -data "$TMP/zero.nc" -o @OUT@

# 4. -help: exit 0, the command's options, nothing run or written
helps_case() { # LABEL WANT OUT raci-args...: exit 0, WANT (fixed string) on stdout, no PETSc help, OUT not written
  label=$1 want=$2 out=$3; shift 3
  why=""
  run_np "$NP" "$@" > "$TMP/out" 2> "$TMP/err" || why="exit status $?"
  grep -qF -- "$want" "$TMP/out" || why="${why:+$why; }stdout lacks '$want'"
  ! grep -q 'Options for all PETSc programs' "$TMP/out" || why="${why:+$why; }PETSc's generic help"
  [ ! -s "$TMP/err" ] || why="${why:+$why; }stderr: $(head -c 300 "$TMP/err")"
  [ ! -e "$out" ] && ! ls "$TMP"/*.tmp > /dev/null 2>&1 || why="${why:+$why; }$out written"
  ! grep -q '^raci simulate: wrote\|^raci train: ' "$TMP/out" || why="${why:+$why; }the work ran"
  [ -z "$why" ] || { echo "FAIL: help $label: $why"; return 1; }
  echo "ok help $label"
}
helps() { launch helps_case "$@"; }
helps "simulate -o X -help"          "-sim_res <1>"            "$BASE/h1.nc" simulate -o "$BASE/h1.nc" $SMALLSIM -sim_mask "$MASK" -help
helps "simulate, a bad value, -help" "-sim_chunk <73>"         "$BASE/h1.nc" simulate -o "$BASE/h1.nc" -sim_res abc -help
helps "train -data MISSING -help"    "-train_batch <64>"       "$BASE/h3.ckpt" train -data "$BASE/missing.nc" -o "$BASE/h3.ckpt" -help
helps "train, a bad value, -help"    "-raci_hidden <64>"       "$BASE/h4.ckpt" train -data "$BASE/sim.nc" -o "$BASE/h4.ckpt" -train_lr nan -help
helps "predict -help"                "-predict_batch <256>"    "$BASE/h5.nc" predict -ckpt "$BASE/none.ckpt" -data "$BASE/sim.nc" -o "$BASE/h5.nc" -help
helps "eval -help"                   "-eval_split"             "$BASE/h6.json" eval -pred "$BASE/none.nc" -data "$BASE/sim.nc" -eval_json "$BASE/h6.json" -help
helps "convert -help"                "-convert_chunk <365>"    "$BASE/h7.nc" convert -data "$BASE/sim.nc" -o "$BASE/h7.nc" -help
helps "prep -help"                   "-prep_sites"             "$BASE/h8.nc" prep -format fluxnet-ch4 -i "$BASE" -o "$BASE/h8.nc" -help
helps "info -help"                   "-fast"                   "$BASE/none" info "$BASE/sim.nc" -help

# 5. the default mask, from a directory where ../shared/data does not exist:
#    a copy of the binary in a project tree beside shared/data, and one without
mkdir -p "$TMP/proj/bin" "$TMP/shared" "$TMP/far/lone/bin"
ln -s "$(cd "$RACI_SHARED_DATA" && pwd)" "$TMP/shared/data"
cp "$RACI" "$TMP/proj/bin/raci" && cp "$RACI" "$TMP/far/lone/bin/raci" || fail "copy $RACI"
SHARED_ABS=$(cd "$RACI_SHARED_DATA" && pwd)
mask_run_case() { # LABEL BINARY SHARED ("" = unset): simulate from $TMP/a/b/c must write its file
  label=$1 bin=$2 shared=$3
  mkdir -p "$TMP/a/b/c"
  if (cd "$TMP/a/b/c" && if [ -n "$shared" ]; then export RACI_SHARED_DATA="$shared"; else unset RACI_SHARED_DATA; fi
      RACI=$bin run_np "$NP" simulate -quiet -o m.nc $SMALLSIM) > "$TMP/out" 2> "$TMP/err" && [ -s "$TMP/a/b/c/m.nc" ]; then
    echo "ok mask $label"
  else
    cat "$TMP/err"; echo "FAIL: mask $label"; return 1
  fi
}
mask_bad_case() { # LABEL BINARY SHARED: refused, naming RACI_SHARED_DATA and -sim_mask
  label=$1 bin=$2 shared=$3
  mkdir -p "$TMP/a/b/c"
  cd "$TMP/a/b/c" || return 1
  if [ -n "$shared" ]; then export RACI_SHARED_DATA="$shared"; else unset RACI_SHARED_DATA; fi
  RACI=$bin bad_case "$label" 'RACI_SHARED_DATA.*-sim_mask FILE' simulate -quiet -o "$TMP/out.x" $SMALLSIM
}
mask_run() { launch mask_run_case "$@"; }
mask_bad() { launch mask_bad_case "$@"; }
mask_run "beside the binary, RACI_SHARED_DATA unset" "$TMP/proj/bin/raci" ""
mask_run "under RACI_SHARED_DATA"                    "$RACI"               "$SHARED_ABS"
mask_bad "a RACI_SHARED_DATA without the mask"       "$RACI"               "$BASE/nowhere"
mask_bad "none beside the binary, RACI_SHARED_DATA unset" "$TMP/far/lone/bin/raci" ""

wait
nfail=0
for d in "$BASE"/case/*; do
  cat "$d/result"
  grep -q '^FAIL' "$d/result" && nfail=$((nfail + 1))
done
[ "$nfail" -eq 0 ] || fail "$nfail of $ncase cases failed at $NP ranks"
echo "test_options: ok, $ncase cases at $NP ranks"
