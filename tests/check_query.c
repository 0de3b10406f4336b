/* VirtualQuery, VirtualQueryEx and QueryVirtualMemoryInformation on the
 * library's own memory, on memory the kernel describes (images, stack,
 * files, reservations, free gaps), and in another process. The kernel
 * view is tested twice: with PROCMAP_QUERY and with /proc/PID/maps text. */
#include "testlib.h"
#include "internal.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RW PAGE_READWRITE
#define RO PAGE_READONLY

/* Loop tests over the two kernel paths: _i == 1 parses /proc/self/maps. */
static void use_path(int text)
{
	if (text)
		mt_os.has_procmap_query = false;
}

static bool saved_procmap;

static void query_setup(void)
{
	tl_setup();
	saved_procmap = mt_os.has_procmap_query;
}

static void query_teardown(void)
{
	mt_os.has_procmap_query = saved_procmap;
	tl_teardown();
}

/* ---- own memory ---- */

START_TEST(test_VirtualQuery__region_runs_from_queried_page)
{
	char *p = tl_reserve(TL_GRAN);
	MEMORY_BASIC_INFORMATION m;

	tl_commit(p + TL_PAGE, 3 * TL_PAGE, RW);
	tl_protect(p + 3 * TL_PAGE, TL_PAGE, RO);
	m = tl_query(p + TL_PAGE + 100);
	ck_assert_ptr_eq(m.BaseAddress, p + TL_PAGE);
	ck_assert_uint_eq(m.RegionSize, 2 * TL_PAGE);
	m = tl_query(p + 2 * TL_PAGE);
	ck_assert_ptr_eq(m.BaseAddress, p + 2 * TL_PAGE);
	ck_assert_uint_eq(m.RegionSize, TL_PAGE);
	m = tl_query(p + 3 * TL_PAGE);
	ck_assert_uint_eq(m.Protect, RO);
	ck_assert_uint_eq(m.RegionSize, TL_PAGE);
	m = tl_query(p + 5 * TL_PAGE);
	ck_assert_uint_eq(m.State, MEM_RESERVE);
	ck_assert_uint_eq(m.RegionSize, TL_GRAN - 5 * TL_PAGE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualQuery__own_memory_fields_exact)
{
	char *p = tl_reserve(2 * TL_GRAN);
	MEMORY_BASIC_INFORMATION m;

	tl_commit(p + TL_GRAN, TL_PAGE, PAGE_EXECUTE_READ);
	m = tl_query(p + 10);
	ck_assert_ptr_eq(m.BaseAddress, p);
	ck_assert_ptr_eq(m.AllocationBase, p);
	ck_assert_uint_eq(m.AllocationProtect, RW);
	ck_assert_uint_eq(m.State, MEM_RESERVE);
	ck_assert_uint_eq(m.Protect, 0);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	ck_assert_uint_eq(m.RegionSize, TL_GRAN);
	m = tl_query(p + TL_GRAN);
	ck_assert_ptr_eq(m.AllocationBase, p);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, PAGE_EXECUTE_READ);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualQuery__free_gap_between_own_allocations)
{
	char *a = (char *)tl_free_range(3 * TL_GRAN), *b;
	MEMORY_BASIC_INFORMATION m;

	ck_assert_ptr_eq(VirtualAlloc(a, TL_GRAN, MEM_RESERVE, RW), a);
	b = VirtualAlloc(a + 2 * TL_GRAN, TL_GRAN, MEM_RESERVE, RW);
	ck_assert_ptr_eq(b, a + 2 * TL_GRAN);
	m = tl_query(a + TL_GRAN + 5);
	ck_assert_ptr_eq(m.BaseAddress, a + TL_GRAN);
	ck_assert_ptr_null(m.AllocationBase);
	ck_assert_uint_eq(m.AllocationProtect, 0);
	ck_assert_uint_eq(m.State, MEM_FREE);
	ck_assert_uint_eq(m.Protect, PAGE_NOACCESS);
	ck_assert_uint_eq(m.Type, 0);
	ck_assert_uint_eq(m.RegionSize, TL_GRAN);
	tl_release(a);
	tl_release(b);
}
END_TEST

/* ---- memory the kernel describes ---- */

static void assert_image(const void *code)
{
	MEMORY_BASIC_INFORMATION m = tl_query(code);
	Dl_info dl;

	ck_assert(dladdr(code, &dl) != 0);
	ck_assert_uint_eq(m.Type, MEM_IMAGE);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, PAGE_EXECUTE_READ);
	ck_assert_uint_eq(m.AllocationProtect, PAGE_EXECUTE_WRITECOPY);
	ck_assert_ptr_eq(m.AllocationBase, dl.dli_fbase);
	ck_assert_ptr_eq(m.BaseAddress, (void *)((uintptr_t)code & ~(TL_PAGE - 1)));
	ck_assert_uint_ge((uintptr_t)m.BaseAddress + m.RegionSize, (uintptr_t)code + 1);
}

START_TEST(test_VirtualQuery__executable_code_is_image)
{
	use_path(_i);
	assert_image((const void *)(uintptr_t)tl_run);
}
END_TEST

START_TEST(test_VirtualQuery__libc_code_is_image)
{
	use_path(_i);
	assert_image((const void *)(uintptr_t)getppid);
}
END_TEST

START_TEST(test_VirtualQuery__stack_is_private_readwrite)
{
	volatile char local[64];
	MEMORY_BASIC_INFORMATION m;

	use_path(_i);
	local[0] = 1;
	m = tl_query((const void *)local);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, RW);
	ck_assert_uint_eq(m.AllocationProtect, RW);
	ck_assert_uint_le((uintptr_t)m.AllocationBase, (uintptr_t)local);
}
END_TEST

static int temp_file(size_t size)
{
	char path[] = "/tmp/check_query.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

START_TEST(test_VirtualQuery__shared_file_is_mapped)
{
	int fd = temp_file(3 * TL_PAGE);
	char *f = mmap(NULL, 3 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	MEMORY_BASIC_INFORMATION m;

	use_path(_i);
	ck_assert_ptr_ne(f, MAP_FAILED);
	m = tl_query(f + TL_PAGE);
	ck_assert_uint_eq(m.Type, MEM_MAPPED);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, RW);
	ck_assert_ptr_eq(m.AllocationBase, f);
	ck_assert_ptr_eq(m.BaseAddress, f + TL_PAGE);
	ck_assert_uint_eq(m.RegionSize, 2 * TL_PAGE);
	munmap(f, 3 * TL_PAGE);
	close(fd);
}
END_TEST

START_TEST(test_VirtualQuery__private_file_is_mapped_copy)
{
	int fd = temp_file(2 * TL_PAGE);
	char *f = mmap(NULL, 2 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	MEMORY_BASIC_INFORMATION m;

	use_path(_i);
	ck_assert_ptr_ne(f, MAP_FAILED);
	m = tl_query(f);
	ck_assert_uint_eq(m.Type, MEM_MAPPED);
	ck_assert_uint_eq(m.Protect, PAGE_WRITECOPY);
	ck_assert_uint_eq(m.RegionSize, 2 * TL_PAGE);
	munmap(f, 2 * TL_PAGE);
	close(fd);
}
END_TEST

START_TEST(test_VirtualQuery__prot_none_mapping_is_reserved)
{
	char *r = mmap(NULL, 4 * TL_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	MEMORY_BASIC_INFORMATION m;

	use_path(_i);
	ck_assert_ptr_ne(r, MAP_FAILED);
	m = tl_query(r + TL_PAGE);
	ck_assert_uint_eq(m.State, MEM_RESERVE);
	ck_assert_uint_eq(m.Protect, 0);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	ck_assert_ptr_eq(m.BaseAddress, r + TL_PAGE);
	ck_assert_uint_ge((uintptr_t)m.BaseAddress + m.RegionSize, (uintptr_t)r + 4 * TL_PAGE);
	munmap(r, 4 * TL_PAGE);
}
END_TEST

START_TEST(test_VirtualQuery__hole_between_mappings_is_free)
{
	char *r = mmap(NULL, 3 * TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	MEMORY_BASIC_INFORMATION m;

	use_path(_i);
	ck_assert_ptr_ne(r, MAP_FAILED);
	ck_assert_int_eq(munmap(r + TL_PAGE, TL_PAGE), 0);
	m = tl_query(r + TL_PAGE + 1);
	ck_assert_uint_eq(m.State, MEM_FREE);
	ck_assert_uint_eq(m.Protect, PAGE_NOACCESS);
	ck_assert_uint_eq(m.Type, 0);
	ck_assert_ptr_eq(m.BaseAddress, r + TL_PAGE);
	ck_assert_uint_eq(m.RegionSize, TL_PAGE);
	m = tl_query(r);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, RO);
	munmap(r, TL_PAGE);
	munmap(r + 2 * TL_PAGE, TL_PAGE);
}
END_TEST

START_TEST(test_VirtualQuery__null_page_is_free)
{
	MEMORY_BASIC_INFORMATION m;

	use_path(_i);
	m = tl_query(NULL);
	ck_assert_uint_eq(m.State, MEM_FREE);
	ck_assert_ptr_null(m.BaseAddress);
	ck_assert_uint_ge(m.RegionSize, 0x10000);
}
END_TEST

START_TEST(test_VirtualQuery__both_paths_agree_on_maps)
{
	MEMORY_BASIC_INFORMATION a, b;
	const char *probes[] = { (const char *)(uintptr_t)tl_run, (const char *)(uintptr_t)getppid,
	                         (const char *)&saved_procmap, (const char *)&a, NULL };

	if (!saved_procmap)
		return;         /* the kernel has no PROCMAP_QUERY: one path only */
	for (int i = 0; i < 5; i++) {
		mt_os.has_procmap_query = true;
		a = tl_query(probes[i]);
		mt_os.has_procmap_query = false;
		b = tl_query(probes[i]);
		ck_assert_msg(!memcmp(&a, &b, sizeof a), "probe %d differs", i);
	}
}
END_TEST

/* ---- errors ---- */

START_TEST(test_VirtualQuery__short_length_rejected)
{
	MEMORY_BASIC_INFORMATION m;
	char *p = tl_reserve(TL_GRAN);

	SetLastError(0);
	ck_assert_uint_eq(VirtualQuery(p, &m, sizeof m - 1), 0);
	ck_assert_last_error(ERROR_BAD_LENGTH);
	ck_assert_uint_eq(VirtualQuery(p, &m, 0), 0);
	ck_assert_last_error(ERROR_BAD_LENGTH);
	ck_assert_uint_eq(VirtualQuery(p, NULL, sizeof m), 0);
	ck_assert_last_error(ERROR_NOACCESS);
	ck_assert_uint_eq(VirtualQuery(p, &m, sizeof m + 8), sizeof m);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualQuery__kernel_address_rejected)
{
	MEMORY_BASIC_INFORMATION m;

	SetLastError(0);
	ck_assert_uint_eq(VirtualQuery((void *)((uintptr_t)1 << 47), &m, sizeof m), 0);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	ck_assert_uint_eq(VirtualQuery((void *)(uintptr_t)0xffffffffff600000, &m, sizeof m), 0);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
}
END_TEST

/* ---- VirtualQueryEx ---- */

START_TEST(test_VirtualQueryEx__child_mapping_visible)
{
	struct tl_child c;
	MEMORY_BASIC_INFORMATION m;
	HANDLE h;

	use_path(_i);
	tl_child_start(&c, 3 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
	h = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(VirtualQueryEx(h, (char *)c.addr + TL_PAGE, &m, sizeof m), sizeof m);
	ck_assert_ptr_eq(m.BaseAddress, (char *)c.addr + TL_PAGE);
	ck_assert_ptr_eq(m.AllocationBase, c.addr);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, RW);
	ck_assert_uint_eq(m.Type, MEM_MAPPED);
	ck_assert_uint_eq(m.RegionSize, 2 * TL_PAGE);
	ck_assert(CloseHandle(h));
	tl_child_stop(&c);
}
END_TEST

START_TEST(test_VirtualQueryEx__child_reservation_visible)
{
	struct tl_child c;
	MEMORY_BASIC_INFORMATION m;
	HANDLE h;

	use_path(_i);
	tl_child_start(&c, 5 * TL_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
	h = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(VirtualQueryEx(h, c.addr, &m, sizeof m), sizeof m);
	ck_assert_uint_eq(m.State, MEM_RESERVE);
	ck_assert_uint_eq(m.Protect, 0);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	ck_assert(CloseHandle(h));
	tl_child_stop(&c);
}
END_TEST

START_TEST(test_VirtualQueryEx__current_process)
{
	char *p = tl_commit_new(TL_PAGE, RW);
	MEMORY_BASIC_INFORMATION m;

	ck_assert_uint_eq(VirtualQueryEx(GetCurrentProcess(), p, &m, sizeof m), sizeof m);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_ptr_eq(m.AllocationBase, p);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualQueryEx__needs_query_right)
{
	HANDLE h = OpenProcess(PROCESS_VM_READ, FALSE, GetCurrentProcessId());
	MEMORY_BASIC_INFORMATION m;

	ck_assert_ptr_nonnull(h);
	SetLastError(0);
	ck_assert_uint_eq(VirtualQueryEx(h, &m, &m, sizeof m), 0);
	ck_assert_last_error(ERROR_ACCESS_DENIED);
	ck_assert(CloseHandle(h));
}
END_TEST

START_TEST(test_VirtualQueryEx__closed_handle_rejected)
{
	HANDLE h = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, GetCurrentProcessId());
	MEMORY_BASIC_INFORMATION m;

	ck_assert_ptr_nonnull(h);
	ck_assert(CloseHandle(h));
	SetLastError(0);
	ck_assert_uint_eq(VirtualQueryEx(h, &m, &m, sizeof m), 0);
	ck_assert_last_error(ERROR_INVALID_HANDLE);
	ck_assert_uint_eq(VirtualQueryEx(NULL, &m, &m, sizeof m), 0);
	ck_assert_last_error(ERROR_INVALID_HANDLE);
}
END_TEST

START_TEST(test_VirtualQueryEx__child_errors)
{
	struct tl_child c;
	MEMORY_BASIC_INFORMATION m;
	HANDLE h;

	tl_child_start(&c, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
	h = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(h);
	SetLastError(0);
	ck_assert_uint_eq(VirtualQueryEx(h, c.addr, &m, 4), 0);
	ck_assert_last_error(ERROR_BAD_LENGTH);
	ck_assert_uint_eq(VirtualQueryEx(h, (void *)((uintptr_t)1 << 47), &m, sizeof m), 0);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	ck_assert(CloseHandle(h));
	tl_child_stop(&c);
}
END_TEST

/* ---- QueryVirtualMemoryInformation ---- */

static BOOL region_info(const void *addr, WIN32_MEMORY_REGION_INFORMATION *info, SIZE_T *ret)
{
	memset(info, 0xcc, sizeof *info);
	return QueryVirtualMemoryInformation(GetCurrentProcess(), addr, MemoryRegionInfo, info,
	                                     sizeof *info, ret);
}

START_TEST(test_QueryVirtualMemoryInformation__own_region)
{
	char *p = tl_reserve(2 * TL_GRAN);
	WIN32_MEMORY_REGION_INFORMATION info;
	SIZE_T ret = 0;

	tl_commit(p + TL_PAGE, 3 * TL_PAGE, RW);
	tl_commit(p + TL_GRAN, TL_PAGE, RO);
	ck_assert(region_info(p + TL_GRAN + 5, &info, &ret));
	ck_assert_uint_eq(ret, sizeof info);
	ck_assert_ptr_eq(info.AllocationBase, p);
	ck_assert_uint_eq(info.AllocationProtect, RW);
	ck_assert_uint_eq(info.RegionSize, 2 * TL_GRAN);
	ck_assert_uint_eq(info.CommitSize, 4 * TL_PAGE);
	ck_assert_uint_eq(info.Flags, 1);
	ck_assert_uint_eq(info.Private, 1);
	ck_assert(region_info(p, &info, NULL));
	ck_assert_uint_eq(info.RegionSize, 2 * TL_GRAN);
	tl_release(p);
}
END_TEST

START_TEST(test_QueryVirtualMemoryInformation__code_is_mapped_image)
{
	WIN32_MEMORY_REGION_INFORMATION info;
	Dl_info dl;

	use_path(_i);
	ck_assert(region_info((const void *)(uintptr_t)tl_run, &info, NULL));
	ck_assert(dladdr((const void *)(uintptr_t)tl_run, &dl) != 0);
	ck_assert_uint_eq(info.MappedImage, 1);
	ck_assert_uint_eq(info.Private, 0);
	ck_assert_ptr_eq(info.AllocationBase, dl.dli_fbase);
	ck_assert_uint_gt(info.RegionSize, (uintptr_t)tl_run - (uintptr_t)dl.dli_fbase);
	ck_assert_uint_gt(info.CommitSize, 0);
	ck_assert_uint_le(info.CommitSize, info.RegionSize);
}
END_TEST

START_TEST(test_QueryVirtualMemoryInformation__errors)
{
	WIN32_MEMORY_REGION_INFORMATION info;
	char *p = tl_reserve(TL_PAGE);
	char *freed = tl_reserve(TL_GRAN);

	tl_release(freed);
	ck_assert_false_error(QueryVirtualMemoryInformation(GetCurrentProcess(), p,
	                                                    (WIN32_MEMORY_INFORMATION_CLASS)1, &info,
	                                                    sizeof info, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(QueryVirtualMemoryInformation(GetCurrentProcess(), p, MemoryRegionInfo,
	                                                    &info, sizeof info - 1, NULL), ERROR_BAD_LENGTH);
	ck_assert_false_error(region_info(freed, &info, NULL), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(region_info(p + TL_PAGE, &info, NULL), ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

#define add_both_paths(tc, t) tcase_add_loop_test(tc, t, 0, 2)


/* Daemons close every descriptor they did not open; the library keeps
 * /proc/self/maps open, and must notice and open it again without
 * touching the file that reused the number. */
START_TEST(test_VirtualQuery__survives_closed_descriptors)
{
	MEMORY_BASIC_INFORMATION m;
	int x = 0, fds[8], n = 0;

	use_path(_i);
	ck_assert_uint_eq(VirtualQuery(&x, &m, sizeof m), sizeof m);
	for (int fd = 3; fd < 256; fd++)
		close(fd);
	for (n = 0; n < 8; n++)
		fds[n] = open("/dev/null", O_RDONLY);
	ck_assert_uint_eq(VirtualQuery(&x, &m, sizeof m), sizeof m);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(fcntl(fds[i], F_GETFD), 0);      /* still open */
		close(fds[i]);
	}
}
END_TEST

/* Free space ends at the top of the range GetSystemInfo reports; above it
 * addresses are invalid. */
START_TEST(test_VirtualQuery__top_of_user_range)
{
	SYSTEM_INFO si;
	MEMORY_BASIC_INFORMATION m;
	uintptr_t top;

	GetSystemInfo(&si);
	top = (uintptr_t)si.lpMaximumApplicationAddress + 1;
	ck_assert_uint_eq(VirtualQuery((void *)(top - TL_GRAN), &m, sizeof m), sizeof m);
	ck_assert_uint_eq(m.State, MEM_FREE);
	ck_assert_uint_eq((uintptr_t)m.BaseAddress + m.RegionSize, top);
	SetLastError(0);
	ck_assert_uint_eq(VirtualQuery((void *)top, &m, sizeof m), 0);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
}
END_TEST

static Suite *make_query_suite(void)
{
	Suite *s = suite_create("query");
	TCase *tc;

	tc = tcase_create("own");
	tcase_add_checked_fixture(tc, query_setup, query_teardown);
	tcase_add_test(tc, test_VirtualQuery__region_runs_from_queried_page);
	tcase_add_test(tc, test_VirtualQuery__own_memory_fields_exact);
	tcase_add_test(tc, test_VirtualQuery__free_gap_between_own_allocations);
	suite_add_tcase(s, tc);

	tc = tcase_create("kernel");
	tcase_add_checked_fixture(tc, query_setup, query_teardown);
	add_both_paths(tc, test_VirtualQuery__executable_code_is_image);
	add_both_paths(tc, test_VirtualQuery__libc_code_is_image);
	add_both_paths(tc, test_VirtualQuery__stack_is_private_readwrite);
	add_both_paths(tc, test_VirtualQuery__shared_file_is_mapped);
	add_both_paths(tc, test_VirtualQuery__private_file_is_mapped_copy);
	add_both_paths(tc, test_VirtualQuery__prot_none_mapping_is_reserved);
	add_both_paths(tc, test_VirtualQuery__hole_between_mappings_is_free);
	add_both_paths(tc, test_VirtualQuery__null_page_is_free);
	tcase_add_test(tc, test_VirtualQuery__both_paths_agree_on_maps);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, query_setup, query_teardown);
	tcase_add_test(tc, test_VirtualQuery__short_length_rejected);
	tcase_add_test(tc, test_VirtualQuery__kernel_address_rejected);
	tcase_add_test(tc, test_VirtualQuery__top_of_user_range);
	add_both_paths(tc, test_VirtualQuery__survives_closed_descriptors);
	suite_add_tcase(s, tc);

	tc = tcase_create("ex");
	tcase_add_checked_fixture(tc, query_setup, query_teardown);
	add_both_paths(tc, test_VirtualQueryEx__child_mapping_visible);
	add_both_paths(tc, test_VirtualQueryEx__child_reservation_visible);
	tcase_add_test(tc, test_VirtualQueryEx__current_process);
	tcase_add_test(tc, test_VirtualQueryEx__needs_query_right);
	tcase_add_test(tc, test_VirtualQueryEx__closed_handle_rejected);
	tcase_add_test(tc, test_VirtualQueryEx__child_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("region_info");
	tcase_add_checked_fixture(tc, query_setup, query_teardown);
	tcase_add_test(tc, test_QueryVirtualMemoryInformation__own_region);
	add_both_paths(tc, test_QueryVirtualMemoryInformation__code_is_mapped_image);
	tcase_add_test(tc, test_QueryVirtualMemoryInformation__errors);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_query_suite)
