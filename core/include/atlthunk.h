/* atlthunk.h - libmemapi: ATL window-procedure thunks (AtlThunk_*), which
 * bind a first parameter to a procedure without writable+executable memory. */
#ifndef MEMAPI_ATLTHUNK_H
#define MEMAPI_ATLTHUNK_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Window procedure pointer (SDK: winuser.h). */
#ifndef MEMAPI_WNDPROC_DEFINED
#define MEMAPI_WNDPROC_DEFINED
typedef LRESULT (CALLBACK *WNDPROC)(HWND, UINT, WPARAM, LPARAM);
#endif

/* Opaque thunk object. */
typedef struct AtlThunkData_t AtlThunkData_t;

MEMAPI_EXPORT AtlThunkData_t *AtlThunk_AllocateData(void);
MEMAPI_EXPORT void            AtlThunk_InitData(AtlThunkData_t *Thunk, void *Proc,
                                                size_t FirstParameter);
MEMAPI_EXPORT WNDPROC         AtlThunk_DataToCode(AtlThunkData_t *Thunk);
MEMAPI_EXPORT void            AtlThunk_FreeData(AtlThunkData_t *Thunk);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_ATLTHUNK_H */
