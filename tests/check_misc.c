/* The rest of the virtual-memory API: locking, discard/offer/reclaim,
 * prefetch, call targets, system information, last error, handles,
 * OpenProcess, and the native introspection API with the forensic root. */
#include "testlib.h"
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define RW PAGE_READWRITE
#define XR PAGE_EXECUTE_READ

/* ---- VirtualLock / VirtualUnlock ---- */

START_TEST(test_VirtualLock__lock_then_unlock)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	ck_assert(VirtualLock(p + 10, 2 * TL_PAGE));
	ck_assert(VirtualUnlock(p, 3 * TL_PAGE));
	ck_assert_false_error(VirtualUnlock(p, TL_PAGE), ERROR_NOT_LOCKED);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualUnlock__unlocked_pages_rejected)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	ck_assert_false_error(VirtualUnlock(p, TL_PAGE), ERROR_NOT_LOCKED);
	ck_assert(VirtualLock(p, TL_PAGE));
	/* Part of the range was never locked. */
	ck_assert_false_error(VirtualUnlock(p, 2 * TL_PAGE), ERROR_NOT_LOCKED);
	ck_assert(VirtualUnlock(p, TL_PAGE));
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualLock__reserved_pages_rejected)
{
	char *p = tl_reserve(TL_GRAN);

	tl_commit(p, TL_PAGE, RW);
	ck_assert_false_error(VirtualLock(p + TL_PAGE, TL_PAGE), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(VirtualLock(p, 2 * TL_PAGE), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(VirtualUnlock(p + TL_PAGE, TL_PAGE), ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualLock__noaccess_rejected)
{
	char *p = tl_commit_new(TL_PAGE, PAGE_NOACCESS);

	ck_assert_false_error(VirtualLock(p, TL_PAGE), ERROR_NOACCESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualLock__stack_buffer)
{
	char buf[3 * 4096];

	memset(buf, 1, sizeof buf);
	ck_assert(VirtualLock(buf, sizeof buf));
	ck_assert(VirtualUnlock(buf, sizeof buf));
	ck_assert_false_error(VirtualUnlock(buf, sizeof buf), ERROR_NOT_LOCKED);
}
END_TEST

START_TEST(test_VirtualLock__mlock_failure_is_quota)
{
	static const int errs[] = { ENOMEM, EAGAIN };
	char *p = tl_commit_new(TL_PAGE, RW);

	tl_inject(TL_MLOCK, errs[_i], 0);
	ck_assert_false_error(VirtualLock(p, TL_PAGE), ERROR_WORKING_SET_QUOTA);
	tl_inject_reset();
	ck_assert_false_error(VirtualUnlock(p, TL_PAGE), ERROR_NOT_LOCKED);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualLock__foreign_mlock_failure_is_quota)
{
	char buf[4096];

	memset(buf, 0, sizeof buf);
	tl_inject(TL_MLOCK, EAGAIN, 0);
	ck_assert_false_error(VirtualLock(buf, sizeof buf), ERROR_WORKING_SET_QUOTA);
	tl_inject_reset();
	ck_assert_false_error(VirtualUnlock(buf, sizeof buf), ERROR_NOT_LOCKED);
}
END_TEST

/* ---- Discard, Offer, Reclaim, Prefetch ---- */

START_TEST(test_DiscardVirtualMemory__pages_stay_committed)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	memset(p, 9, 4 * TL_PAGE);
	ck_assert_uint_eq(DiscardVirtualMemory(p, 4 * TL_PAGE), ERROR_SUCCESS);
	ck_assert_uint_eq(tl_query(p).State, MEM_COMMIT);
	ck_assert_uint_eq(tl_query(p).RegionSize, 4 * TL_PAGE);
	ck_assert(p[0] == 0 || p[0] == 9);
	p[TL_PAGE] = 3;
	ck_assert_int_eq(p[TL_PAGE], 3);
	tl_release(p);
}
END_TEST

START_TEST(test_DiscardVirtualMemory__reserved_rejected)
{
	char *p = tl_reserve(TL_GRAN);

	ck_assert_uint_eq(DiscardVirtualMemory(p, TL_PAGE), ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

START_TEST(test_OfferVirtualMemory__bad_arguments)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	ck_assert_uint_eq(OfferVirtualMemory(p, TL_PAGE, (OFFER_PRIORITY)0), ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(OfferVirtualMemory(p, TL_PAGE, (OFFER_PRIORITY)5), ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(OfferVirtualMemory(p + 1, TL_PAGE, VmOfferPriorityLow), ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(OfferVirtualMemory(p, TL_PAGE + 1, VmOfferPriorityLow), ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(ReclaimVirtualMemory(p + 1, TL_PAGE), ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(ReclaimVirtualMemory(p, 100), ERROR_INVALID_PARAMETER);
	tl_release(p);
}
END_TEST

START_TEST(test_ReclaimVirtualMemory__after_offer)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);
	DWORD r;

	memset(p, 4, 4 * TL_PAGE);
	ck_assert_uint_eq(OfferVirtualMemory(p, 4 * TL_PAGE, VmOfferPriorityVeryLow), ERROR_SUCCESS);
	r = ReclaimVirtualMemory(p, 4 * TL_PAGE);
	ck_assert_msg(r == ERROR_SUCCESS || r == ERROR_BUSY, "reclaim: %lu", (unsigned long)r);
	if (r == ERROR_SUCCESS)
		ck_assert_int_eq(p[3 * TL_PAGE], 4);
	memset(p, 5, 4 * TL_PAGE);
	ck_assert_int_eq(p[4 * TL_PAGE - 1], 5);
	ck_assert_uint_eq(tl_query(p).State, MEM_COMMIT);
	tl_release(p);
}
END_TEST

START_TEST(test_PrefetchVirtualMemory__arguments)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);
	WIN32_MEMORY_RANGE_ENTRY e[2] = { { p, 2 * TL_PAGE }, { p + 3 * TL_PAGE, 1 } };

	ck_assert(PrefetchVirtualMemory(GetCurrentProcess(), 2, e, 0));
	ck_assert_false_error(PrefetchVirtualMemory(GetCurrentProcess(), 2, e, 1), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(PrefetchVirtualMemory(GetCurrentProcess(), 0, e, 0), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(PrefetchVirtualMemory(GetCurrentProcess(), 1, NULL, 0), ERROR_INVALID_PARAMETER);
	tl_release(p);
}
END_TEST

/* ---- call targets ---- */

static int valid_target(const void *a)
{
	int v = -1;

	ck_assert_int_eq(memapi_is_valid_call_target(a, &v), 0);
	return v;
}

static BOOL set_targets(char *p, ULONG_PTR off, ULONG flags, ULONG *out_flags)
{
	CFG_CALL_TARGET_INFO info = { off, flags };
	BOOL ok = SetProcessValidCallTargets(GetCurrentProcess(), p, TL_GRAN, 1, &info);

	if (out_flags)
		*out_flags = (ULONG)info.Flags;
	return ok;
}

START_TEST(test_SetProcessValidCallTargets__targets_invalid_region)
{
	char *p = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, XR | PAGE_TARGETS_INVALID);
	CFG_CALL_TARGET_INFO info[2] = { { 0x10, CFG_CALL_TARGET_VALID }, { 0x1040, CFG_CALL_TARGET_VALID } };

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(tl_query(p).Protect, XR);
	ck_assert_int_eq(valid_target(p), 0);
	ck_assert_int_eq(valid_target(p + 0x10), 0);
	ck_assert(SetProcessValidCallTargets(GetCurrentProcess(), p, TL_GRAN, 2, info));
	ck_assert_uint_eq(info[0].Flags, CFG_CALL_TARGET_VALID | CFG_CALL_TARGET_PROCESSED);
	ck_assert_uint_eq(info[1].Flags, CFG_CALL_TARGET_VALID | CFG_CALL_TARGET_PROCESSED);
	ck_assert_int_eq(valid_target(p + 0x10), 1);
	ck_assert_int_eq(valid_target(p + 0x1040), 1);
	ck_assert_int_eq(valid_target(p + 0x20), 0);
	tl_release(p);
}
END_TEST

START_TEST(test_SetProcessValidCallTargets__errors)
{
	char *x = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, XR | PAGE_TARGETS_INVALID);
	char *d = tl_commit_new(TL_GRAN, RW);
	ULONG f;

	ck_assert_ptr_nonnull(x);
	ck_assert_false_error(set_targets(x, 0x18, CFG_CALL_TARGET_VALID, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(set_targets(x, TL_GRAN, CFG_CALL_TARGET_VALID, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(set_targets(d, 0x10, CFG_CALL_TARGET_VALID, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(SetProcessValidCallTargets(GetCurrentProcess(), x, 0, 0, NULL),
	                      ERROR_INVALID_PARAMETER);
	ck_assert(set_targets(x, 0x30, CFG_CALL_TARGET_VALID, &f));
	ck_assert_uint_ne(f & CFG_CALL_TARGET_PROCESSED, 0);
	tl_release(x);
	tl_release(d);
}
END_TEST

START_TEST(test_VirtualProtect__targets_no_update_keeps_map)
{
	char *p = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, XR | PAGE_TARGETS_INVALID);

	ck_assert_ptr_nonnull(p);
	ck_assert(set_targets(p, 0x10, CFG_CALL_TARGET_VALID, NULL));
	tl_protect(p, TL_PAGE, PAGE_EXECUTE_READWRITE | PAGE_TARGETS_NO_UPDATE);
	ck_assert_uint_eq(tl_query(p).Protect, PAGE_EXECUTE_READWRITE);
	ck_assert_int_eq(valid_target(p + 0x10), 1);
	ck_assert_int_eq(valid_target(p + 0x20), 0);
	/* Without the flag every target of the region becomes valid. */
	tl_protect(p, TL_PAGE, XR);
	ck_assert_int_eq(valid_target(p + 0x20), 1);
	tl_release(p);
}
END_TEST

START_TEST(test_SetProcessValidCallTargets__ordinary_code_valid_until_cleared)
{
	char *p = tl_commit_new(TL_GRAN, XR);
	int v;

	ck_assert_int_eq(valid_target(p + 0x100), 1);
	ck_assert(set_targets(p, 0x100, 0, NULL));
	ck_assert_int_eq(valid_target(p + 0x100), 0);
	ck_assert_int_eq(valid_target(p + 0x110), 1);
	tl_release(p);
	ck_assert_int_eq(memapi_is_valid_call_target(p, &v), ENOENT);
	ck_assert_int_eq(memapi_is_valid_call_target(p, NULL), EINVAL);
}
END_TEST

/* ---- system information ---- */

static void assert_system_info(const SYSTEM_INFO *si)
{
	ck_assert_uint_eq(si->dwPageSize, 4096);
	ck_assert_uint_eq(si->dwAllocationGranularity, 65536);
	ck_assert_ptr_eq(si->lpMinimumApplicationAddress, (void *)0x10000);
	ck_assert_ptr_eq(si->lpMaximumApplicationAddress, (void *)(uintptr_t)0x7FFFFFFEFFFF);
	ck_assert_uint_eq(si->dwNumberOfProcessors, (DWORD)sysconf(_SC_NPROCESSORS_ONLN));
	ck_assert_uint_eq(si->wProcessorArchitecture, PROCESSOR_ARCHITECTURE_AMD64);
	ck_assert_uint_ne(si->dwActiveProcessorMask, 0);
}

START_TEST(test_GetSystemInfo__windows_values)
{
	SYSTEM_INFO si;

	memset(&si, 0xff, sizeof si);
	GetSystemInfo(&si);
	assert_system_info(&si);
	memset(&si, 0xff, sizeof si);
	GetNativeSystemInfo(&si);
	assert_system_info(&si);
}
END_TEST

/* ---- last error ---- */

static void *other_thread(void *arg)
{
	(void)arg;
	if (GetLastError() != 0)
		return (void *)1;
	SetLastError(ERROR_INVALID_HANDLE);
	return (void *)(uintptr_t)(GetLastError() == ERROR_INVALID_HANDLE ? 0 : 2);
}

START_TEST(test_GetLastError__per_thread)
{
	pthread_t t;
	void *r;

	SetLastError(ERROR_NOT_LOCKED);
	ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
	ck_assert_int_eq(pthread_join(t, &r), 0);
	ck_assert_ptr_null(r);
	ck_assert_last_error(ERROR_NOT_LOCKED);
}
END_TEST

/* ---- handles and processes ---- */

START_TEST(test_CloseHandle__pseudo_and_bogus)
{
	ck_assert(CloseHandle(GetCurrentProcess()));
	ck_assert_false_error(CloseHandle(NULL), ERROR_INVALID_HANDLE);
	ck_assert_false_error(CloseHandle((HANDLE)(uintptr_t)0x12345678), ERROR_INVALID_HANDLE);
	ck_assert_false_error(CloseHandle((HANDLE)(uintptr_t)3), ERROR_INVALID_HANDLE);
}
END_TEST

START_TEST(test_CloseHandle__double_and_stale)
{
	HANDLE a = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, GetCurrentProcessId()), b;

	ck_assert_ptr_nonnull(a);
	ck_assert(CloseHandle(a));
	ck_assert_false_error(CloseHandle(a), ERROR_INVALID_HANDLE);
	/* The slot is reused: the old value must not reach the new handle. */
	b = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, GetCurrentProcessId());
	ck_assert_ptr_nonnull(b);
	ck_assert_false_error(CloseHandle(a), ERROR_INVALID_HANDLE);
	ck_assert(CloseHandle(b));
}
END_TEST

START_TEST(test_OpenProcess__bad_pids)
{
	pid_t dead = fork();

	ck_assert_int_ge(dead, 0);
	if (dead == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
	ck_assert_null_error(OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, 0), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, (DWORD)dead),
	                     ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_OpenProcess__own_pid)
{
	HANDLE h = OpenProcess(PROCESS_ALL_ACCESS, FALSE, GetCurrentProcessId());
	MEMORY_BASIC_INFORMATION m;

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(VirtualQueryEx(h, &m, &m, sizeof m), sizeof m);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert(CloseHandle(h));
}
END_TEST

START_TEST(test_OpenProcess__exited_child_denied)
{
	struct tl_child c;
	MEMORY_BASIC_INFORMATION m;
	HANDLE h;

	tl_child_start(&c, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
	h = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	tl_child_stop(&c);
	SetLastError(0);
	ck_assert_uint_eq(VirtualQueryEx(h, c.addr, &m, sizeof m), 0);
	ck_assert_last_error(ERROR_ACCESS_DENIED);
	ck_assert(CloseHandle(h));
}
END_TEST

/* ---- native API and forensic root ---- */

START_TEST(test_memapi_version__current)
{
	ck_assert_uint_eq(memapi_version(), MEMAPI_VERSION);
	ck_assert_uint_eq(memapi_version() >> 16, 1);
}
END_TEST

START_TEST(test_memapi_get_counters__track_allocations)
{
	memapi_counters a, b;
	char *p;

	ck_assert_int_eq(memapi_get_counters(NULL), EINVAL);
	ck_assert_int_eq(memapi_get_counters(&a), 0);
	p = tl_reserve(2 * TL_GRAN);
	tl_commit(p, 3 * TL_PAGE, RW);
	ck_assert_int_eq(memapi_get_counters(&b), 0);
	ck_assert_uint_eq(b.reservations, a.reservations + 1);
	ck_assert_uint_eq(b.reserved_bytes, a.reserved_bytes + 2 * TL_GRAN);
	ck_assert_uint_eq(b.committed_bytes, a.committed_bytes + 3 * TL_PAGE);
	tl_release(p);
	ck_assert_int_eq(memapi_get_counters(&b), 0);
	ck_assert_uint_eq(b.reservations, a.reservations);
	ck_assert_uint_eq(b.committed_bytes, a.committed_bytes);
}
END_TEST

START_TEST(test_memapi_snapshot_regions__lists_runs)
{
	char *p = tl_reserve(TL_GRAN);
	memapi_region_info *v = NULL;
	size_t n = 0, hits = 0;

	tl_commit(p + TL_PAGE, TL_PAGE, PAGE_READONLY);
	ck_assert_int_eq(memapi_snapshot_regions(NULL, &n), EINVAL);
	ck_assert_int_eq(memapi_snapshot_regions(&v, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (v[i].allocation_base != (uintptr_t)p)
			continue;
		hits++;
		ck_assert_uint_eq(v[i].type, MEM_PRIVATE);
		ck_assert_uint_eq(v[i].allocation_protect, RW);
		if (v[i].base == (uintptr_t)p + TL_PAGE) {
			ck_assert_uint_eq(v[i].state, MEM_COMMIT);
			ck_assert_uint_eq(v[i].protect, PAGE_READONLY);
			ck_assert_uint_eq(v[i].size, TL_PAGE);
		}
		if (i > 0)
			ck_assert_uint_gt(v[i].base, v[i - 1].base);
	}
	ck_assert_uint_eq(hits, 3);
	memapi_free(v);
	tl_release(p);
}
END_TEST

START_TEST(test_memapi_root__header)
{
	tl_release(tl_reserve(TL_GRAN));        /* the library is initialised */
	ck_assert_uint_eq(memapi_root.magic, MEMAPI_ROOT_MAGIC);
	ck_assert(!memcmp(&memapi_root.magic, "MEMAPIR1", 8));
	ck_assert_uint_eq(memapi_root.layout, MEMAPI_ROOT_LAYOUT);
	ck_assert_uint_eq(memapi_root.size, sizeof(struct memapi_root));
	ck_assert_uint_eq(memapi_root.page_size, TL_PAGE);
	ck_assert_uint_eq(memapi_root.granularity, TL_GRAN);
	ck_assert_uint_eq(memapi_root.generation % 2, 0);
}
END_TEST

START_TEST(test_memapi_root__walk_matches_snapshot)
{
	char *a = tl_reserve(TL_GRAN), *b = tl_commit_new(3 * TL_PAGE, RW);
	memapi_region_info *v;
	size_t n, k = 0, regions = 0;
	uint64_t gen = memapi_root.generation;

	tl_protect(b + TL_PAGE, TL_PAGE, PAGE_READONLY);
	ck_assert_uint_gt(memapi_root.generation, gen);
	ck_assert_uint_eq(memapi_root.generation % 2, 0);
	ck_assert_int_eq(memapi_snapshot_regions(&v, &n), 0);
	for (const struct memapi_rec_region *r = memapi_root.regions; r; r = r->next, regions++) {
		if (r->next)
			ck_assert_uint_gt(r->next->base, r->base);
		ck_assert_uint_ge(r->run_count, 1);
		for (uint64_t j = 0; j < r->run_count; j++, k++) {
			ck_assert_uint_lt(k, n);
			ck_assert_uint_eq(v[k].allocation_base, r->base);
			ck_assert_uint_eq(v[k].base, r->base + r->runs[j].first_page * TL_PAGE);
			ck_assert_uint_eq(v[k].size, r->runs[j].page_count * TL_PAGE);
			ck_assert_uint_eq(v[k].state, r->runs[j].state);
			ck_assert_uint_eq(v[k].protect, r->runs[j].protect);
		}
	}
	ck_assert_uint_eq(k, n);
	ck_assert_uint_eq(regions, memapi_root.region_count);
	ck_assert_uint_ge(regions, 2);
	memapi_free(v);
	tl_release(a);
	tl_release(b);
}
END_TEST


/* ---- regressions: behaviours fixed after the first review ---- */

START_TEST(test_VirtualAlloc__reset_undo_readonly_and_guard_pages)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	p[0] = 1;
	p[TL_PAGE] = 2;
	p[2 * TL_PAGE] = 3;
	tl_protect(p, TL_PAGE, PAGE_READONLY);
	tl_protect(p + TL_PAGE, TL_PAGE, PAGE_NOACCESS);
	tl_protect(p + 2 * TL_PAGE, TL_PAGE, RW | PAGE_GUARD);
	ck_assert_ptr_eq(VirtualAlloc(p, 4 * TL_PAGE, MEM_RESET, RW), p);
	/* Undo writes to each kept page: it must not fault on these. */
	ck_assert_ptr_eq(VirtualAlloc(p, 4 * TL_PAGE, MEM_RESET_UNDO, RW), p);
	ck_assert_uint_eq(tl_query(p).Protect, PAGE_READONLY);
	ck_assert_uint_eq(tl_query(p + TL_PAGE).Protect, PAGE_NOACCESS);
	ck_assert_uint_eq(tl_query(p + 2 * TL_PAGE).Protect, RW | PAGE_GUARD);
	ck_assert_int_eq(p[0], 1);
	tl_protect(p, 3 * TL_PAGE, RW);
	ck_assert_int_eq(p[TL_PAGE], 2);
	ck_assert_int_eq(p[2 * TL_PAGE], 3);
	tl_release(p);
}
END_TEST

START_TEST(test_ReclaimVirtualMemory__untouched_pages_not_lost)
{
	char *p = tl_commit_new(TL_GRAN, RW);

	ck_assert_uint_eq(OfferVirtualMemory(p, TL_GRAN, VmOfferPriorityNormal), ERROR_SUCCESS);
	ck_assert_uint_eq(ReclaimVirtualMemory(p, TL_GRAN), ERROR_SUCCESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__decommit_locked_pages)
{
	char *p = tl_commit_new(2 * TL_PAGE, RW);

	p[0] = 5;
	ck_assert(VirtualLock(p, TL_PAGE));
	ck_assert(VirtualFree(p, TL_PAGE, MEM_DECOMMIT));
	ck_assert_uint_eq(tl_query(p).State, MEM_RESERVE);
	tl_commit(p, TL_PAGE, RW);
	ck_assert_int_eq(p[0], 0);
	/* Decommitted pages are no longer locked. */
	ck_assert_false_error(VirtualUnlock(p, TL_PAGE), ERROR_NOT_LOCKED);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualProtect__size_zero_rejected)
{
	char *p = tl_commit_new(TL_PAGE, RW);
	DWORD old;

	ck_assert_false_error(VirtualProtect(p, 0, PAGE_READONLY, &old), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualProtect(p + 1, 0, PAGE_READONLY, &old), ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(tl_query(p).Protect, RW);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__top_down_with_commit_only)
{
	char *low = tl_commit_new(TL_GRAN, RW);
	char *top = VirtualAlloc(NULL, TL_GRAN, MEM_COMMIT | MEM_TOP_DOWN, RW);

	ck_assert_ptr_nonnull(top);
	ck_assert_uint_gt((uintptr_t)top, (uintptr_t)low);
	top[0] = 1;
	tl_release(top);
	tl_release(low);
}
END_TEST

START_TEST(test_OpenProcess__generic_read_can_query)
{
	HANDLE h = OpenProcess(GENERIC_READ, FALSE, GetCurrentProcessId());
	MEMORY_BASIC_INFORMATION m;
	int x = 0;

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(VirtualQueryEx(h, &x, &m, sizeof m), sizeof m);
	ck_assert(CloseHandle(h));
	h = OpenProcess(GENERIC_EXECUTE, FALSE, GetCurrentProcessId());
	ck_assert_ptr_nonnull(h);
	ck_assert_false_error(VirtualQueryEx(h, &x, &m, sizeof m), ERROR_ACCESS_DENIED);
	ck_assert(CloseHandle(h));
}
END_TEST

/* The call-target map follows pages, not whole allocations. */
START_TEST(test_SetProcessValidCallTargets__map_is_per_page)
{
	char *p = tl_reserve(TL_GRAN);
	int valid = -1;

	ck_assert_ptr_nonnull(VirtualAlloc(p, TL_PAGE, MEM_COMMIT, XR | PAGE_TARGETS_INVALID));
	ck_assert_ptr_nonnull(VirtualAlloc(p + TL_PAGE, TL_PAGE, MEM_COMMIT, XR));
	ck_assert_int_eq(memapi_is_valid_call_target(p + 64, &valid), 0);
	ck_assert_int_eq(valid, 0);
	ck_assert_int_eq(memapi_is_valid_call_target(p + TL_PAGE + 64, &valid), 0);
	ck_assert_int_eq(valid, 1);
	/* Re-protecting the second page without NO_UPDATE keeps it valid and
	 * leaves the first page's targets alone. */
	tl_protect(p + TL_PAGE, TL_PAGE, PAGE_EXECUTE_READWRITE);
	ck_assert_int_eq(memapi_is_valid_call_target(p + 64, &valid), 0);
	ck_assert_int_eq(valid, 0);
	tl_release(p);
}
END_TEST

static void *thread_id(void *arg)
{
	*(DWORD *)arg = GetCurrentThreadId();
	return NULL;
}

START_TEST(test_GetCurrentThreadId__per_thread)
{
	DWORD other = 0;
	pthread_t t;

	ck_assert_uint_eq(GetCurrentThreadId(), (DWORD)gettid());
	ck_assert_int_eq(pthread_create(&t, NULL, thread_id, &other), 0);
	pthread_join(t, NULL);
	ck_assert_uint_ne(other, 0);
	ck_assert_uint_ne(other, GetCurrentThreadId());
}
END_TEST

START_TEST(test_GetCurrentProcess__pseudo_handle)
{
	HANDLE h = GetCurrentProcess();

	ck_assert_ptr_eq(h, (HANDLE)(LONG_PTR)-1);
	ck_assert_uint_eq(GetCurrentProcessId(), (DWORD)getpid());
	ck_assert(CloseHandle(h));             /* closing it is a no-op */
	ck_assert_ptr_eq(GetCurrentProcess(), h);
}
END_TEST

START_TEST(test_fork__child_keeps_working)
{
	char *p = tl_commit_new(TL_GRAN, RW);
	int status = 0;
	pid_t pid;

	p[0] = 1;
	pid = fork();
	if (pid == 0) {
		/* Every library lock is usable in the child. */
		MEMORY_BASIC_INFORMATION m;
		char *q = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW);

		_exit(!q || !VirtualQuery(q, &m, sizeof m) || !VirtualFree(q, 0, MEM_RELEASE) ||
		      !VirtualFree(p, 0, MEM_RELEASE) ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(p[0], 1);             /* the parent's memory is its own */
	tl_release(p);
}
END_TEST

static Suite *make_misc_suite(void)
{
	Suite *s = suite_create("misc");
	TCase *tc;

	tc = tcase_create("lock");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualLock__lock_then_unlock);
	tcase_add_test(tc, test_VirtualUnlock__unlocked_pages_rejected);
	tcase_add_test(tc, test_VirtualLock__reserved_pages_rejected);
	tcase_add_test(tc, test_VirtualLock__noaccess_rejected);
	tcase_add_test(tc, test_VirtualLock__stack_buffer);
	tcase_add_loop_test(tc, test_VirtualLock__mlock_failure_is_quota, 0, 2);
	tcase_add_test(tc, test_VirtualLock__foreign_mlock_failure_is_quota);
	suite_add_tcase(s, tc);

	tc = tcase_create("hints");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_DiscardVirtualMemory__pages_stay_committed);
	tcase_add_test(tc, test_DiscardVirtualMemory__reserved_rejected);
	tcase_add_test(tc, test_OfferVirtualMemory__bad_arguments);
	tcase_add_test(tc, test_ReclaimVirtualMemory__after_offer);
	tcase_add_test(tc, test_PrefetchVirtualMemory__arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("cfg");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_SetProcessValidCallTargets__targets_invalid_region);
	tcase_add_test(tc, test_SetProcessValidCallTargets__errors);
	tcase_add_test(tc, test_VirtualProtect__targets_no_update_keeps_map);
	tcase_add_test(tc, test_SetProcessValidCallTargets__ordinary_code_valid_until_cleared);
	suite_add_tcase(s, tc);

	tc = tcase_create("system");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_GetSystemInfo__windows_values);
	tcase_add_test(tc, test_GetLastError__per_thread);
	tcase_add_test(tc, test_CloseHandle__pseudo_and_bogus);
	tcase_add_test(tc, test_CloseHandle__double_and_stale);
	tcase_add_test(tc, test_OpenProcess__bad_pids);
	tcase_add_test(tc, test_OpenProcess__own_pid);
	tcase_add_test(tc, test_OpenProcess__exited_child_denied);
	suite_add_tcase(s, tc);

	tc = tcase_create("regressions");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualAlloc__reset_undo_readonly_and_guard_pages);
	tcase_add_test(tc, test_ReclaimVirtualMemory__untouched_pages_not_lost);
	tcase_add_test(tc, test_VirtualFree__decommit_locked_pages);
	tcase_add_test(tc, test_VirtualProtect__size_zero_rejected);
	tcase_add_test(tc, test_VirtualAlloc__top_down_with_commit_only);
	tcase_add_test(tc, test_OpenProcess__generic_read_can_query);
	tcase_add_test(tc, test_GetCurrentThreadId__per_thread);
	tcase_add_test(tc, test_SetProcessValidCallTargets__map_is_per_page);
	tcase_add_test(tc, test_GetCurrentProcess__pseudo_handle);
	tcase_add_test(tc, test_fork__child_keeps_working);
	suite_add_tcase(s, tc);

	tc = tcase_create("native");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_memapi_version__current);
	tcase_add_test(tc, test_memapi_get_counters__track_allocations);
	tcase_add_test(tc, test_memapi_snapshot_regions__lists_runs);
	tcase_add_test(tc, test_memapi_root__header);
	tcase_add_test(tc, test_memapi_root__walk_matches_snapshot);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_misc_suite)
