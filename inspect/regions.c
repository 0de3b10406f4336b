/* The region map: every mapping of a target in VirtualQuery terms.
 * Where libmemapi owns the memory its tables are the truth (reserve,
 * commit, guard and watch detail the kernel cannot show); elsewhere the
 * kernel's mappings are classified as VirtualQueryEx classifies them for
 * another process: a file's adjacent mappings form one allocation, an
 * image if one of them is executable; PROT_NONE private anonymous memory
 * is reserved address space. */
#include "target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <winnt.h>

#define MAX_STACKS 4096
#define USER_TOP   0x800000000000ull      /* end of the x86-64/arm64 user half */

/* Per kernel mapping: its Windows allocation. */
struct kinfo {
	uint64_t alloc_base;
	uint32_t type, alloc_protect;
	bool     stack;
};

static uint64_t page_of(const struct mi_root *r)
{
	return r && r->root.page_size ? r->root.page_size : 4096;
}

static bool is_file(const struct mi_map *m)
{
	return m->path[0] == '/';
}

static bool is_memory_file(const struct mi_map *m)
{
	return !strncmp(m->path, "/dev/shm/", 9) || !strncmp(m->path, "/memfd:", 7) ||
	       !strncmp(m->path, "/SYSV", 5);
}

/* A core does not say whether a mapping was shared; memory files are. */
static bool is_shared(const struct mi_map *m)
{
	return (m->flags & MI_MAP_SHARED) || is_memory_file(m);
}

static uint32_t win_protect(const struct mi_map *m)
{
	bool r = m->prot & MI_PROT_READ, w = m->prot & MI_PROT_WRITE, x = m->prot & MI_PROT_EXEC;
	bool cow = is_file(m) && !is_shared(m);

	if (x)
		return w ? (cow ? PAGE_EXECUTE_WRITECOPY : PAGE_EXECUTE_READWRITE)
		         : r ? PAGE_EXECUTE_READ : PAGE_EXECUTE;
	if (w)
		return cow ? PAGE_WRITECOPY : PAGE_READWRITE;
	return r ? PAGE_READONLY : PAGE_NOACCESS;
}

static bool is_reserved(const struct mi_map *m)
{
	return !m->prot && !is_file(m) && !(m->flags & MI_MAP_SHARED);
}

static uint32_t plain_type(const struct mi_map *m)
{
	if (!strcmp(m->path, "[vdso]"))
		return MEM_IMAGE;
	if (is_file(m) || (m->flags & MI_MAP_SHARED) || !strncmp(m->path, "[vvar", 5))
		return MEM_MAPPED;
	return MEM_PRIVATE;
}

static int sp_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Allocation grouping of file mappings, and which mappings hold a stack. */
static int classify(struct mi_target *t, const struct mi_map *m, size_t n, struct kinfo *k,
                    struct mi_err *e)
{
	uint64_t sps[MAX_STACKS];
	size_t nsp = 0, s = 0;

	if (mi_stack_pointers(t, sps, MAX_STACKS, &nsp, NULL))
		nsp = 0;
	nsp = nsp < MAX_STACKS ? nsp : MAX_STACKS;
	qsort(sps, nsp, sizeof *sps, sp_cmp);
	for (size_t i = 0, g; i < n; i = g) {
		bool exec = false;

		for (g = i; g < n && (g == i || (is_file(&m[i]) && m[g].start == m[g - 1].end &&
		                                 !strcmp(m[g].path, m[i].path) &&
		                                 m[g].inode == m[i].inode)); g++)
			exec |= m[g].prot & MI_PROT_EXEC;
		/* Only a file's code is an image: not a memfd's, not anonymous JIT code. */
		exec &= is_file(&m[i]) && !is_memory_file(&m[i]);
		for (size_t j = i; j < g; j++) {
			k[j].alloc_base = m[i].start;
			k[j].type = exec ? MEM_IMAGE : plain_type(&m[i]);
			k[j].alloc_protect = exec ? PAGE_EXECUTE_WRITECOPY : win_protect(&m[i]);
			while (s < nsp && sps[s] < m[j].start)
				s++;
			k[j].stack = !strcmp(m[j].path, "[stack]") || (s < nsp && sps[s] < m[j].end);
		}
	}
	return 0;
}

static const char *kernel_usage(const struct mi_map *m, const struct kinfo *k)
{
	if (k->stack)
		return "stack";
	if (!strcmp(m->path, "[heap]"))
		return "heap";
	if (k->type == MEM_IMAGE)
		return "image";
	return k->type == MEM_MAPPED ? "mapped" : "private";
}

static const char *own_usage(const struct memapi_rec_region *g)
{
	switch (g->owner) {
	case MEMAPI_OWNER_HEAP:    return "heap";
	case MEMAPI_OWNER_SECTION: return g->type == MEM_IMAGE ? "image" : "section";
	case MEMAPI_OWNER_THUNK:   return "thunk";
	case MEMAPI_OWNER_ENCLAVE: return "enclave";
	default:
		return g->flags & MEMAPI_REGION_WRITE_WATCH ? "watch" : "private";
	}
}

/* A section view's name or file; else the kernel's path at base. */
static const char *own_path(struct mi_target *t, const struct mi_root *r,
                            const struct memapi_rec_region *g)
{
	const struct mi_map *m;

	for (size_t i = 0; g->owner == MEMAPI_OWNER_SECTION && i < r->section_count; i++)
		for (uint64_t v = 0; v < r->sections[i].rec.view_count; v++)
			if (r->sections[i].views[v].base == g->base)
				return r->sections[i].path ? r->sections[i].path
				     : r->sections[i].name ? r->sections[i].name : "";
	m = mi_map_at(t, g->base);
	return m && m->path[0] == '/' ? m->path : "";
}

struct walker {
	struct mi_target     *t;
	const struct mi_root *r;
	int                 (*fn)(const struct mi_vq *, void *);
	void                 *ctx;
};

static int emit_own(struct walker *w, const struct mi_region *g)
{
	struct mi_vq q = {
		.allocation_base = g->rec.base, .allocation_protect = g->rec.allocation_protect,
		.type = g->rec.type, .flags = g->rec.flags, .own = true,
		.usage = own_usage(&g->rec), .path = own_path(w->t, w->r, &g->rec),
	};
	uint64_t page = w->r->root.page_size ? w->r->root.page_size : 4096;
	int rc;

	for (uint64_t i = 0; i < g->rec.run_count; i++) {
		const struct memapi_rec_run *run = &g->runs[i];

		q.base = g->rec.base + run->first_page * page;
		q.size = run->page_count * page;
		q.state = run->state;
		q.protect = run->protect;
		if ((rc = w->fn(&q, w->ctx)))
			return rc;
	}
	return 0;
}

/* Whether addr is on a page of libmemapi's thunks: a block's code page,
 * the data page the code reads after it, or its writable view. */
static bool thunk_page(const struct mi_root *r, uint64_t addr)
{
	uint64_t ps = r ? page_of(r) : 4096;

	for (size_t i = 0; r && i < r->thunk_count; i++) {
		const struct memapi_rec_thunk_block *b = &r->thunks[i].rec;

		if (addr - b->code < 2 * ps || addr - b->data < ps)
			return true;
	}
	return false;
}

static int emit_kernel(struct walker *w, const struct mi_map *m, const struct kinfo *k,
                       uint64_t start, uint64_t end)
{
	struct mi_vq q = {
		.base = start, .size = end - start, .allocation_base = k->alloc_base,
		.allocation_protect = k->alloc_protect, .type = k->type,
		.usage = thunk_page(w->r, start) ? "thunk" : kernel_usage(m, k), .path = m->path,
	};

	q.state = is_reserved(m) ? MEM_RESERVE : MEM_COMMIT;
	q.protect = q.state == MEM_COMMIT ? win_protect(m) : 0;
	return w->fn(&q, w->ctx);
}

/* The rest of a region's last 64 KiB unit is held PROT_NONE by libmemapi
 * and is free in Windows terms. */
static bool own_tail(const struct mi_map *m, uint64_t start, uint64_t end, uint64_t own_end,
                     uint64_t gran)
{
	return is_reserved(m) && start == own_end && end <= (own_end + gran - 1) / gran * gran;
}

int mi_region_walk(struct mi_target *t, const struct mi_root *r,
                   int (*fn)(const struct mi_vq *, void *), void *ctx, struct mi_err *e)
{
	const struct mi_map *m;
	struct walker w = { t, r, fn, ctx };
	struct kinfo *k;
	size_t n, i = 0, j = 0, nown = r ? r->region_count : 0;
	uint64_t pos = 0, own_end = 0, gran = r && r->root.granularity ? r->root.granularity : 65536;
	int rc;

	if ((rc = mi_maps(t, &m, &n, e)))
		return rc;
	if (!(k = calloc(n ? n : 1, sizeof *k)))
		return mi_fail(e, ENOMEM, "out of memory");
	classify(t, m, n, k, e);
	while (n && m[n - 1].start >= USER_TOP)
		n--;
	while (!rc && (i < n || j < nown)) {
		const struct memapi_rec_region *g = j < nown ? &r->regions[j].rec : NULL;
		uint64_t s = i < n ? (m[i].start > pos ? m[i].start : pos) : UINT64_MAX;

		if (g && g->base <= s) {
			rc = emit_own(&w, &r->regions[j++]);
			pos = own_end = g->base + g->size;
			while (i < n && m[i].end <= pos)
				i++;
			continue;
		}
		uint64_t end = g && g->base < m[i].end ? g->base : m[i].end;

		if (s < end && !own_tail(&m[i], s, end, own_end, gran))
			rc = emit_kernel(&w, &m[i], &k[i], s, end);
		pos = end;
		if (end >= m[i].end)
			i++;
	}
	free(k);
	return rc;
}

/* ---- single queries ---- */

#define NEIGHBOURS 16           /* mappings of one file looked at each way */

/* An address libmemapi owns: its tables answer without the kernel. */
static bool query_own(struct mi_target *t, const struct mi_root *r, uint64_t page,
                      struct mi_vq *out)
{
	const struct mi_region *g = r ? mi_root_region_at(r, page) : NULL;
	struct walker w = { t, r, NULL, NULL };
	uint64_t ps = page_of(r), index;

	if (!g)
		return false;
	index = (page - g->rec.base) / ps;
	for (uint64_t i = 0; i < g->rec.run_count; i++) {
		const struct memapi_rec_run *run = &g->runs[i];

		if (index < run->first_page || index >= run->first_page + run->page_count)
			continue;
		*out = (struct mi_vq){
			.base = g->rec.base + run->first_page * ps, .size = run->page_count * ps,
			.allocation_base = g->rec.base, .allocation_protect = g->rec.allocation_protect,
			.state = run->state, .protect = run->protect, .type = g->rec.type,
			.flags = g->rec.flags, .own = true, .usage = own_usage(&g->rec),
			.path = own_path(w.t, w.r, &g->rec),
		};
		return true;
	}
	return false;
}

/* The first region of libmemapi above page, or NULL. */
static const struct mi_region *own_after(const struct mi_root *r, uint64_t page)
{
	for (size_t i = 0; r && i < r->region_count; i++)
		if (r->regions[i].rec.base > page)
			return &r->regions[i];
	return NULL;
}

static const struct mi_region *own_before(const struct mi_root *r, uint64_t page)
{
	const struct mi_region *b = NULL;

	for (size_t i = 0; r && i < r->region_count && r->regions[i].rec.base <= page; i++)
		b = &r->regions[i];
	return b;
}

static void fill_free(struct mi_vq *out, uint64_t base, uint64_t end)
{
	*out = (struct mi_vq){ .base = base, .size = end - base, .state = MEM_FREE,
	                       .protect = PAGE_NOACCESS, .usage = "free", .path = "" };
}

/* The mappings of m's file next to it, by PROCMAP_QUERY, into a[]; returns
 * how many there are and sets *at to m's index. */
static size_t neighbours(struct mi_target *t, const struct mi_map *m, struct mi_map *a,
                         char (*names)[256], size_t *at)
{
	struct mi_map back[NEIGHBOURS], cur = *m, n;
	size_t nb = 0, count;

	while (is_file(&cur) && nb < NEIGHBOURS &&
	       !mi_live_vma(t, cur.start - 1, false, &n, names[1 + nb], 256, NULL) &&
	       n.end == cur.start && n.inode == m->inode && !strcmp(n.path, m->path))
		back[nb++] = cur = n;
	for (size_t i = 0; i < nb; i++)
		a[i] = back[nb - 1 - i];
	a[nb] = *m;
	*at = nb;
	count = nb + 1;
	cur = *m;
	while (is_file(&cur) && count < 2 * NEIGHBOURS + 1 &&
	       !mi_live_vma(t, cur.end, false, &n, names[1 + NEIGHBOURS + count - nb - 1], 256,
	                    NULL) &&
	       n.start == cur.end && n.inode == m->inode && !strcmp(n.path, m->path))
		a[count++] = cur = n;
	return count;
}

/* A live target's answer from a few PROCMAP_QUERY calls instead of the
 * whole map; ENOTTY where the kernel lacks the ioctl (or for a core). */
static int query_kernel(struct mi_target *t, const struct mi_root *r, uint64_t page,
                        struct mi_vq *out, struct mi_err *e)
{
	static char names[2 * NEIGHBOURS + 1][256];
	struct mi_map m, a[2 * NEIGHBOURS + 1];
	struct kinfo k[2 * NEIGHBOURS + 1];
	const struct mi_region *next = own_after(r, page), *prev = own_before(r, page);
	uint64_t limit = next ? next->rec.base : USER_TOP - 4096, gran = r && r->root.granularity
	                 ? r->root.granularity : 65536, own_end = prev ? prev->rec.base + prev->rec.size : 0;
	size_t n, at;
	int rc = mi_live_vma(t, page, true, &m, names[0], sizeof names[0], e);

	if (rc && rc != ENOENT)
		return rc;
	if (rc == ENOENT || m.start > page) {
		fill_free(out, page, rc || m.start > limit ? limit : m.start);
		return 0;
	}
	if (prev && is_reserved(&m) && page >= own_end && page < (own_end + gran - 1) / gran * gran) {
		uint64_t end = (own_end + gran - 1) / gran * gran;

		fill_free(out, page, end < m.end ? end : m.end);
		return 0;
	}
	n = neighbours(t, &m, a, names, &at);
	classify(t, a, n, k, e);
	*out = (struct mi_vq){
		.base = page, .size = (m.end < limit ? m.end : limit) - page,
		.allocation_base = k[at].alloc_base, .allocation_protect = k[at].alloc_protect,
		.type = k[at].type, .path = m.path,
		.usage = thunk_page(r, page) ? "thunk" : kernel_usage(&m, &k[at]),
		.state = is_reserved(&m) ? MEM_RESERVE : MEM_COMMIT,
	};
	out->protect = out->state == MEM_COMMIT ? win_protect(&m) : 0;
	return 0;
}

struct query_ctx {
	uint64_t     addr, prev_end;
	struct mi_vq found;
};

#define QUERY_DONE (-1)

static int query_one(const struct mi_vq *q, void *p)
{
	struct query_ctx *c = p;

	if (c->addr < q->base) {
		c->found = (struct mi_vq){ .base = c->prev_end, .size = q->base - c->prev_end,
		                           .state = MEM_FREE, .protect = PAGE_NOACCESS,
		                           .usage = "free", .path = "" };
		return QUERY_DONE;
	}
	if (c->addr < q->base + q->size) {
		c->found = *q;
		return QUERY_DONE;
	}
	c->prev_end = q->base + q->size;
	return 0;
}

/* Like VirtualQueryEx: the answer starts at addr's page. Free space past
 * the last mapping ends at the top of the user address space. */
int mi_region_query(struct mi_target *t, const struct mi_root *root, uint64_t addr,
                    struct mi_vq *out, struct mi_err *e)
{
	const uint64_t top = 0x7ffffffff000ull;
	struct query_ctx c = { .addr = addr & ~(uint64_t)0xfff };
	int rc = 0;

	if (c.addr >= top)
		return mi_fail(e, EINVAL, "outside the user address space");
	if (query_own(t, root, c.addr, &c.found) ||
	    (rc = query_kernel(t, root, c.addr, &c.found, e)) != ENOTTY) {
		if (rc > 0)
			return rc;
		*out = c.found;
		out->size = c.found.base + c.found.size - c.addr;
		out->base = c.addr;
		return 0;
	}
	rc = mi_region_walk(t, root, query_one, &c, e);
	if (rc && rc != QUERY_DONE)
		return rc;
	if (!rc) {
		c.found = (struct mi_vq){ .base = c.prev_end, .size = top - c.prev_end,
		                          .state = MEM_FREE, .protect = PAGE_NOACCESS,
		                          .usage = "free", .path = "" };
	}
	*out = c.found;
	out->size = c.found.base + c.found.size - c.addr;
	out->base = c.addr;
	return 0;
}
