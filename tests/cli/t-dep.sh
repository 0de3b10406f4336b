# memtool dep: the DEP/NX report and its --require gate, on real
# processes (plain, -z execstack, a W+X mmap, READ_IMPLIES_EXEC, setarch -X)
# and on gcore cores of them, each compared with what /proc says.

# dep_start READY CMD...: runs CMD in the background and waits (polling, at
# most 10 s) for it to write READY; the pid is in $dep_pid.
dep_start() {
	local ready=$1 i; shift
	rm -f "$ready"
	"$@" &
	dep_pid=$!
	cleanup_pids+=("$dep_pid")
	for ((i = 0; i < 500; i++)); do
		[ -s "$ready" ] && return 0
		kill -0 "$dep_pid" 2>/dev/null || break
		sleep 0.02
	done
	bad "dep_start: $* never became ready"
	return 1
}

# dep_py NAME FILE EXPR: the JSON document in FILE (as d) satisfies EXPR.
dep_py() {
	if python3 -c "import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if ($3) else 1)" "$2" 2>"$tmp/py_err"; then ok; else bad "$1: not ($3) in $(head -c 400 "$2") $(head -c 200 "$tmp/py_err")"; fi
}

# dep_core PREFIX PID: a gcore core of PID; its path in $dep_core.
dep_core() {
	dep_core="$1.$2"
	if gcore -o "$1" "$2" >"$tmp/gcore_out" 2>&1 && [ -s "$dep_core" ]; then ok
	else bad "gcore of $2: $(tail -c 300 "$tmp/gcore_out")"; fi
}

dep_kernel_nx=False
grep -m1 '^flags' /proc/cpuinfo | grep -qw nx && ! grep -qw noexec=off /proc/cmdline && dep_kernel_nx=True

for f in dep_wait dep_wx; do
	cc -O1 -o "$tmp/$f" "tests/fixtures/$f.c" 2>"$tmp/err" && ok || bad "build $f: $(head -c 300 "$tmp/err")"
done
cc -O1 -z execstack -o "$tmp/dep_xstack" tests/fixtures/dep_wait.c 2>"$tmp/err" && ok || bad "build dep_xstack: $(head -c 300 "$tmp/err")"

expect dep_dash_h 0 "$mt" dep -h
has dep_dash_h_usage "$tmp/out" '^usage: memtool dep \[--pid PID \| --core FILE\] \[--require\] \[--json \| --jsonl \| --csv\]$'

# ---- clean targets pass ----
expect dep_self_require 0 "$mt" dep --require
has dep_self_passed "$tmp/out" '^require: passed'
expect dep_sleeper_require 0 "$mt" dep --pid "$sleeper" --require
has dep_sleeper_passed "$tmp/out" '^require: passed'
has dep_sleeper_dep_on "$tmp/out" '^dep enabled +yes$'
expect dep_sleeper_json 0 "$mt" dep --pid "$sleeper" --json --require
json dep_sleeper_json_valid "$tmp/out"
exe=$(readlink /proc/$sleeper/exe)
dep_py dep_sleeper_exe "$tmp/out" "[o['path'] for o in d['objects'] if o['is_executable']] == ['$exe']"
dep_py dep_sleeper_keys "$tmp/out" "d['target'] == {'kind': 'pid', 'pid': $sleeper, 'executable': '$exe'} and \
sorted(d) == sorted(['target', 'personality', 'read_implies_exec', 'kernel_nx', 'dep_enabled', 'objects', 'wx_mappings', 'exec_stacks', 'violations'])"
dep_py dep_sleeper_policy "$tmp/out" "d['personality'] == '0x$(sed 's/^0*//;s/^$/0/' /proc/$sleeper/personality)' and \
d['read_implies_exec'] is False and d['kernel_nx'] is $dep_kernel_nx and d['dep_enabled'] is True"
dep_py dep_sleeper_clean "$tmp/out" "d['wx_mappings'] == [] and d['exec_stacks'] == [] and d['violations'] == [] and \
all(o['gnu_stack'] is True and o['exec_stack'] is False for o in d['objects'])"
dep_py dep_sleeper_libc "$tmp/out" "any('libc.so' in o['path'] for o in d['objects'])"

# A process with libmemapi (the demo workload): its thunk code lives in a
# memfd, which is a mapping, not an object; nothing in it is W+X.
if dep_start "$tmp/dep_wl.json" "$mt" demo --serve "$tmp/dep_wl.json"; then
	expect dep_libmemapi_require 0 "$mt" dep --pid "$dep_pid" --require --json
	dep_py dep_libmemapi_objects "$tmp/out" "not [o for o in d['objects'] if o['path'].startswith('/memfd:')] and \
any(o['path'].endswith('/libmemapi.so.1') for o in d['objects'])"
	kill "$dep_pid"
fi

# ---- -z execstack: the object asks, the kernel makes [stack] executable ----
if dep_start "$tmp/xs.ready" "$tmp/dep_xstack" "$tmp/xs.ready"; then
	xs=$dep_pid
	stack=$(awk '/\[stack\]/ { split($1, a, "-"); print a[1], $2 }' /proc/$xs/maps)
	[[ "$stack" == *" rwxp" ]] && ok || bad "dep_xstack: kernel stack is '$stack', want rwxp"
	expect dep_xstack_no_require 0 "$mt" dep --pid "$xs"
	has dep_xstack_reported "$tmp/out" "^exec_stack +$tmp/dep_xstack +PT_GNU_STACK asks for an executable stack"
	expect dep_xstack_require 3 "$mt" dep --pid "$xs" --require
	has dep_xstack_names_object "$tmp/out" "^exec_stack +$tmp/dep_xstack "
	has dep_xstack_names_stack "$tmp/out" "^exec_stack +0x${stack%% *}-0x[0-9a-f]+ \[stack\] +stack mapping is executable"
	[ "$(tail -1 "$tmp/out")" = "require: failed: exec_stack wx_mappings" ] && ok || bad "dep_xstack last line: $(tail -1 "$tmp/out")"
	expect dep_xstack_json 3 "$mt" dep --pid "$xs" --json --require
	json dep_xstack_json_valid "$tmp/out"
	dep_py dep_xstack_object "$tmp/out" "[(o['gnu_stack'], o['exec_stack']) for o in d['objects'] if o['path'] == '$tmp/dep_xstack'] == [(True, True)]"
	dep_py dep_xstack_stacks "$tmp/out" "[s['base'] for s in d['exec_stacks'] if s['path'] == '[stack]'] == ['0x${stack%% *}']"
	dep_py dep_xstack_dep_on "$tmp/out" "d['dep_enabled'] is True and {'reason', 'subject', 'check'} == set(d['violations'][0])"
	dep_core "$tmp/xscore" "$xs"
	expect dep_xstack_core_require 3 "$mt" dep --core "$dep_core" --require
	has dep_xstack_core_object "$tmp/out" "^exec_stack +$tmp/dep_xstack +PT_GNU_STACK"
	kill "$xs"
fi

# ---- a PROT_READ|PROT_WRITE|PROT_EXEC mmap ----
if dep_start "$tmp/wx.ready" "$tmp/dep_wx" "$tmp/wx.ready"; then
	read -r wx wxaddr wxsize <"$tmp/wx.ready"
	grep -q "^${wxaddr#0x}-.* rwxp " /proc/$wx/maps && ok || bad "dep_wx: $wxaddr not rwxp in /proc/$wx/maps"
	expect dep_wx_require 3 "$mt" dep --pid "$wx" --require
	has dep_wx_named "$tmp/out" "^wx_mappings +$wxaddr-0x[0-9a-f]+ anonymous +mapping is writable and executable"
	[ "$(tail -1 "$tmp/out")" = "require: failed: wx_mappings" ] && ok || bad "dep_wx last line: $(tail -1 "$tmp/out")"
	expect dep_wx_json 3 "$mt" dep --pid "$wx" --json --require
	json dep_wx_json_valid "$tmp/out"
	dep_py dep_wx_mapping "$tmp/out" "[(m['size'], m['protect'], m['path']) for m in d['wx_mappings'] if m['base'] == '$wxaddr'] == [($wxsize, 'PAGE_EXECUTE_READWRITE', '')]"
	dep_py dep_wx_violation "$tmp/out" "[v['check'] for v in d['violations'] if v['subject'].startswith('$wxaddr-')] == ['wx_mappings'] and d['dep_enabled'] is True"
	expect dep_wx_jsonl 3 "$mt" dep --pid "$wx" --jsonl --require
	if python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/out" 2>/dev/null; then ok; else bad "dep_wx_jsonl: invalid line"; fi
	has dep_wx_jsonl_record "$tmp/out" "^\{\"kind\": \"wx_mapping\", \"base\": \"$wxaddr\", \"size\": $wxsize, "
	expect dep_wx_csv 3 "$mt" dep --pid "$wx" --csv --require
	has dep_wx_csv_header "$tmp/out" '^reason,subject,check$'
	has dep_wx_csv_row "$tmp/out" "^mapping is writable and executable,$wxaddr-0x[0-9a-f]+ anonymous,wx_mappings$"
	# The same checks on a core: personality unknown there, not a failure.
	dep_core "$tmp/wxcore" "$wx"
	expect dep_wx_core_require 3 "$mt" dep --core "$dep_core" --require
	has dep_wx_core_named "$tmp/out" "^wx_mappings +$wxaddr-0x[0-9a-f]+ anonymous"
	has dep_wx_core_unknown "$tmp/out" '^personality +unknown'
	[ "$(tail -1 "$tmp/out")" = "require: failed: wx_mappings" ] && ok || bad "dep_wx_core last line: $(tail -1 "$tmp/out")"
	expect dep_wx_core_json 3 "$mt" dep --core "$dep_core" --json --require
	json dep_wx_core_json_valid "$tmp/out"
	dep_py dep_wx_core_nulls "$tmp/out" "d['personality'] is None and d['read_implies_exec'] is None and d['kernel_nx'] is None and d['dep_enabled'] is True"
	dep_py dep_wx_core_target "$tmp/out" "d['target']['kind'] == 'core' and d['target']['pid'] == $wx and d['target']['core'] == '$dep_core'"
	dep_py dep_wx_core_mapping "$tmp/out" "[m['size'] for m in d['wx_mappings'] if m['base'] == '$wxaddr'] == [$wxsize]"
	dep_py dep_wx_core_exe "$tmp/out" "[o['path'] for o in d['objects'] if o['is_executable']] == ['$tmp/dep_wx']"
	kill "$wx"
fi

# A core of a clean process passes: what a core cannot say is not a failure.
dep_core "$tmp/sleepcore" "$sleeper"
expect dep_sleeper_core_require 0 "$mt" dep --core "$dep_core" --require
has dep_sleeper_core_passed "$tmp/out" '^require: passed'

# ---- READ_IMPLIES_EXEC: DEP off ----
if dep_start "$tmp/rie.ready" "$tmp/dep_wait" --read-implies-exec "$tmp/rie.ready"; then
	read -r rie riepage <"$tmp/rie.ready"
	grep -q 400000 /proc/$rie/personality && ok || bad "dep_rie: personality $(cat /proc/$rie/personality)"
	expect dep_rie_require 3 "$mt" dep --pid "$rie" --require
	has dep_rie_off "$tmp/out" '^dep enabled +no$'
	has dep_rie_violation "$tmp/out" '^dep_enabled +personality 0x400000 +READ_IMPLIES_EXEC'
	has dep_rie_last "$tmp/out" '^require: failed: dep_enabled( |$)'
	expect dep_rie_json 3 "$mt" dep --pid "$rie" --json --require
	json dep_rie_json_valid "$tmp/out"
	dep_py dep_rie_policy "$tmp/out" "d['personality'] == '0x400000' and d['read_implies_exec'] is True and d['dep_enabled'] is False and d['violations'][0]['check'] == 'dep_enabled'"
	dep_py dep_rie_page "$tmp/out" "'$riepage' in [m['base'] for m in d['wx_mappings']]"
	expect dep_rie_no_require 0 "$mt" dep --pid "$rie"
	kill "$rie"
fi

# setarch -X asks for READ_IMPLIES_EXEC, but an x86-64 kernel drops it when
# it execs a 64-bit program: memtool must say what the kernel recorded.
if dep_start "$tmp/sa.ready" setarch "$(uname -m)" --read-implies-exec "$tmp/dep_wait" "$tmp/sa.ready"; then
	sa=$dep_pid
	pers=$(sed 's/^0*//;s/^$/0/' /proc/$sa/personality)
	want=0
	[ $((0x$pers & 0x400000)) -ne 0 ] && want=3
	expect dep_setarch_require $want "$mt" dep --pid "$sa" --require --json
	dep_py dep_setarch_personality "$tmp/out" "d['personality'] == '0x$pers' and d['dep_enabled'] is ($want == 0)"
	kill "$sa"
fi

# ---- errors ----
expect dep_dead_pid 1 "$mt" dep --pid 2147483000
has dep_dead_pid_msg "$tmp/err" "^memtool: cannot open process '2147483000': no such process"
head -c 4096 /dev/urandom >"$tmp/dep_garbage"
expect dep_garbage_core 1 "$mt" dep --core "$tmp/dep_garbage"
has dep_garbage_core_msg "$tmp/err" "^memtool: cannot read core '$tmp/dep_garbage': "
expect dep_missing_core 1 "$mt" dep --core "$tmp/no-such-core"
has dep_missing_core_msg "$tmp/err" "^memtool: cannot read core '$tmp/no-such-core': "
expect dep_bad_option 2 "$mt" dep --bogus
has dep_bad_option_usage "$tmp/err" '^usage: memtool dep '
expect dep_pid_and_core 2 "$mt" dep --pid "$sleeper" --core "$tmp/dep_garbage"
has dep_pid_and_core_msg "$tmp/err" "^memtool: conflicting options '--pid/--core': "
expect dep_extra_arg 2 "$mt" dep extra
expect dep_bad_pid 2 "$mt" dep --pid abc
[ ! -s "$tmp/out" ] && ok || bad "dep_bad_pid: output on stdout"
