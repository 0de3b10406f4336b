/* winbase.h - libmemapi: Global/Local memory, ANSI file-mapping variants,
 * IsBad*Ptr, DEP policy, secure memory cache callbacks; pulls in the api sets. */
#ifndef MEMAPI_WINBASE_H
#define MEMAPI_WINBASE_H

#include "winnt.h"
#include "winerror.h"
#include "errhandlingapi.h"
#include "handleapi.h"
#include "synchapi.h"
#include "processthreadsapi.h"
#include "fileapi.h"
#include "sysinfoapi.h"
#include "memoryapi.h"
#include "heapapi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * Global and Local memory
 * ===================================================================== */
#define GMEM_FIXED          0x0000
#define GMEM_MOVEABLE       0x0002
#define GMEM_NOCOMPACT      0x0010
#define GMEM_NODISCARD      0x0020
#define GMEM_ZEROINIT       0x0040
#define GMEM_MODIFY         0x0080
#define GMEM_DISCARDABLE    0x0100
#define GMEM_NOT_BANKED     0x1000
#define GMEM_SHARE          0x2000
#define GMEM_DDESHARE       0x2000
#define GMEM_NOTIFY         0x4000
#define GMEM_LOWER          GMEM_NOT_BANKED
#define GMEM_VALID_FLAGS    0x7F72
#define GMEM_INVALID_HANDLE 0x8000
#define GHND                (GMEM_MOVEABLE | GMEM_ZEROINIT)
#define GPTR                (GMEM_FIXED | GMEM_ZEROINIT)
/* GlobalFlags results */
#define GMEM_DISCARDED      0x4000
#define GMEM_LOCKCOUNT      0x00FF

#define LMEM_FIXED          0x0000
#define LMEM_MOVEABLE       0x0002
#define LMEM_NOCOMPACT      0x0010
#define LMEM_NODISCARD      0x0020
#define LMEM_ZEROINIT       0x0040
#define LMEM_MODIFY         0x0080
#define LMEM_DISCARDABLE    0x0F00
#define LMEM_VALID_FLAGS    0x0F72
#define LMEM_INVALID_HANDLE 0x8000
#define LHND                (LMEM_MOVEABLE | LMEM_ZEROINIT)
#define LPTR                (LMEM_FIXED | LMEM_ZEROINIT)
#define NONZEROLHND         (LMEM_MOVEABLE)
#define NONZEROLPTR         (LMEM_FIXED)
/* LocalFlags results */
#define LMEM_DISCARDED      0x4000
#define LMEM_LOCKCOUNT      0x00FF

MEMAPI_EXPORT HGLOBAL WINAPI GlobalAlloc(UINT uFlags, SIZE_T dwBytes);
MEMAPI_EXPORT HGLOBAL WINAPI GlobalReAlloc(HGLOBAL hMem, SIZE_T dwBytes, UINT uFlags);
MEMAPI_EXPORT SIZE_T  WINAPI GlobalSize(HGLOBAL hMem);
MEMAPI_EXPORT UINT    WINAPI GlobalFlags(HGLOBAL hMem);
MEMAPI_EXPORT LPVOID  WINAPI GlobalLock(HGLOBAL hMem);
MEMAPI_EXPORT BOOL    WINAPI GlobalUnlock(HGLOBAL hMem);
MEMAPI_EXPORT HGLOBAL WINAPI GlobalHandle(LPCVOID pMem);
MEMAPI_EXPORT HGLOBAL WINAPI GlobalFree(HGLOBAL hMem);
#define GlobalDiscard(h)    GlobalReAlloc((h), 0, GMEM_MOVEABLE)

MEMAPI_EXPORT HLOCAL  WINAPI LocalAlloc(UINT uFlags, SIZE_T uBytes);
MEMAPI_EXPORT HLOCAL  WINAPI LocalReAlloc(HLOCAL hMem, SIZE_T uBytes, UINT uFlags);
MEMAPI_EXPORT SIZE_T  WINAPI LocalSize(HLOCAL hMem);
MEMAPI_EXPORT UINT    WINAPI LocalFlags(HLOCAL hMem);
MEMAPI_EXPORT LPVOID  WINAPI LocalLock(HLOCAL hMem);
MEMAPI_EXPORT BOOL    WINAPI LocalUnlock(HLOCAL hMem);
MEMAPI_EXPORT HLOCAL  WINAPI LocalHandle(LPCVOID pMem);
MEMAPI_EXPORT HLOCAL  WINAPI LocalFree(HLOCAL hMem);
#define LocalDiscard(h)     LocalReAlloc((h), 0, LMEM_MOVEABLE)

/* ========================================================================
 * Legacy global memory status (use GlobalMemoryStatusEx instead)
 * ===================================================================== */
typedef struct _MEMORYSTATUS {
    DWORD  dwLength;
    DWORD  dwMemoryLoad;
    SIZE_T dwTotalPhys;
    SIZE_T dwAvailPhys;
    SIZE_T dwTotalPageFile;
    SIZE_T dwAvailPageFile;
    SIZE_T dwTotalVirtual;
    SIZE_T dwAvailVirtual;
} MEMORYSTATUS, *LPMEMORYSTATUS;

MEMAPI_STATIC_ASSERT(sizeof(MEMORYSTATUS) == 56, "MEMORYSTATUS must be 56 bytes");

MEMAPI_EXPORT VOID WINAPI GlobalMemoryStatus(LPMEMORYSTATUS lpBuffer);

/* ========================================================================
 * ANSI file-mapping variants and NUMA views
 * ===================================================================== */
MEMAPI_EXPORT HANDLE WINAPI CreateFileMappingA(HANDLE hFile,
                                               LPSECURITY_ATTRIBUTES lpFileMappingAttributes,
                                               DWORD flProtect, DWORD dwMaximumSizeHigh,
                                               DWORD dwMaximumSizeLow, LPCSTR lpName);
MEMAPI_EXPORT HANDLE WINAPI CreateFileMappingNumaA(HANDLE hFile,
                                                   LPSECURITY_ATTRIBUTES lpFileMappingAttributes,
                                                   DWORD flProtect, DWORD dwMaximumSizeHigh,
                                                   DWORD dwMaximumSizeLow, LPCSTR lpName,
                                                   DWORD nndPreferred);
MEMAPI_EXPORT HANDLE WINAPI OpenFileMappingA(DWORD dwDesiredAccess, BOOL bInheritHandle,
                                             LPCSTR lpName);
MEMAPI_EXPORT LPVOID WINAPI MapViewOfFileExNuma(HANDLE hFileMappingObject,
                                                DWORD dwDesiredAccess,
                                                DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow,
                                                SIZE_T dwNumberOfBytesToMap,
                                                LPVOID lpBaseAddress, DWORD nndPreferred);
MEMAPI_EXPORT BOOL   WINAPI MapUserPhysicalPagesScatter(PVOID *VirtualAddresses,
                                                        ULONG_PTR NumberOfPages,
                                                        PULONG_PTR PageArray);

#ifdef UNICODE
#define CreateFileMapping       CreateFileMappingW
#define CreateFileMappingNuma   CreateFileMappingNumaW
#define OpenFileMapping         OpenFileMappingW
#else
#define CreateFileMapping       CreateFileMappingA
#define CreateFileMappingNuma   CreateFileMappingNumaA
#define OpenFileMapping         OpenFileMappingA
#endif

/* ========================================================================
 * Pointer validation (obsolete in Windows, provided for compatibility)
 * ===================================================================== */
MEMAPI_EXPORT BOOL WINAPI IsBadReadPtr(const VOID *lp, UINT_PTR ucb);
MEMAPI_EXPORT BOOL WINAPI IsBadWritePtr(LPVOID lp, UINT_PTR ucb);
MEMAPI_EXPORT BOOL WINAPI IsBadCodePtr(FARPROC lpfn);
MEMAPI_EXPORT BOOL WINAPI IsBadStringPtrA(LPCSTR lpsz, UINT_PTR ucchMax);
MEMAPI_EXPORT BOOL WINAPI IsBadStringPtrW(LPCWSTR lpsz, UINT_PTR ucchMax);

#ifdef UNICODE
#define IsBadStringPtr  IsBadStringPtrW
#else
#define IsBadStringPtr  IsBadStringPtrA
#endif

/* ========================================================================
 * Data Execution Prevention
 * ===================================================================== */
#define PROCESS_DEP_ENABLE                          0x00000001
#define PROCESS_DEP_DISABLE_ATL_THUNK_EMULATION     0x00000002

typedef enum _DEP_SYSTEM_POLICY_TYPE {
    DEPPolicyAlwaysOff = 0,
    DEPPolicyAlwaysOn,
    DEPPolicyOptIn,
    DEPPolicyOptOut,
    DEPTotalPolicyCount
} DEP_SYSTEM_POLICY_TYPE;

MEMAPI_EXPORT DEP_SYSTEM_POLICY_TYPE WINAPI GetSystemDEPPolicy(VOID);
MEMAPI_EXPORT BOOL WINAPI GetProcessDEPPolicy(HANDLE hProcess, LPDWORD lpFlags,
                                              PBOOL lpPermanent);
MEMAPI_EXPORT BOOL WINAPI SetProcessDEPPolicy(DWORD dwFlags);

/* ========================================================================
 * Secure memory cache callbacks
 * ===================================================================== */
typedef BOOLEAN (CALLBACK *PSECURE_MEMORY_CACHE_CALLBACK)(PVOID Addr, SIZE_T Range);

MEMAPI_EXPORT BOOL WINAPI AddSecureMemoryCacheCallback(PSECURE_MEMORY_CACHE_CALLBACK pfnCallBack);
MEMAPI_EXPORT BOOL WINAPI RemoveSecureMemoryCacheCallback(PSECURE_MEMORY_CACHE_CALLBACK pfnCallBack);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_WINBASE_H */
