/* memoryapi.h - libmemapi: virtual memory (VirtualAlloc family), file mapping
 * views, write watches, physical pages, memory-resource notifications. */
#ifndef MEMAPI_MEMORYAPI_H
#define MEMAPI_MEMORYAPI_H

#include "winnt.h"
#include "handleapi.h"  /* INVALID_HANDLE_VALUE for pagefile-backed mappings */

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * Constants
 * ===================================================================== */

/* ---- MapViewOfFile / OpenFileMapping desired access --------------------- */
#define FILE_MAP_WRITE              SECTION_MAP_WRITE
#define FILE_MAP_READ               SECTION_MAP_READ
#define FILE_MAP_ALL_ACCESS         SECTION_ALL_ACCESS
#define FILE_MAP_EXECUTE            SECTION_MAP_EXECUTE_EXPLICIT  /* not part of ALL_ACCESS */
#define FILE_MAP_COPY               0x00000001
#define FILE_MAP_RESERVE            0x80000000u
#define FILE_MAP_TARGETS_INVALID    0x40000000
#define FILE_MAP_LARGE_PAGES        0x20000000

/* ---- GetWriteWatch ------------------------------------------------------ */
#define WRITE_WATCH_FLAG_RESET      0x01

/* ---- GetMemoryErrorHandlingCapabilities --------------------------------- */
#define MEHC_PATROL_SCRUBBER_PRESENT 0x1

/* ========================================================================
 * Types
 * ===================================================================== */
typedef enum _MEMORY_RESOURCE_NOTIFICATION_TYPE {
    LowMemoryResourceNotification,
    HighMemoryResourceNotification
} MEMORY_RESOURCE_NOTIFICATION_TYPE;

/* PrefetchVirtualMemory range */
typedef struct _WIN32_MEMORY_RANGE_ENTRY {
    PVOID  VirtualAddress;
    SIZE_T NumberOfBytes;
} WIN32_MEMORY_RANGE_ENTRY, *PWIN32_MEMORY_RANGE_ENTRY;

/* OfferVirtualMemory priority */
typedef enum OFFER_PRIORITY {
    VmOfferPriorityVeryLow = 1,
    VmOfferPriorityLow,
    VmOfferPriorityBelowNormal,
    VmOfferPriorityNormal
} OFFER_PRIORITY;

/* QueryVirtualMemoryInformation */
typedef enum WIN32_MEMORY_INFORMATION_CLASS {
    MemoryRegionInfo
} WIN32_MEMORY_INFORMATION_CLASS;

typedef struct WIN32_MEMORY_REGION_INFORMATION {
    PVOID AllocationBase;
    ULONG AllocationProtect;
    __extension__ union {
        ULONG Flags;
        __extension__ struct {
            ULONG Private        : 1;
            ULONG MappedDataFile : 1;
            ULONG MappedImage    : 1;
            ULONG MappedPageFile : 1;
            ULONG MappedPhysical : 1;
            ULONG DirectMapped   : 1;
            ULONG Reserved       : 26;
        };
    };
    SIZE_T RegionSize;
    SIZE_T CommitSize;
} WIN32_MEMORY_REGION_INFORMATION;

MEMAPI_STATIC_ASSERT(sizeof(WIN32_MEMORY_REGION_INFORMATION) == 32,
                     "WIN32_MEMORY_REGION_INFORMATION must be 32 bytes");

/* RegisterBadMemoryNotification callback */
typedef VOID WINAPI BAD_MEMORY_CALLBACK_ROUTINE(VOID);
typedef BAD_MEMORY_CALLBACK_ROUTINE *PBAD_MEMORY_CALLBACK_ROUTINE;

/* ========================================================================
 * Reserving, committing, freeing
 * ===================================================================== */
MEMAPI_EXPORT LPVOID WINAPI VirtualAlloc(LPVOID lpAddress, SIZE_T dwSize,
                                         DWORD flAllocationType, DWORD flProtect);
MEMAPI_EXPORT LPVOID WINAPI VirtualAllocEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize,
                                           DWORD flAllocationType, DWORD flProtect);
MEMAPI_EXPORT LPVOID WINAPI VirtualAllocExNuma(HANDLE hProcess, LPVOID lpAddress,
                                               SIZE_T dwSize, DWORD flAllocationType,
                                               DWORD flProtect, DWORD nndPreferred);
MEMAPI_EXPORT PVOID  WINAPI VirtualAllocFromApp(PVOID BaseAddress, SIZE_T Size,
                                                ULONG AllocationType, ULONG Protection);
MEMAPI_EXPORT PVOID  WINAPI VirtualAlloc2(HANDLE Process, PVOID BaseAddress, SIZE_T Size,
                                          ULONG AllocationType, ULONG PageProtection,
                                          MEM_EXTENDED_PARAMETER *ExtendedParameters,
                                          ULONG ParameterCount);
MEMAPI_EXPORT PVOID  WINAPI VirtualAlloc2FromApp(HANDLE Process, PVOID BaseAddress,
                                                 SIZE_T Size, ULONG AllocationType,
                                                 ULONG PageProtection,
                                                 MEM_EXTENDED_PARAMETER *ExtendedParameters,
                                                 ULONG ParameterCount);
MEMAPI_EXPORT BOOL   WINAPI VirtualFree(LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType);
MEMAPI_EXPORT BOOL   WINAPI VirtualFreeEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize,
                                          DWORD dwFreeType);

/* ========================================================================
 * Protection, query, locking
 * ===================================================================== */
MEMAPI_EXPORT BOOL   WINAPI VirtualProtect(LPVOID lpAddress, SIZE_T dwSize,
                                           DWORD flNewProtect, PDWORD lpflOldProtect);
MEMAPI_EXPORT BOOL   WINAPI VirtualProtectEx(HANDLE hProcess, LPVOID lpAddress,
                                             SIZE_T dwSize, DWORD flNewProtect,
                                             PDWORD lpflOldProtect);
MEMAPI_EXPORT BOOL   WINAPI VirtualProtectFromApp(PVOID Address, SIZE_T Size,
                                                  ULONG NewProtection, PULONG OldProtection);
MEMAPI_EXPORT SIZE_T WINAPI VirtualQuery(LPCVOID lpAddress, PMEMORY_BASIC_INFORMATION lpBuffer,
                                         SIZE_T dwLength);
MEMAPI_EXPORT SIZE_T WINAPI VirtualQueryEx(HANDLE hProcess, LPCVOID lpAddress,
                                           PMEMORY_BASIC_INFORMATION lpBuffer,
                                           SIZE_T dwLength);
MEMAPI_EXPORT BOOL   WINAPI QueryVirtualMemoryInformation(HANDLE Process,
                                                          const VOID *VirtualAddress,
                                                          WIN32_MEMORY_INFORMATION_CLASS MemoryInformationClass,
                                                          PVOID MemoryInformation,
                                                          SIZE_T MemoryInformationSize,
                                                          PSIZE_T ReturnSize);
MEMAPI_EXPORT BOOL   WINAPI VirtualLock(LPVOID lpAddress, SIZE_T dwSize);
MEMAPI_EXPORT BOOL   WINAPI VirtualUnlock(LPVOID lpAddress, SIZE_T dwSize);
MEMAPI_EXPORT BOOL   WINAPI SetProcessValidCallTargets(HANDLE hProcess, PVOID VirtualAddress,
                                                       SIZE_T RegionSize, ULONG NumberOfOffsets,
                                                       PCFG_CALL_TARGET_INFO OffsetInformation);

/* ========================================================================
 * Working-set hints: discard / offer / reclaim / prefetch
 * ===================================================================== */
MEMAPI_EXPORT DWORD  WINAPI DiscardVirtualMemory(PVOID VirtualAddress, SIZE_T Size);
MEMAPI_EXPORT DWORD  WINAPI OfferVirtualMemory(PVOID VirtualAddress, SIZE_T Size,
                                               OFFER_PRIORITY Priority);
MEMAPI_EXPORT DWORD  WINAPI ReclaimVirtualMemory(const VOID *VirtualAddress, SIZE_T Size);
MEMAPI_EXPORT BOOL   WINAPI PrefetchVirtualMemory(HANDLE hProcess, ULONG_PTR NumberOfEntries,
                                                  PWIN32_MEMORY_RANGE_ENTRY VirtualAddresses,
                                                  ULONG Flags);

/* ========================================================================
 * Write watches
 * ===================================================================== */
MEMAPI_EXPORT UINT   WINAPI GetWriteWatch(DWORD dwFlags, PVOID lpBaseAddress,
                                          SIZE_T dwRegionSize, PVOID *lpAddresses,
                                          ULONG_PTR *lpdwCount, LPDWORD lpdwGranularity);
MEMAPI_EXPORT UINT   WINAPI ResetWriteWatch(LPVOID lpBaseAddress, SIZE_T dwRegionSize);

/* ========================================================================
 * File mapping objects (ANSI variants are in winbase.h)
 * ===================================================================== */
MEMAPI_EXPORT HANDLE WINAPI CreateFileMappingW(HANDLE hFile,
                                               LPSECURITY_ATTRIBUTES lpFileMappingAttributes,
                                               DWORD flProtect, DWORD dwMaximumSizeHigh,
                                               DWORD dwMaximumSizeLow, LPCWSTR lpName);
MEMAPI_EXPORT HANDLE WINAPI CreateFileMappingNumaW(HANDLE hFile,
                                                   LPSECURITY_ATTRIBUTES lpFileMappingAttributes,
                                                   DWORD flProtect, DWORD dwMaximumSizeHigh,
                                                   DWORD dwMaximumSizeLow, LPCWSTR lpName,
                                                   DWORD nndPreferred);
MEMAPI_EXPORT HANDLE WINAPI CreateFileMappingFromApp(HANDLE hFile,
                                                     PSECURITY_ATTRIBUTES SecurityAttributes,
                                                     ULONG PageProtection, ULONG64 MaximumSize,
                                                     PCWSTR Name);
MEMAPI_EXPORT HANDLE WINAPI CreateFileMapping2(HANDLE File, SECURITY_ATTRIBUTES *SecurityAttributes,
                                               ULONG DesiredAccess, ULONG PageProtection,
                                               ULONG AllocationAttributes, ULONG64 MaximumSize,
                                               PCWSTR Name,
                                               MEM_EXTENDED_PARAMETER *ExtendedParameters,
                                               ULONG ParameterCount);
MEMAPI_EXPORT HANDLE WINAPI OpenFileMappingW(DWORD dwDesiredAccess, BOOL bInheritHandle,
                                             LPCWSTR lpName);
MEMAPI_EXPORT HANDLE WINAPI OpenFileMappingFromApp(ULONG DesiredAccess, BOOL InheritHandle,
                                                   PCWSTR Name);

#ifdef UNICODE
#define CreateFileMapping       CreateFileMappingW
#define CreateFileMappingNuma   CreateFileMappingNumaW
#define OpenFileMapping         OpenFileMappingW
#endif

/* ========================================================================
 * Mapped views
 * ===================================================================== */
MEMAPI_EXPORT LPVOID WINAPI MapViewOfFile(HANDLE hFileMappingObject, DWORD dwDesiredAccess,
                                          DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow,
                                          SIZE_T dwNumberOfBytesToMap);
MEMAPI_EXPORT LPVOID WINAPI MapViewOfFileEx(HANDLE hFileMappingObject, DWORD dwDesiredAccess,
                                            DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow,
                                            SIZE_T dwNumberOfBytesToMap, LPVOID lpBaseAddress);
MEMAPI_EXPORT PVOID  WINAPI MapViewOfFileFromApp(HANDLE hFileMappingObject, ULONG DesiredAccess,
                                                 ULONG64 FileOffset, SIZE_T NumberOfBytesToMap);
MEMAPI_EXPORT PVOID  WINAPI MapViewOfFileNuma2(HANDLE FileMappingHandle, HANDLE ProcessHandle,
                                               ULONG64 Offset, PVOID BaseAddress,
                                               SIZE_T ViewSize, ULONG AllocationType,
                                               ULONG PageProtection, ULONG PreferredNode);
MEMAPI_EXPORT PVOID  WINAPI MapViewOfFile3(HANDLE FileMapping, HANDLE Process,
                                           PVOID BaseAddress, ULONG64 Offset, SIZE_T ViewSize,
                                           ULONG AllocationType, ULONG PageProtection,
                                           MEM_EXTENDED_PARAMETER *ExtendedParameters,
                                           ULONG ParameterCount);
MEMAPI_EXPORT PVOID  WINAPI MapViewOfFile3FromApp(HANDLE FileMapping, HANDLE Process,
                                                  PVOID BaseAddress, ULONG64 Offset,
                                                  SIZE_T ViewSize, ULONG AllocationType,
                                                  ULONG PageProtection,
                                                  MEM_EXTENDED_PARAMETER *ExtendedParameters,
                                                  ULONG ParameterCount);

/* Inline in the SDK as well: MapViewOfFileNuma2 with no preferred node. */
static inline PVOID MapViewOfFile2(HANDLE FileMappingHandle, HANDLE ProcessHandle,
                                   ULONG64 Offset, PVOID BaseAddress, SIZE_T ViewSize,
                                   ULONG AllocationType, ULONG PageProtection)
{
    return MapViewOfFileNuma2(FileMappingHandle, ProcessHandle, Offset, BaseAddress,
                              ViewSize, AllocationType, PageProtection,
                              NUMA_NO_PREFERRED_NODE);
}

MEMAPI_EXPORT BOOL   WINAPI UnmapViewOfFile(LPCVOID lpBaseAddress);
MEMAPI_EXPORT BOOL   WINAPI UnmapViewOfFile2(HANDLE Process, PVOID BaseAddress,
                                             ULONG UnmapFlags);
MEMAPI_EXPORT BOOL   WINAPI UnmapViewOfFileEx(PVOID BaseAddress, ULONG UnmapFlags);
MEMAPI_EXPORT BOOL   WINAPI FlushViewOfFile(LPCVOID lpBaseAddress,
                                            SIZE_T dwNumberOfBytesToFlush);

/* ========================================================================
 * Physical pages (AWE); MapUserPhysicalPagesScatter is in winbase.h
 * ===================================================================== */
MEMAPI_EXPORT BOOL   WINAPI AllocateUserPhysicalPages(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                                      PULONG_PTR PageArray);
MEMAPI_EXPORT BOOL   WINAPI AllocateUserPhysicalPagesNuma(HANDLE hProcess,
                                                          PULONG_PTR NumberOfPages,
                                                          PULONG_PTR PageArray,
                                                          DWORD nndPreferred);
MEMAPI_EXPORT BOOL   WINAPI FreeUserPhysicalPages(HANDLE hProcess, PULONG_PTR NumberOfPages,
                                                  PULONG_PTR PageArray);
MEMAPI_EXPORT BOOL   WINAPI MapUserPhysicalPages(PVOID VirtualAddress, ULONG_PTR NumberOfPages,
                                                 PULONG_PTR PageArray);

/* ========================================================================
 * System-wide information and notifications
 * ===================================================================== */
MEMAPI_EXPORT HANDLE WINAPI CreateMemoryResourceNotification(
                                MEMORY_RESOURCE_NOTIFICATION_TYPE NotificationType);
MEMAPI_EXPORT BOOL   WINAPI QueryMemoryResourceNotification(HANDLE ResourceNotificationHandle,
                                                            PBOOL ResourceState);
MEMAPI_EXPORT SIZE_T WINAPI GetLargePageMinimum(VOID);
MEMAPI_EXPORT BOOL   WINAPI GetSystemFileCacheSize(PSIZE_T lpMinimumFileCacheSize,
                                                   PSIZE_T lpMaximumFileCacheSize,
                                                   PDWORD lpFlags);
MEMAPI_EXPORT BOOL   WINAPI SetSystemFileCacheSize(SIZE_T MinimumFileCacheSize,
                                                   SIZE_T MaximumFileCacheSize, DWORD Flags);
MEMAPI_EXPORT BOOL   WINAPI GetMemoryErrorHandlingCapabilities(PULONG Capabilities);
MEMAPI_EXPORT PVOID  WINAPI RegisterBadMemoryNotification(PBAD_MEMORY_CALLBACK_ROUTINE Callback);
MEMAPI_EXPORT BOOL   WINAPI UnregisterBadMemoryNotification(PVOID RegistrationHandle);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_MEMORYAPI_H */
