/* Write watch (MEM_WRITE_WATCH, GetWriteWatch, ResetWriteWatch). Kernel
 * path: userfaultfd async write protection read with PAGEMAP_SCAN. Fallback
 * path (older kernels, or MEMAPI_WRITE_WATCH=fallback): unwritten pages lose
 * PROT_WRITE and the fault handler records the first write to each. */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

bool mt_watch_fallback(const struct mt_region *r)
{
	return r->written != NULL;
}

DWORD mt_watch_attach(struct mt_region *r)
{
	int e;

	if (mt_os.has_wp_async) {
		e = mt_os_wp_register((void *)(uintptr_t)r->rec.base, r->span);
		if (e) {
			r->rec.flags &= ~MEMAPI_REGION_WRITE_WATCH;   /* not attached */
			return mt_error_from_errno(e);
		}
	} else {
		r->written = calloc((mt_pages(r->rec.size) + 7) / 8, 1);
		if (!r->written) {
			r->rec.flags &= ~MEMAPI_REGION_WRITE_WATCH;
			return ERROR_NOT_ENOUGH_MEMORY;
		}
		mt_vm_change_begin();
		r->rec.written = r->written;
		mt_vm_change_end();
		atomic_fetch_add(&mt_vm.fallback_watched, 1);
	}
	mt_vm.watched++;
	return 0;
}

void mt_watch_detach(struct mt_region *r)
{
	if (!(r->rec.flags & MEMAPI_REGION_WRITE_WATCH))
		return;
	if (r->written) {
		free(r->written);
		r->written = NULL;
		r->rec.written = NULL;
		atomic_fetch_sub(&mt_vm.fallback_watched, 1);
	}
	/* The kernel drops the uffd registration with the mapping. */
	r->rec.flags &= ~MEMAPI_REGION_WRITE_WATCH;
	mt_vm.watched--;
}

/* The child could not get a userfaultfd: its kernel-watched regions move to
 * the fallback, every page "not written". */
static void to_fallback(struct mt_region *r)
{
	if (!(r->written = calloc((mt_pages(r->rec.size) + 7) / 8, 1))) {
		r->rec.flags &= ~MEMAPI_REGION_WRITE_WATCH;   /* GetWriteWatch fails */
		mt_vm.watched--;
		return;
	}
	r->rec.written = r->written;
	atomic_fetch_add(&mt_vm.fallback_watched, 1);
	mt_vm_sync(r, 0, mt_pages(r->rec.size));
}

void mt_watch_after_fork(void)
{
	bool kernel;

	if (!mt_os.has_wp_async)
		return;
	kernel = mt_os_wp_after_fork() == 0;
	mt_os.has_wp_async = kernel;
	mt_root_init();         /* watch_mode */
	mt_vm_change_begin();
	for (size_t i = 0; i < mt_vm.count; i++) {
		struct mt_region *r = mt_vm.index[i];

		if (!(r->rec.flags & MEMAPI_REGION_WRITE_WATCH) || r->written)
			continue;
		if (!kernel || mt_os_wp_register((void *)(uintptr_t)r->rec.base, r->span))
			to_fallback(r);
	}
	mt_vm_change_end();
}

/* Can the page take a write once tracked? Guard and read-only pages fault
 * for their own reasons. */
static bool writable(const struct mt_region *r, size_t page)
{
	const struct memapi_rec_run *run = &r->runs[mt_run_at(r, page)];

	return run->state == MEM_COMMIT && !(run->protect & PAGE_GUARD) &&
	       (mt_prot_from_win(run->protect) & PROT_WRITE);
}

static bool whole_run_written(struct mt_region *r, size_t page);

bool mt_watch_fault(struct mt_region *r, size_t page)
{
	bool ok;

	if (!r->written || mt_bit(r->written, page) || !writable(r, page))
		return false;
	mt_vm_change_begin();
	mt_bit_put(r->written, page, true);
	ok = mt_vm_sync(r, page, 1) == 0 || whole_run_written(r, page);
	mt_vm_change_end();
	return ok;
}

static bool whole_run_written(struct mt_region *r, size_t page)
{
	const struct memapi_rec_run *run;

	/* Each isolated written page is a mapping of its own; at the kernel's
	 * limit (vm.max_map_count) the split fails with ENOMEM. Count the whole
	 * run as written instead, which merges it back: over-reporting is
	 * safe for write watch, a fault loop is not. */
	run = &r->runs[mt_run_at(r, page)];
	for (size_t p = run->first_page; p < run->first_page + run->page_count; p++)
		mt_bit_put(r->written, p, true);
	return mt_vm_sync(r, run->first_page, run->page_count) == 0;
}

void mt_watch_prepare_write(const void *addr, size_t len)
{
	uintptr_t a = mt_page_down((uintptr_t)addr), end = (uintptr_t)addr + len;

	if (!len || (!atomic_load_explicit(&mt_vm.fallback_watched, memory_order_relaxed) &&
	             !atomic_load_explicit(&mt_vm.writecopy_seen, memory_order_relaxed)))
		return;
	mt_vm_lock();
	for (; a < end && a >= mt_page_down((uintptr_t)addr); a += mt_os.page_size) {
		struct mt_region *r = mt_vm_find(a);

		if (r && (r->rec.flags & MEMAPI_REGION_WRITE_WATCH))
			mt_watch_fault(r, mt_pages(a - r->rec.base));
		else if (r && r->rec.owner == MEMAPI_OWNER_SECTION)
			mt_fault_writecopy(r, mt_pages(a - r->rec.base));
	}
	mt_vm_unlock();
}

/* The write-watch region holding [base, +size), or an error. */
static DWORD watched_range(PVOID base, SIZE_T size, struct mt_region **out)
{
	uintptr_t a = (uintptr_t)base;
	struct mt_region *r = mt_vm_find(a);

	if (!r || !(r->rec.flags & MEMAPI_REGION_WRITE_WATCH) || !size ||
	    size > mt_region_end(r) - a)
		return ERROR_INVALID_PARAMETER;
	*out = r;
	return 0;
}

/* GetWriteWatch and ResetWriteWatch return 0 or, on failure, -1. */
static UINT watch_fail(DWORD code)
{
	SetLastError(code);
	return (UINT)-1;
}

struct collect {
	PVOID    *out;
	ULONG_PTR n;
};

static void collect(uintptr_t start, uintptr_t end, void *ctx)
{
	struct collect *c = ctx;
	PVOID *out = c->out + c->n;

	for (uintptr_t p = start; p < end; p += mt_os.page_size)
		*out++ = (PVOID)p;
	c->n = (ULONG_PTR)(out - c->out);
}

static DWORD get_fallback(struct mt_region *r, uintptr_t start, uintptr_t end, bool reset,
                          struct collect *c, ULONG_PTR max)
{
	size_t first = mt_pages(start - r->rec.base), last = mt_pages(end - r->rec.base);

	size_t lo = SIZE_MAX, hi = 0;

	mt_vm_change_begin();
	for (size_t p = first; p < last && c->n < max; p++) {
		if (!mt_bit(r->written, p))
			continue;
		c->out[c->n++] = (PVOID)(uintptr_t)(r->rec.base + p * mt_os.page_size);
		if (reset) {
			mt_bit_put(r->written, p, false);
			lo = p < lo ? p : lo;
			hi = p + 1;
		}
	}
	/* One pass over the reset span: mprotect per run of equal pages, not
	 * per page. */
	if (hi > lo)
		mt_vm_sync(r, lo, hi - lo);
	mt_vm_change_end();
	return 0;
}

UINT WINAPI GetWriteWatch(DWORD dwFlags, PVOID lpBaseAddress, SIZE_T dwRegionSize,
                          PVOID *lpAddresses, ULONG_PTR *lpdwCount, LPDWORD lpdwGranularity)
{
	struct collect c = { lpAddresses, 0 };
	struct mt_region *r;
	uintptr_t start, end;
	bool reset = dwFlags & WRITE_WATCH_FLAG_RESET;
	DWORD err;

	mt_init();
	if (dwFlags & ~(DWORD)WRITE_WATCH_FLAG_RESET)
		return watch_fail(ERROR_INVALID_PARAMETER);
	if (!lpdwCount || !lpdwGranularity || (!lpAddresses && *lpdwCount))
		return watch_fail(ERROR_NOACCESS);
	start = mt_page_down((uintptr_t)lpBaseAddress);
	end = mt_page_up((uintptr_t)lpBaseAddress + dwRegionSize);
	/* The output is written under the lock: if it lies in fallback-watched
	 * memory, open it now, while a fault could still take the lock. */
	mt_watch_prepare_write(lpAddresses, *lpdwCount * sizeof *lpAddresses);
	mt_vm_lock();
	err = watched_range(lpBaseAddress, dwRegionSize, &r);
	if (!err && r->written) {
		err = get_fallback(r, start, end, reset, &c, *lpdwCount);
	} else if (!err) {
		size_t n = 0;
		int e = mt_os_wp_scan((void *)start, end - start, *lpdwCount, reset,
		                      collect, &c, &n);

		err = e ? mt_error_from_errno(e) : 0;
	}
	mt_vm_unlock();
	if (err)
		return watch_fail(err);
	*lpdwCount = c.n;
	*lpdwGranularity = (DWORD)mt_os.page_size;
	return 0;
}

UINT WINAPI ResetWriteWatch(LPVOID lpBaseAddress, SIZE_T dwRegionSize)
{
	struct mt_region *r;
	uintptr_t start = mt_page_down((uintptr_t)lpBaseAddress);
	uintptr_t end = mt_page_up((uintptr_t)lpBaseAddress + dwRegionSize);
	DWORD err;

	mt_init();
	mt_vm_lock();
	err = watched_range(lpBaseAddress, dwRegionSize, &r);
	if (!err && r->written) {
		mt_vm_change_begin();
		for (size_t p = mt_pages(start - r->rec.base); p < mt_pages(end - r->rec.base); p++)
			mt_bit_put(r->written, p, false);
		mt_vm_sync(r, mt_pages(start - r->rec.base), mt_pages(end - start));
		mt_vm_change_end();
	} else if (!err) {
		int e = mt_os_wp_reset((void *)start, end - start);

		err = e ? mt_error_from_errno(e) : 0;
	}
	mt_vm_unlock();
	return err ? watch_fail(err) : 0;
}

/* read(2) and friends into fallback-watched memory: the kernel's copy would
 * fail with EFAULT on the write-protected pages, where Windows' would count
 * as a write. These wrappers open and mark the pages first, then call the
 * C library. They cost one atomic load when no fallback watch exists. */
/* The system calls themselves, for static binaries where dlsym(RTLD_NEXT)
 * finds nothing (glibc's static read is the symbol this file replaces). */
static ssize_t raw_read(int fd, void *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}

static ssize_t raw_pread(int fd, void *buf, size_t n, off_t off)
{
	return syscall(SYS_pread64, fd, buf, n, off);
}

#define raw_pread64 raw_pread

static ssize_t raw_readv(int fd, const struct iovec *iov, int cnt)
{
	return syscall(SYS_readv, fd, iov, cnt);
}

static ssize_t raw_preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return syscall(SYS_preadv, fd, iov, cnt, (long)off, 0L);
}

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*readv_fn)(int, const struct iovec *, int);
typedef ssize_t (*preadv_fn)(int, const struct iovec *, int, off_t);

/* The C library's function of that name (looked up once; racing threads
 * store the same value). */
#define NEXT(name, type) \
	static type next_##name; \
	if (!next_##name) \
		next_##name = (type)dlsym(RTLD_NEXT, #name); \
	if (!next_##name) /* a static binary has no next object */ \
		next_##name = raw_##name

MEMAPI_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	NEXT(read, read_fn);
	mt_watch_prepare_write(buf, n);
	return next_read(fd, buf, n);
}

MEMAPI_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	NEXT(pread, pread_fn);
	mt_watch_prepare_write(buf, n);
	return next_pread(fd, buf, n, off);
}

MEMAPI_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	NEXT(pread64, pread_fn);
	mt_watch_prepare_write(buf, n);
	return next_pread64(fd, buf, n, off);
}

static void prepare_iov(const struct iovec *iov, int cnt)
{
	for (int i = 0; iov && i < cnt; i++)
		mt_watch_prepare_write(iov[i].iov_base, iov[i].iov_len);
}

MEMAPI_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	NEXT(readv, readv_fn);
	prepare_iov(iov, cnt);
	return next_readv(fd, iov, cnt);
}

MEMAPI_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	NEXT(preadv, preadv_fn);
	prepare_iov(iov, cnt);
	return next_preadv(fd, iov, cnt, off);
}
