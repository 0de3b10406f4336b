/* Faults as Windows exceptions: AddVectoredExceptionHandler,
 * RemoveVectoredExceptionHandler, RaiseException and the SIGSEGV/SIGBUS
 * handler (access kinds, guard pages, continuing, unhandled faults, and a
 * fault storm against a busy library). */
#include "testlib.h"
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RW PAGE_READWRITE
#define RO PAGE_READONLY

static void fault_teardown(void)
{
	tl_fault_end();
	tl_teardown();
}

/* A 3-byte store (c6 07 01) whose length the handlers know. */
__attribute__((noinline)) static void store3(volatile char *p)
{
	__asm__ volatile("movb $1, (%0)" : : "D"(p) : "memory");
}

/* ---- access kinds ---- */

START_TEST(test_fault__read_reports_0_and_address)
{
	char *p = tl_commit_new(TL_PAGE, PAGE_NOACCESS);

	tl_fault_begin(RO);
	ck_assert_int_eq(tl_read(p + 33), 0);
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.code, EXCEPTION_ACCESS_VIOLATION);
	ck_assert_uint_eq(tl_fault.info0, 0);
	ck_assert_ptr_eq((void *)tl_fault.info1, p + 33);
	tl_release(p);
}
END_TEST

START_TEST(test_fault__write_reports_1_and_address)
{
	char *p = tl_commit_new(TL_PAGE, RO);

	tl_fault_begin(RW);
	tl_write(p + 100, 5);
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.code, EXCEPTION_ACCESS_VIOLATION);
	ck_assert_uint_eq(tl_fault.info0, 1);
	ck_assert_ptr_eq((void *)tl_fault.info1, p + 100);
	ck_assert_int_eq(p[100], 5);
	tl_release(p);
}
END_TEST

START_TEST(test_fault__execute_reports_8)
{
	unsigned char *p = tl_commit_new(TL_PAGE, RW);
	void (*fn)(void);

	p[0] = 0xc3;                    /* ret */
	fn = (void (*)(void))(uintptr_t)p;
	tl_fault_begin(PAGE_EXECUTE_READ);
	fn();
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.code, EXCEPTION_ACCESS_VIOLATION);
	/* valgrind's own SIGSEGV carries no page-fault error code, so the
	 * execute bit is not visible there. */
	if (!tl_valgrind())
		ck_assert_uint_eq(tl_fault.info0, 8);
	ck_assert_ptr_eq((void *)tl_fault.info1, p);
	ck_assert_uint_eq(tl_query(p).Protect, PAGE_EXECUTE_READ);
	tl_release(p);
}
END_TEST

/* A read of PAGE_EXECUTE memory: where the kernel makes it execute-only
 * (protection keys) the read faults, and that is an access violation at
 * once, with no retries; elsewhere the read just works. */
START_TEST(test_fault__read_of_execute_only_page)
{
	unsigned char *p = tl_commit_new(TL_PAGE, RW);
	memapi_counters before, after;
	DWORD old;

	p[7] = 0x5a;
	tl_protect(p, TL_PAGE, PAGE_EXECUTE);
	tl_fault_begin(PAGE_EXECUTE_READ);
	ck_assert_int_eq(memapi_get_counters(&before), 0);
	ck_assert_int_eq(tl_read(p + 7), 0x5a);
	ck_assert_int_eq(memapi_get_counters(&after), 0);
	if (tl_fault.count) {
		ck_assert_int_eq(tl_fault.count, 1);
		ck_assert_uint_eq(tl_fault.code, EXCEPTION_ACCESS_VIOLATION);
		ck_assert_uint_eq(tl_fault.info0, 0);
		ck_assert_uint_eq(after.faults - before.faults, 1);      /* no retry loop */
	}
	ck_assert(VirtualProtect(p, TL_PAGE, PAGE_READWRITE, &old));
	tl_release(p);
}
END_TEST

START_TEST(test_fault__foreign_memory_reported)
{
	char *m = mmap(NULL, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(m, MAP_FAILED);
	tl_fault_begin(RW);
	tl_write(m + 1, 9);
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.info0, 1);
	ck_assert_ptr_eq((void *)tl_fault.info1, m + 1);
	ck_assert_int_eq(m[1], 9);
	munmap(m, TL_PAGE);
}
END_TEST

/* ---- guard pages ---- */

START_TEST(test_fault__guard_is_one_shot)
{
	char *p = tl_commit_new(2 * TL_PAGE, RW | PAGE_GUARD);
	memapi_counters before, after;

	memapi_get_counters(&before);
	tl_fault_begin(RW);
	tl_write(p + 8, 1);
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.code, STATUS_GUARD_PAGE_VIOLATION);
	ck_assert_uint_eq(tl_fault.info0, 1);
	ck_assert_ptr_eq((void *)tl_fault.info1, p + 8);
	/* Cleared before the handler ran, and only on the page touched. */
	ck_assert_uint_eq(tl_fault.mbi.Protect, RW);
	ck_assert_uint_eq(tl_query(p + TL_PAGE).Protect, RW | PAGE_GUARD);
	tl_write(p + 9, 2);
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_int_eq(p[8] + p[9], 3);
	memapi_get_counters(&after);
	ck_assert_uint_eq(after.guard_hits, before.guard_hits + 1);
	tl_release(p);
}
END_TEST

START_TEST(test_fault__guard_read_then_rearm)
{
	char *p = tl_commit_new(TL_PAGE, RO | PAGE_GUARD);

	tl_fault_begin(RO);
	ck_assert_int_eq(tl_read(p), 0);
	ck_assert_uint_eq(tl_fault.code, STATUS_GUARD_PAGE_VIOLATION);
	ck_assert_uint_eq(tl_fault.info0, 0);
	ck_assert_uint_eq(tl_protect(p, TL_PAGE, RO | PAGE_GUARD), RO);
	tl_read(p);
	ck_assert_int_eq(tl_fault.count, 2);
	tl_release(p);
}
END_TEST

START_TEST(test_fault__guard_unhandled_kills)
{
	char *p = tl_commit_new(TL_PAGE, RW | PAGE_GUARD);

	tl_write(p, 1);
}
END_TEST

START_TEST(test_fault__violation_unhandled_kills)
{
	char *p = tl_commit_new(TL_PAGE, PAGE_NOACCESS);

	tl_fault_begin(0);              /* a handler that declines */
	tl_read(p);
}
END_TEST

/* ---- continuing ---- */

static volatile int skipped;   /* changed by handlers the compiler cannot see */

static LONG CALLBACK skip_instruction(PEXCEPTION_POINTERS ep)
{
	if (ep->ContextRecord->Rip != (DWORD64)(uintptr_t)ep->ExceptionRecord->ExceptionAddress)
		return EXCEPTION_CONTINUE_SEARCH;
	skipped++;
	ep->ContextRecord->Rip += 3;
	return EXCEPTION_CONTINUE_EXECUTION;
}

START_TEST(test_fault__handler_skips_instruction)
{
	char *p = tl_commit_new(TL_PAGE, RO);
	PVOID h = AddVectoredExceptionHandler(1, skip_instruction);

	skipped = 0;
	store3(p);
	store3(p + 1);
	ck_assert_int_eq(skipped, 2);
	ck_assert_int_eq(p[0] + p[1], 0);
	ck_assert_uint_eq(RemoveVectoredExceptionHandler(h), 1);
	tl_release(p);
}
END_TEST

static LONG CALLBACK protect_and_continue(PEXCEPTION_POINTERS ep)
{
	DWORD old;

	if (!VirtualProtect((void *)ep->ExceptionRecord->ExceptionInformation[1], 1, RW, &old))
		return EXCEPTION_CONTINUE_SEARCH;
	return EXCEPTION_CONTINUE_EXECUTION;
}

START_TEST(test_fault__handler_protects_and_continues)
{
	char *p = tl_commit_new(4 * TL_PAGE, PAGE_NOACCESS);
	PVOID h = AddVectoredExceptionHandler(0, protect_and_continue);

	for (int i = 0; i < 4; i++)
		tl_write(p + i * TL_PAGE, (unsigned char)(i + 1));
	ck_assert_int_eq(p[3 * TL_PAGE], 4);
	ck_assert_uint_eq(tl_query(p).Protect, RW);
	ck_assert_uint_eq(tl_query(p).RegionSize, 4 * TL_PAGE);
	RemoveVectoredExceptionHandler(h);
	tl_release(p);
}
END_TEST


START_TEST(test_fault__sigbus_is_in_page_error)
{
	char path[] = "/tmp/check_fault.XXXXXX";
	int fd = mkstemp(path);
	char *m;
	PVOID h;

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, (off_t)TL_PAGE), 0);
	m = mmap(NULL, 2 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	tl_fault_begin(0);
	h = AddVectoredExceptionHandler(0, skip_instruction);
	skipped = 0;
	store3(m + TL_PAGE);            /* past the end of the file */
	ck_assert_int_eq(skipped, 1);
	ck_assert_uint_eq(tl_fault.code, EXCEPTION_IN_PAGE_ERROR);
	ck_assert_ptr_eq((void *)tl_fault.info1, m + TL_PAGE);
	RemoveVectoredExceptionHandler(h);
	munmap(m, 2 * TL_PAGE);
	close(fd);
}
END_TEST

/* ---- handler list ---- */

static char order[8];
static int order_n;

static LONG record_order(char id, LONG verdict)
{
	if (order_n < (int)sizeof order - 1)
		order[order_n++] = id;
	return verdict;
}

static LONG CALLBACK h_a(PEXCEPTION_POINTERS ep) { (void)ep; return record_order('a', EXCEPTION_CONTINUE_SEARCH); }
static LONG CALLBACK h_b(PEXCEPTION_POINTERS ep) { (void)ep; return record_order('b', EXCEPTION_CONTINUE_SEARCH); }
static LONG CALLBACK h_c(PEXCEPTION_POINTERS ep) { (void)ep; return record_order('c', EXCEPTION_CONTINUE_EXECUTION); }

START_TEST(test_AddVectoredExceptionHandler__first_goes_first)
{
	PVOID c = AddVectoredExceptionHandler(0, h_c);
	PVOID a = AddVectoredExceptionHandler(0, h_a);
	PVOID b = AddVectoredExceptionHandler(1, h_b);

	order_n = 0;
	memset(order, 0, sizeof order);
	RaiseException(0xE0000001, 0, 0, NULL);
	/* b was added first-in-line; a after c, so c handles before a runs. */
	ck_assert_str_eq(order, "bc");
	ck_assert_uint_eq(RemoveVectoredExceptionHandler(c), 1);
	order_n = 0;
	memset(order, 0, sizeof order);
	c = AddVectoredExceptionHandler(0, h_c);
	RaiseException(0xE0000001, 0, 0, NULL);
	ck_assert_str_eq(order, "bac");
	ck_assert_uint_eq(RemoveVectoredExceptionHandler(a), 1);
	ck_assert_uint_eq(RemoveVectoredExceptionHandler(b), 1);
	ck_assert_uint_eq(RemoveVectoredExceptionHandler(c), 1);
}
END_TEST

START_TEST(test_RemoveVectoredExceptionHandler__unknown_handle)
{
	PVOID a = AddVectoredExceptionHandler(0, h_a);
	int local;

	ck_assert_uint_eq(RemoveVectoredExceptionHandler(&local), 0);
	ck_assert_uint_eq(RemoveVectoredExceptionHandler(NULL), 0);
	ck_assert_uint_eq(RemoveVectoredExceptionHandler(a), 1);
	ck_assert_uint_eq(RemoveVectoredExceptionHandler(a), 0);
}
END_TEST

START_TEST(test_AddVectoredExceptionHandler__null_rejected)
{
	ck_assert_null_error(AddVectoredExceptionHandler(1, NULL), ERROR_INVALID_PARAMETER);
}
END_TEST

/* ---- RaiseException ---- */

static EXCEPTION_RECORD raised;

static LONG CALLBACK keep_record(PEXCEPTION_POINTERS ep)
{
	raised = *ep->ExceptionRecord;
	return EXCEPTION_CONTINUE_EXECUTION;
}

START_TEST(test_RaiseException__reaches_handler_with_arguments)
{
	ULONG_PTR args[3] = { 11, 22, (ULONG_PTR)-1 };
	PVOID h = AddVectoredExceptionHandler(1, keep_record);

	memset(&raised, 0, sizeof raised);
	RaiseException(0xE0424242, 0, 3, args);
	ck_assert_uint_eq(raised.ExceptionCode, 0xE0424242);
	ck_assert_uint_eq(raised.ExceptionFlags, 0);
	ck_assert_uint_eq(raised.NumberParameters, 3);
	ck_assert_uint_eq(raised.ExceptionInformation[0], 11);
	ck_assert_uint_eq(raised.ExceptionInformation[1], 22);
	ck_assert_uint_eq(raised.ExceptionInformation[2], (ULONG_PTR)-1);
	ck_assert_ptr_nonnull(raised.ExceptionAddress);
	RemoveVectoredExceptionHandler(h);
}
END_TEST

START_TEST(test_RaiseException__arguments_capped_at_15)
{
	ULONG_PTR args[20];
	PVOID h = AddVectoredExceptionHandler(1, keep_record);

	for (int i = 0; i < 20; i++)
		args[i] = (ULONG_PTR)i;
	RaiseException(0xE0000002, 0, 20, args);
	ck_assert_uint_eq(raised.NumberParameters, EXCEPTION_MAXIMUM_PARAMETERS);
	ck_assert_uint_eq(raised.ExceptionInformation[14], 14);
	RaiseException(0xE0000003, 0, 2, NULL);
	ck_assert_uint_eq(raised.NumberParameters, 0);
	RemoveVectoredExceptionHandler(h);
}
END_TEST

START_TEST(test_RaiseException__unhandled_aborts)
{
	RaiseException(0xE0000004, 0, 0, NULL);
}
END_TEST

START_TEST(test_RaiseException__noncontinuable_continued_aborts)
{
	AddVectoredExceptionHandler(1, keep_record);
	RaiseException(0xE0000005, EXCEPTION_NONCONTINUABLE, 0, NULL);
}
END_TEST

/* ---- a fault storm while another thread keeps the library busy ---- */

static atomic_bool storm_done;

static void *busy_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&storm_done)) {
		char *p = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW);
		DWORD old;

		if (!p)
			continue;
		p[0] = 1;
		VirtualProtect(p, TL_PAGE, RO | PAGE_GUARD, &old);
		VirtualFree(p, 0, MEM_RELEASE);
	}
	return NULL;
}

static LONG CALLBACK count_guard(PEXCEPTION_POINTERS ep)
{
	return ep->ExceptionRecord->ExceptionCode == STATUS_GUARD_PAGE_VIOLATION ?
	       EXCEPTION_CONTINUE_EXECUTION : EXCEPTION_CONTINUE_SEARCH;
}

START_TEST(test_fault__guard_storm_while_library_busy)
{
	int rounds = tl_valgrind() ? 300 : 5000, pages = 16;
	char *p = tl_commit_new((SIZE_T)pages * TL_PAGE, RW);
	PVOID h = AddVectoredExceptionHandler(1, count_guard);
	memapi_counters before, after;
	pthread_t t;

	alarm(tl_valgrind() ? 120 : 20);        /* a deadlock ends the test */
	memapi_get_counters(&before);
	atomic_store(&storm_done, false);
	ck_assert_int_eq(pthread_create(&t, NULL, busy_thread, NULL), 0);
	for (int i = 0; i < rounds; i++) {
		char *pg = p + (size_t)(i % pages) * TL_PAGE;

		tl_protect(pg, TL_PAGE, RW | PAGE_GUARD);
		tl_write(pg, (unsigned char)i);
	}
	atomic_store(&storm_done, true);
	pthread_join(t, NULL);
	alarm(0);
	memapi_get_counters(&after);
	ck_assert_uint_ge(after.guard_hits - before.guard_hits, (uint64_t)rounds);
	ck_assert_uint_eq(tl_query(p).Protect, RW);
	RemoveVectoredExceptionHandler(h);
	tl_release(p);
}
END_TEST

/* Threads reserving, committing, decommitting, guarding, querying and
 * reading write watch at once, each on its own allocations: every call
 * must succeed where it should, and every guard hit must be delivered. */
struct stress {
	unsigned seed;
	long     ops, guards_set;
	int      failed;
};

static volatile LONG stress_hits;
static atomic_int stress_stop;

static LONG CALLBACK stress_handler(EXCEPTION_POINTERS *ep)
{
	if (ep->ExceptionRecord->ExceptionCode != STATUS_GUARD_PAGE_VIOLATION)
		return EXCEPTION_CONTINUE_SEARCH;
	__atomic_add_fetch(&stress_hits, 1, __ATOMIC_RELAXED);
	return EXCEPTION_CONTINUE_EXECUTION;
}

static void stress_step(struct stress *st, char *p, size_t n, bool watch)
{
	size_t a = rand_r(&st->seed) % n, c = 1 + rand_r(&st->seed) % (n - a);
	MEMORY_BASIC_INFORMATION m;

	switch (rand_r(&st->seed) % 5) {
	case 0:
		st->failed |= !VirtualAlloc(p + a * TL_PAGE, c * TL_PAGE, MEM_COMMIT, PAGE_READWRITE);
		memset(p + a * TL_PAGE, 1, c * TL_PAGE);
		break;
	case 1:
		st->failed |= !VirtualFree(p + a * TL_PAGE, c * TL_PAGE, MEM_DECOMMIT);
		break;
	case 2:
		st->failed |= !VirtualAlloc(p + a * TL_PAGE, c * TL_PAGE, MEM_COMMIT,
		                            PAGE_READWRITE | PAGE_GUARD);
		tl_write(p + a * TL_PAGE, 1);   /* hits the guard once */
		tl_write(p + a * TL_PAGE, 2);
		st->guards_set++;
		break;
	case 3:
		st->failed |= VirtualQuery(p + a * TL_PAGE, &m, sizeof m) != sizeof m;
		break;
	default:
		if (watch) {
			PVOID out[32];
			ULONG_PTR k = 32;
			DWORD g;

			st->failed |= GetWriteWatch(WRITE_WATCH_FLAG_RESET, p, n * TL_PAGE,
			                            out, &k, &g) != 0;
		}
	}
	st->ops++;
}

static void *stress_thread(void *arg)
{
	struct stress *st = arg;

	while (!atomic_load(&stress_stop) && !st->failed) {
		size_t n = 1 + rand_r(&st->seed) % 32;
		bool watch = rand_r(&st->seed) % 2;
		char *p = VirtualAlloc(NULL, n * TL_PAGE, MEM_RESERVE | (watch ? MEM_WRITE_WATCH : 0),
		                       PAGE_READWRITE);

		if (!p) {
			st->failed = 1;
			break;
		}
		for (int k = 0; k < 16; k++)
			stress_step(st, p, n, watch);
		st->failed |= !VirtualFree(p, 0, MEM_RELEASE);
	}
	return NULL;
}

START_TEST(test_VirtualAlloc__threads_stress)
{
	struct stress st[3] = { { 1, 0, 0, 0 }, { 2, 0, 0, 0 }, { 3, 0, 0, 0 } };
	pthread_t t[3];
	PVOID h = AddVectoredExceptionHandler(1, stress_handler);
	long guards = 0;

	stress_hits = 0;
	atomic_store(&stress_stop, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, stress_thread, &st[i]), 0);
	usleep(500 * 1000);
	atomic_store(&stress_stop, 1);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(!st[i].failed, "thread %d: a call failed (last error of that thread)", i);
		ck_assert_int_gt(st[i].ops, 0);
		guards += st[i].guards_set;
	}
	RemoveVectoredExceptionHandler(h);
	ck_assert_int_eq(stress_hits, guards);
}
END_TEST

static Suite *make_fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc;

	tc = tcase_create("access");
	tcase_add_checked_fixture(tc, tl_setup, fault_teardown);
	tcase_add_test(tc, test_fault__read_reports_0_and_address);
	tcase_add_test(tc, test_fault__write_reports_1_and_address);
	tcase_add_test(tc, test_fault__execute_reports_8);
	tcase_add_test(tc, test_fault__read_of_execute_only_page);
	tcase_add_test(tc, test_fault__foreign_memory_reported);
	tcase_add_test(tc, test_fault__handler_skips_instruction);
	tcase_add_test(tc, test_fault__handler_protects_and_continues);
	tcase_add_test(tc, test_fault__sigbus_is_in_page_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("guard");
	tcase_add_checked_fixture(tc, tl_setup, fault_teardown);
	tcase_add_test(tc, test_fault__guard_is_one_shot);
	tcase_add_test(tc, test_fault__guard_read_then_rearm);
	suite_add_tcase(s, tc);

	tc = tcase_create("handlers");
	tcase_add_checked_fixture(tc, tl_setup, fault_teardown);
	tcase_add_test(tc, test_AddVectoredExceptionHandler__first_goes_first);
	tcase_add_test(tc, test_RemoveVectoredExceptionHandler__unknown_handle);
	tcase_add_test(tc, test_AddVectoredExceptionHandler__null_rejected);
	tcase_add_test(tc, test_RaiseException__reaches_handler_with_arguments);
	tcase_add_test(tc, test_RaiseException__arguments_capped_at_15);
	suite_add_tcase(s, tc);

	/* Tests that end the process need a fork per test. */
	if (tl_forking()) {
		tc = tcase_create("fatal");
		tcase_add_test_raise_signal(tc, test_fault__guard_unhandled_kills, SIGSEGV);
		tcase_add_test_raise_signal(tc, test_fault__violation_unhandled_kills, SIGSEGV);
		tcase_add_test_raise_signal(tc, test_RaiseException__unhandled_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, test_RaiseException__noncontinuable_continued_aborts, SIGABRT);
		suite_add_tcase(s, tc);
	}

	/* Threads faulting while others map and unmap: valgrind 3.19 kills
	 * such a process now and then (SIGKILL to the whole process group,
	 * no report; seen also at the commit that added the storm test), so
	 * these two run natively and under ASan only. */
	if (tl_valgrind())
		return s;
	tc = tcase_create("stress");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_VirtualAlloc__threads_stress);
	suite_add_tcase(s, tc);

	tc = tcase_create("storm");
	tcase_add_checked_fixture(tc, tl_setup, fault_teardown);
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, test_fault__guard_storm_while_library_busy);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_fault_suite)
