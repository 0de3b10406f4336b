/* The forensic root descriptor: one exported object an outside reader
 * (memtool on a live pid or a core file) finds by symbol and walks. */
#include "internal.h"

MEMAPI_EXPORT struct memapi_root memapi_root = {
	.magic = MEMAPI_ROOT_MAGIC,
	.layout = MEMAPI_ROOT_LAYOUT,
	.size = sizeof(struct memapi_root),
};

void mt_root_init(void)
{
	memapi_root.page_size = mt_os.page_size;
	memapi_root.granularity = mt_os.granularity;
	memapi_root.watch_mode = mt_os.has_wp_async ? MEMAPI_WATCH_KERNEL : MEMAPI_WATCH_FALLBACK;
}

/* Called inside a change (generation odd) with the vm lock held. */
void mt_root_publish(void)
{
	memapi_root.region_count = mt_vm.count;
	memapi_root.regions = mt_vm.count ? &mt_vm.index[0]->rec : NULL;
}
