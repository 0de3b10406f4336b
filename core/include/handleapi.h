/* handleapi.h - libmemapi: handle management (CloseHandle) and
 * INVALID_HANDLE_VALUE. */
#ifndef MEMAPI_HANDLEAPI_H
#define MEMAPI_HANDLEAPI_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define INVALID_HANDLE_VALUE    ((HANDLE)(LONG_PTR)-1)

MEMAPI_EXPORT BOOL WINAPI CloseHandle(HANDLE hObject);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_HANDLEAPI_H */
