/* Data Execution Prevention: the system policy from the CPU's and the
 * kernel's NX support, a process's policy from its personality and its
 * stack, and SetProcessDEPPolicy, which Windows refuses to 64-bit code. */
#include "internal.h"

#include <cpuid.h>
#include <errno.h>
#include <string.h>
#include <sys/personality.h>

static bool cpu_has_nx(void)
{
	unsigned a, b, c, d;

	return __get_cpuid(0x80000001, &a, &b, &c, &d) && (d & (1u << 20));
}

/* Linux gives every process non-executable data unless the process opts
 * out (READ_IMPLIES_EXEC, an executable stack): Windows' OptOut. Where
 * /proc cannot be read, the CPU's answer stands. */
static DEP_SYSTEM_POLICY_TYPE probe_policy(void)
{
	bool on = true;

	if (!cpu_has_nx() || (!mt_os_kernel_nx(&on) && !on))
		return DEPPolicyAlwaysOff;
	return DEPPolicyOptOut;
}

/* Fixed at boot, so worked out once; -1 until then. */
static atomic_int system_policy = -1;

static DEP_SYSTEM_POLICY_TYPE system_policy_get(void)
{
	int p = atomic_load_explicit(&system_policy, memory_order_relaxed);

	if (p < 0) {
		p = (int)probe_policy();
		atomic_store_explicit(&system_policy, p, memory_order_relaxed);
	}
	return (DEP_SYSTEM_POLICY_TYPE)p;
}

DEP_SYSTEM_POLICY_TYPE WINAPI GetSystemDEPPolicy(VOID)
{
	mt_init();
	return system_policy_get();
}

/* Whether the VMA the kernel names [stack] (the main thread's stack) is
 * executable: a program linked with an executable stack, or one that made
 * it so. pid 0: the calling process. */
static int stack_executable(pid_t pid, bool *exec)
{
	struct mt_maps *m;
	struct mt_vma v;
	uintptr_t a = 0;
	int e = mt_maps_open(pid, &m);

	*exec = false;
	if (e)
		return e;
	while (!(e = mt_maps_find(m, a, &v))) {
		if (!strcmp(v.name, "[stack]")) {
			*exec = v.flags & MT_VMA_EXEC;
			break;
		}
		a = v.end;
	}
	mt_maps_close(m);
	return e == ENOENT ? 0 : e;
}

static DWORD proc_error(int e)
{
	if (e == ENOENT || e == ESRCH)
		return ERROR_INVALID_PARAMETER;   /* exited meanwhile, as VirtualQueryEx */
	if (e == EPERM || e == EACCES)
		return ERROR_ACCESS_DENIED;
	return mt_error_from_errno(e);
}

/* PROCESS_DEP_ENABLE unless data is executable in the process. */
static DWORD process_flags(pid_t pid, DWORD *flags)
{
	unsigned long persona;
	bool exec;
	int e;

	*flags = 0;
	if (system_policy_get() == DEPPolicyAlwaysOff)
		return 0;
	if ((e = mt_os_personality(pid, &persona)) || (e = stack_executable(pid, &exec)))
		return proc_error(e);
	if (!(persona & READ_IMPLIES_EXEC) && !exec)
		*flags = PROCESS_DEP_ENABLE;
	return 0;
}

BOOL WINAPI GetProcessDEPPolicy(HANDLE hProcess, LPDWORD lpFlags, PBOOL lpPermanent)
{
	DWORD flags, err;
	bool self;
	pid_t pid;

	mt_init();
	if ((err = mt_process_resolve(hProcess, PROCESS_QUERY_INFORMATION, &self, &pid)))
		return mt_fail(err);
	if (!lpFlags || !lpPermanent)
		return mt_fail(ERROR_NOACCESS);
	if ((err = process_flags(self ? 0 : pid, &flags)))
		return mt_fail(err);
	*lpFlags = flags;
	/* As for every 64-bit process on Windows: SetProcessDEPPolicy cannot
	 * change it (personality(2) and mprotect(2) can, behind the API). */
	*lpPermanent = TRUE;
	return TRUE;
}

BOOL WINAPI SetProcessDEPPolicy(DWORD dwFlags)
{
	(void)dwFlags;
	mt_init();
	return mt_fail(ERROR_NOT_SUPPORTED);   /* Windows: 32-bit processes only */
}
