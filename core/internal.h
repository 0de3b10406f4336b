/* libmemapi's internal interfaces, one section per file. Functions named
 * mt_* return 0 or a Windows error code (DWORD) unless their comment says
 * errno; only the exported Win32 functions call SetLastError. */
#ifndef MT_INTERNAL_H
#define MT_INTERNAL_H

#include <windows.h>
#include <memapi.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "os/os.h"

#define MT_HIDDEN __attribute__((visibility("hidden")))

/* ---- per-page bitmaps (written, locked, reset): one bit per page ---- */

static inline bool mt_bit(const uint8_t *v, size_t i)
{
	return v[i / 8] & (1u << (i % 8));
}

static inline void mt_bit_put(uint8_t *v, size_t i, bool on)
{
	if (on)
		v[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		v[i / 8] &= (uint8_t)~(1u << (i % 8));
}

/* Clears bits [first, +count) of v; v may be NULL (no bitmap). */
static inline void mt_bits_clear(uint8_t *v, size_t first, size_t count)
{
	for (size_t i = first; v && i < first + count; i++)
		mt_bit_put(v, i, false);
}

/* ---- error.c ---- */

/* Sets the thread's last error and returns FALSE / NULL / the code. */
BOOL  mt_fail(DWORD code);
void *mt_fail_null(DWORD code);

/* The Windows error for an errno from the OS layer, for allocation failures. */
DWORD mt_error_from_errno(int err);

pid_t mt_gettid(void);
/* In a fork child: the cached id is the parent thread's. */
void  mt_forget_tid(void);

/* ---- text.c ---- */

/* A malloc'd UTF-8 copy of a UTF-16 string (ERROR_NO_UNICODE_TRANSLATION
 * for an unpaired surrogate). */
DWORD  mt_utf16_to_utf8(LPCWSTR s, char **out);
/* Writes s as UTF-16 with its NUL if room (in units) exceeds its length,
 * and returns the length without the NUL; else returns that length and
 * writes nothing. */
size_t mt_utf8_to_utf16(const char *s, WCHAR *out, size_t room);

/* ---- handle.c ---- */

enum mt_object_type {
	MT_OBJ_PROCESS = 1,
	MT_OBJ_SECTION,
	MT_OBJ_FILE,
	MT_OBJ_NOTIFICATION,
	MT_OBJ_TYPES
};

/* Every handle points at one of these, first member of the typed object. */
struct mt_object {
	enum mt_object_type type;
	atomic_uint         refs;
	void              (*destroy)(struct mt_object *obj);
};

void   mt_object_init(struct mt_object *obj, enum mt_object_type type,
                      void (*destroy)(struct mt_object *));
void   mt_object_get(struct mt_object *obj);
void   mt_object_put(struct mt_object *obj);

void   mt_handles_atfork(enum mt_fork_phase phase);

/* Gives obj a new handle; the handle holds one reference (taken here). */
DWORD  mt_handle_create(struct mt_object *obj, HANDLE *out);

/* The object behind h with a new reference, if it has the type
 * (ERROR_INVALID_HANDLE otherwise). */
DWORD  mt_handle_ref(HANDLE h, enum mt_object_type type, struct mt_object **out);

/* The same with the access rights the handle was given (sections). */
DWORD  mt_handle_create_access(struct mt_object *obj, DWORD access, HANDLE *out);
DWORD  mt_handle_ref_access(HANDLE h, enum mt_object_type type, struct mt_object **out,
                            DWORD *access);

/* ---- file.c ---- */

/* A descriptor of its own (close it) for the file behind h, and the data
 * access the handle was opened with. */
DWORD  mt_file_dup(HANDLE h, int *fd, bool *can_read, bool *can_write);

/* ---- process.c ---- */

struct mt_process {
	struct mt_object obj;
	pid_t            pid;
	int              pidfd;         /* keeps the pid from being reused, or -1   */
	DWORD            access;        /* PROCESS_* rights granted                 */
};

#define MT_CURRENT_PROCESS ((HANDLE)(LONG_PTR)-1)

/* Resolves a process handle needing the given rights: *self is true for the
 * calling process (pseudo-handle, NULL where allowed, or a handle to itself);
 * otherwise *pid is the other process. */
DWORD mt_process_resolve(HANDLE h, DWORD need, bool *self, pid_t *pid);

/* For the Ex functions that change memory: 0 for the calling process,
 * ERROR_NOT_SUPPORTED for another (a later issue brings that), or the handle's
 * error. */
DWORD mt_process_require_self(HANDLE h, DWORD need);

/* ---- vm/region.c: the address-space manager ---- */

/* One allocation owned by libmemapi. Writers hold mt_vm.lock and keep the
 * runs sorted, covering [0, pages) and maximally merged. */
struct mt_region {
	struct memapi_rec_region rec;     /* first: the forensic record            */
	struct memapi_rec_run   *runs;    /* == rec.runs                           */
	size_t    run_cap;                /* >= run_count + 2: faults never allocate */
	size_t    span;                   /* bytes owned from the OS (64 KiB units) */
	uint8_t  *written;                /* fallback write watch, 1 bit per page   */
	uint8_t  *locked;                 /* VirtualLock'ed pages, 1 bit, or NULL   */
	uint8_t  *cfg;                    /* valid call targets, 1 bit per 16 bytes */
	uint8_t  *reset;                  /* MEM_RESET pages resident when reset    */
	void     *owner_obj;              /* the section, heap... that owns it      */
	uint64_t *frames;                 /* MEM_PHYSICAL: frame number per page, 0
	                                     unmapped (awe.c); NULL until mapped  */
};

struct mt_vm {
	pthread_mutex_t     lock;
	_Atomic pid_t       owner;        /* thread holding lock, for the fault handler */
	struct mt_region  **index;        /* regions by base address                */
	uintptr_t          *bases;        /* index[i]->rec.base, searched densely    */
	size_t              count, cap;
	uint64_t            committed;    /* bytes                                  */
	uint64_t            reserved;
	uint64_t            watched;      /* write-watch regions                    */
	atomic_size_t       fallback_watched; /* regions tracked by the fallback    */
	atomic_bool         writecopy_seen;   /* a run was ever PAGE_*WRITECOPY     */
};

extern struct mt_vm mt_vm;

void mt_vm_lock(void);
void mt_vm_unlock(void);

/* Marks the start and end of a change visible to forensic readers
 * (generation odd in between). Called with the lock held. */
void mt_vm_change_begin(void);
void mt_vm_change_end(void);

static inline size_t mt_pages(size_t bytes) { return bytes / mt_os.page_size; }
static inline uintptr_t mt_page_down(uintptr_t a) { return a & ~(uintptr_t)(mt_os.page_size - 1); }
static inline uintptr_t mt_page_up(uintptr_t a) { return (a + mt_os.page_size - 1) & ~(uintptr_t)(mt_os.page_size - 1); }
static inline uintptr_t mt_gran_down(uintptr_t a) { return a & ~(uintptr_t)(mt_os.granularity - 1); }
static inline uintptr_t mt_gran_up(uintptr_t a) { return (a + mt_os.granularity - 1) & ~(uintptr_t)(mt_os.granularity - 1); }
static inline uintptr_t mt_region_end(const struct mt_region *r) { return r->rec.base + r->rec.size; }

/* The region whose [base, base + size) holds addr, or NULL. */
struct mt_region *mt_vm_find(uintptr_t addr);
/* The region whose OS span (size rounded to 64 KiB) holds addr, or NULL. */
struct mt_region *mt_vm_find_span(uintptr_t addr);
/* The first region with base >= addr, or NULL. */
struct mt_region *mt_vm_next(uintptr_t addr);

struct mt_region *mt_region_new(uintptr_t base, size_t size, size_t span,
                                DWORD alloc_protect, DWORD type, DWORD flags);
void  mt_region_free(struct mt_region *r);
/* Room for extra more regions in the index: 0 or ENOMEM. */
int   mt_vm_reserve_slots(size_t extra);
DWORD mt_vm_insert(struct mt_region *r);
void  mt_vm_remove(struct mt_region *r);

/* Index of the run holding page (pages from the region's base). */
size_t mt_run_at(const struct mt_region *r, size_t page);

/* Sets state and protect of pages [first, first + count) and merges. */
DWORD mt_runs_set(struct mt_region *r, size_t first, size_t count,
                  DWORD state, DWORD protect);

/* The same for one committed page, from the fault handler: never allocates. */
void  mt_runs_set_in_fault(struct mt_region *r, size_t page, DWORD protect);

/* Makes room for two more runs (the splits of one change). */
DWORD mt_runs_reserve(struct mt_region *r);

/* Applies the pages' recorded state to the OS (mprotect): errno. */
int   mt_vm_sync(struct mt_region *r, size_t first, size_t count);

/* PROT_* for a Windows protection of committed memory (without guard). */
int   mt_prot_from_win(DWORD protect);

/* ---- vm/alloc.c, vm/free.c: memory of other subsystems ---- */

/* VirtualAlloc (reserve or commit) of memory owned by obj, a heap or
 * section: the region records owner (MEMAPI_OWNER_*) and obj, and only
 * these calls with the same obj can commit, decommit or release it. */
DWORD mt_vm_alloc_owned(void *obj, DWORD owner, void *addr, size_t size, DWORD type,
                        DWORD protect, void **out);
/* MEM_DECOMMIT of [addr, +size) or MEM_RELEASE (size 0) of obj's memory. */
DWORD mt_vm_free_owned(void *obj, void *addr, size_t size, DWORD type);

/* ---- vm/misc.c ---- */

/* Checks that [start, end) lies in one own allocation and is committed (with
 * some access if need_access); *out is the region, NULL for memory the
 * library does not own (not checked). Called with the lock held. */
DWORD mt_vm_committed_range(uintptr_t start, uintptr_t end, struct mt_region **out,
                            bool need_access);

/* ---- vm/reset.c ---- */

DWORD mt_vm_reset(uintptr_t start, uintptr_t end);
/* *lost: some page's contents were dropped (it reads as zero now). */
DWORD mt_vm_reset_undo(uintptr_t start, uintptr_t end, bool *lost);

/* ---- vm/protect.c ---- */

/* Validates a page protection for VirtualAlloc/VirtualProtect. */
bool  mt_protect_valid(DWORD protect, bool allow_writecopy);
/* PAGE_* of memory the kernel describes (not owned by the library). */
DWORD mt_protect_from_vma(const struct mt_vma *v);
/* VirtualProtect of the calling process. */
DWORD mt_vm_protect(uintptr_t addr, size_t size, DWORD prot, DWORD *old);

/* ---- vm/query.c ---- */

/* VirtualQuery of the calling process (own table, else kernel view). */
DWORD mt_query_self(uintptr_t addr, MEMORY_BASIC_INFORMATION *mbi);
/* VirtualQuery from /proc/PID/maps only (pid 0: self). */
DWORD mt_query_kernel(pid_t pid, uintptr_t addr, MEMORY_BASIC_INFORMATION *mbi);

/* ---- fault.c ---- */

void mt_fault_init(void);
void mt_veh_atfork(enum mt_fork_phase phase);

/* Runs the vectored handlers for a record; returns EXCEPTION_CONTINUE_EXECUTION
 * when one of them handled it. ctx may be NULL. */
LONG mt_dispatch_exception(EXCEPTION_RECORD *rec, CONTEXT *ctx);

extern atomic_uint_fast64_t mt_fault_count, mt_guard_hits, mt_watch_faults;

/* The first write to copy-on-write page of r makes it private (PAGE_READWRITE
 * or PAGE_EXECUTE_READWRITE); false when the page is not copy-on-write.
 * Lock held. */
bool mt_fault_writecopy(struct mt_region *r, size_t page);

/* ---- watch.c ---- */

DWORD mt_watch_attach(struct mt_region *r);
void  mt_watch_detach(struct mt_region *r);
/* The effective PROT_* of one page after write-watch tracking. */
bool  mt_watch_fallback(const struct mt_region *r);
/* Fault handler: a write to an unwritten fallback-watched page. True if
 * resolved. Called with the lock held. */
bool  mt_watch_fault(struct mt_region *r, size_t page);
/* In a fork child: a fresh userfaultfd for the child's own mm (the
 * inherited one still acts on the parent's) and its regions registered
 * again, every page "not written". Called with the lock held. */
void  mt_watch_after_fork(void);
/* Marks and opens the fallback-watched pages under [addr, +len) for a write
 * by the kernel (read(2) into watched memory), and makes its copy-on-write
 * pages private, as a write from user space would. */
void  mt_watch_prepare_write(const void *addr, size_t len);

/* ---- cfg.c ---- */

/* Call-target map for a new or re-protected region. */
/* Call-target map after pages [first, +count) got protect from VirtualAlloc
 * (from_alloc) or VirtualProtect. */
DWORD mt_cfg_update(struct mt_region *r, size_t first, size_t count, DWORD protect,
                    bool from_alloc);
void  mt_cfg_free(struct mt_region *r);

/* ---- heap/ ---- */

/* Makes the process heap (before main, from the constructor). */
void mt_heap_init(void);
void mt_heap_atfork(enum mt_fork_phase phase);

/* ---- section/: file mapping ---- */

/* VirtualAlloc(MEM_COMMIT) inside a view r of a SEC_RESERVE section:
 * commits the section's pages in every view of it. Lock held. */
DWORD mt_section_commit(struct mt_region *r, uintptr_t start, uintptr_t end, DWORD protect);
/* In a fork child: named objects get open file descriptions (and locks)
 * of the child's own. Lock held. */
void  mt_section_after_fork(void);
/* Whether VirtualProtect may give pages of view r the protection. */
DWORD mt_section_protect_ok(const struct mt_region *r, DWORD protect);

/* ---- awe.c ---- */

/* A MEM_PHYSICAL region r is released: its frames are no longer mapped
 * there. Lock held. */
void mt_awe_forget(struct mt_region *r);
/* In a fork child: the windows get a pool of their own (a copy), so that
 * parent and child stop sharing what they write. Lock held. */
void mt_awe_after_fork(void);
void mt_awe_atfork(enum mt_fork_phase phase);

/* ---- sysmem.c ---- */

/* Physical memory and what is available of it, as GlobalMemoryStatusEx
 * reports them (within the cgroup's limit), in bytes. */
DWORD mt_physical_memory(uint64_t *total, uint64_t *avail);

/* ---- notify.c ---- */

/* Whether a notification object's memory condition holds now. */
DWORD mt_notification_state(struct mt_object *obj, bool *signalled);

/* ---- enclave.c ---- */

/* Whether VirtualProtect may change pages of enclave region r (not once
 * the enclave is sealed). Lock order: the enclave lock, then vm. */
DWORD mt_enclave_protect_ok(const struct mt_region *r);
void  mt_enclave_atfork(enum mt_fork_phase phase);

/* ---- thunk.c ---- */

/* Lock order: the thunk lock, then vm. In a fork child (both held): the
 * blocks get memory of the child's own. */
void mt_thunk_atfork(enum mt_fork_phase phase);
void mt_thunk_after_fork(void);

/* ---- badmem.c ---- */

/* A memory error the kernel reported at addr (async-signal-safe). */
void mt_badmem_report(uintptr_t addr);
void mt_badmem_atfork(enum mt_fork_phase phase);

/* ---- securecb.c ---- */

/* Runs the secure memory cache callbacks for a range freed, decommitted,
 * unmapped or reprotected. No library lock held (a heap's may be). */
void mt_secure_notify(uintptr_t start, size_t size);
void mt_secure_atfork(enum mt_fork_phase phase);

/* ---- root.c ---- */

void mt_root_init(void);
void mt_root_publish(void);

/* ---- init.c ---- */

/* Library state ready (constructor ran); safe to call repeatedly. */
void mt_init(void);

#endif
