/* VirtualAlloc and its variants: reserve, commit, reset, placeholders,
 * address requirements, large pages, MEM_PHYSICAL and NUMA preference. */
#include "../internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* One VirtualAlloc request after the extended parameters are decoded. */
struct alloc_req {
	uintptr_t addr;
	size_t    size;
	DWORD     type;
	DWORD     protect;
	uintptr_t lowest, highest;    /* address requirements (highest inclusive)  */
	size_t    align;              /* 0: allocation granularity                 */
	DWORD     node;               /* NUMA_NO_PREFERRED_NODE: none              */
	bool      ex;                 /* VirtualAlloc2: placeholders allowed       */
	DWORD     owner;              /* MEMAPI_OWNER_* of a new reservation       */
	void     *owner_obj;          /* subsystem object owning it, or NULL       */
};

#define TYPE_BITS (MEM_COMMIT | MEM_RESERVE | MEM_RESET | MEM_RESET_UNDO | \
                   MEM_TOP_DOWN | MEM_WRITE_WATCH | MEM_PHYSICAL | MEM_LARGE_PAGES)
#define TYPE_BITS_EX (TYPE_BITS | MEM_RESERVE_PLACEHOLDER | MEM_REPLACE_PLACEHOLDER)

static DWORD check_request(const struct alloc_req *rq)
{
	DWORD t = rq->type, allowed = rq->ex ? TYPE_BITS_EX : TYPE_BITS;

	if (!rq->size || (t & ~allowed))
		return ERROR_INVALID_PARAMETER;
	if (t & (MEM_RESET | MEM_RESET_UNDO))
		return t == MEM_RESET || t == MEM_RESET_UNDO ? 0 : ERROR_INVALID_PARAMETER;
	if (!(t & (MEM_COMMIT | MEM_RESERVE)))
		return ERROR_INVALID_PARAMETER;
	if (!mt_protect_valid(rq->protect, false))
		return ERROR_INVALID_PARAMETER;
	if ((t & (MEM_WRITE_WATCH | MEM_RESERVE_PLACEHOLDER | MEM_REPLACE_PLACEHOLDER)) &&
	    !(t & MEM_RESERVE))
		return ERROR_INVALID_PARAMETER;
	if ((t & MEM_PHYSICAL) &&
	    ((t & ~MEM_TOP_DOWN) != (MEM_RESERVE | MEM_PHYSICAL) || rq->protect != PAGE_READWRITE))
		return ERROR_INVALID_PARAMETER;
	if ((t & MEM_LARGE_PAGES) &&
	    ((t & (MEM_RESERVE | MEM_COMMIT)) != (MEM_RESERVE | MEM_COMMIT) ||
	     (rq->protect & PAGE_GUARD) ||
	     (t & (MEM_WRITE_WATCH | MEM_PHYSICAL | MEM_RESERVE_PLACEHOLDER))))
		return ERROR_INVALID_PARAMETER;
	if ((t & MEM_RESERVE_PLACEHOLDER) &&
	    (t != (MEM_RESERVE | MEM_RESERVE_PLACEHOLDER) || rq->protect != PAGE_NOACCESS))
		return ERROR_INVALID_PARAMETER;
	if ((t & MEM_REPLACE_PLACEHOLDER) && (!rq->addr || (t & (MEM_WRITE_WATCH | MEM_PHYSICAL |
	                                      MEM_LARGE_PAGES | MEM_TOP_DOWN))))
		return ERROR_INVALID_PARAMETER;
	if ((t & MEM_PHYSICAL) && (t & MEM_WRITE_WATCH))
		return ERROR_INVALID_PARAMETER;
	return 0;
}

/* Finds room within the address requirements or top-down and maps it
 * there; another thread may take the gap first, so retry a few times. */
static int reserve_placed(const struct alloc_req *rq, size_t span, int prot, void **out)
{
	size_t align = rq->align ? rq->align : mt_os.granularity;
	uintptr_t lo = rq->lowest ? rq->lowest : mt_os.min_address;
	/* The last 64 KiB below max_address is not usable: the kernel keeps its
	 * top page (TASK_SIZE is 2^47 - 4096), and Windows' highest user address
	 * is 0x7FFFFFFEFFFF too. Without this cap MEM_TOP_DOWN always failed. */
	uintptr_t limit = mt_os.max_address - mt_os.granularity;
	uintptr_t hi = rq->highest && rq->highest < limit ? rq->highest + 1 : limit;
	bool top = rq->type & MEM_TOP_DOWN;
	int err = ENOMEM;

	for (int tries = 0; tries < 8; tries++) {
		uintptr_t a;

		if ((err = mt_os_find_gap(lo, hi, span, align, top, &a)))
			return err;
		*out = (void *)a;
		err = mt_os_reserve(out, span, align, prot, true, false);
		if (err != EEXIST)
			return err;
	}
	return err;
}

static DWORD reserve_os(const struct alloc_req *rq, uintptr_t base, size_t span, int prot,
                        void **out)
{
	bool huge = rq->type & MEM_LARGE_PAGES;
	int err;

	if (base) {
		*out = (void *)base;
		err = mt_os_reserve(out, span, mt_os.granularity, prot, true, huge);
	} else if (!huge && (rq->type & MEM_TOP_DOWN || rq->lowest || rq->highest ||
	                     rq->align > mt_os.granularity)) {
		err = reserve_placed(rq, span, prot, out);
	} else {
		*out = NULL;
		err = mt_os_reserve(out, span, rq->align ? rq->align : mt_os.granularity, prot,
		                    false, huge);
	}
	if (!err)
		return 0;
	if (err == EEXIST)
		return ERROR_INVALID_ADDRESS;
	if (huge)
		return ERROR_NO_SYSTEM_RESOURCES;  /* no hugetlb pages available */
	return ERROR_NOT_ENOUGH_MEMORY;
}

static DWORD region_flags(DWORD type)
{
	return (type & MEM_RESERVE_PLACEHOLDER ? MEMAPI_REGION_PLACEHOLDER : 0) |
	       (type & MEM_WRITE_WATCH ? MEMAPI_REGION_WRITE_WATCH : 0) |
	       (type & MEM_PHYSICAL ? MEMAPI_REGION_PHYSICAL : 0) |
	       (type & MEM_LARGE_PAGES ? MEMAPI_REGION_LARGE_PAGES : 0) |
	       (type & MEM_TOP_DOWN ? MEMAPI_REGION_TOP_DOWN : 0);
}

/* Commits [first, +count) of r with protect and applies it; on failure the
 * pages are as before. */
static DWORD commit_pages(struct mt_region *r, size_t first, size_t count, DWORD protect)
{
	size_t n = r->rec.run_count;
	struct memapi_rec_run *saved = malloc(n * sizeof *saved);
	uint64_t committed = mt_vm.committed;
	DWORD err;
	int e;

	if (!saved)
		return ERROR_NOT_ENOUGH_MEMORY;
	memcpy(saved, r->runs, n * sizeof *saved);
	err = mt_runs_set(r, first, count, MEM_COMMIT, protect & ~(DWORD)PAGE_TARGETS_INVALID);
	if (!err && (e = mt_vm_sync(r, first, count))) {
		memcpy(r->runs, saved, n * sizeof *saved);
		r->rec.run_count = n;
		mt_vm.committed = committed;
		mt_vm_sync(r, first, count);
		/* mprotect charges commit: ENOMEM is the commit limit. */
		err = e == ENOMEM ? ERROR_COMMITMENT_LIMIT : mt_error_from_errno(e);
	}
	free(saved);
	return err;
}

/* A reservation committed whole can be mapped with its protection at once
 * (one syscall). Not when the 64 KiB unit has an unusable tail, which must
 * stay inaccessible, nor for guard pages or fallback write watch, whose
 * protection differs from the recorded one. */
static int initial_prot(const struct alloc_req *rq, size_t size, size_t span)
{
	if (!(rq->type & MEM_COMMIT) || size != span || (rq->protect & PAGE_GUARD) ||
	    ((rq->type & MEM_WRITE_WATCH) && !mt_os.has_wp_async))
		return PROT_NONE;
	return mt_prot_from_win(rq->protect);
}

static DWORD new_region(const struct alloc_req *rq, void **out)
{
	uintptr_t base = rq->addr ? mt_gran_down(rq->addr) : 0;
	size_t size = rq->addr ? mt_page_up(rq->addr + rq->size) - base : mt_page_up(rq->size);
	size_t span = mt_gran_up(size);
	bool huge = rq->type & MEM_LARGE_PAGES;
	struct mt_region *r;
	int prot;
	void *p;
	DWORD err;

	if (size < rq->size || span < size)
		return ERROR_NOT_ENOUGH_MEMORY;     /* the size overflowed */
	if (huge) {
		if (!mt_os.huge_page_size)
			return ERROR_NOT_SUPPORTED;
		if (rq->size % mt_os.huge_page_size || base % mt_os.huge_page_size)
			return ERROR_INVALID_PARAMETER;
		size = span = rq->size;
	}
	prot = initial_prot(rq, size, span);
	err = reserve_os(rq, base, span, prot, &p);
	if (err == ERROR_NOT_ENOUGH_MEMORY && prot != PROT_NONE && !huge) {
		/* Address space or commit charge? Reserve first, so that a
		 * failing commit reports ERROR_COMMITMENT_LIMIT as Windows does. */
		prot = PROT_NONE;
		err = reserve_os(rq, base, span, prot, &p);
	}
	if (err)
		return err;
	r = mt_region_new((uintptr_t)p, size, span,
	                  rq->type & MEM_RESERVE_PLACEHOLDER ? PAGE_NOACCESS : rq->protect,
	                  MEM_PRIVATE, region_flags(rq->type));
	if (!r) {
		mt_os_release(p, span);
		return ERROR_NOT_ENOUGH_MEMORY;
	}
	r->rec.owner = rq->owner;
	r->owner_obj = rq->owner_obj;
	if (rq->node != NUMA_NO_PREFERRED_NODE)
		mt_os_bind_node(p, span, rq->node);   /* a preference: may not hold */
	mt_vm_lock();
	/* One change for readers of the root: the region appears complete. */
	mt_vm_change_begin();
	if ((err = mt_vm_insert(r))) {
		mt_vm_change_end();
		mt_vm_unlock();
		mt_os_release(p, span);
		mt_region_free(r);
		return err;
	}
	if (rq->type & MEM_WRITE_WATCH)
		err = mt_watch_attach(r);
	if (!err)
		err = mt_cfg_update(r, 0, mt_pages(size), rq->protect, true);
	if (!err && (rq->type & MEM_COMMIT)) {
		/* Mapped with its final protection already: only the table. */
		bool mapped = huge || prot != PROT_NONE;

		err = mapped ? mt_runs_set(r, 0, mt_pages(size), MEM_COMMIT,
		                           rq->protect & ~(DWORD)PAGE_TARGETS_INVALID)
		             : commit_pages(r, 0, mt_pages(size), rq->protect);
	}
	if (err) {
		mt_vm_remove(r);
		mt_watch_detach(r);
	}
	mt_vm_change_end();
	mt_vm_unlock();
	if (err) {
		mt_os_release(p, span);
		mt_region_free(r);
		return err;
	}
	*out = p;
	return 0;
}

static DWORD commit_existing(const struct alloc_req *rq, void **out)
{
	uintptr_t start = mt_page_down(rq->addr), end = mt_page_up(rq->addr + rq->size);
	struct mt_region *r;
	DWORD err = 0;

	if (end <= start || end > mt_os.max_address)
		return ERROR_INVALID_PARAMETER;
	if (rq->type & MEM_WRITE_WATCH)
		return ERROR_INVALID_PARAMETER;
	mt_vm_lock();
	r = mt_vm_find(start);
	if (!r || end > mt_region_end(r) ||
	    (r->rec.flags & (MEMAPI_REGION_PLACEHOLDER | MEMAPI_REGION_PHYSICAL)))
		err = ERROR_INVALID_ADDRESS;
	else if (r->rec.flags & MEMAPI_REGION_LARGE_PAGES)
		err = rq->protect == r->runs[0].protect ? 0 : ERROR_INVALID_PARAMETER;
	else if (r->rec.owner == MEMAPI_OWNER_SECTION && !rq->owner_obj)
		err = mt_section_commit(r, start, end, rq->protect);
	else if (r->owner_obj != rq->owner_obj)
		err = ERROR_INVALID_ADDRESS;   /* memory of a heap */
	if (r && r->rec.owner == MEMAPI_OWNER_SECTION) {
		mt_vm_unlock();
		if (!err)
			*out = (void *)start;
		return err;
	}
	if (!err && !(r->rec.flags & MEMAPI_REGION_LARGE_PAGES)) {
		mt_vm_change_begin();
		err = commit_pages(r, mt_pages(start - r->rec.base), mt_pages(end - start),
		                   rq->protect);
		if (!err)
			err = mt_cfg_update(r, mt_pages(start - r->rec.base), mt_pages(end - start),
			                    rq->protect, true);
		mt_vm_change_end();
	}
	mt_vm_unlock();
	if (!err)
		*out = (void *)start;
	return err;
}

/* MEM_RESET and MEM_RESET_UNDO: the range must be committed memory. */
static DWORD reset(const struct alloc_req *rq, void **out)
{
	uintptr_t start = mt_page_down(rq->addr), end = mt_page_up(rq->addr + rq->size);
	bool lost = false;
	DWORD err;

	if (!rq->addr || end <= start)
		return ERROR_INVALID_ADDRESS;
	if (!mt_protect_valid(rq->protect, true))
		return ERROR_INVALID_PARAMETER;
	if (rq->type == MEM_RESET)
		err = mt_vm_reset(start, end);
	else
		err = mt_vm_reset_undo(start, end, &lost);
	if (!err && lost)
		err = ERROR_INVALID_ADDRESS;    /* RESET_UNDO: some data was lost */
	if (!err)
		*out = (void *)start;
	return err;
}

/* MEM_REPLACE_PLACEHOLDER: [addr, +size) must be exactly one placeholder,
 * which becomes an ordinary private allocation in place. */
static DWORD replace_placeholder(const struct alloc_req *rq, void **out)
{
	struct mt_region *r;
	DWORD err = 0;

	mt_vm_lock();
	r = mt_vm_find(rq->addr);
	if (!r || !(r->rec.flags & MEMAPI_REGION_PLACEHOLDER) ||
	    r->rec.base != rq->addr || r->rec.size != rq->size)
		err = ERROR_INVALID_ADDRESS;
	if (!err) {
		mt_vm_change_begin();
		r->rec.flags = (r->rec.flags & ~MEMAPI_REGION_PLACEHOLDER) | MEMAPI_REGION_FROM_PLACEHOLDER;
		r->rec.allocation_protect = rq->protect;
		if (rq->type & MEM_COMMIT)
			err = commit_pages(r, 0, mt_pages(r->rec.size), rq->protect);
		if (!err)
			err = mt_cfg_update(r, 0, mt_pages(r->rec.size), rq->protect, true);
		if (err) {
			r->rec.flags = (r->rec.flags & ~MEMAPI_REGION_FROM_PLACEHOLDER) |
			               MEMAPI_REGION_PLACEHOLDER;
			r->rec.allocation_protect = PAGE_NOACCESS;
		}
		mt_vm_change_end();
	}
	mt_vm_unlock();
	if (!err)
		*out = (void *)rq->addr;
	return err;
}

static DWORD do_alloc(struct alloc_req *rq, void **out)
{
	DWORD err = check_request(rq);

	if (err)
		return err;
	if (rq->addr && (rq->addr < mt_os.min_address || rq->addr >= mt_os.max_address ||
	                 rq->size > mt_os.max_address - rq->addr))
		return ERROR_INVALID_PARAMETER;
	if (rq->size > mt_os.max_address)
		return ERROR_NOT_ENOUGH_MEMORY;
	if (rq->type & (MEM_RESET | MEM_RESET_UNDO))
		return reset(rq, out);
	if (rq->type & MEM_REPLACE_PLACEHOLDER)
		return replace_placeholder(rq, out);
	if ((rq->type & MEM_RESERVE) || !rq->addr)
		return new_region(rq, out);
	return commit_existing(rq, out);
}

static void *alloc(struct alloc_req *rq)
{
	void *p = NULL;
	DWORD err;

	mt_init();
	err = do_alloc(rq, &p);
	return err ? mt_fail_null(err) : p;
}

LPVOID WINAPI VirtualAlloc(LPVOID lpAddress, SIZE_T dwSize, DWORD flAllocationType,
                           DWORD flProtect)
{
	struct alloc_req rq = {
		.addr = (uintptr_t)lpAddress, .size = dwSize, .type = flAllocationType,
		.protect = flProtect, .node = NUMA_NO_PREFERRED_NODE,
	};

	return alloc(&rq);
}

DWORD mt_vm_alloc_owned(void *obj, DWORD owner, void *addr, size_t size, DWORD type,
                        DWORD protect, void **out)
{
	struct alloc_req rq = {
		.addr = (uintptr_t)addr, .size = size, .type = type, .protect = protect,
		.node = NUMA_NO_PREFERRED_NODE, .owner = owner, .owner_obj = obj,
	};

	return do_alloc(&rq, out);
}

/* VirtualAlloc2 takes NULL for the calling process. */
static DWORD self_only(HANDLE process)
{
	return process ? mt_process_require_self(process, PROCESS_VM_OPERATION) : 0;
}

LPVOID WINAPI VirtualAllocExNuma(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize,
                                 DWORD flAllocationType, DWORD flProtect, DWORD nndPreferred)
{
	struct alloc_req rq = {
		.addr = (uintptr_t)lpAddress, .size = dwSize, .type = flAllocationType,
		.protect = flProtect, .node = nndPreferred,
	};
	DWORD err = hProcess ? self_only(hProcess) : ERROR_INVALID_HANDLE;

	if (err)
		return mt_fail_null(err);
	if (nndPreferred != NUMA_NO_PREFERRED_NODE && nndPreferred >= mt_os_node_count())
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	return alloc(&rq);
}

LPVOID WINAPI VirtualAllocEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize,
                             DWORD flAllocationType, DWORD flProtect)
{
	return VirtualAllocExNuma(hProcess, lpAddress, dwSize, flAllocationType, flProtect,
	                          NUMA_NO_PREFERRED_NODE);
}

PVOID WINAPI VirtualAllocFromApp(PVOID BaseAddress, SIZE_T Size, ULONG AllocationType,
                                 ULONG Protection)
{
	return VirtualAlloc(BaseAddress, Size, AllocationType, Protection);
}

static DWORD decode_requirements(const MEM_ADDRESS_REQUIREMENTS *req, struct alloc_req *rq)
{
	uintptr_t lo = (uintptr_t)req->LowestStartingAddress;
	uintptr_t hi = (uintptr_t)req->HighestEndingAddress;
	size_t align = req->Alignment;

	if (rq->addr)
		return ERROR_INVALID_PARAMETER;
	if (lo % mt_os.granularity || (hi && (hi + 1) % mt_os.granularity))
		return ERROR_INVALID_PARAMETER;
	if (align && (align & (align - 1) || align < mt_os.granularity))
		return ERROR_INVALID_PARAMETER;
	if (hi && (hi < lo || hi >= mt_os.max_address))
		return ERROR_INVALID_PARAMETER;
	rq->lowest = lo;
	rq->highest = hi;
	rq->align = align;
	return 0;
}

static DWORD decode_params(MEM_EXTENDED_PARAMETER *params, ULONG count, struct alloc_req *rq)
{
	unsigned seen = 0;
	DWORD err = 0;

	if (count && !params)
		return ERROR_INVALID_PARAMETER;
	for (ULONG i = 0; i < count && !err; i++) {
		unsigned type = (unsigned)params[i].Type;

		if (type >= 32 || (seen & (1u << type)))
			return ERROR_INVALID_PARAMETER;
		seen |= 1u << type;
		switch (type) {
		case MemExtendedParameterAddressRequirements:
			if (!params[i].Pointer)
				return ERROR_INVALID_PARAMETER;
			err = decode_requirements(params[i].Pointer, rq);
			break;
		case MemExtendedParameterNumaNode:
			if (params[i].ULong != NUMA_NO_PREFERRED_NODE &&
			    params[i].ULong >= mt_os_node_count())
				return ERROR_INVALID_PARAMETER;
			rq->node = params[i].ULong;
			break;
		case MemExtendedParameterAttributeFlags:
			/* Non-paged, large or huge page attributes: no Linux equivalent
			 * we could honour exactly. */
			if (params[i].ULong64)
				return ERROR_NOT_SUPPORTED;
			break;
		case MemExtendedParameterPartitionHandle:
		case MemExtendedParameterUserPhysicalHandle:
		case MemExtendedParameterImageMachine:
			return ERROR_NOT_SUPPORTED;
		default:
			return ERROR_INVALID_PARAMETER;
		}
	}
	return err;
}

PVOID WINAPI VirtualAlloc2(HANDLE Process, PVOID BaseAddress, SIZE_T Size,
                           ULONG AllocationType, ULONG PageProtection,
                           MEM_EXTENDED_PARAMETER *ExtendedParameters, ULONG ParameterCount)
{
	struct alloc_req rq = {
		.addr = (uintptr_t)BaseAddress, .size = Size, .type = AllocationType,
		.protect = PageProtection, .node = NUMA_NO_PREFERRED_NODE, .ex = true,
	};
	DWORD err = self_only(Process);

	if (!err)
		err = decode_params(ExtendedParameters, ParameterCount, &rq);
	if (err)
		return mt_fail_null(err);
	return alloc(&rq);
}

PVOID WINAPI VirtualAlloc2FromApp(HANDLE Process, PVOID BaseAddress, SIZE_T Size,
                                  ULONG AllocationType, ULONG PageProtection,
                                  MEM_EXTENDED_PARAMETER *ExtendedParameters,
                                  ULONG ParameterCount)
{
	return VirtualAlloc2(Process, BaseAddress, Size, AllocationType, PageProtection,
	                     ExtendedParameters, ParameterCount);
}
