/* The Heap* API: heap lifetime and layout, blocks in every size range,
 * reallocation, freeing and validation of bad pointers, corruption
 * detection, HeapWalk, HeapLock, compaction, information classes,
 * HeapSummary and threads. main() runs the suite on the path the machine
 * offers (membarrier orders HeapLock against the lock-free fast paths),
 * then re-executes itself with MEMAPI_DISABLE=membarrier (read once at
 * library start-up) to run every test again on the fence path. */
#include "testlib.h"
#include "internal.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB          ((SIZE_T)1024)
#define LARGE_MIN    (508 * KIB)       /* growable heaps: own reservation from here */
#define LARGE_HDR    64                /* bytes of a large block before its data   */
#define LARGE_REGION 64                /* iRegionIndex of large blocks             */
#define HDR          16                /* header bytes before a block's data       */
#define HUGE_REQUEST ((SIZE_T)1 << 50)
#define BUSY         PROCESS_HEAP_ENTRY_BUSY

/* HeapSize must equal the request in every range: front end, backend,
 * large blocks. */
static const SIZE_T range_sizes[] = {
	0, 1, 15, 16, 17, 1000, 16384, 16385, 100000, 600000, 5 * TL_MIB,
};
#define N_RANGE (sizeof range_sizes / sizeof range_sizes[0])

static bool fence_run(void)
{
	const char *d = getenv("MEMAPI_DISABLE");

	return d && strstr(d, "membarrier");
}

/* ---- the process heap, seen before main ---- */

static HANDLE ctor_heap, ctor_first;
static DWORD ctor_count;

__attribute__((constructor)) static void before_main(void)
{
	ctor_heap = GetProcessHeap();
	ctor_count = GetProcessHeaps(1, &ctor_first);
}

/* ---- helpers ---- */

static HANDLE heap_new(DWORD flags, SIZE_T initial, SIZE_T maximum)
{
	HANDLE h = HeapCreate(flags, initial, maximum);

	ck_assert_msg(h != NULL, "HeapCreate(%#lx, %zu, %zu) failed: %lu", (unsigned long)flags,
	              (size_t)initial, (size_t)maximum, (unsigned long)GetLastError());
	return h;
}

static void heap_del(HANDLE h)
{
	ck_assert_msg(HeapDestroy(h), "HeapDestroy(%p) failed: %lu", h, (unsigned long)GetLastError());
}

/* A block of exactly n bytes. */
static char *alloc(HANDLE h, SIZE_T n)
{
	char *p = HeapAlloc(h, 0, n);

	ck_assert_msg(p != NULL, "HeapAlloc(%zu) failed: %lu", (size_t)n, (unsigned long)GetLastError());
	ck_assert_uint_eq(HeapSize(h, 0, p), n);
	return p;
}

static void release(HANDLE h, void *p)
{
	ck_assert_msg(HeapFree(h, 0, p), "HeapFree(%p) failed: %lu", p, (unsigned long)GetLastError());
}

static unsigned char pattern(SIZE_T i, unsigned seed)
{
	return (unsigned char)(i * 31 + seed * 7 + 1);
}

static void fill(void *p, SIZE_T n, unsigned seed)
{
	for (SIZE_T i = 0; i < n; i++)
		((unsigned char *)p)[i] = pattern(i, seed);
}

#define PATTERN (-1)

/* The first byte of [from, to) that is not v (PATTERN: pattern(i, seed)), or to. */
static SIZE_T first_other(const void *p, SIZE_T from, SIZE_T to, int v, unsigned seed)
{
	const unsigned char *b = p;

	for (SIZE_T i = from; i < to; i++)
		if (b[i] != (v == PATTERN ? pattern(i, seed) : (unsigned char)v))
			return i;
	return to;
}

static void assert_filled(const void *p, SIZE_T n, unsigned seed)
{
	SIZE_T i = first_other(p, 0, n, PATTERN, seed);

	ck_assert_msg(i == n, "byte %zu of %p changed", (size_t)i, p);
}

static void assert_bytes(const void *p, SIZE_T from, SIZE_T to, unsigned char v)
{
	SIZE_T i = first_other(p, from, to, v, 0);

	ck_assert_msg(i == to, "byte %zu of %p is not %#x", (size_t)i, p, v);
}

static void assert_zero(const void *p, SIZE_T from, SIZE_T to)
{
	assert_bytes(p, from, to, 0);
}

static bool is_large(const void *p)
{
	return tl_query(p).AllocationBase == (const char *)p - LARGE_HDR;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The kinds of heap most block tests run on (tcase loop index). */
enum kind { K_GROWABLE, K_NO_SERIALIZE, K_FIXED, K_PROCESS, K_KINDS };

static HANDLE kind_heap(int k)
{
	switch (k) {
	case K_GROWABLE:     return heap_new(0, 0, 0);
	case K_NO_SERIALIZE: return heap_new(HEAP_NO_SERIALIZE, 0, 0);
	case K_FIXED:        return heap_new(0, 0, 16 * TL_MIB);
	default:             return GetProcessHeap();
	}
}

static void kind_done(HANDLE h)
{
	if (h != GetProcessHeap())
		heap_del(h);
}

/* The heap list: count, and whether h is on it. */
static DWORD heaps(HANDLE *buf, DWORD max)
{
	DWORD n = GetProcessHeaps(max, buf);

	ck_assert_uint_le(n, max);
	return n;
}

static bool heap_listed(HANDLE h)
{
	HANDLE buf[256];
	DWORD n = heaps(buf, 256);

	for (DWORD i = 0; i < n; i++)
		if (buf[i] == h)
			return true;
	return false;
}

/* Committed bytes at a segment's base, and the reserved rest after them. */
static void segment_vm(const void *base, SIZE_T *committed, SIZE_T *reserved)
{
	MEMORY_BASIC_INFORMATION c = tl_query(base), r;

	ck_assert_ptr_eq(c.AllocationBase, base);
	ck_assert_uint_eq(c.Type, MEM_PRIVATE);
	ck_assert_uint_eq(c.State, MEM_COMMIT);
	*committed = c.RegionSize;
	*reserved = 0;
	r = tl_query((const char *)base + c.RegionSize);
	if (r.AllocationBase != base)
		return;
	ck_assert_uint_eq(r.State, MEM_RESERVE);
	ck_assert_uint_eq(r.Type, MEM_PRIVATE);
	*reserved = r.RegionSize;
}

/* ---- walking ---- */

struct walk {
	PROCESS_HEAP_ENTRY *e;
	size_t n, cap;
};

/* Every entry of a walk from the start; the walk must end with
 * ERROR_NO_MORE_ITEMS. */
static void walk_all(HANDLE h, struct walk *w)
{
	PROCESS_HEAP_ENTRY e;

	memset(&e, 0, sizeof e);
	w->n = 0;
	SetLastError(0);
	while (HeapWalk(h, &e)) {
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 256;
			w->e = realloc(w->e, w->cap * sizeof *w->e);
			ck_assert_ptr_nonnull(w->e);
		}
		w->e[w->n++] = e;
		ck_assert_uint_lt(w->n, 4000000);
	}
	ck_assert_last_error(ERROR_NO_MORE_ITEMS);
}

static void walk_free(struct walk *w)
{
	free(w->e);
	memset(w, 0, sizeof *w);
}

/* Where a block entry ends (its header and unused bytes included):
 * cbOverhead counts both, unless it was capped at 255. */
static const char *entry_end(const PROCESS_HEAP_ENTRY *e)
{
	return (const char *)e->lpData + e->cbData + (e->cbOverhead == 255 ? 0 : e->cbOverhead - HDR);
}

/* A block entry is free (no flags) or busy (possibly moveable). */
static void assert_block_flags(const PROCESS_HEAP_ENTRY *e)
{
	ck_assert_msg(e->wFlags == 0 || (e->wFlags & ~PROCESS_HEAP_ENTRY_MOVEABLE) == BUSY,
	              "entry %p has flags %#x", e->lpData, e->wFlags);
}

struct walk_state {
	int region;
	bool in_large, want_uncommitted;
	const char *first, *committed_end, *end, *prev_end;
};

static void sane_region(struct walk_state *s, const PROCESS_HEAP_ENTRY *e)
{
	const char *d = e->lpData;

	ck_assert(!s->in_large && !s->want_uncommitted);
	ck_assert_int_eq(e->iRegionIndex, ++s->region);
	ck_assert_uint_eq((uintptr_t)d % TL_GRAN, 0);
	s->committed_end = d + e->Region.dwCommittedSize;
	s->end = s->committed_end + e->Region.dwUnCommittedSize;
	s->first = e->Region.lpFirstBlock;
	ck_assert_ptr_eq(e->Region.lpLastBlock, s->end);
	ck_assert(s->first > d && s->first <= s->committed_end);
	s->prev_end = d + e->cbData;
	s->want_uncommitted = e->Region.dwUnCommittedSize != 0;
}

static void sane_block(struct walk_state *s, const PROCESS_HEAP_ENTRY *e)
{
	const char *d = e->lpData;

	ck_assert(!s->in_large && s->region >= 0);
	ck_assert_int_eq(e->iRegionIndex, s->region);
	assert_block_flags(e);
	ck_assert_uint_eq((uintptr_t)d % 16, 0);
	ck_assert_uint_ge(e->cbOverhead, HDR);
	ck_assert(d >= s->first);
	/* in address order, not overlapping the previous entry */
	ck_assert_msg(d - HDR >= s->prev_end, "entry %p overlaps the one before (ends %p)", d,
	              s->prev_end);
	s->prev_end = entry_end(e);
	ck_assert(s->prev_end <= s->committed_end);
}

/* The walk's invariants: regions in order, each followed by its blocks in
 * increasing address order without overlap, then its uncommitted range
 * when it has one; large blocks last, each in a reservation of its own. */
static void assert_walk_sane(HANDLE h, const struct walk *w)
{
	struct walk_state s = { .region = -1 };

	ck_assert_uint_ge(w->n, 1);
	ck_assert_uint_eq(w->e[0].wFlags, PROCESS_HEAP_REGION);
	ck_assert_ptr_eq(w->e[0].lpData, h);
	for (size_t i = 0; i < w->n; i++) {
		const PROCESS_HEAP_ENTRY *e = &w->e[i];

		if (e->wFlags & PROCESS_HEAP_REGION) {
			sane_region(&s, e);
		} else if (e->wFlags & PROCESS_HEAP_UNCOMMITTED_RANGE) {
			ck_assert(s.want_uncommitted);
			ck_assert_int_eq(e->iRegionIndex, s.region);
			ck_assert_ptr_eq(e->lpData, s.committed_end);
			ck_assert_uint_eq(e->cbData, (size_t)(s.end - s.committed_end));
			ck_assert((const char *)e->lpData >= s.prev_end);
			s.want_uncommitted = false;
		} else if (e->iRegionIndex == LARGE_REGION) {
			/* busy, or free (a reservation kept for reuse) */
			ck_assert(!s.want_uncommitted);
			assert_block_flags(e);
			ck_assert(is_large(e->lpData));
			s.in_large = true;
		} else {
			sane_block(&s, e);
		}
	}
	ck_assert(!s.want_uncommitted);
}

/* How many busy entries are at p; *cb: the cbData of the last one. */
static unsigned busy_at(const struct walk *w, const void *p, DWORD *cb)
{
	unsigned n = 0;

	for (size_t i = 0; i < w->n; i++)
		if ((w->e[i].wFlags & BUSY) && w->e[i].lpData == p) {
			n++;
			*cb = w->e[i].cbData;
		}
	return n;
}

static size_t count_busy(const struct walk *w)
{
	size_t n = 0;

	for (size_t i = 0; i < w->n; i++)
		n += !!(w->e[i].wFlags & BUSY);
	return n;
}

/* Each live block once as busy with its size, each freed one not at all. */
static void assert_walk_shows(HANDLE h, const struct walk *w, char **live, size_t nlive,
                              char **freed, size_t nfreed)
{
	DWORD cb = 0;

	for (size_t i = 0; i < nlive; i++) {
		ck_assert_msg(busy_at(w, live[i], &cb) == 1, "block %p not once in the walk", live[i]);
		ck_assert_uint_eq(cb, HeapSize(h, 0, live[i]));
	}
	for (size_t i = 0; i < nfreed; i++)
		ck_assert_msg(busy_at(w, freed[i], &cb) == 0, "freed block %p is busy", freed[i]);
}

static bool in_set(char *const *set, size_t n, const void *p)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == p)
			return true;
	return false;
}

/* Two blocks of the set that are neighbours in memory: *b's header starts
 * where *a's block ends. */
static void adjacent_pair(HANDLE h, char *const *set, size_t n, char **a, char **b)
{
	struct walk w = { 0 };

	walk_all(h, &w);
	for (size_t i = 1; i < w.n; i++) {
		const PROCESS_HEAP_ENTRY *x = &w.e[i - 1], *y = &w.e[i];

		if ((x->wFlags & BUSY) && (y->wFlags & BUSY) && x->iRegionIndex == y->iRegionIndex &&
		    x->iRegionIndex != LARGE_REGION && x->cbOverhead != 255 &&
		    entry_end(x) + HDR == (const char *)y->lpData &&
		    in_set(set, n, x->lpData) && in_set(set, n, y->lpData)) {
			*a = x->lpData;
			*b = y->lpData;
			walk_free(&w);
			return;
		}
	}
	walk_free(&w);
	ck_abort_msg("no two adjacent blocks among %zu", n);
}

/* ---- forked children ---- */

struct child {
	int  status;
	char err[4096];         /* what it wrote to stderr */
};

/* Runs fn(arg) in a forked child with stderr captured; the child exits 0
 * when fn returns. */
static void run_child(void (*fn)(void *), void *arg, struct child *c)
{
	size_t got = 0;
	char scratch[512];
	int fd[2];
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fd), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fd[0]);
		dup2(fd[1], STDERR_FILENO);
		fn(arg);
		_exit(0);
	}
	close(fd[1]);
	for (;;) {                  /* all of it: the child must not block on a full pipe */
		bool room = got < sizeof c->err - 1;

		n = read(fd[0], room ? c->err + got : scratch, room ? sizeof c->err - 1 - got : sizeof scratch);
		if (n <= 0)
			break;
		if (room)
			got += (size_t)n;
	}
	c->err[got] = 0;
	close(fd[0]);
	ck_assert_int_eq(waitpid(pid, &c->status, 0), pid);
}

static void assert_child_aborted(const struct child *c, const char *message)
{
	ck_assert_msg(WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGABRT,
	              "child did not end with SIGABRT: status %#x, stderr: %s", c->status, c->err);
	if (message)
		ck_assert_msg(strstr(c->err, message), "stderr lacks \"%s\": %s", message, c->err);
}

static void assert_child_ok(const struct child *c)
{
	ck_assert_msg(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0,
	              "child failed: %s %d, stderr: %s",
	              WIFSIGNALED(c->status) ? "killed by signal" : "exit status",
	              WIFSIGNALED(c->status) ? WTERMSIG(c->status) : WEXITSTATUS(c->status), c->err);
}

/* ---- the path ---- */

START_TEST(test_HeapLock__protocol_path)
{
	long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	bool kernel = q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED);

	/* The fence path when forced, else membarrier where the kernel has it. */
	ck_assert_int_eq(mt_os.has_membarrier, !fence_run() && kernel);
}
END_TEST

/* ---- lifetime ---- */

START_TEST(test_GetProcessHeap__exists_before_main)
{
	ck_assert_ptr_nonnull(ctor_heap);
	ck_assert_ptr_eq(GetProcessHeap(), ctor_heap);
	ck_assert_uint_eq(ctor_count, 1);
	ck_assert_ptr_eq(ctor_first, ctor_heap);
	ck_assert(heap_listed(ctor_heap));
}
END_TEST

START_TEST(test_GetProcessHeaps__fills_only_when_room)
{
	HANDLE h = heap_new(0, 0, 0), buf[64];
	DWORD n = GetProcessHeaps(0, NULL);

	ck_assert_uint_ge(n, 2);
	ck_assert_uint_lt(n, 63);
	for (DWORD i = 0; i < 64; i++)
		buf[i] = (HANDLE)(uintptr_t)0x5a5a;
	ck_assert_uint_eq(GetProcessHeaps(n - 1, buf), n);          /* too small: untouched */
	for (DWORD i = 0; i < 64; i++)
		ck_assert_ptr_eq(buf[i], (HANDLE)(uintptr_t)0x5a5a);
	ck_assert_uint_eq(GetProcessHeaps(n + 1, buf), n);
	ck_assert_ptr_eq(buf[0], GetProcessHeap());                  /* the process heap first */
	ck_assert_ptr_eq(buf[n - 1], h);                             /* the newest last */
	ck_assert_ptr_eq(buf[n], (HANDLE)(uintptr_t)0x5a5a);
	heap_del(h);
}
END_TEST

START_TEST(test_GetProcessHeaps__created_appear_destroyed_vanish)
{
	HANDLE buf[64];
	DWORD n = heaps(buf, 64);
	HANDLE a = heap_new(0, 0, 0), b = heap_new(HEAP_NO_SERIALIZE, 0, TL_MIB);

	ck_assert_uint_eq(heaps(buf, 64), n + 2);
	ck_assert(heap_listed(a) && heap_listed(b));
	heap_del(a);
	ck_assert_uint_eq(heaps(buf, 64), n + 1);
	ck_assert(!heap_listed(a) && heap_listed(b));
	heap_del(b);
	ck_assert_uint_eq(heaps(buf, 64), n);
	ck_assert(!heap_listed(b));
	ck_assert_ptr_eq(buf[0], GetProcessHeap());
}
END_TEST

/* Every kind of heap: 64 KiB aligned, committed read-write at its base,
 * the rest reserved; growable heaps reserve at least 1 MiB. */
START_TEST(test_HeapCreate__handle_is_a_private_reservation)
{
	HANDLE h = kind_heap(_i);
	MEMORY_BASIC_INFORMATION m = tl_query(h);
	SIZE_T committed, reserved;

	ck_assert_uint_eq((uintptr_t)h % TL_GRAN, 0);
	ck_assert_uint_eq(m.Protect, PAGE_READWRITE);
	segment_vm(h, &committed, &reserved);
	ck_assert_uint_gt(reserved, 0);
	if (_i == K_FIXED)
		ck_assert_uint_eq(committed + reserved, 16 * TL_MIB);
	else
		ck_assert_uint_ge(committed + reserved, TL_MIB);
	kind_done(h);
}
END_TEST

START_TEST(test_HeapCreate__initial_commit_honoured)
{
	HANDLE g = heap_new(0, 256 * KIB, 0), f = heap_new(0, 128 * KIB, TL_MIB);
	SIZE_T committed, reserved;

	segment_vm(g, &committed, &reserved);
	ck_assert_uint_ge(committed, 256 * KIB);
	ck_assert_uint_ge(committed + reserved, TL_MIB);
	segment_vm(f, &committed, &reserved);
	ck_assert_uint_ge(committed, 128 * KIB);
	ck_assert_uint_eq(committed + reserved, TL_MIB);
	heap_del(g);
	heap_del(f);
}
END_TEST

START_TEST(test_HeapCreate__initial_above_maximum_raises_it)
{
	HANDLE h = heap_new(0, 256 * KIB, 64 * KIB);
	SIZE_T committed, reserved;
	ULONG compat = 9;

	segment_vm(h, &committed, &reserved);
	ck_assert_uint_ge(committed, 256 * KIB);
	release(h, alloc(h, 128 * KIB));                 /* beyond the 64 KiB asked for */
	ck_assert_null_error(HeapAlloc(h, 0, 512 * KIB), ERROR_NOT_ENOUGH_MEMORY);
	ck_assert(HeapQueryInformation(h, HeapCompatibilityInformation, &compat, sizeof compat, NULL));
	ck_assert_uint_eq(compat, 0);                    /* still a fixed-size heap */
	heap_del(h);
}
END_TEST

START_TEST(test_HeapCreate__impossible_sizes_fail)
{
	ck_assert_null_error(HeapCreate(0, (SIZE_T)1 << 60, 0), ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_null_error(HeapCreate(0, 0, (SIZE_T)1 << 60), ERROR_NOT_ENOUGH_MEMORY);
}
END_TEST

static void assert_executable(const void *p)
{
	ck_assert_uint_eq(tl_query(p).Protect, PAGE_EXECUTE_READWRITE);
}

START_TEST(test_HeapCreate__enable_execute)
{
#if defined(__x86_64__)
	static const unsigned char code[] = { 0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3 }; /* mov eax,42; ret */
#elif defined(__aarch64__)
	static const unsigned char code[] = { 0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6 };
#endif
	HANDLE h = heap_new(HEAP_CREATE_ENABLE_EXECUTE, 0, 0);
	char *small = alloc(h, 64), *medium = alloc(h, 200000), *large = alloc(h, 600000);

	assert_executable(h);
	assert_executable(small);
	assert_executable(medium + 199999);           /* committed as the heap grew */
	assert_executable(large);
#if defined(__x86_64__) || defined(__aarch64__)
	{
		int (*fn)(void);

		memcpy(small, code, sizeof code);
		__builtin___clear_cache(small, small + sizeof code);
		memcpy(&fn, &small, sizeof fn);
		ck_assert_int_eq(fn(), 42);
	}
#endif
	heap_del(h);
}
END_TEST

START_TEST(test_HeapDestroy__releases_its_memory)
{
	HANDLE h = heap_new(0, 0, 0);
	char *large = alloc(h, 600000);

	alloc(h, 100000);                            /* blocks left in it go too */
	heap_del(h);
	ck_assert_uint_eq(tl_query(h).State, MEM_FREE);
	ck_assert_uint_eq(tl_query(large - LARGE_HDR).State, MEM_FREE);
}
END_TEST

START_TEST(test_HeapDestroy__errors)
{
	HANDLE h = heap_new(0, 0, 0);

	ck_assert_false_error(HeapDestroy(GetProcessHeap()), ERROR_INVALID_HANDLE);
	ck_assert_false_error(HeapDestroy(NULL), ERROR_INVALID_HANDLE);
	heap_del(h);
	ck_assert_false_error(HeapDestroy(h), ERROR_INVALID_HANDLE);
	/* the process heap still works */
	release(GetProcessHeap(), alloc(GetProcessHeap(), 100));
}
END_TEST

START_TEST(test_VirtualFree__heap_memory_refused)
{
	HANDLE h = heap_new(0, 0, 0);
	char *large = alloc(h, 600000);

	ck_assert_false_error(VirtualFree(h, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(VirtualFree(large - LARGE_HDR, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(VirtualFree(GetProcessHeap(), 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
	ck_assert_uint_eq(tl_query(large).State, MEM_COMMIT);
	release(h, alloc(h, 1000));
	ck_assert(HeapValidate(h, 0, NULL));
	heap_del(h);
}
END_TEST

/* ---- allocation ---- */

START_TEST(test_HeapAlloc__aligned_to_16)
{
	HANDLE h = kind_heap(_i);
	static const SIZE_T big[] = { 1000, 4095, 16383, 16385, 33000, 100000, 600000 };

	for (SIZE_T n = 0; n <= 300; n++) {
		char *p = alloc(h, n);

		ck_assert_msg((uintptr_t)p % 16 == 0, "HeapAlloc(%zu) = %p", (size_t)n, p);
		release(h, p);
	}
	for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
		char *p = alloc(h, big[i]);

		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		release(h, p);
	}
	kind_done(h);
}
END_TEST

START_TEST(test_HeapAlloc__zero_bytes)
{
	HANDLE h = kind_heap(_i);
	char *a = alloc(h, 0), *b = alloc(h, 0);

	ck_assert_ptr_ne(a, b);
	ck_assert(HeapValidate(h, 0, a));
	release(h, a);
	release(h, b);
	kind_done(h);
}
END_TEST

START_TEST(test_HeapSize__equals_request_in_every_range)
{
	HANDLE h = kind_heap(_i);
	char *p[N_RANGE];

	for (size_t i = 0; i < N_RANGE; i++) {
		p[i] = alloc(h, range_sizes[i]);
		fill(p[i], range_sizes[i], (unsigned)i);
	}
	for (size_t i = 0; i < N_RANGE; i++) {
		ck_assert_uint_eq(HeapSize(h, 0, p[i]), range_sizes[i]);
		assert_filled(p[i], range_sizes[i], (unsigned)i);   /* no block overlaps another */
	}
	for (size_t i = 0; i < N_RANGE; i++)
		release(h, p[i]);
	ck_assert(HeapValidate(h, 0, NULL));
	kind_done(h);
}
END_TEST

/* HEAP_ZERO_MEMORY on blocks that were just freed dirty. */
START_TEST(test_HeapAlloc__zero_memory_after_reuse)
{
	static const SIZE_T n[] = { 24, 1000, 5000, 20000, 600000 };
	HANDLE h = kind_heap(_i);

	for (size_t s = 0; s < sizeof n / sizeof n[0]; s++) {
		char *dirty[8], *zeroed[8];
		int reused = 0;

		for (int i = 0; i < 8; i++) {
			dirty[i] = alloc(h, n[s]);
			memset(dirty[i], 0xcd, n[s]);
		}
		for (int i = 0; i < 8; i++)
			release(h, dirty[i]);
		for (int i = 0; i < 8; i++) {
			zeroed[i] = HeapAlloc(h, HEAP_ZERO_MEMORY, n[s]);
			ck_assert_ptr_nonnull(zeroed[i]);
			assert_zero(zeroed[i], 0, n[s]);
			reused += in_set(dirty, 8, zeroed[i]);
		}
		if (n[s] < LARGE_MIN)                /* the test is about reuse */
			ck_assert_int_gt(reused, 0);
		for (int i = 0; i < 8; i++)
			release(h, zeroed[i]);
	}
	kind_done(h);
}
END_TEST

START_TEST(test_HeapAlloc__absurd_sizes_fail)
{
	static const SIZE_T n[] = { (SIZE_T)-1, (SIZE_T)-16, (SIZE_T)-4096, HUGE_REQUEST };
	HANDLE h = kind_heap(_i);

	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
		ck_assert_null_error(HeapAlloc(h, 0, n[i]), ERROR_NOT_ENOUGH_MEMORY);
	ck_assert(HeapValidate(h, 0, NULL));
	kind_done(h);
}
END_TEST

START_TEST(test_HeapAlloc__bad_handle)
{
	uint64_t not_a_heap[64] = { 0 };

	ck_assert_null_error(HeapAlloc(NULL, 0, 16), ERROR_INVALID_HANDLE);
	ck_assert_null_error(HeapAlloc(not_a_heap, 0, 16), ERROR_INVALID_HANDLE);
}
END_TEST

START_TEST(test_HeapAlloc__large_blocks_get_own_reservation)
{
	HANDLE h = heap_new(0, 0, 0), f = heap_new(0, 0, 4 * TL_MIB);
	char *big = alloc(h, LARGE_MIN), *huge = alloc(h, 5 * TL_MIB);
	char *below = alloc(h, LARGE_MIN - 16), *fixed = alloc(f, 600000);
	MEMORY_BASIC_INFORMATION m = tl_query(big);

	ck_assert_ptr_eq(m.AllocationBase, big - LARGE_HDR);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, PAGE_READWRITE);
	ck_assert(is_large(huge));
	ck_assert(!is_large(below));
	ck_assert(!is_large(fixed));                 /* fixed heaps keep them inside */
	ck_assert_ptr_eq(tl_query(fixed).AllocationBase, f);
	heap_del(h);
	heap_del(f);
}
END_TEST

START_TEST(test_HeapAlloc__fixed_heap_stops_at_maximum)
{
	HANDLE h = heap_new(0, 0, 64 * KIB);
	char *p[128];
	int n = 0;

	ck_assert_null_error(HeapAlloc(h, 0, 128 * KIB), ERROR_NOT_ENOUGH_MEMORY);
	while (n < 128 && (p[n] = HeapAlloc(h, 0, 1000)))
		n++;
	ck_assert_last_error(ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_int_gt(n * 1000, 32 * 1024);       /* most of it is usable... */
	ck_assert_int_le(n * 1000, 64 * 1024);       /* ...but no more */
	release(h, p[n / 2]);
	p[n / 2] = alloc(h, 1000);                   /* room again after a free */
	for (int i = 0; i < n; i++)
		release(h, p[i]);
	ck_assert(HeapValidate(h, 0, NULL));
	heap_del(h);
}
END_TEST

/* ---- exceptions ---- */

static struct {
	int       count;
	DWORD     code, params;
	ULONG_PTR info0;
} no_memory;

static LONG CALLBACK on_no_memory(PEXCEPTION_POINTERS ep)
{
	const EXCEPTION_RECORD *r = ep->ExceptionRecord;

	if (r->ExceptionCode != STATUS_NO_MEMORY)
		return EXCEPTION_CONTINUE_SEARCH;
	no_memory.count++;
	no_memory.code = r->ExceptionCode;
	no_memory.params = r->NumberParameters;
	no_memory.info0 = r->ExceptionInformation[0];
	return EXCEPTION_CONTINUE_EXECUTION;
}

static PVOID no_memory_begin(void)
{
	PVOID v;

	memset(&no_memory, 0, sizeof no_memory);
	v = AddVectoredExceptionHandler(1, on_no_memory);
	ck_assert_ptr_nonnull(v);
	return v;
}

/* The allocation failed, after exactly one STATUS_NO_MEMORY for n bytes. */
static void assert_raised(void *p, SIZE_T n)
{
	ck_assert_ptr_null(p);
	ck_assert_int_eq(no_memory.count, 1);
	ck_assert_uint_eq(no_memory.code, STATUS_NO_MEMORY);
	ck_assert_uint_ge(no_memory.params, 1);
	ck_assert_uint_eq(no_memory.info0, n);
	no_memory.count = 0;
}

START_TEST(test_HeapAlloc__heap_generates_exceptions)
{
	PVOID v = no_memory_begin();
	HANDLE g = heap_new(HEAP_GENERATE_EXCEPTIONS, 0, 0);
	HANDLE f = heap_new(HEAP_GENERATE_EXCEPTIONS, 0, 64 * KIB);

	assert_raised(HeapAlloc(g, 0, HUGE_REQUEST), HUGE_REQUEST);
	assert_raised(HeapAlloc(f, 0, 128 * KIB), 128 * KIB);
	release(g, alloc(g, 100));                    /* success raises nothing */
	ck_assert_int_eq(no_memory.count, 0);
	RemoveVectoredExceptionHandler(v);
	heap_del(g);
	heap_del(f);
}
END_TEST

START_TEST(test_HeapAlloc__call_generates_exceptions)
{
	PVOID v = no_memory_begin();
	HANDLE h = heap_new(0, 0, 0);

	assert_raised(HeapAlloc(h, HEAP_GENERATE_EXCEPTIONS, (SIZE_T)-1), (SIZE_T)-1);
	assert_raised(HeapAlloc(GetProcessHeap(), HEAP_GENERATE_EXCEPTIONS, HUGE_REQUEST),
	              HUGE_REQUEST);
	ck_assert_null_error(HeapAlloc(h, 0, HUGE_REQUEST), ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_int_eq(no_memory.count, 0);         /* not without the flag */
	RemoveVectoredExceptionHandler(v);
	heap_del(h);
}
END_TEST

START_TEST(test_HeapReAlloc__generates_exceptions)
{
	PVOID v = no_memory_begin();
	HANDLE h = heap_new(0, 0, 0);
	char *p = alloc(h, 100);

	fill(p, 100, 3);
	assert_raised(HeapReAlloc(h, HEAP_GENERATE_EXCEPTIONS, p, HUGE_REQUEST), HUGE_REQUEST);
	ck_assert_uint_eq(HeapSize(h, 0, p), 100);
	assert_filled(p, 100, 3);
	RemoveVectoredExceptionHandler(v);
	heap_del(h);
}
END_TEST

static void alloc_unhandled(void *h)
{
	HeapAlloc(h, 0, HUGE_REQUEST);
	_exit(3);                                     /* survived: wrong */
}

START_TEST(test_HeapAlloc__unhandled_exception_aborts)
{
	HANDLE h = heap_new(HEAP_GENERATE_EXCEPTIONS, 0, 0);
	struct child c;

	run_child(alloc_unhandled, h, &c);
	assert_child_aborted(&c, NULL);
	heap_del(h);
}
END_TEST

/* ---- reallocation ---- */

/* One size in each range: slots, backend blocks, large blocks. */
static const SIZE_T spans[] = { 100, 3000, 20000, 200000, 600000 };

/* Runs check on a fresh block *p of each size in spans (it may move the
 * block), on a heap of kind k; the heap must be valid after. */
static void each_span(int k, void (*check)(HANDLE h, char **p, SIZE_T n))
{
	HANDLE h = kind_heap(k);

	for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
		char *p = alloc(h, spans[i]);

		check(h, &p, spans[i]);
		release(h, p);
	}
	ck_assert(HeapValidate(h, 0, NULL));
	kind_done(h);
}

/* HeapReAlloc(*p, to), which must keep the first keep bytes of pattern seed. */
static void realloc_keeping(HANDLE h, char **p, SIZE_T to, SIZE_T keep, unsigned seed)
{
	*p = HeapReAlloc(h, 0, *p, to);
	ck_assert_msg(*p != NULL, "to %zu: %lu", (size_t)to, (unsigned long)GetLastError());
	ck_assert_uint_eq(HeapSize(h, 0, *p), to);
	assert_filled(*p, keep, seed);
}

static void grow_and_shrink(HANDLE h, char **p, SIZE_T n)
{
	fill(*p, n, 4);
	realloc_keeping(h, p, n * 2, n, 4);
	realloc_keeping(h, p, n / 3, n / 3, 4);
}

START_TEST(test_HeapReAlloc__grow_and_shrink_keep_contents)
{
	each_span(_i, grow_and_shrink);
}
END_TEST

/* 10 bytes to 5 MiB and back through every range. */
START_TEST(test_HeapReAlloc__moves_between_ranges)
{
	static const SIZE_T n[] = { 10, 20000, 600000, 5 * TL_MIB, 100000, 8, 0, 16385 };
	HANDLE h = kind_heap(_i);
	char *p = alloc(h, n[0]);

	fill(p, n[0], 0);
	for (size_t i = 1; i < sizeof n / sizeof n[0]; i++) {
		realloc_keeping(h, &p, n[i], n[i] < n[i - 1] ? n[i] : n[i - 1], (unsigned)i - 1);
		if (_i != K_FIXED)
			ck_assert_int_eq(is_large(p), n[i] >= LARGE_MIN);
		fill(p, n[i], (unsigned)i);
	}
	release(h, p);
	ck_assert(HeapValidate(h, 0, NULL));
	kind_done(h);
}
END_TEST

static void assert_zero_realloc(HANDLE h, SIZE_T from, SIZE_T to)
{
	char *p = alloc(h, from);

	memset(p, 0xff, from);
	p = HeapReAlloc(h, HEAP_ZERO_MEMORY, p, to);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(HeapSize(h, 0, p), to);
	assert_bytes(p, 0, from, 0xff);                  /* the old bytes stay */
	assert_zero(p, from, to);
	release(h, p);
}

START_TEST(test_HeapReAlloc__zero_memory_zeroes_growth)
{
	HANDLE h = kind_heap(_i);

	assert_zero_realloc(h, 100, 5000);
	assert_zero_realloc(h, 20000, 40000);
	assert_zero_realloc(h, 600000, 700000);
	kind_done(h);
}
END_TEST

/* Growing back in place over bytes that were the block's own, dirty. */
/* Shrinks in place, then grows back with HEAP_ZERO_MEMORY over the
 * block's own dirty bytes. */
static void zero_in_place(HANDLE h, char **p, SIZE_T n)
{
	memset(*p, 0xee, n);
	ck_assert_ptr_eq(HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, *p, n / 2), *p);
	ck_assert_ptr_eq(HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY | HEAP_ZERO_MEMORY, *p, n), *p);
	assert_bytes(*p, 0, n / 2, 0xee);
	assert_zero(*p, n / 2, n);
}

START_TEST(test_HeapReAlloc__zero_memory_in_place_over_dirty_bytes)
{
	each_span(_i, zero_in_place);
}
END_TEST

static void shrink_in_place(HANDLE h, char **p, SIZE_T n)
{
	fill(*p, n, 5);
	ck_assert_ptr_eq(HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, *p, n / 4), *p);
	ck_assert_uint_eq(HeapSize(h, 0, *p), n / 4);
	assert_filled(*p, n / 4, 5);
	ck_assert_ptr_eq(HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, *p, 0), *p);
	ck_assert_uint_eq(HeapSize(h, 0, *p), 0);
}

START_TEST(test_HeapReAlloc__in_place_shrink_keeps_pointer)
{
	each_span(_i, shrink_in_place);
}
END_TEST

/* A failed in-place growth leaves the block as it was. */
static void assert_cannot_grow(HANDLE h, char *p, SIZE_T to)
{
	SIZE_T n = HeapSize(h, 0, p);

	fill(p, n, 9);
	ck_assert_null_error(HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, p, to), ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_uint_eq(HeapSize(h, 0, p), n);
	assert_filled(p, n, 9);
	ck_assert(HeapValidate(h, 0, p));
}

START_TEST(test_HeapReAlloc__in_place_growth_fails_when_it_cannot)
{
	HANDLE h = kind_heap(_i);
	char *set[8], *a, *b;

	/* a slot cannot outgrow its size class (fixed heaps have none) */
	if (_i != K_FIXED) {
		a = alloc(h, 100);
		assert_cannot_grow(h, a, 5000);
		release(h, a);
	}
	/* a block cannot grow over the busy block after it */
	for (int i = 0; i < 8; i++)
		set[i] = alloc(h, 20000);
	adjacent_pair(h, set, 8, &a, &b);
	assert_cannot_grow(h, a, 21000);
	for (int i = 0; i < 8; i++)
		release(h, set[i]);
	/* a large block is its own reservation */
	if (_i != K_FIXED) {
		a = alloc(h, 600000);
		assert_cannot_grow(h, a, 600000 + TL_MIB);
		release(h, a);
	}
	kind_done(h);
}
END_TEST

START_TEST(test_HeapReAlloc__null_pointer_is_no_error)
{
	HANDLE h = heap_new(0, 0, 0);

	SetLastError(ERROR_INVALID_DATA);
	ck_assert_ptr_null(HeapReAlloc(h, 0, NULL, 100));
	ck_assert_last_error(NO_ERROR);
	heap_del(h);
}
END_TEST

START_TEST(test_HeapReAlloc__to_zero_and_back)
{
	HANDLE h = kind_heap(_i);
	char *p = alloc(h, 100);

	p = HeapReAlloc(h, 0, p, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(HeapSize(h, 0, p), 0);
	p = HeapReAlloc(h, HEAP_ZERO_MEMORY, p, 50);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(HeapSize(h, 0, p), 50);
	assert_zero(p, 0, 50);
	release(h, p);
	kind_done(h);
}
END_TEST

START_TEST(test_HeapReAlloc__errors)
{
	HANDLE h = heap_new(0, 0, 0), other = heap_new(0, 0, 0);
	char *p = alloc(h, 100), *gone = alloc(h, 100), *foreign = alloc(other, 100);

	fill(p, 100, 1);
	release(h, gone);
	ck_assert_null_error(HeapReAlloc(NULL, 0, p, 200), ERROR_INVALID_HANDLE);
	ck_assert_null_error(HeapReAlloc(h, 0, p, (SIZE_T)-1), ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_null_error(HeapReAlloc(h, 0, p, HUGE_REQUEST), ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_null_error(HeapReAlloc(h, 0, gone, 200), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(HeapReAlloc(h, 0, foreign, 200), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(HeapReAlloc(h, 0, p + 16, 200), ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(HeapSize(h, 0, p), 100);    /* untouched */
	assert_filled(p, 100, 1);
	ck_assert_uint_eq(HeapSize(other, 0, foreign), 100);
	heap_del(h);
	heap_del(other);
}
END_TEST

/* ---- freeing and bad pointers ---- */

START_TEST(test_HeapFree__null_pointer)
{
	HANDLE h = heap_new(0, 0, 0);

	ck_assert(HeapFree(h, 0, NULL));
	ck_assert(HeapFree(GetProcessHeap(), 0, NULL));
	ck_assert_false_error(HeapFree(NULL, 0, NULL), ERROR_INVALID_HANDLE);
	ck_assert_false_error(HeapFree(NULL, 0, alloc(h, 10)), ERROR_INVALID_HANDLE);
	heap_del(h);
}
END_TEST

/* Sizes for the bad-pointer tests: a slot, a backend block, a fixed
 * heap's block. */
static const struct bad_case {
	SIZE_T max, size;
} bad_cases[] = {
	{ 0, 100 }, { 0, 20000 }, { TL_MIB, 1000 },
};
#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

/* A freed block, with busy blocks on both sides so that it is not merged
 * with a free neighbour. */
static char *freed_block(HANDLE h, SIZE_T n, char **keep)
{
	char *p;

	keep[0] = alloc(h, n);
	p = alloc(h, n);
	keep[1] = alloc(h, n);
	release(h, p);
	return p;
}

START_TEST(test_HeapFree__double_free)
{
	const struct bad_case *c = &bad_cases[_i];
	HANDLE h = heap_new(0, 0, c->max);
	char *keep[2], *p = freed_block(h, c->size, keep);

	ck_assert_false_error(HeapFree(h, 0, p), ERROR_INVALID_PARAMETER);
	ck_assert(HeapValidate(h, 0, NULL));
	release(h, keep[0]);
	release(h, keep[1]);
	heap_del(h);
}
END_TEST

/* A backend block freed after its lower neighbour is merged into it; its
 * stale pointer must not pass for a block. (Before 16f7235 the swallowed
 * header still read "busy": the second HeapFree returned TRUE and freed the
 * merged memory again, over the live block after it.) */
START_TEST(test_HeapFree__double_free_after_coalescing)
{
	HANDLE h = heap_new(0, 0, 0);
	char *a = alloc(h, 20000), *b = alloc(h, 20000), *c = alloc(h, 20000), *d;

	fill(c, 20000, 7);
	release(h, a);
	release(h, b);                               /* merges into a */
	ck_assert(!HeapValidate(h, 0, b));
	ck_assert_uint_eq(HeapSize(h, 0, b), (SIZE_T)-1);
	ck_assert_false_error(HeapFree(h, 0, b), ERROR_INVALID_PARAMETER);
	d = alloc(h, 60000);
	ck_assert_msg(d >= c + 20000 || d + 60000 <= c, "new block %p overlaps live %p", d, c);
	assert_filled(c, 20000, 7);
	heap_del(h);
}
END_TEST

static void free_twice_large(void *h)
{
	char *p = HeapAlloc(h, 0, 600000);
	BOOL first, second;

	first = HeapFree(h, 0, p);
	if (HeapValidate(h, 0, p) || HeapSize(h, 0, p) != (SIZE_T)-1)
		_exit(2);
	SetLastError(0);
	second = HeapFree(h, 0, p);
	_exit(first && !second && GetLastError() == ERROR_INVALID_PARAMETER ? 0 : 1);
}

/* A large block's reservation is gone once it is freed: HeapValidate,
 * HeapSize and a second HeapFree must fail, not fault (before 16f7235 they
 * read the header in the released range: SIGSEGV). Runs in a child so that
 * a crash shows as a failure. */
START_TEST(test_HeapFree__double_free_large)
{
	HANDLE h = heap_new(0, 0, 0);
	struct child c;

	run_child(free_twice_large, h, &c);
	assert_child_ok(&c);
	heap_del(h);
}
END_TEST

/* A pointer to a live block of one heap given to another, and pointers
 * into the middle of a block. */
START_TEST(test_HeapFree__foreign_and_interior_pointers)
{
	const struct bad_case *c = &bad_cases[_i];
	HANDLE h = heap_new(0, 0, c->max), other = heap_new(0, 0, 0);
	char *p = alloc(h, c->size);

	memset(p, 0, c->size);
	ck_assert_false_error(HeapFree(other, 0, p), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapFree(GetProcessHeap(), 0, p), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapFree(h, 0, p + 16), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapFree(h, 0, p + 32), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapFree(h, 0, p + 8), ERROR_INVALID_PARAMETER);
	ck_assert(HeapValidate(h, 0, NULL));
	ck_assert(HeapValidate(other, 0, NULL));
	release(h, p);                                /* still h's */
	heap_del(h);
	heap_del(other);
}
END_TEST

START_TEST(test_HeapFree__foreign_large_block)
{
	HANDLE h = heap_new(0, 0, 0), other = heap_new(0, 0, 0);
	char *p = alloc(h, 600000);

	ck_assert_false_error(HeapFree(other, 0, p), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapFree(h, 0, p + 4096), ERROR_INVALID_PARAMETER);
	ck_assert(is_large(p));
	release(h, p);
	heap_del(h);
	heap_del(other);
}
END_TEST

#define ODD_ERROR ((DWORD)0x1234)

static void assert_size_fails(HANDLE h, const void *p)
{
	SetLastError(ODD_ERROR);
	ck_assert_uint_eq(HeapSize(h, 0, p), (SIZE_T)-1);
	ck_assert_last_error(ODD_ERROR);
}

START_TEST(test_HeapSize__bad_pointers_leave_last_error)
{
	const struct bad_case *c = &bad_cases[_i];
	HANDLE h = heap_new(0, 0, c->max), other = heap_new(0, 0, 0);
	char *p = alloc(h, c->size), *foreign = alloc(other, c->size), *keep[2];
	char *gone = freed_block(h, c->size, keep);       /* last: nothing reuses it */

	memset(p, 0, c->size);
	assert_size_fails(h, gone);
	assert_size_fails(h, foreign);
	assert_size_fails(h, p + 16);
	assert_size_fails(h, p + 8);
	assert_size_fails(h, NULL);
	assert_size_fails(NULL, p);
	ck_assert_uint_eq(HeapSize(h, 0, p), c->size);
	heap_del(h);
	heap_del(other);
}
END_TEST

static void assert_invalid_block(HANDLE h, const void *p)
{
	SetLastError(ODD_ERROR);
	ck_assert_msg(!HeapValidate(h, 0, p), "HeapValidate(%p) is TRUE", p);
	ck_assert_last_error(ODD_ERROR);
}

START_TEST(test_HeapValidate__blocks)
{
	HANDLE h = kind_heap(_i), other = heap_new(0, 0, 0);
	char *small = alloc(h, 100), *medium = alloc(h, 30000), *large = alloc(h, 600000);
	char *big_gone = alloc(h, 600000), *foreign = alloc(other, 100), stack[64] = { 0 };
	char *keep[3], *gone;

	keep[2] = alloc(h, 100);          /* in a fixed heap big_gone keeps busy neighbours */
	gone = freed_block(h, 1000, keep);
	release(h, big_gone);             /* last: nothing reuses either */
	SetLastError(ODD_ERROR);
	ck_assert(HeapValidate(h, 0, NULL));
	ck_assert(HeapValidate(h, 0, small));
	ck_assert(HeapValidate(h, 0, medium));
	ck_assert(HeapValidate(h, 0, large));
	ck_assert_last_error(ODD_ERROR);
	assert_invalid_block(h, gone);
	assert_invalid_block(h, big_gone);
	assert_invalid_block(h, foreign);
	assert_invalid_block(h, small + 16);
	assert_invalid_block(h, medium + 4096);
	assert_invalid_block(h, large + 16);
	assert_invalid_block(h, stack + 16 - (uintptr_t)stack % 16);
	assert_invalid_block(NULL, NULL);
	release(h, small);
	release(h, medium);
	release(h, large);
	for (int i = 0; i < 3; i++)
		release(h, keep[i]);
	kind_done(h);
	heap_del(other);
}
END_TEST

/* ---- corruption ---- */

/* Overruns from one block into the next one's header. */
static const struct corrupt_case {
	DWORD  flags;
	SIZE_T max, size;
} corrupt_cases[] = {
	{ 0, 0, 100 }, { 0, 0, 20000 }, { HEAP_NO_SERIALIZE, 0, 100 }, { 0, TL_MIB, 1000 },
};
#define N_CORRUPT (sizeof corrupt_cases / sizeof corrupt_cases[0])

/* A heap where block *victim's header was overwritten by its lower
 * neighbour's overrun. */
static HANDLE overrun(const struct corrupt_case *c, char **victim)
{
	HANDLE h = heap_new(c->flags, 0, c->max);
	char *set[8], *a;

	for (int i = 0; i < 8; i++)
		set[i] = alloc(h, c->size);
	ck_assert(HeapValidate(h, 0, NULL));
	adjacent_pair(h, set, 8, &a, victim);
	memset(a, 'A', (size_t)(*victim - a));       /* through the header */
	return h;
}

START_TEST(test_HeapFree__overrun_into_next_header_detected)
{
	char *victim;
	HANDLE h = overrun(&corrupt_cases[_i], &victim);

	ck_assert_false_error(HeapFree(h, 0, victim), ERROR_INVALID_PARAMETER);
	ck_assert(!HeapValidate(h, 0, NULL));
	ck_assert(!HeapValidate(h, 0, victim));
	assert_size_fails(h, victim);
	heap_del(h);
}
END_TEST

static void terminate_on_corruption(void)
{
	ULONG on = 0;

	if (!HeapSetInformation(NULL, HeapEnableTerminationOnCorruption, NULL, 0) ||
	    !HeapQueryInformation(GetProcessHeap(), HeapEnableTerminationOnCorruption, &on,
	                          sizeof on, NULL) || on != 1)
		_exit(2);
}

static void free_terminating(void *p)
{
	void **hp = p;

	terminate_on_corruption();
	HeapFree(hp[0], 0, hp[1]);
	_exit(3);                                     /* survived: wrong */
}

#define CORRUPTION_MESSAGE "STATUS_HEAP_CORRUPTION (0xC0000374)"

START_TEST(test_HeapFree__overrun_terminates_when_asked)
{
	void *hp[2];
	char *victim;
	struct child c;

	hp[0] = overrun(&corrupt_cases[_i], &victim);
	hp[1] = victim;
	run_child(free_terminating, hp, &c);
	assert_child_aborted(&c, CORRUPTION_MESSAGE);
	ck_assert(!HeapFree(hp[0], 0, victim));       /* the parent did not ask */
	heap_del(hp[0]);
}
END_TEST

START_TEST(test_HeapFree__double_free_terminates_when_asked)
{
	const struct bad_case *bc = &bad_cases[_i];
	void *hp[2];
	char *keep[2];
	struct child c;

	hp[0] = heap_new(0, 0, bc->max);
	hp[1] = freed_block(hp[0], bc->size, keep);
	run_child(free_terminating, hp, &c);
	assert_child_aborted(&c, CORRUPTION_MESSAGE);
	heap_del(hp[0]);
}
END_TEST

/* ---- walking ---- */

START_TEST(test_HeapWalk__region_matches_virtual_query)
{
	HANDLE h = kind_heap(_i);
	char *p = alloc(h, 100000);
	struct walk w = { 0 };
	SIZE_T committed, reserved;
	const PROCESS_HEAP_ENTRY *r;

	walk_all(h, &w);
	assert_walk_sane(h, &w);
	r = &w.e[0];
	ck_assert_uint_eq(r->iRegionIndex, 0);
	segment_vm(h, &committed, &reserved);
	ck_assert_uint_eq(r->Region.dwCommittedSize, committed);
	ck_assert_uint_eq(r->Region.dwUnCommittedSize, reserved);
	ck_assert_ptr_eq(r->Region.lpLastBlock, (char *)h + committed + reserved);
	release(h, p);
	walk_free(&w);
	kind_done(h);
}
END_TEST

START_TEST(test_HeapWalk__shows_live_blocks_once)
{
	static const SIZE_T n[] = { 1, 24, 100, 1000, 5000, 16385, 20000, 100000 };
	HANDLE h = kind_heap(_i);
	char *live[210], *freed[100];
	size_t nl = 0, nf = 0;
	struct walk w = { 0 };

	for (size_t i = 0; i < 300; i++) {
		char *p = alloc(h, n[i % 8]);

		if (i % 3 == 1)
			freed[nf++] = p;
		else
			live[nl++] = p;
	}
	live[nl++] = alloc(h, 600000);
	for (size_t i = 0; i < nf; i++)
		release(h, freed[i]);
	walk_all(h, &w);
	assert_walk_sane(h, &w);
	assert_walk_shows(h, &w, live, nl, freed, nf);
	if (_i != K_PROCESS)
		ck_assert_uint_eq(count_busy(&w), nl);
	for (size_t i = 0; i < nl; i++)
		release(h, live[i]);
	walk_free(&w);
	kind_done(h);
}
END_TEST

START_TEST(test_HeapWalk__free_entries_and_uncommitted_range)
{
	HANDLE h = heap_new(0, 0, 0);
	char *a = alloc(h, 20000), *b = alloc(h, 20000), *c = alloc(h, 20000);
	struct walk w = { 0 };
	bool uncommitted = false, free_at_b = false;

	release(h, b);
	walk_all(h, &w);
	assert_walk_sane(h, &w);
	for (size_t i = 0; i < w.n; i++) {
		if (w.e[i].wFlags & PROCESS_HEAP_UNCOMMITTED_RANGE)
			uncommitted = true;
		if (w.e[i].lpData == b) {
			ck_assert_uint_eq(w.e[i].wFlags, 0);
			ck_assert_uint_ge(w.e[i].cbData, 20000);
			free_at_b = true;
		}
	}
	ck_assert(uncommitted && free_at_b);
	release(h, a);
	release(h, c);
	walk_free(&w);
	heap_del(h);
}
END_TEST

START_TEST(test_HeapWalk__large_blocks_in_region_64)
{
	HANDLE h = heap_new(0, 0, 0);
	char *big[3] = { alloc(h, 600000), alloc(h, LARGE_MIN), alloc(h, 3 * TL_MIB) };
	struct walk w = { 0 };
	DWORD cb = 0;

	walk_all(h, &w);
	assert_walk_sane(h, &w);
	for (int i = 0; i < 3; i++) {
		bool seen = false;

		ck_assert_uint_eq(busy_at(&w, big[i], &cb), 1);
		ck_assert_uint_eq(cb, HeapSize(h, 0, big[i]));
		for (size_t j = 0; j < w.n; j++)
			seen |= w.e[j].lpData == big[i] && w.e[j].iRegionIndex == LARGE_REGION;
		ck_assert(seen);
	}
	walk_free(&w);
	heap_del(h);
}
END_TEST

/* Blocks below the large size that outgrow the first segment: more
 * regions, each matching VirtualQuery. */
START_TEST(test_HeapWalk__several_segments)
{
	HANDLE h = heap_new(0, 0, 0);
	char *p[12];
	struct walk w = { 0 };
	int regions = 0;

	for (int i = 0; i < 12; i++)
		p[i] = alloc(h, 400 * KIB);
	walk_all(h, &w);
	assert_walk_sane(h, &w);
	assert_walk_shows(h, &w, p, 12, NULL, 0);
	for (size_t i = 0; i < w.n; i++) {
		const PROCESS_HEAP_ENTRY *e = &w.e[i];
		SIZE_T committed, reserved;

		if (!(e->wFlags & PROCESS_HEAP_REGION))
			continue;
		regions++;
		segment_vm(e->lpData, &committed, &reserved);
		ck_assert_uint_eq(e->Region.dwCommittedSize, committed);
		ck_assert_uint_eq(e->Region.dwUnCommittedSize, reserved);
	}
	ck_assert_int_ge(regions, 2);
	walk_free(&w);
	heap_del(h);
}
END_TEST

START_TEST(test_HeapWalk__errors)
{
	PROCESS_HEAP_ENTRY e;
	uint64_t not_a_heap[64] = { 0 };

	memset(&e, 0, sizeof e);
	ck_assert_false_error(HeapWalk(NULL, &e), ERROR_INVALID_HANDLE);
	ck_assert_false_error(HeapWalk(not_a_heap, &e), ERROR_INVALID_HANDLE);
}
END_TEST

/* ---- locking ---- */

/* A thread that runs op on a heap once told to; done when it returned. */
struct blocked {
	HANDLE     h;
	sem_t      ready, go;
	atomic_int done;
	void      *p;
	bool       do_free;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;

	/* Its cache holds slots now: the fast path would serve the call. */
	HeapFree(b->h, 0, HeapAlloc(b->h, 0, 64));
	b->p = b->do_free ? HeapAlloc(b->h, 0, 64) : NULL;
	sem_post(&b->ready);
	sem_wait(&b->go);
	if (b->do_free)
		HeapFree(b->h, 0, b->p);
	else
		b->p = HeapAlloc(b->h, 0, 64);
	atomic_store(&b->done, 1);
	return NULL;
}

static void assert_waits_for_unlock(bool do_free)
{
	struct blocked b = { .h = heap_new(0, 0, 0), .do_free = do_free };
	pthread_t t;

	sem_init(&b.ready, 0, 0);
	sem_init(&b.go, 0, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, blocked_main, &b), 0);
	sem_wait(&b.ready);
	ck_assert(HeapLock(b.h));
	sem_post(&b.go);
	for (int i = 0; i < 20; i++) {
		sleep_ms(10);
		ck_assert_msg(!atomic_load(&b.done), "the call returned while the heap was locked");
	}
	ck_assert(HeapUnlock(b.h));
	pthread_join(t, NULL);
	ck_assert(atomic_load(&b.done));
	if (!do_free)
		ck_assert(HeapValidate(b.h, 0, b.p));
	sem_destroy(&b.ready);
	sem_destroy(&b.go);
	heap_del(b.h);
}

START_TEST(test_HeapLock__blocks_other_threads_alloc)
{
	assert_waits_for_unlock(false);
}
END_TEST

START_TEST(test_HeapLock__blocks_other_threads_free)
{
	assert_waits_for_unlock(true);
}
END_TEST

/* A thread allocating and freeing on a heap in a loop until told to stop. */
struct churn {
	HANDLE       h;
	atomic_int   stop;
	atomic_ulong rounds;
	pthread_t    t;
};

static SIZE_T churn_size(unsigned i)
{
	if (i % 97 == 0)
		return 600000;
	if (i % 13 == 0)
		return 20000 + i % 5000;
	return (i * 37) % 3000;
}

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	void *live[32] = { 0 };

	for (unsigned i = 0; !atomic_load(&c->stop); i++) {
		unsigned k = i % 32;

		HeapFree(c->h, 0, live[k]);
		live[k] = HeapAlloc(c->h, 0, churn_size(i));
		atomic_fetch_add(&c->rounds, 1);
	}
	for (int k = 0; k < 32; k++)
		HeapFree(c->h, 0, live[k]);
	return NULL;
}

static void churn_start(struct churn *c, HANDLE h)
{
	c->h = h;
	atomic_store(&c->stop, 0);
	atomic_store(&c->rounds, 0);
	ck_assert_int_eq(pthread_create(&c->t, NULL, churn_main, c), 0);
}

static void churn_stop(struct churn *c)
{
	atomic_store(&c->stop, 1);
	pthread_join(c->t, NULL);
}

/* Lets the churning thread run a little (bounded). */
static void churn_wait(struct churn *c)
{
	unsigned long r = atomic_load(&c->rounds);

	for (int i = 0; i < 100000 && atomic_load(&c->rounds) == r; i++)
		sched_yield();
}

static void assert_same_walk(const struct walk *a, const struct walk *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		ck_assert_ptr_eq(a->e[i].lpData, b->e[i].lpData);
		ck_assert_uint_eq(a->e[i].cbData, b->e[i].cbData);
		ck_assert_uint_eq(a->e[i].wFlags, b->e[i].wFlags);
		ck_assert_uint_eq(a->e[i].iRegionIndex, b->e[i].iRegionIndex);
	}
}

/* Under HeapLock nothing changes: two walks see the same, sane heap,
 * while another thread keeps allocating and freeing on it. */
START_TEST(test_HeapLock__walk_while_another_thread_churns)
{
	HANDLE h = heap_new(0, 0, 0);
	int rounds = tl_valgrind() ? 30 : 300;
	struct walk a = { 0 }, b = { 0 };
	struct churn c;

	churn_start(&c, h);
	for (int i = 0; i < rounds; i++) {
		churn_wait(&c);
		ck_assert(HeapLock(h));
		walk_all(h, &a);
		walk_all(h, &b);
		assert_walk_sane(h, &a);
		assert_same_walk(&a, &b);
		for (size_t j = 0; j < a.n; j++)    /* busy entries are live blocks */
			if ((a.e[j].wFlags & BUSY))
				ck_assert_uint_eq(HeapSize(h, 0, a.e[j].lpData), a.e[j].cbData);
		ck_assert(HeapUnlock(h));
	}
	churn_stop(&c);
	ck_assert_uint_gt(atomic_load(&c.rounds), (unsigned long)rounds);
	ck_assert(HeapValidate(h, 0, NULL));
	walk_free(&a);
	walk_free(&b);
	heap_del(h);
}
END_TEST

START_TEST(test_HeapLock__recursive)
{
	HANDLE h = heap_new(0, 0, 0);
	struct walk w = { 0 };

	ck_assert(HeapLock(h));
	ck_assert(HeapLock(h));
	release(h, alloc(h, 100));                   /* the holder still allocates */
	release(h, alloc(h, 20000));
	walk_all(h, &w);
	ck_assert(HeapUnlock(h));
	ck_assert(HeapUnlock(h));
	ck_assert_false_error(HeapUnlock(h), ERROR_NOT_LOCKED);
	walk_free(&w);
	heap_del(h);
}
END_TEST

/* A thread that allocated from h and exits returns its subsegments under
 * h's lock: the holder of HeapLock(h) must still be able to call the
 * functions that take the list of heaps meanwhile (no lock-order cycle). */
struct exiter {
	HANDLE h;
	sem_t  ready, go;
};

static void *alloc_then_exit(void *arg)
{
	struct exiter *x = arg;

	release(x->h, alloc(x->h, 64));
	sem_post(&x->ready);
	sem_wait(&x->go);
	return NULL;                               /* exits while h is locked */
}

START_TEST(test_HeapLock__holder_calls_list_functions_while_threads_exit)
{
	struct exiter x = { .h = heap_new(0, 0, 0) };
	HANDLE all[64];

	sem_init(&x.ready, 0, 0);
	sem_init(&x.go, 0, 0);
	for (int i = 0; i < 20; i++) {
		pthread_t t;

		ck_assert_int_eq(pthread_create(&t, NULL, alloc_then_exit, &x), 0);
		sem_wait(&x.ready);
		ck_assert(HeapLock(x.h));
		sem_post(&x.go);
		usleep(2000);                           /* it blocks on h's lock */
		ck_assert_uint_ge(GetProcessHeaps(64, all), 2);
		ck_assert(HeapLock(x.h));               /* nested: takes the list too */
		ck_assert(HeapUnlock(x.h));
		ck_assert(HeapUnlock(x.h));
		pthread_join(t, NULL);
	}
	ck_assert(HeapValidate(x.h, 0, NULL));
	heap_del(x.h);
}
END_TEST

static void *unlock_main(void *h)
{
	SetLastError(0);
	return (void *)(uintptr_t)(!HeapUnlock(h) && GetLastError() == ERROR_NOT_LOCKED);
}

START_TEST(test_HeapUnlock__not_locked)
{
	HANDLE h = heap_new(0, 0, 0);
	pthread_t t;
	void *ok = NULL;

	ck_assert_false_error(HeapUnlock(h), ERROR_NOT_LOCKED);
	ck_assert_false_error(HeapUnlock(GetProcessHeap()), ERROR_NOT_LOCKED);
	ck_assert(HeapLock(h));
	/* another thread does not hold it */
	ck_assert_int_eq(pthread_create(&t, NULL, unlock_main, h), 0);
	pthread_join(t, &ok);
	ck_assert_ptr_nonnull(ok);
	ck_assert(HeapUnlock(h));
	heap_del(h);
}
END_TEST

START_TEST(test_HeapLock__bad_handles)
{
	uint64_t not_a_heap[64] = { 0 };
	HANDLE gone = heap_new(0, 0, 0);

	heap_del(gone);
	ck_assert_false_error(HeapLock(NULL), ERROR_INVALID_HANDLE);
	ck_assert_false_error(HeapLock(not_a_heap), ERROR_INVALID_HANDLE);
	ck_assert_false_error(HeapLock(gone), ERROR_INVALID_HANDLE);
	ck_assert_false_error(HeapUnlock(NULL), ERROR_INVALID_HANDLE);
	ck_assert_false_error(HeapUnlock(not_a_heap), ERROR_INVALID_HANDLE);
}
END_TEST

/* ---- compaction ---- */

START_TEST(test_HeapCompact__after_freeing_a_big_block)
{
	HANDLE h = heap_new(0, 0, 0);
	char *big = alloc(h, 300000), *after = alloc(h, 100);
	HEAP_SUMMARY s = { .cb = sizeof s };
	SIZE_T largest;

	release(h, big);
	largest = HeapCompact(h, 0);
	ck_assert_uint_gt(largest, 0);
	ck_assert(HeapSummary(h, 0, &s));
	ck_assert_uint_lt(largest, s.cbCommitted);
	ck_assert(HeapValidate(h, 0, NULL));
	ck_assert_uint_eq(HeapSize(h, 0, after), 100);
	release(h, after);
	heap_del(h);
}
END_TEST

/* A fixed-size heap has backend blocks only: the result is exactly the
 * largest free entry of a walk. */
START_TEST(test_HeapCompact__is_largest_free_block)
{
	static const SIZE_T n[] = { 3000, 50000, 700, 120000, 9000, 64, 30000 };
	HANDLE h = heap_new(0, 0, 2 * TL_MIB);
	char *p[7];
	struct walk w = { 0 };
	DWORD best = 0;
	SIZE_T largest;

	for (int i = 0; i < 7; i++)
		p[i] = alloc(h, n[i]);
	for (int i = 1; i < 7; i += 2)
		release(h, p[i]);
	largest = HeapCompact(h, 0);
	walk_all(h, &w);
	assert_walk_sane(h, &w);
	for (size_t i = 0; i < w.n; i++)
		if (w.e[i].wFlags == 0 && w.e[i].cbData > best)
			best = w.e[i].cbData;
	ck_assert_uint_ge(largest, 120000);
	ck_assert_uint_eq(largest, best);
	ck_assert(HeapValidate(h, 0, NULL));
	walk_free(&w);
	heap_del(h);
}
END_TEST

START_TEST(test_HeapCompact__no_free_block)
{
	HANDLE h = heap_new(0, 0, 64 * KIB);
	SIZE_T n = 64 * KIB;
	int count = 0;

	/* fill it: halve the request on failure, down to 0 bytes */
	while (count < 10000) {
		if (HeapAlloc(h, 0, n))
			count++;
		else if (n)
			n /= 2;
		else
			break;
	}
	ck_assert_int_lt(count, 10000);
	SetLastError(ERROR_INVALID_DATA);
	ck_assert_uint_eq(HeapCompact(h, 0), 0);
	ck_assert_last_error(NO_ERROR);
	ck_assert(HeapValidate(h, 0, NULL));
	heap_del(h);
}
END_TEST

START_TEST(test_HeapCompact__bad_handle)
{
	SetLastError(0);
	ck_assert_uint_eq(HeapCompact(NULL, 0), 0);
	ck_assert_last_error(ERROR_INVALID_HANDLE);
}
END_TEST

/* ---- information ---- */

static ULONG compatibility(HANDLE h)
{
	ULONG v = 77;
	SIZE_T len = 0;

	ck_assert(HeapQueryInformation(h, HeapCompatibilityInformation, &v, sizeof v, &len));
	ck_assert_uint_eq(len, sizeof v);
	return v;
}

START_TEST(test_HeapQueryInformation__compatibility)
{
	HANDLE g = heap_new(0, 0, 0), ns = heap_new(HEAP_NO_SERIALIZE, 0, 0);
	HANDLE f = heap_new(0, 0, TL_MIB), fns = heap_new(HEAP_NO_SERIALIZE, 0, TL_MIB);

	ck_assert_uint_eq(compatibility(GetProcessHeap()), 2);
	ck_assert_uint_eq(compatibility(g), 2);
	ck_assert_uint_eq(compatibility(ns), 1);
	ck_assert_uint_eq(compatibility(f), 0);
	ck_assert_uint_eq(compatibility(fns), 0);
	heap_del(g);
	heap_del(ns);
	heap_del(f);
	heap_del(fns);
}
END_TEST

START_TEST(test_HeapQueryInformation__buffer_too_small)
{
	HANDLE h = GetProcessHeap();
	ULONG v = 77;
	SIZE_T len = 0;

	ck_assert_false_error(HeapQueryInformation(h, HeapCompatibilityInformation, NULL, 0, &len),
	                      ERROR_INSUFFICIENT_BUFFER);
	ck_assert_uint_eq(len, 4);
	len = 0;
	ck_assert_false_error(HeapQueryInformation(h, HeapCompatibilityInformation, &v, 3, &len),
	                      ERROR_INSUFFICIENT_BUFFER);
	ck_assert_uint_eq(len, 4);
	ck_assert_uint_eq(v, 77);
	ck_assert_false_error(HeapQueryInformation(h, HeapCompatibilityInformation, NULL, 4, NULL),
	                      ERROR_INSUFFICIENT_BUFFER);
}
END_TEST

START_TEST(test_HeapQueryInformation__other_classes)
{
	HANDLE h = GetProcessHeap();
	ULONG v = 77;
	SIZE_T len = 0;

	ck_assert_false_error(HeapQueryInformation(NULL, HeapCompatibilityInformation, &v, 4, &len),
	                      ERROR_NOACCESS);
	ck_assert(HeapQueryInformation(h, HeapEnableTerminationOnCorruption, &v, sizeof v, &len));
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_false_error(HeapQueryInformation(h, HeapOptimizeResources, &v, 4, &len),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapQueryInformation(h, HeapTag, &v, 4, &len), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapQueryInformation(h, (HEAP_INFORMATION_CLASS)42, &v, 4, &len),
	                      ERROR_INVALID_PARAMETER);
}
END_TEST

static void report_termination(void *unused)
{
	terminate_on_corruption();
}

START_TEST(test_HeapSetInformation__termination_is_reported)
{
	struct child c;

	run_child(report_termination, NULL, &c);
	assert_child_ok(&c);
}
END_TEST

static BOOL set_compatibility(HANDLE h, ULONG v, SIZE_T len)
{
	return HeapSetInformation(h, HeapCompatibilityInformation, &v, len);
}

START_TEST(test_HeapSetInformation__compatibility)
{
	HANDLE g = heap_new(0, 0, 0), ns = heap_new(HEAP_NO_SERIALIZE, 0, 0);
	HANDLE f = heap_new(0, 0, TL_MIB);

	ck_assert(set_compatibility(g, 2, 4));
	ck_assert(set_compatibility(GetProcessHeap(), 2, 4));
	ck_assert_uint_eq(compatibility(g), 2);
	ck_assert_false_error(set_compatibility(ns, 2, 4), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(set_compatibility(f, 2, 4), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(set_compatibility(g, 0, 4), ERROR_GEN_FAILURE);
	ck_assert_false_error(set_compatibility(g, 1, 4), ERROR_GEN_FAILURE);
	ck_assert_false_error(set_compatibility(g, 3, 4), ERROR_GEN_FAILURE);
	ck_assert_false_error(set_compatibility(g, 2, 3), ERROR_INSUFFICIENT_BUFFER);
	ck_assert_uint_eq(compatibility(ns), 1);
	ck_assert_uint_eq(compatibility(f), 0);
	heap_del(g);
	heap_del(ns);
	heap_del(f);
}
END_TEST

static BOOL optimize(HANDLE h, DWORD version, DWORD flags, SIZE_T len)
{
	HEAP_OPTIMIZE_RESOURCES_INFORMATION o[2] = { { version, flags }, { version, flags } };

	return HeapSetInformation(h, HeapOptimizeResources, o, len);
}

START_TEST(test_HeapSetInformation__optimize_resources)
{
	HANDLE h = heap_new(0, 0, 0);
	char *p = alloc(h, 100), *q = alloc(h, 20000);
	const DWORD v = HEAP_OPTIMIZE_RESOURCES_CURRENT_VERSION;

	fill(p, 100, 1);
	fill(q, 20000, 2);
	release(h, alloc(h, 300000));
	ck_assert_uint_eq(sizeof(HEAP_OPTIMIZE_RESOURCES_INFORMATION), 8);
	ck_assert(optimize(h, v, 0, 8));
	ck_assert(optimize(NULL, v, 0, 8));          /* every heap */
	ck_assert_false_error(optimize(h, v, 0, 7), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(optimize(h, v, 0, 16), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(optimize(h, v + 1, 0, 8), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(optimize(h, v, 1, 8), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapSetInformation(h, HeapOptimizeResources, NULL, 8),
	                      ERROR_INVALID_PARAMETER);
	ck_assert(HeapValidate(h, 0, NULL));
	assert_filled(p, 100, 1);
	assert_filled(q, 20000, 2);
	heap_del(h);
}
END_TEST

START_TEST(test_HeapSetInformation__unknown_class)
{
	ULONG v = 2;

	ck_assert_false_error(HeapSetInformation(GetProcessHeap(), HeapTag, &v, 4),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(HeapSetInformation(GetProcessHeap(), (HEAP_INFORMATION_CLASS)42, &v, 4),
	                      ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_HeapSummary__sizes)
{
	static const SIZE_T n[] = { 10, 100, 1000, 16384, 20000, 100000, 600000 };
	HANDLE h = kind_heap(_i);
	HEAP_SUMMARY s = { .cb = sizeof s };
	char *p[7];
	SIZE_T sum = 0;

	for (int i = 0; i < 7; i++) {
		p[i] = alloc(h, n[i]);
		sum += n[i];
	}
	ck_assert(HeapSummary(h, 0, &s));
	ck_assert_uint_eq(s.cb, sizeof s);
	ck_assert_uint_ge(s.cbAllocated, sum);
	ck_assert_uint_le(s.cbAllocated, s.cbCommitted);
	ck_assert_uint_le(s.cbCommitted, s.cbReserved);
	ck_assert_uint_ge(s.cbMaxReserve, s.cbReserved);
	for (int i = 0; i < 7; i++)
		release(h, p[i]);
	kind_done(h);
}
END_TEST

START_TEST(test_HeapSummary__errors)
{
	HEAP_SUMMARY s = { .cb = sizeof s };

	ck_assert_false_error(HeapSummary(NULL, 0, &s), ERROR_INVALID_HANDLE);
	ck_assert_false_error(HeapSummary(GetProcessHeap(), 0, NULL), ERROR_INVALID_PARAMETER);
	s.cb = 0;
	ck_assert_false_error(HeapSummary(GetProcessHeap(), 0, &s), ERROR_INVALID_PARAMETER);
	s.cb = sizeof s - 1;
	ck_assert_false_error(HeapSummary(GetProcessHeap(), 0, &s), ERROR_INVALID_PARAMETER);
	s.cb = sizeof s + 8;
	ck_assert_false_error(HeapSummary(GetProcessHeap(), 0, &s), ERROR_INVALID_PARAMETER);
}
END_TEST

/* ---- threads ---- */

#define XBLOCKS 400

struct xfer {
	HANDLE h;
	char  *p[XBLOCKS];
	bool   ok;
};

static SIZE_T xfer_size(int i)
{
	return i % 50 == 0 ? 30000 : (SIZE_T)(i * 13 % 2000);
}

static void *xfer_alloc(void *arg)
{
	struct xfer *x = arg;

	x->ok = true;
	for (int i = 0; i < XBLOCKS; i++) {
		x->p[i] = HeapAlloc(x->h, 0, xfer_size(i));
		x->ok &= x->p[i] != NULL;
		if (x->p[i])
			memset(x->p[i], i & 0xff, xfer_size(i));
	}
	return NULL;
}

static void *xfer_free(void *arg)
{
	struct xfer *x = arg;

	x->ok = true;
	for (int i = 0; i < XBLOCKS; i++)
		x->ok &= HeapFree(x->h, 0, x->p[i]) != 0;
	return NULL;
}

static void in_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}

START_TEST(test_HeapFree__blocks_of_another_thread)
{
	struct xfer x = { .h = heap_new(0, 0, 0) };
	struct walk w = { 0 };

	in_thread(xfer_alloc, &x);
	ck_assert(x.ok);
	xfer_free(&x);                               /* here */
	ck_assert(x.ok);
	xfer_alloc(&x);                              /* here, freed there */
	ck_assert(x.ok);
	in_thread(xfer_free, &x);
	ck_assert(x.ok);
	ck_assert(HeapValidate(x.h, 0, NULL));
	walk_all(x.h, &w);
	ck_assert_uint_eq(count_busy(&w), 0);
	walk_free(&w);
	heap_del(x.h);
}
END_TEST

#define GO_THREADS 4
#define GO_KEPT    16

/* A thread that allocates and frees, then exits holding GO_KEPT blocks. */
struct goer {
	HANDLE    h;
	pthread_t t;
	void     *kept[GO_KEPT];
};

static void *come_and_go(void *arg)
{
	struct goer *g = arg;
	void *p[64];

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 64; i++)
			p[i] = HeapAlloc(g->h, 0, (SIZE_T)(i * 41 + round * 7) % 3000);
		for (int i = 63; i >= 0; i--)
			if (round < 3 || i % 4)
				HeapFree(g->h, 0, p[i]);
			else
				g->kept[i / 4] = p[i];
	}
	return NULL;
}

/* Threads come and go, n at a time; their blocks are freed here after. */
static void come_and_go_batch(HANDLE h, int n)
{
	struct goer g[GO_THREADS];

	for (int i = 0; i < n; i++) {
		g[i].h = h;
		ck_assert_int_eq(pthread_create(&g[i].t, NULL, come_and_go, &g[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(g[i].t, NULL);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < GO_KEPT; k++)
			release(h, g[i].kept[k]);
	ck_assert(HeapValidate(h, 0, NULL));
}

static SIZE_T committed(HANDLE h)
{
	HEAP_SUMMARY s = { .cb = sizeof s };

	ck_assert(HeapSummary(h, 0, &s));
	return s.cbCommitted;
}

/* Threads that exit give their memory back: after batches of threads
 * running together, threads one after the other fit in what those left
 * (without reuse each would need memory of its own), and after a
 * compaction no subsegment is left: each segment is one free block. */
START_TEST(test_HeapAlloc__thread_exit_returns_cache)
{
	HANDLE h = heap_new(0, 0, 0);
	int batches = tl_valgrind() ? 3 : 12, frees = 0;
	struct walk w = { 0 };
	SIZE_T high;

	for (int b = 0; b < batches; b++)
		come_and_go_batch(h, GO_THREADS);
	high = committed(h);
	for (int b = 0; b < 4 * batches; b++)
		come_and_go_batch(h, 1);
	ck_assert_uint_le(committed(h), high + high / 2);
	ck_assert_uint_gt(HeapCompact(h, 0), 0);
	walk_all(h, &w);
	assert_walk_sane(h, &w);
	ck_assert_uint_eq(count_busy(&w), 0);
	for (size_t i = 0; i < w.n; i++) {
		if (w.e[i].wFlags & PROCESS_HEAP_REGION)
			frees = 0;
		else if (w.e[i].wFlags == 0)
			ck_assert_int_le(++frees, 1);
	}
	walk_free(&w);
	heap_del(h);
}
END_TEST

static void child_uses_heaps(void *h)
{
	HANDLE ph = GetProcessHeap();
	void *a = HeapAlloc(h, 0, 100), *b = HeapAlloc(h, 0, 30000), *c = HeapAlloc(ph, 0, 100);
	void *d = HeapAlloc(ph, 0, 600000);

	if (!a || !b || !c || !d || !HeapFree(h, 0, a) || !HeapFree(h, 0, b) ||
	    !HeapFree(ph, 0, c) || !HeapFree(ph, 0, d))
		_exit(1);
	if (!HeapValidate(h, 0, NULL) || !HeapValidate(ph, 0, NULL))
		_exit(2);
	if (!HeapLock(h) || !HeapUnlock(h))
		_exit(3);
}

/* Not under ASan: its fork interceptor takes the sanitizer's own locks
 * before fork runs the atfork handlers, so a thread that holds a heap's
 * lock and calls malloc (the region table grows) waits for ASan while the
 * forking thread's handler waits for that heap's lock (seen once in CI as
 * a timeout). glibc runs the handlers before it locks malloc. */
START_TEST(test_fork__while_another_thread_allocates)
{
#ifdef __SANITIZE_ADDRESS__
	return;
#endif
	HANDLE h = heap_new(0, 0, 0);
	int forks = tl_valgrind() ? 4 : 40;
	struct churn mine, process;
	struct child c;

	churn_start(&mine, h);
	churn_start(&process, GetProcessHeap());
	for (int i = 0; i < forks; i++) {
		churn_wait(&mine);
		run_child(child_uses_heaps, h, &c);
		assert_child_ok(&c);
	}
	churn_stop(&mine);
	churn_stop(&process);
	ck_assert(HeapValidate(h, 0, NULL));
	ck_assert(HeapValidate(GetProcessHeap(), 0, NULL));
	heap_del(h);
}
END_TEST

/* ---- the suite ---- */

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *make_heap_suite(void)
{
	Suite *s = suite_create(fence_run() ? "heap (fence path)" : "heap (default path)");
	TCase *tc;

	tc = tcase(s, "lifetime");
	tcase_add_test(tc, test_HeapLock__protocol_path);
	tcase_add_test(tc, test_GetProcessHeap__exists_before_main);
	tcase_add_test(tc, test_GetProcessHeaps__fills_only_when_room);
	tcase_add_test(tc, test_GetProcessHeaps__created_appear_destroyed_vanish);
	tcase_add_loop_test(tc, test_HeapCreate__handle_is_a_private_reservation, 0, K_KINDS);
	tcase_add_test(tc, test_HeapCreate__initial_commit_honoured);
	tcase_add_test(tc, test_HeapCreate__initial_above_maximum_raises_it);
	tcase_add_test(tc, test_HeapCreate__impossible_sizes_fail);
	tcase_add_test(tc, test_HeapCreate__enable_execute);
	tcase_add_test(tc, test_HeapDestroy__releases_its_memory);
	tcase_add_test(tc, test_HeapDestroy__errors);
	tcase_add_test(tc, test_VirtualFree__heap_memory_refused);

	tc = tcase(s, "alloc");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_HeapAlloc__aligned_to_16, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapAlloc__zero_bytes, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapSize__equals_request_in_every_range, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapAlloc__zero_memory_after_reuse, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapAlloc__absurd_sizes_fail, 0, K_KINDS);
	tcase_add_test(tc, test_HeapAlloc__bad_handle);
	tcase_add_test(tc, test_HeapAlloc__large_blocks_get_own_reservation);
	tcase_add_test(tc, test_HeapAlloc__fixed_heap_stops_at_maximum);

	tc = tcase(s, "exceptions");
	tcase_add_test(tc, test_HeapAlloc__heap_generates_exceptions);
	tcase_add_test(tc, test_HeapAlloc__call_generates_exceptions);
	tcase_add_test(tc, test_HeapReAlloc__generates_exceptions);
	tcase_add_test(tc, test_HeapAlloc__unhandled_exception_aborts);

	tc = tcase(s, "realloc");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_HeapReAlloc__grow_and_shrink_keep_contents, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapReAlloc__moves_between_ranges, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapReAlloc__zero_memory_zeroes_growth, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapReAlloc__zero_memory_in_place_over_dirty_bytes, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapReAlloc__in_place_shrink_keeps_pointer, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapReAlloc__in_place_growth_fails_when_it_cannot, 0, K_PROCESS);
	tcase_add_test(tc, test_HeapReAlloc__null_pointer_is_no_error);
	tcase_add_loop_test(tc, test_HeapReAlloc__to_zero_and_back, 0, K_KINDS);
	tcase_add_test(tc, test_HeapReAlloc__errors);

	tc = tcase(s, "free");
	tcase_add_test(tc, test_HeapFree__null_pointer);
	tcase_add_loop_test(tc, test_HeapFree__double_free, 0, N_BAD);
	tcase_add_test(tc, test_HeapFree__double_free_after_coalescing);
	tcase_add_test(tc, test_HeapFree__double_free_large);
	tcase_add_loop_test(tc, test_HeapFree__foreign_and_interior_pointers, 0, N_BAD);
	tcase_add_test(tc, test_HeapFree__foreign_large_block);
	tcase_add_loop_test(tc, test_HeapSize__bad_pointers_leave_last_error, 0, N_BAD);
	tcase_add_loop_test(tc, test_HeapValidate__blocks, 0, K_KINDS);

	tc = tcase(s, "corruption");
	tcase_add_loop_test(tc, test_HeapFree__overrun_into_next_header_detected, 0, N_CORRUPT);
	tcase_add_loop_test(tc, test_HeapFree__overrun_terminates_when_asked, 0, N_CORRUPT);
	tcase_add_loop_test(tc, test_HeapFree__double_free_terminates_when_asked, 0, N_BAD);

	tc = tcase(s, "walk");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_HeapWalk__region_matches_virtual_query, 0, K_KINDS);
	tcase_add_loop_test(tc, test_HeapWalk__shows_live_blocks_once, 0, K_KINDS);
	tcase_add_test(tc, test_HeapWalk__free_entries_and_uncommitted_range);
	tcase_add_test(tc, test_HeapWalk__large_blocks_in_region_64);
	tcase_add_test(tc, test_HeapWalk__several_segments);
	tcase_add_test(tc, test_HeapWalk__errors);

	tc = tcase(s, "lock");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_HeapLock__blocks_other_threads_alloc);
	tcase_add_test(tc, test_HeapLock__blocks_other_threads_free);
	tcase_add_test(tc, test_HeapLock__holder_calls_list_functions_while_threads_exit);
	tcase_add_test(tc, test_HeapLock__walk_while_another_thread_churns);
	tcase_add_test(tc, test_HeapLock__recursive);
	tcase_add_test(tc, test_HeapUnlock__not_locked);
	tcase_add_test(tc, test_HeapLock__bad_handles);

	tc = tcase(s, "compact");
	tcase_add_test(tc, test_HeapCompact__after_freeing_a_big_block);
	tcase_add_test(tc, test_HeapCompact__is_largest_free_block);
	tcase_add_test(tc, test_HeapCompact__no_free_block);
	tcase_add_test(tc, test_HeapCompact__bad_handle);

	tc = tcase(s, "information");
	tcase_add_test(tc, test_HeapQueryInformation__compatibility);
	tcase_add_test(tc, test_HeapQueryInformation__buffer_too_small);
	tcase_add_test(tc, test_HeapQueryInformation__other_classes);
	tcase_add_test(tc, test_HeapSetInformation__termination_is_reported);
	tcase_add_test(tc, test_HeapSetInformation__compatibility);
	tcase_add_test(tc, test_HeapSetInformation__optimize_resources);
	tcase_add_test(tc, test_HeapSetInformation__unknown_class);
	tcase_add_loop_test(tc, test_HeapSummary__sizes, 0, K_KINDS);
	tcase_add_test(tc, test_HeapSummary__errors);

	tc = tcase(s, "threads");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_HeapFree__blocks_of_another_thread);
	tcase_add_test(tc, test_HeapAlloc__thread_exit_returns_cache);
	tcase_add_test(tc, test_fork__while_another_thread_allocates);
	return s;
}

/* The second run: the same binary on the fence path. */
int main(int argc, char **argv)
{
	int rc = tl_run(make_heap_suite());
	const char *d = getenv("MEMAPI_DISABLE");
	char disable[256];

	(void)argc;
	if (fence_run())
		return tl_rerun_status(rc);
	snprintf(disable, sizeof disable, "%s%smembarrier", d ? d : "", d && *d ? "," : "");
	return tl_rerun(argv, "MEMAPI_DISABLE", disable, rc);
}
