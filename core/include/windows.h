/* windows.h - libmemapi umbrella header: includes every public libmemapi
 * header so that code written against <windows.h> compiles unchanged. */
#ifndef MEMAPI_WINDOWS_H
#define MEMAPI_WINDOWS_H

/* No declarations here; each included header carries its own
 * extern "C" guards for C++. */

/* Base types and constants. */
#include "basetsd.h"
#include "minwindef.h"      /* also defines MEMAPI_EXPORT */
#include "winnt.h"
#include "winerror.h"

/* API sets. */
#include "errhandlingapi.h"
#include "handleapi.h"
#include "synchapi.h"
#include "processthreadsapi.h"
#include "fileapi.h"
#include "sysinfoapi.h"
#include "memoryapi.h"
#include "heapapi.h"
#include "enclaveapi.h"

/* Classic base API, ATL thunks, process status API. */
#include "winbase.h"
#include "atlthunk.h"
#include "psapi.h"

#endif /* MEMAPI_WINDOWS_H */
