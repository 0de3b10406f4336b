# memtool thunks: a fixture with ATL thunks (tests/fixtures/thunk_enclave.c)
# writes its ground truth (code addresses, parameters, targets) and memtool's
# JSON is compared with it, for the live process and for gcore cores: with
# and without the text of the executable, with the code page left out
# (MADV_DONTDUMP), with a corrupted thunk, with anonymous blocks
# (MEMAPI_DISABLE=thunk_memfd); then processes without thunks or without
# libmemapi, spoiled tables, and the error cases.

th_prog=$tmp/thunk_enclave
th_page=$(getconf PAGESIZE)

# A sanitizer build of the library needs the fixture built the same way.
th_san=""
if readelf -d "$build/libmemapi.so.1" | grep -q libasan; then th_san="-fsanitize=address,undefined"; fi
if [ -x "$th_prog" ] || cc $th_san -Icore/include -o "$th_prog" tests/fixtures/thunk_enclave.c \
	-L"$build" -lmemapi -Wl,-rpath,"$PWD/$build" 2>"$tmp/err"; then ok; else bad "thunks fixture build: $(head -c 500 "$tmp/err")"; fi

# th_start TRUTH MODE...: starts the fixture and waits for its ground truth;
# th_pid is its pid.
th_start() {
	local truth=$1 i=0
	shift
	rm -f "$truth"
	"$th_prog" "$truth" "$@" >"$truth.out" 2>&1 &
	th_pid=$!
	cleanup_pids+=("$th_pid")
	while [ ! -f "$truth" ]; do
		if ! kill -0 "$th_pid" 2>/dev/null; then
			bad "thunks fixture $*: exited: $(head -c 300 "$truth.out")"
			return 1
		fi
		i=$((i + 1))
		if [ "$i" -ge 600 ]; then bad "thunks fixture $*: not ready after 30 s"; return 1; fi
		sleep 0.05
	done
	ok
}

# gdb dumps an ASan process's shadow memory (terabytes, sparse or not):
# cores of the fixture only without sanitizers.
th_cores() {
	[ -z "$th_san" ] && return 0
	echo "  (thunks: sanitizer build, no core of the fixture: gdb would dump ASan's shadow)"
	return 1
}

th_stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# th_core PID PREFIX [FILTER]: a gcore core of PID (FILTER: coredump_filter
# to set first); prints its path.
th_core() {
	[ -z "${3:-}" ] || echo "$3" >"/proc/$1/coredump_filter"
	gcore -o "$2" "$1" >"$tmp/gcore.out" 2>&1
	echo "$2.$1"
}

cat >"$tmp/th_check.py" <<'EOF'
# th_check.py TRUTH JSON PAGE SYMBOLS CODE: compares memtool thunks --json
# with the fixture's truth. SYMBOLS: required | optional (a core without the
# executable's text); CODE: ok | unavailable | corrupt (the first thunk is
# corrupt, the others ok).
import json, sys

truth_path, doc_path, page, symbols, code = sys.argv[1:6]
page = int(page)
want, freed, pid, errors = {}, set(), None, []
for line in open(truth_path):
    f = line.split()
    if f[0] == "thunk":
        want[int(f[1], 16)] = (int(f[2], 16), int(f[3], 16), f[4])
    elif f[0] == "freed":
        freed.add(int(f[1], 16))
    elif f[0] == "pid":
        pid = int(f[1])
doc = json.load(open(doc_path))
if doc["target"].get("pid") != pid:
    errors.append("target pid %s, want %s" % (doc["target"].get("pid"), pid))
got = {int(t["code"], 16): t for t in doc["thunks"]}
if set(got) != set(want):
    errors.append("codes %s, want %s" % (sorted(map(hex, got)), sorted(map(hex, want))))
if set(got) & freed:
    errors.append("a freed thunk is listed")
if [int(t["code"], 16) for t in doc["thunks"]] != sorted(got):
    errors.append("not sorted by code address")
first = min(want) if want else None
for c, (param, target, name) in want.items():
    t = got.get(c)
    if not t:
        continue
    if int(t["parameter"], 16) != param or int(t["target"], 16) != target:
        errors.append("%x: parameter/target %s %s, want %x %x" % (c, t["parameter"], t["target"], param, target))
    sym = t["target_symbol"]
    if (sym is not None or symbols == "required") and (sym is None or not sym.endswith("!%s+0x0" % name)):
        errors.append("%x: symbol %s, want ...!%s+0x0" % (c, sym, name))
    expect = "mismatch" if code == "corrupt" and c == first else ("ok" if code != "unavailable" else "unavailable")
    if t["check"] != expect:
        errors.append("%x: check %s (%s), want %s" % (c, t["check"], t["mismatch"], expect))
    if t["code_available"] != (expect != "unavailable"):
        errors.append("%x: code_available %s" % (c, t["code_available"]))
    ins = t["instructions"]
    if expect == "unavailable":
        if ins:
            errors.append("%x: instructions without code" % c)
        continue
    if [i["mnemonic"] for i in ins] != ["mov", "jmp", "int3", "int3", "int3"]:
        errors.append("%x: mnemonics %s" % (c, [i["mnemonic"] for i in ins]))
        continue
    # The ground truth of what the code reads: decode the bytes ourselves.
    b = [bytes.fromhex(i["bytes"].replace(" ", "")) for i in ins]
    if int(ins[0]["address"], 16) != c or b[0][:3] != b"\x48\x8b\x3d" or b[1][:2] != b"\xff\x25":
        errors.append("%x: code %s" % (c, [i["bytes"] for i in ins]))
        continue
    load = c + 7 + int.from_bytes(b[0][3:7], "little", signed=True)
    jump = c + 13 + int.from_bytes(b[1][2:6], "little", signed=True)
    ok = load == c + page and jump == c + page + 8
    if ok != (expect == "ok"):
        errors.append("%x: loads 0x%x, jumps via 0x%x, check %s" % (c, load, jump, t["check"]))
    if expect == "mismatch" and "loads rdi from 0x%x" % load not in (t["mismatch"] or ""):
        errors.append("%x: mismatch says %s" % (c, t["mismatch"]))
    if ins[0]["operands"] != "rdi, qword ptr [rip + 0x%x]" % (load - c - 7):
        errors.append("%x: operands %s" % (c, ins[0]["operands"]))
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF

# th_compare NAME TRUTH SYMBOLS CODE MEMTOOL-ARGS...: memtool thunks --json
# exits 0 and matches the truth.
th_compare() {
	local name=$1 truth=$2 symbols=$3 code=$4
	shift 4
	expect "$name" 0 "$mt" thunks "$@" --json
	cp "$tmp/out" "$tmp/th_json"
	if python3 "$tmp/th_check.py" "$truth" "$tmp/th_json" "$th_page" "$symbols" "$code" >"$tmp/th_diff" 2>&1
	then ok; else bad "$name: $(head -c 600 "$tmp/th_diff")"; fi
}

if th_start "$tmp/th_truth"; then
	p=$th_pid
	has thunks_fixture_sgx "$tmp/th_truth" '^sgx_error 50$'
	th_compare thunks_live "$tmp/th_truth" required ok --pid "$p"

	expect thunks_text 0 "$mt" thunks --pid "$p"
	has thunks_text_header "$tmp/out" '^CODE +PARAMETER +TARGET +CHECK +TARGET_SYMBOL$'
	has thunks_text_symbol "$tmp/out" '^0x[0-9a-f]+ +0x1000 +0x[0-9a-f]+ +ok +thunk_enclave!fx_on_paint\+0x0$'
	has thunks_text_insn "$tmp/out" '^  0x[0-9a-f]+ +48 8b 3d [0-9a-f ]+ +mov +rdi, qword ptr \[rip \+ 0x[0-9a-f]+\]$'
	has thunks_text_count "$tmp/out" "^4 thunks in use, 0 with code not libmemapi's, 0 without code$"

	expect thunks_jsonl 0 "$mt" thunks --pid "$p" --jsonl
	if python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
kinds = [r["kind"] for r in rows]
assert kinds[0] == "target" and kinds.count("thunk") == 4 and kinds.count("instruction") == 20, kinds
codes = {r["code"] for r in rows if r["kind"] == "thunk"}
assert all(r["thunk"] in codes for r in rows if r["kind"] == "instruction")
assert all("instructions" not in r for r in rows)
' "$tmp/out" 2>"$tmp/err"; then ok; else bad "thunks_jsonl_shape: $(tail -c 300 "$tmp/err")"; fi

	expect thunks_csv 0 "$mt" thunks --pid "$p" --csv
	has thunks_csv_header "$tmp/out" '^thunk,address,bytes,mnemonic,operands$'
	[ "$(grep -c '^0x[0-9a-f]*,0x[0-9a-f]*,' "$tmp/out")" = 20 ] && ok || bad "thunks_csv_rows: $(head -c 300 "$tmp/out")"
	# Each row's leading field is the code address of its thunk's slot.
	if python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
assert rows and all(0 <= int(r[1], 16) - int(r[0], 16) < 16 for r in rows), rows[:3]
' "$tmp/out" 2>"$tmp/err"; then ok; else bad "thunks_csv_parent: $(tail -c 300 "$tmp/err")"; fi
	has thunks_csv_quoted "$tmp/out" ',mov,"rdi, qword ptr \[rip \+ 0x[0-9a-f]+\]"$'

	# A default gcore core leaves out the executable's text (symbols may be
	# missing, never wrong); with file-backed private mappings kept they are
	# found.
	if th_cores; then
		c=$(th_core "$p" "$tmp/th_core")
		th_compare thunks_core "$tmp/th_truth" optional ok --core "$c"
		has thunks_core_target "$tmp/th_json" "\"target\": \\{\"kind\": \"core\", \"pid\": $p, \"core\": \"$c\""
		rm -f "$tmp"/th_core.*
		c=$(th_core "$p" "$tmp/th_fullcore" 0x37)
		th_compare thunks_core_full "$tmp/th_truth" required ok --core "$c"
		rm -f "$tmp"/th_fullcore.*
	fi

	th_stop "$p"
	expect thunks_after_exit 1 "$mt" thunks --pid "$p"
	has thunks_after_exit_msg "$tmp/err" "^memtool: cannot open process '$p': no such process"
fi

# A corrupted thunk is reported (and the command still succeeds); its code
# page marked MADV_DONTDUMP is missing from the core: listed without code.
if th_start "$tmp/th_truth_bad" corrupt nodump; then
	p=$th_pid
	th_compare thunks_corrupt "$tmp/th_truth_bad" required corrupt --pid "$p"
	expect thunks_corrupt_text 0 "$mt" thunks --pid "$p"
	has thunks_corrupt_text_check "$tmp/out" '^0x[0-9a-f]+ +0x1000 +0x[0-9a-f]+ +mismatch '
	has thunks_corrupt_text_note "$tmp/out" '^  mismatch: the first instruction loads rdi from 0x[0-9a-f]+, not from its parameter word at 0x[0-9a-f]+$'
	has thunks_corrupt_text_count "$tmp/out" "^4 thunks in use, 1 with code not libmemapi's, 0 without code$"
	if th_cores; then
		c=$(th_core "$p" "$tmp/th_core")
		th_compare thunks_core_nodump "$tmp/th_truth_bad" optional unavailable --core "$c"
		expect thunks_core_nodump_text 0 "$mt" thunks --core "$c"
		has thunks_core_nodump_note "$tmp/out" '^  code unavailable: '
		rm -f "$tmp"/th_core.*
	fi
	th_stop "$p"
fi

# Blocks of two anonymous pages instead of two views of a memfd.
if MEMAPI_DISABLE=thunk_memfd th_start "$tmp/th_truth_anon" noenclave; then
	p=$th_pid
	th_compare thunks_anonymous "$tmp/th_truth_anon" required ok --pid "$p"
	if python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["thunks"]:
    assert int(t["data"], 16) == int(t["code"], 16) + int(sys.argv[2]), t
' "$tmp/th_json" "$th_page" 2>"$tmp/err"; then ok; else bad "thunks_anonymous_data_beside_code: $(tail -c 300 "$tmp/err")"; fi
	th_stop "$p"
fi

# libmemapi without thunks; no libmemapi at all; memtool itself.
if th_start "$tmp/th_truth_none" nothunks noenclave; then
	expect thunks_none 0 "$mt" thunks --pid "$th_pid" --json
	json thunks_none_json "$tmp/out"
	has thunks_none_empty "$tmp/out" '"thunks": \[\]'
	expect thunks_none_text 0 "$mt" thunks --pid "$th_pid"
	has thunks_none_count "$tmp/out" '^0 thunks in use'
	th_stop "$th_pid"
fi
expect thunks_no_libmemapi 0 "$mt" thunks --pid "$sleeper"
has thunks_no_libmemapi_note "$tmp/out" '^no libmemapi in this process$'
expect thunks_no_libmemapi_json 0 "$mt" thunks --pid "$sleeper" --json
json thunks_no_libmemapi_json_valid "$tmp/out"
has thunks_no_libmemapi_empty "$tmp/out" '"thunks": \[\]'
expect thunks_self 0 "$mt" thunks --json
json thunks_self_json "$tmp/out"

# Tables that cannot be trusted: a warning, an empty list, exit 0.
if th_start "$tmp/th_truth_badroot" badroot; then
	expect thunks_bad_root 0 "$mt" thunks --pid "$th_pid"
	has thunks_bad_root_warning "$tmp/err" "^memtool: warning: libmemapi's tables in '$th_pid' are unusable: .*bad magic"
	has thunks_bad_root_note "$tmp/out" "^libmemapi's tables could not be read"
	th_stop "$th_pid"
fi

# Usage and input errors.
expect thunks_help 0 "$mt" thunks -h
has thunks_help_usage "$tmp/out" '^usage: memtool thunks \[--pid PID \| --core FILE\] \[--json \| --jsonl \| --csv\]$'
expect thunks_bad_pid 2 "$mt" thunks --pid abc
has thunks_bad_pid_msg "$tmp/err" "^memtool: invalid pid 'abc': "
expect thunks_dead_pid 1 "$mt" thunks --pid 2147483000
has thunks_dead_pid_msg "$tmp/err" "^memtool: cannot open process '2147483000': no such process"
expect thunks_bad_option 2 "$mt" thunks --bogus
expect thunks_extra_arg 2 "$mt" thunks extra
expect thunks_two_targets 2 "$mt" thunks --pid "$sleeper" --core /nonexistent
head -c 4096 /dev/urandom >"$tmp/th_garbage.core"
expect thunks_garbage_core 1 "$mt" thunks --core "$tmp/th_garbage.core"
has thunks_garbage_core_msg "$tmp/err" "^memtool: cannot read core '$tmp/th_garbage.core': "
expect thunks_missing_core 1 "$mt" thunks --core "$tmp/th_nonexistent.core"
