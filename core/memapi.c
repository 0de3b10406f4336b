/* The native introspection API (memapi.h): snapshots and counters. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

uint32_t memapi_version(void)
{
	return MEMAPI_VERSION;
}

void memapi_free(void *p)
{
	free(p);
}

int memapi_snapshot_regions(memapi_region_info **out, size_t *count)
{
	memapi_region_info *v;
	size_t n = 0, k = 0;

	if (!out || !count)
		return EINVAL;
	mt_init();
	mt_vm_lock();
	for (size_t i = 0; i < mt_vm.count; i++)
		n += mt_vm.index[i]->rec.run_count;
	v = malloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; v && i < mt_vm.count; i++) {
		const struct mt_region *r = mt_vm.index[i];

		for (size_t j = 0; j < r->rec.run_count; j++, k++) {
			v[k] = (memapi_region_info){
				.base = r->rec.base + r->runs[j].first_page * mt_os.page_size,
				.allocation_base = r->rec.base,
				.size = r->runs[j].page_count * mt_os.page_size,
				.state = r->runs[j].state,
				.protect = r->runs[j].protect,
				.allocation_protect = r->rec.allocation_protect,
				.type = r->rec.type,
				.flags = r->rec.flags,
				.owner = r->rec.owner,
			};
		}
	}
	mt_vm_unlock();
	if (!v)
		return ENOMEM;
	*out = v;
	*count = n;
	return 0;
}

int memapi_get_counters(memapi_counters *out)
{
	memapi_counters c = { 0 };

	if (!out)
		return EINVAL;
	mt_init();
	mt_vm_lock();
	c.reservations = mt_vm.count;
	c.reserved_bytes = mt_vm.reserved;
	c.committed_bytes = mt_vm.committed;
	c.watch_regions = mt_vm.watched;
	mt_vm_unlock();
	c.faults = atomic_load(&mt_fault_count);
	c.guard_hits = atomic_load(&mt_guard_hits);
	c.watch_faults = atomic_load(&mt_watch_faults);
	c.watch_mode = mt_os.has_wp_async ? MEMAPI_WATCH_KERNEL : MEMAPI_WATCH_FALLBACK;
	c.procmap_query = mt_os.has_procmap_query;
	*out = c;               /* stored without the lock: the page may fault */
	return 0;
}
