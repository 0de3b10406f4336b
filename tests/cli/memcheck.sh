#!/usr/bin/env bash
# memtool's own commands under valgrind memcheck, on a live libmemapi
# workload and on a core of it: no memory errors, no definite leaks.
# Usage: tests/cli/memcheck.sh BUILD_DIR (run by make valgrind).
set -u
build=${1:-build}
mt="$build/memtool"
tmp=$(mktemp -d)
pass=0 fail=0
"$mt" demo --serve "$tmp/truth.json" 2>"$tmp/wl.err" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 1000); do [ -s "$tmp/truth.json" ] && break; sleep 0.01; done

check() {
	if valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
	     "$mt" "$@" >/dev/null 2>"$tmp/vg.err"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: memtool $*: $(grep '==' "$tmp/vg.err" | head -20)"
	fi
}

for c in maps heap dep thunks enclave; do check "$c" --pid "$pid" --json; done
check query 10000 --pid "$pid"
check heap --pid "$pid" --blocks --validate
check watch --pid "$pid" --count 2 --interval 10 --unwatched
check status --json
check demo
if (ulimit -f 2097152; timeout 120 gcore -o "$tmp/core" "$pid") >/dev/null 2>&1; then
	for c in maps heap dep thunks enclave; do check "$c" --core "$tmp/core.$pid"; done
else
	echo "FAIL: gcore"; fail=$((fail + 1))
fi
echo "memcheck: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
