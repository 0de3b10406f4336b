/* synchapi.h - libmemapi: waiting on handles (WaitForSingleObject,
 * WaitForMultipleObjects) and the INFINITE / WAIT_* values. */
#ifndef MEMAPI_SYNCHAPI_H
#define MEMAPI_SYNCHAPI_H

#include "winnt.h"
#include "winerror.h"   /* WAIT_TIMEOUT */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- timeouts and wait results (SDK: winbase.h / minwinbase.h) ---------- */
#define INFINITE                0xFFFFFFFFu
#define WAIT_OBJECT_0           ((STATUS_WAIT_0) + 0)
#define WAIT_ABANDONED          ((STATUS_ABANDONED_WAIT_0) + 0)
#define WAIT_ABANDONED_0        ((STATUS_ABANDONED_WAIT_0) + 0)
#define WAIT_IO_COMPLETION      STATUS_USER_APC
#define WAIT_FAILED             ((DWORD)0xFFFFFFFF)

MEMAPI_EXPORT DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
MEMAPI_EXPORT DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles,
                                                  BOOL bWaitAll, DWORD dwMilliseconds);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_SYNCHAPI_H */
