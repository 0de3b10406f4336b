/* MEM_RESET / OfferVirtualMemory (contents may be dropped under pressure)
 * and MEM_RESET_UNDO / ReclaimVirtualMemory (keep what is still there).
 * Linux: MADV_FREE, and a write to each page still resident to cancel it.
 * Pages not resident when reset held nothing that could be lost (never
 * touched), so only pages resident at reset time are checked at undo. */
#include "../internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define CHUNK 256

/* Records which pages of [first, +count) are resident now. */
static DWORD mark_resident(struct mt_region *r, size_t first, size_t count)
{
	unsigned char vec[CHUNK];

	if (!r->reset && !(r->reset = calloc((mt_pages(r->rec.size) + 7) / 8, 1)))
		return ERROR_NOT_ENOUGH_MEMORY;
	for (size_t i = 0; i < count; i += CHUNK) {
		size_t n = count - i < CHUNK ? count - i : CHUNK;

		if (mt_os_resident((void *)(uintptr_t)(r->rec.base + (first + i) * mt_os.page_size),
		                   n * mt_os.page_size, vec))
			return ERROR_INVALID_ADDRESS;
		for (size_t j = 0; j < n; j++)
			mt_bit_put(r->reset, first + i + j, vec[j] & 1);
	}
	return 0;
}

static DWORD reset_error(int e)
{
	return e == ENOMEM ? ERROR_INVALID_ADDRESS : mt_error_from_errno(e);
}

/* Locked pages cannot be dropped (MADV_FREE refuses them): they keep their
 * contents, which is what a reset allows. */
static int reset_unlocked(const struct mt_region *r, uintptr_t start, uintptr_t end)
{
	int e = mt_os_reset((void *)start, end - start);

	if (e != EINVAL || !r || !r->locked)
		return e;
	for (uintptr_t a = start; a < end; a += mt_os.page_size)
		if (!mt_bit(r->locked, mt_pages(a - r->rec.base)) &&
		    (e = mt_os_reset((void *)a, mt_os.page_size)))
			return e;
	return 0;
}

DWORD mt_vm_reset(uintptr_t start, uintptr_t end)
{
	struct mt_region *r;
	DWORD err;
	int e;

	mt_vm_lock();
	err = mt_vm_committed_range(start, end, &r, false);
	if (!err && r)
		err = mark_resident(r, mt_pages(start - r->rec.base), mt_pages(end - start));
	if (!err && (e = reset_unlocked(r, start, end)))
		err = reset_error(e);
	mt_vm_unlock();
	return err;
}

/* Cancels MADV_FREE for one resident page by writing to it without
 * changing it (an atomic add of 0 loses no concurrent store). Pages without
 * write access are opened for the moment of the write. */
static void keep_page(struct mt_region *r, size_t page)
{
	void *a = (void *)(uintptr_t)(r->rec.base + page * mt_os.page_size);
	const struct memapi_rec_run *run = &r->runs[mt_run_at(r, page)];
	bool open = !(mt_prot_from_win(run->protect) & PROT_WRITE) ||
	            (run->protect & PAGE_GUARD) || r->written;

	if (open && mt_os_protect(a, mt_os.page_size, PROT_READ | PROT_WRITE))
		return;
	__atomic_fetch_add((unsigned char *)a, 0, __ATOMIC_RELAXED);
	if (open)
		mt_vm_sync(r, page, 1);
}

static DWORD undo_own(struct mt_region *r, size_t first, size_t count, bool *lost)
{
	unsigned char vec[CHUNK];

	for (size_t i = 0; i < count; i += CHUNK) {
		size_t n = count - i < CHUNK ? count - i : CHUNK;

		if (mt_os_resident((void *)(uintptr_t)(r->rec.base + (first + i) * mt_os.page_size),
		                   n * mt_os.page_size, vec))
			return ERROR_INVALID_ADDRESS;
		for (size_t j = 0; j < n; j++) {
			size_t p = first + i + j;

			if (!r->reset || !mt_bit(r->reset, p))
				continue;       /* not reset, or empty when reset */
			mt_bit_put(r->reset, p, false);
			if (vec[j] & 1)
				keep_page(r, p);
			else
				*lost = true;
		}
	}
	return 0;
}

DWORD mt_vm_reset_undo(uintptr_t start, uintptr_t end, bool *lost)
{
	struct mt_region *r;
	DWORD err;
	int e;

	*lost = false;
	mt_vm_lock();
	err = mt_vm_committed_range(start, end, &r, false);
	if (!err && r) {
		err = undo_own(r, mt_pages(start - r->rec.base), mt_pages(end - start), lost);
	} else if (!err) {
		/* Memory the library does not own: writable pages only. */
		e = mt_os_reset_undo((void *)start, end - start);
		if (e == ENOENT)
			*lost = true;
		else if (e)
			err = reset_error(e);
	}
	mt_vm_unlock();
	return err;
}
