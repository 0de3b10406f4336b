# memtool status: the system memory figures against ground truth. Fake
# /proc/meminfo and overcommit mode are bind-mounted in a private mount
# namespace (unshare), a fake cgroup comes from MEMAPI_CGROUP_DIR and a
# fake SMBIOS table from MEMAPI_SMBIOS_FILE; the expected values follow
# GlobalMemoryStatusEx(3), GetSystemFileCacheSize(3),
# GetPhysicallyInstalledSystemMemory(3) and
# CreateMemoryResourceNotification(3).

st_mib=1048576

# st_meminfo FILE MemTotal MemAvailable SwapTotal SwapFree CommitLimit
# Committed_AS [Hugepagesize] (kB; no Hugepagesize line when omitted).
st_meminfo() {
	{
		echo "MemTotal:       $2 kB"
		echo "MemFree:        $(($3 / 2)) kB"
		echo "MemAvailable:   $3 kB"
		echo "Cached:         $(($3 / 4)) kB"
		echo "SwapTotal:      $4 kB"
		echo "SwapFree:       $5 kB"
		echo "CommitLimit:    $6 kB"
		echo "Committed_AS:   $7 kB"
		[ $# -lt 8 ] || echo "Hugepagesize:   $8 kB"
	} >"$1"
}

# st_cgroup DIR MAX CURRENT MIN [SWAP_MAX]: a cgroup v2 directory.
st_cgroup() {
	mkdir -p "$1"
	rm -f "$1"/memory.*
	echo "$2" >"$1/memory.max"
	echo "$3" >"$1/memory.current"
	echo "$4" >"$1/memory.min"
	[ $# -lt 5 ] || echo "$5" >"$1/memory.swap.max"
}

# $st_fake MEMINFO OVERCOMMIT CMD...: CMD with the file MEMINFO as
# /proc/meminfo and the file OVERCOMMIT as vm.overcommit_memory, in a mount
# namespace of its own (private: the machine's stay as they are).
st_fake="$tmp/st-fake.sh"
printf '%s\n' '#!/bin/sh' \
	"exec unshare -rm sh -c 'mount --bind \"\$1\" /proc/meminfo && mount --bind \"\$2\" /proc/sys/vm/overcommit_memory && shift 2 && exec \"\$@\"' sh \"\$@\"" \
	>"$st_fake"
chmod +x "$st_fake"

# st_vals NAME: the document-level fields of $tmp/out (JSON) as KEY=VALUE
# lines (values in JSON) in $tmp/st-vals.
st_vals() {
	if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d.items():
    print("%s=%s" % (k, json.dumps(v)))' "$tmp/out" >"$tmp/st-vals" 2>"$tmp/st-err"; then ok; else
		bad "$1: invalid JSON: $(head -c 300 "$tmp/out")"
	fi
}
# st_is NAME KEY VALUE: the field KEY of the last st_vals is VALUE.
st_is() {
	if grep -qxF -- "$2=$3" "$tmp/st-vals"; then ok; else
		bad "$1: $2 is $(sed -n "s/^$2=//p" "$tmp/st-vals"), want $3"
	fi
}
st_val() { sed -n "s/^$1=//p" "$tmp/st-vals"; }

# st_status NAME [ENV=VALUE...]: memtool status --json under the given
# environment and the fake /proc/meminfo $tmp/st-meminfo (overcommit mode
# $st_oc), then its fields in $tmp/st-vals.
st_oc=0
st_status() {
	local name=$1
	shift
	echo "$st_oc" >"$tmp/st-overcommit"
	expect "$name" 0 env "$@" "$st_fake" "$tmp/st-meminfo" "$tmp/st-overcommit" "$mt" status --json
	st_vals "$name"
}

st_ns=0
if unshare -rm sh -c 'mount --bind /proc/version /proc/meminfo' 2>/dev/null; then st_ns=1; fi
st_none="$tmp/st-cg-none"           # a cgroup without limits: the machine's figures
st_cgroup "$st_none" max 0 0
st_cg="$tmp/st-cg"

if [ "$st_ns" = 1 ]; then
	# The machine's figures from MemTotal, MemAvailable, swap; no overcommit limit.
	st_meminfo "$tmp/st-meminfo" 8388608 2097152 1048576 524288 5242880 3145728 2048
	st_oc=0
	st_status status_fake MEMAPI_CGROUP_DIR="$st_none"
	st_is status_fake_total_phys total_phys $((8388608 * 1024))
	st_is status_fake_avail_phys avail_phys $((2097152 * 1024))
	st_is status_fake_load memory_load 75
	st_is status_fake_total_page_file total_page_file $(((8388608 + 1048576) * 1024))
	st_is status_fake_avail_page_file avail_page_file $(((2097152 + 524288) * 1024))
	st_is status_fake_large_page large_page_minimum $((2048 * 1024))
	st_is status_fake_cache_min file_cache_minimum 0
	st_is status_fake_cache_max file_cache_maximum $((8388608 * 1024))
	st_is status_fake_cache_flags file_cache_flags '"FILE_CACHE_MAX_HARD_DISABLE|FILE_CACHE_MIN_HARD_DISABLE"'
	st_is status_fake_low low_memory false
	st_is status_fake_high high_memory true
	st_is status_fake_target target '{"kind": "system"}'

	# Strict overcommit: the kernel's commit limit and what is left of it.
	st_oc=2
	st_status status_strict MEMAPI_CGROUP_DIR="$st_none"
	st_is status_strict_total_page_file total_page_file $((5242880 * 1024))
	st_is status_strict_avail_page_file avail_page_file $(((5242880 - 3145728) * 1024))
	st_is status_strict_total_phys total_phys $((8388608 * 1024))
	st_oc=0

	# No huge pages: no large pages.
	st_meminfo "$tmp/st-meminfo" 8388608 2097152 0 0 4194304 0
	st_status status_no_huge MEMAPI_CGROUP_DIR="$st_none"
	st_is status_no_huge_large_page large_page_minimum 0
	st_is status_no_huge_page_file total_page_file $((8388608 * 1024))

	# The load is rounded down: 1999999 of 3000000 in use is 66 %.
	st_meminfo "$tmp/st-meminfo" 3000000 1000001 0 0 0 0
	st_status status_load_round MEMAPI_CGROUP_DIR="$st_none"
	st_is status_load_round_load memory_load 66

	# The thresholds at 8 GiB: low 64 MiB (8 GiB / 128), high 192 MiB,
	# both inclusive.
	for st_case in "65536 true false" "65537 false false" "196607 false false" \
	               "196608 false true" "0 true false" "8388608 false true"; do
		read -r st_av st_lo st_hi <<<"$st_case"
		st_meminfo "$tmp/st-meminfo" 8388608 "$st_av" 0 0 0 0
		st_status "status_8g_avail_$st_av" MEMAPI_CGROUP_DIR="$st_none"
		st_is "status_8g_avail_${st_av}_low" low_memory "$st_lo"
		st_is "status_8g_avail_${st_av}_high" high_memory "$st_hi"
	done
	# At 16 GiB the low threshold stays at 64 MiB (not 128 MiB), the high
	# one at 192 MiB.
	for st_case in "102400 false false" "65536 true false" "196608 false true"; do
		read -r st_av st_lo st_hi <<<"$st_case"
		st_meminfo "$tmp/st-meminfo" 16777216 "$st_av" 0 0 0 0
		st_status "status_16g_avail_$st_av" MEMAPI_CGROUP_DIR="$st_none"
		st_is "status_16g_avail_${st_av}_low" low_memory "$st_lo"
		st_is "status_16g_avail_${st_av}_high" high_memory "$st_hi"
	done
	# At 1 GiB: low 8 MiB, high 24 MiB.
	for st_case in "8192 true false" "8193 false false" "24575 false false" "24576 false true"; do
		read -r st_av st_lo st_hi <<<"$st_case"
		st_meminfo "$tmp/st-meminfo" 1048576 "$st_av" 0 0 0 0
		st_status "status_1g_avail_$st_av" MEMAPI_CGROUP_DIR="$st_none"
		st_is "status_1g_avail_${st_av}_low" low_memory "$st_lo"
		st_is "status_1g_avail_${st_av}_high" high_memory "$st_hi"
	done

	# A cgroup limit of 1 GiB with 8 MiB left, 16 MiB protected, no swap:
	# the group's figures, the low state at its 8 MiB threshold.
	st_meminfo "$tmp/st-meminfo" 8388608 2097152 1048576 524288 5242880 3145728 2048
	st_cgroup "$st_cg" $((1024 * st_mib)) $((1016 * st_mib)) $((16 * st_mib)) 0
	st_status status_cgroup MEMAPI_CGROUP_DIR="$st_cg"
	st_is status_cgroup_total_phys total_phys $((1024 * st_mib))
	st_is status_cgroup_avail_phys avail_phys $((8 * st_mib))
	st_is status_cgroup_load memory_load 99
	st_is status_cgroup_total_page_file total_page_file $((1024 * st_mib))
	st_is status_cgroup_avail_page_file avail_page_file $((8 * st_mib))
	st_is status_cgroup_cache_min file_cache_minimum $((16 * st_mib))
	st_is status_cgroup_cache_max file_cache_maximum $((1024 * st_mib))
	st_is status_cgroup_cache_flags file_cache_flags '"FILE_CACHE_MAX_HARD_ENABLE|FILE_CACHE_MIN_HARD_ENABLE"'
	st_is status_cgroup_low low_memory true
	st_is status_cgroup_high high_memory false
	# Over its limit: nothing available, fully loaded.
	st_cgroup "$st_cg" $((1024 * st_mib)) $((1100 * st_mib)) 0
	st_status status_cgroup_over MEMAPI_CGROUP_DIR="$st_cg"
	st_is status_cgroup_over_avail avail_phys 0
	st_is status_cgroup_over_load memory_load 100
	st_is status_cgroup_over_low low_memory true
	st_is status_cgroup_over_flags file_cache_flags '"FILE_CACHE_MAX_HARD_ENABLE|FILE_CACHE_MIN_HARD_DISABLE"'

	# The text format shows the same figures under its labels.
	st_meminfo "$tmp/st-meminfo" 8388608 2097152 1048576 524288 5242880 3145728 2048
	echo 0 >"$tmp/st-overcommit"
	MEMAPI_CGROUP_DIR="$st_none" expect status_fake_text 0 \
		"$st_fake" "$tmp/st-meminfo" "$tmp/st-overcommit" "$mt" status
	has status_fake_text_total "$tmp/out" "^total phys +$((8388608 * 1024))\$"
	has status_fake_text_load "$tmp/out" '^memory load +75$'
	has status_fake_text_high "$tmp/out" '^high memory +yes$'

	# /proc/meminfo without MemTotal: GlobalMemoryStatusEx fails
	# (ERROR_IO_DEVICE), nothing is printed.
	: >"$tmp/st-meminfo"
	expect status_no_meminfo 1 "$st_fake" "$tmp/st-meminfo" "$tmp/st-overcommit" "$mt" status --json
	has status_no_meminfo_msg "$tmp/err" '^memtool: GlobalMemoryStatusEx failed: Windows error 1117$'
	[ ! -s "$tmp/out" ] && ok || bad "status_no_meminfo: output on failure: $(head -c 200 "$tmp/out")"
else
	echo "  (t-status.sh: no mount namespace (unshare -rm); fake /proc/meminfo cases skipped)"
fi

# The real /proc/meminfo, with the cgroup taken out: the machine's figures.
st_real_total=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))
st_real_huge=$((($(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo) + 0) * 1024))
MEMAPI_CGROUP_DIR="$st_none" expect status_real 0 "$mt" status --json
st_vals status_real
st_is status_real_total_phys total_phys "$st_real_total"
st_is status_real_cache_max file_cache_maximum "$st_real_total"
st_is status_real_large_page large_page_minimum "$st_real_huge"
st_is status_real_page_size page_size "$(getconf PAGESIZE)"
st_is status_real_granularity allocation_granularity 65536
st_is status_real_cpus number_of_processors "$(getconf _NPROCESSORS_ONLN)"
st_is status_real_min_addr minimum_application_address '"0x10000"'
st_is status_real_max_addr maximum_application_address '"0x7ffffffeffff"'
st_is status_real_total_virtual total_virtual $((0x7ffffffeffff - 0x10000 + 1))
st_is status_real_ext avail_extended_virtual 0
st_t=$(st_val total_phys) st_a=$(st_val avail_phys)
st_is status_real_load memory_load $(((st_t - st_a) * 100 / st_t))
[ "$st_a" -le "$st_t" ] && ok || bad "status_real: avail_phys $st_a > total_phys $st_t"
st_av=$(st_val avail_virtual)
[ "$st_av" -gt 0 ] && [ "$st_av" -lt "$(st_val total_virtual)" ] && ok ||
	bad "status_real: avail_virtual $st_av out of range"

# A 256 MiB cgroup over the real meminfo: 1 MiB left is low memory
# (threshold 2 MiB), 100 MiB left is high (at least 6 MiB).
st_cgroup "$st_cg" $((256 * st_mib)) $((255 * st_mib)) 0
MEMAPI_CGROUP_DIR="$st_cg" expect status_cg_low 0 "$mt" status --json
st_vals status_cg_low
st_is status_cg_low_total total_phys $((256 * st_mib))
st_is status_cg_low_avail avail_phys $st_mib
st_is status_cg_low_low low_memory true
st_is status_cg_low_high high_memory false
st_is status_cg_low_load memory_load 99
st_cgroup "$st_cg" $((256 * st_mib)) $((156 * st_mib)) 0
MEMAPI_CGROUP_DIR="$st_cg" expect status_cg_high 0 "$mt" status --json
st_vals status_cg_high
st_is status_cg_high_low low_memory false
st_is status_cg_high_high high_memory true

# Installed memory from a fake SMBIOS table: a type 16 array, then type
# 17 devices of 8 GiB (in MiB), 32 GiB (extended size), 512 KiB (KiB
# granularity), an empty slot and one of unknown size; type 127 ends it.
python3 - "$tmp/st-dmi" "$tmp/st-dmi-bad" "$tmp/st-dmi-empty" <<'EOF'
import struct, sys

def device(size, ext=0):
    s = bytearray(0x22)
    s[0], s[1] = 17, 0x22
    s[0x0c:0x0e] = struct.pack("<H", size)
    s[0x1c:0x20] = struct.pack("<I", ext)
    return bytes(s) + b"\0\0"

array = bytes([16, 0x17]) + bytes(0x15) + b"array\0\0"
end = bytes([127, 4, 0, 0]) + b"\0\0"
t = array + device(8192) + device(0x7fff, 32768) + device(0x8000 | 512) + \
    device(0) + device(0xffff) + end
open(sys.argv[1], "wb").write(t)
bad = bytearray(t[:0x30])
bad[1] = 0xff                       # runs past the end of the table
open(sys.argv[2], "wb").write(bad)
open(sys.argv[3], "wb").write(end)  # no memory devices
EOF
MEMAPI_SMBIOS_FILE="$tmp/st-dmi" expect status_smbios 0 "$mt" status --json
st_vals status_smbios
st_is status_smbios_kib installed_memory_kib $((8192 * 1024 + 32768 * 1024 + 512))
st_is status_smbios_err installed_memory_error null
# A malformed table (ERROR_INVALID_DATA): the installed memory is unknown,
# the rest is reported.
MEMAPI_SMBIOS_FILE="$tmp/st-dmi-bad" MEMAPI_CGROUP_DIR="$st_none" \
	expect status_smbios_bad 0 "$mt" status --json
st_vals status_smbios_bad
st_is status_smbios_bad_kib installed_memory_kib null
st_is status_smbios_bad_err installed_memory_error 13
st_is status_smbios_bad_rest total_phys "$st_real_total"
has status_smbios_bad_warning "$tmp/err" '^memtool: warning: GetPhysicallyInstalledSystemMemory failed: Windows error 13;'
MEMAPI_SMBIOS_FILE="$tmp/st-dmi-bad" expect status_smbios_bad_text 0 "$mt" status
has status_smbios_bad_text_dash "$tmp/out" '^installed memory kib +-$'
# No devices listed: the kernel's memory, at least MemTotal.
MEMAPI_SMBIOS_FILE="$tmp/st-dmi-empty" expect status_smbios_empty 0 "$mt" status --json
st_vals status_smbios_empty
st_k=$(st_val installed_memory_kib)
[ "$st_k" != null ] && [ "$st_k" -ge $((st_real_total / 1024)) ] && ok ||
	bad "status_smbios_empty: installed_memory_kib $st_k below MemTotal"

# Text: every field under its label.
MEMAPI_CGROUP_DIR="$st_cg" expect status_text 0 "$mt" status
for st_l in 'memory load' 'total phys' 'avail phys' 'total page file' 'avail page file' \
            'total virtual' 'avail virtual' 'avail extended virtual' 'installed memory kib' \
            'large page minimum' 'file cache minimum' 'file cache maximum' 'file cache flags' \
            'low memory' 'high memory' 'page size' 'allocation granularity' \
            'minimum application address' 'maximum application address' 'number of processors'; do
	has "status_text_${st_l// /_}" "$tmp/out" "^$st_l +[^ ]"
done
has status_text_total_value "$tmp/out" "^total phys +$((256 * st_mib))\$"
has status_text_high_value "$tmp/out" '^high memory +yes$'
has status_text_max_addr "$tmp/out" '^maximum application address +0x7ffffffeffff$'

# CSV: a header of the JSON keys and one row of as many values.
MEMAPI_CGROUP_DIR="$st_cg" expect status_csv 0 "$mt" status --csv
if python3 - "$tmp/out" "$st_mib" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert len(rows) == 2, rows
head, row = rows
assert len(head) == len(row) == 21, (len(head), len(row))
d = dict(zip(head, row))
assert head[0] == "memory_load" and head[-1] == "number_of_processors", head
assert d["total_phys"] == str(256 * int(sys.argv[2])), d
assert d["high_memory"] == "yes" and d["low_memory"] == "no", d
assert d["minimum_application_address"] == "0x10000", d
EOF
then ok; else bad "status_csv: $(head -c 400 "$tmp/out")"; fi

# JSONL: the target line, then one status line; each valid JSON.
MEMAPI_CGROUP_DIR="$st_cg" expect status_jsonl 0 "$mt" status --jsonl
if python3 - "$tmp/out" "$st_mib" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
t, s = (json.loads(l) for l in lines)
assert t == {"kind": "target", "target": {"kind": "system"}}, t
assert s["kind"] == "status" and s["total_phys"] == 256 * int(sys.argv[2]), s
assert s["high_memory"] is True and len(s) == 22, s
EOF
then ok; else bad "status_jsonl: $(head -c 400 "$tmp/out")"; fi

# Options.
expect status_help 0 "$mt" status -h
has status_help_usage "$tmp/out" '^usage: memtool status \[--json \| --jsonl \| --csv\]$'
expect status_help_cmd 0 "$mt" help status
has status_help_cmd_usage "$tmp/out" '^usage: memtool status \[--json \| --jsonl \| --csv\]$'
expect status_bad_option 2 "$mt" status --bogus
has status_bad_option_usage "$tmp/err" '^usage: memtool status '
expect status_operand 2 "$mt" status extra
expect status_pid 2 "$mt" status --pid 1
has status_pid_msg "$tmp/err" "^memtool: option not accepted '--pid': status describes the system"
[ ! -s "$tmp/out" ] && ok || bad "status_pid: output on a usage error"
expect status_pid_self 2 "$mt" status --pid "$sleeper" --json
expect status_core 2 "$mt" status --core "$tmp/st-dmi"
has status_core_msg "$tmp/err" "^memtool: option not accepted '--core': status describes the system"
expect status_pid_no_arg 2 "$mt" status --pid

# Output to a closed pipe: no error message.
if "$mt" status 2>"$tmp/err" | head -1 >/dev/null && [ ! -s "$tmp/err" ]; then ok; else bad "status_into_head: $(cat "$tmp/err")"; fi
