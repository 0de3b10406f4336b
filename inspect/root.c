/* libmemapi's forensic root in a target: found by its symbol, checked by
 * magic and layout, copied under its generation counter. A live copy is
 * retried until the generation is even and unchanged across the walk; a
 * core cannot change, so an odd generation there (the process died inside
 * a change) is reported as torn and the copy taken as it is. */
#include "target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TRIES      200
#define MAX_REGIONS    (1u << 24)      /* bounds on lists read from a target:   */
#define MAX_RUNS       (1u << 24)      /* a corrupt one must not loop or eat    */
#define MAX_OBJECTS    (1u << 16)      /* all memory                            */
#define MAX_STRING     4096

static void pause_briefly(void)
{
	struct timespec ts = { 0, 50000 };

	nanosleep(&ts, NULL);
}

static void free_contents(struct mi_root *r)
{
	uint64_t addr = r->addr;
	unsigned retries = r->retries;

	for (size_t i = 0; i < r->region_count; i++)
		free(r->regions[i].runs);
	for (size_t i = 0; i < r->section_count; i++) {
		free(r->sections[i].name);
		free(r->sections[i].path);
		free(r->sections[i].views);
	}
	free(r->regions);
	free(r->heaps);
	free(r->enclaves);
	free(r->thunks);
	free(r->sections);
	memset(r, 0, sizeof *r);
	r->addr = addr;
	r->retries = retries;
}

void mi_root_free(struct mi_root *r)
{
	if (r) {
		free_contents(r);
		free(r);
	}
}

/* Grows *arr to hold n + 1 elements of size sz. */
static int grow(void *arr, size_t n, size_t sz, struct mi_err *e)
{
	void **p = arr;
	void *q;

	if (n & (n - 1) && n)           /* capacity doubles at powers of two */
		return 0;
	if (!(q = realloc(*p, (n ? n * 2 : 8) * sz)))
		return mi_fail(e, ENOMEM, "out of memory");
	*p = q;
	return 0;
}

static int too_long(struct mi_err *e, const char *what)
{
	return mi_fail(e, EPROTO, "libmemapi's %s list is corrupt (it does not end)", what);
}

/* Brent's cycle finder over a list's record addresses: a list whose last
 * record points back into it is reported after at most about twice its
 * length, instead of being followed up to the MAX_* bound. */
struct loop {
	uint64_t mark;                  /* the record at the last power of two */
	size_t   seen, next;
};

static bool loops(struct loop *l, uint64_t at)
{
	if (l->seen && at == l->mark)
		return true;
	if (++l->seen >= l->next) {
		l->mark = at;
		l->next = l->next ? l->next * 2 : 1;
	}
	return false;
}

/* A region record must describe whole pages above the previous region (the
 * list is sorted by address, so a repeated record fails here too) and have
 * between one run and one run per page. */
static int check_region(const struct mi_root *r, const struct mi_region *g,
                        const struct mi_region *prev, struct mi_err *e)
{
	uint64_t page = r->root.page_size, base = g->rec.base, size = g->rec.size;

	if (!page || page & (page - 1))
		page = 4096;
	if (!size || size % page || base % page || base + size < base || !g->rec.runs ||
	    !g->rec.run_count || g->rec.run_count > MAX_RUNS || g->rec.run_count > size / page)
		return mi_fail(e, EPROTO, "libmemapi's region at 0x%llx is corrupt",
		               (unsigned long long)base);
	if (prev && base < prev->rec.base + prev->rec.size)
		return mi_fail(e, EPROTO, "libmemapi's region list is corrupt (0x%llx is out of order)",
		               (unsigned long long)base);
	return 0;
}

static int read_regions(struct mi_target *t, struct mi_root *r, struct mi_err *e)
{
	uint64_t at = (uint64_t)(uintptr_t)r->root.regions;
	int rc;

	while (at) {
		struct mi_region *g;

		if (r->region_count >= MAX_REGIONS || r->region_count > r->root.region_count)
			return too_long(e, "region");
		if ((rc = grow(&r->regions, r->region_count, sizeof *r->regions, e)))
			return rc;
		g = &r->regions[r->region_count];
		memset(g, 0, sizeof *g);
		g->addr = at;
		if ((rc = mi_read(t, at, &g->rec, sizeof g->rec, e)))
			return rc;
		r->region_count++;
		if ((rc = check_region(r, g, r->region_count > 1 ? g - 1 : NULL, e)))
			return rc;
		if (!(g->runs = malloc(g->rec.run_count * sizeof *g->runs)))
			return mi_fail(e, ENOMEM, "out of memory");
		if ((rc = mi_read(t, (uint64_t)(uintptr_t)g->rec.runs, g->runs,
		                  g->rec.run_count * sizeof *g->runs, e)))
			return rc;
		at = (uint64_t)(uintptr_t)g->rec.next;
	}
	return 0;
}

static int read_heaps(struct mi_target *t, struct mi_root *r, struct mi_err *e)
{
	uint64_t at = (uint64_t)(uintptr_t)r->root.heaps;
	struct memapi_rec_heap h;
	struct loop l = { 0 };
	int rc;

	while (at) {
		if (r->heap_count >= MAX_OBJECTS || loops(&l, at))
			return too_long(e, "heap");
		if ((rc = mi_read(t, at, &h, sizeof h, e)))
			return rc;
		if (h.magic != MEMAPI_HEAP_MAGIC)
			return mi_fail(e, EPROTO, "the heap at 0x%llx has a bad magic",
			               (unsigned long long)at);
		if ((rc = grow(&r->heaps, r->heap_count, sizeof *r->heaps, e)))
			return rc;
		r->heaps[r->heap_count++] = at;
		at = (uint64_t)(uintptr_t)h.next;
	}
	return 0;
}

static int read_enclaves(struct mi_target *t, struct mi_root *r, struct mi_err *e)
{
	uint64_t at = (uint64_t)(uintptr_t)r->root.enclaves;
	struct loop l = { 0 };
	int rc;

	while (at) {
		struct memapi_rec_enclave *n;

		if (r->enclave_count >= MAX_OBJECTS || loops(&l, at))
			return too_long(e, "enclave");
		if ((rc = grow(&r->enclaves, r->enclave_count, sizeof *r->enclaves, e)))
			return rc;
		n = &r->enclaves[r->enclave_count];
		if ((rc = mi_read(t, at, n, sizeof *n, e)))
			return rc;
		if (n->magic != MEMAPI_ENCLAVE_MAGIC)
			return mi_fail(e, EPROTO, "the enclave record at 0x%llx has a bad magic",
			               (unsigned long long)at);
		r->enclave_count++;
		at = (uint64_t)(uintptr_t)n->next;
	}
	return 0;
}

static int read_thunks(struct mi_target *t, struct mi_root *r, struct mi_err *e)
{
	uint64_t at = (uint64_t)(uintptr_t)r->root.thunks;
	struct loop l = { 0 };
	int rc;

	while (at) {
		struct mi_thunk_block *b;

		if (r->thunk_count >= MAX_OBJECTS || loops(&l, at))
			return too_long(e, "thunk");
		if ((rc = grow(&r->thunks, r->thunk_count, sizeof *r->thunks, e)))
			return rc;
		b = &r->thunks[r->thunk_count];
		memset(b, 0, sizeof *b);
		b->addr = at;
		if ((rc = mi_read(t, at, &b->rec, sizeof b->rec, e)))
			return rc;
		if (b->rec.magic != MEMAPI_THUNK_MAGIC || b->rec.slots != MEMAPI_THUNK_SLOTS)
			return mi_fail(e, EPROTO, "the thunk block at 0x%llx has a bad magic",
			               (unsigned long long)at);
		r->thunk_count++;
		if ((rc = mi_read(t, b->rec.data, b->data, sizeof b->data, e)))
			return rc;
		/* The code page may be missing from a core: listed without code. */
		b->code_read = !mi_read(t, b->rec.code, b->code, sizeof b->code, NULL);
		at = (uint64_t)(uintptr_t)b->rec.next;
	}
	return 0;
}

/* A NUL-terminated string of the target, read in pieces so that one near
 * the end of a mapping is still found. */
static int read_string(struct mi_target *t, uint64_t at, char **out, struct mi_err *e)
{
	char *s;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (!at)
		return 0;
	if (!(s = malloc(MAX_STRING + 1)))
		return mi_fail(e, ENOMEM, "out of memory");
	while (len < MAX_STRING) {
		size_t chunk = 64 - (at + len) % 64;

		if ((rc = mi_read(t, at + len, s + len, chunk, e))) {
			free(s);
			return rc;
		}
		if (memchr(s + len, 0, chunk)) {
			*out = s;
			return 0;
		}
		len += chunk;
	}
	s[MAX_STRING] = 0;
	*out = s;
	return 0;
}

static int read_section(struct mi_target *t, struct mi_section *s, struct mi_err *e)
{
	uint64_t v = (uint64_t)(uintptr_t)s->rec.views;
	int rc;

	if (s->rec.magic != MEMAPI_SECTION_MAGIC)
		return mi_fail(e, EPROTO, "the section at 0x%llx has a bad magic",
		               (unsigned long long)s->addr);
	if ((rc = read_string(t, (uint64_t)(uintptr_t)s->rec.name, &s->name, e)) ||
	    (rc = read_string(t, (uint64_t)(uintptr_t)s->rec.path, &s->path, e)))
		return rc;
	if (s->rec.view_count > MAX_OBJECTS)
		return too_long(e, "view");
	if (!(s->views = calloc(s->rec.view_count + 1, sizeof *s->views)))
		return mi_fail(e, ENOMEM, "out of memory");
	for (uint64_t i = 0; v && i < s->rec.view_count; i++) {
		if ((rc = mi_read(t, v, &s->views[i], sizeof *s->views, e)))
			return rc;
		v = (uint64_t)(uintptr_t)s->views[i].next;
	}
	return 0;
}

static int read_sections(struct mi_target *t, struct mi_root *r, struct mi_err *e)
{
	uint64_t at = (uint64_t)(uintptr_t)r->root.sections;
	struct loop l = { 0 };
	int rc;

	while (at) {
		struct mi_section *s;

		if (r->section_count >= MAX_OBJECTS || loops(&l, at))
			return too_long(e, "section");
		if ((rc = grow(&r->sections, r->section_count, sizeof *r->sections, e)))
			return rc;
		s = &r->sections[r->section_count];
		memset(s, 0, sizeof *s);
		s->addr = at;
		if ((rc = mi_read(t, at, &s->rec, sizeof s->rec, e)))
			return rc;
		r->section_count++;
		if ((rc = read_section(t, s, e)))
			return rc;
		at = (uint64_t)(uintptr_t)s->rec.next;
	}
	return 0;
}

static int read_header(struct mi_target *t, struct mi_root *r, struct mi_err *e)
{
	int rc = mi_read(t, r->addr, &r->root, sizeof r->root, e);

	if (rc)
		return rc;
	if (r->root.magic != MEMAPI_ROOT_MAGIC)
		return mi_fail(e, EPROTO, "libmemapi's root at 0x%llx has a bad magic",
		               (unsigned long long)r->addr);
	if (r->root.layout != MEMAPI_ROOT_LAYOUT || r->root.size < sizeof r->root)
		return mi_fail(e, EPROTO, "libmemapi's root has layout %u (size %u); this memtool reads layout %u",
		               r->root.layout, r->root.size, MEMAPI_ROOT_LAYOUT);
	return 0;
}

static int read_all(struct mi_target *t, struct mi_root *r, struct mi_err *e)
{
	int rc;

	if ((rc = read_regions(t, r, e)) || (rc = read_heaps(t, r, e)) ||
	    (rc = read_enclaves(t, r, e)) || (rc = read_thunks(t, r, e)) ||
	    (rc = read_sections(t, r, e)))
		return rc;
	return 0;
}

/* One attempt: 0 with a consistent copy, EAGAIN when it changed. A read
 * error while the generation moved is a torn read too: the writer may have
 * freed what we followed. */
static int attempt(struct mi_target *t, struct mi_root *r, struct mi_err *e)
{
	uint64_t gen, after;
	int rc;

	free_contents(r);
	if ((rc = read_header(t, r, e)))
		return rc;
	gen = r->root.generation;
	if ((gen & 1) && mi_is_live(t))
		return EAGAIN;
	rc = read_all(t, r, e);
	if (!mi_is_live(t)) {
		r->torn = gen & 1;
		return rc;
	}
	if (mi_read(t, r->addr + offsetof(struct memapi_root, generation), &after, sizeof after, e))
		return rc ? rc : EAGAIN;
	if (after != gen)
		return EAGAIN;
	return rc;
}

/* Whether the root-sized bytes at p look like a root: magic, layout, size
 * and a page size that is a power of two. */
static bool root_like(const uint8_t *p)
{
	struct memapi_root r;

	memcpy(&r, p, sizeof r);
	return r.magic == MEMAPI_ROOT_MAGIC && r.layout == MEMAPI_ROOT_LAYOUT &&
	       r.size >= sizeof r && r.page_size && !(r.page_size & (r.page_size - 1));
}

/* Without symbols (a stripped executable that links libmemapi statically)
 * the root is found by its magic in the writable data of mapped objects:
 * their file-backed writable mappings and the anonymous .bss right after.
 * Of several candidates (a copy relocation leaves two), the one that has
 * changed most, by generation, is the live one. */
static int scan_for_root(struct mi_target *t, uint64_t *addr, struct mi_err *e)
{
	const struct mi_map *m;
	uint64_t best_gen = 0;
	size_t n;
	bool found = false;
	uint8_t *buf;
	int rc;

	if ((rc = mi_maps(t, &m, &n, e)))
		return rc;
	if (!(buf = malloc(1 << 16)))
		return mi_fail(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		bool data = (m[i].prot & MI_PROT_WRITE) && !(m[i].flags & MI_MAP_SHARED) &&
		            (m[i].path[0] == '/' || (i && !m[i].path[0] && m[i - 1].end == m[i].start &&
		                                     m[i - 1].path[0] == '/'));

		for (uint64_t at = m[i].start; data && at < m[i].end && at - m[i].start < (64u << 20);
		     at += 1 << 16) {
			size_t len = m[i].end - at < (1u << 16) ? m[i].end - at : 1u << 16;

			if (mi_read(t, at, buf, len, NULL))
				break;
			for (size_t o = 0; o + sizeof(struct memapi_root) <= len; o += 8) {
				struct memapi_root r;

				if (!root_like(buf + o))
					continue;
				memcpy(&r, buf + o, sizeof r);
				if (!found || r.generation > best_gen) {
					*addr = at + o;
					best_gen = r.generation;
					found = true;
				}
			}
		}
	}
	free(buf);
	return found ? 0 : ENOENT;
}

int mi_root_read(struct mi_target *t, struct mi_root **out, struct mi_err *e)
{
	struct mi_root *r = calloc(1, sizeof *r);
	int rc;

	*out = NULL;
	if (!r)
		return mi_fail(e, ENOMEM, "out of memory");
	if ((rc = mi_symbol_address(t, "memapi_root", &r->addr, e)) == ENOENT)
		rc = scan_for_root(t, &r->addr, e);
	if (rc) {
		free(r);
		return rc == ENOENT ? mi_fail(e, ENOENT, "the process does not use libmemapi") : rc;
	}
	for (unsigned i = 0; i < MAX_TRIES; i++) {
		if ((rc = attempt(t, r, e)) != EAGAIN)
			break;
		r->retries++;
		pause_briefly();
	}
	if (rc == EAGAIN)
		mi_fail(e, EAGAIN, "libmemapi's tables kept changing while being read (%u tries)",
		        MAX_TRIES);
	if (rc) {
		mi_root_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

const struct mi_region *mi_root_region_at(const struct mi_root *r, uint64_t addr)
{
	size_t lo = 0, hi = r->region_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct memapi_rec_region *g = &r->regions[mid].rec;

		if (addr < g->base)
			hi = mid;
		else if (addr - g->base >= g->size)
			lo = mid + 1;
		else
			return &r->regions[mid];
	}
	return NULL;
}
