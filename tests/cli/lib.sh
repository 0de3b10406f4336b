# Shared by the CLI test files (tests/cli/t-*.sh), which run.sh sources in
# one shell: $mt is the memtool under test, $tmp a scratch directory,
# $sleeper a plain process (no libmemapi) that lives through the run.

ok()   { pass=$((pass + 1)); }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect NAME CODE CMD...: the command exits with CODE.
expect() {
	local name=$1 code=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ "$rc" -eq "$code" ]; then ok; else bad "$name: exit $rc, want $code ($(head -c 300 "$tmp/err"))"; fi
}
# has NAME FILE PATTERN: FILE matches the extended regex.
has() { if grep -Eq -- "$3" "$2"; then ok; else bad "$1: no '$3' in $(head -c 300 "$2")"; fi; }
json() { if python3 -m json.tool "$2" >/dev/null 2>&1; then ok; else bad "$1: invalid JSON"; fi; }

