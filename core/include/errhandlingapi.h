/* errhandlingapi.h - libmemapi: thread last-error value, vectored exception
 * handlers and RaiseException. */
#ifndef MEMAPI_ERRHANDLINGAPI_H
#define MEMAPI_ERRHANDLINGAPI_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- last-error value --------------------------------------------------- */
MEMAPI_EXPORT DWORD WINAPI GetLastError(VOID);
MEMAPI_EXPORT VOID  WINAPI SetLastError(DWORD dwErrCode);

/* ---- vectored exception handling ---------------------------------------- */
/* First != 0 puts the handler at the front of the list.  Handlers return
 * EXCEPTION_CONTINUE_EXECUTION or EXCEPTION_CONTINUE_SEARCH. */
MEMAPI_EXPORT PVOID WINAPI AddVectoredExceptionHandler(ULONG First,
                                                       PVECTORED_EXCEPTION_HANDLER Handler);
MEMAPI_EXPORT ULONG WINAPI RemoveVectoredExceptionHandler(PVOID Handle);

MEMAPI_EXPORT VOID  WINAPI RaiseException(DWORD dwExceptionCode,
                                          DWORD dwExceptionFlags,
                                          DWORD nNumberOfArguments,
                                          const ULONG_PTR *lpArguments);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_ERRHANDLINGAPI_H */
