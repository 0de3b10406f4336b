/* The heap front end: requests up to MT_SMALL_MAX bytes are served from
 * subsegments (backend blocks cut into slots of one size class). On
 * serialized growable heaps each thread owns the subsegments it allocates
 * from; on HEAP_NO_SERIALIZE ones the heap owns them all (fast.h).
 *
 * Slots keep their encoded headers at all times (busy or free), so walks
 * and validation see every one. An owner's lists change only inside its
 * "fast path", marked by the thread's busy word, or under the heap's lock
 * (adopting, abandoning, trimming), or while the heap is frozen (HeapLock,
 * walks, compaction): freezing sets h->frozen, then waits until no thread
 * is busy with the heap. The fast path announces itself with a plain store
 * and a compiler barrier; the freezer's membarrier() orders both sides
 * (where the kernel lacks it, the fast path pays a fence instead). A
 * thread never takes the lock while busy. */
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

/* Heaps with per-thread owners, by slot; generations are never reused,
 * so an owner made for a destroyed heap never matches its successor. */
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

static void owner_init(struct mt_owner *tc, struct mt_heap *h)
{
	memset(tc, 0, sizeof *tc);
	tc->heap = h;
	tc->gen = h->slot_gen;
}

/* ---- subsegments ---- */

struct mt_subseg *mt_subseg_of(const struct mt_heap *h, const uint8_t *hdr, const struct mt_bh *b)
{
	uint32_t c = b->prev >> 24;
	struct mt_subseg *ss;

	if (c >= MT_NCLASS || (size_t)b->size * MT_UNIT != mt_class_stride(c))
		return NULL;
	ss = mt_slot_subseg(hdr, b);
	return mt_slot_ok(h, ss, b) ? ss : NULL;
}

static void list_add(struct mt_subseg **head, struct mt_subseg *ss)
{
	ss->prev = NULL;
	ss->next = *head;
	if (*head)
		(*head)->prev = ss;
	*head = ss;
}

static void list_del(struct mt_subseg **head, struct mt_subseg *ss)
{
	if (ss->prev)
		ss->prev->next = ss->next;
	else
		*head = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	ss->next = ss->prev = NULL;
}

static void own(struct mt_owner *tc, struct mt_subseg *ss)
{
	struct mt_tclass *k = &tc->cls[ss->rec.size_class];

	list_add(&k->list, ss);
	if (!k->tail)
		k->tail = ss;
	k->count++;
	k->cur = ss;
	__atomic_store_n(&ss->owner, tc, __ATOMIC_RELAXED);
}

static void disown(struct mt_owner *tc, struct mt_subseg *ss)
{
	struct mt_tclass *k = &tc->cls[ss->rec.size_class];

	if (k->tail == ss)
		k->tail = ss->prev;
	if (k->spare == ss)
		k->spare = NULL;
	list_del(&k->list, ss);
	k->count--;
	if (k->cur == ss)
		k->cur = k->list;
	__atomic_store_n(&ss->owner, NULL, __ATOMIC_RELAXED);
}

/* Moves the remote frees to the local list. Owner only (or lock held
 * with the owner gone, or heap frozen). */
static void collect(struct mt_heap *h, struct mt_subseg *ss)
{
	uint8_t *p, *first, *last = NULL;
	uint32_t n = 0;

	/* A plain load first: the exchange is a locked instruction. */
	if (!atomic_load_explicit(&ss->remote, memory_order_relaxed))
		return;
	first = p = (uint8_t *)atomic_exchange_explicit(&ss->remote, 0, memory_order_acquire);

	for (; p; p = mt_link_get(h, p)) {
		if ((uintptr_t)p & (MT_UNIT - 1)) {
			mt_heap_corrupt(h, last, "free slot overwritten (written after free?)");
			if (!last)
				return;
			break;
		}
		last = p;
		n++;
	}
	if (!last)
		return;
	mt_link_put(h, last, ss->local);
	ss->local = first;
	ss->taken -= n;
}

static DWORD subseg_new(struct mt_heap *h, unsigned c, struct mt_subseg **out)
{
	uint32_t stride = mt_class_stride(c);
	/* About 64 slots, within 16-64 KiB: an idle class keeps its current
	 * subsegment, so small classes keep little; large ones refill seldom. */
	uint32_t bytes = stride * 64 < 16384 ? 16384 : stride * 64 > 65536 ? 65536 : stride * 64;
	uint32_t count = (bytes - MT_SUBSEG_HDR - MT_HDR) / stride;
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
	*out = ss;
	return 0;
}

/* Gives an empty subsegment's block back to the backend (lock held). */
static void subseg_release(struct mt_heap *h, struct mt_subseg *ss)
{
	uint8_t *hdr = mt_hdr(ss);
	struct mt_bh b;

	ss->rec.magic = 0;
	if (mt_bh_get(h, hdr, &b))
		mt_backend_free(h, hdr, &b);
	else
		mt_heap_corrupt(h, ss, "subsegment header overwritten");
}

static bool has_room(const struct mt_subseg *ss)
{
	return ss->local || ss->rec.used < ss->rec.count ||
	       atomic_load_explicit(&ss->remote, memory_order_relaxed);
}

/* ---- owners ---- */

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

/* An owner's subsegments lose it (lock held, owner not running): empty
 * ones go back to the backend, the others wait on the heap's abandoned
 * list for a thread to adopt them. */
static void abandon(struct mt_heap *h, struct mt_owner *tc)
{
	for (unsigned c = 0; c < MT_NCLASS; c++)
		while (tc->cls[c].list) {
			struct mt_subseg *ss = tc->cls[c].list;

			disown(tc, ss);
			collect(h, ss);
			if (ss->taken)
				list_add(&h->cls[c].abandoned, ss);
			else
				subseg_release(h, ss);
		}
}

/* Hands a thread's subsegments back to their heaps. An owner whose heap
 * was destroyed is dropped: its subsegments went with the heap. */
static void thread_return(struct mt_thread *t)
{
	for (unsigned i = 0; i < MT_SLOTS; i++) {
		struct mt_owner *tc = t->tc[i];
		struct mt_heap *h;
		bool live;

		if (!tc)
			continue;
		mt_heaps_lock();
		h = slot_heap[i];
		if ((live = h && h == tc->heap && h->slot_gen == tc->gen))
			mt_heap_pin(h);
		mt_heaps_unlock();
		if (live) {
			mt_heap_enter(h);
			abandon(h, tc);
			mt_heap_leave(h);
			mt_heap_unpin(h);
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

	thread_return(t);
	pthread_mutex_lock(&threads_lock);
	thread_unlink(t);
	pthread_mutex_unlock(&threads_lock);
	free(t);
	self = NULL;
}

/* The calling thread's owner record for an LFH heap, made if needed, or
 * NULL when out of memory. */
static struct mt_owner *owner_make(struct mt_heap *h)
{
	struct mt_thread *t = thread_self();
	struct mt_owner *tc;

	if (!t)
		return NULL;
	tc = t->tc[h->slot];
	if (tc && tc->gen == h->slot_gen)
		return tc;
	if (!tc && !(tc = malloc(sizeof *tc)))
		return NULL;
	/* A stale one belonged to a destroyed heap: its memory is gone. */
	owner_init(tc, h);
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

/* Looks through the owner's subsegments of class c (collecting their
 * remote frees) for a slot: a few at a time, full ones rotated to the
 * back, so a thread holding many full subsegments does not scan them all.
 * Owner only, inside its fast path or the lock. */
#define SCAN 8

static uint8_t *take_owned(struct mt_heap *h, struct mt_owner *tc, unsigned c, struct mt_bh *b)
{
	struct mt_tclass *k = &tc->cls[c];
	uint8_t *p;

	for (unsigned i = 0; i < SCAN && k->list; i++) {
		struct mt_subseg *ss = k->list;

		if (!ss->local)
			collect(h, ss);
		if (has_room(ss) && (p = mt_take(h, k, ss, c, b))) {
			k->cur = ss;
			return p;
		}
		if (!ss->next)
			break;
		k->list = ss->next;             /* full: to the back */
		k->list->prev = NULL;
		ss->prev = k->tail;
		ss->next = NULL;
		k->tail->next = ss;
		k->tail = ss;
	}
	k->cur = NULL;
	return NULL;
}

/* A slot from a subsegment of class c new to the owner: an abandoned one
 * with room (the full ones it meets become the owner's too), or a new
 * one. Lock held. */
static uint8_t *adopt(struct mt_heap *h, struct mt_owner *tc, unsigned c, struct mt_bh *b,
                      DWORD *err)
{
	struct mt_subseg *ss;
	uint8_t *p;

	while ((ss = h->cls[c].abandoned)) {
		list_del(&h->cls[c].abandoned, ss);
		own(tc, ss);
		collect(h, ss);
		if ((p = mt_take(h, &tc->cls[c], ss, c, b)))
			return p;
	}
	if ((*err = subseg_new(h, c, &ss)))
		return NULL;
	own(tc, ss);
	return mt_take(h, &tc->cls[c], ss, c, b);
}

/* Takes a slot and marks it busy, in one protected stretch: a walker
 * must never meet a slot counted as used whose header is not written. */
static uint8_t *take_busy(struct mt_heap *h, struct mt_owner *tc, unsigned c, size_t n,
                          uint32_t flags, bool adopting, DWORD *err)
{
	struct mt_bh b;
	uint8_t *p = take_owned(h, tc, c, &b);

	if (!p && adopting)
		p = adopt(h, tc, c, &b, err);
	if (p)
		mt_slot_busy(h, p, &b, c, n, flags);
	return p;
}

static uint8_t *alloc_lfh(struct mt_heap *h, unsigned c, size_t n, uint32_t flags, DWORD *err)
{
	struct mt_owner *tc = owner_make(h);
	struct mt_thread *t = self;
	uint8_t *p = NULL;

	if (!tc) {
		*err = ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	}
	if (mt_fast_enter(t, h)) {
		p = take_busy(h, tc, c, n, flags, false, err);
		mt_fast_leave(t, h);
		if (p)
			return p;
	}
	mt_heap_enter(h);
	p = take_busy(h, tc, c, n, flags, true, err);
	mt_heap_leave(h);
	return p;
}

void *mt_front_alloc(struct mt_heap *h, size_t n, uint32_t flags, DWORD *err)
{
	unsigned c = mt_class_of(n);
	uint8_t *p;

	if (h->front == MT_FRONT_LFH)
		return alloc_lfh(h, c, n, flags, err);
	/* The heap owns every subsegment (lookaside): under its lock, if any. */
	mt_heap_enter(h);
	p = take_busy(h, &h->lookaside, c, n, flags, true, err);
	mt_heap_leave(h);
	return p;
}

DWORD mt_front_free(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b)
{
	struct mt_owner *tc;
	struct mt_subseg *ss = mt_subseg_of(h, hdr, b), *empty;

	if (!ss)
		return mt_heap_corrupt(h, mt_data(hdr), "block header overwritten");
	/* A thread that only frees (a consumer) registers, so that its next
	 * frees take the fast path instead of this lock. */
	if (h->front == MT_FRONT_LFH && !self)
		thread_self();
	mt_heap_enter(h);
	tc = h->front == MT_FRONT_LFH ? (self ? mt_owner_fast(h, self) : NULL) : &h->lookaside;
	empty = mt_slot_free(h, ss, tc, hdr, b);
	mt_heap_leave(h);
	if (empty)
		mt_front_trim(h, tc, empty);
	return 0;
}

void mt_front_trim(struct mt_heap *h, struct mt_owner *tc, struct mt_subseg *ss)
{
	struct mt_tclass *k = &tc->cls[ss->rec.size_class];

	mt_heap_enter(h);
	/* A compaction may have released it meanwhile: is it still ours? */
	for (struct mt_subseg *i = k->list; i; i = i->next)
		if (i == ss) {
			if (!ss->taken && k->spare != ss) {
				disown(tc, ss);
				collect(h, ss);
				subseg_release(h, ss);
			}
			break;
		}
	mt_heap_leave(h);
}

/* ---- whole-heap operations ---- */

/* Releases an empty subsegment found by a walk of the heap (frozen): it
 * leaves its owner's or the abandoned list first. */
static void drop(struct mt_heap *h, struct mt_subseg *ss)
{
	struct mt_owner *tc = __atomic_load_n(&ss->owner, __ATOMIC_RELAXED);

	if (tc)
		disown(tc, ss);
	else
		list_del(&h->cls[ss->rec.size_class].abandoned, ss);
	subseg_release(h, ss);
}

/* The first empty subsegment of the heap after collecting remote frees,
 * or NULL. */
static struct mt_subseg *find_empty(struct mt_heap *h)
{
	for (struct mt_seg *s = &h->seg0; s; s = (struct mt_seg *)s->rec.next) {
		uint8_t *hdr = (uint8_t *)(uintptr_t)s->rec.first_block;
		uint8_t *end = mt_seg_end(s);
		struct mt_bh b;

		for (; hdr < end && mt_bh_get(h, hdr, &b); hdr += (size_t)b.size * MT_UNIT) {
			struct mt_subseg *ss = mt_data(hdr);

			if (!(b.flags & MT_B_SUBSEG) || ss->rec.magic != MEMAPI_SUBSEG_MAGIC)
				continue;
			collect(h, ss);
			if (!ss->taken)
				return ss;
		}
	}
	return NULL;
}

void mt_front_drain(struct mt_heap *h)
{
	struct mt_subseg *ss;

	while ((ss = find_empty(h)))
		drop(h, ss);
}

void mt_front_init(struct mt_heap *h)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, classes_init);
	if (h->front == MT_FRONT_LOOKASIDE)
		owner_init(&h->lookaside, h);
	if (h->front != MT_FRONT_LFH)
		return;
	for (unsigned i = 0; i < MT_SLOTS; i++)
		if (!slot_heap[i]) {
			slot_heap[i] = h;
			h->slot = (int)i;
			h->slot_gen = ++slot_gen_next;
			return;
		}
	/* Out of slots: the heap owns its subsegments, used under its lock. */
	h->front = MT_FRONT_LOOKASIDE;
	owner_init(&h->lookaside, h);
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
	/* The child has one thread: the others' subsegments are abandoned. */
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
