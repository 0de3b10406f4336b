/* Page protections: validation of PAGE_* combinations and VirtualProtect. */
#include "../internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BASE_MASK 0xffu
#define MODIFIERS (PAGE_GUARD | PAGE_NOCACHE | PAGE_WRITECOMBINE)

static bool one_base(DWORD base)
{
	return base && !(base & (base - 1));
}

bool mt_protect_valid(DWORD protect, bool allow_writecopy)
{
	DWORD base = protect & BASE_MASK, mods = protect & MODIFIERS;

	if (protect & ~(BASE_MASK | MODIFIERS | PAGE_TARGETS_INVALID))
		return false;
	if (!one_base(base))
		return false;
	if (!allow_writecopy && (base & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY)))
		return false;
	/* Documented exclusions: no modifier with PAGE_NOACCESS, and at most
	 * one of GUARD, NOCACHE, WRITECOMBINE. */
	if (mods && base == PAGE_NOACCESS)
		return false;
	if (mods & (mods - 1))
		return false;
	if ((protect & PAGE_TARGETS_INVALID) &&
	    !(base & (PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE |
	              PAGE_EXECUTE_WRITECOPY)))
		return false;
	return true;
}

/* PAGE_* for a kernel VMA (memory libmemapi does not own). */
static DWORD win_from_vma(unsigned flags, bool file_private)
{
	bool r = flags & MT_VMA_READ, w = flags & MT_VMA_WRITE, x = flags & MT_VMA_EXEC;

	if (x)
		return w ? (file_private ? PAGE_EXECUTE_WRITECOPY : PAGE_EXECUTE_READWRITE)
		         : r ? PAGE_EXECUTE_READ : PAGE_EXECUTE;
	if (w)
		return file_private ? PAGE_WRITECOPY : PAGE_READWRITE;
	return r ? PAGE_READONLY : PAGE_NOACCESS;
}

DWORD mt_protect_from_vma(const struct mt_vma *v)
{
	return win_from_vma(v->flags, v->inode && !(v->flags & MT_VMA_SHARED));
}

/* Memory the library does not own: the kernel's protection is the truth.
 * Guard pages need the library's page table, so they are refused here. */
static DWORD protect_foreign(uintptr_t start, uintptr_t end, DWORD prot, DWORD *old)
{
	struct mt_maps *m;
	struct mt_vma v;
	uintptr_t a = start;
	DWORD first = 0, err = 0;
	int e;

	if ((e = mt_maps_open(0, &m)))
		return mt_error_from_errno(e);
	while (a < end && !err) {
		if (mt_maps_find(m, a, &v) || v.start > a)
			err = ERROR_INVALID_ADDRESS;    /* a hole: not committed */
		else if (a == start)
			first = mt_protect_from_vma(&v);
		a = v.end;
	}
	mt_maps_close(m);
	if (err)
		return err;
	if (prot & PAGE_GUARD)
		return ERROR_NOT_SUPPORTED;
	if ((e = mt_os_protect((void *)start, end - start, mt_prot_from_win(prot))))
		return e == ENOMEM ? ERROR_INVALID_ADDRESS : mt_error_from_errno(e);
	*old = first;
	return 0;
}

static bool all_committed(const struct mt_region *r, size_t first, size_t count)
{
	for (size_t i = mt_run_at(r, first); i < r->rec.run_count &&
	     r->runs[i].first_page < first + count; i++)
		if (r->runs[i].state != MEM_COMMIT)
			return false;
	return true;
}

static DWORD protect_own(struct mt_region *r, uintptr_t start, uintptr_t end,
                         DWORD prot, DWORD *old)
{
	size_t first = mt_pages(start - r->rec.base), count = mt_pages(end - start);
	struct memapi_rec_run *saved;
	size_t saved_n = r->rec.run_count;
	DWORD err;
	int e;

	if (end > mt_region_end(r) || !all_committed(r, first, count))
		return ERROR_INVALID_ADDRESS;
	if ((r->rec.flags & MEMAPI_REGION_LARGE_PAGES) &&
	    (prot & ~PAGE_TARGETS_INVALID) != r->runs[0].protect)
		return ERROR_NOT_SUPPORTED;   /* hugetlb mappings keep their protection */
	/* AWE windows are read-write: their frames carry no protection. */
	if (r->rec.flags & MEMAPI_REGION_PHYSICAL)
		return ERROR_INVALID_PARAMETER;
	/* Writecopy exists only for views of sections (their own issue). */
	if (r->rec.type == MEM_PRIVATE && (prot & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY)))
		return ERROR_INVALID_PARAMETER;
	if (r->rec.owner == MEMAPI_OWNER_SECTION && (err = mt_section_protect_ok(r, prot)))
		return err;
	if (r->rec.owner == MEMAPI_OWNER_ENCLAVE && (err = mt_enclave_protect_ok(r)))
		return err;
	if (!(saved = malloc(saved_n * sizeof *saved)))
		return ERROR_NOT_ENOUGH_MEMORY;
	memcpy(saved, r->runs, saved_n * sizeof *saved);
	*old = r->runs[mt_run_at(r, first)].protect;
	mt_vm_change_begin();
	err = mt_runs_set(r, first, count, MEM_COMMIT, prot & ~(DWORD)PAGE_TARGETS_INVALID);
	if (!err && (e = mt_vm_sync(r, first, count))) {
		/* Put the old state back so table and kernel agree again. */
		memcpy(r->runs, saved, saved_n * sizeof *saved);
		r->rec.run_count = saved_n;
		mt_vm_sync(r, first, count);
		err = e == ENOMEM ? ERROR_NOT_ENOUGH_MEMORY : mt_error_from_errno(e);
	}
	if (!err)
		err = mt_cfg_update(r, first, count, prot, false);
	mt_vm_change_end();
	free(saved);
	return err;
}

DWORD mt_vm_protect(uintptr_t addr, size_t size, DWORD prot, DWORD *old)
{
	uintptr_t start = mt_page_down(addr), end = mt_page_up(addr + size);
	struct mt_region *r;
	DWORD err;

	/* Here 0x40000000 reads as PAGE_TARGETS_NO_UPDATE (same value). */
	if (!mt_protect_valid(prot, true))
		return ERROR_INVALID_PARAMETER;
	if (!size || end <= start || end < addr || end > mt_os.max_address)
		return ERROR_INVALID_PARAMETER;
	mt_vm_lock();
	r = mt_vm_find(start);
	if (r)
		err = protect_own(r, start, end, prot, old);
	else if (mt_vm_find_span(start) || ((r = mt_vm_next(start)) && r->rec.base < end))
		err = ERROR_INVALID_ADDRESS;   /* free tail of ours, or runs into ours */
	else
		err = protect_foreign(start, end, prot, old);
	mt_vm_unlock();
	return err;
}

BOOL WINAPI VirtualProtect(LPVOID lpAddress, SIZE_T dwSize, DWORD flNewProtect,
                           PDWORD lpflOldProtect)
{
	DWORD old = 0, err;

	mt_init();
	if (!lpflOldProtect)
		return mt_fail(ERROR_NOACCESS);
	err = mt_vm_protect((uintptr_t)lpAddress, dwSize, flNewProtect, &old);
	if (err)
		return mt_fail(err);
	*lpflOldProtect = old;
	mt_secure_notify(mt_page_down((uintptr_t)lpAddress),
	                 mt_page_up((uintptr_t)lpAddress + dwSize) -
	                 mt_page_down((uintptr_t)lpAddress));
	return TRUE;
}

BOOL WINAPI VirtualProtectEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize,
                             DWORD flNewProtect, PDWORD lpflOldProtect)
{
	DWORD err = mt_process_require_self(hProcess, PROCESS_VM_OPERATION);

	if (err)
		return mt_fail(err);
	return VirtualProtect(lpAddress, dwSize, flNewProtect, lpflOldProtect);
}

BOOL WINAPI VirtualProtectFromApp(PVOID Address, SIZE_T Size, ULONG NewProtection,
                                  PULONG OldProtection)
{
	return VirtualProtect(Address, Size, NewProtection, (PDWORD)OldProtection);
}
