/* Check suite for bad memory: GetMemoryErrorHandlingCapabilities,
 * RegisterBadMemoryNotification, UnregisterBadMemoryNotification, through
 * the test hook, a SIGBUS as the kernel sends it, and a rise of
 * HardwareCorrupted. */
#include "testlib.h"

#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int calls, calls2, started, finished;

static VOID WINAPI on_bad(VOID)
{
	atomic_fetch_add(&calls, 1);
}

static VOID WINAPI on_bad2(VOID)
{
	atomic_fetch_add(&calls2, 1);
}

static void bad_setup(void)
{
	tl_setup();
	atomic_store(&calls, 0);
	atomic_store(&calls2, 0);
	atomic_store(&started, 0);
	atomic_store(&finished, 0);
}

/* Waits up to 3 s for *v to reach n. */
static bool reaches(atomic_int *v, int n)
{
	for (int i = 0; i < 300 && atomic_load(v) < n; i++)
		usleep(10 * 1000);
	return atomic_load(v) >= n;
}

/* A SIGBUS as the kernel sends one for a memory error at addr. */
static void kernel_sigbus(int code, void *addr)
{
	siginfo_t si;

	/* valgrind 3.19 takes such a signal for a fault of its own and dies
	 * ("the 'impossible' happened"): this path runs natively and under
	 * the sanitizers only. */
	if (tl_valgrind())
		return;

	memset(&si, 0, sizeof si);
	si.si_signo = SIGBUS;
	si.si_code = code;
	si.si_addr = addr;
	ck_assert_int_eq(syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGBUS, &si),
	                 0);
}

START_TEST(test_GetMemoryErrorHandlingCapabilities__edac)
{
	ULONG caps = 0xdead;
	bool scrubber = false;
	DIR *d = opendir("/sys/devices/system/edac/mc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[320];
		FILE *f;
		unsigned long rate = 0;

		if (strncmp(e->d_name, "mc", 2))
			continue;
		snprintf(path, sizeof path, "/sys/devices/system/edac/mc/%s/sdram_scrub_rate", e->d_name);
		if ((f = fopen(path, "r"))) {
			scrubber |= fscanf(f, "%lu", &rate) == 1 && rate > 0;
			fclose(f);
		}
	}
	if (d)
		closedir(d);
	ck_assert(GetMemoryErrorHandlingCapabilities(&caps));
	ck_assert_uint_eq(caps, scrubber ? MEHC_PATROL_SCRUBBER_PRESENT : 0);
	ck_assert_false_error(GetMemoryErrorHandlingCapabilities(NULL), ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_RegisterBadMemoryNotification__registration)
{
	PVOID r;
	int local;

	ck_assert_null_error(RegisterBadMemoryNotification(NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(UnregisterBadMemoryNotification(NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(UnregisterBadMemoryNotification(&local), ERROR_INVALID_PARAMETER);
	r = RegisterBadMemoryNotification(on_bad);
	ck_assert_ptr_nonnull(r);
	ck_assert(UnregisterBadMemoryNotification(r));
	ck_assert_false_error(UnregisterBadMemoryNotification(r), ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_RegisterBadMemoryNotification__hook_runs_every_callback)
{
	PVOID a = RegisterBadMemoryNotification(on_bad);
	PVOID b = RegisterBadMemoryNotification(on_bad2);
	void *seen[16];
	size_t n;

	memapi_report_memory_error((void *)0x12345000);
	ck_assert(reaches(&calls, 1));
	ck_assert(reaches(&calls2, 1));
	n = memapi_memory_errors(seen, 16);
	ck_assert_uint_ge(n, 1);
	ck_assert_ptr_eq(seen[(n < 16 ? n : 16) - 1], (void *)0x12345000);
	ck_assert(UnregisterBadMemoryNotification(a));
	memapi_report_memory_error((void *)0x6000);
	ck_assert(reaches(&calls2, 2));
	usleep(100 * 1000);
	ck_assert_int_eq(atomic_load(&calls), 1);            /* gone */
	ck_assert(UnregisterBadMemoryNotification(b));
}
END_TEST

/* The kernel's early report (BUS_MCEERR_AO): the process goes on. */
START_TEST(test_RegisterBadMemoryNotification__sigbus_action_optional)
{
	PVOID r = RegisterBadMemoryNotification(on_bad);
	void *seen[16];
	size_t n;

	kernel_sigbus(BUS_MCEERR_AO, (void *)0x7000);
	if (tl_valgrind())
		memapi_report_memory_error((void *)0x7000);
	ck_assert(reaches(&calls, 1));
	n = memapi_memory_errors(seen, 16);
	ck_assert_ptr_eq(seen[(n < 16 ? n : 16) - 1], (void *)0x7000);
	ck_assert(UnregisterBadMemoryNotification(r));
}
END_TEST

static LONG CALLBACK in_page_error(EXCEPTION_POINTERS *ep)
{
	if (ep->ExceptionRecord->ExceptionCode != EXCEPTION_IN_PAGE_ERROR ||
	    ep->ExceptionRecord->ExceptionInformation[2] != 0xC000009C)
		return EXCEPTION_CONTINUE_SEARCH;
	atomic_fetch_add(&started, 1);
	return EXCEPTION_CONTINUE_EXECUTION;
}

/* An access that hit a poisoned page (BUS_MCEERR_AR): an
 * EXCEPTION_IN_PAGE_ERROR with STATUS_DEVICE_DATA_ERROR, and the report. */
START_TEST(test_RegisterBadMemoryNotification__sigbus_action_required)
{
	PVOID r = RegisterBadMemoryNotification(on_bad);
	PVOID h = AddVectoredExceptionHandler(1, in_page_error);

	kernel_sigbus(BUS_MCEERR_AR, (void *)0x8000);
	if (tl_valgrind())
		memapi_report_memory_error((void *)0x8000), atomic_store(&started, 1);
	ck_assert_int_eq(atomic_load(&started), 1);
	ck_assert(reaches(&calls, 1));
	RemoveVectoredExceptionHandler(h);
	ck_assert(UnregisterBadMemoryNotification(r));
}
END_TEST

/* An error elsewhere on the machine: HardwareCorrupted rises. */
START_TEST(test_RegisterBadMemoryNotification__hardware_corrupted_rises)
{
	char path[64];
	FILE *f;
	PVOID r;

	snprintf(path, sizeof path, "/tmp/check_badmem.%d.meminfo", (int)getpid());
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "MemTotal: 1000 kB\nHardwareCorrupted:     0 kB\n");
	fclose(f);
	setenv("MEMAPI_MEMINFO", path, 1);
	r = RegisterBadMemoryNotification(on_bad);   /* the monitor reads 0 now */
	usleep(200 * 1000);
	ck_assert_int_eq(atomic_load(&calls), 0);
	f = fopen(path, "w");
	fprintf(f, "MemTotal: 1000 kB\nHardwareCorrupted:     4 kB\n");
	fclose(f);
	ck_assert(reaches(&calls, 1));
	ck_assert(UnregisterBadMemoryNotification(r));
	unsetenv("MEMAPI_MEMINFO");
	unlink(path);
}
END_TEST

static VOID WINAPI slow(VOID)
{
	atomic_store(&started, 1);
	usleep(300 * 1000);
	atomic_store(&finished, 1);
}

/* Unregistering waits for a running call to end. */
START_TEST(test_UnregisterBadMemoryNotification__waits_for_running_call)
{
	PVOID r = RegisterBadMemoryNotification(slow);

	memapi_report_memory_error(NULL);
	ck_assert(reaches(&started, 1));
	ck_assert(UnregisterBadMemoryNotification(r));
	ck_assert_int_eq(atomic_load(&finished), 1);
}
END_TEST

static PVOID self_reg;

static VOID WINAPI unregister_self(VOID)
{
	atomic_store(&started, UnregisterBadMemoryNotification(self_reg) ? 1 : -1);
}

START_TEST(test_UnregisterBadMemoryNotification__from_its_callback)
{
	self_reg = RegisterBadMemoryNotification(unregister_self);
	memapi_report_memory_error(NULL);
	ck_assert(reaches(&started, 1));
	ck_assert_false_error(UnregisterBadMemoryNotification(self_reg), ERROR_INVALID_PARAMETER);
}
END_TEST

/* A fork child keeps its registrations, with a monitor of its own. */
START_TEST(test_RegisterBadMemoryNotification__fork_child)
{
	PVOID r = RegisterBadMemoryNotification(on_bad);
	pid_t pid;
	int st;

	if ((pid = fork()) == 0) {
		memapi_report_memory_error(NULL);
		_exit(reaches(&calls, 1) ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	usleep(100 * 1000);
	ck_assert_int_eq(atomic_load(&calls), 0);      /* the child's, not ours */
	ck_assert(UnregisterBadMemoryNotification(r));
}
END_TEST

static Suite *make_badmem_suite(void)
{
	Suite *s = suite_create("badmem");
	TCase *c = tcase_create("bad memory");

	tcase_add_checked_fixture(c, bad_setup, tl_teardown);
	tcase_add_test(c, test_GetMemoryErrorHandlingCapabilities__edac);
	tcase_add_test(c, test_RegisterBadMemoryNotification__registration);
	tcase_add_test(c, test_RegisterBadMemoryNotification__hook_runs_every_callback);
	tcase_add_test(c, test_RegisterBadMemoryNotification__sigbus_action_optional);
	tcase_add_test(c, test_RegisterBadMemoryNotification__sigbus_action_required);
	tcase_add_test(c, test_RegisterBadMemoryNotification__hardware_corrupted_rises);
	tcase_add_test(c, test_UnregisterBadMemoryNotification__waits_for_running_call);
	tcase_add_test(c, test_UnregisterBadMemoryNotification__from_its_callback);
	tcase_add_test(c, test_RegisterBadMemoryNotification__fork_child);
	tcase_set_timeout(c, 30);
	suite_add_tcase(s, c);
	return s;
}

TL_MAIN(make_badmem_suite)
