#!/bin/sh
# check_symbols.sh - every exported (non-static) symbol of each layer's
# library carries a prefix that tests/layers/symbol_prefixes.txt allows for
# that library (exported symbols carry their module's prefix: no bare
# json_dump, arena_new, max_of). Lists the offenders and fails if any.
#
#   check_symbols.sh BUILD_DIR [PREFIX_FILE]
#
# Registered with ctest (CMakeLists.txt, "layer checks"); needs nm.
set -eu
build=${1:?usage: check_symbols.sh BUILD_DIR [PREFIX_FILE]}
here=$(cd "$(dirname "$0")" && pwd)
allow=${2:-$here/symbol_prefixes.txt}
status=0
checked=0
for lib in cllm_core cllm_formats cllm_serve cllm_server; do
    a="$build/lib$lib.a"
    if [ ! -f "$a" ]; then
        echo "check_symbols: $a: not built" >&2
        status=1
        continue
    fi
    entries=$(awk -v lib="$lib" '$1 == lib { for (i = 2; i <= NF; i++) print $i }' "$allow")
    # names starting with "__" are the compiler's (sanitizers' __odr_asan.*)
    bad=$(nm -g --defined-only "$a" | awk 'NF == 3 && $3 !~ /^__/ { print $3 }' | sort -u |
        awk -v entries="$entries" '
            BEGIN { n = split(entries, e, "\n") }
            {
                ok = 0
                for (i = 1; i <= n && !ok; i++) {
                    p = e[i]
                    if (p ~ /_$/) ok = substr($0, 1, length(p)) == p
                    else ok = $0 == p
                }
                if (!ok) print
            }')
    count=$(nm -g --defined-only "$a" | awk 'NF == 3 && $3 !~ /^__/' | wc -l)
    checked=$((checked + count))
    if [ -n "$bad" ]; then
        echo "check_symbols: lib$lib.a exports symbols without an allowed prefix ($allow):" >&2
        echo "$bad" | sed 's/^/  /' >&2
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "check_symbols: $checked exported symbols, all with their module's prefix"
exit "$status"
