/* Check suite for enclaves: IsEnclaveTypeSupported, CreateEnclave,
 * LoadEnclaveData, InitializeEnclave, DeleteEnclave; the SGX absence path
 * and memfd_secret software enclaves (ENCLAVE_TYPE_VBS, VBS_BASIC). */
#include "testlib.h"

#include <enclaveapi.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define P TL_PAGE

static bool secret_memory(void)
{
#ifdef SYS_memfd_secret
	int fd = (int)syscall(SYS_memfd_secret, 0);

	if (fd >= 0)
		close(fd);
	return fd >= 0;
#else
	return false;
#endif
}

static char *enclave(DWORD type, SIZE_T size)
{
	ENCLAVE_CREATE_INFO_VBS info = { 0 };
	DWORD ee = 77;
	char *e = CreateEnclave(GetCurrentProcess(), NULL, size, 0, type, &info, sizeof info, &ee);

	ck_assert_msg(e != NULL, "CreateEnclave failed: %lu", (unsigned long)GetLastError());
	ck_assert_uint_eq(ee, 0);
	return e;
}

static void load(char *at, const void *data, DWORD protect)
{
	SIZE_T n = 0;
	DWORD ee = 77;

	ck_assert_msg(LoadEnclaveData(GetCurrentProcess(), at, data, P, protect, NULL, 0, &n, &ee),
	              "LoadEnclaveData failed: %lu", (unsigned long)GetLastError());
	ck_assert_uint_eq(n, P);
	ck_assert_uint_eq(ee, 0);
}

static BOOL seal(char *e)
{
	ENCLAVE_INIT_INFO_VBS info = { sizeof info, 1 };
	DWORD ee;

	return InitializeEnclave(GetCurrentProcess(), e, &info, sizeof info, &ee);
}

/* Whether another reader (the kernel on our behalf) can read a byte. */
static bool vm_readable(const void *p)
{
	char c;
	struct iovec l = { &c, 1 }, r = { (void *)p, 1 };

	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1;
}

static bool mem_readable(pid_t pid, const void *p)
{
	char path[64], c;
	int fd;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return false;
	n = pread(fd, &c, 1, (off_t)(uintptr_t)p);
	close(fd);
	return n == 1;
}

START_TEST(test_IsEnclaveTypeSupported__types)
{
	ck_assert_false_error(IsEnclaveTypeSupported(ENCLAVE_TYPE_SGX), ERROR_NOT_SUPPORTED);
	ck_assert_false_error(IsEnclaveTypeSupported(ENCLAVE_TYPE_SGX2), ERROR_NOT_SUPPORTED);
	ck_assert_false_error(IsEnclaveTypeSupported(0x99), ERROR_NOT_SUPPORTED);
	if (secret_memory()) {
		ck_assert(IsEnclaveTypeSupported(ENCLAVE_TYPE_VBS));
		ck_assert(IsEnclaveTypeSupported(ENCLAVE_TYPE_VBS_BASIC));
	} else {
		ck_assert_false_error(IsEnclaveTypeSupported(ENCLAVE_TYPE_VBS), ERROR_NOT_SUPPORTED);
	}
}
END_TEST

START_TEST(test_CreateEnclave__errors)
{
	ENCLAVE_CREATE_INFO_VBS info = { 0 };
	ENCLAVE_CREATE_INFO_SGX *sgx = calloc(1, sizeof *sgx);
	HANDLE me = GetCurrentProcess();
	DWORD ee = 0;
	char *e;

	ck_assert_null_error(CreateEnclave(me, NULL, 1 << 20, 0, ENCLAVE_TYPE_SGX, sgx, sizeof *sgx,
	                                   &ee), ERROR_NOT_SUPPORTED);
	ck_assert_uint_eq(ee, ERROR_NOT_SUPPORTED);
	free(sgx);
	if (!secret_memory())
		return;
	ck_assert_null_error(CreateEnclave(me, NULL, 1 << 20, 0, ENCLAVE_TYPE_VBS, &info,
	                                   sizeof info - 1, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(CreateEnclave(me, NULL, 1 << 20, 0, ENCLAVE_TYPE_VBS, NULL, sizeof info,
	                                   NULL), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(CreateEnclave(me, NULL, 0, 0, ENCLAVE_TYPE_VBS, &info, sizeof info, NULL),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_null_error(CreateEnclave(me, NULL, 1 << 20, 0, 0x99, &info, sizeof info, NULL),
	                     ERROR_INVALID_PARAMETER);
	info.Flags = 0x80;
	ck_assert_null_error(CreateEnclave(me, NULL, 1 << 20, 0, ENCLAVE_TYPE_VBS, &info, sizeof info,
	                                   NULL), ERROR_INVALID_PARAMETER);
	info.Flags = ENCLAVE_VBS_FLAG_DEBUG;
	ck_assert_null_error(CreateEnclave((HANDLE)(uintptr_t)0x4444, NULL, 1 << 20, 0,
	                                   ENCLAVE_TYPE_VBS, &info, sizeof info, NULL),
	                     ERROR_INVALID_HANDLE);
	/* A fixed address that is taken. */
	e = enclave(ENCLAVE_TYPE_VBS, 1 << 20);
	ck_assert_null_error(CreateEnclave(me, e, 1 << 20, 0, ENCLAVE_TYPE_VBS, &info, sizeof info,
	                                   NULL), ERROR_INVALID_ADDRESS);
	ck_assert(DeleteEnclave(e));
}
END_TEST

START_TEST(test_CreateEnclave__reserves_owned_range)
{
	char *e;

	if (!secret_memory())
		return;
	e = enclave(ENCLAVE_TYPE_VBS, 1 << 20);
	ck_assert_uint_eq(tl_query(e).State, MEM_RESERVE);
	ck_assert_uint_eq(tl_query(e).RegionSize, 1 << 20);
	/* Only DeleteEnclave releases it. */
	ck_assert_false_error(VirtualFree(e, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
	ck_assert_null_error(VirtualAlloc(e, P, MEM_COMMIT, PAGE_READWRITE), ERROR_INVALID_ADDRESS);
	ck_assert(DeleteEnclave(e));
	ck_assert_uint_eq(tl_query(e).State, MEM_FREE);
	ck_assert_false_error(DeleteEnclave(e), ERROR_INVALID_ADDRESS);
}
END_TEST

START_TEST(test_LoadEnclaveData__pages_and_protections)
{
	/* mov eax, 42; ret */
	static const unsigned char code[] = { 0xb8, 42, 0, 0, 0, 0xc3 };
	static unsigned char page[P], text[P];
	char *e;

	if (!secret_memory())
		return;
	e = enclave(ENCLAVE_TYPE_VBS, 1 << 20);
	strcpy((char *)page, "enclave data");
	memcpy(text, code, sizeof code);
	load(e, page, PAGE_READONLY);
	load(e + P, text, PAGE_EXECUTE_READ);
	load(e + 2 * P, page, PAGE_READWRITE);
	ck_assert_str_eq(e, "enclave data");
	ck_assert_uint_eq(tl_query(e).State, MEM_COMMIT);
	ck_assert_uint_eq(tl_query(e).Protect, PAGE_READONLY);
	ck_assert_uint_eq(tl_query(e + P).Protect, PAGE_EXECUTE_READ);
	ck_assert_int_eq(((int (*)(void))(void *)(e + P))(), 42);
	/* Data is secret; code cannot be (the kernel runs no secret memory). */
	ck_assert(!vm_readable(e));
	ck_assert(vm_readable(e + P));
	e[2 * P] = 'E';
	ck_assert_uint_eq(tl_query(e + 3 * P).State, MEM_RESERVE);
	ck_assert(DeleteEnclave(e));
}
END_TEST

START_TEST(test_LoadEnclaveData__errors)
{
	static unsigned char page[2 * P];
	ENCLAVE_LOAD_DATA_VBS_BASIC zero = { VBS_BASIC_PAGE_ZERO_FILL };
	HANDLE me = GetCurrentProcess();
	SIZE_T n = 5;
	DWORD ee = 0;
	char *e, *b, other[8];

	if (!secret_memory())
		return;
	e = enclave(ENCLAVE_TYPE_VBS, 4 * P);
	load(e, page, PAGE_READONLY);
	ck_assert_false_error(LoadEnclaveData(me, e, page, P, PAGE_READONLY, NULL, 0, &n, &ee),
	                      ERROR_INVALID_ADDRESS);                  /* loaded already */
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(ee, ERROR_INVALID_ADDRESS);
	ck_assert_false_error(LoadEnclaveData(me, other, page, P, PAGE_READONLY, NULL, 0, &n, &ee),
	                      ERROR_INVALID_ADDRESS);                  /* no enclave */
	ck_assert_false_error(LoadEnclaveData(me, e + P + 1, page, P, PAGE_READONLY, NULL, 0, &n,
	                                      NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(LoadEnclaveData(me, e + P, page, 100, PAGE_READONLY, NULL, 0, &n, NULL),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(LoadEnclaveData(me, e + 3 * P, page, 2 * P, PAGE_READONLY, NULL, 0, &n,
	                                      NULL), ERROR_INVALID_PARAMETER);   /* past its end */
	ck_assert_false_error(LoadEnclaveData(me, e + P, page, P, PAGE_NOACCESS, NULL, 0, &n, NULL),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(LoadEnclaveData(me, e + P, page, P, PAGE_READWRITE | PAGE_GUARD, NULL,
	                                      0, &n, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(LoadEnclaveData(me, e + P, NULL, P, PAGE_READONLY, NULL, 0, &n, NULL),
	                      ERROR_NOACCESS);
	ck_assert_false_error(LoadEnclaveData(me, e + P, page, P, PAGE_READONLY, &zero, sizeof zero,
	                                      &n, NULL), ERROR_INVALID_PARAMETER);  /* VBS: no info */
	ck_assert(DeleteEnclave(e));
	/* VBS_BASIC: each load names its page type; zero-fill needs no data. */
	b = enclave(ENCLAVE_TYPE_VBS_BASIC, 4 * P);
	ck_assert_false_error(LoadEnclaveData(me, b, page, P, PAGE_READONLY, NULL, 0, &n, NULL),
	                      ERROR_INVALID_PARAMETER);
	ck_assert(LoadEnclaveData(me, b, NULL, P, PAGE_READWRITE, &zero, sizeof zero, &n, NULL));
	ck_assert_int_eq(b[100], 0);
	ck_assert(DeleteEnclave(b));
}
END_TEST

/* Secret pages: the kernel cannot read them for anyone, even root; the
 * same reads of ordinary memory work. */
START_TEST(test_LoadEnclaveData__pages_invisible_to_others)
{
	static unsigned char page[P] = "do not read";
	char *e, *plain = tl_commit_new(P, PAGE_READWRITE);
	pid_t pid, me = getpid();
	int st;

	if (!secret_memory())
		return;
	e = enclave(ENCLAVE_TYPE_VBS, 1 << 20);
	load(e, page, PAGE_READWRITE);
	ck_assert(vm_readable(plain));
	ck_assert(!vm_readable(e));
	ck_assert(mem_readable(me, plain));
	ck_assert(!mem_readable(me, e));
	if ((pid = fork()) == 0)                    /* another process, same user */
		_exit(mem_readable(getppid(), plain) && !mem_readable(getppid(), e) ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_str_eq(e, "do not read");         /* the process itself reads it */
	ck_assert(DeleteEnclave(e));
	tl_release(plain);
}
END_TEST

START_TEST(test_InitializeEnclave__seals)
{
	static unsigned char page[P];
	ENCLAVE_INIT_INFO_VBS bad = { sizeof bad - 1, 1 };
	HANDLE me = GetCurrentProcess();
	DWORD ee = 0, old;
	SIZE_T n;
	char *e;

	if (!secret_memory())
		return;
	e = enclave(ENCLAVE_TYPE_VBS, 4 * P);
	load(e, page, PAGE_READWRITE);
	ck_assert(VirtualProtect(e, P, PAGE_READONLY, &old));      /* while loading: yes */
	ck_assert_false_error(InitializeEnclave(me, e, &bad, sizeof bad, &ee),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(InitializeEnclave(me, e + P, &bad, sizeof bad, NULL),
	                      ERROR_INVALID_PARAMETER);
	bad.Length = sizeof bad;
	ck_assert_false_error(InitializeEnclave(me, e + P, &bad, sizeof bad, &ee),
	                      ERROR_INVALID_ADDRESS);
	ck_assert(seal(e));
	ck_assert_false_error(seal(e), ERROR_INVALID_STATE);
	ck_assert_false_error(LoadEnclaveData(me, e + P, page, P, PAGE_READONLY, NULL, 0, &n, &ee),
	                      ERROR_INVALID_STATE);
	ck_assert_uint_eq(ee, ERROR_INVALID_STATE);
	ck_assert_false_error(VirtualProtect(e, P, PAGE_READWRITE, &old), ERROR_INVALID_ADDRESS);
	ck_assert(DeleteEnclave(e));
}
END_TEST

START_TEST(test_memapi_root__lists_enclaves)
{
	static unsigned char page[P];
	const struct memapi_rec_enclave *r;
	char *e;

	if (!secret_memory())
		return;
	e = enclave(ENCLAVE_TYPE_VBS_BASIC, 1 << 20);
	ENCLAVE_LOAD_DATA_VBS_BASIC data = { VBS_BASIC_PAGE_MEASURED_DATA };
	SIZE_T n;

	ck_assert(LoadEnclaveData(GetCurrentProcess(), e, page, P, PAGE_READONLY, &data, sizeof data,
	                          &n, NULL));
	r = memapi_root.enclaves;
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->magic, MEMAPI_ENCLAVE_MAGIC);
	ck_assert_uint_eq(r->type, ENCLAVE_TYPE_VBS_BASIC);
	ck_assert_uint_eq(r->base, (uintptr_t)e);
	ck_assert_uint_eq(r->size, 1 << 20);
	ck_assert_uint_eq(r->loaded, P);
	ck_assert_uint_eq(r->initialized, 0);
	ck_assert(seal(e));
	ck_assert_uint_eq(r->initialized, 1);
	ck_assert(DeleteEnclave(e));
	ck_assert_ptr_null(memapi_root.enclaves);
}
END_TEST

/* Secret pages are locked memory: RLIMIT_MEMLOCK bounds them. */
START_TEST(test_LoadEnclaveData__memlock_limit)
{
	pid_t pid;
	int st;

	if (!secret_memory())
		return;
	if ((pid = fork()) == 0) {
		struct rlimit rl = { 2 * P, 2 * P };
		static unsigned char page[4 * P];
		ENCLAVE_CREATE_INFO_VBS info = { 0 };
		char *e;
		SIZE_T n;

		tl_drop_capabilities();                     /* root loses CAP_IPC_LOCK */
		if (setrlimit(RLIMIT_MEMLOCK, &rl))
			_exit(9);
		e = CreateEnclave(GetCurrentProcess(), NULL, 1 << 20, 0, ENCLAVE_TYPE_VBS, &info,
		                  sizeof info, NULL);
		if (!e || !LoadEnclaveData(GetCurrentProcess(), e, page, P, PAGE_READWRITE, NULL, 0,
		                           &n, NULL))
			_exit(2);
		if (LoadEnclaveData(GetCurrentProcess(), e + P, page, 4 * P, PAGE_READWRITE, NULL, 0,
		                    &n, NULL) || GetLastError() != ERROR_WORKING_SET_QUOTA)
			_exit(3);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}
END_TEST

static Suite *make_enclave_suite(void)
{
	Suite *s = suite_create("enclave");
	TCase *c = tcase_create("enclaves");

	tcase_add_checked_fixture(c, tl_setup, tl_teardown);
	tcase_add_test(c, test_IsEnclaveTypeSupported__types);
	tcase_add_test(c, test_CreateEnclave__errors);
	tcase_add_test(c, test_CreateEnclave__reserves_owned_range);
	tcase_add_test(c, test_LoadEnclaveData__pages_and_protections);
	tcase_add_test(c, test_LoadEnclaveData__errors);
	tcase_add_test(c, test_LoadEnclaveData__pages_invisible_to_others);
	tcase_add_test(c, test_InitializeEnclave__seals);
	tcase_add_test(c, test_memapi_root__lists_enclaves);
	tcase_add_test(c, test_LoadEnclaveData__memlock_limit);
	suite_add_tcase(s, c);
	return s;
}

TL_MAIN(make_enclave_suite)
