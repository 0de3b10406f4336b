/* winerror.h - libmemapi: Win32 error codes (GetLastError values), WAIT_TIMEOUT,
 * and HRESULT codes and helpers (S_OK, E_*, SUCCEEDED, HRESULT_FROM_WIN32). */
#ifndef MEMAPI_WINERROR_H
#define MEMAPI_WINERROR_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Windows spells these with an L suffix (32-bit long); on LP64 Linux a plain
 * int literal has the same width and signedness, so no suffix is used. */

/* ---- general -------------------------------------------------------------- */
#define ERROR_SUCCESS                       0
#define NO_ERROR                            0
#define ERROR_INVALID_FUNCTION              1
#define ERROR_FILE_NOT_FOUND                2
#define ERROR_PATH_NOT_FOUND                3
#define ERROR_TOO_MANY_OPEN_FILES           4
#define ERROR_ACCESS_DENIED                 5
#define ERROR_INVALID_HANDLE                6
#define ERROR_NOT_ENOUGH_MEMORY             8
#define ERROR_INVALID_BLOCK                 9
#define ERROR_BAD_ENVIRONMENT               10
#define ERROR_BAD_FORMAT                    11
#define ERROR_INVALID_ACCESS                12
#define ERROR_INVALID_DATA                  13
#define ERROR_OUTOFMEMORY                   14
#define ERROR_WRITE_PROTECT                 19
#define ERROR_NOT_READY                     21
#define ERROR_BAD_LENGTH                    24
#define ERROR_GEN_FAILURE                   31
#define ERROR_SHARING_VIOLATION             32
#define ERROR_LOCK_VIOLATION                33
#define ERROR_HANDLE_EOF                    38
#define ERROR_HANDLE_DISK_FULL              39
#define ERROR_NOT_SUPPORTED                 50
#define ERROR_UNEXP_NET_ERR                 59
#define ERROR_FILE_EXISTS                   80
#define ERROR_INVALID_PARAMETER             87
#define ERROR_BROKEN_PIPE                   109
#define ERROR_DISK_FULL                     112
#define ERROR_CALL_NOT_IMPLEMENTED          120
#define ERROR_SEM_TIMEOUT                   121
#define ERROR_INSUFFICIENT_BUFFER           122
#define ERROR_INVALID_NAME                  123
#define ERROR_MOD_NOT_FOUND                 126
#define ERROR_PROC_NOT_FOUND                127
#define ERROR_NEGATIVE_SEEK                 131
#define ERROR_DISCARDED                     157
#define ERROR_NOT_LOCKED                    158
#define ERROR_BAD_ARGUMENTS                 160
#define ERROR_BAD_PATHNAME                  161
#define ERROR_BUSY                          170
#define ERROR_ALREADY_EXISTS                183
#define ERROR_INVALID_EXE_SIGNATURE         191
#define ERROR_EXE_MARKED_INVALID            192
#define ERROR_BAD_EXE_FORMAT                193
#define ERROR_ENVVAR_NOT_FOUND              203
#define ERROR_FILENAME_EXCED_RANGE          206
#define ERROR_MORE_DATA                     234
#define ERROR_NO_MORE_ITEMS                 259
#define ERROR_DIRECTORY                     267
#define ERROR_NOT_OWNER                     288
#define ERROR_PARTIAL_COPY                  299
#define ERROR_INVALID_LOCK_RANGE            307
#define ERROR_OFFSET_ALIGNMENT_VIOLATION    327
#define ERROR_ENCLAVE_FAILURE               349
#define ERROR_INVALID_ADDRESS               487
#define ERROR_ARITHMETIC_OVERFLOW           534
#define ERROR_NOT_CAPABLE                   775
#define ERROR_ENCLAVE_NOT_TERMINATED        814
#define ERROR_ENCLAVE_VIOLATION             815
#define ERROR_OPERATION_ABORTED             995
#define ERROR_IO_PENDING                    997
#define ERROR_NOACCESS                      998
#define ERROR_INVALID_FLAGS                 1004
#define ERROR_UNRECOGNIZED_VOLUME           1005
#define ERROR_FILE_INVALID                  1006
#define ERROR_NO_UNICODE_TRANSLATION        1113
#define ERROR_IO_DEVICE                     1117
#define ERROR_DLL_INIT_FAILED               1114
#define ERROR_MAPPED_ALIGNMENT              1132
#define ERROR_NOT_FOUND                     1168
#define ERROR_USER_MAPPED_FILE              1224
#define ERROR_ALREADY_INITIALIZED           1247
#define ERROR_NO_SUCH_PRIVILEGE             1313
#define ERROR_PRIVILEGE_NOT_HELD            1314
#define ERROR_INVALID_INDEX                 1413
#define ERROR_NO_SYSTEM_RESOURCES           1450
#define ERROR_NONPAGED_SYSTEM_RESOURCES     1451
#define ERROR_PAGED_SYSTEM_RESOURCES        1452
#define ERROR_WORKING_SET_QUOTA             1453
#define ERROR_PAGEFILE_QUOTA                1454
#define ERROR_COMMITMENT_LIMIT              1455
#define ERROR_TIMEOUT                       1460
#define ERROR_INCORRECT_SIZE                1462
#define ERROR_INVALID_USER_BUFFER           1784
#define ERROR_NOT_ENOUGH_QUOTA              1816
#define ERROR_INVALID_OPERATION             4317
#define ERROR_INVALID_STATE                 5023

/* ---- wait result (also a Win32 error code) ------------------------------ */
#define WAIT_TIMEOUT                        258

/* ========================================================================
 * HRESULT
 * ===================================================================== */
#define SEVERITY_SUCCESS    0
#define SEVERITY_ERROR      1

#define FACILITY_NULL       0
#define FACILITY_RPC        1
#define FACILITY_DISPATCH   2
#define FACILITY_STORAGE    3
#define FACILITY_ITF        4
#define FACILITY_WIN32      7
#define FACILITY_WINDOWS    8
#define FACILITY_NT_BIT     0x10000000

#define SUCCEEDED(hr)           (((HRESULT)(hr)) >= 0)
#define FAILED(hr)              (((HRESULT)(hr)) < 0)
#define IS_ERROR(status)        ((((DWORD)(status)) >> 31) == SEVERITY_ERROR)

#define HRESULT_CODE(hr)        ((hr) & 0xFFFF)
#define HRESULT_FACILITY(hr)    (((hr) >> 16) & 0x1FFF)
#define HRESULT_SEVERITY(hr)    (((hr) >> 31) & 0x1)

#define MAKE_HRESULT(sev, fac, code) \
    ((HRESULT)(((DWORD)(sev) << 31) | ((DWORD)(fac) << 16) | ((DWORD)(code))))

#define HRESULT_FROM_NT(x)      ((HRESULT)((DWORD)(x) | FACILITY_NT_BIT))

/* Map a Win32 error code into the FACILITY_WIN32 HRESULT space.  Zero and
 * values that already look like failure HRESULTs pass through unchanged. */
static inline HRESULT HRESULT_FROM_WIN32(DWORD x)
{
    if ((HRESULT)x <= 0)
        return (HRESULT)x;
    return (HRESULT)((x & 0x0000FFFFu) | ((DWORD)FACILITY_WIN32 << 16) | 0x80000000u);
}

#define S_OK                ((HRESULT)0x00000000)
#define S_FALSE             ((HRESULT)0x00000001)
#define E_NOTIMPL           ((HRESULT)0x80004001)
#define E_NOINTERFACE       ((HRESULT)0x80004002)
#define E_POINTER           ((HRESULT)0x80004003)
#define E_ABORT             ((HRESULT)0x80004004)
#define E_FAIL              ((HRESULT)0x80004005)
#define E_UNEXPECTED        ((HRESULT)0x8000FFFF)
#define E_ACCESSDENIED      ((HRESULT)0x80070005)
#define E_HANDLE            ((HRESULT)0x80070006)
#define E_OUTOFMEMORY       ((HRESULT)0x8007000E)
#define E_INVALIDARG        ((HRESULT)0x80070057)

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_WINERROR_H */
