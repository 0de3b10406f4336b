/* VirtualAlloc and VirtualFree with all their variants: granularity,
 * reserve/commit, placeholders, reset, large pages, address requirements,
 * other processes and injected syscall failures. */
#include "testlib.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RW PAGE_READWRITE

static void assert_state(const void *addr, DWORD state, DWORD protect, SIZE_T region)
{
	MEMORY_BASIC_INFORMATION m = tl_query(addr);

	ck_assert_uint_eq(m.State, state);
	ck_assert_uint_eq(m.Protect, protect);
	ck_assert_uint_eq(m.RegionSize, region);
}

/* ---- granularity and rounding ---- */

START_TEST(test_VirtualAlloc__reserve_is_64k_aligned)
{
	char *p = VirtualAlloc(NULL, 1, MEM_RESERVE, RW);
	MEMORY_BASIC_INFORMATION m;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % TL_GRAN, 0);
	m = tl_query(p);
	ck_assert_ptr_eq(m.BaseAddress, p);
	ck_assert_ptr_eq(m.AllocationBase, p);
	ck_assert_uint_eq(m.AllocationProtect, RW);
	ck_assert_uint_eq(m.State, MEM_RESERVE);
	ck_assert_uint_eq(m.Protect, 0);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	ck_assert_uint_eq(m.RegionSize, TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__size_rounds_to_pages_rest_of_unit_free)
{
	char *p = tl_reserve(TL_PAGE + 1);
	MEMORY_BASIC_INFORMATION m;

	assert_state(p, MEM_RESERVE, 0, 2 * TL_PAGE);
	m = tl_query(p + 2 * TL_PAGE + 5);
	ck_assert_ptr_eq(m.BaseAddress, p + 2 * TL_PAGE);
	ck_assert_uint_eq(m.State, MEM_FREE);
	ck_assert_uint_eq(m.Protect, PAGE_NOACCESS);
	ck_assert_uint_eq(m.Type, 0);
	ck_assert_ptr_null(m.AllocationBase);
	ck_assert_uint_eq(m.RegionSize, TL_GRAN - 2 * TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__reserve_rounds_base_down_to_64k)
{
	uintptr_t free_at = tl_free_range(2 * TL_GRAN);
	char *want = (char *)free_at + 3 * TL_PAGE + 0x123;
	char *p = VirtualAlloc(want, TL_PAGE, MEM_RESERVE, RW);

	ck_assert_ptr_eq(p, (void *)free_at);
	/* The reservation runs from the 64 KiB base to the end of the page
	 * holding the last requested byte. */
	assert_state(p, MEM_RESERVE, 0, 5 * TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__below_minimum_address_rejected)
{
	ck_assert_null_error(VirtualAlloc((void *)0x1000, TL_PAGE, MEM_RESERVE, RW),
	                     ERROR_INVALID_PARAMETER);
}
END_TEST

/* ---- reserve and commit ---- */

START_TEST(test_VirtualAlloc__commit_null_reserves_and_commits)
{
	unsigned char *p = VirtualAlloc(NULL, 3 * TL_PAGE, MEM_COMMIT, RW);
	MEMORY_BASIC_INFORMATION m;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % TL_GRAN, 0);
	m = tl_query(p);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, RW);
	ck_assert_uint_eq(m.RegionSize, 3 * TL_PAGE);
	ck_assert_uint_eq(p[0] | p[3 * TL_PAGE - 1], 0);
	p[3 * TL_PAGE - 1] = 7;
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__commit_inside_reservation_rounds_to_pages)
{
	char *p = tl_reserve(TL_GRAN);
	char *q = VirtualAlloc(p + 2 * TL_PAGE + 17, 10, MEM_COMMIT, RW);

	ck_assert_ptr_eq(q, p + 2 * TL_PAGE);
	assert_state(p, MEM_RESERVE, 0, 2 * TL_PAGE);
	assert_state(q, MEM_COMMIT, RW, TL_PAGE);
	assert_state(q + TL_PAGE, MEM_RESERVE, 0, TL_GRAN - 3 * TL_PAGE);
	ck_assert_ptr_eq(tl_query(q).AllocationBase, p);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__commit_spanning_two_pages)
{
	char *p = tl_reserve(TL_GRAN);
	char *q = VirtualAlloc(p + TL_PAGE - 1, 2, MEM_COMMIT, RW);

	ck_assert_ptr_eq(q, p);
	assert_state(p, MEM_COMMIT, RW, 2 * TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__recommit_changes_protection_keeps_data)
{
	char *p = tl_commit_new(TL_GRAN, RW);

	memset(p, 0x42, 2 * TL_PAGE);
	ck_assert_ptr_eq(VirtualAlloc(p, TL_PAGE, MEM_COMMIT, PAGE_READONLY), p);
	assert_state(p, MEM_COMMIT, PAGE_READONLY, TL_PAGE);
	assert_state(p + TL_PAGE, MEM_COMMIT, RW, TL_GRAN - TL_PAGE);
	ck_assert_int_eq(p[0], 0x42);
	ck_assert_int_eq(p[TL_PAGE + 1], 0x42);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__decommitted_pages_read_zero_after_recommit)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	memset(p, 0x7e, 4 * TL_PAGE);
	ck_assert(VirtualFree(p + TL_PAGE, 2 * TL_PAGE, MEM_DECOMMIT));
	assert_state(p + TL_PAGE, MEM_RESERVE, 0, 2 * TL_PAGE);
	tl_commit(p + TL_PAGE, 2 * TL_PAGE, RW);
	ck_assert_int_eq(p[TL_PAGE], 0);
	ck_assert_int_eq(p[3 * TL_PAGE - 1], 0);
	ck_assert_int_eq(p[0], 0x7e);
	ck_assert_int_eq(p[3 * TL_PAGE], 0x7e);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__decommit_size0_at_base_decommits_all)
{
	char *p = tl_commit_new(5 * TL_PAGE, RW);

	ck_assert(VirtualFree(p, 0, MEM_DECOMMIT));
	assert_state(p, MEM_RESERVE, 0, 5 * TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__decommit_size0_off_base_rejected)
{
	char *p = tl_commit_new(5 * TL_PAGE, RW);

	ck_assert_false_error(VirtualFree(p + TL_PAGE, 0, MEM_DECOMMIT), ERROR_INVALID_ADDRESS);
	assert_state(p, MEM_COMMIT, RW, 5 * TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__decommit_reserved_pages_succeeds)
{
	char *p = tl_reserve(TL_GRAN);

	ck_assert(VirtualFree(p, TL_PAGE, MEM_DECOMMIT));
	assert_state(p, MEM_RESERVE, 0, TL_GRAN);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__decommit_outside_allocation_rejected)
{
	char *p = tl_commit_new(TL_PAGE, RW);

	ck_assert_false_error(VirtualFree(p, 2 * TL_PAGE, MEM_DECOMMIT), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(VirtualFree((void *)tl_free_range(TL_GRAN), TL_PAGE, MEM_DECOMMIT),
	                      ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__release_with_size_rejected)
{
	char *p = tl_reserve(TL_GRAN);

	ck_assert_false_error(VirtualFree(p, TL_GRAN, MEM_RELEASE), ERROR_INVALID_PARAMETER);
	assert_state(p, MEM_RESERVE, 0, TL_GRAN);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__release_off_base_rejected)
{
	char *p = tl_reserve(TL_GRAN);

	ck_assert_false_error(VirtualFree(p + TL_PAGE, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__release_frees_the_range)
{
	char *p = tl_commit_new(TL_GRAN, RW);
	MEMORY_BASIC_INFORMATION m;

	tl_release(p);
	m = tl_query(p);
	ck_assert_uint_eq(m.State, MEM_FREE);
	ck_assert_false_error(VirtualFree(p, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
}
END_TEST

START_TEST(test_VirtualFree__bad_free_type_rejected)
{
	char *p = tl_reserve(TL_GRAN);

	ck_assert_false_error(VirtualFree(p, 0, 0), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualFree(p, 0, MEM_RELEASE | MEM_DECOMMIT), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualFree(p, 0, MEM_RELEASE | 0x10), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualFree(p, TL_PAGE, MEM_DECOMMIT | MEM_PRESERVE_PLACEHOLDER),
	                      ERROR_INVALID_PARAMETER);
	tl_release(p);
}
END_TEST

/* ---- invalid requests ---- */

static const struct bad_alloc {
	SIZE_T size;
	DWORD  type, protect;
	const char *what;
} bad_allocs[] = {
	{ TL_GRAN, 0, RW, "type 0" },
	{ TL_GRAN, MEM_RESERVE | 0x8, RW, "unknown type bit" },
	{ TL_GRAN, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER, PAGE_NOACCESS, "placeholder without VirtualAlloc2" },
	{ TL_GRAN, MEM_RESET | MEM_COMMIT, RW, "MEM_RESET|MEM_COMMIT" },
	{ TL_GRAN, MEM_COMMIT, PAGE_GUARD | PAGE_NOACCESS, "PAGE_GUARD|PAGE_NOACCESS" },
	{ TL_GRAN, MEM_COMMIT, RW | PAGE_NOCACHE | PAGE_WRITECOMBINE, "NOCACHE|WRITECOMBINE" },
	{ TL_GRAN, MEM_COMMIT, RW | PAGE_GUARD | PAGE_NOCACHE, "GUARD|NOCACHE" },
	{ TL_GRAN, MEM_COMMIT, PAGE_READONLY | PAGE_READWRITE, "two base protections" },
	{ TL_GRAN, MEM_COMMIT, 0, "protection 0" },
	{ TL_GRAN, MEM_COMMIT, 0x100000 | RW, "unknown protection bit" },
	{ TL_GRAN, MEM_COMMIT, PAGE_WRITECOPY, "PAGE_WRITECOPY for private memory" },
	{ TL_GRAN, MEM_COMMIT, PAGE_EXECUTE_WRITECOPY, "PAGE_EXECUTE_WRITECOPY" },
	{ TL_GRAN, MEM_RESERVE, RW | PAGE_TARGETS_INVALID, "TARGETS_INVALID without execute" },
	{ TL_GRAN, MEM_RESERVE | MEM_PHYSICAL, PAGE_READONLY, "MEM_PHYSICAL read-only" },
	{ TL_GRAN, MEM_RESERVE | MEM_COMMIT | MEM_PHYSICAL, RW, "MEM_PHYSICAL commit" },
	{ TL_GRAN, MEM_COMMIT | MEM_WRITE_WATCH, RW, "MEM_WRITE_WATCH without MEM_RESERVE" },
	{ TL_MIB * 2, MEM_RESERVE | MEM_LARGE_PAGES, RW, "MEM_LARGE_PAGES without commit" },
	{ 0, MEM_RESERVE, RW, "size 0" },
	{ 0, MEM_COMMIT, RW, "commit size 0" },
};

START_TEST(test_VirtualAlloc__invalid_combination_rejected)
{
	const struct bad_alloc *b = &bad_allocs[_i];
	void *p;

	SetLastError(0);
	p = VirtualAlloc(NULL, b->size, b->type, b->protect);
	ck_assert_msg(p == NULL, "%s: accepted", b->what);
	ck_assert_msg(GetLastError() == ERROR_INVALID_PARAMETER, "%s: error %lu", b->what,
	              (unsigned long)GetLastError());
}
END_TEST

START_TEST(test_VirtualAlloc__reserve_at_occupied_address_rejected)
{
	char *p = tl_reserve(2 * TL_GRAN);

	ck_assert_null_error(VirtualAlloc(p, TL_GRAN, MEM_RESERVE, RW), ERROR_INVALID_ADDRESS);
	ck_assert_null_error(VirtualAlloc(p + TL_GRAN, TL_PAGE, MEM_RESERVE, RW),
	                     ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__reserve_over_foreign_mapping_rejected)
{
	uintptr_t a = tl_free_range(TL_GRAN);
	void *m = mmap((void *)a, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	ck_assert_ptr_eq(m, (void *)a);
	ck_assert_null_error(VirtualAlloc((void *)a, TL_GRAN, MEM_RESERVE, RW), ERROR_INVALID_ADDRESS);
	ck_assert_int_eq(munmap(m, TL_PAGE), 0);
}
END_TEST

START_TEST(test_VirtualAlloc__commit_outside_reservation_rejected)
{
	char *p = tl_reserve(TL_GRAN);

	ck_assert_null_error(VirtualAlloc((void *)tl_free_range(TL_GRAN), TL_PAGE, MEM_COMMIT, RW),
	                     ERROR_INVALID_ADDRESS);
	ck_assert_null_error(VirtualAlloc(p + TL_GRAN - TL_PAGE, 2 * TL_PAGE, MEM_COMMIT, RW),
	                     ERROR_INVALID_ADDRESS);
	assert_state(p, MEM_RESERVE, 0, TL_GRAN);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__commit_in_unusable_rest_of_unit_rejected)
{
	char *p = tl_reserve(TL_PAGE);

	ck_assert_null_error(VirtualAlloc(p + TL_PAGE, TL_PAGE, MEM_COMMIT, RW), ERROR_INVALID_ADDRESS);
	ck_assert_null_error(VirtualAlloc(p + TL_PAGE, TL_PAGE, MEM_RESERVE, RW), ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__top_down_is_higher)
{
	char *low = tl_reserve(TL_GRAN);
	char *top = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_TOP_DOWN, RW);

	ck_assert_ptr_nonnull(top);
	ck_assert_uint_eq((uintptr_t)top % TL_GRAN, 0);
	ck_assert_uint_gt((uintptr_t)top, (uintptr_t)low);
	ck_assert_uint_eq(tl_query(top).State, MEM_RESERVE);
	tl_release(top);
	/* MEM_COMMIT with no address reserves too, so it may go top-down. */
	top = VirtualAlloc(NULL, TL_PAGE, MEM_COMMIT | MEM_TOP_DOWN, RW);
	ck_assert_ptr_nonnull(top);
	ck_assert_uint_gt((uintptr_t)top, (uintptr_t)low);
	top[0] = 1;
	tl_release(top);
	tl_release(low);
}
END_TEST

START_TEST(test_VirtualAllocFromApp__allocates)
{
	char *p = VirtualAllocFromApp(NULL, TL_PAGE, MEM_RESERVE | MEM_COMMIT, RW);

	ck_assert_ptr_nonnull(p);
	assert_state(p, MEM_COMMIT, RW, TL_PAGE);
	ck_assert_null_error(VirtualAllocFromApp(NULL, 0, MEM_COMMIT, RW), ERROR_INVALID_PARAMETER);
	tl_release(p);
}
END_TEST

/* ---- VirtualAlloc2: address requirements and extended parameters ---- */

static void *alloc2(SIZE_T size, MEM_ADDRESS_REQUIREMENTS *req)
{
	MEM_EXTENDED_PARAMETER ep = { 0 };

	ep.Type = MemExtendedParameterAddressRequirements;
	ep.Pointer = req;
	return VirtualAlloc2(NULL, NULL, size, MEM_RESERVE, RW, &ep, 1);
}

START_TEST(test_VirtualAlloc2__plain_allocation)
{
	char *p = VirtualAlloc2(NULL, NULL, TL_PAGE, MEM_RESERVE | MEM_COMMIT, RW, NULL, 0);
	char *q = VirtualAlloc2(GetCurrentProcess(), NULL, TL_PAGE, MEM_COMMIT, RW, NULL, 0);

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	assert_state(p, MEM_COMMIT, RW, TL_PAGE);
	tl_release(p);
	tl_release(q);
}
END_TEST

START_TEST(test_VirtualAlloc2__alignment_honoured)
{
	MEM_ADDRESS_REQUIREMENTS req = { .Alignment = TL_MIB };
	char *p[4];

	for (int i = 0; i < 4; i++) {
		p[i] = alloc2(TL_GRAN, &req);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_uint_eq((uintptr_t)p[i] % TL_MIB, 0);
	}
	for (int i = 0; i < 4; i++)
		tl_release(p[i]);
}
END_TEST

START_TEST(test_VirtualAlloc2__lowest_highest_honoured)
{
	uintptr_t lo = tl_free_range(8 * TL_GRAN) + 2 * TL_GRAN;
	MEM_ADDRESS_REQUIREMENTS req = {
		.LowestStartingAddress = (PVOID)lo,
		.HighestEndingAddress = (PVOID)(lo + 4 * TL_GRAN - 1),
	};
	char *p = alloc2(2 * TL_GRAN, &req), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge((uintptr_t)p, lo);
	ck_assert_uint_le((uintptr_t)p + 2 * TL_GRAN, lo + 4 * TL_GRAN);
	q = alloc2(2 * TL_GRAN, &req);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_ge((uintptr_t)q, lo);
	ck_assert_uint_le((uintptr_t)q + 2 * TL_GRAN, lo + 4 * TL_GRAN);
	/* The window is full now. */
	ck_assert_null_error(alloc2(TL_GRAN, &req), ERROR_NOT_ENOUGH_MEMORY);
	tl_release(p);
	tl_release(q);
}
END_TEST

START_TEST(test_VirtualAlloc2__bad_requirements_rejected)
{
	MEM_ADDRESS_REQUIREMENTS odd_align = { .Alignment = 3 * TL_GRAN };
	MEM_ADDRESS_REQUIREMENTS small_align = { .Alignment = TL_PAGE };
	MEM_ADDRESS_REQUIREMENTS bad_high = { .HighestEndingAddress = (PVOID)(uintptr_t)0x7fff0000 };
	MEM_ADDRESS_REQUIREMENTS bad_low = { .LowestStartingAddress = (PVOID)(uintptr_t)0x12345000 };
	MEM_ADDRESS_REQUIREMENTS inverted = {
		.LowestStartingAddress = (PVOID)(uintptr_t)0x20000000,
		.HighestEndingAddress = (PVOID)(uintptr_t)0x1fffffff,
	};

	ck_assert_null_error(alloc2(TL_GRAN, &odd_align), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(alloc2(TL_GRAN, &small_align), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(alloc2(TL_GRAN, &bad_high), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(alloc2(TL_GRAN, &bad_low), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(alloc2(TL_GRAN, &inverted), ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_VirtualAlloc2__base_address_with_requirements_rejected)
{
	MEM_ADDRESS_REQUIREMENTS req = { .Alignment = TL_MIB };
	MEM_EXTENDED_PARAMETER ep = { .Type = MemExtendedParameterAddressRequirements };
	void *at = (void *)tl_free_range(TL_GRAN);

	ep.Pointer = &req;
	ck_assert_null_error(VirtualAlloc2(NULL, at, TL_GRAN, MEM_RESERVE, RW, &ep, 1),
	                     ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_VirtualAlloc2__numa_node)
{
	MEM_EXTENDED_PARAMETER ep = { .Type = MemExtendedParameterNumaNode };
	char *p;

	ep.ULong = 0;
	p = VirtualAlloc2(NULL, NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW, &ep, 1);
	ck_assert_ptr_nonnull(p);
	p[0] = 1;
	tl_release(p);
	ep.ULong = 4096;
	ck_assert_null_error(VirtualAlloc2(NULL, NULL, TL_GRAN, MEM_RESERVE, RW, &ep, 1),
	                     ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_VirtualAlloc2__duplicate_parameters_rejected)
{
	MEM_EXTENDED_PARAMETER ep[2] = {
		{ .Type = MemExtendedParameterNumaNode },
		{ .Type = MemExtendedParameterNumaNode },
	};

	ck_assert_null_error(VirtualAlloc2(NULL, NULL, TL_GRAN, MEM_RESERVE, RW, ep, 2),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_null_error(VirtualAlloc2(NULL, NULL, TL_GRAN, MEM_RESERVE, RW, NULL, 1),
	                     ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_VirtualAlloc2FromApp__alignment_honoured)
{
	MEM_ADDRESS_REQUIREMENTS req = { .Alignment = TL_MIB };
	MEM_EXTENDED_PARAMETER ep = { .Type = MemExtendedParameterAddressRequirements };
	char *p;

	ep.Pointer = &req;
	p = VirtualAlloc2FromApp(NULL, NULL, TL_GRAN, MEM_RESERVE, RW, &ep, 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % TL_MIB, 0);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAllocExNuma__node)
{
	char *p = VirtualAllocExNuma(GetCurrentProcess(), NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW, 0);

	ck_assert_ptr_nonnull(p);
	p[1] = 1;
	tl_release(p);
	ck_assert_null_error(VirtualAllocExNuma(GetCurrentProcess(), NULL, TL_GRAN, MEM_RESERVE, RW, 4096),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_null_error(VirtualAllocExNuma(NULL, NULL, TL_GRAN, MEM_RESERVE, RW, 0),
	                     ERROR_INVALID_HANDLE);
}
END_TEST

/* ---- placeholders ---- */

static char *placeholder(SIZE_T size)
{
	char *p = VirtualAlloc2(NULL, NULL, size, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
	                        PAGE_NOACCESS, NULL, 0);

	ck_assert_msg(p != NULL, "placeholder: %lu", (unsigned long)GetLastError());
	return p;
}

static void *replace(char *at, SIZE_T size, DWORD type)
{
	return VirtualAlloc2(NULL, at, size, type | MEM_REPLACE_PLACEHOLDER, RW, NULL, 0);
}

static void assert_alloc(const void *addr, const void *base, DWORD alloc_protect)
{
	MEMORY_BASIC_INFORMATION m = tl_query(addr);

	ck_assert_ptr_eq(m.AllocationBase, base);
	ck_assert_uint_eq(m.AllocationProtect, alloc_protect);
}

START_TEST(test_VirtualAlloc2__placeholder_reserved_noaccess)
{
	char *p = placeholder(4 * TL_GRAN);

	assert_state(p, MEM_RESERVE, 0, 4 * TL_GRAN);
	assert_alloc(p, p, PAGE_NOACCESS);
	ck_assert_uint_eq(tl_query(p).Type, MEM_PRIVATE);
	ck_assert_null_error(VirtualAlloc(p, TL_PAGE, MEM_COMMIT, RW), ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc2__placeholder_needs_noaccess)
{
	ck_assert_null_error(VirtualAlloc2(NULL, NULL, TL_GRAN, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
	                                   RW, NULL, 0), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(VirtualAlloc2(NULL, NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT |
	                                   MEM_RESERVE_PLACEHOLDER, PAGE_NOACCESS, NULL, 0),
	                     ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_VirtualFree__split_placeholder)
{
	char *p = placeholder(4 * TL_GRAN);

	ck_assert(VirtualFree(p + TL_GRAN, TL_GRAN, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER));
	assert_alloc(p, p, PAGE_NOACCESS);
	assert_state(p, MEM_RESERVE, 0, TL_GRAN);
	assert_alloc(p + TL_GRAN, p + TL_GRAN, PAGE_NOACCESS);
	assert_state(p + TL_GRAN, MEM_RESERVE, 0, TL_GRAN);
	assert_alloc(p + 2 * TL_GRAN, p + 2 * TL_GRAN, PAGE_NOACCESS);
	assert_state(p + 2 * TL_GRAN, MEM_RESERVE, 0, 2 * TL_GRAN);
	for (int i = 0; i < 3; i++)
		tl_release(p + i * TL_GRAN);
}
END_TEST

START_TEST(test_VirtualAlloc2__replace_placeholder_then_commit)
{
	char *p = placeholder(2 * TL_GRAN), *q;

	ck_assert(VirtualFree(p, TL_GRAN, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER));
	q = replace(p + TL_GRAN, TL_GRAN, MEM_RESERVE);
	ck_assert_ptr_eq(q, p + TL_GRAN);
	assert_alloc(q, q, RW);
	assert_state(q, MEM_RESERVE, 0, TL_GRAN);
	tl_commit(q, TL_PAGE, RW);
	q[0] = 9;
	assert_state(q, MEM_COMMIT, RW, TL_PAGE);
	ck_assert_uint_eq(tl_query(q).Type, MEM_PRIVATE);
	tl_release(q);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc2__replace_placeholder_committed)
{
	char *p = placeholder(TL_GRAN);
	char *q = replace(p, TL_GRAN, MEM_RESERVE | MEM_COMMIT);

	ck_assert_ptr_eq(q, p);
	assert_state(q, MEM_COMMIT, RW, TL_GRAN);
	q[TL_GRAN - 1] = 1;
	tl_release(q);
}
END_TEST

START_TEST(test_VirtualFree__back_to_placeholder)
{
	char *p = placeholder(TL_GRAN);
	char *q = replace(p, TL_GRAN, MEM_RESERVE | MEM_COMMIT);

	q[0] = 5;
	ck_assert(VirtualFree(q, 0, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER));
	assert_alloc(p, p, PAGE_NOACCESS);
	assert_state(p, MEM_RESERVE, 0, TL_GRAN);
	/* A placeholder again: replaceable, and the old data is gone. */
	q = replace(p, TL_GRAN, MEM_RESERVE | MEM_COMMIT);
	ck_assert_ptr_eq(q, p);
	ck_assert_int_eq(q[0], 0);
	tl_release(q);
}
END_TEST

START_TEST(test_VirtualFree__coalesce_placeholders)
{
	char *p = placeholder(4 * TL_GRAN);

	ck_assert(VirtualFree(p + TL_GRAN, TL_GRAN, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER));
	ck_assert(VirtualFree(p, 4 * TL_GRAN, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS));
	assert_alloc(p + 3 * TL_GRAN, p, PAGE_NOACCESS);
	assert_state(p, MEM_RESERVE, 0, 4 * TL_GRAN);
	tl_release(p);
	ck_assert_uint_eq(tl_query(p + 3 * TL_GRAN).State, MEM_FREE);
}
END_TEST

START_TEST(test_VirtualFree__placeholder_errors)
{
	char *p = placeholder(4 * TL_GRAN), *q;

	ck_assert_false_error(VirtualFree(p + TL_PAGE, TL_GRAN, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualFree(p, TL_PAGE, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualFree(p, 0, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualFree(p, 0, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER |
	                                  MEM_COALESCE_PLACEHOLDERS), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(VirtualFree(p, TL_GRAN, MEM_DECOMMIT), ERROR_INVALID_ADDRESS);
	/* Coalescing needs placeholders only: a replaced piece blocks it. */
	ck_assert(VirtualFree(p, TL_GRAN, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER));
	q = replace(p, TL_GRAN, MEM_RESERVE);
	ck_assert_ptr_eq(q, p);
	ck_assert_false_error(VirtualFree(p, 4 * TL_GRAN, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS),
	                      ERROR_INVALID_ADDRESS);
	ck_assert_false_error(VirtualFree(p + TL_GRAN, 5 * TL_GRAN, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS),
	                      ERROR_INVALID_ADDRESS);
	/* A normal allocation never was a placeholder. */
	tl_release(q);
	tl_release(p + TL_GRAN);
	q = tl_reserve(TL_GRAN);
	ck_assert_false_error(VirtualFree(q, 0, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER),
	                      ERROR_INVALID_ADDRESS);
	tl_release(q);
}
END_TEST

START_TEST(test_VirtualAlloc2__replace_placeholder_errors)
{
	char *p = placeholder(2 * TL_GRAN), *n = tl_reserve(TL_GRAN);

	ck_assert_null_error(replace(p, TL_GRAN, MEM_RESERVE), ERROR_INVALID_ADDRESS);
	ck_assert_null_error(replace(p + TL_GRAN, TL_GRAN, MEM_RESERVE), ERROR_INVALID_ADDRESS);
	ck_assert_null_error(replace(n, TL_GRAN, MEM_RESERVE), ERROR_INVALID_ADDRESS);
	ck_assert_null_error(replace(NULL, TL_GRAN, MEM_RESERVE), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(replace(p, 2 * TL_GRAN, MEM_RESERVE | MEM_WRITE_WATCH),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_null_error(VirtualAlloc(p, 2 * TL_GRAN, MEM_RESERVE | MEM_REPLACE_PLACEHOLDER, RW),
	                     ERROR_INVALID_PARAMETER);
	assert_alloc(p, p, PAGE_NOACCESS);
	tl_release(p);
	tl_release(n);
}
END_TEST

/* ---- reset ---- */

START_TEST(test_VirtualAlloc__reset_keeps_pages_committed)
{
	char *p = tl_commit_new(4 * TL_PAGE, RW);

	memset(p, 3, 4 * TL_PAGE);
	ck_assert_ptr_eq(VirtualAlloc(p, 4 * TL_PAGE, MEM_RESET, PAGE_NOACCESS), p);
	assert_state(p, MEM_COMMIT, RW, 4 * TL_PAGE);
	/* The data may be gone or not; the pages stay usable. */
	ck_assert(p[0] == 0 || p[0] == 3);
	p[TL_PAGE] = 4;
	ck_assert_int_eq(p[TL_PAGE], 4);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__reset_undo_after_touch)
{
	char *p = tl_commit_new(2 * TL_PAGE, RW);

	memset(p, 3, 2 * TL_PAGE);
	ck_assert_ptr_eq(VirtualAlloc(p, 2 * TL_PAGE, MEM_RESET, RW), p);
	p[0] = 8;
	p[TL_PAGE] = 8;
	ck_assert_ptr_eq(VirtualAlloc(p, 2 * TL_PAGE, MEM_RESET_UNDO, RW), p);
	ck_assert_int_eq(p[0], 8);
	ck_assert_int_eq(p[TL_PAGE], 8);
	assert_state(p, MEM_COMMIT, RW, 2 * TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__reset_needs_address)
{
	ck_assert_null_error(VirtualAlloc(NULL, TL_PAGE, MEM_RESET, RW), ERROR_INVALID_ADDRESS);
}
END_TEST

/* ---- large pages, MEM_PHYSICAL, protection modifiers ---- */

static SIZE_T large_page(void)
{
	long kib = tl_meminfo("Hugepagesize");

	return kib > 0 ? (SIZE_T)kib * 1024 : 2 * TL_MIB;
}

START_TEST(test_VirtualAlloc__large_pages_need_free_hugetlb_pages)
{
	SIZE_T lp = large_page();
	char *p = VirtualAlloc(NULL, lp, MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES, RW);

	if (tl_meminfo("HugePages_Free") <= 0) {
		ck_assert_ptr_null(p);
		ck_assert_last_error(ERROR_NO_SYSTEM_RESOURCES);
		return;
	}
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % lp, 0);
	p[lp - 1] = 1;
	assert_state(p, MEM_COMMIT, RW, lp);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__large_pages_from_hugetlb_pool)
{
	SIZE_T lp = large_page();
	long old = tl_set_hugepages(-1);
	MEMORY_BASIC_INFORMATION m;
	DWORD prot_ro = 0, err = 0;
	char *rw = NULL, *ro = NULL;
	int w = 0;

	if (old < 0 || (old == 0 && (geteuid() != 0 || tl_set_hugepages(4) != 0)) ||
	    tl_meminfo("HugePages_Free") < 2) {
		tl_set_hugepages(old < 0 ? -1 : old);
		return;         /* no pool and no way to make one: nothing to test */
	}
	rw = VirtualAlloc(NULL, lp, MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES, RW);
	err = GetLastError();
	ro = VirtualAlloc(NULL, lp, MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES, PAGE_READONLY);
	if (rw)
		rw[lp - 1] = 7, w = rw[lp - 1];
	if (ro && VirtualQuery(ro, &m, sizeof m))
		prot_ro = m.Protect;
	if (rw)
		tl_release(rw);
	if (ro)
		tl_release(ro);
	if (old == 0)
		tl_set_hugepages(0);
	ck_assert_msg(rw != NULL, "MEM_LARGE_PAGES failed with %lu", (unsigned long)err);
	ck_assert_uint_eq((uintptr_t)rw % lp, 0);
	ck_assert_int_eq(w, 7);
	ck_assert_ptr_nonnull(ro);
	ck_assert_uint_eq(prot_ro, PAGE_READONLY);
}
END_TEST

START_TEST(test_VirtualAlloc__large_pages_size_must_be_multiple)
{
	ck_assert_null_error(VirtualAlloc(NULL, large_page() + TL_PAGE,
	                                  MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES, RW),
	                     ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_VirtualAlloc__physical_is_reserved_only)
{
	char *p = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_PHYSICAL, RW);
	WIN32_MEMORY_REGION_INFORMATION info;

	ck_assert_ptr_nonnull(p);
	assert_state(p, MEM_RESERVE, 0, TL_GRAN);
	ck_assert(QueryVirtualMemoryInformation(GetCurrentProcess(), p, MemoryRegionInfo, &info,
	                                        sizeof info, NULL));
	ck_assert_uint_eq(info.MappedPhysical, 1);
	ck_assert_null_error(VirtualAlloc(p, TL_PAGE, MEM_COMMIT, RW), ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

static const DWORD modifiers[] = { PAGE_GUARD, PAGE_NOCACHE, PAGE_WRITECOMBINE };

START_TEST(test_VirtualAlloc__protection_modifier_kept)
{
	DWORD prot = RW | modifiers[_i];
	char *p = VirtualAlloc(NULL, TL_PAGE, MEM_RESERVE | MEM_COMMIT, prot);
	MEMORY_BASIC_INFORMATION m;

	ck_assert_ptr_nonnull(p);
	m = tl_query(p);
	ck_assert_uint_eq(m.Protect, prot);
	ck_assert_uint_eq(m.AllocationProtect, prot);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	tl_release(p);
}
END_TEST

/* ---- other processes and handles ---- */

START_TEST(test_VirtualAllocEx__other_process_not_supported)
{
	struct tl_child c;
	HANDLE h;

	tl_child_start(&c, TL_GRAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	h = OpenProcess(PROCESS_ALL_ACCESS, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	ck_assert_null_error(VirtualAllocEx(h, NULL, TL_GRAN, MEM_RESERVE, RW), ERROR_NOT_SUPPORTED);
	ck_assert_null_error(VirtualAlloc2(h, NULL, TL_GRAN, MEM_RESERVE, RW, NULL, 0),
	                     ERROR_NOT_SUPPORTED);
	ck_assert_false_error(VirtualFreeEx(h, c.addr, 0, MEM_RELEASE), ERROR_NOT_SUPPORTED);
	ck_assert(CloseHandle(h));
	tl_child_stop(&c);
}
END_TEST

START_TEST(test_VirtualAllocEx__current_process)
{
	HANDLE self = OpenProcess(PROCESS_ALL_ACCESS, FALSE, GetCurrentProcessId());
	char *p = VirtualAllocEx(GetCurrentProcess(), NULL, TL_PAGE, MEM_RESERVE | MEM_COMMIT, RW);
	char *q;

	ck_assert_ptr_nonnull(p);
	p[0] = 1;
	ck_assert(VirtualFreeEx(GetCurrentProcess(), p, 0, MEM_RELEASE));
	ck_assert_ptr_nonnull(self);
	q = VirtualAllocEx(self, NULL, TL_PAGE, MEM_COMMIT, RW);
	ck_assert_ptr_nonnull(q);
	ck_assert(VirtualFreeEx(self, q, 0, MEM_RELEASE));
	ck_assert(CloseHandle(self));
}
END_TEST

START_TEST(test_VirtualFreeEx__bad_handles_rejected)
{
	char *p = tl_reserve(TL_GRAN);
	HANDLE q = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, GetCurrentProcessId());

	ck_assert_false_error(VirtualFreeEx(NULL, p, 0, MEM_RELEASE), ERROR_INVALID_HANDLE);
	ck_assert_false_error(VirtualFreeEx((HANDLE)(uintptr_t)0x1234, p, 0, MEM_RELEASE),
	                      ERROR_INVALID_HANDLE);
	ck_assert_ptr_nonnull(q);
	ck_assert_false_error(VirtualFreeEx(q, p, 0, MEM_RELEASE), ERROR_ACCESS_DENIED);
	ck_assert_null_error(VirtualAllocEx(q, NULL, TL_GRAN, MEM_RESERVE, RW), ERROR_ACCESS_DENIED);
	ck_assert(CloseHandle(q));
	tl_release(p);
}
END_TEST

/* ---- injected syscall failures ---- */

static memapi_counters counters(void)
{
	memapi_counters c;

	ck_assert_int_eq(memapi_get_counters(&c), 0);
	return c;
}

START_TEST(test_VirtualAlloc__mmap_enomem_leaves_nothing)
{
	memapi_counters before = counters(), after;
	uintptr_t at = tl_free_range(TL_GRAN);

	tl_inject(TL_MMAP, ENOMEM, 0);
	ck_assert_null_error(VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW),
	                     ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_null_error(VirtualAlloc((void *)at, TL_GRAN, MEM_RESERVE, RW),
	                     ERROR_NOT_ENOUGH_MEMORY);
	ck_assert_uint_ge(tl_calls(TL_MMAP), 2);
	tl_inject_reset();
	after = counters();
	ck_assert_uint_eq(after.reservations, before.reservations);
	ck_assert_uint_eq(after.reserved_bytes, before.reserved_bytes);
	ck_assert_uint_eq(tl_query((void *)at).State, MEM_FREE);
}
END_TEST

START_TEST(test_VirtualAlloc__mprotect_enomem_on_commit_keeps_reservation)
{
	char *p = tl_reserve(TL_GRAN);
	memapi_counters before = counters();

	tl_inject(TL_MPROTECT, ENOMEM, 0);
	ck_assert_null_error(VirtualAlloc(p, 2 * TL_PAGE, MEM_COMMIT, RW), ERROR_COMMITMENT_LIMIT);
	tl_inject_reset();
	assert_state(p, MEM_RESERVE, 0, TL_GRAN);
	ck_assert_uint_eq(counters().committed_bytes, before.committed_bytes);
	tl_commit(p, TL_PAGE, RW);
	p[0] = 1;
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualAlloc__mprotect_enomem_on_new_commit_leaves_nothing)
{
	memapi_counters before = counters(), after;

	/* Three pages leave an inaccessible tail in the 64 KiB unit, so the
	 * commit is an mprotect after the reservation. */
	tl_inject(TL_MPROTECT, ENOMEM, 0);
	ck_assert_null_error(VirtualAlloc(NULL, 3 * TL_PAGE, MEM_COMMIT, RW), ERROR_COMMITMENT_LIMIT);
	ck_assert_uint_ge(tl_calls(TL_MPROTECT), 1);
	tl_inject_reset();
	after = counters();
	ck_assert_uint_eq(after.reservations, before.reservations);
	ck_assert_uint_eq(after.committed_bytes, before.committed_bytes);
}
END_TEST

static Suite *make_vm_suite(void)
{
	Suite *s = suite_create("vm");
	TCase *tc;

	tc = tcase_create("granularity");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualAlloc__reserve_is_64k_aligned);
	tcase_add_test(tc, test_VirtualAlloc__size_rounds_to_pages_rest_of_unit_free);
	tcase_add_test(tc, test_VirtualAlloc__reserve_rounds_base_down_to_64k);
	tcase_add_test(tc, test_VirtualAlloc__below_minimum_address_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("commit");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualAlloc__commit_null_reserves_and_commits);
	tcase_add_test(tc, test_VirtualAlloc__commit_inside_reservation_rounds_to_pages);
	tcase_add_test(tc, test_VirtualAlloc__commit_spanning_two_pages);
	tcase_add_test(tc, test_VirtualAlloc__recommit_changes_protection_keeps_data);
	tcase_add_test(tc, test_VirtualFree__decommitted_pages_read_zero_after_recommit);
	tcase_add_test(tc, test_VirtualFree__decommit_size0_at_base_decommits_all);
	tcase_add_test(tc, test_VirtualFree__decommit_size0_off_base_rejected);
	tcase_add_test(tc, test_VirtualFree__decommit_reserved_pages_succeeds);
	tcase_add_test(tc, test_VirtualFree__decommit_outside_allocation_rejected);
	tcase_add_test(tc, test_VirtualFree__release_with_size_rejected);
	tcase_add_test(tc, test_VirtualFree__release_off_base_rejected);
	tcase_add_test(tc, test_VirtualFree__release_frees_the_range);
	tcase_add_test(tc, test_VirtualFree__bad_free_type_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("invalid");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_loop_test(tc, test_VirtualAlloc__invalid_combination_rejected, 0,
	                    (int)(sizeof bad_allocs / sizeof bad_allocs[0]));
	tcase_add_test(tc, test_VirtualAlloc__reserve_at_occupied_address_rejected);
	tcase_add_test(tc, test_VirtualAlloc__reserve_over_foreign_mapping_rejected);
	tcase_add_test(tc, test_VirtualAlloc__commit_outside_reservation_rejected);
	tcase_add_test(tc, test_VirtualAlloc__commit_in_unusable_rest_of_unit_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("placement");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualAlloc__top_down_is_higher);
	tcase_add_test(tc, test_VirtualAllocFromApp__allocates);
	tcase_add_test(tc, test_VirtualAlloc2__plain_allocation);
	tcase_add_test(tc, test_VirtualAlloc2__alignment_honoured);
	tcase_add_test(tc, test_VirtualAlloc2__lowest_highest_honoured);
	tcase_add_test(tc, test_VirtualAlloc2__bad_requirements_rejected);
	tcase_add_test(tc, test_VirtualAlloc2__base_address_with_requirements_rejected);
	tcase_add_test(tc, test_VirtualAlloc2__numa_node);
	tcase_add_test(tc, test_VirtualAlloc2__duplicate_parameters_rejected);
	tcase_add_test(tc, test_VirtualAlloc2FromApp__alignment_honoured);
	tcase_add_test(tc, test_VirtualAllocExNuma__node);
	suite_add_tcase(s, tc);

	tc = tcase_create("placeholder");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualAlloc2__placeholder_reserved_noaccess);
	tcase_add_test(tc, test_VirtualAlloc2__placeholder_needs_noaccess);
	tcase_add_test(tc, test_VirtualFree__split_placeholder);
	tcase_add_test(tc, test_VirtualAlloc2__replace_placeholder_then_commit);
	tcase_add_test(tc, test_VirtualAlloc2__replace_placeholder_committed);
	tcase_add_test(tc, test_VirtualFree__back_to_placeholder);
	tcase_add_test(tc, test_VirtualFree__coalesce_placeholders);
	tcase_add_test(tc, test_VirtualFree__placeholder_errors);
	tcase_add_test(tc, test_VirtualAlloc2__replace_placeholder_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("special");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualAlloc__reset_keeps_pages_committed);
	tcase_add_test(tc, test_VirtualAlloc__reset_undo_after_touch);
	tcase_add_test(tc, test_VirtualAlloc__reset_needs_address);
	tcase_add_test(tc, test_VirtualAlloc__large_pages_need_free_hugetlb_pages);
	tcase_add_test(tc, test_VirtualAlloc__large_pages_from_hugetlb_pool);
	tcase_add_test(tc, test_VirtualAlloc__large_pages_size_must_be_multiple);
	tcase_add_test(tc, test_VirtualAlloc__physical_is_reserved_only);
	tcase_add_loop_test(tc, test_VirtualAlloc__protection_modifier_kept, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("process");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualAllocEx__other_process_not_supported);
	tcase_add_test(tc, test_VirtualAllocEx__current_process);
	tcase_add_test(tc, test_VirtualFreeEx__bad_handles_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("inject");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_VirtualAlloc__mmap_enomem_leaves_nothing);
	tcase_add_test(tc, test_VirtualAlloc__mprotect_enomem_on_commit_keeps_reservation);
	tcase_add_test(tc, test_VirtualAlloc__mprotect_enomem_on_new_commit_leaves_nothing);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_vm_suite)
