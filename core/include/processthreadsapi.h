/* processthreadsapi.h - libmemapi: current process/thread identity and
 * OpenProcess. */
#ifndef MEMAPI_PROCESSTHREADSAPI_H
#define MEMAPI_PROCESSTHREADSAPI_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the pseudo-handle for the calling process (no need to close it). */
MEMAPI_EXPORT HANDLE WINAPI GetCurrentProcess(VOID);
MEMAPI_EXPORT DWORD  WINAPI GetCurrentProcessId(VOID);
MEMAPI_EXPORT DWORD  WINAPI GetCurrentThreadId(VOID);
MEMAPI_EXPORT HANDLE WINAPI OpenProcess(DWORD dwDesiredAccess, BOOL bInheritHandle,
                                        DWORD dwProcessId);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_PROCESSTHREADSAPI_H */
