/* heap_work: runs one heap workload once, timed, as a child of bench_heap.
 *
 * Built once per allocator (see the Makefile), because mimalloc and jemalloc
 * take over malloc when they are linked:
 *   heap_work-glibc, -mimalloc, -jemalloc   malloc / realloc / free
 *   heap_work-memapi                        HeapAlloc / HeapReAlloc / HeapFree
 *                                           on GetProcessHeap(), or with
 *                                           --noser on HeapCreate(HEAP_NO_SERIALIZE)
 *                                           heaps, one per thread
 *
 *   heap_work-<alloc> [--noser] WORKLOAD   prints "ms=<elapsed> sum=<checksum>"
 *   heap_work-<alloc> --probe              prints "alloc=<name> verified=<0|1> <detail>"
 *
 * The workloads follow the public descriptions of glibc's bench-malloc-simple
 * and bench-malloc-thread, and of the larson, xmalloc-test, cache-scratch and
 * mstress benchmarks; the code is our own. Sizes and counts are fixed and the
 * random numbers seeded, so every allocator does the same work. */
#ifdef WK_MEMAPI
#include <windows.h>
#endif

#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#if defined(WK_MIMALLOC)
#include <mimalloc.h>
#elif defined(WK_JEMALLOC)
#include <jemalloc/jemalloc.h>
#elif !defined(WK_MEMAPI)
#include <gnu/libc-version.h>
#endif

#include "bench.h"
#include "heap_work.h"

/* A worker that hangs must not hang `make bench`. */
#define WK_TIMEOUT_S 120

static void die(const char *what)
{
	fprintf(stderr, "heap_work: %s\n", what);
	exit(1);
}

static void out_of_memory(size_t n)
{
	fprintf(stderr, "heap_work: allocation of %zu bytes failed\n", n);
	exit(1);
}

/* ---- the allocator under test ----
 * A wk_heap is what one thread allocates from: a HANDLE in the memapi build,
 * unused by malloc. Every call checks for failure the same way, so the
 * check costs all allocators alike. */

#ifdef WK_MEMAPI
typedef HANDLE wk_heap;

/* A heap call failed: say which, with its error code. */
static void die_win(const char *what)
{
	fprintf(stderr, "heap_work: %s failed (error %u)\n", what, (unsigned)GetLastError());
	exit(1);
}

static bool noser;          /* --noser: a HEAP_NO_SERIALIZE heap per thread */

static wk_heap heap_open(void)
{
	HANDLE h = noser ? HeapCreate(HEAP_NO_SERIALIZE, 0, 0) : GetProcessHeap();

	if (!h)
		die_win(noser ? "HeapCreate(HEAP_NO_SERIALIZE)" : "GetProcessHeap");
	return h;
}

static void heap_close(wk_heap h)
{
	if (noser && !HeapDestroy(h))
		die_win("HeapDestroy");
}

static inline void *wk_alloc(wk_heap h, size_t n)
{
	void *p = HeapAlloc(h, 0, n);

	if (!p)
		out_of_memory(n);
	return p;
}

static inline void *wk_realloc(wk_heap h, void *p, size_t n)
{
	void *q = HeapReAlloc(h, 0, p, n);

	if (!q)
		out_of_memory(n);
	return q;
}

static inline void wk_free(wk_heap h, void *p)
{
	if (!HeapFree(h, 0, p))
		die_win("HeapFree");
}
#else
typedef void *wk_heap;

static wk_heap heap_open(void)
{
	return NULL;
}

static void heap_close(wk_heap h)
{
}

static inline void *wk_alloc(wk_heap h, size_t n)
{
	void *p = malloc(n);

	if (!p)
		out_of_memory(n);
	return p;
}

static inline void *wk_realloc(wk_heap h, void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q)
		out_of_memory(n);
	return q;
}

static inline void wk_free(wk_heap h, void *p)
{
	free(p);
}
#endif

/* ---- threads ---- */

typedef void *(*thread_fn)(void *);

/* Runs fa(a) and fb(b) on two new threads and waits for both. */
static void run_pair(thread_fn fa, void *a, thread_fn fb, void *b)
{
	pthread_t t[2];

	if (pthread_create(&t[0], NULL, fa, a) || pthread_create(&t[1], NULL, fb, b))
		die("pthread_create failed");
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
}

static void spawn_detached(thread_fn fn, void *arg)
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, fn, arg))
		die("pthread_create failed");
	pthread_attr_destroy(&attr);
}

/* ---- glibc-simple, glibc-thread ----
 * Batches of COUNT blocks of one small SIZE: allocate the batch (writing a
 * byte into each block), free it in the same order, repeat; every pair of
 * (size, count) does SIMPLE_PAIRS allocations. */

#define SIMPLE_PAIRS 400000
#define SIMPLE_MAX_COUNT 1600

static const size_t simple_sizes[] = { 16, 32, 64, 128, 256, 512, 1024 };
static const int simple_counts[] = { 25, 100, 400, SIMPLE_MAX_COUNT };

static uint64_t simple_batches(wk_heap h, size_t size, int count)
{
	unsigned char *p[SIMPLE_MAX_COUNT];
	uint64_t sum = 0;

	for (int r = SIMPLE_PAIRS / count; r > 0; r--) {
		for (int i = 0; i < count; i++) {
			p[i] = wk_alloc(h, size);
			p[i][0] = (unsigned char)i;
		}
		for (int i = 0; i < count; i++) {
			sum += p[i][0];
			wk_free(h, p[i]);
		}
	}
	return sum;
}

static uint64_t simple_all(void)
{
	wk_heap h = heap_open();
	uint64_t sum = 0;

	for (size_t s = 0; s < sizeof simple_sizes / sizeof simple_sizes[0]; s++)
		for (size_t c = 0; c < sizeof simple_counts / sizeof simple_counts[0]; c++)
			sum += simple_batches(h, simple_sizes[s], simple_counts[c]);
	heap_close(h);
	return sum;
}

static uint64_t run_glibc_simple(void)
{
	return simple_all();
}

static void *simple_thread(void *arg)
{
	*(uint64_t *)arg = simple_all();
	return NULL;
}

/* Each thread runs the whole single-thread loop on blocks of its own. */
static uint64_t run_glibc_thread(void)
{
	uint64_t sum[2];

	run_pair(simple_thread, &sum[0], simple_thread, &sum[1]);
	return sum[0] + sum[1];
}

/* ---- larson ----
 * A server simulation: each of two lanes owns an array of slots holding
 * blocks of random size. A generation (one thread) replaces LARSON_ROUND
 * random slots (free the old block, allocate a new one); then it starts the
 * lane's next generation on a new thread, which inherits the array, and
 * exits. The main thread fills the arrays and frees what is left, so every
 * block is freed by another thread than the one that allocated it. */

#define LARSON_SLOTS 4000
#define LARSON_GENS  60
#define LARSON_ROUND 100000
#define LARSON_MIN   16
#define LARSON_MAX   1000

struct lane {
	unsigned char *slot[LARSON_SLOTS];
	uint64_t rng, sum;
	int gen;
	sem_t done;
};

static struct lane lanes[2];

static unsigned char *larson_block(wk_heap h, uint64_t *rng)
{
	size_t n = LARSON_MIN + bench_rand_below(rng, LARSON_MAX - LARSON_MIN + 1);
	unsigned char *p = wk_alloc(h, n);

	p[0] = (unsigned char)n;
	p[n - 1] = 1;
	return p;
}

static void *larson_generation(void *arg)
{
	struct lane *l = arg;
	wk_heap h = heap_open();

	for (int i = 0; i < LARSON_ROUND; i++) {
		uint64_t k = bench_rand_below(&l->rng, LARSON_SLOTS);

		l->sum += l->slot[k][0];
		wk_free(h, l->slot[k]);
		l->slot[k] = larson_block(h, &l->rng);
	}
	heap_close(h);
	if (++l->gen < LARSON_GENS)
		spawn_detached(larson_generation, l);
	else
		sem_post(&l->done);
	return NULL;
}

static uint64_t run_larson(void)
{
	wk_heap h = heap_open();
	uint64_t sum = 0;

	for (int t = 0; t < 2; t++) {
		lanes[t].rng = 0x1a2507 + (uint64_t)t;
		sem_init(&lanes[t].done, 0, 0);
		for (int k = 0; k < LARSON_SLOTS; k++)
			lanes[t].slot[k] = larson_block(h, &lanes[t].rng);
	}
	for (int t = 0; t < 2; t++)
		spawn_detached(larson_generation, &lanes[t]);
	for (int t = 0; t < 2; t++) {
		while (sem_wait(&lanes[t].done))
			;
		for (int k = 0; k < LARSON_SLOTS; k++)
			wk_free(h, lanes[t].slot[k]);
		sum += lanes[t].sum;
	}
	heap_close(h);
	return sum;
}

/* ---- xmalloc-test ----
 * Producer and consumer: one thread allocates blocks of random small size
 * and hands them over in batches through a ring of batch slots; the other
 * thread frees them. Each slot has a flag, so the two threads share no lock;
 * the ring bounds the blocks in flight to XM_RING * XM_BATCH. */

#define XM_BATCH   256
#define XM_RING    64
#define XM_BATCHES 8000
#define XM_MIN     8
#define XM_MAX     256

struct xm_slot {
	_Alignas(64) atomic_int full;
	unsigned char *p[XM_BATCH];
};

static struct xm_slot xm_ring[XM_RING];

static void wait_flag(atomic_int *flag, int want)
{
	for (int spins = 0; atomic_load_explicit(flag, memory_order_acquire) != want; spins++)
		if (spins > 100)
			sched_yield();
}

static void *xm_producer(void *arg)
{
	wk_heap h = heap_open();
	uint64_t rng = 0x3a110c;

	for (int b = 0; b < XM_BATCHES; b++) {
		struct xm_slot *s = &xm_ring[b % XM_RING];

		wait_flag(&s->full, 0);
		for (int i = 0; i < XM_BATCH; i++) {
			s->p[i] = wk_alloc(h, XM_MIN + bench_rand_below(&rng, XM_MAX - XM_MIN + 1));
			s->p[i][0] = (unsigned char)i;
		}
		atomic_store_explicit(&s->full, 1, memory_order_release);
	}
	heap_close(h);
	return NULL;
}

static void *xm_consumer(void *arg)
{
	wk_heap h = heap_open();
	uint64_t sum = 0;

	for (int b = 0; b < XM_BATCHES; b++) {
		struct xm_slot *s = &xm_ring[b % XM_RING];

		wait_flag(&s->full, 1);
		for (int i = 0; i < XM_BATCH; i++) {
			sum += s->p[i][0];
			wk_free(h, s->p[i]);
		}
		atomic_store_explicit(&s->full, 0, memory_order_release);
	}
	heap_close(h);
	*(uint64_t *)arg = sum;
	return NULL;
}

static uint64_t run_xmalloc_test(void)
{
	uint64_t sum = 0;

	run_pair(xm_producer, NULL, xm_consumer, &sum);
	return sum;
}

/* ---- cache-scratch ----
 * False sharing: the main thread allocates one small object per thread, one
 * after the other (so they may share a cache line), and hands each to its
 * thread. The thread frees it, then CS_ITER times allocates an object of the
 * same size, writes it CS_WRITES times and frees it. An allocator that gives
 * the thread back the main thread's object, or one next to the other
 * thread's, makes the two cores fight over one cache line. */

#define CS_OBJ    8
#define CS_ITER   1000
#define CS_WRITES 100000

struct cs_arg {
	wk_heap h;
	unsigned char *first;
	uint64_t sum;
};

static uint64_t cs_scribble(volatile unsigned char *p)
{
	for (int w = 0; w < CS_WRITES; w++)
		for (int k = 0; k < CS_OBJ; k++)
			p[k] = (unsigned char)(p[k] + 1);
	return p[0];
}

static void *cs_thread(void *arg)
{
	struct cs_arg *a = arg;

	wk_free(a->h, a->first);
	for (int i = 0; i < CS_ITER; i++) {
		unsigned char *p = wk_alloc(a->h, CS_OBJ);

		memset(p, 0, CS_OBJ);
		a->sum += cs_scribble(p);
		wk_free(a->h, p);
	}
	return NULL;
}

/* With --noser each thread's heap is created and first used by the main
 * thread before the thread starts, and used only by that thread after. */
static uint64_t run_cache_scratch(void)
{
	struct cs_arg a[2];

	for (int t = 0; t < 2; t++) {
		a[t].h = heap_open();
		a[t].first = wk_alloc(a[t].h, CS_OBJ);
		a[t].sum = 0;
	}
	run_pair(cs_thread, &a[0], cs_thread, &a[1]);
	for (int t = 0; t < 2; t++)
		heap_close(a[t].h);
	return a[0].sum + a[1].sum;
}

/* ---- mstress ----
 * One thread, a table of slots. Each step picks a random slot: an empty
 * slot is filled with probability t; a full one is resized (realloc, growing
 * or shrinking it) three times in ten, else freed with probability 1 - t.
 * t, the target fill, runs up and down between 5% and 95% every
 * MS_PERIOD steps, so the working set grows and shrinks. Sizes are 70%
 * 8-128 bytes, 25% to 2 KiB, 5% to 32 KiB, resized up to 64 KiB. Each block
 * carries its slot number in its first byte and, after a realloc, the
 * first and the old last byte must still hold it. */

#define MS_SLOTS  20000
#define MS_STEPS  4000000
#define MS_PERIOD 1000000
#define MS_MAXSZ  (64 << 10)

struct ms_block {
	unsigned char *p;
	size_t n;
};

static struct ms_block ms[MS_SLOTS];

static size_t ms_size(uint64_t *rng)
{
	uint64_t r = bench_rand_below(rng, 100);

	if (r < 70)
		return 8 + bench_rand_below(rng, 121);
	if (r < 95)
		return 129 + bench_rand_below(rng, 1920);
	return 2049 + bench_rand_below(rng, 30720);
}

/* Target fill in per mille: a triangle wave 50..950 over MS_PERIOD steps. */
static uint64_t ms_target(long step)
{
	long phase = step % MS_PERIOD, half = MS_PERIOD / 2;
	long up = phase < half ? phase : MS_PERIOD - phase;

	return 50 + (uint64_t)(900 * up / half);
}

static void ms_fill(struct ms_block *b, unsigned char tag, size_t from)
{
	b->p[from] = tag;
	b->p[b->n - 1] = tag;
}

static size_t ms_resize(uint64_t *rng, size_t n)
{
	size_t m = bench_rand_below(rng, 2) ? n + 1 + bench_rand_below(rng, 2 * n)
	                                    : n / 4 + 1 + bench_rand_below(rng, n / 2 + 1);

	return m < 8 ? 8 : m > MS_MAXSZ ? MS_MAXSZ : m;
}

static void ms_realloc(wk_heap h, struct ms_block *b, unsigned char tag, uint64_t *rng)
{
	size_t old = b->n;

	b->n = ms_resize(rng, old);
	b->p = wk_realloc(h, b->p, b->n);
	if (b->p[0] != tag || (b->n > old && b->p[old - 1] != tag))
		die("realloc did not keep the contents of a block");
	ms_fill(b, tag, 0);
}

static uint64_t run_mstress(void)
{
	wk_heap h = heap_open();
	uint64_t rng = 0x357e55, sum = 0;

	for (long step = 0; step < MS_STEPS; step++) {
		uint64_t k = bench_rand_below(&rng, MS_SLOTS), t = ms_target(step);
		struct ms_block *b = &ms[k];
		unsigned char tag = (unsigned char)k;

		if (!b->p) {
			if (bench_rand_below(&rng, 1000) < t) {
				b->n = ms_size(&rng);
				b->p = wk_alloc(h, b->n);
				ms_fill(b, tag, 0);
			}
		} else if (bench_rand_below(&rng, 10) < 3) {
			ms_realloc(h, b, tag, &rng);
		} else if (bench_rand_below(&rng, 1000) >= t) {
			sum += b->p[0];
			wk_free(h, b->p);
			b->p = NULL;
		}
	}
	for (int k = 0; k < MS_SLOTS; k++)
		if (ms[k].p)
			wk_free(h, ms[k].p);
	heap_close(h);
	return sum;
}

/* ---- large ----
 * LG_SLOTS slots of large blocks, 1-16 MiB at random; each operation frees
 * a random slot's block and allocates a new one, writing one byte every
 * LG_STRIDE (every 16th page) and the last byte. */

#define LG_SLOTS  8
#define LG_OPS    3000
#define LG_MIN    ((size_t)1 << 20)
#define LG_MAX    ((size_t)16 << 20)
#define LG_STRIDE (64 << 10)

static uint64_t run_large(void)
{
	wk_heap h = heap_open();
	unsigned char *slot[LG_SLOTS] = { 0 };
	uint64_t rng = 0x1a26e, sum = 0;

	for (int i = 0; i < LG_OPS; i++) {
		uint64_t k = bench_rand_below(&rng, LG_SLOTS);
		size_t n = LG_MIN + bench_rand_below(&rng, LG_MAX - LG_MIN + 1);

		if (slot[k]) {
			sum += slot[k][0];
			wk_free(h, slot[k]);
		}
		slot[k] = wk_alloc(h, n);
		for (size_t off = 0; off < n; off += LG_STRIDE)
			slot[k][off] = (unsigned char)i;
		slot[k][n - 1] = 1;
	}
	for (int k = 0; k < LG_SLOTS; k++)
		if (slot[k])
			wk_free(h, slot[k]);
	heap_close(h);
	return sum;
}

/* ---- startup: no work, for the resident size of an idle worker ---- */

static uint64_t run_startup(void)
{
	return 0;
}

/* ---- probe: is the allocator in use the one this worker is named after? ---- */

static void *volatile probe_sink;

static void probe(void)
{
#if defined(WK_MIMALLOC)
	probe_sink = malloc(64);
	printf("alloc=mimalloc verified=%d mi_version=%d\n",
	       mi_is_in_heap_region(probe_sink) ? 1 : 0, mi_version());
#elif defined(WK_JEMALLOC)
	const char *version = "?";
	uint64_t before = 0, after = 0;
	size_t vs = sizeof version, us = sizeof before;
	int ok = !mallctl("version", &version, &vs, NULL, 0) &&
	         !mallctl("thread.allocated", &before, &us, NULL, 0);

	/* jemalloc counts this thread's bytes: malloc must move the count. */
	probe_sink = malloc(1000);
	ok = ok && !mallctl("thread.allocated", &after, &us, NULL, 0) && after - before >= 1000;
	printf("alloc=jemalloc verified=%d version=%s\n", ok, version);
#elif defined(WK_MEMAPI)
	HANDLE h = GetProcessHeap();

	probe_sink = h ? HeapAlloc(h, 0, 1000) : NULL;
	printf("alloc=memapi verified=%d HeapSize=%zu\n",
	       probe_sink && HeapSize(h, 0, probe_sink) >= 1000,
	       probe_sink ? (size_t)HeapSize(h, 0, probe_sink) : 0);
#else
	/* glibc's own counters must see the block. */
	struct mallinfo2 a = mallinfo2(), b;

	probe_sink = malloc(1000);
	b = mallinfo2();
	printf("alloc=glibc verified=%d version=%s\n",
	       b.uordblks >= a.uordblks + 1000, gnu_get_libc_version());
#endif
}

/* ---- main ---- */

typedef uint64_t (*workload_fn)(void);

#define HEAP_WORKLOAD_FN(id, name, threads, noser_ok, timed) run_##id,
static const workload_fn workload_fns[] = { HEAP_WORKLOADS(HEAP_WORKLOAD_FN) };
#undef HEAP_WORKLOAD_FN

static int usage(void)
{
	fprintf(stderr, "usage: heap_work-<alloc> [--noser] WORKLOAD | --probe\n");
	return 2;
}

int main(int argc, char **argv)
{
	int i = 1, w;
	uint64_t t0, t1, sum;

	alarm(WK_TIMEOUT_S);
	if (argc == 2 && !strcmp(argv[1], "--probe")) {
		probe();
		return 0;
	}
	if (i < argc && !strcmp(argv[i], "--noser")) {
#ifdef WK_MEMAPI
		noser = true;
		i++;
#else
		fprintf(stderr, "heap_work: --noser needs the memapi worker\n");
		return 2;
#endif
	}
	if (i != argc - 1)
		return usage();
	for (w = 0; w < HEAP_NWORKLOADS; w++)
		if (!strcmp(argv[i], heap_workloads[w].name))
			break;
	if (w == HEAP_NWORKLOADS)
		return usage();
#ifdef WK_MEMAPI
	if (noser && !heap_workloads[w].noser) {
		fprintf(stderr, "heap_work: %s frees blocks across threads; no --noser\n", argv[i]);
		return 2;
	}
#endif
	t0 = now_ns();
	sum = workload_fns[w]();
	t1 = now_ns();
	printf("ms=%.3f sum=%llu\n", (double)(t1 - t0) / 1e6, (unsigned long long)sum);
	return 0;
}
