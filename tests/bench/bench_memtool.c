/* bench_memtool: the memtool command end to end, against its peers, on this
 * process as the target.
 *
 *   maps:  this process with 60,000 mappings; `memtool maps --pid` vs
 *          `pmap -x` and vs reading /proc/PID/smaps (what pmap -x reads).
 *          Target: faster than pmap -x.
 *   heap:  a libmemapi heap of 1,000,000 blocks; `memtool heap --pid`
 *          (statistics: every header read and checked) and with --blocks
 *          (every block printed, to /dev/null) vs the same process's own
 *          HeapWalk over the heap. Target: under 1 s.
 *
 * Each command is a fresh process whose output goes to /dev/null; the
 * figures are wall-clock medians of BENCH_REPS runs, the runs of the peers
 * interleaved. */
#include <windows.h>

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAPPINGS   60000
#define BLOCKS     1000000
#define PAGE       4096

extern char **environ;

static char memtool[PATH_MAX];
static char self_pid[16];

static void die(const char *what)
{
	fprintf(stderr, "bench_memtool: %s failed\n", what);
	exit(1);
}

/* Runs argv with stdout on /dev/null; its wall-clock time in ns, or NAN
 * when it cannot run or fails. */
static double run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	uint64_t t0 = now_ns();
	int status;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		return NAN;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return NAN;
	return (double)(now_ns() - t0);
}

static double read_smaps(void)
{
	char path[64], buf[1 << 16];
	uint64_t t0 = now_ns();
	int fd;

	snprintf(path, sizeof path, "/proc/%s/smaps", self_pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return NAN;
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
	return (double)(now_ns() - t0);
}

/* Single pages with alternating protections, so no two merge into one VMA. */
static char *make_mappings(void)
{
	char *base = mmap(NULL, (size_t)MAPPINGS * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
	                  -1, 0);

	if (base == MAP_FAILED)
		die("mmap");
	for (size_t i = 1; i < MAPPINGS; i += 2)
		if (mprotect(base + i * PAGE, PAGE, PROT_READ | PROT_WRITE))
			die("mprotect (is vm.max_map_count below 65530?)");
	return base;
}

static void add_row(struct bench_table *t, const char *label, struct bench_stats s,
                    const char *peer, struct bench_stats p, const char *target, int met)
{
	char v[4][80];

	bench_cell(t, "%s", label);
	bench_cell(t, "%s", bench_fmt(v[0], sizeof v[0], s.med / 1e6));
	bench_cell(t, "%s", peer);
	bench_cell(t, "%s", bench_fmt(v[1], sizeof v[1], p.med / 1e6));
	bench_cell(t, "%s", bench_fmt_ratio(v[2], sizeof v[2], s.med / p.med));
	bench_cell(t, "%s", target);
	bench_cell(t, "%s", bench_status(met));
}

static void bench_maps(struct bench_table *t)
{
	char *maps[] = { memtool, "maps", "--pid", self_pid, NULL };
	char *json[] = { memtool, "maps", "--pid", self_pid, "--json", NULL };
	char *pmap[] = { "pmap", "-x", self_pid, NULL };
	double a[BENCH_REPS], j[BENCH_REPS], p[BENCH_REPS], s[BENCH_REPS];
	char *base = make_mappings();
	struct bench_stats sa, sj, sp, ss;

	for (int r = 0; r < BENCH_REPS; r++) {
		a[r] = run(maps);
		p[r] = run(pmap);
		j[r] = run(json);
		s[r] = read_smaps();
	}
	sa = bench_stats(a, BENCH_REPS);
	sj = bench_stats(j, BENCH_REPS);
	sp = bench_stats(p, BENCH_REPS);
	ss = bench_stats(s, BENCH_REPS);
	add_row(t, "maps, 60,000 mappings", sa, "pmap -x", sp, "< 1.00x", sa.med < sp.med);
	add_row(t, "maps --json", sj, "pmap -x", sp, "< 1.00x", sj.med < sp.med);
	add_row(t, "maps", sa, "read smaps", ss, "-", 1);
	munmap(base, (size_t)MAPPINGS * PAGE);
}

static double own_walk(HANDLE heap)
{
	PROCESS_HEAP_ENTRY e = { 0 };
	uint64_t t0 = now_ns();
	size_t n = 0;

	while (HeapWalk(heap, &e))
		n++;
	return n > BLOCKS ? (double)(now_ns() - t0) : NAN;
}

static void bench_heap(struct bench_table *t)
{
	char *stats[] = { memtool, "heap", "--pid", self_pid, NULL };
	char *blocks[] = { memtool, "heap", "--pid", self_pid, "--blocks", NULL };
	char *jblocks[] = { memtool, "heap", "--pid", self_pid, "--blocks", "--jsonl", NULL };
	double a[BENCH_REPS], b[BENCH_REPS], j[BENCH_REPS], w[BENCH_REPS];
	HANDLE heap = HeapCreate(0, 0, 0);
	struct bench_stats sa, sb, sj, sw;

	if (!heap)
		die("HeapCreate");
	for (int i = 0; i < BLOCKS; i++)
		if (!HeapAlloc(heap, 0, 16 + (size_t)(i % 7) * 8))
			die("HeapAlloc");
	for (int r = 0; r < BENCH_REPS; r++) {
		a[r] = run(stats);
		w[r] = own_walk(heap);
		b[r] = run(blocks);
		j[r] = run(jblocks);
	}
	sa = bench_stats(a, BENCH_REPS);
	sb = bench_stats(b, BENCH_REPS);
	sj = bench_stats(j, BENCH_REPS);
	sw = bench_stats(w, BENCH_REPS);
	add_row(t, "heap, 1,000,000 blocks", sa, "own HeapWalk", sw, "< 1000 ms", sa.med < 1e9);
	add_row(t, "heap --blocks", sb, "own HeapWalk", sw, "< 1000 ms", sb.med < 1e9);
	add_row(t, "heap --blocks --jsonl", sj, "own HeapWalk", sw, "-", 1);
	HeapDestroy(heap);
}

int main(void)
{
	struct bench_table t;
	ssize_t n = readlink("/proc/self/exe", memtool, sizeof memtool - 16);
	char *slash;

	if (n <= 0)
		die("readlink /proc/self/exe");
	memtool[n] = 0;
	if (!(slash = strrchr(memtool, '/')))
		die("locating memtool");
	strcpy(slash, "/../memtool");        /* build/bench/.. */
	snprintf(self_pid, sizeof self_pid, "%d", (int)getpid());
	bench_table_init(&t, "memtool: commands against their peers (this process as the target)",
	                 "ms of wall-clock time per command, medians of 7 runs", 7, "case", ">ms",
	                 "peer", ">peer ms", ">ratio", "target", "status");
	bench_maps(&t);
	bench_heap(&t);
	bench_note(&t, "maps: the target has 60,000 single-page mappings; pmap -x reads /proc/PID/smaps");
	bench_note(&t, "heap: 1,000,000 blocks of 16-64 bytes; every command re-reads the heap from outside");
	bench_table_print(&t);
	return 0;
}
