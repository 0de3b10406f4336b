#!/usr/bin/env bash
# CLI tests: run the built memtool against real processes and real core
# files and check exit codes, messages and output against ground truth.
# Every tests/cli/t-*.sh is sourced in turn (helpers in lib.sh).
# Usage: tests/cli/run.sh BUILD_DIR [t-NAME.sh ...]
set -u
build=${1:-build}
shift || true
mt="$build/memtool"
here=$(dirname "$0")
pass=0 fail=0
tmp=$(mktemp -d)
cleanup_pids=()
trap 'kill $sleeper "${cleanup_pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
. "$here/lib.sh"
sleep 300 & sleeper=$!

files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$here"/t-*.sh)
for tfile in "${files[@]}"; do
	[ -f "$tfile" ] || tfile="$here/$tfile"
	before=$fail
	. "$tfile"
	[ "$fail" -eq "$before" ] || echo "  ($((fail - before)) failed in $(basename "$tfile"))"
done

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
