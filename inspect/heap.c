/* The heap walker: libmemapi's heaps read from outside, every block header
 * decoded and checked as memapi_heap_layout(7) describes, without running
 * code in the target. Segments are read through a window of WINDOW bytes,
 * so a million blocks cost a few hundred reads, not a million. */
#include "target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW     (1u << 20)
#define UNIT       16u
#define HDR        16u
#define MIN_FREE   2u                   /* units of the smallest block          */
#define SUBSEG_HDR 96u                  /* subsegment record before slot 0      */
#define LARGE_HDR  48u                  /* large record before its header       */
#define MAX_SEGS   (1u << 20)           /* bounds on lists a corrupt heap fakes  */
#define MAX_LARGE  (1u << 24)

struct window {
	struct mi_target *t;
	uint8_t          *buf;
	uint64_t          base, len;
	uint64_t          limit;            /* the segment's committed end          */
};

/* Points at n bytes at addr, refilling the window if needed; NULL with
 * e set when they cannot be read. */
static const uint8_t *win_get(struct window *w, uint64_t addr, size_t n, struct mi_err *e)
{
	uint64_t len;

	if (addr >= w->base && addr + n <= w->base + w->len)
		return w->buf + (addr - w->base);
	len = w->limit > addr && w->limit - addr < WINDOW ? w->limit - addr : WINDOW;
	if (len < n)
		len = n;
	if (mi_read(w->t, addr, w->buf, len, e))
		return NULL;
	w->base = addr;
	w->len = len;
	return w->buf;
}

struct hdr {
	uint32_t size;                      /* units                                */
	uint32_t prev;                      /* units of the previous block, or slot */
	uint32_t unused;
	uint32_t flags;
};

/* Decodes the header at addr; false when its check word is wrong. */
static bool decode(const struct memapi_rec_heap *h, const uint8_t *p, uint64_t addr, struct hdr *o)
{
	uint64_t w0, w1;

	memcpy(&w0, p, 8);
	memcpy(&w1, p + 8, 8);
	w0 ^= h->key[0];
	w1 ^= h->key[1];
	if ((uint32_t)(w1 >> 32) != memapi_heap_check(w0, (uint32_t)w1, addr))
		return false;
	o->size = (uint32_t)w0;
	o->prev = (uint32_t)(w0 >> 32);
	o->unused = (uint32_t)w1 & 0xffffff;
	o->flags = (uint32_t)(w1 >> 24) & 0xff;
	return true;
}

struct walk {
	struct mi_target            *t;
	uint64_t                     handle;
	struct memapi_rec_heap       rec;
	struct mi_heap_info         *info;
	const struct mi_heap_visitor *v;
	void                        *ctx;
	struct window                w;
	struct mi_err               *e;
	int                          stop;  /* a visitor's negative return        */
};

static bool visit_block(struct walk *k, uint64_t data, uint64_t size, bool busy, uint32_t flags)
{
	struct mi_heap_block b = { data, size, busy, flags };

	if (busy) {
		k->info->busy_blocks++;
		k->info->busy_bytes += size;
	} else {
		k->info->free_blocks++;
		k->info->free_bytes += size;
	}
	if (k->v && k->v->block && (k->stop = k->v->block(&b, k->ctx)) < 0)
		return false;
	return true;
}

static bool problem(struct walk *k, uint64_t at, const char *what)
{
	struct mi_heap_problem p = { at, what };

	k->info->problems++;
	if (k->v && k->v->problem && (k->stop = k->v->problem(&p, k->ctx)) < 0)
		return false;
	return true;
}

/* A subsegment's slots, then its never-used rest as one free block (as
 * HeapWalk shows it). Returns false only when a visitor ends the walk: a
 * corrupt subsegment is reported and its backend block stepped over. */
static bool walk_subseg(struct walk *k, uint64_t data)
{
	struct memapi_rec_heap_subseg ss;
	const uint8_t *p = win_get(&k->w, data, sizeof ss, k->e);

	if (!p)
		return problem(k, data, "subsegment record unreadable");
	memcpy(&ss, p, sizeof ss);
	if (ss.magic != MEMAPI_SUBSEG_MAGIC || ss.heap != k->handle ||
	    ss.first_slot != data + SUBSEG_HDR || ss.used > ss.count || ss.stride < 2 * UNIT ||
	    ss.stride % UNIT)
		return problem(k, data, "subsegment record corrupt");
	for (uint32_t i = 0; i < ss.used; i++) {
		uint64_t at = ss.first_slot + (uint64_t)i * ss.stride;
		struct hdr h;

		if (!(p = win_get(&k->w, at, HDR, k->e)))
			return problem(k, at, "slot header unreadable");
		if (!decode(&k->rec, p, at, &h) || !(h.flags & MEMAPI_HEAP_BLOCK_SLOT) ||
		    h.prev != (i | ss.size_class << 24) || (uint64_t)h.size * UNIT != ss.stride ||
		    ((h.flags & MEMAPI_HEAP_BLOCK_BUSY) && h.unused > ss.stride - HDR)) {
			if (!problem(k, at, "slot header corrupt"))
				return false;
			continue;   /* slots have a fixed stride: the next one is still found */
		}
		if (!visit_block(k, at + HDR, (h.flags & MEMAPI_HEAP_BLOCK_BUSY)
		                 ? ss.stride - HDR - h.unused : ss.stride - HDR,
		                 h.flags & MEMAPI_HEAP_BLOCK_BUSY, h.flags))
			return false;
	}
	if (ss.used < ss.count)
		return visit_block(k, ss.first_slot + (uint64_t)ss.used * ss.stride + HDR,
		                   (uint64_t)(ss.count - ss.used) * ss.stride - HDR, false, 0);
	return true;
}

/* One segment's blocks; a corrupt header ends the segment (the next
 * block's place is unknown), not the walk. */
static bool walk_segment(struct walk *k, const struct memapi_rec_heap_segment *s)
{
	uint64_t at = s->first_block, end = s->base + s->committed;
	uint32_t prev = 0;

	k->w.limit = end;
	k->info->committed_bytes += s->committed;
	k->info->reserved_bytes += s->reserved;
	if (s->committed > s->reserved || at < s->base || at > end)
		return problem(k, s->base, "segment record corrupt");
	while (at < end) {
		const uint8_t *p = win_get(&k->w, at, HDR, k->e);
		struct hdr h;

		if (!p)
			return problem(k, at, "block header unreadable");
		if (!decode(&k->rec, p, at, &h))
			return problem(k, at, "block header check failed (overwritten?)");
		if (h.prev != prev)
			return problem(k, at, "block header's previous size does not match");
		if (h.size < MIN_FREE || (uint64_t)h.size * UNIT > end - at ||
		    (h.flags & (MEMAPI_HEAP_BLOCK_SLOT | MEMAPI_HEAP_BLOCK_LARGE)))
			return problem(k, at, "block header corrupt");
		if (h.flags & MEMAPI_HEAP_BLOCK_SUBSEG) {
			if (!walk_subseg(k, at + HDR))
				return false;
		} else if (!visit_block(k, at + HDR, (h.flags & MEMAPI_HEAP_BLOCK_BUSY)
		                        ? (uint64_t)h.size * UNIT - HDR - h.unused
		                        : (uint64_t)h.size * UNIT - HDR,
		                        h.flags & MEMAPI_HEAP_BLOCK_BUSY, h.flags)) {
			return false;
		}
		prev = h.size;
		at += (uint64_t)h.size * UNIT;
	}
	return true;
}

static bool walk_large(struct walk *k, uint64_t at)
{
	struct memapi_rec_heap_large l;
	uint8_t raw[HDR];
	struct hdr h;

	if (mi_read(k->t, at, &l, sizeof l, k->e) || mi_read(k->t, at + LARGE_HDR, raw, HDR, k->e))
		return problem(k, at, "large block unreadable");
	k->info->committed_bytes += l.committed;
	k->info->reserved_bytes += l.reserved;
	if (l.magic != MEMAPI_LARGE_MAGIC || l.heap != k->handle || l.committed > l.reserved ||
	    l.committed < LARGE_HDR + HDR)
		return problem(k, at, "large block record corrupt");
	if (!decode(&k->rec, raw, at + LARGE_HDR, &h) || !(h.flags & MEMAPI_HEAP_BLOCK_LARGE))
		return problem(k, at + LARGE_HDR, "large block header corrupt");
	return visit_block(k, at + LARGE_HDR + HDR,
	                   h.flags & MEMAPI_HEAP_BLOCK_BUSY ? l.size : l.committed - LARGE_HDR - HDR,
	                   h.flags & MEMAPI_HEAP_BLOCK_BUSY, h.flags);
}

static int walk_lists(struct walk *k)
{
	struct memapi_rec_heap_segment s;
	uint64_t at = (uint64_t)(uintptr_t)k->rec.segments, n = 0;

	for (; at && n < MAX_SEGS; n++, at = (uint64_t)(uintptr_t)s.next) {
		if (mi_read(k->t, at, &s, sizeof s, k->e))
			return problem(k, at, "segment record unreadable") ? 0 : k->stop;
		if (s.magic != MEMAPI_SEG_MAGIC)
			return problem(k, at, "segment record has a bad magic") ? 0 : k->stop;
		k->info->segments++;
		if (!walk_segment(k, &s) && k->stop < 0)
			return k->stop;
	}
	at = (uint64_t)(uintptr_t)k->rec.large;
	for (n = 0; at && n < MAX_LARGE; n++) {
		struct memapi_rec_heap_large l;

		if (mi_read(k->t, at, &l, sizeof l, k->e))
			return problem(k, at, "large block unreadable") ? 0 : k->stop;
		k->info->large_blocks++;
		if (!walk_large(k, at) && k->stop < 0)
			return k->stop;
		at = (uint64_t)(uintptr_t)l.next;
	}
	return 0;
}

int mi_heap_walk(struct mi_target *t, uint64_t handle, const struct mi_heap_visitor *v,
                 void *ctx, struct mi_heap_info *info, struct mi_err *e)
{
	struct walk k = { .t = t, .handle = handle, .info = info, .v = v, .ctx = ctx, .e = e };
	int rc;

	memset(info, 0, sizeof *info);
	info->handle = handle;
	if ((rc = mi_read(t, handle, &k.rec, sizeof k.rec, e)))
		return rc;
	if (k.rec.magic != MEMAPI_HEAP_MAGIC)
		return mi_fail(e, EPROTO, "0x%llx is not a libmemapi heap", (unsigned long long)handle);
	if (k.rec.layout != MEMAPI_HEAP_LAYOUT)
		return mi_fail(e, EPROTO, "heap layout %u is unknown to this memtool", k.rec.layout);
	info->rec = k.rec;
	if (!(k.w.buf = malloc(WINDOW)))
		return mi_fail(e, ENOMEM, "out of memory");
	k.w.t = t;
	rc = walk_lists(&k);
	free(k.w.buf);
	return rc;
}

int mi_heap_generation(struct mi_target *t, uint64_t handle, uint64_t *gen, struct mi_err *e)
{
	return mi_read(t, handle + offsetof(struct memapi_rec_heap, generation), gen, sizeof *gen, e);
}
