/* The front end's fast paths, inline in HeapAlloc and HeapFree: a thread
 * takes a slot from, or puts one into, its own cache without a lock (see
 * front.c for the protocol with HeapLock). Anything else goes to the slow
 * paths in front.c. */
#ifndef MT_HEAP_FAST_H
#define MT_HEAP_FAST_H

#include "heap.h"

extern __thread struct mt_thread *mt_self __attribute__((tls_model("initial-exec")));
extern uint32_t mt_class_size[MT_NCLASS];
extern uint8_t mt_small_class[1024 / 16 + 1];

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

/* The cache the calling thread may use without the heap's lock, or NULL. */
static inline struct mt_tcache *mt_cache_fast(struct mt_heap *h, struct mt_thread *t)
{
	struct mt_tcache *tc;

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

/* Takes the first slot of a bin, checking its link and header fields
 * (a write after free shows here); *b is its header. The check word is
 * not recomputed: the header is rewritten at once, and a stray write
 * would have to keep the encoded class, index, size and free state. */
static inline uint8_t *mt_bin_pop(struct mt_heap *h, struct mt_tbin *bin, unsigned c,
                                  struct mt_bh *b)
{
	uint8_t *p = bin->head, *next = mt_link_get(h, p);
	const uint64_t *w = (const uint64_t *)mt_hdr(p);
	uint64_t w0 = w[0] ^ h->key0;
	uint32_t lo = (uint32_t)(w[1] ^ h->key1);

	b->size = (uint32_t)w0;
	b->prev = (uint32_t)(w0 >> 32);
	b->flags = lo >> 24;
	if (mt_unlikely(((uintptr_t)next & (MT_UNIT - 1)) || b->flags != MT_B_SLOT ||
	                b->prev >> 24 != c || b->size * MT_UNIT != mt_class_stride(c))) {
		mt_heap_corrupt(h, p, "free slot overwritten (written after free?)");
		bin->head = NULL;               /* abandon the rest of the list */
		bin->count = 0;
		return NULL;
	}
	bin->head = next;
	bin->count--;
	return p;
}

static inline void mt_bin_push(struct mt_heap *h, struct mt_tbin *bin, uint8_t *p)
{
	mt_link_put(h, p, bin->head);
	bin->head = p;
	bin->count++;
}

static inline void mt_slot_busy(struct mt_heap *h, uint8_t *p, struct mt_bh *b, unsigned c,
                                size_t n, uint32_t flags)
{
	b->flags = MT_B_BUSY | MT_B_SLOT | flags;
	b->unused = mt_class_size[c] - (uint32_t)n;
	mt_bh_put(h, mt_hdr(p), b);
}

/* A slot for n bytes from the thread's cache, or NULL. */
static inline __attribute__((always_inline)) void *mt_front_alloc_fast(struct mt_heap *h, size_t n, uint32_t flags)
{
	unsigned c = mt_class_of(n);
	struct mt_thread *t = mt_self;
	struct mt_tcache *tc = mt_cache_fast(h, t);
	struct mt_bh b;
	uint8_t *p;

	if (mt_unlikely(!tc || !tc->bin[c].head || !mt_fast_enter(t, h)))
		return NULL;
	if ((p = mt_bin_pop(h, &tc->bin[c], c, &b)))
		mt_slot_busy(h, p, &b, c, n, flags);
	mt_fast_leave(t, h);
	return p;
}

/* Puts a busy slot (header b at hdr, checked) into the thread's cache:
 * false when the slow path must do it. */
static inline __attribute__((always_inline)) bool mt_front_free_fast(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b)
{
	unsigned c = b->prev >> 24;
	struct mt_thread *t = mt_self;
	struct mt_tcache *tc = mt_cache_fast(h, t);

	if (mt_unlikely(c >= MT_NCLASS || (size_t)b->size * MT_UNIT != mt_class_stride(c) ||
	                !tc || tc->bin[c].count >= tc->bin[c].limit || !mt_fast_enter(t, h)))
		return false;
	b->flags = MT_B_SLOT;
	b->unused = 0;
	mt_bh_put(h, hdr, b);
	mt_bin_push(h, &tc->bin[c], mt_data(hdr));
	mt_fast_leave(t, h);
	return true;
}

#endif
