/* Check suite for memory resource notifications and the wait functions:
 * CreateMemoryResourceNotification, QueryMemoryResourceNotification,
 * WaitForSingleObject, WaitForMultipleObjects. The memory condition is
 * driven through a fake cgroup (MEMAPI_CGROUP_DIR). */
#include "testlib.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

static char dir[64];

static void put_file(const char *name, uint64_t v)
{
	char path[128], tmp[140];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s.new", path);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%llu\n", (unsigned long long)v);
	fclose(f);
	ck_assert_int_eq(rename(tmp, path), 0);     /* readers see old or new */
}

/* A cgroup with a 1 GiB limit, current bytes in use: the low threshold is
 * 8 MiB (1 GiB / 128), the high one 24 MiB. */
static void cgroup_using(uint64_t current)
{
	snprintf(dir, sizeof dir, "/tmp/check_notify.%d", (int)getpid());
	mkdir(dir, 0700);
	put_file("memory.max", GIB);
	put_file("memory.current", current);
	setenv("MEMAPI_CGROUP_DIR", dir, 1);
}

static void notify_teardown(void)
{
	char cmd[128];

	unsetenv("MEMAPI_CGROUP_DIR");
	if (dir[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		(void)!system(cmd);
	}
	tl_teardown();
}

static HANDLE notification(MEMORY_RESOURCE_NOTIFICATION_TYPE t)
{
	HANDLE h = CreateMemoryResourceNotification(t);

	ck_assert_msg(h != NULL, "CreateMemoryResourceNotification failed: %lu",
	              (unsigned long)GetLastError());
	return h;
}

static BOOL state(HANDLE h)
{
	BOOL on = 7;

	ck_assert(QueryMemoryResourceNotification(h, &on));
	ck_assert(on == TRUE || on == FALSE);
	return on;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

START_TEST(test_CreateMemoryResourceNotification__errors)
{
	HANDLE h = notification(LowMemoryResourceNotification);
	HANDLE s = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, NULL);
	BOOL on;

	ck_assert_null_error(CreateMemoryResourceNotification((MEMORY_RESOURCE_NOTIFICATION_TYPE)2),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_null_error(CreateMemoryResourceNotification((MEMORY_RESOURCE_NOTIFICATION_TYPE)-1),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_false_error(QueryMemoryResourceNotification(h, NULL), ERROR_NOACCESS);
	ck_assert_false_error(QueryMemoryResourceNotification(NULL, &on), ERROR_INVALID_HANDLE);
	ck_assert_false_error(QueryMemoryResourceNotification(s, &on), ERROR_INVALID_HANDLE);
	ck_assert(CloseHandle(h));
	ck_assert_false_error(QueryMemoryResourceNotification(h, &on), ERROR_INVALID_HANDLE);
	CloseHandle(s);
}
END_TEST

/* The machine's own figures: the thresholds scale with its memory. */
START_TEST(test_QueryMemoryResourceNotification__machine)
{
	HANDLE lo = notification(LowMemoryResourceNotification);
	HANDLE hi = notification(HighMemoryResourceNotification);
	MEMORYSTATUSEX s = { .dwLength = sizeof s };
	uint64_t low;

	ck_assert(GlobalMemoryStatusEx(&s));
	low = s.ullTotalPhys / 128 < 64 * MIB ? s.ullTotalPhys / 128 : 64 * MIB;
	/* Far from either threshold, the answer cannot flip between calls. */
	if (s.ullAvailPhys > 4 * low) {
		ck_assert(!state(lo));
		ck_assert(state(hi));
	}
	CloseHandle(lo);
	CloseHandle(hi);
}
END_TEST

START_TEST(test_QueryMemoryResourceNotification__thresholds)
{
	HANDLE lo = notification(LowMemoryResourceNotification);
	HANDLE hi = notification(HighMemoryResourceNotification);

	cgroup_using(GIB - 4 * MIB);                /* 4 MiB left: low */
	ck_assert(state(lo));
	ck_assert(!state(hi));
	cgroup_using(GIB - 8 * MIB);                /* exactly at the low threshold */
	ck_assert(state(lo));
	cgroup_using(GIB - 16 * MIB);               /* between: neither */
	ck_assert(!state(lo));
	ck_assert(!state(hi));
	cgroup_using(GIB - 24 * MIB);               /* at the high threshold */
	ck_assert(state(hi));
	cgroup_using(2 * GIB);                      /* over the limit: none left */
	ck_assert(state(lo));
	CloseHandle(lo);
	CloseHandle(hi);
}
END_TEST

START_TEST(test_memapi_root__lists_notifications)
{
	HANDLE lo = notification(LowMemoryResourceNotification);
	HANDLE hi = notification(HighMemoryResourceNotification);
	const struct memapi_rec_notification *r = memapi_root.notifications;

	cgroup_using(GIB - 4 * MIB);
	state(lo);
	state(hi);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->magic, MEMAPI_NOTIFY_MAGIC);
	ck_assert_uint_eq(r->type, 1);              /* newest first: hi */
	ck_assert_uint_eq(r->threshold, 24 * MIB);
	ck_assert_uint_eq(r->signalled, 0);
	ck_assert_ptr_nonnull(r->next);
	ck_assert_uint_eq(r->next->type, 0);
	ck_assert_uint_eq(r->next->threshold, 8 * MIB);
	ck_assert_uint_eq(r->next->available, 4 * MIB);
	ck_assert_uint_eq(r->next->signalled, 1);
	CloseHandle(hi);
	r = memapi_root.notifications;
	ck_assert_uint_eq(r->type, 0);
	ck_assert_ptr_null(r->next);
	CloseHandle(lo);
	ck_assert_ptr_null(memapi_root.notifications);
}
END_TEST

/* ---- waiting ---- */

START_TEST(test_WaitForSingleObject__timeout_and_signalled)
{
	HANDLE lo = notification(LowMemoryResourceNotification);
	uint64_t t0;

	cgroup_using(100 * MIB);
	ck_assert_uint_eq(WaitForSingleObject(lo, 0), WAIT_TIMEOUT);
	t0 = ms_now();
	ck_assert_uint_eq(WaitForSingleObject(lo, 250), WAIT_TIMEOUT);
	ck_assert_uint_ge(ms_now() - t0, 240);
	cgroup_using(GIB);
	ck_assert_uint_eq(WaitForSingleObject(lo, INFINITE), WAIT_OBJECT_0);
	CloseHandle(lo);
}
END_TEST

static void *fill_later(void *arg)
{
	(void)arg;
	usleep(300 * 1000);
	put_file("memory.current", GIB - MIB);
	return NULL;
}

/* A waiter notices the change on its own, well inside a second. */
START_TEST(test_WaitForSingleObject__wakes_when_memory_runs_low)
{
	HANDLE lo = notification(LowMemoryResourceNotification);
	pthread_t t;
	uint64_t t0;

	cgroup_using(100 * MIB);
	t0 = ms_now();
	ck_assert_int_eq(pthread_create(&t, NULL, fill_later, NULL), 0);
	ck_assert_uint_eq(WaitForSingleObject(lo, 10000), WAIT_OBJECT_0);
	ck_assert_uint_ge(ms_now() - t0, 290);
	ck_assert_uint_lt(ms_now() - t0, 1500);
	pthread_join(t, NULL);
	CloseHandle(lo);
}
END_TEST

START_TEST(test_WaitForMultipleObjects__any_all_and_errors)
{
	HANDLE lo = notification(LowMemoryResourceNotification);
	HANDLE hi = notification(HighMemoryResourceNotification);
	HANDLE v[3] = { lo, hi, NULL }, many[65];

	cgroup_using(100 * MIB);                    /* high, not low */
	ck_assert_uint_eq(WaitForMultipleObjects(2, v, FALSE, 0), WAIT_OBJECT_0 + 1);
	ck_assert_uint_eq(WaitForMultipleObjects(2, v, TRUE, 50), WAIT_TIMEOUT);
	ck_assert_uint_eq(WaitForMultipleObjects(1, &v[1], TRUE, 0), WAIT_OBJECT_0);
	v[2] = hi;
	SetLastError(0);
	ck_assert_uint_eq(WaitForMultipleObjects(3, v, FALSE, 0), WAIT_FAILED);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);          /* hi twice */
	v[2] = (HANDLE)(uintptr_t)0x7777;
	SetLastError(0);
	ck_assert_uint_eq(WaitForMultipleObjects(3, v, FALSE, 0), WAIT_FAILED);
	ck_assert_last_error(ERROR_INVALID_HANDLE);
	for (int i = 0; i < 65; i++)
		many[i] = lo;
	SetLastError(0);
	ck_assert_uint_eq(WaitForMultipleObjects(0, v, FALSE, 0), WAIT_FAILED);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	SetLastError(0);
	ck_assert_uint_eq(WaitForMultipleObjects(65, many, FALSE, 0), WAIT_FAILED);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	SetLastError(0);
	ck_assert_uint_eq(WaitForMultipleObjects(2, NULL, FALSE, 0), WAIT_FAILED);
	ck_assert_last_error(ERROR_NOACCESS);
	CloseHandle(lo);
	CloseHandle(hi);
}
END_TEST

/* Processes are signalled once they exit; files always; sections never
 * wait. */
START_TEST(test_WaitForSingleObject__processes_files_sections)
{
	char path[64];
	pid_t pid = fork();
	HANDLE p, no_sync, f, s;
	int st;

	if (pid == 0) {
		usleep(300 * 1000);
		_exit(0);
	}
	p = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
	no_sync = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(no_sync);
	ck_assert_uint_eq(WaitForSingleObject(p, 0), WAIT_TIMEOUT);
	SetLastError(0);
	ck_assert_uint_eq(WaitForSingleObject(no_sync, 0), WAIT_FAILED);
	ck_assert_last_error(ERROR_ACCESS_DENIED);
	ck_assert_uint_eq(WaitForSingleObject(p, 10000), WAIT_OBJECT_0);   /* exited, not reaped */
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_uint_eq(WaitForSingleObject(p, 0), WAIT_OBJECT_0);
	ck_assert_uint_eq(WaitForSingleObject(GetCurrentProcess(), 20), WAIT_TIMEOUT);
	snprintf(path, sizeof path, "/tmp/check_notify.%d.file", (int)getpid());
	f = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
	                FILE_FLAG_DELETE_ON_CLOSE, NULL);
	ck_assert_ptr_ne(f, INVALID_HANDLE_VALUE);
	ck_assert_uint_eq(WaitForSingleObject(f, 0), WAIT_OBJECT_0);
	s = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, NULL);
	SetLastError(0);
	ck_assert_uint_eq(WaitForSingleObject(s, 0), WAIT_FAILED);
	ck_assert_last_error(ERROR_INVALID_HANDLE);
	CloseHandle(s);
	CloseHandle(f);
	CloseHandle(p);
	CloseHandle(no_sync);
}
END_TEST

static Suite *make_notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *n = tcase_create("notifications");
	TCase *w = tcase_create("waits");

	tcase_add_checked_fixture(n, tl_setup, notify_teardown);
	tcase_add_test(n, test_CreateMemoryResourceNotification__errors);
	tcase_add_test(n, test_QueryMemoryResourceNotification__machine);
	tcase_add_test(n, test_QueryMemoryResourceNotification__thresholds);
	tcase_add_test(n, test_memapi_root__lists_notifications);
	suite_add_tcase(s, n);

	tcase_add_checked_fixture(w, tl_setup, notify_teardown);
	tcase_add_test(w, test_WaitForSingleObject__timeout_and_signalled);
	tcase_add_test(w, test_WaitForSingleObject__wakes_when_memory_runs_low);
	tcase_add_test(w, test_WaitForMultipleObjects__any_all_and_errors);
	tcase_add_test(w, test_WaitForSingleObject__processes_files_sections);
	tcase_set_timeout(w, 30);
	suite_add_tcase(s, w);
	return s;
}

TL_MAIN(make_notify_suite)
