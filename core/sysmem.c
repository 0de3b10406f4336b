/* System memory information: GlobalMemoryStatusEx, GlobalMemoryStatus,
 * GetPhysicallyInstalledSystemMemory, GetLargePageMinimum and the file
 * cache size. Physical memory is what the process can have: the machine's,
 * lowered to the memory limit of its cgroup, as a program in a container
 * expects. */
#include "internal.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t room_in(uint64_t max, uint64_t used)
{
	return max > used ? max - used : 0;
}

/* The commit limit and what is left of it: with strict overcommit the
 * kernel's own figures, else RAM and swap (what can be backed at all). */
static void page_file(const struct mt_meminfo *m, const struct mt_cgroup_mem *c,
                      uint64_t *total, uint64_t *avail)
{
	if (mt_os_overcommit_mode() == 2) {
		*total = m->commit_limit;
		*avail = room_in(m->commit_limit, m->committed);
	} else {
		*total = m->total + m->swap_total;
		*avail = m->available + m->swap_free;
	}
	if (c->max != UINT64_MAX) {
		uint64_t swap = c->swap_max == UINT64_MAX ? m->swap_total : c->swap_max;

		*total = min_u64(*total, c->max + min_u64(swap, m->swap_total));
		*avail = min_u64(*avail, room_in(c->max, c->current) +
		                         room_in(min_u64(swap, m->swap_total), c->swap_current));
	}
}

/* Physical memory and what is available of it, within the cgroup's limit. */
static DWORD physical(struct mt_meminfo *m, struct mt_cgroup_mem *c, uint64_t *total,
                      uint64_t *avail)
{
	int e;

	if ((e = mt_os_meminfo(m)))
		return mt_error_from_errno(e);
	mt_os_cgroup_memory(c);
	*total = min_u64(m->total, c->max);
	*avail = min_u64(min_u64(m->available, room_in(c->max, c->current)), *total);
	return 0;
}

DWORD mt_physical_memory(uint64_t *total, uint64_t *avail)
{
	struct mt_meminfo m;
	struct mt_cgroup_mem c;

	return physical(&m, &c, total, avail);
}

static DWORD memory_status(MEMORYSTATUSEX *s)
{
	struct mt_meminfo m;
	struct mt_cgroup_mem c;
	uint64_t total = 0, avail = 0, vm = mt_os_vm_size();
	DWORD err;

	if ((err = physical(&m, &c, &total, &avail)))
		return err;
	s->dwMemoryLoad = total ? (DWORD)((total - avail) * 100 / total) : 0;
	s->ullTotalPhys = total;
	s->ullAvailPhys = avail;
	page_file(&m, &c, &s->ullTotalPageFile, &s->ullAvailPageFile);
	/* The user address range GetSystemInfo reports, less what is mapped. */
	s->ullTotalVirtual = mt_os.max_address - mt_os.granularity - mt_os.min_address;
	s->ullAvailVirtual = room_in(s->ullTotalVirtual, vm);
	s->ullAvailExtendedVirtual = 0;
	return 0;
}

BOOL WINAPI GlobalMemoryStatusEx(LPMEMORYSTATUSEX lpBuffer)
{
	MEMORYSTATUSEX s = { .dwLength = sizeof s };
	DWORD err;

	mt_init();
	if (!lpBuffer)
		return mt_fail(ERROR_NOACCESS);
	if (lpBuffer->dwLength != sizeof *lpBuffer)
		return mt_fail(ERROR_INVALID_PARAMETER);
	if ((err = memory_status(&s)))
		return mt_fail(err);
	*lpBuffer = s;
	return TRUE;
}

/* SIZE_T is 64-bit here, so nothing overflows; a value that did would be
 * reported as (SIZE_T)-1, as documented for GlobalMemoryStatus. */
static SIZE_T clamp(DWORDLONG v)
{
	return v > SIZE_MAX ? (SIZE_T)-1 : (SIZE_T)v;
}

VOID WINAPI GlobalMemoryStatus(LPMEMORYSTATUS lpBuffer)
{
	MEMORYSTATUSEX s = { .dwLength = sizeof s };

	mt_init();
	if (!lpBuffer || memory_status(&s))
		return;             /* no way to report: the buffer stays as it is */
	lpBuffer->dwLength = sizeof *lpBuffer;
	lpBuffer->dwMemoryLoad = s.dwMemoryLoad;
	lpBuffer->dwTotalPhys = clamp(s.ullTotalPhys);
	lpBuffer->dwAvailPhys = clamp(s.ullAvailPhys);
	lpBuffer->dwTotalPageFile = clamp(s.ullTotalPageFile);
	lpBuffer->dwAvailPageFile = clamp(s.ullAvailPageFile);
	lpBuffer->dwTotalVirtual = clamp(s.ullTotalVirtual);
	lpBuffer->dwAvailVirtual = clamp(s.ullAvailVirtual);
}

/* From the SMBIOS memory devices, as Windows does; where the table cannot
 * be read (it is root's only) or lists no device (virtual machines often
 * do not), the memory blocks the kernel brought online, else MemTotal. */
BOOL WINAPI GetPhysicallyInstalledSystemMemory(PULONGLONG TotalMemoryInKilobytes)
{
	struct mt_meminfo m;
	uint64_t kib, blocks;
	int e;

	mt_init();
	if (!TotalMemoryInKilobytes)
		return mt_fail(ERROR_INVALID_PARAMETER);
	if ((e = mt_os_smbios_memory(&kib)) == EINVAL)
		return mt_fail(ERROR_INVALID_DATA);
	if (e) {
		if ((blocks = mt_os_memory_blocks()))
			kib = blocks / 1024;
		else if (!(e = mt_os_meminfo(&m)))
			kib = m.total / 1024;
		else
			return mt_fail(mt_error_from_errno(e));
	}
	*TotalMemoryInKilobytes = kib;
	return TRUE;
}

SIZE_T WINAPI GetLargePageMinimum(VOID)
{
	mt_init();
	return mt_os.huge_page_size;
}

/* ---- the file cache ----
 * Linux has no system-wide size limits for its page cache: it takes what
 * memory is free, and within a cgroup it is charged to the group, whose
 * memory.max bounds it hard and whose memory.min protects it. Those are
 * the limits reported. */

BOOL WINAPI GetSystemFileCacheSize(PSIZE_T lpMinimumFileCacheSize,
                                   PSIZE_T lpMaximumFileCacheSize, PDWORD lpFlags)
{
	struct mt_meminfo m;
	struct mt_cgroup_mem c;
	int e;

	mt_init();
	if (!lpMinimumFileCacheSize || !lpMaximumFileCacheSize || !lpFlags)
		return mt_fail(ERROR_NOACCESS);
	if ((e = mt_os_meminfo(&m)))
		return mt_fail(mt_error_from_errno(e));
	mt_os_cgroup_memory(&c);
	*lpMinimumFileCacheSize = c.min;
	*lpMaximumFileCacheSize = min_u64(m.total, c.max);
	*lpFlags = (c.max != UINT64_MAX ? FILE_CACHE_MAX_HARD_ENABLE : FILE_CACHE_MAX_HARD_DISABLE) |
	           (c.min ? FILE_CACHE_MIN_HARD_ENABLE : FILE_CACHE_MIN_HARD_DISABLE);
	return TRUE;
}

#define CACHE_FLAGS (FILE_CACHE_MAX_HARD_ENABLE | FILE_CACHE_MAX_HARD_DISABLE | \
                     FILE_CACHE_MIN_HARD_ENABLE | FILE_CACHE_MIN_HARD_DISABLE)

static DWORD check_cache_request(SIZE_T min, SIZE_T max, DWORD flags)
{
	if ((flags & ~(DWORD)CACHE_FLAGS) ||
	    (flags & FILE_CACHE_MAX_HARD_ENABLE && flags & FILE_CACHE_MAX_HARD_DISABLE) ||
	    (flags & FILE_CACHE_MIN_HARD_ENABLE && flags & FILE_CACHE_MIN_HARD_DISABLE))
		return ERROR_INVALID_PARAMETER;
	if (min == (SIZE_T)-1 && max == (SIZE_T)-1)
		return 0;                                /* the flush request */
	if ((min == 0) != (max == 0) || min > max)
		return ERROR_INVALID_PARAMETER;
	return 0;
}

/* The privilege Windows asks for (SE_INCREASE_QUOTA_NAME) is held by a
 * process with CAP_SYS_ADMIN, which Linux asks for to drop the cache. Only
 * the flush can be done: sizes would be limits of the whole cgroup, not of
 * its cache, and are refused. */
BOOL WINAPI SetSystemFileCacheSize(SIZE_T MinimumFileCacheSize, SIZE_T MaximumFileCacheSize,
                                   DWORD Flags)
{
	DWORD err = check_cache_request(MinimumFileCacheSize, MaximumFileCacheSize, Flags);
	int e;

	mt_init();
	if (err)
		return mt_fail(err);
	if (!mt_os_capable(CAP_SYS_ADMIN))
		return mt_fail(ERROR_PRIVILEGE_NOT_HELD);
	if (MinimumFileCacheSize != (SIZE_T)-1 || MaximumFileCacheSize != (SIZE_T)-1)
		return mt_fail(ERROR_NOT_SUPPORTED);
	if ((e = mt_os_drop_page_cache()))
		return mt_fail(e == EROFS ? ERROR_ACCESS_DENIED : mt_error_from_errno(e));
	return TRUE;
}
