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

/* ---- Heaps (heap.c) ---- */

struct mi_heap_block {
	uint64_t address;               /* what HeapAlloc returned                  */
	uint64_t size;                  /* what HeapSize returns; free: usable bytes */
	bool     busy;
	uint32_t flags;                 /* MEMAPI_HEAP_BLOCK_*                      */
};

struct mi_heap_problem {
	uint64_t    address;            /* of the bad header or record              */
	const char *what;
};

struct mi_heap_info {
	uint64_t               handle;
	struct memapi_rec_heap rec;
	uint64_t busy_blocks, busy_bytes, free_blocks, free_bytes;
	uint64_t committed_bytes, reserved_bytes;
	uint64_t segments, large_blocks;
	uint64_t problems;
};

/* Callbacks of a walk; either may be NULL. A negative return ends the walk
 * and is returned by mi_heap_walk. */
struct mi_heap_visitor {
	int (*block)(const struct mi_heap_block *b, void *ctx);
	int (*problem)(const struct mi_heap_problem *p, void *ctx);
};

/* Walks the heap whose HANDLE is handle (from mi_root.heaps): every block
 * in address order per segment, then the large blocks; statistics in
 * *info. Corruption is reported through the visitor and counted in
 * info->problems; the walk goes on where it can. Errors (unreadable heap
 * record, bad magic: EPROTO) only when the heap itself cannot be read. */
int  mi_heap_walk(struct mi_target *t, uint64_t handle, const struct mi_heap_visitor *v,
                  void *ctx, struct mi_heap_info *info, struct mi_err *e);
/* The heap's generation word, odd while its segment lists change. */
int  mi_heap_generation(struct mi_target *t, uint64_t handle, uint64_t *gen, struct mi_err *e);

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

/* ---- DEP/NX (dep.c) ---- */

/* personality(2)'s READ_IMPLIES_EXEC: every PROT_READ mapping is executable. */
#define MI_READ_IMPLIES_EXEC 0x0400000ul

/* The checks of a DEP report: mi_dep_violation.check, mi_dep_report.failed. */
#define MI_DEP_CHECK_DEP        0x1u    /* DEP off: READ_IMPLIES_EXEC, or no NX  */
#define MI_DEP_CHECK_EXEC_STACK 0x2u    /* an object asks for it, or a stack is  */
#define MI_DEP_CHECK_WX         0x4u    /* a mapping writable and executable     */

struct mi_dep_object {
	char *path;
	bool  is_exe;
	bool  known;                    /* parsed; else the next two are unknown    */
	bool  has_gnu_stack;
	bool  exec_stack;               /* PF_X in PT_GNU_STACK, or no PT_GNU_STACK */
};

struct mi_dep_map {
	uint64_t base, size;
	uint32_t protect;               /* PAGE_*                                   */
	char    *path;                  /* as mi_vq.path                            */
};

struct mi_dep_violation {
	uint32_t    check;              /* one MI_DEP_CHECK_*                       */
	const char *reason;             /* a static sentence                        */
	char       *subject;            /* a path, "0xSTART-0xEND path", ...        */
};

struct mi_dep_report {
	bool          personality_known;    /* false for a core                 */
	unsigned long personality;
	bool          nx_known;             /* false for a core, or not x86     */
	bool          kernel_nx;
	bool          dep_enabled;          /* not known to be off              */
	struct mi_dep_object    *objects;       /* mapped ELF objects, by address */
	size_t                   object_count;
	struct mi_dep_map       *wx;            /* W+X mappings                   */
	size_t                   wx_count;
	struct mi_dep_map       *exec_stacks;   /* executable stack mappings      */
	size_t                   exec_stack_count;
	struct mi_dep_violation *violations;
	size_t                   violation_count;
	uint32_t                 failed;        /* MI_DEP_CHECK_* with a violation */
};

/* The DEP/NX state of t: personality, the kernel's NX (live targets), the
 * PT_GNU_STACK of every mapped object, executable stacks and W+X mappings
 * as the kernel maps them, and the violations among them. Unknown facts
 * (a core's personality) are never violations. */
int  mi_dep_report(struct mi_target *t, struct mi_dep_report **out, struct mi_err *e);
void mi_dep_free(struct mi_dep_report *r);

/* Whether the running kernel enforces NX: "nx" in the first flags line of
 * /proc/cpuinfo, and no noexec=off on the kernel command line. ENOENT
 * where /proc/cpuinfo has no flags line (not x86). */
int  mi_kernel_nx(bool *nx, struct mi_err *e);

/* ---- write tracking (watch.c) ---- */

/* What one watch entry describes. */
enum mi_watch_kind {
	MI_WATCH_REGION,            /* a MEM_WRITE_WATCH region: libmemapi's own tracking */
	MI_WATCH_HASHED,            /* other private writable memory: page-hash diffs     */
};

/* One range of a sample. For a watch region, written holds the pages
 * written since the application's last ResetWriteWatch; for hashed memory,
 * the pages seen changing at any sample since the first. fresh ("new")
 * holds the pages of written that were not written at the previous sample
 * (watch region), or whose hash changed since it (hashed). Page addresses,
 * ascending. */
struct mi_watch_entry {
	enum mi_watch_kind kind;
	uint64_t  base, size;
	uint64_t *written;
	size_t    written_count;
	uint64_t *fresh;
	size_t    fresh_count;
};

struct mi_watch_sample {
	uint32_t               watch_mode;     /* MEMAPI_WATCH_*; 0: no libmemapi */
	struct mi_watch_entry *entries;        /* by base                         */
	size_t                 entry_count;
};

/* mi_watch_open flags */
#define MI_WATCH_UNWATCHED 0x1u     /* also hash memory that is not watched */

struct mi_watch;

/* Starts tracking a live target (EINVAL for a core). The target's own
 * write-watch state is only read, never reset. */
int  mi_watch_open(struct mi_target *t, unsigned flags, struct mi_watch **out,
                   struct mi_err *e);
/* Takes one sample; *out stays valid until the next call or mi_watch_close.
 * ENOTSUP: the target tracks writes with userfaultfd but this kernel has no
 * PAGEMAP_SCAN to read them; ESRCH: the process has exited. */
int  mi_watch_sample(struct mi_watch *w, const struct mi_watch_sample **out,
                     struct mi_err *e);
void mi_watch_close(struct mi_watch *w);

/* ---- thunks and enclaves (thunk.c, enclave.c) ---- */

#define MI_INSN_MAX    16           /* bytes of one instruction, at most        */
#define MI_THUNK_INSNS 16           /* instructions of one 16-byte slot, at most */

/* One disassembled instruction; a byte that decodes to nothing is an
 * instruction "(bad)" of size 1, as objdump shows it. */
struct mi_insn {
	uint64_t address;
	uint8_t  bytes[MI_INSN_MAX];
	uint8_t  size;
	char     mnemonic[32];
	char     operands[160];         /* Intel syntax on x86-64                   */
};

enum mi_thunk_check {
	MI_THUNK_OK,                    /* the code is libmemapi's for this slot    */
	MI_THUNK_MISMATCH,              /* it is not: mi_thunk.mismatch says how    */
	MI_THUNK_UNAVAILABLE,           /* the code page cannot be read (a core)    */
	MI_THUNK_UNCHECKED,             /* no known sequence on this architecture   */
};

/* One thunk in use: slot `slot` of a block. */
struct mi_thunk {
	uint64_t            code;       /* the block's code + 16 * slot             */
	uint64_t            data;       /* its two words in the writable data view  */
	unsigned            slot;
	uint64_t            parameter;  /* what the code puts in the first argument */
	uint64_t            target;     /* where it jumps                           */
	bool                has_symbol;
	char                target_symbol[256];     /* mi_symbolize's name       */
	enum mi_thunk_check check;
	char                mismatch[256];          /* why, for MI_THUNK_MISMATCH */
	size_t              insn_count;
	struct mi_insn      insns[MI_THUNK_INSNS];  /* the slot's 16 bytes        */
};

/* A capstone disassembler for the host's architecture (x86-64, AArch64);
 * ENOTSUP on another. */
struct mi_disasm;
int  mi_disasm_open(struct mi_disasm **out, struct mi_err *e);
void mi_disasm_close(struct mi_disasm *d);

/* Disassembles the 16 bytes of a slot at code_addr into th->insns and
 * checks them against libmemapi's sequence, which loads the parameter from
 * data_addr and jumps through data_addr + 8 (sets check and mismatch).
 * ENOTSUP when d is NULL (no disassembler: check is MI_THUNK_UNCHECKED). */
int  mi_thunk_decode(struct mi_disasm *d, const uint8_t *code, uint64_t code_addr,
                     uint64_t data_addr, struct mi_thunk *th);

/* Calls fn for every thunk in use of r (NULL: none), by code address, with
 * the target symbolized and the code decoded; fn returns a negative value to
 * stop, which is returned. The code is also checked against the data view:
 * a memfd block's code reads its words through another mapping than the
 * listed data view, and both must agree. */
int  mi_thunk_walk(struct mi_target *t, const struct mi_root *r,
                   int (*fn)(const struct mi_thunk *th, void *ctx), void *ctx,
                   struct mi_err *e);

/* One enclave of r and what the target shows of it. */
struct mi_enclave {
	struct memapi_rec_enclave rec;
	const struct mi_region   *regions;      /* in r: owner MEMAPI_OWNER_ENCLAVE, */
	size_t                    region_count; /* within [base, base + size)      */
	int      secret;        /* its committed data pages are memfd_secret memory:
	                           1 yes, 0 no, -1 cannot be told (none committed, or
	                           a core without their mappings)                  */
	bool     probed;        /* a page is committed, so one byte was read:    */
	uint64_t probe;         /* at the first committed data page, else the
	                           first committed page                            */
	bool     readable;      /* ... and whether it could be read               */
};

/* Fills *out for r->enclaves[i]; see mi_enclave_probe for the read. */
int  mi_enclave_inspect(struct mi_target *t, const struct mi_root *r, size_t i,
                        struct mi_enclave *out, struct mi_err *e);

/* Whether one byte at addr can be read: EFAULT is "no"; other failures
 * (ESRCH, EPERM) are errors. */
int  mi_enclave_probe(struct mi_target *t, uint64_t addr, bool *readable, struct mi_err *e);

/* "ENCLAVE_TYPE_VBS", ..., or "0x..." in buf for an unknown type. */
const char *mi_enclave_type_name(uint32_t type, char *buf, size_t size);

#endif
