/* ATL thunks: AtlThunk_AllocateData, AtlThunk_InitData, AtlThunk_DataToCode,
 * AtlThunk_FreeData.
 *
 * A thunk is 16 bytes of code that puts a fixed value in the first
 * argument register and jumps to a fixed target:
 *     mov rdi, [rip + data]     48 8B 3D disp32   (WINAPI is the SysV ABI)
 *     jmp [rip + data + 8]      FF 25 disp32
 * Thunks live in blocks of MEMAPI_THUNK_SLOTS: a code page written once,
 * before it is mapped, and a data page holding each slot's value and
 * target at the same offset as its code, one page further. The code page
 * is only ever mapped read+execute; the data page has a writable view of
 * its own (see mt_os_code_pages), so no page is writable and executable
 * at once, and the code is not even reachable through a writable alias.
 * An AtlThunkData_t * is the address of its slot in the writable view. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS MEMAPI_THUNK_SLOTS
#define SLOT  16

struct block {
	struct memapi_rec_thunk_block rec;    /* first: the forensic record */
	unsigned char *rx, *rw;
	size_t         used_count;
	bool           memfd;                 /* two views of one memfd     */
	struct block  *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct block *blocks;

/* One slot's data, in the data page. */
struct slot_data {
	_Atomic uint64_t first;
	_Atomic uint64_t target;
};

static void slot_code(unsigned char *c, size_t page)
{
	int32_t mov = (int32_t)(page - 7), jmp = (int32_t)(page + 8 - 13);

	c[0] = 0x48, c[1] = 0x8b, c[2] = 0x3d;      /* mov rdi, [rip + mov] */
	memcpy(c + 3, &mov, 4);
	c[7] = 0xff, c[8] = 0x25;                   /* jmp [rip + jmp]      */
	memcpy(c + 9, &jmp, 4);
	memset(c + 13, 0xcc, SLOT - 13);            /* int3 padding         */
}

static bool use_memfd(void)
{
	const char *d = getenv("MEMAPI_DISABLE");

	return !(d && strstr(d, "thunk_memfd"));
}

static struct block *block_new(void)
{
	size_t page = mt_os.page_size;
	unsigned char *code = calloc(1, page);
	struct block *b = calloc(1, sizeof *b);
	void *rx, *rw;
	int e;

	if (!code || !b) {
		free(code);
		free(b);
		return NULL;
	}
	for (size_t i = 0; i < SLOTS; i++)
		slot_code(code + i * SLOT, page);
	b->memfd = use_memfd();
	e = mt_os_code_pages(code, page, page, b->memfd, &rx, &rw);
	free(code);
	if (e) {
		free(b);
		return NULL;
	}
	b->memfd = b->memfd && (unsigned char *)rw != (unsigned char *)rx + page;
	b->rx = rx;
	b->rw = rw;
	b->rec.magic = MEMAPI_THUNK_MAGIC;
	b->rec.layout = MEMAPI_THUNK_LAYOUT;
	b->rec.slots = SLOTS;
	b->rec.code = (uintptr_t)rx;
	b->rec.data = (uintptr_t)rw;
	return b;
}

static void publish(void)
{
	memapi_root.thunks = blocks ? &blocks->rec : NULL;
}

static void set_used(struct block *b, size_t i, bool on)
{
	mt_vm_lock();
	mt_vm_change_begin();
	if (on)
		b->rec.used[i / 64] |= UINT64_C(1) << (i % 64);
	else
		b->rec.used[i / 64] &= ~(UINT64_C(1) << (i % 64));
	b->used_count += on ? 1 : (size_t)-1;
	mt_vm_change_end();
	mt_vm_unlock();
}

static void link_block(struct block *b)
{
	mt_vm_lock();
	mt_vm_change_begin();
	b->next = blocks;
	b->rec.next = blocks ? &blocks->rec : NULL;
	blocks = b;
	publish();
	mt_vm_change_end();
	mt_vm_unlock();
}

static bool slot_free(const struct block *b, size_t i)
{
	return !(b->rec.used[i / 64] & (UINT64_C(1) << (i % 64)));
}

/* The block and slot of a thunk pointer, or NULL. Lock held. */
static struct block *find(const void *thunk, size_t *slot)
{
	uintptr_t t = (uintptr_t)thunk;

	for (struct block *b = blocks; b; b = b->next) {
		uintptr_t base = (uintptr_t)b->rw;

		if (t >= base && t < base + SLOTS * SLOT && (t - base) % SLOT == 0) {
			*slot = (t - base) / SLOT;
			return slot_free(b, *slot) ? NULL : b;
		}
	}
	return NULL;
}

/* find() under the lock; blocks never go away, so the answer stays valid. */
static struct block *lookup(const void *thunk, size_t *slot)
{
	struct block *b;

	mt_init();
	pthread_mutex_lock(&lock);
	b = find(thunk, slot);
	pthread_mutex_unlock(&lock);
	return b;
}

AtlThunkData_t *AtlThunk_AllocateData(void)
{
	struct block *b;
	size_t i = 0;

	mt_init();
	pthread_mutex_lock(&lock);
	/* The lowest free slot of the newest block with room: freed thunks
	 * are handed out again before any new page is made. */
	for (b = blocks; b && b->used_count == SLOTS; b = b->next)
		;
	if (!b && (b = block_new()))
		link_block(b);
	if (b) {
		while (!slot_free(b, i))
			i++;
		set_used(b, i, true);
	}
	pthread_mutex_unlock(&lock);
	if (!b)
		return mt_fail_null(ERROR_NOT_ENOUGH_MEMORY);
	return (AtlThunkData_t *)(b->rw + i * SLOT);
}

void AtlThunk_InitData(AtlThunkData_t *Thunk, void *Proc, size_t FirstParameter)
{
	struct slot_data *d = (struct slot_data *)Thunk;
	size_t i;

	if (!lookup(Thunk, &i)) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return;
	}
	/* A thread running the thunk meanwhile may see the old value with the
	 * new target, as on Windows: re-initialise only idle thunks. */
	atomic_store_explicit(&d->first, FirstParameter, memory_order_relaxed);
	atomic_store_explicit(&d->target, (uintptr_t)Proc, memory_order_release);
}

WNDPROC AtlThunk_DataToCode(AtlThunkData_t *Thunk)
{
	struct block *b;
	size_t i;

	if (!(b = lookup(Thunk, &i)))
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	return (WNDPROC)(void *)(b->rx + i * SLOT);
}

void AtlThunk_FreeData(AtlThunkData_t *Thunk)
{
	struct slot_data *d = (struct slot_data *)Thunk;
	struct block *b;
	size_t i;

	mt_init();
	if (!Thunk)
		return;
	pthread_mutex_lock(&lock);
	if ((b = find(Thunk, &i))) {
		/* A call through a freed thunk jumps to 0 and faults at once. */
		atomic_store(&d->target, 0);
		atomic_store(&d->first, 0);
		set_used(b, i, false);
	}
	pthread_mutex_unlock(&lock);
	if (!b)
		SetLastError(ERROR_INVALID_PARAMETER);
}

void mt_thunk_atfork(enum mt_fork_phase phase)
{
	mt_mutex_atfork(&lock, phase);
}

/* In a fork child: blocks that are two views of a memfd would still be
 * the parent's memory; they get objects of the child's own. */
void mt_thunk_after_fork(void)
{
	for (struct block *b = blocks; b; b = b->next)
		if (b->memfd)
			mt_os_code_pages_unshare(b->rx, b->rw, mt_os.page_size);
}
