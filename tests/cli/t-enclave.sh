# memtool enclave: the fixture (tests/fixtures/thunk_enclave.c) makes a
# sealed VBS enclave with two secret data pages and one code page, and an
# empty unsealed one, and writes their ground truth; memtool's JSON is
# compared with it for the live process (the data pages must be secret and
# unreadable from outside, the code page readable) and for a gcore core;
# then a process without enclaves, one without libmemapi, and the errors.

en_prog=$tmp/thunk_enclave
en_san=""
if readelf -d "$build/libmemapi.so.1" | grep -q libasan; then en_san="-fsanitize=address,undefined"; fi
if [ -x "$en_prog" ] || cc $en_san -Icore/include -o "$en_prog" tests/fixtures/thunk_enclave.c \
	-L"$build" -lmemapi -Wl,-rpath,"$PWD/$build" 2>"$tmp/err"; then ok; else bad "enclave fixture build: $(head -c 500 "$tmp/err")"; fi

# en_start TRUTH MODE...: starts the fixture, waits for its ground truth.
en_start() {
	local truth=$1 i=0
	shift
	rm -f "$truth"
	"$en_prog" "$truth" "$@" >"$truth.out" 2>&1 &
	en_pid=$!
	cleanup_pids+=("$en_pid")
	while [ ! -f "$truth" ]; do
		if ! kill -0 "$en_pid" 2>/dev/null; then
			bad "enclave fixture $*: exited: $(head -c 300 "$truth.out")"
			return 1
		fi
		i=$((i + 1))
		if [ "$i" -ge 600 ]; then bad "enclave fixture $*: not ready after 30 s"; return 1; fi
		sleep 0.05
	done
	ok
}

cat >"$tmp/en_check.py" <<'EOF'
# en_check.py TRUTH JSON KIND: compares memtool enclave --json with the
# fixture's truth; KIND is live or core (a core holds no bytes of secret
# memory but names its mapping in NT_FILE: "secret" is true there too).
import json, sys

truth_path, doc_path, kind = sys.argv[1:4]
want, secret, plain, pid, errors = {}, set(), set(), None, []
for line in open(truth_path):
    f = line.split()
    if f[0] == "enclave":
        want[int(f[1], 16)] = (int(f[2]), f[3], int(f[4]), f[5] == "1")
    elif f[0] == "secret":
        secret.add(int(f[1], 16))
    elif f[0] == "plain":
        plain.add(int(f[1], 16))
    elif f[0] == "pid":
        pid = int(f[1])
doc = json.load(open(doc_path))
if doc["target"].get("pid") != pid:
    errors.append("target pid %s, want %s" % (doc["target"].get("pid"), pid))
got = {int(n["base"], 16): n for n in doc["enclaves"]}
if set(got) != set(want):
    errors.append("bases %s, want %s" % (sorted(map(hex, got)), sorted(map(hex, want))))
for base, (size, typ, loaded, init) in want.items():
    n = got.get(base)
    if not n:
        continue
    if (n["size"], n["type"], n["loaded"], n["initialized"]) != (size, typ, loaded, init):
        errors.append("%x: %s" % (base, n))
    runs = n["runs"]
    if sum(r["size"] for r in runs) != size or int(runs[0]["base"], 16) != base:
        errors.append("%x: runs %s do not cover the enclave" % (base, runs))
    committed = sum(r["size"] for r in runs if r["state"] == "MEM_COMMIT")
    if committed != loaded:
        errors.append("%x: %d bytes committed, %d loaded" % (base, committed, loaded))
    if not loaded:
        if n["secret"] is not None or n["readable"] is not None or n["probe_address"] is not None:
            errors.append("%x: an empty enclave probed: %s" % (base, n))
        continue
    if base not in secret:
        errors.append("%x: no secret page in the truth" % base)
    if int(n["probe_address"], 16) != base or n["readable"] is not False:
        errors.append("%x: probe %s readable %s, want the secret page unreadable" % (base, n["probe_address"], n["readable"]))
    if n["secret"] is not True:
        errors.append("%x: secret %s" % (base, n["secret"]))
    for r in runs:
        a = int(r["base"], 16)
        if r["state"] == "MEM_RESERVE":
            if r["readable"] is not None or r["protect"] != "0":
                errors.append("%x: reserved run %s" % (a, r))
        elif a in plain:
            if r["protect"] != "PAGE_EXECUTE_READ" or r["readable"] is not True:
                errors.append("%x: code run %s, want readable" % (a, r))
        elif a in secret:
            if r["protect"] != "PAGE_READWRITE" or r["readable"] is not False:
                errors.append("%x: data run %s, want unreadable" % (a, r))
        else:
            errors.append("%x: run not in the truth: %s" % (a, r))
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF

en_compare() {
	local name=$1 truth=$2 kind=$3
	shift 3
	expect "$name" 0 "$mt" enclave "$@" --json
	cp "$tmp/out" "$tmp/en_json"
	if python3 "$tmp/en_check.py" "$truth" "$tmp/en_json" "$kind" >"$tmp/en_diff" 2>&1
	then ok; else bad "$name: $(head -c 600 "$tmp/en_diff")"; fi
}

if en_start "$tmp/en_truth" nothunks; then
	p=$en_pid
	has enclave_fixture_sgx_refused "$tmp/en_truth" '^sgx_error 50$'
	if grep -q '^enclave_unsupported' "$tmp/en_truth"; then
		echo "  (enclave: no memfd_secret on this kernel; only the empty case is checked)"
	else
		[ "$(grep -c '^enclave ' "$tmp/en_truth")" = 2 ] && ok || bad "enclave fixture made $(grep -c '^enclave ' "$tmp/en_truth") enclaves"
	fi
	en_compare enclave_live "$tmp/en_truth" live --pid "$p"

	expect enclave_text 0 "$mt" enclave --pid "$p"
	has enclave_text_header "$tmp/out" '^BASE +SIZE +TYPE +LOADED +SEALED +SECRET +READABLE$'
	if ! grep -q '^enclave_unsupported' "$tmp/en_truth"; then
		has enclave_text_sealed "$tmp/out" '^0x[0-9a-f]+ +65536 +ENCLAVE_TYPE_VBS +12288 +yes +yes +no$'
		has enclave_text_empty "$tmp/out" '^0x[0-9a-f]+ +16384 +ENCLAVE_TYPE_VBS +0 +no +- +-$'
		has enclave_text_run "$tmp/out" '^  0x[0-9a-f]+ +4096 +MEM_COMMIT +PAGE_EXECUTE_READ +yes$'
		has enclave_text_count "$tmp/out" '^2 enclaves$'

		expect enclave_csv 0 "$mt" enclave --pid "$p" --csv
		has enclave_csv_header "$tmp/out" '^base,size,type,loaded,initialized,secret,probe_address,readable$'
		has enclave_csv_row "$tmp/out" '^0x[0-9a-f]+,65536,ENCLAVE_TYPE_VBS,12288,yes,yes,0x[0-9a-f]+,no$'
		[ "$(wc -l <"$tmp/out")" = 3 ] && ok || bad "enclave_csv_rows: $(cat "$tmp/out")"

		expect enclave_jsonl 0 "$mt" enclave --pid "$p" --jsonl
		if python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
bases = {r["base"] for r in rows if r["kind"] == "enclave"}
runs = [r for r in rows if r["kind"] == "run"]
assert len(bases) == 2 and len(runs) == 4 and all(r["enclave"] in bases for r in runs), rows
' "$tmp/out" 2>"$tmp/err"; then ok; else bad "enclave_jsonl_shape: $(tail -c 300 "$tmp/err")"; fi
	fi

	# gdb dumps an ASan process's shadow memory: terabytes. Cores of the
	# fixture only without sanitizers.
	if [ -z "$en_san" ]; then
		gcore -o "$tmp/en_core" "$p" >"$tmp/gcore.out" 2>&1
		en_compare enclave_core "$tmp/en_truth" core --core "$tmp/en_core.$p"
		rm -f "$tmp"/en_core.*
	else
		echo "  (enclave: sanitizer build, no core of the fixture: gdb would dump ASan's shadow)"
	fi

	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	expect enclave_after_exit 1 "$mt" enclave --pid "$p"
	has enclave_after_exit_msg "$tmp/err" "^memtool: cannot open process '$p': no such process"
fi

# libmemapi without enclaves; no libmemapi; memtool itself.
if en_start "$tmp/en_truth_none" noenclave; then
	expect enclave_none 0 "$mt" enclave --pid "$en_pid" --json
	json enclave_none_json "$tmp/out"
	has enclave_none_empty "$tmp/out" '"enclaves": \[\]'
	expect enclave_none_text 0 "$mt" enclave --pid "$en_pid"
	has enclave_none_count "$tmp/out" '^0 enclaves$'
	kill "$en_pid" 2>/dev/null
	wait "$en_pid" 2>/dev/null
fi
expect enclave_no_libmemapi 0 "$mt" enclave --pid "$sleeper"
has enclave_no_libmemapi_note "$tmp/out" '^no libmemapi in this process$'
expect enclave_no_libmemapi_json 0 "$mt" enclave --pid "$sleeper" --json
has enclave_no_libmemapi_empty "$tmp/out" '"enclaves": \[\]'
expect enclave_self 0 "$mt" enclave --json
json enclave_self_json "$tmp/out"

# Usage and input errors.
expect enclave_help 0 "$mt" enclave -h
has enclave_help_usage "$tmp/out" '^usage: memtool enclave \[--pid PID \| --core FILE\] \[--json \| --jsonl \| --csv\]$'
expect enclave_bad_pid 2 "$mt" enclave --pid 0
has enclave_bad_pid_msg "$tmp/err" "^memtool: invalid pid '0': "
expect enclave_dead_pid 1 "$mt" enclave --pid 2147483000
expect enclave_bad_option 2 "$mt" enclave --json --bogus
expect enclave_extra_arg 2 "$mt" enclave --pid "$sleeper" extra
printf 'not a core\n' >"$tmp/en_garbage.core"
expect enclave_garbage_core 1 "$mt" enclave --core "$tmp/en_garbage.core"
has enclave_garbage_core_msg "$tmp/err" "^memtool: cannot read core '$tmp/en_garbage.core': "
