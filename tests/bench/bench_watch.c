/* bench_watch: one sample of libmeminspect's write tracking (mi_watch_sample:
 * the target's forensic root read afresh, its watch regions scanned, new
 * pages computed) of a child process with a 1 GiB MEM_WRITE_WATCH region,
 * against the raw PAGEMAP_SCAN ioctl over the same range of the same child
 * from this process, with 0.1%, 1% and 10% of the pages written.
 *
 * Target: a sample at most 1.5x the raw ioctl. Only meaningful on the
 * kernel path; on the fallback path (bitmaps) the ratio is skipped. */
#include <windows.h>
#include <memapi.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inspect.h"
#include "os/kernel.h"
#include "bench.h"

#define REGION (1ul << 30)
#define PAGE   4096ul
#define NPAGES (REGION / PAGE)
#define TARGET 1.5
#define WARMUP 3
#define CYCLES 20

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_watch: %s failed: %s\n", what, why ? why : strerror(errno));
	exit(1);
}

/* ---- the child: the region, written on command ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Reads page counts k from in and writes the first k pages of a fixed-seed
 * permutation (sorting a prefix keeps the set of every longer prefix, so
 * the pages of a count include those of smaller ones), answering each with
 * the region's base. */
static void child(int in, int out)
{
	uint32_t *order = malloc(NPAGES * sizeof *order);
	uint64_t seed = 0x5eed0004, k;
	char *p = VirtualAlloc(NULL, REGION, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
	                       PAGE_READWRITE);

	if (!p || !order)
		_exit(1);
	for (size_t i = 0; i < NPAGES; i++)
		order[i] = (uint32_t)i;
	for (size_t i = NPAGES - 1; i > 0; i--) {
		size_t j = bench_rand_below(&seed, i + 1);
		uint32_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	while (read(in, &k, sizeof k) == sizeof k && k <= NPAGES) {
		qsort(order, k, sizeof *order, cmp_u32);
		for (size_t i = 0; i < k; i++)
			((volatile char *)p)[(size_t)order[i] * PAGE] = 1;
		if (write(out, &p, sizeof p) != sizeof p)
			_exit(1);
	}
	_exit(0);
}

static pid_t kid;
static int kid_in = -1, kid_out = -1;

static void start_child(void)
{
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		die("pipe", NULL);
	if ((kid = fork()) < 0)
		die("fork", NULL);
	if (!kid) {
		close(a[1]);
		close(b[0]);
		child(a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	kid_in = a[1];
	kid_out = b[0];
}

static uint64_t child_write(uint64_t k)
{
	char *base;

	if (write(kid_in, &k, sizeof k) != sizeof k || read(kid_out, &base, sizeof base) != sizeof base)
		die("the child", "it did not answer");
	return (uintptr_t)base;
}

/* ---- the two sides ---- */

static struct mi_watch *watch;
static int pagemap = -1;
static struct page_region *vec;          /* NPAGES entries: always large enough */
static uint64_t base;
static size_t lib_pages, raw_pages;

static void lib_sample(size_t arg)
{
	const struct mi_watch_sample *s;
	struct mi_err e = { 0 };

	if (mi_watch_sample(watch, &s, &e))
		die("mi_watch_sample", e.msg);
	lib_pages = SIZE_MAX;
	for (size_t i = 0; i < s->entry_count; i++)
		if (s->entries[i].base == base)
			lib_pages = s->entries[i].written_count;
}

/* The part of a sample that does not depend on the pages: the root. */
static struct mi_target *target;

static void root_read(size_t arg)
{
	struct mi_root *r;
	struct mi_err e = { 0 };

	if (mi_root_read(target, &r, &e))
		die("mi_root_read", e.msg);
	mi_root_free(r);
}

static void raw_scan(size_t arg)
{
	struct pm_scan_arg a = {
		.size = sizeof a,
		.start = base, .end = base + REGION,
		.vec = (uintptr_t)vec, .vec_len = NPAGES,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long n = ioctl(pagemap, PAGEMAP_SCAN, &a);

	if (n < 0)
		die("PAGEMAP_SCAN", NULL);
	raw_pages = 0;
	for (long i = 0; i < n; i++)
		raw_pages += (vec[i].end - vec[i].start) / PAGE;
}

int main(void)
{
	static const struct {
		double frac;
		const char *name;
	} cases[] = { { 0.001, "0.1%" }, { 0.01, "1%" }, { 0.1, "10%" } };
	struct mi_target *t;
	struct mi_err e = { 0 };
	const struct mi_watch_sample *s;
	struct bench_table tb;
	char path[64], v[5][80];
	bool kernel, all_ok = true;
	int st;

	bench_pin_cpu();
	start_child();
	base = child_write(0);
	if (mi_open_pid(kid, &t, &e) || mi_watch_open(t, 0, &watch, &e))
		die("opening the child", e.msg);
	target = t;
	if (mi_watch_sample(watch, &s, &e))
		die("mi_watch_sample", e.msg);
	kernel = s->watch_mode == MEMAPI_WATCH_KERNEL;
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)kid);
	if ((pagemap = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		die(path, NULL);
	if (!(vec = calloc(NPAGES, sizeof *vec)))
		die("calloc", NULL);

	bench_table_init(&tb, "memtool watch: one sample of a 1 GiB write-watch region vs raw "
	                 "PAGEMAP_SCAN ioctl", "", 8, "case", ">sample", ">min-max", ">raw ioctl",
	                 ">min-max", ">sample/raw", "target", "status");
	bench_set_units(&tb, "units: us per call over the child's whole 1 GiB (%s pages); median of "
	                "%d runs, min-max of the %d;\n       a run is the mean of %d calls per side,"
	                " interleaved", bench_fmt(v[0], sizeof v[0], NPAGES), BENCH_REPS,
	                BENCH_REPS, CYCLES);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t k = (size_t)(cases[c].frac * NPAGES + 0.5);
		struct bench_pair p;
		bool counts_ok;
		double ratio;

		child_write(k);
		p = bench_interleaved(lib_sample, raw_scan, 0, WARMUP, CYCLES);
		/* ns per call -> us */
		p.lib.med /= 1000, p.lib.min /= 1000, p.lib.max /= 1000;
		p.raw.med /= 1000, p.raw.min /= 1000, p.raw.max /= 1000;
		ratio = p.lib.med / p.raw.med;
		counts_ok = lib_pages == k && (!kernel || raw_pages == k);
		if (!counts_ok)
			bench_note(&tb, "%s written: the sample found %zu pages, the raw ioctl %zu, of %zu.",
			           cases[c].name, lib_pages, raw_pages, k);
		all_ok &= counts_ok;
		bench_cell(&tb, "%s written (%zu pages)", cases[c].name, k);
		bench_cell(&tb, "%s", bench_fmt(v[0], sizeof v[0], p.lib.med));
		bench_cell(&tb, "%s", bench_fmt_spread(v[1], sizeof v[1], p.lib));
		bench_cell(&tb, "%s", kernel ? bench_fmt(v[2], sizeof v[2], p.raw.med) : "n/a");
		bench_cell(&tb, "%s", kernel ? bench_fmt_spread(v[3], sizeof v[3], p.raw) : "n/a");
		bench_cell(&tb, "%s", kernel ? bench_fmt_ratio(v[4], sizeof v[4], ratio) : "n/a");
		bench_cell(&tb, "<= %.2fx raw", TARGET);
		bench_cell(&tb, "%s", !kernel ? "skipped (no kernel path)" :
		           !counts_ok ? "NOT met (wrong page count)" : bench_status(ratio <= TARGET));
	}
	/* Where the fixed cost of a sample goes, against the same raw call. */
	{
		struct bench_pair p = bench_interleaved(root_read, raw_scan, 0, WARMUP, CYCLES);

		p.lib.med /= 1000, p.lib.min /= 1000, p.lib.max /= 1000;
		p.raw.med /= 1000, p.raw.min /= 1000, p.raw.max /= 1000;
		bench_cell(&tb, "(info) root read alone");
		bench_cell(&tb, "%s", bench_fmt(v[0], sizeof v[0], p.lib.med));
		bench_cell(&tb, "%s", bench_fmt_spread(v[1], sizeof v[1], p.lib));
		bench_cell(&tb, "%s", kernel ? bench_fmt(v[2], sizeof v[2], p.raw.med) : "n/a");
		bench_cell(&tb, "%s", kernel ? bench_fmt_spread(v[3], sizeof v[3], p.raw) : "n/a");
		bench_cell(&tb, "%s", kernel ? bench_fmt_ratio(v[4], sizeof v[4], p.lib.med / p.raw.med) : "n/a");
		bench_cell(&tb, "none (info)");
		bench_cell(&tb, "-");
	}
	bench_note(&tb, "the child writes 1 byte in each page of a fixed-seed random set, outside the"
	           " timed part; both sides run\n"
	           "in this process against the child: a sample re-reads its root (symbol, region"
	           " list), scans each watch\n"
	           "region with PAGEMAP_SCAN (no reset) and lists its pages, the raw side is one"
	           " ioctl into a vector of 262,144 ranges.");
	if (!kernel)
		bench_note(&tb, "the child tracks writes with the fallback (watch_mode = fallback; the"
		           " kernel path needs uffd async WP,\nLinux 6.7+): samples read its bitmaps and"
		           " no ratio is given.");
	bench_note(&tb, "the info row times mi_root_read alone (the fixed part of a sample) against"
	           " the same raw call.");
	bench_note(&tb, "page counts returned: %s.", all_ok ? "all as written" : "SOME WRONG");
	bench_table_print(&tb);

	mi_watch_close(watch);
	mi_close(t);
	close(pagemap);
	close(kid_in);
	waitpid(kid, &st, 0);
	free(vec);
	return 0;
}
