/* The handle table: HANDLE values index typed, reference-counted objects.
 * A handle value is ((generation << 24 | slot + 1) << 2), so stale and
 * forged handles are told apart from live ones (ERROR_INVALID_HANDLE). */
#include "internal.h"

#include <stdlib.h>

struct slot {
	struct mt_object *obj;          /* NULL when free                           */
	uint32_t          gen;          /* bumped on every close                    */
	DWORD             access;       /* rights granted to this handle            */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static size_t nslots, free_hint;

#define SLOT_BITS 24
#define MAX_SLOTS (((size_t)1 << SLOT_BITS) - 1)

void mt_object_init(struct mt_object *obj, enum mt_object_type type,
                    void (*destroy)(struct mt_object *))
{
	obj->type = type;
	atomic_init(&obj->refs, 1);
	obj->destroy = destroy;
}

void mt_object_get(struct mt_object *obj)
{
	atomic_fetch_add_explicit(&obj->refs, 1, memory_order_relaxed);
}

void mt_object_put(struct mt_object *obj)
{
	if (atomic_fetch_sub_explicit(&obj->refs, 1, memory_order_acq_rel) == 1)
		obj->destroy(obj);
}

void mt_handles_atfork(enum mt_fork_phase phase)
{
	mt_mutex_atfork(&table_lock, phase);
}

static HANDLE encode(size_t i, uint32_t gen)
{
	uintptr_t v = ((uintptr_t)(gen & 0xffff) << SLOT_BITS | (i + 1)) << 2;

	return (HANDLE)v;
}

/* The slot of a live handle, or -1. Called with table_lock held. */
static long decode(HANDLE h)
{
	uintptr_t v = (uintptr_t)h;
	size_t i;

	if (v & 3 || v >> (SLOT_BITS + 16 + 2))
		return -1;
	i = ((v >> 2) & (((uintptr_t)1 << SLOT_BITS) - 1));
	if (i == 0 || i > nslots)
		return -1;
	i--;
	if (!slots[i].obj || (slots[i].gen & 0xffff) != ((v >> (SLOT_BITS + 2)) & 0xffff))
		return -1;
	return (long)i;
}

static DWORD grow(void)
{
	size_t n = nslots ? nslots * 2 : 64;
	struct slot *s;

	if (n > MAX_SLOTS)
		return ERROR_NO_SYSTEM_RESOURCES;
	if (!(s = realloc(slots, n * sizeof *s)))
		return ERROR_NOT_ENOUGH_MEMORY;
	for (size_t i = nslots; i < n; i++)
		s[i] = (struct slot){ NULL, 0, 0 };
	free_hint = nslots;
	slots = s;
	nslots = n;
	return 0;
}

DWORD mt_handle_create(struct mt_object *obj, HANDLE *out)
{
	return mt_handle_create_access(obj, 0, out);
}

DWORD mt_handle_create_access(struct mt_object *obj, DWORD access, HANDLE *out)
{
	DWORD err = 0;
	size_t i;

	pthread_mutex_lock(&table_lock);
	for (i = free_hint; i < nslots && slots[i].obj; i++)
		;
	if (i == nslots) {
		for (i = 0; i < free_hint && slots[i].obj; i++)
			;
		if (i == free_hint && (err = grow()) == 0)
			i = free_hint;
	}
	if (!err) {
		mt_object_get(obj);
		slots[i].obj = obj;
		slots[i].access = access;
		free_hint = i + 1;
		*out = encode(i, slots[i].gen);
	}
	pthread_mutex_unlock(&table_lock);
	return err;
}

DWORD mt_handle_ref(HANDLE h, enum mt_object_type type, struct mt_object **out)
{
	DWORD access;

	return mt_handle_ref_access(h, type, out, &access);
}

DWORD mt_handle_ref_access(HANDLE h, enum mt_object_type type, struct mt_object **out,
                           DWORD *access)
{
	DWORD err = ERROR_INVALID_HANDLE;
	long i;

	pthread_mutex_lock(&table_lock);
	i = decode(h);
	if (i >= 0 && slots[i].obj->type == type) {
		*out = slots[i].obj;
		*access = slots[i].access;
		mt_object_get(*out);
		err = 0;
	}
	pthread_mutex_unlock(&table_lock);
	return err;
}

BOOL WINAPI CloseHandle(HANDLE h)
{
	struct mt_object *obj = NULL;
	long i;

	if (h == MT_CURRENT_PROCESS)
		return TRUE;            /* pseudo-handles need no closing */
	pthread_mutex_lock(&table_lock);
	i = decode(h);
	if (i >= 0) {
		obj = slots[i].obj;
		slots[i].obj = NULL;
		slots[i].gen++;
		if ((size_t)i < free_hint)
			free_hint = (size_t)i;
	}
	pthread_mutex_unlock(&table_lock);
	if (!obj)
		return mt_fail(ERROR_INVALID_HANDLE);
	mt_object_put(obj);
	return TRUE;
}
