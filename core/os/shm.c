/* Shared memory objects behind sections: anonymous memfds, named objects in
 * /dev/shm with open-file-description locks that count their users across
 * processes, and msync. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef F_OFD_SETLK
#define F_OFD_SETLK  37
#define F_OFD_SETLKW 38
#endif

#define SHM_DIR "/dev/shm/"

/* Sizes a new descriptor fd (as returned: -1 with errno on failure) and
 * hands it out, or closes it again: 0 or the errno. */
static int sized(int fd, uint64_t size, bool take_pages, int *out)
{
	int e;

	if (fd < 0)
		return errno;
	if (ftruncate(fd, (off_t)size) || (take_pages && fallocate(fd, 0, 0, (off_t)size))) {
		e = errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

int mt_os_memfd(const char *name, uint64_t size, bool huge, int *out)
{
	/* Huge pages are taken now, so that a section without them fails at
	 * creation as it does on Windows, not with SIGBUS on first touch. */
	return sized(memfd_create(name, MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0)), size, huge, out);
}

static int shm_path(const char *name, char *path, size_t room)
{
	size_t n = strlen(SHM_DIR) + strlen(name);

	if (n >= room)
		return ENAMETOOLONG;
	strcpy(path, SHM_DIR);
	strcat(path, name);
	return 0;
}

int mt_os_shm_open(const char *name, bool create, int *out)
{
	char path[512];
	int fd, e = shm_path(name, path, sizeof path);

	if (e)
		return e;
	/* Owner-only, and never through a symlink someone planted. */
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0)
		return errno;
	*out = fd;
	return 0;
}

int mt_os_shm_unlink(const char *name)
{
	char path[512];
	int e = shm_path(name, path, sizeof path);

	if (e)
		return e;
	return unlink(path) ? errno : 0;
}

int mt_os_shm_same(int fd, const char *name)
{
	char path[512];
	struct stat a, b;
	int e = shm_path(name, path, sizeof path);

	if (e)
		return e;
	if (fstat(fd, &a))
		return errno;
	if (lstat(path, &b))
		return errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino ? 0 : ENOENT;
}

int mt_os_fd_lock(int fd, int how, bool wait)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = (short)(how == MT_LOCK_SHARED ? F_RDLCK : how == MT_LOCK_EXCLUSIVE ? F_WRLCK
	                                                                           : F_UNLCK);
	fl.l_whence = SEEK_SET;
	/* Open-file-description locks: owned by this descriptor, not by the
	 * process, so two sections of one object in one process count twice. */
	while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) {
		if (errno != EINTR)
			return errno == EACCES ? EAGAIN : errno;
	}
	return 0;
}

int mt_os_fd_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st))
		return errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int mt_os_fd_grow(int fd, uint64_t size)
{
	uint64_t now;
	int e = mt_os_fd_size(fd, &now);

	if (e || now >= size)
		return e;
	return ftruncate(fd, (off_t)size) ? errno : 0;
}

int mt_os_sync(void *addr, size_t size)
{
	return msync(addr, size, MS_SYNC) ? errno : 0;
}

int mt_os_fd_alloc(int fd, uint64_t off, uint64_t len)
{
	return mt_os_calls.fallocate(fd, 0, (off_t)off, (off_t)len) ? errno : 0;
}

int mt_os_fd_punch(int fd, uint64_t off, uint64_t len)
{
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len)
	       ? errno : 0;
}

/* A shared mapping of a shmem file carries the file's own NUMA policy:
 * mbind on it sets the policy of those file pages for every later
 * allocation, fallocate included. */
int mt_os_fd_bind_node(int fd, uint64_t off, uint64_t len, unsigned node)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_SHARED, fd, (off_t)off);
	int e;

	if (p == MAP_FAILED)
		return errno;
	e = mt_os_bind_node(p, len, node);
	munmap(p, len);
	return e;
}

int mt_os_fd_copy(int dst, int src, uint64_t off, uint64_t len)
{
	char buf[65536];

	while (len) {
		size_t n = len < sizeof buf ? len : sizeof buf;
		ssize_t got = pread(src, buf, n, (off_t)off);

		if (got <= 0)
			return got < 0 ? errno : EIO;
		if (pwrite(dst, buf, (size_t)got, (off_t)off) != got)
			return errno ? errno : EIO;
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	return 0;
}

/* A fork child shares its parent's open file descriptions, and so their
 * OFD locks: a lock the child takes or drops would be the parent's too.
 * This gives fd a description of its own for the same file (through
 * /proc/self/fd, whatever the file's name now), holding a lock of how. */
int mt_os_fd_own(int fd, int how)
{
	char path[64];
	int own, e;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((own = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return errno;
	e = how == MT_LOCK_NONE ? 0 : mt_os_fd_lock(own, how, false);
	if (!e && dup3(own, fd, O_CLOEXEC) < 0)
		e = errno;
	close(own);
	return e;
}

/* /dev/shm/from becomes /dev/shm/to in one step, unless to exists (EEXIST). */
int mt_os_shm_publish(const char *from, const char *to)
{
	char a[512], b[512];
	int e;

	if ((e = shm_path(from, a, sizeof a)) || (e = shm_path(to, b, sizeof b)))
		return e;
	if (!renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return errno;
	/* A file system without RENAME_NOREPLACE: link fails as well if to
	 * exists, and is as atomic. */
	if (link(a, b))
		return errno;
	unlink(a);
	return 0;
}

/* Code that is never writable where it runs, beside data that is never
 * executable: len bytes of code become the first page of a two-page
 * object, written with pwrite before any mapping exists; *rx maps both
 * pages read+execute (the code reads its data there), *rw the second page
 * alone read+write. Without memfd (or where the kernel refuses executable
 * memfd mappings, vm.memfd_noexec), anonymous pages: the code page is
 * written, then made read+execute, and *rw is the page after it. */
int mt_os_code_pages(const void *code, size_t len, size_t page, bool memfd, void **rx,
                     void **rw)
{
	int fd = memfd ? memfd_create("memapi-thunks", MFD_CLOEXEC) : -1, e = 0;
	void *x, *w;

	if (fd >= 0) {
		if (ftruncate(fd, (off_t)(2 * page)) || pwrite(fd, code, len, 0) != (ssize_t)len)
			e = errno ? errno : EIO;
		x = e ? MAP_FAILED : mmap(NULL, 2 * page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
		w = x == MAP_FAILED ? MAP_FAILED
		                    : mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		                           (off_t)page);
		if (!e && (x == MAP_FAILED || w == MAP_FAILED))
			e = errno;
		close(fd);
		if (!e) {
			*rx = x;
			*rw = w;
			return 0;
		}
		if (x != MAP_FAILED)
			munmap(x, 2 * page);
		if (e != EPERM && e != EACCES)
			return e;
	}
	x = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x == MAP_FAILED)
		return errno;
	memcpy(x, code, len);
	if (mprotect(x, page, PROT_READ | PROT_EXEC)) {
		e = errno;
		munmap(x, 2 * page);
		return e;
	}
	*rx = x;
	*rw = (char *)x + page;
	return 0;
}

/* In a fork child: pages of mt_os_code_pages (memfd kind) get an object of
 * the child's own, with the same contents, at the same addresses. */
int mt_os_code_pages_unshare(void *rx, void *rw, size_t page)
{
	int fd = memfd_create("memapi-thunks", MFD_CLOEXEC), e = 0;

	if (fd < 0)
		return errno;
	if (ftruncate(fd, (off_t)(2 * page)) || pwrite(fd, rx, 2 * page, 0) != (ssize_t)(2 * page) ||
	    mmap(rx, 2 * page, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
	    mmap(rw, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)page) ==
	    MAP_FAILED)
		e = errno ? errno : EIO;
	close(fd);
	return e;
}

/* A secret memory file (memfd_secret): its pages are taken out of the
 * kernel's direct map and are reachable only through this process's
 * mappings of it. ENOSYS where the kernel has none (or it is disabled). */
int mt_os_memfd_secret(uint64_t size, int *out)
{
#ifdef SYS_memfd_secret
	return sized((int)syscall(SYS_memfd_secret, O_CLOEXEC), size, false, out);
#else
	(void)size;
	(void)out;
	return ENOSYS;
#endif
}

void mt_os_close(int fd)
{
	close(fd);
}
