# maps, query and heap against a libmemapi workload with known ground truth
# (`memtool demo --serve`), live and from a gcore core file; errors of the
# core reader on bad files.

if start_workload wl; then
	truth="$tmp/wl.json"
	expect maps_live 0 "$mt" maps --pid "$wl_pid" --json
	json maps_live_json "$tmp/out"
	cp "$tmp/out" "$tmp/maps_live.json"
	truthcheck maps_live_truth regions "$truth" "$tmp/maps_live.json"
	has maps_live_usage_watch "$tmp/out" '"usage": "watch"'
	has maps_live_usage_section "$tmp/out" '"usage": "section", "path": "Local\\\\memtool-workload-'
	has maps_live_guard "$tmp/out" '"protect": "PAGE_READWRITE\|PAGE_GUARD"'
	has maps_live_stack "$tmp/out" '"usage": "stack"'
	has maps_live_image "$tmp/out" '"type": "MEM_IMAGE", "usage": "image", "path": "[^"]*libmemapi.so.1"'
	expect maps_live_text 0 "$mt" maps --pid "$wl_pid"
	has maps_live_text_header "$tmp/out" '^BASE +ALLOC_BASE +SIZE +STATE +PROTECT'
	expect maps_live_csv 0 "$mt" maps --pid "$wl_pid" --csv
	has maps_csv_header "$tmp/out" '^base,allocation_base,size,state,protect,allocation_protect,type,usage,path,libmemapi$'
	if [ "$(awk -F, 'NR > 1 && NF < 10' "$tmp/out" | wc -l)" -eq 0 ]; then ok; else bad "maps_csv: short rows"; fi
	expect maps_live_jsonl 0 "$mt" maps --pid "$wl_pid" --jsonl
	if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/out"; then ok; else bad "maps_jsonl: a line is not JSON"; fi
	has maps_jsonl_target "$tmp/out" '^\{"kind": "target", "target": \{"kind": "pid", "pid": '"$wl_pid"
	has maps_jsonl_region "$tmp/out" '^\{"kind": "region", "base": "0x'

	guard=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["guard_page"])' "$truth")
	expect query_live 0 "$mt" query "$guard" --pid "$wl_pid" --json
	truthcheck query_live_truth query "$truth" "$tmp/out" "$guard"

	# query answers from a few PROCMAP_QUERY calls; the same as from the
	# whole map (MEMAPI_DISABLE=procmap_query) at every region's edges.
	python3 -c '
import json, sys
addrs = {0x10000, 0x7ffffff00000}
for r in json.load(open(sys.argv[1]))["regions"]:
    b, s = int(r["base"], 16), r["size"]
    addrs |= {b, b + s - 4096, b + s, b + s + 5 * 4096}
print("\n".join("%x" % a for a in sorted(addrs)))' "$tmp/maps_live.json" >"$tmp/addrs"
	diffs=0
	while read -r a; do
		x=$("$mt" query "$a" --pid "$wl_pid" --csv 2>&1 | tail -1)
		y=$(MEMAPI_DISABLE=procmap_query "$mt" query "$a" --pid "$wl_pid" --csv 2>&1 | tail -1)
		[ "$x" = "$y" ] || { diffs=$((diffs + 1)); echo "  query $a: '$x' vs '$y'"; }
	done <"$tmp/addrs"
	[ "$diffs" -eq 0 ] && ok || bad "query_fast_path: $diffs addresses differ"

	expect heap_live 0 "$mt" heap --pid "$wl_pid" --blocks --json
	json heap_live_json "$tmp/out"
	cp "$tmp/out" "$tmp/heap_live.json"
	truthcheck heap_live_truth heaps "$truth" "$tmp/heap_live.json"
	expect heap_validate 0 "$mt" heap --pid "$wl_pid" --validate
	expect heap_csv 0 "$mt" heap --pid "$wl_pid" --blocks --csv
	has heap_csv_header "$tmp/out" '^heap,address,size,busy$'
	expect heap_head 0 bash -c "'$mt' heap --pid $wl_pid --blocks | head -3 >/dev/null"

	if make_core "$wl_pid" "$tmp/wl.core"; then
		expect maps_core 0 "$mt" maps --core "$tmp/wl.core" --json
		cp "$tmp/out" "$tmp/maps_core.json"
		truthcheck maps_core_truth regions "$truth" "$tmp/maps_core.json"
		has maps_core_target "$tmp/out" '"target": \{"kind": "core", "pid": '"$wl_pid"', "core": "[^"]*wl.core", "executable": "[^"]*memtool"'
		# The core's map is the live one, but for what a core cannot hold:
		# the [heap] name and the kernel's [vvar] pages.
		"$mt" maps --pid "$wl_pid" --csv | cut -d, -f1-9 | grep -v '\[vvar' >"$tmp/live.csv"
		"$mt" maps --core "$tmp/wl.core" --csv | cut -d, -f1-9 >"$tmp/core.csv"
		sed -i 's/,heap,\[heap\]$/,private,/' "$tmp/live.csv"
		if diff "$tmp/live.csv" "$tmp/core.csv" >"$tmp/diff"; then ok; else bad "maps_core_vs_live: $(head -c 600 "$tmp/diff")"; fi
		expect query_core 0 "$mt" query "$guard" --core "$tmp/wl.core" --json
		truthcheck query_core_truth query "$truth" "$tmp/out" "$guard"
		expect heap_core 0 "$mt" heap --core "$tmp/wl.core" --blocks --json
		cp "$tmp/out" "$tmp/heap_core.json"
		truthcheck heap_core_truth heaps "$truth" "$tmp/heap_core.json"

		# A corrupted heap header: found from the core, exit 3 with --validate.
		python3 - "$tmp/wl.core" "$tmp/bad.core" "$tmp/heap_core.json" <<'PY'
import json, struct, sys
core, out, heaps = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
data = bytearray(open(core, "rb").read())
blk = int(heaps["heaps"][-1]["blocks"][5]["address"], 16) - 16   # a slot's header
e_phoff, = struct.unpack_from("<Q", data, 32)
phnum, = struct.unpack_from("<H", data, 56)
for i in range(phnum):
    p_type, p_flags, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, e_phoff + 56 * i)
    if p_type == 1 and p_vaddr <= blk < p_vaddr + p_filesz:
        data[p_offset + blk - p_vaddr + 3] ^= 0x55
open(out, "wb").write(data)

PY
		badblk=$(python3 -c 'import json,sys; print("0x%x" % (int(json.load(open(sys.argv[1]))["heaps"][-1]["blocks"][5]["address"], 16) - 16))' "$tmp/heap_core.json")
		expect heap_core_corrupt 3 "$mt" heap --core "$tmp/bad.core" --validate --json
		has heap_core_corrupt_addr "$tmp/out" "\"address\": \"$badblk\", \"problem\": \"slot header corrupt\""
		has heap_core_corrupt_msg "$tmp/err" "^memtool: heap validation failed '1': "
		expect heap_core_corrupt_novalidate 0 "$mt" heap --core "$tmp/bad.core"
	fi
	kill "$wl_pid" 2>/dev/null
fi

# A core written by the kernel itself (SIGABRT under ulimit -c), not by gdb:
# its notes and segment layout differ from gcore's. Only where core_pattern
# writes a plain file in the process's directory (not a pipe to a handler).
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null)
if [ -n "$wl_mt" ] && [[ "$pattern" =~ ^core(\.%p)?$ ]]; then
	mkdir -p "$tmp/kc"
	wl_abs=$(realpath "$wl_mt")
	(cd "$tmp/kc" && ulimit -c 2097152 && exec "$wl_abs" demo --serve "$tmp/kc/wl.json") 2>/dev/null &
	kc_pid=$!
	for _ in $(seq 1000); do [ -s "$tmp/kc/wl.json" ] && break; sleep 0.01; done
	kill -ABRT "$kc_pid"
	wait "$kc_pid" 2>/dev/null
	kc_core=$(ls "$tmp/kc"/core* 2>/dev/null | head -1)
	if [ -n "$kc_core" ]; then
		expect maps_kcore 0 "$mt" maps --core "$kc_core" --json
		truthcheck maps_kcore_truth regions "$tmp/kc/wl.json" "$tmp/out"
		expect heap_kcore 0 "$mt" heap --core "$kc_core" --blocks --json
		truthcheck heap_kcore_truth heaps "$tmp/kc/wl.json" "$tmp/out"
		expect thunks_kcore 0 "$mt" thunks --core "$kc_core"
		has thunks_kcore_ok "$tmp/out" ' ok +memtool!workload_target'
		rm -f "$kc_core"
	else
		bad "kernel core: none written for $kc_pid (core_pattern '$pattern')"
	fi
else
	echo "  skipped: kernel cores (core_pattern '$pattern' is not a plain file name)"
fi

# The executable's copy of memapi_root (a copy relocation) is the live one.
san=""
if readelf -d "$build/libmemapi.so.1" | grep -q libasan; then san="-fsanitize=address,undefined"; fi
if cc $san -Icore/include -o "$tmp/copyreloc" tests/fixtures/copyreloc.c -L"$build" -lmemapi \
      -Wl,-rpath,"$PWD/$build" 2>"$tmp/err"; then
	"$tmp/copyreloc" >"$tmp/copyreloc.out" &
	cr_pid=$!
	cleanup_pids+=("$cr_pid")
	for _ in $(seq 1 500); do [ -s "$tmp/copyreloc.out" ] && break; sleep 0.01; done
	read -r cr_addr cr_root <"$tmp/copyreloc.out"
	expect copyreloc_query 0 "$mt" query "$cr_addr" --pid "$cr_pid" --json
	has copyreloc_own "$tmp/out" '"state": "MEM_COMMIT", "protect": "PAGE_READWRITE", "allocation_protect": "PAGE_READWRITE", "type": "MEM_PRIVATE", "usage": "private", "path": "", "libmemapi": true'
	kill "$cr_pid" 2>/dev/null
else
	bad "copyreloc fixture: $(head -c 300 "$tmp/err")"
fi

# A stripped program with libmemapi linked in statically: no symbols, the
# root is found by its magic.
if cc $san -Icore/include -o "$tmp/stripped" tests/fixtures/copyreloc.c "$build/libmemapi.a" \
      -lpthread 2>"$tmp/err" && strip "$tmp/stripped"; then
	"$tmp/stripped" >"$tmp/stripped.out" &
	st_pid=$!
	cleanup_pids+=("$st_pid")
	for _ in $(seq 1 500); do [ -s "$tmp/stripped.out" ] && break; sleep 0.01; done
	read -r st_addr st_root <"$tmp/stripped.out"
	expect stripped_query 0 "$mt" query "$st_addr" --pid "$st_pid" --json
	has stripped_own "$tmp/out" '"usage": "private", "path": "", "libmemapi": true'
	expect stripped_heap 0 "$mt" heap --pid "$st_pid" --json
	has stripped_process_heap "$tmp/out" '"process_heap": true'
	kill "$st_pid" 2>/dev/null
else
	bad "stripped fixture: $(head -c 300 "$tmp/err")"
fi

# A process without libmemapi: the kernel's view, no heaps, not an error.
expect heap_plain 0 "$mt" heap --pid "$sleeper" --json
has heap_plain_empty "$tmp/out" '"heaps": \[\]'
expect heap_plain_validate 0 "$mt" heap --pid "$sleeper" --validate

# Errors: missing, unreadable, non-ELF, non-core, truncated cores.
expect core_missing 1 "$mt" maps --core "$tmp/nonexistent"
has core_missing_msg "$tmp/err" "^memtool: cannot read core '$tmp/nonexistent': No such file or directory"
printf 'not an ELF file at all' >"$tmp/garbage"
expect core_garbage 1 "$mt" maps --core "$tmp/garbage"
has core_garbage_msg "$tmp/err" "^memtool: cannot read core '$tmp/garbage': not a valid core file: "
expect core_not_core 1 "$mt" maps --core "$mt"
has core_not_core_msg "$tmp/err" "an ELF file, but not a core dump"
expect core_dir 1 "$mt" maps --core "$tmp"
if [ -f "$tmp/wl.core" ]; then
	head -c 2000 "$tmp/wl.core" >"$tmp/trunc.core"
	expect core_truncated 1 "$mt" maps --core "$tmp/trunc.core"
	has core_truncated_msg "$tmp/err" "^memtool: cannot read core '$tmp/trunc.core': .*truncated"
fi
expect core_and_pid 2 "$mt" maps --core "$tmp/garbage" --pid 1
expect heap_bad_option 2 "$mt" heap --bogus
expect heap_extra 2 "$mt" heap extra
expect heap_dead_pid 1 "$mt" heap --pid 2147483000
has heap_dead_msg "$tmp/err" "^memtool: cannot open process '2147483000': no such process"

# A mapped file whose name is not UTF-8 (and holds an escape character):
# JSON shows U+FFFD for each bad byte, text shows '?' for the escape.
python3 -c '
import mmap, os, sys, time
f = open(os.fsencode(sys.argv[1]) + b"-\xff\xc3(\x1b[31m", "w+b")
f.write(b"x" * 4096); f.flush()
m = mmap.mmap(f.fileno(), 4096)
print("ready", flush=True)
time.sleep(60)' "$tmp/name" >"$tmp/name.ready" &
nm_pid=$!
cleanup_pids+=("$nm_pid")
for _ in $(seq 100); do [ -s "$tmp/name.ready" ] && break; sleep 0.05; done
expect maps_bad_utf8 0 "$mt" maps --pid "$nm_pid" --json
if python3 -c 'import json, sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8", "strict"))' "$tmp/out"; then ok; else bad "maps_bad_utf8: not UTF-8 JSON"; fi
has maps_bad_utf8_fffd "$tmp/out" '"path": "[^"]*/name-\\ufffd\\ufffd\(\\u001b\[31m"'
expect maps_bad_utf8_text 0 "$mt" maps --pid "$nm_pid"
# (bytes as they are: grep matches them only in the C locale)
if LC_ALL=C grep -aq '/name-.*?\[31m$' "$tmp/out"; then ok; else bad "maps_bad_utf8_text: escape shown"; fi
kill "$nm_pid" 2>/dev/null
