/* Heaps: internal interfaces shared by the files of core/heap/ and by the
 * Global/Local family (core/global.c).
 *
 * A heap is a list of segments (the library's own reservations, owner
 * MEMAPI_OWNER_HEAP) tiled by blocks with encoded headers (memapi.h), plus
 * large blocks in reservations of their own. Three layers:
 *   backend.c  segments, commit, free lists, coalescing, large blocks;
 *   front.c    size classes served from subsegments (backend blocks cut
 *              into equal slots), each owned by one thread (serialized
 *              growable heaps: "LFH") or by the heap (HEAP_NO_SERIALIZE
 *              growable heaps: "lookaside");
 *   heap.c     creation, the heap list, locking, corruption reports.
 * walk.c walks, validates and compacts; api.c and info.c are the Win32
 * entry points. */
#ifndef MT_HEAP_H
#define MT_HEAP_H

#include "../internal.h"

#define MT_UNIT       16u            /* block sizes are multiples of this     */
#define MT_HDR        16u            /* header bytes before every block's data */
#define MT_MIN_FREE   2u             /* units of the smallest free block       */
#define MT_NCLASS     40u            /* front-end size classes                 */
#define MT_SMALL_MAX  16384u         /* largest request served by the front end */
#define MT_LARGE_MIN  (508u * 1024u) /* growable heaps: own reservation above  */
#define MT_BINS       168u           /* backend free-list bins                 */
#define MT_SLOTS      64u            /* heaps that can have per-thread owners  */
#define MT_SUBSEG_HDR 96u            /* subsegment record before slot 0        */
#define MT_LARGE_HDR  48u            /* large record before the block header   */

enum mt_front {
	MT_FRONT_NONE = 0,        /* backend only (fixed-size heaps)               */
	MT_FRONT_LOOKASIDE = 1,   /* the heap owns its subsegments                 */
	MT_FRONT_LFH = 2,         /* threads own subsegments                       */
};

#define MT_B_BUSY     MEMAPI_HEAP_BLOCK_BUSY
#define MT_B_SLOT     MEMAPI_HEAP_BLOCK_SLOT
#define MT_B_SUBSEG   MEMAPI_HEAP_BLOCK_SUBSEG
#define MT_B_MOVEABLE MEMAPI_HEAP_BLOCK_MOVEABLE
#define MT_B_LARGE    MEMAPI_HEAP_BLOCK_LARGE
#define MT_B_INTERNAL MEMAPI_HEAP_BLOCK_INTERNAL

/* A decoded block header. */
struct mt_bh {
	uint32_t size;            /* units; slots: stride units; large: 0          */
	uint32_t prev;            /* backend: previous block's units; slots: index | class << 24 */
	uint32_t unused;          /* bytes of the block not requested               */
	uint32_t flags;           /* MT_B_*                                        */
};

/* A subsegment's owner: a thread (one per thread and heap on serialized
 * growable heaps, "LFH"), or the heap itself (HEAP_NO_SERIALIZE growable
 * heaps, "lookaside"). Per size class, the subsegments it allocates from. */
struct mt_tclass {
	struct mt_subseg *cur;    /* the next slot comes from here              */
	struct mt_subseg *list;   /* every owned one, linked by next/prev       */
	struct mt_subseg *tail;
	struct mt_subseg *spare;  /* the one empty subsegment kept             */
	uint32_t          count;
};

struct mt_owner {
	struct mt_heap   *heap;
	uint64_t          gen;    /* the heap's slot generation when made        */
	struct mt_tclass  cls[MT_NCLASS];
};

/* Every thread that used a heap's fast path. */
struct mt_thread {
	atomic_uint        busy;  /* slot + 1 while in a fast path, else 0         */
	struct mt_owner  *tc[MT_SLOTS];
	struct mt_thread  *next;
};

/* A subsegment: the data of a SUBSEG backend block. Its owner allocates
 * from it and takes frees of its own without atomics; other threads push
 * their frees onto remote, which the owner collects when it runs dry.
 * Free slots are linked through their data (mt_link_get). */
struct mt_subseg {
	struct memapi_rec_heap_subseg rec;   /* first: the forensic record       */
	uint8_t          *local;  /* free slots, owner only                      */
	_Atomic(uintptr_t) remote;   /* slots freed by other threads            */
	struct mt_owner *owner;  /* NULL: abandoned (its thread exited)         */
	uint32_t          taken;  /* slots out of local: busy or remote          */
	uint32_t          reserved0;
	struct mt_subseg *next, *prev;   /* owner's or the abandoned list        */
};

struct mt_class {
	struct mt_subseg *abandoned;   /* subsegments without an owner          */
};

struct mt_seg {
	struct memapi_rec_heap_segment rec;  /* first: the forensic record       */
	struct mt_heap   *heap;
	uint8_t          *last;   /* header of the last block before commit end   */
};

struct mt_large {
	struct memapi_rec_heap_large rec;    /* first: the forensic record       */
};

/* The fields every fast path reads come first and share no cache line
 * with the ones the lock holder writes: a second thread taking the lock
 * must not evict the first one's keys. */
struct mt_heap {
	struct memapi_rec_heap rec;      /* first: the HANDLE points here          */
	uint64_t         key0, key1;     /* == rec.key, kept hot                   */
	uint64_t         slot_gen;
	DWORD            flags;          /* HeapCreate options                     */
	enum mt_front    front;
	int              slot;           /* per-thread owner slot, -1 for none     */
	atomic_int       frozen;         /* fast paths must take the lock          */
	atomic_int       pins;           /* mt_heap_pin: HeapDestroy waits          */
	_Alignas(64) pthread_mutex_t lock;   /* recursive, like a critical section */
	int              freeze_depth;   /* HeapLock/walk nesting of the holder    */
	struct mt_seg    seg0;           /* the first segment, at this heap's base */
	struct mt_seg   *seg_last;
	size_t           next_reserve;   /* size of the next segment to reserve    */
	uint8_t         *bins[MT_BINS];  /* free backend blocks (header addresses) */
	uint64_t         binmap[(MT_BINS + 63) / 64];
	struct mt_class  cls[MT_NCLASS];
	struct mt_owner  lookaside;      /* the owner on MT_FRONT_LOOKASIDE heaps  */
	uint32_t         large_kept;     /* free large blocks kept for reuse       */
	size_t           large_kept_bytes;
	uint64_t         corruptions;
};

/* ---- headers (inline: the fast paths use them) ---- */

static inline bool mt_bh_get(const struct mt_heap *h, const void *hdr, struct mt_bh *b)
{
	const uint64_t *w = hdr;
	uint64_t w0 = w[0] ^ h->key0, w1 = w[1] ^ h->key1;

	if ((uint32_t)(w1 >> 32) != memapi_heap_check(w0, (uint32_t)w1, (uintptr_t)hdr))
		return false;
	b->size = (uint32_t)w0;
	b->prev = (uint32_t)(w0 >> 32);
	b->unused = (uint32_t)w1 & 0xffffff;
	b->flags = ((uint32_t)w1 >> 24) & 0xff;
	return true;
}

static inline void mt_bh_put(const struct mt_heap *h, void *hdr, const struct mt_bh *b)
{
	uint64_t *w = hdr;
	uint64_t w0 = b->size | (uint64_t)b->prev << 32;
	uint32_t lo = (b->unused & 0xffffff) | b->flags << 24;

	w[0] = w0 ^ h->key0;
	w[1] = ((uint64_t)memapi_heap_check(w0, lo, (uintptr_t)hdr) << 32 | lo) ^ h->key1;
}

/* The first of a heap's large blocks (its record's list), or NULL. */
static inline struct mt_large *mt_large_first(const struct mt_heap *h)
{
	return (struct mt_large *)h->rec.large;
}

/* The end of a segment's committed part, where its blocks end. */
static inline uint8_t *mt_seg_end(const struct mt_seg *s)
{
	return (uint8_t *)(uintptr_t)(s->rec.base + s->rec.committed);
}

static inline void *mt_data(const void *hdr) { return (uint8_t *)hdr + MT_HDR; }
static inline uint8_t *mt_hdr(const void *data) { return (uint8_t *)data - MT_HDR; }

/* Bytes requested for a block with this header (not for large blocks). */
static inline size_t mt_bh_request(const struct mt_bh *b)
{
	return (size_t)b->size * MT_UNIT - MT_HDR - b->unused;
}

/* Free-list links. */
static inline void *mt_link_get(const struct mt_heap *h, const void *data)
{
	return (void *)(*(const uintptr_t *)data ^ h->key1 ^ (uintptr_t)data);
}

static inline void mt_link_put(const struct mt_heap *h, void *data, const void *next)
{
	*(uintptr_t *)data = (uintptr_t)next ^ h->key1 ^ (uintptr_t)data;
}

/* ---- forensic generation ---- */

/* Around a change of a heap's segment or large-block lists (or handle
 * tables): odd while it lasts, fenced so that an outside reader who sees
 * the same even value before and after its copy saw no change. */
static inline void mt_gen_begin(struct mt_heap *h)
{
	h->rec.generation++;
	atomic_thread_fence(memory_order_release);
}

static inline void mt_gen_end(struct mt_heap *h)
{
	atomic_thread_fence(memory_order_release);
	h->rec.generation++;
}

/* ---- heap.c ---- */

extern struct mt_heap *mt_process_heap;

/* The heap behind a HANDLE, or NULL (ERROR_INVALID_HANDLE). */
static inline struct mt_heap *mt_heap_from(HANDLE hh)
{
	struct mt_heap *h = hh;

	/* A heap starts its first reservation: 64 KiB aligned. */
	if (!h || ((uintptr_t)h & 0xffff))
		return NULL;
	return h->rec.magic == MEMAPI_HEAP_MAGIC ? h : NULL;
}

/* The heap's lock (nothing for HEAP_NO_SERIALIZE heaps). */
void mt_heap_enter(struct mt_heap *h);
void mt_heap_leave(struct mt_heap *h);
/* The lock, and no thread inside a fast path until mt_heap_thaw. */
void mt_heap_freeze(struct mt_heap *h);
void mt_heap_thaw(struct mt_heap *h);

/* A block header that does not check out: counts it, ends the process when
 * termination on corruption is on, else returns ERROR_INVALID_PARAMETER. */
DWORD mt_heap_corrupt(struct mt_heap *h, const void *at, const char *what);

/* HeapEnableTerminationOnCorruption: every heap, for good. */
extern atomic_bool mt_heap_terminate_all;
void mt_heap_terminate_on_corruption(void);

/* Every heap, under the list lock. */
void mt_heaps_lock(void);
void mt_heaps_unlock(void);
struct mt_heap *mt_heaps_first(void);
/* Keeps a listed heap from being destroyed (list lock held to pin), so
 * that its lock can be taken after the list lock is dropped: nobody waits
 * for a heap's lock while holding the list lock. */
void mt_heap_pin(struct mt_heap *h);
void mt_heap_unpin(struct mt_heap *h);

/* Page protection of a heap's committed memory. */
DWORD mt_heap_protect(const struct mt_heap *h);

/* ---- backend.c (lock held) ---- */

/* The owner object of every heap reservation (mt_vm_alloc_owned). */
extern char mt_heap_tag;

/* The first segment for a new heap at its base; *out is the base. */
DWORD mt_seg_first(size_t reserve, size_t commit, DWORD protect, void **out);
DWORD mt_backend_init(struct mt_heap *h, size_t reserve, size_t commit);
/* A busy block of at least units (header included): *hdr its header, *b
 * the header's fields (flags MT_B_BUSY, unused 0) for the caller to set. */
DWORD mt_backend_alloc(struct mt_heap *h, size_t units, uint8_t **hdr, struct mt_bh *b);
/* Frees a busy block, coalescing; hdr checked by the caller. */
void  mt_backend_free(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b);
/* Resizes a busy block in place to units if it can (grows into a free
 * successor, shrinks by splitting): true when done. */
bool  mt_backend_resize(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b, size_t units);
/* The largest free block's data bytes, after releasing kept large blocks
 * and decommitting free tails. */
size_t mt_backend_compact(struct mt_heap *h);
void  mt_backend_release(struct mt_heap *h);

/* A large block for n bytes: a kept free one (*fresh false: not zeroed)
 * or a new reservation. */
DWORD mt_large_alloc(struct mt_heap *h, size_t n, uint32_t flags, void **out, bool *fresh);
/* Keeps the block as a free large block for reuse, or releases it. */
void  mt_large_free(struct mt_heap *h, void *data);
/* Releases the kept free large blocks. */
void  mt_large_flush(struct mt_heap *h);
struct mt_large *mt_large_of(const void *data);
size_t mt_large_size(const void *data);
/* Resizes in place within the reservation: true when done. */
bool  mt_large_resize(struct mt_heap *h, void *data, size_t n);

/* ---- front.c ---- */

/* The slow paths behind fast.h's: allocates a slot for n bytes with
 * flags (NULL with *err on failure); frees a busy slot whose header b was
 * read at hdr. */
void *mt_front_alloc(struct mt_heap *h, size_t n, uint32_t flags, DWORD *err);
DWORD mt_front_free(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b);
/* Gives back an owner's subsegment that became empty (mt_slot_free). */
void  mt_front_trim(struct mt_heap *h, struct mt_owner *tc, struct mt_subseg *ss);
/* Resizes a busy slot in place to n bytes if its class holds n. */
bool  mt_front_resize(struct mt_heap *h, uint8_t *hdr, struct mt_bh *b, size_t n);
/* Collects every subsegment's remote frees and releases the empty ones
 * (heap frozen). */
void  mt_front_drain(struct mt_heap *h);
/* Forgets the heap's per-thread owners before it is destroyed. */
void  mt_front_forget(struct mt_heap *h);
/* The subsegment holding a slot, checked; NULL if it does not check out. */
struct mt_subseg *mt_subseg_of(const struct mt_heap *h, const uint8_t *hdr,
                               const struct mt_bh *b);
void  mt_front_init(struct mt_heap *h);
/* Waits until no thread is inside a fast path of h (h->frozen is set). */
void  mt_front_quiesce(struct mt_heap *h);
void  mt_front_atfork(enum mt_fork_phase phase);

/* ---- api.c: the allocation paths Global/Local share ---- */

/* HeapAlloc with extra block flags (MT_B_MOVEABLE, MT_B_INTERNAL); sets no
 * last error: *err on failure. */
void *mt_heap_alloc(struct mt_heap *h, DWORD flags, size_t n, uint32_t bflags, DWORD *err);
void *mt_heap_realloc(struct mt_heap *h, DWORD flags, void *p, size_t n, DWORD *err);
DWORD mt_heap_free(struct mt_heap *h, void *p);
/* HeapSize, or (SIZE_T)-1 with *err. */
size_t mt_heap_size(struct mt_heap *h, const void *p, DWORD *err);
/* The flags of a busy block (MT_B_*), 0 with *err if it does not check. */
uint32_t mt_heap_block_flags(struct mt_heap *h, const void *p, DWORD *err);
/* True when p is the data of a busy block of h (safe for any p). */
bool  mt_heap_owns(struct mt_heap *h, const void *p);

/* ---- walk.c ---- */

/* Validates every block (frozen): true when all check out. */
bool  mt_heap_validate_all(struct mt_heap *h);

#endif
