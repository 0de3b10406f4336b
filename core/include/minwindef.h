/* minwindef.h - libmemapi: basic Windows scalar types, handle types, calling-
 * convention and export macros (MEMAPI_EXPORT), and word/byte helper macros. */
#ifndef MEMAPI_MINWINDEF_H
#define MEMAPI_MINWINDEF_H

#include "basetsd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- symbol export ------------------------------------------------------ */
/* Every libmemapi function declaration carries this attribute so that the
 * library can be built with -fvisibility=hidden and still export its API. */
#ifndef MEMAPI_EXPORT
#define MEMAPI_EXPORT __attribute__((visibility("default")))
#endif

/* ---- calling conventions: all empty, the native SysV ABI is used -------- */
#define WINAPI
#define WINAPIV
#define APIENTRY
#define APIPRIVATE
#define CALLBACK
#define NTAPI
#define PASCAL
#define CDECL
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif

/* SDK-style declaration decorations. */
#define WINBASEAPI          MEMAPI_EXPORT
#define NTSYSAPI            MEMAPI_EXPORT
#define DECLSPEC_IMPORT
#define DECLSPEC_ALIGN(x)   __attribute__((aligned(x)))
#define DECLSPEC_NORETURN   __attribute__((noreturn))
#define DECLSPEC_NOINLINE   __attribute__((noinline))

/* ---- classic keyword-like macros ---------------------------------------- */
#ifndef VOID
#define VOID void
#endif
#ifndef CONST
#define CONST const
#endif
#define FAR
#define NEAR
#ifndef IN
#define IN
#endif
#ifndef OUT
#define OUT
#endif
#ifndef OPTIONAL
#define OPTIONAL
#endif

#ifndef FALSE
#define FALSE 0
#endif
#ifndef TRUE
#define TRUE 1
#endif

#define MAX_PATH 260

/* ---- scalar types (LLP64: long-named types stay 32 bits) ---------------- */
typedef uint8_t         BYTE;
typedef uint16_t        WORD;
typedef uint32_t        DWORD;
typedef int32_t         BOOL;
typedef uint8_t         BOOLEAN;
typedef float           FLOAT;
typedef int16_t         SHORT;
typedef uint16_t        USHORT;
typedef uint8_t         UCHAR;
typedef int32_t         INT;
typedef uint32_t        UINT;
typedef int32_t         LONG;
typedef uint32_t        ULONG;
typedef int64_t         LONGLONG;
typedef uint64_t        ULONGLONG;
typedef uint64_t        DWORDLONG;

/* ---- pointer aliases ---------------------------------------------------- */
typedef BYTE           *PBYTE,      *LPBYTE;
typedef WORD           *PWORD,      *LPWORD;
typedef DWORD          *PDWORD,     *LPDWORD;
typedef BOOL           *PBOOL,      *LPBOOL;
typedef BOOLEAN        *PBOOLEAN;
typedef FLOAT          *PFLOAT;
typedef SHORT          *PSHORT;
typedef USHORT         *PUSHORT;
typedef UCHAR          *PUCHAR;
typedef INT            *PINT,       *LPINT;
typedef UINT           *PUINT,      *LPUINT;
typedef LONG           *PLONG,      *LPLONG;
typedef ULONG          *PULONG;
typedef LONGLONG       *PLONGLONG;
typedef ULONGLONG      *PULONGLONG;
typedef DWORDLONG      *PDWORDLONG;
typedef void           *PVOID,      *LPVOID;
typedef const void     *LPCVOID;
typedef void           *PVOID64;

/* ---- handles ------------------------------------------------------------ */
typedef void           *HANDLE;
typedef HANDLE         *PHANDLE,    *LPHANDLE;

/* STRICT (the SDK default) gives distinct pointer types to the typed handles. */
#if !defined(NO_STRICT) && !defined(STRICT)
#define STRICT 1
#endif
#ifdef STRICT
#define DECLARE_HANDLE(name) struct name##__ { int unused; }; typedef struct name##__ *name
#else
#define DECLARE_HANDLE(name) typedef HANDLE name
#endif

DECLARE_HANDLE(HINSTANCE);
DECLARE_HANDLE(HWND);
typedef HINSTANCE       HMODULE;
typedef HANDLE          HGLOBAL;
typedef HANDLE          HLOCAL;

/* ---- message-style parameter types and procedure pointers --------------- */
typedef UINT_PTR        WPARAM;
typedef LONG_PTR        LPARAM;
typedef LONG_PTR        LRESULT;

/* Generic procedure address (declared with a prototype so that the headers
 * stay clean under -Wstrict-prototypes; cast to the real type before use). */
typedef INT_PTR (WINAPI *FARPROC)(void);
typedef INT_PTR (WINAPI *NEARPROC)(void);
typedef INT_PTR (WINAPI *PROC)(void);

/* ---- word / byte helpers ------------------------------------------------ */
#define LOBYTE(w)       ((BYTE)(((DWORD_PTR)(w)) & 0xFF))
#define HIBYTE(w)       ((BYTE)((((DWORD_PTR)(w)) >> 8) & 0xFF))
#define LOWORD(l)       ((WORD)(((DWORD_PTR)(l)) & 0xFFFF))
#define HIWORD(l)       ((WORD)((((DWORD_PTR)(l)) >> 16) & 0xFFFF))
#define MAKEWORD(lo, hi) \
    ((WORD)((DWORD)LOBYTE(lo) | ((DWORD)LOBYTE(hi) << 8)))
#define MAKELONG(lo, hi) \
    ((LONG)((DWORD)LOWORD(lo) | ((DWORD)LOWORD(hi) << 16)))

/* ---- size checks -------------------------------------------------------- */
MEMAPI_STATIC_ASSERT(sizeof(BYTE) == 1, "BYTE must be 1 byte");
MEMAPI_STATIC_ASSERT(sizeof(WORD) == 2, "WORD must be 2 bytes");
MEMAPI_STATIC_ASSERT(sizeof(DWORD) == 4, "DWORD must be 4 bytes");
MEMAPI_STATIC_ASSERT(sizeof(BOOL) == 4, "BOOL must be 4 bytes");
MEMAPI_STATIC_ASSERT(sizeof(LONG) == 4, "LONG must be 4 bytes (LLP64)");
MEMAPI_STATIC_ASSERT(sizeof(ULONG) == 4, "ULONG must be 4 bytes (LLP64)");
MEMAPI_STATIC_ASSERT(sizeof(LONGLONG) == 8, "LONGLONG must be 8 bytes");

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_MINWINDEF_H */
