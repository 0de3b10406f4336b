/* heapapi.h - libmemapi: private heaps (HeapCreate/HeapAlloc family), heap
 * walking (PROCESS_HEAP_ENTRY) and heap information/summary. */
#ifndef MEMAPI_HEAPAPI_H
#define MEMAPI_HEAPAPI_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * Types
 * ===================================================================== */
typedef struct _HEAP_SUMMARY {
    DWORD  cb;
    SIZE_T cbAllocated;
    SIZE_T cbCommitted;
    SIZE_T cbReserved;
    SIZE_T cbMaxReserve;
} HEAP_SUMMARY, *PHEAP_SUMMARY;
typedef PHEAP_SUMMARY LPHEAP_SUMMARY;

/* ---- HeapWalk entries (SDK: minwinbase.h) ------------------------------- */
#define PROCESS_HEAP_REGION             0x0001
#define PROCESS_HEAP_UNCOMMITTED_RANGE  0x0002
#define PROCESS_HEAP_ENTRY_BUSY         0x0004
#define PROCESS_HEAP_SEG_ALLOC          0x0008
#define PROCESS_HEAP_ENTRY_MOVEABLE     0x0010
#define PROCESS_HEAP_ENTRY_DDESHARE     0x0020

typedef struct _PROCESS_HEAP_ENTRY {
    PVOID lpData;
    DWORD cbData;
    BYTE  cbOverhead;
    BYTE  iRegionIndex;
    WORD  wFlags;
    __extension__ union {
        struct {                    /* PROCESS_HEAP_ENTRY_MOVEABLE blocks */
            HANDLE hMem;
            DWORD  dwReserved[3];
        } Block;
        struct {                    /* PROCESS_HEAP_REGION entries */
            DWORD  dwCommittedSize;
            DWORD  dwUnCommittedSize;
            LPVOID lpFirstBlock;
            LPVOID lpLastBlock;
        } Region;
    };
} PROCESS_HEAP_ENTRY, *LPPROCESS_HEAP_ENTRY, *PPROCESS_HEAP_ENTRY;

MEMAPI_STATIC_ASSERT(sizeof(PROCESS_HEAP_ENTRY) == 40, "PROCESS_HEAP_ENTRY must be 40 bytes");

/* ========================================================================
 * Heap lifetime
 * ===================================================================== */
MEMAPI_EXPORT HANDLE WINAPI GetProcessHeap(VOID);
MEMAPI_EXPORT DWORD  WINAPI GetProcessHeaps(DWORD NumberOfHeaps, PHANDLE ProcessHeaps);
MEMAPI_EXPORT HANDLE WINAPI HeapCreate(DWORD flOptions, SIZE_T dwInitialSize,
                                       SIZE_T dwMaximumSize);
MEMAPI_EXPORT BOOL   WINAPI HeapDestroy(HANDLE hHeap);

/* ========================================================================
 * Blocks
 * ===================================================================== */
MEMAPI_EXPORT LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes);
MEMAPI_EXPORT LPVOID WINAPI HeapReAlloc(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem,
                                        SIZE_T dwBytes);
MEMAPI_EXPORT BOOL   WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem);
MEMAPI_EXPORT SIZE_T WINAPI HeapSize(HANDLE hHeap, DWORD dwFlags, LPCVOID lpMem);
MEMAPI_EXPORT BOOL   WINAPI HeapValidate(HANDLE hHeap, DWORD dwFlags, LPCVOID lpMem);

/* ========================================================================
 * Maintenance, locking, enumeration, information
 * ===================================================================== */
MEMAPI_EXPORT SIZE_T WINAPI HeapCompact(HANDLE hHeap, DWORD dwFlags);
MEMAPI_EXPORT BOOL   WINAPI HeapLock(HANDLE hHeap);
MEMAPI_EXPORT BOOL   WINAPI HeapUnlock(HANDLE hHeap);
MEMAPI_EXPORT BOOL   WINAPI HeapWalk(HANDLE hHeap, LPPROCESS_HEAP_ENTRY lpEntry);
MEMAPI_EXPORT BOOL   WINAPI HeapQueryInformation(HANDLE HeapHandle,
                                                 HEAP_INFORMATION_CLASS HeapInformationClass,
                                                 PVOID HeapInformation,
                                                 SIZE_T HeapInformationLength,
                                                 PSIZE_T ReturnLength);
MEMAPI_EXPORT BOOL   WINAPI HeapSetInformation(HANDLE HeapHandle,
                                               HEAP_INFORMATION_CLASS HeapInformationClass,
                                               PVOID HeapInformation,
                                               SIZE_T HeapInformationLength);
MEMAPI_EXPORT BOOL   WINAPI HeapSummary(HANDLE hHeap, DWORD dwFlags, LPHEAP_SUMMARY lpSummary);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_HEAPAPI_H */
