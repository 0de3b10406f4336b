/* The DEP/NX report: what decides whether data in a target can be run as
 * code. DEP is off for the whole process when its personality has
 * READ_IMPLIES_EXEC or the kernel runs without NX; beyond that, a stack is
 * executable when an object's PT_GNU_STACK asks for it (or it has none:
 * the x86-64 default), and any mapping both writable and executable is
 * a place to write code and run it. Mappings are judged as the kernel
 * has them (root NULL in the walk), since that is what the CPU enforces. */
#include "target.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winnt.h>

#define EXEC_PROTECT (PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE | \
                      PAGE_EXECUTE_WRITECOPY)
#define WX_PROTECT   (PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY)

/* arr with room for one more element of size elem; NULL when out of memory
 * (arr is then still valid). */
static void *grow(void *arr, size_t count, size_t *cap, size_t elem)
{
	size_t c;
	void *n;

	if (count < *cap)
		return arr;
	c = *cap ? *cap * 2 : 16;
	if (!(n = realloc(arr, c * elem)))
		return NULL;
	*cap = c;
	return n;
}

/* Whether the whitespace-separated list s holds word. */
static bool has_word(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = s; (p = strstr(p, word)); p += n)
		if ((p == s || p[-1] == ' ' || p[-1] == '\t') &&
		    (!p[n] || p[n] == ' ' || p[n] == '\t' || p[n] == '\n'))
			return true;
	return false;
}

/* noexec=off on the kernel command line turns NX off on x86. */
static bool cmdline_noexec_off(void)
{
	FILE *f = fopen("/proc/cmdline", "re");
	char *line = NULL;
	size_t cap = 0;
	bool off = false;

	if (!f)
		return false;
	if (getline(&line, &cap, f) > 0)
		off = has_word(line, "noexec=off");
	free(line);
	fclose(f);
	return off;
}

int mi_kernel_nx(bool *nx, struct mi_err *e)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	int err;

	if (!f) {
		err = errno;
		return mi_fail(e, err, "cannot read /proc/cpuinfo: %s", strerror(err));
	}
	/* The boot CPU's line is enough: the kernel clears "nx" on every CPU
	 * when it runs without it. */
	while (!found && getline(&line, &cap, f) > 0) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "flags", 5) || !colon)
			continue;
		*nx = has_word(colon + 1, "nx");
		found = true;
	}
	free(line);
	fclose(f);
	if (!found)
		return mi_fail(e, ENOENT, "/proc/cpuinfo has no flags line");
	if (cmdline_noexec_off())
		*nx = false;
	return 0;
}

/* Collects mappings during the region walk. */
struct collect {
	struct mi_dep_report *r;
	size_t wx_cap, stack_cap;
	int    err;
};

static int add_map(struct mi_dep_map **arr, size_t *count, size_t *cap, const struct mi_vq *q)
{
	struct mi_dep_map *n = grow(*arr, *count, cap, sizeof **arr);
	char *path;

	if (!n)
		return ENOMEM;
	*arr = n;
	if (!(path = strdup(q->path)))
		return ENOMEM;
	(*arr)[(*count)++] = (struct mi_dep_map){ q->base, q->size, q->protect, path };
	return 0;
}

static int collect_one(const struct mi_vq *q, void *ctx)
{
	struct collect *c = ctx;
	struct mi_dep_report *r = c->r;

	if (q->state != MEM_COMMIT)
		return 0;
	if ((q->protect & WX_PROTECT) &&
	    (c->err = add_map(&r->wx, &r->wx_count, &c->wx_cap, q)))
		return -1;
	if (!strcmp(q->usage, "stack") && (q->protect & EXEC_PROTECT) &&
	    (c->err = add_map(&r->exec_stacks, &r->exec_stack_count, &c->stack_cap, q)))
		return -1;
	return 0;
}

static int collect_maps(struct mi_target *t, struct mi_dep_report *r, struct mi_err *e)
{
	struct collect c = { .r = r };
	int rc = mi_region_walk(t, NULL, collect_one, &c, e);

	if (rc < 0)
		return mi_fail(e, c.err, "out of memory");
	return rc;
}

/* Whether any mapping of [start, end) is executable. */
static bool span_exec(struct mi_target *t, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < t->map_count; i++)
		if (t->maps[i].start < end && t->maps[i].end > start &&
		    (t->maps[i].prot & MI_PROT_EXEC))
			return true;
	return false;
}

/* Memory files (memfd, /dev/shm, SysV segments) hold data or generated
 * code such as libmemapi's thunks, never an ELF object. */
static bool is_memory_file(const char *path)
{
	return !strncmp(path, "/memfd:", 7) || !strncmp(path, "/dev/", 5) ||
	       !strncmp(path, "/SYSV", 5);
}

/* The objects with their paths copied: a later mi_maps moves the pool that
 * mi_objects' paths point into. A file that could not be parsed counts
 * only if it is mapped executable (else it is data: locale-archive) and
 * is not a memory file. */
static int collect_objects(struct mi_target *t, struct mi_dep_report *r, struct mi_err *e)
{
	const struct mi_object *objs;
	size_t n;
	int rc;

	if ((rc = mi_objects(t, &objs, &n, e)))
		return rc;
	if (!(r->objects = calloc(n ? n : 1, sizeof *r->objects)))
		return mi_fail(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct mi_object *o = &objs[i];
		struct mi_dep_object *d = &r->objects[r->object_count];

		if (!o->readable && (is_memory_file(o->path) || !span_exec(t, o->start, o->end)))
			continue;
		if (!(d->path = strdup(o->path)))
			return mi_fail(e, ENOMEM, "out of memory");
		d->is_exe = o->is_exe;
		d->known = o->readable;
		d->has_gnu_stack = o->readable && o->has_gnu_stack;
		d->exec_stack = o->readable && (!o->has_gnu_stack || o->exec_stack);
		r->object_count++;
	}
	return 0;
}

/* Personality and NX; a core records neither. */
static int collect_policy(struct mi_target *t, struct mi_dep_report *r, struct mi_err *e)
{
	int rc;

	if (!mi_is_live(t))
		return 0;
	rc = mi_personality(t, &r->personality, e);
	if (rc)
		return rc;
	r->personality_known = true;
	/* No flags line (not x86): unknown, which is not a violation. */
	r->nx_known = !mi_kernel_nx(&r->kernel_nx, NULL);
	return 0;
}

static int violation(struct mi_dep_report *r, size_t *cap, uint32_t check, const char *reason,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int violation(struct mi_dep_report *r, size_t *cap, uint32_t check, const char *reason,
                     const char *fmt, ...)
{
	struct mi_dep_violation *v;
	va_list ap;
	int n;

	if (!(v = grow(r->violations, r->violation_count, cap, sizeof *v)))
		return ENOMEM;
	r->violations = v;
	v = &v[r->violation_count];
	va_start(ap, fmt);
	n = vasprintf(&v->subject, fmt, ap);
	va_end(ap);
	if (n < 0)
		return ENOMEM;
	v->check = check;
	v->reason = reason;
	r->violation_count++;
	r->failed |= check;
	return 0;
}

static const char *map_name(const struct mi_dep_map *m)
{
	return m->path[0] ? m->path : "anonymous";
}

static int judge_maps(struct mi_dep_report *r, size_t *cap)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < r->exec_stack_count; i++) {
		const struct mi_dep_map *m = &r->exec_stacks[i];

		rc = violation(r, cap, MI_DEP_CHECK_EXEC_STACK, "stack mapping is executable",
		               "0x%llx-0x%llx %s", (unsigned long long)m->base,
		               (unsigned long long)(m->base + m->size), map_name(m));
	}
	for (size_t i = 0; !rc && i < r->wx_count; i++) {
		const struct mi_dep_map *m = &r->wx[i];

		rc = violation(r, cap, MI_DEP_CHECK_WX, "mapping is writable and executable",
		               "0x%llx-0x%llx %s", (unsigned long long)m->base,
		               (unsigned long long)(m->base + m->size), map_name(m));
	}
	return rc;
}

/* The verdict, in the order a reader fixes things: process-wide first. */
static int judge(struct mi_dep_report *r)
{
	size_t cap = 0;
	int rc = 0;

	if (r->personality_known && (r->personality & MI_READ_IMPLIES_EXEC))
		rc = violation(r, &cap, MI_DEP_CHECK_DEP,
		               "READ_IMPLIES_EXEC is set: every readable mapping is executable",
		               "personality 0x%lx", r->personality);
	if (!rc && r->nx_known && !r->kernel_nx)
		rc = violation(r, &cap, MI_DEP_CHECK_DEP,
		               "the kernel does not enforce NX: no page is non-executable",
		               "kernel");
	r->dep_enabled = !(r->failed & MI_DEP_CHECK_DEP);
	for (size_t i = 0; !rc && i < r->object_count; i++) {
		const struct mi_dep_object *o = &r->objects[i];

		if (o->exec_stack)
			rc = violation(r, &cap, MI_DEP_CHECK_EXEC_STACK, o->has_gnu_stack
			               ? "PT_GNU_STACK asks for an executable stack"
			               : "no PT_GNU_STACK: an executable stack by default",
			               "%s", o->path);
	}
	return rc ? rc : judge_maps(r, &cap);
}

int mi_dep_report(struct mi_target *t, struct mi_dep_report **out, struct mi_err *e)
{
	struct mi_dep_report *r = calloc(1, sizeof *r);
	int rc;

	*out = NULL;
	if (!r)
		return mi_fail(e, ENOMEM, "out of memory");
	if (!(rc = collect_policy(t, r, e)) && !(rc = collect_objects(t, r, e)) &&
	    !(rc = collect_maps(t, r, e)) && (rc = judge(r)))
		mi_fail(e, rc, "out of memory");
	if (rc) {
		mi_dep_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void mi_dep_free(struct mi_dep_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->object_count; i++)
		free(r->objects[i].path);
	for (size_t i = 0; i < r->wx_count; i++)
		free(r->wx[i].path);
	for (size_t i = 0; i < r->exec_stack_count; i++)
		free(r->exec_stacks[i].path);
	for (size_t i = 0; i < r->violation_count; i++)
		free(r->violations[i].subject);
	free(r->objects);
	free(r->wx);
	free(r->exec_stacks);
	free(r->violations);
	free(r);
}
