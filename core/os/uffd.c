/* Write tracking by the kernel: userfaultfd write protection in async mode
 * (writes resolve themselves and clear the page's WP bit, no fault thread)
 * read back with the PAGEMAP_SCAN ioctl. Linux 6.7 and later. */
#include "os.h"
#include "kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static int   uffd = -1;            /* the process's userfaultfd, or -1          */
static int   pagemap = -1;         /* /proc/self/pagemap                        */
static pid_t pagemap_pid;          /* whose pagemap: reopened after fork        */
static dev_t pagemap_dev;          /* its identity: the program may close the   */
static ino_t pagemap_ino;          /* descriptor and reuse the number           */

static int open_uffd(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};
	int fd;

	/* User-mode-only descriptors are allowed without privilege even when
	 * vm.unprivileged_userfaultfd is 0; async WP needs no fault delivery. */
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) ||
	    (api.features & (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)) !=
	    (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool pagemap_is_ours(void)
{
	struct stat st;

	return fstat(pagemap, &st) == 0 && st.st_dev == pagemap_dev && st.st_ino == pagemap_ino;
}

/* The pagemap descriptor of the calling process, valid across fork. */
static int self_pagemap(void)
{
	pid_t me = getpid();
	int fd;

	struct stat st;

	pthread_mutex_lock(&fd_lock);
	if (pagemap < 0 || pagemap_pid != me) {
		if (pagemap >= 0 && pagemap_is_ours())
			close(pagemap);
		pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		pagemap_pid = me;
		if (pagemap >= 0 && fstat(pagemap, &st) == 0) {
			pagemap_dev = st.st_dev;
			pagemap_ino = st.st_ino;
		}
	}
	fd = pagemap;
	pthread_mutex_unlock(&fd_lock);
	return fd;
}

static int wp_range(void *addr, size_t size, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)addr, .len = size },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) ? errno : 0;
}

int mt_os_wp_register(void *addr, size_t size)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = size },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	if (uffd < 0)
		return ENOSYS;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return errno;
	return wp_range(addr, size, true);
}

int mt_os_wp_unregister(void *addr, size_t size)
{
	struct uffdio_range r = { .start = (uintptr_t)addr, .len = size };

	if (uffd < 0)
		return ENOSYS;
	return ioctl(uffd, UFFDIO_UNREGISTER, &r) ? errno : 0;
}

int mt_os_wp_reset(void *addr, size_t size)
{
	if (uffd < 0)
		return ENOSYS;
	return wp_range(addr, size, true);
}

static int scan_fd(int fd, uintptr_t start, size_t size, size_t max, bool reset,
                   mt_wp_range_fn *out, void *ctx, size_t *count)
{
	struct page_region vec[256];
	uintptr_t end = start + size;
	size_t done = 0;

	while (start < end && done < max) {
		struct pm_scan_arg a = {
			.size = sizeof a,
			.flags = reset ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
			.start = start, .end = end,
			.vec = (uintptr_t)vec, .vec_len = sizeof vec / sizeof vec[0],
			.max_pages = max - done,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		long n = ioctl(fd, PAGEMAP_SCAN, &a);

		if (n < 0)
			return errno;
		for (long i = 0; i < n; i++) {
			out(vec[i].start, vec[i].end, ctx);
			done += (vec[i].end - vec[i].start) / mt_os.page_size;
		}
		if (a.walk_end <= start)
			break;
		start = a.walk_end;
	}
	*count = done;
	return 0;
}

int mt_os_wp_scan(void *addr, size_t size, size_t max, bool reset,
                  mt_wp_range_fn *out, void *ctx, size_t *count)
{
	int fd = self_pagemap(), err;

	if (fd < 0)
		return errno;
	err = scan_fd(fd, (uintptr_t)addr, size, max, reset, out, ctx, count);
	if (err && !pagemap_is_ours()) {
		/* Closed (and maybe reused) behind our back: open it again. */
		pthread_mutex_lock(&fd_lock);
		pagemap_pid = 0;
		pagemap = -1;
		pthread_mutex_unlock(&fd_lock);
		if ((fd = self_pagemap()) < 0)
			return errno;
		err = scan_fd(fd, (uintptr_t)addr, size, max, reset, out, ctx, count);
	}
	return err;
}

int mt_os_wp_scan_pid(pid_t pid, uintptr_t addr, size_t size, size_t max,
                      mt_wp_range_fn *out, void *ctx, size_t *count)
{
	char path[64];
	int fd, err;

	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno;
	err = scan_fd(fd, addr, size, max, false, out, ctx, count);
	close(fd);
	return err;
}

static void count_pages(uintptr_t start, uintptr_t end, void *ctx)
{
	*(size_t *)ctx += (end - start) / mt_os.page_size;
}

/* Checks the whole chain on one page: register, protect, write, scan. */
static int probe_page(void)
{
	size_t ps = mt_os.page_size, seen = 0, n = 0;
	char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int err;

	if (p == MAP_FAILED)
		return errno;
	err = mt_os_wp_register(p, 2 * ps);
	if (!err) {
		p[ps] = 1;
		err = mt_os_wp_scan(p, 2 * ps, 2, true, count_pages, &seen, &n);
	}
	if (!err && (seen != 1 || n != 1))
		err = ENOTSUP;
	munmap(p, 2 * ps);
	return err;
}

int mt_os_wp_probe(void)
{
	int err;

	if (uffd >= 0)
		return 0;
	uffd = open_uffd();
	if (uffd < 0)
		return ENOSYS;
	if ((err = probe_page())) {
		close(uffd);
		uffd = -1;
	}
	return err;
}

int mt_os_wp_after_fork(void)
{
	if (uffd < 0)
		return 0;
	close(uffd);
	uffd = open_uffd();
	return uffd < 0 ? ENOSYS : 0;
}

void mt_os_atfork(enum mt_fork_phase phase)
{
	mt_mutex_atfork(&fd_lock, phase);
}

