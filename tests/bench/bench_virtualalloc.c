/* bench_virtualalloc: the cost of an allocate / touch / free cycle through
 * libmemapi against the raw Linux calls doing the same job.
 *
 *   commit:          VirtualAlloc(MEM_RESERVE|MEM_COMMIT, PAGE_READWRITE), write
 *                    the first page, VirtualFree(MEM_RELEASE)
 *                    vs mmap(PROT_READ|PROT_WRITE) + write + munmap
 *   reserve, commit: VirtualAlloc(MEM_RESERVE), VirtualAlloc(MEM_COMMIT) of the
 *                    whole range, write, VirtualFree(MEM_RELEASE)
 *                    vs mmap(PROT_NONE) + mprotect(RW) + write + munmap
 *
 * Target: at most 1.3x raw mmap. Two information rows compare VirtualAlloc
 * with a raw mmap that is also aligned to 64 KiB the portable way (over-map
 * and trim), the alignment Windows' allocation granularity requires. */
#include <windows.h>

#include <stdbool.h>
#include <sys/mman.h>

#include "bench.h"

#define CYCLES 4000          /* alloc/touch/free cycles per timed repetition */
#define WARMUP 200
#define TARGET 1.30

static void die(const char *what)
{
	fprintf(stderr, "bench_virtualalloc: %s failed (error %u)\n", what, (unsigned)GetLastError());
	exit(1);
}

static void lib_commit(size_t size)
{
	volatile char *p = VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);

	if (!p)
		die("VirtualAlloc(MEM_RESERVE|MEM_COMMIT)");
	p[0] = 1;
	if (!VirtualFree((void *)p, 0, MEM_RELEASE))
		die("VirtualFree");
}

static void lib_reserve_commit(size_t size)
{
	void *r = VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_READWRITE);
	volatile char *p;

	if (!r)
		die("VirtualAlloc(MEM_RESERVE)");
	p = VirtualAlloc(r, size, MEM_COMMIT, PAGE_READWRITE);
	if (!p)
		die("VirtualAlloc(MEM_COMMIT)");
	p[0] = 1;
	if (!VirtualFree(r, 0, MEM_RELEASE))
		die("VirtualFree");
}

static void raw_commit(size_t size)
{
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	p[0] = 1;
	munmap((void *)p, size);
}

static void raw_reserve_commit(size_t size)
{
	volatile char *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	if (mprotect((void *)p, size, PROT_READ | PROT_WRITE))
		die("mprotect");
	p[0] = 1;
	munmap((void *)p, size);
}

/* mmap aligned to 64 KiB the portable way: over-map, trim both ends. */
static void raw_commit_aligned(size_t size)
{
	const size_t gran = 65536, page = 4096;
	size_t span = size + gran - page;
	char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (m == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)m + gran - 1) & ~(uintptr_t)(gran - 1));
	if (p > m)
		munmap(m, (size_t)(p - m));
	if (p + size < m + span)
		munmap(p + size, (size_t)(m + span - (p + size)));
	((volatile char *)p)[0] = 1;
	munmap(p, size);
}

static struct bench_pair measure(bench_cycle_fn lib, bench_cycle_fn raw, size_t size)
{
	return bench_interleaved(lib, raw, size, WARMUP, CYCLES);
}

static void add_row(struct bench_table *t, const char *label, struct bench_pair p, bool info)
{
	char v[4][80];
	double ratio = p.lib.med / p.raw.med;

	bench_cell(t, "%s", label);
	bench_cell(t, "%s", bench_fmt(v[0], sizeof v[0], p.lib.med));
	bench_cell(t, "%s", bench_fmt_spread(v[1], sizeof v[1], p.lib));
	bench_cell(t, "%s", bench_fmt(v[2], sizeof v[2], p.raw.med));
	bench_cell(t, "%s", bench_fmt_spread(v[3], sizeof v[3], p.raw));
	bench_cell(t, "%.2fx", ratio);
	if (info) {
		bench_cell(t, "none (info)");
		bench_cell(t, "-");
	} else {
		bench_cell(t, "<= %.2fx", TARGET);
		bench_cell(t, "%s", bench_status(ratio <= TARGET));
	}
}

int main(void)
{
	static const struct {
		size_t size;
		const char *name;
	} sizes[] = { { 64 << 10, "64 KiB" }, { 1 << 20, "1 MiB" } };
	struct bench_table t;
	struct bench_pair res[2][3];
	char label[64];

	bench_pin_cpu();
	/* Every pair is measured in this one run, its two sides interleaved. */
	for (int s = 0; s < 2; s++) {
		res[s][0] = measure(lib_commit, raw_commit, sizes[s].size);
		res[s][1] = measure(lib_reserve_commit, raw_reserve_commit, sizes[s].size);
		res[s][2] = measure(lib_commit, raw_commit_aligned, sizes[s].size);
	}

	bench_table_init(&t, "VirtualAlloc / touch / VirtualFree vs raw mmap / touch / munmap",
	                 "", 8, "case", ">libmemapi", ">min-max", ">raw", ">min-max", ">lib/raw",
	                 "target", "status");
	bench_set_units(&t, "units: ns per cycle (allocate, write 1 byte to the first page, free);"
	                " median of %d runs of %d cycles per side,\n"
	                "       min-max of the %d; library and raw cycles alternate one by one, each timed",
	                BENCH_REPS, CYCLES, BENCH_REPS);
	for (int s = 0; s < 2; s++) {
		snprintf(label, sizeof label, "commit %s", sizes[s].name);
		add_row(&t, label, res[s][0], false);
	}
	for (int s = 0; s < 2; s++) {
		snprintf(label, sizeof label, "reserve, then commit %s", sizes[s].name);
		add_row(&t, label, res[s][1], false);
	}
	for (int s = 0; s < 2; s++) {
		snprintf(label, sizeof label, "commit %s vs aligned mmap", sizes[s].name);
		add_row(&t, label, res[s][2], true);
	}
	bench_note(&t, "commit: VirtualAlloc(MEM_RESERVE|MEM_COMMIT, PAGE_READWRITE) + VirtualFree(MEM_RELEASE)"
	           " vs mmap(RW) + munmap.\n"
	           "reserve, then commit: VirtualAlloc(MEM_RESERVE) + VirtualAlloc(MEM_COMMIT, whole range)"
	           " vs mmap(PROT_NONE) + mprotect(RW).");
	bench_note(&t, "'vs aligned mmap' rows (information): the raw side places the mapping on a"
	           " 64 KiB boundary the portable way\n"
	           "(mmap size + 60 KiB, munmap both ends), as Windows' allocation granularity"
	           " requires of VirtualAlloc.");
	bench_table_print(&t);
	return 0;
}
