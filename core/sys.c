/* GetSystemInfo and GetNativeSystemInfo: Windows x64 values for the things
 * Windows fixes (granularity, address range), the machine's for the rest. */
#include "internal.h"

#include <cpuid.h>
#include <sched.h>
#include <string.h>

static void cpu_level(WORD *level, WORD *revision)
{
	unsigned a = 0, b, c, d, family, model;

	*level = 0;
	*revision = 0;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	family = (a >> 8) & 0xf;
	model = (a >> 4) & 0xf;
	if (family == 0xf)
		family += (a >> 20) & 0xff;
	if (family == 0x6 || family >= 0xf)
		model |= ((a >> 16) & 0xf) << 4;
	*level = (WORD)family;
	*revision = (WORD)(model << 8 | (a & 0xf));
}

static DWORD_PTR affinity_mask(void)
{
	cpu_set_t set;
	DWORD_PTR mask = 0;

	if (sched_getaffinity(0, sizeof set, &set))
		return ((DWORD_PTR)1 << mt_os.cpu_count) - 1;
	for (int i = 0; i < 64; i++)
		if (CPU_ISSET(i, &set))
			mask |= (DWORD_PTR)1 << i;
	return mask;
}

VOID WINAPI GetSystemInfo(LPSYSTEM_INFO lpSystemInfo)
{
	mt_init();
	if (!lpSystemInfo)
		return;
	memset(lpSystemInfo, 0, sizeof *lpSystemInfo);
	lpSystemInfo->wProcessorArchitecture = PROCESSOR_ARCHITECTURE_AMD64;
	lpSystemInfo->dwPageSize = (DWORD)mt_os.page_size;
	lpSystemInfo->lpMinimumApplicationAddress = (LPVOID)mt_os.min_address;
	lpSystemInfo->lpMaximumApplicationAddress =
		(LPVOID)(mt_os.max_address - mt_os.granularity - 1);
	lpSystemInfo->dwActiveProcessorMask = affinity_mask();
	lpSystemInfo->dwNumberOfProcessors = mt_os.cpu_count;
	lpSystemInfo->dwProcessorType = PROCESSOR_AMD_X8664;
	lpSystemInfo->dwAllocationGranularity = (DWORD)mt_os.granularity;
	cpu_level(&lpSystemInfo->wProcessorLevel, &lpSystemInfo->wProcessorRevision);
}

VOID WINAPI GetNativeSystemInfo(LPSYSTEM_INFO lpSystemInfo)
{
	GetSystemInfo(lpSystemInfo);
}
