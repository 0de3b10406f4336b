/* basetsd.h - libmemapi: sized and pointer-sized integer types of the Windows
 * x64 (LLP64) data model, expressed with <stdint.h> types. */
#ifndef MEMAPI_BASETSD_H
#define MEMAPI_BASETSD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- compile-time checks usable from C11 and C++ ------------------------ */
#ifdef __cplusplus
#define MEMAPI_STATIC_ASSERT(expr, msg) static_assert(expr, msg)
#else
#define MEMAPI_STATIC_ASSERT(expr, msg) _Static_assert(expr, msg)
#endif

/* ---- explicitly sized integers ------------------------------------------ */
typedef int8_t      INT8,    *PINT8;
typedef int16_t     INT16,   *PINT16;
typedef int32_t     INT32,   *PINT32;
typedef int64_t     INT64,   *PINT64;
typedef uint8_t     UINT8,   *PUINT8;
typedef uint16_t    UINT16,  *PUINT16;
typedef uint32_t    UINT32,  *PUINT32;
typedef uint64_t    UINT64,  *PUINT64;

typedef int32_t     LONG32,  *PLONG32;
typedef uint32_t    ULONG32, *PULONG32;
typedef uint32_t    DWORD32, *PDWORD32;
typedef int64_t     LONG64,  *PLONG64;
typedef uint64_t    ULONG64, *PULONG64;
typedef uint64_t    DWORD64, *PDWORD64;

/* ---- pointer-sized integers (64-bit on x64) ----------------------------- */
typedef intptr_t    INT_PTR,   *PINT_PTR;
typedef uintptr_t   UINT_PTR,  *PUINT_PTR;
typedef intptr_t    LONG_PTR,  *PLONG_PTR;
typedef uintptr_t   ULONG_PTR, *PULONG_PTR;
typedef ULONG_PTR   DWORD_PTR, *PDWORD_PTR;
typedef ULONG_PTR   SIZE_T,    *PSIZE_T;
typedef LONG_PTR    SSIZE_T,   *PSSIZE_T;
typedef ULONG_PTR   KAFFINITY, *PKAFFINITY;
typedef int32_t     HALF_PTR,  *PHALF_PTR;
typedef uint32_t    UHALF_PTR, *PUHALF_PTR;

/* ---- limits ------------------------------------------------------------- */
#define MAXUINT8        ((UINT8)0xFF)
#define MAXINT8         ((INT8)0x7F)
#define MININT8         ((INT8)(-MAXINT8 - 1))
#define MAXUINT16       ((UINT16)0xFFFF)
#define MAXINT16        ((INT16)0x7FFF)
#define MININT16        ((INT16)(-MAXINT16 - 1))
#define MAXUINT32       ((UINT32)0xFFFFFFFFu)
#define MAXINT32        ((INT32)0x7FFFFFFF)
#define MININT32        ((INT32)(-MAXINT32 - 1))
#define MAXUINT64       ((UINT64)0xFFFFFFFFFFFFFFFFull)
#define MAXINT64        ((INT64)0x7FFFFFFFFFFFFFFFll)
#define MININT64        ((INT64)(-MAXINT64 - 1))
#define MAXULONG32      ((ULONG32)MAXUINT32)
#define MAXLONG32       ((LONG32)MAXINT32)
#define MINLONG32       ((LONG32)MININT32)
#define MAXULONG64      ((ULONG64)MAXUINT64)
#define MAXLONG64       ((LONG64)MAXINT64)
#define MINLONG64       ((LONG64)MININT64)
#define MAXDWORD32      ((DWORD32)MAXUINT32)
#define MAXDWORD64      ((DWORD64)MAXUINT64)
#define MAXUINT_PTR     (~((UINT_PTR)0))
#define MAXINT_PTR      ((INT_PTR)(MAXUINT_PTR >> 1))
#define MININT_PTR      (~MAXINT_PTR)
#define MAXULONG_PTR    (~((ULONG_PTR)0))
#define MAXLONG_PTR     ((LONG_PTR)(MAXULONG_PTR >> 1))
#define MINLONG_PTR     (~MAXLONG_PTR)
#define MAXSIZE_T       ((SIZE_T)~((SIZE_T)0))
#define MAXSSIZE_T      ((SSIZE_T)(MAXSIZE_T >> 1))
#define MINSSIZE_T      ((SSIZE_T)~MAXSSIZE_T)

/* ---- data-model checks -------------------------------------------------- */
MEMAPI_STATIC_ASSERT(sizeof(void *) == 8, "libmemapi targets a 64-bit (x64) data model");
MEMAPI_STATIC_ASSERT(sizeof(SIZE_T) == 8, "SIZE_T must be 8 bytes");
MEMAPI_STATIC_ASSERT(sizeof(ULONG_PTR) == sizeof(void *), "ULONG_PTR must be pointer-sized");
MEMAPI_STATIC_ASSERT(sizeof(LONG_PTR) == sizeof(void *), "LONG_PTR must be pointer-sized");

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_BASETSD_H */
