/* Process handles: the current-process pseudo-handle and OpenProcess, which
 * holds a pidfd so a handle never silently refers to a reused pid. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

HANDLE WINAPI GetCurrentProcess(void)
{
	return MT_CURRENT_PROCESS;
}

DWORD WINAPI GetCurrentProcessId(void)
{
	return (DWORD)getpid();
}

DWORD WINAPI GetCurrentThreadId(void)
{
	return (DWORD)mt_gettid();
}

static void process_destroy(struct mt_object *obj)
{
	struct mt_process *p = (struct mt_process *)obj;

	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p);
}

/* Rights that read the target's memory map need ptrace-read access. */
#define MAP_RIGHTS (PROCESS_QUERY_INFORMATION | PROCESS_VM_READ | \
                    PROCESS_VM_WRITE | PROCESS_VM_OPERATION)

static DWORD check_access(pid_t pid, DWORD access)
{
	char path[64];
	int fd;

	if (kill(pid, 0) && errno == ESRCH)
		return ERROR_INVALID_PARAMETER;
	if (!(access & MAP_RIGHTS))
		return 0;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? ERROR_INVALID_PARAMETER : ERROR_ACCESS_DENIED;
	close(fd);
	return 0;
}

/* The generic rights as Windows maps them for process objects. */
static DWORD generic_to_process(DWORD access)
{
	DWORD out = access & ~(DWORD)(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);

	if (access & GENERIC_READ)
		out |= READ_CONTROL | PROCESS_VM_READ | PROCESS_QUERY_INFORMATION;
	if (access & GENERIC_WRITE)
		out |= READ_CONTROL | PROCESS_CREATE_THREAD | PROCESS_VM_OPERATION |
		       PROCESS_VM_WRITE | PROCESS_DUP_HANDLE | PROCESS_CREATE_PROCESS |
		       PROCESS_SET_QUOTA | PROCESS_SET_INFORMATION | PROCESS_SUSPEND_RESUME;
	if (access & GENERIC_EXECUTE)
		out |= READ_CONTROL | SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION |
		       PROCESS_TERMINATE;
	if (access & GENERIC_ALL)
		out |= PROCESS_ALL_ACCESS;
	return out;
}

HANDLE WINAPI OpenProcess(DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwProcessId)
{
	struct mt_process *p;
	HANDLE h;
	DWORD err;

	(void)bInheritHandle;   /* no CreateProcess here: nothing to inherit into */
	if (dwProcessId == 0 || dwProcessId > INT32_MAX)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	dwDesiredAccess = generic_to_process(dwDesiredAccess);
	if (dwDesiredAccess & ~(PROCESS_ALL_ACCESS | MAXIMUM_ALLOWED | ACCESS_SYSTEM_SECURITY))
		return mt_fail_null(ERROR_ACCESS_DENIED);
	if (dwDesiredAccess & MAXIMUM_ALLOWED) {
		/* Whatever can be had: everything where the map is readable,
		 * else the rights that need no access to the memory. */
		err = check_access((pid_t)dwProcessId, MAP_RIGHTS);
		if (err == ERROR_INVALID_PARAMETER)
			return mt_fail_null(err);
		dwDesiredAccess = err ? PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE
		                      : PROCESS_ALL_ACCESS;
	} else if ((err = check_access((pid_t)dwProcessId, dwDesiredAccess))) {
		return mt_fail_null(err);
	}
	if (!(p = calloc(1, sizeof *p)))
		return mt_fail_null(ERROR_NOT_ENOUGH_MEMORY);
	mt_object_init(&p->obj, MT_OBJ_PROCESS, process_destroy);
	p->pid = (pid_t)dwProcessId;
	p->access = dwDesiredAccess;
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0 && errno == ESRCH) {
		process_destroy(&p->obj);
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	}
	err = mt_handle_create(&p->obj, &h);
	mt_object_put(&p->obj);
	return err ? mt_fail_null(err) : h;
}

/* A pidfd says whether the process still runs: poll shows it readable
 * once the process has exited. */
static bool exited(const struct mt_process *p)
{
	struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

	if (p->pidfd < 0)
		return kill(p->pid, 0) && errno == ESRCH;
	return poll(&pfd, 1, 0) > 0;
}

DWORD mt_process_require_self(HANDLE h, DWORD need)
{
	bool self;
	pid_t pid;
	DWORD err = mt_process_resolve(h, need, &self, &pid);

	return err ? err : self ? 0 : ERROR_NOT_SUPPORTED;
}

DWORD mt_process_resolve(HANDLE h, DWORD need, bool *self, pid_t *pid)
{
	struct mt_object *obj;
	struct mt_process *p;
	DWORD err;

	if (h == MT_CURRENT_PROCESS) {
		*self = true;
		*pid = getpid();
		return 0;
	}
	if ((err = mt_handle_ref(h, MT_OBJ_PROCESS, &obj)))
		return err;
	p = (struct mt_process *)obj;
	if ((p->access & need) != need)
		err = ERROR_ACCESS_DENIED;
	else if (p->pid != getpid() && exited(p))
		err = ERROR_ACCESS_DENIED;      /* as Windows for a terminated process */
	*self = p->pid == getpid();
	*pid = p->pid;
	mt_object_put(obj);
	return err;
}
