/* IsBadReadPtr and its kin: answered from the library's page table and the
 * kernel's map without touching the memory, so no access can fault and no
 * guard page fires; the string checks copy the string with a read that
 * cannot fault either. Windows sets no last error here, nor do these. */
#include "internal.h"

#include <sys/mman.h>

static int run_access(const struct memapi_rec_run *run)
{
	/* A guard page counts as bad: an access would raise its exception. */
	if (run->state != MEM_COMMIT || (run->protect & PAGE_GUARD))
		return PROT_NONE;
	return mt_prot_from_win(run->protect);
}

static int vma_access(const struct mt_vma *v)
{
	return (v->flags & MT_VMA_READ ? PROT_READ : 0) |
	       (v->flags & MT_VMA_WRITE ? PROT_WRITE : 0) |
	       (v->flags & MT_VMA_EXEC ? PROT_EXEC : 0);
}

/* The kernel's map, taken on first use and kept for the rest of a call. */
struct kmap {
	struct mt_maps *m;
	bool            kept;
};

static void kmap_done(struct kmap *k)
{
	if (k->m)
		mt_maps_self_put(k->m, k->kept);
}

/* Memory the library does not own, up to clip (its next allocation). */
static int foreign_access(uintptr_t a, uintptr_t clip, uintptr_t *end, struct kmap *k)
{
	struct mt_vma v;

	if (!k->m && mt_maps_self_get(&k->m, &k->kept)) {
		k->m = NULL;
		return PROT_NONE;               /* cannot tell: call it bad */
	}
	if (mt_maps_find(k->m, a, &v) || v.start > a)
		return PROT_NONE;               /* free address space */
	*end = v.end < clip ? v.end : clip;
	return vma_access(&v);
}

/* What the pages from a on allow (PROT_*), the same up to *end. Nothing
 * here reads the caller's memory, so holding the lock cannot meet the
 * fault handler. */
static int access_at(uintptr_t a, uintptr_t *end, struct kmap *k)
{
	struct mt_region *r, *next;
	uintptr_t clip;
	int prot = PROT_NONE;

	*end = mt_page_down(a) + mt_os.page_size;
	mt_vm_lock();
	r = mt_vm_find_span(a);
	if (r && a < mt_region_end(r)) {
		size_t page = mt_pages(a - r->rec.base);
		const struct memapi_rec_run *run = &r->runs[mt_run_at(r, page)];

		*end = r->rec.base + (run->first_page + run->page_count) * mt_os.page_size;
		prot = run_access(run);
	}
	if (r) {                        /* the unusable rest of a 64 KiB unit: free */
		mt_vm_unlock();
		return prot;
	}
	next = mt_vm_next(a);
	clip = next ? next->rec.base : UINTPTR_MAX;
	mt_vm_unlock();
	return foreign_access(a, clip, end, k);
}

/* Whether every page of [a, a + len), len > 0, has all the access bits of
 * need, or with any, one of them. */
static bool range_allows(uintptr_t a, uintptr_t len, int need, bool any)
{
	uintptr_t last = a + (len - 1), end;
	struct kmap k = { 0 };
	bool ok = true;

	if (last < a || last >= mt_os.max_address)
		return false;           /* wraps around, or reaches the kernel's half */
	for (;;) {
		int prot = access_at(a, &end, &k);

		if (any ? !(prot & need) : (prot & need) != need) {
			ok = false;
			break;
		}
		if (end > last)
			break;
		a = end;
	}
	kmap_done(&k);
	return ok;
}

/* Each unit-byte character from s up to the first NUL or max characters
 * lies in readable memory. The bytes are copied a page at most at a time,
 * each page checked first: a copy is then all or nothing, and one that
 * meets a page unmapped meanwhile fails instead of faulting. */
static bool string_ok(uintptr_t s, size_t unit, UINT_PTR max)
{
	unsigned char buf[4096];
	size_t left = max > SIZE_MAX / unit ? SIZE_MAX : max * unit;
	size_t want = 256, have = 0;          /* short strings: a short first copy */
	uintptr_t end = s;
	struct kmap k = { 0 };
	unsigned acc = 0;
	bool ok = true, done = false;

	while (left && !done) {
		if (s == end && (s >= mt_os.max_address || !(access_at(s, &end, &k) & PROT_READ))) {
			ok = false;
			break;
		}
		size_t n = mt_os.page_size - (s & (mt_os.page_size - 1));

		n = n < end - s ? n : end - s;
		n = n < left ? n : left;
		n = n < want ? n : want;
		if (mt_os_read_self(buf, s, n)) {
			ok = false;
			break;
		}
		for (size_t i = 0; i < n && !done; i++) {
			acc |= buf[i];
			if (++have == unit) {
				done = !acc;
				have = 0;
				acc = 0;
			}
		}
		s += n;
		left -= n;
		want = sizeof buf;
	}
	kmap_done(&k);
	return ok;
}

BOOL WINAPI IsBadReadPtr(const VOID *lp, UINT_PTR ucb)
{
	mt_init();
	if (!ucb)
		return FALSE;
	return !lp || !range_allows((uintptr_t)lp, ucb, PROT_READ, false);
}

BOOL WINAPI IsBadWritePtr(LPVOID lp, UINT_PTR ucb)
{
	mt_init();
	if (!ucb)
		return FALSE;
	/* Copy-on-write pages count: a write makes them private. */
	return !lp || !range_allows((uintptr_t)lp, ucb, PROT_WRITE, false);
}

BOOL WINAPI IsBadCodePtr(FARPROC lpfn)
{
	mt_init();
	/* Windows checks read access; execute-only code counts too. */
	return !lpfn || !range_allows((uintptr_t)lpfn, 1, PROT_READ | PROT_EXEC, true);
}

BOOL WINAPI IsBadStringPtrA(LPCSTR lpsz, UINT_PTR ucchMax)
{
	mt_init();
	if (!ucchMax)
		return FALSE;
	return !lpsz || !string_ok((uintptr_t)lpsz, 1, ucchMax);
}

BOOL WINAPI IsBadStringPtrW(LPCWSTR lpsz, UINT_PTR ucchMax)
{
	mt_init();
	if (!ucchMax)
		return FALSE;
	return !lpsz || !string_ok((uintptr_t)lpsz, sizeof(WCHAR), ucchMax);
}
