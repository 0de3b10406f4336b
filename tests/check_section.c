/* Check suite for file mapping: CreateFileMapping*, OpenFileMapping*,
 * MapViewOfFile*, UnmapViewOfFile*, FlushViewOfFile, GetMappedFileName. */
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RW PAGE_READWRITE

static char tmp_path[256];

static void file_setup(void)
{
	tl_setup();
	snprintf(tmp_path, sizeof tmp_path, "/tmp/check_section.%d", (int)getpid());
	unlink(tmp_path);
}

static void file_teardown(void)
{
	unlink(tmp_path);
	tl_teardown();
}

static HANDLE pagefile(DWORD protect, SIZE_T size, const char *name)
{
	HANDLE h = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, protect, (DWORD)(size >> 32),
	                              (DWORD)size, name);

	ck_assert_msg(h != NULL, "CreateFileMapping failed: %lu", (unsigned long)GetLastError());
	return h;
}

static HANDLE open_file(DWORD access, DWORD disposition)
{
	HANDLE f = CreateFileA(tmp_path, access, 0, NULL, disposition, 0, NULL);

	ck_assert_msg(f != INVALID_HANDLE_VALUE, "CreateFile failed: %lu", (unsigned long)GetLastError());
	return f;
}

static void write_file(const char *data, size_t n)
{
	int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static off_t file_size(void)
{
	struct stat st;

	ck_assert_int_eq(stat(tmp_path, &st), 0);
	return st.st_size;
}

/* A name unique to this process and test. */
static const char *uname_(const char *ns, const char *tag)
{
	static char buf[128];

	snprintf(buf, sizeof buf, "%s%s-%d", ns, tag, (int)getpid());
	return buf;
}

/* An ASCII string as UTF-16 (room for 64 units). */
static void swprintf_ascii(WCHAR *out, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < 63; i++)
		out[i] = (WCHAR)(unsigned char)s[i];
	out[i] = 0;
}

/* ---- pagefile sections ---- */

START_TEST(test_CreateFileMapping__pagefile_views_share_bytes)
{
	HANDLE h = pagefile(RW, TL_MIB, NULL);
	char *a = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	char *b = MapViewOfFile(h, FILE_MAP_READ, 0, 0, TL_GRAN);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	strcpy(a, "through a");
	ck_assert_str_eq(b, "through a");
	a[TL_MIB - 1] = 5;
	ck_assert_int_eq(a[TL_MIB - 1], 5);
	ck_assert(UnmapViewOfFile(a));
	ck_assert(UnmapViewOfFile(b));
	ck_assert(CloseHandle(h));
}
END_TEST

START_TEST(test_CreateFileMapping__pagefile_size_zero_is_invalid)
{
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, 0, NULL),
	                     ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_CreateFileMapping__null_file_handle)
{
	ck_assert_null_error(CreateFileMappingA(NULL, NULL, RW, 0, 4096, NULL), ERROR_INVALID_HANDLE);
}
END_TEST

static const DWORD bad_protects[] = {
	PAGE_NOACCESS, PAGE_EXECUTE, RW | PAGE_GUARD, RW | SEC_COMMIT | SEC_RESERVE,
	RW | SEC_IMAGE, RW | SEC_LARGE_PAGES | SEC_RESERVE, RW | SEC_NOCACHE | SEC_WRITECOMBINE,
	RW | 0x00000100u,
};

START_TEST(test_CreateFileMapping__invalid_protection)
{
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, bad_protects[_i], 0,
	                                        4096, NULL), ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_CreateFileMapping__success_clears_last_error)
{
	HANDLE h;

	SetLastError(1234);
	h = pagefile(RW, 4096, NULL);
	ck_assert_last_error(0);
	CloseHandle(h);
}
END_TEST

START_TEST(test_CreateFileMapping__view_outlives_handle)
{
	HANDLE h = pagefile(RW, 8192, NULL);
	char *p = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0);

	ck_assert(CloseHandle(h));
	p[8191] = 9;
	ck_assert_int_eq(p[8191], 9);
	ck_assert(UnmapViewOfFile(p));
	ck_assert_false_error(CloseHandle(h), ERROR_INVALID_HANDLE);
}
END_TEST

/* ---- views ---- */

START_TEST(test_MapViewOfFile__query_shows_mapped_view)
{
	HANDLE h = pagefile(RW, 3 * TL_PAGE, NULL);
	char *p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	MEMORY_BASIC_INFORMATION m = tl_query(p + TL_PAGE);
	WIN32_MEMORY_REGION_INFORMATION info;

	ck_assert_ptr_eq(m.AllocationBase, p);
	ck_assert_uint_eq(m.Type, MEM_MAPPED);
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.Protect, PAGE_READONLY);
	ck_assert_uint_eq(m.AllocationProtect, PAGE_READONLY);
	ck_assert_uint_eq(m.RegionSize, 2 * TL_PAGE);
	m = tl_query(p + 3 * TL_PAGE);
	ck_assert_uint_eq(m.State, MEM_FREE);           /* rest of the 64 KiB unit */
	ck_assert(QueryVirtualMemoryInformation(GetCurrentProcess(), p, MemoryRegionInfo, &info,
	                                        sizeof info, NULL));
	ck_assert_uint_eq(info.RegionSize, 3 * TL_PAGE);
	ck_assert(UnmapViewOfFile(p));
	ck_assert_uint_eq(tl_query(p).State, MEM_FREE);
	CloseHandle(h);
}
END_TEST

START_TEST(test_MapViewOfFile__read_only_view_faults_on_write)
{
	HANDLE h = pagefile(RW, TL_PAGE, NULL);
	char *p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);

	tl_fault_begin(0);
	if (tl_forking()) {
		pid_t pid = fork();

		if (pid == 0) {
			tl_write(p, 1);
			_exit(0);
		}
		int st;

		waitpid(pid, &st, 0);
		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	}
	tl_fault_end();
	UnmapViewOfFile(p);
	CloseHandle(h);
}
END_TEST

struct access_case {
	DWORD protect, access;
	bool  ok;
};

static const struct access_case access_cases[] = {
	{ PAGE_READONLY, FILE_MAP_READ, true },
	{ PAGE_READONLY, FILE_MAP_WRITE, false },
	{ PAGE_READONLY, FILE_MAP_COPY, true },
	{ PAGE_READONLY, FILE_MAP_READ | FILE_MAP_EXECUTE, false },
	{ PAGE_READWRITE, FILE_MAP_ALL_ACCESS, true },
	{ PAGE_READWRITE, FILE_MAP_COPY, true },
	{ PAGE_READWRITE, FILE_MAP_WRITE | FILE_MAP_EXECUTE, false },
	{ PAGE_WRITECOPY, FILE_MAP_WRITE, false },
	{ PAGE_WRITECOPY, FILE_MAP_COPY, true },
	{ PAGE_EXECUTE_READ, FILE_MAP_READ | FILE_MAP_EXECUTE, true },
	{ PAGE_EXECUTE_READ, FILE_MAP_WRITE, false },
	{ PAGE_EXECUTE_READWRITE, FILE_MAP_WRITE | FILE_MAP_EXECUTE, true },
	{ PAGE_EXECUTE_WRITECOPY, FILE_MAP_COPY | FILE_MAP_EXECUTE, true },
};

START_TEST(test_MapViewOfFile__access_against_section_protection)
{
	const struct access_case *c = &access_cases[_i];
	HANDLE h = pagefile(c->protect, TL_GRAN, NULL);
	void *p;

	SetLastError(0);
	p = MapViewOfFile(h, c->access, 0, 0, 0);
	if (c->ok) {
		ck_assert_msg(p != NULL, "case %d failed: %lu", _i, (unsigned long)GetLastError());
		ck_assert(UnmapViewOfFile(p));
	} else {
		ck_assert_ptr_null(p);
		ck_assert_last_error(ERROR_ACCESS_DENIED);
	}
	CloseHandle(h);
}
END_TEST

START_TEST(test_MapViewOfFile__no_access_is_invalid)
{
	HANDLE h = pagefile(RW, TL_GRAN, NULL);

	ck_assert_null_error(MapViewOfFile(h, 0, 0, 0, 0), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(MapViewOfFile(h, FILE_MAP_READ | 0x100, 0, 0, 0), ERROR_INVALID_PARAMETER);
	CloseHandle(h);
}
END_TEST

START_TEST(test_MapViewOfFile__offset_alignment)
{
	HANDLE h = pagefile(RW, 4 * TL_GRAN, NULL);
	char *a = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0), *b;

	ck_assert_null_error(MapViewOfFile(h, FILE_MAP_READ, 0, (DWORD)TL_PAGE, 0),
	                     ERROR_MAPPED_ALIGNMENT);
	b = MapViewOfFile(h, FILE_MAP_READ, 0, (DWORD)TL_GRAN, TL_PAGE);
	ck_assert_ptr_nonnull(b);
	a[TL_GRAN] = 'x';
	ck_assert_int_eq(b[0], 'x');
	ck_assert_uint_eq(tl_query(b).RegionSize, TL_PAGE);
	UnmapViewOfFile(a);
	UnmapViewOfFile(b);
	CloseHandle(h);
}
END_TEST

START_TEST(test_MapViewOfFile__view_larger_than_section)
{
	HANDLE h = pagefile(RW, TL_GRAN, NULL);

	ck_assert_null_error(MapViewOfFile(h, FILE_MAP_READ, 0, 0, TL_GRAN + 1), ERROR_ACCESS_DENIED);
	ck_assert_null_error(MapViewOfFile(h, FILE_MAP_READ, 0, (DWORD)TL_GRAN, 0), ERROR_ACCESS_DENIED);
	ck_assert_null_error(MapViewOfFile(h, FILE_MAP_READ, 1, 0, 0), ERROR_ACCESS_DENIED);
	CloseHandle(h);
}
END_TEST

START_TEST(test_MapViewOfFile__bad_handles)
{
	HANDLE f;

	ck_assert_null_error(MapViewOfFile(NULL, FILE_MAP_READ, 0, 0, 0), ERROR_INVALID_HANDLE);
	ck_assert_null_error(MapViewOfFile((HANDLE)(uintptr_t)0x7770, FILE_MAP_READ, 0, 0, 0),
	                     ERROR_INVALID_HANDLE);
	f = CreateFileA("/tmp", GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
	if (f != INVALID_HANDLE_VALUE) {
		ck_assert_null_error(MapViewOfFile(f, FILE_MAP_READ, 0, 0, 0), ERROR_INVALID_HANDLE);
		CloseHandle(f);
	}
}
END_TEST

START_TEST(test_MapViewOfFile__copy_on_write_protection_changes)
{
	HANDLE h = pagefile(RW, 2 * TL_PAGE, NULL);
	char *shared = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	char *copy = MapViewOfFile(h, FILE_MAP_COPY, 0, 0, 0);
	MEMORY_BASIC_INFORMATION m;

	strcpy(shared, "original");
	m = tl_query(copy);
	ck_assert_uint_eq(m.Protect, PAGE_WRITECOPY);
	ck_assert_uint_eq(m.AllocationProtect, PAGE_WRITECOPY);
	ck_assert_str_eq(copy, "original");     /* unwritten: still the section's */
	copy[0] = 'O';
	m = tl_query(copy);
	ck_assert_uint_eq(m.Protect, PAGE_READWRITE);
	ck_assert_uint_eq(m.RegionSize, TL_PAGE);
	ck_assert_uint_eq(tl_query(copy + TL_PAGE).Protect, PAGE_WRITECOPY);
	ck_assert_str_eq(shared, "original");   /* the write stayed private */
	ck_assert_str_eq(copy, "Original");
	UnmapViewOfFile(shared);
	UnmapViewOfFile(copy);
	CloseHandle(h);
}
END_TEST

/* FILE_MAP_ALL_ACCESS holds the bit of FILE_MAP_COPY, yet maps a shared
 * read-write view; FILE_MAP_COPY with FILE_MAP_READ is a read-only view. */
START_TEST(test_MapViewOfFile__all_access_is_shared_read_write)
{
	HANDLE h = pagefile(RW, TL_PAGE, NULL);
	char *all = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0);
	char *other = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	char *ro = MapViewOfFile(h, FILE_MAP_COPY | FILE_MAP_READ, 0, 0, 0);

	ck_assert_ptr_nonnull(all);
	ck_assert_uint_eq(tl_query(all).Protect, PAGE_READWRITE);
	ck_assert_uint_eq(tl_query(all).AllocationProtect, PAGE_READWRITE);
	strcpy(all, "shared");
	ck_assert_str_eq(other, "shared");
	ck_assert_uint_eq(tl_query(ro).Protect, PAGE_READONLY);
	UnmapViewOfFile(all);
	UnmapViewOfFile(other);
	UnmapViewOfFile(ro);
	CloseHandle(h);
}
END_TEST

/* Executable views: every call target valid, none with
 * FILE_MAP_TARGETS_INVALID (or PAGE_TARGETS_INVALID for MapViewOfFile3). */
START_TEST(test_MapViewOfFile__targets_invalid)
{
	HANDLE h = pagefile(PAGE_EXECUTE_READWRITE, TL_GRAN, NULL);
	char *all = MapViewOfFile(h, FILE_MAP_READ | FILE_MAP_EXECUTE, 0, 0, 0);
	char *none = MapViewOfFile(h, FILE_MAP_READ | FILE_MAP_EXECUTE | FILE_MAP_TARGETS_INVALID,
	                           0, 0, 0);
	char *none3 = MapViewOfFile3(h, NULL, NULL, 0, 0, 0,
	                             PAGE_EXECUTE_READ | PAGE_TARGETS_INVALID, NULL, 0);
	CFG_CALL_TARGET_INFO t = { .Offset = 0x40, .Flags = CFG_CALL_TARGET_VALID };
	int v = -1;

	ck_assert_ptr_nonnull(all);
	ck_assert_ptr_nonnull(none);
	ck_assert_ptr_nonnull(none3);
	ck_assert_int_eq(memapi_is_valid_call_target(all + 0x40, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(memapi_is_valid_call_target(none + 0x40, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(memapi_is_valid_call_target(none3 + 0x1000, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert(SetProcessValidCallTargets(GetCurrentProcess(), none, TL_GRAN, 1, &t));
	ck_assert_int_eq(memapi_is_valid_call_target(none + 0x40, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(memapi_is_valid_call_target(none + 0x50, &v), 0);
	ck_assert_int_eq(v, 0);
	UnmapViewOfFile(all);
	UnmapViewOfFile(none);
	UnmapViewOfFile(none3);
	CloseHandle(h);
}
END_TEST

/* The Numa2/2/3FromApp forms, process handles, and a kernel that refuses
 * the mapping. */
START_TEST(test_MapViewOfFile2__forms_and_failures)
{
	HANDLE h = pagefile(RW, 2 * TL_GRAN, NULL), other;
	struct tl_child c;
	char *a, *b, *d;
	uint64_t before = memapi_root.sections ?
	                  ((const struct memapi_rec_section *)memapi_root.sections)->view_count : 0;

	a = MapViewOfFile2(h, GetCurrentProcess(), TL_GRAN, NULL, TL_GRAN, 0, RW);
	b = MapViewOfFileNuma2(h, GetCurrentProcess(), 0, NULL, 0, 0, PAGE_READONLY, 0);
	d = MapViewOfFile3FromApp(h, NULL, NULL, 0, TL_GRAN, 0, RW, NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(d);
	strcpy(a, "second unit");
	ck_assert_str_eq(b + TL_GRAN, "second unit");
	ck_assert_uint_eq(tl_query(b).Protect, PAGE_READONLY);
	ck_assert_null_error(MapViewOfFileNuma2(h, GetCurrentProcess(), 0, NULL, 0, 0, RW, 4096),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_null_error(MapViewOfFile2(h, (HANDLE)(uintptr_t)0x4444, 0, NULL, 0, 0, RW),
	                     ERROR_INVALID_HANDLE);
	tl_child_start(&c, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
	other = OpenProcess(PROCESS_VM_OPERATION, FALSE, (DWORD)c.pid);
	ck_assert_ptr_nonnull(other);
	ck_assert_null_error(MapViewOfFile2(h, other, 0, NULL, 0, 0, RW), ERROR_NOT_SUPPORTED);
	ck_assert_false_error(UnmapViewOfFile2(other, a, 0), ERROR_NOT_SUPPORTED);
	ck_assert_false_error(UnmapViewOfFile2((HANDLE)(uintptr_t)0x4444, a, 0),
	                      ERROR_INVALID_HANDLE);
	CloseHandle(other);
	tl_child_stop(&c);
	/* The kernel refuses every mapping: no view, nothing recorded. */
	tl_inject(TL_MMAP, ENOMEM, 0);
	ck_assert_null_error(MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0), ERROR_NOT_ENOUGH_MEMORY);
	tl_inject_reset();
	ck_assert_uint_eq(((const struct memapi_rec_section *)memapi_root.sections)->view_count,
	                  before + 3);
	ck_assert(UnmapViewOfFile2(GetCurrentProcess(), a, 0));
	ck_assert(UnmapViewOfFile(b));
	ck_assert(UnmapViewOfFile(d));
	CloseHandle(h);
}
END_TEST

START_TEST(test_UnmapViewOfFile__any_address_inside)
{
	HANDLE h = pagefile(RW, 4 * TL_PAGE, NULL);
	char *p = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);

	ck_assert(UnmapViewOfFile(p + 3 * TL_PAGE + 17));
	ck_assert_uint_eq(tl_query(p).State, MEM_FREE);
	ck_assert_false_error(UnmapViewOfFile(p), ERROR_INVALID_ADDRESS);
	CloseHandle(h);
}
END_TEST

START_TEST(test_UnmapViewOfFile__not_a_view)
{
	char *p = tl_commit_new(TL_PAGE, RW);

	ck_assert_false_error(UnmapViewOfFile(p), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(UnmapViewOfFile(NULL), ERROR_INVALID_ADDRESS);
	ck_assert_false_error(UnmapViewOfFileEx(p, 0x80), ERROR_INVALID_PARAMETER);
	tl_release(p);
}
END_TEST

START_TEST(test_VirtualFree__view_is_not_virtual_memory)
{
	HANDLE h = pagefile(RW, TL_PAGE, NULL);
	char *p = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);

	ck_assert_false_error(VirtualFree(p, 0, MEM_RELEASE), ERROR_INVALID_ADDRESS);
	ck_assert(UnmapViewOfFile(p));
	CloseHandle(h);
}
END_TEST

START_TEST(test_MapViewOfFileEx__fixed_address)
{
	HANDLE h = pagefile(RW, TL_GRAN, NULL);
	uintptr_t at = tl_free_range(TL_GRAN);
	char *p = MapViewOfFileEx(h, FILE_MAP_WRITE, 0, 0, 0, (void *)at);
	char *q;

	ck_assert_ptr_eq(p, (void *)at);
	ck_assert_null_error(MapViewOfFileEx(h, FILE_MAP_WRITE, 0, 0, 0, (void *)at),
	                     ERROR_INVALID_ADDRESS);
	ck_assert_null_error(MapViewOfFileEx(h, FILE_MAP_WRITE, 0, 0, 0, (void *)(at + TL_PAGE)),
	                     ERROR_MAPPED_ALIGNMENT);
	q = tl_reserve(TL_GRAN);
	ck_assert_null_error(MapViewOfFileEx(h, FILE_MAP_WRITE, 0, 0, 0, q), ERROR_INVALID_ADDRESS);
	tl_release(q);
	UnmapViewOfFile(p);
	CloseHandle(h);
}
END_TEST

START_TEST(test_VirtualProtect__inside_views)
{
	HANDLE h = pagefile(RW, 2 * TL_PAGE, NULL);
	char *ro = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	char *rw = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	DWORD old;

	ck_assert_false_error(VirtualProtect(ro, TL_PAGE, RW, &old), ERROR_ACCESS_DENIED);
	ck_assert_false_error(VirtualProtect(rw, TL_PAGE, PAGE_EXECUTE_READ, &old),
	                      ERROR_ACCESS_DENIED);
	ck_assert_uint_eq(tl_protect(rw, TL_PAGE, PAGE_READONLY), RW);
	ck_assert_uint_eq(tl_protect(rw, TL_PAGE, RW), PAGE_READONLY);
	rw[0] = 1;
	UnmapViewOfFile(ro);
	UnmapViewOfFile(rw);
	CloseHandle(h);
}
END_TEST

/* ---- SEC_RESERVE ---- */

START_TEST(test_CreateFileMapping__sec_reserve_commit_in_view)
{
	HANDLE h = pagefile(RW | SEC_RESERVE, 4 * TL_PAGE, NULL);
	char *a = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	char *b = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	MEMORY_BASIC_INFORMATION m = tl_query(a);

	ck_assert_uint_eq(m.State, MEM_RESERVE);
	ck_assert_uint_eq(m.Type, MEM_MAPPED);
	ck_assert_ptr_eq(VirtualAlloc(a + TL_PAGE, TL_PAGE, MEM_COMMIT, RW), a + TL_PAGE);
	a[TL_PAGE] = 'c';
	m = tl_query(b + TL_PAGE);              /* the section's page: every view */
	ck_assert_uint_eq(m.State, MEM_COMMIT);
	ck_assert_uint_eq(m.RegionSize, TL_PAGE);
	ck_assert_int_eq(b[TL_PAGE], 'c');
	ck_assert_uint_eq(tl_query(b).State, MEM_RESERVE);
	/* A view made afterwards sees the committed page too. */
	char *c = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);

	ck_assert_uint_eq(tl_query(c + TL_PAGE).State, MEM_COMMIT);
	ck_assert_uint_eq(tl_query(c + TL_PAGE).Protect, PAGE_READONLY);
	ck_assert_int_eq(c[TL_PAGE], 'c');
	ck_assert_null_error(VirtualAlloc(c, TL_PAGE, MEM_COMMIT, RW), ERROR_ACCESS_DENIED);
	ck_assert_false_error(VirtualFree(a, TL_PAGE, MEM_DECOMMIT), ERROR_INVALID_ADDRESS);
	UnmapViewOfFile(a);
	UnmapViewOfFile(b);
	UnmapViewOfFile(c);
	CloseHandle(h);
}
END_TEST

/* ---- file sections ---- */

START_TEST(test_CreateFileMapping__file_grows_to_section_size)
{
	HANDLE f = open_file(GENERIC_READ | GENERIC_WRITE, CREATE_ALWAYS);
	HANDLE h = CreateFileMappingA(f, NULL, RW, 0, 3 * TL_GRAN, NULL);
	char *p;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(file_size(), 3 * TL_GRAN);
	p = MapViewOfFile(h, FILE_MAP_WRITE, 0, (DWORD)TL_GRAN, 0);
	ck_assert_ptr_nonnull(p);
	memcpy(p, "filedata", 8);
	ck_assert(FlushViewOfFile(p, 8));
	UnmapViewOfFile(p);
	CloseHandle(h);
	CloseHandle(f);
	{
		char buf[9] = { 0 };
		int fd = open(tmp_path, O_RDONLY);

		ck_assert_int_eq(pread(fd, buf, 8, TL_GRAN), 8);
		close(fd);
		ck_assert_str_eq(buf, "filedata");
	}
}
END_TEST

START_TEST(test_CreateFileMapping__file_size_zero)
{
	HANDLE f = open_file(GENERIC_READ | GENERIC_WRITE, CREATE_ALWAYS);

	ck_assert_null_error(CreateFileMappingA(f, NULL, RW, 0, 0, NULL), ERROR_FILE_INVALID);
	CloseHandle(f);
}
END_TEST

START_TEST(test_CreateFileMapping__read_only_file)
{
	HANDLE f;

	write_file("0123456789", 10);
	f = open_file(GENERIC_READ, OPEN_EXISTING);
	ck_assert_null_error(CreateFileMappingA(f, NULL, RW, 0, 0, NULL), ERROR_ACCESS_DENIED);
	ck_assert_null_error(CreateFileMappingA(f, NULL, PAGE_READONLY, 0, 4096, NULL),
	                     ERROR_NOT_ENOUGH_MEMORY);
	HANDLE h = CreateFileMappingA(f, NULL, PAGE_READONLY, 0, 0, NULL);
	char *p;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(file_size(), 10);
	p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	ck_assert_int_eq(memcmp(p, "0123456789", 10), 0);
	ck_assert_int_eq(p[10], 0);             /* the rest of the page reads zero */
	ck_assert_null_error(MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0), ERROR_ACCESS_DENIED);
	UnmapViewOfFile(p);
	CloseHandle(h);
	CloseHandle(f);
}
END_TEST

START_TEST(test_MapViewOfFile__file_copy_view_leaves_file_alone)
{
	HANDLE f, h;
	char *p, buf[4] = { 0 };
	int fd;

	write_file("abc", 3);
	f = open_file(GENERIC_READ, OPEN_EXISTING);
	h = CreateFileMappingA(f, NULL, PAGE_WRITECOPY, 0, 0, NULL);
	ck_assert_ptr_nonnull(h);
	p = MapViewOfFile(h, FILE_MAP_COPY, 0, 0, 0);
	ck_assert_ptr_nonnull(p);
	p[0] = 'X';
	ck_assert(FlushViewOfFile(p, 0));
	fd = open(tmp_path, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, 3), 3);
	close(fd);
	ck_assert_str_eq(buf, "abc");
	UnmapViewOfFile(p);
	CloseHandle(h);
	CloseHandle(f);
}
END_TEST

/* The kernel writing into a copy-on-write view (ReadFile, read(2)) gets
 * the pages made private first, as a write from the program would. */
START_TEST(test_MapViewOfFile__read_into_copy_view)
{
	HANDLE f, h = pagefile(RW, 2 * TL_PAGE, NULL);
	char *shared = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	char *copy = MapViewOfFile(h, FILE_MAP_COPY, 0, 0, 0);
	DWORD got = 0;
	int fd;

	strcpy(shared, "section");
	write_file("from the file", 13);
	f = open_file(GENERIC_READ, OPEN_EXISTING);
	ck_assert_uint_eq(tl_query(copy).Protect, PAGE_WRITECOPY);
	ck_assert(ReadFile(f, copy + 100, 13, &got, NULL));
	ck_assert_uint_eq(got, 13);
	ck_assert_mem_eq(copy + 100, "from the file", 13);
	ck_assert_str_eq(copy, "section");           /* the page's copy kept the rest */
	ck_assert_uint_eq(tl_query(copy).Protect, PAGE_READWRITE);
	ck_assert_int_eq(shared[100], 0);            /* the section did not change */
	fd = open(tmp_path, O_RDONLY);
	ck_assert_int_eq(read(fd, copy + TL_PAGE, 4), 4);
	close(fd);
	ck_assert_mem_eq(copy + TL_PAGE, "from", 4);
	ck_assert_uint_eq(tl_query(copy + TL_PAGE).Protect, PAGE_READWRITE);
	UnmapViewOfFile(copy);
	UnmapViewOfFile(shared);
	CloseHandle(f);
	CloseHandle(h);
}
END_TEST

/* Data written through a view and flushed survives SIGKILL of the writer. */
START_TEST(test_FlushViewOfFile__data_survives_kill)
{
	pid_t pid;
	int st, fd;
	char buf[16] = { 0 };

	write_file("................", 16);
	pid = fork();
	if (pid == 0) {
		HANDLE f = CreateFileA(tmp_path, GENERIC_READ | GENERIC_WRITE, 0, NULL,
		                       OPEN_EXISTING, 0, NULL);
		HANDLE h = CreateFileMappingA(f, NULL, RW, 0, 0, NULL);
		char *p = h ? MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0) : NULL;

		if (!p)
			_exit(3);
		memcpy(p, "durable", 7);
		if (!FlushViewOfFile(p, 7))
			_exit(4);
		raise(SIGKILL);
		_exit(5);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	fd = open(tmp_path, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, 7), 7);
	close(fd);
	ck_assert_str_eq(buf, "durable");
}
END_TEST

START_TEST(test_FlushViewOfFile__not_a_view)
{
	char *p = tl_commit_new(TL_PAGE, RW);

	ck_assert_false_error(FlushViewOfFile(p, 1), ERROR_INVALID_ADDRESS);
	tl_release(p);
}
END_TEST

/* ---- GetMappedFileName ---- */

START_TEST(test_GetMappedFileName__file_view_and_others)
{
	HANDLE f, h, pf;
	char *p, *q, *priv, name[512];
	WCHAR wname[512];
	DWORD n;

	write_file("abc", 3);
	f = open_file(GENERIC_READ, OPEN_EXISTING);
	h = CreateFileMappingA(f, NULL, PAGE_READONLY, 0, 0, NULL);
	p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	n = GetMappedFileNameA(GetCurrentProcess(), p + 5, name, sizeof name);
	ck_assert_uint_eq(n, strlen(tmp_path));
	ck_assert_str_eq(name, tmp_path);
	n = GetMappedFileNameW(GetCurrentProcess(), p, wname, 512);
	ck_assert_uint_eq(n, strlen(tmp_path));
	ck_assert_uint_eq(wname[0], '/');
	ck_assert_uint_eq(wname[n], 0);
	/* A short buffer: truncated with its NUL, nSize returned. */
	SetLastError(0);
	ck_assert_uint_eq(GetMappedFileNameA(GetCurrentProcess(), p, name, 5), 5);
	ck_assert_last_error(ERROR_INSUFFICIENT_BUFFER);
	ck_assert_str_eq(name, "/tmp");
	/* Pagefile views, private and free memory have no file. */
	pf = pagefile(RW, TL_PAGE, NULL);
	q = MapViewOfFile(pf, FILE_MAP_READ, 0, 0, 0);
	SetLastError(0);
	ck_assert_uint_eq(GetMappedFileNameA(GetCurrentProcess(), q, name, sizeof name), 0);
	ck_assert_last_error(ERROR_FILE_INVALID);
	priv = tl_commit_new(TL_PAGE, RW);
	SetLastError(0);
	ck_assert_uint_eq(GetMappedFileNameA(GetCurrentProcess(), priv, name, sizeof name), 0);
	ck_assert_last_error(ERROR_UNEXP_NET_ERR);
	tl_release(priv);
	SetLastError(0);
	ck_assert_uint_eq(GetMappedFileNameA(GetCurrentProcess(), priv, name, sizeof name), 0);
	ck_assert_last_error(ERROR_UNEXP_NET_ERR);
	UnmapViewOfFile(p);
	UnmapViewOfFile(q);
	CloseHandle(h);
	CloseHandle(pf);
	CloseHandle(f);
}
END_TEST

/* CreateFileMapping of a name another process holds returns that object
 * and uses nothing of the request: the caller's file is not touched. */
START_TEST(test_CreateFileMapping__other_process_name_ignores_request)
{
	const char *name = uname_("Local\\", "theirs");
	int ready[2], hold[2];
	HANDLE f, h, img;
	char *p, c;
	pid_t pid;
	int st;

	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(hold), 0);
	if ((pid = fork()) == 0) {
		HANDLE o = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, name);
		char *v = o ? MapViewOfFile(o, FILE_MAP_WRITE, 0, 0, 0) : NULL;

		close(hold[1]);
		if (v)
			strcpy(v, "theirs");
		(void)!write(ready[1], "x", 1);
		(void)!read(hold[0], &c, 1);
		if (v)
			UnmapViewOfFile(v);
		_exit(v && CloseHandle(o) ? 0 : 1);      /* the last user: the name goes */
	}
	close(hold[0]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	write_file("abc", 3);
	f = open_file(GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING);
	h = CreateFileMappingA(f, NULL, RW, 0, (DWORD)(2 * TL_GRAN), name);
	ck_assert_ptr_nonnull(h);
	ck_assert_last_error(ERROR_ALREADY_EXISTS);
	ck_assert_int_eq(file_size(), 3);
	p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	ck_assert_str_eq(p, "theirs");
	ck_assert_uint_eq(tl_query(p).RegionSize, TL_PAGE);
	UnmapViewOfFile(p);
	/* Asking for an image under the name gives the object as it is. */
	CloseHandle(f);
	f = CreateFileA("/proc/self/exe", GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
	img = CreateFileMappingA(f, NULL, PAGE_READONLY | SEC_IMAGE, 0, 0, name);
	ck_assert_ptr_nonnull(img);
	ck_assert_last_error(ERROR_ALREADY_EXISTS);
	p = MapViewOfFile(img, FILE_MAP_READ, 0, 0, 0);
	ck_assert_str_eq(p, "theirs");
	ck_assert_uint_eq(tl_query(p).Type, MEM_MAPPED);
	UnmapViewOfFile(p);
	CloseHandle(img);
	CloseHandle(h);
	CloseHandle(f);
	close(hold[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

/* A process that may only read the file of another process's writable
 * section still opens it, for read-only and copy-on-write views. */
START_TEST(test_OpenFileMapping__file_section_readable_only)
{
	const char *name = uname_("Local\\", "ronly");
	HANDLE f, h;
	char *p;
	pid_t pid;
	int st;

	if (geteuid() != 0)
		return;                 /* needs a writer the permissions do not bind */
	write_file("shared file", 11);
	chmod(tmp_path, 0444);
	f = open_file(GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING);   /* root may */
	h = CreateFileMappingA(f, NULL, RW, 0, 0, name);
	ck_assert_ptr_nonnull(h);
	if ((pid = fork()) == 0) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

		if (n <= 0)
			_exit(9);
		self[n] = 0;
		execl(self, "check_section", "--child-read", name, (char *)NULL);
		_exit(99);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	ck_assert_str_eq(p, "shared file");       /* the child's copy stayed its own */
	UnmapViewOfFile(p);
	CloseHandle(h);
	CloseHandle(f);
}
END_TEST

/* Paging-file memory has no file in another process either: shared
 * anonymous memory and named paging-file views. An image section opened
 * by name from another process names its file. */
START_TEST(test_GetMappedFileName__other_process)
{
	const char *pf_name = uname_("Local\\", "gmfpf");
	char img_name[128], exe[PATH_MAX], name[PATH_MAX];
	int ready[2], hold[2];
	void *at[2];
	HANDLE proc, img;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	pid_t pid;
	char c, *p;
	int st;

	ck_assert_int_gt(n, 0);
	exe[n] = 0;
	snprintf(img_name, sizeof img_name, "Local\\gmfimg-%d", (int)getpid());
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(hold), 0);
	if ((pid = fork()) == 0) {
		HANDLE h = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, pf_name);
		HANDLE f = CreateFileA("/proc/self/exe", GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
		HANDLE i = CreateFileMappingA(f, NULL, PAGE_READONLY | SEC_IMAGE, 0, 0, img_name);
		void *v[2] = { h ? MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0) : NULL,
		               mmap(NULL, TL_PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0) };

		close(hold[1]);
		if (!v[0] || !i || write(ready[1], v, sizeof v) != sizeof v)
			_exit(1);
		(void)!read(hold[0], &c, 1);
		/* Closed as the last users, so the names go with them. */
		UnmapViewOfFile(v[0]);
		_exit(CloseHandle(h) && CloseHandle(i) && CloseHandle(f) ? 0 : 1);
	}
	close(hold[0]);
	ck_assert_int_eq(read(ready[0], at, sizeof at), (ssize_t)sizeof at);
	proc = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, (DWORD)pid);
	ck_assert_ptr_nonnull(proc);
	for (int k = 0; k < 2; k++) {
		SetLastError(0);
		ck_assert_uint_eq(GetMappedFileNameA(proc, at[k], name, sizeof name), 0);
		ck_assert_last_error(ERROR_FILE_INVALID);
	}
	img = OpenFileMappingA(FILE_MAP_READ, FALSE, img_name);
	ck_assert_ptr_nonnull(img);
	p = MapViewOfFile(img, FILE_MAP_READ, 0, 0, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(GetMappedFileNameA(GetCurrentProcess(), p, name, sizeof name), strlen(exe));
	ck_assert_str_eq(name, exe);
	UnmapViewOfFile(p);
	CloseHandle(img);
	CloseHandle(proc);
	close(hold[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

/* A file name that is not valid UTF-8: every bad byte becomes U+FFFD,
 * and the wide answer is exactly as long as counted. */
START_TEST(test_GetMappedFileNameW__name_with_invalid_utf8)
{
	char path[300];
	WCHAR wname[300];
	HANDLE f, h;
	char *p;
	DWORD n;
	size_t base;
	int fd;

	snprintf(path, sizeof path, "%s.\x80\xbf\xf0\x9f\x98\x80\xe2\x82", tmp_path);
	base = strlen(tmp_path) + 1;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	f = CreateFileA(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
	ck_assert_ptr_ne(f, INVALID_HANDLE_VALUE);
	h = CreateFileMappingA(f, NULL, PAGE_READONLY, 0, 0, NULL);
	p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	ck_assert_ptr_nonnull(p);
	n = GetMappedFileNameW(GetCurrentProcess(), p, wname, 300);
	/* two stray bytes, one surrogate pair, one cut-short sequence */
	ck_assert_uint_eq(n, base + 5);
	ck_assert_uint_eq(wname[base], 0xfffd);
	ck_assert_uint_eq(wname[base + 1], 0xfffd);
	ck_assert_uint_eq(wname[base + 2], 0xd83d);
	ck_assert_uint_eq(wname[base + 3], 0xde00);
	ck_assert_uint_eq(wname[base + 4], 0xfffd);
	ck_assert_uint_eq(wname[n], 0);
	SetLastError(0);
	ck_assert_uint_eq(GetMappedFileNameW(GetCurrentProcess(), p, wname, (DWORD)base + 3),
	                  base + 3);
	ck_assert_last_error(ERROR_INSUFFICIENT_BUFFER);
	UnmapViewOfFile(p);
	CloseHandle(h);
	CloseHandle(f);
	unlink(path);
}
END_TEST

START_TEST(test_GetMappedFileName__image_of_the_process)
{
	char name[512], exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	ck_assert_int_gt(n, 0);
	exe[n] = 0;
	ck_assert_uint_gt(GetMappedFileNameA(GetCurrentProcess(), (void *)&file_setup, name,
	                                     sizeof name), 0);
	ck_assert_str_eq(name, exe);
	ck_assert_uint_eq(GetMappedFileNameA(GetCurrentProcess(), (void *)&file_setup, NULL, 0), 0);
}
END_TEST

/* ---- SEC_IMAGE ---- */

static const char *perms_of(DWORD protect)
{
	switch (protect) {
	case PAGE_READONLY: case PAGE_WRITECOPY:            return "r--";
	case PAGE_READWRITE:                                 return "rw-";
	case PAGE_EXECUTE_READ: case PAGE_EXECUTE_WRITECOPY: return "r-x";
	case PAGE_EXECUTE_READWRITE:                         return "rwx";
	default:                                             return "---";
	}
}

START_TEST(test_CreateFileMapping__sec_image_maps_elf_segments)
{
	HANDLE f = CreateFileA("/proc/self/exe", GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
	HANDLE h;
	unsigned char *p;
	MEMORY_BASIC_INFORMATION m;
	bool saw_exec = false, saw_ro = false;
	char name[512];

	ck_assert_ptr_ne(f, INVALID_HANDLE_VALUE);
	h = CreateFileMappingA(f, NULL, PAGE_READONLY | SEC_IMAGE, 0, 0, NULL);
	ck_assert_msg(h != NULL, "SEC_IMAGE failed: %lu", (unsigned long)GetLastError());
	p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(memcmp(p, "\177ELF", 4), 0);
	for (unsigned char *a = p; VirtualQuery(a, &m, sizeof m) && m.AllocationBase == p;
	     a += m.RegionSize) {
		ck_assert_uint_eq(m.Type, MEM_IMAGE);
		ck_assert_uint_eq(m.AllocationProtect, PAGE_EXECUTE_WRITECOPY);
		saw_exec |= m.Protect == PAGE_EXECUTE_READ;
		saw_ro |= m.Protect == PAGE_READONLY;
		/* The kernel enforces what VirtualQuery says (copy-on-write pages
		 * stay read-only until written). */
		if (m.State == MEM_COMMIT) {
			char k[5];

			tl_kernel_perms(a, k);
			k[3] = 0;
			ck_assert_msg(!strcmp(k, perms_of(m.Protect)), "%p: kernel %s for protection %#lx",
			              (void *)a, k, (unsigned long)m.Protect);
		}
	}
	ck_assert(saw_exec && saw_ro);
	ck_assert_uint_gt(GetMappedFileNameA(GetCurrentProcess(), p, name, sizeof name), 0);
	ck_assert_null_error(MapViewOfFile(h, FILE_MAP_READ, 0, (DWORD)TL_GRAN, 0),
	                     ERROR_INVALID_PARAMETER);
	UnmapViewOfFile(p);
	CloseHandle(h);
	CloseHandle(f);
}
END_TEST

START_TEST(test_CreateFileMapping__sec_image_rejects_other_formats)
{
	HANDLE f;

	write_file("MZ this is no ELF object at all........................................", 70);
	f = open_file(GENERIC_READ, OPEN_EXISTING);
	ck_assert_null_error(CreateFileMappingA(f, NULL, PAGE_READONLY | SEC_IMAGE, 0, 0, NULL),
	                     ERROR_BAD_EXE_FORMAT);
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READONLY | SEC_IMAGE,
	                                        0, 4096, NULL), ERROR_INVALID_PARAMETER);
	CloseHandle(f);
}
END_TEST

/* ---- names ---- */

START_TEST(test_CreateFileMapping__second_create_opens_same_object)
{
	const char *name = uname_("Local\\", "same");
	HANDLE a = pagefile(RW, TL_PAGE, name), b;
	char *pa, *pb;

	ck_assert_last_error(0);
	b = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, 2 * TL_GRAN, name);
	ck_assert_ptr_nonnull(b);
	ck_assert_last_error(ERROR_ALREADY_EXISTS);
	/* The request is checked before the name is looked up. */
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_NOACCESS, 0, TL_PAGE,
	                                        name), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, 0, name),
	                     ERROR_INVALID_PARAMETER);
	pa = MapViewOfFile(a, FILE_MAP_WRITE, 0, 0, 0);
	pb = MapViewOfFile(b, FILE_MAP_READ, 0, 0, 0);
	ck_assert_uint_eq(tl_query(pb).RegionSize, TL_PAGE);    /* the first size holds */
	strcpy(pa, "one object");
	ck_assert_str_eq(pb, "one object");
	UnmapViewOfFile(pa);
	UnmapViewOfFile(pb);
	CloseHandle(a);
	CloseHandle(b);
}
END_TEST

/* Runs a fresh image of this test (nothing shared by fork) that opens the
 * name, checks for "from parent" and writes "from child"; its status. */
static int run_child_open(const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	pid_t pid;
	int st;

	/* Resolved here, not passed to execl as "/proc/self/exe": under
	 * valgrind only readlink of that link names the client program. */
	ck_assert_int_gt(n, 0);
	self[n] = 0;
	pid = fork();
	if (pid == 0) {
		execl(self, "check_section", "--child-open", name, (char *)NULL);
		_exit(99);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

/* The same child, asked only to open the name: its exit status. */
static int run_child_open_plain(const char *name)
{
	char arg[1200];
	int st;

	snprintf(arg, sizeof arg, "plain:%s", name);
	st = run_child_open(arg);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_OpenFileMapping__other_process_sees_same_bytes)
{
	const char *name = uname_("Global\\", "xproc");
	HANDLE h = pagefile(RW, TL_GRAN, name);
	char *p = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	int st;

	strcpy(p, "from parent");
	st = run_child_open(name);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	ck_assert_str_eq(p, "from child");
	UnmapViewOfFile(p);
	CloseHandle(h);
}
END_TEST

/* The child side of the test above (main() runs it). */
static int child_open(const char *name)
{
	if (!strncmp(name, "plain:", 6)) {      /* only open it */
		HANDLE o = OpenFileMappingA(FILE_MAP_READ, FALSE, name + 6);

		return o && CloseHandle(o) ? 0 : 3;
	}

	HANDLE h = OpenFileMappingA(FILE_MAP_ALL_ACCESS, FALSE, name);
	char *p = h ? MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0) : NULL;

	if (!p)
		return 1;
	if (strcmp(p, "from parent"))
		return 2;
	strcpy(p, "from child");
	UnmapViewOfFile(p);
	CloseHandle(h);
	return 0;
}

START_TEST(test_OpenFileMapping__gone_with_last_handle_and_view)
{
	const char *name = uname_("Local\\", "gone");
	HANDLE h = pagefile(RW, TL_PAGE, name), o;
	char *p = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);

	ck_assert(CloseHandle(h));
	o = OpenFileMappingA(FILE_MAP_READ, FALSE, name);      /* the view keeps it */
	ck_assert_ptr_nonnull(o);
	ck_assert(CloseHandle(o));
	ck_assert(UnmapViewOfFile(p));
	ck_assert_null_error(OpenFileMappingA(FILE_MAP_READ, FALSE, name), ERROR_FILE_NOT_FOUND);
}
END_TEST

/* Processes racing to create one name: one makes it, the others open
 * it, none fails or gets a second object. */
START_TEST(test_CreateFileMapping__creators_race)
{
	enum { N = 8 };
	const char *name = uname_("Local\\", "race");
	int go[2], hold[2], made = 0, opened = 0;
	pid_t pid[N];
	HANDLE h;
	long *count;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(hold), 0);
	for (int i = 0; i < N; i++) {
		if ((pid[i] = fork()) == 0) {
			char c;
			HANDLE s;
			long *v;
			DWORD err;

			close(go[1]);
			close(hold[1]);
			if (read(go[0], &c, 1) != 0)     /* released together */
				_exit(3);
			s = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, name);
			err = GetLastError();
			v = s ? MapViewOfFile(s, FILE_MAP_WRITE, 0, 0, 0) : NULL;
			if (!v)
				_exit(2);
			__atomic_fetch_add(v, 1, __ATOMIC_SEQ_CST);
			if (read(hold[0], &c, 1) != 0)   /* keep it until all are done */
				_exit(3);
			_exit(err == ERROR_ALREADY_EXISTS ? 1 : err == 0 ? 0 : 2);
		}
	}
	close(go[0]);
	close(hold[0]);
	close(go[1]);
	/* Every child has it (or failed) once the count is N. */
	for (int tries = 0; tries < 2000; tries++) {
		h = OpenFileMappingA(FILE_MAP_READ, FALSE, name);
		count = h ? MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0) : NULL;
		if (count && __atomic_load_n(count, __ATOMIC_SEQ_CST) == N)
			break;
		if (count)
			UnmapViewOfFile(count);
		if (h)
			CloseHandle(h);
		count = NULL;
		usleep(5000);
	}
	close(hold[1]);
	for (int i = 0; i < N; i++) {
		int st;

		ck_assert_int_eq(waitpid(pid[i], &st, 0), pid[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) <= 1);
		made += WEXITSTATUS(st) == 0;
		opened += WEXITSTATUS(st) == 1;
	}
	ck_assert_ptr_nonnull(count);
	ck_assert_int_eq(made, 1);
	ck_assert_int_eq(opened, N - 1);
	UnmapViewOfFile(count);
	CloseHandle(h);
}
END_TEST

/* A fork child's handles are its own: closing them leaves the parent's
 * object (and its name) alone. */
START_TEST(test_CreateFileMapping__fork_child_closing_keeps_name)
{
	const char *name = uname_("Local\\", "forked");
	HANDLE h = pagefile(RW, TL_PAGE, name), o;
	char *p = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0);
	pid_t pid;
	int st;

	strcpy(p, "from parent");
	pid = fork();
	if (pid == 0) {
		UnmapViewOfFile(p);
		_exit(CloseHandle(h) ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* Another program still finds it by name. */
	st = run_child_open(name);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	ck_assert_str_eq(p, "from child");
	o = OpenFileMappingA(FILE_MAP_READ, FALSE, name);
	ck_assert_ptr_nonnull(o);
	CloseHandle(o);
	UnmapViewOfFile(p);
	CloseHandle(h);
}
END_TEST

/* A process that dies holding a named object takes it with it, as on
 * Windows: the name is free again for the next one. */
START_TEST(test_CreateFileMapping__object_of_dead_process_is_gone)
{
	const char *name = uname_("Local\\", "orphan");
	HANDLE h;
	char *p;
	pid_t pid;
	int st;

	pid = fork();
	if (pid == 0) {
		HANDLE c = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, name);
		char *v = c ? MapViewOfFile(c, FILE_MAP_WRITE, 0, 0, 0) : NULL;

		if (v)
			strcpy(v, "left behind");
		_exit(v ? 0 : 1);                     /* no CloseHandle */
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_null_error(OpenFileMappingA(FILE_MAP_READ, FALSE, name), ERROR_FILE_NOT_FOUND);
	h = pagefile(RW, TL_PAGE, name);
	ck_assert_last_error(0);                  /* a new object, not the dead one's */
	p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	ck_assert_int_eq(p[0], 0);
	UnmapViewOfFile(p);
	CloseHandle(h);
}
END_TEST

START_TEST(test_OpenFileMapping__rights_of_the_handle)
{
	const char *name = uname_("", "rights");
	HANDLE h = pagefile(RW, TL_PAGE, name);
	HANDLE ro = OpenFileMappingA(FILE_MAP_READ, FALSE, name);
	HANDLE cp = OpenFileMappingA(FILE_MAP_COPY, FALSE, name);
	HANDLE wo = OpenFileMappingA(FILE_MAP_WRITE, FALSE, name);
	void *p;

	ck_assert_ptr_nonnull(ro);
	ck_assert_null_error(MapViewOfFile(ro, FILE_MAP_WRITE, 0, 0, 0), ERROR_ACCESS_DENIED);
	p = MapViewOfFile(ro, FILE_MAP_READ, 0, 0, 0);
	ck_assert_ptr_nonnull(p);
	UnmapViewOfFile(p);
	p = MapViewOfFile(cp, FILE_MAP_COPY, 0, 0, 0);
	ck_assert_ptr_nonnull(p);
	UnmapViewOfFile(p);
	/* The write right alone maps read-write views (as on Windows), not
	 * read-only or copy-on-write ones, which need the read right. */
	p = MapViewOfFile(wo, FILE_MAP_WRITE, 0, 0, 0);
	ck_assert_ptr_nonnull(p);
	UnmapViewOfFile(p);
	ck_assert_null_error(MapViewOfFile(wo, FILE_MAP_READ, 0, 0, 0), ERROR_ACCESS_DENIED);
	ck_assert_null_error(MapViewOfFile(wo, FILE_MAP_COPY, 0, 0, 0), ERROR_ACCESS_DENIED);
	ck_assert_null_error(MapViewOfFile(wo, FILE_MAP_WRITE | FILE_MAP_EXECUTE, 0, 0, 0),
	                     ERROR_ACCESS_DENIED);
	CloseHandle(ro);
	CloseHandle(cp);
	CloseHandle(wo);
	CloseHandle(h);
}
END_TEST

START_TEST(test_OpenFileMapping__errors)
{
	static char longest[1100], too_long[1100];
	HANDLE h;

	/* 1000 bytes with the namespace prefix (counted as Global\'s). */
	snprintf(longest, sizeof longest, "Local\\%d-", (int)getpid());
	memset(longest + strlen(longest), 'n', 999 - strlen(longest));   /* 993 after the prefix */
	snprintf(too_long, sizeof too_long, "%sn", longest);
	h = pagefile(RW, TL_PAGE, longest);
	ck_assert_null_error(OpenFileMappingA(FILE_MAP_READ, FALSE, too_long),
	                     ERROR_FILENAME_EXCED_RANGE);
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, too_long),
	                     ERROR_FILENAME_EXCED_RANGE);
	ck_assert_int_eq(run_child_open_plain(longest), 0);   /* another program finds it */
	CloseHandle(h);
	ck_assert_null_error(OpenFileMappingA(FILE_MAP_READ, FALSE, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(OpenFileMappingA(FILE_MAP_READ, FALSE, uname_("Local\\", "never")),
	                     ERROR_FILE_NOT_FOUND);
	ck_assert_null_error(OpenFileMappingA(FILE_MAP_READ, FALSE, "Local\\a\\b"),
	                     ERROR_PATH_NOT_FOUND);
}
END_TEST

/* Names never leave their namespace and their objects are owner-only. */
START_TEST(test_CreateFileMapping__names_stay_in_namespace)
{
	static const char *tags[] = { "../../etc/passwd", "a/b", "..", "." };
	char name[128];
	struct stat st;

	for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
		HANDLE h;

		snprintf(name, sizeof name, "Local\\%s%d", tags[i], (int)getpid());
		h = pagefile(RW, TL_PAGE, name);
		ck_assert_int_ne(stat("/etc/passwd", &st), -1);
		CloseHandle(h);
	}
	HANDLE h = pagefile(RW, TL_PAGE, uname_("Local\\", "mode"));
	char path[256];

	snprintf(path, sizeof path, "/dev/shm/memapi.%u.L.mode-%d", (unsigned)getuid(),
	         (int)getpid());
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	CloseHandle(h);
	ck_assert_int_eq(stat(path, &st), -1);
}
END_TEST

START_TEST(test_CreateFileMappingW__wide_names)
{
	static const WCHAR wname[] = { 'L', 'o', 'c', 'a', 'l', '\\', 'w', 0x00e9, 0x4e2d, 0xd83d,
	                               0xde00, 0 };
	static const WCHAR broken[] = { 'x', 0xd83d, 0 };
	HANDLE w = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, wname);
	HANDLE a = OpenFileMappingA(FILE_MAP_READ, FALSE, "Local\\w\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
	HANDLE o = OpenFileMappingW(FILE_MAP_READ, FALSE, wname);

	ck_assert_ptr_nonnull(w);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(o);
	ck_assert_null_error(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, broken),
	                     ERROR_NO_UNICODE_TRANSLATION);
	CloseHandle(a);
	CloseHandle(o);
	CloseHandle(w);
}
END_TEST

/* The wide Numa and FromApp forms: same objects, same errors. */
START_TEST(test_OpenFileMappingW__wide_forms_and_errors)
{
	WCHAR wname[64], never[64], nested[] = { 'L', 'o', 'c', 'a', 'l', '\\', 'a', '\\', 'b', 0 };
	char *p, *q;
	HANDLE c, o, f;
	WCHAR path[8];

	swprintf_ascii(wname, uname_("Local\\", "wnuma"));
	swprintf_ascii(never, uname_("Local\\", "wnever"));
	c = CreateFileMappingNumaW(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, wname, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_null_error(CreateFileMappingNumaW(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_PAGE, wname,
	                                            4096), ERROR_INVALID_PARAMETER);
	o = OpenFileMappingFromApp(FILE_MAP_READ, FALSE, wname);
	f = OpenFileMappingW(FILE_MAP_WRITE, FALSE, wname);
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(f);
	p = MapViewOfFile(f, FILE_MAP_WRITE, 0, 0, 0);
	q = MapViewOfFile(o, FILE_MAP_READ, 0, 0, 0);
	strcpy(p, "wide");
	ck_assert_str_eq(q, "wide");
	ck_assert_null_error(MapViewOfFile(o, FILE_MAP_WRITE, 0, 0, 0), ERROR_ACCESS_DENIED);
	ck_assert_null_error(OpenFileMappingW(FILE_MAP_READ, FALSE, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(OpenFileMappingFromApp(FILE_MAP_READ, FALSE, never), ERROR_FILE_NOT_FOUND);
	ck_assert_null_error(OpenFileMappingW(FILE_MAP_READ, FALSE, nested), ERROR_PATH_NOT_FOUND);
	/* GetMappedFileNameW: pagefile views and private memory have no file. */
	SetLastError(0);
	ck_assert_uint_eq(GetMappedFileNameW(GetCurrentProcess(), q, path, 8), 0);
	ck_assert_last_error(ERROR_FILE_INVALID);
	SetLastError(0);
	ck_assert_uint_eq(GetMappedFileNameW(GetCurrentProcess(), &path, path, 8), 0);
	ck_assert_last_error(ERROR_UNEXP_NET_ERR);
	ck_assert_uint_eq(GetMappedFileNameW(GetCurrentProcess(), q, NULL, 8), 0);
	ck_assert_last_error(ERROR_INSUFFICIENT_BUFFER);
	UnmapViewOfFile(p);
	UnmapViewOfFile(q);
	CloseHandle(o);
	CloseHandle(f);
	CloseHandle(c);
}
END_TEST

/* SEC_LARGE_PAGES: pagefile and SEC_COMMIT only, huge-page sizes, not
 * named; the pages come from the hugetlb pool (made here as root when
 * there is none, as check_vm does). */
START_TEST(test_CreateFileMapping__sec_large_pages)
{
	const DWORD lp_rw = RW | SEC_COMMIT | SEC_LARGE_PAGES;
	SIZE_T lp = (SIZE_T)tl_meminfo("Hugepagesize") * 1024;
	long old = tl_set_hugepages(-1);
	HANDLE h;
	char *v = NULL;
	DWORD err;

	if (lp == 0) {
		ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, lp_rw, 0,
		                                        2 * TL_MIB, NULL), ERROR_NOT_SUPPORTED);
		return;
	}
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL,
	                                        RW | SEC_RESERVE | SEC_LARGE_PAGES, 0, (DWORD)lp,
	                                        NULL), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, lp_rw, 0,
	                                        (DWORD)lp + TL_PAGE, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, lp_rw, 0, (DWORD)lp,
	                                        uname_("Local\\", "huge")), ERROR_NOT_SUPPORTED);
	/* "" is no name, here as everywhere. */
	h = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, lp_rw, 0, (DWORD)lp, "");
	ck_assert(h || GetLastError() == ERROR_NO_SYSTEM_RESOURCES);
	if (h)
		CloseHandle(h);
	if (old == 0 && geteuid() == 0)
		tl_set_hugepages(2);
	h = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, lp_rw, 0, (DWORD)lp, NULL);
	err = GetLastError();
	if (h)
		v = MapViewOfFile(h, FILE_MAP_WRITE | FILE_MAP_LARGE_PAGES, 0, 0, 0);
	if (v)
		v[lp - 1] = 5;
	if (old == 0)
		tl_set_hugepages(0);
	if (tl_meminfo("HugePages_Total") <= 0 && !h) {
		ck_assert_uint_eq(err, ERROR_NO_SYSTEM_RESOURCES);   /* no pool: no pages */
		return;
	}
	ck_assert_msg(h != NULL, "SEC_LARGE_PAGES failed with %lu", (unsigned long)err);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq((uintptr_t)v % lp, 0);
	ck_assert_int_eq(v[lp - 1], 5);
	ck_assert_uint_eq(tl_query(v).RegionSize, lp);
	UnmapViewOfFile(v);
	CloseHandle(h);
}
END_TEST

START_TEST(test_CreateFileMapping2__and_from_app)
{
	HANDLE a = CreateFileMappingFromApp(INVALID_HANDLE_VALUE, NULL, RW, TL_GRAN, NULL);
	HANDLE b = CreateFileMapping2(INVALID_HANDLE_VALUE, NULL, FILE_MAP_READ, RW, SEC_COMMIT,
	                              TL_GRAN, NULL, NULL, 0);
	char *p, *q;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	p = MapViewOfFileFromApp(a, FILE_MAP_WRITE, 0, 0);
	ck_assert_ptr_nonnull(p);
	p[0] = 1;
	/* CreateFileMapping2's handle has only the rights asked for. */
	ck_assert_null_error(MapViewOfFile(b, FILE_MAP_WRITE, 0, 0, 0), ERROR_ACCESS_DENIED);
	q = MapViewOfFile(b, FILE_MAP_READ, 0, 0, 0);
	ck_assert_ptr_nonnull(q);
	ck_assert_null_error(CreateFileMapping2(INVALID_HANDLE_VALUE, NULL, FILE_MAP_READ,
	                                        RW | SEC_COMMIT, 0, TL_GRAN, NULL, NULL, 0),
	                     ERROR_INVALID_PARAMETER);
	UnmapViewOfFile(p);
	UnmapViewOfFile(q);
	CloseHandle(a);
	CloseHandle(b);
}
END_TEST

START_TEST(test_CreateFileMappingNuma__nodes)
{
	HANDLE h = CreateFileMappingNumaA(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_GRAN, NULL, 0);
	char *p;

	ck_assert_ptr_nonnull(h);
	p = MapViewOfFileExNuma(h, FILE_MAP_WRITE, 0, 0, 0, NULL, 0);
	ck_assert_ptr_nonnull(p);
	p[0] = 1;
	ck_assert_null_error(MapViewOfFileExNuma(h, FILE_MAP_WRITE, 0, 0, 0, NULL, 4096),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_null_error(CreateFileMappingNumaA(INVALID_HANDLE_VALUE, NULL, RW, 0, TL_GRAN, NULL,
	                                            4096), ERROR_INVALID_PARAMETER);
	UnmapViewOfFile(p);
	CloseHandle(h);
}
END_TEST

/* ---- placeholders: the documented ring buffer ---- */

START_TEST(test_MapViewOfFile3__ring_buffer_over_placeholders)
{
	SIZE_T size = 4 * TL_GRAN;
	HANDLE h = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, (DWORD)size, NULL);
	char *ph = VirtualAlloc2(NULL, NULL, 2 * size, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
	                         PAGE_NOACCESS, NULL, 0);
	char *v1, *v2;

	ck_assert_ptr_nonnull(ph);
	ck_assert(VirtualFree(ph, size, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER));
	v1 = MapViewOfFile3(h, GetCurrentProcess(), ph, 0, size, MEM_REPLACE_PLACEHOLDER, RW,
	                    NULL, 0);
	ck_assert_msg(v1 == ph, "first view: %lu", (unsigned long)GetLastError());
	v2 = MapViewOfFile3(h, NULL, ph + size, 0, size, MEM_REPLACE_PLACEHOLDER, RW, NULL, 0);
	ck_assert_msg(v2 == ph + size, "second view: %lu", (unsigned long)GetLastError());
	/* A write across the end of the first view wraps to the start. */
	memcpy(v1 + size - 3, "wrapped", 7);
	ck_assert_int_eq(memcmp(v1, "pped", 4), 0);
	ck_assert_int_eq(memcmp(v2 + size - 3, "wra", 3), 0);
	ck_assert_int_eq(memcmp(v2, "pped", 4), 0);
	ck_assert_uint_eq(tl_query(v2).Type, MEM_MAPPED);
	ck_assert_ptr_eq(tl_query(v2).AllocationBase, v2);
	/* Back to placeholders, then gone. */
	ck_assert(UnmapViewOfFileEx(v1, MEM_PRESERVE_PLACEHOLDER));
	ck_assert(UnmapViewOfFile2(GetCurrentProcess(), v2, MEM_PRESERVE_PLACEHOLDER));
	ck_assert_uint_eq(tl_query(v1).State, MEM_RESERVE);
	ck_assert_uint_eq(tl_query(v1).Type, MEM_PRIVATE);
	ck_assert(VirtualFree(ph, 2 * size, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS));
	ck_assert(VirtualFree(ph, 0, MEM_RELEASE));
	CloseHandle(h);
}
END_TEST

START_TEST(test_MapViewOfFile3__placeholder_errors)
{
	HANDLE h = pagefile(RW, TL_GRAN, NULL);
	char *ph = VirtualAlloc2(NULL, NULL, 2 * TL_GRAN, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
	                         PAGE_NOACCESS, NULL, 0);
	char *v;

	/* The view must cover the placeholder exactly. */
	ck_assert_null_error(MapViewOfFile3(h, NULL, ph, 0, TL_GRAN, MEM_REPLACE_PLACEHOLDER, RW,
	                                    NULL, 0), ERROR_INVALID_ADDRESS);
	ck_assert_null_error(MapViewOfFile3(h, NULL, NULL, 0, TL_GRAN, MEM_REPLACE_PLACEHOLDER, RW,
	                                    NULL, 0), ERROR_INVALID_PARAMETER);
	ck_assert_null_error(MapViewOfFile3(h, NULL, NULL, 0, 0, 0x1000000, RW, NULL, 0),
	                     ERROR_INVALID_PARAMETER);
	v = MapViewOfFile3(h, NULL, NULL, 0, 0, 0, PAGE_READONLY, NULL, 0);
	ck_assert_ptr_nonnull(v);
	ck_assert_false_error(UnmapViewOfFileEx(v, MEM_PRESERVE_PLACEHOLDER), ERROR_INVALID_PARAMETER);
	ck_assert(UnmapViewOfFile(v));
	ck_assert(VirtualFree(ph, 0, MEM_RELEASE));
	CloseHandle(h);
}
END_TEST

/* ---- the forensic root ---- */

START_TEST(test_memapi_root__lists_sections_and_views)
{
	HANDLE h = pagefile(RW, 2 * TL_PAGE, uname_("Local\\", "root"));
	char *p = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	const struct memapi_rec_section *s;
	bool found = false;

	for (s = memapi_root.sections; s; s = s->next) {
		ck_assert(s->magic == MEMAPI_SECTION_MAGIC);
		if (s->views && s->views->base == (uintptr_t)p) {
			found = true;
			ck_assert_uint_eq(s->size, 2 * TL_PAGE);
			ck_assert_uint_eq(s->view_count, 1);
			ck_assert_uint_eq(s->views->protect, PAGE_READONLY);
			ck_assert(s->flags & MEMAPI_SECTION_NAMED);
			ck_assert_ptr_nonnull(strstr(s->name, "root"));
		}
	}
	ck_assert(found);
	ck_assert_uint_eq(memapi_root.generation % 2, 0);
	UnmapViewOfFile(p);
	CloseHandle(h);
}
END_TEST

/* ---- model-based random test: views against a model of the bytes ---- */

#define MODEL_PAGES 32
#define MODEL_VIEWS 6

struct mview {
	char  *p;
	size_t first, pages;    /* in section pages */
	bool   copy, write;
	unsigned char priv[MODEL_PAGES];    /* copy views: page written privately, and its tag */
	bool   own[MODEL_PAGES];
};

static uint64_t rng;

static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng >> 33) % n;
}

static void model_check(struct mview *v, const unsigned char *section)
{
	for (size_t i = 0; i < v->pages; i++) {
		unsigned char want = v->copy && v->own[i] ? v->priv[i] : section[v->first + i];
		MEMORY_BASIC_INFORMATION m = tl_query(v->p + i * TL_PAGE);
		DWORD prot = v->copy ? (v->own[i] ? PAGE_READWRITE : PAGE_WRITECOPY)
		                     : v->write ? PAGE_READWRITE : PAGE_READONLY;

		ck_assert_uint_eq((unsigned char)v->p[i * TL_PAGE], want);
		ck_assert_uint_eq(m.Protect, prot);
		ck_assert_ptr_eq(m.AllocationBase, v->p);
		ck_assert_uint_eq(m.Type, MEM_MAPPED);
	}
}

START_TEST(test_MapViewOfFile__model_random_sequences)
{
	static const uint64_t seeds[] = { 1, 42, 0xfeed, 31337 };
	HANDLE h = pagefile(RW, MODEL_PAGES * TL_PAGE, NULL);
	unsigned char section[MODEL_PAGES] = { 0 };
	struct mview views[MODEL_VIEWS] = { 0 };

	rng = seeds[_i];
	for (int step = 0; step < 3000; step++) {
		struct mview *v = &views[rnd(MODEL_VIEWS)];
		unsigned op = rnd(4);

		if (!v->p) {
			size_t g = rnd(MODEL_PAGES / 16);     /* 64 KiB units */

			v->first = g * 16;
			v->pages = 1 + rnd((unsigned)(MODEL_PAGES - v->first));
			v->copy = rnd(3) == 0;
			v->write = !v->copy && rnd(2);
			memset(v->own, 0, sizeof v->own);
			v->p = MapViewOfFile(h, v->copy ? FILE_MAP_COPY : v->write ? FILE_MAP_WRITE
			                                                           : FILE_MAP_READ,
			                     0, (DWORD)(v->first * TL_PAGE), v->pages * TL_PAGE);
			ck_assert_ptr_nonnull(v->p);
		} else if (op == 0) {
			ck_assert(UnmapViewOfFile(v->p + rnd((unsigned)v->pages) * TL_PAGE));
			v->p = NULL;
		} else if (op == 1 && (v->write || v->copy)) {
			size_t i = rnd((unsigned)v->pages);
			unsigned char tag = (unsigned char)(1 + rnd(255));

			v->p[i * TL_PAGE] = (char)tag;
			if (v->copy) {
				v->own[i] = true;
				v->priv[i] = tag;
			} else {
				section[v->first + i] = tag;
			}
		}
		for (int k = 0; k < MODEL_VIEWS; k++)
			if (views[k].p)
				model_check(&views[k], section);
	}
	for (int k = 0; k < MODEL_VIEWS; k++)
		if (views[k].p)
			ck_assert(UnmapViewOfFile(views[k].p));
	CloseHandle(h);
}
END_TEST

static Suite *make_section_suite(void)
{
	Suite *s = suite_create("section");
	TCase *c = tcase_create("pagefile");
	TCase *v = tcase_create("views");
	TCase *f = tcase_create("files");
	TCase *n = tcase_create("names");
	TCase *m = tcase_create("model");

	tcase_add_checked_fixture(c, tl_setup, tl_teardown);
	tcase_add_test(c, test_CreateFileMapping__pagefile_views_share_bytes);
	tcase_add_test(c, test_CreateFileMapping__pagefile_size_zero_is_invalid);
	tcase_add_test(c, test_CreateFileMapping__null_file_handle);
	tcase_add_loop_test(c, test_CreateFileMapping__invalid_protection, 0,
	                    sizeof bad_protects / sizeof *bad_protects);
	tcase_add_test(c, test_CreateFileMapping__success_clears_last_error);
	tcase_add_test(c, test_CreateFileMapping__view_outlives_handle);
	tcase_add_test(c, test_CreateFileMapping__sec_reserve_commit_in_view);
	tcase_add_test(c, test_CreateFileMapping2__and_from_app);
	tcase_add_test(c, test_CreateFileMapping__sec_large_pages);
	tcase_add_test(c, test_CreateFileMappingNuma__nodes);
	tcase_add_test(c, test_memapi_root__lists_sections_and_views);
	suite_add_tcase(s, c);

	tcase_add_checked_fixture(v, tl_setup, tl_teardown);
	tcase_add_test(v, test_MapViewOfFile__query_shows_mapped_view);
	tcase_add_test(v, test_MapViewOfFile__read_only_view_faults_on_write);
	tcase_add_loop_test(v, test_MapViewOfFile__access_against_section_protection, 0,
	                    sizeof access_cases / sizeof *access_cases);
	tcase_add_test(v, test_MapViewOfFile__no_access_is_invalid);
	tcase_add_test(v, test_MapViewOfFile__offset_alignment);
	tcase_add_test(v, test_MapViewOfFile__view_larger_than_section);
	tcase_add_test(v, test_MapViewOfFile__bad_handles);
	tcase_add_test(v, test_MapViewOfFile__copy_on_write_protection_changes);
	tcase_add_test(v, test_MapViewOfFile__all_access_is_shared_read_write);
	tcase_add_test(v, test_MapViewOfFile__targets_invalid);
	tcase_add_test(v, test_MapViewOfFile2__forms_and_failures);
	tcase_add_test(v, test_UnmapViewOfFile__any_address_inside);
	tcase_add_test(v, test_UnmapViewOfFile__not_a_view);
	tcase_add_test(v, test_VirtualFree__view_is_not_virtual_memory);
	tcase_add_test(v, test_MapViewOfFileEx__fixed_address);
	tcase_add_test(v, test_VirtualProtect__inside_views);
	tcase_add_test(v, test_MapViewOfFile3__ring_buffer_over_placeholders);
	tcase_add_test(v, test_MapViewOfFile3__placeholder_errors);
	tcase_add_test(v, test_FlushViewOfFile__not_a_view);
	suite_add_tcase(s, v);

	tcase_add_checked_fixture(f, file_setup, file_teardown);
	tcase_add_test(f, test_CreateFileMapping__file_grows_to_section_size);
	tcase_add_test(f, test_CreateFileMapping__file_size_zero);
	tcase_add_test(f, test_CreateFileMapping__read_only_file);
	tcase_add_test(f, test_MapViewOfFile__file_copy_view_leaves_file_alone);
	tcase_add_test(f, test_MapViewOfFile__read_into_copy_view);
	tcase_add_test(f, test_FlushViewOfFile__data_survives_kill);
	tcase_add_test(f, test_GetMappedFileName__file_view_and_others);
	tcase_add_test(f, test_GetMappedFileName__image_of_the_process);
	tcase_add_test(f, test_GetMappedFileName__other_process);
	tcase_add_test(f, test_GetMappedFileNameW__name_with_invalid_utf8);
	tcase_add_test(f, test_CreateFileMapping__other_process_name_ignores_request);
	tcase_add_test(f, test_OpenFileMapping__file_section_readable_only);
	tcase_add_test(f, test_CreateFileMapping__sec_image_maps_elf_segments);
	tcase_add_test(f, test_CreateFileMapping__sec_image_rejects_other_formats);
	suite_add_tcase(s, f);

	tcase_add_checked_fixture(n, tl_setup, tl_teardown);
	tcase_add_test(n, test_CreateFileMapping__second_create_opens_same_object);
	tcase_add_test(n, test_OpenFileMapping__other_process_sees_same_bytes);
	tcase_add_test(n, test_OpenFileMapping__gone_with_last_handle_and_view);
	tcase_add_test(n, test_CreateFileMapping__fork_child_closing_keeps_name);
	tcase_add_test(n, test_CreateFileMapping__creators_race);
	tcase_add_test(n, test_CreateFileMapping__object_of_dead_process_is_gone);
	tcase_add_test(n, test_OpenFileMapping__rights_of_the_handle);
	tcase_add_test(n, test_OpenFileMapping__errors);
	tcase_add_test(n, test_CreateFileMapping__names_stay_in_namespace);
	tcase_add_test(n, test_CreateFileMappingW__wide_names);
	tcase_add_test(n, test_OpenFileMappingW__wide_forms_and_errors);
	suite_add_tcase(s, n);

	tcase_add_checked_fixture(m, tl_setup, tl_teardown);
	tcase_add_loop_test(m, test_MapViewOfFile__model_random_sequences, 0, 4);
	tcase_set_timeout(m, 60);
	suite_add_tcase(s, m);
	return s;
}

/* --child-read: read and copy-on-write views work, a shared writable one
 * is refused (the file is not writable for this process). */
static int child_read(const char *name)
{
	/* After exec: root's capabilities come back with every exec. */
	HANDLE h = tl_drop_capabilities() ? NULL : OpenFileMappingA(FILE_MAP_ALL_ACCESS, FALSE, name);
	char *r = h ? MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0) : NULL;
	char *c = h ? MapViewOfFile(h, FILE_MAP_COPY, 0, 0, 0) : NULL;
	char *w = h ? MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, 0) : NULL;
	DWORD err = GetLastError();

	if (!r || !c)
		return 1;
	if (strcmp(r, "shared file"))
		return 2;
	strcpy(c, "private");
	if (w || err != ERROR_ACCESS_DENIED) {
		fprintf(stderr, "child_read: write view %p, error %lu\n", (void *)w, (unsigned long)err);
		return 3;
	}
	return strcmp(r, "shared file") ? 4 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--child-open"))
		return child_open(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "--child-read"))
		return child_read(argv[2]);
	return tl_run(make_section_suite());
}
