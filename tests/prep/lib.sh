# Sourced by the prep tests after tests/lib/common.sh.
# bad LABEL WANT raci-prep-args...: raci prep on $NP ranks writing $TMP/bad.nc
# must fail with exactly one stderr line, "raci: error: ..." containing WANT
# (a fixed string), and leave neither the output nor a temporary file.
bad() {
  label=$1 want=$2; shift 2
  rm -f "$TMP/bad.nc"
  if run_np "$NP" prep "$@" -o "$TMP/bad.nc" > "$TMP/out" 2> "$TMP/err"; then fail "$label: accepted"; fi
  [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] && [ "$(wc -l < "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "$label: not one error line"; }
  grep -qF -- "$want" "$TMP/err" || { cat "$TMP/err"; fail "$label: message does not say '$want'"; }
  [ ! -e "$TMP/bad.nc" ] && ! ls "$TMP"/*.tmp > /dev/null 2>&1 || fail "$label: output written"
  echo "ok refuses $label: $(cat "$TMP/err")"
}
