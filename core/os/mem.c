/* Memory syscalls behind the OS contract of os.h: reserve, protect, decommit,
 * reset, lock, NUMA binding and free-gap search. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MPOL_PREFERRED
#define MPOL_PREFERRED 1
#endif

struct mt_os_config mt_os;

static const struct mt_os_calls real_calls = {
	.mmap = mmap, .munmap = munmap, .mprotect = mprotect,
	.madvise = madvise, .mlock = mlock, .munlock = munlock, .fallocate = fallocate,
};

struct mt_os_calls mt_os_calls = {
	.mmap = mmap, .munmap = munmap, .mprotect = mprotect,
	.madvise = madvise, .mlock = mlock, .munlock = munlock, .fallocate = fallocate,
};

void mt_os_calls_reset(void)
{
	mt_os_calls = real_calls;
}

static size_t read_huge_page_size(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	size_t kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Hugepagesize: %zu kB", &kib) == 1)
			break;
	fclose(f);
	return kib * 1024;
}

int mt_os_init(unsigned disable)
{
	long ps = sysconf(_SC_PAGESIZE);
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	mt_os.page_size = ps > 0 ? (size_t)ps : 4096;
	mt_os.granularity = 65536;
	mt_os.huge_page_size = read_huge_page_size();
	mt_os.min_address = 0x10000;
	mt_os.max_address = (uintptr_t)1 << 47;
	mt_os.cpu_count = n > 0 ? (unsigned)n : 1;
	mt_os.has_procmap_query = !(disable & MT_OS_NO_PROCMAP_QUERY) && mt_maps_probe() == 0;
	mt_os.has_wp_async = !(disable & MT_OS_NO_WP_ASYNC) && mt_os_wp_probe() == 0;
	mt_os.has_membarrier = !(disable & MT_OS_NO_MEMBARRIER) &&
	                       syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
	                               0, 0) == 0;
	return 0;
}

int mt_os_membarrier(void)
{
	return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) ? errno : 0;
}

static int map_errno(void *p)
{
	return p == MAP_FAILED ? errno : 0;
}

/* Where the next aligned reservation is tried first: just below the last
 * one, as the kernel's top-down allocator would place it, so most calls
 * cost one mmap instead of an over-sized mmap and two trims. Moved back up
 * when the lowest reservation is released, so alloc/free loops reuse one
 * address instead of drifting down. */
static _Atomic uintptr_t aligned_hint;

static int try_hint_fd(void **addr, size_t size, size_t align, int prot, int flags,
                       int fd, off_t off)
{
	uintptr_t hint = atomic_load_explicit(&aligned_hint, memory_order_relaxed), a;
	void *p;

	if (!hint || hint < size + mt_os.min_address)
		return ENOMEM;
	a = (hint - size) & ~(uintptr_t)(align - 1);
	p = mt_os_calls.mmap((void *)a, size, prot, flags | MAP_FIXED_NOREPLACE, fd, off);
	if (p == MAP_FAILED)
		return errno;
	if (p != (void *)a) {           /* kernels before 4.17: only a hint */
		mt_os_calls.munmap(p, size);
		return EEXIST;
	}
	atomic_store_explicit(&aligned_hint, a, memory_order_relaxed);
	*addr = p;
	return 0;
}

static int try_hint(void **addr, size_t size, size_t align, int prot, int flags)
{
	return try_hint_fd(addr, size, align, prot, flags, -1, 0);
}

/* Over-allocates by align - page and trims both ends, so the result is
 * aligned without MAP_FIXED over memory we do not own. */
static int reserve_aligned(void **addr, size_t size, size_t align, int prot, int flags)
{
	size_t span = size + align - mt_os.page_size;
	char *p, *start;
	int err;

	if (try_hint(addr, size, align, prot, flags) == 0)
		return 0;
	if (span < size)
		return ENOMEM;
	p = mt_os_calls.mmap(NULL, span, prot, flags, -1, 0);
	if ((err = map_errno(p)))
		return err;
	start = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (start > p)
		mt_os_calls.munmap(p, (size_t)(start - p));
	if (start + size < p + span)
		mt_os_calls.munmap(start + size, (size_t)(p + span - (start + size)));
	atomic_store_explicit(&aligned_hint, (uintptr_t)start, memory_order_relaxed);
	*addr = start;
	return 0;
}

int mt_os_reserve(void **addr, size_t size, size_t align, int prot, bool fixed, bool huge)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	void *p;

	if (huge)       /* hugetlb pages cannot be committed lazily */
		flags |= MAP_HUGETLB | MAP_POPULATE;
	if (fixed) {
		p = mt_os_calls.mmap(*addr, size, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			return errno;
		if (p != *addr) {       /* kernels before 4.17 treat it as a hint */
			mt_os_calls.munmap(p, size);
			return EEXIST;
		}
		return 0;
	}
	if (huge) {
		p = mt_os_calls.mmap(NULL, size, prot, flags, -1, 0);
		if (p == MAP_FAILED)
			return errno;
		*addr = p;
		return 0;
	}
	return reserve_aligned(addr, size, align, prot, flags);
}

int mt_os_release(void *addr, size_t size)
{
	uintptr_t a = (uintptr_t)addr;

	if (mt_os_calls.munmap(addr, size))
		return errno;
	atomic_compare_exchange_strong(&aligned_hint, &a, a + size);
	return 0;
}

int mt_os_protect(void *addr, size_t size, int prot)
{
	return mt_os_calls.mprotect(addr, size, prot) ? errno : 0;
}

int mt_os_decommit(void *addr, size_t size)
{
	/* MADV_DONTNEED zero-fills private anonymous memory and, unlike a
	 * fresh mmap over the range, keeps the VMA's userfaultfd registration. */
	if (mt_os_calls.madvise(addr, size, MADV_DONTNEED))
		return errno;
	return mt_os_protect(addr, size, PROT_NONE);
}

int mt_os_reset(void *addr, size_t size)
{
	return mt_os_calls.madvise(addr, size, MADV_FREE) ? errno : 0;
}

int mt_os_discard(void *addr, size_t size)
{
	return mt_os_calls.madvise(addr, size, MADV_DONTNEED) ? errno : 0;
}

/* Whether the calling process may write to the page, from the kernel's map. */
static bool writable_page(const void *p)
{
	struct mt_maps *m;
	struct mt_vma v;
	bool w = false;

	if (mt_maps_open(0, &m))
		return false;
	if (!mt_maps_find(m, (uintptr_t)p, &v))
		w = v.start <= (uintptr_t)p && (v.flags & MT_VMA_WRITE);
	mt_maps_close(m);
	return w;
}

int mt_os_resident(void *addr, size_t size, unsigned char *vec)
{
	return mincore(addr, size, vec) ? errno : 0;
}

/* For memory the library does not own: only writable mappings are touched
 * (a write to anything else would fault); the others are reported by
 * residency alone. */
int mt_os_reset_undo(void *addr, size_t size)
{
	size_t pages = size / mt_os.page_size;
	unsigned char vec[256];
	int lost = 0;

	for (size_t i = 0; i < pages; i += sizeof vec) {
		size_t n = pages - i < sizeof vec ? pages - i : sizeof vec;
		char *base = (char *)addr + i * mt_os.page_size;

		if (mincore(base, n * mt_os.page_size, vec))
			return errno;
		for (size_t j = 0; j < n; j++) {
			unsigned char *p = (unsigned char *)base + j * mt_os.page_size;

			if (!(vec[j] & 1))
				lost = 1;
			else if (writable_page(p))
				__atomic_fetch_add(p, 0, __ATOMIC_RELAXED);
		}
	}
	return lost ? ENOENT : 0;
}

int mt_os_lock(void *addr, size_t size)
{
	return mt_os_calls.mlock(addr, size) ? errno : 0;
}

int mt_os_lock_no_write(void *addr, size_t size)
{
	/* MADV_POPULATE_READ is Linux 5.14+: without it, pages lock on fault. */
	mt_os_calls.madvise(addr, size, 22 /* MADV_POPULATE_READ */);
	if (syscall(SYS_mlock2, addr, size, 1 /* MLOCK_ONFAULT */))
		return errno;
	return 0;
}

int mt_os_unlock(void *addr, size_t size)
{
	return mt_os_calls.munlock(addr, size) ? errno : 0;
}

int mt_os_prefetch(void *addr, size_t size)
{
	return mt_os_calls.madvise(addr, size, MADV_WILLNEED) ? errno : 0;
}

unsigned mt_os_node_count(void)
{
	FILE *f = fopen("/sys/devices/system/node/possible", "re");
	unsigned lo = 0, hi = 0;

	if (!f)
		return 1;
	if (fscanf(f, "%u-%u", &lo, &hi) < 2)
		hi = lo;
	fclose(f);
	return hi + 1;
}

int mt_os_bind_node(void *addr, size_t size, unsigned node)
{
	unsigned long mask[16] = { 0 };
	unsigned long bits = sizeof mask * 8;

	if (node >= bits)
		return EINVAL;
	mask[node / (8 * sizeof(long))] = 1UL << (node % (8 * sizeof(long)));
	if (syscall(SYS_mbind, addr, size, MPOL_PREFERRED, mask, bits + 1, 0))
		return errno;
	return 0;
}

/* Reads the start and end of every mapping of the calling process, sorted. */
static int read_self_spans(uintptr_t **out, size_t *count)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uintptr_t *v = NULL, s, e;
	size_t n = 0, cap = 0;
	char line[512];

	if (!f)
		return errno;
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);

		if (sscanf(line, "%lx-%lx", &s, &e) == 2) {
			if (n + 2 > cap) {
				uintptr_t *nv = realloc(v, (cap = cap ? cap * 2 : 512) * sizeof *v);

				if (!nv) {
					free(v);
					fclose(f);
					return ENOMEM;
				}
				v = nv;
			}
			v[n++] = s;
			v[n++] = e;
		}
		/* Skip the rest of an over-long line (long path names). */
		while (len && line[len - 1] != '\n' && fgets(line, sizeof line, f))
			len = strlen(line);
	}
	fclose(f);
	*out = v;
	*count = n / 2;
	return 0;
}

static int gap_fits(uintptr_t gs, uintptr_t ge, size_t size, size_t align,
                    bool top_down, uintptr_t *out)
{
	uintptr_t a;

	if (ge <= gs || ge - gs < size)
		return 0;
	if (top_down)
		a = (ge - size) & ~(uintptr_t)(align - 1);
	else
		a = (gs + align - 1) & ~(uintptr_t)(align - 1);
	if (a < gs || a + size > ge || a + size < a)
		return 0;
	*out = a;
	return 1;
}

int mt_os_find_gap(uintptr_t lo, uintptr_t hi, size_t size, size_t align,
                   bool top_down, uintptr_t *out)
{
	uintptr_t *v;
	size_t n, i;
	int err = read_self_spans(&v, &n), found = 0;

	if (err)
		return err;
	/* Gaps are between consecutive mappings, clipped to [lo, hi). */
	for (i = 0; i <= n && !found; i++) {
		size_t k = top_down ? n - i : i;
		uintptr_t gs = k == 0 ? 0 : v[2 * (k - 1) + 1];
		uintptr_t ge = k == n ? mt_os.max_address : v[2 * k];

		gs = gs < lo ? lo : gs;
		ge = ge > hi ? hi : ge;
		found = gap_fits(gs, ge, size, align, top_down, out);
	}
	free(v);
	return found ? 0 : ENOMEM;
}

/* The file over [p, +len) of memory the caller owns. */
static int map_over(void *p, size_t len, int prot, int flags, int fd, uint64_t off)
{
	void *q = mt_os_calls.mmap(p, len, prot, flags | MAP_FIXED, fd, (off_t)off);

	return q == MAP_FAILED ? errno : 0;
}

int mt_os_map_file(void **addr, size_t len, size_t span, int prot, bool shared, int fd,
                   uint64_t off, enum mt_map_place place)
{
	int flags = shared ? MAP_SHARED : MAP_PRIVATE, err;
	void *p = *addr;

	if (place == MT_MAP_REPLACE)
		return map_over(p, len, prot, flags, fd, off);
	/* The common case, a view of whole 64 KiB units, costs one mmap. */
	if (place == MT_MAP_ANYWHERE && len == span &&
	    try_hint_fd(addr, len, mt_os.granularity, prot, flags, fd, (off_t)off) == 0)
		return 0;
	if ((err = mt_os_reserve(&p, span, mt_os.granularity, PROT_NONE,
	                         place == MT_MAP_FIXED, false)))
		return err;
	if ((err = map_over(p, len, prot, flags, fd, off))) {
		mt_os_release(p, span);
		return err;
	}
	*addr = p;
	return 0;
}

int mt_os_rereserve(void *addr, size_t size)
{
	void *p = mt_os_calls.mmap(addr, size, PROT_NONE,
	                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? errno : 0;
}
