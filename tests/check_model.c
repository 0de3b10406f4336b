/* Model-based random testing: long seeded sequences of VirtualAlloc,
 * VirtualFree, VirtualProtect, reads and writes inside a fixed window,
 * each result compared with a reference model of the pages; and the same
 * for write watch against a model bitmap. A failure names seed and step. */
#include "testlib.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNITS  32                       /* 64 KiB units in the window   */
#define UPAGES 16                       /* pages per unit               */
#define NPAGES (UNITS * UPAGES)

enum { FREE, RESERVED, COMMITTED };
enum { OP_RESERVE, OP_COMMIT, OP_DECOMMIT, OP_RELEASE, OP_PROTECT, OP_WRITE, OP_READ, OPS };

struct mpage {
	unsigned char state;
	unsigned char data;                 /* the page's first byte         */
	DWORD         protect;              /* committed pages only          */
};

struct malloc_rec {
	bool  live;
	int   pages;                        /* from the base unit's first page */
	int   units;
	DWORD alloc_protect;
};

static struct model {
	char             *win;
	uint64_t          rng, seed;
	int               step;
	struct mpage      pg[NPAGES];
	struct malloc_rec al[UNITS];        /* indexed by base unit          */
	int               unit_owner[UNITS];/* base unit of the owner, or -1 */
	uint64_t          guard_hits;
	int               ok[OPS];          /* successful operations, by kind */
} m;

static bool trace;          /* TL_MODEL_TRACE=1: print every operation */

#define TRACE(...) do { if (trace) { fprintf(stderr, "%llu: ", (unsigned long long)m.seed); fprintf(stderr, __VA_ARGS__); } } while (0)

static const uint64_t seeds[] = { 1, 0x5eed, 0xdeadbeef, 20260101 };

/* ---- helpers ---- */

static uint64_t next(void)
{
	uint64_t z = (m.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int below(int n) { return (int)(next() % (uint64_t)n); }

#define model_assert(cond, ...) do { \
	if (!(cond)) { \
		char what_[200]; \
		snprintf(what_, sizeof what_, __VA_ARGS__); \
		ck_abort_msg("seed %llu step %d: %s", (unsigned long long)m.seed, m.step, what_); \
	} \
} while (0)

static char *addr_of(int page) { return m.win + (size_t)page * TL_PAGE; }

/* The allocation owning page (not the unusable rest of its unit), or -1. */
static int owner(int page)
{
	int b = page >= 0 && page < NPAGES ? m.unit_owner[page / UPAGES] : -1;

	return b >= 0 && page < b * UPAGES + m.al[b].pages ? b : -1;
}

static int alloc_end(int b) { return b * UPAGES + m.al[b].pages; }

static bool readable(DWORD p)
{
	p &= 0xff;
	return p == PAGE_READONLY || p == PAGE_READWRITE || p == PAGE_EXECUTE_READ ||
	       p == PAGE_EXECUTE_READWRITE;
}

static bool writable(DWORD p)
{
	p &= 0xff;
	return p == PAGE_READWRITE || p == PAGE_EXECUTE_READWRITE;
}

static DWORD random_protect(void)
{
	static const DWORD base[] = { PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
	                              PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE };
	DWORD p = base[below(6)];

	if (p != PAGE_NOACCESS && below(4) == 0)
		p |= below(3) ? PAGE_GUARD : below(2) ? PAGE_NOCACHE : PAGE_WRITECOMBINE;
	return p;
}

/* A random page: mostly inside a live allocation, sometimes anywhere. */
static int random_page(void)
{
	int u = below(UNITS), b = m.unit_owner[u];

	if (b >= 0 && below(5)) {
		int p = b * UPAGES + below(m.al[b].pages + 2);

		return p < NPAGES ? p : NPAGES - 1;
	}
	return below(NPAGES);
}

static void expect_bool(BOOL ok, bool want, DWORD err, const char *op)
{
	if (want)
		model_assert(ok, "%s failed with %lu", op, (unsigned long)GetLastError());
	else
		model_assert(!ok && GetLastError() == err, "%s: got %d/%lu, want error %lu", op, ok,
		             (unsigned long)GetLastError(), (unsigned long)err);
}

/* ---- operations: each predicts, calls, compares, then updates ---- */

static void set_pages(int first, int count, int state, DWORD protect)
{
	for (int p = first; p < first + count; p++) {
		if (state == COMMITTED && m.pg[p].state != COMMITTED)
			m.pg[p].data = 0;
		m.pg[p].state = (unsigned char)state;
		m.pg[p].protect = state == COMMITTED ? protect : 0;
	}
}

static void op_reserve(void)
{
	int page = below(NPAGES), off = below((int)TL_PAGE);
	size_t size = 1 + (size_t)below(3 * (int)TL_GRAN);
	bool commit = below(2);
	DWORD prot = random_protect();
	int base = page / UPAGES * UPAGES;
	int pages = (int)((page * TL_PAGE + off + size + TL_PAGE - 1) / TL_PAGE) - base;
	int units = (pages + UPAGES - 1) / UPAGES;
	bool busy = false;
	char *r;

	if (base / UPAGES + units > UNITS)
		return;                         /* would leave the window */
	for (int u = base / UPAGES; u < base / UPAGES + units; u++)
		busy |= m.unit_owner[u] >= 0;
	TRACE("%d reserve page %d+%d size %zu commit %d prot %#lx\n", m.step, page, off, size,
	      commit, (unsigned long)prot);
	SetLastError(0);
	r = VirtualAlloc(addr_of(page) + off, size, MEM_RESERVE | (commit ? MEM_COMMIT : 0), prot);
	if (busy) {
		model_assert(!r && GetLastError() == ERROR_INVALID_ADDRESS, "reserve on busy unit: %p/%lu",
		             (void *)r, (unsigned long)GetLastError());
		return;
	}
	model_assert(r == addr_of(base), "reserve at page %d: %p, error %lu", page, (void *)r,
	             (unsigned long)GetLastError());
	m.ok[OP_RESERVE]++;
	m.al[base / UPAGES] = (struct malloc_rec){ true, pages, units, prot };
	for (int u = base / UPAGES; u < base / UPAGES + units; u++)
		m.unit_owner[u] = base / UPAGES;
	set_pages(base, pages, commit ? COMMITTED : RESERVED, prot);
}

/* A random [first, first + count) page range, and a byte address/size for it. */
static void random_range(int *first, int *count, char **addr, size_t *size)
{
	int off = below(3) ? 0 : below((int)TL_PAGE);

	*first = random_page();
	*count = 1 + below(below(4) ? 4 : 24);
	if (*first + *count > NPAGES)
		*count = NPAGES - *first;
	*addr = addr_of(*first) + off;
	*size = (size_t)*count * TL_PAGE - (size_t)off;
	if (*size > 1 && below(2))
		--*size;                    /* still ends in the last page */
}

static void op_commit(void)
{
	int first, count, b;
	char *a, *r;
	size_t size;
	DWORD prot = random_protect();

	random_range(&first, &count, &a, &size);
	b = owner(first);
	TRACE("%d commit pages %d+%d prot %#lx\n", m.step, first, count, (unsigned long)prot);
	SetLastError(0);
	r = VirtualAlloc(a, size, MEM_COMMIT, prot);
	if (b < 0 || first + count > alloc_end(b)) {
		model_assert(!r && GetLastError() == ERROR_INVALID_ADDRESS, "commit outside: %p/%lu",
		             (void *)r, (unsigned long)GetLastError());
		return;
	}
	model_assert(r == addr_of(first), "commit at page %d: %p, error %lu", first, (void *)r,
	             (unsigned long)GetLastError());
	set_pages(first, count, COMMITTED, prot);
	m.ok[OP_COMMIT]++;
}

static void op_decommit(void)
{
	int first, count, b;
	char *a;
	size_t size;
	bool whole = below(5) == 0;
	BOOL ok;

	random_range(&first, &count, &a, &size);
	b = owner(first);
	if (whole) {
		size = 0;
		if (b >= 0 && below(2)) {
			a = addr_of(b * UPAGES);
			first = b * UPAGES;
		}
	}
	TRACE("%d decommit pages %d+%d whole %d\n", m.step, first, count, whole);
	SetLastError(0);
	ok = VirtualFree(a, size, MEM_DECOMMIT);
	if (b < 0 || (whole && a != addr_of(b * UPAGES)) || (!whole && first + count > alloc_end(b))) {
		expect_bool(ok, false, ERROR_INVALID_ADDRESS, "decommit");
		return;
	}
	expect_bool(ok, true, 0, "decommit");
	m.ok[OP_DECOMMIT]++;
	set_pages(first, whole ? alloc_end(b) - first : count, RESERVED, 0);
}

static void op_release(void)
{
	int page = random_page(), b = owner(page);
	bool at_base = b >= 0 && below(4);
	char *a = at_base ? addr_of(b * UPAGES) : addr_of(page) + (below(4) ? 0 : 1);
	size_t size = below(8) ? 0 : TL_PAGE;
	BOOL ok;

	TRACE("%d release page %d b %d\n", m.step, page, b);
	SetLastError(0);
	ok = VirtualFree(a, size, MEM_RELEASE);
	if (size) {
		expect_bool(ok, false, ERROR_INVALID_PARAMETER, "release with size");
		return;
	}
	if (b < 0 || a != addr_of(b * UPAGES)) {
		expect_bool(ok, false, ERROR_INVALID_ADDRESS, "release off base");
		return;
	}
	expect_bool(ok, true, 0, "release");
	m.ok[OP_RELEASE]++;
	set_pages(b * UPAGES, m.al[b].pages, FREE, 0);
	for (int u = b; u < b + m.al[b].units; u++)
		m.unit_owner[u] = -1;
	m.al[b].live = false;
}

static void op_protect(void)
{
	int first, count, b;
	char *a;
	size_t size;
	bool bad = below(12) == 0, ok_range = true;
	DWORD prot = bad ? (PAGE_READONLY | PAGE_READWRITE) : random_protect(), old = 0xbad;
	BOOL ok;

	random_range(&first, &count, &a, &size);
	b = owner(first);
	if (b < 0 || first + count > alloc_end(b))
		ok_range = false;
	for (int p = first; ok_range && p < first + count; p++)
		ok_range = m.pg[p].state == COMMITTED;
	TRACE("%d protect pages %d+%d prot %#lx\n", m.step, first, count, (unsigned long)prot);
	SetLastError(0);
	ok = VirtualProtect(a, size, prot, &old);
	if (bad || !ok_range) {
		expect_bool(ok, false, bad ? ERROR_INVALID_PARAMETER : ERROR_INVALID_ADDRESS, "protect");
		model_assert(old == 0xbad, "old written on failure");
		return;
	}
	expect_bool(ok, true, 0, "protect");
	m.ok[OP_PROTECT]++;
	model_assert(old == m.pg[first].protect, "old protect %#lx, model %#lx", (unsigned long)old,
	             (unsigned long)m.pg[first].protect);
	for (int p = first; p < first + count; p++)
		m.pg[p].protect = prot;
}

static LONG CALLBACK on_guard(PEXCEPTION_POINTERS ep)
{
	return ep->ExceptionRecord->ExceptionCode == STATUS_GUARD_PAGE_VIOLATION ?
	       EXCEPTION_CONTINUE_EXECUTION : EXCEPTION_CONTINUE_SEARCH;
}

/* A committed page whose protection allows the access, or -1. */
static int accessible_page(bool write)
{
	for (int tries = 0; tries < 8; tries++) {
		int p = random_page();

		if (p < NPAGES && m.pg[p].state == COMMITTED &&
		    (write ? writable(m.pg[p].protect) : readable(m.pg[p].protect)))
			return p;
	}
	return -1;
}

static void touched(int p)
{
	if (m.pg[p].protect & PAGE_GUARD) {     /* one-shot */
		m.pg[p].protect &= ~(DWORD)PAGE_GUARD;
		m.guard_hits++;
	}
}

static void op_write(void)
{
	int p = accessible_page(true);
	unsigned char v = (unsigned char)(1 + below(255));

	if (p < 0)
		return;
	TRACE("%d write page %d\n", m.step, p);
	tl_write(addr_of(p), v);
	touched(p);
	m.pg[p].data = v;
	m.ok[OP_WRITE]++;
}

static void op_read(void)
{
	int p = accessible_page(false);
	unsigned char v;

	if (p < 0)
		return;
	TRACE("%d read page %d\n", m.step, p);
	v = tl_read(addr_of(p));
	touched(p);
	model_assert(v == m.pg[p].data, "page %d reads %u, model %u", p, v, m.pg[p].data);
	m.ok[OP_READ] += v != 0;           /* a read that saw written data */
}

static void op_invalid(void)
{
	char *a = addr_of(random_page());

	model_assert(!VirtualAlloc(a, 0, MEM_COMMIT, PAGE_READWRITE) &&
	             GetLastError() == ERROR_INVALID_PARAMETER, "size 0 accepted");
	model_assert(!VirtualAlloc(a, TL_PAGE, MEM_COMMIT, PAGE_GUARD | PAGE_NOACCESS) &&
	             GetLastError() == ERROR_INVALID_PARAMETER, "guard+noaccess accepted");
	model_assert(!VirtualFree(a, 0, MEM_DECOMMIT | MEM_RELEASE) &&
	             GetLastError() == ERROR_INVALID_PARAMETER, "decommit|release accepted");
}

/* ---- comparison with VirtualQuery ---- */

static void verify_page_run(int p, int *next_page)
{
	MEMORY_BASIC_INFORMATION q = tl_query(addr_of(p));
	int b = owner(p), end = p;

	if (b < 0) {                    /* the rest of a unit, or free units */
		if (m.unit_owner[p / UPAGES] >= 0)
			end = (p / UPAGES + 1) * UPAGES;
		else
			while (end < NPAGES && m.unit_owner[end / UPAGES] < 0)
				end += UPAGES - end % UPAGES;
		model_assert(q.State == MEM_FREE, "page %d: state %#lx, model free", p,
		             (unsigned long)q.State);
		if (end < NPAGES)
			model_assert(q.RegionSize == (size_t)(end - p) * TL_PAGE, "free page %d: size %zu, model %d pages",
			             p, (size_t)q.RegionSize, end - p);
		*next_page = end;
		return;
	}
	while (end < alloc_end(b) && m.pg[end].state == m.pg[p].state &&
	       m.pg[end].protect == m.pg[p].protect)
		end++;
	model_assert(q.AllocationBase == addr_of(b * UPAGES), "page %d: allocation base", p);
	model_assert(q.AllocationProtect == m.al[b].alloc_protect, "page %d: allocation protect", p);
	model_assert(q.State == (m.pg[p].state == COMMITTED ? MEM_COMMIT : MEM_RESERVE),
	             "page %d: state %#lx", p, (unsigned long)q.State);
	model_assert(q.Protect == m.pg[p].protect, "page %d: protect %#lx, model %#lx", p,
	             (unsigned long)q.Protect, (unsigned long)m.pg[p].protect);
	model_assert(q.RegionSize == (size_t)(end - p) * TL_PAGE, "page %d: size %zu, model %d pages",
	             p, (size_t)q.RegionSize, end - p);
	*next_page = end;
}

static void verify_all(void)
{
	for (int p = 0; p < NPAGES;)
		verify_page_run(p, &p);
}

/* ---- the VM model test ---- */

static void model_reset(uint64_t seed)
{
	memset(&m, 0, sizeof m);
	m.seed = m.rng = seed;
	for (int u = 0; u < UNITS; u++)
		m.unit_owner[u] = -1;
	m.win = (char *)tl_free_range((SIZE_T)UNITS * TL_GRAN);
}

static void run_op(void)
{
	int r = below(100);

	if (r < 10)
		op_reserve();
	else if (r < 30)
		op_commit();
	else if (r < 40)
		op_decommit();
	else if (r < 47)
		op_release();
	else if (r < 67)
		op_protect();
	else if (r < 82)
		op_write();
	else if (r < 97)
		op_read();
	else
		op_invalid();
}

static int model_steps(void)
{
	return tl_valgrind() ? 1500 : 20000;
}

START_TEST(test_model__virtual_memory_sequence)
{
	PVOID h = AddVectoredExceptionHandler(1, on_guard);
	memapi_counters before, after;

	trace = getenv("TL_MODEL_TRACE") != NULL;
	memapi_get_counters(&before);
	model_reset(seeds[_i]);
	for (m.step = 0; m.step < model_steps(); m.step++) {
		run_op();
		if (trace || m.step % 250 == 0)
			verify_all();
	}
	verify_all();
	/* The sequence must have exercised every path, not only errors. */
	for (int k = 0; k < OPS; k++)
		model_assert(m.ok[k] >= model_steps() / 200, "operation %d succeeded %d times", k, m.ok[k]);
	TRACE("ok: %d %d %d %d %d %d %d, guard hits %llu\n", m.ok[0], m.ok[1], m.ok[2], m.ok[3],
	      m.ok[4], m.ok[5], m.ok[6], (unsigned long long)m.guard_hits);
	memapi_get_counters(&after);
	model_assert(after.guard_hits - before.guard_hits == m.guard_hits, "guard hits %llu, model %llu",
	             (unsigned long long)(after.guard_hits - before.guard_hits),
	             (unsigned long long)m.guard_hits);
	for (int u = 0; u < UNITS; u++)
		if (m.al[u].live)
			tl_release(addr_of(u * UPAGES));
	RemoveVectoredExceptionHandler(h);
}
END_TEST

/* ---- the write-watch model ---- */

#define WPAGES 64

static struct {
	char *p;
	bool  written[WPAGES];
} w;

static void watch_get(void)
{
	int a = below(WPAGES), n = 1 + below(WPAGES - a);
	ULONG_PTR max = (ULONG_PTR)(1 + below(below(2) ? 4 : WPAGES)), count = max;
	bool reset = below(2);
	PVOID addrs[WPAGES];
	DWORD gran = 0;
	ULONG_PTR k = 0;

	model_assert(GetWriteWatch(reset ? WRITE_WATCH_FLAG_RESET : 0, w.p + (size_t)a * TL_PAGE,
	                           (size_t)n * TL_PAGE, addrs, &count, &gran) == 0,
	             "GetWriteWatch failed: %lu", (unsigned long)GetLastError());
	model_assert(gran == TL_PAGE, "granularity %lu", (unsigned long)gran);
	for (int p = a; p < a + n && k < max; p++) {
		if (!w.written[p])
			continue;
		model_assert(k < count && addrs[k] == w.p + (size_t)p * TL_PAGE,
		             "watch entry %lu: want page %d", (unsigned long)k, p);
		if (reset)
			w.written[p] = false;
		k++;
	}
	model_assert(count == k, "watch count %lu, model %lu", (unsigned long)count, (unsigned long)k);
}

static void watch_op(void)
{
	int r = below(100), p = below(WPAGES), n = 1 + below(8);

	if (p + n > WPAGES)
		n = WPAGES - p;
	if (r < 45) {
		tl_write(w.p + (size_t)p * TL_PAGE + (size_t)below((int)TL_PAGE), 1);
		w.written[p] = true;
	} else if (r < 60) {
		tl_read(w.p + (size_t)p * TL_PAGE);
	} else if (r < 85) {
		watch_get();
	} else if (r < 93) {
		model_assert(ResetWriteWatch(w.p + (size_t)p * TL_PAGE, (size_t)n * TL_PAGE) == 0,
		             "ResetWriteWatch failed");
		memset(&w.written[p], 0, (size_t)n);
	} else {
		/* Decommitted pages come back clean (and zero). */
		model_assert(VirtualFree(w.p + (size_t)p * TL_PAGE, (size_t)n * TL_PAGE, MEM_DECOMMIT),
		             "decommit failed");
		tl_commit(w.p + (size_t)p * TL_PAGE, (size_t)n * TL_PAGE, PAGE_READWRITE);
		memset(&w.written[p], 0, (size_t)n);
		model_assert(tl_read(w.p + (size_t)p * TL_PAGE) == 0, "recommitted page not zero");
	}
}

static bool saved_wp_async;

static void watch_setup(void)
{
	tl_setup();
	saved_wp_async = mt_os.has_wp_async;
}

static void watch_teardown(void)
{
	mt_os.has_wp_async = saved_wp_async;
	tl_teardown();
}

START_TEST(test_model__write_watch_sequence)
{
	/* _i / 2 == 1: regions made now use the fallback (bitmap + faults). */
	if (_i / 2)
		mt_os.has_wp_async = false;
	memset(&w, 0, sizeof w);
	m.seed = m.rng = seeds[_i % 2] ^ 0x77;
	w.p = VirtualAlloc(NULL, WPAGES * TL_PAGE, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
	                   PAGE_READWRITE);
	ck_assert_ptr_nonnull(w.p);
	for (m.step = 0; m.step < model_steps() / 2; m.step++)
		watch_op();
	tl_release(w.p);
}
END_TEST

static Suite *make_model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc;

	tc = tcase_create("vm");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_model__virtual_memory_sequence, 0,
	                    (int)(sizeof seeds / sizeof seeds[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("watch");
	tcase_add_checked_fixture(tc, watch_setup, watch_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_model__write_watch_sequence, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_model_suite)
