/* libmeminspect: one interface over three kinds of target (the calling
 * process, a live pid, an ELF core file) and the inspectors built on it.
 * Every function returns 0 or a positive errno and, on failure, fills the
 * caller's struct mi_err with a sentence a user can act on. Targets are
 * not thread-safe: one thread uses a target at a time. */
#ifndef MEMINSPECT_H
#define MEMINSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <memapi.h>

struct mi_err {
	int  code;                  /* errno of the failure                      */
	char msg[256];              /* its cause, without "memtool:" or subject  */
};

/* Records e (if not NULL) and returns code. */
int mi_fail(struct mi_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- Targets (target.c, live.c, core.c) ---- */

enum mi_kind { MI_SELF, MI_PID, MI_CORE };

/* mi_map.prot and .flags */
#define MI_PROT_READ   0x1u
#define MI_PROT_WRITE  0x2u
#define MI_PROT_EXEC   0x4u
#define MI_MAP_SHARED  0x1u         /* MAP_SHARED (live targets only)          */
#define MI_MAP_NOBYTES 0x2u         /* a core holds no bytes of it             */

/* One kernel mapping (VMA). */
struct mi_map {
	uint64_t    start, end;
	uint64_t    offset;             /* file offset of start                     */
	uint64_t    inode;              /* 0: anonymous, or unknown in a core       */
	uint32_t    prot;               /* MI_PROT_*                                */
	uint32_t    flags;              /* MI_MAP_*                                 */
	const char *path;               /* file path, "[stack]"-style name, or ""   */
};

struct mi_target;

int  mi_open_self(struct mi_target **out, struct mi_err *e);
int  mi_open_pid(pid_t pid, struct mi_target **out, struct mi_err *e);
int  mi_open_core(const char *path, struct mi_target **out, struct mi_err *e);
void mi_close(struct mi_target *t);

enum mi_kind mi_kind(const struct mi_target *t);
pid_t        mi_pid(const struct mi_target *t);       /* a core's: its pid      */
const char  *mi_exe(const struct mi_target *t);       /* "" when unknown        */
const char  *mi_core_path(const struct mi_target *t); /* NULL unless a core     */
bool         mi_is_live(const struct mi_target *t);

/* Copies len bytes at addr. EFAULT: not mapped, or a core holds no bytes
 * there; ESRCH: the process is gone; EPERM: no ptrace rights. */
int  mi_read(struct mi_target *t, uint64_t addr, void *buf, size_t len, struct mi_err *e);

/* The mappings by address. Live targets read them afresh on each call;
 * the array stays valid until the next call or mi_close. */
int  mi_maps(struct mi_target *t, const struct mi_map **maps, size_t *count,
             struct mi_err *e);

/* The stack pointers of the target's threads (live: /proc/PID/task/N/syscall,
 * core: NT_PRSTATUS); *count is set to how many there are, at most max
 * are stored. */
int  mi_stack_pointers(struct mi_target *t, uint64_t *sp, size_t max, size_t *count,
                       struct mi_err *e);

/* The personality(2) flags; ENODATA for a core (cores do not record it). */
int  mi_personality(struct mi_target *t, unsigned long *flags, struct mi_err *e);

/* ---- ELF objects and symbols (elf.c) ---- */

/* One mapped ELF object: the file mapped at offset 0 and the mappings of
 * the same file that follow it. */
struct mi_object {
	const char *path;
	uint64_t    bias;               /* load bias: run-time minus link address   */
	uint64_t    start, end;         /* the span of its mappings                 */
	bool        is_exe;             /* the target's executable                  */
	bool        readable;           /* the file could be opened and parsed      */
	bool        has_gnu_stack;      /* PT_GNU_STACK present                     */
	bool        exec_stack;         /* ... and asks for an executable stack     */
	uint32_t    elf_type;           /* ET_EXEC, ET_DYN                          */
};

/* The mapped ELF objects, by address; valid until the next call. */
int  mi_objects(struct mi_target *t, const struct mi_object **objs, size_t *count,
                struct mi_err *e);

/* The run-time address of a defined symbol of any mapped object; ENOENT
 * when none defines it. */
int  mi_symbol_address(struct mi_target *t, const char *name, uint64_t *addr,
                       struct mi_err *e);

/* "object!symbol+0xoff" for addr, or "object+0xoff" when no symbol covers it;
 * ENOENT when addr is in no mapped object. */
int  mi_symbolize(struct mi_target *t, uint64_t addr, char *buf, size_t size);

/* ---- libmemapi's forensic root (root.c) ---- */

/* A consistent copy of a region record and its runs. */
struct mi_region {
	struct memapi_rec_region rec;
	struct memapi_rec_run   *runs;  /* rec.run_count of them                    */
	uint64_t                 addr;  /* where the record is in the target        */
};

struct mi_thunk_block {
	struct memapi_rec_thunk_block rec;
	uint64_t data[MEMAPI_THUNK_SLOTS][2];   /* parameter and target per slot   */
	uint8_t  code[MEMAPI_THUNK_SLOTS * 16]; /* empty if the code is unreadable */
	bool     code_read;
	uint64_t addr;
};

struct mi_section {
	struct memapi_rec_section rec;
	char    *name, *path;           /* copies, or NULL                          */
	struct memapi_rec_view *views;  /* rec.view_count of them                   */
	uint64_t addr;
};

/* What libmemapi records in the target, read under its generation counter. */
struct mi_root {
	uint64_t                  addr;     /* of memapi_root in the target         */
	struct memapi_root        root;
	struct mi_region         *regions;
	size_t                    region_count;
	uint64_t                 *heaps;    /* heap handles, in list order           */
	size_t                    heap_count;
	struct memapi_rec_enclave *enclaves;
	size_t                    enclave_count;
	struct mi_thunk_block    *thunks;
	size_t                    thunk_count;
	struct mi_section        *sections;
	size_t                    section_count;
	unsigned                  retries;  /* torn reads seen before this copy      */
	bool                      torn;     /* a core taken inside a change          */
};

/* Finds and copies the root. ENOENT: the target does not use libmemapi;
 * EPROTO: a root with a wrong magic or an unknown layout; EAGAIN: it kept
 * changing while being read. */
int  mi_root_read(struct mi_target *t, struct mi_root **out, struct mi_err *e);
void mi_root_free(struct mi_root *r);

/* The region of r containing addr, or NULL. */
const struct mi_region *mi_root_region_at(const struct mi_root *r, uint64_t addr);

/* ---- Region map (regions.c) ---- */

/* One run of pages with the same attributes, in VirtualQuery terms. */
struct mi_vq {
	uint64_t    base, allocation_base, size;
	uint32_t    state;              /* MEM_COMMIT, MEM_RESERVE, MEM_FREE          */
	uint32_t    protect, allocation_protect;
	uint32_t    type;               /* MEM_PRIVATE, MEM_MAPPED, MEM_IMAGE, 0      */
	uint32_t    flags;              /* MEMAPI_REGION_* where libmemapi owns it    */
	bool        own;                /* described by libmemapi's tables            */
	const char *usage;              /* image stack heap section watch thunk enclave
	                                   private mapped free                        */
	const char *path;               /* backing file, section name, or ""         */
};

/* Calls fn for every region that is not free, by address; fn returns a
 * negative value to stop, which is returned. Kernel addresses ([vsyscall])
 * are left out, as VirtualQueryEx leaves them out. root may be NULL (a process
 * without libmemapi, or one whose tables could not be read). */
int mi_region_walk(struct mi_target *t, const struct mi_root *root,
                   int (*fn)(const struct mi_vq *vq, void *ctx), void *ctx, struct mi_err *e);

/* The region containing addr, free space included, like VirtualQueryEx. */
int mi_region_query(struct mi_target *t, const struct mi_root *root, uint64_t addr,
                    struct mi_vq *out, struct mi_err *e);

#endif
