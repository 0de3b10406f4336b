/* Library start-up: probe the kernel, install the fault handler, fill the
 * root descriptor. Runs as a constructor, and on first use from other
 * constructors that may run before it. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* MEMAPI_DISABLE=wp_async,procmap_query,membarrier forces the fallbacks (tests, and
 * users who need to compare the paths). MEMAPI_WRITE_WATCH=fallback is the
 * documented spelling for write watch alone. */
static unsigned disabled_by_environment(void)
{
	const char *d = getenv("MEMAPI_DISABLE"), *w = getenv("MEMAPI_WRITE_WATCH");
	unsigned off = 0;

	if ((d && strstr(d, "wp_async")) || (w && !strcmp(w, "fallback")))
		off |= MT_OS_NO_WP_ASYNC;
	if (d && strstr(d, "procmap_query"))
		off |= MT_OS_NO_PROCMAP_QUERY;
	if (d && strstr(d, "membarrier"))
		off |= MT_OS_NO_MEMBARRIER;
	return off;
}

/* fork() while another thread changes the address space: the child would
 * inherit a held lock. Hold it across fork, then repair the child's view. */
static void other_locks(enum mt_fork_phase phase)
{
	mt_handles_atfork(phase);
	mt_veh_atfork(phase);
	mt_os_atfork(phase);
	mt_secure_atfork(phase);
	mt_badmem_atfork(phase);
}

/* Lock order: heaps, AWE pool, thunks, enclaves, then vm (heaps commit memory under
 * theirs, the pool maps frames under its own, thunk blocks are recorded
 * under theirs). */
static void before_fork(void)
{
	mt_heap_atfork(MT_FORK_PREPARE);
	mt_awe_atfork(MT_FORK_PREPARE);
	mt_thunk_atfork(MT_FORK_PREPARE);
	mt_enclave_atfork(MT_FORK_PREPARE);
	mt_vm_lock();
	other_locks(MT_FORK_PREPARE);
}

static void after_fork_parent(void)
{
	other_locks(MT_FORK_PARENT);
	mt_vm_unlock();
	mt_enclave_atfork(MT_FORK_PARENT);
	mt_thunk_atfork(MT_FORK_PARENT);
	mt_awe_atfork(MT_FORK_PARENT);
	mt_heap_atfork(MT_FORK_PARENT);
}

static void after_fork_child(void)
{
	other_locks(MT_FORK_CHILD);
	mt_forget_tid();
	mt_watch_after_fork();
	mt_awe_after_fork();
	mt_section_after_fork();
	mt_thunk_after_fork();
	mt_vm_unlock();
	mt_enclave_atfork(MT_FORK_CHILD);
	mt_thunk_atfork(MT_FORK_CHILD);
	mt_awe_atfork(MT_FORK_CHILD);
	mt_heap_atfork(MT_FORK_CHILD);
}

static void init_once(void)
{
	mt_os_init(disabled_by_environment());
	mt_root_init();
	mt_fault_init();
	mt_heap_init();
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void mt_init(void)
{
	pthread_once(&once, init_once);
}

__attribute__((constructor)) static void memapi_constructor(void)
{
	mt_init();
}
