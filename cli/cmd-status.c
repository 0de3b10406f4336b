/* memtool status: the system's memory as libmemapi reports it to a Windows
 * program (GlobalMemoryStatusEx, installed memory, large pages, the file
 * cache limits, the low/high memory state, GetSystemInfo). It asks
 * libmemapi in memtool itself: these figures are the machine's (or the
 * cgroup's), not a target process's. */
#include "memtool.h"

#include <getopt.h>
#include <string.h>
#include <windows.h>

/* Everything gathered before the first byte of output, so that a failing
 * call leaves no half-written document. */
struct status {
	MEMORYSTATUSEX ms;
	ULONGLONG      installed_kib;
	DWORD          installed_err;       /* 0: installed_kib is valid */
	SIZE_T         large_page;
	SIZE_T         cache_min, cache_max;
	DWORD          cache_flags;
	BOOL           low, high;
	SYSTEM_INFO    si;
};

static int call_failed(const char *call, DWORD err)
{
	char cause[48];

	snprintf(cause, sizeof cause, "Windows error %lu", (unsigned long)err);
	return mt_error(MT_EXIT_RUNTIME, call, NULL, cause);
}

/* The state of a fresh notification object of type, like a program that
 * creates one and queries it at once. */
static int resource_state(MEMORY_RESOURCE_NOTIFICATION_TYPE type, BOOL *state)
{
	HANDLE h = CreateMemoryResourceNotification(type);
	DWORD err;

	if (!h)
		return call_failed("CreateMemoryResourceNotification failed", GetLastError());
	if (!QueryMemoryResourceNotification(h, state)) {
		err = GetLastError();
		CloseHandle(h);
		return call_failed("QueryMemoryResourceNotification failed", err);
	}
	if (!CloseHandle(h))
		return call_failed("CloseHandle failed", GetLastError());
	return MT_EXIT_OK;
}

static int gather(struct status *s)
{
	int rc;

	memset(s, 0, sizeof *s);
	s->ms.dwLength = sizeof s->ms;
	if (!GlobalMemoryStatusEx(&s->ms))
		return call_failed("GlobalMemoryStatusEx failed", GetLastError());
	/* Not fatal: the SMBIOS table may be malformed; the rest still holds. */
	if (!GetPhysicallyInstalledSystemMemory(&s->installed_kib))
		s->installed_err = GetLastError();
	s->large_page = GetLargePageMinimum();
	if (!GetSystemFileCacheSize(&s->cache_min, &s->cache_max, &s->cache_flags))
		return call_failed("GetSystemFileCacheSize failed", GetLastError());
	if ((rc = resource_state(LowMemoryResourceNotification, &s->low)) ||
	    (rc = resource_state(HighMemoryResourceNotification, &s->high)))
		return rc;
	GetSystemInfo(&s->si);
	return MT_EXIT_OK;
}

/* "FILE_CACHE_MAX_HARD_DISABLE|FILE_CACHE_MIN_HARD_DISABLE", or "0". */
static void cache_flag_names(DWORD flags, char *buf, size_t size)
{
	static const struct { DWORD bit; const char *name; } names[] = {
		{ FILE_CACHE_MAX_HARD_ENABLE, "FILE_CACHE_MAX_HARD_ENABLE" },
		{ FILE_CACHE_MAX_HARD_DISABLE, "FILE_CACHE_MAX_HARD_DISABLE" },
		{ FILE_CACHE_MIN_HARD_ENABLE, "FILE_CACHE_MIN_HARD_ENABLE" },
		{ FILE_CACHE_MIN_HARD_DISABLE, "FILE_CACHE_MIN_HARD_DISABLE" },
	};
	size_t n = 0;

	snprintf(buf, size, "0");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (flags & names[i].bit)
			n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
			                      n ? "|" : "", names[i].name);
}

static void print_status(const struct target_opts *o, const struct status *s)
{
	char flags[160];

	mt_out_begin(o, "status", NULL, NULL);
	out_uint("memory_load", s->ms.dwMemoryLoad);
	out_uint("total_phys", s->ms.ullTotalPhys);
	out_uint("avail_phys", s->ms.ullAvailPhys);
	out_uint("total_page_file", s->ms.ullTotalPageFile);
	out_uint("avail_page_file", s->ms.ullAvailPageFile);
	out_uint("total_virtual", s->ms.ullTotalVirtual);
	out_uint("avail_virtual", s->ms.ullAvailVirtual);
	out_uint("avail_extended_virtual", s->ms.ullAvailExtendedVirtual);
	/* Both fields always, null when unknown: the CSV columns stay fixed. */
	if (s->installed_err) {
		out_str("installed_memory_kib", NULL);
		out_uint("installed_memory_error", s->installed_err);
	} else {
		out_uint("installed_memory_kib", s->installed_kib);
		out_str("installed_memory_error", NULL);
	}
	out_uint("large_page_minimum", s->large_page);
	out_uint("file_cache_minimum", s->cache_min);
	out_uint("file_cache_maximum", s->cache_max);
	cache_flag_names(s->cache_flags, flags, sizeof flags);
	out_str("file_cache_flags", flags);
	out_bool("low_memory", s->low);
	out_bool("high_memory", s->high);
	out_uint("page_size", s->si.dwPageSize);
	out_uint("allocation_granularity", s->si.dwAllocationGranularity);
	out_addr("minimum_application_address", (uintptr_t)s->si.lpMinimumApplicationAddress);
	out_addr("maximum_application_address", (uintptr_t)s->si.lpMaximumApplicationAddress);
	out_uint("number_of_processors", s->si.dwNumberOfProcessors);
	out_doc_end();
}

/* Only the format options: --pid and --core are known, to say why they
 * do not apply. */
static int parse_opts(int argc, char **argv, const struct cmd *self, struct target_opts *o)
{
	static const struct option opts[] = { MT_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	int c, rc;

	*o = (struct target_opts){ 0 };
	optind = 1;
	while ((c = getopt_long(argc, argv, MT_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (c == 'p' || c == 'c')
			return mt_error(MT_EXIT_USAGE, "option not accepted", c == 'p' ? "--pid" : "--core",
			                "status describes the system, not a process");
		if ((rc = mt_common_opt(self, c, optarg, o)) != -1)
			return rc == -2 ? mt_usage(self) : rc;
	}
	if (optind != argc)
		return mt_usage(self);
	return -1;
}

int cmd_status(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("status");
	struct target_opts o;
	struct status s;
	int rc;

	if ((rc = parse_opts(argc, argv, self, &o)) >= 0)
		return rc;
	if ((rc = gather(&s)))
		return rc;
	if (s.installed_err)
		fprintf(stderr, "memtool: warning: GetPhysicallyInstalledSystemMemory failed: "
		        "Windows error %lu; installed memory unknown\n",
		        (unsigned long)s.installed_err);
	print_status(&o, &s);
	return MT_EXIT_OK;
}
