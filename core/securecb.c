/* Secure memory cache callbacks: AddSecureMemoryCacheCallback and
 * RemoveSecureMemoryCacheCallback.
 *
 * On Windows a driver "secures" a range (MmSecureVirtualMemory) so that it
 * cannot be freed or reprotected; an attempt to do so calls these
 * callbacks, which drop the application's cached translations and unsecure
 * it. Linux has no such lock that user space can see: memory pinned by a
 * driver (an RDMA registration, say) stays pinned while its addresses are
 * freed. So every range counts as secured: after each successful free,
 * decommit, unmap or protection change of memory libmemapi manages, the
 * callbacks run with the range that changed, and an application that keeps
 * such a cache (the registration cache of an RDMA or MPI library) learns of
 * it before the addresses can be reused by this library. */
#include "internal.h"

#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static PSECURE_MEMORY_CACHE_CALLBACK *callbacks;
static size_t count, cap;
static atomic_size_t live;              /* count, read without the lock */

BOOL WINAPI AddSecureMemoryCacheCallback(PSECURE_MEMORY_CACHE_CALLBACK pfnCallBack)
{
	BOOL ok = TRUE;

	mt_init();
	if (!pfnCallBack)
		return mt_fail(ERROR_INVALID_PARAMETER);
	pthread_mutex_lock(&lock);
	if (count == cap) {
		size_t n = cap ? cap * 2 : 8;
		PSECURE_MEMORY_CACHE_CALLBACK *v = realloc(callbacks, n * sizeof *v);

		if (v) {
			callbacks = v;
			cap = n;
		}
	}
	if (count < cap) {
		callbacks[count++] = pfnCallBack;
		atomic_store(&live, count);
	} else {
		ok = mt_fail(ERROR_NOT_ENOUGH_MEMORY);
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

/* Removes one registration of the callback (each Add is one). */
BOOL WINAPI RemoveSecureMemoryCacheCallback(PSECURE_MEMORY_CACHE_CALLBACK pfnCallBack)
{
	BOOL found = FALSE;

	mt_init();
	pthread_mutex_lock(&lock);
	for (size_t i = count; i-- > 0 && !found;)
		if (callbacks[i] == pfnCallBack) {
			callbacks[i] = callbacks[--count];
			atomic_store(&live, count);
			found = TRUE;
		}
	pthread_mutex_unlock(&lock);
	return found ? TRUE : mt_fail(ERROR_INVALID_PARAMETER);
}

/* Runs every callback for [start, +size) once, on a copy of the list taken
 * under the lock and called without it: a callback may add or remove
 * callbacks, or query memory. Called with no lock of the library held,
 * except a heap's own for the heap's decommits (as Windows documents: the
 * callback must not use that heap). */
void mt_secure_notify(uintptr_t start, size_t size)
{
	PSECURE_MEMORY_CACHE_CALLBACK local[16], *copy = local;
	size_t n;

	if (!size || !atomic_load_explicit(&live, memory_order_relaxed))
		return;
	pthread_mutex_lock(&lock);
	n = count;
	if (n > 16 && !(copy = malloc(n * sizeof *copy)))
		n = 16, copy = local;       /* no memory: the first 16 still run */
	for (size_t i = 0; i < n; i++)
		copy[i] = callbacks[i];
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < n; i++)
		copy[i]((PVOID)start, size);
	if (copy != local)
		free(copy);
}

void mt_secure_atfork(enum mt_fork_phase phase)
{
	mt_mutex_atfork(&lock, phase);
}
