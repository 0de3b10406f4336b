/* Targets: what every kind shares (the map table, errors, accessors) and
 * the dispatch to live.c and core.c. */
#include "target.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mi_fail(struct mi_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

int mi_open_regular(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

static int target_new(enum mi_kind kind, struct mi_target **out, struct mi_err *e)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return mi_fail(e, ENOMEM, "out of memory");
	(*out)->kind = kind;
	return 0;
}

static int finish_open(struct mi_target *t, int rc, struct mi_target **out)
{
	if (rc) {
		mi_close(t);
		*out = NULL;
		return rc;
	}
	*out = t;
	return 0;
}

int mi_open_self(struct mi_target **out, struct mi_err *e)
{
	struct mi_target *t;
	int rc = target_new(MI_SELF, &t, e);

	return rc ? rc : finish_open(t, mi_live_open(t, getpid(), e), out);
}

int mi_open_pid(pid_t pid, struct mi_target **out, struct mi_err *e)
{
	struct mi_target *t;
	int rc;

	if (pid <= 0)
		return mi_fail(e, EINVAL, "not a process id");
	if (pid == getpid())
		return mi_open_self(out, e);
	if ((rc = target_new(MI_PID, &t, e)))
		return rc;
	return finish_open(t, mi_live_open(t, pid, e), out);
}

int mi_open_core(const char *path, struct mi_target **out, struct mi_err *e)
{
	struct mi_target *t;
	int rc = target_new(MI_CORE, &t, e);

	if (rc)
		return rc;
	if (!(t->core_path = strdup(path)))
		return finish_open(t, mi_fail(e, ENOMEM, "out of memory"), out);
	return finish_open(t, mi_core_open(t, path, e), out);
}

void mi_close(struct mi_target *t)
{
	if (!t)
		return;
	if (t->ops && t->ops->close)
		t->ops->close(t);
	mi_elf_cache_free(t);
	free(t->objs);
	free(t->maps);
	free(t->names.buf);
	free(t->core_path);
	free(t);
}

enum mi_kind mi_kind(const struct mi_target *t) { return t->kind; }
pid_t mi_pid(const struct mi_target *t) { return t->pid; }
const char *mi_exe(const struct mi_target *t) { return t->exe; }
const char *mi_core_path(const struct mi_target *t) { return t->core_path; }
bool mi_is_live(const struct mi_target *t) { return t->kind != MI_CORE; }

int mi_read(struct mi_target *t, uint64_t addr, void *buf, size_t len, struct mi_err *e)
{
	if (!len)
		return 0;
	if (addr + len < addr)
		return mi_fail(e, EFAULT, "address range wraps around");
	return t->ops->read(t, addr, buf, len, e);
}

int mi_maps(struct mi_target *t, const struct mi_map **maps, size_t *count, struct mi_err *e)
{
	int rc;

	if (!t->maps_fixed) {
		mi_maps_reset(t);
		if ((rc = t->ops->load_maps(t, e)))
			return rc;
		mi_maps_seal(t);
	}
	*maps = t->maps;
	*count = t->map_count;
	return 0;
}

int mi_stack_pointers(struct mi_target *t, uint64_t *sp, size_t max, size_t *count,
                      struct mi_err *e)
{
	return t->ops->stack_pointers(t, sp, max, count, e);
}

void mi_maps_reset(struct mi_target *t)
{
	t->map_count = 0;
	t->names.len = 0;
}

int mi_map_add(struct mi_target *t, const struct mi_map *m, const char *path, size_t path_len)
{
	struct mi_strpool *p = &t->names;

	if (t->map_count == t->map_cap) {
		size_t cap = t->map_cap ? t->map_cap * 2 : 256;
		struct mi_map *n = realloc(t->maps, cap * sizeof *n);

		if (!n)
			return ENOMEM;
		t->maps = n;
		t->map_cap = cap;
	}
	if (p->len + path_len + 1 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16384;
		char *n;

		while (cap < p->len + path_len + 1)
			cap *= 2;
		if (!(n = realloc(p->buf, cap)))
			return ENOMEM;
		p->buf = n;
		p->cap = cap;
	}
	t->maps[t->map_count] = *m;
	/* An offset until the pool stops moving; see mi_maps_seal. */
	t->maps[t->map_count++].path = (const char *)(uintptr_t)p->len;
	memcpy(p->buf + p->len, path, path_len);
	p->buf[p->len + path_len] = 0;
	p->len += path_len + 1;
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct mi_map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

void mi_maps_seal(struct mi_target *t)
{
	for (size_t i = 0; i < t->map_count; i++)
		t->maps[i].path = t->names.buf + (uintptr_t)t->maps[i].path;
	/* /proc lists maps in order; core program headers need not be. */
	for (size_t i = 1; i < t->map_count; i++)
		if (t->maps[i].start < t->maps[i - 1].start) {
			qsort(t->maps, t->map_count, sizeof *t->maps, by_start);
			break;
		}
}

const struct mi_map *mi_map_at(const struct mi_target *t, uint64_t addr)
{
	size_t lo = 0, hi = t->map_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < t->maps[mid].start)
			hi = mid;
		else if (addr >= t->maps[mid].end)
			lo = mid + 1;
		else
			return &t->maps[mid];
	}
	return NULL;
}
