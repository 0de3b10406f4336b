/* VirtualFree: decommit, release, and the placeholder operations (split,
 * coalesce, and turning a replaced placeholder back into one). */
#include "../internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Decommits [first, +count) of r. Called with the lock held. */
static DWORD decommit(struct mt_region *r, size_t first, size_t count)
{
	uintptr_t a = r->rec.base + first * mt_os.page_size;
	DWORD err;
	int e;

	/* Decommitted pages are unlocked, as on Windows; the kernel refuses to
	 * drop locked pages otherwise. */
	if (r->locked)
		mt_os_unlock((void *)a, count * mt_os.page_size);
	if ((e = mt_os_decommit((void *)a, count * mt_os.page_size)))
		return mt_error_from_errno(e);
	mt_vm_change_begin();
	/* Decommitted pages are clean: not locked, not written, not reset. */
	mt_bits_clear(r->locked, first, count);
	mt_bits_clear(r->written, first, count);
	mt_bits_clear(r->reset, first, count);
	if (!r->written && (r->rec.flags & MEMAPI_REGION_WRITE_WATCH))
		/* Zapping drops the pages' write protection, which would read as
		 * "written": protect them again. */
		mt_os_wp_reset((void *)a, count * mt_os.page_size);
	/* Only the table can fail here (no memory for a split). */
	err = mt_runs_set(r, first, count, MEM_RESERVE, 0);
	mt_vm_change_end();
	return err;
}

/* Each operation reports the range whose pages it freed in *done (for
 * the secure memory cache callbacks), or leaves it empty. */
struct span_out {
	uintptr_t start;
	size_t    size;
};

static DWORD decommit_range(uintptr_t addr, size_t size, void *obj, struct span_out *done)
{
	uintptr_t start = mt_page_down(addr), end;
	struct mt_region *r = mt_vm_find(start);

	if (!r || (r->rec.flags & MEMAPI_REGION_PLACEHOLDER) || r->owner_obj != obj)
		return ERROR_INVALID_ADDRESS;
	if (!size && addr != r->rec.base)
		return ERROR_INVALID_ADDRESS;
	end = size ? mt_page_up(addr + size) : mt_region_end(r);
	if (end < addr || end > mt_region_end(r))
		return ERROR_INVALID_ADDRESS;
	if (r->rec.flags & MEMAPI_REGION_LARGE_PAGES)
		return ERROR_INVALID_PARAMETER;   /* hugetlb pages stay until release */
	if (r->rec.flags & MEMAPI_REGION_PHYSICAL)
		return ERROR_INVALID_PARAMETER;   /* MapUserPhysicalPages(NULL) unmaps */
	*done = (struct span_out){ start, end - start };
	return decommit(r, mt_pages(start - r->rec.base), mt_pages(end - start));
}

static void destroy(struct mt_region *r)
{
	void *base = (void *)r->rec.base;
	size_t span = r->span;

	mt_vm_remove(r);
	mt_watch_detach(r);
	if (r->rec.flags & MEMAPI_REGION_PHYSICAL)
		mt_awe_forget(r);
	mt_os_release(base, span);
	mt_region_free(r);
}

static DWORD release(uintptr_t addr, size_t size, void *obj, struct span_out *done)
{
	struct mt_region *r = mt_vm_find(addr);

	if (size)
		return ERROR_INVALID_PARAMETER;
	if (!r || r->rec.base != addr || r->owner_obj != obj)
		return ERROR_INVALID_ADDRESS;
	*done = (struct span_out){ addr, r->rec.size };
	destroy(r);
	return 0;
}

static struct mt_region *new_placeholder(uintptr_t base, size_t size, size_t span)
{
	return mt_region_new(base, size, span, PAGE_NOACCESS, MEM_PRIVATE, MEMAPI_REGION_PLACEHOLDER);
}

/* Splits placeholder r so that [addr, +size) becomes a placeholder of its
 * own; r keeps the lowest piece. Everything that can fail happens before
 * the table changes. */
static DWORD split(struct mt_region *r, uintptr_t addr, size_t size)
{
	uintptr_t base = r->rec.base, end = mt_region_end(r), span_end = base + r->span;
	struct mt_region *above = NULL, *mid = NULL;

	if (addr % mt_os.granularity || size % mt_os.granularity || addr + size > end ||
	    (addr == base && size == r->rec.size))
		return ERROR_INVALID_PARAMETER;
	if ((addr + size < end &&
	     !(above = new_placeholder(addr + size, end - addr - size, span_end - addr - size))) ||
	    (addr > base && !(mid = new_placeholder(addr, size, size))) ||
	    mt_vm_reserve_slots(2)) {
		mt_region_free(above);
		mt_region_free(mid);
		return ERROR_NOT_ENOUGH_MEMORY;
	}
	mt_vm_change_begin();
	mt_vm.reserved -= r->rec.size;
	r->rec.size = addr > base ? addr - base : size;
	r->span = r->rec.size;
	r->runs[0].page_count = mt_pages(r->rec.size);
	mt_vm.reserved += r->rec.size;
	if (above)
		mt_vm_insert(above);    /* cannot fail: the slots are reserved */
	if (mid)
		mt_vm_insert(mid);
	mt_vm_change_end();
	return 0;
}

/* Turns an allocation made from a placeholder back into a placeholder. */
static DWORD to_placeholder(struct mt_region *r)
{
	DWORD err = decommit(r, 0, mt_pages(r->rec.size));

	if (err)
		return err;
	mt_vm_change_begin();
	mt_watch_detach(r);
	mt_cfg_free(r);
	r->rec.flags = MEMAPI_REGION_PLACEHOLDER;
	r->rec.allocation_protect = PAGE_NOACCESS;
	mt_vm_change_end();
	return 0;
}

static DWORD preserve_placeholder(uintptr_t addr, size_t size, struct span_out *done)
{
	struct mt_region *r = mt_vm_find(addr);

	if (!r || r->owner_obj)
		return ERROR_INVALID_ADDRESS;
	if (r->rec.flags & MEMAPI_REGION_PLACEHOLDER)
		return size ? split(r, addr, size) : ERROR_INVALID_PARAMETER;
	if (!(r->rec.flags & MEMAPI_REGION_FROM_PLACEHOLDER) || addr != r->rec.base)
		return ERROR_INVALID_ADDRESS;
	if (size && size != r->rec.size)
		return ERROR_INVALID_PARAMETER;
	*done = (struct span_out){ addr, r->rec.size };
	return to_placeholder(r);
}

/* Merges the adjacent placeholders that exactly cover [addr, +size). */
static DWORD coalesce(uintptr_t addr, size_t size)
{
	struct mt_region *first = mt_vm_find(addr), *r;
	uintptr_t at, end = addr + size;

	if (!size || end < addr)
		return ERROR_INVALID_PARAMETER;
	if (!first || first->rec.base != addr || !(first->rec.flags & MEMAPI_REGION_PLACEHOLDER))
		return ERROR_INVALID_ADDRESS;
	for (at = mt_region_end(first), r = first; at < end; at = mt_region_end(r)) {
		r = mt_vm_find(at);
		if (!r || r->rec.base != at || !(r->rec.flags & MEMAPI_REGION_PLACEHOLDER))
			return ERROR_INVALID_ADDRESS;
	}
	if (at != end)
		return ERROR_INVALID_PARAMETER;
	mt_vm_change_begin();
	while ((r = mt_vm_next(mt_region_end(first))) && r->rec.base < end) {
		uintptr_t r_end = mt_region_end(r), r_span_end = r->rec.base + r->span;

		mt_vm_remove(r);              /* takes r's size off the reserved total */
		mt_region_free(r);
		mt_vm.reserved += r_end - mt_region_end(first);
		first->rec.size = r_end - first->rec.base;
		first->span = r_span_end - first->rec.base;
		first->runs[0].page_count = mt_pages(first->rec.size);
	}
	mt_vm_change_end();
	return 0;
}

static DWORD do_free(uintptr_t addr, size_t size, DWORD type, struct span_out *done)
{
	DWORD op = type & (MEM_DECOMMIT | MEM_RELEASE);
	DWORD extra = type & ~(DWORD)(MEM_DECOMMIT | MEM_RELEASE);
	DWORD err;

	if (op != MEM_DECOMMIT && op != MEM_RELEASE)
		return ERROR_INVALID_PARAMETER;
	if (extra & ~(DWORD)(MEM_COALESCE_PLACEHOLDERS | MEM_PRESERVE_PLACEHOLDER) ||
	    (extra && op != MEM_RELEASE) ||
	    extra == (MEM_COALESCE_PLACEHOLDERS | MEM_PRESERVE_PLACEHOLDER))
		return ERROR_INVALID_PARAMETER;
	if (addr >= mt_os.max_address)
		return ERROR_INVALID_PARAMETER;
	mt_vm_lock();
	if (op == MEM_DECOMMIT)
		err = decommit_range(addr, size, NULL, done);
	else if (extra == MEM_PRESERVE_PLACEHOLDER)
		err = preserve_placeholder(addr, size, done);
	else if (extra == MEM_COALESCE_PLACEHOLDERS)
		err = coalesce(addr, size);
	else
		err = release(addr, size, NULL, done);
	mt_vm_unlock();
	return err;
}

DWORD mt_vm_free_owned(void *obj, void *addr, size_t size, DWORD type)
{
	struct span_out done = { 0, 0 };
	DWORD err;

	mt_vm_lock();
	err = type == MEM_DECOMMIT ? decommit_range((uintptr_t)addr, size, obj, &done)
	                           : release((uintptr_t)addr, size, obj, &done);
	mt_vm_unlock();
	if (!err)
		mt_secure_notify(done.start, done.size);
	return err;
}

BOOL WINAPI VirtualFree(LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType)
{
	struct span_out done = { 0, 0 };
	DWORD err;

	mt_init();
	err = do_free((uintptr_t)lpAddress, dwSize, dwFreeType, &done);
	if (err)
		return mt_fail(err);
	mt_secure_notify(done.start, done.size);
	return TRUE;
}

BOOL WINAPI VirtualFreeEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType)
{
	DWORD err = mt_process_require_self(hProcess, PROCESS_VM_OPERATION);

	if (err)
		return mt_fail(err);
	return VirtualFree(lpAddress, dwSize, dwFreeType);
}
