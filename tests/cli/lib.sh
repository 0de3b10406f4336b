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

# truthcheck NAME WHAT TRUTH OUT [ARG]: tests/cli/truth.py agrees.
truthcheck() {
	local name=$1; shift
	if python3 "$here/truth.py" "$@" >"$tmp/truth.log" 2>&1; then ok; else bad "$name: $(head -c 600 "$tmp/truth.log")"; fi
}

# The workload runs from a build without AddressSanitizer where there is one:
# an ASan process maps terabytes of shadow memory, and its core would too.
# The memtool under test ($mt) is still the build being tested.
wl_mt=$mt
if readelf -d "$build/libmemapi.so.1" 2>/dev/null | grep -q libasan; then
	wl_mt=""
	if [ -x build/memtool ] && ! readelf -d build/libmemapi.so.1 2>/dev/null | grep -q libasan; then
		wl_mt=build/memtool
	fi
fi

# start_workload NAME [ENV=VALUE...]: runs `memtool demo --serve` as a target
# with known ground truth in $tmp/NAME.json; sets wl_pid.
start_workload() {
	local name=$1; shift
	rm -f "$tmp/$name.json"
	if [ -z "$wl_mt" ]; then
		echo "  skipped: workload tests need a build without sanitizers (run make first)"
		return 1
	fi
	env "$@" "$wl_mt" demo --serve "$tmp/$name.json" 2>"$tmp/$name.err" &
	wl_pid=$!
	cleanup_pids+=("$wl_pid")
	for _ in $(seq 1 1000); do
		[ -s "$tmp/$name.json" ] && return 0
		kill -0 "$wl_pid" 2>/dev/null || break
		sleep 0.01
	done
	bad "workload $name did not start: $(head -c 300 "$tmp/$name.err")"
	return 1
}

# make_core PID FILE: a core of the live process PID, by gdb's gcore. Never
# of a sanitizer build (its shadow memory makes a core of tens of GB), and
# never above 2 GiB (ulimit -f), so a test cannot fill the disk.
make_core() {
	rm -f "$2" "$2.$1"
	if grep -q libasan "/proc/$1/maps" 2>/dev/null; then
		echo "  skipped: no core of $1, an AddressSanitizer process"
		return 1
	fi
	if (ulimit -f 2097152; timeout 120 gcore -o "$2" "$1") >/dev/null 2>"$tmp/gcore.err" &&
	   mv "$2.$1" "$2"; then
		return 0
	fi
	bad "gcore of $1 failed: $(tail -c 300 "$tmp/gcore.err")"
	return 1
}
