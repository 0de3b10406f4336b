/* GetWriteWatch and ResetWriteWatch on both write-watch paths. main() runs
 * the suite with the path the machine offers (userfaultfd + PAGEMAP_SCAN
 * on Linux 6.7+), then re-executes itself with MEMAPI_WRITE_WATCH=fallback
 * (read once at library start-up) to run every test again on the
 * mprotect/fault fallback. */
#include "testlib.h"
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define RW PAGE_READWRITE
#define PAGES 16

static bool fallback_run(void)
{
	const char *w = getenv("MEMAPI_WRITE_WATCH");

	return w && !strcmp(w, "fallback");
}

static char *watched(void)
{
	char *p = VirtualAlloc(NULL, PAGES * TL_PAGE, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, RW);

	ck_assert_msg(p != NULL, "watch region: %lu", (unsigned long)GetLastError());
	return p;
}

/* The written pages of [p, +PAGES) as page indexes, at most max. */
static ULONG_PTR written(char *p, DWORD flags, ULONG_PTR max, size_t *idx)
{
	PVOID addrs[PAGES];
	ULONG_PTR n = max;
	DWORD gran = 0;

	ck_assert_uint_le(max, PAGES);
	ck_assert_uint_eq(GetWriteWatch(flags, p, PAGES * TL_PAGE, addrs, &n, &gran), 0);
	ck_assert_uint_eq(gran, TL_PAGE);
	ck_assert_uint_le(n, max);
	for (ULONG_PTR i = 0; i < n; i++)
		idx[i] = ((uintptr_t)addrs[i] - (uintptr_t)p) / TL_PAGE;
	return n;
}

static void assert_written(char *p, const size_t *want, size_t count)
{
	size_t got[PAGES];
	ULONG_PTR n = written(p, 0, PAGES, got);

	ck_assert_uint_eq(n, count);
	for (size_t i = 0; i < count; i++)
		ck_assert_uint_eq(got[i], want[i]);
}

/* ---- the path ---- */

static bool kernel_has_wp_async(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 7);
}

START_TEST(test_memapi_get_counters__watch_mode)
{
	memapi_counters c;

	ck_assert_int_eq(memapi_get_counters(&c), 0);
	if (fallback_run())
		ck_assert_uint_eq(c.watch_mode, MEMAPI_WATCH_FALLBACK);
	else if (!tl_valgrind() && kernel_has_wp_async())
		/* valgrind has no userfaultfd: the library falls back there. */
		ck_assert_uint_eq(c.watch_mode, MEMAPI_WATCH_KERNEL);
	ck_assert_uint_eq(c.watch_mode, memapi_root.watch_mode);
}
END_TEST

/* ---- reporting ---- */

START_TEST(test_GetWriteWatch__fresh_region_reports_nothing)
{
	char *p = watched();
	size_t idx[PAGES];

	ck_assert_uint_eq(written(p, 0, PAGES, idx), 0);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__written_pages_in_address_order)
{
	char *p = watched();
	const size_t want[] = { 2, 7, 11 };

	p[11 * TL_PAGE + 5] = 1;
	p[2 * TL_PAGE] = 1;
	p[7 * TL_PAGE + TL_PAGE - 1] = 1;
	p[2 * TL_PAGE + 1] = 2;
	assert_written(p, want, 3);
	assert_written(p, want, 3);     /* no reset: still there */
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__reads_do_not_count)
{
	char *p = watched();
	unsigned sum = 0;

	for (int i = 0; i < PAGES; i++)
		sum += tl_read(p + i * TL_PAGE);
	ck_assert_uint_eq(sum, 0);
	assert_written(p, NULL, 0);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__sub_range)
{
	char *p = watched();
	PVOID addrs[PAGES];
	ULONG_PTR n = PAGES;
	DWORD gran;

	p[1 * TL_PAGE] = 1;
	p[4 * TL_PAGE] = 1;
	p[6 * TL_PAGE] = 1;
	ck_assert_uint_eq(GetWriteWatch(0, p + 3 * TL_PAGE, 3 * TL_PAGE, addrs, &n, &gran), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(addrs[0], p + 4 * TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__flag_reset_resets)
{
	char *p = watched();
	size_t idx[PAGES];
	const size_t want[] = { 3 };

	p[0] = 1;
	p[9 * TL_PAGE] = 1;
	ck_assert_uint_eq(written(p, WRITE_WATCH_FLAG_RESET, PAGES, idx), 2);
	assert_written(p, NULL, 0);
	p[3 * TL_PAGE] = 1;
	assert_written(p, want, 1);
	ck_assert_int_eq(p[0] + p[9 * TL_PAGE], 2);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__short_buffer_reports_first)
{
	char *p = watched();
	size_t idx[PAGES];
	const size_t rest[] = { 8, 10, 12 };

	for (int i = 0; i < 5; i++)
		p[(4 + 2 * i) * TL_PAGE] = 1;
	ck_assert_uint_eq(written(p, 0, 2, idx), 2);
	ck_assert_uint_eq(idx[0], 4);
	ck_assert_uint_eq(idx[1], 6);
	/* With reset only the two reported pages are reset. */
	ck_assert_uint_eq(written(p, WRITE_WATCH_FLAG_RESET, 2, idx), 2);
	ck_assert_uint_eq(idx[1], 6);
	assert_written(p, rest, 3);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__zero_count_reports_nothing)
{
	char *p = watched();
	ULONG_PTR n = 0;
	DWORD gran;

	p[0] = 1;
	ck_assert_uint_eq(GetWriteWatch(0, p, PAGES * TL_PAGE, NULL, &n, &gran), 0);
	ck_assert_uint_eq(n, 0);
	tl_release(p);
}
END_TEST

START_TEST(test_ResetWriteWatch__clears_range)
{
	char *p = watched();
	const size_t want[] = { 1, 14 };

	p[TL_PAGE] = 1;
	p[5 * TL_PAGE] = 1;
	p[14 * TL_PAGE] = 1;
	ck_assert_uint_eq(ResetWriteWatch(p + 2 * TL_PAGE, 10 * TL_PAGE), 0);
	assert_written(p, want, 2);
	ck_assert_uint_eq(ResetWriteWatch(p, PAGES * TL_PAGE), 0);
	assert_written(p, NULL, 0);
	p[5 * TL_PAGE] = 2;
	ck_assert_int_eq(p[5 * TL_PAGE], 2);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__decommit_and_recommit)
{
	char *p = watched();
	const size_t after_decommit[] = { 0, 3 };
	const size_t after_write[] = { 0, 1, 3 };

	for (int i = 0; i < 4; i++)
		p[i * TL_PAGE] = 1;
	ck_assert(VirtualFree(p + TL_PAGE, 2 * TL_PAGE, MEM_DECOMMIT));
	tl_commit(p + TL_PAGE, 2 * TL_PAGE, RW);
	/* Decommitted pages come back clean and zero. */
	assert_written(p, after_decommit, 2);
	ck_assert_int_eq(p[TL_PAGE], 0);
	p[TL_PAGE] = 1;
	assert_written(p, after_write, 3);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__read_from_file_counts)
{
	char *p = watched();
	char path[] = "/tmp/check_watch.XXXXXX";
	int fd = mkstemp(path);
	char data[300];
	const size_t want[] = { 3, 4 };

	ck_assert_int_ge(fd, 0);
	unlink(path);
	memset(data, 'x', sizeof data);
	ck_assert_int_eq(write(fd, data, sizeof data), (int)sizeof data);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	/* Straddles pages 3 and 4. */
	ck_assert_int_eq(read(fd, p + 4 * TL_PAGE - 100, sizeof data), (int)sizeof data);
	ck_assert_int_eq(p[4 * TL_PAGE + 199], 'x');
	assert_written(p, want, 2);
	close(fd);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__read_from_pipe_counts)
{
	char *p = watched();
	int fds[2];
	const size_t want[] = { 9 };

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], "hello", 5), 5);
	ck_assert_int_eq(read(fds[0], p + 9 * TL_PAGE + 7, 5), 5);
	ck_assert_int_eq(memcmp(p + 9 * TL_PAGE + 7, "hello", 5), 0);
	assert_written(p, want, 1);
	close(fds[0]);
	close(fds[1]);
	tl_release(p);
}
END_TEST

START_TEST(test_GetWriteWatch__region_counted)
{
	memapi_counters before, after;
	char *p;

	memapi_get_counters(&before);
	p = watched();
	memapi_get_counters(&after);
	ck_assert_uint_eq(after.watch_regions, before.watch_regions + 1);
	tl_release(p);
	memapi_get_counters(&after);
	ck_assert_uint_eq(after.watch_regions, before.watch_regions);
}
END_TEST

/* ---- errors ---- */

static void assert_get_fails(DWORD flags, void *base, SIZE_T size, ULONG_PTR *count, DWORD code)
{
	PVOID addrs[PAGES];
	DWORD gran;

	SetLastError(0);
	ck_assert_uint_ne(GetWriteWatch(flags, base, size, addrs, count, &gran), 0);
	ck_assert_last_error(code);
}

START_TEST(test_GetWriteWatch__errors)
{
	char *p = watched(), *plain = tl_commit_new(PAGES * TL_PAGE, RW);
	ULONG_PTR n = PAGES;

	assert_get_fails(0, plain, TL_PAGE, &n, ERROR_INVALID_PARAMETER);
	assert_get_fails(2, p, TL_PAGE, &n, ERROR_INVALID_PARAMETER);
	assert_get_fails(0, p, (PAGES + 1) * TL_PAGE, &n, ERROR_INVALID_PARAMETER);
	assert_get_fails(0, p + TL_PAGE, PAGES * TL_PAGE, &n, ERROR_INVALID_PARAMETER);
	assert_get_fails(0, p, 0, &n, ERROR_INVALID_PARAMETER);
	assert_get_fails(0, p, TL_PAGE, NULL, ERROR_NOACCESS);
	tl_release(plain);
	assert_get_fails(0, plain, TL_PAGE, &n, ERROR_INVALID_PARAMETER);
	tl_release(p);
}
END_TEST

START_TEST(test_ResetWriteWatch__errors)
{
	char *p = watched(), *plain = tl_commit_new(TL_PAGE, RW);

	SetLastError(0);
	ck_assert_uint_ne(ResetWriteWatch(plain, TL_PAGE), 0);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	SetLastError(0);
	ck_assert_uint_ne(ResetWriteWatch(p, (PAGES + 1) * TL_PAGE), 0);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	tl_release(plain);
	tl_release(p);
}
END_TEST


/* Output buffers of the API inside watched memory that has not been
 * written yet: the library must not fault on them while holding its lock. */
START_TEST(test_GetWriteWatch__output_in_watched_memory)
{
	char *p = watched();
	PVOID *out = (PVOID *)(p + 8 * TL_PAGE);     /* unwritten watched page */
	MEMORY_BASIC_INFORMATION *m = (MEMORY_BASIC_INFORMATION *)(p + 12 * TL_PAGE);
	ULONG_PTR n = 4;
	DWORD gran;

	p[0] = 1;
	ck_assert_uint_eq(VirtualQuery(p, m, sizeof *m), sizeof *m);
	ck_assert_uint_eq(m->State, MEM_COMMIT);
	ck_assert_uint_eq(GetWriteWatch(0, p, 4 * TL_PAGE, out, &n, &gran), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(out[0], p);
	tl_release(p);
}
END_TEST

/* Locking watched pages is not a write. */
START_TEST(test_GetWriteWatch__lock_is_not_a_write)
{
	char *p = watched();
	size_t idx[PAGES];

	p[TL_PAGE] = 1;
	ck_assert(VirtualLock(p, 4 * TL_PAGE));
	ck_assert_uint_eq(written(p, 0, PAGES, idx), 1);
	ck_assert_uint_eq(idx[0], 1);
	p[2 * TL_PAGE] = 1;                     /* locked pages still track */
	ck_assert_uint_eq(written(p, 0, PAGES, idx), 2);
	ck_assert(VirtualUnlock(p, 4 * TL_PAGE));
	tl_release(p);
}
END_TEST

/* A fork child tracks its own writes; its resets do not touch the parent. */
START_TEST(test_GetWriteWatch__fork_child_tracks_its_own)
{
	char *p = watched();
	ULONG_PTR n;
	size_t idx[PAGES];
	int status = 0;
	pid_t pid;

	p[0] = 1;
	pid = fork();
	if (pid == 0) {
		PVOID out[PAGES];
		ULONG_PTR k = PAGES;
		DWORD gran;

		p[3 * TL_PAGE] = 1;
		if (GetWriteWatch(WRITE_WATCH_FLAG_RESET, p, PAGES * TL_PAGE, out, &k, &gran))
			_exit(2);
		/* The child saw its own write; what it inherited may or may not
		 * count (kernel path: fresh state; fallback: the parent's bits). */
		for (ULONG_PTR i = 0; i < k; i++)
			if (out[i] == p + 3 * TL_PAGE)
				_exit(0);
		_exit(3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	n = written(p, 0, PAGES, idx);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(idx[0], 0);
	tl_release(p);
}
END_TEST

/* At vm.max_map_count the fallback cannot split mappings per written page:
 * writes must still succeed (over-reported), never loop on a fault. */
START_TEST(test_GetWriteWatch__fallback_at_map_limit)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r+");
	long old = 0, maps = 0;
	SIZE_T size = 2048 * TL_PAGE;
	PVOID *out;
	ULONG_PTR n = 2048;
	DWORD gran;
	char line[512], *p;
	FILE *m;

	if (!f || fscanf(f, "%ld", &old) != 1 || geteuid() != 0) {
		if (f)
			fclose(f);
		return;         /* needs root to lower the limit */
	}
	p = VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, RW);
	ck_assert_ptr_nonnull(p);
	m = fopen("/proc/self/maps", "r");
	while (m && fgets(line, sizeof line, m))
		maps++;
	if (m)
		fclose(m);
	rewind(f);
	fprintf(f, "%ld\n", maps + 40);
	fflush(f);
	for (SIZE_T i = 0; i < size / TL_PAGE; i += 2)
		p[i * TL_PAGE] = 1;             /* every other page: many splits */
	rewind(f);
	fprintf(f, "%ld\n", old);
	fclose(f);
	out = malloc(n * sizeof *out);
	ck_assert_uint_eq(GetWriteWatch(0, p, size, out, &n, &gran), 0);
	ck_assert_uint_ge(n, size / TL_PAGE / 2);   /* every write seen */
	free(out);
	tl_release(p);
}
END_TEST

static Suite *make_watch_suite(void)
{
	Suite *s = suite_create(fallback_run() ? "watch (fallback path)" : "watch (default path)");
	TCase *tc;

	tc = tcase_create("report");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_memapi_get_counters__watch_mode);
	tcase_add_test(tc, test_GetWriteWatch__fresh_region_reports_nothing);
	tcase_add_test(tc, test_GetWriteWatch__written_pages_in_address_order);
	tcase_add_test(tc, test_GetWriteWatch__reads_do_not_count);
	tcase_add_test(tc, test_GetWriteWatch__sub_range);
	tcase_add_test(tc, test_GetWriteWatch__region_counted);
	suite_add_tcase(s, tc);

	tc = tcase_create("reset");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_GetWriteWatch__flag_reset_resets);
	tcase_add_test(tc, test_GetWriteWatch__short_buffer_reports_first);
	tcase_add_test(tc, test_GetWriteWatch__zero_count_reports_nothing);
	tcase_add_test(tc, test_ResetWriteWatch__clears_range);
	tcase_add_test(tc, test_GetWriteWatch__decommit_and_recommit);
	suite_add_tcase(s, tc);

	tc = tcase_create("kernel_writes");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_GetWriteWatch__read_from_file_counts);
	tcase_add_test(tc, test_GetWriteWatch__read_from_pipe_counts);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_GetWriteWatch__output_in_watched_memory);
	tcase_add_test(tc, test_GetWriteWatch__lock_is_not_a_write);
	tcase_add_test(tc, test_GetWriteWatch__fork_child_tracks_its_own);
	tcase_add_test(tc, test_GetWriteWatch__fallback_at_map_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_GetWriteWatch__errors);
	tcase_add_test(tc, test_ResetWriteWatch__errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	int rc = tl_run(make_watch_suite());

	(void)argc;
	if (fallback_run())
		return tl_rerun_status(rc);
	return tl_rerun(argv, "MEMAPI_WRITE_WATCH", "fallback", rc);
}
