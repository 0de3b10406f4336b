/* The heap backend: segments (reservations committed from the bottom up),
 * blocks that tile each segment's committed part, size-binned free lists
 * with coalescing, and large blocks in reservations of their own. Every
 * function here runs with the heap's lock held (or on a HEAP_NO_SERIALIZE
 * heap, by the caller's promise). */
#include "heap.h"

#include <string.h>

char mt_heap_tag;

#define GROW_MIN   ((size_t)64 << 10)   /* commit at least this much at a time  */
#define TRIM_AT    ((size_t)2 << 20)    /* decommit a free tail this large...   */
#define TRIM_KEEP  ((size_t)512 << 10)  /* ...down to this (no syscall churn)    */
#define SEG_MAX    ((size_t)64 << 20)   /* growth of segment reservations stops */

/* ---- blocks ---- */

static inline uint8_t *blk_next(const uint8_t *hdr, const struct mt_bh *b)
{
	return (uint8_t *)hdr + (size_t)b->size * MT_UNIT;
}


static struct mt_seg *seg_of(struct mt_heap *h, const uint8_t *hdr)
{
	for (struct mt_seg *s = &h->seg0; s; s = (struct mt_seg *)s->rec.next)
		if ((uintptr_t)hdr >= s->rec.first_block && hdr < mt_seg_end(s))
			return s;
	return NULL;
}

static void put(struct mt_heap *h, uint8_t *hdr, uint32_t size, uint32_t prev, uint32_t flags)
{
	struct mt_bh b = { .size = size, .prev = prev, .flags = flags };

	mt_bh_put(h, hdr, &b);
}

/* Sets the previous-size field of the block after hdr, if there is one. */
static void fix_next_prev(struct mt_heap *h, struct mt_seg *s, uint8_t *hdr, uint32_t size)
{
	uint8_t *n = hdr + (size_t)size * MT_UNIT;
	struct mt_bh b;

	if (n >= mt_seg_end(s))
		return;
	if (!mt_bh_get(h, n, &b)) {
		mt_heap_corrupt(h, mt_data(n), "block header overwritten");
		return;
	}
	b.prev = size;
	mt_bh_put(h, n, &b);
}

/* ---- free lists ---- */

static unsigned bin_of(size_t units)
{
	unsigned l;

	if (units < 64)
		return (unsigned)units;
	l = 63u - (unsigned)__builtin_clzll(units);
	return 64u + (l - 6u) * 4u + (unsigned)((units >> (l - 2u)) & 3u);
}

/* Links of a free block: next and previous headers, encoded like slots. */
static uint8_t *link_next(struct mt_heap *h, uint8_t *hdr)
{
	return mt_link_get(h, mt_data(hdr));
}

static uint8_t *link_prev(struct mt_heap *h, uint8_t *hdr)
{
	return mt_link_get(h, mt_data(hdr) + 8);
}

static void set_next(struct mt_heap *h, uint8_t *hdr, uint8_t *v)
{
	mt_link_put(h, mt_data(hdr), v);
}

static void set_prev(struct mt_heap *h, uint8_t *hdr, uint8_t *v)
{
	mt_link_put(h, mt_data(hdr) + 8, v);
}

static void free_insert(struct mt_heap *h, uint8_t *hdr, uint32_t units)
{
	unsigned i = bin_of(units);
	uint8_t *head = h->bins[i];

	set_next(h, hdr, head);
	set_prev(h, hdr, NULL);
	if (head)
		set_prev(h, head, hdr);
	h->bins[i] = hdr;
	h->binmap[i / 64] |= UINT64_C(1) << (i % 64);
}

/* Unlinks a free block; false (and a corruption report) when its
 * neighbours do not point back at it. */
static bool free_remove(struct mt_heap *h, uint8_t *hdr, uint32_t units)
{
	unsigned i = bin_of(units);
	uint8_t *n = link_next(h, hdr), *p = link_prev(h, hdr);

	if ((p ? link_next(h, p) : h->bins[i]) != hdr || (n && link_prev(h, n) != hdr)) {
		mt_heap_corrupt(h, mt_data(hdr), "free list link overwritten");
		return false;
	}
	if (p)
		set_next(h, p, n);
	else if (!(h->bins[i] = n))
		h->binmap[i / 64] &= ~(UINT64_C(1) << (i % 64));
	if (n)
		set_prev(h, n, p);
	return true;
}

/* A free block of at least units, or NULL. */
static uint8_t *find_free(struct mt_heap *h, size_t units)
{
	unsigned i = bin_of(units);
	struct mt_bh b;

	/* The first bin holds sizes on both sides of units: first fit. */
	for (uint8_t *f = h->bins[i]; f; f = link_next(h, f))
		if (mt_bh_get(h, f, &b) && b.size >= units)
			return f;
	for (i++; i < MT_BINS; i++) {
		uint64_t m = h->binmap[i / 64] >> (i % 64);

		if (!m) {
			i |= 63;
			continue;
		}
		i += (unsigned)__builtin_ctzll(m);
		return h->bins[i];
	}
	return NULL;
}

/* ---- segments and commit ---- */

static DWORD commit(struct mt_heap *h, uintptr_t at, size_t bytes)
{
	void *p;

	return mt_vm_alloc_owned(&mt_heap_tag, MEMAPI_OWNER_HEAP, (void *)at, bytes, MEM_COMMIT,
	                         mt_heap_protect(h), &p);
}

static void seg_init(struct mt_seg *s, struct mt_heap *h, uintptr_t base, size_t reserve,
                     size_t committed, size_t header)
{
	s->rec.magic = MEMAPI_SEG_MAGIC;
	s->rec.base = base;
	s->rec.reserved = reserve;
	s->rec.committed = committed;
	s->rec.first_block = (base + header + MT_UNIT - 1) & ~(uintptr_t)(MT_UNIT - 1);
	s->heap = h;
	s->last = (uint8_t *)(uintptr_t)s->rec.first_block;
	put(h, s->last, (uint32_t)((base + committed - s->rec.first_block) / MT_UNIT), 0, 0);
	free_insert(h, s->last, (uint32_t)((base + committed - s->rec.first_block) / MT_UNIT));
}

DWORD mt_seg_first(size_t reserve, size_t commit_bytes, DWORD protect, void **out)
{
	void *base, *p;
	DWORD err;

	err = mt_vm_alloc_owned(&mt_heap_tag, MEMAPI_OWNER_HEAP, NULL, reserve, MEM_RESERVE,
	                        protect, &base);
	if (err)
		return err;
	err = mt_vm_alloc_owned(&mt_heap_tag, MEMAPI_OWNER_HEAP, base, commit_bytes, MEM_COMMIT,
	                        protect, &p);
	if (err) {
		mt_vm_free_owned(&mt_heap_tag, base, 0, MEM_RELEASE);
		return err;
	}
	*out = base;
	return 0;
}

DWORD mt_backend_init(struct mt_heap *h, size_t reserve, size_t commit_bytes)
{
	seg_init(&h->seg0, h, (uintptr_t)h, reserve, commit_bytes, sizeof *h);
	h->rec.segments = &h->seg0.rec;
	h->seg_last = &h->seg0;
	h->next_reserve = reserve * 2 < SEG_MAX ? reserve * 2 : SEG_MAX;
	return 0;
}

/* Appends [end, end + bytes) (just committed) to the segment's last block.
 * The headers change first and committed last, so that a reader never
 * finds the committed end past the blocks. */
static void extend(struct mt_heap *h, struct mt_seg *s, size_t bytes)
{
	uint8_t *last = s->last, *end = mt_seg_end(s);
	struct mt_bh b;

	if (!mt_bh_get(h, last, &b)) {
		mt_heap_corrupt(h, mt_data(last), "block header overwritten");
		b = (struct mt_bh){ .flags = MT_B_BUSY };   /* leave it: start a new block */
	}
	if (!(b.flags & MT_B_BUSY) && free_remove(h, last, b.size)) {
		b.size += (uint32_t)(bytes / MT_UNIT);
		mt_bh_put(h, last, &b);
		free_insert(h, last, b.size);
	} else {
		put(h, end, (uint32_t)(bytes / MT_UNIT), b.size, 0);
		free_insert(h, end, (uint32_t)(bytes / MT_UNIT));
		s->last = end;
	}
	atomic_thread_fence(memory_order_release);
	s->rec.committed += bytes;
}

/* Bytes the segment must commit at its end to hold units. */
static size_t need_in(struct mt_heap *h, struct mt_seg *s, size_t units)
{
	struct mt_bh b;
	size_t have = 0;

	if (mt_bh_get(h, s->last, &b) && !(b.flags & MT_B_BUSY))
		have = (size_t)b.size * MT_UNIT;
	return units * MT_UNIT > have ? units * MT_UNIT - have : 0;
}

static DWORD grow_segment(struct mt_heap *h, struct mt_seg *s, size_t need)
{
	size_t room = s->rec.reserved - s->rec.committed, bytes = mt_page_up(need);
	DWORD err;

	if (bytes > room)
		return ERROR_NOT_ENOUGH_MEMORY;
	if (bytes < GROW_MIN)
		bytes = GROW_MIN < room ? GROW_MIN : room;
	if ((err = commit(h, s->rec.base + s->rec.committed, bytes)))
		return err;
	extend(h, s, bytes);
	return 0;
}

static DWORD new_segment(struct mt_heap *h, size_t units)
{
	size_t hdr = sizeof(struct mt_seg) + MT_UNIT;
	size_t want = mt_gran_up(units * MT_UNIT + hdr);
	size_t reserve = want > h->next_reserve ? want : h->next_reserve;
	size_t first = mt_page_up(units * MT_UNIT + hdr);
	struct mt_seg *s;
	void *base;
	DWORD err;

	if (first < GROW_MIN)
		first = GROW_MIN;
	if ((err = mt_seg_first(reserve, first, mt_heap_protect(h), &base)))
		return err;
	s = base;
	mt_gen_begin(h);
	seg_init(s, h, (uintptr_t)base, reserve, first, sizeof *s);
	h->seg_last->rec.next = &s->rec;
	h->seg_last = s;
	mt_gen_end(h);
	if (h->next_reserve < SEG_MAX)
		h->next_reserve *= 2;
	return 0;
}

static DWORD grow(struct mt_heap *h, size_t units)
{
	for (struct mt_seg *s = &h->seg0; s; s = (struct mt_seg *)s->rec.next)
		if (!grow_segment(h, s, need_in(h, s, units)))
			return 0;
	if (h->rec.maximum_size)
		return ERROR_NOT_ENOUGH_MEMORY;
	return new_segment(h, units);
}

/* ---- allocation ---- */

/* Makes the free block at hdr busy with units, splitting off the rest. */
static void take(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b, size_t units)
{
	struct mt_seg *s = seg_of(h, hdr);
	uint32_t rest = b->size - (uint32_t)units;

	if (rest >= MT_MIN_FREE) {
		uint8_t *r = hdr + units * MT_UNIT;

		put(h, r, rest, (uint32_t)units, 0);
		free_insert(h, r, rest);
		fix_next_prev(h, s, r, rest);
		if (s->last == hdr)
			s->last = r;
		b->size = (uint32_t)units;
	}
	b->flags = MT_B_BUSY;
	b->unused = 0;
	mt_bh_put(h, hdr, b);
}

DWORD mt_backend_alloc(struct mt_heap *h, size_t units, uint8_t **out, struct mt_bh *bh)
{
	uint8_t *hdr;
	struct mt_bh b;
	DWORD err;

	if (units > UINT32_MAX / 2)
		return ERROR_NOT_ENOUGH_MEMORY;
	if (!(hdr = find_free(h, units))) {
		if ((err = grow(h, units)))
			return err;
		if (!(hdr = find_free(h, units)))
			return ERROR_NOT_ENOUGH_MEMORY;
	}
	if (!mt_bh_get(h, hdr, &b) || (b.flags & MT_B_BUSY))
		return mt_heap_corrupt(h, mt_data(hdr), "free block header overwritten");
	if (!free_remove(h, hdr, b.size))
		return ERROR_INVALID_PARAMETER;
	take(h, hdr, &b, units);
	*out = hdr;
	*bh = b;
	return 0;
}

/* ---- freeing ---- */

/* Gives back the pages of a large free tail: the block and committed
 * shrink first (readers never see blocks past the committed end), then
 * the pages go; if they cannot, all is put back. */
static void trim(struct mt_heap *h, struct mt_seg *s, uint8_t *hdr, struct mt_bh *b)
{
	uintptr_t keep = mt_page_up((uintptr_t)hdr + TRIM_KEEP), end = (uintptr_t)mt_seg_end(s);
	uint32_t size = b->size;

	if (s->last != hdr || (size_t)b->size * MT_UNIT < TRIM_AT || keep >= end ||
	    !free_remove(h, hdr, size))
		return;
	b->size = (uint32_t)((keep - (uintptr_t)hdr) / MT_UNIT);
	mt_bh_put(h, hdr, b);
	atomic_thread_fence(memory_order_release);
	s->rec.committed = keep - s->rec.base;
	if (mt_vm_free_owned(&mt_heap_tag, (void *)keep, end - keep, MEM_DECOMMIT)) {
		b->size = size;
		mt_bh_put(h, hdr, b);
		atomic_thread_fence(memory_order_release);
		s->rec.committed = end - s->rec.base;
	}
	free_insert(h, hdr, b->size);
}

/* A header swallowed by a merge no longer describes a block: wiped, so
 * that a stale pointer to it (a double free) does not check out. */
static void wipe(uint8_t *hdr)
{
	memset(hdr, 0, MT_HDR);
}

/* Merges the free block after hdr into it. */
static void merge_next(struct mt_heap *h, struct mt_seg *s, uint8_t *hdr, struct mt_bh *b)
{
	uint8_t *n = blk_next(hdr, b);
	struct mt_bh nb;

	if (n >= mt_seg_end(s) || !mt_bh_get(h, n, &nb) || (nb.flags & MT_B_BUSY) ||
	    !free_remove(h, n, nb.size))
		return;
	b->size += nb.size;
	if (s->last == n)
		s->last = hdr;
	wipe(n);
}

void mt_backend_free(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b)
{
	struct mt_seg *s = seg_of(h, hdr);
	struct mt_bh pb;

	b->flags = 0;
	b->unused = 0;
	merge_next(h, s, hdr, b);
	if (b->prev) {
		uint8_t *p = hdr - (size_t)b->prev * MT_UNIT;

		if (mt_bh_get(h, p, &pb) && !(pb.flags & MT_B_BUSY) && free_remove(h, p, pb.size)) {
			pb.size += b->size;
			if (s->last == hdr)
				s->last = p;
			wipe(hdr);
			hdr = p;
			*b = pb;
		}
	}
	mt_bh_put(h, hdr, b);
	fix_next_prev(h, s, hdr, b->size);
	free_insert(h, hdr, b->size);
	trim(h, s, hdr, b);
}

/* Units of the free block after hdr (0 if none); *at_end: growing the
 * segment would add to what follows hdr. */
static size_t free_after(struct mt_heap *h, struct mt_seg *s, uint8_t *hdr,
                         const struct mt_bh *b, bool *at_end)
{
	uint8_t *n = blk_next(hdr, b);
	struct mt_bh nb;

	*at_end = s->last == hdr;
	if (n >= mt_seg_end(s) || !mt_bh_get(h, n, &nb) || (nb.flags & MT_B_BUSY))
		return 0;
	*at_end = s->last == n;
	return nb.size;
}

bool mt_backend_resize(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b, size_t units)
{
	struct mt_seg *s = seg_of(h, hdr);

	if (units > b->size) {
		bool at_end;
		size_t avail = b->size + free_after(h, s, hdr, b, &at_end);

		if (avail < units && (!at_end || grow_segment(h, s, (units - avail) * MT_UNIT)))
			return false;
		merge_next(h, s, hdr, b);
		if (units > b->size) {          /* the successor did not check out */
			mt_bh_put(h, hdr, b);
			return false;
		}
	}
	if (b->size - units >= MT_MIN_FREE) {
		uint8_t *r = hdr + units * MT_UNIT;
		struct mt_bh rb = { .size = b->size - (uint32_t)units, .prev = (uint32_t)units,
		                    .flags = MT_B_BUSY };

		b->size = (uint32_t)units;
		mt_bh_put(h, hdr, b);
		mt_bh_put(h, r, &rb);
		if (s->last == hdr)
			s->last = r;
		mt_backend_free(h, r, &rb);     /* coalesces with what follows */
		return true;
	}
	mt_bh_put(h, hdr, b);
	fix_next_prev(h, s, hdr, b->size);
	return true;
}

size_t mt_backend_compact(struct mt_heap *h)
{
	size_t best = 0;
	struct mt_bh b;

	mt_large_flush(h);
	for (struct mt_seg *s = &h->seg0; s; s = (struct mt_seg *)s->rec.next)
		if (mt_bh_get(h, s->last, &b) && !(b.flags & MT_B_BUSY))
			trim(h, s, s->last, &b);
	for (unsigned i = MT_BINS; i-- > 0 && !best;)
		for (uint8_t *f = h->bins[i]; f; f = link_next(h, f))
			if (mt_bh_get(h, f, &b) && (size_t)b.size * MT_UNIT - MT_HDR > best)
				best = (size_t)b.size * MT_UNIT - MT_HDR;
	return best;
}

static void large_release(struct mt_heap *h, struct mt_large *l);

void mt_backend_release(struct mt_heap *h)
{
	struct mt_seg *s = (struct mt_seg *)h->seg0.rec.next, *n;

	while (mt_large_first(h))
		large_release(h, mt_large_first(h));
	for (; s; s = n) {
		n = (struct mt_seg *)s->rec.next;
		mt_vm_free_owned(&mt_heap_tag, s, 0, MEM_RELEASE);
	}
	mt_vm_free_owned(&mt_heap_tag, h, 0, MEM_RELEASE);
}

/* ---- large blocks ---- */

struct mt_large *mt_large_of(const void *data)
{
	return (struct mt_large *)((uint8_t *)data - MT_HDR - MT_LARGE_HDR);
}

size_t mt_large_size(const void *data)
{
	return mt_large_of(data)->rec.size;
}

/* Freed large blocks are kept (committed, on the list as free blocks) for
 * reuse, up to these limits: allocate/free loops of big buffers then cost
 * no syscalls and fault no pages in again. HeapCompact gives them back. A
 * block reserves the next power of two of what it commits (up to 64 MiB),
 * so that a kept block serves most later sizes, and so do in-place
 * reallocations. */
#define LARGE_KEEP_COUNT 4
#define LARGE_KEEP_BYTES ((size_t)128 << 20)
#define LARGE_POW2_MAX   ((size_t)64 << 20)

static void large_unlink(struct mt_heap *h, struct mt_large *l)
{
	const struct memapi_rec_heap_large **pp = &h->rec.large;

	while (*pp && *pp != &l->rec)
		pp = (const struct memapi_rec_heap_large **)&(*pp)->next;
	mt_gen_begin(h);
	if (*pp)
		*pp = l->rec.next;
	mt_gen_end(h);
}

static void large_release(struct mt_heap *h, struct mt_large *l)
{
	large_unlink(h, l);
	l->rec.magic = 0;
	mt_vm_free_owned(&mt_heap_tag, l, 0, MEM_RELEASE);
}

static void large_put(struct mt_heap *h, struct mt_large *l, uint32_t flags)
{
	put(h, (uint8_t *)l + MT_LARGE_HDR, 0, 0, MT_B_LARGE | flags);
}

/* Commits the block's reservation up to total bytes. */
static DWORD large_commit(struct mt_heap *h, struct mt_large *l, size_t total)
{
	DWORD err;

	if (total <= l->rec.committed)
		return 0;
	if (total > l->rec.reserved)
		return ERROR_NOT_ENOUGH_MEMORY;
	if ((err = commit(h, (uintptr_t)l + l->rec.committed, total - l->rec.committed)))
		return err;
	l->rec.committed = total;
	return 0;
}

/* The smallest kept free block whose reservation holds total bytes. */
static struct mt_large *large_reuse(struct mt_heap *h, size_t total)
{
	struct mt_large *best = NULL;
	struct mt_bh b;
	size_t kept;

	if (!h->large_kept)
		return NULL;
	for (struct mt_large *l = mt_large_first(h); l; l = (struct mt_large *)l->rec.next)
		if (mt_bh_get(h, (uint8_t *)l + MT_LARGE_HDR, &b) && !(b.flags & MT_B_BUSY) &&
		    l->rec.reserved >= total && (!best || l->rec.reserved < best->rec.reserved))
			best = l;
	if (!best)
		return NULL;
	kept = best->rec.committed;
	if (large_commit(h, best, total))
		return NULL;
	h->large_kept--;
	h->large_kept_bytes -= kept;
	return best;
}

static size_t large_reserve(size_t total)
{
	size_t r = mt_gran_up(total);

	if (r > LARGE_POW2_MAX)
		return r;
	return (size_t)1 << (64 - __builtin_clzll(r - 1));
}

static DWORD large_new(struct mt_heap *h, size_t total, struct mt_large **out)
{
	size_t reserve = large_reserve(total);
	struct mt_large *l;
	void *base;
	DWORD err;

	err = mt_vm_alloc_owned(&mt_heap_tag, MEMAPI_OWNER_HEAP, NULL, reserve, MEM_RESERVE,
	                        mt_heap_protect(h), &base);
	if (err)
		return err;
	if ((err = commit(h, (uintptr_t)base, total))) {
		mt_vm_free_owned(&mt_heap_tag, base, 0, MEM_RELEASE);
		return err;
	}
	l = base;
	l->rec.magic = MEMAPI_LARGE_MAGIC;
	l->rec.reserved = reserve;
	l->rec.committed = total;
	l->rec.heap = (uintptr_t)h;
	large_put(h, l, 0);
	mt_gen_begin(h);
	l->rec.next = h->rec.large;
	h->rec.large = &l->rec;
	mt_gen_end(h);
	*out = l;
	return 0;
}

DWORD mt_large_alloc(struct mt_heap *h, size_t n, uint32_t flags, void **out, bool *fresh)
{
	size_t total = mt_page_up(n + MT_LARGE_HDR + MT_HDR);
	struct mt_large *l;
	DWORD err;

	if (n > mt_os.max_address || total < n)
		return ERROR_NOT_ENOUGH_MEMORY;
	*fresh = !(l = large_reuse(h, total));
	if (!l && (err = large_new(h, total, &l)))
		return err;
	l->rec.size = n;
	large_put(h, l, MT_B_BUSY | flags);
	*out = (uint8_t *)l + MT_LARGE_HDR + MT_HDR;
	return 0;
}

void mt_large_free(struct mt_heap *h, void *data)
{
	struct mt_large *l = mt_large_of(data);

	if (h->large_kept < LARGE_KEEP_COUNT &&
	    h->large_kept_bytes + l->rec.committed <= LARGE_KEEP_BYTES) {
		l->rec.size = 0;
		large_put(h, l, 0);
		h->large_kept++;
		h->large_kept_bytes += l->rec.committed;
		return;
	}
	large_release(h, l);
}

void mt_large_flush(struct mt_heap *h)
{
	struct mt_large *l = mt_large_first(h), *n;
	struct mt_bh b;

	for (; l; l = n) {
		n = (struct mt_large *)l->rec.next;
		if (mt_bh_get(h, (uint8_t *)l + MT_LARGE_HDR, &b) && !(b.flags & MT_B_BUSY))
			large_release(h, l);
	}
	h->large_kept = 0;
	h->large_kept_bytes = 0;
}

bool mt_large_resize(struct mt_heap *h, void *data, size_t n)
{
	struct mt_large *l = mt_large_of(data);

	if (n > l->rec.reserved - MT_LARGE_HDR - MT_HDR ||
	    large_commit(h, l, mt_page_up(n + MT_LARGE_HDR + MT_HDR)))
		return false;
	l->rec.size = n;
	return true;
}
