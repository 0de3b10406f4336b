/* The thread's last error (GetLastError/SetLastError) and errno mapping. */
#include "internal.h"

#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

static _Thread_local DWORD last_error;
static _Thread_local pid_t cached_tid;

DWORD WINAPI GetLastError(void)
{
	return last_error;
}

void WINAPI SetLastError(DWORD code)
{
	last_error = code;
}

BOOL mt_fail(DWORD code)
{
	last_error = code;
	return FALSE;
}

void *mt_fail_null(DWORD code)
{
	last_error = code;
	return NULL;
}

DWORD mt_error_from_errno(int err)
{
	switch (err) {
	case 0:       return ERROR_SUCCESS;
	case ENOMEM:  return ERROR_NOT_ENOUGH_MEMORY;
	case EAGAIN:  return ERROR_WORKING_SET_QUOTA;
	case EPERM:
	case EACCES:  return ERROR_ACCESS_DENIED;
	case EEXIST:  return ERROR_INVALID_ADDRESS;
	case EFAULT:  return ERROR_NOACCESS;
	case ESRCH:   return ERROR_INVALID_PARAMETER;
	case ENOENT:  return ERROR_FILE_NOT_FOUND;
	case ENOSYS:
	case ENOTSUP: return ERROR_NOT_SUPPORTED;
	case EBADF:   return ERROR_INVALID_HANDLE;
	case EMFILE:
	case ENFILE:  return ERROR_TOO_MANY_OPEN_FILES;
	case ENOSPC:
	case EFBIG:   return ERROR_DISK_FULL;
	case EIO:     return ERROR_IO_DEVICE;
	default:      return ERROR_INVALID_PARAMETER;
	}
}

/* The kernel thread id, cached: the fault handler compares it with the
 * lock owner and must not make a syscall for it each time. */
pid_t mt_gettid(void)
{
	if (!cached_tid)
		cached_tid = (pid_t)syscall(SYS_gettid);
	return cached_tid;
}

void mt_forget_tid(void)
{
	cached_tid = 0;
}
