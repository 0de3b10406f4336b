/* Memory resource notifications: CreateMemoryResourceNotification and
 * QueryMemoryResourceNotification, and the state WaitForSingleObject waits
 * for (wait.c).
 *
 * Windows signals the low-memory object when available physical memory
 * falls to about 32 MB per 4 GB of memory (at most 64 MB), and the
 * high-memory one when it is three times that or more. The same rule is
 * applied to what GlobalMemoryStatusEx reports: the machine's memory, or
 * the cgroup's limit, and what is available within it. The state is
 * computed when asked; waiters look again at least every 100 ms and as
 * soon as the kernel reports memory pressure (PSI). */
#include "internal.h"

#include <stdlib.h>

#define MIB (UINT64_C(1) << 20)

struct mt_notification {
	struct mt_object obj;
	struct memapi_rec_notification rec;   /* the forensic record       */
	struct mt_notification *next;         /* newest first, vm lock      */
};

static struct mt_notification *all;

static void publish(void)
{
	memapi_root.notifications = all ? &all->rec : NULL;
}

static void notification_destroy(struct mt_object *obj)
{
	struct mt_notification *n = (struct mt_notification *)obj, *prev = NULL, *q;

	mt_vm_lock();
	mt_vm_change_begin();
	for (q = all; q && q != n; q = q->next)
		prev = q;
	if (q && prev) {
		prev->next = n->next;
		prev->rec.next = n->rec.next;
	} else if (q) {
		all = n->next;
	}
	publish();
	mt_vm_change_end();
	mt_vm_unlock();
	free(n);
}

/* The low threshold for total bytes of memory: total/128 (32 MB per 4 GB),
 * at most 64 MB. The high one is three times it. */
static uint64_t low_threshold(uint64_t total)
{
	uint64_t t = total / 128;

	return t < 64 * MIB ? t : 64 * MIB;
}

DWORD mt_notification_state(struct mt_object *obj, bool *signalled)
{
	struct mt_notification *n = (struct mt_notification *)obj;
	uint64_t total = 0, avail = 0, low;
	DWORD err = mt_physical_memory(&total, &avail);

	if (err)
		return err;
	low = low_threshold(total);
	if (n->rec.type == LowMemoryResourceNotification) {
		*signalled = avail <= low;
		n->rec.threshold = low;
	} else {
		*signalled = avail >= 3 * low;
		n->rec.threshold = 3 * low;
	}
	n->rec.available = avail;
	n->rec.signalled = *signalled;
	return 0;
}

HANDLE WINAPI CreateMemoryResourceNotification(MEMORY_RESOURCE_NOTIFICATION_TYPE NotificationType)
{
	struct mt_notification *n;
	HANDLE h;
	DWORD err;

	mt_init();
	if (NotificationType != LowMemoryResourceNotification &&
	    NotificationType != HighMemoryResourceNotification)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	if (!(n = calloc(1, sizeof *n)))
		return mt_fail_null(ERROR_NOT_ENOUGH_MEMORY);
	mt_object_init(&n->obj, MT_OBJ_NOTIFICATION, notification_destroy);
	n->rec.magic = MEMAPI_NOTIFY_MAGIC;
	n->rec.layout = MEMAPI_NOTIFY_LAYOUT;
	n->rec.type = (uint32_t)NotificationType;
	mt_vm_lock();
	mt_vm_change_begin();
	n->next = all;
	n->rec.next = all ? &all->rec : NULL;
	all = n;
	publish();
	mt_vm_change_end();
	mt_vm_unlock();
	err = mt_handle_create(&n->obj, &h);
	mt_object_put(&n->obj);                 /* the handle holds it, or nothing */
	return err ? mt_fail_null(err) : h;
}

BOOL WINAPI QueryMemoryResourceNotification(HANDLE ResourceNotificationHandle,
                                            PBOOL ResourceState)
{
	struct mt_object *obj;
	bool on = false;
	DWORD err;

	mt_init();
	if ((err = mt_handle_ref(ResourceNotificationHandle, MT_OBJ_NOTIFICATION, &obj)))
		return mt_fail(err);
	if (!ResourceState)
		err = ERROR_NOACCESS;
	else if (!(err = mt_notification_state(obj, &on)))
		*ResourceState = on;
	mt_object_put(obj);
	return err ? mt_fail(err) : TRUE;
}
