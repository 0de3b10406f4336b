/* heap_work.h: the workloads of the heap benchmark, shared by the driver
 * (bench_heap.c) and the worker (heap_work.c) so that both agree on the
 * names, the order and what each workload allows.
 *
 * X(id, name, threads, noser, timed):
 *   threads  threads that allocate at the same time;
 *   noser    1 when each thread can have a heap of its own, so the workload
 *            can run on HeapCreate(HEAP_NO_SERIALIZE) heaps; 0 when blocks
 *            allocated on one thread are freed on another while both run;
 *   timed    0 for the startup row, which only shows the resident size of
 *            a worker that does no work.
 *
 * The worker prints one line, "ms=<elapsed ms> sum=<checksum>"; with
 * --probe it prints "alloc=<name> verified=<0|1> <detail>". */
#ifndef HEAP_WORK_H
#define HEAP_WORK_H

#define HEAP_WORKLOADS(X)                              \
	X(glibc_simple,  "glibc-simple",  1, 1, 1)     \
	X(glibc_thread,  "glibc-thread",  2, 1, 1)     \
	X(larson,        "larson",        2, 0, 1)     \
	X(xmalloc_test,  "xmalloc-test",  2, 0, 1)     \
	X(cache_scratch, "cache-scratch", 2, 1, 1)     \
	X(mstress,       "mstress",       1, 1, 1)     \
	X(large,         "large",         1, 1, 1)     \
	X(startup,       "startup",       1, 1, 0)

struct heap_workload {
	const char *name;
	int threads, noser, timed;
};

#define HEAP_WORKLOAD_ENTRY(id, name, threads, noser, timed) { name, threads, noser, timed },
static const struct heap_workload heap_workloads[] = { HEAP_WORKLOADS(HEAP_WORKLOAD_ENTRY) };
#undef HEAP_WORKLOAD_ENTRY

#define HEAP_NWORKLOADS ((int)(sizeof heap_workloads / sizeof heap_workloads[0]))

#endif
