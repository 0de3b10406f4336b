# memtool watch: write-watch deltas of a live process, against the ground
# truth of the process's own GetWriteWatch (tests/fixtures/watch_target.c),
# on both write-watch paths; page-hash diffs with --unwatched; signals,
# output formats and errors.

# A sanitizer build of the library needs the fixture built the same way.
wsan=""
if readelf -d "$build/libmemapi.so.1" | grep -q libasan; then wsan="-fsanitize=address,undefined"; fi
wt="$tmp/watch_target"
if cc $wsan -Icore/include -o "$wt" tests/fixtures/watch_target.c -L"$build" -lmemapi \
      -Wl,-rpath,"$PWD/$build" 2>"$tmp/err"; then ok; else bad "watch fixture build: $(head -c 500 "$tmp/err")"; fi

# The checks of a run, in Python: each prints "ok NAME" or "FAIL NAME: why".
cat >"$tmp/watch_check.py" <<'EOF'
import atexit, json, sys

# One line per check name, however many times it ran: ok, or its first failure.
results = {}

def out(name, cond, why=""):
    if name not in results or (results[name] is None and not cond):
        results[name] = None if cond else str(why)

def report():
    for name, why in results.items():
        print(("ok " + name) if why is None else ("FAIL %s: %s" % (name, why)))

atexit.register(report)

def no_dups(pairs):
    keys = [k for k, v in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("repeated key in %s" % keys)
    return dict(pairs)

def load_jsonl(path):
    samples = []
    for line in open(path):
        r = json.loads(line, object_pairs_hook=no_dups)
        if r["kind"] == "sample":
            r["regions"] = []
            samples.append(r)
        elif r["kind"] == "region":
            out("jsonl_sample_key", r["sample"] == samples[-1]["time"], r)
            r["kind"] = r.pop("region_kind")
            samples[-1]["regions"].append(r)
    return samples

def n(a):
    return int(a, 16)

def watch(sample):
    return {n(r["base"]): r for r in sample["regions"] if r["kind"] == "watch"}

def hashed(sample):
    return [r for r in sample["regions"] if r["kind"] == "hashed"]

def pages(lst):
    return set(n(a) for a in lst)

def check_entries(name, sample):
    for r in sample["regions"]:
        w, f = pages(r["written"]), pages(r["new"])
        lo, hi = n(r["base"]), n(r["base"]) + r["size"]
        out(name + "_counts", r["written_pages"] == len(r["written"]) and
            r["new_pages"] == len(r["new"]), r)
        out(name + "_new_subset", f <= w, r)
        out(name + "_in_range", all(lo <= p < hi for p in w), r)
        out(name + "_sorted", r["written"] == sorted(r["written"], key=n), r)

def check_regions(name, sample, state, first):
    got = watch(sample)
    want = {n(r["base"]): r for r in state["regions"]}
    out(name + "_regions", set(got) == set(want), "%s != %s" % (sorted(got), sorted(want)))
    for b, r in want.items():
        g = got.get(b)
        if not g:
            continue
        out(name + "_size", g["size"] == r["size"], g)
        out(name + "_written", pages(g["written"]) == pages(r["written"]),
            "%s != GetWriteWatch %s" % (g["written"], r["written"]))
        out(name + "_truth", pages(r["written"]) == pages(r["wrote"]), r)
        if first:
            out(name + "_first_new", g["new"] == g["written"], g)
    out(name + "_mode", sample["watch_mode"] == state["watch_mode"],
        "%s != %s" % (sample["watch_mode"], state["watch_mode"]))

mode, args = sys.argv[1], sys.argv[2:]
if mode == "single":            # OUT(json) STATE
    doc, state = json.load(open(args[0])), json.load(open(args[1]))
    s = doc["samples"]
    out("single_count", len(s) == 1, len(s))
    out("single_target", doc["target"]["pid"] == state["pid"], doc["target"])
    check_regions("single", s[0], state, True)
    check_entries("single", s[0])
    out("single_no_hashed", not hashed(s[0]), hashed(s[0]))
    out("single_time", s[0]["time"] == 0, s[0]["time"])
elif mode == "series":          # OUT(jsonl) STATE0 STATE1
    s = load_jsonl(args[0])
    s0, s1 = json.load(open(args[1])), json.load(open(args[2]))
    out("series_samples", len(s) >= 3, len(s))
    out("series_times", all(a["time"] < b["time"] for a, b in zip(s, s[1:])),
        [x["time"] for x in s])
    check_regions("series_first", s[0], s0, True)
    check_regions("series_last", s[-1], s1, False)
    for x in s:
        check_entries("series", x)
    for b, r in {n(r["base"]): r for r in s1["regions"]}.items():
        seen, twice = set(), set()
        for x in s[1:]:
            f = pages(watch(x)[b]["new"]) if b in watch(x) else set()
            twice |= seen & f
            seen |= f
        before = pages([q for q in s0["regions"] if n(q["base"]) == b][0]["written"])
        out("series_new", seen == pages(r["written"]) - before,
            "%s != %s" % (sorted(seen), sorted(pages(r["written"]) - before)))
        out("series_new_once", not twice, twice)
    # Hashed memory: never a watched page; the plain region's changes only.
    plain = s1["plain"]
    lo, hi = n(plain["base"]), n(plain["base"]) + plain["size"]
    watched = [(n(r["base"]), n(r["base"]) + r["size"]) for r in s1["regions"]]
    for x in s:
        for h in hashed(x):
            a, e = n(h["base"]), n(h["base"]) + h["size"]
            out("hashed_not_watched", all(e <= wl or a >= wh for wl, wh in watched), h)
    out("hashed_present", all(hashed(x) for x in s), "a sample without hashed entries")
    out("hashed_first_empty", all(not h["written"] and not h["new"] for h in hashed(s[0])),
        hashed(s[0]))
    changed = set()
    for x in s[1:]:
        for h in hashed(x):
            changed |= set(p for p in pages(h["new"]) if lo <= p < hi)
    out("hashed_new", changed == pages(plain["changed"]),
        "%s != %s" % (sorted(changed), sorted(pages(plain["changed"]))))
    last = set()
    for h in hashed(s[-1]):
        last |= set(p for p in pages(h["written"]) if lo <= p < hi)
    out("hashed_written_sticky", last == pages(plain["changed"]), sorted(last))
elif mode == "same":            # STATE_BEFORE STATE_AFTER: memtool reset nothing
    a, b = json.load(open(args[0])), json.load(open(args[1]))
    for ra, rb in zip(a["regions"], b["regions"]):
        out("not_reset", ra["written"] == rb["written"] and ra["written"],
            "%s then %s" % (ra["written"], rb["written"]))
elif mode == "empty":           # OUT(json) [hashed]: a process without libmemapi
    doc = json.load(open(args[0]))
    s = doc["samples"]
    out("empty_mode", all(x["watch_mode"] is None for x in s), s)
    if args[1:]:
        out("empty_hashed_only", all(r["kind"] == "hashed" for x in s for r in x["regions"]) and
            all(x["regions"] for x in s), s)
    else:
        out("empty_regions", all(not x["regions"] for x in s), s)
elif mode == "samples":         # OUT(json) MIN: a complete document of >= MIN samples
    doc = json.load(open(args[0]))
    out("samples_min", len(doc["samples"]) >= int(args[1]), len(doc["samples"]))
EOF

pycheck() {
	local line
	python3 "$tmp/watch_check.py" "$@" >"$tmp/pyout" 2>&1
	[ -s "$tmp/pyout" ] || echo "FAIL pycheck $1: no output" >"$tmp/pyout"
	while IFS= read -r line; do
		case $line in
		"ok "*) ok ;;
		*) bad "watch $1: $(printf '%s' "$line" | head -c 400)" ;;
		esac
	done <"$tmp/pyout"
}

# wait_for FILE-TEST: polls (up to 20 s) until the shell test succeeds.
wait_for() {
	local i
	for i in $(seq 1 2000); do
		eval "$1" && return 0
		sleep 0.01
	done
	return 1
}

samples_in() { grep -c '"kind": "sample"' "$1" 2>/dev/null || true; }

for wmode in kernel fallback; do
	st="$tmp/wt-$wmode"
	rm -f "$st".*
	if [ $wmode = fallback ]; then
		MEMAPI_WRITE_WATCH=fallback "$wt" "$st" & wpid=$!
	else
		env -u MEMAPI_WRITE_WATCH "$wt" "$st" & wpid=$!
	fi
	cleanup_pids+=("$wpid")
	wait_for '[ -s "$st.0" ]' && ok || bad "watch $wmode: fixture not ready"

	# One sample: exactly the application's own GetWriteWatch.
	expect "watch_${wmode}_single" 0 "$mt" watch --pid "$wpid" --json
	json "watch_${wmode}_single_json" "$tmp/out"
	pycheck single "$tmp/out" "$st.0"
	[ "$wmode" = fallback ] && has "watch_fallback_mode" "$tmp/out" '"watch_mode": "fallback"'

	# A series across step 1 (more pages, a change in the plain region).
	"$mt" watch --pid "$wpid" --count 0 --interval 100 --unwatched --jsonl \
		>"$tmp/series" 2>"$tmp/series.err" & mpid=$!
	cleanup_pids+=("$mpid")
	wait_for '[ "$(samples_in "$tmp/series")" -ge 1 ]' || bad "watch $wmode: no first sample"
	kill -USR1 "$wpid"
	wait_for '[ -s "$st.1" ]' || bad "watch $wmode: fixture step 1"
	n1=$(samples_in "$tmp/series")
	# The sample under way may predate the step; the one after it cannot.
	wait_for '[ "$(samples_in "$tmp/series")" -ge $((n1 + 2)) ]' || bad "watch $wmode: no later samples"
	kill -INT "$mpid"
	wait "$mpid"
	rc=$?
	[ "$rc" -eq 0 ] && ok || bad "watch $wmode series: exit $rc after SIGINT ($(head -c 300 "$tmp/series.err"))"
	if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/series"; then ok; else bad "watch $wmode series: invalid JSON lines"; fi
	pycheck series "$tmp/series" "$st.0" "$st.1"

	# memtool reset nothing: the application still sees its pages.
	kill -USR1 "$wpid"
	wait_for '[ -s "$st.2" ]' || bad "watch $wmode: fixture step 2"
	pycheck same "$st.1" "$st.2"

	# SIGTERM during --json: the document is still complete.
	"$mt" watch --pid "$wpid" --count 0 --interval 50 --json >"$tmp/term" 2>"$tmp/term.err" & mpid=$!
	cleanup_pids+=("$mpid")
	wait_for 'grep -q "\"time\"" "$tmp/term"' || bad "watch $wmode: no sample before SIGTERM"
	kill -TERM "$mpid"
	wait "$mpid"
	rc=$?
	[ "$rc" -eq 0 ] && ok || bad "watch $wmode: exit $rc after SIGTERM ($(head -c 300 "$tmp/term.err"))"
	json "watch_${wmode}_term_json" "$tmp/term"
	pycheck samples "$tmp/term" 1

	# CSV: one row per region with the sample's time first; text: a block per sample.
	expect "watch_${wmode}_csv" 0 "$mt" watch --pid "$wpid" --csv --count 2 --interval 1
	has "watch_${wmode}_csv_header" "$tmp/out" '^sample,base,size,kind,written_pages,new_pages,written,new$'
	[ "$(grep -c ',watch,' "$tmp/out")" -eq 4 ] && ok || bad "watch $wmode csv: $(cat "$tmp/out")"
	a_base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["regions"][0]["base"])' "$st.2")
	has "watch_${wmode}_csv_row" "$tmp/out" "^0\\.000,$a_base,262144,watch,6,6,"
	expect "watch_${wmode}_text" 0 "$mt" watch --pid "$wpid" --count 2 --interval 1
	[ "$(grep -c '^ *TIME  WATCH_MODE' "$tmp/out")" -eq 1 ] && [ "$(grep -c '^  BASE ' "$tmp/out")" -eq 2 ] &&
		ok || bad "watch $wmode text blocks: $(head -c 600 "$tmp/out")"
	has "watch_${wmode}_text_row" "$tmp/out" "^  $a_base +262144  watch +6 +0  -\$"

	# The process exits during a run: the document is closed, exit 1.
	"$mt" watch --pid "$wpid" --count 0 --interval 50 --json >"$tmp/exit" 2>"$tmp/exit.err" & mpid=$!
	cleanup_pids+=("$mpid")
	wait_for 'grep -q "\"time\"" "$tmp/exit"' || bad "watch $wmode: no sample before exit"
	kill -TERM "$wpid"
	wait "$wpid"
	wait "$mpid"
	rc=$?
	[ "$rc" -eq 1 ] && ok || bad "watch $wmode: exit $rc when the process exited, want 1"
	has "watch_${wmode}_exit_msg" "$tmp/exit.err" "^memtool: cannot read the writes of process '$wpid': the process has exited"
	json "watch_${wmode}_exit_json" "$tmp/exit"
done

# A process without libmemapi: no watch regions; --unwatched: hashed only.
expect watch_plain 0 "$mt" watch --pid "$sleeper" --json
pycheck empty "$tmp/out"
expect watch_plain_unwatched 0 "$mt" watch --pid "$sleeper" --json --unwatched --count 2 --interval 1
pycheck empty "$tmp/out" hashed

# Usage and runtime errors.
expect watch_core 2 "$mt" watch --core "$tmp/none.core"
has watch_core_msg "$tmp/err" "^memtool: cannot watch core file '$tmp/none.core': write tracking needs a live process$"
expect watch_core_and_pid 2 "$mt" watch --pid "$sleeper" --core "$tmp/none.core"
expect watch_no_pid 2 "$mt" watch
has watch_no_pid_msg "$tmp/err" '^memtool: missing --pid: write tracking needs a live process$'
for v in 0 3600001 abc -5 1.5 ""; do
	expect "watch_bad_interval_$v" 2 "$mt" watch --pid "$sleeper" --interval "$v"
done
has watch_bad_interval_msg "$tmp/err" "^memtool: invalid interval '': expected milliseconds"
expect watch_max_interval_ok 0 "$mt" watch --pid "$sleeper" --interval 3600000
for v in 1000000001 -1 x; do
	expect "watch_bad_count_$v" 2 "$mt" watch --pid "$sleeper" --count "$v"
done
has watch_bad_count_msg "$tmp/err" "^memtool: invalid count 'x': "
expect watch_bad_pid 2 "$mt" watch --pid abc
expect watch_extra_arg 2 "$mt" watch --pid "$sleeper" extra
expect watch_bad_option 2 "$mt" watch --pid "$sleeper" --bogus
expect watch_dead_pid 1 "$mt" watch --pid 2147483000
has watch_dead_pid_msg "$tmp/err" "^memtool: cannot open process '2147483000': no such process"
/bin/true & gone=$!
wait "$gone"
expect watch_exited_pid 1 "$mt" watch --pid "$gone"
