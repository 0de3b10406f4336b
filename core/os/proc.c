/* Small /proc readers (a process's personality, the kernel's NX setting,
 * a kept reader of the calling process's map) and a read of the calling
 * process's own memory that never faults. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/uio.h>
#include <unistd.h>

bool mt_os_read_self_via_mem;

/* The whole of a small /proc file, NUL-terminated; errno on failure. */
static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		err = errno;
	close(fd);
	if (err)
		return err;
	buf[n] = 0;
	return 0;
}

int mt_os_personality(pid_t pid, unsigned long *out)
{
	char path[64], buf[32], *end;
	int err;

	if (!pid) {
		*out = (unsigned)personality(0xffffffff);
		return 0;
	}
	/* The file opens for anyone; the read needs ptrace-attach rights
	 * (EPERM), which Yama can refuse even where the maps are readable. */
	snprintf(path, sizeof path, "/proc/%d/personality", (int)pid);
	if ((err = read_small(path, buf, sizeof buf)))
		return err;
	*out = strtoul(buf, &end, 16);
	return end == buf ? EINVAL : 0;
}

/* Whether the space-separated list s holds word. */
static bool has_word(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = s; (p = strstr(p, word)); p += n)
		if ((p == s || p[-1] == ' ' || p[-1] == '\t') &&
		    (!p[n] || p[n] == ' ' || p[n] == '\t' || p[n] == '\n'))
			return true;
	return false;
}

/* The first "flags" line of /proc/cpuinfo has the boot CPU's features as
 * the kernel uses them (it clears "nx" when it runs without). */
static int cpuinfo_nx(bool *nx)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (!f)
		return errno;
	while (!found && getline(&line, &cap, f) > 0)
		if (!strncmp(line, "flags", 5) && strchr(line, ':')) {
			*nx = has_word(strchr(line, ':') + 1, "nx");
			found = true;
		}
	free(line);
	fclose(f);
	return found ? 0 : ENOENT;
}

int mt_os_kernel_nx(bool *on)
{
	char cmdline[4096];
	bool nx = true;
	int err;

	if (!read_small("/proc/cmdline", cmdline, sizeof cmdline) &&
	    has_word(cmdline, "noexec=off")) {
		*on = false;
		return 0;
	}
	if ((err = cpuinfo_nx(&nx)))
		return err;
	*on = nx;
	return 0;
}

/* Fallback where process_vm_readv is refused (a seccomp filter): the
 * kernel reads /proc/self/mem on our behalf, also without faulting.
 * Opened per call: a descriptor kept across fork() would name the parent. */
static int read_via_mem(void *dst, uintptr_t src, size_t len)
{
	int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return errno;
	n = pread(fd, dst, len, (off_t)src);
	if (n < 0)
		err = errno == EIO ? EFAULT : errno;
	else if ((size_t)n != len)
		err = EFAULT;
	close(fd);
	return err;
}

int mt_os_read_self(void *dst, uintptr_t src, size_t len)
{
	struct iovec local = { dst, len }, remote = { (void *)src, len };
	ssize_t n;

	if (!mt_os_read_self_via_mem) {
		n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		if (n >= 0)
			return (size_t)n == len ? 0 : EFAULT;
		if (errno != ENOSYS && errno != EPERM)
			return errno;
	}
	return read_via_mem(dst, src, len);
}

/* Kept open only where PROCMAP_QUERY works: each query then asks the
 * kernel afresh, where a parsed copy would go stale. */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mt_maps *kept;
static pid_t kept_pid;

int mt_maps_self_get(struct mt_maps **out, bool *is_kept)
{
	int err;

	*is_kept = false;
	/* Busy: another thread's, or held at fork() by a thread this child
	 * does not have. A reader of its own is only slower. */
	if (pthread_mutex_trylock(&kept_lock))
		return mt_maps_open(0, out);
	/* After fork() the kept descriptor still names the parent. */
	if (kept && (kept_pid != getpid() || !mt_os.has_procmap_query)) {
		mt_maps_close(kept);
		kept = NULL;
	}
	if (!mt_os.has_procmap_query) {
		pthread_mutex_unlock(&kept_lock);
		return mt_maps_open(0, out);
	}
	if (!kept && (err = mt_maps_open(0, &kept))) {
		pthread_mutex_unlock(&kept_lock);
		return err;
	}
	kept_pid = getpid();
	*out = kept;
	*is_kept = true;
	return 0;
}

void mt_maps_self_put(struct mt_maps *m, bool is_kept)
{
	if (is_kept)
		pthread_mutex_unlock(&kept_lock);
	else
		mt_maps_close(m);
}
