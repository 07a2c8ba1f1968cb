#!/bin/sh
# test_golden cannot pass by accident: on a copy of tests/data/golden with one
# case's manifest removed and another case's reference outputs altered, it
# must fail, name both cases, and still check and report every other case.
. "$(dirname "$0")/../lib/common.sh"
G="$TMP/golden"
cp -r tests/data/golden "$G"
rm "$G/lstm/manifest.json"
/usr/bin/python3 - "$G/raci/yhat.bin" <<'PY'
import sys, numpy as np
x = np.fromfile(sys.argv[1], dtype=np.float32); x[0] += 0.1 * (abs(x[0]) + 1); x.tofile(sys.argv[1])
PY
if "$RACI_TESTBIN/test_golden" "$G" > "$TMP/out" 2>&1; then cat "$TMP/out"; fail "test_golden passed with a missing manifest and a wrong output"; fi
cat "$TMP/out"
grep -q "^FAIL lstm: no .*manifest.json" "$TMP/out" || fail "the missing manifest is not reported"
grep -q "^FAIL raci  *outputs" "$TMP/out" || fail "the wrong output is not reported"
n=$(grep -c "^ok " "$TMP/out")
[ "$n" -eq 7 ] || fail "$n of the 7 intact cases reported ok (every case must be checked)"
"$RACI_TESTBIN/test_golden" tests/data/golden > /dev/null || fail "test_golden fails on the real golden files"
echo "test_golden_guard: ok"
