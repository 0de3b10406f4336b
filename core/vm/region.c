/* The address-space manager: libmemapi's allocations sorted by address, each
 * with runs of identical page state, so VirtualQuery of own memory is a
 * binary search and never a syscall. */
#include "../internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct mt_vm mt_vm = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

void mt_vm_lock(void)
{
	pthread_mutex_lock(&mt_vm.lock);
	atomic_store_explicit(&mt_vm.owner, mt_gettid(), memory_order_relaxed);
}

void mt_vm_unlock(void)
{
	atomic_store_explicit(&mt_vm.owner, 0, memory_order_relaxed);
	pthread_mutex_unlock(&mt_vm.lock);
}

/* Changes nest (a release inside a coalesce); only the outermost one moves
 * the generation, so it stays odd for the whole change. */
static unsigned change_depth;

void mt_vm_change_begin(void)
{
	if (change_depth++ == 0) {
		memapi_root.generation++;
		atomic_thread_fence(memory_order_release);
	}
}

void mt_vm_change_end(void)
{
	if (--change_depth == 0) {
		atomic_thread_fence(memory_order_release);
		memapi_root.generation++;
	}
}

/* Position of the first region with base > addr. Searches the dense array
 * of bases: one cache line holds eight, where the region records would be
 * one miss per step. */
static size_t upper_bound(uintptr_t addr)
{
	const uintptr_t *b = mt_vm.bases;
	size_t lo = 0, n = mt_vm.count;

	while (n > 0) {
		size_t half = n / 2;

		if (b[lo + half] <= addr) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	return lo;
}

struct mt_region *mt_vm_find_span(uintptr_t addr)
{
	size_t i = upper_bound(addr);
	struct mt_region *r;

	if (i == 0)
		return NULL;
	r = mt_vm.index[i - 1];
	return addr - r->rec.base < r->span ? r : NULL;
}

struct mt_region *mt_vm_find(uintptr_t addr)
{
	struct mt_region *r = mt_vm_find_span(addr);

	return r && addr - r->rec.base < r->rec.size ? r : NULL;
}

struct mt_region *mt_vm_next(uintptr_t addr)
{
	size_t i = addr ? upper_bound(addr - 1) : 0;

	return i < mt_vm.count ? mt_vm.index[i] : NULL;
}

struct mt_region *mt_region_new(uintptr_t base, size_t size, size_t span,
                                DWORD alloc_protect, DWORD type, DWORD flags)
{
	struct mt_region *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->run_cap = 4;
	r->runs = calloc(r->run_cap, sizeof *r->runs);
	if (!r->runs) {
		free(r);
		return NULL;
	}
	r->rec.base = base;
	r->rec.size = size;
	r->rec.allocation_protect = alloc_protect;
	r->rec.type = type;
	r->rec.flags = flags;
	r->rec.runs = r->runs;
	r->rec.run_count = 1;
	r->runs[0] = (struct memapi_rec_run){ 0, mt_pages(size), MEM_RESERVE, 0 };
	r->span = span;
	return r;
}

void mt_region_free(struct mt_region *r)
{
	if (!r)
		return;
	mt_cfg_free(r);
	free(r->runs);
	free(r->written);
	free(r->locked);
	free(r->reset);
	free(r->frames);
	free(r);
}

static void relink(size_t i)
{
	const struct memapi_rec_region *next = i + 1 < mt_vm.count ? &mt_vm.index[i + 1]->rec : NULL;

	if (i < mt_vm.count)
		mt_vm.index[i]->rec.next = next;
}

int mt_vm_reserve_slots(size_t extra)
{
	size_t n = mt_vm.cap ? mt_vm.cap : 256;
	struct mt_region **v;
	uintptr_t *b;

	if (mt_vm.count + extra <= mt_vm.cap)
		return 0;
	while (n < mt_vm.count + extra)
		n *= 2;
	if (!(v = realloc(mt_vm.index, n * sizeof *v)))
		return ENOMEM;
	mt_vm.index = v;
	if (!(b = realloc(mt_vm.bases, n * sizeof *b)))
		return ENOMEM;
	mt_vm.bases = b;
	mt_vm.cap = n;
	return 0;
}

DWORD mt_vm_insert(struct mt_region *r)
{
	size_t i;

	if (mt_vm_reserve_slots(1))
		return ERROR_NOT_ENOUGH_MEMORY;
	i = upper_bound(r->rec.base);
	mt_vm_change_begin();
	memmove(mt_vm.index + i + 1, mt_vm.index + i, (mt_vm.count - i) * sizeof *mt_vm.index);
	memmove(mt_vm.bases + i + 1, mt_vm.bases + i, (mt_vm.count - i) * sizeof *mt_vm.bases);
	mt_vm.index[i] = r;
	mt_vm.bases[i] = r->rec.base;
	mt_vm.count++;
	relink(i);
	if (i > 0)
		relink(i - 1);
	mt_vm.reserved += r->rec.size;
	mt_root_publish();
	mt_vm_change_end();
	return 0;
}

void mt_vm_remove(struct mt_region *r)
{
	size_t i = upper_bound(r->rec.base) - 1;

	mt_vm_change_begin();
	memmove(mt_vm.index + i, mt_vm.index + i + 1, (mt_vm.count - i - 1) * sizeof *mt_vm.index);
	memmove(mt_vm.bases + i, mt_vm.bases + i + 1, (mt_vm.count - i - 1) * sizeof *mt_vm.bases);
	mt_vm.count--;
	if (i > 0)
		relink(i - 1);
	mt_vm.reserved -= r->rec.size;
	for (size_t k = 0; k < r->rec.run_count; k++)
		if (r->runs[k].state == MEM_COMMIT)
			mt_vm.committed -= r->runs[k].page_count * mt_os.page_size;
	mt_root_publish();
	mt_vm_change_end();
}

size_t mt_run_at(const struct mt_region *r, size_t page)
{
	size_t lo = 0, hi = r->rec.run_count;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->runs[mid].first_page <= page)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Committed guard and copy-on-write pages of r: each may later split its
 * run in the fault handler, which cannot allocate. */
static size_t fault_pages(const struct mt_region *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->rec.run_count; i++)
		if (r->runs[i].state == MEM_COMMIT &&
		    (r->runs[i].protect & (PAGE_GUARD | PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY)))
			n += r->runs[i].page_count;
	return n;
}

DWORD mt_runs_reserve(struct mt_region *r)
{
	struct memapi_rec_run *v;
	size_t n, need;

	/* Two slots for the next change, and one per guard or copy-on-write
	 * page (each faults once on its own): a run of k
	 * guard pages hit one by one becomes at most k runs. Two slots alone
	 * were used up by the first guard hit, and the next hit in the same
	 * region (with no VirtualAlloc/VirtualProtect in between) cleared the
	 * guard of the whole run instead of one page. */
	need = r->rec.run_count + 2 + fault_pages(r);
	/* There are never more runs than pages. */
	if (need > mt_pages(r->rec.size) + 2)
		need = mt_pages(r->rec.size) + 2;
	if (need <= r->run_cap)
		return 0;
	n = r->run_cap * 2 > need ? r->run_cap * 2 : need;
	if (!(v = realloc(r->runs, n * sizeof *v)))
		return ERROR_NOT_ENOUGH_MEMORY;
	r->runs = v;
	r->rec.runs = v;
	r->run_cap = n;
	return 0;
}

/* Splits the run holding page so that a run starts at page. Needs one free
 * slot. Returns the index of the run starting at page. */
static size_t split_at(struct mt_region *r, size_t page)
{
	size_t i = mt_run_at(r, page);
	struct memapi_rec_run *run = &r->runs[i];
	size_t off = page - run->first_page;

	if (off == 0)
		return i;
	memmove(run + 2, run + 1, (r->rec.run_count - i - 1) * sizeof *run);
	run[1] = *run;
	run[1].first_page = page;
	run[1].page_count = run->page_count - off;
	run->page_count = off;
	r->rec.run_count++;
	return i + 1;
}

static void merge(struct mt_region *r)
{
	size_t out = 0;

	for (size_t i = 1; i < r->rec.run_count; i++) {
		struct memapi_rec_run *a = &r->runs[out], *b = &r->runs[i];

		if (a->state == b->state && a->protect == b->protect)
			a->page_count += b->page_count;
		else
			r->runs[++out] = *b;
	}
	r->rec.run_count = out + 1;
}

static void set_range(struct mt_region *r, size_t first, size_t count,
                      DWORD state, DWORD protect)
{
	size_t i, end = first + count;

	i = split_at(r, first);
	if (end < mt_pages(r->rec.size))
		split_at(r, end);
	for (; i < r->rec.run_count && r->runs[i].first_page < end; i++) {
		struct memapi_rec_run *run = &r->runs[i];
		uint64_t bytes = run->page_count * mt_os.page_size;

		if (run->state == MEM_COMMIT)
			mt_vm.committed -= bytes;
		if (state == MEM_COMMIT)
			mt_vm.committed += bytes;
		run->state = state;
		run->protect = state == MEM_COMMIT ? protect : 0;
	}
	merge(r);
}

DWORD mt_runs_set(struct mt_region *r, size_t first, size_t count,
                  DWORD state, DWORD protect)
{
	DWORD err;

	if (!count)
		return 0;
	if ((err = mt_runs_reserve(r)))     /* the two splits below */
		return err;
	if (protect & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY))
		atomic_store_explicit(&mt_vm.writecopy_seen, true, memory_order_relaxed);
	set_range(r, first, count, state, protect);
	return mt_runs_reserve(r);          /* the fault handler's two */
}

void mt_runs_set_in_fault(struct mt_region *r, size_t page, DWORD protect)
{
	/* The reserve kept by mt_runs_set covers these splits: no allocation.
	 * Without it (an earlier allocation failed) the whole run changes. */
	if (r->rec.run_count + 2 <= r->run_cap) {
		set_range(r, page, 1, MEM_COMMIT, protect);
		return;
	}
	r->runs[mt_run_at(r, page)].protect = protect;
	merge(r);
}

int mt_prot_from_win(DWORD protect)
{
	switch (protect & 0xff) {
	case PAGE_READONLY:          return PROT_READ;
	case PAGE_READWRITE:
	case PAGE_WRITECOPY:         return PROT_READ | PROT_WRITE;
	case PAGE_EXECUTE:           return PROT_EXEC;
	case PAGE_EXECUTE_READ:      return PROT_READ | PROT_EXEC;
	case PAGE_EXECUTE_READWRITE:
	case PAGE_EXECUTE_WRITECOPY: return PROT_READ | PROT_WRITE | PROT_EXEC;
	default:                     return PROT_NONE;
	}
}

static int run_prot(const struct memapi_rec_run *run)
{
	if (run->state != MEM_COMMIT || (run->protect & PAGE_GUARD))
		return PROT_NONE;
	/* Copy-on-write pages stay read-only until written: the fault handler
	 * then makes them PAGE_READWRITE, as Windows reports them. */
	if (run->protect & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY))
		return mt_prot_from_win(run->protect) & ~PROT_WRITE;
	return mt_prot_from_win(run->protect);
}

/* Protects [first, +count) of one run; watched pages not yet written lose
 * PROT_WRITE so the first write faults (fallback write watch). */
static int sync_piece(struct mt_region *r, size_t first, size_t count, int prot)
{
	uintptr_t base = r->rec.base;
	size_t ps = mt_os.page_size;
	int err = 0;

	if (!(prot & PROT_WRITE) || !r->written)
		return mt_os_protect((void *)(base + first * ps), count * ps, prot);
	for (size_t p = first, end = first + count; p < end && !err;) {
		bool w = mt_bit(r->written, p);
		size_t q = p + 1;

		while (q < end && mt_bit(r->written, q) == w)
			q++;
		err = mt_os_protect((void *)(base + p * ps), (q - p) * ps,
		                    w ? prot : prot & ~PROT_WRITE);
		p = q;
	}
	return err;
}

int mt_vm_sync(struct mt_region *r, size_t first, size_t count)
{
	size_t end = first + count, i = mt_run_at(r, first);
	int err = 0;

	if (r->rec.flags & MEMAPI_REGION_LARGE_PAGES)
		return 0;               /* hugetlb pages stay as mapped */
	for (; i < r->rec.run_count && r->runs[i].first_page < end && !err; i++) {
		const struct memapi_rec_run *run = &r->runs[i];
		size_t s = run->first_page > first ? run->first_page : first;
		size_t e = run->first_page + run->page_count < end ?
		           run->first_page + run->page_count : end;

		err = sync_piece(r, s, e - s, run_prot(run));
	}
	return err;
}
