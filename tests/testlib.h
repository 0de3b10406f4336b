/* Shared helpers for the Check suites: a runner, memory shortcuts that
 * assert their own success, syscall fault injection, child processes with
 * a known mapping, and a vectored handler that records access violations. */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <check.h>
#include <windows.h>
#include <memapi.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TL_PAGE ((SIZE_T)4096)
#define TL_GRAN ((SIZE_T)65536)
#define TL_MIB  ((SIZE_T)1 << 20)

/* Runs the suite (CK_ENV verbosity, CK_NORMAL by default) and returns the
 * exit status for main: 0 when every test passed. */
int tl_run(Suite *s);

#define TL_MAIN(make_suite) \
	int main(void) { return tl_run(make_suite()); }

/* Suites that run twice, the second time on another library path chosen
 * by an environment variable read once at start-up: tl_rerun re-executes
 * the test binary with name=value, passing the first run's exit status
 * on (it returns, with EXIT_FAILURE, only if it cannot); the second run
 * returns tl_rerun_status(its own status), which covers both. */
int tl_rerun(char **argv, const char *name, const char *value, int first);
int tl_rerun_status(int rc);

/* The calling thread's last error must be code. */
#define ck_assert_last_error(code) \
	ck_assert_msg(GetLastError() == (DWORD)(code), "GetLastError() is %lu, expected %lu (%s)", \
	              (unsigned long)GetLastError(), (unsigned long)(code), #code)

/* expr must fail (NULL / FALSE) with the given last error. */
#define ck_assert_null_error(expr, code) do { \
	SetLastError(0); \
	ck_assert_ptr_null(expr); \
	ck_assert_last_error(code); \
} while (0)

#define ck_assert_false_error(expr, code) do { \
	SetLastError(0); \
	ck_assert(!(expr)); \
	ck_assert_last_error(code); \
} while (0)

/* True when tests run forked (CK_FORK unset or not "no"): signal tests and
 * tests that leave the process altered need it. */
bool tl_forking(void);

/* True under valgrind (RUNNING_ON_VALGRIND, or TL_VALGRIND=1 from run-suites.sh). */
bool tl_valgrind(void);

/* A value from /proc/meminfo ("HugePages_Free"), -1 if missing. */
long tl_meminfo(const char *key);

/* The hugetlb pool's size (/proc/sys/vm/nr_hugepages), set to n first
 * when n >= 0 (root only): returns the old size, -1 if unreadable. Tests
 * of the large-page success path make a small pool for themselves when
 * there is none, and put the old size back. */
long tl_set_hugepages(long n);

/* Drops every capability of the calling process (root stays uid 0 but
 * file permissions, RLIMIT_MEMLOCK and privileges bind it again): 0 or -1.
 * An exec gives root its capabilities back: drop them after it. */
int tl_drop_capabilities(void);

/* The kernel's permissions of the mapping holding a, as /proc/self/maps
 * shows them ("r-xp"), into out; "?" when no mapping holds it. */
void tl_kernel_perms(const void *a, char out[5]);

/* ---- memory shortcuts: each fails the test if the call fails ---- */

void *tl_reserve(SIZE_T size);
void *tl_commit_new(SIZE_T size, DWORD protect);     /* reserve + commit */
void  tl_commit(void *addr, SIZE_T size, DWORD protect);
void  tl_release(void *base);
MEMORY_BASIC_INFORMATION tl_query(const void *addr);
DWORD tl_protect(void *addr, SIZE_T size, DWORD protect);   /* returns the old one */

/* A 64 KiB aligned range of size bytes that is free right now (reserved,
 * then released), for tests that need to name an address. */
uintptr_t tl_free_range(SIZE_T size);

/* ---- syscall fault injection through mt_os_calls ---- */

enum tl_call { TL_MMAP, TL_MPROTECT, TL_MADVISE, TL_MLOCK, TL_FALLOCATE, TL_CALLS };

/* Calls number `after` and later (0-based, counted from now) of the given
 * syscall fail with err; calls before it go through. */
void tl_inject(enum tl_call call, int err, unsigned after);
/* The same for `times` calls only (0: no limit). */
void tl_inject_n(enum tl_call call, int err, unsigned after, unsigned times);
/* Restores the real syscalls (also done by tl_run's checked fixture). */
void tl_inject_reset(void);
/* Calls of the syscall seen since tl_inject (passed and failed). */
unsigned tl_calls(enum tl_call call);

/* A fixture every suite's test cases use: restores syscalls and clears the
 * last error before each test, and restores syscalls after it. */
void tl_setup(void);
void tl_teardown(void);

/* ---- a child process with a known mapping ---- */

struct tl_child {
	pid_t pid;
	int   release_fd;      /* closing it lets the child exit             */
	void *addr;            /* the child's mapping                         */
	size_t size;
};

/* Forks a child that mmaps size bytes (prot, flags; fd -1) and waits.
 * Fails the test on error. */
void tl_child_start(struct tl_child *c, size_t size, int prot, int flags);
/* Lets the child exit and reaps it. */
void tl_child_stop(struct tl_child *c);

/* ---- access violations recorded by a vectored handler ---- */

struct tl_fault {
	int       count;
	DWORD     code;
	ULONG_PTR info0, info1;
	DWORD     fix_protect;  /* 0: CONTINUE_SEARCH; else VirtualProtect the
	                           faulting page to it and continue            */
	MEMORY_BASIC_INFORMATION mbi;   /* VirtualQuery of the address inside the handler */
};

extern struct tl_fault tl_fault;

/* Installs the recorder (first in line); fix_protect as above. */
void tl_fault_begin(DWORD fix_protect);
void tl_fault_end(void);

/* Accesses that the compiler cannot drop or reorder. */
unsigned char tl_read(const volatile void *p);
void tl_write(volatile void *p, unsigned char v);

#endif
