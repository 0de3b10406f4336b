/* Live targets (the calling process or another pid): memory through
 * process_vm_readv, with /proc/PID/mem where that is refused; the map from
 * /proc/PID/maps, parsed by hand because sscanf costs more than the read
 * on processes with tens of thousands of mappings. */
#include "target.h"
#include "../core/os/kernel.h"      /* PROCMAP_QUERY, defined once for the project */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct live {
	int  mem_fd;                /* /proc/PID/mem, opened on first need      */
	int  maps_fd;               /* /proc/PID/maps for PROCMAP_QUERY, or -1  */
	bool no_vm_readv;           /* process_vm_readv refused: use mem_fd     */
	bool no_query;              /* the kernel lacks PROCMAP_QUERY           */
};

static int gone_or_denied(struct mi_target *t, int err, struct mi_err *e)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d", (int)t->pid);
	if (access(path, F_OK))
		return mi_fail(e, ESRCH, "the process has exited");
	if (err == EPERM || err == EACCES)
		return mi_fail(e, EPERM, "permission denied (ptrace access to the process is needed)");
	return mi_fail(e, err, "%s", strerror(err));
}

static int read_mem_file(struct mi_target *t, struct live *l, uint64_t addr, void *buf,
                         size_t len, struct mi_err *e)
{
	char path[64];
	ssize_t n;

	if (l->mem_fd < 0) {
		snprintf(path, sizeof path, "/proc/%d/mem", (int)t->pid);
		if ((l->mem_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return gone_or_denied(t, errno, e);
	}
	while (len) {
		n = pread(l->mem_fd, buf, len, (off_t)addr);
		if (n <= 0)
			return n == 0 || errno == EIO || errno == EFAULT
			       ? mi_fail(e, EFAULT, "address 0x%llx is not readable",
			                 (unsigned long long)addr)
			       : gone_or_denied(t, errno, e);
		buf = (char *)buf + n;
		addr += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int live_read(struct mi_target *t, uint64_t addr, void *buf, size_t len, struct mi_err *e)
{
	struct live *l = t->priv;
	struct iovec local, remote;
	ssize_t n;

	while (len && !l->no_vm_readv) {
		local = (struct iovec){ buf, len };
		remote = (struct iovec){ (void *)(uintptr_t)addr, len };
		n = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
		if (n > 0) {
			buf = (char *)buf + n;
			addr += (uint64_t)n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0 || errno == EFAULT)
			return mi_fail(e, EFAULT, "address 0x%llx is not readable",
			               (unsigned long long)addr);
		if (errno == ESRCH)
			return gone_or_denied(t, ESRCH, e);
		/* ENOSYS (seccomp, old kernels) or EPERM under some LSMs, where
		 * the mem file may still be allowed. */
		l->no_vm_readv = true;
	}
	return len ? read_mem_file(t, l, addr, buf, len, e) : 0;
}

static uint64_t hex(const char **p)
{
	uint64_t v = 0;
	const char *s = *p;

	for (;; s++) {
		unsigned c = (unsigned char)*s;

		if (c - '0' < 10)
			v = v << 4 | (c - '0');
		else if ((c | 0x20) - 'a' < 6)
			v = v << 4 | ((c | 0x20) - 'a' + 10);
		else
			break;
	}
	*p = s;
	return v;
}

static const char *skip_field(const char *s, const char *end)
{
	while (s < end && *s != ' ')
		s++;
	while (s < end && *s == ' ')
		s++;
	return s;
}

/* "start-end perms offset major:minor inode   path" */
static int parse_line(struct mi_target *t, const char *s, const char *end)
{
	struct mi_map m = { 0 };
	const char *path;

	m.start = hex(&s);
	if (*s++ != '-')
		return EPROTO;
	m.end = hex(&s);
	if (*s++ != ' ' || end - s < 5)
		return EPROTO;
	m.prot = (s[0] == 'r' ? MI_PROT_READ : 0) | (s[1] == 'w' ? MI_PROT_WRITE : 0) |
	         (s[2] == 'x' ? MI_PROT_EXEC : 0);
	m.flags = s[3] == 's' ? MI_MAP_SHARED : 0;
	s = skip_field(s, end);
	m.offset = hex(&s);
	s = skip_field(s, end);                 /* device */
	s = skip_field(s, end);
	while (s < end && *s >= '0' && *s <= '9')
		m.inode = m.inode * 10 + (uint64_t)(*s++ - '0');
	path = s;
	while (path < end && *path == ' ')
		path++;
	return mi_map_add(t, &m, path, (size_t)(end - path));
}

static int live_load_maps(struct mi_target *t, struct mi_err *e)
{
	char path[64], *buf, *line;
	size_t cap = 1 << 20, len = 0;
	ssize_t n;
	int fd, rc = 0;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)t->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return gone_or_denied(t, errno, e);
	if (!(buf = malloc(cap))) {
		close(fd);
		return mi_fail(e, ENOMEM, "out of memory");
	}
	for (;;) {
		if (len == cap) {
			char *b = realloc(buf, cap * 2);

			if (!b) {
				rc = mi_fail(e, ENOMEM, "out of memory");
				break;
			}
			buf = b;
			cap *= 2;
		}
		if ((n = read(fd, buf + len, cap - len)) <= 0) {
			if (n < 0)
				rc = gone_or_denied(t, errno, e);
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	for (line = buf; !rc && line < buf + len;) {
		char *nl = memchr(line, '\n', (size_t)(buf + len - line));
		char *end = nl ? nl : buf + len;

		if ((rc = parse_line(t, line, end)))
			rc = mi_fail(e, rc, rc == ENOMEM ? "out of memory" : "unexpected line in %s", path);
		line = end + 1;
	}
	free(buf);
	return rc;
}

/* The stack pointer is the second-to-last field of /proc/PID/task/N/syscall
 * ("nr args... sp pc", "-1 sp pc" when blocked outside a call); a running
 * thread prints "running" and has none to give. */
static bool task_sp(pid_t pid, const char *tid, uint64_t *sp)
{
	char path[320], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/task/%s/syscall", (int)pid, tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	if (!(p = strrchr(buf, ' ')))
		return false;
	*p = 0;
	if (!(p = strrchr(buf, ' ')) || strncmp(p + 1, "0x", 2))
		return false;
	*sp = strtoull(p + 1, NULL, 16);
	return true;
}

static int live_stack_pointers(struct mi_target *t, uint64_t *sp, size_t max, size_t *count,
                               struct mi_err *e)
{
	char path[64];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof path, "/proc/%d/task", (int)t->pid);
	if (!(dir = opendir(path)))
		return gone_or_denied(t, errno, e);
	*count = 0;
	while ((d = readdir(dir))) {
		uint64_t v;

		if (d->d_name[0] == '.' || !task_sp(t->pid, d->d_name, &v))
			continue;
		if (*count < max)
			sp[*count] = v;
		++*count;
	}
	closedir(dir);
	return 0;
}

int mi_personality(struct mi_target *t, unsigned long *flags, struct mi_err *e)
{
	char path[64], buf[32];
	ssize_t n;
	int fd;

	if (t->kind == MI_CORE)
		return mi_fail(e, ENODATA, "a core file does not record the personality");
	snprintf(path, sizeof path, "/proc/%d/personality", (int)t->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return gone_or_denied(t, errno, e);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return gone_or_denied(t, n < 0 ? errno : EIO, e);
	buf[n] = 0;
	*flags = strtoul(buf, NULL, 16);
	return 0;
}

int mi_live_vma(struct mi_target *t, uint64_t addr, bool or_next, struct mi_map *m,
                char *name, size_t size, struct mi_err *e)
{
	struct live *l = t->priv;
	struct procmap_query q;
	char path[64];

	if (t->kind == MI_CORE || l->no_query)
		return ENOTTY;
	if (l->maps_fd < 0) {
		snprintf(path, sizeof path, "/proc/%d/maps", (int)t->pid);
		if ((l->maps_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return gone_or_denied(t, errno, e);
	}
	memset(&q, 0, sizeof q);
	memset(name, 0, size);
	q.size = sizeof q;
	q.query_flags = or_next ? PROCMAP_QUERY_COVERING_OR_NEXT_VMA : 0;
	q.query_addr = addr;
	q.vma_name_addr = (uintptr_t)name;
	q.vma_name_size = (uint32_t)size;
	if (ioctl(l->maps_fd, PROCMAP_QUERY, &q)) {
		if (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP) {
			l->no_query = true;
			return ENOTTY;
		}
		return errno == ENOENT ? ENOENT : gone_or_denied(t, errno, e);
	}
	*m = (struct mi_map){
		.start = q.vma_start, .end = q.vma_end, .offset = q.vma_offset, .inode = q.inode,
		.prot = (q.vma_flags & PROCMAP_QUERY_VMA_READABLE ? MI_PROT_READ : 0) |
		        (q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE ? MI_PROT_WRITE : 0) |
		        (q.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE ? MI_PROT_EXEC : 0),
		.flags = q.vma_flags & PROCMAP_QUERY_VMA_SHARED ? MI_MAP_SHARED : 0,
		.path = name,
	};
	return 0;
}

static void live_close(struct mi_target *t)
{
	struct live *l = t->priv;

	if (l && l->mem_fd >= 0)
		close(l->mem_fd);
	if (l && l->maps_fd >= 0)
		close(l->maps_fd);
	free(l);
}

static const struct mi_ops live_ops = {
	live_read, live_load_maps, live_stack_pointers, live_close,
};

int mi_live_open(struct mi_target *t, pid_t pid, struct mi_err *e)
{
	struct live *l = calloc(1, sizeof *l);
	char path[64];
	struct stat st;
	ssize_t n;

	if (!l)
		return mi_fail(e, ENOMEM, "out of memory");
	l->mem_fd = -1;
	l->maps_fd = -1;
	/* The switch libmemapi honours, so both paths can be compared. */
	l->no_query = getenv("MEMAPI_DISABLE") && strstr(getenv("MEMAPI_DISABLE"), "procmap_query");
	t->priv = l;
	t->ops = &live_ops;
	t->pid = pid;
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	if (stat(path, &st))
		return mi_fail(e, ESRCH, "no such process");
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	n = readlink(path, t->exe, sizeof t->exe - 1);
	t->exe[n > 0 ? n : 0] = 0;
	if (n < 0 && (errno == EACCES || errno == EPERM))
		return mi_fail(e, EPERM, "permission denied (ptrace access to the process is needed)");
	/* The map is what every inspector needs first: check access now.
	 * Kernel threads have no exe link and an empty map. */
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	if (access(path, R_OK))
		return errno == ENOENT ? mi_fail(e, ESRCH, "no such process")
		                       : mi_fail(e, EPERM, "permission denied (ptrace access to the process is needed)");
	return 0;
}
