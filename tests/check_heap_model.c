/* Model-based random testing of the heaps, and threads sharing a heap.
 *
 * The model tests run long seeded sequences of HeapAlloc, HeapReAlloc,
 * HeapFree, HeapSize and HeapValidate on each kind of heap, and compare
 * every result with a model of the live blocks: address, requested size,
 * and a byte pattern (derived from the block's id) that fills each block.
 * Periodically the whole heap is validated, compacted and walked; a walk
 * must list exactly the model's blocks. A failure names heap, seed and step:
 *   TL_HEAP_SEED=n     the model and stress tests run this seed only
 *   TL_HEAP_STEPS=n    steps per model test
 *   TL_MODEL_TRACE=1   print every model operation
 * The stress tests share one heap between threads that pass blocks to each
 * other through slots while one of them walks the locked heap.
 *
 * main() runs the suite, then re-executes itself with
 * MEMAPI_DISABLE=membarrier: the front end's fast paths then pay a fence
 * instead of relying on the freezer's membarrier(). */
#include "testlib.h"
#include "internal.h"
#include "heap/heap.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KIB ((size_t)1 << 10)

static const uint64_t seeds[] = { 1, 0x5eed, 0xdeadbeef, 20260101 };

/* ---- random numbers and sizes ---- */

static uint64_t mix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rbelow(uint64_t *state, size_t n)
{
	return (size_t)(mix(state) % n);
}

struct size_mix {
	unsigned weight;          /* of 100 */
	size_t   lo, hi;          /* inclusive */
};

/* Sizes at the heap's boundaries: front end, backend, large blocks. */
static const size_t edges[] = {
	0, 1, 15, 16, 17, 1008, 1024, 1025, MT_SMALL_MAX - 1, MT_SMALL_MAX, MT_SMALL_MAX + 1,
	MT_LARGE_MIN - MT_UNIT - 1, MT_LARGE_MIN - 1, MT_LARGE_MIN, MT_LARGE_MIN + 1,
};

static const struct size_mix model_sizes[] = {
	{ 28, 0, 64 }, { 28, 64, 1024 }, { 30, 1024, 16 * KIB },
	{ 12, 16 * KIB, 600 * KIB }, { 2, TL_MIB, 4 * TL_MIB },
};

static const struct size_mix stress_sizes[] = {
	{ 40, 0, 256 }, { 30, 256, 1024 }, { 25, 1024, 16 * KIB },
	{ 4, 16 * KIB, 256 * KIB }, { 1, MT_LARGE_MIN, TL_MIB },
};

/* A size from the mix (4 in 100 from the edges). */
static size_t draw_size(uint64_t *rng, const struct size_mix *mx)
{
	size_t r = rbelow(rng, 104);

	if (r >= 100)
		return edges[rbelow(rng, sizeof edges / sizeof edges[0])];
	for (; r >= mx->weight; mx++)
		r -= mx->weight;
	return mx->lo + rbelow(rng, mx->hi - mx->lo + 1);
}

/* A new size for a block of old bytes: a little larger, smaller, or any. */
static size_t resize_to(uint64_t *rng, const struct size_mix *mx, size_t old)
{
	switch (rbelow(rng, 4)) {
	case 0:
		return old + rbelow(rng, 64);
	case 1:
		return rbelow(rng, old + 1);
	default:
		return draw_size(rng, mx);
	}
}

static DWORD realloc_flags(uint64_t *rng)
{
	return (rbelow(rng, 3) ? 0 : HEAP_ZERO_MEMORY) |
	       (rbelow(rng, 4) ? 0 : HEAP_REALLOC_IN_PLACE_ONLY);
}

/* ---- block contents ---- */

#define ZERO_ID UINT32_MAX            /* the "pattern" of zeroed memory */
#define PERIOD  4093                  /* prime: a copy shifted by pages differs */

/* Twice the period, so that a rotation of up to PERIOD bytes is contiguous. */
static uint8_t ptab[2 * PERIOD], zeros[2 * PERIOD];

static void pattern_init(void)
{
	uint64_t s = 0x9a77e54;

	for (size_t i = 0; i < PERIOD; i++)
		ptab[i] = ptab[i + PERIOD] = (uint8_t)mix(&s);
}

/* Block id's pattern from its byte i on: a rotation of the table. */
static const uint8_t *pat_at(uint32_t id, size_t i)
{
	return id == ZERO_ID ? zeros : ptab + ((size_t)id * 2654435761u + i) % PERIOD;
}

/* Fills bytes [from, to) of block p with block id's pattern (fill), or
 * finds the first that differs: its offset, or SIZE_MAX. */
static size_t pattern(uint8_t *p, uint32_t id, size_t from, size_t to, bool fill)
{
	for (size_t i = from, n; i < to; i += n) {
		const uint8_t *src = pat_at(id, i);

		n = to - i < PERIOD ? to - i : PERIOD;
		if (fill)
			memcpy(p + i, src, n);
		else if (memcmp(p + i, src, n))
			for (size_t k = 0;; k++)
				if (p[i + k] != src[k])
					return i + k;
	}
	return SIZE_MAX;
}

/* Checks return NULL, or what is wrong in a per-thread buffer. */
static __thread char why_buf[320];

static const char *why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *why(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof why_buf, fmt, ap);
	va_end(ap);
	return why_buf;
}

/* err (NULL: none) said where. */
static const char *why_in(const char *where, const char *err)
{
	char copy[sizeof why_buf];

	if (!err)
		return NULL;
	snprintf(copy, sizeof copy, "%s", err);
	return why("%s: %s", where, copy);
}

static const char *check_intact(uint8_t *p, size_t n, uint32_t id)
{
	size_t bad = pattern(p, id, 0, n, false);

	return bad == SIZE_MAX ? NULL :
	       why("block %p (id %u, %zu bytes): byte %zu overwritten", (void *)p, id, n, bad);
}

static const char *check_placed(HANDLE h, const uint8_t *p, size_t n)
{
	SIZE_T got;

	if ((uintptr_t)p % 16)
		return why("block %p is not 16-byte aligned", (const void *)p);
	got = HeapSize(h, 0, p);
	return got == n ? NULL : why("HeapSize(%p) is %zd, requested %zu", (const void *)p,
	                             (ssize_t)got, n);
}

/* Block p of block id now has n bytes, and had old (0: just allocated):
 * checks that it kept the pattern up to min(old, n) and, with zero, that
 * the bytes after old are zero; then fills them with the pattern. */
static const char *check_resized(HANDLE h, uint8_t *p, uint32_t id, size_t old, size_t n,
                                 bool zero)
{
	size_t keep = old < n ? old : n, bad;
	const char *err = check_placed(h, p, n);

	if (err)
		return err;
	if ((bad = pattern(p, id, 0, keep, false)) != SIZE_MAX)
		return why("block %p (id %u): byte %zu of the %zu kept is lost (%zu -> %zu bytes)",
		           (void *)p, id, bad, keep, old, n);
	if (zero && (bad = pattern(p, ZERO_ID, keep, n, false)) != SIZE_MAX)
		return why("block %p: byte %zu is %#x, HEAP_ZERO_MEMORY (%zu -> %zu bytes)", (void *)p,
		           bad, p[bad], old, n);
	pattern(p, id, keep, n, true);
	return NULL;
}

/* ---- heap walks ---- */

/* A busy block a walk must list. */
struct expect {
	uint8_t *p;
	size_t   size;
	bool     seen;
};

#define MAXREGIONS 64
#define LARGE_REGION 64           /* iRegionIndex of large blocks, as Windows */
#define MAXBASE 64                /* busy blocks of the process heap before a test */
#define WALK_MAX 10000000

struct walk {
	PROCESS_HEAP_ENTRY e;
	DWORD          protect;         /* of the heap's committed pages       */
	struct expect *exp;             /* busy blocks expected, sorted; NULL: any */
	size_t         nexp;
	struct expect *found;           /* exp NULL: busy blocks recorded here */
	size_t         nfound, maxfound;
	size_t         busy, entries;
	int            regions;
	uint8_t       *lo[MAXREGIONS], *hi[MAXREGIONS];
	uint8_t       *cursor;          /* where the next entry may start      */
	uint8_t       *commit_end;      /* of the current region               */
	size_t         uncommitted;     /* its uncommitted bytes not yet listed */
	bool           large;           /* large blocks reached                */
};

/* VirtualQuery(a) must show state and protect, a region of size bytes
 * (0: at least up to end) in the reservation at base (NULL: any). */
static const char *query_is(const void *a, const void *base, DWORD state, DWORD protect,
                            size_t size, const void *end)
{
	MEMORY_BASIC_INFORMATION q;

	if (VirtualQuery(a, &q, sizeof q) != sizeof q)
		return why("VirtualQuery(%p) failed: %lu", a, (unsigned long)GetLastError());
	if ((base && q.AllocationBase != base) || q.State != state || q.Protect != protect ||
	    (size && q.RegionSize != size) ||
	    (end && (const uint8_t *)q.BaseAddress + q.RegionSize < (const uint8_t *)end))
		return why("VirtualQuery(%p): base %p state %#lx protect %#lx size %#zx; want base %p "
		           "state %#lx protect %#lx size %#zx up to %p", a, q.AllocationBase,
		           (unsigned long)q.State, (unsigned long)q.Protect, (size_t)q.RegionSize, base,
		           (unsigned long)state, (unsigned long)protect, size, end);
	return NULL;
}

static bool in_regions(const struct walk *w, const uint8_t *lo, const uint8_t *hi)
{
	for (int i = 0; i < w->regions; i++)
		if (lo < w->hi[i] && w->lo[i] < hi)
			return true;
	return false;
}

/* The current region must have listed its uncommitted range. */
static const char *region_done(const struct walk *w)
{
	return w->uncommitted ? why("region %d: no entry for its %zu uncommitted bytes",
	                            w->regions - 1, w->uncommitted) : NULL;
}

static const char *walk_region(struct walk *w)
{
	const PROCESS_HEAP_ENTRY *e = &w->e;
	uint8_t *base = e->lpData, *first = e->Region.lpFirstBlock, *end = e->Region.lpLastBlock;
	size_t commit = e->Region.dwCommittedSize, rest = e->Region.dwUnCommittedSize;
	const char *err = region_done(w);

	if (err)
		return err;
	if (w->large || e->iRegionIndex != w->regions || w->regions == MAXREGIONS)
		return why("region entry %d after %d regions%s", e->iRegionIndex, w->regions,
		           w->large ? " and large blocks" : "");
	if ((uintptr_t)base % TL_GRAN || commit % TL_PAGE || rest % TL_PAGE ||
	    base + commit + rest != end || first < base + e->cbData || first >= base + commit)
		return why("region %d at %p: header %lu, committed %zu, uncommitted %zu, first block %p, "
		           "last %p", w->regions, (void *)base, (unsigned long)e->cbData, commit, rest,
		           (void *)first, (void *)end);
	if (in_regions(w, base, end))
		return why("region %d at %p+%zu overlaps another", w->regions, (void *)base,
		           commit + rest);
	if ((err = query_is(base, base, MEM_COMMIT, w->protect, commit, NULL)) ||
	    (rest && (err = query_is(base + commit, base, MEM_RESERVE, 0, rest, NULL))))
		return err;
	w->lo[w->regions] = base;
	w->hi[w->regions++] = end;
	w->cursor = base + e->cbData;
	w->commit_end = base + commit;
	w->uncommitted = rest;
	return NULL;
}

static const char *walk_uncommitted(struct walk *w)
{
	const PROCESS_HEAP_ENTRY *e = &w->e;

	if (e->iRegionIndex != w->regions - 1 || !w->uncommitted ||
	    (uint8_t *)e->lpData != w->commit_end || e->cbData != w->uncommitted)
		return why("uncommitted range %p+%lu in region %d; region %d has %zu at %p",
		           e->lpData, (unsigned long)e->cbData, e->iRegionIndex, w->regions - 1,
		           w->uncommitted, (void *)w->commit_end);
	w->uncommitted = 0;
	w->cursor = w->commit_end;      /* no block after it */
	return NULL;
}

static int by_addr(const void *a, const void *b)
{
	const uint8_t *x = ((const struct expect *)a)->p, *y = ((const struct expect *)b)->p;

	return x < y ? -1 : x > y;
}

static const char *walk_busy(struct walk *w)
{
	struct expect key = { .p = w->e.lpData }, *x;

	w->busy++;
	if (!w->exp) {
		if (w->found && w->nfound < w->maxfound)
			w->found[w->nfound++] = (struct expect){ w->e.lpData, w->e.cbData, false };
		return NULL;
	}
	x = bsearch(&key, w->exp, w->nexp, sizeof key, by_addr);
	if (!x || x->seen || x->size != w->e.cbData)
		return why("busy entry %p+%lu: %s", w->e.lpData, (unsigned long)w->e.cbData,
		           !x ? "no such live block" : x->seen ? "listed twice" : "size differs");
	x->seen = true;
	return NULL;
}

static const char *walk_block(struct walk *w)
{
	const PROCESS_HEAP_ENTRY *e = &w->e;
	uint8_t *p = e->lpData;

	if (!w->regions || w->large || e->iRegionIndex != w->regions - 1)
		return why("block %p in region %d, after %d regions", (void *)p, e->iRegionIndex,
		           w->regions);
	if ((uintptr_t)p % 16 || p < w->cursor || p + e->cbData > w->commit_end ||
	    (e->wFlags & ~PROCESS_HEAP_ENTRY_BUSY))
		return why("block %p+%lu flags %#x: previous entry ends at %p, committed memory at %p",
		           (void *)p, (unsigned long)e->cbData, e->wFlags, (void *)w->cursor,
		           (void *)w->commit_end);
	w->cursor = p + e->cbData;
	return e->wFlags ? walk_busy(w) : NULL;
}

static const char *walk_large(struct walk *w)
{
	const PROCESS_HEAP_ENTRY *e = &w->e;
	uint8_t *p = e->lpData;
	const char *err = region_done(w);

	w->large = true;
	w->uncommitted = 0;
	if (err)
		return err;
	if ((e->wFlags & ~PROCESS_HEAP_ENTRY_BUSY) || (uintptr_t)p % 16 ||
	    in_regions(w, p, p + e->cbData))
		return why("large block %p+%lu: flags %#x, or inside a region", (void *)p,
		           (unsigned long)e->cbData, e->wFlags);
	if ((err = query_is(p, NULL, MEM_COMMIT, w->protect, 0, p + e->cbData)))
		return err;
	return e->wFlags ? walk_busy(w) : NULL;      /* free: kept for reuse */
}

static const char *walk_entry(struct walk *w)
{
	if (w->e.wFlags & PROCESS_HEAP_REGION)
		return walk_region(w);
	if (w->e.wFlags & PROCESS_HEAP_UNCOMMITTED_RANGE)
		return walk_uncommitted(w);
	return w->e.iRegionIndex == LARGE_REGION ? walk_large(w) : walk_block(w);
}

/* Walks the heap to its end, checking regions, uncommitted ranges and
 * that no entries overlap; w->exp: the busy blocks must be exactly those. */
static const char *walk_heap(HANDLE h, struct walk *w)
{
	const char *err = NULL;

	memset(&w->e, 0, sizeof w->e);
	SetLastError(0);
	while (!err && HeapWalk(h, &w->e))
		err = ++w->entries > WALK_MAX ? why("the walk does not end") : walk_entry(w);
	if (err)
		return err;
	if (GetLastError() != ERROR_NO_MORE_ITEMS)
		return why("the walk ended with error %lu after %zu entries, the last %p+%lu flags %#x "
		           "region %d", (unsigned long)GetLastError(), w->entries, w->e.lpData,
		           (unsigned long)w->e.cbData, w->e.wFlags, w->e.iRegionIndex);
	if (!w->regions)
		return why("the walk lists no region");
	if ((err = region_done(w)))
		return err;
	if (w->exp && w->busy != w->nexp)
		return why("the walk lists %zu busy blocks, %zu are live", w->busy, w->nexp);
	return NULL;
}

/* Walks h; its busy blocks go to out (up to max, *n of them). */
static const char *walk_any(HANDLE h, DWORD protect, struct expect *out, size_t max, size_t *n)
{
	struct walk w = { .protect = protect, .found = out, .maxfound = max };
	const char *err = walk_heap(h, &w);

	if (n)
		*n = w.nfound;
	return err ? err : w.busy > max && out ? why("%zu busy blocks, room for %zu", w.busy, max)
	                                       : NULL;
}

/* Walks h: its busy blocks must be x[0..n) (taken and freed here). */
static const char *walk_exact(HANDLE h, DWORD protect, struct expect *x, size_t n)
{
	struct walk w = { .protect = protect, .exp = x, .nexp = n };
	const char *err;

	qsort(x, n, sizeof *x, by_addr);
	err = walk_heap(h, &w);
	free(x);
	return err;
}

/* An expectation array for n live blocks (filled by the caller) followed
 * by the nbase blocks of base. */
static struct expect *expect_new(size_t n, const struct expect *base, size_t nbase)
{
	struct expect *x = calloc(n + nbase + 1, sizeof *x);

	ck_assert_ptr_nonnull(x);
	memcpy(x + n, base, nbase * sizeof *x);
	return x;
}

/* ---- heap kinds ---- */

static const struct kind {
	const char *name;
	DWORD       options;
	SIZE_T      initial, maximum;
	bool        process;
} kinds[] = {
	{ "process", 0, 0, 0, true },
	{ "growable", 0, 0, 0, false },
	{ "no-serialize", HEAP_NO_SERIALIZE, 0, 0, false },
	{ "fixed 64K/2M", 0, 64 * KIB, 2 * TL_MIB, false },
	{ "execute", HEAP_CREATE_ENABLE_EXECUTE, 0, 0, false },
};

#define KINDS ((int)(sizeof kinds / sizeof kinds[0]))

static HANDLE kind_heap(const struct kind *k)
{
	HANDLE h = k->process ? GetProcessHeap()
	                      : HeapCreate(k->options, k->initial, k->maximum);

	ck_assert_msg(h != NULL, "%s heap: HeapCreate failed: %lu", k->name,
	              (unsigned long)GetLastError());
	return h;
}

static DWORD kind_protect(const struct kind *k)
{
	return k->options & HEAP_CREATE_ENABLE_EXECUTE ? PAGE_EXECUTE_READWRITE : PAGE_READWRITE;
}

/* The busy blocks of the process heap now (a test's own must come on top). */
static size_t heap_baseline(HANDLE h, const struct kind *k, struct expect *base)
{
	size_t n = 0;
	const char *err = k->process ? walk_any(h, kind_protect(k), base, MAXBASE, &n) : NULL;

	ck_assert_msg(!err, "%s heap before the test: %s", k->name, err);
	return n;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static int nseeds(void)
{
	return getenv("TL_HEAP_SEED") ? 1 : tl_valgrind() ? 2 : (int)(sizeof seeds / sizeof seeds[0]);
}

static uint64_t seed_of(int i)
{
	return env_u64("TL_HEAP_SEED", seeds[i]);
}

/* ---- the model ---- */

#define MAXLIVE    256
#define FREED      32               /* recently freed addresses remembered */
#define MAXBYTES   ((size_t)64 << 20)
#define FIXED_SURE TL_MIB           /* a fixed heap emptied enough has room for this */

enum { OP_ALLOC, OP_FREE, OP_REALLOC, OP_SIZE, OP_VALIDATE, OP_FREED, OPS };

struct hblock {
	uint8_t *p;
	size_t   size;
	uint32_t id;
};

static struct model {
	const struct kind *k;
	HANDLE        h;
	uint64_t      rng, seed;
	int           step, steps;
	struct hblock b[MAXLIVE];
	int           n;
	struct expect base[MAXBASE];
	size_t        nbase;
	uint8_t      *freed[FREED];     /* ring of addresses freed or moved from */
	unsigned      nfreed;
	uint32_t      next_id;
	size_t        bytes;            /* requested bytes of the live blocks */
	bool          shrinking;        /* the phase: more frees than allocations */
	int           ok[OPS];
	int           alloc_fail, refills, moved, inplace_ok, inplace_fail, compact_allocs;
} m;

static bool trace;

#define TRACE(...) do { if (trace) { fprintf(stderr, "%s %llu: ", m.k->name, \
	(unsigned long long)m.seed); fprintf(stderr, __VA_ARGS__); } } while (0)

#define model_assert(cond, ...) do { \
	if (!(cond)) { \
		char what_[400]; \
		snprintf(what_, sizeof what_, __VA_ARGS__); \
		ck_abort_msg("%s heap, TL_HEAP_SEED=%llu, step %d: %s", m.k->name, \
		             (unsigned long long)m.seed, m.step, what_); \
	} \
} while (0)

#define model_ok(check) do { \
	const char *err_ = (check); \
	model_assert(!err_, "%s", err_); \
} while (0)

static size_t below(size_t n)
{
	return rbelow(&m.rng, n);
}

static bool overlap(const uint8_t *p, size_t n, const uint8_t *q, size_t qn)
{
	return p < q + (qn ? qn : 1) && q < p + (n ? n : 1);
}

/* Block p+n (in place of skip) overlaps no other busy block. */
static void model_no_overlap(const uint8_t *p, size_t n, const struct hblock *skip)
{
	for (int i = 0; i < m.n; i++)
		model_assert(&m.b[i] == skip || !overlap(p, n, m.b[i].p, m.b[i].size),
		             "block %p+%zu overlaps live block %p+%zu (id %u)", (const void *)p, n,
		             (void *)m.b[i].p, m.b[i].size, m.b[i].id);
	for (size_t i = 0; i < m.nbase; i++)
		model_assert(!overlap(p, n, m.base[i].p, m.base[i].size),
		             "block %p+%zu overlaps the process heap's block %p", (const void *)p, n,
		             (void *)m.base[i].p);
}

static void model_add(uint8_t *p, size_t n, bool zero)
{
	struct hblock *b = &m.b[m.n];

	model_no_overlap(p, n, NULL);
	*b = (struct hblock){ p, n, m.next_id++ };
	model_ok(check_resized(m.h, p, b->id, 0, n, zero));
	m.n++;
	m.bytes += n;
}

static void model_free(int i)
{
	struct hblock *b = &m.b[i];

	model_ok(check_intact(b->p, b->size, b->id));
	SetLastError(0);
	model_assert(HeapFree(m.h, 0, b->p), "HeapFree(%p) failed: %lu", (void *)b->p,
	             (unsigned long)GetLastError());
	m.bytes -= b->size;
	m.freed[m.nfreed++ % FREED] = b->p;
	*b = m.b[--m.n];
}

static void op_free(void)
{
	int i;

	if (!m.n)
		return;
	i = (int)below((size_t)m.n);
	TRACE("%d free %p (id %u)\n", m.step, (void *)m.b[i].p, m.b[i].id);
	model_free(i);
	m.ok[OP_FREE]++;
}

/* A failed allocation: only a fixed heap may run out, and only so. */
static void alloc_failed(size_t n)
{
	model_assert(m.k->maximum && GetLastError() == ERROR_NOT_ENOUGH_MEMORY,
	             "HeapAlloc(%zu) failed: %lu", n, (unsigned long)GetLastError());
	m.alloc_fail++;
}

/* A full fixed heap, freed block by block, must find room for n bytes
 * before it is empty. */
static uint8_t *alloc_after_frees(size_t n, DWORD flags)
{
	uint8_t *p = NULL;

	while (!p) {
		model_assert(m.n > 0, "fixed heap emptied: HeapAlloc(%zu) still fails", n);
		model_free((int)below((size_t)m.n));
		SetLastError(0);
		if (!(p = HeapAlloc(m.h, flags, n)))
			alloc_failed(n);
	}
	m.refills++;
	return p;
}

static void op_alloc(void)
{
	size_t n = draw_size(&m.rng, model_sizes);
	DWORD flags = below(3) ? 0 : HEAP_ZERO_MEMORY;
	uint8_t *p;

	if (m.n == MAXLIVE || m.bytes + n > MAXBYTES) {
		op_free();
		return;
	}
	TRACE("%d alloc %zu flags %#lx\n", m.step, n, (unsigned long)flags);
	SetLastError(0);
	if (!(p = HeapAlloc(m.h, flags, n))) {
		alloc_failed(n);
		if (n > FIXED_SURE || below(2) || !(p = alloc_after_frees(n, flags)))
			return;
	}
	model_add(p, n, flags & HEAP_ZERO_MEMORY);
	m.ok[OP_ALLOC]++;
}

/* A failed reallocation leaves the block as it was. */
static void realloc_failed(const struct hblock *b, size_t n, DWORD flags)
{
	model_assert(((flags & HEAP_REALLOC_IN_PLACE_ONLY) || m.k->maximum) &&
	             GetLastError() == ERROR_NOT_ENOUGH_MEMORY,
	             "HeapReAlloc(%p, %zu -> %zu, flags %#lx) failed: %lu", (void *)b->p, b->size, n,
	             (unsigned long)flags, (unsigned long)GetLastError());
	model_ok(check_placed(m.h, b->p, b->size));
	model_ok(check_intact(b->p, b->size, b->id));
	m.inplace_fail += !!(flags & HEAP_REALLOC_IN_PLACE_ONLY);
}

static void op_realloc(void)
{
	DWORD flags = realloc_flags(&m.rng);
	struct hblock *b;
	size_t n;
	uint8_t *q;

	if (!m.n)
		return;
	b = &m.b[below((size_t)m.n)];
	n = resize_to(&m.rng, model_sizes, b->size);
	if (n > b->size && m.bytes + (n - b->size) > MAXBYTES)
		n = b->size / 2;
	TRACE("%d realloc %p (id %u) %zu -> %zu flags %#lx\n", m.step, (void *)b->p, b->id, b->size,
	      n, (unsigned long)flags);
	model_ok(check_intact(b->p, b->size, b->id));
	SetLastError(0);
	if (!(q = HeapReAlloc(m.h, flags, b->p, n))) {
		realloc_failed(b, n, flags);
		return;
	}
	model_assert(q == b->p || !(flags & HEAP_REALLOC_IN_PLACE_ONLY),
	             "HEAP_REALLOC_IN_PLACE_ONLY moved %p to %p", (void *)b->p, (void *)q);
	model_no_overlap(q, n, b);
	model_ok(check_resized(m.h, q, b->id, b->size, n, flags & HEAP_ZERO_MEMORY));
	if (q != b->p)
		m.freed[m.nfreed++ % FREED] = b->p;
	m.moved += q != b->p;
	m.inplace_ok += !!(flags & HEAP_REALLOC_IN_PLACE_ONLY);
	m.bytes += n - b->size;
	b->p = q;
	b->size = n;
	m.ok[OP_REALLOC]++;
}

/* HeapSize or HeapValidate of a live block. */
static void op_query(bool validate)
{
	const struct hblock *b;

	if (!m.n)
		return;
	b = &m.b[below((size_t)m.n)];
	TRACE("%d %s %p\n", m.step, validate ? "validate" : "size", (void *)b->p);
	if (validate)
		model_assert(HeapValidate(m.h, 0, b->p), "HeapValidate(%p) is FALSE", (void *)b->p);
	else
		model_ok(check_placed(m.h, b->p, b->size));
	m.ok[validate ? OP_VALIDATE : OP_SIZE]++;
}

static bool is_live(const uint8_t *p)
{
	for (int i = 0; i < m.n; i++)
		if (m.b[i].p == p)
			return true;
	for (size_t i = 0; i < m.nbase; i++)
		if (m.base[i].p == p)
			return true;
	return false;
}

/* A freed block not handed out again is no block: HeapValidate is FALSE
 * (also where a large block's reservation is gone). */
static void op_validate_freed(void)
{
	uint8_t *p;

	if (!m.nfreed)
		return;
	p = m.freed[below(m.nfreed < FREED ? m.nfreed : FREED)];
	if (is_live(p))
		return;
	TRACE("%d validate freed %p\n", m.step, (void *)p);
	model_assert(!HeapValidate(m.h, 0, p), "HeapValidate(%p) is TRUE after HeapFree", (void *)p);
	m.ok[OP_FREED]++;
}

/* HeapCompact reports the largest free block: there is room for it. */
static void op_compact(void)
{
	SIZE_T largest;
	uint8_t *p;

	TRACE("%d compact\n", m.step);
	SetLastError(ERROR_INVALID_DATA);
	largest = HeapCompact(m.h, 0);
	model_assert(largest || GetLastError() == NO_ERROR, "HeapCompact failed: %lu",
	             (unsigned long)GetLastError());
	if (!largest || largest > 4 * TL_MIB || m.n == MAXLIVE || m.bytes + largest > MAXBYTES)
		return;
	SetLastError(0);
	p = HeapAlloc(m.h, 0, largest);
	model_assert(p != NULL, "HeapCompact reports %zu bytes free, HeapAlloc of them fails: %lu",
	             (size_t)largest, (unsigned long)GetLastError());
	model_add(p, largest, false);
	m.compact_allocs++;
}

/* The walk lists exactly the live blocks (and the process heap's own),
 * and every live block holds its pattern. */
static void model_walk(void)
{
	struct expect *x = expect_new((size_t)m.n, m.base, m.nbase);

	TRACE("%d walk\n", m.step);
	for (int i = 0; i < m.n; i++)
		x[i] = (struct expect){ m.b[i].p, m.b[i].size, false };
	model_ok(walk_exact(m.h, kind_protect(m.k), x, (size_t)m.n + m.nbase));
	for (int i = 0; i < m.n; i++)
		model_ok(check_intact(m.b[i].p, m.b[i].size, m.b[i].id));
}

static void model_validate(void)
{
	model_assert(HeapValidate(m.h, 0, NULL), "HeapValidate of the heap is FALSE");
}

static void model_op(void)
{
	unsigned allocs = m.shrinking ? 12 : 42, frees = m.shrinking ? 42 : 18;
	size_t r = below(allocs + frees + 33);

	if (r < allocs)
		op_alloc();
	else if ((r -= allocs) < frees)
		op_free();
	else if ((r -= frees) < 20)
		op_realloc();
	else if (r < 30)
		op_query(r < 25);
	else
		op_validate_freed();
}

/* Phases of growth and shrinking; validation, compaction, walks. */
static void model_periodic(void)
{
	int s = m.step + 1, phase = m.steps / 10 > 100 ? m.steps / 10 : 100;

	if (s % phase == 0)
		m.shrinking = !m.shrinking;
	if (s % 200 == 0)
		model_validate();
	if (s % 700 == 0)
		op_compact();
	if (s % 500 == 0)
		model_walk();
}

static void model_begin(int kind, uint64_t seed)
{
	memset(&m, 0, sizeof m);
	trace = getenv("TL_MODEL_TRACE") != NULL;
	m.k = &kinds[kind];
	m.seed = m.rng = seed;
	m.steps = (int)env_u64("TL_HEAP_STEPS", tl_valgrind() ? 1000 : 20000);
	m.h = kind_heap(m.k);
	m.nbase = heap_baseline(m.h, m.k, m.base);
}

/* Every path must have run, not only failures. */
static void model_coverage(void)
{
	int want = m.steps / 200;

	for (int k = 0; k < OPS; k++)
		model_assert(m.ok[k] >= want, "operation %d succeeded %d times", k, m.ok[k]);
	model_assert(m.moved >= want / 4 && m.inplace_ok >= want / 4,
	             "reallocations: %d moved, %d in place", m.moved, m.inplace_ok);
	model_assert(!m.k->maximum || m.alloc_fail >= want / 4,
	             "the fixed heap ran out %d times", m.alloc_fail);
}

static void model_end(void)
{
	TRACE("ok %d %d %d %d %d %d; alloc failures %d, refills %d, moved %d, in place %d/%d failed, "
	      "compact allocations %d\n", m.ok[0], m.ok[1], m.ok[2], m.ok[3], m.ok[4], m.ok[5],
	      m.alloc_fail, m.refills, m.moved, m.inplace_ok, m.inplace_fail, m.compact_allocs);
	model_coverage();
	while (m.n)
		model_free(m.n - 1);
	model_validate();
	model_walk();
	model_assert(m.k->process || HeapDestroy(m.h), "HeapDestroy failed: %lu",
	             (unsigned long)GetLastError());
}

/* _i: heap kind _i / nseeds(), seed _i % nseeds(). */
START_TEST(test_heap_model__random_sequence)
{
	model_begin(_i / nseeds(), seed_of(_i % nseeds()));
	for (m.step = 0; m.step < m.steps; m.step++) {
		model_op();
		model_periodic();
	}
	model_walk();
	model_end();
}
END_TEST

/* A backend block freed after its free neighbour merges into it: its old
 * header must not pass for a busy block any more. (It did: HeapValidate
 * said TRUE, and a second HeapFree freed the merged range again, so that
 * later blocks overlapped live ones; fixed in 16f7235.) */
START_TEST(test_HeapValidate__block_freed_after_its_neighbour)
{
	const struct kind *k = &kinds[_i];
	HANDLE h = kind_heap(k);
	uint8_t *a = HeapAlloc(h, 0, 20000), *b = HeapAlloc(h, 0, 20000), *c = HeapAlloc(h, 0, 20000);

	ck_assert(a && b && c);
	ck_assert(HeapFree(h, 0, a));
	ck_assert(HeapFree(h, 0, b));
	ck_assert_msg(!HeapValidate(h, 0, b), "%s heap: HeapValidate(%p) is TRUE after HeapFree "
	              "(freed after its neighbour %p)", k->name, (void *)b, (void *)a);
	ck_assert_false_error(HeapFree(h, 0, b), ERROR_INVALID_PARAMETER);
	ck_assert(HeapFree(h, 0, c));
	ck_assert(HeapValidate(h, 0, NULL));
	if (!k->process)
		ck_assert(HeapDestroy(h));
}
END_TEST

/* ---- threads sharing a heap ---- */

#define SLOTS   512
#define THREADS 4
#define TAKEN   ((uint8_t *)1)      /* a slot a thread is working on */

/* A block shared between threads: a thread takes it by exchanging TAKEN
 * into p, and owns the rest until it stores p back. */
struct sslot {
	_Atomic(uint8_t *) p;
	size_t             size;
	uint32_t           id;
	int                by;          /* the worker that allocated it */
};

struct worker {
	pthread_t t;
	int       index;
	uint64_t  rng;
};

static struct stress {
	HANDLE            h;
	struct sslot      slot[SLOTS];
	struct expect     base[MAXBASE];
	size_t            nbase;
	uint64_t          seed;
	int               ops;          /* per worker and phase */
	pthread_barrier_t go, done;
	atomic_bool       stop, failed;
	atomic_uint       next_id;
	atomic_int        cross, walks;  /* frees and reallocations by another
	                                    thread; walks of the locked heap */
	pthread_mutex_t   msg_lock;
	char              msg[400];
	struct worker     w[THREADS];
	bool              running;
} st;

static void stress_fail(const char *err)
{
	pthread_mutex_lock(&st.msg_lock);
	if (!atomic_load(&st.failed))
		snprintf(st.msg, sizeof st.msg, "%s", err);
	atomic_store(&st.failed, true);
	pthread_mutex_unlock(&st.msg_lock);
}

static bool stress_ok(const char *err)
{
	if (err)
		stress_fail(err);
	return !err;
}

static uint8_t *stress_alloc(struct worker *w, struct sslot *s)
{
	size_t n = draw_size(&w->rng, stress_sizes);
	bool zero = rbelow(&w->rng, 3) == 0;
	uint8_t *p = HeapAlloc(st.h, zero ? HEAP_ZERO_MEMORY : 0, n);

	if (!p) {
		stress_fail(why("HeapAlloc(%zu) failed: %lu", n, (unsigned long)GetLastError()));
		return NULL;
	}
	s->size = n;
	s->id = atomic_fetch_add(&st.next_id, 1);
	s->by = w->index;
	stress_ok(check_resized(st.h, p, s->id, 0, n, zero));
	return p;
}

static uint8_t *stress_realloc(struct worker *w, struct sslot *s, uint8_t *p)
{
	size_t n = resize_to(&w->rng, stress_sizes, s->size);
	DWORD flags = realloc_flags(&w->rng);
	uint8_t *q = HeapReAlloc(st.h, flags, p, n);

	if (!q) {
		if (!(flags & HEAP_REALLOC_IN_PLACE_ONLY) || GetLastError() != ERROR_NOT_ENOUGH_MEMORY)
			stress_fail(why("HeapReAlloc(%p, %zu -> %zu, %#lx) failed: %lu", (void *)p, s->size,
			                n, (unsigned long)flags, (unsigned long)GetLastError()));
		return p;
	}
	if (q != p && (flags & HEAP_REALLOC_IN_PLACE_ONLY))
		stress_fail(why("HEAP_REALLOC_IN_PLACE_ONLY moved %p to %p", (void *)p, (void *)q));
	stress_ok(check_resized(st.h, q, s->id, s->size, n, flags & HEAP_ZERO_MEMORY));
	s->size = n;
	return q;
}

/* Frees, reallocates or checks the block of a taken slot. */
static uint8_t *stress_use(struct worker *w, struct sslot *s, uint8_t *p)
{
	size_t r = rbelow(&w->rng, 10);

	if (!stress_ok(check_intact(p, s->size, s->id)))
		return p;
	if (r < 9 && s->by != w->index)
		atomic_fetch_add(&st.cross, 1);
	if (r < 5) {
		if (HeapFree(st.h, 0, p))
			return NULL;
		stress_fail(why("HeapFree(%p) failed: %lu", (void *)p, (unsigned long)GetLastError()));
		return p;
	}
	if (r < 9)
		return stress_realloc(w, s, p);
	if (stress_ok(check_placed(st.h, p, s->size)) && !HeapValidate(st.h, 0, p))
		stress_fail(why("HeapValidate(%p) is FALSE", (void *)p));
	return p;
}

static void stress_op(struct worker *w)
{
	struct sslot *s = &st.slot[rbelow(&w->rng, SLOTS)];
	uint8_t *p = atomic_exchange(&s->p, TAKEN);

	if (p == TAKEN)
		return;                         /* another thread has it */
	atomic_store(&s->p, p ? stress_use(w, s, p) : stress_alloc(w, s));
}

/* A full walk of the locked heap while the other threads wait for it. */
static void stress_walk(void)
{
	const char *err;

	if (!HeapLock(st.h)) {
		stress_fail(why("HeapLock failed: %lu", (unsigned long)GetLastError()));
		return;
	}
	err = why_in("walk of the locked heap", walk_any(st.h, PAGE_READWRITE, NULL, 0, NULL));
	atomic_fetch_add(&st.walks, 1);
	if (!err && !HeapValidate(st.h, 0, NULL))
		err = why("HeapValidate of the locked heap is FALSE");
	if (!HeapUnlock(st.h) && !err)
		err = why("HeapUnlock failed: %lu", (unsigned long)GetLastError());
	stress_ok(err);
}

/* Worker 0 walks now and then, worker 1 compacts. */
static void stress_ops(struct worker *w, int ops)
{
	for (int i = 1; i <= ops && !atomic_load(&st.failed); i++) {
		stress_op(w);
		if (w->index == 0 && i % 256 == 0)
			stress_walk();
		if (w->index == 1 && i % 1024 == 0)
			HeapCompact(st.h, 0);
	}
}

/* Persistent workers: one phase between the go and done barriers. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		pthread_barrier_wait(&st.go);
		if (atomic_load(&st.stop))
			return NULL;
		stress_ops(w, st.ops);
		pthread_barrier_wait(&st.done);
	}
}

/* Short-lived workers: what they own in the heap is handed back at exit. */
static void *churn_main(void *arg)
{
	stress_ops(arg, tl_valgrind() ? 100 : 300);
	return NULL;
}

static void spawn(struct worker *w, int index, uint64_t salt, void *(*fn)(void *))
{
	w->index = index;
	w->rng = st.seed ^ (salt + 1) * 0x2545f4914f6cdd1dULL;
	ck_assert_int_eq(pthread_create(&w->t, NULL, fn, w), 0);
}

static void stress_stop(void)
{
	if (!st.running)
		return;
	st.running = false;
	atomic_store(&st.stop, true);
	pthread_barrier_wait(&st.go);
	for (int i = 0; i < THREADS; i++)
		pthread_join(st.w[i].t, NULL);
	pthread_barrier_destroy(&st.go);
	pthread_barrier_destroy(&st.done);
}

/* Fails the test (the workers stopped first). */
#define stress_assert(cond, when, ...) do { \
	if (!(cond)) { \
		char what_[400]; \
		snprintf(what_, sizeof what_, __VA_ARGS__); \
		stress_stop(); \
		ck_abort_msg("stress, TL_HEAP_SEED=%llu, %s: %s", (unsigned long long)st.seed, \
		             when, what_); \
	} \
} while (0)

/* The slots' blocks hold their patterns; the walk lists exactly them. */
static const char *stress_blocks(void)
{
	struct expect *x = expect_new(SLOTS, st.base, st.nbase);
	size_t n = 0;

	for (int i = 0; i < SLOTS; i++) {
		struct sslot *s = &st.slot[i];
		uint8_t *p = atomic_load(&s->p);
		const char *err = p ? check_intact(p, s->size, s->id) : NULL;

		if (err) {
			free(x);
			return err;
		}
		if (p)
			x[n++] = (struct expect){ p, s->size, false };
	}
	memmove(x + n, x + SLOTS, st.nbase * sizeof *x);
	return walk_exact(st.h, PAGE_READWRITE, x, n + st.nbase);
}

/* All threads stopped: the heap validates and holds the slots' blocks. */
static void stress_check(const char *when)
{
	const char *err;

	stress_assert(!atomic_load(&st.failed), when, "%s", st.msg);
	stress_assert(HeapValidate(st.h, 0, NULL), when, "HeapValidate of the heap is FALSE");
	err = stress_blocks();
	stress_assert(!err, when, "%s", err);
}

static void stress_phase(int phase)
{
	char when[32];

	snprintf(when, sizeof when, "phase %d", phase);
	pthread_barrier_wait(&st.go);
	pthread_barrier_wait(&st.done);
	stress_check(when);
}

/* Rounds of threads that start, work on the shared slots, and exit. */
static void stress_churn(void)
{
	int rounds = tl_valgrind() ? 4 : 40;

	for (int r = 0; r < rounds; r++) {
		struct worker w[THREADS];

		for (int i = 0; i < THREADS; i++)
			spawn(&w[i], i, (uint64_t)(r + 1) * THREADS + (uint64_t)i, churn_main);
		for (int i = 0; i < THREADS; i++)
			pthread_join(w[i].t, NULL);
	}
	stress_check("threads that exit");
}

static void stress_free_all(void)
{
	for (int i = 0; i < SLOTS; i++) {
		uint8_t *p = atomic_exchange(&st.slot[i].p, NULL);

		stress_assert(!p || HeapFree(st.h, 0, p), "freeing", "HeapFree(%p) failed: %lu",
		              (void *)p, (unsigned long)GetLastError());
	}
	stress_check("all freed");
}

static void stress_begin(HANDLE h, bool process)
{
	const struct kind *k = &kinds[process ? 0 : 1];

	memset(&st, 0, sizeof st);
	pthread_mutex_init(&st.msg_lock, NULL);
	st.h = h;
	st.seed = seed_of(0);
	st.ops = tl_valgrind() ? 400 : 5000;
	st.nbase = heap_baseline(h, k, st.base);
	pthread_barrier_init(&st.go, NULL, THREADS + 1);
	pthread_barrier_init(&st.done, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++)
		spawn(&st.w[i], i, (uint64_t)i, worker_main);
	st.running = true;
}

static int stress_phases(void)
{
	return tl_valgrind() ? 2 : 4;
}

/* Blocks did go from thread to thread, and the heap was walked locked. */
static void stress_coverage(void)
{
	stress_assert(atomic_load(&st.cross) >= st.ops / 4 && atomic_load(&st.walks) >= stress_phases(),
	              "coverage", "%d frees and reallocations by another thread, %d locked walks",
	              atomic_load(&st.cross), atomic_load(&st.walks));
}

START_TEST(test_heap_stress__process_heap)
{
	stress_begin(GetProcessHeap(), true);
	for (int p = 0; p < stress_phases(); p++)
		stress_phase(p);
	stress_churn();
	stress_coverage();
	stress_free_all();
	stress_stop();
}
END_TEST

/* Also: the workers keep caches for the destroyed heap, whose cache slot
 * a new heap then takes over. */
START_TEST(test_heap_stress__growable_heap)
{
	stress_begin(kind_heap(&kinds[1]), false);
	for (int p = 0; p < stress_phases(); p++)
		stress_phase(p);
	stress_churn();
	stress_coverage();
	stress_free_all();
	stress_assert(HeapDestroy(st.h), "destroying", "HeapDestroy failed: %lu",
	              (unsigned long)GetLastError());
	st.h = kind_heap(&kinds[1]);
	stress_phase(stress_phases());
	stress_free_all();
	stress_assert(HeapDestroy(st.h), "destroying", "HeapDestroy of the second heap failed: %lu",
	              (unsigned long)GetLastError());
	stress_stop();
}
END_TEST

/* ---- the suite, run twice ---- */

static bool fence_run(void)
{
	const char *d = getenv("MEMAPI_DISABLE");

	return d && strstr(d, "membarrier");
}

/* The second run must really run the fast paths on fences. */
START_TEST(test_heap__fast_path_as_requested)
{
	ck_assert_ptr_nonnull(GetProcessHeap());        /* initializes the library */
	if (fence_run())
		ck_assert_msg(!mt_os.has_membarrier, "MEMAPI_DISABLE=membarrier: membarrier still used");
}
END_TEST

static Suite *make_heap_model_suite(void)
{
	Suite *s = suite_create(fence_run() ? "heap model (fence path)" : "heap model (default path)");
	TCase *tc;

	pattern_init();
	tc = tcase_create("model");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_heap__fast_path_as_requested);
	tcase_add_loop_test(tc, test_heap_model__random_sequence, 0, KINDS * nseeds());
	tcase_add_loop_test(tc, test_HeapValidate__block_freed_after_its_neighbour, 0, KINDS);
	suite_add_tcase(s, tc);

	tc = tcase_create("stress");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_heap_stress__process_heap);
	tcase_add_test(tc, test_heap_stress__growable_heap);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	int rc = tl_run(make_heap_model_suite());

	(void)argc;
	if (fence_run())
		return tl_rerun_status(rc);
	return tl_rerun(argv, "MEMAPI_DISABLE", "membarrier", rc);
}
