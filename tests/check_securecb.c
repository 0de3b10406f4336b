/* Check suite for AddSecureMemoryCacheCallback and
 * RemoveSecureMemoryCacheCallback: which calls run the callbacks, with
 * which ranges, and registration edge cases. */
#include "testlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define P TL_PAGE

struct seen {
	int       calls;
	uintptr_t addr[16];
	SIZE_T    size[16];
	DWORD     state;            /* VirtualQuery of addr inside the callback */
};

static struct seen seen, seen2;

static BOOLEAN CALLBACK record(PVOID addr, SIZE_T range)
{
	MEMORY_BASIC_INFORMATION m;

	if (seen.calls < 16) {
		seen.addr[seen.calls] = (uintptr_t)addr;
		seen.size[seen.calls] = range;
	}
	seen.calls++;
	/* No lock of the library is held: querying works. */
	seen.state = VirtualQuery(addr, &m, sizeof m) ? m.State : 0;
	return FALSE;                       /* nothing of ours was secured */
}

static BOOLEAN CALLBACK record2(PVOID addr, SIZE_T range)
{
	(void)addr;
	(void)range;
	seen2.calls++;
	return FALSE;
}

static void cb_setup(void)
{
	tl_setup();
	memset(&seen, 0, sizeof seen);
	memset(&seen2, 0, sizeof seen2);
}

static void cb_teardown(void)
{
	while (RemoveSecureMemoryCacheCallback(record))
		;
	while (RemoveSecureMemoryCacheCallback(record2))
		;
	tl_teardown();
}

START_TEST(test_AddSecureMemoryCacheCallback__registration)
{
	ck_assert_false_error(AddSecureMemoryCacheCallback(NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(RemoveSecureMemoryCacheCallback(record), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(RemoveSecureMemoryCacheCallback(NULL), ERROR_INVALID_PARAMETER);
	ck_assert(AddSecureMemoryCacheCallback(record));
	ck_assert(RemoveSecureMemoryCacheCallback(record));
	ck_assert_false_error(RemoveSecureMemoryCacheCallback(record), ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_SecureMemoryCacheCallback__free_decommit_protect)
{
	char *p = tl_commit_new(16 * P, PAGE_READWRITE);
	DWORD old;

	ck_assert(AddSecureMemoryCacheCallback(record));
	ck_assert(VirtualFree(p + P + 100, 2 * P, MEM_DECOMMIT));
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_uint_eq(seen.addr[0], (uintptr_t)(p + P));        /* whole pages */
	ck_assert_uint_eq(seen.size[0], 3 * P);
	ck_assert_uint_eq(seen.state, MEM_RESERVE);                 /* after the change */
	ck_assert(VirtualProtect(p + 8 * P, P + 1, PAGE_READONLY, &old));
	ck_assert_int_eq(seen.calls, 2);
	ck_assert_uint_eq(seen.addr[1], (uintptr_t)(p + 8 * P));
	ck_assert_uint_eq(seen.size[1], 2 * P);
	/* Failed calls change nothing and call nothing. */
	ck_assert(!VirtualFree(p + P, 0, MEM_RELEASE));
	ck_assert(!VirtualProtect(p, 0, PAGE_READONLY, &old));
	ck_assert_int_eq(seen.calls, 2);
	/* Allocating is no change of secured memory. */
	ck_assert_ptr_nonnull(VirtualAlloc(p + P, P, MEM_COMMIT, PAGE_READWRITE));
	ck_assert_int_eq(seen.calls, 2);
	ck_assert(VirtualFree(p, 0, MEM_RELEASE));
	ck_assert_int_eq(seen.calls, 3);
	ck_assert_uint_eq(seen.addr[2], (uintptr_t)p);
	ck_assert_uint_eq(seen.size[2], 16 * P);
	ck_assert_uint_eq(seen.state, MEM_FREE);
}
END_TEST

START_TEST(test_SecureMemoryCacheCallback__unmap_view_and_placeholders)
{
	HANDLE h = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, TL_GRAN, NULL);
	char *v = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	char *ph = VirtualAlloc2(NULL, NULL, 2 * TL_GRAN, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
	                         PAGE_NOACCESS, NULL, 0);
	char *r;

	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(ph);
	ck_assert(AddSecureMemoryCacheCallback(record));
	ck_assert(UnmapViewOfFile(v + 10));
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_uint_eq(seen.addr[0], (uintptr_t)v);
	ck_assert_uint_eq(seen.size[0], TL_GRAN);
	/* Splitting a placeholder frees no memory: no call. */
	ck_assert(VirtualFree(ph, TL_GRAN, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER));
	ck_assert_int_eq(seen.calls, 1);
	r = VirtualAlloc2(NULL, ph, TL_GRAN, MEM_RESERVE | MEM_COMMIT | MEM_REPLACE_PLACEHOLDER,
	                  PAGE_READWRITE, NULL, 0);
	ck_assert_ptr_eq(r, ph);
	/* Turning it back into a placeholder frees its pages. */
	ck_assert(VirtualFree(r, 0, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER));
	ck_assert_int_eq(seen.calls, 2);
	ck_assert_uint_eq(seen.addr[1], (uintptr_t)r);
	ck_assert_uint_eq(seen.size[1], TL_GRAN);
	VirtualFree(ph, 0, MEM_RELEASE);
	VirtualFree(ph + TL_GRAN, 0, MEM_RELEASE);
	CloseHandle(h);
}
END_TEST

/* Every registration runs once per change; removing one leaves the other. */
START_TEST(test_SecureMemoryCacheCallback__each_registration_runs)
{
	char *p = tl_commit_new(4 * P, PAGE_READWRITE);

	ck_assert(AddSecureMemoryCacheCallback(record));
	ck_assert(AddSecureMemoryCacheCallback(record));
	ck_assert(AddSecureMemoryCacheCallback(record2));
	ck_assert(VirtualFree(p, P, MEM_DECOMMIT));
	ck_assert_int_eq(seen.calls, 2);
	ck_assert_int_eq(seen2.calls, 1);
	ck_assert(RemoveSecureMemoryCacheCallback(record));
	ck_assert(VirtualFree(p, 0, MEM_RELEASE));
	ck_assert_int_eq(seen.calls, 3);
	ck_assert_int_eq(seen2.calls, 2);
}
END_TEST

/* A callback may change the registrations while it runs. */
static BOOLEAN CALLBACK remove_self(PVOID addr, SIZE_T range)
{
	(void)addr;
	(void)range;
	seen.calls++;
	RemoveSecureMemoryCacheCallback(remove_self);
	AddSecureMemoryCacheCallback(record2);
	return FALSE;
}

START_TEST(test_SecureMemoryCacheCallback__callback_changes_registrations)
{
	char *p = tl_commit_new(4 * P, PAGE_READWRITE);

	ck_assert(AddSecureMemoryCacheCallback(remove_self));
	ck_assert(VirtualFree(p, P, MEM_DECOMMIT));
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen2.calls, 0);       /* added during the round: next time */
	ck_assert(VirtualFree(p, 0, MEM_RELEASE));
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen2.calls, 1);
	ck_assert_false_error(RemoveSecureMemoryCacheCallback(remove_self), ERROR_INVALID_PARAMETER);
}
END_TEST

/* A heap giving back its reservations triggers it too (a freed large
 * block may be kept for reuse; destroying the heap gives everything back). */
START_TEST(test_SecureMemoryCacheCallback__heap_releases)
{
	HANDLE h = HeapCreate(0, 0, 0);
	void *big = HeapAlloc(h, 0, 4 * TL_MIB);

	ck_assert_ptr_nonnull(big);
	ck_assert(AddSecureMemoryCacheCallback(record2));
	ck_assert(HeapFree(h, 0, big));
	ck_assert(HeapDestroy(h));
	ck_assert_int_ge(seen2.calls, 2);       /* the block and the first segment */
	ck_assert(RemoveSecureMemoryCacheCallback(record2));
}
END_TEST

static atomic_int stop;

static void *churn(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		AddSecureMemoryCacheCallback(record2);
		RemoveSecureMemoryCacheCallback(record2);
	}
	return NULL;
}

/* Registrations change in one thread while another frees memory. */
START_TEST(test_SecureMemoryCacheCallback__threads)
{
	pthread_t t;
	int rounds = tl_valgrind() ? 200 : 5000;

	atomic_store(&stop, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, churn, NULL), 0);
	for (int i = 0; i < rounds; i++) {
		char *p = VirtualAlloc(NULL, P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);

		ck_assert_ptr_nonnull(p);
		ck_assert(VirtualFree(p, 0, MEM_RELEASE));
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	ck_assert_false_error(RemoveSecureMemoryCacheCallback(record2), ERROR_INVALID_PARAMETER);
}
END_TEST

static Suite *make_securecb_suite(void)
{
	Suite *s = suite_create("securecb");
	TCase *c = tcase_create("callbacks");

	tcase_add_checked_fixture(c, cb_setup, cb_teardown);
	tcase_add_test(c, test_AddSecureMemoryCacheCallback__registration);
	tcase_add_test(c, test_SecureMemoryCacheCallback__free_decommit_protect);
	tcase_add_test(c, test_SecureMemoryCacheCallback__unmap_view_and_placeholders);
	tcase_add_test(c, test_SecureMemoryCacheCallback__each_registration_runs);
	tcase_add_test(c, test_SecureMemoryCacheCallback__callback_changes_registrations);
	tcase_add_test(c, test_SecureMemoryCacheCallback__heap_releases);
	tcase_add_test(c, test_SecureMemoryCacheCallback__threads);
	suite_add_tcase(s, c);
	return s;
}

TL_MAIN(make_securecb_suite)
