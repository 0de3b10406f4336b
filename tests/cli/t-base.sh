# The command-line basics: version, help, usage and man synopses, maps,
# query, demo, pipes, and the installed pkg-config contract.


expect version 0 "$mt" --version
has version "$tmp/out" '^memtool [0-9]+\.[0-9]+'
expect no_args 2 "$mt"
expect unknown_command 2 "$mt" frobnicate
has unknown_command_msg "$tmp/err" "^memtool: unknown command 'frobnicate': "
expect help 0 "$mt" help
has help_lists_maps "$tmp/out" '^  maps '
expect help_maps 0 "$mt" help maps
has help_maps_usage "$tmp/out" '^usage: memtool maps \[--pid PID \| --core FILE\]'
expect maps_dash_h 0 "$mt" maps -h
has maps_dash_h_same_usage "$tmp/out" '^usage: memtool maps \[--pid PID \| --core FILE\] \[--json \| --jsonl \| --csv\]$'

# Each man page's synopsis is the command's -h usage line.
for c in $("$mt" help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'); do
	u=$("$mt" "$c" -h | sed -n 's/^usage: //p')
	m=$(sed -n '/^\.SH SYNOPSIS/{n;s/^\.B //;s/\\-/-/g;p;q}' "man/man1/memtool-$c.1")
	[ -n "$u" ] && [ "$u" = "$m" ] && ok || bad "man synopsis of $c: '$m' != usage '$u'"
	# memtool(1) lists every command with the same usage line.
	grep -qF -- "$(printf '%s' "$u" | sed 's/-/\\-/g')" man/man1/memtool.1 && ok || bad "memtool.1 lacks '$u'"
done

expect maps_self 0 "$mt" maps
has maps_self_image "$tmp/out" 'MEM_IMAGE'
has maps_self_stack "$tmp/out" 'MEM_COMMIT +PAGE_READWRITE'
expect maps_pid 0 "$mt" maps --pid "$sleeper"
has maps_pid_image "$tmp/out" 'PAGE_EXECUTE_READ +PAGE_EXECUTE_WRITECOPY +MEM_IMAGE'
expect maps_json 0 "$mt" maps --pid "$sleeper" --json
json maps_json_valid "$tmp/out"
has maps_json_target "$tmp/out" "\"target\": \\{\"kind\": \"pid\", \"pid\": $sleeper, \"executable\": \"[^\"]*sleep\""
has maps_json_keys "$tmp/out" '"base": "0x[0-9a-f]+", "allocation_base": "0x[0-9a-f]+", "size": [0-9]+, "state": "MEM_'
expect maps_bad_pid 2 "$mt" maps --pid abc
has maps_bad_pid_msg "$tmp/err" "^memtool: invalid pid 'abc': "
expect maps_dead_pid 1 "$mt" maps --pid 2147483000
has maps_dead_pid_msg "$tmp/err" "^memtool: cannot open process '2147483000': no such process"
expect maps_extra_arg 2 "$mt" maps extra
expect maps_bad_option 2 "$mt" maps --bogus

addr=$(awk '/sleep/ { split($1, a, "-"); print a[1]; exit }' /proc/$sleeper/maps)
expect query_pid 0 "$mt" query "$addr" --pid "$sleeper"
has query_pid_image "$tmp/out" "^0x$addr +0x$addr .*MEM_IMAGE"
expect query_json 0 "$mt" query "0x$addr" --pid "$sleeper" --json
json query_json_valid "$tmp/out"
expect query_free 0 "$mt" query 0x10000 --pid "$sleeper"
has query_free_state "$tmp/out" 'MEM_FREE +PAGE_NOACCESS'
expect query_bad_addr 2 "$mt" query xyz
has query_bad_addr_msg "$tmp/err" "^memtool: invalid address 'xyz': "
expect query_kernel_addr 2 "$mt" query ffffffffff600000
expect query_missing 2 "$mt" query

expect demo 0 "$mt" demo
has demo_guard "$tmp/out" 'MEM_COMMIT +PAGE_READWRITE\|PAGE_GUARD +PAGE_READWRITE +MEM_PRIVATE +private'
has demo_watch_region "$tmp/out" 'MEM_PRIVATE +watch'
has demo_section "$tmp/out" 'MEM_MAPPED +section +Local.memtool-workload-[0-9]+$'
has demo_heaps "$tmp/out" '^Its heaps'
has demo_thunk "$tmp/out" '!workload_target\+0x0$'
has demo_watch_first "$tmp/out" '^  0x[0-9a-f]+ +1048576 +5 +5 '
has demo_watch_second "$tmp/out" '^  0x[0-9a-f]+ +1048576 +8 +3 '
has demo_dep "$tmp/out" '^DEP/NX .*: on; '
expect demo_json 0 "$mt" demo --json
json demo_json_valid "$tmp/out"
has demo_json_target "$tmp/out" '"target": \{"kind": "pid", "pid": [0-9]+, "executable": "[^"]*memtool"\}'
MEMAPI_WRITE_WATCH=fallback expect demo_fallback 0 "$mt" demo
has demo_fallback_watch_region "$tmp/out" 'MEM_PRIVATE +watch'
has demo_fallback_watch_second "$tmp/out" '^  0x[0-9a-f]+ +1048576 +8 +3 '
expect demo_extra 2 "$mt" demo extra
expect demo_pid 2 "$mt" demo --pid 1

# Output to a closed pipe: no error message, no hang.
if "$mt" maps --pid "$sleeper" 2>"$tmp/err" | head -1 >/dev/null && [ ! -s "$tmp/err" ]; then ok; else bad "maps_into_head: $(cat "$tmp/err")"; fi

# The pkg-config contract: an outside program includes <windows.h> and links.
make -s install DESTDIR="$tmp/root" PREFIX=/usr BUILD="$build" >/dev/null 2>"$tmp/err" || bad "install: $(head -c 300 "$tmp/err")"
export PKG_CONFIG_SYSROOT_DIR="$tmp/root" PKG_CONFIG_LIBDIR="$tmp/root/usr/lib/pkgconfig"
# A sanitizer build of the library needs the program built the same way.
san=""
if readelf -d "$build/libmemapi.so.1" | grep -q libasan; then san="-fsanitize=address,undefined"; fi
if cc $san -o "$tmp/outside" tests/fixtures/outside.c $(pkg-config --cflags --libs memapi) 2>"$tmp/err"; then ok; else bad "pkgconfig_build: $(head -c 500 "$tmp/err")"; fi
if LD_LIBRARY_PATH="$tmp/root/usr/lib" "$tmp/outside" >"$tmp/out" 2>&1; then ok; else bad "pkgconfig_run: $(cat "$tmp/out")"; fi
has pkgconfig_output "$tmp/out" '^outside: ok'
for f in windows.h memoryapi.h heapapi.h winbase.h sysinfoapi.h enclaveapi.h atlthunk.h psapi.h \
         errhandlingapi.h handleapi.h fileapi.h synchapi.h processthreadsapi.h winnt.h winerror.h memapi.h; do
	[ -f "$tmp/root/usr/include/memapi/$f" ] && ok || bad "installed header $f missing"
done
[ -L "$tmp/root/usr/lib/libmemapi.so" ] && [ -f "$tmp/root/usr/lib/libmemapi.so.1" ] && ok || bad "installed libraries"
readelf -d "$tmp/root/usr/lib/libmemapi.so.1" | grep -q 'SONAME.*libmemapi.so.1' && ok || bad "soname"
[ -f "$tmp/root/usr/share/man/man3/memapi.3" ] && ok || bad "installed man page memapi.3"
for c in $("$mt" help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'); do
	[ -f "$tmp/root/usr/share/man/man1/memtool-$c.1" ] && ok || bad "installed man page memtool-$c.1"
done

# Bash completion, as installed: commands, then a command's options.
comp="$tmp/root/usr/share/bash-completion/completions/memtool"
if [ -f "$comp" ]; then
	words=$(PATH="$build:$PATH" bash -c '. "$1"; COMP_WORDS=(memtool he); COMP_CWORD=1; _memtool; echo "${COMPREPLY[*]}"' _ "$comp")
	case " $words " in *" heap "*) ok ;; *) bad "completion of 'he': '$words'" ;; esac
	case " $words " in *" help "*) ok ;; *) bad "completion of 'he': '$words'" ;; esac
	words=$(PATH="$build:$PATH" bash -c '. "$1"; COMP_WORDS=(memtool heap --b); COMP_CWORD=2; _memtool; echo "${COMPREPLY[*]}"' _ "$comp")
	[ "$words" = "--blocks" ] && ok || bad "completion of 'heap --b': '$words'"
else
	bad "bash completion not installed"
fi

