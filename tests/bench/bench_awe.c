/* bench_awe: AWE remapping through libmemapi against raw mmap(MAP_FIXED).
 *
 * A window of 1,000 pages is remapped again and again, alternating between
 * two sets of 1,000 frames, so that every call replaces every page:
 *   in order:  each set is 1,000 consecutive frames (libmemapi: one mmap
 *              per call) vs one mmap(MAP_SHARED|MAP_FIXED) of 1,000 pages
 *              of a memfd;
 *   scattered: the frames of each set in a shuffled order (one mmap per
 *              page) vs 1,000 single-page mmap(MAP_FIXED) calls at the same
 *              shuffled offsets.
 * No page is touched: this is the cost of changing the translations, as
 * Windows' MapUserPhysicalPages is. The issue sets no target for AWE. */
#include <windows.h>

#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define PAGES  1000
#define CALLS  200            /* remaps per repetition */
#define WARMUP 20

static void die(const char *what)
{
	fprintf(stderr, "bench_awe: %s failed (error %u)\n", what, (unsigned)GetLastError());
	exit(1);
}

static size_t page;
static char *lib_win, *raw_win;
static ULONG_PTR frames[2][PAGES];      /* in order */
static ULONG_PTR shuffled[2][PAGES];
static int memfd;
static off_t raw_off[2][PAGES];         /* shuffled offsets of the raw side */

static void lib_remap(int set, bool scatter)
{
	if (!MapUserPhysicalPages(lib_win, PAGES, scatter ? shuffled[set] : frames[set]))
		die("MapUserPhysicalPages");
}

static void raw_remap(int set, bool scatter)
{
	if (!scatter) {
		if (mmap(raw_win, PAGES * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd,
		         (off_t)set * PAGES * (off_t)page) == MAP_FAILED)
			die("mmap");
		return;
	}
	for (int i = 0; i < PAGES; i++)
		if (mmap(raw_win + i * page, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd,
		         raw_off[set][i]) == MAP_FAILED)
			die("mmap");
}

static void shuffle(uint64_t *seed)
{
	for (int s = 0; s < 2; s++) {
		int order[PAGES];

		for (int i = 0; i < PAGES; i++)
			order[i] = i;
		for (int i = PAGES - 1; i > 0; i--) {
			int j = (int)bench_rand_below(seed, (uint64_t)i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (int i = 0; i < PAGES; i++) {
			shuffled[s][i] = frames[s][order[i]];
			raw_off[s][i] = ((off_t)s * PAGES + order[i]) * (off_t)page;
		}
	}
}

static void setup(void)
{
	size_t span = (PAGES * page + 65535) & ~(size_t)65535;
	uint64_t seed = 11;

	lib_win = VirtualAlloc(NULL, span, MEM_RESERVE | MEM_PHYSICAL, PAGE_READWRITE);
	if (!lib_win)
		die("VirtualAlloc(MEM_PHYSICAL)");
	for (int s = 0; s < 2; s++) {
		ULONG_PTR n = PAGES;

		if (!AllocateUserPhysicalPages(GetCurrentProcess(), &n, frames[s]) || n != PAGES)
			die("AllocateUserPhysicalPages");
	}
	memfd = memfd_create("bench_awe", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)(2 * PAGES * page)) ||
	    fallocate(memfd, 0, 0, (off_t)(2 * PAGES * page)))
		die("memfd");
	raw_win = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw_win == MAP_FAILED)
		die("mmap");
	shuffle(&seed);
}

/* Microseconds per remap of 1,000 pages; lib and raw calls interleaved. */
static struct bench_pair measure(bool scatter)
{
	double a[BENCH_REPS], b[BENCH_REPS];
	struct bench_pair p;

	for (int i = 0; i < WARMUP; i++) {
		lib_remap(i % 2, scatter);
		raw_remap(i % 2, scatter);
	}
	for (int r = 0; r < BENCH_REPS; r++) {
		uint64_t ta = 0, tb = 0, t0, t1, t2;

		for (int i = 0; i < CALLS; i++) {
			bool lib_first = i % 2 == 0;

			t0 = now_ns();
			lib_first ? lib_remap(i % 2, scatter) : raw_remap(i % 2, scatter);
			t1 = now_ns();
			lib_first ? raw_remap(i % 2, scatter) : lib_remap(i % 2, scatter);
			t2 = now_ns();
			ta += lib_first ? t1 - t0 : t2 - t1;
			tb += lib_first ? t2 - t1 : t1 - t0;
		}
		a[r] = (double)ta / CALLS / 1000;
		b[r] = (double)tb / CALLS / 1000;
	}
	p.lib = bench_stats(a, BENCH_REPS);
	p.raw = bench_stats(b, BENCH_REPS);
	return p;
}

static void add_row(struct bench_table *t, const char *label, struct bench_pair p)
{
	char v[4][80];

	bench_cell(t, "%s", label);
	bench_cell(t, "%s", bench_fmt(v[0], sizeof v[0], p.lib.med));
	bench_cell(t, "%s", bench_fmt_spread(v[1], sizeof v[1], p.lib));
	bench_cell(t, "%s", bench_fmt(v[2], sizeof v[2], p.raw.med));
	bench_cell(t, "%s", bench_fmt_spread(v[3], sizeof v[3], p.raw));
	bench_cell(t, "%.2fx", p.lib.med / p.raw.med);
	bench_cell(t, "%s", "none set");
	bench_cell(t, "%s", "reported");
}

int main(void)
{
	struct bench_pair in_order, scattered;
	struct bench_table t;

	page = (size_t)sysconf(_SC_PAGESIZE);
	bench_pin_cpu();
	setup();
	in_order = measure(false);
	scattered = measure(true);
	bench_table_init(&t, "AWE: MapUserPhysicalPages vs mmap(MAP_FIXED) of a memfd", "", 8,
	                 "case", ">libmemapi", ">min-max", ">raw", ">min-max", ">lib/raw", "target",
	                 "status");
	bench_set_units(&t, "units: microseconds per remap of %d pages; median of %d runs of %d"
	                " remaps, min-max of the %d", PAGES, BENCH_REPS, CALLS, BENCH_REPS);
	add_row(&t, "remap 1,000 pages, frames in order", in_order);
	add_row(&t, "remap 1,000 pages, frames scattered", scattered);
	bench_note(&t, "every call replaces all 1,000 translations (two frame sets alternate); no"
	           " page is touched. libmemapi also checks\n"
	           "ownership and aliasing of every frame and keeps the window's page states"
	           " (VirtualQuery) and the root record current.");
	bench_table_print(&t);
	return 0;
}
