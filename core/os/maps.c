/* Reading a process's memory map: the PROCMAP_QUERY ioctl where the kernel
 * has it (one VMA per call, no text parsing), else a parse of /proc/PID/maps. */
#include "os.h"
#include "kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mt_maps {
	int            fd;            /* /proc/PID/maps                               */
	pid_t          pid;           /* 0: the calling process                       */
	dev_t          dev;           /* identity of fd, to notice that the program   */
	ino_t          ino;           /* closed it and reused the number              */
	bool           query;         /* PROCMAP_QUERY works on fd                    */
	struct mt_vma *vmas;          /* parsed copy when !query, sorted by address  */
	size_t         count;
};

static int open_maps(pid_t pid)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	else
		snprintf(path, sizeof path, "/proc/self/maps");
	return open(path, O_RDONLY | O_CLOEXEC);
}

static int query(int fd, uintptr_t addr, struct mt_vma *out)
{
	struct procmap_query q;

	memset(&q, 0, sizeof q);
	/* Zeroed so that tools that do not know this ioctl (valgrind) see
	 * the name the kernel writes as defined. */
	memset(out->name, 0, sizeof out->name);
	q.size = sizeof q;
	q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
	q.query_addr = addr;
	q.vma_name_addr = (uintptr_t)out->name;
	q.vma_name_size = sizeof out->name;
	if (ioctl(fd, PROCMAP_QUERY, &q))
		return errno;
	out->start = q.vma_start;
	out->end = q.vma_end;
	out->flags = (q.vma_flags & PROCMAP_QUERY_VMA_READABLE ? MT_VMA_READ : 0) |
	             (q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE ? MT_VMA_WRITE : 0) |
	             (q.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE ? MT_VMA_EXEC : 0) |
	             (q.vma_flags & PROCMAP_QUERY_VMA_SHARED ? MT_VMA_SHARED : 0);
	out->offset = q.vma_offset;
	out->inode = q.inode;
	out->dev_major = q.dev_major;
	out->dev_minor = q.dev_minor;
	if (!q.vma_name_size)
		out->name[0] = 0;
	return 0;
}

int mt_maps_probe(void)
{
	struct mt_vma v;
	int fd = open_maps(0), err;

	if (fd < 0)
		return errno;
	err = query(fd, 0, &v);
	close(fd);
	return err;
}

static int parse_line(const char *line, struct mt_vma *v)
{
	char perms[8] = "", *name;
	unsigned long s, e, off, ino;
	unsigned maj, min;
	int pos = 0;

	if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &s, &e, perms, &off,
	           &maj, &min, &ino, &pos) < 7)
		return EINVAL;
	v->start = s;
	v->end = e;
	v->offset = off;
	v->dev_major = maj;
	v->dev_minor = min;
	v->inode = ino;
	v->flags = (perms[0] == 'r' ? MT_VMA_READ : 0) |
	           (perms[1] == 'w' ? MT_VMA_WRITE : 0) |
	           (perms[2] == 'x' ? MT_VMA_EXEC : 0) |
	           (perms[3] == 's' ? MT_VMA_SHARED : 0);
	name = (char *)line + pos;
	name[strcspn(name, "\n")] = 0;
	snprintf(v->name, sizeof v->name, "%s", name);
	return 0;
}

/* Reads the whole maps file; lines may be longer than any fixed buffer. */
static int parse_all(int fd, struct mt_maps *m)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0, vcap = 0;
	int err = 0;

	m->count = 0;
	if (lseek(fd, 0, SEEK_SET) < 0 || !(f = fdopen(dup(fd), "re")))
		return errno;
	while (getline(&line, &cap, f) > 0) {
		if (m->count == vcap) {
			struct mt_vma *nv = realloc(m->vmas, (vcap = vcap ? 2 * vcap : 64) * sizeof *nv);

			if (!nv) {
				err = ENOMEM;
				break;
			}
			m->vmas = nv;
		}
		if (parse_line(line, &m->vmas[m->count]) == 0)
			m->count++;
	}
	free(line);
	fclose(f);
	return err;
}

static int reopen(struct mt_maps *m)
{
	struct stat st;

	m->fd = open_maps(m->pid);
	if (m->fd < 0)
		return errno;
	if (fstat(m->fd, &st) == 0) {
		m->dev = st.st_dev;
		m->ino = st.st_ino;
	}
	return 0;
}

/* Still the file we opened? Programs that close every descriptor they did
 * not open themselves (daemons) may close ours and reuse its number. */
static bool still_ours(const struct mt_maps *m)
{
	struct stat st;

	return fstat(m->fd, &st) == 0 && st.st_dev == m->dev && st.st_ino == m->ino;
}

int mt_maps_open(pid_t pid, struct mt_maps **out)
{
	struct mt_maps *m = calloc(1, sizeof *m);
	int err;

	if (!m)
		return ENOMEM;
	m->pid = pid;
	m->fd = -1;
	if ((err = reopen(m))) {
		free(m);
		return err;
	}
	m->query = mt_os.has_procmap_query;
	if (!m->query && (err = parse_all(m->fd, m))) {
		mt_maps_close(m);
		return err;
	}
	*out = m;
	return 0;
}

void mt_maps_close(struct mt_maps *m)
{
	if (!m)
		return;
	if (still_ours(m))
		close(m->fd);
	free(m->vmas);
	free(m);
}

int mt_maps_find(struct mt_maps *m, uintptr_t addr, struct mt_vma *out)
{
	size_t lo = 0, hi = m->count;
	int err;

	if (m->query) {
		err = query(m->fd, addr, out);
		if (err && err != ENOENT && err != ESRCH && !still_ours(m)) {
			/* Not ours any more: leave that descriptor alone. */
			if ((err = reopen(m)))
				return err;
			err = query(m->fd, addr, out);
		}
		if (err == ENOENT || err == ESRCH)
			return ENOENT;
		if (err != ENOTTY && err != EINVAL)
			return err;
		/* The ioctl vanished (e.g. a seccomp filter): parse from now on. */
		m->query = false;
		mt_os.has_procmap_query = false;
		if ((err = parse_all(m->fd, m)))
			return err;
	}
	while (lo < hi) {               /* first VMA whose end is above addr */
		size_t mid = lo + (hi - lo) / 2;

		if (m->vmas[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == m->count)
		return ENOENT;
	*out = m->vmas[lo];
	return 0;
}
