/* Walking and printing VirtualQuery regions of a process, shared by maps,
 * query and demo. */
#include <windows.h>
#include "memtool.h"
#include "region.h"

#include <string.h>
#include <unistd.h>

void mt_region_text_header(void)
{
	printf("%-18s %-18s %12s  %-11s %-28s %-28s %s\n", "BASE", "ALLOCATION_BASE", "SIZE",
	       "STATE", "PROTECT", "ALLOCATION_PROTECT", "TYPE");
}

void mt_region_print(const MEMORY_BASIC_INFORMATION *m, bool json, bool first)
{
	char prot[160], aprot[160];

	mt_protect_name(m->Protect, prot, sizeof prot);
	mt_protect_name(m->AllocationProtect, aprot, sizeof aprot);
	if (json) {
		printf("%s\n    {\"base\": \"%p\", \"allocation_base\": \"%p\", \"size\": %zu, "
		       "\"state\": \"%s\", \"protect\": \"%s\", \"allocation_protect\": \"%s\", "
		       "\"type\": \"%s\"}", first ? "" : ",", m->BaseAddress,
		       m->AllocationBase ? m->AllocationBase : (void *)0,
		       (size_t)m->RegionSize, mt_state_name(m->State), prot, aprot,
		       mt_type_name(m->Type));
		return;
	}
	printf("%-18p %-18p %12zu  %-11s %-28s %-28s %s\n", m->BaseAddress,
	       m->AllocationBase, (size_t)m->RegionSize, mt_state_name(m->State), prot, aprot,
	       mt_type_name(m->Type));
}

void mt_target_json(DWORD pid)
{
	char exe[4096] = "", path[64];
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%u/exe", pid);
	n = readlink(path, exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	printf("  \"target\": {\"kind\": \"%s\", \"pid\": %u, \"executable\": \"",
	       pid == GetCurrentProcessId() ? "self" : "pid", pid);
	for (const char *p = exe; *p; p++) {       /* JSON string escaping */
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	printf("\"}");
}

/* VirtualQueryEx from 0 to the top of the user address space; free
 * regions are skipped unless all is set. */
int mt_walk_regions(HANDLE process, bool all, bool (*fn)(const MEMORY_BASIC_INFORMATION *, void *),
                    void *ctx)
{
	MEMORY_BASIC_INFORMATION m;
	SYSTEM_INFO si;
	uintptr_t a = 0, top;

	GetSystemInfo(&si);
	top = (uintptr_t)si.lpMaximumApplicationAddress;
	while (a <= top) {
		if (!VirtualQueryEx(process, (LPCVOID)a, &m, sizeof m))
			return GetLastError() == ERROR_INVALID_PARAMETER && a > 0 ? 0 : -1;
		if ((all || m.State != MEM_FREE) && !fn(&m, ctx))
			return 0;
		if ((uintptr_t)m.BaseAddress + m.RegionSize <= a)
			return -1;      /* no progress: never loop forever */
		a = (uintptr_t)m.BaseAddress + m.RegionSize;
	}
	return 0;
}
