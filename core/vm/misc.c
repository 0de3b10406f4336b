/* VirtualLock/VirtualUnlock, DiscardVirtualMemory, Offer/ReclaimVirtualMemory
 * and PrefetchVirtualMemory. */
#include "../internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Locked ranges of memory the library does not own, so that VirtualUnlock
 * can answer ERROR_NOT_LOCKED as Windows does. Sorted, non-overlapping. */
struct span { uintptr_t start, end; };
static struct span *foreign_locks;
static size_t foreign_count;


DWORD mt_vm_committed_range(uintptr_t start, uintptr_t end, struct mt_region **out,
                            bool need_access)
{
	struct mt_region *r = mt_vm_find(start), *n;

	*out = r;
	if (!r) {
		n = mt_vm_next(start);
		return mt_vm_find_span(start) || (n && n->rec.base < end) ? ERROR_INVALID_ADDRESS : 0;
	}
	if (end > mt_region_end(r))
		return ERROR_INVALID_ADDRESS;
	for (size_t i = mt_run_at(r, mt_pages(start - r->rec.base));
	     i < r->rec.run_count && r->runs[i].first_page < mt_pages(end - r->rec.base); i++) {
		if (r->runs[i].state != MEM_COMMIT)
			return ERROR_INVALID_ADDRESS;
		if (need_access && (r->runs[i].protect & 0xff) == PAGE_NOACCESS)
			return ERROR_NOACCESS;
	}
	return 0;
}

static DWORD foreign_lock(uintptr_t start, uintptr_t end)
{
	struct span *v = realloc(foreign_locks, (foreign_count + 1) * sizeof *v);
	size_t i = 0, j;

	if (!v)
		return ERROR_NOT_ENOUGH_MEMORY;
	foreign_locks = v;
	/* Insert, then merge the spans it overlaps or touches. */
	while (i < foreign_count && v[i].end < start)
		i++;
	for (j = i; j < foreign_count && v[j].start <= end; j++) {
		start = v[j].start < start ? v[j].start : start;
		end = v[j].end > end ? v[j].end : end;
	}
	memmove(v + i + 1, v + j, (foreign_count - j) * sizeof *v);
	v[i] = (struct span){ start, end };
	foreign_count = foreign_count - (j - i) + 1;
	return 0;
}

/* Removes [start, end) if all of it is locked; ERROR_NOT_LOCKED if not. */
static DWORD foreign_unlock(uintptr_t start, uintptr_t end)
{
	size_t i = 0;

	while (i < foreign_count && foreign_locks[i].end <= start)
		i++;
	if (i == foreign_count || foreign_locks[i].start > start || foreign_locks[i].end < end)
		return ERROR_NOT_LOCKED;
	if (foreign_locks[i].start < start && foreign_locks[i].end > end) {
		uintptr_t old_end = foreign_locks[i].end;
		DWORD err;

		foreign_locks[i].end = start;
		if ((err = foreign_lock(end, old_end)))
			return err;
	} else if (foreign_locks[i].start < start) {
		foreign_locks[i].end = start;
	} else if (foreign_locks[i].end > end) {
		foreign_locks[i].start = end;
	} else {
		memmove(foreign_locks + i, foreign_locks + i + 1,
		        (--foreign_count - i) * sizeof *foreign_locks);
	}
	return 0;
}

static DWORD lock_own(struct mt_region *r, uintptr_t start, uintptr_t end)
{
	size_t first = mt_pages(start - r->rec.base), n = mt_pages(end - start);

	if (!r->locked && !(r->locked = calloc((mt_pages(r->rec.size) + 7) / 8, 1)))
		return ERROR_NOT_ENOUGH_MEMORY;
	for (size_t p = first; p < first + n; p++)
		mt_bit_put(r->locked, p, true);
	return 0;
}

static DWORD unlock_own(struct mt_region *r, uintptr_t start, uintptr_t end)
{
	size_t first = mt_pages(start - r->rec.base), n = mt_pages(end - start);

	for (size_t p = first; p < first + n; p++)
		if (!r->locked || !mt_bit(r->locked, p))
			return ERROR_NOT_LOCKED;
	for (size_t p = first; p < first + n; p++)
		mt_bit_put(r->locked, p, false);
	return 0;
}

static DWORD page_range(LPVOID addr, SIZE_T size, uintptr_t *start, uintptr_t *end)
{
	*start = mt_page_down((uintptr_t)addr);
	*end = mt_page_up((uintptr_t)addr + size);
	if (!size || *end < *start || *end > mt_os.max_address)
		return ERROR_INVALID_PARAMETER;
	return 0;
}

static DWORD lock_error(int e)
{
	/* RLIMIT_MEMLOCK is Windows' working-set quota. */
	return e == ENOMEM || e == EAGAIN || e == EPERM ? ERROR_WORKING_SET_QUOTA
	                                                : mt_error_from_errno(e);
}

BOOL WINAPI VirtualLock(LPVOID lpAddress, SIZE_T dwSize)
{
	struct mt_region *r;
	uintptr_t start, end;
	DWORD err;
	int e;

	mt_init();
	if ((err = page_range(lpAddress, dwSize, &start, &end)))
		return mt_fail(err);
	mt_vm_lock();
	err = mt_vm_committed_range(start, end, &r, true);
	if (!err && (e = r && (r->rec.flags & MEMAPI_REGION_WRITE_WATCH) && !r->written ?
	                 mt_os_lock_no_write((void *)start, end - start) :
	                 mt_os_lock((void *)start, end - start)))
		err = e == ENOMEM && !r ? ERROR_INVALID_ADDRESS : lock_error(e);
	if (!err)
		err = r ? lock_own(r, start, end) : foreign_lock(start, end);
	mt_vm_unlock();
	return err ? mt_fail(err) : TRUE;
}

BOOL WINAPI VirtualUnlock(LPVOID lpAddress, SIZE_T dwSize)
{
	struct mt_region *r;
	uintptr_t start, end;
	DWORD err;

	mt_init();
	if ((err = page_range(lpAddress, dwSize, &start, &end)))
		return mt_fail(err);
	mt_vm_lock();
	err = mt_vm_committed_range(start, end, &r, false);
	if (!err)
		err = r ? unlock_own(r, start, end) : foreign_unlock(start, end);
	if (!err)
		mt_os_unlock((void *)start, end - start);
	mt_vm_unlock();
	return err ? mt_fail(err) : TRUE;
}

/* Discard, Offer and Reclaim return their error instead of setting it. */
static DWORD checked_range(PVOID addr, SIZE_T size, uintptr_t *start, uintptr_t *end)
{
	struct mt_region *r;
	DWORD err;

	mt_init();
	if ((err = page_range(addr, size, start, end)))
		return err;
	mt_vm_lock();
	err = mt_vm_committed_range(*start, *end, &r, false);
	mt_vm_unlock();
	return err;
}

DWORD WINAPI DiscardVirtualMemory(PVOID VirtualAddress, SIZE_T Size)
{
	uintptr_t start, end;
	DWORD err = checked_range(VirtualAddress, Size, &start, &end);
	int e;

	if (err)
		return err;
	e = mt_os_discard((void *)start, end - start);
	return e ? mt_error_from_errno(e) : ERROR_SUCCESS;
}

DWORD WINAPI OfferVirtualMemory(PVOID VirtualAddress, SIZE_T Size, OFFER_PRIORITY Priority)
{
	uintptr_t start, end;
	DWORD err;

	mt_init();
	if (Priority < VmOfferPriorityVeryLow || Priority > VmOfferPriorityNormal)
		return ERROR_INVALID_PARAMETER;
	/* Offered memory must be page aligned on Windows: no rounding. */
	if ((uintptr_t)VirtualAddress % mt_os.page_size || Size % mt_os.page_size)
		return ERROR_INVALID_PARAMETER;
	if ((err = page_range(VirtualAddress, Size, &start, &end)))
		return err;
	return mt_vm_reset(start, end);
}

DWORD WINAPI ReclaimVirtualMemory(const void *VirtualAddress, SIZE_T Size)
{
	uintptr_t start, end;
	bool lost;
	DWORD err;

	mt_init();
	if ((uintptr_t)VirtualAddress % mt_os.page_size || Size % mt_os.page_size)
		return ERROR_INVALID_PARAMETER;
	if ((err = page_range((PVOID)VirtualAddress, Size, &start, &end)) ||
	    (err = mt_vm_reset_undo(start, end, &lost)))
		return err;
	return lost ? ERROR_BUSY : ERROR_SUCCESS;   /* busy: rewrite the contents */
}

static DWORD prefetch_other(pid_t pid, ULONG_PTR n, PWIN32_MEMORY_RANGE_ENTRY v)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd < 0)
		return ERROR_ACCESS_DENIED;
	for (ULONG_PTR i = 0; i < n; i++) {
		uintptr_t s = mt_page_down((uintptr_t)v[i].VirtualAddress);
		struct iovec io = { (void *)s, mt_page_up((uintptr_t)v[i].VirtualAddress +
		                                          v[i].NumberOfBytes) - s };

		/* A hint: ranges the kernel refuses are skipped, as on Windows. */
		syscall(SYS_process_madvise, pidfd, &io, 1, MADV_WILLNEED, 0);
	}
	close(pidfd);
	return 0;
}

BOOL WINAPI PrefetchVirtualMemory(HANDLE hProcess, ULONG_PTR NumberOfEntries,
                                  PWIN32_MEMORY_RANGE_ENTRY VirtualAddresses, ULONG Flags)
{
	bool self;
	pid_t pid;
	DWORD err;

	mt_init();
	if (Flags || !NumberOfEntries || !VirtualAddresses)
		return mt_fail(ERROR_INVALID_PARAMETER);
	if ((err = mt_process_resolve(hProcess, PROCESS_SET_QUOTA, &self, &pid)))
		return mt_fail(err);
	if (!self)
		return (err = prefetch_other(pid, NumberOfEntries, VirtualAddresses)) ? mt_fail(err) : TRUE;
	for (ULONG_PTR i = 0; i < NumberOfEntries; i++) {
		uintptr_t s = mt_page_down((uintptr_t)VirtualAddresses[i].VirtualAddress);
		uintptr_t e = mt_page_up((uintptr_t)VirtualAddresses[i].VirtualAddress +
		                         VirtualAddresses[i].NumberOfBytes);

		if (e > s)
			mt_os_prefetch((void *)s, e - s);
	}
	return TRUE;
}
