/* Address Windowing Extensions: AllocateUserPhysicalPages(Numa),
 * FreeUserPhysicalPages, MapUserPhysicalPages and its Scatter form.
 *
 * The process's "physical" pages are the pages of one memfd, the pool:
 * frame i is the page at byte i * page_size and its page frame number is
 * i + 1 (0 never names a frame: both map calls read it as "unmap").
 * Allocating a frame gives it memory at once (fallocate), as Windows hands
 * out pages that exist; freeing punches it out again. Showing a frame in a
 * MEM_PHYSICAL window is a MAP_SHARED|MAP_FIXED mmap of its page over the
 * window's page (consecutive frames at consecutive addresses share one).
 * As on Windows a frame shows at one address at most. A window's pages
 * that show a frame are MEM_COMMIT PAGE_READWRITE in its runs, the others
 * MEM_RESERVE.
 *
 * Locks: pool.lock serialises the calls that change which frames exist
 * (the slow fallocate runs under it alone); the tables change under the
 * vm lock, taken after it, as forensic readers and the fault handler
 * expect. Callers' arrays are copied before either lock is taken: reading
 * them may fault, and the fault handler takes the vm lock. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct pool {
	pthread_mutex_t lock;
	int       fd;                 /* -1 until the first allocation           */
	size_t    cap;                /* frames the file and the tables cover    */
	uint8_t  *owned;              /* 1 bit per frame                         */
	uint8_t  *mark;               /* 1 bit per frame, scratch for one call   */
	uint64_t *at;                 /* address showing each frame, or 0        */
	size_t    hint;               /* no free frame below this one            */
	struct memapi_rec_awe rec;
};

static struct pool pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1,
	.rec = { .magic = MEMAPI_AWE_MAGIC, .layout = MEMAPI_AWE_LAYOUT },
};

/* One page of a map call: show frame pfn (0: none) at va. */
struct ent {
	uintptr_t         va;
	uint64_t          pfn;
	uint64_t          old;        /* the frame va showed before              */
	struct mt_region *r;
	size_t            pg;         /* page index of va in r                   */
};

/* At most this many frames are given memory by one fallocate, so that a
 * shortage stops an allocation close to what memory was left. */
#define ALLOC_CHUNK 512

static bool owned(uint64_t pfn)
{
	return pfn && pfn <= pool.cap && mt_bit(pool.owned, pfn - 1);
}

static uint64_t frame_off(uint64_t pfn)
{
	return (pfn - 1) * mt_os.page_size;
}

static bool adjacent(const struct ent *a, const struct ent *b)
{
	return a->r == b->r && b->va == a->va + mt_os.page_size;
}

/* ---- the tables ---- */

static void *grow_array(void *v, size_t old_bytes, size_t new_bytes)
{
	char *p = realloc(v, new_bytes);

	if (p)
		memset(p + old_bytes, 0, new_bytes - old_bytes);
	return p;
}

/* Tables for at least need frames. Lock held, inside a change. */
static DWORD grow_tables(size_t need)
{
	size_t cap = pool.cap ? pool.cap : 256, bits = (pool.cap + 7) / 8;
	void *p;

	while (cap < need)
		cap *= 2;
	if (cap == pool.cap)
		return 0;
	if (!(p = grow_array(pool.owned, bits, (cap + 7) / 8)))
		return ERROR_NOT_ENOUGH_MEMORY;
	pool.owned = p;
	if (!(p = grow_array(pool.mark, bits, (cap + 7) / 8)))
		return ERROR_NOT_ENOUGH_MEMORY;
	pool.mark = p;
	if (!(p = grow_array(pool.at, pool.cap * sizeof *pool.at, cap * sizeof *pool.at)))
		return ERROR_NOT_ENOUGH_MEMORY;
	pool.at = p;
	pool.cap = cap;
	pool.rec.frame_count = cap;
	pool.rec.owned = pool.owned;
	pool.rec.mapped_at = pool.at;
	return 0;
}

/* ---- showing frames in windows ---- */

static int cmp_va(const void *a, const void *b)
{
	uintptr_t x = ((const struct ent *)a)->va, y = ((const struct ent *)b)->va;

	return x < y ? -1 : x > y;
}

static bool in_call(const struct ent *e, size_t n, uintptr_t va)
{
	struct ent key = { .va = va };

	return bsearch(&key, e, n, sizeof *e, cmp_va) != NULL;
}

/* Finds each entry's window and what it shows now; every address must lie
 * in a MEM_PHYSICAL region and every frame be owned. */
static DWORD resolve(struct ent *e, size_t n)
{
	struct mt_region *r = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!r || e[i].va < r->rec.base || e[i].va >= mt_region_end(r))
			r = mt_vm_find(e[i].va);
		if (!r || !(r->rec.flags & MEMAPI_REGION_PHYSICAL))
			return ERROR_INVALID_PARAMETER;
		if (e[i].pfn && !owned(e[i].pfn))
			return ERROR_INVALID_PARAMETER;
		if (e[i].pfn && !r->frames &&
		    !(r->frames = calloc(mt_pages(r->rec.size), sizeof *r->frames)))
			return ERROR_NOT_ENOUGH_MEMORY;
		/* Neighbours need no division (it dominated a 1,000-page call). */
		e[i].pg = i && e[i - 1].r == r && e[i].va == e[i - 1].va + mt_os.page_size
		          ? e[i - 1].pg + 1 : mt_pages(e[i].va - r->rec.base);
		e[i].r = r;
		e[i].old = r->frames ? r->frames[e[i].pg] : 0;
	}
	return 0;
}

/* After the call no frame may show at two addresses: a frame named twice,
 * or already shown at an address the call leaves alone, is refused.
 * e is sorted by address. */
static DWORD check_conflicts(const struct ent *e, size_t n)
{
	DWORD err = 0;
	size_t i;

	for (i = 0; i < n && !err; i++) {
		uint64_t f = e[i].pfn, shown;

		if (i && e[i].va == e[i - 1].va)
			err = ERROR_INVALID_PARAMETER;
		if (!f || err)
			continue;
		if (mt_bit(pool.mark, f - 1))
			err = ERROR_INVALID_PARAMETER;
		mt_bit_put(pool.mark, f - 1, true);
		shown = pool.at[f - 1];
		if (shown && shown != e[i].va && !in_call(e, n, shown))
			err = ERROR_INVALID_PARAMETER;
	}
	while (i--)
		if (e[i].pfn)
			mt_bit_put(pool.mark, e[i].pfn - 1, false);
	return err;
}

/* Maps each stretch of entries whose target (new, or old with undo)
 * differs from the other: consecutive addresses of one window showing
 * consecutive frames, or nothing. Returns the number of entries done: n,
 * or the end of the stretch that failed (*err set; it may have left a
 * hole, so undo must cover it). */
static size_t apply(const struct ent *e, size_t n, bool undo, int *err)
{
	size_t i = 0, j;

	*err = 0;
	while (i < n) {
		uint64_t f = undo ? e[i].old : e[i].pfn;
		void *a = (void *)e[i].va;

		if (e[i].pfn == e[i].old) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && adjacent(&e[j - 1], &e[j]) && e[j].pfn != e[j].old; j++) {
			uint64_t g = undo ? e[j].old : e[j].pfn;

			if (f ? g != f + (j - i) : g != 0)
				break;
		}
		*err = f ? mt_os_map_file(&a, (j - i) * mt_os.page_size, (j - i) * mt_os.page_size,
		                          PROT_READ | PROT_WRITE, true, pool.fd, frame_off(f),
		                          MT_MAP_REPLACE)
		         : mt_os_rereserve(a, (j - i) * mt_os.page_size);
		if (*err)
			return j;
		i = j;
	}
	return n;
}

struct saved_runs {
	struct mt_region      *r;
	struct memapi_rec_run *runs;
	size_t                 count;
};

static void restore_runs(struct saved_runs *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memcpy(s[i].r->runs, s[i].runs, s[i].count * sizeof *s[i].runs);
		s[i].r->rec.run_count = s[i].count;
	}
}

static void free_saved(struct saved_runs *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].runs);
	free(s);
}

/* Copies the runs of every window the entries touch (in address order,
 * so each window's entries are together). */
static DWORD save_runs(const struct ent *e, size_t n, struct saved_runs **out, size_t *count)
{
	struct saved_runs *s;
	size_t k = 0, windows = 1;

	for (size_t i = 1; i < n; i++)
		windows += e[i].r != e[i - 1].r;
	if (!(s = calloc(windows, sizeof *s)))
		return ERROR_NOT_ENOUGH_MEMORY;
	for (size_t i = 0; i < n; i++) {
		struct mt_region *r = e[i].r;

		if (k && s[k - 1].r == r)
			continue;
		s[k].r = r;
		s[k].count = r->rec.run_count;
		if (!(s[k].runs = malloc(r->rec.run_count * sizeof *s[k].runs))) {
			free_saved(s, k);
			return ERROR_NOT_ENOUGH_MEMORY;
		}
		memcpy(s[k++].runs, r->runs, r->rec.run_count * sizeof *r->runs);
	}
	*out = s;
	*count = k;
	return 0;
}

static DWORD set_runs(const struct ent *e, size_t n)
{
	DWORD err = 0;

	for (size_t i = 0, j; i < n && !err; i = j) {
		for (j = i + 1; j < n && adjacent(&e[j - 1], &e[j]) && !e[j].pfn == !e[i].pfn; j++)
			;
		err = mt_runs_set(e[i].r, e[i].pg, j - i,
		                  e[i].pfn ? MEM_COMMIT : MEM_RESERVE, e[i].pfn ? PAGE_READWRITE : 0);
	}
	return err;
}

static void record(const struct ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].old && pool.at[e[i].old - 1] == e[i].va) {
			pool.at[e[i].old - 1] = 0;
			pool.rec.mapped--;
		}
	for (size_t i = 0; i < n; i++) {
		if (e[i].r->frames)
			e[i].r->frames[e[i].pg] = e[i].pfn;
		if (e[i].pfn) {
			pool.at[e[i].pfn - 1] = e[i].va;
			pool.rec.mapped++;
		}
	}
}

/* The whole change or none of it. e is sorted by address; with one, all
 * of it must lie in one window. vm lock held. */
static DWORD map_entries(struct ent *e, size_t n, bool one)
{
	struct saved_runs *saved;
	size_t nsaved, done;
	DWORD err;
	int e_os;

	if ((err = resolve(e, n)))
		return err;
	if (one && e[n - 1].r != e[0].r)
		return ERROR_INVALID_PARAMETER;
	if ((err = check_conflicts(e, n)) || (err = save_runs(e, n, &saved, &nsaved)))
		return err;
	mt_vm_change_begin();
	if (!(err = set_runs(e, n))) {
		done = apply(e, n, false, &e_os);
		if (e_os) {
			int ignored;

			apply(e, done, true, &ignored);   /* best effort: the old frames */
			err = mt_error_from_errno(e_os);
		}
	}
	if (err)
		restore_runs(saved, nsaved);
	else
		record(e, n);
	mt_vm_change_end();
	free_saved(saved, nsaved);
	return err;
}

/* ---- allocating and freeing frames ---- */

static DWORD open_pool(void)
{
	int fd, e;

	if (pool.fd >= 0)
		return 0;
	if ((e = mt_os_memfd("memapi-awe", 0, false, &fd)))
		return mt_error_from_errno(e);
	pool.fd = fd;
	return 0;
}

/* Picks up to n free frames (lowest first), growing the tables; *found
 * is n unless the tables are wrong. Pool lock held. */
static DWORD pick(uint64_t *pfns, size_t n, size_t *found)
{
	DWORD err;
	size_t k = 0;

	mt_vm_lock();
	mt_vm_change_begin();
	/* cap >= allocated + n leaves n free frames, all at or above hint. */
	err = grow_tables(pool.rec.allocated + n);
	for (size_t i = pool.hint; !err && k < n && i < pool.cap; i++)
		if (!mt_bit(pool.owned, i))
			pfns[k++] = i + 1;
	*found = k;
	memapi_root.awe = &pool.rec;
	mt_vm_change_end();
	mt_vm_unlock();
	return err;
}

/* Gives the picked frames memory, in order, until memory runs short. */
static size_t give_memory(const uint64_t *pfns, size_t n, DWORD node, int *err)
{
	size_t i = 0, j;

	*err = 0;
	while (i < n) {
		for (j = i + 1; j < n && j - i < ALLOC_CHUNK && pfns[j] == pfns[j - 1] + 1; j++)
			;
		if (node != NUMA_NO_PREFERRED_NODE)
			mt_os_fd_bind_node(pool.fd, frame_off(pfns[i]), (j - i) * mt_os.page_size, node);
		if ((*err = mt_os_fd_alloc(pool.fd, frame_off(pfns[i]), (j - i) * mt_os.page_size)))
			break;
		i = j;
	}
	return i;
}

static void take(const uint64_t *pfns, size_t n)
{
	mt_vm_lock();
	mt_vm_change_begin();
	for (size_t i = 0; i < n; i++)
		mt_bit_put(pool.owned, pfns[i] - 1, true);
	pool.rec.allocated += n;
	if (n)
		pool.hint = pfns[n - 1];      /* every frame below is owned now */
	mt_vm_change_end();
	mt_vm_unlock();
}

static DWORD allocate(size_t want, DWORD node, uint64_t *pfns, size_t *got)
{
	DWORD err;
	int e = 0;

	pthread_mutex_lock(&pool.lock);
	if (!(err = open_pool()) && !(err = pick(pfns, want, &want))) {
		e = mt_os_fd_grow(pool.fd, (uint64_t)pool.cap * mt_os.page_size);
		*got = e ? 0 : give_memory(pfns, want, node, &e);
		take(pfns, *got);
		if (!*got)
			err = e == ENOSPC || e == ENOMEM || !e ? ERROR_NOT_ENOUGH_MEMORY
			                                       : mt_error_from_errno(e);
	}
	pthread_mutex_unlock(&pool.lock);
	return err;
}

/* How many of the wanted frames memory can hold now. */
static size_t affordable(size_t want)
{
	uint64_t bytes;

	if (mt_os_available_memory(&bytes))
		return want;
	return bytes / mt_os.page_size < want ? bytes / mt_os.page_size : want;
}

/* The frames of the valid prefix of pfns: owned, each named once. Marks
 * them (the caller clears the marks). */
static size_t valid_prefix(const uint64_t *pfns, size_t n)
{
	size_t k;

	for (k = 0; k < n && owned(pfns[k]) && !mt_bit(pool.mark, pfns[k] - 1); k++)
		mt_bit_put(pool.mark, pfns[k] - 1, true);
	return k;
}

/* Unmaps the frames among pfns[0, k) that show somewhere. */
static DWORD unmap_frames(const uint64_t *pfns, size_t k)
{
	struct ent *e = calloc(k ? k : 1, sizeof *e);
	size_t n = 0;
	DWORD err;

	if (!e)
		return ERROR_NOT_ENOUGH_MEMORY;
	for (size_t i = 0; i < k; i++)
		if (pool.at[pfns[i] - 1])
			e[n++].va = pool.at[pfns[i] - 1];
	qsort(e, n, sizeof *e, cmp_va);
	err = n ? map_entries(e, n, false) : 0;
	free(e);
	return err;
}

static DWORD release_frames(const uint64_t *pfns, size_t n, size_t *done)
{
	DWORD err;
	size_t k;

	pthread_mutex_lock(&pool.lock);
	mt_vm_lock();
	k = pool.cap ? valid_prefix(pfns, n) : 0;
	for (size_t i = 0; i < k; i++)
		mt_bit_put(pool.mark, pfns[i] - 1, false);
	err = unmap_frames(pfns, k);
	if (err)
		k = 0;
	mt_vm_change_begin();
	for (size_t i = 0; i < k; i++) {
		mt_bit_put(pool.owned, pfns[i] - 1, false);
		if (pfns[i] - 1 < pool.hint)
			pool.hint = pfns[i] - 1;
	}
	pool.rec.allocated -= k;
	mt_vm_change_end();
	mt_vm_unlock();
	/* Not owned any more, so nobody maps them: give the memory back. */
	for (size_t i = 0, j; i < k; i = j) {
		for (j = i + 1; j < k && pfns[j] == pfns[j - 1] + 1; j++)
			;
		mt_os_fd_punch(pool.fd, frame_off(pfns[i]), (j - i) * mt_os.page_size);
	}
	pthread_mutex_unlock(&pool.lock);
	*done = k;
	return err ? err : k < n ? ERROR_INVALID_PARAMETER : 0;
}

/* ---- hooks ---- */

void mt_awe_forget(struct mt_region *r)
{
	if (!r->frames)
		return;
	for (size_t i = 0; i < mt_pages(r->rec.size); i++)
		if (r->frames[i]) {
			pool.at[r->frames[i] - 1] = 0;
			pool.rec.mapped--;
		}
}

void mt_awe_atfork(enum mt_fork_phase phase)
{
	mt_mutex_atfork(&pool.lock, phase);
}

/* Remaps every shown frame from fd, each stretch of consecutive frames at
 * consecutive addresses with one mmap. */
static int remap_all(int fd)
{
	int err = 0;

	for (size_t i = 0, j; i < pool.cap && !err; i = j) {
		void *a = (void *)(uintptr_t)pool.at[i];

		j = i + 1;
		if (!a)
			continue;
		while (j < pool.cap && pool.at[j] == pool.at[j - 1] + mt_os.page_size)
			j++;
		err = mt_os_map_file(&a, (j - i) * mt_os.page_size, (j - i) * mt_os.page_size,
		                     PROT_READ | PROT_WRITE, true, fd, i * mt_os.page_size,
		                     MT_MAP_REPLACE);
	}
	return err;
}

void mt_awe_after_fork(void)
{
	uint64_t size = (uint64_t)pool.cap * mt_os.page_size;
	int fd, err;

	if (pool.fd < 0)
		return;
	if (mt_os_memfd("memapi-awe", size, false, &fd))
		return;                       /* keeps sharing with the parent */
	err = 0;
	for (size_t i = 0; i < pool.cap && !err; i++)
		if (mt_bit(pool.owned, i))
			err = mt_os_fd_copy(fd, pool.fd, i * mt_os.page_size, mt_os.page_size);
	if (!err)
		err = remap_all(fd);
	if (err) {
		close(fd);
		return;
	}
	close(pool.fd);
	pool.fd = fd;
}

/* ---- the API ---- */

static DWORD copy_in(const ULONG_PTR *v, size_t n, uint64_t **out)
{
	if (n > SIZE_MAX / sizeof **out)
		return ERROR_INVALID_PARAMETER;
	if (!(*out = malloc(n ? n * sizeof **out : 1)))
		return ERROR_NOT_ENOUGH_MEMORY;
	for (size_t i = 0; i < n && v; i++)
		(*out)[i] = v[i];
	return 0;
}

/* The calling process (the only one served) and both pointers. */
static DWORD check_args(HANDLE process, const ULONG_PTR *count, const ULONG_PTR *pfns)
{
	DWORD err;

	mt_init();
	if ((err = mt_process_require_self(process, PROCESS_VM_OPERATION)))
		return err;
	return count && pfns ? 0 : ERROR_NOACCESS;
}

BOOL WINAPI AllocateUserPhysicalPagesNuma(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                          PULONG_PTR PageArray, DWORD nndPreferred)
{
	uint64_t *pfns;
	size_t want, got = 0;
	DWORD err;

	if ((err = check_args(hProcess, NumberOfPages, PageArray)))
		return mt_fail(err);
	if (nndPreferred != NUMA_NO_PREFERRED_NODE && nndPreferred >= mt_os_node_count())
		return mt_fail(ERROR_INVALID_PARAMETER);
	if (!*NumberOfPages)
		return TRUE;
	if (!(want = affordable(*NumberOfPages)))
		return mt_fail(ERROR_NOT_ENOUGH_MEMORY);
	if ((err = copy_in(NULL, want, &pfns)))
		return mt_fail(err);
	if (!(err = allocate(want, nndPreferred, pfns, &got))) {
		for (size_t i = 0; i < got; i++)
			PageArray[i] = (ULONG_PTR)pfns[i];
		*NumberOfPages = got;
	}
	free(pfns);
	return err ? mt_fail(err) : TRUE;
}

BOOL WINAPI AllocateUserPhysicalPages(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                      PULONG_PTR PageArray)
{
	return AllocateUserPhysicalPagesNuma(hProcess, NumberOfPages, PageArray,
	                                     NUMA_NO_PREFERRED_NODE);
}

BOOL WINAPI FreeUserPhysicalPages(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                  PULONG_PTR PageArray)
{
	uint64_t *pfns;
	size_t done = 0;
	DWORD err;

	if ((err = check_args(hProcess, NumberOfPages, PageArray)))
		return mt_fail(err);
	if ((err = copy_in(PageArray, *NumberOfPages, &pfns)))
		return mt_fail(err);
	err = release_frames(pfns, *NumberOfPages, &done);
	free(pfns);
	*NumberOfPages = done;
	return err ? mt_fail(err) : TRUE;
}

/* MapUserPhysicalPages passes one window's pages in order (one). */
static BOOL map_call(struct ent *e, size_t n, bool one)
{
	DWORD err;

	if (!one)
		qsort(e, n, sizeof *e, cmp_va);
	mt_vm_lock();
	err = map_entries(e, n, one);
	mt_vm_unlock();
	free(e);
	return err ? mt_fail(err) : TRUE;
}

BOOL WINAPI MapUserPhysicalPages(PVOID VirtualAddress, ULONG_PTR NumberOfPages,
                                 PULONG_PTR PageArray)
{
	uintptr_t va = mt_page_down((uintptr_t)VirtualAddress);
	struct ent *e;

	mt_init();
	if (!NumberOfPages)
		return TRUE;
	if (va >= mt_os.max_address || NumberOfPages > (mt_os.max_address - va) / mt_os.page_size)
		return mt_fail(ERROR_INVALID_PARAMETER);
	if (!(e = malloc(NumberOfPages * sizeof *e)))    /* resolve fills the rest */
		return mt_fail(ERROR_NOT_ENOUGH_MEMORY);
	for (size_t i = 0; i < NumberOfPages; i++) {
		e[i].va = va + i * mt_os.page_size;
		e[i].pfn = PageArray ? PageArray[i] : 0;
	}
	return map_call(e, NumberOfPages, true);
}

BOOL WINAPI MapUserPhysicalPagesScatter(PVOID *VirtualAddresses, ULONG_PTR NumberOfPages,
                                        PULONG_PTR PageArray)
{
	struct ent *e;

	mt_init();
	if (!NumberOfPages)
		return TRUE;
	if (!VirtualAddresses)
		return mt_fail(ERROR_NOACCESS);
	if (NumberOfPages > SIZE_MAX / sizeof *e || !(e = malloc(NumberOfPages * sizeof *e)))
		return mt_fail(ERROR_NOT_ENOUGH_MEMORY);
	for (size_t i = 0; i < NumberOfPages; i++) {
		e[i].va = mt_page_down((uintptr_t)VirtualAddresses[i]);
		e[i].pfn = PageArray ? PageArray[i] : 0;
	}
	return map_call(e, NumberOfPages, false);
}
