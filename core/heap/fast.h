/* The front end's fast paths, inline in HeapAlloc and HeapFree: a thread
 * takes a slot from, or puts one into, its own subsegments without a lock (see
 * front.c for the protocol with HeapLock). Anything else goes to the slow
 * paths in front.c. */
#ifndef MT_HEAP_FAST_H
#define MT_HEAP_FAST_H

#include "heap.h"

extern __thread struct mt_thread *mt_self
	__attribute__((tls_model("initial-exec"), visibility("hidden")));
extern MT_HIDDEN uint32_t mt_class_size[MT_NCLASS];
extern MT_HIDDEN uint8_t mt_small_class[1024 / 16 + 1];

#define mt_likely(x)   __builtin_expect(!!(x), 1)
#define mt_unlikely(x) __builtin_expect(!!(x), 0)

static inline unsigned mt_class_of(size_t n)
{
	unsigned l;

	if (mt_likely(n <= 1024))
		return mt_small_class[(n + 15) >> 4];
	l = 63u - (unsigned)__builtin_clzll(n - 1);
	return 16u + (l - 8u) * 4u + (unsigned)(((n - 1) >> (l - 2u)) & 3u);
}

static inline uint32_t mt_class_stride(unsigned c)
{
	return mt_class_size[c] + MT_HDR;
}

/* The calling thread's owner record for h, usable without the heap's
 * lock, or NULL. */
static inline struct mt_owner *mt_owner_fast(struct mt_heap *h, struct mt_thread *t)
{
	struct mt_owner *tc;

	if (h->front == MT_FRONT_LOOKASIDE)
		return h->flags & HEAP_NO_SERIALIZE ? &h->lookaside : NULL;
	if (mt_unlikely(!t) || !(tc = t->tc[h->slot]) || tc->gen != h->slot_gen)
		return NULL;
	return tc;
}

/* Announces a fast path on h; false when the heap is frozen (the caller
 * takes the lock instead). */
static inline bool mt_fast_enter(struct mt_thread *t, struct mt_heap *h)
{
	if (h->front != MT_FRONT_LFH)
		return true;
	atomic_store_explicit(&t->busy, (unsigned)h->slot + 1, memory_order_relaxed);
	if (mt_likely(mt_os.has_membarrier))
		atomic_signal_fence(memory_order_seq_cst);
	else
		atomic_thread_fence(memory_order_seq_cst);
	if (mt_likely(!atomic_load_explicit(&h->frozen, memory_order_relaxed)))
		return true;
	atomic_store_explicit(&t->busy, 0, memory_order_release);
	return false;
}

static inline void mt_fast_leave(struct mt_thread *t, struct mt_heap *h)
{
	if (h->front == MT_FRONT_LFH)
		atomic_store_explicit(&t->busy, 0, memory_order_release);
}

/* The subsegment of a slot from its header fields (not checked). */
static inline struct mt_subseg *mt_slot_subseg(const uint8_t *hdr, const struct mt_bh *b)
{
	return (struct mt_subseg *)(hdr - (size_t)(b->prev & 0xffffff) * b->size * MT_UNIT -
	                            MT_SUBSEG_HDR);
}

/* Takes the first free slot of a subsegment's local list, checking its
 * link and header fields (a write after free shows here); *b is its
 * header. The check word is not recomputed: the header is rewritten at
 * once, and a stray write would have to keep the encoded class, index,
 * size and free state. */
static inline uint8_t *mt_local_pop(struct mt_heap *h, struct mt_subseg *ss, unsigned c,
                                    struct mt_bh *b)
{
	uint8_t *p = ss->local, *next = mt_link_get(h, p);
	const uint64_t *w = (const uint64_t *)mt_hdr(p);
	uint64_t w0 = w[0] ^ h->key0;
	uint32_t lo = (uint32_t)(w[1] ^ h->key1);

	b->size = (uint32_t)w0;
	b->prev = (uint32_t)(w0 >> 32);
	b->flags = lo >> 24;
	if (mt_unlikely(((uintptr_t)next & (MT_UNIT - 1)) || b->flags != MT_B_SLOT ||
	                b->prev >> 24 != c || b->size * MT_UNIT != ss->rec.stride)) {
		mt_heap_corrupt(h, p, "free slot overwritten (written after free?)");
		ss->local = NULL;               /* abandon the rest of the list */
		return NULL;
	}
	ss->local = next;
	return p;
}

/* A never used slot from the end of the subsegment, or NULL. */
static inline uint8_t *mt_bump(struct mt_subseg *ss, unsigned c, struct mt_bh *b)
{
	uint32_t i = ss->rec.used;

	if (i == ss->rec.count)
		return NULL;
	b->size = ss->rec.stride / MT_UNIT;
	b->prev = i | c << 24;
	__atomic_store_n(&ss->rec.used, i + 1, __ATOMIC_RELAXED);
	return mt_data((uint8_t *)(uintptr_t)ss->rec.first_slot + (size_t)i * ss->rec.stride);
}

/* A free slot of one of the owner's subsegments, or NULL; counts it out
 * (a spare that gets a slot is no longer the spare). */
static inline uint8_t *mt_take(struct mt_heap *h, struct mt_tclass *k, struct mt_subseg *ss,
                               unsigned c, struct mt_bh *b)
{
	uint8_t *p = ss->local ? mt_local_pop(h, ss, c, b) : mt_bump(ss, c, b);

	if (p && ss->taken++ == 0 && k->spare == ss)
		k->spare = NULL;
	return p;
}

static inline void mt_slot_busy(struct mt_heap *h, uint8_t *p, struct mt_bh *b, unsigned c,
                                size_t n, uint32_t flags)
{
	b->flags = MT_B_BUSY | MT_B_SLOT | flags;
	b->unused = mt_class_size[c] - (uint32_t)n;
	mt_bh_put(h, mt_hdr(p), b);
}

/* Marks a busy slot free and gives it back: to the owner's list if the
 * caller owns its subsegment (a full one becomes the current one again),
 * else onto the subsegment's remote list. An owner keeps one empty
 * subsegment per class as a spare; another one that becomes empty is
 * returned for the caller to give back (mt_front_trim), so that other
 * size classes can use its memory. */
static inline struct mt_subseg *mt_slot_free(struct mt_heap *h, struct mt_subseg *ss,
                                             struct mt_owner *tc, uint8_t *hdr, struct mt_bh *b)
{
	uint8_t *p = mt_data(hdr);
	uintptr_t old;

	b->flags = MT_B_SLOT;
	b->unused = 0;
	mt_bh_put(h, hdr, b);
	if (tc && __atomic_load_n(&ss->owner, __ATOMIC_RELAXED) == tc) {
		struct mt_tclass *k = &tc->cls[ss->rec.size_class];

		if (mt_unlikely(!ss->local && ss->rec.used == ss->rec.count))
			k->cur = ss;
		mt_link_put(h, p, ss->local);
		ss->local = p;
		if (--ss->taken)
			return NULL;
		if (!k->spare)
			k->spare = ss;
		return k->spare == ss ? NULL : ss;
	}
	old = atomic_load_explicit(&ss->remote, memory_order_relaxed);
	do
		mt_link_put(h, p, (void *)old);
	while (!atomic_compare_exchange_weak_explicit(&ss->remote, &old, (uintptr_t)p,
	                                              memory_order_release, memory_order_relaxed));
	return NULL;
}

/* Is the slot's subsegment (computed from its header) one of h's, with
 * the slot handed out? The fast free path checks the record only: the
 * header's check word already vouches for class and index. */
static inline bool mt_slot_ss_ok(const struct mt_heap *h, const struct mt_subseg *ss)
{
	return ss->rec.magic == MEMAPI_SUBSEG_MAGIC && ss->rec.heap == (uintptr_t)h;
}

static inline bool mt_slot_ok(const struct mt_heap *h, const struct mt_subseg *ss,
                              const struct mt_bh *b)
{
	return mt_slot_ss_ok(h, ss) && ss->rec.size_class == b->prev >> 24 &&
	       (b->prev & 0xffffff) < __atomic_load_n(&ss->rec.used, __ATOMIC_RELAXED);
}

/* A slot for n bytes from the calling thread's current subsegment, or
 * NULL (the slow path refills). */
static inline __attribute__((always_inline)) void *mt_front_alloc_fast(struct mt_heap *h, size_t n,
                                                                       uint32_t flags)
{
	unsigned c = mt_class_of(n);
	struct mt_thread *t = mt_self;
	struct mt_owner *tc = mt_owner_fast(h, t);
	struct mt_subseg *ss;
	struct mt_bh b;
	uint8_t *p;

	if (mt_unlikely(!tc || !mt_fast_enter(t, h)))
		return NULL;
	/* cur is read inside: a compaction may release it while frozen. */
	if ((ss = tc->cls[c].cur) && (p = mt_take(h, &tc->cls[c], ss, c, &b)))
		mt_slot_busy(h, p, &b, c, n, flags);
	else
		p = NULL;
	mt_fast_leave(t, h);
	return p;
}

/* Frees a busy slot (header b at hdr, checked): false when the slow path
 * must do it. */
static inline __attribute__((always_inline)) bool mt_front_free_fast(struct mt_heap *h, uint8_t *hdr,
                                                                     struct mt_bh *b)
{
	unsigned c = b->prev >> 24;
	struct mt_thread *t = mt_self;
	struct mt_owner *tc = mt_owner_fast(h, t);
	struct mt_subseg *ss, *empty;

	if (mt_unlikely(c >= MT_NCLASS || (size_t)b->size * MT_UNIT != mt_class_stride(c) ||
	                (!t && h->front == MT_FRONT_LFH)))
		return false;
	ss = mt_slot_subseg(hdr, b);
	if (mt_unlikely(!mt_slot_ss_ok(h, ss) || (!tc && h->front != MT_FRONT_LFH) ||
	                !mt_fast_enter(t, h)))
		return false;
	empty = mt_slot_free(h, ss, tc, hdr, b);
	mt_fast_leave(t, h);
	if (mt_unlikely(empty != NULL))
		mt_front_trim(h, tc, empty);
	return true;
}

#endif
