/* GlobalAlloc/LocalAlloc and the rest of both families, on the process
 * heap as on Windows. A fixed block is a heap block and its own handle. A
 * moveable block has an entry in the handle table; the HGLOBAL is the
 * address of the entry's data field, so *(void **)h is the data, as
 * programs may assume. The data is a heap block flagged MOVEABLE whose
 * first 16 bytes hold the handle (GlobalHandle, HeapWalk's hMem). */
#include "heap/heap.h"

#include <string.h>

#define TABLE_ENTRIES 256u              /* entries per handle table          */
#define MAX_TABLES    256u              /* Windows' limit: 65536 handles     */
#define PREFIX        16u               /* bytes before moveable data        */

#define H_USED        0x8000u           /* entry flags (memapi_rec_handle)    */

/* The Global and Local flavours differ in a few documented details. */
struct family {
	bool  local;
	DWORD discardable;                  /* GMEM_DISCARDABLE / LMEM_DISCARDABLE */
};

static const struct family global_family = { false, GMEM_DISCARDABLE };
static const struct family local_family = { true, LMEM_DISCARDABLE };

static struct memapi_rec_handle_table *tables;
static struct memapi_rec_handle *free_entries;     /* linked through data */
static unsigned table_count;

static struct mt_heap *heap(void)
{
	mt_init();
	return mt_process_heap;
}

/* The table is guarded by the process heap's own (recursive) lock, as on
 * Windows: a thread holding HeapLock(GetProcessHeap()) can use these
 * functions, and no second lock can be taken in the other order. */
static void table_lock(void)
{
	mt_heap_enter(heap());
}

static void table_unlock(void)
{
	mt_heap_leave(mt_process_heap);
}

/* ---- the handle table (lock held) ---- */

static uint32_t entry_check(const struct memapi_rec_handle *e)
{
	return (uint32_t)((uintptr_t)e ^ mt_process_heap->key0);
}

static DWORD table_add(void)
{
	size_t bytes = sizeof(struct memapi_rec_handle_table) +
	               TABLE_ENTRIES * sizeof(struct memapi_rec_handle);
	struct memapi_rec_handle_table *t;
	DWORD err = 0;

	if (table_count == MAX_TABLES)
		return ERROR_NOT_ENOUGH_MEMORY;
	t = mt_heap_alloc(heap(), HEAP_ZERO_MEMORY, bytes, MT_B_INTERNAL, &err);
	if (!t)
		return err;
	t->magic = MEMAPI_HTAB_MAGIC;
	t->count = TABLE_ENTRIES;
	for (unsigned i = TABLE_ENTRIES; i-- > 0;) {
		t->entries[i].data = (uintptr_t)free_entries;
		free_entries = &t->entries[i];
	}
	mt_gen_begin(mt_process_heap);
	t->next = tables;
	tables = t;
	mt_process_heap->rec.handles = t;
	mt_gen_end(mt_process_heap);
	table_count++;
	return 0;
}

static DWORD entry_new(struct memapi_rec_handle **out)
{
	struct memapi_rec_handle *e;
	DWORD err;

	if (!free_entries && (err = table_add()))
		return err;
	e = free_entries;
	free_entries = (struct memapi_rec_handle *)(uintptr_t)e->data;
	e->data = 0;
	e->lock_count = 0;
	e->flags = H_USED;
	e->check = entry_check(e);
	*out = e;
	return 0;
}

static void entry_free(struct memapi_rec_handle *e)
{
	e->flags = 0;
	e->check = 0;
	e->lock_count = 0;
	e->data = (uintptr_t)free_entries;
	free_entries = e;
}

static HGLOBAL handle_of(struct memapi_rec_handle *e)
{
	return &e->data;
}

/* The live entry behind a moveable handle, or NULL. */
static struct memapi_rec_handle *entry_of(HGLOBAL h)
{
	uintptr_t a = (uintptr_t)h - offsetof(struct memapi_rec_handle, data);

	if (((uintptr_t)h & 15) != offsetof(struct memapi_rec_handle, data))
		return NULL;
	for (struct memapi_rec_handle_table *t = tables; t; t = (struct memapi_rec_handle_table *)t->next) {
		struct memapi_rec_handle *e = (struct memapi_rec_handle *)a;

		if (a >= (uintptr_t)t->entries && a < (uintptr_t)(t->entries + t->count))
			return (e->flags & H_USED) && e->check == entry_check(e) ? e : NULL;
	}
	return NULL;
}

/* ---- blocks ---- */

static bool fixed_block(HGLOBAL h)
{
	DWORD err;

	return mt_heap_owns(heap(), h) &&
	       !(mt_heap_block_flags(mt_process_heap, h, &err) & (MT_B_MOVEABLE | MT_B_INTERNAL));
}

static void *data_of(const struct memapi_rec_handle *e)
{
	return (void *)(uintptr_t)e->data;
}

/* A new moveable data block of n bytes for handle h. */
static void *data_alloc(HGLOBAL h, size_t n, bool zero, DWORD *err)
{
	uint8_t *b;

	if (n > SIZE_MAX - PREFIX) {
		*err = ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	}
	b = mt_heap_alloc(heap(), zero ? HEAP_ZERO_MEMORY : 0, n + PREFIX, MT_B_MOVEABLE, err);
	if (!b)
		return NULL;
	memset(b, 0, PREFIX);
	*(HGLOBAL *)b = h;
	return b + PREFIX;
}

/* Points the entry at its data, or at nothing (discarded). */
static void set_data(struct memapi_rec_handle *e, void *p)
{
	e->data = (uintptr_t)p;
	if (p)
		e->flags &= (uint16_t)~GMEM_DISCARDED;
	else
		e->flags |= GMEM_DISCARDED;
}

static void data_free(struct memapi_rec_handle *e)
{
	if (e->data)
		mt_heap_free(mt_process_heap, (uint8_t *)data_of(e) - PREFIX);
	set_data(e, NULL);
}

static size_t data_size(const struct memapi_rec_handle *e)
{
	DWORD err;

	return e->data ? mt_heap_size(mt_process_heap, (uint8_t *)data_of(e) - PREFIX, &err) - PREFIX : 0;
}

/* ---- operations, each with the lock held ---- */

static HGLOBAL do_alloc(const struct family *f, UINT flags, SIZE_T n, DWORD *err)
{
	struct memapi_rec_handle *e;
	void *p;

	if (flags & ~(UINT)(f->local ? LMEM_VALID_FLAGS : GMEM_VALID_FLAGS)) {
		*err = ERROR_INVALID_PARAMETER;
		return NULL;
	}
	if (!(flags & GMEM_MOVEABLE)) {
		/* Windows gives a fixed global block of 0 bytes one byte. */
		return mt_heap_alloc(heap(), flags & GMEM_ZEROINIT ? HEAP_ZERO_MEMORY : 0,
		                     n || f->local ? n : 1, 0, err);
	}
	if ((*err = entry_new(&e)))
		return NULL;
	if (flags & f->discardable)
		e->flags |= GMEM_DISCARDABLE;
	if (!f->local && (flags & GMEM_DDESHARE))
		e->flags |= GMEM_DDESHARE;
	if (!n) {
		set_data(e, NULL);              /* allocated discarded, as Windows */
		return handle_of(e);
	}
	if (!(p = data_alloc(handle_of(e), n, flags & GMEM_ZEROINIT, err))) {
		entry_free(e);
		return NULL;
	}
	set_data(e, p);
	return handle_of(e);
}

static HGLOBAL alloc_api(const struct family *f, UINT flags, SIZE_T n)
{
	DWORD err = 0;
	HGLOBAL h;

	table_lock();
	h = do_alloc(f, flags, n, &err);
	table_unlock();
	return h ? h : mt_fail_null(err);
}

HGLOBAL WINAPI GlobalAlloc(UINT uFlags, SIZE_T dwBytes) { return alloc_api(&global_family, uFlags, dwBytes); }
HLOCAL WINAPI LocalAlloc(UINT uFlags, SIZE_T uBytes) { return alloc_api(&local_family, uFlags, uBytes); }

static LPVOID lock_api(HGLOBAL h)
{
	struct memapi_rec_handle *e;
	void *p = NULL;
	DWORD err = 0;

	table_lock();
	if ((e = entry_of(h))) {
		if (!e->data)
			err = ERROR_DISCARDED;
		else if ((p = data_of(e)) && e->lock_count < GMEM_LOCKCOUNT)
			e->lock_count++;
	} else if (h && fixed_block(h)) {
		p = h;
	} else {
		err = ERROR_INVALID_HANDLE;
	}
	table_unlock();
	return p ? p : mt_fail_null(err);
}

LPVOID WINAPI GlobalLock(HGLOBAL hMem) { return lock_api(hMem); }
LPVOID WINAPI LocalLock(HLOCAL hMem) { return lock_api(hMem); }

static BOOL unlock_api(const struct family *f, HGLOBAL h)
{
	struct memapi_rec_handle *e;
	BOOL r = FALSE;
	DWORD err = NO_ERROR;

	table_lock();
	if ((e = entry_of(h))) {
		if (!e->lock_count)
			err = ERROR_NOT_LOCKED;
		else
			r = --e->lock_count != 0;   /* 0 with NO_ERROR: now unlocked */
	} else if (h && fixed_block(h)) {
		/* Fixed memory has no lock count; the families disagree. */
		r = !f->local;
		err = f->local ? ERROR_NOT_LOCKED : NO_ERROR;
	} else {
		r = !f->local;      /* GlobalUnlock of a bad handle: TRUE, as Windows */
		err = ERROR_INVALID_HANDLE;
	}
	table_unlock();
	if (!r || err)
		SetLastError(err);
	return r;
}

BOOL WINAPI GlobalUnlock(HGLOBAL hMem) { return unlock_api(&global_family, hMem); }
BOOL WINAPI LocalUnlock(HLOCAL hMem) { return unlock_api(&local_family, hMem); }

static UINT flags_api(const struct family *f, HGLOBAL h)
{
	struct memapi_rec_handle *e;
	UINT r = 0;
	bool bad = false;

	table_lock();
	if ((e = entry_of(h))) {
		r = e->lock_count;
		if (e->flags & GMEM_DISCARDABLE)
			r |= f->discardable;
		if (!f->local)
			r |= e->flags & GMEM_DDESHARE;
		if (!e->data)
			r |= GMEM_DISCARDED;
	} else {
		bad = !h || !fixed_block(h);
	}
	table_unlock();
	if (bad) {
		SetLastError(ERROR_INVALID_HANDLE);
		return GMEM_INVALID_HANDLE;
	}
	return r;
}

UINT WINAPI GlobalFlags(HGLOBAL hMem) { return flags_api(&global_family, hMem); }
UINT WINAPI LocalFlags(HLOCAL hMem) { return flags_api(&local_family, hMem); }

/* The handle of a data pointer (from GlobalLock) or a handle; lock held. */
static HGLOBAL handle_from(LPCVOID p)
{
	struct memapi_rec_handle *e;
	const uint8_t *b = (const uint8_t *)p - PREFIX;
	DWORD err;

	if (!p)
		return NULL;
	if (entry_of((HGLOBAL)p))
		return (HGLOBAL)p;
	if (!mt_heap_owns(heap(), p) && mt_heap_owns(mt_process_heap, b) &&
	    (mt_heap_block_flags(mt_process_heap, b, &err) & MT_B_MOVEABLE) &&
	    (e = entry_of(*(HGLOBAL *)b)) && data_of(e) == p)
		return handle_of(e);
	return fixed_block((HGLOBAL)p) ? (HGLOBAL)p : NULL;
}

static HGLOBAL handle_api(LPCVOID p)
{
	HGLOBAL h;

	table_lock();
	h = handle_from(p);
	table_unlock();
	return h ? h : mt_fail_null(ERROR_INVALID_HANDLE);
}

HGLOBAL WINAPI GlobalHandle(LPCVOID pMem) { return handle_api(pMem); }
HLOCAL WINAPI LocalHandle(LPCVOID pMem) { return handle_api(pMem); }

static SIZE_T size_api(HGLOBAL h)
{
	struct memapi_rec_handle *e;
	SIZE_T n = 0;
	DWORD err = NO_ERROR;

	table_lock();
	h = handle_from(h);
	if ((e = entry_of(h)))
		n = data_size(e);
	else if (h)
		n = mt_heap_size(mt_process_heap, h, &err);
	else
		err = ERROR_INVALID_HANDLE;
	table_unlock();
	if (err)
		SetLastError(err);
	return err ? 0 : n;
}

SIZE_T WINAPI GlobalSize(HGLOBAL hMem) { return size_api(hMem); }
SIZE_T WINAPI LocalSize(HLOCAL hMem) { return size_api(hMem); }

/* Frees locked objects too, as Windows does. */
static HGLOBAL free_api(HGLOBAL h)
{
	struct memapi_rec_handle *e;
	DWORD err = 0;

	if (!h)
		return NULL;
	table_lock();
	if ((e = entry_of(h))) {
		data_free(e);
		entry_free(e);
	} else if (fixed_block(h)) {
		err = mt_heap_free(mt_process_heap, h);
	} else {
		err = ERROR_INVALID_HANDLE;
	}
	table_unlock();
	if (err) {
		SetLastError(err);
		return h;                       /* failure: the handle comes back */
	}
	return NULL;
}

HGLOBAL WINAPI GlobalFree(HGLOBAL hMem) { return free_api(hMem); }
HLOCAL WINAPI LocalFree(HLOCAL hMem) { return free_api(hMem); }

/* ---- reallocation ---- */

/* GMEM_MODIFY: attributes only. A fixed global block with GMEM_MOVEABLE
 * becomes moveable (a new handle); Local leaves fixed blocks alone. */
static HGLOBAL modify(const struct family *f, HGLOBAL h, struct memapi_rec_handle *e,
                      UINT flags, DWORD *err)
{
	size_t n;
	void *p;

	if (e) {
		if (flags & f->discardable)
			e->flags |= GMEM_DISCARDABLE;
		else
			e->flags &= (uint16_t)~GMEM_DISCARDABLE;
		return h;
	}
	if (f->local || !(flags & GMEM_MOVEABLE))
		return h;
	n = mt_heap_size(mt_process_heap, h, err);
	if (*err || (*err = entry_new(&e)))
		return NULL;
	if (!(p = data_alloc(handle_of(e), n, false, err))) {
		entry_free(e);
		return NULL;
	}
	memcpy(p, h, n);
	set_data(e, p);
	mt_heap_free(mt_process_heap, h);
	return handle_of(e);
}

static HGLOBAL realloc_moveable(struct memapi_rec_handle *e, SIZE_T n, UINT flags, DWORD *err)
{
	HGLOBAL h = handle_of(e);
	DWORD hflags = flags & GMEM_ZEROINIT ? HEAP_ZERO_MEMORY : 0;
	uint8_t *b;
	void *p;

	if (!n && (flags & GMEM_MOVEABLE)) {        /* discard */
		if (e->lock_count)
			return NULL;
		data_free(e);
		return h;
	}
	if (!e->data) {                             /* bring a discarded block back */
		if (!(p = data_alloc(h, n, flags & GMEM_ZEROINIT, err)))
			return NULL;
		set_data(e, p);
		return h;
	}
	if (n > SIZE_MAX - PREFIX) {
		*err = ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	}
	/* A locked block may move only when the caller allows it. */
	if (e->lock_count && !(flags & GMEM_MOVEABLE))
		hflags |= HEAP_REALLOC_IN_PLACE_ONLY;
	b = mt_heap_realloc(mt_process_heap, hflags, (uint8_t *)data_of(e) - PREFIX, n + PREFIX, err);
	if (!b)
		return NULL;
	set_data(e, b + PREFIX);
	return h;
}

static HGLOBAL realloc_api(const struct family *f, HGLOBAL h, SIZE_T n, UINT flags)
{
	struct memapi_rec_handle *e;
	DWORD err = 0;
	HGLOBAL r = NULL;

	table_lock();
	e = entry_of(h);
	if (!e && (!h || !fixed_block(h)))
		err = ERROR_INVALID_HANDLE;
	else if (flags & GMEM_MODIFY)
		r = modify(f, h, e, flags, &err);
	else if (e)
		r = realloc_moveable(e, n, flags, &err);
	else if (f->local && !n && (flags & GMEM_MOVEABLE))
		r = h;                          /* LocalDiscard of fixed memory */
	else
		/* Fixed memory moves only with GMEM_MOVEABLE, and stays fixed. */
		r = mt_heap_realloc(mt_process_heap,
		                    (flags & GMEM_ZEROINIT ? HEAP_ZERO_MEMORY : 0) |
		                    (flags & GMEM_MOVEABLE ? 0 : HEAP_REALLOC_IN_PLACE_ONLY),
		                    h, n, &err);
	table_unlock();
	if (!r)
		SetLastError(err ? err : ERROR_NOT_ENOUGH_MEMORY);
	return r;
}

HGLOBAL WINAPI GlobalReAlloc(HGLOBAL hMem, SIZE_T dwBytes, UINT uFlags)
{
	return realloc_api(&global_family, hMem, dwBytes, uFlags);
}

HLOCAL WINAPI LocalReAlloc(HLOCAL hMem, SIZE_T uBytes, UINT uFlags)
{
	return realloc_api(&local_family, hMem, uBytes, uFlags);
}
