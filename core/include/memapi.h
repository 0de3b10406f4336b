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

/* ---- Sections (section layout 1) ----
 * memapi_root.sections points at the first section object this process has
 * a handle or a view of; sections are linked by next, each with its views
 * linked by next. A view is also a region (owner MEMAPI_OWNER_SECTION,
 * type MEM_MAPPED or MEM_IMAGE) whose base is the view's base. The lists
 * change under memapi_root.generation like the region list. */

#define MEMAPI_SECTION_MAGIC  UINT64_C(0x31544345534d454d)   /* "MEMSECT1" */
#define MEMAPI_SECTION_LAYOUT 1

/* memapi_rec_section.flags */
#define MEMAPI_SECTION_FILE   0x1u      /* a file's data; else the paging file     */
#define MEMAPI_SECTION_NAMED  0x2u      /* has a name other processes can open      */
#define MEMAPI_SECTION_GLOBAL 0x4u      /* the name is in the Global\ namespace     */
#define MEMAPI_SECTION_IMAGE  0x8u      /* SEC_IMAGE: an ELF object's segments      */

struct memapi_rec_view {
	uint64_t base;              /* the view's region                            */
	uint64_t size;              /* bytes mapped, a page multiple                */
	uint64_t offset;            /* of the view in the section                   */
	uint32_t protect;           /* the view's AllocationProtect                 */
	uint32_t reserved0;
	const struct memapi_rec_section *section;
	const struct memapi_rec_view *next;     /* next view of the same section   */
};

struct memapi_rec_section {
	uint64_t magic;             /* MEMAPI_SECTION_MAGIC                         */
	uint32_t layout;            /* MEMAPI_SECTION_LAYOUT                        */
	uint32_t flags;             /* MEMAPI_SECTION_*                             */
	uint64_t size;              /* maximum size in bytes                        */
	uint32_t protect;           /* PAGE_* it was created with                   */
	uint32_t attributes;        /* SEC_*                                        */
	uint64_t view_count;
	const struct memapi_rec_view *views;
	const char *name;           /* UTF-8 with its namespace prefix, or NULL     */
	const char *path;           /* the file's path (UTF-8), or NULL             */
	const struct memapi_rec_section *next;
};

/* ---- AWE pages (awe layout 1) ----
 * memapi_root.awe points at the process's pool of "physical" pages once
 * AllocateUserPhysicalPages first ran. Frame i is the page at byte
 * i * page_size of one memory file; its page frame number, as
 * AllocateUserPhysicalPages hands it out, is i + 1. The tables cover
 * frame_count frames and change under memapi_root.generation; a mapped
 * frame is shown by exactly one page of a MEM_PHYSICAL region. */

#define MEMAPI_AWE_MAGIC  UINT64_C(0x31504557414d454d)   /* "MEMAWEP1" */
#define MEMAPI_AWE_LAYOUT 1

struct memapi_rec_awe {
	uint64_t magic;             /* MEMAPI_AWE_MAGIC                             */
	uint32_t layout;            /* MEMAPI_AWE_LAYOUT                            */
	uint32_t reserved0;
	uint64_t frame_count;       /* frames the tables below describe             */
	uint64_t allocated;         /* frames the process owns                      */
	uint64_t mapped;            /* owned frames mapped at some address          */
	const uint8_t *owned;       /* 1 bit per frame (bit i % 8 of byte i / 8)     */
	const uint64_t *mapped_at;  /* per frame: the address showing it, or 0      */
};

/* ---- Memory resource notifications (notification layout 1) ----
 * memapi_root.notifications points at the newest notification object
 * (CreateMemoryResourceNotification) of the process; they are linked by
 * next and change under memapi_root.generation. */

#define MEMAPI_NOTIFY_MAGIC  UINT64_C(0x3145544f4e4d454d)   /* "MEMNOTE1" */
#define MEMAPI_NOTIFY_LAYOUT 1

struct memapi_rec_notification {
	uint64_t magic;             /* MEMAPI_NOTIFY_MAGIC                          */
	uint32_t layout;            /* MEMAPI_NOTIFY_LAYOUT                         */
	uint32_t type;              /* 0 low memory, 1 high memory                  */
	volatile uint64_t threshold;   /* bytes of available memory, last computed  */
	volatile uint64_t available;   /* available bytes at the last look          */
	volatile uint32_t signalled;   /* the state seen then                       */
	uint32_t reserved0;
	const struct memapi_rec_notification *next;
};

/* ---- ATL thunks (thunk layout 1) ----
 * memapi_root.thunks points at the newest block of thunks; blocks are
 * linked by next. A block is one code page and one data page of a memory
 * file: slot i's code is the 16 bytes at code + 16 i, mapped executable
 * and never writable; its first parameter and target are the two 64-bit
 * words at data + 16 i, a writable view of the data page (which the code
 * reads at code + page_size + 16 i). The used bits change under
 * memapi_root.generation; the data words change when AtlThunk_InitData
 * runs. */

#define MEMAPI_THUNK_MAGIC  UINT64_C(0x314b4e48544d454d)   /* "MEMTHNK1" */
#define MEMAPI_THUNK_LAYOUT 1
#define MEMAPI_THUNK_SLOTS  256

struct memapi_rec_thunk_block {
	uint64_t magic;             /* MEMAPI_THUNK_MAGIC                           */
	uint32_t layout;            /* MEMAPI_THUNK_LAYOUT                          */
	uint32_t slots;             /* MEMAPI_THUNK_SLOTS                           */
	uint64_t code;              /* the executable view                          */
	uint64_t data;              /* the writable view of the data page           */
	volatile uint64_t used[MEMAPI_THUNK_SLOTS / 64];   /* 1 bit per slot       */
	const struct memapi_rec_thunk_block *next;
};

/* ---- Enclaves (enclave layout 1) ----
 * memapi_root.enclaves points at the newest enclave of CreateEnclave;
 * enclaves are linked by next and change under memapi_root.generation.
 * An enclave is also a region (owner MEMAPI_OWNER_ENCLAVE) at base; its
 * pages are memfd_secret memory, which no other process can read. */

#define MEMAPI_ENCLAVE_MAGIC  UINT64_C(0x314c434e454d454d)   /* "MEMENCL1" */
#define MEMAPI_ENCLAVE_LAYOUT 1

struct memapi_rec_enclave {
	uint64_t magic;             /* MEMAPI_ENCLAVE_MAGIC                         */
	uint32_t layout;            /* MEMAPI_ENCLAVE_LAYOUT                        */
	uint32_t type;              /* ENCLAVE_TYPE_*                               */
	uint64_t base;
	uint64_t size;              /* bytes reserved                               */
	uint64_t loaded;            /* bytes loaded by LoadEnclaveData              */
	uint32_t initialized;       /* InitializeEnclave ran: sealed                */
	uint32_t reserved0;
	const struct memapi_rec_enclave *next;
};

/* ---- Heaps (heap layout 1, see memapi_heap_layout(7)) ----
 * memapi_root.heaps points at the first heap; heaps are linked by next. A
 * heap's HANDLE is the address of its struct memapi_rec_heap, which starts
 * its first segment. Every block of a segment starts with a 16-byte header
 * stored XOR-encoded with the heap's key:
 *   w0 = header[0] ^ key[0], w1 = header[1] ^ key[1]
 *   w0 bits  0..31  block size in 16-byte units, header included (slots: the
 *                   slot stride; large blocks: 0)
 *   w0 bits 32..63  backend blocks: size units of the previous block (0 for
 *                   the first); slots: slot index (bits 32..55) and size
 *                   class (bits 56..63)
 *   w1 bits  0..23  unused bytes: requested size = size*16 - 16 - unused
 *   w1 bits 24..31  MEMAPI_HEAP_BLOCK_* flags
 *   w1 bits 32..63  memapi_heap_check(w0, w1 & 0xffffffff, header address)
 * A block's data follows its header. */

#define MEMAPI_HEAP_MAGIC   UINT64_C(0x31504145484d454d)   /* "MEMHEAP1" */
#define MEMAPI_SEG_MAGIC    UINT64_C(0x3147455350414548)   /* "HEAPSEG1" */
#define MEMAPI_SUBSEG_MAGIC UINT64_C(0x3142555350414548)   /* "HEAPSUB1" */
#define MEMAPI_LARGE_MAGIC  UINT64_C(0x3147494250414548)   /* "HEAPBIG1" */
#define MEMAPI_HTAB_MAGIC   UINT64_C(0x31444e4850414548)   /* "HEAPHND1" */
#define MEMAPI_HEAP_LAYOUT  1

/* Block header flags (w1 bits 24..31). */
#define MEMAPI_HEAP_BLOCK_BUSY     0x01u  /* allocated; else free                  */
#define MEMAPI_HEAP_BLOCK_SLOT     0x02u  /* a slot of a subsegment                */
#define MEMAPI_HEAP_BLOCK_SUBSEG   0x04u  /* backend block holding a subsegment    */
#define MEMAPI_HEAP_BLOCK_MOVEABLE 0x08u  /* Global/Local moveable data: the data
                                             starts with the owning HGLOBAL        */
#define MEMAPI_HEAP_BLOCK_LARGE    0x10u  /* in its own reservation                */
#define MEMAPI_HEAP_BLOCK_INTERNAL 0x20u  /* heap metadata (handle table)          */

/* memapi_rec_heap.options */
#define MEMAPI_HEAP_PROCESS   0x1u        /* the process heap                      */
#define MEMAPI_HEAP_TERMINATE 0x2u        /* terminate on corruption               */

/* The check word of a decoded header at address at. It catches stray
 * writes and headers copied from elsewhere; the key's secrecy, not this
 * function, makes headers hard to forge. */
static inline uint32_t memapi_heap_check(uint64_t w0, uint32_t w1_low, uint64_t at)
{
	return (uint32_t)(((w0 ^ (at << 16) ^ w1_low) * UINT64_C(0x9e3779b97f4a7c15)) >> 32);
}

/* A reservation of a heap. Blocks tile [first_block, base + committed);
 * the rest up to base + reserved is reserved, not committed. */
struct memapi_rec_heap_segment {
	uint64_t magic;             /* MEMAPI_SEG_MAGIC                               */
	uint64_t base;              /* the reservation (AllocationBase)               */
	uint64_t reserved;          /* bytes                                          */
	volatile uint64_t committed;   /* bytes from base                             */
	uint64_t first_block;       /* address of the first block header              */
	const struct memapi_rec_heap_segment *next;
};

/* The data of a SUBSEG block: count slots of stride bytes, each a header
 * and data, starting at first_slot. Slots at index >= used were never
 * handed out and have no header yet. */
struct memapi_rec_heap_subseg {
	uint64_t magic;             /* MEMAPI_SUBSEG_MAGIC                            */
	uint64_t heap;              /* the owning heap's handle                       */
	uint64_t first_slot;        /* address of slot 0's header                    */
	uint32_t stride;            /* bytes per slot, header included                */
	uint32_t count;
	volatile uint32_t used;
	uint32_t size_class;
};

/* A block in its own reservation (growable heaps, large requests): this
 * record at the reservation's base, the block header at base + 48, the
 * data at base + 64. A free one (header without BUSY) is kept for reuse. */
struct memapi_rec_heap_large {
	uint64_t magic;             /* MEMAPI_LARGE_MAGIC                             */
	uint64_t size;              /* requested bytes (HeapSize); 0 when free        */
	uint64_t reserved;          /* bytes of the reservation                       */
	uint64_t committed;         /* bytes committed from its base                  */
	const struct memapi_rec_heap_large *next;
	uint64_t heap;
};

/* One moveable Global/Local handle: the HGLOBAL is the address of data,
 * which points at the object's bytes (NULL when discarded); they sit in a
 * MOVEABLE block of the process heap, 16 bytes after its start, which holds
 * the HGLOBAL. Free entries link through data. */
struct memapi_rec_handle {
	uint16_t lock_count;
	uint16_t flags;             /* in use 0x8000, GMEM_DISCARDED (allocated
	                               discarded), GMEM_DDESHARE, GMEM_DISCARDABLE  */
	uint32_t check;             /* in use: low 32 bits of (entry address ^ the
	                               process heap's key[0]); free: 0               */
	uint64_t data;              /* the block's data, NULL when discarded          */
};

/* A table of moveable handles: a busy INTERNAL block of the process heap. */
struct memapi_rec_handle_table {
	uint64_t magic;             /* MEMAPI_HTAB_MAGIC                              */
	uint32_t count;             /* entries                                        */
	uint32_t reserved0;
	const struct memapi_rec_handle_table *next;
	uint64_t reserved1;
	struct memapi_rec_handle entries[];
};

struct memapi_rec_heap {
	uint64_t magic;             /* MEMAPI_HEAP_MAGIC                              */
	uint32_t layout;            /* MEMAPI_HEAP_LAYOUT                             */
	uint32_t flags;             /* HeapCreate options (HEAP_*)                    */
	uint64_t key[2];            /* block header encoding                          */
	uint64_t maximum_size;      /* 0: growable                                    */
	uint32_t compatibility;     /* HeapCompatibilityInformation: 0, 1 or 2        */
	uint32_t options;           /* MEMAPI_HEAP_PROCESS, MEMAPI_HEAP_TERMINATE     */
	volatile uint64_t generation;  /* odd while segments or large blocks change */
	const struct memapi_rec_heap_segment *segments;
	const struct memapi_rec_heap_large *large;
	const struct memapi_rec_handle_table *handles;   /* process heap only      */
	const struct memapi_rec_heap *next;
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

/* Memory errors. memapi_report_memory_error is a test hook: it reports an
 * error at address as the kernel's SIGBUS (BUS_MCEERR_AO) would, waking
 * the callbacks of RegisterBadMemoryNotification. memapi_memory_errors
 * returns how many errors were reported so far and stores the addresses
 * of the latest (up to 16, oldest first) in addresses[0, max). */
MEMAPI_EXPORT void   memapi_report_memory_error(void *address);
MEMAPI_EXPORT size_t memapi_memory_errors(void **addresses, size_t max);

#ifdef __cplusplus
}
#endif

#endif
