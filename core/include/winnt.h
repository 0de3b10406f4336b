/* winnt.h - libmemapi: string types, LARGE_INTEGER, access rights, page/allocation constants,
 * memory, heap, enclave and exception structures (x64 CONTEXT), Rtl*Memory functions. */
#ifndef MEMAPI_WINNT_H
#define MEMAPI_WINNT_H

#include "minwindef.h"
#ifndef __cplusplus
#include <uchar.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * Characters and strings
 * ===================================================================== */
typedef char            CHAR;
typedef char16_t        WCHAR;      /* UTF-16 code unit, never wchar_t */

typedef CHAR           *PCHAR,  *LPCH,  *PCH;
typedef const CHAR     *LPCCH,  *PCCH;
typedef CHAR           *LPSTR,  *PSTR,  *NPSTR;
typedef const CHAR     *LPCSTR, *PCSTR;
typedef WCHAR          *PWCHAR, *LPWCH, *PWCH;
typedef const WCHAR    *LPCWCH, *PCWCH;
typedef WCHAR          *LPWSTR, *PWSTR, *NWPSTR;
typedef const WCHAR    *LPCWSTR, *PCWSTR;

#ifdef UNICODE
typedef WCHAR           TCHAR, *PTCHAR;
typedef WCHAR           TBYTE, *PTBYTE;
typedef LPWSTR          LPTSTR, PTSTR;
typedef LPCWSTR         LPCTSTR, PCTSTR;
#define __TEXT(quote)   u##quote
#else
typedef CHAR            TCHAR, *PTCHAR;
typedef BYTE            TBYTE, *PTBYTE;
typedef LPSTR           LPTSTR, PTSTR;
typedef LPCSTR          LPCTSTR, PCTSTR;
#define __TEXT(quote)   quote
#endif
#define TEXT(quote)     __TEXT(quote)

MEMAPI_STATIC_ASSERT(sizeof(WCHAR) == 2, "WCHAR must be 2 bytes (UTF-16)");

/* ========================================================================
 * Status / result codes and 64-bit integer unions
 * ===================================================================== */
typedef LONG            NTSTATUS, *PNTSTATUS;
typedef LONG            HRESULT;

typedef union _LARGE_INTEGER {
    __extension__ struct {
        DWORD LowPart;
        LONG  HighPart;
    };
    struct {
        DWORD LowPart;
        LONG  HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef union _ULARGE_INTEGER {
    __extension__ struct {
        DWORD LowPart;
        DWORD HighPart;
    };
    struct {
        DWORD LowPart;
        DWORD HighPart;
    } u;
    ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;

/* ========================================================================
 * Small helpers and limits
 * ===================================================================== */
#define UNREFERENCED_PARAMETER(p)   ((void)(p))
#define ARRAYSIZE(a)                (sizeof(a) / sizeof((a)[0]))

#define MAXBYTE         0xFF
#define MAXWORD         0xFFFF
#define MAXDWORD        0xFFFFFFFFu
#define MAXCHAR         0x7F
#define MAXSHORT        0x7FFF
#define MAXLONG         0x7FFFFFFF
#define MAXLONGLONG     (0x7FFFFFFFFFFFFFFFll)

#define MAXIMUM_WAIT_OBJECTS    64

/* ========================================================================
 * Standard and generic access rights
 * ===================================================================== */
#define DELETE                      0x00010000
#define READ_CONTROL                0x00020000
#define WRITE_DAC                   0x00040000
#define WRITE_OWNER                 0x00080000
#define SYNCHRONIZE                 0x00100000

#define STANDARD_RIGHTS_REQUIRED    0x000F0000
#define STANDARD_RIGHTS_READ        READ_CONTROL
#define STANDARD_RIGHTS_WRITE       READ_CONTROL
#define STANDARD_RIGHTS_EXECUTE     READ_CONTROL
#define STANDARD_RIGHTS_ALL         0x001F0000
#define SPECIFIC_RIGHTS_ALL         0x0000FFFF

#define ACCESS_SYSTEM_SECURITY      0x01000000
#define MAXIMUM_ALLOWED             0x02000000

#define GENERIC_READ                0x80000000u
#define GENERIC_WRITE               0x40000000
#define GENERIC_EXECUTE             0x20000000
#define GENERIC_ALL                 0x10000000

/* ---- process access rights ---------------------------------------------- */
#define PROCESS_TERMINATE                   0x0001
#define PROCESS_CREATE_THREAD               0x0002
#define PROCESS_SET_SESSIONID               0x0004
#define PROCESS_VM_OPERATION                0x0008
#define PROCESS_VM_READ                     0x0010
#define PROCESS_VM_WRITE                    0x0020
#define PROCESS_DUP_HANDLE                  0x0040
#define PROCESS_CREATE_PROCESS              0x0080
#define PROCESS_SET_QUOTA                   0x0100
#define PROCESS_SET_INFORMATION             0x0200
#define PROCESS_QUERY_INFORMATION           0x0400
#define PROCESS_SUSPEND_RESUME              0x0800
#define PROCESS_QUERY_LIMITED_INFORMATION   0x1000
#define PROCESS_SET_LIMITED_INFORMATION     0x2000
#define PROCESS_ALL_ACCESS  (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF)

/* ---- section (file-mapping object) access rights ------------------------ */
#define SECTION_QUERY                   0x0001
#define SECTION_MAP_WRITE               0x0002
#define SECTION_MAP_READ                0x0004
#define SECTION_MAP_EXECUTE             0x0008
#define SECTION_EXTEND_SIZE             0x0010
#define SECTION_MAP_EXECUTE_EXPLICIT    0x0020
#define SECTION_ALL_ACCESS  (STANDARD_RIGHTS_REQUIRED | SECTION_QUERY |       \
                             SECTION_MAP_WRITE | SECTION_MAP_READ |           \
                             SECTION_MAP_EXECUTE | SECTION_EXTEND_SIZE)

/* ========================================================================
 * Page protection (flProtect / PageProtection)
 * ===================================================================== */
#define PAGE_NOACCESS                   0x00000001
#define PAGE_READONLY                   0x00000002
#define PAGE_READWRITE                  0x00000004
#define PAGE_WRITECOPY                  0x00000008
#define PAGE_EXECUTE                    0x00000010
#define PAGE_EXECUTE_READ               0x00000020
#define PAGE_EXECUTE_READWRITE          0x00000040
#define PAGE_EXECUTE_WRITECOPY          0x00000080
#define PAGE_GUARD                      0x00000100
#define PAGE_NOCACHE                    0x00000200
#define PAGE_WRITECOMBINE               0x00000400
#define PAGE_GRAPHICS_NOACCESS          0x00000800
#define PAGE_GRAPHICS_READONLY          0x00001000
#define PAGE_GRAPHICS_READWRITE         0x00002000
#define PAGE_GRAPHICS_EXECUTE           0x00004000
#define PAGE_GRAPHICS_EXECUTE_READ      0x00008000
#define PAGE_GRAPHICS_EXECUTE_READWRITE 0x00010000
#define PAGE_GRAPHICS_COHERENT          0x00020000
#define PAGE_GRAPHICS_NOCACHE           0x00040000
#define PAGE_ENCLAVE_THREAD_CONTROL     0x80000000u
#define PAGE_REVERT_TO_FILE_MAP         0x80000000u
#define PAGE_TARGETS_NO_UPDATE          0x40000000
#define PAGE_TARGETS_INVALID            0x40000000
#define PAGE_ENCLAVE_UNVALIDATED        0x20000000
#define PAGE_ENCLAVE_MASK               0x10000000
#define PAGE_ENCLAVE_DECOMMIT           (PAGE_ENCLAVE_MASK | 0)
#define PAGE_ENCLAVE_SS_FIRST           (PAGE_ENCLAVE_MASK | 1)
#define PAGE_ENCLAVE_SS_REST            (PAGE_ENCLAVE_MASK | 2)

/* ========================================================================
 * Allocation / free types, region states and region types
 * ===================================================================== */
#define MEM_COALESCE_PLACEHOLDERS       0x00000001  /* VirtualFree */
#define MEM_PRESERVE_PLACEHOLDER        0x00000002  /* VirtualFree, UnmapViewOfFile2 */
#define MEM_COMMIT                      0x00001000
#define MEM_RESERVE                     0x00002000
#define MEM_REPLACE_PLACEHOLDER         0x00004000
#define MEM_DECOMMIT                    0x00004000
#define MEM_RELEASE                     0x00008000
#define MEM_FREE                        0x00010000
#define MEM_PRIVATE                     0x00020000
#define MEM_RESERVE_PLACEHOLDER         0x00040000
#define MEM_MAPPED                      0x00040000
#define MEM_RESET                       0x00080000
#define MEM_TOP_DOWN                    0x00100000
#define MEM_WRITE_WATCH                 0x00200000
#define MEM_PHYSICAL                    0x00400000
#define MEM_ROTATE                      0x00800000
#define MEM_DIFFERENT_IMAGE_BASE_OK     0x00800000
#define MEM_RESET_UNDO                  0x01000000
#define MEM_IMAGE                       0x01000000
#define MEM_LARGE_PAGES                 0x20000000
#define MEM_4MB_PAGES                   0x80000000u
#define MEM_64K_PAGES                   (MEM_LARGE_PAGES | MEM_PHYSICAL)

/* UnmapViewOfFile2 / UnmapViewOfFileEx flags (MEM_UNMAP_NONE: metadata name for 0) */
#define MEM_UNMAP_NONE                  0x00000000
#define MEM_UNMAP_WITH_TRANSIENT_BOOST  0x00000001

/* ---- section attributes (CreateFileMapping flProtect high bits) --------- */
#define SEC_PARTITION_OWNER_HANDLE      0x00040000
#define SEC_64K_PAGES                   0x00080000
#define SEC_FILE                        0x00800000
#define SEC_IMAGE                       0x01000000
#define SEC_PROTECTED_IMAGE             0x02000000
#define SEC_RESERVE                     0x04000000
#define SEC_COMMIT                      0x08000000
#define SEC_NOCACHE                     0x10000000
#define SEC_WRITECOMBINE                0x40000000
#define SEC_LARGE_PAGES                 0x80000000u
#define SEC_IMAGE_NO_EXECUTE            (SEC_IMAGE | SEC_NOCACHE)

/* ---- system file cache limits (Get/SetSystemFileCacheSize) -------------- */
#define FILE_CACHE_MAX_HARD_ENABLE      0x00000001
#define FILE_CACHE_MAX_HARD_DISABLE     0x00000002
#define FILE_CACHE_MIN_HARD_ENABLE      0x00000004
#define FILE_CACHE_MIN_HARD_DISABLE     0x00000008

/* ========================================================================
 * MEMORY_BASIC_INFORMATION (VirtualQuery)
 * ===================================================================== */
typedef struct _MEMORY_BASIC_INFORMATION {
    PVOID   BaseAddress;
    PVOID   AllocationBase;
    DWORD   AllocationProtect;
    WORD    PartitionId;
    SIZE_T  RegionSize;
    DWORD   State;
    DWORD   Protect;
    DWORD   Type;
} MEMORY_BASIC_INFORMATION, *PMEMORY_BASIC_INFORMATION;

typedef struct _MEMORY_BASIC_INFORMATION32 {
    DWORD   BaseAddress;
    DWORD   AllocationBase;
    DWORD   AllocationProtect;
    DWORD   RegionSize;
    DWORD   State;
    DWORD   Protect;
    DWORD   Type;
} MEMORY_BASIC_INFORMATION32, *PMEMORY_BASIC_INFORMATION32;

typedef struct DECLSPEC_ALIGN(16) _MEMORY_BASIC_INFORMATION64 {
    ULONGLONG BaseAddress;
    ULONGLONG AllocationBase;
    DWORD     AllocationProtect;
    DWORD     __alignment1;
    ULONGLONG RegionSize;
    DWORD     State;
    DWORD     Protect;
    DWORD     Type;
    DWORD     __alignment2;
} MEMORY_BASIC_INFORMATION64, *PMEMORY_BASIC_INFORMATION64;

MEMAPI_STATIC_ASSERT(sizeof(MEMORY_BASIC_INFORMATION) == 48, "MEMORY_BASIC_INFORMATION must be 48 bytes");
MEMAPI_STATIC_ASSERT(offsetof(MEMORY_BASIC_INFORMATION, RegionSize) == 24, "MEMORY_BASIC_INFORMATION.RegionSize offset");
MEMAPI_STATIC_ASSERT(offsetof(MEMORY_BASIC_INFORMATION, State) == 32, "MEMORY_BASIC_INFORMATION.State offset");
MEMAPI_STATIC_ASSERT(sizeof(MEMORY_BASIC_INFORMATION32) == 28, "MEMORY_BASIC_INFORMATION32 must be 28 bytes");
MEMAPI_STATIC_ASSERT(sizeof(MEMORY_BASIC_INFORMATION64) == 48, "MEMORY_BASIC_INFORMATION64 must be 48 bytes");

/* ========================================================================
 * Extended parameters (VirtualAlloc2, MapViewOfFile3, CreateFileMapping2)
 * ===================================================================== */
#define MEM_EXTENDED_PARAMETER_GRAPHICS             0x00000001
#define MEM_EXTENDED_PARAMETER_NONPAGED             0x00000002
#define MEM_EXTENDED_PARAMETER_ZERO_PAGES_OPTIONAL  0x00000004
#define MEM_EXTENDED_PARAMETER_NONPAGED_LARGE       0x00000008
#define MEM_EXTENDED_PARAMETER_NONPAGED_HUGE        0x00000010
#define MEM_EXTENDED_PARAMETER_SOFT_FAULT_PAGES     0x00000020
#define MEM_EXTENDED_PARAMETER_EC_CODE              0x00000040
#define MEM_EXTENDED_PARAMETER_IMAGE_NO_HPAT        0x00000080

/* High bit of ULong64 for a MemExtendedParameterNumaNode entry: node is mandatory. */
#define MEM_EXTENDED_PARAMETER_NUMA_NODE_MANDATORY  MINLONG64

#define MEM_EXTENDED_PARAMETER_TYPE_BITS            8

typedef struct _MEM_ADDRESS_REQUIREMENTS {
    PVOID   LowestStartingAddress;
    PVOID   HighestEndingAddress;
    SIZE_T  Alignment;
} MEM_ADDRESS_REQUIREMENTS, *PMEM_ADDRESS_REQUIREMENTS;

typedef enum MEM_EXTENDED_PARAMETER_TYPE {
    MemExtendedParameterInvalidType = 0,
    MemExtendedParameterAddressRequirements,
    MemExtendedParameterNumaNode,
    MemExtendedParameterPartitionHandle,
    MemExtendedParameterUserPhysicalHandle,
    MemExtendedParameterAttributeFlags,
    MemExtendedParameterImageMachine,
    MemExtendedParameterMax
} MEM_EXTENDED_PARAMETER_TYPE, *PMEM_EXTENDED_PARAMETER_TYPE;

typedef enum MEM_SECTION_EXTENDED_PARAMETER_TYPE {
    MemSectionExtendedParameterInvalidType = 0,
    MemSectionExtendedParameterUserPhysicalFlags,
    MemSectionExtendedParameterNumaNode,
    MemSectionExtendedParameterSigningLevel,
    MemSectionExtendedParameterMax
} MEM_SECTION_EXTENDED_PARAMETER_TYPE, *PMEM_SECTION_EXTENDED_PARAMETER_TYPE;

typedef struct DECLSPEC_ALIGN(8) MEM_EXTENDED_PARAMETER {
    __extension__ struct {
        DWORD64 Type     : MEM_EXTENDED_PARAMETER_TYPE_BITS;
        DWORD64 Reserved : 64 - MEM_EXTENDED_PARAMETER_TYPE_BITS;
    };
    __extension__ union {
        DWORD64 ULong64;
        PVOID   Pointer;
        SIZE_T  Size;
        HANDLE  Handle;
        DWORD   ULong;
    };
} MEM_EXTENDED_PARAMETER, *PMEM_EXTENDED_PARAMETER;

MEMAPI_STATIC_ASSERT(sizeof(MEM_EXTENDED_PARAMETER) == 16, "MEM_EXTENDED_PARAMETER must be 16 bytes");

/* ========================================================================
 * Control Flow Guard call targets (SetProcessValidCallTargets)
 * ===================================================================== */
#define CFG_CALL_TARGET_VALID                               0x00000001
#define CFG_CALL_TARGET_PROCESSED                           0x00000002
#define CFG_CALL_TARGET_CONVERT_EXPORT_SUPPRESSED_TO_VALID  0x00000004
#define CFG_CALL_TARGET_VALID_XFG                           0x00000008
#define CFG_CALL_TARGET_CONVERT_XFG_TO_CFG                  0x00000010

typedef struct _CFG_CALL_TARGET_INFO {
    ULONG_PTR Offset;
    ULONG_PTR Flags;
} CFG_CALL_TARGET_INFO, *PCFG_CALL_TARGET_INFO;

/* ========================================================================
 * Enclaves (enclaveapi.h functions)
 * ===================================================================== */
#define ENCLAVE_TYPE_SGX            0x00000001
#define ENCLAVE_TYPE_SGX2           0x00000002
#define ENCLAVE_TYPE_VBS            0x00000010
#define ENCLAVE_TYPE_VBS_BASIC      0x00000011

#define ENCLAVE_VBS_FLAG_DEBUG      0x00000001

#define VBS_BASIC_PAGE_MEASURED_DATA        0x00000001
#define VBS_BASIC_PAGE_UNMEASURED_DATA      0x00000002
#define VBS_BASIC_PAGE_ZERO_FILL            0x00000003
#define VBS_BASIC_PAGE_THREAD_DESCRIPTOR    0x00000004
#define VBS_BASIC_PAGE_SYSTEM_CALL          0x00000005

typedef struct _ENCLAVE_CREATE_INFO_SGX {
    BYTE Secs[4096];
} ENCLAVE_CREATE_INFO_SGX, *PENCLAVE_CREATE_INFO_SGX;

typedef struct _ENCLAVE_INIT_INFO_SGX {
    BYTE SigStruct[1808];
    BYTE Reserved1[240];
    BYTE EInitToken[304];
    BYTE Reserved2[1744];
} ENCLAVE_INIT_INFO_SGX, *PENCLAVE_INIT_INFO_SGX;

typedef struct _ENCLAVE_CREATE_INFO_VBS {
    DWORD Flags;
    BYTE  OwnerID[32];
} ENCLAVE_CREATE_INFO_VBS, *PENCLAVE_CREATE_INFO_VBS;

typedef struct _ENCLAVE_CREATE_INFO_VBS_BASIC {
    DWORD Flags;
    BYTE  OwnerID[32];
} ENCLAVE_CREATE_INFO_VBS_BASIC, *PENCLAVE_CREATE_INFO_VBS_BASIC;

typedef struct _ENCLAVE_INIT_INFO_VBS {
    DWORD Length;
    DWORD ThreadCount;
} ENCLAVE_INIT_INFO_VBS, *PENCLAVE_INIT_INFO_VBS;

typedef struct _ENCLAVE_LOAD_DATA_VBS_BASIC {
    DWORD PageType;
} ENCLAVE_LOAD_DATA_VBS_BASIC, *PENCLAVE_LOAD_DATA_VBS_BASIC;

/* ========================================================================
 * Heaps: HeapCreate/HeapAlloc flags and HeapQuery/SetInformation classes
 * ===================================================================== */
#define HEAP_NO_SERIALIZE               0x00000001
#define HEAP_GROWABLE                   0x00000002
#define HEAP_GENERATE_EXCEPTIONS        0x00000004
#define HEAP_ZERO_MEMORY                0x00000008
#define HEAP_REALLOC_IN_PLACE_ONLY      0x00000010
#define HEAP_TAIL_CHECKING_ENABLED      0x00000020
#define HEAP_FREE_CHECKING_ENABLED      0x00000040
#define HEAP_DISABLE_COALESCE_ON_FREE   0x00000080
#define HEAP_CREATE_SEGMENT_HEAP        0x00000100
#define HEAP_CREATE_HARDENED            0x00000200
#define HEAP_CREATE_ALIGN_16            0x00010000
#define HEAP_CREATE_ENABLE_TRACING      0x00020000
#define HEAP_CREATE_ENABLE_EXECUTE      0x00040000
#define HEAP_MAXIMUM_TAG                0x0FFF
#define HEAP_PSEUDO_TAG_FLAG            0x8000
#define HEAP_TAG_SHIFT                  18
#define HEAP_MAKE_TAG_FLAGS(base, tag) \
    ((DWORD)((base) + ((DWORD)(tag) << HEAP_TAG_SHIFT)))

typedef enum _HEAP_INFORMATION_CLASS {
    HeapCompatibilityInformation        = 0,
    HeapEnableTerminationOnCorruption   = 1,
    HeapOptimizeResources               = 3,
    HeapTag                             = 7
} HEAP_INFORMATION_CLASS;

#define HEAP_OPTIMIZE_RESOURCES_CURRENT_VERSION 1

typedef struct _HEAP_OPTIMIZE_RESOURCES_INFORMATION {
    DWORD Version;
    DWORD Flags;
} HEAP_OPTIMIZE_RESOURCES_INFORMATION, *PHEAP_OPTIMIZE_RESOURCES_INFORMATION;

/* ========================================================================
 * Processor architectures and types (SYSTEM_INFO)
 * ===================================================================== */
#define PROCESSOR_ARCHITECTURE_INTEL            0
#define PROCESSOR_ARCHITECTURE_MIPS             1
#define PROCESSOR_ARCHITECTURE_ALPHA            2
#define PROCESSOR_ARCHITECTURE_PPC              3
#define PROCESSOR_ARCHITECTURE_SHX              4
#define PROCESSOR_ARCHITECTURE_ARM              5
#define PROCESSOR_ARCHITECTURE_IA64             6
#define PROCESSOR_ARCHITECTURE_ALPHA64          7
#define PROCESSOR_ARCHITECTURE_MSIL             8
#define PROCESSOR_ARCHITECTURE_AMD64            9
#define PROCESSOR_ARCHITECTURE_IA32_ON_WIN64    10
#define PROCESSOR_ARCHITECTURE_NEUTRAL          11
#define PROCESSOR_ARCHITECTURE_ARM64            12
#define PROCESSOR_ARCHITECTURE_ARM32_ON_WIN64   13
#define PROCESSOR_ARCHITECTURE_IA32_ON_ARM64    14
#define PROCESSOR_ARCHITECTURE_UNKNOWN          0xFFFF

#define PROCESSOR_INTEL_386         386
#define PROCESSOR_INTEL_486         486
#define PROCESSOR_INTEL_PENTIUM     586
#define PROCESSOR_INTEL_IA64        2200
#define PROCESSOR_AMD_X8664         8664

/* ========================================================================
 * File sharing modes and attributes (CreateFile)
 * ===================================================================== */
#define FILE_READ_DATA                  0x00000001
#define FILE_WRITE_DATA                 0x00000002
#define FILE_APPEND_DATA                0x00000004
#define FILE_SHARE_READ                 0x00000001
#define FILE_SHARE_WRITE                0x00000002
#define FILE_SHARE_DELETE               0x00000004

#define FILE_ATTRIBUTE_READONLY         0x00000001
#define FILE_ATTRIBUTE_HIDDEN           0x00000002
#define FILE_ATTRIBUTE_SYSTEM           0x00000004
#define FILE_ATTRIBUTE_DIRECTORY        0x00000010
#define FILE_ATTRIBUTE_ARCHIVE          0x00000020
#define FILE_ATTRIBUTE_DEVICE           0x00000040
#define FILE_ATTRIBUTE_NORMAL           0x00000080
#define FILE_ATTRIBUTE_TEMPORARY        0x00000100

/* ========================================================================
 * Status codes (DWORD-typed, as the exception codes in EXCEPTION_RECORD)
 * ===================================================================== */
#define STATUS_SUCCESS                  ((NTSTATUS)0x00000000)  /* SDK: ntstatus.h */
#define STATUS_WAIT_0                   ((DWORD)0x00000000)
#define STATUS_ABANDONED_WAIT_0         ((DWORD)0x00000080)
#define STATUS_USER_APC                 ((DWORD)0x000000C0)
#define STATUS_TIMEOUT                  ((DWORD)0x00000102)
#define STATUS_PENDING                  ((DWORD)0x00000103)
#define STATUS_GUARD_PAGE_VIOLATION     ((DWORD)0x80000001)
#define STATUS_DATATYPE_MISALIGNMENT    ((DWORD)0x80000002)
#define STATUS_BREAKPOINT               ((DWORD)0x80000003)
#define STATUS_SINGLE_STEP              ((DWORD)0x80000004)
#define STATUS_ACCESS_VIOLATION         ((DWORD)0xC0000005)
#define STATUS_IN_PAGE_ERROR            ((DWORD)0xC0000006)
#define STATUS_INVALID_HANDLE           ((DWORD)0xC0000008)
#define STATUS_INVALID_PARAMETER        ((DWORD)0xC000000D)
#define STATUS_NO_MEMORY                ((DWORD)0xC0000017)
#define STATUS_CONFLICTING_ADDRESSES    ((DWORD)0xC0000018)  /* SDK: ntstatus.h */
#define STATUS_ILLEGAL_INSTRUCTION      ((DWORD)0xC000001D)
#define STATUS_NONCONTINUABLE_EXCEPTION ((DWORD)0xC0000025)
#define STATUS_INVALID_DISPOSITION      ((DWORD)0xC0000026)
#define STATUS_ARRAY_BOUNDS_EXCEEDED    ((DWORD)0xC000008C)
#define STATUS_FLOAT_DENORMAL_OPERAND   ((DWORD)0xC000008D)
#define STATUS_FLOAT_DIVIDE_BY_ZERO     ((DWORD)0xC000008E)
#define STATUS_FLOAT_INEXACT_RESULT     ((DWORD)0xC000008F)
#define STATUS_FLOAT_INVALID_OPERATION  ((DWORD)0xC0000090)
#define STATUS_FLOAT_OVERFLOW           ((DWORD)0xC0000091)
#define STATUS_FLOAT_STACK_CHECK        ((DWORD)0xC0000092)
#define STATUS_FLOAT_UNDERFLOW          ((DWORD)0xC0000093)
#define STATUS_INTEGER_DIVIDE_BY_ZERO   ((DWORD)0xC0000094)
#define STATUS_INTEGER_OVERFLOW         ((DWORD)0xC0000095)
#define STATUS_PRIVILEGED_INSTRUCTION   ((DWORD)0xC0000096)
#define STATUS_STACK_OVERFLOW           ((DWORD)0xC00000FD)
#define STATUS_HEAP_CORRUPTION          ((DWORD)0xC0000374)
#define STATUS_STACK_BUFFER_OVERRUN     ((DWORD)0xC0000409)

/* ---- exception codes as seen by handlers (SDK: minwinbase.h) ------------ */
#define EXCEPTION_ACCESS_VIOLATION          STATUS_ACCESS_VIOLATION
#define EXCEPTION_DATATYPE_MISALIGNMENT     STATUS_DATATYPE_MISALIGNMENT
#define EXCEPTION_BREAKPOINT                STATUS_BREAKPOINT
#define EXCEPTION_SINGLE_STEP               STATUS_SINGLE_STEP
#define EXCEPTION_ARRAY_BOUNDS_EXCEEDED     STATUS_ARRAY_BOUNDS_EXCEEDED
#define EXCEPTION_FLT_DENORMAL_OPERAND      STATUS_FLOAT_DENORMAL_OPERAND
#define EXCEPTION_FLT_DIVIDE_BY_ZERO        STATUS_FLOAT_DIVIDE_BY_ZERO
#define EXCEPTION_FLT_INEXACT_RESULT        STATUS_FLOAT_INEXACT_RESULT
#define EXCEPTION_FLT_INVALID_OPERATION     STATUS_FLOAT_INVALID_OPERATION
#define EXCEPTION_FLT_OVERFLOW              STATUS_FLOAT_OVERFLOW
#define EXCEPTION_FLT_STACK_CHECK           STATUS_FLOAT_STACK_CHECK
#define EXCEPTION_FLT_UNDERFLOW             STATUS_FLOAT_UNDERFLOW
#define EXCEPTION_INT_DIVIDE_BY_ZERO        STATUS_INTEGER_DIVIDE_BY_ZERO
#define EXCEPTION_INT_OVERFLOW              STATUS_INTEGER_OVERFLOW
#define EXCEPTION_PRIV_INSTRUCTION          STATUS_PRIVILEGED_INSTRUCTION
#define EXCEPTION_IN_PAGE_ERROR             STATUS_IN_PAGE_ERROR
#define EXCEPTION_ILLEGAL_INSTRUCTION       STATUS_ILLEGAL_INSTRUCTION
#define EXCEPTION_NONCONTINUABLE_EXCEPTION  STATUS_NONCONTINUABLE_EXCEPTION
#define EXCEPTION_STACK_OVERFLOW            STATUS_STACK_OVERFLOW
#define EXCEPTION_INVALID_DISPOSITION       STATUS_INVALID_DISPOSITION
#define EXCEPTION_GUARD_PAGE                STATUS_GUARD_PAGE_VIOLATION
#define EXCEPTION_INVALID_HANDLE            STATUS_INVALID_HANDLE

/* ---- handler return values (SDK: excpt.h) ------------------------------- */
#define EXCEPTION_EXECUTE_HANDLER       1
#define EXCEPTION_CONTINUE_SEARCH       0
#define EXCEPTION_CONTINUE_EXECUTION    (-1)

/* ---- EXCEPTION_RECORD.ExceptionFlags ------------------------------------ */
#define EXCEPTION_NONCONTINUABLE        0x01
#define EXCEPTION_UNWINDING             0x02
#define EXCEPTION_EXIT_UNWIND           0x04
#define EXCEPTION_STACK_INVALID         0x08
#define EXCEPTION_NESTED_CALL           0x10
#define EXCEPTION_TARGET_UNWIND         0x20
#define EXCEPTION_COLLIDED_UNWIND       0x40

#define EXCEPTION_MAXIMUM_PARAMETERS    15

typedef struct _EXCEPTION_RECORD {
    DWORD                       ExceptionCode;
    DWORD                       ExceptionFlags;
    struct _EXCEPTION_RECORD   *ExceptionRecord;
    PVOID                       ExceptionAddress;
    DWORD                       NumberParameters;
    ULONG_PTR                   ExceptionInformation[EXCEPTION_MAXIMUM_PARAMETERS];
} EXCEPTION_RECORD, *PEXCEPTION_RECORD;

MEMAPI_STATIC_ASSERT(sizeof(EXCEPTION_RECORD) == 152, "EXCEPTION_RECORD must be 152 bytes");

/* ========================================================================
 * x64 thread context
 * ===================================================================== */
#define CONTEXT_AMD64               0x00100000
#define CONTEXT_CONTROL             (CONTEXT_AMD64 | 0x00000001)
#define CONTEXT_INTEGER             (CONTEXT_AMD64 | 0x00000002)
#define CONTEXT_SEGMENTS            (CONTEXT_AMD64 | 0x00000004)
#define CONTEXT_FLOATING_POINT      (CONTEXT_AMD64 | 0x00000008)
#define CONTEXT_DEBUG_REGISTERS     (CONTEXT_AMD64 | 0x00000010)
#define CONTEXT_XSTATE              (CONTEXT_AMD64 | 0x00000040)
#define CONTEXT_FULL                (CONTEXT_CONTROL | CONTEXT_INTEGER | \
                                     CONTEXT_FLOATING_POINT)
#define CONTEXT_ALL                 (CONTEXT_CONTROL | CONTEXT_INTEGER | \
                                     CONTEXT_SEGMENTS | CONTEXT_FLOATING_POINT | \
                                     CONTEXT_DEBUG_REGISTERS)

typedef struct DECLSPEC_ALIGN(16) _M128A {
    ULONGLONG Low;
    LONGLONG  High;
} M128A, *PM128A;

/* FXSAVE image: legacy x87 state, MXCSR, 8 x87/MMX and 16 XMM registers. */
typedef struct DECLSPEC_ALIGN(16) _XMM_SAVE_AREA32 {
    WORD    ControlWord;
    WORD    StatusWord;
    BYTE    TagWord;
    BYTE    Reserved1;
    WORD    ErrorOpcode;
    DWORD   ErrorOffset;
    WORD    ErrorSelector;
    WORD    Reserved2;
    DWORD   DataOffset;
    WORD    DataSelector;
    WORD    Reserved3;
    DWORD   MxCsr;
    DWORD   MxCsr_Mask;
    M128A   FloatRegisters[8];
    M128A   XmmRegisters[16];
    BYTE    Reserved4[96];
} XMM_SAVE_AREA32, *PXMM_SAVE_AREA32;

#define LEGACY_SAVE_AREA_LENGTH sizeof(XMM_SAVE_AREA32)

typedef struct DECLSPEC_ALIGN(16) _CONTEXT {
    /* register parameter home addresses */
    DWORD64 P1Home;
    DWORD64 P2Home;
    DWORD64 P3Home;
    DWORD64 P4Home;
    DWORD64 P5Home;
    DWORD64 P6Home;

    /* control flags */
    DWORD   ContextFlags;
    DWORD   MxCsr;

    /* segment selectors and processor flags */
    WORD    SegCs;
    WORD    SegDs;
    WORD    SegEs;
    WORD    SegFs;
    WORD    SegGs;
    WORD    SegSs;
    DWORD   EFlags;

    /* debug registers */
    DWORD64 Dr0;
    DWORD64 Dr1;
    DWORD64 Dr2;
    DWORD64 Dr3;
    DWORD64 Dr6;
    DWORD64 Dr7;

    /* integer registers */
    DWORD64 Rax;
    DWORD64 Rcx;
    DWORD64 Rdx;
    DWORD64 Rbx;
    DWORD64 Rsp;
    DWORD64 Rbp;
    DWORD64 Rsi;
    DWORD64 Rdi;
    DWORD64 R8;
    DWORD64 R9;
    DWORD64 R10;
    DWORD64 R11;
    DWORD64 R12;
    DWORD64 R13;
    DWORD64 R14;
    DWORD64 R15;

    /* program counter */
    DWORD64 Rip;

    /* floating point / SSE state */
    __extension__ union {
        XMM_SAVE_AREA32 FltSave;
        __extension__ struct {
            M128A Header[2];
            M128A Legacy[8];
            M128A Xmm0;
            M128A Xmm1;
            M128A Xmm2;
            M128A Xmm3;
            M128A Xmm4;
            M128A Xmm5;
            M128A Xmm6;
            M128A Xmm7;
            M128A Xmm8;
            M128A Xmm9;
            M128A Xmm10;
            M128A Xmm11;
            M128A Xmm12;
            M128A Xmm13;
            M128A Xmm14;
            M128A Xmm15;
        };
    };

    /* vector registers */
    M128A   VectorRegister[26];
    DWORD64 VectorControl;

    /* special debug control registers */
    DWORD64 DebugControl;
    DWORD64 LastBranchToRip;
    DWORD64 LastBranchFromRip;
    DWORD64 LastExceptionToRip;
    DWORD64 LastExceptionFromRip;
} CONTEXT, *PCONTEXT;

MEMAPI_STATIC_ASSERT(sizeof(M128A) == 16, "M128A must be 16 bytes");
MEMAPI_STATIC_ASSERT(sizeof(XMM_SAVE_AREA32) == 512, "XMM_SAVE_AREA32 must be 512 bytes");
MEMAPI_STATIC_ASSERT(sizeof(CONTEXT) == 1232, "CONTEXT must be 1232 bytes on x64");
MEMAPI_STATIC_ASSERT(offsetof(CONTEXT, Rip) == 0xF8, "CONTEXT.Rip offset");
MEMAPI_STATIC_ASSERT(offsetof(CONTEXT, FltSave) == 0x100, "CONTEXT.FltSave offset");
MEMAPI_STATIC_ASSERT(offsetof(CONTEXT, VectorRegister) == 0x300, "CONTEXT.VectorRegister offset");
MEMAPI_STATIC_ASSERT(offsetof(CONTEXT, VectorControl) == 0x4A0, "CONTEXT.VectorControl offset");

typedef struct _EXCEPTION_POINTERS {
    PEXCEPTION_RECORD ExceptionRecord;
    PCONTEXT          ContextRecord;
} EXCEPTION_POINTERS, *PEXCEPTION_POINTERS;

typedef LONG (NTAPI *PVECTORED_EXCEPTION_HANDLER)(struct _EXCEPTION_POINTERS *ExceptionInfo);

/* ========================================================================
 * Common base structures (SDK: minwinbase.h)
 * ===================================================================== */
typedef struct _SECURITY_ATTRIBUTES {
    DWORD   nLength;
    LPVOID  lpSecurityDescriptor;
    BOOL    bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

typedef struct _OVERLAPPED {
    ULONG_PTR Internal;
    ULONG_PTR InternalHigh;
    __extension__ union {
        __extension__ struct {
            DWORD Offset;
            DWORD OffsetHigh;
        };
        PVOID Pointer;
    };
    HANDLE    hEvent;
} OVERLAPPED, *LPOVERLAPPED;

typedef VOID (WINAPI *LPOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwErrorCode,
                                                      DWORD dwNumberOfBytesTransfered,
                                                      LPOVERLAPPED lpOverlapped);

typedef DWORD (WINAPI *PTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef PTHREAD_START_ROUTINE LPTHREAD_START_ROUTINE;

/* NUMA node "no preference" (nndPreferred / PreferredNode arguments). */
#define NUMA_NO_PREFERRED_NODE  ((DWORD)-1)

/* ========================================================================
 * Memory block operations: real exported functions in libmemapi (the SDK
 * maps them onto the C runtime); the short names are macros over them.
 * ===================================================================== */
MEMAPI_EXPORT VOID  WINAPI RtlCopyMemory(PVOID Destination, const VOID *Source, SIZE_T Length);
MEMAPI_EXPORT VOID  WINAPI RtlMoveMemory(PVOID Destination, const VOID *Source, SIZE_T Length);
/* Note the argument order: (Destination, Length, Fill), unlike memset. */
MEMAPI_EXPORT VOID  WINAPI RtlFillMemory(PVOID Destination, SIZE_T Length, BYTE Fill);
MEMAPI_EXPORT VOID  WINAPI RtlZeroMemory(PVOID Destination, SIZE_T Length);
/* Zeroes memory in a way the compiler may not elide; returns ptr. */
MEMAPI_EXPORT PVOID WINAPI RtlSecureZeroMemory(PVOID ptr, SIZE_T cnt);

#define CopyMemory          RtlCopyMemory
#define MoveMemory          RtlMoveMemory
#define FillMemory          RtlFillMemory
#define ZeroMemory          RtlZeroMemory
#define SecureZeroMemory    RtlSecureZeroMemory

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_WINNT_H */
