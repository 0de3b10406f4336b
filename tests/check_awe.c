/* Check suite for AWE: AllocateUserPhysicalPages(Numa), FreeUserPhysicalPages,
 * MapUserPhysicalPages, MapUserPhysicalPagesScatter and MEM_PHYSICAL windows. */
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define P TL_PAGE

static const struct memapi_rec_awe *awe_rec(void)
{
	return memapi_root.awe;
}

static uint64_t allocated_now(void)
{
	return awe_rec() ? awe_rec()->allocated : 0;
}

/* Reads one byte without faulting: false when the page is inaccessible. */
static bool readable(const void *p)
{
	char c;
	struct iovec local = { &c, 1 }, remote = { (void *)p, 1 };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1;
}

static char *window(size_t pages)
{
	char *w = VirtualAlloc(NULL, pages * P, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE);

	ck_assert_msg(w != NULL, "MEM_PHYSICAL reserve failed: %lu", (unsigned long)GetLastError());
	return w;
}

static void frames(ULONG_PTR *pfn, ULONG_PTR n)
{
	ULONG_PTR got = n;

	ck_assert_msg(AllocateUserPhysicalPages(GetCurrentProcess(), &got, pfn),
	              "AllocateUserPhysicalPages failed: %lu", (unsigned long)GetLastError());
	ck_assert_uint_eq(got, n);
}

static void release_frames(ULONG_PTR *pfn, ULONG_PTR n)
{
	ULONG_PTR k = n;

	ck_assert(FreeUserPhysicalPages(GetCurrentProcess(), &k, pfn));
	ck_assert_uint_eq(k, n);
}

static void map(void *at, ULONG_PTR n, ULONG_PTR *pfn)
{
	ck_assert_msg(MapUserPhysicalPages(at, n, pfn), "MapUserPhysicalPages failed: %lu",
	              (unsigned long)GetLastError());
}

/* ---- allocation ---- */

START_TEST(test_AllocateUserPhysicalPages__distinct_frames)
{
	ULONG_PTR pfn[64], n = 64;
	uint64_t before = allocated_now();

	ck_assert(AllocateUserPhysicalPages(GetCurrentProcess(), &n, pfn));
	ck_assert_uint_eq(n, 64);
	for (int i = 0; i < 64; i++) {
		ck_assert_uint_ne(pfn[i], 0);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(pfn[i], pfn[j]);
	}
	ck_assert_uint_eq(allocated_now(), before + 64);
	release_frames(pfn, 64);
	ck_assert_uint_eq(allocated_now(), before);
}
END_TEST

START_TEST(test_AllocateUserPhysicalPages__zero_pages)
{
	ULONG_PTR pfn[1] = { 77 }, n = 0;

	ck_assert(AllocateUserPhysicalPages(GetCurrentProcess(), &n, pfn));
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(pfn[0], 77);
}
END_TEST

START_TEST(test_AllocateUserPhysicalPages__errors)
{
	ULONG_PTR pfn[4], n = 4;

	ck_assert_false_error(AllocateUserPhysicalPages(GetCurrentProcess(), NULL, pfn),
	                      ERROR_NOACCESS);
	ck_assert_false_error(AllocateUserPhysicalPages(GetCurrentProcess(), &n, NULL),
	                      ERROR_NOACCESS);
	ck_assert_false_error(AllocateUserPhysicalPages((HANDLE)(uintptr_t)0x1234, &n, pfn),
	                      ERROR_INVALID_HANDLE);
	ck_assert_false_error(AllocateUserPhysicalPagesNuma(GetCurrentProcess(), &n, pfn, 4096),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(n, 4);
}
END_TEST

START_TEST(test_AllocateUserPhysicalPages__other_process)
{
	struct tl_child c;
	ULONG_PTR pfn[4], n = 4;
	HANDLE h;

	tl_child_start(&c, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
	h = OpenProcess(PROCESS_VM_OPERATION, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	ck_assert_false_error(AllocateUserPhysicalPages(h, &n, pfn), ERROR_NOT_SUPPORTED);
	CloseHandle(h);
	h = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, GetCurrentProcessId());
	ck_assert_ptr_nonnull(h);
	ck_assert_false_error(AllocateUserPhysicalPages(h, &n, pfn), ERROR_ACCESS_DENIED);
	CloseHandle(h);
	tl_child_stop(&c);
}
END_TEST

START_TEST(test_AllocateUserPhysicalPagesNuma__node_zero)
{
	ULONG_PTR pfn[8], n = 8;
	char *w = window(8);

	ck_assert(AllocateUserPhysicalPagesNuma(GetCurrentProcess(), &n, pfn, 0));
	ck_assert_uint_eq(n, 8);
	map(w, 8, pfn);
	memset(w, 0x5a, 8 * P);
	ck_assert_int_eq(w[8 * P - 1], 0x5a);
	release_frames(pfn, 8);
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

/* Memory runs short after the first chunk: fewer frames, reported back. */
START_TEST(test_AllocateUserPhysicalPages__partial_count)
{
	static ULONG_PTR pfn[1500];
	ULONG_PTR n = 1500;
	uint64_t before = allocated_now();

	tl_inject(TL_FALLOCATE, ENOSPC, 1);
	ck_assert(AllocateUserPhysicalPages(GetCurrentProcess(), &n, pfn));
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, 1500);
	ck_assert_uint_eq(allocated_now(), before + n);
	tl_inject_reset();
	release_frames(pfn, n);
}
END_TEST

START_TEST(test_AllocateUserPhysicalPages__no_memory_at_all)
{
	ULONG_PTR pfn[16], n = 16;
	uint64_t before = allocated_now();

	tl_inject(TL_FALLOCATE, ENOMEM, 0);
	ck_assert_false_error(AllocateUserPhysicalPages(GetCurrentProcess(), &n, pfn),
	                      ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_uint_eq(n, 16);
	ck_assert_uint_eq(allocated_now(), before);
}
END_TEST

START_TEST(test_AllocateUserPhysicalPages__new_frames_read_zero)
{
	ULONG_PTR pfn[4];
	char *w = window(4);

	frames(pfn, 4);
	map(w, 4, pfn);
	memset(w, 0xee, 4 * P);
	release_frames(pfn, 4);
	frames(pfn, 4);                     /* the same frames again, most likely */
	map(w, 4, pfn);
	for (size_t i = 0; i < 4 * P; i += 512)
		ck_assert_int_eq(w[i], 0);
	release_frames(pfn, 4);
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

/* ---- windows ---- */

START_TEST(test_MapUserPhysicalPages__query_states)
{
	char *w = window(16);
	ULONG_PTR pfn[4];
	MEMORY_BASIC_INFORMATION mbi;
	WIN32_MEMORY_REGION_INFORMATION info;

	mbi = tl_query(w);
	ck_assert_uint_eq(mbi.State, MEM_RESERVE);
	ck_assert_uint_eq(mbi.Type, MEM_PRIVATE);
	ck_assert_uint_eq(mbi.AllocationProtect, PAGE_READWRITE);
	ck_assert_uint_eq(mbi.RegionSize, 16 * P);
	ck_assert(!readable(w));
	frames(pfn, 4);
	map(w + 2 * P, 4, pfn);
	mbi = tl_query(w + 2 * P);
	ck_assert_uint_eq(mbi.State, MEM_COMMIT);
	ck_assert_uint_eq(mbi.Protect, PAGE_READWRITE);
	ck_assert_ptr_eq(mbi.BaseAddress, w + 2 * P);
	ck_assert_ptr_eq(mbi.AllocationBase, w);
	ck_assert_uint_eq(mbi.RegionSize, 4 * P);
	ck_assert_uint_eq(tl_query(w + 6 * P).State, MEM_RESERVE);
	ck_assert(readable(w + 2 * P) && !readable(w + 6 * P) && !readable(w + P));
	ck_assert(QueryVirtualMemoryInformation(GetCurrentProcess(), w, MemoryRegionInfo, &info,
	                                        sizeof info, NULL));
	ck_assert_uint_eq(info.MappedPhysical, 1);
	ck_assert_uint_eq(info.CommitSize, 4 * P);
	map(w + 2 * P, 4, NULL);
	ck_assert_uint_eq(tl_query(w + 3 * P).State, MEM_RESERVE);
	ck_assert(!readable(w + 2 * P));
	release_frames(pfn, 4);
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

START_TEST(test_MapUserPhysicalPages__unmapped_page_faults)
{
	char *w = window(4);

	tl_fault_begin(0);
	if (tl_forking()) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			tl_write(w, 1);
			_exit(0);
		}
		waitpid(pid, &st, 0);
		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	}
	ck_assert_int_eq(tl_fault.count, 0);   /* the child's fault, not ours */
	tl_fault_end();
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

/* A frame keeps its bytes while it moves between windows. */
START_TEST(test_MapUserPhysicalPages__remap_into_other_windows)
{
	char *a = window(8), *b = window(8);
	ULONG_PTR pfn[8], rev[8];

	frames(pfn, 8);
	map(a, 8, pfn);
	for (int i = 0; i < 8; i++)
		snprintf(a + i * P, 32, "frame %d", i);
	map(a, 8, NULL);
	for (int i = 0; i < 8; i++)
		rev[i] = pfn[7 - i];
	map(b, 8, rev);
	for (int i = 0; i < 8; i++) {
		char want[32];

		snprintf(want, sizeof want, "frame %d", 7 - i);
		ck_assert_str_eq(b + i * P, want);
	}
	/* Back into the first window in another order, in one call the
	 * frames leave b for a. */
	map(b, 8, NULL);
	map(a + 4 * P, 4, pfn);
	ck_assert_str_eq(a + 4 * P, "frame 0");
	ck_assert_str_eq(a + 7 * P, "frame 3");
	release_frames(pfn, 8);
	VirtualFree(a, 0, MEM_RELEASE);
	VirtualFree(b, 0, MEM_RELEASE);
}
END_TEST

/* Overwriting a mapping replaces it; frames may trade places in one call. */
START_TEST(test_MapUserPhysicalPages__overwrite_and_swap)
{
	char *w = window(4);
	ULONG_PTR pfn[4], swap[2];

	frames(pfn, 4);
	map(w, 2, pfn);
	strcpy(w, "A");
	strcpy(w + P, "B");
	swap[0] = pfn[1];
	swap[1] = pfn[0];
	map(w, 2, swap);
	ck_assert_str_eq(w, "B");
	ck_assert_str_eq(w + P, "A");
	map(w, 1, &pfn[2]);                 /* pfn[1] ("B") leaves the window */
	ck_assert_int_eq(w[0], 0);
	ck_assert_uint_eq(awe_rec()->mapped_at[pfn[1] - 1], 0);
	map(w + 3 * P, 1, &pfn[1]);
	ck_assert_str_eq(w + 3 * P, "B");
	release_frames(pfn, 4);
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

START_TEST(test_MapUserPhysicalPages__errors_change_nothing)
{
	char *w = window(4), *other = window(4);
	char *plain = tl_commit_new(4 * P, PAGE_READWRITE);
	ULONG_PTR pfn[4], bad[4];

	frames(pfn, 4);
	map(w, 2, pfn);
	strcpy(w, "kept");
	/* Not a MEM_PHYSICAL window, or not memory at all. */
	ck_assert_false_error(MapUserPhysicalPages(plain, 1, &pfn[2]), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(MapUserPhysicalPages((void *)tl_free_range(TL_GRAN), 1, &pfn[2]),
	                      ERROR_INVALID_PARAMETER);
	/* Past the window's end. */
	ck_assert_false_error(MapUserPhysicalPages(w + 2 * P, 3, &pfn[1]), ERROR_INVALID_PARAMETER);
	/* Frames not owned: out of range, freed (below). */
	bad[0] = pfn[2];
	bad[1] = (ULONG_PTR)1 << 40;
	ck_assert_false_error(MapUserPhysicalPages(w + 2 * P, 2, bad), ERROR_INVALID_PARAMETER);
	/* A frame shown elsewhere, or named twice. */
	ck_assert_false_error(MapUserPhysicalPages(other, 1, &pfn[0]), ERROR_INVALID_PARAMETER);
	bad[0] = bad[1] = pfn[3];
	ck_assert_false_error(MapUserPhysicalPages(other, 2, bad), ERROR_INVALID_PARAMETER);
	/* Nothing moved: partial or otherwise. */
	ck_assert_str_eq(w, "kept");
	ck_assert(!readable(w + 2 * P) && !readable(other));
	ck_assert_uint_eq(tl_query(other).State, MEM_RESERVE);
	ck_assert(MapUserPhysicalPages(w, 0, pfn));   /* nothing to do */
	release_frames(pfn + 2, 2);
	ck_assert_false_error(MapUserPhysicalPages(other, 1, &pfn[2]), ERROR_INVALID_PARAMETER);
	release_frames(pfn, 2);
	VirtualFree(w, 0, MEM_RELEASE);
	VirtualFree(other, 0, MEM_RELEASE);
	tl_release(plain);
}
END_TEST

/* The kernel refuses a mapping half way: the old frames show again. */
START_TEST(test_MapUserPhysicalPages__os_failure_rolls_back)
{
	char *w = window(8);
	ULONG_PTR pfn[8], mix[8];

	frames(pfn, 8);
	map(w, 8, pfn);
	for (int i = 0; i < 8; i++)
		w[i * P] = (char)('a' + i);
	for (int i = 0; i < 8; i++)
		mix[i] = pfn[(i * 3) % 8];      /* no two neighbours consecutive: 8 mmaps */
	tl_inject_n(TL_MMAP, ENOMEM, 3, 1);
	ck_assert_false_error(MapUserPhysicalPages(w, 8, mix), ERROR_NOT_ENOUGH_MEMORY);
	tl_inject_reset();
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(w[i * P], 'a' + i);
	ck_assert_uint_eq(tl_query(w).RegionSize, 8 * P);
	map(w, 8, mix);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(w[i * P], 'a' + (i * 3) % 8);
	release_frames(pfn, 8);
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

START_TEST(test_MapUserPhysicalPagesScatter__several_windows)
{
	char *a = window(4), *b = window(4);
	ULONG_PTR pfn[4], list[4];
	PVOID at[4] = { a + 3 * P, b, a, b + 2 * P };

	frames(pfn, 4);
	ck_assert(MapUserPhysicalPagesScatter(at, 4, pfn));
	for (int i = 0; i < 4; i++)
		*(int *)at[i] = 100 + i;
	ck_assert_uint_eq(tl_query(a).State, MEM_COMMIT);
	ck_assert_uint_eq(tl_query(a + P).State, MEM_RESERVE);
	ck_assert_uint_eq(awe_rec()->mapped_at[pfn[1] - 1], (uintptr_t)b);
	/* A zero entry unmaps its address; the others move. */
	list[0] = 0;
	list[1] = pfn[0];
	list[2] = pfn[2];
	list[3] = pfn[3];
	PVOID at2[4] = { a + 3 * P, b + P, a, b + 2 * P };
	ck_assert(MapUserPhysicalPagesScatter(at2, 4, list));
	ck_assert(!readable(a + 3 * P));
	ck_assert_int_eq(*(int *)(b + P), 100);
	ck_assert_int_eq(*(int *)b, 101);     /* frame 1 untouched */
	/* Errors: a frame twice, an address twice, an address outside. */
	PVOID dup[2] = { a + P, a + P };
	list[0] = pfn[0];
	list[1] = pfn[0];
	ck_assert_false_error(MapUserPhysicalPagesScatter(at, 2, list), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(MapUserPhysicalPagesScatter(dup, 2, NULL), ERROR_INVALID_PARAMETER);
	PVOID outside[1] = { &list };
	ck_assert_false_error(MapUserPhysicalPagesScatter(outside, 1, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(MapUserPhysicalPagesScatter(NULL, 1, NULL), ERROR_NOACCESS);
	/* NULL unmaps every address given. */
	PVOID all[4] = { a, b, b + P, b + 2 * P };
	ck_assert(MapUserPhysicalPagesScatter(all, 4, NULL));
	ck_assert_uint_eq(awe_rec()->mapped, 0);
	ck_assert_uint_eq(tl_query(b).State, MEM_RESERVE);
	release_frames(pfn, 4);
	VirtualFree(a, 0, MEM_RELEASE);
	VirtualFree(b, 0, MEM_RELEASE);
}
END_TEST

/* ---- freeing and releasing ---- */

START_TEST(test_FreeUserPhysicalPages__unmaps_and_stops_at_bad_frame)
{
	char *w = window(4);
	ULONG_PTR pfn[4], list[4], n;

	frames(pfn, 4);
	map(w, 4, pfn);
	list[0] = pfn[0];
	list[1] = pfn[1];
	list[2] = 12345678;
	list[3] = pfn[2];
	n = 4;
	ck_assert_false_error(FreeUserPhysicalPages(GetCurrentProcess(), &n, list),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(n, 2);              /* freed before the bad one */
	ck_assert(!readable(w) && !readable(w + P) && readable(w + 2 * P));
	ck_assert_uint_eq(tl_query(w).State, MEM_RESERVE);
	ck_assert_false_error(MapUserPhysicalPages(w, 1, &pfn[0]), ERROR_INVALID_PARAMETER);
	map(w + 3 * P, 1, NULL);
	map(w, 1, &pfn[3]);                   /* pfn[3] was not freed */
	/* A frame freed twice in one call: the second is not owned any more. */
	list[0] = pfn[2];
	list[1] = pfn[2];
	n = 2;
	ck_assert_false_error(FreeUserPhysicalPages(GetCurrentProcess(), &n, list),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(n, 1);
	n = 1;
	ck_assert_false_error(FreeUserPhysicalPages(GetCurrentProcess(), &n, NULL), ERROR_NOACCESS);
	ck_assert_false_error(FreeUserPhysicalPages((HANDLE)(uintptr_t)0x1234, &n, list),
	                      ERROR_INVALID_HANDLE);
	release_frames(&pfn[3], 1);
	ck_assert(!readable(w));
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

START_TEST(test_VirtualFree__release_of_window_unmaps_frames)
{
	char *w = window(4), *v;
	ULONG_PTR pfn[2];

	frames(pfn, 2);
	map(w, 2, pfn);
	strcpy(w + P, "survives");
	ck_assert_uint_eq(awe_rec()->mapped, 2);
	ck_assert(VirtualFree(w, 0, MEM_RELEASE));
	ck_assert_uint_eq(awe_rec()->mapped, 0);
	v = window(2);
	map(v, 2, pfn);
	ck_assert_str_eq(v + P, "survives");
	release_frames(pfn, 2);
	VirtualFree(v, 0, MEM_RELEASE);
}
END_TEST

START_TEST(test_MEM_PHYSICAL__other_calls_refused)
{
	char *w = window(4);
	ULONG_PTR pfn[1];
	DWORD old;

	frames(pfn, 1);
	map(w, 1, pfn);
	ck_assert_false_error(VirtualProtect(w, P, PAGE_READONLY, &old), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualFree(w, P, MEM_DECOMMIT), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(VirtualAlloc(w + P, P, MEM_COMMIT, PAGE_READWRITE), ERROR_INVALID_ADDRESS);
	ck_assert_null_error(VirtualAlloc(NULL, P, MEM_RESERVE | MEM_COMMIT | MEM_PHYSICAL,
	                                  PAGE_READWRITE), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(VirtualAlloc(NULL, P, MEM_RESERVE | MEM_PHYSICAL, PAGE_READONLY),
	                     ERROR_INVALID_PARAMETER);
	w[0] = 9;                             /* still mapped read-write */
	release_frames(pfn, 1);
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

/* ---- process-wide ---- */

START_TEST(test_memapi_root__awe_record)
{
	char *w = window(2);
	ULONG_PTR pfn[3];
	const struct memapi_rec_awe *a;

	frames(pfn, 3);
	map(w + P, 1, &pfn[2]);
	a = awe_rec();
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->magic, MEMAPI_AWE_MAGIC);
	ck_assert_uint_eq(a->layout, MEMAPI_AWE_LAYOUT);
	ck_assert_uint_ge(a->frame_count, a->allocated);
	ck_assert_uint_ge(a->allocated, 3);
	ck_assert_uint_eq(a->mapped, 1);
	for (int i = 0; i < 3; i++)
		ck_assert(a->owned[(pfn[i] - 1) / 8] & (1u << ((pfn[i] - 1) % 8)));
	ck_assert_uint_eq(a->mapped_at[pfn[2] - 1], (uintptr_t)(w + P));
	ck_assert_uint_eq(a->mapped_at[pfn[0] - 1], 0);
	ck_assert_uint_eq(memapi_root.generation % 2, 0);
	release_frames(pfn, 3);
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

/* A fork child gets its own copy of the frames, as of fork. */
START_TEST(test_MapUserPhysicalPages__fork_child_has_own_frames)
{
	char *w = window(2);
	ULONG_PTR pfn[2];
	pid_t pid;
	int st;

	frames(pfn, 2);
	map(w, 2, pfn);
	strcpy(w, "parent");
	pid = fork();
	if (pid == 0) {
		int ok = !strcmp(w, "parent");

		strcpy(w, "child");
		_exit(ok && !strcmp(w, "child") ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_str_eq(w, "parent");
	release_frames(pfn, 2);
	VirtualFree(w, 0, MEM_RELEASE);
}
END_TEST

struct worker {
	char     *w;
	ULONG_PTR pfn[8];
	int       bad;
};

static void *remap_loop(void *arg)
{
	struct worker *k = arg;

	for (int round = 0; round < 300; round++) {
		ULONG_PTR one = k->pfn[round % 8];

		if (!MapUserPhysicalPages(k->w, 1, &one) || *(int *)k->w != (int)(round % 8))
			k->bad++;
	}
	return NULL;
}

START_TEST(test_MapUserPhysicalPages__threads)
{
	struct worker k[2];
	pthread_t t[2];

	for (int i = 0; i < 2; i++) {
		k[i].w = window(8);
		k[i].bad = 0;
		frames(k[i].pfn, 8);
		map(k[i].w, 8, k[i].pfn);
		for (int j = 0; j < 8; j++)
			*(int *)(k[i].w + j * P) = j;
		map(k[i].w, 8, NULL);
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, remap_loop, &k[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(k[i].bad, 0);
		release_frames(k[i].pfn, 8);
		VirtualFree(k[i].w, 0, MEM_RELEASE);
	}
}
END_TEST

/* ---- model-based random test ----
 * Two windows of W pages, up to F frames. The model knows which frames are
 * owned, which page shows which frame, and a tag per frame (written through
 * the window the first time it shows). Every step's success or error is
 * predicted, then every window page is checked: state, accessibility, tag. */

#define W 16
#define F 48

struct model {
	char     *win[2];
	ULONG_PTR owned[F];
	size_t    n_owned;
	ULONG_PTR shows[2][W];        /* pfn per page, 0 none */
	int       tag[F + 1024];      /* by pfn; 0: never written (reads 0) */
	int       next_tag;
};

static uint64_t rng;

static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng >> 33) % n;
}

static bool m_owned(const struct model *m, ULONG_PTR f)
{
	for (size_t i = 0; i < m->n_owned; i++)
		if (m->owned[i] == f)
			return true;
	return false;
}

static void m_where(const struct model *m, ULONG_PTR f, int *wi, int *pg)
{
	*wi = -1;
	for (int w = 0; w < 2; w++)
		for (int p = 0; p < W; p++)
			if (f && m->shows[w][p] == f) {
				*wi = w;
				*pg = p;
			}
}

static ULONG_PTR m_pick(const struct model *m)
{
	unsigned r = rnd(10);

	if (r == 0)
		return 0;
	if (r == 1 || !m->n_owned)
		return 100000 + rnd(5);       /* never allocated */
	return m->owned[rnd((unsigned)m->n_owned)];
}

static void step_allocate(struct model *m)
{
	ULONG_PTR pfn[8], n = 1 + rnd(8);

	if (m->n_owned + n > F)
		return;
	ck_assert(AllocateUserPhysicalPages(GetCurrentProcess(), &n, pfn));
	for (ULONG_PTR i = 0; i < n; i++) {
		ck_assert(!m_owned(m, pfn[i]));
		ck_assert_uint_lt(pfn[i], sizeof m->tag / sizeof *m->tag);
		m->owned[m->n_owned++] = pfn[i];
		m->tag[pfn[i]] = 0;               /* fresh frames read as zero */
	}
}

static void m_drop(struct model *m, ULONG_PTR f)
{
	int w, p;

	m_where(m, f, &w, &p);
	if (w >= 0)
		m->shows[w][p] = 0;
	for (size_t i = 0; i < m->n_owned; i++)
		if (m->owned[i] == f) {
			m->owned[i] = m->owned[--m->n_owned];
			break;
		}
}

static void step_free(struct model *m)
{
	ULONG_PTR list[4], n = 1 + rnd(4), k, expect = 0;
	bool stop = false;

	for (ULONG_PTR i = 0; i < n; i++)
		list[i] = rnd(4) ? (m->n_owned ? m->owned[rnd((unsigned)m->n_owned)] : 7777) : 99999;
	/* The model: frees in order until a frame it does not own. */
	for (ULONG_PTR i = 0; i < n && !stop; i++) {
		if (!m_owned(m, list[i])) {
			stop = true;
			break;
		}
		m_drop(m, list[i]);
		expect++;
	}
	k = n;
	SetLastError(0);
	ck_assert_int_eq(FreeUserPhysicalPages(GetCurrentProcess(), &k, list), !stop);
	ck_assert_uint_eq(k, expect);
	if (stop)
		ck_assert_last_error(ERROR_INVALID_PARAMETER);
}

/* Whether a call giving frames new[] to pages (w, p[i]) is valid. */
static bool m_valid(const struct model *m, const int *wi, const int *pg, const ULONG_PTR *nw,
                    int n)
{
	for (int i = 0; i < n; i++) {
		int w, p = 0;

		if (nw[i] && !m_owned(m, nw[i]))
			return false;
		for (int j = 0; j < i; j++)
			if ((wi[j] == wi[i] && pg[j] == pg[i]) || (nw[i] && nw[j] == nw[i]))
				return false;
		m_where(m, nw[i], &w, &p);
		if (nw[i] && w >= 0) {
			bool covered = false;

			for (int j = 0; j < n; j++)
				covered |= wi[j] == w && pg[j] == p;
			if (!covered)
				return false;
		}
	}
	return true;
}

static void m_apply(struct model *m, const int *wi, const int *pg, const ULONG_PTR *nw, int n)
{
	for (int i = 0; i < n; i++)
		m->shows[wi[i]][pg[i]] = nw[i];
}

static void step_map(struct model *m, bool scatter)
{
	int n = 1 + (int)rnd(6), wi[6], pg[6];
	ULONG_PTR nw[6];
	PVOID at[6];
	bool null_array = rnd(8) == 0, ok;

	if (!scatter) {
		int w = (int)rnd(2), p = (int)rnd(W - n + 1);

		for (int i = 0; i < n; i++) {
			wi[i] = w;
			pg[i] = p + i;
		}
	} else {
		for (int i = 0; i < n; i++) {
			wi[i] = (int)rnd(2);
			pg[i] = (int)rnd(W);
		}
	}
	for (int i = 0; i < n; i++) {
		nw[i] = null_array ? 0 : m_pick(m);
		at[i] = m->win[wi[i]] + (size_t)pg[i] * P;
	}
	ok = m_valid(m, wi, pg, nw, n);
	SetLastError(0);
	if (scatter)
		ck_assert_int_eq(MapUserPhysicalPagesScatter(at, (ULONG_PTR)n, null_array ? NULL : nw),
		                 ok);
	else
		ck_assert_int_eq(MapUserPhysicalPages(at[0], (ULONG_PTR)n, null_array ? NULL : nw), ok);
	if (!ok) {
		ck_assert_last_error(ERROR_INVALID_PARAMETER);
		return;
	}
	m_apply(m, wi, pg, nw, n);
	/* Tag frames that show for the first time. */
	for (int i = 0; i < n; i++)
		if (nw[i] && !m->tag[nw[i]]) {
			m->tag[nw[i]] = ++m->next_tag;
			*(int *)at[i] = m->tag[nw[i]];
		}
}

static void m_check(const struct model *m)
{
	for (int w = 0; w < 2; w++)
		for (int p = 0; p < W; p++) {
			char *a = m->win[w] + (size_t)p * P;
			ULONG_PTR f = m->shows[w][p];

			ck_assert_uint_eq(tl_query(a).State, f ? MEM_COMMIT : MEM_RESERVE);
			ck_assert_int_eq(readable(a), f != 0);
			if (f)
				ck_assert_int_eq(*(int *)a, m->tag[f]);
		}
	ck_assert_uint_eq(awe_rec() ? awe_rec()->allocated : 0, m->n_owned);
}

START_TEST(test_AWE__model_random_sequences)
{
	static const uint64_t seeds[] = { 7, 2024, 0xabcdef, 99991 };
	static struct model m;
	int steps = tl_valgrind() ? 300 : 3000;

	memset(&m, 0, sizeof m);
	rng = seeds[_i];
	m.win[0] = window(W);
	m.win[1] = window(W);
	for (int s = 0; s < steps; s++) {
		switch (rnd(6)) {
		case 0: step_allocate(&m); break;
		case 1: step_free(&m); break;
		case 2: case 3: step_map(&m, false); break;
		default: step_map(&m, true); break;
		}
		m_check(&m);
	}
	release_frames(m.owned, m.n_owned);
	VirtualFree(m.win[0], 0, MEM_RELEASE);
	VirtualFree(m.win[1], 0, MEM_RELEASE);
}
END_TEST

static Suite *make_awe_suite(void)
{
	Suite *s = suite_create("awe");
	TCase *a = tcase_create("allocate");
	TCase *w = tcase_create("windows");
	TCase *f = tcase_create("free");
	TCase *p = tcase_create("process");
	TCase *m = tcase_create("model");

	tcase_add_checked_fixture(a, tl_setup, tl_teardown);
	tcase_add_test(a, test_AllocateUserPhysicalPages__distinct_frames);
	tcase_add_test(a, test_AllocateUserPhysicalPages__zero_pages);
	tcase_add_test(a, test_AllocateUserPhysicalPages__errors);
	tcase_add_test(a, test_AllocateUserPhysicalPages__other_process);
	tcase_add_test(a, test_AllocateUserPhysicalPagesNuma__node_zero);
	tcase_add_test(a, test_AllocateUserPhysicalPages__partial_count);
	tcase_add_test(a, test_AllocateUserPhysicalPages__no_memory_at_all);
	tcase_add_test(a, test_AllocateUserPhysicalPages__new_frames_read_zero);
	suite_add_tcase(s, a);

	tcase_add_checked_fixture(w, tl_setup, tl_teardown);
	tcase_add_test(w, test_MapUserPhysicalPages__query_states);
	tcase_add_test(w, test_MapUserPhysicalPages__unmapped_page_faults);
	tcase_add_test(w, test_MapUserPhysicalPages__remap_into_other_windows);
	tcase_add_test(w, test_MapUserPhysicalPages__overwrite_and_swap);
	tcase_add_test(w, test_MapUserPhysicalPages__errors_change_nothing);
	tcase_add_test(w, test_MapUserPhysicalPages__os_failure_rolls_back);
	tcase_add_test(w, test_MapUserPhysicalPagesScatter__several_windows);
	suite_add_tcase(s, w);

	tcase_add_checked_fixture(f, tl_setup, tl_teardown);
	tcase_add_test(f, test_FreeUserPhysicalPages__unmaps_and_stops_at_bad_frame);
	tcase_add_test(f, test_VirtualFree__release_of_window_unmaps_frames);
	tcase_add_test(f, test_MEM_PHYSICAL__other_calls_refused);
	suite_add_tcase(s, f);

	tcase_add_checked_fixture(p, tl_setup, tl_teardown);
	tcase_add_test(p, test_memapi_root__awe_record);
	tcase_add_test(p, test_MapUserPhysicalPages__fork_child_has_own_frames);
	tcase_add_test(p, test_MapUserPhysicalPages__threads);
	suite_add_tcase(s, p);

	tcase_add_checked_fixture(m, tl_setup, tl_teardown);
	tcase_add_loop_test(m, test_AWE__model_random_sequences, 0, 4);
	tcase_set_timeout(m, 120);
	suite_add_tcase(s, m);
	return s;
}

TL_MAIN(make_awe_suite)
