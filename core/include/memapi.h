/* memapi.h: libmemapi's native, versioned introspection API (prefix memapi_)
 * and the layout of the forensic root descriptor that outside readers walk. */
#ifndef MEMAPI_MEMAPI_H
#define MEMAPI_MEMAPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MEMAPI_EXPORT
#define MEMAPI_EXPORT __attribute__((visibility("default")))
#endif

#define MEMAPI_VERSION_MAJOR 1
#define MEMAPI_VERSION_MINOR 0
#define MEMAPI_VERSION ((MEMAPI_VERSION_MAJOR << 16) | MEMAPI_VERSION_MINOR)

/* ---- Forensic layout (layout version 1) ----
 * Every structure below is plain data with fixed-width fields, reachable from
 * the exported object `memapi_root`. A writer makes root.generation odd before
 * changing the region list or any record on it and even again afterwards, so
 * a reader that sees the same even generation before and after its walk has a
 * consistent copy. Pointers are addresses in the inspected process. */

#define MEMAPI_ROOT_MAGIC  UINT64_C(0x31524950414d454d)   /* "MEMAPIR1" in memory order */
#define MEMAPI_ROOT_LAYOUT 1

/* memapi_rec_region.flags */
#define MEMAPI_REGION_PLACEHOLDER      0x0001u  /* a MEM_RESERVE_PLACEHOLDER          */
#define MEMAPI_REGION_FROM_PLACEHOLDER 0x0002u  /* replaced a placeholder            */
#define MEMAPI_REGION_WRITE_WATCH      0x0004u  /* MEM_WRITE_WATCH                   */
#define MEMAPI_REGION_PHYSICAL         0x0008u  /* MEM_PHYSICAL (AWE window)         */
#define MEMAPI_REGION_LARGE_PAGES      0x0010u  /* MEM_LARGE_PAGES (hugetlb)          */
#define MEMAPI_REGION_TOP_DOWN         0x0020u  /* placed with MEM_TOP_DOWN          */

/* memapi_rec_region.owner: which subsystem made the reservation. */
#define MEMAPI_OWNER_VIRTUAL 0u                 /* VirtualAlloc family                */
#define MEMAPI_OWNER_HEAP    1u
#define MEMAPI_OWNER_SECTION 2u
#define MEMAPI_OWNER_AWE     3u
#define MEMAPI_OWNER_THUNK   4u
#define MEMAPI_OWNER_ENCLAVE 5u

/* memapi_root.watch_mode */
#define MEMAPI_WATCH_KERNEL   1u  /* uffd async WP: read written pages with PAGEMAP_SCAN */
#define MEMAPI_WATCH_FALLBACK 2u  /* mprotect + fault: read the regions' bitmaps       */

/* A run of pages with identical state inside one region. */
struct memapi_rec_run {
	uint64_t first_page;        /* index of the first page in the region        */
	uint64_t page_count;
	uint32_t state;             /* MEM_RESERVE or MEM_COMMIT                     */
	uint32_t protect;           /* PAGE_* incl. PAGE_GUARD etc.; 0 if reserved   */
};

/* One allocation: a reservation, placeholder or view. */
struct memapi_rec_region {
	uint64_t base;              /* AllocationBase, 64 KiB aligned                 */
	uint64_t size;              /* bytes, a page multiple                         */
	uint32_t allocation_protect;
	uint32_t type;              /* MEM_PRIVATE, MEM_MAPPED or MEM_IMAGE           */
	uint32_t flags;             /* MEMAPI_REGION_*                                */
	uint32_t owner;             /* MEMAPI_OWNER_*                                 */
	uint64_t run_count;
	const struct memapi_rec_run *runs;        /* run_count runs, by address     */
	const uint8_t *written;     /* fallback write watch: 1 bit per page, or NULL  */
	const struct memapi_rec_region *next;     /* next region by address         */
};

struct memapi_root {
	uint64_t magic;             /* MEMAPI_ROOT_MAGIC                              */
	uint32_t layout;            /* MEMAPI_ROOT_LAYOUT                             */
	uint32_t size;              /* sizeof(struct memapi_root) of the writer        */
	volatile uint64_t generation;  /* odd while the region list changes         */
	uint64_t page_size;
	uint64_t granularity;
	uint32_t watch_mode;        /* MEMAPI_WATCH_*                                 */
	uint32_t reserved0;
	uint64_t region_count;
	const struct memapi_rec_region *regions;  /* lowest address first           */
	/* Tables of later subsystems; NULL until they register. */
	const void *heaps;
	const void *sections;
	const void *awe;
	const void *enclaves;
	const void *thunks;
	const void *notifications;
	uint64_t reserved[8];
};

/* The root descriptor; its symbol name is part of the forensic contract. */
extern MEMAPI_EXPORT struct memapi_root memapi_root;

/* ---- Native API: every function returns 0 or a positive errno ---- */

MEMAPI_EXPORT uint32_t memapi_version(void);

/* One run of identical pages of libmemapi's own memory, in VirtualQuery terms. */
typedef struct memapi_region_info {
	uint64_t base;
	uint64_t allocation_base;
	uint64_t size;
	uint32_t state;             /* MEM_RESERVE, MEM_COMMIT                        */
	uint32_t protect;           /* 0 for reserved pages                           */
	uint32_t allocation_protect;
	uint32_t type;
	uint32_t flags;             /* MEMAPI_REGION_* of the allocation              */
	uint32_t owner;             /* MEMAPI_OWNER_*                                 */
} memapi_region_info;

/* A consistent copy of every region libmemapi owns, by address. The caller
 * frees *out with memapi_free(). */
MEMAPI_EXPORT int memapi_snapshot_regions(memapi_region_info **out, size_t *count);
MEMAPI_EXPORT void memapi_free(void *p);

typedef struct memapi_counters {
	uint64_t reservations;       /* live allocations                             */
	uint64_t reserved_bytes;     /* their total size                             */
	uint64_t committed_bytes;
	uint64_t watch_regions;
	uint64_t faults;             /* faults seen by the handler                   */
	uint64_t guard_hits;         /* STATUS_GUARD_PAGE_VIOLATION raised            */
	uint64_t watch_faults;       /* fallback write-watch faults resolved          */
	uint32_t watch_mode;         /* MEMAPI_WATCH_*                                */
	uint32_t procmap_query;      /* 1 when the kernel has PROCMAP_QUERY           */
} memapi_counters;

MEMAPI_EXPORT int memapi_get_counters(memapi_counters *out);

/* Call targets recorded by SetProcessValidCallTargets: 1 in *valid when
 * address is a valid call target of a region with PAGE_TARGETS_INVALID (or of
 * any executable region without it). */
MEMAPI_EXPORT int memapi_is_valid_call_target(const void *address, int *valid);

#ifdef __cplusplus
}
#endif

#endif
