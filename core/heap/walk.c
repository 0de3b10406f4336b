/* HeapWalk, whole-heap validation, HeapCompact and HeapSummary. Each runs
 * with the heap frozen: no thread changes a block meanwhile. */
#include "fast.h"

/* Where a walk stands, kept in the entry's Block.dwReserved between calls
 * (Windows asks callers to pass the entry back unchanged). */
enum cursor_kind { AT_BLOCK = 1, AT_SLOT, AT_TAIL, AT_LARGE };

#define LARGE_REGION 64           /* iRegionIndex of large blocks, as Windows */

static struct mt_seg *seg_at(struct mt_heap *h, unsigned i)
{
	struct mt_seg *s = &h->seg0;

	while (s && i--)
		s = (struct mt_seg *)s->rec.next;
	return s;
}


static void set_cursor(PROCESS_HEAP_ENTRY *e, const void *at, enum cursor_kind k)
{
	e->Block.hMem = NULL;
	e->Block.dwReserved[0] = (DWORD)(uintptr_t)at;
	e->Block.dwReserved[1] = (DWORD)((uintptr_t)at >> 32);
	e->Block.dwReserved[2] = k;
}

static uint8_t *cursor(const PROCESS_HEAP_ENTRY *e)
{
	return (uint8_t *)((uintptr_t)e->Block.dwReserved[0] |
	                   (uintptr_t)e->Block.dwReserved[1] << 32);
}

static BYTE overhead(size_t n)
{
	return (BYTE)(n > 255 ? 255 : n);
}

/* ---- entries ---- */

static DWORD region_entry(struct mt_heap *h, unsigned i, PROCESS_HEAP_ENTRY *e)
{
	struct mt_seg *s = seg_at(h, i);

	if (!s)
		return ERROR_NO_MORE_ITEMS;
	e->lpData = (void *)(uintptr_t)s->rec.base;
	e->cbData = (DWORD)(s->rec.first_block - s->rec.base);
	e->cbOverhead = 0;
	e->iRegionIndex = (BYTE)i;
	e->wFlags = PROCESS_HEAP_REGION;
	e->Region.dwCommittedSize = (DWORD)s->rec.committed;
	e->Region.dwUnCommittedSize = (DWORD)(s->rec.reserved - s->rec.committed);
	e->Region.lpFirstBlock = (void *)(uintptr_t)(s->rec.first_block + MT_HDR);
	e->Region.lpLastBlock = (void *)(uintptr_t)(s->rec.base + s->rec.reserved);
	return 0;
}

static DWORD large_entry(struct mt_heap *h, struct mt_large *l, PROCESS_HEAP_ENTRY *e)
{
	struct mt_bh b = { 0 };
	uint8_t *data;

	if (!l)
		return ERROR_NO_MORE_ITEMS;
	data = (uint8_t *)l + MT_LARGE_HDR + MT_HDR;
	mt_bh_get(h, mt_hdr(data), &b);
	e->lpData = data;
	e->iRegionIndex = LARGE_REGION;
	set_cursor(e, l, AT_LARGE);
	if (!(b.flags & MT_B_BUSY)) {           /* kept for reuse: free */
		e->cbData = (DWORD)(l->rec.committed - MT_LARGE_HDR - MT_HDR);
		e->cbOverhead = MT_LARGE_HDR + MT_HDR;
		e->wFlags = 0;
		return 0;
	}
	e->cbData = (DWORD)l->rec.size;
	e->cbOverhead = MT_LARGE_HDR + MT_HDR;
	e->wFlags = PROCESS_HEAP_ENTRY_BUSY;
	if (b.flags & MT_B_MOVEABLE) {
		e->wFlags |= PROCESS_HEAP_ENTRY_MOVEABLE;
		e->Block.hMem = *(HANDLE *)data;
	}
	return 0;
}

/* What follows segment i: the next region, then the large blocks. */
static DWORD after_segment(struct mt_heap *h, unsigned i, PROCESS_HEAP_ENTRY *e)
{
	DWORD err = region_entry(h, i + 1, e);

	return err == ERROR_NO_MORE_ITEMS ? large_entry(h, mt_large_first(h), e) : err;
}

static DWORD uncommitted_entry(struct mt_heap *h, unsigned i, PROCESS_HEAP_ENTRY *e)
{
	struct mt_seg *s = seg_at(h, i);

	if (s->rec.committed == s->rec.reserved)
		return after_segment(h, i, e);
	e->lpData = mt_seg_end(s);
	e->cbData = (DWORD)(s->rec.reserved - s->rec.committed);
	e->cbOverhead = 0;
	e->iRegionIndex = (BYTE)i;
	e->wFlags = PROCESS_HEAP_UNCOMMITTED_RANGE;
	return 0;
}

/* An entry for a busy or free block or slot with header b at hdr. */
static void block_fill(PROCESS_HEAP_ENTRY *e, uint8_t *hdr, const struct mt_bh *b,
                       size_t bytes, unsigned region)
{
	size_t n = b->flags & MT_B_BUSY ? mt_bh_request(b) : bytes - MT_HDR;

	e->lpData = mt_data(hdr);
	e->cbData = (DWORD)n;
	e->cbOverhead = overhead(bytes - n);
	e->iRegionIndex = (BYTE)region;
	e->wFlags = b->flags & MT_B_BUSY ? PROCESS_HEAP_ENTRY_BUSY : 0;
}

static DWORD slot_entry(struct mt_heap *h, struct mt_subseg *ss, uint32_t i, unsigned region,
                        PROCESS_HEAP_ENTRY *e)
{
	uint8_t *hdr = (uint8_t *)(uintptr_t)ss->rec.first_slot + (size_t)i * ss->rec.stride;
	struct mt_bh b;

	if (i == ss->rec.used) {         /* the never used rest: one free entry */
		b = (struct mt_bh){ .flags = 0 };
		block_fill(e, hdr, &b, (size_t)(ss->rec.count - i) * ss->rec.stride, region);
		set_cursor(e, ss, AT_TAIL);
		return 0;
	}
	if (!mt_bh_get(h, hdr, &b))
		return ERROR_INVALID_PARAMETER;
	block_fill(e, hdr, &b, ss->rec.stride, region);
	set_cursor(e, ss, AT_SLOT);
	if (b.flags & MT_B_MOVEABLE) {
		e->wFlags |= PROCESS_HEAP_ENTRY_MOVEABLE;
		e->Block.hMem = *(HANDLE *)mt_data(hdr);
	}
	return 0;
}

/* The entry for the block at hdr of segment i (or what follows it). */
static DWORD block_entry(struct mt_heap *h, unsigned i, uint8_t *hdr, PROCESS_HEAP_ENTRY *e)
{
	struct mt_seg *s = seg_at(h, i);
	struct mt_bh b;

	if (!s)
		return ERROR_INVALID_PARAMETER;
	if (hdr >= mt_seg_end(s))
		return uncommitted_entry(h, i, e);
	if (!mt_bh_get(h, hdr, &b))
		return ERROR_INVALID_PARAMETER;
	if (b.flags & MT_B_SUBSEG)
		return slot_entry(h, mt_data(hdr), 0, i, e);
	block_fill(e, hdr, &b, (size_t)b.size * MT_UNIT, i);
	set_cursor(e, hdr, AT_BLOCK);
	if (b.flags & MT_B_MOVEABLE) {
		e->wFlags |= PROCESS_HEAP_ENTRY_MOVEABLE;
		e->Block.hMem = *(HANDLE *)mt_data(hdr);
	}
	return 0;
}

static uint8_t *block_after(struct mt_heap *h, uint8_t *hdr)
{
	struct mt_bh b;

	return mt_bh_get(h, hdr, &b) ? hdr + (size_t)b.size * MT_UNIT : NULL;
}

static DWORD walk_next(struct mt_heap *h, PROCESS_HEAP_ENTRY *e)
{
	unsigned i = e->iRegionIndex;
	struct mt_subseg *ss;
	uint8_t *next;

	if (!e->lpData)
		return region_entry(h, 0, e);
	if (e->wFlags & PROCESS_HEAP_REGION)
		return block_entry(h, i, (uint8_t *)e->Region.lpFirstBlock - MT_HDR, e);
	if (e->wFlags & PROCESS_HEAP_UNCOMMITTED_RANGE)
		return after_segment(h, i, e);
	switch (e->Block.dwReserved[2]) {
	case AT_LARGE:
		return large_entry(h, (struct mt_large *)((struct mt_large *)cursor(e))->rec.next, e);
	case AT_SLOT:
		ss = (struct mt_subseg *)cursor(e);
		if (ss->rec.magic != MEMAPI_SUBSEG_MAGIC)
			return ERROR_INVALID_PARAMETER;
		if (mt_hdr(e->lpData) + ss->rec.stride < (uint8_t *)(uintptr_t)ss->rec.first_slot +
		    (size_t)ss->rec.count * ss->rec.stride)
			return slot_entry(h, ss,
			                  (uint32_t)((mt_hdr(e->lpData) - (uint8_t *)(uintptr_t)ss->rec.first_slot) /
			                             ss->rec.stride) + 1, i, e);
		/* fall through: the subsegment is done */
		__attribute__((fallthrough));
	case AT_TAIL:
		ss = (struct mt_subseg *)cursor(e);
		next = block_after(h, mt_hdr(ss));
		break;
	case AT_BLOCK:
		next = block_after(h, cursor(e));
		break;
	default:
		return ERROR_INVALID_PARAMETER;
	}
	return next ? block_entry(h, i, next, e) : ERROR_INVALID_PARAMETER;
}

BOOL WINAPI HeapWalk(HANDLE hHeap, LPPROCESS_HEAP_ENTRY lpEntry)
{
	struct mt_heap *h = mt_heap_from(hHeap);
	DWORD err;

	if (!h)
		return mt_fail(ERROR_INVALID_HANDLE);
	if (!lpEntry)
		return mt_fail(ERROR_NOACCESS);
	mt_heap_freeze(h);
	err = walk_next(h, lpEntry);
	mt_heap_thaw(h);
	return err ? mt_fail(err) : TRUE;
}

/* ---- validation ---- */

static bool subseg_ok(struct mt_heap *h, struct mt_subseg *ss)
{
	if (ss->rec.magic != MEMAPI_SUBSEG_MAGIC || ss->rec.heap != (uintptr_t)h ||
	    ss->rec.size_class >= MT_NCLASS ||
	    ss->rec.stride != mt_class_stride(ss->rec.size_class) ||
	    ss->rec.used > ss->rec.count ||
	    ss->rec.first_slot != (uintptr_t)ss + MT_SUBSEG_HDR)
		return false;
	for (uint32_t i = 0; i < ss->rec.used; i++) {
		uint8_t *hdr = (uint8_t *)(uintptr_t)ss->rec.first_slot + (size_t)i * ss->rec.stride;
		struct mt_bh b;

		if (!mt_bh_get(h, hdr, &b) || !(b.flags & MT_B_SLOT) ||
		    b.prev != (i | ss->rec.size_class << 24) ||
		    (size_t)b.size * MT_UNIT != ss->rec.stride ||
		    ((b.flags & MT_B_BUSY) && b.unused > ss->rec.stride - MT_HDR))
			return false;
	}
	return true;
}

static bool segment_ok(struct mt_heap *h, struct mt_seg *s)
{
	uint8_t *hdr = (uint8_t *)(uintptr_t)s->rec.first_block, *end = mt_seg_end(s);
	uint32_t prev = 0;
	struct mt_bh b;

	if (s->rec.magic != MEMAPI_SEG_MAGIC || s->heap != h)
		return false;
	while (hdr < end) {
		if (!mt_bh_get(h, hdr, &b) || b.prev != prev || b.size < MT_MIN_FREE ||
		    (b.flags & (MT_B_SLOT | MT_B_LARGE)) ||
		    (size_t)(end - hdr) < (size_t)b.size * MT_UNIT ||
		    ((b.flags & MT_B_SUBSEG) && !subseg_ok(h, mt_data(hdr))))
			return false;
		prev = b.size;
		hdr += (size_t)b.size * MT_UNIT;
	}
	return hdr == end && s->last + (size_t)prev * MT_UNIT == end;
}

static bool large_ok(struct mt_heap *h, struct mt_large *l)
{
	struct mt_bh b;

	return l->rec.magic == MEMAPI_LARGE_MAGIC && l->rec.heap == (uintptr_t)h &&
	       mt_bh_get(h, (uint8_t *)l + MT_LARGE_HDR, &b) &&
	       b.flags == (b.flags & (MT_B_BUSY | MT_B_LARGE | MT_B_MOVEABLE | MT_B_INTERNAL)) &&
	       (b.flags & MT_B_LARGE);
}

bool mt_heap_validate_all(struct mt_heap *h)
{
	bool ok = true;

	mt_heap_freeze(h);
	for (struct mt_seg *s = &h->seg0; s && ok; s = (struct mt_seg *)s->rec.next)
		ok = segment_ok(h, s);
	for (struct mt_large *l = mt_large_first(h); l && ok; l = (struct mt_large *)l->rec.next)
		ok = large_ok(h, l);
	mt_heap_thaw(h);
	return ok;
}

/* ---- compaction and summary ---- */

SIZE_T WINAPI HeapCompact(HANDLE hHeap, DWORD dwFlags)
{
	struct mt_heap *h = mt_heap_from(hHeap);
	size_t largest;

	if (!h)
		return mt_fail(ERROR_INVALID_HANDLE);
	mt_heap_freeze(h);
	mt_front_drain(h);
	largest = mt_backend_compact(h);
	mt_heap_thaw(h);
	if (!largest)
		SetLastError(NO_ERROR);     /* no free block: not a failure */
	return largest;
}

/* Bytes requested by the busy blocks of segment s. */
static size_t segment_busy(struct mt_heap *h, struct mt_seg *s)
{
	PROCESS_HEAP_ENTRY e = { .iRegionIndex = 0 };
	unsigned i = 0;
	size_t sum = 0;

	for (struct mt_seg *t = &h->seg0; t != s; t = (struct mt_seg *)t->rec.next)
		i++;
	if (block_entry(h, i, (uint8_t *)(uintptr_t)s->rec.first_block, &e))
		return 0;
	while (!(e.wFlags & (PROCESS_HEAP_UNCOMMITTED_RANGE | PROCESS_HEAP_REGION)) &&
	       e.iRegionIndex == i) {
		if (e.wFlags & PROCESS_HEAP_ENTRY_BUSY)
			sum += e.cbData;
		if (walk_next(h, &e))
			break;
	}
	return sum;
}

BOOL WINAPI HeapSummary(HANDLE hHeap, DWORD dwFlags, LPHEAP_SUMMARY lpSummary)
{
	struct mt_heap *h = mt_heap_from(hHeap);
	HEAP_SUMMARY s = { .cb = sizeof s };

	if (!h)
		return mt_fail(ERROR_INVALID_HANDLE);
	if (!lpSummary || lpSummary->cb != sizeof *lpSummary)
		return mt_fail(ERROR_INVALID_PARAMETER);
	mt_heap_freeze(h);
	for (struct mt_seg *g = &h->seg0; g; g = (struct mt_seg *)g->rec.next) {
		s.cbAllocated += segment_busy(h, g);
		s.cbCommitted += g->rec.committed;
		s.cbReserved += g->rec.reserved;
	}
	for (struct mt_large *l = mt_large_first(h); l; l = (struct mt_large *)l->rec.next) {
		s.cbAllocated += l->rec.size;
		s.cbCommitted += l->rec.committed;
		s.cbReserved += l->rec.reserved;
	}
	s.cbMaxReserve = h->rec.maximum_size ? h->rec.maximum_size : s.cbReserved;
	mt_heap_thaw(h);
	*lpSummary = s;
	return TRUE;
}
