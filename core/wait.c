/* WaitForSingleObject and WaitForMultipleObjects on the waitable handles
 * libmemapi has: memory resource notifications (signalled while their
 * memory condition holds), processes (signalled once they have exited;
 * the handle needs SYNCHRONIZE) and files (always signalled: their I/O is
 * synchronous). Waiters look at every object again at least every 100 ms,
 * when a process's pidfd becomes readable, and when the kernel's memory
 * pressure trigger fires. */
#include "internal.h"

#include <poll.h>
#include <time.h>

#define SLICE_MS 100

/* One handle being waited for, with a reference to its object. */
struct waitee {
	struct mt_object *obj;
	int               fd;         /* polled for a change, or -1          */
	short             events;
};

static int psi_fd = -1;
static pthread_once_t psi_once = PTHREAD_ONCE_INIT;

/* A memory pressure trigger (some task stalled 150 ms in a 2 s window):
 * it wakes waiters of low-memory notifications early. Unprivileged
 * processes may make one with a window of whole seconds. */
static void psi_open(void)
{
	psi_fd = mt_os_psi_trigger("some 150000 2000000");
}

static DWORD resolve(HANDLE h, struct waitee *w)
{
	struct mt_object *obj;
	struct mt_process *p;

	w->fd = -1;
	w->events = 0;
	if (!mt_handle_ref(h, MT_OBJ_NOTIFICATION, &obj)) {
		pthread_once(&psi_once, psi_open);
		w->fd = psi_fd;
		w->events = POLLPRI;
	} else if (!mt_handle_ref(h, MT_OBJ_FILE, &obj)) {
		;
	} else if (h == MT_CURRENT_PROCESS) {
		obj = NULL;                     /* the caller: it never has exited */
	} else if (!mt_handle_ref(h, MT_OBJ_PROCESS, &obj)) {
		p = (struct mt_process *)obj;
		if (!(p->access & SYNCHRONIZE)) {
			mt_object_put(obj);
			return ERROR_ACCESS_DENIED;
		}
		w->fd = p->pidfd;
		w->events = POLLIN;
	} else {
		return ERROR_INVALID_HANDLE;    /* closed, or not waitable (sections) */
	}
	w->obj = obj;
	return 0;
}

static DWORD signalled(const struct waitee *w, bool *on)
{
	const struct mt_process *p;
	struct pollfd pf;

	*on = false;
	if (!w->obj)
		return 0;
	switch (w->obj->type) {
	case MT_OBJ_NOTIFICATION:
		return mt_notification_state(w->obj, on);
	case MT_OBJ_FILE:
		*on = true;
		return 0;
	case MT_OBJ_PROCESS:
		p = (const struct mt_process *)w->obj;
		if (p->pidfd >= 0) {
			pf = (struct pollfd){ .fd = p->pidfd, .events = POLLIN };
			*on = poll(&pf, 1, 0) > 0;
		} else {
			*on = mt_os_process_exited(p->pid);
		}
		return 0;
	default:
		return ERROR_INVALID_HANDLE;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleeps at most ms, waking when one of the objects may have changed. */
static void nap(const struct waitee *w, DWORD n, uint64_t ms)
{
	struct pollfd pf[MAXIMUM_WAIT_OBJECTS];
	nfds_t k = 0;

	for (DWORD i = 0; i < n; i++)
		if (w[i].fd >= 0)
			pf[k++] = (struct pollfd){ .fd = w[i].fd, .events = w[i].events };
	poll(pf, k, (int)ms);
}

/* One look at every object: the index answered (WAIT_OBJECT_0 + i), or
 * WAIT_TIMEOUT when the condition does not hold yet. */
static DWORD look(const struct waitee *w, DWORD n, bool all, DWORD *err)
{
	DWORD first = WAIT_TIMEOUT, count = 0;

	for (DWORD i = 0; i < n; i++) {
		bool on;

		if ((*err = signalled(&w[i], &on)))
			return WAIT_FAILED;
		if (on && first == WAIT_TIMEOUT)
			first = WAIT_OBJECT_0 + i;
		count += on;
	}
	if (all)
		return count == n ? WAIT_OBJECT_0 : WAIT_TIMEOUT;
	return first;
}

static DWORD wait_on(struct waitee *w, DWORD n, bool all, DWORD ms, DWORD *err)
{
	uint64_t start = now_ms();
	DWORD r;

	for (;;) {
		uint64_t spent = now_ms() - start, left;

		if ((r = look(w, n, all, err)) != WAIT_TIMEOUT)
			return r;
		if (ms != INFINITE && spent >= ms)
			return WAIT_TIMEOUT;
		left = ms == INFINITE ? SLICE_MS : ms - spent;
		nap(w, n, left < SLICE_MS ? left : SLICE_MS);
	}
}

static DWORD wait_handles(DWORD n, const HANDLE *handles, bool all, DWORD ms)
{
	struct waitee w[MAXIMUM_WAIT_OBJECTS];
	DWORD err = 0, r = WAIT_FAILED, k;

	mt_init();
	if (!n || n > MAXIMUM_WAIT_OBJECTS)
		return mt_fail(ERROR_INVALID_PARAMETER), WAIT_FAILED;
	if (!handles)
		return mt_fail(ERROR_NOACCESS), WAIT_FAILED;
	/* "It may not contain multiple copies of the same handle." */
	for (DWORD i = 0; i < n; i++)
		for (DWORD j = 0; j < i; j++)
			if (handles[i] == handles[j])
				return mt_fail(ERROR_INVALID_PARAMETER), WAIT_FAILED;
	for (k = 0; k < n && !err; k++)
		err = resolve(handles[k], &w[k]);
	if (err)
		k--;                            /* the failed one holds nothing */
	else
		r = wait_on(w, n, all, ms, &err);
	while (k-- > 0)
		if (w[k].obj)
			mt_object_put(w[k].obj);
	if (err)
		return mt_fail(err), WAIT_FAILED;
	return r;
}

DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)
{
	return wait_handles(1, &hHandle, false, dwMilliseconds);
}

DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll,
                                    DWORD dwMilliseconds)
{
	return wait_handles(nCount, lpHandles, bWaitAll != FALSE, dwMilliseconds);
}
