/* libmeminspect's DEP/NX report (inspect/dep.c): the test binary itself
 * (clean: no W+X, its own PT_GNU_STACK), a W+X mapping made here and seen
 * to come and go, a W+X page inside a larger mapping, child processes with
 * READ_IMPLIES_EXEC, with an executable stack and with a W+X mapping, the
 * kernel's NX against the CPU's, and a target that died. */
#include "testlib.h"
#include "inspect.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#define P 4096ul

static struct mi_dep_report *report_of(struct mi_target *t)
{
	struct mi_dep_report *r = NULL;
	struct mi_err e = { 0 };

	ck_assert_msg(!mi_dep_report(t, &r, &e), "mi_dep_report: %s", e.msg);
	ck_assert_ptr_nonnull(r);
	return r;
}

static struct mi_dep_report *self_report(struct mi_target **t)
{
	struct mi_err e = { 0 };

	ck_assert_msg(!mi_open_self(t, &e), "mi_open_self: %s", e.msg);
	return report_of(*t);
}

static const struct mi_dep_map *wx_at(const struct mi_dep_report *r, uint64_t base)
{
	for (size_t i = 0; i < r->wx_count; i++)
		if (r->wx[i].base == base)
			return &r->wx[i];
	return NULL;
}

/* The violation of check whose subject starts with prefix, or NULL. */
static const struct mi_dep_violation *violation_of(const struct mi_dep_report *r, uint32_t check,
                                                   const char *prefix)
{
	for (size_t i = 0; i < r->violation_count; i++)
		if (r->violations[i].check == check &&
		    !strncmp(r->violations[i].subject, prefix, strlen(prefix)))
			return &r->violations[i];
	return NULL;
}

static bool covers(const struct mi_dep_map *m, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= m[i].base && addr < m[i].base + m[i].size)
			return true;
	return false;
}

START_TEST(test_dep__self_is_clean)
{
	struct mi_target *t;
	struct mi_dep_report *r = self_report(&t);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int exes = 0;

	ck_assert_int_gt(n, 0);
	exe[n] = 0;
	ck_assert(r->personality_known);
	ck_assert_uint_eq(r->personality, (unsigned long)personality(0xffffffff));
	ck_assert(r->dep_enabled);
	/* Valgrind runs the program from its own writable+executable code
	 * cache: there the process is not clean, and memtool says so. */
	if (!tl_valgrind()) {
		ck_assert_uint_eq(r->wx_count, 0);
		ck_assert_uint_eq(r->exec_stack_count, 0);
		ck_assert_uint_eq(r->violation_count, 0);
		ck_assert_uint_eq(r->failed, 0);
	}
	ck_assert_uint_gt(r->object_count, 1);          /* the binary and libc at least */
	for (size_t i = 0; i < r->object_count; i++) {
		const struct mi_dep_object *o = &r->objects[i];

		if (!o->is_exe)
			continue;
		exes++;
		ck_assert_str_eq(o->path, exe);
		ck_assert(o->known && o->has_gnu_stack && !o->exec_stack);
	}
	ck_assert_int_eq(exes, 1);
	mi_dep_free(r);
	mi_close(t);
}
END_TEST

START_TEST(test_dep__wx_mapping_reported_then_gone)
{
	struct mi_target *t;
	struct mi_dep_report *r;
	const struct mi_dep_map *m;
	char subject[64];
	void *p = mmap(NULL, 2 * P, PROT_READ | PROT_WRITE | PROT_EXEC,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	r = self_report(&t);
	ck_assert_ptr_nonnull(m = wx_at(r, (uintptr_t)p));
	ck_assert_uint_eq(m->size, 2 * P);
	ck_assert_uint_eq(m->protect, PAGE_EXECUTE_READWRITE);
	ck_assert_str_eq(m->path, "");
	snprintf(subject, sizeof subject, "0x%lx-0x%lx anonymous", (unsigned long)(uintptr_t)p,
	         (unsigned long)(uintptr_t)p + 2 * P);
	ck_assert_ptr_nonnull(violation_of(r, MI_DEP_CHECK_WX, subject));
	ck_assert(r->failed & MI_DEP_CHECK_WX);
	ck_assert(r->dep_enabled);                      /* W+X is not DEP off */
	mi_dep_free(r);

	ck_assert_int_eq(munmap(p, 2 * P), 0);
	r = report_of(t);                               /* the same target, read afresh */
	ck_assert_ptr_null(wx_at(r, (uintptr_t)p));
	ck_assert(tl_valgrind() || !(r->failed & MI_DEP_CHECK_WX));   /* see self_is_clean */
	mi_dep_free(r);
	mi_close(t);
}
END_TEST

START_TEST(test_dep__wx_page_inside_a_mapping)
{
	struct mi_target *t;
	struct mi_dep_report *r;
	const struct mi_dep_map *m;
	char *p = mmap(NULL, 3 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(mprotect(p + P, P, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	r = self_report(&t);
	ck_assert_ptr_null(wx_at(r, (uintptr_t)p));
	ck_assert_ptr_nonnull(m = wx_at(r, (uintptr_t)(p + P)));
	ck_assert_uint_eq(m->size, P);
	ck_assert(!covers(r->wx, r->wx_count, (uintptr_t)(p + 2 * P)));
	mi_dep_free(r);
	/* Executable but not writable is no violation. */
	ck_assert_int_eq(mprotect(p + P, P, PROT_READ | PROT_EXEC), 0);
	r = report_of(t);
	ck_assert(!covers(r->wx, r->wx_count, (uintptr_t)(p + P)));
	ck_assert(tl_valgrind() || r->failed == 0);                   /* see self_is_clean */
	mi_dep_free(r);
	mi_close(t);
	munmap(p, 3 * P);
}
END_TEST

/* ---- child processes ---- */

struct kid {
	pid_t    pid;
	int      release;           /* closing it ends the child */
	uint64_t addr;              /* what the child reported    */
};

enum kid_kind { KID_READ_IMPLIES_EXEC, KID_EXEC_STACK };

/* The child's part: set itself up, report an address, wait for release. */
static void kid_main(enum kid_kind kind, int up, int down)
{
	uint64_t addr = 0;
	char c;

	if (kind == KID_READ_IMPLIES_EXEC) {
		void *p;

		if (personality(READ_IMPLIES_EXEC) == -1)
			_exit(10);
		/* A fresh PROT_READ mapping: the flag makes it executable too. */
		p = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(11);
		addr = (uintptr_t)p;
	} else {
		/* The pages around this frame: where the thread's stack pointer is
		 * while it blocks in read below. */
		uintptr_t fp = (uintptr_t)__builtin_frame_address(0) & ~(P - 1);

		if (mprotect((void *)(fp - 4 * P), 5 * P, PROT_READ | PROT_WRITE | PROT_EXEC))
			_exit(12);
		addr = fp;
	}
	if (write(up, &addr, sizeof addr) != sizeof addr)
		_exit(13);
	while (read(down, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

static void kid_start(struct kid *k, enum kid_kind kind)
{
	int up[2], down[2];

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	k->pid = fork();
	ck_assert_int_ge(k->pid, 0);
	if (!k->pid) {
		close(up[0]);
		close(down[1]);
		kid_main(kind, up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &k->addr, sizeof k->addr), (int)sizeof k->addr);
	close(up[0]);
	k->release = down[1];
}

static void kid_stop(struct kid *k)
{
	int status;

	close(k->release);
	ck_assert_int_eq(waitpid(k->pid, &status, 0), k->pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static struct mi_target *open_pid(pid_t pid)
{
	struct mi_target *t;
	struct mi_err e = { 0 };

	ck_assert_msg(!mi_open_pid(pid, &t, &e), "mi_open_pid: %s", e.msg);
	return t;
}

START_TEST(test_dep__read_implies_exec_turns_dep_off)
{
	struct kid k;
	struct mi_target *t;
	struct mi_dep_report *r;

	kid_start(&k, KID_READ_IMPLIES_EXEC);
	t = open_pid(k.pid);
	r = report_of(t);
	ck_assert(r->personality_known);
	ck_assert(r->personality & MI_READ_IMPLIES_EXEC);
	ck_assert(!r->dep_enabled);
	ck_assert(r->failed & MI_DEP_CHECK_DEP);
	ck_assert_uint_gt(r->violation_count, 0);
	ck_assert_uint_eq(r->violations[0].check, MI_DEP_CHECK_DEP);   /* process-wide first */
	ck_assert_str_eq(r->violations[0].subject, "personality 0x400000");
	/* The kernel made the PROT_READ|PROT_WRITE page executable. */
	ck_assert_ptr_nonnull(wx_at(r, k.addr));
	mi_dep_free(r);
	mi_close(t);
	kid_stop(&k);
}
END_TEST

START_TEST(test_dep__executable_stack_mapping)
{
	struct kid k;
	struct mi_target *t;
	struct mi_dep_report *r;

	/* Under valgrind the guest's stack is not the mapping the kernel
	 * knows, and making it executable fails. */
	if (tl_valgrind())
		return;
	kid_start(&k, KID_EXEC_STACK);
	t = open_pid(k.pid);
	r = report_of(t);
	ck_assert_msg(covers(r->exec_stacks, r->exec_stack_count, k.addr - P),
	              "%zu executable stacks, none at 0x%llx", r->exec_stack_count,
	              (unsigned long long)k.addr);
	ck_assert(r->failed & MI_DEP_CHECK_EXEC_STACK);
	ck_assert(r->failed & MI_DEP_CHECK_WX);        /* rwx: both */
	ck_assert(r->dep_enabled);
	mi_dep_free(r);
	mi_close(t);
	kid_stop(&k);
}
END_TEST

START_TEST(test_dep__other_process_wx_and_then_dead)
{
	static struct mi_dep_report stale;
	struct tl_child c;
	struct mi_target *t;
	struct mi_dep_report *r;
	struct mi_err e = { 0 };
	const struct mi_dep_map *m;

	tl_child_start(&c, 4 * P, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS);
	t = open_pid(c.pid);
	r = report_of(t);
	ck_assert_ptr_nonnull(m = wx_at(r, (uintptr_t)c.addr));
	ck_assert_uint_eq(m->size, 4 * P);
	ck_assert(r->personality_known && !(r->personality & MI_READ_IMPLIES_EXEC));
	mi_dep_free(r);
	tl_child_stop(&c);
	r = &stale;                                     /* must be reset to NULL */
	ck_assert_int_eq(mi_dep_report(t, &r, &e), ESRCH);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(e.code, ESRCH);
	ck_assert_str_ne(e.msg, "");
	mi_close(t);
}
END_TEST

START_TEST(test_dep__kernel_nx_against_cpu)
{
	struct mi_err e = { 0 };
	bool nx = false;

#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;

	ck_assert_msg(!mi_kernel_nx(&nx, &e), "mi_kernel_nx: %s", e.msg);
	/* The kernel cannot enforce what the CPU lacks (CPUID 0x80000001 EDX
	 * bit 20); with it, only noexec=off turns NX off. */
	ck_assert(__get_cpuid(0x80000001, &a, &b, &c, &d));
	if (!(d & (1u << 20)))
		ck_assert(!nx);
	else if (!system("grep -qw noexec=off /proc/cmdline"))
		ck_assert(!nx);
	else
		ck_assert(nx);
#else
	int rc = mi_kernel_nx(&nx, &e);

	ck_assert(rc == 0 || rc == ENOENT);
#endif
}
END_TEST

START_TEST(test_dep__free_null)
{
	mi_dep_free(NULL);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("inspect_dep");
	TCase *tc = tcase_create("self");

	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_dep__self_is_clean);
	tcase_add_test(tc, test_dep__wx_mapping_reported_then_gone);
	tcase_add_test(tc, test_dep__wx_page_inside_a_mapping);
	tcase_add_test(tc, test_dep__kernel_nx_against_cpu);
	tcase_add_test(tc, test_dep__free_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("children");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_dep__read_implies_exec_turns_dep_off);
	tcase_add_test(tc, test_dep__executable_stack_mapping);
	tcase_add_test(tc, test_dep__other_process_wx_and_then_dead);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_suite)
