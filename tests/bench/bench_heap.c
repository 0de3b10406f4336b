/* bench_heap: HeapAlloc / HeapReAlloc / HeapFree against glibc malloc,
 * mimalloc and jemalloc on seven workloads (see heap_work.c for each).
 *
 * mimalloc and jemalloc replace malloc when linked, so each allocator has a
 * worker binary of its own beside this program (build/bench/heap_work-*,
 * not named bench_* so that `make bench` does not run them directly); the
 * memapi worker runs both heap columns:
 *   heap        HeapAlloc on GetProcessHeap() (serialized)
 *   heap-noser  HeapAlloc on HeapCreate(HEAP_NO_SERIALIZE, 0, 0) heaps, one
 *               per thread; n/a where blocks cross threads
 *
 * Each (workload, allocator) pair runs as a child process, HEAP_REPS times;
 * within a repetition the allocators of a workload run one after the other,
 * starting each repetition with the next allocator, so drift of the machine
 * hits all alike. Times are the worker's own (its workload only, not exec or
 * exit); peak RSS is ru_maxrss of the child from wait4. Figures are medians.
 *
 * Targets: heap time <= 1.0x glibc on every workload, <= 1.3x mimalloc on the
 * single-threaded ones; heap peak RSS <= 1.2x glibc.
 *
 *   bench_heap [-r REPS] [WORKLOAD...] */
#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "heap_work.h"

#define HEAP_REPS   5
#define MAX_REPS    15
#define T_GLIBC     1.00
#define T_MIMALLOC  1.30
#define T_RSS       1.20

enum { A_HEAP, A_NOSER, A_GLIBC, A_MI, A_JE, NALLOC };

static const struct {
	const char *name, *worker, *flag;
} allocs[NALLOC] = {
	[A_HEAP]  = { "heap",       "memapi",   NULL },
	[A_NOSER] = { "heap-noser", "memapi",   "--noser" },
	[A_GLIBC] = { "glibc",      "glibc",    NULL },
	[A_MI]    = { "mimalloc",   "mimalloc", NULL },
	[A_JE]    = { "jemalloc",   "jemalloc", NULL },
};

/* What became of a (workload, allocator) pair. */
enum state { ST_OK, ST_NA, ST_ABSENT, ST_FAILED };

struct result {
	enum state state;
	int n;                                  /* runs done */
	double ms[MAX_REPS], rss_mib[MAX_REPS];
	char why[160];                          /* ST_FAILED: the first failure */
};

struct worker {
	char path[4096];
	bool present, verified;
	char probe[160];                        /* the probe's line, or why none */
};

static struct result res[HEAP_NWORKLOADS][NALLOC];
static struct worker workers[NALLOC];
static bool selected[HEAP_NWORKLOADS];
static int reps = HEAP_REPS;

/* ---- running a worker ---- */

/* Reads fd to its end (so the writer never blocks), keeping what fits in out. */
static void read_all(int fd, char *out, size_t size)
{
	char scratch[256];
	size_t len = 0;
	ssize_t got;

	for (;;) {
		bool room = len + 1 < size;

		got = read(fd, room ? out + len : scratch, room ? size - 1 - len : sizeof scratch);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += room ? (size_t)got : 0;
	}
	out[len] = 0;
}

/* Runs path with argv, its stdout into out; returns the wait status (or -1)
 * and the child's resource usage. */
static int run_child(const char *path, char *const argv[], char *out, size_t size,
                     struct rusage *ru)
{
	int fd[2], status;
	pid_t pid;

	out[0] = 0;
	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		close(fd[0]);
		close(fd[1]);
		execv(path, argv);
		_exit(127);
	}
	close(fd[1]);
	if (pid > 0)
		read_all(fd[0], out, size);
	close(fd[0]);
	if (pid < 0)
		return -1;
	while (wait4(pid, &status, 0, ru) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

static void describe_status(char *buf, size_t size, int status)
{
	if (status == -1)
		snprintf(buf, size, "could not start");
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
}

/* The workers live beside this program. */
static void find_workers(void)
{
	char self[3800];                        /* leaves room in path[] */
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	char *slash;

	if (n < 0) {
		perror("bench_heap: /proc/self/exe");
		exit(1);
	}
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	for (int a = 0; a < NALLOC; a++)
		snprintf(workers[a].path, sizeof workers[a].path, "%s/heap_work-%s", self,
		         allocs[a].worker);
}

/* Asks each worker which allocator serves its malloc (or HeapAlloc). */
static void probe_workers(void)
{
	for (int a = 0; a < NALLOC; a++) {
		struct worker *w = &workers[a];
		char *argv[] = { w->path, "--probe", NULL };
		struct rusage ru;
		int st;

		w->present = access(w->path, X_OK) == 0;
		if (!w->present) {
			snprintf(w->probe, sizeof w->probe, "heap_work-%s not built (expected beside bench_heap)",
			         allocs[a].worker);
			continue;
		}
		st = run_child(w->path, argv, w->probe, sizeof w->probe, &ru);
		w->probe[strcspn(w->probe, "\n")] = 0;
		w->verified = st == 0 && strstr(w->probe, "verified=1");
	}
}

static void record_run(struct result *r, int status, const char *out, const struct rusage *ru)
{
	double ms;

	if (status != 0 || sscanf(out, "ms=%lf", &ms) != 1) {
		if (r->state != ST_FAILED)
			describe_status(r->why, sizeof r->why, status);
		r->state = ST_FAILED;
		return;
	}
	r->ms[r->n] = ms;
	r->rss_mib[r->n] = ru->ru_maxrss / 1024.0;      /* ru_maxrss is in KiB */
	r->n++;
}

static void run_one(int w, int a)
{
	struct result *r = &res[w][a];
	char *argv[4], out[256];
	struct rusage ru;
	int i = 0;

	if (r->state != ST_OK)
		return;
	argv[i++] = workers[a].path;
	if (allocs[a].flag)
		argv[i++] = (char *)allocs[a].flag;
	argv[i++] = (char *)heap_workloads[w].name;
	argv[i] = NULL;
	record_run(r, run_child(workers[a].path, argv, out, sizeof out, &ru), out, &ru);
}

/* Marks what cannot run: an absent worker, a noser heap shared by threads. */
static void plan(void)
{
	for (int w = 0; w < HEAP_NWORKLOADS; w++)
		for (int a = 0; a < NALLOC; a++) {
			if (!workers[a].present)
				res[w][a].state = ST_ABSENT;
			else if (a == A_NOSER && !heap_workloads[w].noser)
				res[w][a].state = ST_NA;
		}
}

static void run_all(void)
{
	int total = 0, done = 0;
	bool tty = isatty(STDERR_FILENO);

	for (int w = 0; w < HEAP_NWORKLOADS; w++)
		total += selected[w] ? reps * NALLOC : 0;
	for (int rep = 0; rep < reps; rep++)
		for (int w = 0; w < HEAP_NWORKLOADS; w++) {
			if (!selected[w])
				continue;
			for (int j = 0; j < NALLOC; j++, done++) {
				if (tty)
					fprintf(stderr, "\rbench_heap: run %d/%d ", done + 1, total);
				run_one(w, (j + rep) % NALLOC);
			}
		}
	if (tty)
		fprintf(stderr, "\r%*s\r", 40, "");
}

/* ---- figures ---- */

static double med_ms(int w, int a)
{
	return res[w][a].state == ST_OK ? median(res[w][a].ms, res[w][a].n) : NAN;
}

static double med_rss(int w, int a)
{
	return res[w][a].state == ST_OK ? median(res[w][a].rss_mib, res[w][a].n) : NAN;
}

static const char *state_text(enum state s)
{
	return s == ST_NA ? "n/a" : s == ST_ABSENT ? "absent" : s == ST_FAILED ? "FAILED" : "";
}

static void cell_value(struct bench_table *t, int w, int a, double v)
{
	char buf[32];

	if (res[w][a].state != ST_OK)
		bench_cell(t, "%s", state_text(res[w][a].state));
	else
		bench_cell(t, "%s", bench_fmt(buf, sizeof buf, v));
}

/* A ratio and, when judged, its status cell ("-" for target 0: none). */
static void cell_ratio(struct bench_table *t, double num, double den, double target, bool judged)
{
	char buf[64];
	double r = num / den;

	bench_cell(t, "%s", bench_fmt_ratio(buf, sizeof buf, r));
	if (!judged)
		return;
	if (target == 0)
		bench_cell(t, "-");
	else if (isnan(r))
		bench_cell(t, "not measured");
	else
		bench_cell(t, "%s", bench_status(r <= target));
}

static void time_row(struct bench_table *t, int w)
{
	const struct heap_workload *wl = &heap_workloads[w];
	double heap = med_ms(w, A_HEAP), glibc = med_ms(w, A_GLIBC);

	bench_cell(t, "%s", wl->name);
	bench_cell(t, "%d", wl->threads);
	for (int a = 0; a < NALLOC; a++)
		cell_value(t, w, a, med_ms(w, a));
	cell_ratio(t, heap, glibc, T_GLIBC, true);
	cell_ratio(t, heap, med_ms(w, A_MI), wl->threads == 1 ? T_MIMALLOC : 0, true);
	cell_ratio(t, med_ms(w, A_NOSER), glibc, 0, false);
}

static void rss_row(struct bench_table *t, int w)
{
	const struct heap_workload *wl = &heap_workloads[w];
	double glibc = med_rss(w, A_GLIBC);

	bench_cell(t, "%s", wl->timed ? wl->name : "startup (info)");
	for (int a = 0; a < NALLOC; a++)
		cell_value(t, w, a, med_rss(w, a));
	cell_ratio(t, med_rss(w, A_HEAP), glibc, wl->timed ? T_RSS : 0, true);
	cell_ratio(t, med_rss(w, A_NOSER), glibc, 0, false);
}

static void spread_row(struct bench_table *t, int w)
{
	char buf[64];

	bench_cell(t, "%s", heap_workloads[w].name);
	for (int a = 0; a < NALLOC; a++) {
		const struct result *r = &res[w][a];

		if (r->state != ST_OK)
			bench_cell(t, "%s", state_text(r->state));
		else
			bench_cell(t, "%s", bench_fmt_spread(buf, sizeof buf, bench_stats(r->ms, r->n)));
	}
}

/* ---- notes ---- */

static void note_workers(struct bench_table *t)
{
	char text[640];
	size_t o = 0;
	bool seen[NALLOC] = { false };

	o += (size_t)snprintf(text + o, sizeof text - o, "workers (probe: is malloc/HeapAlloc served by the named allocator?):");
	for (int a = 0; a < NALLOC && o < sizeof text; a++) {
		if (a == A_NOSER || seen[a])
			continue;
		seen[a] = true;
		o += (size_t)snprintf(text + o, sizeof text - o, "\n  %-8s %s%s", allocs[a].worker,
		                      workers[a].probe,
		                      workers[a].present && !workers[a].verified ?
		                      "  <-- NOT VERIFIED: its column may not be that allocator" : "");
	}
	bench_note(t, "%s", text);
}

/* All failures in one note, so the table's note limit cannot hide one. */
static void note_failures(struct bench_table *t, int *failed)
{
	char text[640];
	size_t o = 0;

	for (int w = 0; w < HEAP_NWORKLOADS; w++)
		for (int a = 0; a < NALLOC; a++)
			if (selected[w] && res[w][a].state == ST_FAILED && o < sizeof text) {
				o += (size_t)snprintf(text + o, sizeof text - o, "%s%s with %s: %s",
				                      o ? ";\n" : "", heap_workloads[w].name,
				                      allocs[a].name, res[w][a].why);
				(*failed)++;
			}
	if (*failed)
		bench_note(t, "FAILED (the workers' stderr is above):\n%s", text);
}

static void print_time_table(int *failed)
{
	static struct bench_table t;

	bench_table_init(&t, "Heap workloads: time, HeapAlloc vs malloc", "", 12,
	                 "workload", ">thr", ">heap", ">heap-noser", ">glibc", ">mimalloc",
	                 ">jemalloc", ">heap/glibc", "<=1.00x", ">heap/mi", "<=1.30x",
	                 ">noser/glibc");
	bench_set_units(&t, "units: ms of the workload in the worker (not exec/exit), median of %d runs,"
	                " each a fresh process;\n"
	                "       allocators interleaved run by run. Targets: heap <= %.2fx glibc on every"
	                " workload,\n"
	                "       <= %.2fx mimalloc on the single-threaded (thr 1) ones; '-': no target.",
	                reps, T_GLIBC, T_MIMALLOC);
	for (int w = 0; w < HEAP_NWORKLOADS; w++)
		if (selected[w] && heap_workloads[w].timed)
			time_row(&t, w);
	bench_note(&t, "heap: HeapAlloc/HeapReAlloc/HeapFree on GetProcessHeap() (serialized);"
	           " heap-noser: on HeapCreate(HEAP_NO_SERIALIZE, 0, 0),\n"
	           "one heap per thread. n/a: larson and xmalloc-test free blocks on another thread"
	           " than the one that\nallocated them, so they would share one unserialized heap"
	           " between threads; they are not run that way.");
	bench_note(&t, "glibc-simple: one thread; batches of 25/100/400/1600 blocks of one size"
	           " (16..1024 B) allocated, then freed\n"
	           "in order, 400,000 blocks per (size, batch). glibc-thread: the same on 2 threads"
	           " at once, each its own blocks.");
	bench_note(&t, "larson: 2 lanes of 4000 slots, 16-1000 B blocks; a thread replaces 100,000"
	           " random slots, then hands its\n"
	           "lane to a new thread (60 generations a lane); the main thread fills and"
	           " empties the lanes (all frees cross threads).");
	bench_note(&t, "xmalloc-test: a producer thread allocates 2 M blocks of 8-256 B and passes"
	           " them in batches of 256 through a\n"
	           "64-batch ring to a consumer thread that frees them.  cache-scratch: main"
	           " allocates one 8 B object per thread;\n"
	           "each of 2 threads frees it, then 1000 times allocates 8 B, writes it 100,000"
	           " times, frees it (false sharing shows as time).");
	bench_note(&t, "mstress: one thread, 20,000 slots, 4 M steps of malloc (8 B-32 KiB) /"
	           " realloc (grow or shrink, to 64 KiB) / free;\n"
	           "the working set swings between 5%% and 95%% of the slots every 1 M steps;"
	           " realloc must keep the contents.\n"
	           "large: one thread, 8 slots of 1-16 MiB blocks, 3000 replacements, each block"
	           " written every 64 KiB (1 page in 16);\n"
	           "mimalloc reuses the written pages of freed blocks without new page faults,"
	           " the others mostly fault them in again.");
	note_workers(&t);
	note_failures(&t, failed);
	bench_table_print(&t);
}

static void print_rss_table(void)
{
	static struct bench_table t;

	bench_table_init(&t, "Heap workloads: peak RSS, HeapAlloc vs malloc", "", 9,
	                 "workload", ">heap", ">heap-noser", ">glibc", ">mimalloc", ">jemalloc",
	                 ">heap/glibc", "<=1.20x", ">noser/glibc");
	bench_set_units(&t, "units: MiB, ru_maxrss of the worker process from wait4, median of %d runs."
	                " Target: heap <= %.2fx glibc.", reps, T_RSS);
	for (int w = 0; w < HEAP_NWORKLOADS; w++)
		if (selected[w])
			rss_row(&t, w);
	bench_note(&t, "peak RSS counts the whole worker process: program, libraries, thread stacks"
	           " and the allocator's own\n"
	           "start-up; the startup row (a worker that does no work) shows that fixed part."
	           " Where the workload's own data\n"
	           "is small (glibc-simple, glibc-thread, cache-scratch, xmalloc-test) the ratio"
	           " mostly compares those fixed costs.");
	bench_table_print(&t);
}

static void print_spread_table(void)
{
	static struct bench_table t;

	bench_table_init(&t, "Heap workloads: run-to-run spread of the times", "", 6,
	                 "workload", ">heap", ">heap-noser", ">glibc", ">mimalloc", ">jemalloc");
	bench_set_units(&t, "units: ms, min-max of the %d runs behind each median above", reps);
	for (int w = 0; w < HEAP_NWORKLOADS; w++)
		if (selected[w] && heap_workloads[w].timed)
			spread_row(&t, w);
	bench_note(&t, "the machine's drift shows here; a ratio in the tables above that is a few"
	           " per cent off its target\n"
	           "is within this run-to-run noise.");
	bench_table_print(&t);
}

/* ---- main ---- */

static int usage(void)
{
	fprintf(stderr, "usage: bench_heap [-r REPS (1-%d)] [WORKLOAD...]\n", MAX_REPS);
	return 2;
}

static int parse_args(int argc, char **argv)
{
	int i = 1, any = 0;

	if (i + 1 < argc && !strcmp(argv[i], "-r")) {
		reps = atoi(argv[i + 1]);
		if (reps < 1 || reps > MAX_REPS)
			return usage();
		i += 2;
	}
	for (; i < argc; i++, any++) {
		int w = 0;

		while (w < HEAP_NWORKLOADS && strcmp(argv[i], heap_workloads[w].name))
			w++;
		if (w == HEAP_NWORKLOADS)
			return usage();
		selected[w] = true;
	}
	for (int w = 0; w < HEAP_NWORKLOADS; w++)
		selected[w] = selected[w] || !any || !heap_workloads[w].timed;
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (parse_args(argc, argv))
		return 2;
	find_workers();
	probe_workers();
	plan();
	run_all();
	print_time_table(&failed);
	print_rss_table();
	print_spread_table();
	/* Only a worker that ran and failed fails the benchmark; an absent
	 * worker (libmemapi without a heap yet) is reported in the tables. */
	return failed ? 1 : 0;
}
