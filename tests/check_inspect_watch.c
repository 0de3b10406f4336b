/* libmeminspect's write tracking (inspect/watch.c) against the process's
 * own GetWriteWatch: on this process and on a forked child, the written
 * and new pages of watch regions across samples, that sampling resets
 * nothing, page-hash diffs of unwatched memory, a process without
 * libmemapi, one that exits, a core, and a kernel without PAGEMAP_SCAN.
 * main() runs the suite on the path the machine offers, then again with
 * MEMAPI_WRITE_WATCH=fallback (read once at library start-up), as
 * check_watch does. */
#include "testlib.h"
#include "inspect.h"

/* The inspector's source itself, so that a test can take the path of a
 * kernel without PAGEMAP_SCAN on this one (struct mi_watch's no_scan); the
 * archive's copy is then not linked. */
#include "../inspect/watch.c"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096ul

static bool fallback_run(void)
{
	const char *w = getenv("MEMAPI_WRITE_WATCH");

	return w && !strcmp(w, "fallback");
}

static char *watched(size_t pages)
{
	char *p = VirtualAlloc(NULL, pages * P, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
	                       PAGE_READWRITE);

	ck_assert_msg(p != NULL, "VirtualAlloc(MEM_WRITE_WATCH): %lu", (unsigned long)GetLastError());
	return p;
}

static struct mi_watch *watch_of(struct mi_target *t, unsigned flags)
{
	struct mi_watch *w = NULL;
	struct mi_err e = { 0 };

	ck_assert_msg(!mi_watch_open(t, flags, &w, &e), "mi_watch_open: %s", e.msg);
	return w;
}

static const struct mi_watch_sample *sample(struct mi_watch *w)
{
	const struct mi_watch_sample *s = NULL;
	struct mi_err e = { 0 };

	ck_assert_msg(!mi_watch_sample(w, &s, &e), "mi_watch_sample: %s", e.msg);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 1; i < s->entry_count; i++)
		ck_assert_uint_lt(s->entries[i - 1].base, s->entries[i].base);
	return s;
}

static const struct mi_watch_entry *region_at(const struct mi_watch_sample *s, const void *base)
{
	for (size_t i = 0; i < s->entry_count; i++)
		if (s->entries[i].kind == MI_WATCH_REGION && s->entries[i].base == (uintptr_t)base)
			return &s->entries[i];
	return NULL;
}

/* v[0..n) must be the pages idx[0..count) of base. */
static void assert_pages(const char *what, const uint64_t *v, size_t n, const void *base,
                         const size_t *idx, size_t count)
{
	ck_assert_msg(n == count, "%s: %zu pages, want %zu", what, n, count);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(v[i] == (uintptr_t)base + idx[i] * P, "%s[%zu]: page %lld, want %zu",
		              what, i, (long long)((int64_t)(v[i] - (uintptr_t)base) / (int64_t)P),
		              idx[i]);
}

#define PAGES(...) (const size_t[]){ __VA_ARGS__ }, sizeof((const size_t[]){ __VA_ARGS__ }) / sizeof(size_t)
#define NONE       NULL, 0

static void assert_region(const struct mi_watch_sample *s, const void *base, size_t pages,
                          const size_t *written, size_t nw, const size_t *fresh, size_t nf)
{
	const struct mi_watch_entry *x = region_at(s, base);

	ck_assert_msg(x != NULL, "no watch entry at %p", base);
	ck_assert_uint_eq(x->size, pages * P);
	assert_pages("written", x->written, x->written_count, base, written, nw);
	assert_pages("new", x->fresh, x->fresh_count, base, fresh, nf);
}

/* What GetWriteWatch (no reset) reports for [base, +pages). */
static void assert_gww(char *base, size_t pages, const size_t *idx, size_t count)
{
	PVOID addrs[64];
	ULONG_PTR n = 64;
	DWORD gran;

	ck_assert_uint_eq(GetWriteWatch(0, base, pages * P, addrs, &n, &gran), 0);
	ck_assert_uint_eq(n, count);
	for (size_t i = 0; i < n; i++)
		ck_assert_ptr_eq(addrs[i], base + idx[i] * P);
}

static void expected_mode(const struct mi_watch_sample *s)
{
	ck_assert_uint_eq(s->watch_mode, memapi_root.watch_mode);
	if (fallback_run())
		ck_assert_uint_eq(s->watch_mode, MEMAPI_WATCH_FALLBACK);
}

/* ---- this process ---- */

START_TEST(test_mi_watch_sample__self_written_and_new)
{
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w;
	char *p = watched(16);

	p[2 * P] = 1;
	p[5 * P + 100] = 1;
	ck_assert(!mi_open_self(&t, &e));
	w = watch_of(t, 0);
	const struct mi_watch_sample *s = sample(w);

	expected_mode(s);
	assert_region(s, p, 16, PAGES(2, 5), PAGES(2, 5));
	p[9 * P] = 1;
	p[2 * P + 1] = 1;
	assert_region(sample(w), p, 16, PAGES(2, 5, 9), PAGES(9));
	/* Sampling reset nothing: the application still sees every page. */
	assert_gww(p, 16, PAGES(2, 5, 9));
	assert_region(sample(w), p, 16, PAGES(2, 5, 9), NONE);
	/* After the application's reset, only what it writes next. */
	ck_assert_uint_eq(ResetWriteWatch(p, 16 * P), 0);
	p[11 * P] = 1;
	assert_region(sample(w), p, 16, PAGES(11), PAGES(11));
	p[15 * P + P - 1] = 1;
	assert_region(sample(w), p, 16, PAGES(11, 15), PAGES(15));
	/* A region that goes away leaves the samples. */
	tl_release(p);
	ck_assert_ptr_null(region_at(sample(w), p));
	mi_watch_close(w);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_watch_sample__regions_come_and_go)
{
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w;
	char *a = watched(8), *plain = tl_commit_new(8 * P, PAGE_READWRITE), *b;
	const struct mi_watch_sample *s;

	a[0] = 1;
	plain[0] = 1;
	ck_assert(!mi_open_self(&t, &e));
	w = watch_of(t, 0);
	s = sample(w);
	assert_region(s, a, 8, PAGES(0), PAGES(0));
	ck_assert_ptr_null(region_at(s, plain));      /* not watched */
	for (size_t i = 0; i < s->entry_count; i++)
		ck_assert_int_eq(s->entries[i].kind, MI_WATCH_REGION);
	/* A region made between samples: all its written pages are new. */
	b = watched(4);
	b[3 * P] = 1;
	b[P] = 1;
	s = sample(w);
	assert_region(s, a, 8, PAGES(0), NONE);
	assert_region(s, b, 4, PAGES(1, 3), PAGES(1, 3));
	tl_release(a);
	tl_release(b);
	tl_release(plain);
	mi_watch_close(w);
	mi_close(t);
}
END_TEST

/* Pages on both sides of bitmap bytes, in a region of an odd size. */
START_TEST(test_mi_watch_sample__large_region_edges)
{
	static const size_t idx[] = { 0, 7, 8, 15, 16, 511, 512, 998, 999 };
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w;
	char *p = watched(1000);

	for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
		p[idx[i] * P] = 1;
	ck_assert(!mi_open_self(&t, &e));
	w = watch_of(t, 0);
	assert_region(sample(w), p, 1000, idx, 9, idx, 9);
	assert_gww(p, 1000, idx, 9);
	tl_release(p);
	mi_watch_close(w);
	mi_close(t);
}
END_TEST

/* Enough isolated pages for many PAGEMAP_SCAN calls: each is listed once. */
START_TEST(test_mi_watch_sample__many_ranges)
{
	enum { N = 3300 };      /* 1650 ranges: not a multiple of a vector */
	static size_t idx[N / 2];
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w;
	char *p = watched(N);

	for (size_t i = 0; i < N / 2; i++) {
		idx[i] = 2 * i + 1;
		p[idx[i] * P] = 1;
	}
	ck_assert(!mi_open_self(&t, &e));
	w = watch_of(t, 0);
	assert_region(sample(w), p, N, idx, N / 2, idx, N / 2);
	assert_region(sample(w), p, N, idx, N / 2, NONE);
	tl_release(p);
	mi_watch_close(w);
	mi_close(t);
}
END_TEST

/* ---- a forked child ---- */

struct kid {
	pid_t pid;
	int   to, from;         /* pipes: commands to it, answers from it */
};

static void put_all(int fd, const void *v, size_t n)
{
	ck_assert_int_eq(write(fd, v, n), (ssize_t)n);
}

static void get_all(int fd, void *v, size_t n)
{
	ck_assert_int_eq(read(fd, v, n), (ssize_t)n);
}

/* The child: a 32-page watch region with pages 1, 4, 30 written; on the
 * first command it writes page 7, on the second it reports GetWriteWatch. */
static void kid_main(int in, int out)
{
	char *p = VirtualAlloc(NULL, 32 * P, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
	                       PAGE_READWRITE);
	PVOID addrs[32];
	ULONG_PTR n = 32;
	DWORD gran;
	uint64_t v[33];
	char c;

	if (!p)
		_exit(1);
	p[P] = p[4 * P] = p[30 * P] = 1;
	v[0] = (uintptr_t)p;
	if (write(out, v, 8) != 8 || read(in, &c, 1) != 1)
		_exit(1);
	p[7 * P] = 1;
	if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
		_exit(1);
	if (GetWriteWatch(0, p, 32 * P, addrs, &n, &gran))
		n = 0;
	v[0] = n;
	for (ULONG_PTR i = 0; i < n; i++)
		v[i + 1] = (uintptr_t)addrs[i];
	if (write(out, v, (n + 1) * 8) != (ssize_t)((n + 1) * 8) || read(in, &c, 1) < 0)
		_exit(1);
	_exit(0);
}

static char *kid_start(struct kid *k)
{
	int to[2], from[2];
	uint64_t base;

	ck_assert(!pipe(to) && !pipe(from));
	k->pid = fork();
	ck_assert_int_ge(k->pid, 0);
	if (!k->pid) {
		close(to[1]);
		close(from[0]);
		kid_main(to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	k->to = to[1];
	k->from = from[0];
	get_all(k->from, &base, 8);
	return (char *)(uintptr_t)base;
}

static void kid_reap(struct kid *k)
{
	int st;

	close(k->to);
	close(k->from);
	ck_assert_int_eq(waitpid(k->pid, &st, 0), k->pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(test_mi_watch_sample__forked_child)
{
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w;
	const struct mi_watch_sample *s;
	struct kid k;
	char *p = kid_start(&k), c = 'x';
	uint64_t v[33];

	ck_assert_msg(!mi_open_pid(k.pid, &t, &e), "mi_open_pid: %s", e.msg);
	w = watch_of(t, 0);
	s = sample(w);
	ck_assert(s->watch_mode == MEMAPI_WATCH_KERNEL || s->watch_mode == MEMAPI_WATCH_FALLBACK);
	if (fallback_run())
		ck_assert_uint_eq(s->watch_mode, MEMAPI_WATCH_FALLBACK);
	assert_region(s, p, 32, PAGES(1, 4, 30), PAGES(1, 4, 30));
	put_all(k.to, &c, 1);
	get_all(k.from, &c, 1);
	assert_region(sample(w), p, 32, PAGES(1, 4, 7, 30), PAGES(7));
	assert_region(sample(w), p, 32, PAGES(1, 4, 7, 30), NONE);
	/* The child's own GetWriteWatch after all that: nothing was reset. */
	put_all(k.to, &c, 1);
	get_all(k.from, v, 8);
	ck_assert_uint_eq(v[0], 4);
	get_all(k.from, v + 1, 4 * 8);
	assert_pages("child's GetWriteWatch", v + 1, 4, p, PAGES(1, 4, 7, 30));
	kid_reap(&k);
	ck_assert_int_eq(mi_watch_sample(w, &s, &e), ESRCH);
	ck_assert_str_eq(e.msg, "the process has exited");
	mi_watch_close(w);
	mi_close(t);
}
END_TEST

/* ---- hashed memory ---- */

/* Is page a among the hashed entries' written (or new) pages? */
static bool hashed_has(const struct mi_watch_sample *s, const void *a, bool fresh)
{
	for (size_t i = 0; i < s->entry_count; i++) {
		const struct mi_watch_entry *x = &s->entries[i];
		const uint64_t *v = fresh ? x->fresh : x->written;
		size_t n = fresh ? x->fresh_count : x->written_count;

		if (x->kind != MI_WATCH_HASHED)
			continue;
		for (size_t k = 0; k < n; k++)
			if (v[k] == (uintptr_t)a)
				return true;
	}
	return false;
}

static bool hashed_covers(const struct mi_watch_sample *s, const void *a)
{
	for (size_t i = 0; i < s->entry_count; i++)
		if (s->entries[i].kind == MI_WATCH_HASHED && s->entries[i].base <= (uintptr_t)a &&
		    (uintptr_t)a - s->entries[i].base < s->entries[i].size)
			return true;
	return false;
}

/* without_scan: as on a kernel without PAGEMAP_SCAN (pagemap entries). */
static void hashed_changes(bool without_scan)
{
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w;
	const struct mi_watch_sample *s;
	char *m = mmap(NULL, 8 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m, 0x5a, 8 * P);
	ck_assert(!mi_open_self(&t, &e));
	w = watch_of(t, MI_WATCH_UNWATCHED);
	if (without_scan) {
		ck_assert(!open_pagemap(w, &e));
		w->no_scan = true;
	}
	s = sample(w);                  /* the baseline: nothing changed yet */
	for (int i = 0; i < 8; i++) {
		ck_assert(hashed_covers(s, m + i * P));
		ck_assert(!hashed_has(s, m + i * P, false));
	}
	m[3 * P + 17] = 1;
	s = sample(w);
	ck_assert(hashed_has(s, m + 3 * P, true));
	ck_assert(hashed_has(s, m + 3 * P, false));
	ck_assert(!hashed_has(s, m + 2 * P, false) && !hashed_has(s, m + 4 * P, false));
	s = sample(w);                  /* unchanged since: written, not new */
	ck_assert(!hashed_has(s, m + 3 * P, true));
	ck_assert(hashed_has(s, m + 3 * P, false));
	/* A page dropped to zeros changed too, though no longer populated. */
	ck_assert(!madvise(m + 5 * P, P, MADV_DONTNEED));
	s = sample(w);
	ck_assert(hashed_has(s, m + 5 * P, true));
	/* Writing the same bytes again is no change. */
	m[6 * P] = 0x5a;
	ck_assert(!hashed_has(sample(w), m + 6 * P, true));
	mi_watch_close(w);
	mi_close(t);
	munmap(m, 8 * P);
}

START_TEST(test_mi_watch_sample__hashed_changes)
{
	hashed_changes(false);
}
END_TEST

/* Not under ASan: its shadow is terabytes of mappings, whose pagemap
 * entries take minutes to read (the LIMITS of memtool-watch(1)). */
#ifndef __SANITIZE_ADDRESS__
START_TEST(test_mi_watch_sample__hashed_changes_without_pagemap_scan)
{
	hashed_changes(true);
}
END_TEST
#endif

/* Watch regions on the kernel path cannot be read without the ioctl; the
 * fallback's bitmaps can. */
START_TEST(test_mi_watch_sample__regions_without_pagemap_scan)
{
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w;
	const struct mi_watch_sample *s;
	char *p = watched(4);

	p[P] = 1;
	ck_assert(!mi_open_self(&t, &e));
	w = watch_of(t, 0);
	ck_assert(!open_pagemap(w, &e));
	w->no_scan = true;
	if (memapi_root.watch_mode == MEMAPI_WATCH_KERNEL) {
		ck_assert_int_eq(mi_watch_sample(w, &s, &e), ENOTSUP);
		ck_assert_str_eq(e.msg, "this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7 or later "
		                 "is needed to read userfaultfd write tracking)");
	} else {
		assert_region(sample(w), p, 4, PAGES(1), PAGES(1));
	}
	tl_release(p);
	mi_watch_close(w);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_watch_sample__hashed_first_sighting_and_watch_excluded)
{
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w;
	const struct mi_watch_sample *s;
	char *p = watched(4), *m;

	ck_assert(!mi_open_self(&t, &e));
	w = watch_of(t, MI_WATCH_UNWATCHED);
	sample(w);
	/* Mapped after the last sample: its first sample is its baseline. */
	m = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	m[P] = 1;
	p[2 * P] = 1;
	s = sample(w);
	ck_assert(hashed_covers(s, m + P));
	ck_assert(!hashed_has(s, m + P, true));
	for (int i = 0; i < 4; i++)
		ck_assert(!hashed_covers(s, p + i * P));  /* watched: not hashed */
	assert_region(s, p, 4, PAGES(2), PAGES(2));
	m[P] = 2;
	s = sample(w);
	ck_assert(hashed_has(s, m + P, true));
	munmap(m, 4 * P);
	s = sample(w);                  /* unmapped: gone, no change reported */
	ck_assert(!hashed_covers(s, m + P) && !hashed_has(s, m + P, false));
	tl_release(p);
	mi_watch_close(w);
	mi_close(t);
}
END_TEST

/* ---- other targets ---- */

static pid_t spawn_sleep(void)
{
	int fd[2];
	pid_t pid;
	char c;

	/* The pipe closes on exec: end of file says the exec happened. */
	ck_assert(!pipe2(fd, O_CLOEXEC));
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		execl("/bin/sleep", "sleep", "100", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	ck_assert_int_eq(read(fd[0], &c, 1), 0);
	close(fd[0]);
	return pid;
}

START_TEST(test_mi_watch_sample__no_libmemapi_then_zombie)
{
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w, *wu;
	const struct mi_watch_sample *s;
	pid_t pid = spawn_sleep();

	ck_assert_msg(!mi_open_pid(pid, &t, &e), "mi_open_pid: %s", e.msg);
	w = watch_of(t, 0);
	s = sample(w);
	ck_assert_uint_eq(s->watch_mode, 0);
	ck_assert_uint_eq(s->entry_count, 0);
	wu = watch_of(t, MI_WATCH_UNWATCHED);
	s = sample(wu);
	ck_assert_uint_eq(s->watch_mode, 0);
	ck_assert_uint_gt(s->entry_count, 0);
	for (size_t i = 0; i < s->entry_count; i++)
		ck_assert_int_eq(s->entries[i].kind, MI_WATCH_HASHED);
	/* Killed but not reaped: a zombie, whose /proc entry is still there. */
	ck_assert(!kill(pid, SIGKILL));
	for (int i = 0; i < 2000 && mi_watch_sample(w, &s, &e) != ESRCH; i++)
		usleep(1000);
	ck_assert_int_eq(mi_watch_sample(w, &s, &e), ESRCH);
	ck_assert_int_eq(mi_watch_sample(wu, &s, &e), ESRCH);
	ck_assert_str_eq(e.msg, "the process has exited");
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_int_eq(mi_watch_sample(w, &s, &e), ESRCH);
	mi_watch_close(w);
	mi_watch_close(wu);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_watch_open__core_refused)
{
	char dir[] = "/tmp/check_watch_core.XXXXXX", cmd[512], core[300];
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_watch *w = (struct mi_watch *)&e;
	pid_t pid = spawn_sleep();
	int rc;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof cmd, "gcore -o %s/core %d >/dev/null 2>&1", dir, (int)pid);
	rc = system(cmd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_msg(rc == 0, "gcore failed: %d", rc);
	snprintf(core, sizeof core, "%s/core.%d", dir, (int)pid);
	ck_assert_msg(!mi_open_core(core, &t, &e), "mi_open_core: %s", e.msg);
	ck_assert_int_eq(mi_watch_open(t, 0, &w, &e), EINVAL);
	ck_assert_ptr_null(w);
	ck_assert_str_eq(e.msg, "write tracking needs a live process");
	mi_close(t);
	unlink(core);
	rmdir(dir);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create(fallback_run() ? "inspect watch (fallback path)"
	                                       : "inspect watch (default path)");
	TCase *tc = tcase_create("watch regions");

	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_mi_watch_sample__self_written_and_new);
	tcase_add_test(tc, test_mi_watch_sample__regions_come_and_go);
	tcase_add_test(tc, test_mi_watch_sample__large_region_edges);
	tcase_add_test(tc, test_mi_watch_sample__many_ranges);
	tcase_add_test(tc, test_mi_watch_sample__forked_child);
	suite_add_tcase(s, tc);

	tc = tcase_create("hashed");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_mi_watch_sample__hashed_changes);
	tcase_add_test(tc, test_mi_watch_sample__hashed_first_sighting_and_watch_excluded);
	tcase_add_test(tc, test_mi_watch_sample__regions_without_pagemap_scan);
#ifndef __SANITIZE_ADDRESS__
	tcase_add_test(tc, test_mi_watch_sample__hashed_changes_without_pagemap_scan);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("targets");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_set_timeout(tc, 60);      /* gcore */
	tcase_add_test(tc, test_mi_watch_sample__no_libmemapi_then_zombie);
	tcase_add_test(tc, test_mi_watch_open__core_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	int rc = tl_run(make_suite());

	(void)argc;
	if (fallback_run())
		return tl_rerun_status(rc);
	return tl_rerun(argv, "MEMAPI_WRITE_WATCH", "fallback", rc);
}
