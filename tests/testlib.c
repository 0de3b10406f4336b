/* Helpers shared by the Check suites (see testlib.h). */
#include "testlib.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

int tl_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define TL_FIRST_STATUS "TL_FIRST_STATUS"

int tl_rerun(char **argv, const char *name, const char *value, int first)
{
	char self[PATH_MAX], status[16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n <= 0) {
		perror("tl_rerun: /proc/self/exe");
		return EXIT_FAILURE;
	}
	self[n] = 0;
	snprintf(status, sizeof status, "%d", first);
	setenv(name, value, 1);
	setenv(TL_FIRST_STATUS, status, 1);
	fflush(NULL);
	execv(self, argv);
	perror("tl_rerun: execv");
	return EXIT_FAILURE;
}

int tl_rerun_status(int rc)
{
	const char *first = getenv(TL_FIRST_STATUS);

	return first && atoi(first) ? EXIT_FAILURE : rc;
}

bool tl_forking(void)
{
	const char *f = getenv("CK_FORK");

	return !f || strcmp(f, "no") != 0;
}

bool tl_valgrind(void)
{
	const char *v = getenv("TL_VALGRIND");

	return RUNNING_ON_VALGRIND || (v && !strcmp(v, "1"));
}

int tl_drop_capabilities(void)
{
	struct { uint32_t version; int pid; } hdr = { 0x20080522, 0 };   /* _LINUX_CAPABILITY_VERSION_3 */
	struct { uint32_t effective, permitted, inheritable; } data[2] = { { 0 } };

	return (int)syscall(SYS_capset, &hdr, data);
}

void tl_kernel_perms(const void *a, char out[5])
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;

	strcpy(out, "?");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, out) == 3 &&
		    (uintptr_t)a >= lo && (uintptr_t)a < hi)
			break;
		else
			strcpy(out, "?");
	if (f)
		fclose(f);
}

long tl_set_hugepages(long n)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r+");
	long old = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &old) == 1 && n >= 0) {
		rewind(f);
		fprintf(f, "%ld\n", n);
	}
	fclose(f);
	return old;
}

long tl_meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	size_t klen = strlen(key);
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* ---- memory shortcuts ---- */

void *tl_reserve(SIZE_T size)
{
	void *p = VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_READWRITE);

	ck_assert_msg(p != NULL, "reserve of %zu failed: %lu", (size_t)size,
	              (unsigned long)GetLastError());
	return p;
}

void *tl_commit_new(SIZE_T size, DWORD protect)
{
	void *p = VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, protect);

	ck_assert_msg(p != NULL, "alloc of %zu failed: %lu", (size_t)size,
	              (unsigned long)GetLastError());
	return p;
}

void tl_commit(void *addr, SIZE_T size, DWORD protect)
{
	void *p = VirtualAlloc(addr, size, MEM_COMMIT, protect);

	ck_assert_msg(p == (void *)((uintptr_t)addr & ~(TL_PAGE - 1)),
	              "commit at %p failed: %lu", addr, (unsigned long)GetLastError());
}

void tl_release(void *base)
{
	ck_assert_msg(VirtualFree(base, 0, MEM_RELEASE), "release of %p failed: %lu", base,
	              (unsigned long)GetLastError());
}

MEMORY_BASIC_INFORMATION tl_query(const void *addr)
{
	MEMORY_BASIC_INFORMATION mbi;

	memset(&mbi, 0xa5, sizeof mbi);
	ck_assert_msg(VirtualQuery(addr, &mbi, sizeof mbi) == sizeof mbi,
	              "VirtualQuery(%p) failed: %lu", addr, (unsigned long)GetLastError());
	return mbi;
}

DWORD tl_protect(void *addr, SIZE_T size, DWORD protect)
{
	DWORD old = 0;

	ck_assert_msg(VirtualProtect(addr, size, protect, &old), "VirtualProtect(%p, %#lx) failed: %lu",
	              addr, (unsigned long)protect, (unsigned long)GetLastError());
	return old;
}

uintptr_t tl_free_range(SIZE_T size)
{
	void *p = tl_reserve(size);

	tl_release(p);
	return (uintptr_t)p;
}

/* ---- fault injection ---- */

struct injection {
	bool     on;
	int      err;
	unsigned after, times, seen;
};

static struct injection inj[TL_CALLS];

static bool hit(enum tl_call c)
{
	unsigned n = inj[c].seen++;

	if (!inj[c].on || n < inj[c].after || (inj[c].times && n >= inj[c].after + inj[c].times))
		return false;
	errno = inj[c].err;
	return true;
}

static void *fake_mmap(void *a, size_t l, int p, int f, int fd, off_t o)
{
	return hit(TL_MMAP) ? MAP_FAILED : mmap(a, l, p, f, fd, o);
}

static int fake_mprotect(void *a, size_t l, int p)
{
	return hit(TL_MPROTECT) ? -1 : mprotect(a, l, p);
}

static int fake_madvise(void *a, size_t l, int adv)
{
	return hit(TL_MADVISE) ? -1 : madvise(a, l, adv);
}

static int fake_mlock(const void *a, size_t l)
{
	return hit(TL_MLOCK) ? -1 : mlock(a, l);
}

static int fake_fallocate(int fd, int mode, off_t off, off_t len)
{
	return hit(TL_FALLOCATE) ? -1 : fallocate(fd, mode, off, len);
}

void tl_inject(enum tl_call call, int err, unsigned after)
{
	tl_inject_n(call, err, after, 0);
}

void tl_inject_n(enum tl_call call, int err, unsigned after, unsigned times)
{
	inj[call] = (struct injection){ true, err, after, times, 0 };
	switch (call) {
	case TL_MMAP:     mt_os_calls.mmap = fake_mmap; break;
	case TL_MPROTECT: mt_os_calls.mprotect = fake_mprotect; break;
	case TL_MADVISE:  mt_os_calls.madvise = fake_madvise; break;
	case TL_MLOCK:    mt_os_calls.mlock = fake_mlock; break;
	case TL_FALLOCATE: mt_os_calls.fallocate = fake_fallocate; break;
	default:          break;
	}
}

void tl_inject_reset(void)
{
	memset(inj, 0, sizeof inj);
	mt_os_calls_reset();
}

unsigned tl_calls(enum tl_call call)
{
	return inj[call].seen;
}

void tl_setup(void)
{
	tl_inject_reset();
	SetLastError(0);
}

void tl_teardown(void)
{
	tl_inject_reset();
}

/* ---- child processes ---- */

static void child_main(int addr_fd, int release_fd, size_t size, int prot, int flags)
{
	void *p = mmap(NULL, size, prot, flags, -1, 0);
	char c;

	if (p != MAP_FAILED && (prot & PROT_WRITE))
		memset(p, 0x5a, size);
	if (write(addr_fd, &p, sizeof p) != (ssize_t)sizeof p)
		_exit(1);
	while (read(release_fd, &c, 1) > 0)
		;
	_exit(0);
}

void tl_child_start(struct tl_child *c, size_t size, int prot, int flags)
{
	int up[2], down[2];

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		close(up[0]);
		close(down[1]);
		child_main(up[1], down[0], size, prot, flags);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &c->addr, sizeof c->addr), (int)sizeof c->addr);
	close(up[0]);
	ck_assert_ptr_ne(c->addr, MAP_FAILED);
	c->release_fd = down[1];
	c->size = size;
}

void tl_child_stop(struct tl_child *c)
{
	int status;

	close(c->release_fd);
	ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- access violation recorder ---- */

struct tl_fault tl_fault;
static PVOID recorder;

static LONG CALLBACK record(PEXCEPTION_POINTERS ep)
{
	EXCEPTION_RECORD *r = ep->ExceptionRecord;
	void *addr = (void *)r->ExceptionInformation[1];
	DWORD old;

	tl_fault.count++;
	tl_fault.code = r->ExceptionCode;
	tl_fault.info0 = r->ExceptionInformation[0];
	tl_fault.info1 = r->ExceptionInformation[1];
	VirtualQuery(addr, &tl_fault.mbi, sizeof tl_fault.mbi);
	if (!tl_fault.fix_protect)
		return EXCEPTION_CONTINUE_SEARCH;
	if (r->ExceptionCode == EXCEPTION_ACCESS_VIOLATION &&
	    !VirtualProtect(addr, 1, tl_fault.fix_protect, &old))
		return EXCEPTION_CONTINUE_SEARCH;
	return EXCEPTION_CONTINUE_EXECUTION;
}

void tl_fault_begin(DWORD fix_protect)
{
	memset(&tl_fault, 0, sizeof tl_fault);
	tl_fault.fix_protect = fix_protect;
	recorder = AddVectoredExceptionHandler(1, record);
	ck_assert_ptr_nonnull(recorder);
}

void tl_fault_end(void)
{
	if (recorder)
		RemoveVectoredExceptionHandler(recorder);
	recorder = NULL;
}

__attribute__((noinline)) unsigned char tl_read(const volatile void *p)
{
	return *(const volatile unsigned char *)p;
}

__attribute__((noinline)) void tl_write(volatile void *p, unsigned char v)
{
	*(volatile unsigned char *)p = v;
}
