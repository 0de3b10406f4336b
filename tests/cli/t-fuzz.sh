# The core reader on corrupted input: real gcore cores of a small process
# that uses libmemapi and of $sleeper, a synthetic core with libmemapi's
# records of every kind (corrupt.py synth), and a few hundred variants of
# each made by corrupt.py with a fixed seed (truncations inside the headers,
# notes and segments; ELF header, program header, note header and NT_FILE
# fields; huge counts and offsets; broken libmemapi records; random flips).
# `memtool maps`, `memtool query ADDR` and `memtool maps --json` on each
# must exit 0 or 1 by themselves (never a signal, never 2, within 10 s),
# with a "memtool: " message when 1. Deterministic, well under 60 s: with
# a sanitizer build only every 4th variant runs, and the fixture's core is
# left out (gcore of an ASan process dumps ASan's terabytes of reserved
# address space).
# Also the cases of bugs found this way: NT_FILE naming a FIFO, JSON
# strings that must be UTF-8 whatever bytes a core's names hold, a
# copy-relocated memapi_root, and a looping region list under a huge count.

fz_src="$tmp/fz_fixture.c"
cat >"$fz_src" <<'EOF'
/* t-fuzz.sh's target: reservations with committed, guard and read-only
 * pages, a private heap and a named section view, so that its core holds
 * libmemapi's root and records of every kind the walk reads. Writes
 * "ROOT REGION" to argv[1] when ready, then waits to be killed. With
 * COPY_RELOC its own code takes the root's address. */
#include <windows.h>
#include <memapi.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *p = VirtualAlloc(NULL, 4 * 65536, MEM_RESERVE, PAGE_READWRITE), *b, *v, tmp[4200];
	HANDLE h, s;
	DWORD old;
	FILE *f;

	if (argc != 2 || !p || !VirtualAlloc(p, 3 * 4096, MEM_COMMIT, PAGE_READWRITE))
		return 1;
	memset(p, 0x5a, 3 * 4096);
	if (!VirtualAlloc(p + 65536, 4096, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD) ||
	    !VirtualAlloc(p + 2 * 65536, 2 * 4096, MEM_COMMIT, PAGE_READWRITE) ||
	    !VirtualProtect(p + 2 * 65536, 4096, PAGE_READONLY, &old))
		return 1;
	if (!(h = HeapCreate(0, 0, 2 * 65536)) || !(b = HeapAlloc(h, 0, 100)))
		return 1;
	strcpy(b, "fuzz fixture heap block");
	s = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 65536, "Local\\fuzz-fixture");
	if (!s || !(v = MapViewOfFile(s, FILE_MAP_WRITE, 0, 0, 0)))
		return 1;
	strcpy(v, "fuzz fixture view");
	snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
	if (!(f = fopen(tmp, "w")))
		return 1;
	/* dlsym, not &memapi_root: a reference from the executable would move
	 * the root into it by a copy relocation. */
#ifdef COPY_RELOC
	fprintf(f, "%p %p\n", (void *)&memapi_root, (void *)p);
#else
	fprintf(f, "%p %p\n", dlsym(RTLD_DEFAULT, "memapi_root"), (void *)p);
#endif
	if (fclose(f) || rename(tmp, argv[1]))
		return 1;
	for (;;)
		pause();
}
EOF

# fuzz_run NAME CORE ADDR [ROOT]: corrupt.py's run over the variants of CORE.
fuzz_run() {
	local name=$1 core=$2 addr=$3 root=${4:-} extra=(--strict-utf8)
	[ -n "$fz_san" ] && extra+=(--sample 4)
	python3 "$here/corrupt.py" run --memtool "$mt" --core "$core" --addr "$addr" \
		${root:+--root "$root"} --seed 1 "${extra[@]}" >"$tmp/fz.out" 2>&1
	local rc=$?
	if [ "$rc" -eq 0 ] && grep -Eq '^variants [0-9]{2,} runs [0-9]+ failures 0$' "$tmp/fz.out"; then
		ok
	else
		bad "$name: $(grep -c '^FAIL' "$tmp/fz.out") broken runs, e.g. $(head -c 1500 "$tmp/fz.out")"
	fi
}

fz_san=""
if readelf -d "$build/libmemapi.so.1" | grep -q libasan; then fz_san="-fsanitize=address,undefined"; fi

# fz_core NAME [CFLAGS...]: builds the fixture, starts it, dumps it to
# $tmp/NAME.core and kills it; sets fz_root and fz_region.
fz_core() {
	local name=$1 pid rc; shift
	if ! cc $fz_san "$@" -Icore/include -o "$tmp/$name" "$fz_src" -L"$build" -lmemapi \
	     -Wl,-rpath,"$PWD/$build" 2>"$tmp/err"; then
		bad "$name: fixture build: $(head -c 500 "$tmp/err")"
		return 1
	fi
	rm -f "$tmp/$name.ready"
	"$tmp/$name" "$tmp/$name.ready" 2>"$tmp/$name.err" &
	pid=$!
	cleanup_pids+=("$pid")
	for _ in $(seq 1 1000); do
		[ -s "$tmp/$name.ready" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	if [ ! -s "$tmp/$name.ready" ]; then
		bad "$name: fixture did not start: $(head -c 300 "$tmp/$name.err")"
		kill "$pid" 2>/dev/null
		return 1
	fi
	read -r fz_root fz_region <"$tmp/$name.ready"
	make_core "$pid" "$tmp/$name.core"
	rc=$?
	kill "$pid" 2>/dev/null
	return $rc
}

# fz_intact NAME: the uncorrupted core reads completely, libmemapi's
# tables included.
fz_intact() {
	expect "$1" 0 "$mt" maps --core "$tmp/$1.core"
	has "$1_own" "$tmp/out" "^$fz_region .*MEM_COMMIT +PAGE_READWRITE "
	has "$1_guard" "$tmp/out" 'PAGE_READWRITE\|PAGE_GUARD'
	has "$1_section" "$tmp/out" 'section +Local\\fuzz-fixture'
	if [ ! -s "$tmp/err" ]; then ok; else bad "$1: warnings: $(head -c 300 "$tmp/err")"; fi
}

if [ -z "$fz_san" ] && fz_core fz_libmemapi; then
	fz_intact fz_libmemapi
	fuzz_run fuzz_libmemapi_core "$tmp/fz_libmemapi.core" "$fz_region" "$fz_root"
fi

if make_core "$sleeper" "$tmp/fz_sleep.core"; then
	fz_addr=$(awk '/\[stack\]/ { split($1, a, "-"); print a[1]; exit }' "/proc/$sleeper/maps")
	expect fuzz_plain_intact 0 "$mt" query "$fz_addr" --core "$tmp/fz_sleep.core"
	has fuzz_plain_intact_stack "$tmp/out" "^0x$fz_addr .*MEM_COMMIT"
	fuzz_run fuzz_plain_core "$tmp/fz_sleep.core" "$fz_addr"
fi

# The synthetic core: its root is found through this build's libmemapi.so.1.
if python3 "$here/corrupt.py" synth "$tmp/fz_synth" --symbols "$build/libmemapi.so.1" >"$tmp/fz_synth.txt"; then
	ok
	read -r _ fz_root < <(grep 'seed-memapi.core' "$tmp/fz_synth.txt")
	expect fuzz_synth_intact 0 "$mt" maps --core "$tmp/fz_synth/seed-memapi.core"
	has fuzz_synth_intact_thunk "$tmp/out" 'MEM_COMMIT +PAGE_EXECUTE_READ .* thunk '
	has fuzz_synth_intact_section "$tmp/out" 'section +Local\\fuzz-section'
	has fuzz_synth_intact_enclave "$tmp/out" 'MEM_RESERVE .* enclave '
	expect fuzz_synth_torn 0 "$mt" maps --core "$tmp/fz_synth/seed-memapi-torn.core"
	has fuzz_synth_torn_warning "$tmp/err" "^memtool: warning: .*inside a change"
	for l in region heap enclave thunk section; do
		f=$tmp/fz_synth/seed-memapi-$l-loop.core
		[ $l = region ] && f=$tmp/fz_synth/seed-memapi-loop.core
		expect "fuzz_synth_${l}_loop" 0 "$mt" maps --core "$f"
		has "fuzz_synth_${l}_loop_warning" "$tmp/err" "^memtool: warning: .*'s $l list is corrupt \\("
	done
	# A region count that does not stop the loop: the order check must,
	# at once and in little memory (a bound that ASan's shadow would break).
	lim=
	[ -z "$fz_san" ] && lim="ulimit -v 524288;"
	expect fuzz_synth_loop_long 0 timeout 5 sh -c "$lim"' exec "$0" "$@"' \
		"$mt" maps --core "$tmp/fz_synth/seed-memapi-loop-long.core"
	has fuzz_synth_loop_long_warning "$tmp/err" "^memtool: warning: .*'s region list is corrupt \\("
	expect fuzz_synth_long_name 0 "$mt" maps --core "$tmp/fz_synth/seed-memapi-long-name.core"
	has fuzz_synth_long_name_cut "$tmp/out" 'section +n{4096}$'
	fuzz_run fuzz_synth_core "$tmp/fz_synth/seed-memapi.core" 0x7f0000002000 "$fz_root"
else
	bad "corrupt.py synth failed"
fi

# Files that are not cores at all.
printf '\177ELF' >"$tmp/fz_magic"
expect fuzz_magic_only 1 "$mt" maps --core "$tmp/fz_magic"
has fuzz_magic_only_msg "$tmp/err" "^memtool: .*not a valid core file"
expect fuzz_not_core 1 "$mt" maps --core "$mt"
has fuzz_not_core_msg "$tmp/err" "^memtool: .*not a core dump"
expect fuzz_directory 1 "$mt" maps --core "$tmp"
has fuzz_directory_msg "$tmp/err" "^memtool: cannot read core '$tmp': "
expect fuzz_devnull 1 "$mt" maps --core /dev/null
expect fuzz_missing 1 "$mt" maps --core "$tmp/no-such-core"
has fuzz_missing_msg "$tmp/err" "^memtool: cannot read core '$tmp/no-such-core': "

if [ -s "$tmp/fz_libmemapi.core" ]; then
	# NT_FILE naming a FIFO: opening the "mapped file" must not block.
	mkfifo "$tmp/fz_fifoxxxxx"
	python3 - "$tmp/fz_libmemapi.core" "$tmp/fz_fifo.core" "$tmp/fz_libmemapi" "$tmp/fz_fifoxxxxx" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
old, new = sys.argv[3].encode() + b"\0", sys.argv[4].encode() + b"\0"
assert len(old) == len(new)
open(sys.argv[2], "wb").write(d.replace(old, new))
EOF
	expect fuzz_fifo_path 0 timeout 10 "$mt" maps --core "$tmp/fz_fifo.core"
fi
if [ -z "$fz_san" ] && fz_core fz_copyreloc -DCOPY_RELOC; then
	# A program that takes memapi_root's address has the root in its own
	# .bss (a copy relocation) under the .symtab name
	# "memapi_root@MEMAPI_1.0": the tables must be found there, not in
	# libmemapi's unused original (elf.c compares names with the suffix).
	fz_intact fz_copyreloc
fi
