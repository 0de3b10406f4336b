/* VirtualQuery, VirtualQueryEx and QueryVirtualMemoryInformation: from the
 * library's own table for its allocations, from the kernel's map elsewhere. */
#include "../internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The kernel's view of one Windows-style allocation: the VMAs of one
 * mapped file that touch each other, or one anonymous VMA. */
struct kview {
	uintptr_t base, end;          /* the allocation                            */
	DWORD     type;               /* MEM_IMAGE, MEM_MAPPED, MEM_PRIVATE        */
	DWORD     alloc_protect;
	uint64_t  committed;          /* bytes of mappings with any access         */
	bool      physical;           /* own MEM_PHYSICAL reservation              */
};

static bool same_file(const struct mt_vma *a, const struct mt_vma *b)
{
	return a->inode && a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor;
}

static bool is_reserved_vma(const struct mt_vma *v)
{
	/* PROT_NONE private anonymous memory is address space held back
	 * (thread stack guards, malloc arenas): Windows' reserved state. */
	return !(v->flags & (MT_VMA_READ | MT_VMA_WRITE | MT_VMA_EXEC)) && !v->inode &&
	       !(v->flags & MT_VMA_SHARED);
}

static DWORD vma_type(const struct mt_vma *v)
{
	if (!strcmp(v->name, "[vdso]"))
		return MEM_IMAGE;
	if (v->inode || (v->flags & MT_VMA_SHARED) || !strncmp(v->name, "[vvar", 5))
		return MEM_MAPPED;
	return MEM_PRIVATE;
}

/* Widens a file VMA to its neighbours of the same file; an executable one
 * among them makes the group an image. Bounded: ELF objects have few. */
static void group_of(struct mt_maps *m, const struct mt_vma *v, struct kview *k)
{
	struct mt_vma cur = *v, n;
	bool exec = v->flags & MT_VMA_EXEC;

	k->base = v->start;
	k->end = v->end;
	k->physical = false;            /* callers' kview may be uninitialised */
	k->committed = is_reserved_vma(v) ? 0 : v->end - v->start;
	k->alloc_protect = mt_protect_from_vma(v);
	k->type = vma_type(v);
	if (!v->inode)
		return;
	for (int i = 0; i < 16 && k->base > 0; i++) {
		if (mt_maps_find(m, k->base - 1, &n) || n.end != k->base || !same_file(&n, v))
			break;
		k->base = n.start;
		k->alloc_protect = mt_protect_from_vma(&n);
		k->committed += n.end - n.start;
		exec |= n.flags & MT_VMA_EXEC;
	}
	for (int i = 0; i < 16; i++) {
		if (mt_maps_find(m, k->end, &n) || n.start != k->end || !same_file(&n, &cur))
			break;
		k->end = n.end;
		k->committed += n.end - n.start;
		exec |= n.flags & MT_VMA_EXEC;
		cur = n;
	}
	if (exec) {
		k->type = MEM_IMAGE;
		k->alloc_protect = PAGE_EXECUTE_WRITECOPY;
	}
}

static void fill_free(MEMORY_BASIC_INFORMATION *mbi, uintptr_t page, uintptr_t end)
{
	memset(mbi, 0, sizeof *mbi);
	mbi->BaseAddress = (PVOID)page;
	mbi->RegionSize = end - page;
	mbi->State = MEM_FREE;
	mbi->Protect = PAGE_NOACCESS;
}

/* The calling process's map comes from the reader the OS layer keeps open
 * (mt_maps_self_get: PROCMAP_QUERY asks the kernel afresh each time);
 * another process's is opened for the query. */
static int maps_open(pid_t pid, struct mt_maps **m, bool *kept)
{
	*kept = false;
	return pid ? mt_maps_open(pid, m) : mt_maps_self_get(m, kept);
}

static void maps_close(struct mt_maps *m, bool kept)
{
	if (kept)
		mt_maps_self_put(m, true);
	else
		mt_maps_close(m);
}

/* clip: where the library's next allocation starts (free space ends). */
static DWORD query_kernel(pid_t pid, uintptr_t addr, uintptr_t clip,
                          MEMORY_BASIC_INFORMATION *mbi, struct kview *k)
{
	uintptr_t page = mt_page_down(addr);
	struct mt_maps *m;
	struct mt_vma v;
	bool kept;
	int e = maps_open(pid, &m, &kept);

	if (e)
		return e == ENOENT || e == ESRCH ? ERROR_INVALID_PARAMETER : ERROR_ACCESS_DENIED;
	e = mt_maps_find(m, page, &v);
	if (e || v.start > page) {
		/* Free space ends at the next mapping or at the top of the range
		 * GetSystemInfo reports ([vsyscall] lies beyond it). */
		uintptr_t top = mt_os.max_address - mt_os.granularity;
		uintptr_t end = e || v.start > top ? top : v.start;

		fill_free(mbi, page, end < clip ? end : clip);
		if (k)
			k->type = 0;
		maps_close(m, kept);
		return e && e != ENOENT ? mt_error_from_errno(e) : 0;
	}
	struct kview g;

	group_of(m, &v, &g);
	maps_close(m, kept);
	memset(mbi, 0, sizeof *mbi);
	mbi->BaseAddress = (PVOID)page;
	mbi->AllocationBase = (PVOID)g.base;
	mbi->AllocationProtect = g.alloc_protect;
	mbi->RegionSize = v.end - page;
	mbi->State = is_reserved_vma(&v) ? MEM_RESERVE : MEM_COMMIT;
	mbi->Protect = mbi->State == MEM_COMMIT ? mt_protect_from_vma(&v) : 0;
	mbi->Type = g.type;
	if (k)
		*k = g;
	return 0;
}

DWORD mt_query_kernel(pid_t pid, uintptr_t addr, MEMORY_BASIC_INFORMATION *mbi)
{
	return query_kernel(pid, addr, UINTPTR_MAX, mbi, NULL);
}

static void fill_own(const struct mt_region *r, uintptr_t page, MEMORY_BASIC_INFORMATION *mbi)
{
	const struct memapi_rec_run *run = &r->runs[mt_run_at(r, mt_pages(page - r->rec.base))];

	memset(mbi, 0, sizeof *mbi);
	mbi->BaseAddress = (PVOID)page;
	mbi->AllocationBase = (PVOID)(uintptr_t)r->rec.base;
	mbi->AllocationProtect = r->rec.allocation_protect;
	mbi->RegionSize = r->rec.base + (run->first_page + run->page_count) * mt_os.page_size - page;
	mbi->State = run->state;
	mbi->Protect = run->protect;
	mbi->Type = r->rec.type;
}

static void own_view(const struct mt_region *r, struct kview *k)
{
	k->base = r->rec.base;
	k->end = mt_region_end(r);
	k->type = r->rec.type;
	k->alloc_protect = r->rec.allocation_protect;
	k->physical = r->rec.flags & MEMAPI_REGION_PHYSICAL;
	k->committed = 0;
	for (size_t i = 0; i < r->rec.run_count; i++)
		if (r->runs[i].state == MEM_COMMIT)
			k->committed += r->runs[i].page_count * mt_os.page_size;
}

/* Own table first; the kernel only for what the library does not own.
 * Answers are built in locals and stored after the lock is dropped: the
 * caller's buffer may sit in fallback-watched or guarded memory, and a
 * fault there must not find this thread holding the lock. */
static DWORD query_self(uintptr_t addr, MEMORY_BASIC_INFORMATION *out, struct kview *kout)
{
	uintptr_t page = mt_page_down(addr), clip;
	MEMORY_BASIC_INFORMATION mbi;
	struct kview k = { 0 };
	struct mt_region *r, *next;
	DWORD err = 0;

	mt_vm_lock();
	r = mt_vm_find_span(page);
	if (r && page < mt_region_end(r)) {
		fill_own(r, page, &mbi);
		own_view(r, &k);
		mt_vm_unlock();
	} else if (r) {                 /* the unusable rest of a 64 KiB unit */
		fill_free(&mbi, page, r->rec.base + r->span);
		mt_vm_unlock();
	} else {
		next = mt_vm_next(page);
		clip = next ? next->rec.base : UINTPTR_MAX;
		mt_vm_unlock();
		err = query_kernel(0, addr, clip, &mbi, &k);
	}
	if (!err) {
		*out = mbi;
		if (kout)
			*kout = k;
	}
	return err;
}

DWORD mt_query_self(uintptr_t addr, MEMORY_BASIC_INFORMATION *mbi)
{
	return query_self(addr, mbi, NULL);
}

/* VirtualQuery of the calling process (pid 0) or of another one. */
static SIZE_T query(pid_t pid, LPCVOID addr, PMEMORY_BASIC_INFORMATION mbi, SIZE_T len)
{
	DWORD err;

	if (len < sizeof *mbi)
		return mt_fail(ERROR_BAD_LENGTH);
	if (!mbi)
		return mt_fail(ERROR_NOACCESS);
	/* Above lpMaximumApplicationAddress, as on Windows. */
	if ((uintptr_t)addr >= mt_os.max_address - mt_os.granularity)
		return mt_fail(ERROR_INVALID_PARAMETER);
	err = pid ? mt_query_kernel(pid, (uintptr_t)addr, mbi) : mt_query_self((uintptr_t)addr, mbi);
	if (err)
		return mt_fail(err);
	return sizeof *mbi;
}

SIZE_T WINAPI VirtualQuery(LPCVOID lpAddress, PMEMORY_BASIC_INFORMATION lpBuffer, SIZE_T dwLength)
{
	mt_init();
	return query(0, lpAddress, lpBuffer, dwLength);
}

SIZE_T WINAPI VirtualQueryEx(HANDLE hProcess, LPCVOID lpAddress,
                             PMEMORY_BASIC_INFORMATION lpBuffer, SIZE_T dwLength)
{
	bool self;
	pid_t pid;
	DWORD err;

	mt_init();
	if ((err = mt_process_resolve(hProcess, PROCESS_QUERY_INFORMATION, &self, &pid)))
		return mt_fail(err);
	return query(self ? 0 : pid, lpAddress, lpBuffer, dwLength);
}

static void region_info_flags(WIN32_MEMORY_REGION_INFORMATION *info, DWORD type, bool shared_anon)
{
	info->Flags = 0;
	if (type == MEM_PRIVATE)
		info->Private = 1;
	else if (type == MEM_IMAGE)
		info->MappedImage = 1;
	else if (shared_anon)
		info->MappedPageFile = 1;
	else
		info->MappedDataFile = 1;
}

static DWORD region_info(HANDLE process, uintptr_t addr, WIN32_MEMORY_REGION_INFORMATION *info)
{
	MEMORY_BASIC_INFORMATION mbi;
	struct kview k = { 0 };
	bool self;
	pid_t pid;
	DWORD err;

	if ((err = mt_process_resolve(process, PROCESS_QUERY_INFORMATION, &self, &pid)))
		return err;
	err = self ? query_self(addr, &mbi, &k) : query_kernel(pid, addr, UINTPTR_MAX, &mbi, &k);
	if (err)
		return err;
	if (mbi.State == MEM_FREE)
		return ERROR_INVALID_ADDRESS;
	memset(info, 0, sizeof *info);
	info->AllocationBase = mbi.AllocationBase;
	info->AllocationProtect = mbi.AllocationProtect;
	info->RegionSize = k.end - k.base;
	info->CommitSize = k.committed;
	if (k.physical)
		info->MappedPhysical = 1;
	else
		region_info_flags(info, k.type, false);
	return 0;
}

BOOL WINAPI QueryVirtualMemoryInformation(HANDLE Process, const VOID *VirtualAddress,
                                          WIN32_MEMORY_INFORMATION_CLASS MemoryInformationClass,
                                          PVOID MemoryInformation, SIZE_T MemoryInformationSize,
                                          PSIZE_T ReturnSize)
{
	DWORD err;

	mt_init();
	if (MemoryInformationClass != MemoryRegionInfo)
		return mt_fail(ERROR_INVALID_PARAMETER);
	if (MemoryInformationSize < sizeof(WIN32_MEMORY_REGION_INFORMATION))
		return mt_fail(ERROR_BAD_LENGTH);
	if (!MemoryInformation)
		return mt_fail(ERROR_NOACCESS);
	if ((uintptr_t)VirtualAddress >= mt_os.max_address - mt_os.granularity)
		return mt_fail(ERROR_INVALID_PARAMETER);
	err = region_info(Process, (uintptr_t)VirtualAddress, MemoryInformation);
	if (err)
		return mt_fail(err);
	if (ReturnSize)
		*ReturnSize = sizeof(WIN32_MEMORY_REGION_INFORMATION);
	return TRUE;
}
