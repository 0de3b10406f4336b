/* psapi.h - libmemapi: process status API subset: the name of the file backing
 * a mapped address (GetMappedFileName). */
#ifndef MEMAPI_PSAPI_H
#define MEMAPI_PSAPI_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return the number of characters copied to lpFilename, or 0 on failure. */
MEMAPI_EXPORT DWORD WINAPI GetMappedFileNameA(HANDLE hProcess, LPVOID lpv,
                                              LPSTR lpFilename, DWORD nSize);
MEMAPI_EXPORT DWORD WINAPI GetMappedFileNameW(HANDLE hProcess, LPVOID lpv,
                                              LPWSTR lpFilename, DWORD nSize);

#ifdef UNICODE
#define GetMappedFileName   GetMappedFileNameW
#else
#define GetMappedFileName   GetMappedFileNameA
#endif

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_PSAPI_H */
