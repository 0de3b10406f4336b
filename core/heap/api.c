/* HeapAlloc, HeapReAlloc, HeapFree, HeapSize and HeapValidate: each
 * request goes to the front end (small), the backend, or a large block. */
#include "fast.h"

#include <string.h>

/* Windows' limit for one block: a request above it fails at once. */
#define MAX_REQUEST ((size_t)1 << 46)

/* Is [hdr, p) inside committed memory of one of h's segments or large
 * blocks? (Heap lock held.) */
static bool in_heap(struct mt_heap *h, const uint8_t *p)
{
	const uint8_t *hdr = p - MT_HDR;

	for (const struct memapi_rec_heap_segment *s = h->rec.segments; s; s = s->next)
		if ((uintptr_t)hdr >= s->first_block && (uintptr_t)p <= s->base + s->committed - MT_HDR)
			return true;
	for (const struct memapi_rec_heap_large *l = h->rec.large; l; l = l->next)
		if ((uintptr_t)p == (uintptr_t)l + MT_LARGE_HDR + MT_HDR)
			return true;
	return false;
}

/* A large block's data sits 64 bytes into a 64 KiB aligned reservation
 * that is gone once the block is freed: such an address is looked up
 * before its header is read (a double free must not fault). */
static inline bool maybe_large(const void *p)
{
	return ((uintptr_t)p & (mt_os.granularity - 1)) == MT_LARGE_HDR + MT_HDR;
}

static bool known(struct mt_heap *h, const void *p)
{
	bool ok;

	mt_heap_enter(h);
	ok = in_heap(h, p);
	mt_heap_leave(h);
	return ok;
}

/* Reads a block's header. A slot's header changes only under its owner,
 * so it can be read without the lock; a backend block's header changes
 * when a neighbour is split or merged, so a read that does not check out
 * is repeated under the lock before it counts as corruption. */
static inline DWORD header(struct mt_heap *h, const void *p, struct mt_bh *b)
{
	bool ok;

	if (mt_unlikely(((uintptr_t)p & (MT_UNIT - 1)) || (uintptr_t)p < mt_os.page_size))
		return mt_heap_corrupt(h, p, "not a block address");
	if (mt_unlikely(maybe_large(p)) && !known(h, p))
		return mt_heap_corrupt(h, p, "not a block of this heap (a freed large block?)");
	ok = mt_bh_get(h, mt_hdr(p), b);
	if (mt_likely(ok && (b->flags & MT_B_BUSY)))
		return 0;
	if (!ok && !(h->flags & HEAP_NO_SERIALIZE)) {
		mt_heap_enter(h);
		ok = mt_bh_get(h, mt_hdr(p), b);
		mt_heap_leave(h);
	}
	if (!ok)
		return mt_heap_corrupt(h, p, "block header does not check out (overrun, or not from this heap)");
	if (!(b->flags & MT_B_BUSY))
		return mt_heap_corrupt(h, p, "block is free (double free?)");
	return 0;
}

static size_t units_for(size_t n)
{
	size_t u = (n + MT_HDR + MT_UNIT - 1) / MT_UNIT;

	return u < MT_MIN_FREE ? MT_MIN_FREE : u;
}

static void *backend_alloc(struct mt_heap *h, size_t n, uint32_t bflags, DWORD *err)
{
	struct mt_bh b;
	uint8_t *hdr;

	mt_heap_enter(h);
	*err = mt_backend_alloc(h, units_for(n), &hdr, &b);
	if (!*err) {
		b.flags = MT_B_BUSY | bflags;
		b.unused = (uint32_t)((size_t)b.size * MT_UNIT - MT_HDR - n);
		mt_bh_put(h, hdr, &b);
	}
	mt_heap_leave(h);
	return *err ? NULL : mt_data(hdr);
}

static bool is_large(const struct mt_heap *h, size_t n)
{
	return n >= MT_LARGE_MIN && !h->rec.maximum_size;
}

static __attribute__((noinline)) void *large_alloc(struct mt_heap *h, DWORD flags, size_t n,
                                                    uint32_t bflags, DWORD *err)
{
	bool fresh = true;
	void *p = NULL;

	mt_heap_enter(h);
	*err = mt_large_alloc(h, n, bflags, &p, &fresh);
	mt_heap_leave(h);
	if (p && !fresh && (flags & HEAP_ZERO_MEMORY))
		memset(p, 0, n);                /* fresh pages are zero already */
	return p;
}

static inline __attribute__((always_inline)) void *heap_alloc(struct mt_heap *h, DWORD flags, size_t n, uint32_t bflags,
                               DWORD *err)
{
	void *p = NULL;

	if (mt_likely(n <= MT_SMALL_MAX && h->front != MT_FRONT_NONE)) {
		if (!(p = mt_front_alloc_fast(h, n, bflags)))
			p = mt_front_alloc(h, n, bflags, err);
	} else if (n > MAX_REQUEST) {
		*err = ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	} else if (is_large(h, n)) {
		return large_alloc(h, flags, n, bflags, err);
	} else {
		p = backend_alloc(h, n, bflags, err);
	}
	if (p && (flags & HEAP_ZERO_MEMORY))
		memset(p, 0, n);
	return p;
}

void *mt_heap_alloc(struct mt_heap *h, DWORD flags, size_t n, uint32_t bflags, DWORD *err)
{
	return heap_alloc(h, flags, n, bflags, err);
}

/* A failed allocation: an exception for heaps or calls that ask for one
 * (STATUS_NO_MEMORY, or STATUS_ACCESS_VIOLATION when HeapReAlloc was given
 * a bad block); a vectored handler may continue: NULL is returned then. */
static void *failed(struct mt_heap *h, DWORD flags, size_t n, DWORD err)
{
	if ((flags | h->flags) & HEAP_GENERATE_EXCEPTIONS) {
		ULONG_PTR arg = n;

		/* Windows: no memory, or an access violation for a bad block. */
		RaiseException(err == ERROR_INVALID_PARAMETER ? STATUS_ACCESS_VIOLATION
		                                              : STATUS_NO_MEMORY, 0, 1, &arg);
	}
	return mt_fail_null(err ? err : ERROR_NOT_ENOUGH_MEMORY);
}

LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes)
{
	struct mt_heap *h = mt_heap_from(hHeap);
	DWORD err = 0;
	void *p;

	if (mt_unlikely(!h))
		return mt_fail_null(ERROR_INVALID_HANDLE);
	p = heap_alloc(h, dwFlags, dwBytes, 0, &err);
	return mt_likely(p) ? p : failed(h, dwFlags, dwBytes, err);
}

static inline DWORD free_block(struct mt_heap *h, void *p, struct mt_bh *b)
{
	struct mt_large *l;

	if (mt_likely(b->flags & MT_B_SLOT))
		return mt_front_free_fast(h, mt_hdr(p), b) ? 0 : mt_front_free(h, mt_hdr(p), b);
	mt_heap_enter(h);
	if (b->flags & MT_B_LARGE) {
		l = mt_large_of(p);
		if (l->rec.magic != MEMAPI_LARGE_MAGIC || l->rec.heap != (uintptr_t)h) {
			mt_heap_leave(h);
			return mt_heap_corrupt(h, p, "large block record overwritten");
		}
		mt_large_free(h, p);
	} else if (b->flags & MT_B_SUBSEG) {
		mt_heap_leave(h);
		return mt_heap_corrupt(h, p, "not a block address (inside the heap's metadata)");
	} else {
		/* Read again under the lock: a neighbour may have changed it. */
		if (!mt_bh_get(h, mt_hdr(p), b)) {
			mt_heap_leave(h);
			return mt_heap_corrupt(h, p, "block header overwritten");
		}
		mt_backend_free(h, mt_hdr(p), b);
	}
	mt_heap_leave(h);
	return 0;
}

DWORD mt_heap_free(struct mt_heap *h, void *p)
{
	struct mt_bh b = { 0 };
	DWORD err = header(h, p, &b);

	return err ? err : free_block(h, p, &b);
}

static __attribute__((noinline)) BOOL free_slow(struct mt_heap *h, void *p)
{
	DWORD err = mt_heap_free(h, p);

	return err ? mt_fail(err) : TRUE;
}

BOOL WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem)
{
	struct mt_heap *h = mt_heap_from(hHeap);
	struct mt_bh b;

	if (mt_unlikely(!h))
		return mt_fail(ERROR_INVALID_HANDLE);
	if (!lpMem)
		return TRUE;
	/* The common case inline: a busy slot freed by the fast path. */
	if (mt_likely(!((uintptr_t)lpMem & (MT_UNIT - 1)) && (uintptr_t)lpMem >= mt_os.page_size &&
	              !maybe_large(lpMem) && mt_bh_get(h, mt_hdr(lpMem), &b) &&
	              (b.flags & (MT_B_BUSY | MT_B_SLOT)) == (MT_B_BUSY | MT_B_SLOT) &&
	              mt_front_free_fast(h, mt_hdr(lpMem), &b)))
		return TRUE;
	return free_slow(h, lpMem);
}

static size_t block_size(const void *p, const struct mt_bh *b)
{
	return b->flags & MT_B_LARGE ? mt_large_size(p) : mt_bh_request(b);
}

size_t mt_heap_size(struct mt_heap *h, const void *p, DWORD *err)
{
	struct mt_bh b = { 0 };

	if ((*err = header(h, p, &b)))
		return (size_t)-1;
	return block_size(p, &b);
}

SIZE_T WINAPI HeapSize(HANDLE hHeap, DWORD dwFlags, LPCVOID lpMem)
{
	struct mt_heap *h = mt_heap_from(hHeap);
	DWORD err;

	/* Windows leaves the last error alone here. */
	if (!h || !lpMem)
		return (SIZE_T)-1;
	return mt_heap_size(h, lpMem, &err);
}

uint32_t mt_heap_block_flags(struct mt_heap *h, const void *p, DWORD *err)
{
	struct mt_bh b = { 0 };

	return (*err = header(h, p, &b)) ? 0 : b.flags;
}

/* ---- reallocation ---- */

/* Resizes in place if the block allows it; true when done. */
static bool resize_in_place(struct mt_heap *h, void *p, struct mt_bh *b, size_t n, bool must)
{
	bool done;

	if (b->flags & MT_B_SLOT) {
		/* Keep a slot only if the request still fits its class well. */
		if (n > MT_SMALL_MAX || (!must && mt_class_of(n) + 4 < (b->prev >> 24)))
			return false;
		return mt_front_resize(h, mt_hdr(p), b, n);
	}
	mt_heap_enter(h);
	if (b->flags & MT_B_LARGE) {
		done = (must || is_large(h, n)) && mt_large_resize(h, p, n);
	} else if (!mt_bh_get(h, mt_hdr(p), b)) {
		done = false;
	} else if ((done = (must || !is_large(h, n)) && n <= MAX_REQUEST &&
	                   mt_backend_resize(h, mt_hdr(p), b, units_for(n)))) {
		b->unused = (uint32_t)((size_t)b->size * MT_UNIT - MT_HDR - n);
		mt_bh_put(h, mt_hdr(p), b);
	}
	mt_heap_leave(h);
	return done;
}

void *mt_heap_realloc(struct mt_heap *h, DWORD flags, void *p, size_t n, DWORD *err)
{
	struct mt_bh b = { 0 };
	size_t old;
	void *q;

	if ((*err = header(h, p, &b)))
		return NULL;
	old = block_size(p, &b);
	if (resize_in_place(h, p, &b, n, flags & HEAP_REALLOC_IN_PLACE_ONLY)) {
		q = p;
	} else if (flags & HEAP_REALLOC_IN_PLACE_ONLY) {
		*err = ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	} else {
		q = mt_heap_alloc(h, flags & ~(DWORD)HEAP_ZERO_MEMORY, n,
		                  b.flags & (MT_B_MOVEABLE | MT_B_INTERNAL), err);
		if (!q)
			return NULL;
		memcpy(q, p, old < n ? old : n);
		free_block(h, p, &b);
	}
	if ((flags & HEAP_ZERO_MEMORY) && n > old)
		memset((uint8_t *)q + old, 0, n - old);
	return q;
}

LPVOID WINAPI HeapReAlloc(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem, SIZE_T dwBytes)
{
	struct mt_heap *h = mt_heap_from(hHeap);
	DWORD err = 0;
	void *q;

	if (!h)
		return mt_fail_null(ERROR_INVALID_HANDLE);
	if (!lpMem)
		return mt_fail_null(NO_ERROR);     /* as Windows: NULL, no error */
	if (dwBytes > MAX_REQUEST)
		return failed(h, dwFlags, dwBytes, ERROR_NOT_ENOUGH_MEMORY);
	q = mt_heap_realloc(h, dwFlags, lpMem, dwBytes, &err);
	return q ? q : failed(h, dwFlags, dwBytes, err);
}

/* ---- validation of one block ---- */

bool mt_heap_owns(struct mt_heap *h, const void *p)
{
	struct mt_bh b;
	bool ok;

	if ((uintptr_t)p & (MT_UNIT - 1))
		return false;
	mt_heap_enter(h);
	ok = in_heap(h, p) && mt_bh_get(h, mt_hdr(p), &b) && (b.flags & MT_B_BUSY) &&
	     !(b.flags & MT_B_SUBSEG) &&
	     (!(b.flags & MT_B_SLOT) || mt_subseg_of(h, mt_hdr(p), &b));
	mt_heap_leave(h);
	return ok;
}

BOOL WINAPI HeapValidate(HANDLE hHeap, DWORD dwFlags, LPCVOID lpMem)
{
	struct mt_heap *h = mt_heap_from(hHeap);

	/* Windows never sets the last error here. */
	if (!h)
		return FALSE;
	if (!lpMem)
		return mt_heap_validate_all(h);
	return mt_heap_owns(h, lpMem);
}
