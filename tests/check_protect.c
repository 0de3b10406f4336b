/* VirtualProtect, VirtualProtectEx and VirtualProtectFromApp: old values,
 * errors, protections that really apply, memory the library does not own,
 * and a failed mprotect leaving the old state. */
#include "testlib.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RW PAGE_READWRITE
#define RO PAGE_READONLY

static void assert_protect(const void *addr, DWORD protect)
{
	ck_assert_uint_eq(tl_query(addr).Protect, protect);
}

START_TEST(test_VirtualProtect__returns_old_protection)
{
	char *p = tl_commit_new(TL_PAGE, RW);
	DWORD old = 0;

	ck_assert(VirtualProtect(p, TL_PAGE, RO, &old));
	ck_assert_uint_eq(old, RW);
	assert_protect(p, RO);
	ck_assert(VirtualProtect(p, TL_PAGE, PAGE_EXECUTE_READ, &old));
	ck_assert_uint_eq(old, RO);
	assert_protect(p, PAGE_EXECUTE_READ);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__returns_old_guard)
{
	char *p = tl_commit_new(TL_PAGE, RW | PAGE_GUARD);

	ck_assert_uint_eq(tl_protect(p, TL_PAGE, RO), RW | PAGE_GUARD);
	ck_assert_uint_eq(tl_protect(p, TL_PAGE, RW | PAGE_NOCACHE), RO);
	ck_assert_uint_eq(tl_protect(p, TL_PAGE, RW), RW | PAGE_NOCACHE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__old_is_first_pages)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	tl_protect(p + TL_PAGE, TL_PAGE, RO);
	ck_assert_uint_eq(tl_protect(p + TL_PAGE, 3 * TL_PAGE, PAGE_NOACCESS), RO);
	assert_protect(p, RW);
	ck_assert_uint_eq(tl_query(p + TL_PAGE).RegionSize, 3 * TL_PAGE);
	assert_protect(p + TL_PAGE, PAGE_NOACCESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__unaligned_range_covers_pages)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	tl_protect(p + 100, TL_PAGE, RO);
	assert_protect(p, RO);
	ck_assert_uint_eq(tl_query(p).RegionSize, 2 * TL_PAGE);
	assert_protect(p + 2 * TL_PAGE, RW);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__null_old_rejected)
{
	char *p = tl_commit_new(TL_PAGE, RW);

	ck_assert_false_error(VirtualProtect(p, TL_PAGE, RO, NULL), ERROR_NOACCESS);
	assert_protect(p, RW);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__reserved_pages_rejected)
{
	char *p = tl_reserve(TL_GRAN);
	DWORD old = 0x1234;

	tl_commit(p, TL_PAGE, RW);
	ck_assert_false_error(VirtualProtect(p + TL_PAGE, TL_PAGE, RO, &old), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(VirtualProtect(p, 2 * TL_PAGE, RO, &old), ERROR_INVALID_ADDRESS);
	ck_assert_uint_eq(old, 0x1234);
	assert_protect(p, RW);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__free_memory_rejected)
{
	char *p = tl_commit_new(TL_PAGE, RW);
	DWORD old;

	/* The unusable rest of the 64 KiB unit, and a range running into it. */
	ck_assert_false_error(VirtualProtect(p + TL_PAGE, TL_PAGE, RO, &old), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(VirtualProtect(p, 2 * TL_PAGE, RO, &old), ERROR_INVALID_ADDRESS);
	tl_release(p);
	ck_assert_false_error(VirtualProtect(p, TL_PAGE, RO, &old), ERROR_INVALID_ADDRESS);
}
END_TEST

START_TEST(test_VirtualProtect__range_spanning_two_allocations_rejected)
{
	char *a = (char *)tl_free_range(2 * TL_GRAN), *b;
	DWORD old;

	ck_assert_ptr_eq(VirtualAlloc(a, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW), a);
	b = VirtualAlloc(a + TL_GRAN, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW);
	ck_assert_ptr_eq(b, a + TL_GRAN);
	ck_assert_false_error(VirtualProtect(b - TL_PAGE, 2 * TL_PAGE, RO, &old),
	                      ERROR_INVALID_ADDRESS);
	assert_protect(b - TL_PAGE, RW);
	assert_protect(b, RW);
	tl_release(a);
	tl_release(b);
}
END_TEST

static const DWORD bad_protections[] = {
	0, RO | RW, PAGE_GUARD | PAGE_NOACCESS, RW | PAGE_NOCACHE | PAGE_WRITECOMBINE,
	RW | PAGE_GUARD | PAGE_WRITECOMBINE, RW | 0x100000, PAGE_WRITECOPY, PAGE_EXECUTE_WRITECOPY,
};

START_TEST(test_VirtualProtect__invalid_protection_rejected)
{
	char *p = tl_commit_new(TL_PAGE, RW);
	DWORD old;

	ck_assert_false_error(VirtualProtect(p, TL_PAGE, bad_protections[_i], &old),
	                      ERROR_INVALID_PARAMETER);
	assert_protect(p, RW);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__readonly_write_faults)
{
	char *p = tl_commit_new(TL_PAGE, RW);

	p[10] = 1;
	tl_protect(p, TL_PAGE, RO);
	ck_assert_int_eq(tl_read(p + 10), 1);
	tl_fault_begin(RW);
	tl_write(p + 10, 2);
	tl_fault_end();
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.code, EXCEPTION_ACCESS_VIOLATION);
	ck_assert_uint_eq(tl_fault.info0, 1);
	ck_assert_ptr_eq((void *)tl_fault.info1, p + 10);
	ck_assert_int_eq(p[10], 2);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__noaccess_read_faults)
{
	char *p = tl_commit_new(TL_PAGE, RW);

	tl_protect(p, TL_PAGE, PAGE_NOACCESS);
	tl_fault_begin(RO);
	ck_assert_int_eq(tl_read(p + 7), 0);
	tl_fault_end();
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.info0, 0);
	ck_assert_ptr_eq((void *)tl_fault.info1, p + 7);
	assert_protect(p, RO);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__readonly_write_unhandled_kills)
{
	char *p = tl_commit_new(TL_PAGE, RW);

	tl_protect(p, TL_PAGE, RO);
	tl_write(p, 1);
}
END_TEST

START_TEST(test_VirtualProtect__raised_protection_allows_write)
{
	char *p = tl_commit_new(TL_PAGE, RO);

	tl_protect(p, TL_PAGE, PAGE_EXECUTE_READWRITE);
	tl_fault_begin(0);
	tl_write(p, 3);
	tl_fault_end();
	ck_assert_int_eq(tl_fault.count, 0);
	ck_assert_int_eq(p[0], 3);
	tl_release(p);
}
END_TEST

/* ---- memory the library does not own ---- */

static unsigned char bss_pages[4 * 4096] __attribute__((aligned(4096)));

START_TEST(test_VirtualProtect__static_array_protect_and_restore)
{
	unsigned char *pg = bss_pages + TL_PAGE;
	DWORD old;

	pg[0] = 1;
	old = tl_protect(pg, TL_PAGE, RO);
	ck_assert(old == RW || old == PAGE_WRITECOPY);
	assert_protect(pg, RO);
	tl_fault_begin(old);
	tl_write(pg, 2);
	tl_fault_end();
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.info0, 1);
	ck_assert_int_eq(pg[0], 2);
	assert_protect(pg, old);
	ck_assert_uint_eq(tl_protect(pg, TL_PAGE, old), old);
}
END_TEST

START_TEST(test_VirtualProtect__malloc_buffer_protect_and_restore)
{
	unsigned char *buf = aligned_alloc(TL_PAGE, 3 * TL_PAGE), *pg = buf + TL_PAGE;
	DWORD old;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, 3 * TL_PAGE);
	old = tl_protect(pg, TL_PAGE, RO);
	/* valgrind's heap is mapped read-write-execute. */
	ck_assert(old == RW || (tl_valgrind() && old == PAGE_EXECUTE_READWRITE));
	/* (PAGE_NOACCESS would read back as MEM_RESERVE: the kernel's map cannot
	 * tell a PROT_NONE page from a reservation.) */
	ck_assert_uint_eq(tl_query(pg).State, MEM_COMMIT);
	assert_protect(pg, RO);
	tl_fault_begin(RW);
	tl_write(pg + 5, 2);
	tl_fault_end();
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.info0, 1);
	ck_assert_int_eq(pg[5], 2);
	ck_assert_uint_eq(tl_protect(pg, TL_PAGE, old), RW);
	free(buf);
}
END_TEST

START_TEST(test_VirtualProtect__foreign_guard_not_supported)
{
	unsigned char *pg = bss_pages + 2 * TL_PAGE;
	DWORD old;

	ck_assert_false_error(VirtualProtect(pg, TL_PAGE, RW | PAGE_GUARD, &old), ERROR_NOT_SUPPORTED);
	pg[0] = 1;
}
END_TEST

START_TEST(test_VirtualProtect__foreign_unmapped_rejected)
{
	uintptr_t a = tl_free_range(TL_GRAN);
	void *m = mmap((void *)a, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	DWORD old;

	ck_assert_ptr_eq(m, (void *)a);
	/* The mapped page, then a hole after it. */
	ck_assert_false_error(VirtualProtect(m, 2 * TL_PAGE, RW, &old), ERROR_INVALID_ADDRESS);
	ck_assert_uint_eq(tl_protect(m, TL_PAGE, RW), RO);
	munmap(m, TL_PAGE);
}
END_TEST

/* ---- injected failure ---- */

START_TEST(test_VirtualProtect__mprotect_failure_keeps_old_state)
{
	char *p = tl_commit_new(2 * TL_PAGE, RW);
	DWORD old = 0x77;

	p[0] = 1;
	tl_inject_n(TL_MPROTECT, ENOMEM, 0, 1);
	ck_assert_false_error(VirtualProtect(p, 2 * TL_PAGE, PAGE_NOACCESS, &old),
	                      ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_uint_ge(tl_calls(TL_MPROTECT), 1);
	tl_inject_reset();
	ck_assert_uint_eq(old, 0x77);
	assert_protect(p, RW);
	ck_assert_uint_eq(tl_query(p).RegionSize, 2 * TL_PAGE);
	tl_fault_begin(0);
	p[1] = tl_read(p);
	tl_fault_end();
	ck_assert_int_eq(tl_fault.count, 0);
	ck_assert_int_eq(p[1], 1);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__mprotect_eperm_on_foreign_memory)
{
	unsigned char *pg = bss_pages + 3 * TL_PAGE;
	DWORD old = 0x77;

	tl_inject(TL_MPROTECT, EACCES, 0);
	ck_assert_false_error(VirtualProtect(pg, TL_PAGE, PAGE_EXECUTE_READ, &old),
	                      ERROR_ACCESS_DENIED);
	tl_inject_reset();
	ck_assert_uint_eq(old, 0x77);
	pg[0] = 1;
}
END_TEST

/* ---- Ex and FromApp ---- */

START_TEST(test_VirtualProtectEx__current_process)
{
	char *p = tl_commit_new(TL_PAGE, RW);
	HANDLE self = OpenProcess(PROCESS_VM_OPERATION, FALSE, GetCurrentProcessId());
	DWORD old;

	ck_assert(VirtualProtectEx(GetCurrentProcess(), p, TL_PAGE, RO, &old));
	ck_assert_uint_eq(old, RW);
	ck_assert_ptr_nonnull(self);
	ck_assert(VirtualProtectEx(self, p, TL_PAGE, RW, &old));
	ck_assert_uint_eq(old, RO);
	ck_assert(CloseHandle(self));
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtectEx__handle_errors)
{
	char *p = tl_commit_new(TL_PAGE, RW);
	HANDLE q = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, GetCurrentProcessId());
	struct tl_child c;
	HANDLE h;
	DWORD old;

	ck_assert_false_error(VirtualProtectEx(NULL, p, TL_PAGE, RO, &old), ERROR_INVALID_HANDLE);
	ck_assert_false_error(VirtualProtectEx(q, p, TL_PAGE, RO, &old), ERROR_ACCESS_DENIED);
	tl_child_start(&c, TL_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	h = OpenProcess(PROCESS_ALL_ACCESS, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	ck_assert_false_error(VirtualProtectEx(h, c.addr, TL_PAGE, RO, &old), ERROR_NOT_SUPPORTED);
	ck_assert(CloseHandle(h));
	ck_assert(CloseHandle(q));
	tl_child_stop(&c);
	assert_protect(p, RW);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtectFromApp__changes_protection)
{
	char *p = tl_commit_new(TL_PAGE, RW);
	ULONG old = 0;

	ck_assert(VirtualProtectFromApp(p, TL_PAGE, RO, &old));
	ck_assert_uint_eq(old, RW);
	assert_protect(p, RO);
	ck_assert_false_error(VirtualProtectFromApp(p, TL_PAGE, RO, NULL), ERROR_NOACCESS);
	tl_release(p);
}
END_TEST

static Suite *make_protect_suite(void)
{
	Suite *s = suite_create("protect");
	TCase *tc;

	tc = tcase_create("own");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualProtect__returns_old_protection);
	tcase_add_test(tc, test_VirtualProtect__returns_old_guard);
	tcase_add_test(tc, test_VirtualProtect__old_is_first_pages);
	tcase_add_test(tc, test_VirtualProtect__unaligned_range_covers_pages);
	tcase_add_test(tc, test_VirtualProtect__null_old_rejected);
	tcase_add_test(tc, test_VirtualProtect__reserved_pages_rejected);
	tcase_add_test(tc, test_VirtualProtect__free_memory_rejected);
	tcase_add_test(tc, test_VirtualProtect__range_spanning_two_allocations_rejected);
	tcase_add_loop_test(tc, test_VirtualProtect__invalid_protection_rejected, 0,
	                    (int)(sizeof bad_protections / sizeof bad_protections[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("effect");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualProtect__readonly_write_faults);
	tcase_add_test(tc, test_VirtualProtect__noaccess_read_faults);
	tcase_add_test(tc, test_VirtualProtect__raised_protection_allows_write);
	if (tl_forking())
		tcase_add_test_raise_signal(tc, test_VirtualProtect__readonly_write_unhandled_kills, SIGSEGV);
	suite_add_tcase(s, tc);

	tc = tcase_create("foreign");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualProtect__static_array_protect_and_restore);
	tcase_add_test(tc, test_VirtualProtect__malloc_buffer_protect_and_restore);
	tcase_add_test(tc, test_VirtualProtect__foreign_guard_not_supported);
	tcase_add_test(tc, test_VirtualProtect__foreign_unmapped_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("inject");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualProtect__mprotect_failure_keeps_old_state);
	tcase_add_test(tc, test_VirtualProtect__mprotect_eperm_on_foreign_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("variants");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualProtectEx__current_process);
	tcase_add_test(tc, test_VirtualProtectEx__handle_errors);
	tcase_add_test(tc, test_VirtualProtectFromApp__changes_protection);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_protect_suite)
