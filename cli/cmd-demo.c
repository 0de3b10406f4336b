/* memtool demo: a small workload on libmemapi, inspected as it runs, so a
 * new user sees reservations, commits, guard pages and write watch at once. */
#include <windows.h>
#include "memtool.h"
#include "region.h"

#include <memapi.h>
#include <getopt.h>
#include <string.h>

#define KIB 1024u
#define MIB (1024u * 1024u)

struct demo {
	char  *reserved;        /* 4 MiB reserved, first 256 KiB committed   */
	char  *watched;         /* 1 MiB with MEM_WRITE_WATCH                */
	char  *placeholder;     /* 512 KiB placeholder, split in two         */
	LONG   guard_hits;
	bool   json;
};

static LONG CALLBACK on_guard(EXCEPTION_POINTERS *ep)
{
	extern struct demo *demo_state;

	if (ep->ExceptionRecord->ExceptionCode != STATUS_GUARD_PAGE_VIOLATION)
		return EXCEPTION_CONTINUE_SEARCH;
	demo_state->guard_hits++;
	return EXCEPTION_CONTINUE_EXECUTION;   /* the guard is already gone */
}

struct demo *demo_state;

static int fail(const char *what)
{
	char code[32];

	snprintf(code, sizeof code, "Windows error %u", GetLastError());
	return mt_error(MT_EXIT_RUNTIME, "demo step failed", what, code);
}

static int build(struct demo *d)
{
	DWORD old;

	d->reserved = VirtualAlloc(NULL, 4 * MIB, MEM_RESERVE, PAGE_READWRITE);
	if (!d->reserved || !VirtualAlloc(d->reserved, 256 * KIB, MEM_COMMIT, PAGE_READWRITE))
		return fail("VirtualAlloc reserve+commit");
	memset(d->reserved, 0x5a, 256 * KIB);
	if (!VirtualProtect(d->reserved + 64 * KIB, 4 * KIB, PAGE_READWRITE | PAGE_GUARD, &old))
		return fail("VirtualProtect PAGE_GUARD");
	if (!VirtualProtect(d->reserved + 128 * KIB, 64 * KIB, PAGE_READONLY, &old))
		return fail("VirtualProtect PAGE_READONLY");
	d->watched = VirtualAlloc(NULL, MIB, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
	                          PAGE_READWRITE);
	if (!d->watched)
		return fail("VirtualAlloc MEM_WRITE_WATCH");
	d->placeholder = VirtualAlloc2(NULL, NULL, 512 * KIB, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
	                               PAGE_NOACCESS, NULL, 0);
	if (!d->placeholder ||
	    !VirtualFree(d->placeholder, 256 * KIB, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER))
		return fail("placeholder split");
	if (!VirtualAlloc2(NULL, d->placeholder, 256 * KIB, MEM_RESERVE | MEM_COMMIT |
	                   MEM_REPLACE_PLACEHOLDER, PAGE_READWRITE, NULL, 0))
		return fail("MEM_REPLACE_PLACEHOLDER");
	return 0;
}

static void teardown(struct demo *d)
{
	if (d->reserved)
		VirtualFree(d->reserved, 0, MEM_RELEASE);
	if (d->watched)
		VirtualFree(d->watched, 0, MEM_RELEASE);
	if (d->placeholder) {
		VirtualFree(d->placeholder, 0, MEM_RELEASE);
		VirtualFree(d->placeholder + 256 * KIB, 0, MEM_RELEASE);
	}
}

static bool print_own(const MEMORY_BASIC_INFORMATION *m, void *p)
{
	struct demo *d = p;
	static bool first = true;
	uintptr_t a = (uintptr_t)m->AllocationBase;

	if (a != (uintptr_t)d->reserved && a != (uintptr_t)d->watched &&
	    (a < (uintptr_t)d->placeholder || a >= (uintptr_t)d->placeholder + 512 * KIB))
		return true;
	mt_region_print(m, d->json, first);
	first = false;
	return true;
}

static void show_watch(struct demo *d, ULONG_PTR *count)
{
	static PVOID pages[64];
	DWORD gran;

	for (int i = 0; i < 5; i++)
		d->watched[i * 48 * KIB] = (char)i;      /* five pages written */
	*count = 64;
	GetWriteWatch(WRITE_WATCH_FLAG_RESET, d->watched, MIB, pages, count, &gran);
	if (d->json) {
		printf(",\n  \"write_watch\": {\"base\": \"%p\", \"size\": %u, \"written\": [",
		       (void *)d->watched, MIB);
		for (ULONG_PTR i = 0; i < *count; i++)
			printf("%s\"%p\"", i ? ", " : "", pages[i]);
		printf("]}");
		return;
	}
	printf("\nWrite watch on %p (1 MiB): %lu pages written since the last reset:\n",
	       (void *)d->watched, (unsigned long)*count);
	for (ULONG_PTR i = 0; i < *count; i++)
		printf("  %p (+%lu KiB)\n", pages[i],
		       (unsigned long)(((char *)pages[i] - d->watched) / KIB));
}

static void show_counters(struct demo *d)
{
	memapi_counters c;

	memapi_get_counters(&c);
	if (d->json) {
		printf(",\n  \"guard_hits\": %ld,\n  \"counters\": {\"reservations\": %llu, "
		       "\"reserved_bytes\": %llu, \"committed_bytes\": %llu, \"watch_mode\": \"%s\"}\n}\n",
		       (long)d->guard_hits, (unsigned long long)c.reservations,
		       (unsigned long long)c.reserved_bytes, (unsigned long long)c.committed_bytes,
		       c.watch_mode == MEMAPI_WATCH_KERNEL ? "kernel" : "fallback");
		return;
	}
	printf("\nGuard page at %p: touched, %ld STATUS_GUARD_PAGE_VIOLATION delivered, "
	       "then an ordinary page.\n", (void *)(d->reserved + 64 * KIB), (long)d->guard_hits);
	printf("libmemapi: %llu reservations, %llu bytes reserved, %llu committed; "
	       "write watch by %s.\n", (unsigned long long)c.reservations,
	       (unsigned long long)c.reserved_bytes, (unsigned long long)c.committed_bytes,
	       c.watch_mode == MEMAPI_WATCH_KERNEL ? "the kernel (userfaultfd + PAGEMAP_SCAN)"
	                                          : "the mprotect fallback");
	printf("\nNext: 'memtool maps' for a whole process, 'memtool query ADDRESS', "
	       "'memtool help'.\n");
}

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = mt_find_command("demo");
	struct demo d = { 0 };
	ULONG_PTR written;
	PVOID veh;
	int c, rc;

	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		if (c == 'j')
			d.json = true;
		else if (c == 'h')
			return printf("usage: %s\n", self->usage), MT_EXIT_OK;
		else
			return mt_usage(self);
	}
	if (optind != argc)
		return mt_usage(self);
	demo_state = &d;
	veh = AddVectoredExceptionHandler(1, on_guard);
	if ((rc = build(&d))) {
		teardown(&d);
		RemoveVectoredExceptionHandler(veh);
		return rc;
	}
	d.reserved[64 * KIB] = 1;                  /* hits the guard page once */
	d.reserved[64 * KIB + 1] = 2;              /* no guard any more */
	if (d.json) {
		printf("{\n");
		mt_target_json(GetCurrentProcessId());
		printf(",\n  \"regions\": [");
	} else {
		printf("memtool demo: a libmemapi workload in this process (pid %u)\n\n"
		       "Its allocations, as VirtualQuery reports them:\n", GetCurrentProcessId());
		mt_region_text_header();
	}
	mt_walk_regions(GetCurrentProcess(), false, print_own, &d);
	if (d.json)
		printf("\n  ]");
	show_watch(&d, &written);
	show_counters(&d);
	teardown(&d);
	RemoveVectoredExceptionHandler(veh);
	return MT_EXIT_OK;
}
