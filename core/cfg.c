/* Control-flow-guard call targets: PAGE_TARGETS_INVALID regions start with
 * no valid target; SetProcessValidCallTargets marks 16-byte slots valid or
 * invalid. Linux has no CFG enforcement, so the map is recorded and
 * queryable (memapi_is_valid_call_target) for tools and tests. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SLOT 16u

static bool executable(DWORD protect)
{
	return protect & (PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE |
	                  PAGE_EXECUTE_WRITECOPY);
}

static size_t map_bytes(const struct mt_region *r)
{
	return r->rec.size / SLOT / 8 + 1;
}

void mt_cfg_free(struct mt_region *r)
{
	free(r->cfg);
	r->cfg = NULL;
}

/* A map with every slot as given (all valid when no map existed). */
static DWORD ensure_map(struct mt_region *r, int fill)
{
	if (r->cfg)
		return 0;
	if (!(r->cfg = malloc(map_bytes(r))))
		return ERROR_NOT_ENOUGH_MEMORY;
	memset(r->cfg, fill, map_bytes(r));
	return 0;
}

/* Marks the 16-byte slots of pages [first, +count) valid or invalid. */
static void set_pages(struct mt_region *r, size_t first, size_t count, bool valid)
{
	size_t per_page = mt_os.page_size / SLOT / 8;     /* map bytes per page */

	memset(r->cfg + first * per_page, valid ? 0xff : 0, count * per_page);
}

DWORD mt_cfg_update(struct mt_region *r, size_t first, size_t count, DWORD protect,
                    bool from_alloc)
{
	/* 0x40000000 is PAGE_TARGETS_INVALID for VirtualAlloc and
	 * PAGE_TARGETS_NO_UPDATE for VirtualProtect. */
	bool flag = protect & PAGE_TARGETS_INVALID;
	DWORD err;

	if (flag && !from_alloc)
		return 0;               /* NO_UPDATE: the map stays as it is */
	if (flag) {
		/* No map means every target valid: make one, then clear. */
		if ((err = ensure_map(r, 0xff)))
			return err;
		set_pages(r, first, count, false);
		return 0;
	}
	if (executable(protect) && r->cfg)
		set_pages(r, first, count, true);
	return 0;
}

static bool any_executable(const struct mt_region *r)
{
	for (size_t i = 0; i < r->rec.run_count; i++)
		if (r->runs[i].state == MEM_COMMIT && executable(r->runs[i].protect))
			return true;
	return false;
}

static DWORD set_targets(struct mt_region *r, uintptr_t va, size_t size, ULONG n,
                         PCFG_CALL_TARGET_INFO info)
{
	DWORD err;

	if (va != mt_page_down(va) || va < r->rec.base || size > mt_region_end(r) - va)
		return ERROR_INVALID_PARAMETER;
	if (!any_executable(r))
		return ERROR_INVALID_PARAMETER;
	for (ULONG i = 0; i < n; i++) {
		ULONG_PTR off = info[i].Offset;
		bool valid = info[i].Flags & CFG_CALL_TARGET_VALID;
		size_t slot = (va - r->rec.base + off) / SLOT;

		if (off % SLOT || off >= size)
			return ERROR_INVALID_PARAMETER;
		if (!valid && (err = ensure_map(r, 0xff)))
			return err;
		if (r->cfg && valid)
			r->cfg[slot / 8] |= (uint8_t)(1u << (slot % 8));
		else if (r->cfg)
			r->cfg[slot / 8] &= (uint8_t)~(1u << (slot % 8));
		info[i].Flags |= CFG_CALL_TARGET_PROCESSED;
	}
	return 0;
}

BOOL WINAPI SetProcessValidCallTargets(HANDLE hProcess, PVOID VirtualAddress, SIZE_T RegionSize,
                                       ULONG NumberOfOffsets, PCFG_CALL_TARGET_INFO OffsetInformation)
{
	struct mt_region *r;
	DWORD err;

	mt_init();
	if ((err = mt_process_require_self(hProcess, PROCESS_VM_OPERATION)))
		return mt_fail(err);
	if (!RegionSize || (NumberOfOffsets && !OffsetInformation))
		return mt_fail(ERROR_INVALID_PARAMETER);
	/* The flags are written under the lock: open fallback-watched pages
	 * first, while a fault could still take it. */
	mt_watch_prepare_write(OffsetInformation, NumberOfOffsets * sizeof *OffsetInformation);
	mt_vm_lock();
	r = mt_vm_find((uintptr_t)VirtualAddress);
	err = r ? set_targets(r, (uintptr_t)VirtualAddress, RegionSize, NumberOfOffsets,
	                      OffsetInformation)
	        : ERROR_INVALID_PARAMETER;
	mt_vm_unlock();
	return err ? mt_fail(err) : TRUE;
}

int memapi_is_valid_call_target(const void *address, int *valid)
{
	struct mt_region *r;
	size_t slot;
	int err = 0, v = 0;

	if (!valid)
		return EINVAL;
	mt_init();
	mt_vm_lock();
	r = mt_vm_find((uintptr_t)address);
	if (!r) {
		err = ENOENT;
	} else {
		const struct memapi_rec_run *run =
			&r->runs[mt_run_at(r, mt_pages((uintptr_t)address - r->rec.base))];

		slot = ((uintptr_t)address - r->rec.base) / SLOT;
		v = run->state == MEM_COMMIT && executable(run->protect) &&
		    (!r->cfg || (r->cfg[slot / 8] & (1u << (slot % 8))));
	}
	mt_vm_unlock();
	if (!err)
		*valid = v;     /* stored without the lock: the page may fault */
	return err;
}
