#!/bin/sh
# Runs the Check suite binaries given after the build directory, prints each
# one's summary, and exits non-zero if any suite failed.
#   tests/run-suites.sh BUILD_DIR BIN...
#   VALGRIND=1 tests/run-suites.sh ...     each suite under valgrind memcheck
set -u

if [ $# -lt 1 ]; then
	echo "usage: run-suites.sh BUILD_DIR BIN..." >&2
	exit 2
fi
build=$1
shift

# ASan installs its SIGSEGV/SIGBUS handlers before libmemapi's constructor;
# libmemapi chains to them for faults it does not handle, and ASan's handler
# reports the fault and exits with status 1 instead of dying by the signal.
# The suites assert that unhandled faults end the process with SIGSEGV, as
# on Windows, so ASan must leave those two signals to libmemapi (the build
# still checks every load and store). Harmless in a build without ASan.
ASAN_OPTIONS="handle_segv=0:handle_sigbus=0:${ASAN_OPTIONS:-}"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export ASAN_OPTIONS UBSAN_OPTIONS

# The suites fault on purpose through tl_read/tl_write (testlib.c) to test
# the exception machinery; memcheck would count each such access as an error.
suppressions()
{
	supp=$build/tests/deliberate-faults.supp
	mkdir -p "$build/tests"
	for fn in tl_read tl_write; do
		for kind in Addr1 Value1; do
			printf '{\n  %s-%s\n  Memcheck:%s\n  fun:%s\n}\n' "$fn" "$kind" "$kind" "$fn"
		done
	done > "$supp"
	echo "$supp"
}

runner=""
if [ "${VALGRIND:-0}" = 1 ]; then
	# Tests still fork (CK_FORK stays on): valgrind follows the forked test
	# processes, checks each one and its exit code reports their errors.
	# --trace-children: check_watch re-executes itself for the fallback run.
	# --vex-guest-chase=no: valgrind 3.19 resumes a faulting access with a
	# corrupted stack when the fault is in a callee it chased into (a SIGSEGV
	# handler that fixes the page and returns, as the fault suites do);
	# allregs-at-mem-access: the CONTEXT a handler sees must be exact.
	# --fair-sched=yes: valgrind runs one thread at a time, and by default a
	# thread that drops and retakes a lock in a loop keeps the CPU, so a
	# test whose other thread waits for that lock times out.
	runner="valgrind --fair-sched=yes --vex-guest-chase=no --px-default=allregs-at-mem-access"
	runner="$runner --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q"
	runner="$runner --trace-children=yes --suppressions=$(suppressions)"
	TL_VALGRIND=1
	CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10}
	export TL_VALGRIND CK_TIMEOUT_MULTIPLIER
fi

# Each suite's output is kept so that a failure is summed up at the end,
# where a CI log that shows only its tail still has the reason.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=""
for bin in "$@"; do
	name=$(basename "$bin")
	echo "== $name"
	# dash has no pipefail: the suite's status goes through a file.
	{ $runner "$bin"; echo $? >"$logs/$name.rc"; } 2>&1 | tee "$logs/$name"
	if [ "$(cat "$logs/$name.rc")" != 0 ]; then
		failed="$failed $name"
	fi
done

if [ -n "$failed" ]; then
	for name in $failed; do
		echo "-- $name: failed checks and memcheck errors"
		grep -E ':[FE]:|ERROR SUMMARY: [1-9]|^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|[0-9,]+ bytes in .* definitely)|Timeout|Received signal' \
			"$logs/$name" | head -40
	done
	echo "FAILED suites:$failed ($build)"
	exit 1
fi
echo "all $# suites passed ($build)"
exit 0
