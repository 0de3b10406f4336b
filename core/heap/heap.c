/* Heap lifetime and locking: HeapCreate, HeapDestroy, the process heap,
 * GetProcessHeaps, HeapLock/HeapUnlock, and corruption reports. */
#include "heap.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct mt_heap *mt_process_heap;
atomic_bool mt_heap_terminate_all;

/* The list of heaps, newest last; readers of the root follow rec.next. */
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mt_heap *first, *last;

void mt_heaps_lock(void) { pthread_mutex_lock(&list_lock); }
void mt_heaps_unlock(void) { pthread_mutex_unlock(&list_lock); }
struct mt_heap *mt_heaps_first(void) { return first; }

void mt_heap_pin(struct mt_heap *h)
{
	atomic_fetch_add(&h->pins, 1);
}

void mt_heap_unpin(struct mt_heap *h)
{
	atomic_fetch_sub(&h->pins, 1);
}

/* Slower than mt_heap_from but safe for any value: for the calls that
 * change a heap's existence or locking. Called with list_lock held. */
static struct mt_heap *listed(HANDLE hh)
{
	for (struct mt_heap *h = first; h; h = (struct mt_heap *)h->rec.next)
		if (h == hh)
			return h;
	return NULL;
}

void mt_heap_enter(struct mt_heap *h)
{
	if (!(h->flags & HEAP_NO_SERIALIZE))
		pthread_mutex_lock(&h->lock);
}

void mt_heap_leave(struct mt_heap *h)
{
	if (!(h->flags & HEAP_NO_SERIALIZE))
		pthread_mutex_unlock(&h->lock);
}

void mt_heap_freeze(struct mt_heap *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->freeze_depth++ == 0 && h->front == MT_FRONT_LFH) {
		atomic_store(&h->frozen, 1);
		mt_front_quiesce(h);
	}
}

void mt_heap_thaw(struct mt_heap *h)
{
	if (--h->freeze_depth == 0)
		atomic_store_explicit(&h->frozen, 0, memory_order_release);
	pthread_mutex_unlock(&h->lock);
}

DWORD mt_heap_corrupt(struct mt_heap *h, const void *at, const char *what)
{
	__atomic_add_fetch(&h->corruptions, 1, __ATOMIC_RELAXED);
	if (atomic_load(&mt_heap_terminate_all)) {
		/* Windows fails fast here (no handler runs); SIGABRT leaves a core
		 * file for memtool to inspect. */
		fprintf(stderr, "libmemapi: heap %p: %s at %p: STATUS_HEAP_CORRUPTION (0x%08X)\n",
		        (void *)h, what, at, (unsigned)STATUS_HEAP_CORRUPTION);
		abort();
	}
	return ERROR_INVALID_PARAMETER;
}

void mt_heap_terminate_on_corruption(void)
{
	pthread_mutex_lock(&list_lock);
	atomic_store(&mt_heap_terminate_all, true);
	/* Outside readers see it in every heap's record. */
	for (struct mt_heap *h = first; h; h = (struct mt_heap *)h->rec.next)
		h->rec.options |= MEMAPI_HEAP_TERMINATE;
	pthread_mutex_unlock(&list_lock);
}

DWORD mt_heap_protect(const struct mt_heap *h)
{
	return h->flags & HEAP_CREATE_ENABLE_EXECUTE ? PAGE_EXECUTE_READWRITE : PAGE_READWRITE;
}

/* The header key: a per-heap secret, so that a header forged or copied
 * from another heap does not check out. */
static void make_key(struct mt_heap *h)
{
	uint64_t k[2];

	if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		k[0] = (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uintptr_t)h;
		k[1] = ((uint64_t)ts.tv_sec << 32 | (uint64_t)getpid()) * UINT64_C(0xbf58476d1ce4e5b9);
	}
	h->rec.key[0] = h->key0 = k[0];
	h->rec.key[1] = h->key1 = k[1];
}

static void init_lock(struct mt_heap *h)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&h->lock, &a);
	pthread_mutexattr_destroy(&a);
}

/* Publishes a heap to the list and to the root descriptor. */
static void link_heap(struct mt_heap *h)
{
	mt_vm_lock();
	mt_vm_change_begin();
	if (last)
		last->rec.next = &h->rec;
	else
		first = h;
	last = h;
	memapi_root.heaps = &first->rec;
	mt_vm_change_end();
	mt_vm_unlock();
}

static void unlink_heap(struct mt_heap *h)
{
	struct mt_heap *prev = NULL;

	for (struct mt_heap *i = first; i != h; i = (struct mt_heap *)i->rec.next)
		prev = i;
	mt_vm_lock();
	mt_vm_change_begin();
	if (prev)
		prev->rec.next = h->rec.next;
	else
		first = (struct mt_heap *)h->rec.next;
	if (last == h)
		last = prev;
	memapi_root.heaps = first ? &first->rec : NULL;
	mt_vm_change_end();
	mt_vm_unlock();
}

#define CREATE_FLAGS (HEAP_NO_SERIALIZE | HEAP_GENERATE_EXCEPTIONS | HEAP_CREATE_ENABLE_EXECUTE)

/* Sizes of the first segment: fixed heaps reserve their maximum; growable
 * ones at least 1 MiB, like Windows' default segment. */
static DWORD sizes(size_t initial, size_t maximum, size_t *reserve, size_t *commit)
{
	size_t hdr = mt_page_up(sizeof(struct mt_heap) + MT_UNIT * 4);

	if (initial > mt_os.max_address || maximum > mt_os.max_address)
		return ERROR_NOT_ENOUGH_MEMORY;
	*commit = mt_page_up(initial) < hdr ? hdr : mt_page_up(initial);
	if (maximum) {
		*reserve = mt_gran_up(maximum < *commit ? *commit : maximum);
		if (*commit > *reserve)
			*commit = *reserve;
	} else {
		*reserve = mt_gran_up(*commit);
		if (*reserve < ((size_t)1 << 20))
			*reserve = (size_t)1 << 20;
	}
	return 0;
}

static DWORD create(DWORD options, size_t initial, size_t maximum, bool process, struct mt_heap **out)
{
	size_t reserve, commit;
	struct mt_heap *h;
	DWORD err = sizes(initial, maximum, &reserve, &commit);
	void *base;

	if (err)
		return err;
	options &= CREATE_FLAGS;
	err = mt_seg_first(reserve, commit,
	                   options & HEAP_CREATE_ENABLE_EXECUTE ? PAGE_EXECUTE_READWRITE : PAGE_READWRITE,
	                   &base);
	if (err)
		return err;
	h = base;       /* committed and zero */
	h->rec.magic = MEMAPI_HEAP_MAGIC;
	h->rec.layout = MEMAPI_HEAP_LAYOUT;
	h->rec.flags = h->flags = options;
	h->rec.maximum_size = maximum ? reserve : 0;
	h->rec.options = (process ? MEMAPI_HEAP_PROCESS : 0) |
	                 (atomic_load(&mt_heap_terminate_all) ? MEMAPI_HEAP_TERMINATE : 0);
	make_key(h);
	init_lock(h);
	h->slot = -1;
	/* As on Windows: no low-fragmentation front end for fixed-size heaps
	 * or for heaps without serialization (whose subsegments the heap owns). */
	h->front = maximum ? MT_FRONT_NONE
	         : options & HEAP_NO_SERIALIZE ? MT_FRONT_LOOKASIDE : MT_FRONT_LFH;
	mt_backend_init(h, reserve, commit);
	mt_front_init(h);
	h->rec.compatibility = (uint32_t)h->front;
	*out = h;
	return 0;
}

HANDLE WINAPI HeapCreate(DWORD flOptions, SIZE_T dwInitialSize, SIZE_T dwMaximumSize)
{
	struct mt_heap *h;
	DWORD err;

	mt_init();
	if (dwMaximumSize && dwInitialSize > dwMaximumSize)
		dwMaximumSize = dwInitialSize;
	pthread_mutex_lock(&list_lock);
	err = create(flOptions, dwInitialSize, dwMaximumSize, false, &h);
	if (!err)
		link_heap(h);
	pthread_mutex_unlock(&list_lock);
	return err ? mt_fail_null(err) : (HANDLE)h;
}

BOOL WINAPI HeapDestroy(HANDLE hHeap)
{
	struct mt_heap *h;

	mt_init();
	pthread_mutex_lock(&list_lock);
	h = listed(hHeap);
	if (!h || h == mt_process_heap) {
		pthread_mutex_unlock(&list_lock);
		return mt_fail(ERROR_INVALID_HANDLE);
	}
	unlink_heap(h);
	mt_front_forget(h);
	pthread_mutex_unlock(&list_lock);
	/* An exiting thread may still be returning its subsegments. */
	while (atomic_load(&h->pins))
		sched_yield();
	pthread_mutex_destroy(&h->lock);
	mt_backend_release(h);       /* the heap record goes with segment 0 */
	return TRUE;
}

HANDLE WINAPI GetProcessHeap(VOID)
{
	mt_init();
	return mt_process_heap;
}

DWORD WINAPI GetProcessHeaps(DWORD NumberOfHeaps, PHANDLE ProcessHeaps)
{
	DWORD n = 0, i = 0;

	mt_init();
	pthread_mutex_lock(&list_lock);
	for (struct mt_heap *h = first; h; h = (struct mt_heap *)h->rec.next)
		n++;
	if (n <= NumberOfHeaps && (ProcessHeaps || !n))
		for (struct mt_heap *h = first; h; h = (struct mt_heap *)h->rec.next)
			ProcessHeaps[i++] = h;
	pthread_mutex_unlock(&list_lock);
	return n;
}

BOOL WINAPI HeapLock(HANDLE hHeap)
{
	struct mt_heap *h;

	mt_init();
	pthread_mutex_lock(&list_lock);
	h = listed(hHeap);
	pthread_mutex_unlock(&list_lock);
	if (!h)
		return mt_fail(ERROR_INVALID_HANDLE);
	mt_heap_freeze(h);
	return TRUE;
}

BOOL WINAPI HeapUnlock(HANDLE hHeap)
{
	struct mt_heap *h = mt_heap_from(hHeap);

	if (!h)
		return mt_fail(ERROR_INVALID_HANDLE);
	/* Only the holder may unlock (a critical section's rule). */
	if (pthread_mutex_trylock(&h->lock))
		return mt_fail(ERROR_NOT_LOCKED);
	if (h->freeze_depth == 0) {
		pthread_mutex_unlock(&h->lock);
		return mt_fail(ERROR_NOT_LOCKED);
	}
	pthread_mutex_unlock(&h->lock);
	mt_heap_thaw(h);
	return TRUE;
}

/* fork: no heap may be mid-change, no thread inside a fast path. */
void mt_heap_atfork(enum mt_fork_phase phase)
{
	struct mt_heap *h;

	if (phase == MT_FORK_PREPARE) {
		pthread_mutex_lock(&list_lock);
		for (h = first; h; h = (struct mt_heap *)h->rec.next)
			mt_heap_freeze(h);
		mt_front_atfork(phase);
		return;
	}
	if (phase == MT_FORK_PARENT) {
		mt_front_atfork(phase);
		for (h = first; h; h = (struct mt_heap *)h->rec.next)
			mt_heap_thaw(h);
		pthread_mutex_unlock(&list_lock);
		return;
	}
	/* The child's thread has another id: a recursive mutex cannot be
	 * unlocked by it, so the locks start afresh (before the subsegments of the
	 * parent's other threads are returned, which takes them). */
	for (h = first; h; h = (struct mt_heap *)h->rec.next) {
		init_lock(h);
		h->freeze_depth = 0;
		atomic_store(&h->frozen, 0);
	}
	pthread_mutex_init(&list_lock, NULL);
	mt_front_atfork(phase);
}

void mt_heap_init(void)
{
	struct mt_heap *h;

	if (!create(0, 0, 0, true, &h)) {
		mt_process_heap = h;
		link_heap(h);
	}
}
