/* The heap front end: requests up to MT_SMALL_MAX bytes are served from
 * subsegments (backend blocks cut into slots of one size class) through
 * caches of free slots: one per thread and heap on serialized growable
 * heaps, one per heap on HEAP_NO_SERIALIZE ones.
 *
 * Slots keep their encoded headers at all times (busy or free), so walks
 * and validation see every one. A thread's cache is touched only by that
 * thread, inside a "fast path" marked by its busy word, or by a holder of
 * the heap's lock that has frozen the heap (HeapLock, walks, compaction):
 * freezing sets h->frozen, then waits until no thread is busy with the
 * heap. The fast path announces itself with a plain store and a compiler
 * barrier; the freezer's membarrier() orders both sides (where the kernel
 * lacks it, the fast path pays a fence instead). */
#include "fast.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct mt_subseg) <= MT_SUBSEG_HDR, "subsegment record too big");

__thread struct mt_thread *mt_self __attribute__((tls_model("initial-exec")));
#define self mt_self

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mt_thread *threads;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Heaps with per-thread caches, by slot; generations are never reused, so
 * a cache made for a destroyed heap never matches its successor. */
static struct mt_heap *slot_heap[MT_SLOTS];
static uint64_t slot_gen_next;

/* ---- size classes ---- */

uint32_t mt_class_size[MT_NCLASS];
uint8_t mt_small_class[1024 / 16 + 1];     /* requests <= 1024, by 16 bytes */
#define class_size mt_class_size
#define small_class mt_small_class

static void classes_init(void)
{
	for (unsigned c = 0; c < MT_NCLASS; c++) {
		unsigned g = (c - 16) / 4, k = (c - 16) % 4;

		class_size[c] = c < 16 ? 16 * (c + 1) : (256u << g) + (64u << g) * (k + 1);
	}
	for (unsigned i = 0; i < sizeof small_class; i++) {
		unsigned c = 0;

		while (class_size[c] < i * 16)
			c++;
		small_class[i] = (uint8_t)c;
	}
}

static uint32_t bin_limit(unsigned c)
{
	uint32_t n = 32768 / mt_class_stride(c);

	return n < 8 ? 8 : n > 256 ? 256 : n;
}

static void cache_init(struct mt_tcache *tc, struct mt_heap *h)
{
	tc->heap = h;
	tc->gen = h->slot_gen;
	for (unsigned c = 0; c < MT_NCLASS; c++)
		tc->bin[c].limit = bin_limit(c);
}

/* ---- subsegments (heap lock held) ---- */

static uint8_t *slot_hdr(const struct mt_subseg *ss, uint32_t i)
{
	return (uint8_t *)(uintptr_t)ss->rec.first_slot + (size_t)i * ss->rec.stride;
}

struct mt_subseg *mt_subseg_of(const struct mt_heap *h, const uint8_t *hdr, const struct mt_bh *b)
{
	uint32_t i = b->prev & 0xffffff, c = b->prev >> 24;
	struct mt_subseg *ss;

	if (c >= MT_NCLASS || (size_t)b->size * MT_UNIT != mt_class_stride(c))
		return NULL;
	ss = (struct mt_subseg *)(hdr - (size_t)i * mt_class_stride(c) - MT_SUBSEG_HDR);
	if (ss->rec.magic != MEMAPI_SUBSEG_MAGIC || ss->rec.heap != (uintptr_t)h ||
	    ss->rec.size_class != c || i >= ss->rec.used)
		return NULL;
	return ss;
}

static void list_add(struct mt_heap *h, struct mt_subseg *ss)
{
	struct mt_class *k = &h->cls[ss->rec.size_class];

	ss->prev = NULL;
	ss->next = k->partial;
	if (k->partial)
		k->partial->prev = ss;
	k->partial = ss;
	ss->listed = 1;
}

static void list_del(struct mt_heap *h, struct mt_subseg *ss)
{
	struct mt_class *k = &h->cls[ss->rec.size_class];

	if (ss->prev)
		ss->prev->next = ss->next;
	else
		k->partial = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	ss->listed = 0;
}

static DWORD subseg_new(struct mt_heap *h, unsigned c, struct mt_subseg **out)
{
	uint32_t stride = mt_class_stride(c);
	uint32_t count = (65536 - MT_SUBSEG_HDR) / stride;
	struct mt_subseg *ss;
	struct mt_bh b;
	uint8_t *hdr;
	DWORD err;

	if (count < 8)
		count = 8;
	err = mt_backend_alloc(h, (MT_HDR + MT_SUBSEG_HDR + (size_t)count * stride) / MT_UNIT,
	                       &hdr, &b);
	if (err)
		return err;
	b.flags = MT_B_BUSY | MT_B_SUBSEG;
	mt_bh_put(h, hdr, &b);
	ss = mt_data(hdr);
	memset(ss, 0, sizeof *ss);
	ss->rec.magic = MEMAPI_SUBSEG_MAGIC;
	ss->rec.heap = (uintptr_t)h;
	ss->rec.first_slot = (uintptr_t)ss + MT_SUBSEG_HDR;
	ss->rec.stride = stride;
	ss->rec.count = count;
	ss->rec.size_class = c;
	list_add(h, ss);
	h->cls[c].subsegs++;
	*out = ss;
	return 0;
}

/* A free slot of the subsegment (data address), out of it now. */
static uint8_t *subseg_take(struct mt_heap *h, struct mt_subseg *ss)
{
	uint8_t *p = ss->free;

	if (p) {
		uint8_t *next = mt_link_get(h, p);

		if ((uintptr_t)next & (MT_UNIT - 1)) {
			mt_heap_corrupt(h, p, "free slot overwritten");
			ss->free = NULL;      /* abandon the rest of the list */
		} else {
			ss->free = next;
		}
	} else {
		struct mt_bh b = { .size = ss->rec.stride / MT_UNIT,
		                   .prev = ss->rec.used | ss->rec.size_class << 24,
		                   .flags = MT_B_SLOT };

		p = mt_data(slot_hdr(ss, ss->rec.used));
		mt_bh_put(h, mt_hdr(p), &b);
		ss->rec.used++;
	}
	ss->taken++;
	if (!ss->free && ss->rec.used == ss->rec.count)
		list_del(h, ss);
	return p;
}

static void subseg_release(struct mt_heap *h, struct mt_subseg *ss)
{
	uint8_t *hdr = mt_hdr(ss);
	struct mt_bh b;

	if (ss->listed)
		list_del(h, ss);
	h->cls[ss->rec.size_class].subsegs--;
	ss->rec.magic = 0;
	if (mt_bh_get(h, hdr, &b))
		mt_backend_free(h, hdr, &b);
	else
		mt_heap_corrupt(h, ss, "subsegment header overwritten");
}

/* Returns a free slot (header already free) to its subsegment. keep: an
 * empty subsegment stays if it is its class's last. */
static void subseg_give(struct mt_heap *h, uint8_t *p, bool keep)
{
	struct mt_subseg *ss;
	struct mt_bh b;

	if (!mt_bh_get(h, mt_hdr(p), &b) || b.flags != MT_B_SLOT ||
	    !(ss = mt_subseg_of(h, mt_hdr(p), &b))) {
		mt_heap_corrupt(h, p, "free slot header overwritten");
		return;                         /* lost: better than reused */
	}
	mt_link_put(h, p, ss->free);
	ss->free = p;
	ss->taken--;
	if (!ss->listed)
		list_add(h, ss);
	if (!ss->taken && (!keep || h->cls[ss->rec.size_class].subsegs > 1))
		subseg_release(h, ss);
}

/* ---- caches ---- */

/* Moves slots from the bin back to their subsegments until count is left. */
static void bin_flush(struct mt_heap *h, struct mt_tbin *bin, unsigned c, uint32_t left, bool keep)
{
	while (bin->count > left && bin->head) {
		struct mt_bh b;
		uint8_t *p = mt_bin_pop(h, bin, c, &b);

		if (p)
			subseg_give(h, p, keep);
	}
}

static void cache_flush(struct mt_heap *h, struct mt_tcache *tc, bool keep)
{
	for (unsigned c = 0; c < MT_NCLASS; c++)
		bin_flush(h, &tc->bin[c], c, 0, keep);
}

/* Fills the bin with up to half its limit of free slots, lowest address
 * first so that a thread's blocks are handed out in address order. */
static DWORD bin_fill(struct mt_heap *h, struct mt_tbin *bin, unsigned c)
{
	uint32_t want = bin->limit / 2 ? bin->limit / 2 : 1, got = 0;
	uint8_t *first = NULL, *last = NULL;
	DWORD err = 0;

	while (got < want) {
		struct mt_subseg *ss = h->cls[c].partial;
		uint8_t *p;

		if (!ss && (err = subseg_new(h, c, &ss)))
			break;
		p = subseg_take(h, ss);
		if (last)
			mt_link_put(h, last, p);
		else
			first = p;
		last = p;
		got++;
	}
	if (last) {
		mt_link_put(h, last, bin->head);
		bin->head = first;
		bin->count += got;
	}
	return bin->count ? 0 : err;
}

/* ---- threads ---- */

static void thread_exit(void *arg);

static void key_init(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

static struct mt_thread *thread_self(void)
{
	struct mt_thread *t = self;

	if (t)
		return t;
	pthread_once(&key_once, key_init);
	if (!(t = calloc(1, sizeof *t)))
		return NULL;
	pthread_mutex_lock(&threads_lock);
	t->next = threads;
	threads = t;
	pthread_mutex_unlock(&threads_lock);
	pthread_setspecific(exit_key, t);
	return self = t;
}

/* Returns a thread's caches to their heaps (heaps list lock held, so no
 * heap goes away meanwhile). A cache whose heap was destroyed is dropped:
 * its slots went with the heap. */
static void thread_return(struct mt_thread *t)
{
	for (unsigned i = 0; i < MT_SLOTS; i++) {
		struct mt_tcache *tc = t->tc[i];
		struct mt_heap *h = slot_heap[i];

		if (!tc)
			continue;
		if (h && h == tc->heap && h->slot_gen == tc->gen) {
			mt_heap_enter(h);
			cache_flush(h, tc, true);
			mt_heap_leave(h);
		}
		free(tc);
		t->tc[i] = NULL;
	}
}

static void thread_unlink(struct mt_thread *t)
{
	struct mt_thread **pp = &threads;

	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp)
		*pp = t->next;
}

static void thread_exit(void *arg)
{
	struct mt_thread *t = arg;

	mt_heaps_lock();
	thread_return(t);
	mt_heaps_unlock();
	pthread_mutex_lock(&threads_lock);
	thread_unlink(t);
	pthread_mutex_unlock(&threads_lock);
	free(t);
	self = NULL;
}

/* The calling thread's cache for an LFH heap, made if needed (heap lock
 * held), or NULL when out of memory. */
static struct mt_tcache *cache_make(struct mt_heap *h)
{
	struct mt_thread *t = thread_self();
	struct mt_tcache *tc;

	if (!t)
		return NULL;
	tc = t->tc[h->slot];
	if (tc && tc->gen == h->slot_gen)
		return tc;
	if (!tc && !(tc = malloc(sizeof *tc)))
		return NULL;
	/* A stale cache belongs to a destroyed heap: its slots are gone. */
	memset(tc, 0, sizeof *tc);
	cache_init(tc, h);
	t->tc[h->slot] = tc;
	return tc;
}

void mt_front_quiesce(struct mt_heap *h)
{
	unsigned mark = (unsigned)h->slot + 1;
	bool others = false;

	pthread_mutex_lock(&threads_lock);
	for (struct mt_thread *t = threads; t; t = t->next)
		others |= t != self;
	/* A thread that registers after this point sees frozen set (the
	 * threads lock orders it), so with no other thread there is nothing
	 * to wait for. */
	if (others && mt_os.has_membarrier)
		mt_os_membarrier();
	for (struct mt_thread *t = others ? threads : NULL; t; t = t->next)
		while (atomic_load_explicit(&t->busy, memory_order_acquire) == mark)
			sched_yield();
	pthread_mutex_unlock(&threads_lock);
}

/* ---- allocation and freeing ---- */

static void *alloc_locked(struct mt_heap *h, unsigned c, struct mt_bh *b, DWORD *err)
{
	struct mt_tcache *tc = h->front == MT_FRONT_LFH ? cache_make(h) : &h->lookaside;
	struct mt_subseg *ss;
	uint8_t *p;

	if (tc) {
		for (int tries = 0; tries < 2; tries++) {
			if (!tc->bin[c].head && (*err = bin_fill(h, &tc->bin[c], c)))
				return NULL;
			if ((p = mt_bin_pop(h, &tc->bin[c], c, b)))
				return p;
		}
		*err = ERROR_INVALID_PARAMETER;
		return NULL;
	}
	ss = h->cls[c].partial;         /* no cache: straight from a subsegment */
	if (!ss && (*err = subseg_new(h, c, &ss)))
		return NULL;
	p = subseg_take(h, ss);
	mt_bh_get(h, mt_hdr(p), b);
	return p;
}

void *mt_front_alloc(struct mt_heap *h, size_t n, uint32_t flags, DWORD *err)
{
	unsigned c = mt_class_of(n);
	struct mt_bh b;
	uint8_t *p;

	mt_heap_enter(h);
	if ((p = alloc_locked(h, c, &b, err)))
		mt_slot_busy(h, p, &b, c, n, flags);
	mt_heap_leave(h);
	return p;
}

DWORD mt_front_free(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b)
{
	unsigned c = b->prev >> 24;
	struct mt_tcache *tc;
	struct mt_tbin *bin;

	if (c >= MT_NCLASS || (size_t)b->size * MT_UNIT != mt_class_stride(c))
		return mt_heap_corrupt(h, mt_data(hdr), "block header overwritten");
	b->flags = MT_B_SLOT;
	b->unused = 0;
	mt_heap_enter(h);
	mt_bh_put(h, hdr, b);
	tc = h->front == MT_FRONT_LFH ? cache_make(h) : &h->lookaside;
	if (tc) {
		bin = &tc->bin[c];
		mt_bin_push(h, bin, mt_data(hdr));
		if (bin->count > bin->limit)
			bin_flush(h, bin, c, bin->limit / 2, true);
	} else {
		subseg_give(h, mt_data(hdr), true);
	}
	mt_heap_leave(h);
	return 0;
}

/* ---- whole-heap operations ---- */

void mt_front_drain(struct mt_heap *h)
{
	if (h->front == MT_FRONT_LOOKASIDE)
		cache_flush(h, &h->lookaside, false);
	if (h->front == MT_FRONT_LFH) {
		pthread_mutex_lock(&threads_lock);
		for (struct mt_thread *t = threads; t; t = t->next)
			if (t->tc[h->slot] && t->tc[h->slot]->gen == h->slot_gen)
				cache_flush(h, t->tc[h->slot], false);
		pthread_mutex_unlock(&threads_lock);
	}
	/* Empty subsegments kept for reuse go back to the backend too. */
	for (unsigned c = 0; c < MT_NCLASS; c++)
		for (struct mt_subseg *ss = h->cls[c].partial, *n; ss; ss = n) {
			n = ss->next;
			if (!ss->taken)
				subseg_release(h, ss);
		}
}

void mt_front_init(struct mt_heap *h)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, classes_init);
	if (h->front == MT_FRONT_LOOKASIDE)
		cache_init(&h->lookaside, h);
	if (h->front != MT_FRONT_LFH)
		return;
	for (unsigned i = 0; i < MT_SLOTS; i++)
		if (!slot_heap[i]) {
			slot_heap[i] = h;
			h->slot = (int)i;
			h->slot_gen = ++slot_gen_next;
			return;
		}
	/* Out of slots: a lookaside cache used under the heap's lock. */
	h->front = MT_FRONT_LOOKASIDE;
	cache_init(&h->lookaside, h);
}

void mt_front_forget(struct mt_heap *h)
{
	if (h->slot >= 0)
		slot_heap[h->slot] = NULL;
}

void mt_front_atfork(enum mt_fork_phase phase)
{
	if (phase == MT_FORK_PREPARE) {
		pthread_mutex_lock(&threads_lock);
		return;
	}
	if (phase == MT_FORK_PARENT) {
		pthread_mutex_unlock(&threads_lock);
		return;
	}
	/* The child has one thread: the others' caches go back to the heaps. */
	pthread_mutex_init(&threads_lock, NULL);
	for (struct mt_thread *t = threads, *n; t; t = n) {
		n = t->next;
		if (t == self)
			continue;
		thread_return(t);
		thread_unlink(t);
		free(t);
	}
}

bool mt_front_resize(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b, size_t n)
{
	unsigned c = b->prev >> 24;
	struct mt_thread *t = self;
	bool fast;

	if (c >= MT_NCLASS || n > class_size[c])
		return false;
	fast = h->front == MT_FRONT_LFH && t && mt_fast_enter(t, h);
	if (!fast)
		mt_heap_enter(h);
	b->unused = class_size[c] - (uint32_t)n;
	mt_bh_put(h, hdr, b);
	if (fast)
		mt_fast_leave(t, h);
	else
		mt_heap_leave(h);
	return true;
}
