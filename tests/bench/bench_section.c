/* bench_section: file mapping through libmemapi against the raw Linux calls.
 *
 *   map/unmap:   MapViewOfFile(FILE_MAP_WRITE) + write + UnmapViewOfFile of a
 *                pagefile section vs mmap(MAP_SHARED) of a memfd + write +
 *                munmap. Target: at most 1.3x.
 *   ring buffer: a producer writes records of varying size into a 1 MiB ring
 *                and a consumer reads each back. Double-mapped section
 *                (two adjacent views over placeholders: every record is
 *                contiguous) vs a plain ring buffer that splits records at
 *                the end with two memcpy. Target: at most 1.0x (the double
 *                mapping should not cost more than the copying one). */
#include <windows.h>

#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define CYCLES 4000
#define WARMUP 200
#define MAP_TARGET 1.30
#define RING_TARGET 1.00
#define RING (1u << 20)
#define RING_BYTES ((size_t)256 << 20)     /* streamed per repetition */

static void die(const char *what)
{
	fprintf(stderr, "bench_section: %s failed (error %u)\n", what, (unsigned)GetLastError());
	exit(1);
}

static HANDLE section;
static int memfd;

static void lib_map(size_t size)
{
	volatile char *p = MapViewOfFile(section, FILE_MAP_WRITE, 0, 0, size);

	if (!p)
		die("MapViewOfFile");
	p[0] = 1;
	if (!UnmapViewOfFile((void *)p))
		die("UnmapViewOfFile");
}

static void raw_map(size_t size)
{
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);

	if (p == MAP_FAILED)
		die("mmap");
	p[0] = 1;
	munmap((void *)p, size);
}

static struct bench_pair measure(bench_cycle_fn lib, bench_cycle_fn raw, size_t size)
{
	return bench_interleaved(lib, raw, size, WARMUP, CYCLES);
}

/* ---- ring buffers ---- */

static char *double_mapped(HANDLE *h)
{
	char *ph, *v1, *v2;

	*h = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, RING, NULL);
	ph = VirtualAlloc2(NULL, NULL, 2 * RING, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
	                   PAGE_NOACCESS, NULL, 0);
	if (!*h || !ph || !VirtualFree(ph, RING, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER))
		die("ring setup");
	v1 = MapViewOfFile3(*h, NULL, ph, 0, RING, MEM_REPLACE_PLACEHOLDER, PAGE_READWRITE, NULL, 0);
	v2 = MapViewOfFile3(*h, NULL, ph + RING, 0, RING, MEM_REPLACE_PLACEHOLDER, PAGE_READWRITE,
	                    NULL, 0);
	if (!v1 || !v2)
		die("MapViewOfFile3");
	return v1;
}

static uint64_t checksum;

/* Streams RING_BYTES of records through the ring: write then read each. */
static double stream(char *ring, bool doubled)
{
	static char rec[4096], out[4096];
	uint64_t seed = 7, t0 = now_ns();
	size_t pos = 0;

	for (size_t done = 0; done < RING_BYTES;) {
		size_t n = 64 + bench_rand_below(&seed, 4096 - 64);
		size_t first = RING - pos < n ? RING - pos : n;

		rec[0] = (char)done;
		if (doubled) {
			memcpy(ring + pos, rec, n);
			memcpy(out, ring + pos, n);
		} else {
			memcpy(ring + pos, rec, first);
			memcpy(ring, rec + first, n - first);
			memcpy(out, ring + pos, first);
			memcpy(out + first, ring, n - first);
		}
		checksum += (unsigned char)out[0];
		pos = (pos + n) % RING;
		done += n;
	}
	return (double)(now_ns() - t0) / ((double)RING_BYTES / (1 << 20));   /* ns per MiB */
}

static struct bench_pair measure_ring(void)
{
	double a[BENCH_REPS], b[BENCH_REPS];
	HANDLE h;
	char *dbl = double_mapped(&h), *plain = malloc(RING);
	struct bench_pair p;

	memset(plain, 0, RING);
	memset(dbl, 0, RING);
	stream(dbl, true);
	stream(plain, false);
	for (int r = 0; r < BENCH_REPS; r++) {
		if (r % 2) {
			b[r] = stream(plain, false);
			a[r] = stream(dbl, true);
		} else {
			a[r] = stream(dbl, true);
			b[r] = stream(plain, false);
		}
	}
	p.lib = bench_stats(a, BENCH_REPS);
	p.raw = bench_stats(b, BENCH_REPS);
	free(plain);
	return p;
}

static void add_row(struct bench_table *t, const char *label, struct bench_pair p, double target)
{
	char v[4][80];
	double ratio = p.lib.med / p.raw.med;

	bench_cell(t, "%s", label);
	bench_cell(t, "%s", bench_fmt(v[0], sizeof v[0], p.lib.med));
	bench_cell(t, "%s", bench_fmt_spread(v[1], sizeof v[1], p.lib));
	bench_cell(t, "%s", bench_fmt(v[2], sizeof v[2], p.raw.med));
	bench_cell(t, "%s", bench_fmt_spread(v[3], sizeof v[3], p.raw));
	bench_cell(t, "%.2fx", ratio);
	bench_cell(t, "<= %.2fx", target);
	bench_cell(t, "%s", bench_status(ratio <= target));
}

int main(void)
{
	static const struct {
		size_t size;
		const char *name;
	} sizes[] = { { 64 << 10, "64 KiB" }, { 1 << 20, "1 MiB" } };
	struct bench_pair res[2], ring;
	struct bench_table t;
	char label[64];

	bench_pin_cpu();
	section = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 1 << 20, NULL);
	memfd = memfd_create("bench", MFD_CLOEXEC);
	if (!section || memfd < 0 || ftruncate(memfd, 1 << 20))
		die("setup");
	for (int s = 0; s < 2; s++)
		res[s] = measure(lib_map, raw_map, sizes[s].size);
	ring = measure_ring();

	bench_table_init(&t, "file mapping: libmemapi vs raw Linux calls", "", 8, "case",
	                 ">libmemapi", ">min-max", ">raw", ">min-max", ">lib/raw", "target", "status");
	bench_set_units(&t, "units: map/unmap ns per cycle; ring buffer ns per MiB streamed;"
	                " median of %d runs, min-max of the %d", BENCH_REPS, BENCH_REPS);
	for (int s = 0; s < 2; s++) {
		snprintf(label, sizeof label, "map/write/unmap %s", sizes[s].name);
		add_row(&t, label, res[s], MAP_TARGET);
	}
	add_row(&t, "ring buffer, double-mapped vs copying", ring, RING_TARGET);
	bench_note(&t, "map/unmap: MapViewOfFile(FILE_MAP_WRITE) + UnmapViewOfFile of a pagefile"
	           " section vs mmap(MAP_SHARED) + munmap of a memfd; cycles alternate, each timed.");
	bench_note(&t, "ring buffer: records of 64-4096 bytes written and read back through a 1 MiB"
	           " ring; libmemapi side: two adjacent views\n"
	           "of one section over placeholders (no split records); raw side: one buffer,"
	           " records split at the end with two memcpy. (checksum %llu)",
	           (unsigned long long)checksum);
	bench_table_print(&t);
	return 0;
}
