/* sysinfoapi.h - libmemapi: system information (SYSTEM_INFO, page size and
 * allocation granularity) and global memory status (MEMORYSTATUSEX). */
#ifndef MEMAPI_SYSINFOAPI_H
#define MEMAPI_SYSINFOAPI_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _SYSTEM_INFO {
    __extension__ union {
        DWORD dwOemId;                      /* obsolete */
        __extension__ struct {
            WORD wProcessorArchitecture;    /* PROCESSOR_ARCHITECTURE_* */
            WORD wReserved;
        };
    };
    DWORD     dwPageSize;
    LPVOID    lpMinimumApplicationAddress;
    LPVOID    lpMaximumApplicationAddress;
    DWORD_PTR dwActiveProcessorMask;
    DWORD     dwNumberOfProcessors;
    DWORD     dwProcessorType;              /* PROCESSOR_* (obsolete) */
    DWORD     dwAllocationGranularity;
    WORD      wProcessorLevel;
    WORD      wProcessorRevision;
} SYSTEM_INFO, *LPSYSTEM_INFO;

typedef struct _MEMORYSTATUSEX {
    DWORD     dwLength;                     /* set to sizeof(MEMORYSTATUSEX) */
    DWORD     dwMemoryLoad;
    DWORDLONG ullTotalPhys;
    DWORDLONG ullAvailPhys;
    DWORDLONG ullTotalPageFile;
    DWORDLONG ullAvailPageFile;
    DWORDLONG ullTotalVirtual;
    DWORDLONG ullAvailVirtual;
    DWORDLONG ullAvailExtendedVirtual;
} MEMORYSTATUSEX, *LPMEMORYSTATUSEX;

MEMAPI_STATIC_ASSERT(sizeof(SYSTEM_INFO) == 48, "SYSTEM_INFO must be 48 bytes");
MEMAPI_STATIC_ASSERT(offsetof(SYSTEM_INFO, dwPageSize) == 4, "SYSTEM_INFO.dwPageSize offset");
MEMAPI_STATIC_ASSERT(sizeof(MEMORYSTATUSEX) == 64, "MEMORYSTATUSEX must be 64 bytes");

MEMAPI_EXPORT VOID WINAPI GetSystemInfo(LPSYSTEM_INFO lpSystemInfo);
MEMAPI_EXPORT VOID WINAPI GetNativeSystemInfo(LPSYSTEM_INFO lpSystemInfo);
MEMAPI_EXPORT BOOL WINAPI GlobalMemoryStatusEx(LPMEMORYSTATUSEX lpBuffer);
/* Reports kilobytes. */
MEMAPI_EXPORT BOOL WINAPI GetPhysicallyInstalledSystemMemory(PULONGLONG TotalMemoryInKilobytes);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_SYSINFOAPI_H */
