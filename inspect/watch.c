/* Write tracking of a live target, read from outside without disturbing it.
 *
 * Watch regions (MEM_WRITE_WATCH) are tracked by libmemapi in one of two
 * ways, as its root's watch_mode says: with userfaultfd async write
 * protection, where a written page is one whose PTE lost its WP bit, read
 * here with the PAGEMAP_SCAN ioctl on /proc/PID/pagemap without
 * PM_SCAN_WP_MATCHING (so nothing is re-protected: the application's next
 * GetWriteWatch sees what it would have seen); or with the fallback, a
 * bitmap per region in the target, read with mi_read.
 *
 * Other private writable memory is tracked by hashing its pages. Only
 * populated pages (present or swapped, from PAGEMAP_SCAN, else from the
 * pagemap entries) are read: a page that is not populated reads as zeros,
 * so it is stored as nothing and counts as the zero page's hash. That keeps
 * the state proportional to resident memory, not to address space (a
 * sanitizer's shadow is terabytes of mostly empty mappings). */
#include "target.h"
#include "../core/os/kernel.h"      /* PAGEMAP_SCAN, defined once for the project */

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define VEC_LEN    512             /* ranges per PAGEMAP_SCAN call (see pm_scan) */
#define CHUNK      (1u << 20)      /* bytes per mi_read of hashed memory        */
#define PM_ENTRIES 4096            /* pagemap entries per pread (fallback)      */
#define MAX_TRIES  100             /* samples torn by a change of the regions   */
#define MAX_BITMAP_PAGES (1ull << 32) /* 16 TiB of 4 KiB pages: more is corrupt */
#define PM_PRESENT (1ull << 63)    /* pagemap entry bits                        */
#define PM_SWAPPED (1ull << 62)
#define HP_DIRTY   1ull            /* low bit of hpage.page: seen changing      */

struct vec64 {
	uint64_t *v;
	size_t    n, cap;
};

/* A hashed page: its address (| HP_DIRTY) and its content's hash. */
struct hpage {
	uint64_t page;
	uint64_t hash;
};

struct hvec {
	struct hpage *v;
	size_t        n, cap;
};

struct range {
	uint64_t start, end;
};

struct rvec {
	struct range *v;
	size_t        n, cap;
};

/* A sample and the capacity of its entry array. */
struct samp {
	struct mi_watch_sample s;
	size_t                 cap;
};

struct mi_watch {
	struct mi_target      *t;
	unsigned               flags;
	uint64_t               page;        /* this machine's page size          */
	int                    pagemap;     /* /proc/PID/pagemap, -1 until needed */
	bool                   no_scan;     /* the kernel has no PAGEMAP_SCAN     */
	struct page_region    *vec;         /* VEC_LEN entries                    */
	uint8_t               *buf;         /* CHUNK bytes                        */
	uint64_t               zero_hash;
	struct samp            cur, old;    /* this sample and the previous one   */
	struct hvec            hp;          /* hashed pages by address            */
	struct rvec            segs;        /* hashed ranges of the last sample   */
	bool                   hashed_once;
};

/* ---- growable arrays ---- */

static int grow(void **v, size_t *cap, size_t n, size_t size, struct mi_err *e)
{
	size_t c = *cap ? *cap * 2 : 64;
	void *p;

	if (n < *cap)
		return 0;
	if (!(p = realloc(*v, c * size)))
		return mi_fail(e, ENOMEM, "out of memory");
	*v = p;
	*cap = c;
	return 0;
}

static int push64(struct vec64 *a, uint64_t x, struct mi_err *e)
{
	int rc = grow((void **)&a->v, &a->cap, a->n, sizeof *a->v, e);

	if (!rc)
		a->v[a->n++] = x;
	return rc;
}

static int push_hp(struct hvec *a, uint64_t page, uint64_t hash, struct mi_err *e)
{
	int rc = grow((void **)&a->v, &a->cap, a->n, sizeof *a->v, e);

	if (!rc)
		a->v[a->n++] = (struct hpage){ page, hash };
	return rc;
}

static int push_range(struct rvec *a, uint64_t start, uint64_t end, struct mi_err *e)
{
	int rc = grow((void **)&a->v, &a->cap, a->n, sizeof *a->v, e);

	if (!rc)
		a->v[a->n++] = (struct range){ start, end };
	return rc;
}

/* ---- the page hash: four independent multiply-rotate lanes, so the
 * multiplications overlap; each step is a bijection of its lane for a
 * given word, so any change of the page changes a lane ---- */

#define HK1 UINT64_C(0x9e3779b97f4a7c15)
#define HK2 UINT64_C(0xc2b2ae3d27d4eb4f)
#define HK3 UINT64_C(0x165667b19e3779f9)

static inline uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t lane(uint64_t h, uint64_t w)
{
	return rotl(h ^ w * HK2, 31) * HK1;
}

static uint64_t page_hash(const uint8_t *p, size_t len)
{
	uint64_t a = HK1, b = HK2, c = HK3, d = ~HK1, w[4], h;

	for (size_t i = 0; i + sizeof w <= len; i += sizeof w) {
		memcpy(w, p + i, sizeof w);
		a = lane(a, w[0]);
		b = lane(b, w[1]);
		c = lane(c, w[2]);
		d = lane(d, w[3]);
	}
	h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18);
	h ^= h >> 33;
	h *= HK2;
	h ^= h >> 29;
	h *= HK3;
	return h ^ h >> 32;
}

/* ---- the target's pagemap ---- */

static int proc_error(struct mi_watch *w, int err, struct mi_err *e)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d", (int)mi_pid(w->t));
	if (err == ESRCH || err == ENOENT || access(path, F_OK))
		return mi_fail(e, ESRCH, "the process has exited");
	if (err == EPERM || err == EACCES)
		return mi_fail(e, EPERM, "permission denied (reading /proc/%d/pagemap needs "
		               "ptrace access to the process)", (int)mi_pid(w->t));
	return mi_fail(e, err, "/proc/%d/pagemap: %s", (int)mi_pid(w->t), strerror(err));
}

static int no_scan(struct mi_err *e)
{
	return mi_fail(e, ENOTSUP, "this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7 or later "
	               "is needed to read userfaultfd write tracking)");
}

/* Opens the pagemap and finds out, with an empty scan that any kernel
 * with the ioctl accepts, whether it has PAGEMAP_SCAN: a failure of a real
 * scan is then a real error, not a missing ioctl. */
static int open_pagemap(struct mi_watch *w, struct mi_err *e)
{
	struct pm_scan_arg probe = { .size = sizeof probe };
	char path[64];

	if (w->pagemap >= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)mi_pid(w->t));
	if ((w->pagemap = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return proc_error(w, errno, e);
	w->no_scan = ioctl(w->pagemap, PAGEMAP_SCAN, &probe) < 0 &&
	             (errno == ENOTTY || errno == EINVAL);
	return 0;
}

typedef int range_fn(void *ctx, uint64_t start, uint64_t end, struct mi_err *e);

/* Calls fn for each run of pages in [start, end) with every category of
 * mask and, if anyof, one of anyof, in address order. Never resets
 * anything: flags 0.
 *
 * A call stops early only when the vector is full; it then says where in
 * walk_end. The kernel fills the vector through a buffer of its own (512
 * ranges with 4 KiB pages) and, when that filled during a call that went
 * on to the end, leaves walk_end where it filled (seen on 6.18): so a short
 * call is taken as complete, the vector is no longer than that buffer, and
 * ranges that would go back are clipped. */
static int pm_scan(struct mi_watch *w, uint64_t start, uint64_t end, uint64_t mask,
                   uint64_t anyof, range_fn *fn, void *ctx, struct mi_err *e)
{
	uint64_t done = start;          /* everything below has been reported */
	int rc;

	if ((rc = open_pagemap(w, e)))
		return rc;
	if (w->no_scan)
		return no_scan(e);
	while (start < end) {
		struct pm_scan_arg a = {
			.size = sizeof a,
			.start = start, .end = end,
			.vec = (uintptr_t)w->vec, .vec_len = VEC_LEN,
			.category_mask = mask, .category_anyof_mask = anyof,
			.return_mask = mask | anyof,
		};
		long n = ioctl(w->pagemap, PAGEMAP_SCAN, &a);

		if (n < 0)
			return proc_error(w, errno, e);
		for (long i = 0; i < n; i++) {
			uint64_t from = w->vec[i].start > done ? w->vec[i].start : done;

			if (w->vec[i].end > from && (rc = fn(ctx, from, w->vec[i].end, e)))
				return rc;
			done = w->vec[i].end > done ? w->vec[i].end : done;
		}
		if (n < VEC_LEN || a.walk_end >= end || a.walk_end <= start)
			break;
		start = a.walk_end;
	}
	return 0;
}

/* The populated pages of [start, end) from the pagemap entries, for kernels
 * without PAGEMAP_SCAN. */
static int pm_read_populated(struct mi_watch *w, uint64_t start, uint64_t end,
                             range_fn *fn, void *ctx, struct mi_err *e)
{
	uint64_t ent[PM_ENTRIES], run = 0;
	bool in_run = false;
	int rc;

	if ((rc = open_pagemap(w, e)))
		return rc;
	for (uint64_t a = start; a < end;) {
		size_t want = (size_t)((end - a) / w->page);
		ssize_t got;

		want = want < PM_ENTRIES ? want : PM_ENTRIES;
		got = pread(w->pagemap, ent, want * sizeof *ent, (off_t)(a / w->page * sizeof *ent));
		if (got <= 0)
			return got < 0 ? proc_error(w, errno, e) : mi_fail(e, ESRCH, "the process has exited");
		for (size_t i = 0; i < (size_t)got / sizeof *ent; i++, a += w->page) {
			bool pop = ent[i] & (PM_PRESENT | PM_SWAPPED);

			if (pop && !in_run)
				run = a;
			if (!pop && in_run && (rc = fn(ctx, run, a, e)))
				return rc;
			in_run = pop;
		}
	}
	return in_run ? fn(ctx, run, end, e) : 0;
}

static int populated(struct mi_watch *w, uint64_t start, uint64_t end, range_fn *fn,
                     void *ctx, struct mi_err *e)
{
	int rc = open_pagemap(w, e);

	if (rc)
		return rc;
	if (w->no_scan)
		return pm_read_populated(w, start, end, fn, ctx, e);
	return pm_scan(w, start, end, 0, PAGE_IS_PRESENT | PAGE_IS_SWAPPED, fn, ctx, e);
}

/* ---- watch regions ---- */

static int add_pages(void *ctx, uint64_t start, uint64_t end, struct mi_err *e)
{
	struct mi_watch *w = ((void **)ctx)[0];
	struct vec64 *out = ((void **)ctx)[1];
	int rc = 0;

	for (uint64_t p = start; p < end && !rc; p += w->page)
		rc = push64(out, p, e);
	return rc;
}

/* Kernel path: the pages whose PTE is no longer write-protected. */
static int kernel_written(struct mi_watch *w, const struct memapi_rec_region *r,
                          struct vec64 *out, struct mi_err *e)
{
	void *ctx[2] = { w, out };

	return pm_scan(w, r->base, r->base + r->size, PAGE_IS_WRITTEN, 0, add_pages, ctx, e);
}

/* Fallback path: the region's bitmap, one bit per page. */
static int bitmap_written(struct mi_watch *w, const struct memapi_root *root,
                          const struct memapi_rec_region *r, struct vec64 *out,
                          struct mi_err *e)
{
	uint64_t ps = root->page_size ? root->page_size : w->page;
	uint64_t pages = r->size / ps;
	size_t len = (size_t)((pages + 7) / 8);
	uint8_t *bits;
	int rc;

	if (!r->written || !pages)
		return 0;               /* nothing recorded yet */
	if (pages > MAX_BITMAP_PAGES)
		return mi_fail(e, EPROTO, "libmemapi's region at 0x%llx is corrupt (%llu pages)",
		               (unsigned long long)r->base, (unsigned long long)pages);
	if (!(bits = malloc(len)))
		return mi_fail(e, ENOMEM, "out of memory");
	rc = mi_read(w->t, (uint64_t)(uintptr_t)r->written, bits, len, e);
	for (uint64_t p = 0; !rc && p < pages; p++) {
		if (!bits[p / 8]) {
			p |= 7;         /* a byte of unwritten pages */
			continue;
		}
		if (bits[p / 8] & (1u << (p % 8)))
			rc = push64(out, r->base + p * ps, e);
	}
	free(bits);
	return rc;
}

static void entry_free(struct mi_watch_entry *x)
{
	free(x->written);
	free(x->fresh);
}

static void sample_clear(struct samp *x)
{
	for (size_t i = 0; i < x->s.entry_count; i++)
		entry_free(&x->s.entries[i]);
	x->s.entry_count = 0;
	x->s.watch_mode = 0;
}

static void sample_free(struct samp *x)
{
	sample_clear(x);
	free(x->s.entries);
	x->s.entries = NULL;
	x->cap = 0;
}

/* A new entry at the end of the current sample, its arrays taken over. */
static int add_entry(struct mi_watch *w, enum mi_watch_kind kind, uint64_t base,
                     uint64_t size, struct vec64 *written, struct vec64 *fresh,
                     struct mi_err *e)
{
	struct mi_watch_sample *s = &w->cur.s;
	int rc = grow((void **)&s->entries, &w->cur.cap, s->entry_count, sizeof *s->entries, e);

	if (rc) {
		free(written->v);
		free(fresh->v);
		return rc;
	}
	s->entries[s->entry_count++] = (struct mi_watch_entry){
		kind, base, size, written->v, written->n, fresh->v, fresh->n,
	};
	*written = (struct vec64){ 0 };
	*fresh = (struct vec64){ 0 };
	return 0;
}

/* The previous sample's entry of the same watch region, or NULL (its
 * entries are sorted by base, which no two share). */
static const struct mi_watch_entry *old_region(const struct mi_watch *w, uint64_t base,
                                               uint64_t size)
{
	size_t lo = 0, hi = w->old.s.entry_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mi_watch_entry *x = &w->old.s.entries[mid];

		if (x->base < base)
			lo = mid + 1;
		else if (x->base > base)
			hi = mid;
		else
			return x->kind == MI_WATCH_REGION && x->size == size ? x : NULL;
	}
	return NULL;
}

/* fresh = written minus the previous sample's written (both ascending). */
static int new_pages(const struct vec64 *written, const struct mi_watch_entry *old,
                     struct vec64 *fresh, struct mi_err *e)
{
	size_t k = 0;
	int rc = 0;

	for (size_t i = 0; i < written->n && !rc; i++) {
		while (old && k < old->written_count && old->written[k] < written->v[i])
			k++;
		if (!old || k == old->written_count || old->written[k] != written->v[i])
			rc = push64(fresh, written->v[i], e);
	}
	return rc;
}

static int watch_region(struct mi_watch *w, const struct mi_root *root,
                        const struct memapi_rec_region *r, struct mi_err *e)
{
	struct vec64 written = { 0 }, fresh = { 0 };
	int rc;

	/* As GetWriteWatch does: a region with a bitmap is on the fallback. */
	if (r->written || root->root.watch_mode != MEMAPI_WATCH_KERNEL)
		rc = bitmap_written(w, &root->root, r, &written, e);
	else
		rc = kernel_written(w, r, &written, e);
	if (!rc)
		rc = new_pages(&written, old_region(w, r->base, r->size), &fresh, e);
	if (rc) {
		free(written.v);
		free(fresh.v);
		return rc;
	}
	return add_entry(w, MI_WATCH_REGION, r->base, r->size, &written, &fresh, e);
}

static int watch_regions(struct mi_watch *w, const struct mi_root *root, struct mi_err *e)
{
	int rc;

	for (size_t i = 0; i < root->region_count; i++) {
		const struct memapi_rec_region *r = &root->regions[i].rec;

		if ((r->flags & MEMAPI_REGION_WRITE_WATCH) && (rc = watch_region(w, root, r, e)))
			return rc;
	}
	return 0;
}

/* ---- hashed memory ---- */

/* One pass over the hashed ranges, merged with the previous state. */
struct walk {
	struct mi_watch *w;
	size_t           oi;        /* next entry of w->hp                       */
	size_t           si;        /* next range of w->segs                     */
	struct hvec      hp;        /* the new state                             */
	struct vec64     written, fresh;
};

/* Was p in memory hashed at the previous sample? (p only grows.) */
static bool seen_before(struct walk *k, uint64_t p)
{
	const struct rvec *s = &k->w->segs;

	while (k->si < s->n && s->v[k->si].end <= p)
		k->si++;
	return k->w->hashed_once && k->si < s->n && s->v[k->si].start <= p;
}

/* Records page p with hash h; changed: since the previous sample. */
static int record(struct walk *k, uint64_t p, uint64_t h, bool dirty, bool changed,
                  struct mi_err *e)
{
	int rc;

	if ((rc = push_hp(&k->hp, p | (dirty ? HP_DIRTY : 0), h, e)))
		return rc;
	if (dirty && (rc = push64(&k->written, p, e)))
		return rc;
	return changed ? push64(&k->fresh, p, e) : 0;
}

/* Old entries below p of the current range are pages no longer populated:
 * their content is now the zero page's. Only those that ever changed are
 * kept (absent pages are zero by default). */
static int absent_below(struct walk *k, uint64_t p, struct mi_err *e)
{
	const struct hvec *old = &k->w->hp;
	int rc;

	for (; k->oi < old->n && (old->v[k->oi].page & ~HP_DIRTY) < p; k->oi++) {
		const struct hpage *q = &old->v[k->oi];
		bool changed = q->hash != k->w->zero_hash;
		bool dirty = (q->page & HP_DIRTY) || changed;

		if (dirty && (rc = record(k, q->page & ~HP_DIRTY, k->w->zero_hash, true, changed, e)))
			return rc;
	}
	return 0;
}

static int page_hashed(struct walk *k, uint64_t p, uint64_t h, struct mi_err *e)
{
	const struct hvec *old = &k->w->hp;
	bool changed, dirty;
	int rc;

	if ((rc = absent_below(k, p, e)))
		return rc;
	if (k->oi < old->n && (old->v[k->oi].page & ~HP_DIRTY) == p) {
		changed = old->v[k->oi].hash != h;
		dirty = (old->v[k->oi].page & HP_DIRTY) || changed;
		k->oi++;
	} else {
		/* First sighting of memory mapped since the last sample: its
		 * baseline. Else it was not populated, so it was zeros. */
		changed = seen_before(k, p) && h != k->w->zero_hash;
		dirty = changed;
	}
	return record(k, p, h, dirty, changed, e);
}

/* A page that could not be read keeps its previous state. */
static int page_unreadable(struct walk *k, uint64_t p, struct mi_err *e)
{
	const struct hvec *old = &k->w->hp;
	const struct hpage *q;
	int rc;

	if ((rc = absent_below(k, p, e)))
		return rc;
	if (k->oi >= old->n || (old->v[k->oi].page & ~HP_DIRTY) != p)
		return 0;
	q = &old->v[k->oi++];
	return record(k, p, q->hash, q->page & HP_DIRTY, false, e);
}

static int hash_range(void *ctx, uint64_t start, uint64_t end, struct mi_err *e)
{
	struct walk *k = ctx;
	struct mi_watch *w = k->w;
	int rc;

	for (uint64_t a = start; a < end; a += CHUNK) {
		size_t len = (size_t)(end - a < CHUNK ? end - a : CHUNK);
		int bad = mi_read(w->t, a, w->buf, len, e);

		if (bad && bad != EFAULT)
			return bad;
		for (size_t off = 0; off < len; off += w->page) {
			/* A chunk with an unreadable page: page by page. */
			if (bad && mi_read(w->t, a + off, w->buf + off, w->page, NULL))
				rc = page_unreadable(k, a + off, e);
			else
				rc = page_hashed(k, a + off, page_hash(w->buf + off, w->page), e);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int hash_segment(struct walk *k, uint64_t start, uint64_t end, struct rvec *segs,
                        struct mi_err *e)
{
	const struct hvec *old = &k->w->hp;
	int rc;

	/* Old pages below this range are in no hashed memory now: dropped. */
	while (k->oi < old->n && (old->v[k->oi].page & ~HP_DIRTY) < start)
		k->oi++;
	if ((rc = populated(k->w, start, end, hash_range, k, e)) ||
	    (rc = absent_below(k, end, e)) || (rc = push_range(segs, start, end, e)))
		return rc;
	return add_entry(k->w, MI_WATCH_HASHED, start, end - start, &k->written, &k->fresh, e);
}

/* Readable, writable, private: memory the process can change in place. */
static bool hashable(const struct mi_map *m)
{
	return (m->prot & (MI_PROT_READ | MI_PROT_WRITE)) == (MI_PROT_READ | MI_PROT_WRITE) &&
	       !(m->flags & MI_MAP_SHARED);
}

/* The parts of mapping m outside the watch regions, each hashed. */
static int hash_map(struct walk *k, const struct mi_map *m, const struct mi_root *root,
                    size_t *ri, struct rvec *segs, struct mi_err *e)
{
	uint64_t a = m->start;
	int rc;

	while (a < m->end) {
		uint64_t stop = m->end;

		for (; root && *ri < root->region_count; ++*ri) {
			const struct memapi_rec_region *r = &root->regions[*ri].rec;

			if (!(r->flags & MEMAPI_REGION_WRITE_WATCH) || r->base + r->size <= a)
				continue;
			if (r->base >= m->end)
				break;          /* beyond this mapping */
			if (r->base <= a) {
				a = r->base + r->size;
				if (a >= m->end)
					break;  /* it may cover the next mapping too */
				continue;
			}
			stop = r->base;
			break;
		}
		if (a >= m->end)
			break;
		if ((rc = hash_segment(k, a, stop, segs, e)))
			return rc;
		a = stop;
	}
	return 0;
}

static int hash_unwatched(struct mi_watch *w, const struct mi_root *root, struct mi_err *e)
{
	struct walk k = { .w = w };
	struct rvec segs = { 0 };
	const struct mi_map *maps;
	size_t n, ri = 0;
	int rc;

	if ((rc = mi_maps(w->t, &maps, &n, e)))
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		/* Regions wholly below this mapping cannot overlap later ones. */
		while (root && ri < root->region_count &&
		       root->regions[ri].rec.base + root->regions[ri].rec.size <= maps[i].start)
			ri++;
		if (hashable(&maps[i]))
			rc = hash_map(&k, &maps[i], root, &ri, &segs, e);
	}
	free(k.written.v);
	free(k.fresh.v);
	if (rc) {
		free(k.hp.v);
		free(segs.v);
		return rc;
	}
	free(w->hp.v);
	free(w->segs.v);
	w->hp = k.hp;
	w->segs = segs;
	w->hashed_once = true;
	return 0;
}

/* ---- samples ---- */

int mi_watch_open(struct mi_target *t, unsigned flags, struct mi_watch **out,
                  struct mi_err *e)
{
	struct mi_watch *w;
	long ps = sysconf(_SC_PAGESIZE);

	*out = NULL;
	if (!mi_is_live(t))
		return mi_fail(e, EINVAL, "write tracking needs a live process");
	if (!(w = calloc(1, sizeof *w)))
		return mi_fail(e, ENOMEM, "out of memory");
	w->t = t;
	w->flags = flags;
	w->page = ps > 0 ? (uint64_t)ps : 4096;
	w->pagemap = -1;
	/* Zeroed: memcheck does not know that the ioctl fills it. */
	w->vec = calloc(VEC_LEN, sizeof *w->vec);
	if ((flags & MI_WATCH_UNWATCHED) && (w->buf = calloc(1, CHUNK)))
		w->zero_hash = page_hash(w->buf, w->page);
	if (!w->vec || ((flags & MI_WATCH_UNWATCHED) && !w->buf)) {
		mi_watch_close(w);
		return mi_fail(e, ENOMEM, "out of memory");
	}
	*out = w;
	return 0;
}

void mi_watch_close(struct mi_watch *w)
{
	if (!w)
		return;
	if (w->pagemap >= 0)
		close(w->pagemap);
	sample_free(&w->cur);
	sample_free(&w->old);
	free(w->hp.v);
	free(w->segs.v);
	free(w->vec);
	free(w->buf);
	free(w);
}

static bool generation_moved(struct mi_watch *w, const struct mi_root *root)
{
	uint64_t gen;

	if (mi_read(w->t, root->addr + offsetof(struct memapi_root, generation), &gen,
	            sizeof gen, NULL))
		return true;
	return gen != root->root.generation;
}

static void pause_briefly(void)
{
	struct timespec ts = { 0, 100000 };

	nanosleep(&ts, NULL);
}

/* The watch regions of the current sample, with *root the tables they came
 * from (NULL: no libmemapi). The region list may change while the pages
 * are read: the copy is retried until the generation holds still. */
static int sample_regions(struct mi_watch *w, struct mi_root **root, struct mi_err *e)
{
	int rc;

	for (unsigned tries = 0;; tries++) {
		bool moved;

		sample_clear(&w->cur);
		if ((rc = mi_root_read(w->t, root, e)) == ENOENT) {
			*root = NULL;
			return 0;
		}
		if (rc)
			return rc;
		w->cur.s.watch_mode = (*root)->root.watch_mode;
		rc = watch_regions(w, *root, e);
		moved = generation_moved(w, *root);
		/* Consistent; or still moving after every try, which a copy
		 * read without error survives (bits are only ever set). */
		if (!rc && (!moved || tries == MAX_TRIES))
			return 0;
		mi_root_free(*root);
		*root = NULL;
		if (!moved || tries == MAX_TRIES)
			return rc;
		pause_briefly();
	}
}

static int entry_cmp(const void *a, const void *b)
{
	const struct mi_watch_entry *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

/* Has the process exited? A zombie still has its /proc directory (with
 * an empty map, so that it reads as a process without libmemapi). */
static bool gone(struct mi_watch *w)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)mi_pid(w->t));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return n == 0;
	buf[n] = 0;
	/* "pid (comm) S ...": the state follows the last ')'. */
	return (p = strrchr(buf, ')')) && (p[1] == ' ') && (p[2] == 'Z' || p[2] == 'X');
}

int mi_watch_sample(struct mi_watch *w, const struct mi_watch_sample **out, struct mi_err *e)
{
	struct samp tmp;
	struct mi_root *root = NULL;
	bool had_root;
	int rc;

	*out = NULL;
	/* The previous sample becomes old; the one before is reused. */
	tmp = w->old;
	w->old = w->cur;
	w->cur = tmp;
	sample_clear(&w->cur);
	rc = sample_regions(w, &root, e);
	if (!rc && (w->flags & MI_WATCH_UNWATCHED))
		rc = hash_unwatched(w, root, e);
	had_root = root != NULL;
	mi_root_free(root);
	/* Whatever failed, or an empty sample: the likeliest cause is an exit. */
	if ((rc || !had_root) && gone(w))
		rc = mi_fail(e, ESRCH, "the process has exited");
	if (rc) {
		/* Keep the previous sample as the one to compare with. */
		sample_clear(&w->cur);
		tmp = w->cur;
		w->cur = w->old;
		w->old = tmp;
		return rc;
	}
	if (w->cur.s.entry_count > 1)
		qsort(w->cur.s.entries, w->cur.s.entry_count, sizeof *w->cur.s.entries, entry_cmp);
	*out = &w->cur.s;
	return 0;
}
