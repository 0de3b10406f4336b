/* GetSystemDEPPolicy, GetProcessDEPPolicy and SetProcessDEPPolicy: the
 * system policy against the machine's NX support, the calling process and
 * child processes with and without READ_IMPLIES_EXEC or an executable
 * stack, and the errors of the handle and pointer checks. */
#include "testlib.h"
#include "internal.h"

#include <cpuid.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#define SPACE  " \t\n"

/* ---- the machine's NX state, worked out here independently ---- */

static bool file_has_word(const char *path, const char *prefix, const char *word)
{
	FILE *f = fopen(path, "re");
	char line[8192], *tok, *save;
	bool found = false, seen = false;

	if (!f)
		return false;
	while (!seen && fgets(line, sizeof line, f)) {
		if (prefix && strncmp(line, prefix, strlen(prefix)))
			continue;
		seen = true;
		for (tok = strtok_r(line, SPACE, &save); tok; tok = strtok_r(NULL, SPACE, &save))
			found |= !strcmp(tok, word);
	}
	fclose(f);
	return found;
}

static bool machine_has_nx(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000001, &a, &b, &c, &d) || !(d & (1u << 20)))
		return false;
	if (file_has_word("/proc/cmdline", NULL, "noexec=off"))
		return false;
	return file_has_word("/proc/cpuinfo", "flags", "nx");
}

static DWORD expected_enabled(void)
{
	return machine_has_nx() ? PROCESS_DEP_ENABLE : 0;
}

/* ---- child processes: a fresh image of this test in a helper mode ---- */

enum child_mode { CHILD_PLAIN, CHILD_READ_IMPLIES_EXEC, CHILD_EXEC_STACK };

struct dep_child {
	pid_t pid;
	int   release_fd;     /* closing it lets the child exit */
	DWORD self_flags;     /* what the child's own GetProcessDEPPolicy said */
};

/* Resolved before fork: under valgrind only readlink of /proc/self/exe
 * names the client program (exec of the link would run valgrind). */
static void self_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	ck_assert_int_gt(n, 0);
	buf[n] = 0;
}

static void child_start(struct dep_child *c, enum child_mode mode)
{
	char exe[PATH_MAX], arg[3][16];
	int up[2], down[2];

	self_exe(exe, sizeof exe);
	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	snprintf(arg[0], sizeof arg[0], "%d", (int)mode);
	snprintf(arg[1], sizeof arg[1], "%d", up[1]);
	snprintf(arg[2], sizeof arg[2], "%d", down[0]);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		close(up[0]);
		close(down[1]);
		/* Set before exec as well: an x86-64 execve clears it again,
		 * which the child's own check below shows. */
		if (mode == CHILD_READ_IMPLIES_EXEC)
			personality(READ_IMPLIES_EXEC);
		execl(exe, "check_dep", "--dep-child", arg[0], arg[1], arg[2], (char *)NULL);
		_exit(99);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &c->self_flags, sizeof c->self_flags),
	                 (int)sizeof c->self_flags);
	close(up[0]);
	c->release_fd = down[1];
}

static void child_stop(struct dep_child *c)
{
	int st;

	close(c->release_fd);
	ck_assert_int_eq(waitpid(c->pid, &st, 0), c->pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

/* Makes the [stack] VMA executable, as a program linked with
 * -z execstack has it. */
static int make_stack_executable(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	unsigned long s, e;
	int rc = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", &s, &e) == 2) {
			rc = mprotect((void *)s, e - s, PROT_READ | PROT_WRITE | PROT_EXEC);
			break;
		}
	fclose(f);
	return rc;
}

/* The child side (main() runs it): after exec, READ_IMPLIES_EXEC is set
 * again here, then the child reports its own view and waits. */
static int child_main(int mode, int up, int down)
{
	DWORD flags = 0xffffffff;
	BOOL permanent = FALSE;
	char c;

	if (mode == CHILD_READ_IMPLIES_EXEC) {
		if (personality(0xffffffff) & READ_IMPLIES_EXEC)
			return 3;       /* execve kept it: the test's assumption is wrong */
		personality(READ_IMPLIES_EXEC);
	}
	if (mode == CHILD_EXEC_STACK && make_stack_executable())
		return 4;
	if (!GetProcessDEPPolicy(GetCurrentProcess(), &flags, &permanent) || !permanent)
		flags = 0xffffffff;
	if (write(up, &flags, sizeof flags) != (ssize_t)sizeof flags)
		return 5;
	while (read(down, &c, 1) > 0)
		;
	return 0;
}

static void assert_policy(HANDLE h, DWORD want)
{
	DWORD flags = 0xdead;
	BOOL permanent = FALSE;

	SetLastError(0);
	ck_assert_msg(GetProcessDEPPolicy(h, &flags, &permanent), "GetProcessDEPPolicy failed: %lu",
	              (unsigned long)GetLastError());
	ck_assert_uint_eq(flags, want);
	ck_assert_int_eq(permanent, TRUE);
}

static HANDLE open_query(pid_t pid)
{
	HANDLE h = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, (DWORD)pid);

	ck_assert_msg(h != NULL, "OpenProcess(%d) failed: %lu", (int)pid,
	              (unsigned long)GetLastError());
	return h;
}

/* ---- GetSystemDEPPolicy ---- */

START_TEST(test_GetSystemDEPPolicy__optout_with_nx)
{
	DEP_SYSTEM_POLICY_TYPE p = GetSystemDEPPolicy();

	ck_assert_int_eq(p, machine_has_nx() ? DEPPolicyOptOut : DEPPolicyAlwaysOff);
	ck_assert_int_eq(GetSystemDEPPolicy(), p);      /* fixed at boot */
}
END_TEST

START_TEST(test_GetSystemDEPPolicy__sets_no_last_error)
{
	SetLastError(1234);
	GetSystemDEPPolicy();
	ck_assert_last_error(1234);
}
END_TEST

/* ---- GetProcessDEPPolicy of the calling process ---- */

START_TEST(test_GetProcessDEPPolicy__current_process_enabled_permanent)
{
	assert_policy(GetCurrentProcess(), expected_enabled());
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__own_handle_same_answer)
{
	HANDLE h = open_query(getpid());

	assert_policy(h, expected_enabled());
	CloseHandle(h);
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__read_implies_exec_turns_it_off)
{
	int old = personality(0xffffffff);

	ck_assert_int_ne(personality(old | READ_IMPLIES_EXEC), -1);
	assert_policy(GetCurrentProcess(), 0);
	personality(old);
	assert_policy(GetCurrentProcess(), expected_enabled());
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__outputs_untouched_on_failure)
{
	DWORD flags = 77;
	BOOL permanent = 88;

	ck_assert_false_error(GetProcessDEPPolicy(NULL, &flags, &permanent), ERROR_INVALID_HANDLE);
	ck_assert_uint_eq(flags, 77);
	ck_assert_int_eq(permanent, 88);
}
END_TEST

/* ---- other processes ---- */

START_TEST(test_GetProcessDEPPolicy__plain_child_enabled)
{
	struct dep_child c;
	HANDLE h;

	child_start(&c, CHILD_PLAIN);
	ck_assert_uint_eq(c.self_flags, expected_enabled());
	h = open_query(c.pid);
	assert_policy(h, expected_enabled());
	CloseHandle(h);
	child_stop(&c);
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__read_implies_exec_child_off)
{
	struct dep_child c;
	HANDLE h;

	child_start(&c, CHILD_READ_IMPLIES_EXEC);
	ck_assert_uint_eq(c.self_flags, 0);
	h = open_query(c.pid);
	assert_policy(h, 0);
	CloseHandle(h);
	child_stop(&c);
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__exec_stack_child_off)
{
	struct dep_child c;
	HANDLE h;

	child_start(&c, CHILD_EXEC_STACK);
	ck_assert_uint_eq(c.self_flags, 0);
	h = open_query(c.pid);
	assert_policy(h, 0);
	CloseHandle(h);
	child_stop(&c);
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__handle_all_access_works)
{
	struct dep_child c;
	HANDLE h;

	child_start(&c, CHILD_PLAIN);
	h = OpenProcess(PROCESS_ALL_ACCESS, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	assert_policy(h, expected_enabled());
	CloseHandle(h);
	child_stop(&c);
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__needs_query_information)
{
	struct dep_child c;
	DWORD flags;
	BOOL permanent;
	HANDLE h;

	child_start(&c, CHILD_PLAIN);
	h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	ck_assert_false_error(GetProcessDEPPolicy(h, &flags, &permanent), ERROR_ACCESS_DENIED);
	CloseHandle(h);
	child_stop(&c);
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__exited_process_access_denied)
{
	struct dep_child c;
	DWORD flags;
	BOOL permanent;
	HANDLE h;

	child_start(&c, CHILD_PLAIN);
	h = open_query(c.pid);
	child_stop(&c);
	ck_assert_false_error(GetProcessDEPPolicy(h, &flags, &permanent), ERROR_ACCESS_DENIED);
	CloseHandle(h);
}
END_TEST

/* The tester, as an unprivileged user, opens a sibling it may read the
 * map of, which then turns non-dumpable: its personality needs ptrace
 * attach rights from then on. Exit status 0 when the answer is right. */
static int unreadable_personality(void)
{
	int go[2], ack[2], release[2];
	DWORD flags, err;
	BOOL permanent, ok;
	pid_t target;
	HANDLE h;
	char c = 0;

	if (geteuid() == 0 && (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	                       setresuid(NOBODY, NOBODY, NOBODY)))
		return 2;
	/* A change of credentials made this process (and its children)
	 * non-dumpable: the sibling must start readable. */
	if (prctl(PR_SET_DUMPABLE, 1))
		return 2;
	if (pipe(go) || pipe(ack) || pipe(release))
		return 3;
	if ((target = fork()) == 0) {
		if (read(go[0], &c, 1) != 1 || prctl(PR_SET_DUMPABLE, 0) ||
		    write(ack[1], &c, 1) != 1)
			_exit(1);
		close(release[1]);
		while (read(release[0], &c, 1) > 0)
			;
		_exit(0);
	}
	if (!(h = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, (DWORD)target)))
		return 4;
	if (write(go[1], &c, 1) != 1 || read(ack[0], &c, 1) != 1)
		return 5;
	SetLastError(0);
	ok = GetProcessDEPPolicy(h, &flags, &permanent);
	err = GetLastError();
	close(release[1]);
	waitpid(target, NULL, 0);
	CloseHandle(h);
	if (ok || err != ERROR_ACCESS_DENIED) {
		fprintf(stderr, "unreadable_personality: %d, error %lu\n", ok, (unsigned long)err);
		return 6;
	}
	return 0;
}

START_TEST(test_GetProcessDEPPolicy__unreadable_personality_access_denied)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(unreadable_personality());
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tester status %#x", st);
}
END_TEST

/* ---- argument errors ---- */

START_TEST(test_GetProcessDEPPolicy__null_outputs_noaccess)
{
	DWORD flags = 5;
	BOOL permanent = 6;

	ck_assert_false_error(GetProcessDEPPolicy(GetCurrentProcess(), NULL, &permanent),
	                      ERROR_NOACCESS);
	ck_assert_false_error(GetProcessDEPPolicy(GetCurrentProcess(), &flags, NULL),
	                      ERROR_NOACCESS);
	ck_assert_false_error(GetProcessDEPPolicy(GetCurrentProcess(), NULL, NULL), ERROR_NOACCESS);
	ck_assert_uint_eq(flags, 5);
	ck_assert_int_eq(permanent, 6);
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__handle_checked_before_outputs)
{
	ck_assert_false_error(GetProcessDEPPolicy(NULL, NULL, NULL), ERROR_INVALID_HANDLE);
}
END_TEST

START_TEST(test_GetProcessDEPPolicy__bad_handles)
{
	HANDLE proc = open_query(getpid());
	HANDLE section = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096,
	                                    NULL);
	HANDLE bogus = (HANDLE)(uintptr_t)0x12345678;
	DWORD flags;
	BOOL permanent;

	ck_assert_ptr_nonnull(section);
	ck_assert_false_error(GetProcessDEPPolicy(section, &flags, &permanent),
	                      ERROR_INVALID_HANDLE);
	ck_assert_false_error(GetProcessDEPPolicy(bogus, &flags, &permanent), ERROR_INVALID_HANDLE);
	ck_assert(CloseHandle(proc));
	ck_assert_false_error(GetProcessDEPPolicy(proc, &flags, &permanent), ERROR_INVALID_HANDLE);
	CloseHandle(section);
}
END_TEST

/* ---- SetProcessDEPPolicy ---- */

START_TEST(test_SetProcessDEPPolicy__not_supported_for_64bit)
{
	static const DWORD flags[] = {
		0, PROCESS_DEP_ENABLE, PROCESS_DEP_ENABLE | PROCESS_DEP_DISABLE_ATL_THUNK_EMULATION,
		PROCESS_DEP_DISABLE_ATL_THUNK_EMULATION, 0xffffffff,
	};

	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		ck_assert_false_error(SetProcessDEPPolicy(flags[i]), ERROR_NOT_SUPPORTED);
	assert_policy(GetCurrentProcess(), expected_enabled());   /* nothing changed */
}
END_TEST

static Suite *make_dep_suite(void)
{
	Suite *s = suite_create("dep");
	TCase *tc;

	tc = tcase_create("system");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_GetSystemDEPPolicy__optout_with_nx);
	tcase_add_test(tc, test_GetSystemDEPPolicy__sets_no_last_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("self");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_GetProcessDEPPolicy__current_process_enabled_permanent);
	tcase_add_test(tc, test_GetProcessDEPPolicy__own_handle_same_answer);
	tcase_add_test(tc, test_GetProcessDEPPolicy__read_implies_exec_turns_it_off);
	tcase_add_test(tc, test_GetProcessDEPPolicy__outputs_untouched_on_failure);
	suite_add_tcase(s, tc);

	tc = tcase_create("other");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_GetProcessDEPPolicy__plain_child_enabled);
	tcase_add_test(tc, test_GetProcessDEPPolicy__read_implies_exec_child_off);
	/* Under valgrind the kernel's [stack] is valgrind's own stack, which
	 * the client may not mprotect; the client's stack is another mapping. */
	if (!tl_valgrind())
		tcase_add_test(tc, test_GetProcessDEPPolicy__exec_stack_child_off);
	tcase_add_test(tc, test_GetProcessDEPPolicy__handle_all_access_works);
	tcase_add_test(tc, test_GetProcessDEPPolicy__needs_query_information);
	tcase_add_test(tc, test_GetProcessDEPPolicy__exited_process_access_denied);
	tcase_add_test(tc, test_GetProcessDEPPolicy__unreadable_personality_access_denied);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_GetProcessDEPPolicy__null_outputs_noaccess);
	tcase_add_test(tc, test_GetProcessDEPPolicy__handle_checked_before_outputs);
	tcase_add_test(tc, test_GetProcessDEPPolicy__bad_handles);
	tcase_add_test(tc, test_SetProcessDEPPolicy__not_supported_for_64bit);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--dep-child"))
		return child_main(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	return tl_run(make_dep_suite());
}
