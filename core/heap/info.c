/* HeapQueryInformation and HeapSetInformation. */
#include "heap.h"

#include <stdlib.h>

static DWORD query(struct mt_heap *h, HEAP_INFORMATION_CLASS cls, void *buf, size_t len,
                   SIZE_T *ret)
{
	ULONG v;

	switch (cls) {
	case HeapCompatibilityInformation:
		v = h->rec.compatibility;
		break;
	case HeapEnableTerminationOnCorruption:
		v = atomic_load(&mt_heap_terminate_all);
		break;
	default:
		return ERROR_INVALID_PARAMETER;
	}
	if (ret)
		*ret = sizeof v;
	if (!buf || len < sizeof v)
		return ERROR_INSUFFICIENT_BUFFER;
	*(ULONG *)buf = v;
	return 0;
}

BOOL WINAPI HeapQueryInformation(HANDLE HeapHandle, HEAP_INFORMATION_CLASS HeapInformationClass,
                                 PVOID HeapInformation, SIZE_T HeapInformationLength,
                                 PSIZE_T ReturnLength)
{
	struct mt_heap *h = mt_heap_from(HeapHandle);
	DWORD err;

	mt_init();
	if (ReturnLength)
		*ReturnLength = 0;
	if (!h)
		return mt_fail(HeapHandle ? ERROR_INVALID_HANDLE : ERROR_NOACCESS);
	err = query(h, HeapInformationClass, HeapInformation, HeapInformationLength, ReturnLength);
	return err ? mt_fail(err) : TRUE;
}

/* The front end cannot be switched off, nor put on heaps without
 * serialization or with a fixed size (Windows' rules for the LFH). */
static DWORD set_compatibility(struct mt_heap *h, const void *buf, size_t len)
{
	if (!h)
		return ERROR_INVALID_HANDLE;
	if (!buf || len < sizeof(ULONG))
		return ERROR_INSUFFICIENT_BUFFER;
	if (*(const ULONG *)buf != MT_FRONT_LFH)
		return ERROR_GEN_FAILURE;
	if ((h->flags & HEAP_NO_SERIALIZE) || h->rec.maximum_size)
		return ERROR_INVALID_PARAMETER;
	/* Serialized growable heaps have it from the start, unless all the
	 * per-thread slots were taken when they were made. */
	return h->front == MT_FRONT_LFH ? 0 : ERROR_NOT_ENOUGH_MEMORY;
}

/* Gives empty subsegments and kept large blocks back, decommits free tails. */
static void optimize(struct mt_heap *h)
{
	mt_heap_freeze(h);
	mt_front_drain(h);
	mt_backend_compact(h);
	mt_heap_thaw(h);
}

/* Every heap, each pinned: no heap lock is taken under the list lock. */
static DWORD optimize_all(void)
{
	struct mt_heap **all, *h;
	size_t n = 0, i = 0;

	mt_heaps_lock();
	for (h = mt_heaps_first(); h; h = (struct mt_heap *)h->rec.next)
		n++;
	if (!(all = malloc(n * sizeof *all))) {
		mt_heaps_unlock();
		return ERROR_NOT_ENOUGH_MEMORY;
	}
	for (h = mt_heaps_first(); h; h = (struct mt_heap *)h->rec.next)
		mt_heap_pin(all[i++] = h);
	mt_heaps_unlock();
	for (i = 0; i < n; i++) {
		optimize(all[i]);
		mt_heap_unpin(all[i]);
	}
	free(all);
	return 0;
}

static DWORD set_optimize(HANDLE handle, struct mt_heap *h, const void *buf, size_t len)
{
	const HEAP_OPTIMIZE_RESOURCES_INFORMATION *o = buf;

	if (!o || len != sizeof *o || o->Version != HEAP_OPTIMIZE_RESOURCES_CURRENT_VERSION ||
	    o->Flags)
		return ERROR_INVALID_PARAMETER;
	if (h) {
		optimize(h);
		return 0;
	}
	if (handle)
		return ERROR_INVALID_HANDLE;
	return optimize_all();
}

BOOL WINAPI HeapSetInformation(HANDLE HeapHandle, HEAP_INFORMATION_CLASS HeapInformationClass,
                               PVOID HeapInformation, SIZE_T HeapInformationLength)
{
	DWORD err;

	mt_init();
	switch (HeapInformationClass) {
	case HeapEnableTerminationOnCorruption:
		/* For every heap of the process, for good; the handle is unused. */
		mt_heap_terminate_on_corruption();
		err = 0;
		break;
	case HeapCompatibilityInformation:
		err = set_compatibility(mt_heap_from(HeapHandle), HeapInformation,
		                        HeapInformationLength);
		break;
	case HeapOptimizeResources:
		err = set_optimize(HeapHandle, HeapHandle ? mt_heap_from(HeapHandle) : NULL,
		                   HeapInformation, HeapInformationLength);
		break;
	default:
		err = ERROR_INVALID_PARAMETER;
	}
	return err ? mt_fail(err) : TRUE;
}
