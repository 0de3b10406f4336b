/* The OS layer: the only code in libmemapi that makes memory syscalls.
 * Contract: every function returns 0 or a positive errno, never prints, never
 * exits; addresses and sizes are page aligned unless a comment says otherwise. */
#ifndef MT_OS_H
#define MT_OS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What this machine offers; filled once by mt_os_init(), read-only after. */
struct mt_os_config {
	size_t    page_size;          /* 4096 on x86_64                              */
	size_t    granularity;        /* Windows allocation granularity: 64 KiB      */
	size_t    huge_page_size;     /* default hugetlb page size, 0 if none         */
	uintptr_t min_address;        /* lowest address VirtualAlloc may return      */
	uintptr_t max_address;        /* highest user address + 1                    */
	bool      has_procmap_query;  /* PROCMAP_QUERY ioctl on /proc/PID/maps        */
	bool      has_wp_async;       /* uffd WP async + WP_UNPOPULATED + PAGEMAP_SCAN */
	bool      has_membarrier;     /* membarrier PRIVATE_EXPEDITED registered      */
	unsigned  cpu_count;          /* online processors                            */
};

/* Hidden: read on hot paths without a GOT load. */
extern struct mt_os_config mt_os __attribute__((visibility("hidden")));

/* Syscalls that tests replace to inject failures (ENOMEM, EPERM, ...).
 * Production code calls them only through this table. */
struct mt_os_calls {
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int   (*munmap)(void *addr, size_t len);
	int   (*mprotect)(void *addr, size_t len, int prot);
	int   (*madvise)(void *addr, size_t len, int advice);
	int   (*mlock)(const void *addr, size_t len);
	int   (*munlock)(const void *addr, size_t len);
	int   (*fallocate)(int fd, int mode, off_t off, off_t len);
};

extern struct mt_os_calls mt_os_calls;

/* Restores the real syscalls (for tests that injected failures). */
void mt_os_calls_reset(void);

/* Facilities mt_os_init must not use (they are not even probed). */
enum {
	MT_OS_NO_WP_ASYNC      = 1 << 0,
	MT_OS_NO_PROCMAP_QUERY = 1 << 1,
	MT_OS_NO_MEMBARRIER    = 1 << 2,
};

int  mt_os_init(unsigned disable);

/* A full memory barrier on every running thread of the process (membarrier
 * PRIVATE_EXPEDITED): lets hot paths pair a compiler barrier with this rare
 * call instead of a fence each. Only when mt_os.has_membarrier. */
int  mt_os_membarrier(void);

/* Probes run by mt_os_init: 0 when the facility works. */
int  mt_maps_probe(void);
int  mt_os_wp_probe(void);

/* Maps [*addr, +size) with prot (PROT_NONE for a reservation), aligned to
 * align (power of two >= page). With fixed, *addr is required and existing
 * mappings are never replaced (EEXIST). With huge, the pages come from
 * hugetlbfs and are populated at once. */
int  mt_os_reserve(void **addr, size_t size, size_t align, int prot, bool fixed, bool huge);
int  mt_os_release(void *addr, size_t size);

/* prot is PROT_* bits. */
int  mt_os_protect(void *addr, size_t size, int prot);

/* Drops the contents (reads see zeroes afterwards) and removes access,
 * keeping the reservation and any userfaultfd registration. */
int  mt_os_decommit(void *addr, size_t size);

/* Contents may be discarded under memory pressure (MEM_RESET, Offer). */
int  mt_os_reset(void *addr, size_t size);

/* Drops the contents now; pages stay accessible and read as zero. */
int  mt_os_discard(void *addr, size_t size);

/* mincore(): bit 0 of vec[i] set when page i of the range is resident. */
int  mt_os_resident(void *addr, size_t size, unsigned char *vec);

/* Cancels mt_os_reset for the pages still resident. Returns 0 when every
 * page kept its contents, ENOENT when at least one was already dropped. */
int  mt_os_reset_undo(void *addr, size_t size);

int  mt_os_lock(void *addr, size_t size);
/* Locks without faulting pages in for writing (read-populated, the rest
 * locked as they fault): for write-watched memory, where a write fault
 * would count as a write. */
int  mt_os_lock_no_write(void *addr, size_t size);
int  mt_os_unlock(void *addr, size_t size);
int  mt_os_prefetch(void *addr, size_t size);

/* Binds the range's pages to one NUMA node (best effort where the kernel has
 * no NUMA support: returns ENOSYS). node_count() is the number of possible nodes. */
int  mt_os_bind_node(void *addr, size_t size, unsigned node);
unsigned mt_os_node_count(void);

/* Gap search: the highest (top_down) or lowest free range of size bytes with
 * the given alignment inside [lo, hi). Returns 0 and *out, or ENOMEM. */
int  mt_os_find_gap(uintptr_t lo, uintptr_t hi, size_t size, size_t align,
                    bool top_down, uintptr_t *out);

/* ---- files and shared memory objects for sections (shm.c, mem.c) ---- */

/* An anonymous shared memory file of size bytes (hugetlb pages taken at
 * once with huge). */
int  mt_os_memfd(const char *name, uint64_t size, bool huge, int *out);
/* /dev/shm/name, read-write; with create it must not exist yet and is made
 * owner-only (EEXIST otherwise). Never follows a symlink. */
int  mt_os_shm_open(const char *name, bool create, int *out);
int  mt_os_shm_unlink(const char *name);
/* /dev/shm/from takes the name to in one step; EEXIST if to exists. */
int  mt_os_shm_publish(const char *from, const char *to);
/* 0 when /dev/shm/name is still the object open on fd, else ENOENT. */
int  mt_os_shm_same(int fd, const char *name);

enum { MT_LOCK_NONE, MT_LOCK_SHARED, MT_LOCK_EXCLUSIVE };
/* An open-file-description lock on the whole file; without wait EAGAIN
 * when another description holds a conflicting one. */
int  mt_os_fd_lock(int fd, int how, bool wait);
/* In a fork child: fd gets an open file description of its own for the
 * same file, holding a lock of how (MT_LOCK_*). */
int  mt_os_fd_own(int fd, int how);
int  mt_os_fd_size(int fd, uint64_t *size);
/* A code page that is never writable where it runs, and the data page
 * after it, writable in a view of its own (*rw) (memfd), else beside it. */
int  mt_os_code_pages(const void *code, size_t len, size_t page, bool memfd, void **rx,
                      void **rw);
/* In a fork child: those pages (memfd kind) get an object of its own. */
int  mt_os_code_pages_unshare(void *rx, void *rw, size_t page);
/* A memfd_secret file of size bytes (ENOSYS without one). */
int  mt_os_memfd_secret(uint64_t size, int *out);
void mt_os_close(int fd);
/* Extends the file to size bytes if it is shorter. */
int  mt_os_fd_grow(int fd, uint64_t size);
/* msync(MS_SYNC): written data reaches the file's storage. */
int  mt_os_sync(void *addr, size_t size);
/* Gives [off, +len) of a memfd its pages now (ENOSPC/ENOMEM when memory is
 * short), or gives them back (reads see zeroes again). */
int  mt_os_fd_alloc(int fd, uint64_t off, uint64_t len);
int  mt_os_fd_punch(int fd, uint64_t off, uint64_t len);
/* Pages of [off, +len) of a memfd allocated from now on prefer the node. */
int  mt_os_fd_bind_node(int fd, uint64_t off, uint64_t len, unsigned node);
/* Copies [off, +len) of src to the same offsets of dst. */
int  mt_os_fd_copy(int dst, int src, uint64_t off, uint64_t len);

enum mt_map_place {
	MT_MAP_ANYWHERE,    /* a free range aligned to the allocation granularity */
	MT_MAP_FIXED,       /* at *addr, which must be free (EEXIST otherwise)    */
	MT_MAP_REPLACE,     /* over [*addr, +span), a reservation the caller owns */
};
/* Maps len bytes of fd from off (page aligned) with prot, shared or
 * copy-on-write; span >= len is what the caller owns: the rest after len
 * stays reserved (PROT_NONE). */
int  mt_os_map_file(void **addr, size_t len, size_t span, int prot, bool shared, int fd,
                    uint64_t off, enum mt_map_place place);
/* Puts a reservation (PROT_NONE, no contents) back over [addr, +size),
 * which the caller owns. */
int  mt_os_rereserve(void *addr, size_t size);

/* ---- memory accounting (meminfo.c) ---- */

/* /proc/meminfo, in bytes. */
struct mt_meminfo {
	uint64_t total, free, available, cached;
	uint64_t swap_total, swap_free;
	uint64_t commit_limit, committed;
};
int  mt_os_meminfo(struct mt_meminfo *m);

/* The memory limits that bind the process's cgroup (the tightest of its
 * group and ancestors; UINT64_MAX: none), with the usage of the group that
 * sets each; found: a memory controller was seen at all. */
struct mt_cgroup_mem {
	bool     found;
	uint64_t max, current;            /* memory.max / v1 limit_in_bytes  */
	uint64_t swap_max, swap_current;  /* memory.swap.max (v2)            */
	uint64_t min;                     /* memory.min of the own group     */
};
int  mt_os_cgroup_memory(struct mt_cgroup_mem *c);

/* Bytes the process could still get: MemAvailable, lowered to what the
 * cgroup memory limit leaves. */
int  mt_os_available_memory(uint64_t *bytes);
/* vm.overcommit_memory (0 heuristic, 1 always, 2 strict). */
int  mt_os_overcommit_mode(void);
/* The process's mapped address space (VmSize), bytes. */
uint64_t mt_os_vm_size(void);
/* Kilobytes of the SMBIOS memory devices (type 17): ENOENT without any,
 * EACCES when the table is root's only, EINVAL when malformed. */
int  mt_os_smbios_memory(uint64_t *kib);
/* Bytes of the kernel's online memory blocks, 0 if none are listed. */
uint64_t mt_os_memory_blocks(void);
/* Whether the capability (CAP_*) is in the effective set. */
bool mt_os_capable(int cap);
/* Writes dirty pages back and drops the clean page cache (root only). */
int  mt_os_drop_page_cache(void);
/* One value of a meminfo-format file, in bytes (0 when missing). */
uint64_t mt_os_meminfo_value(const char *path, const char *key);
/* Bytes the process may lock, UINT64_MAX without limit. */
uint64_t mt_os_memlock_limit(void);
/* Whether the SGX driver's device can be opened. */
bool mt_os_sgx_present(void);
/* Whether an EDAC memory controller scrubs memory. */
bool mt_os_edac_scrubbing(void);

/* ---- wake-ups (event.c) ---- */

/* An eventfd, or -1; signal is async-signal-safe; wait sleeps at most ms
 * and consumes what was signalled. */
int  mt_os_event_new(void);
void mt_os_event_signal(int fd);
void mt_os_event_wait(int fd, int ms);
void mt_os_event_close(int fd);

/* Whether the process has exited (gone, or a zombie) (procstat.c). */
bool mt_os_process_exited(pid_t pid);
/* A memory pressure trigger of /proc/pressure/memory ("some 150000
 * 2000000"): a descriptor that polls POLLPRI when it fires, or -1. */
int  mt_os_psi_trigger(const char *spec);

/* ---- /proc/PID/maps (maps.c) ---- */

enum {
	MT_VMA_READ   = 1 << 0,
	MT_VMA_WRITE  = 1 << 1,
	MT_VMA_EXEC   = 1 << 2,
	MT_VMA_SHARED = 1 << 3,
};

struct mt_vma {
	uintptr_t start, end;
	unsigned  flags;              /* MT_VMA_*                                    */
	uint64_t  offset;             /* file offset of start                        */
	uint64_t  inode;              /* 0 for anonymous memory                      */
	unsigned  dev_major, dev_minor;
	char      name[256];          /* path, "[stack]", "[heap]", or ""            */
};

/* A reader of one process's memory map; pid 0 is the calling process. */
struct mt_maps;

int  mt_maps_open(pid_t pid, struct mt_maps **out);
void mt_maps_close(struct mt_maps *m);

/* The VMA containing addr, else the first one above it: 0, or ENOENT when
 * there is none. */
int  mt_maps_find(struct mt_maps *m, uintptr_t addr, struct mt_vma *out);

/* ---- small /proc readers and non-faulting reads (proc.c) ---- */

/* The personality(2) flags of a process (pid 0: the calling one). Another
 * process's need ptrace-attach rights: EPERM/EACCES without them, ENOENT
 * or ESRCH when it is gone. */
int  mt_os_personality(pid_t pid, unsigned long *out);

/* Whether the kernel marks data non-executable: false when booted with
 * noexec=off or when "nx" is missing from the flags of /proc/cpuinfo. */
int  mt_os_kernel_nx(bool *on);

/* Copies len bytes at src (any alignment) of the calling process to dst
 * without ever faulting: EFAULT when some byte cannot be read (unmapped,
 * no read permission, unmapped meanwhile by another thread). Uses
 * process_vm_readv, or pread of /proc/self/mem where a seccomp filter
 * refuses that; the latter also reads pages without read permission, so
 * callers check the protection first. */
int  mt_os_read_self(void *dst, uintptr_t src, size_t len);

/* Tests: take the /proc/self/mem path. */
extern bool mt_os_read_self_via_mem;

/* A reader of the calling process's map for a short use: one kept open
 * across calls (*is_kept, where PROCMAP_QUERY works and no other thread
 * has it), else a fresh one. Hand it back with the same is_kept. */
int  mt_maps_self_get(struct mt_maps **out, bool *is_kept);
void mt_maps_self_put(struct mt_maps *m, bool is_kept);

/* ---- userfaultfd write protection and PAGEMAP_SCAN (uffd.c) ---- */

/* Registers the range for async write protection and protects it (all pages
 * "not written"). Only when mt_os.has_wp_async. */
int  mt_os_wp_register(void *addr, size_t size);
int  mt_os_wp_unregister(void *addr, size_t size);

/* Write-protects again (clears "written") for the range. */
int  mt_os_wp_reset(void *addr, size_t size);

/* Calls out(start, end, ctx) for each run of written pages of [addr, +size),
 * in address order, at most max pages in all; with reset, the reported pages
 * (and only those) are protected again. *count gets the pages reported. */
typedef void mt_wp_range_fn(uintptr_t start, uintptr_t end, void *ctx);

int  mt_os_wp_scan(void *addr, size_t size, size_t max, bool reset,
                   mt_wp_range_fn *out, void *ctx, size_t *count);

/* The same scan on another process's pagemap, never resetting. */
int  mt_os_wp_scan_pid(pid_t pid, uintptr_t addr, size_t size, size_t max,
                       mt_wp_range_fn *out, void *ctx, size_t *count);

/* In a fork child: replaces the inherited userfaultfd, which still refers
 * to the parent's address space. */
int  mt_os_wp_after_fork(void);

/* fork() handlers of every lock in the library (init.c calls them). */
enum mt_fork_phase { MT_FORK_PREPARE, MT_FORK_PARENT, MT_FORK_CHILD };

/* Held across fork, fresh in the child (whose other threads are gone). */
static inline void mt_mutex_atfork(pthread_mutex_t *m, enum mt_fork_phase phase)
{
	if (phase == MT_FORK_PREPARE)
		pthread_mutex_lock(m);
	else if (phase == MT_FORK_PARENT)
		pthread_mutex_unlock(m);
	else
		pthread_mutex_init(m, NULL);
}
void mt_os_atfork(enum mt_fork_phase phase);


#endif
