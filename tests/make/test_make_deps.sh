#!/bin/sh
# The Makefile tracks every header an object includes (-MMD -MP): in a copy
# of the tree, after a first build, touching the private src/model/network.h
# or the public include/raci/sim.h rebuilds exactly the objects whose sources
# include it directly or through other headers (found here independently,
# with grep), and nothing else.
. "$(dirname "$0")/../lib/common.sh"
C="$TMP/tree"
mkdir -p "$C"
cp -r Makefile src include tools "$C"/
ALL=$(cd "$C" && ls src/*/*.c | sed 's|^\(.*\)\.c$|build/\1.o|')
(cd "$C" && make -s -j2 $ALL > "$TMP/build.log" 2>&1) || { cat "$TMP/build.log"; fail "first build of the copy"; }
compiles() { (cd "$C" && make -n $ALL | sed -n 's/.* -c \(src\/[^ ]*\.c\) .*/\1/p' | sort); }
[ -z "$(compiles)" ] || fail "a second make wants to rebuild: $(compiles)"
# includes_of NAME: the headers' include names that include NAME, directly or not
includes_of() {
  set -- "$1"; seen=" $1 "
  while [ $# -gt 0 ]; do
    n=$1; shift
    for f in "$C"/include/raci/*.h "$C"/src/*/*.h; do
      [ -e "$f" ] || continue
      case $f in */include/*) name="raci/$(basename "$f")" ;; *) name=$(basename "$f") ;; esac
      case $seen in *" $name "*) continue ;; esac
      if grep -q "#include [<\"]$n[>\"]" "$f"; then seen="$seen$name "; set -- "$@" "$name"; fi
    done
  done
  echo $seen
}
check_header() {
  h=$1 pat=$2
  want=$(cd "$C" && for n in $(includes_of "$pat"); do grep -l "#include [<\"]$n[>\"]" src/*/*.c; done | sort -u)
  [ -n "$want" ] || fail "no source includes $h"
  # sources an hour old, the build half an hour old, the header now: no clock skew
  find "$C/src" "$C/include" -type f -exec touch -d '-1 hour' {} +
  find "$C/build" -type f -exec touch -d '-30 minutes' {} +
  touch "$C/$h"
  got=$(compiles)
  [ "$got" = "$want" ] || { echo "want: $want" >&2; echo "got: $got" >&2; fail "touching $h"; }
  echo "ok touching $h rebuilds $(echo "$got" | wc -l) objects: $(echo $got)"
  (cd "$C" && make -s $ALL > /dev/null 2>&1) || fail "rebuild after touching $h"
}
check_header src/model/network.h network.h
check_header include/raci/sim.h raci/sim.h
echo "test_make_deps: ok"
