/* Check suite for system memory information: GlobalMemoryStatusEx,
 * GlobalMemoryStatus, GetPhysicallyInstalledSystemMemory,
 * GetLargePageMinimum, GetSystemFileCacheSize, SetSystemFileCacheSize. */
#include "testlib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB ((DWORDLONG)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

static char dir[64];

/* A fake cgroup v2 directory for MEMAPI_CGROUP_DIR, with the given files
 * (NULL: absent). */
static void fake_cgroup(const char *max, const char *current, const char *min,
                        const char *swap_max)
{
	const char *names[] = { "memory.max", "memory.current", "memory.min", "memory.swap.max" };
	const char *values[] = { max, current, min, swap_max };
	char path[128];

	snprintf(dir, sizeof dir, "/tmp/check_sysmem.%d", (int)getpid());
	mkdir(dir, 0700);
	for (int i = 0; i < 4; i++) {
		FILE *f;

		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
		if (!values[i])
			continue;
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "%s\n", values[i]);
		fclose(f);
	}
	setenv("MEMAPI_CGROUP_DIR", dir, 1);
}

static void sysmem_teardown(void)
{
	char cmd[128];

	unsetenv("MEMAPI_CGROUP_DIR");
	unsetenv("MEMAPI_SMBIOS_FILE");
	if (dir[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		(void)!system(cmd);
	}
	tl_teardown();
}

static MEMORYSTATUSEX status(void)
{
	MEMORYSTATUSEX s = { .dwLength = sizeof s };

	ck_assert_msg(GlobalMemoryStatusEx(&s), "GlobalMemoryStatusEx failed: %lu",
	              (unsigned long)GetLastError());
	return s;
}

/* ---- GlobalMemoryStatusEx ---- */

START_TEST(test_GlobalMemoryStatusEx__machine_figures)
{
	MEMORYSTATUSEX s = status();
	SYSTEM_INFO si;
	DWORDLONG mem_total = (DWORDLONG)tl_meminfo("MemTotal") * KIB;

	GetSystemInfo(&si);
	ck_assert_uint_gt(s.ullTotalPhys, 0);
	ck_assert_uint_le(s.ullTotalPhys, mem_total);   /* a cgroup may lower it */
	ck_assert_uint_le(s.ullAvailPhys, s.ullTotalPhys);
	ck_assert_uint_le(s.dwMemoryLoad, 100);
	ck_assert_uint_eq(s.dwMemoryLoad,
	                  (s.ullTotalPhys - s.ullAvailPhys) * 100 / s.ullTotalPhys);
	ck_assert_uint_ge(s.ullTotalPageFile, s.ullAvailPageFile);
	ck_assert_uint_eq(s.ullTotalVirtual, (uintptr_t)si.lpMaximumApplicationAddress -
	                                     (uintptr_t)si.lpMinimumApplicationAddress + 1);
	ck_assert_uint_lt(s.ullAvailVirtual, s.ullTotalVirtual);
	ck_assert_uint_eq(s.ullAvailExtendedVirtual, 0);
}
END_TEST

/* Reserving address space lowers the available virtual memory. */
START_TEST(test_GlobalMemoryStatusEx__reservation_uses_virtual_space)
{
	DWORDLONG before = status().ullAvailVirtual, after;
	void *p = tl_reserve(4 * GIB);

	after = status().ullAvailVirtual;
	ck_assert_uint_le(after + 4 * GIB - 64 * MIB, before);   /* others may map too */
	tl_release(p);
	ck_assert_uint_gt(status().ullAvailVirtual, after + 4 * GIB - 64 * MIB);
}
END_TEST

START_TEST(test_GlobalMemoryStatusEx__length_and_null)
{
	static const DWORD bad[] = { 0, sizeof(MEMORYSTATUSEX) - 1, sizeof(MEMORYSTATUSEX) + 1,
	                             sizeof(MEMORYSTATUS) };
	MEMORYSTATUSEX s;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		memset(&s, 0x5a, sizeof s);
		s.dwLength = bad[i];
		ck_assert_false_error(GlobalMemoryStatusEx(&s), ERROR_INVALID_PARAMETER);
		ck_assert_uint_eq(s.dwLength, bad[i]);
		ck_assert_uint_eq(s.ullTotalPhys, 0x5a5a5a5a5a5a5a5aULL);   /* untouched */
	}
	ck_assert_false_error(GlobalMemoryStatusEx(NULL), ERROR_NOACCESS);
}
END_TEST

/* Inside a cgroup v2 memory limit the limit is the physical memory. */
START_TEST(test_GlobalMemoryStatusEx__cgroup_limit)
{
	MEMORYSTATUSEX s;

	fake_cgroup("1073741824", "268435456", NULL, "0");
	s = status();
	ck_assert_uint_eq(s.ullTotalPhys, GIB);
	ck_assert_uint_le(s.ullAvailPhys, 768 * MIB);
	if (tl_meminfo("MemAvailable") * KIB > 768 * MIB) {
		ck_assert_uint_eq(s.ullAvailPhys, 768 * MIB);
		ck_assert_uint_eq(s.dwMemoryLoad, 25);
	}
	ck_assert_uint_le(s.ullTotalPageFile, GIB);     /* no swap allowed */
	ck_assert_uint_le(s.ullAvailPageFile, 768 * MIB);
	/* Over its limit (memory.current may exceed memory.max): none left. */
	fake_cgroup("1073741824", "2147483648", NULL, NULL);
	s = status();
	ck_assert_uint_eq(s.ullAvailPhys, 0);
	ck_assert_uint_eq(s.dwMemoryLoad, 100);
	/* "max" is no limit. */
	fake_cgroup("max", "12345", NULL, NULL);
	ck_assert_uint_eq(status().ullTotalPhys, (DWORDLONG)tl_meminfo("MemTotal") * KIB);
}
END_TEST

START_TEST(test_GlobalMemoryStatus__same_figures)
{
	MEMORYSTATUS o;
	MEMORYSTATUSEX s;

	memset(&o, 0, sizeof o);
	GlobalMemoryStatus(&o);
	s = status();
	ck_assert_uint_eq(o.dwLength, sizeof o);
	ck_assert_uint_eq(o.dwTotalPhys, s.ullTotalPhys);
	ck_assert_uint_eq(o.dwTotalPageFile, s.ullTotalPageFile);
	ck_assert_uint_eq(o.dwTotalVirtual, s.ullTotalVirtual);
	ck_assert_uint_le(o.dwAvailPhys, o.dwTotalPhys);
	ck_assert_uint_le(o.dwMemoryLoad, 100);
	GlobalMemoryStatus(NULL);               /* nothing to report to: no crash */
}
END_TEST

/* ---- GetPhysicallyInstalledSystemMemory ---- */

/* A structure of SMBIOS type 17 with the size word (and extended size)
 * and its empty string set. */
static size_t add_device(unsigned char *t, size_t at, unsigned size, unsigned long ext)
{
	memset(t + at, 0, 0x22 + 2);
	t[at] = 17;
	t[at + 1] = 0x22;
	t[at + 0x0c] = (unsigned char)size;
	t[at + 0x0d] = (unsigned char)(size >> 8);
	for (int i = 0; i < 4; i++)
		t[at + 0x1c + i] = (unsigned char)(ext >> (8 * i));
	return at + 0x22 + 2;
}

static void write_table(const unsigned char *t, size_t n)
{
	char path[96];
	int fd;

	snprintf(path, sizeof path, "/tmp/check_sysmem.%d.dmi", (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, t, n), (ssize_t)n);
	close(fd);
	setenv("MEMAPI_SMBIOS_FILE", path, 1);
}

START_TEST(test_GetPhysicallyInstalledSystemMemory__smbios_devices)
{
	unsigned char t[512];
	size_t n = 0;
	ULONGLONG kib = 0;

	/* A type 16 array first (ignored), with a string. */
	memset(t, 0, sizeof t);
	t[0] = 16;
	t[1] = 0x17;
	memcpy(t + 0x17, "array\0", 7);
	n = 0x17 + 7;
	n = add_device(t, n, 8192, 0);              /* 8 GiB in MiB */
	n = add_device(t, n, 0x7fff, 32768);        /* 32 GiB in the extended size */
	n = add_device(t, n, 0x8000 | 512, 0);      /* 512 KiB, kilobyte granularity */
	n = add_device(t, n, 0, 0);                 /* an empty slot */
	n = add_device(t, n, 0xffff, 0);            /* size unknown */
	t[n] = 127;
	t[n + 1] = 4;
	n += 6;
	write_table(t, n);
	ck_assert(GetPhysicallyInstalledSystemMemory(&kib));
	ck_assert_uint_eq(kib, 8192 * KIB + 32768 * KIB + 512);
	/* A structure that runs past the end: malformed. */
	t[1] = 0xff;
	write_table(t, 0x30);
	ck_assert_false_error(GetPhysicallyInstalledSystemMemory(&kib), ERROR_INVALID_DATA);
}
END_TEST

/* Without memory devices in the table (or without the table): the memory
 * the kernel was given, at least MemTotal. */
START_TEST(test_GetPhysicallyInstalledSystemMemory__fallback)
{
	unsigned char t[8] = { 127, 4, 0, 0, 0, 0 };
	ULONGLONG kib = 0, again = 0;
	ULONGLONG mem_total = (ULONGLONG)tl_meminfo("MemTotal");

	write_table(t, 6);
	ck_assert(GetPhysicallyInstalledSystemMemory(&kib));
	ck_assert_uint_ge(kib, mem_total);
	ck_assert_uint_le(kib, 2 * mem_total + 1024 * 1024);
	setenv("MEMAPI_SMBIOS_FILE", "/nonexistent/DMI", 1);
	ck_assert(GetPhysicallyInstalledSystemMemory(&again));
	ck_assert_uint_eq(again, kib);
	ck_assert_false_error(GetPhysicallyInstalledSystemMemory(NULL), ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_GetLargePageMinimum__huge_page_size)
{
	ck_assert_uint_eq(GetLargePageMinimum(), (SIZE_T)(tl_meminfo("Hugepagesize") > 0 ?
	                                                  tl_meminfo("Hugepagesize") : 0) * 1024);
}
END_TEST

/* ---- the file cache ---- */

START_TEST(test_GetSystemFileCacheSize__limits)
{
	SIZE_T lo = 1, hi = 1;
	DWORD flags = 0;

	fake_cgroup("max", "0", "0", NULL);
	ck_assert(GetSystemFileCacheSize(&lo, &hi, &flags));
	ck_assert_uint_eq(lo, 0);
	ck_assert_uint_eq(hi, (SIZE_T)tl_meminfo("MemTotal") * 1024);
	ck_assert_uint_eq(flags, FILE_CACHE_MAX_HARD_DISABLE | FILE_CACHE_MIN_HARD_DISABLE);
	fake_cgroup("536870912", "0", "67108864", NULL);
	ck_assert(GetSystemFileCacheSize(&lo, &hi, &flags));
	ck_assert_uint_eq(lo, 64 * MIB);
	ck_assert_uint_eq(hi, 512 * MIB);
	ck_assert_uint_eq(flags, FILE_CACHE_MAX_HARD_ENABLE | FILE_CACHE_MIN_HARD_ENABLE);
	ck_assert_false_error(GetSystemFileCacheSize(NULL, &hi, &flags), ERROR_NOACCESS);
	ck_assert_false_error(GetSystemFileCacheSize(&lo, NULL, &flags), ERROR_NOACCESS);
	ck_assert_false_error(GetSystemFileCacheSize(&lo, &hi, NULL), ERROR_NOACCESS);
}
END_TEST

START_TEST(test_SetSystemFileCacheSize__invalid_requests)
{
	ck_assert_false_error(SetSystemFileCacheSize(0, 0, 0x10), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(SetSystemFileCacheSize(MIB, 2 * MIB, FILE_CACHE_MAX_HARD_ENABLE |
	                                             FILE_CACHE_MAX_HARD_DISABLE),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(SetSystemFileCacheSize(MIB, 2 * MIB, FILE_CACHE_MIN_HARD_ENABLE |
	                                             FILE_CACHE_MIN_HARD_DISABLE),
	                      ERROR_INVALID_PARAMETER);
	ck_assert_false_error(SetSystemFileCacheSize(2 * MIB, MIB, 0), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(SetSystemFileCacheSize(0, MIB, 0), ERROR_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_SetSystemFileCacheSize__needs_the_privilege)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (tl_drop_capabilities())
			_exit(9);
		SetLastError(0);
		if (SetSystemFileCacheSize((SIZE_T)-1, (SIZE_T)-1, 0))
			_exit(1);
		_exit(GetLastError() == ERROR_PRIVILEGE_NOT_HELD ? 0 : 2);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}
END_TEST

/* With the privilege (CAP_SYS_ADMIN): the flush empties the page cache of
 * a file just read; sizes cannot be set on Linux. */
START_TEST(test_SetSystemFileCacheSize__flush)
{
	char path[96], buf[65536];
	unsigned char vec[16];
	void *p;
	int fd, resident = 0;

	if (geteuid() != 0)
		return;             /* the privilege is root's */
	ck_assert_false_error(SetSystemFileCacheSize(MIB, 64 * MIB, 0), ERROR_NOT_SUPPORTED);
	snprintf(path, sizeof path, "/tmp/check_sysmem.%d.cache", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	memset(buf, 7, sizeof buf);
	ck_assert_int_eq(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(pread(fd, buf, sizeof buf, 0), (ssize_t)sizeof buf);
	if (!SetSystemFileCacheSize((SIZE_T)-1, (SIZE_T)-1, 0)) {
		/* A container may forbid drop_caches even to root. */
		ck_assert_last_error(ERROR_ACCESS_DENIED);
	} else {
		p = mmap(NULL, sizeof buf, PROT_READ, MAP_SHARED, fd, 0);
		ck_assert_ptr_ne(p, MAP_FAILED);
		ck_assert_int_eq(mincore(p, sizeof buf, vec), 0);
		for (int i = 0; i < 16; i++)
			resident += vec[i] & 1;
		munmap(p, sizeof buf);
		/* valgrind reads the first pages of each file mapped, to look for
		 * debug information: they are back in the cache by now. */
		if (!tl_valgrind())
			ck_assert_int_eq(resident, 0);
	}
	close(fd);
	unlink(path);
}
END_TEST

static Suite *make_sysmem_suite(void)
{
	Suite *s = suite_create("sysmem");
	TCase *g = tcase_create("status");
	TCase *p = tcase_create("physical");
	TCase *c = tcase_create("cache");

	tcase_add_checked_fixture(g, tl_setup, sysmem_teardown);
	tcase_add_test(g, test_GlobalMemoryStatusEx__machine_figures);
	tcase_add_test(g, test_GlobalMemoryStatusEx__reservation_uses_virtual_space);
	tcase_add_test(g, test_GlobalMemoryStatusEx__length_and_null);
	tcase_add_test(g, test_GlobalMemoryStatusEx__cgroup_limit);
	tcase_add_test(g, test_GlobalMemoryStatus__same_figures);
	suite_add_tcase(s, g);

	tcase_add_checked_fixture(p, tl_setup, sysmem_teardown);
	tcase_add_test(p, test_GetPhysicallyInstalledSystemMemory__smbios_devices);
	tcase_add_test(p, test_GetPhysicallyInstalledSystemMemory__fallback);
	tcase_add_test(p, test_GetLargePageMinimum__huge_page_size);
	suite_add_tcase(s, p);

	tcase_add_checked_fixture(c, tl_setup, sysmem_teardown);
	tcase_add_test(c, test_GetSystemFileCacheSize__limits);
	tcase_add_test(c, test_SetSystemFileCacheSize__invalid_requests);
	tcase_add_test(c, test_SetSystemFileCacheSize__needs_the_privilege);
	tcase_add_test(c, test_SetSystemFileCacheSize__flush);
	suite_add_tcase(s, c);
	return s;
}

TL_MAIN(make_sysmem_suite)
