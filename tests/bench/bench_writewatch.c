/* bench_writewatch: GetWriteWatch on a 1 GiB MEM_WRITE_WATCH region against
 * the raw PAGEMAP_SCAN ioctl on an equivalent region that this program
 * write-protects itself with userfaultfd (async WP), with 0.1%, 1% and 100%
 * of the pages written, without and with reset.
 *
 * Target: GetWriteWatch at most 1.25x the raw ioctl. Only meaningful on the
 * kernel path; on the fallback path the ratio is skipped. */
#include <windows.h>
#include <memapi.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/kernel.h"
#include "bench.h"

#define REGION (1ul << 30)
#define PAGE   4096ul
#define NPAGES (REGION / PAGE)
#define TARGET 1.25
#define CALLS      15        /* calls per repetition...                       */
#define CALLS_FULL 1         /* ...but 1 for 100% with reset: each call needs
                              * 262,144 pages rewritten (~0.25 s)             */

static void die(const char *what)
{
	fprintf(stderr, "bench_writewatch: %s failed (error %u, errno %d)\n", what,
	        (unsigned)GetLastError(), errno);
	exit(1);
}

/* ---- the raw side: our own userfaultfd and pagemap descriptors ---- */

static int uffd = -1, pagemap = -1;
static struct page_region *vec;          /* NPAGES entries: always large enough */

static bool raw_open(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0)
		uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    (api.features & (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)) !=
	    (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED))
		return false;
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	return pagemap >= 0;
}

/* 1 GiB read-write, registered for async WP and write-protected. */
static char *raw_region(void)
{
	char *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = REGION },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)p, .len = REGION },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	if (p == MAP_FAILED)
		die("mmap 1 GiB");
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) || ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		die("UFFDIO_REGISTER/WRITEPROTECT");
	return p;
}

static PVOID *addrs;                     /* NPAGES entries: every page fits */

/* One PAGEMAP_SCAN over the region: returns the written pages reported.
 * With expand, also lists the address of each page, as GetWriteWatch must. */
static size_t raw_scan_ex(char *base, bool reset, bool expand)
{
	struct pm_scan_arg a = {
		.size = sizeof a,
		.flags = reset ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
		.start = (uintptr_t)base, .end = (uintptr_t)base + REGION,
		.vec = (uintptr_t)vec, .vec_len = NPAGES,
		.max_pages = NPAGES,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long n = ioctl(pagemap, PAGEMAP_SCAN, &a);
	size_t pages = 0;

	if (n < 0)
		die("PAGEMAP_SCAN");
	for (long i = 0; i < n; i++) {
		if (expand)
			for (uint64_t pg = vec[i].start; pg < vec[i].end; pg += PAGE)
				addrs[pages++] = (PVOID)(uintptr_t)pg;
		else
			pages += (vec[i].end - vec[i].start) / PAGE;
	}
	return pages;
}

static size_t raw_scan(char *base, bool reset)
{
	return raw_scan_ex(base, reset, false);
}

/* ---- the library side ---- */

static size_t lib_scan(char *base, bool reset)
{
	ULONG_PTR count = NPAGES;
	DWORD gran;

	if (GetWriteWatch(reset ? WRITE_WATCH_FLAG_RESET : 0, base, REGION, addrs, &count, &gran))
		die("GetWriteWatch");
	return count;
}

/* ---- the measurement ---- */

static uint32_t *order;                  /* a fixed-seed permutation of the pages */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static void write_pages(char *base, size_t k, int stamp)
{
	for (size_t i = 0; i < k; i++)
		((volatile char *)base)[(size_t)order[i] * PAGE] = (char)stamp;
}

struct result {
	struct bench_stats lib, raw;
	bool counts_ok;
};

/* BENCH_REPS repetitions, each the mean of `calls` timed calls per side
 * (us per call). The two sides take turns call by call, the first of each
 * pair alternating, so slow phases of the machine hit both alike; the pages
 * are written before each call, outside the timed part. */
static struct result measure(char *lib, char *raw, size_t k, bool reset, bool with_raw,
                             bool expand, int calls)
{
	double a[BENCH_REPS], b[BENCH_REPS];
	struct result res = { .counts_ok = true };

	for (int r = 0; r < BENCH_REPS; r++) {
		uint64_t total[2] = { 0, 0 };           /* library, raw */

		for (int i = 0; i < calls; i++) {
			for (int turn = 0; turn < 2; turn++) {
				int side = turn ^ ((r * calls + i) & 1);
				char *base = side ? raw : lib;
				uint64_t t0;
				size_t n;

				if (side && !with_raw)
					continue;
				write_pages(base, k, r * calls + i + 1);
				t0 = now_ns();
				n = side ? raw_scan_ex(base, reset, expand) : lib_scan(base, reset);
				total[side] += now_ns() - t0;
				res.counts_ok &= n == k;
			}
		}
		a[r] = (double)total[0] / calls / 1000.0;
		b[r] = with_raw ? (double)total[1] / calls / 1000.0 : NAN;
	}
	res.lib = bench_stats(a, BENCH_REPS);
	res.raw = bench_stats(b, BENCH_REPS);
	return res;
}

int main(void)
{
	static const struct {
		double frac;
		const char *name;
	} cases[] = { { 0.001, "0.1%" }, { 0.01, "1%" }, { 1.0, "100%" } };
	memapi_counters ctr;
	bool kernel, with_raw, all_ok = true, reset_ok = true;
	uint64_t seed = 0x5eed0003;
	struct bench_table t;
	char v[5][80];

	bench_pin_cpu();
	if (memapi_get_counters(&ctr))
		die("memapi_get_counters");
	kernel = ctr.watch_mode == MEMAPI_WATCH_KERNEL;
	with_raw = kernel && raw_open();

	/* Buffers sized for every page, touched now so that no timed call
	 * takes their page faults. */
	addrs = malloc(NPAGES * sizeof *addrs);
	vec = malloc(NPAGES * sizeof *vec);
	order = malloc(NPAGES * sizeof *order);
	if (!addrs || !vec || !order)
		die("malloc");
	memset(addrs, 0, NPAGES * sizeof *addrs);
	memset(vec, 0, NPAGES * sizeof *vec);
	for (size_t i = 0; i < NPAGES; i++)
		order[i] = (uint32_t)i;
	for (size_t i = NPAGES - 1; i > 0; i--) {
		size_t j = bench_rand_below(&seed, i + 1);
		uint32_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}

	bench_table_init(&t, "GetWriteWatch on 1 GiB vs raw PAGEMAP_SCAN ioctl", "", 8, "case",
	                 ">GetWriteWatch", ">min-max", ">raw ioctl", ">min-max", ">GWW/raw",
	                 "target", "status");
	bench_set_units(&t, "units: us per call over the whole 1 GiB (%s pages); median of %d runs,"
	                " min-max of the %d;\n"
	                "       a run is the mean of %d calls (of %d for 100%% written with reset)",
	                bench_fmt(v[0], sizeof v[0], NPAGES), BENCH_REPS, BENCH_REPS, CALLS, CALLS_FULL);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t k = (size_t)(cases[c].frac * NPAGES + 0.5);
		char *lib, *raw;

		/* The first k pages of the permutation are the written set; they
		 * are written in address order (sorting a prefix keeps the sets of
		 * longer prefixes). In random order the fallback path makes one VMA
		 * per isolated written page and ends past vm.max_map_count. */
		qsort(order, k, sizeof *order, cmp_u32);
		lib = VirtualAlloc(NULL, REGION, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
		                   PAGE_READWRITE);
		raw = with_raw ? raw_region() : NULL;

		if (!lib)
			die("VirtualAlloc(MEM_WRITE_WATCH, 1 GiB)");
		/* First writes (page allocation) outside any timed part. */
		write_pages(lib, k, 0);
		if (raw)
			write_pages(raw, k, 0);

		/* The 100% case adds information rows against a raw side that
		 * also lists one address per page (one range covers them all). */
		for (int row = 0; row < (k == NPAGES && with_raw ? 4 : 2); row++) {
			bool reset = row % 2, expand = row >= 2;
			struct result r = measure(lib, raw, k, reset, with_raw, expand,
			                          reset && k == NPAGES ? CALLS_FULL : CALLS);
			double ratio = r.lib.med / r.raw.med;

			all_ok &= r.counts_ok;
			bench_cell(&t, "%s written (%zu pages)%s%s", cases[c].name, k,
			           reset ? ", reset" : "", expand ? ", vs raw+list" : "");
			bench_cell(&t, "%s", bench_fmt(v[0], sizeof v[0], r.lib.med));
			bench_cell(&t, "%s", bench_fmt_spread(v[1], sizeof v[1], r.lib));
			bench_cell(&t, "%s", bench_fmt(v[2], sizeof v[2], r.raw.med));
			bench_cell(&t, "%s", with_raw ? bench_fmt_spread(v[3], sizeof v[3], r.raw) : "n/a");
			bench_cell(&t, "%s", with_raw ? bench_fmt_ratio(v[4], sizeof v[4], ratio) : "n/a");
			if (expand) {
				bench_cell(&t, "none (info)");
				bench_cell(&t, "-");
				continue;
			}
			bench_cell(&t, "<= %.2fx raw", TARGET);
			bench_cell(&t, "%s", !with_raw ? "skipped (no kernel path)" :
			           !r.counts_ok ? "NOT met (wrong page count)" :
			           bench_status(ratio <= TARGET));
		}
		/* After the reset calls nothing may be reported as written. */
		reset_ok &= lib_scan(lib, false) == 0 && (!raw || raw_scan(raw, false) == 0);

		VirtualFree(lib, 0, MEM_RELEASE);
		if (raw)
			munmap(raw, REGION);
	}

	bench_note(&t, "pages chosen by a fixed-seed shuffle, written (1 byte each, in address order)"
	           " before every call, outside the timed part.\n"
	           "Both sides scan the same 1 GiB with the same flags (reset: PM_SCAN_WP_MATCHING|"
	           "PM_SCAN_CHECK_WPASYNC);\n"
	           "the raw ioctl returns ranges into one vector of 262,144 entries, GetWriteWatch one"
	           " address per written page.\n"
	           "'vs raw+list' rows (information): the raw side also writes one address per page"
	           " from its ranges, as GetWriteWatch must.");
	if (!kernel)
		bench_note(&t, "the kernel write-watch path is unavailable here (watch_mode = fallback,"
		           " needs uffd async WP, Linux 6.7+):\n"
		           "GetWriteWatch was measured on the fallback (bitmap) path and no ratio is given.");
	else if (!with_raw)
		bench_note(&t, "this program could not set up its own userfaultfd: raw side skipped.");
	bench_note(&t, "page counts returned: %s; nothing reported after the reset calls: %s.",
	           all_ok ? "all as written" : "SOME WRONG", reset_ok ? "yes" : "NO");
	bench_table_print(&t);
	return 0;
}
