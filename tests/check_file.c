/* The minimal file API needed to back file mappings: CreateFileA/W with
 * every disposition, access and flag, ReadFile/WriteFile (plain and at an
 * OVERLAPPED offset), the file pointer, end of file and size (with a sparse
 * file above 4 GiB), FlushFileBuffers, DeleteFileA/W, GetTempPathA/W and
 * CloseHandle on file handles. Every test works in its own directory,
 * made with mkdtemp under GetTempPathA's answer and removed afterwards. */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <uchar.h>
#include <unistd.h>

#define GR   GENERIC_READ
#define GW   GENERIC_WRITE
#define GRW  (GENERIC_READ | GENERIC_WRITE)
#define SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
#define GIB  ((LONGLONG)1 << 30)

/* A name with a two-byte and a four-byte UTF-8 sequence (U+1F600 is a
 * surrogate pair in UTF-16). */
#define UNAME_W u"tmp_\u00e9\U0001F600"
#define UNAME_8 u8"tmp_\u00e9\U0001F600"

/* ---- the per-test directory ---- */

static char dir[1024];           /* short enough for path() never to truncate */
static char *saved_tmpdir;

static void file_setup(void)
{
	static const char tail[] = "memapi_file_XXXXXX";
	const char *t = getenv("TMPDIR");
	DWORD n;

	tl_setup();
	saved_tmpdir = t ? strdup(t) : NULL;
	n = GetTempPathA(sizeof dir - sizeof tail, dir);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, sizeof dir - sizeof tail);
	memcpy(dir + n, tail, sizeof tail);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp(%s): %s", dir, strerror(errno));
	SetLastError(0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	/* Tests take permissions away; give them back so the tree goes. */
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path);
}

static void file_teardown(void)
{
	if (dir[0]) {
		chmod(dir, 0700);
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		dir[0] = 0;
	}
	if (saved_tmpdir) {
		setenv("TMPDIR", saved_tmpdir, 1);
		free(saved_tmpdir);
		saved_tmpdir = NULL;
	} else {
		unsetenv("TMPDIR");
	}
	tl_teardown();
}

/* dir/name in one of a few rotating buffers. */
static const char *path(const char *name)
{
	static char bufs[4][PATH_MAX];
	static unsigned next;
	char *b = bufs[next++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", dir, name);
	return b;
}

/* UTF-8 to UTF-16 (valid input only; the test directory's name). */
static size_t widen(const char *s, WCHAR *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p) {
		uint32_t c;
		int more;

		if (*p < 0x80)
			c = *p, more = 0;
		else if (*p < 0xe0)
			c = *p & 0x1f, more = 1;
		else if (*p < 0xf0)
			c = *p & 0x0f, more = 2;
		else
			c = *p & 0x07, more = 3;
		p++;
		while (more-- > 0)
			c = c << 6 | (*p++ & 0x3f);
		ck_assert_uint_lt(n + 2, cap);
		if (c >= 0x10000) {
			out[n++] = (WCHAR)(0xd800 + ((c - 0x10000) >> 10));
			out[n++] = (WCHAR)(0xdc00 + ((c - 0x10000) & 0x3ff));
		} else {
			out[n++] = (WCHAR)c;
		}
	}
	out[n] = 0;
	return n;
}

/* dir/name in UTF-16. */
static const WCHAR *wpath(const WCHAR *name)
{
	static WCHAR bufs[2][PATH_MAX];
	static unsigned next;
	WCHAR *b = bufs[next++ % 2];
	size_t n = widen(dir, b, PATH_MAX);

	b[n++] = '/';
	while (*name) {
		ck_assert_uint_lt(n + 1, PATH_MAX);
		b[n++] = *name++;
	}
	b[n] = 0;
	return b;
}

static size_t wlen(const WCHAR *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static bool exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static off_t disk_size(const char *p)
{
	struct stat st;

	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_size;
}

/* Writes bytes to a new file with plain POSIX calls. */
static void make_file(const char *p, const char *bytes, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, bytes, n), (ssize_t)n);
	close(fd);
}

/* ---- shortcuts that fail the test when the call fails ---- */

static HANDLE open_ok(const char *p, DWORD access, DWORD disposition)
{
	HANDLE h = CreateFileA(p, access, SHARE_ALL, NULL, disposition, FILE_ATTRIBUTE_NORMAL, NULL);

	ck_assert_msg(h != INVALID_HANDLE_VALUE && h != NULL, "CreateFileA(%s): error %lu", p,
	              (unsigned long)GetLastError());
	return h;
}

static void close_ok(HANDLE h)
{
	ck_assert_msg(CloseHandle(h), "CloseHandle: error %lu", (unsigned long)GetLastError());
}

static void write_ok(HANDLE h, const void *buf, DWORD n)
{
	DWORD done = 0xdead;

	ck_assert_msg(WriteFile(h, buf, n, &done, NULL), "WriteFile: error %lu",
	              (unsigned long)GetLastError());
	ck_assert_uint_eq(done, n);
}

static DWORD read_ok(HANDLE h, void *buf, DWORD n)
{
	DWORD done = 0xdead;

	ck_assert_msg(ReadFile(h, buf, n, &done, NULL), "ReadFile: error %lu",
	              (unsigned long)GetLastError());
	ck_assert_uint_le(done, n);
	return done;
}

static LONGLONG pos_of(HANDLE h)
{
	LARGE_INTEGER zero = { .QuadPart = 0 }, pos = { .QuadPart = -42 };

	ck_assert(SetFilePointerEx(h, zero, &pos, FILE_CURRENT));
	return pos.QuadPart;
}

static void seek_ok(HANDLE h, LONGLONG to)
{
	LARGE_INTEGER d = { .QuadPart = to }, pos;

	ck_assert(SetFilePointerEx(h, d, &pos, FILE_BEGIN));
	ck_assert_int_eq(pos.QuadPart, to);
}

static LONGLONG size_of(HANDLE h)
{
	LARGE_INTEGER sz = { .QuadPart = -42 };

	ck_assert(GetFileSizeEx(h, &sz));
	return sz.QuadPart;
}

/* CreateFile must fail with INVALID_HANDLE_VALUE (never NULL) and code. */
#define ck_assert_create_fails(expr, code) do { \
	HANDLE h_ = (SetLastError(0), (expr)); \
	ck_assert_ptr_eq(h_, INVALID_HANDLE_VALUE); \
	ck_assert_last_error(code); \
} while (0)

/* The last error a successful call leaves; SetLastError(1234) first. */
#define STALE 1234

/* ---- CreateFile: dispositions ---- */

START_TEST(test_CreateFileA__create_new)
{
	const char *p = path("a");
	HANDLE h;

	h = open_ok(p, GRW, CREATE_NEW);
	ck_assert(exists(p));
	ck_assert_int_eq(size_of(h), 0);
	close_ok(h);
	ck_assert_create_fails(CreateFileA(p, GRW, 0, NULL, CREATE_NEW, 0, NULL), ERROR_FILE_EXISTS);
}
END_TEST

START_TEST(test_CreateFileA__create_always_truncates)
{
	const char *p = path("a");
	HANDLE h;

	SetLastError(STALE);
	h = open_ok(p, GRW, CREATE_ALWAYS);
	ck_assert_last_error(0);
	write_ok(h, "hello", 5);
	close_ok(h);
	ck_assert_int_eq(disk_size(p), 5);

	SetLastError(STALE);
	h = open_ok(p, GRW, CREATE_ALWAYS);
	ck_assert_last_error(ERROR_ALREADY_EXISTS);
	ck_assert_int_eq(size_of(h), 0);
	ck_assert_int_eq(disk_size(p), 0);
	close_ok(h);
}
END_TEST

START_TEST(test_CreateFileA__open_existing)
{
	const char *p = path("a");
	char buf[8];
	HANDLE h;

	ck_assert_create_fails(CreateFileA(p, GR, 0, NULL, OPEN_EXISTING, 0, NULL),
	                       ERROR_FILE_NOT_FOUND);
	ck_assert(!exists(p));
	make_file(p, "abc", 3);
	h = open_ok(p, GR, OPEN_EXISTING);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 3);
	ck_assert_mem_eq(buf, "abc", 3);
	close_ok(h);
	ck_assert_int_eq(disk_size(p), 3);
}
END_TEST

START_TEST(test_CreateFileA__missing_directory_is_path_not_found)
{
	static const DWORD disp[] = { CREATE_NEW, CREATE_ALWAYS, OPEN_EXISTING, OPEN_ALWAYS,
	                              TRUNCATE_EXISTING };

	for (size_t i = 0; i < sizeof disp / sizeof disp[0]; i++)
		ck_assert_create_fails(CreateFileA(path("nodir/a"), GRW, 0, NULL, disp[i], 0, NULL),
		                       ERROR_PATH_NOT_FOUND);
	ck_assert(!exists(path("nodir")));
}
END_TEST

START_TEST(test_CreateFileA__file_as_directory_is_path_not_found)
{
	static const DWORD disp[] = { CREATE_NEW, CREATE_ALWAYS, OPEN_EXISTING, OPEN_ALWAYS };

	make_file(path("f"), "x", 1);
	for (size_t i = 0; i < sizeof disp / sizeof disp[0]; i++)
		ck_assert_create_fails(CreateFileA(path("f/a"), GRW, 0, NULL, disp[i], 0, NULL),
		                       ERROR_PATH_NOT_FOUND);
	ck_assert_false_error(DeleteFileA(path("f/a")), ERROR_PATH_NOT_FOUND);
	ck_assert_int_eq(disk_size(path("f")), 1);
}
END_TEST

START_TEST(test_CreateFileA__open_always)
{
	const char *p = path("a");
	char buf[8];
	HANDLE h;

	SetLastError(STALE);
	h = open_ok(p, GRW, OPEN_ALWAYS);
	ck_assert_last_error(0);
	ck_assert(exists(p));
	write_ok(h, "xyz", 3);
	close_ok(h);

	SetLastError(STALE);
	h = open_ok(p, GRW, OPEN_ALWAYS);
	ck_assert_last_error(ERROR_ALREADY_EXISTS);
	ck_assert_int_eq(size_of(h), 3);
	ck_assert_int_eq(pos_of(h), 0);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 3);
	ck_assert_mem_eq(buf, "xyz", 3);
	close_ok(h);
}
END_TEST

START_TEST(test_CreateFileA__truncate_existing)
{
	const char *p = path("a");
	HANDLE h;

	ck_assert_create_fails(CreateFileA(p, GW, 0, NULL, TRUNCATE_EXISTING, 0, NULL),
	                       ERROR_FILE_NOT_FOUND);
	ck_assert(!exists(p));
	make_file(p, "0123456789", 10);
	h = open_ok(p, GW, TRUNCATE_EXISTING);
	ck_assert_int_eq(size_of(h), 0);
	ck_assert_int_eq(disk_size(p), 0);
	close_ok(h);
}
END_TEST

START_TEST(test_CreateFileA__truncate_existing_needs_write_access)
{
	const char *p = path("a");
	HANDLE h;

	make_file(p, "0123456789", 10);
	ck_assert_create_fails(CreateFileA(p, GR, 0, NULL, TRUNCATE_EXISTING, 0, NULL),
	                       ERROR_INVALID_PARAMETER);
	ck_assert_create_fails(CreateFileA(p, 0, 0, NULL, TRUNCATE_EXISTING, 0, NULL),
	                       ERROR_INVALID_PARAMETER);
	ck_assert_int_eq(disk_size(p), 10);
	h = open_ok(p, FILE_WRITE_DATA, TRUNCATE_EXISTING);
	ck_assert_int_eq(disk_size(p), 0);
	close_ok(h);
}
END_TEST

START_TEST(test_CreateFileA__bad_disposition_rejected)
{
	static const DWORD bad[] = { 0, 6, 7, 0x80000003u };
	const char *p = path("a");

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_create_fails(CreateFileA(p, GRW, 0, NULL, bad[i], 0, NULL),
		                       ERROR_INVALID_PARAMETER);
	ck_assert(!exists(p));
}
END_TEST

START_TEST(test_CreateFileA__null_and_empty_names)
{
	ck_assert_create_fails(CreateFileA(NULL, GRW, 0, NULL, OPEN_ALWAYS, 0, NULL),
	                       ERROR_INVALID_PARAMETER);
	ck_assert_create_fails(CreateFileW(NULL, GRW, 0, NULL, OPEN_ALWAYS, 0, NULL),
	                       ERROR_INVALID_PARAMETER);
	ck_assert_create_fails(CreateFileA("", GRW, 0, NULL, OPEN_ALWAYS, 0, NULL),
	                       ERROR_PATH_NOT_FOUND);
	ck_assert_create_fails(CreateFileA("", GR, 0, NULL, OPEN_EXISTING, 0, NULL),
	                       ERROR_PATH_NOT_FOUND);
	ck_assert_create_fails(CreateFileW(u"", GRW, 0, NULL, OPEN_ALWAYS, 0, NULL),
	                       ERROR_PATH_NOT_FOUND);
}
END_TEST

START_TEST(test_CreateFileA__directory_is_access_denied)
{
	ck_assert_create_fails(CreateFileA(dir, GR, 0, NULL, OPEN_EXISTING, 0, NULL),
	                       ERROR_ACCESS_DENIED);
	ck_assert_create_fails(CreateFileA(dir, GRW, 0, NULL, OPEN_EXISTING, 0, NULL),
	                       ERROR_ACCESS_DENIED);
	ck_assert_create_fails(CreateFileA(dir, GR, 0, NULL, OPEN_ALWAYS, 0, NULL),
	                       ERROR_ACCESS_DENIED);
	ck_assert_create_fails(CreateFileA(dir, 0, 0, NULL, OPEN_EXISTING, 0, NULL),
	                       ERROR_ACCESS_DENIED);
}
END_TEST

/* The permission checks, as an unprivileged user. We run as root, whom
 * the kernel lets write anything, so a child drops to nobody (65534) and
 * reports which check failed through its exit status. */
static int unprivileged_checks(const char *ro, const char *rodir_file)
{
	HANDLE h;

	SetLastError(0);
	h = CreateFileA(ro, GR, 0, NULL, OPEN_EXISTING, 0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 10;              /* the read-only file cannot even be read */
	CloseHandle(h);
	SetLastError(0);
	h = CreateFileA(ro, GW, 0, NULL, OPEN_EXISTING, 0, NULL);
	if (h != INVALID_HANDLE_VALUE)
		return 11;
	if (GetLastError() != ERROR_ACCESS_DENIED)
		return 12;
	SetLastError(0);
	if (CreateFileA(ro, GRW, 0, NULL, OPEN_ALWAYS, 0, NULL) != INVALID_HANDLE_VALUE ||
	    GetLastError() != ERROR_ACCESS_DENIED)
		return 13;
	/* Creating a file in a directory without write permission. */
	SetLastError(0);
	if (CreateFileA(rodir_file, GRW, 0, NULL, CREATE_NEW, 0, NULL) != INVALID_HANDLE_VALUE ||
	    GetLastError() != ERROR_ACCESS_DENIED)
		return 14;
	/* Deleting the read-only file: its directory is not writable for us. */
	SetLastError(0);
	if (DeleteFileA(ro) || GetLastError() != ERROR_ACCESS_DENIED)
		return 15;
	return 0;
}

START_TEST(test_CreateFileA__no_permission_is_access_denied)
{
	const char *ro = path("ro");
	char rodir_file[PATH_MAX];
	int status;
	pid_t pid;

	make_file(ro, "r", 1);
	ck_assert_int_eq(chmod(ro, 0444), 0);
	snprintf(rodir_file, sizeof rodir_file, "%s", path("new"));
	/* nobody may look into the directory but not write in it. */
	ck_assert_int_eq(chmod(dir, 0755), 0);

	if (geteuid() != 0) {
		ck_assert_int_eq(unprivileged_checks(ro, rodir_file), 0);
		return;
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(2);
		_exit(unprivileged_checks(ro, rodir_file));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child did not exit (status %#x)", status);
	ck_assert_msg(WEXITSTATUS(status) == 0, "unprivileged check %d failed",
	              WEXITSTATUS(status));
	ck_assert(!exists(rodir_file));
	ck_assert(exists(ro));
}
END_TEST

/* ---- CreateFile: flags, share modes ---- */

START_TEST(test_CreateFileA__share_modes_ignored)
{
	const char *p = path("a");
	HANDLE a, b, c;
	char buf[4];

	a = CreateFileA(p, GRW, 0, NULL, CREATE_NEW, 0, NULL);
	ck_assert_ptr_ne(a, INVALID_HANDLE_VALUE);
	/* Exclusive on Windows; Linux has no share modes. */
	b = CreateFileA(p, GRW, 0, NULL, OPEN_EXISTING, 0, NULL);
	ck_assert_ptr_ne(b, INVALID_HANDLE_VALUE);
	c = CreateFileA(p, GR, SHARE_ALL, NULL, OPEN_EXISTING, 0, NULL);
	ck_assert_ptr_ne(c, INVALID_HANDLE_VALUE);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_ne(b, c);
	write_ok(a, "ab", 2);
	/* Each handle has its own file pointer. */
	ck_assert_int_eq(pos_of(b), 0);
	ck_assert_uint_eq(read_ok(c, buf, sizeof buf), 2);
	ck_assert_mem_eq(buf, "ab", 2);
	close_ok(a);
	close_ok(b);
	close_ok(c);
}
END_TEST

START_TEST(test_CreateFileA__delete_on_close)
{
	const char *p = path("a");
	HANDLE h;
	char buf[4];

	h = CreateFileA(p, GRW, 0, NULL, CREATE_NEW, FILE_FLAG_DELETE_ON_CLOSE, NULL);
	ck_assert_ptr_ne(h, INVALID_HANDLE_VALUE);
	ck_assert(exists(p));
	write_ok(h, "tmp", 3);
	seek_ok(h, 0);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 3);
	ck_assert(exists(p));
	close_ok(h);
	ck_assert(!exists(p));

	/* On an existing file too. */
	make_file(p, "x", 1);
	h = CreateFileA(p, GR, 0, NULL, OPEN_EXISTING, FILE_FLAG_DELETE_ON_CLOSE, NULL);
	ck_assert_ptr_ne(h, INVALID_HANDLE_VALUE);
	ck_assert(exists(p));
	close_ok(h);
	ck_assert(!exists(p));
}
END_TEST

START_TEST(test_CreateFileA__overlapped_not_supported)
{
	const char *p = path("a");

	ck_assert_create_fails(CreateFileA(p, GRW, 0, NULL, CREATE_NEW, FILE_FLAG_OVERLAPPED, NULL),
	                       ERROR_NOT_SUPPORTED);
	ck_assert(!exists(p));
	make_file(p, "x", 1);
	ck_assert_create_fails(CreateFileA(p, GRW, 0, NULL, CREATE_ALWAYS,
	                                   FILE_FLAG_OVERLAPPED | FILE_ATTRIBUTE_NORMAL, NULL),
	                       ERROR_NOT_SUPPORTED);
	/* Refused before anything happened to the file. */
	ck_assert_int_eq(disk_size(p), 1);
}
END_TEST

START_TEST(test_CreateFileA__other_flags_and_attributes_accepted)
{
	static const DWORD flags[] = {
		FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_TEMPORARY, FILE_FLAG_RANDOM_ACCESS,
		FILE_FLAG_SEQUENTIAL_SCAN, FILE_FLAG_WRITE_THROUGH, FILE_FLAG_BACKUP_SEMANTICS,
		FILE_FLAG_POSIX_SEMANTICS,
	};

	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		HANDLE h = CreateFileA(path("a"), GRW, 0, NULL, CREATE_ALWAYS, flags[i], NULL);

		ck_assert_msg(h != INVALID_HANDLE_VALUE, "flags %#x: error %lu", (unsigned)flags[i],
		              (unsigned long)GetLastError());
		write_ok(h, "z", 1);
		close_ok(h);
	}
}
END_TEST

/* ---- CreateFile: access ---- */

START_TEST(test_CreateFileA__access_rights)
{
	static const struct { DWORD access; bool read, write; } cases[] = {
		{ GENERIC_READ,                     true,  false },
		{ GENERIC_WRITE,                    false, true  },
		{ GENERIC_READ | GENERIC_WRITE,     true,  true  },
		{ GENERIC_ALL,                      true,  true  },
		{ FILE_READ_DATA,                   true,  false },
		{ FILE_WRITE_DATA,                  false, true  },
		{ FILE_READ_DATA | FILE_WRITE_DATA, true,  true  },
		{ 0,                                false, false },
	};
	const char *p = path("a");
	int i = _i;
	HANDLE h;
	char buf[4];
	DWORD n;

	make_file(p, "data", 4);
	h = open_ok(p, cases[i].access, OPEN_EXISTING);
	if (cases[i].read) {
		ck_assert_uint_eq(read_ok(h, buf, 2), 2);
		ck_assert_mem_eq(buf, "da", 2);
	} else {
		SetLastError(0);
		n = 77;
		ck_assert(!ReadFile(h, buf, 2, &n, NULL));
		ck_assert_last_error(ERROR_ACCESS_DENIED);
		ck_assert_uint_eq(n, 0);
	}
	if (cases[i].write) {
		seek_ok(h, 2);
		write_ok(h, "TA", 2);
	} else {
		SetLastError(0);
		n = 77;
		ck_assert(!WriteFile(h, "TA", 2, &n, NULL));
		ck_assert_last_error(ERROR_ACCESS_DENIED);
		ck_assert_uint_eq(n, 0);
		ck_assert_false_error(SetEndOfFile(h), ERROR_ACCESS_DENIED);
		ck_assert_false_error(FlushFileBuffers(h), ERROR_ACCESS_DENIED);
	}
	/* The size is readable whatever the access. */
	ck_assert_int_eq(size_of(h), 4);
	close_ok(h);
	{
		FILE *f = fopen(p, "r");
		char all[5] = { 0 };

		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fread(all, 1, 4, f), 4);
		fclose(f);
		ck_assert_str_eq(all, cases[i].write ? "daTA" : "data");
	}
}
END_TEST

START_TEST(test_CreateFileA__append_data_writes_at_end)
{
	const char *p = path("a");
	HANDLE h;
	char all[16] = { 0 };
	FILE *f;

	make_file(p, "head", 4);
	h = open_ok(p, FILE_APPEND_DATA, OPEN_EXISTING);
	write_ok(h, "-1", 2);
	seek_ok(h, 0);
	write_ok(h, "-2", 2);
	ck_assert_int_eq(size_of(h), 8);
	close_ok(h);
	f = fopen(p, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(all, 1, sizeof all - 1, f), 8);
	fclose(f);
	ck_assert_str_eq(all, "head-1-2");
}
END_TEST

/* FILE_APPEND_DATA without FILE_WRITE_DATA appends whatever else the
 * handle may do ("write operations will not overwrite existing data",
 * Windows' access-rights reference). Regression: with read access the
 * writes once landed at the file pointer. */
START_TEST(test_CreateFileA__read_and_append_data_writes_at_end)
{
	static const DWORD access[] = { FILE_READ_DATA | FILE_APPEND_DATA,
	                                GENERIC_READ | FILE_APPEND_DATA };
	const char *p = path("a");
	HANDLE h;
	char all[16] = { 0 };

	make_file(p, "head", 4);
	h = open_ok(p, access[_i], OPEN_EXISTING);
	ck_assert_uint_eq(read_ok(h, all, 2), 2);
	ck_assert_mem_eq(all, "he", 2);
	write_ok(h, "-1", 2);
	seek_ok(h, 0);
	write_ok(h, "-2", 2);
	ck_assert_int_eq(size_of(h), 8);
	seek_ok(h, 0);
	memset(all, 0, sizeof all);
	ck_assert_uint_eq(read_ok(h, all, sizeof all - 1), 8);
	ck_assert_str_eq(all, "head-1-2");
	close_ok(h);
}
END_TEST

/* ---- CreateFileW ---- */

START_TEST(test_CreateFileW__utf16_name)
{
	const char *p8 = path(UNAME_8);
	HANDLE h;
	char buf[8];

	ck_assert_uint_eq(wlen(UNAME_W), 7);      /* t m p _ é + a surrogate pair */
	SetLastError(STALE);
	h = CreateFileW(wpath(UNAME_W), GRW, 0, NULL, CREATE_ALWAYS, 0, NULL);
	ck_assert_ptr_ne(h, INVALID_HANDLE_VALUE);
	ck_assert_last_error(0);
	write_ok(h, "utf", 3);
	close_ok(h);
	/* On disk under the UTF-8 name. */
	ck_assert(exists(p8));
	ck_assert_int_eq(disk_size(p8), 3);
	h = open_ok(p8, GR, OPEN_EXISTING);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 3);
	ck_assert_mem_eq(buf, "utf", 3);
	close_ok(h);
	ck_assert_create_fails(CreateFileW(wpath(UNAME_W), GRW, 0, NULL, CREATE_NEW, 0, NULL),
	                       ERROR_FILE_EXISTS);
	ck_assert_create_fails(CreateFileW(wpath(u"nodir/x"), GR, 0, NULL, OPEN_EXISTING, 0, NULL),
	                       ERROR_PATH_NOT_FOUND);
	ck_assert_create_fails(CreateFileW(wpath(u"missing"), GR, 0, NULL, OPEN_EXISTING, 0, NULL),
	                       ERROR_FILE_NOT_FOUND);
}
END_TEST

START_TEST(test_CreateFileW__unpaired_surrogate_rejected)
{
	static const WCHAR high_alone[] = { 'b', 0xd800, 'x', 0 };
	static const WCHAR high_at_end[] = { 'b', 0xdbff, 0 };
	static const WCHAR low_alone[] = { 'b', 0xdc00, 'x', 0 };
	static const WCHAR reversed[] = { 'b', 0xde00, 0xd83d, 0 };
	const WCHAR *names[] = { high_alone, high_at_end, low_alone, reversed };
	DIR *d;
	struct dirent *e;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		ck_assert_create_fails(CreateFileW(wpath(names[i]), GRW, 0, NULL, CREATE_ALWAYS, 0, NULL),
		                       ERROR_NO_UNICODE_TRANSLATION);
	/* Nothing was created under a replacement name either. */
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		ck_assert_msg(e->d_name[0] == '.', "unexpected file %s", e->d_name);
	closedir(d);
}
END_TEST

/* ---- ReadFile / WriteFile ---- */

START_TEST(test_ReadFile__round_trip_and_eof)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	char buf[16];
	DWORD n;

	write_ok(h, "0123456789", 10);
	ck_assert_int_eq(pos_of(h), 10);
	/* At the end: success with 0 bytes. */
	n = 77;
	SetLastError(0);
	ck_assert(ReadFile(h, buf, sizeof buf, &n, NULL));
	ck_assert_uint_eq(n, 0);
	ck_assert_last_error(0);
	seek_ok(h, 3);
	ck_assert_uint_eq(read_ok(h, buf, 4), 4);
	ck_assert_mem_eq(buf, "3456", 4);
	ck_assert_int_eq(pos_of(h), 7);
	/* A short read at the end. */
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 3);
	ck_assert_mem_eq(buf, "789", 3);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 0);
	/* Past the end. */
	seek_ok(h, 100);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 0);
	close_ok(h);
}
END_TEST

START_TEST(test_WriteFile__zero_bytes_is_a_no_op)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	char buf[4];
	DWORD n = 77;

	write_ok(h, "abc", 3);
	seek_ok(h, 1);
	ck_assert(WriteFile(h, "", 0, &n, NULL));
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(size_of(h), 3);
	ck_assert_int_eq(pos_of(h), 1);
	n = 77;
	ck_assert(ReadFile(h, buf, 0, &n, NULL));
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(pos_of(h), 1);
	close_ok(h);
}
END_TEST

START_TEST(test_WriteFile__large_transfers_are_complete)
{
	const DWORD size = 3 * (DWORD)TL_MIB + 123;
	unsigned char *out = malloc(size), *in = malloc(size);
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(in);
	for (DWORD i = 0; i < size; i++)
		out[i] = (unsigned char)(i * 7 + (i >> 12));
	write_ok(h, out, size);
	ck_assert_int_eq(size_of(h), size);
	seek_ok(h, 0);
	ck_assert_uint_eq(read_ok(h, in, size), size);
	ck_assert_mem_eq(in, out, size);
	close_ok(h);
	free(out);
	free(in);
}
END_TEST

START_TEST(test_ReadFile__count_pointer_required_without_overlapped)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	char buf[4];

	ck_assert_false_error(WriteFile(h, "abc", 3, NULL, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_int_eq(size_of(h), 0);
	write_ok(h, "abc", 3);
	seek_ok(h, 0);
	ck_assert_false_error(ReadFile(h, buf, 3, NULL, NULL), ERROR_INVALID_PARAMETER);
	ck_assert_int_eq(pos_of(h), 0);
	close_ok(h);
}
END_TEST

START_TEST(test_ReadFile__overlapped_offset_keeps_pointer)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	OVERLAPPED ov;
	char buf[8];
	DWORD n;

	write_ok(h, "0123456789", 10);
	seek_ok(h, 2);

	memset(&ov, 0, sizeof ov);
	ov.Offset = 5;
	n = 77;
	ck_assert(ReadFile(h, buf, 3, &n, &ov));
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(buf, "567", 3);
	ck_assert_int_eq(pos_of(h), 2);
	/* The count is in InternalHigh too, as Windows leaves it. */
	ck_assert_uint_eq(ov.InternalHigh, 3);

	memset(&ov, 0, sizeof ov);
	ov.Offset = 8;
	n = 77;
	ck_assert(WriteFile(h, "AB", 2, &n, &ov));
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(pos_of(h), 2);

	/* The count pointer may be NULL with an OVERLAPPED structure. */
	memset(&ov, 0, sizeof ov);
	ov.Offset = 0;
	ck_assert(WriteFile(h, "z", 1, NULL, &ov));
	memset(&ov, 0, sizeof ov);
	ov.Offset = 8;
	ck_assert(ReadFile(h, buf, 2, NULL, &ov));
	ck_assert_mem_eq(buf, "AB", 2);
	ck_assert_int_eq(pos_of(h), 2);

	/* Beyond the end: the file grows, with a hole of zeros. */
	memset(&ov, 0, sizeof ov);
	ov.Offset = 20;
	n = 77;
	ck_assert(WriteFile(h, "end", 3, &n, &ov));
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(size_of(h), 23);
	ck_assert_int_eq(pos_of(h), 2);

	/* And the plain pointer still reads from where it was. */
	ck_assert_uint_eq(read_ok(h, buf, 8), 8);
	ck_assert_mem_eq(buf, "234567AB", 8);
	ck_assert_uint_eq(read_ok(h, buf, 2), 2);
	ck_assert_mem_eq(buf, "\0\0", 2);
	seek_ok(h, 0);
	ck_assert_uint_eq(read_ok(h, buf, 1), 1);
	ck_assert_int_eq(buf[0], 'z');
	close_ok(h);
}
END_TEST

START_TEST(test_WriteFile__overlapped_offset_high)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	OVERLAPPED ov;
	char buf[4];
	DWORD n;

	memset(&ov, 0, sizeof ov);
	ov.Offset = 10;
	ov.OffsetHigh = 1;                  /* 4 GiB + 10 */
	n = 0;
	ck_assert(WriteFile(h, "hi", 2, &n, &ov));
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(size_of(h), 4 * GIB + 12);
	ck_assert_int_eq(pos_of(h), 0);
	seek_ok(h, 4 * GIB + 10);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 2);
	ck_assert_mem_eq(buf, "hi", 2);
	close_ok(h);
}
END_TEST

/* ---- buffers in special memory ---- */

static bool fallback_run(void)
{
	const char *w = getenv("MEMAPI_WRITE_WATCH");

	return w && !strcmp(w, "fallback");
}

/* ReadFile fills write-watched pages, with either mechanism: the fallback
 * one relies on the read/pread wrappers that libmemapi exports. The suite
 * runs this test case a second time with MEMAPI_WRITE_WATCH=fallback. */
START_TEST(test_ReadFile__into_write_watch_memory)
{
	char *p = VirtualAlloc(NULL, 8 * TL_PAGE, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
	                       PAGE_READWRITE);
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	memapi_counters c;
	PVOID addrs[8];
	ULONG_PTR n = 8;
	DWORD gran = 0;
	OVERLAPPED ov;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(memapi_get_counters(&c), 0);
	if (fallback_run())
		ck_assert_uint_eq(c.watch_mode, MEMAPI_WATCH_FALLBACK);
	write_ok(h, "0123456789", 10);
	seek_ok(h, 0);
	/* A page-crossing read, and an OVERLAPPED one (pread). */
	ck_assert_uint_eq(read_ok(h, p + 2 * TL_PAGE - 3, 6), 6);
	ck_assert_mem_eq(p + 2 * TL_PAGE - 3, "012345", 6);
	memset(&ov, 0, sizeof ov);
	ov.Offset = 6;
	ck_assert(ReadFile(h, p + 5 * TL_PAGE + 100, 4, NULL, &ov));
	ck_assert_mem_eq(p + 5 * TL_PAGE + 100, "6789", 4);
	/* Writing from watched memory is not a write to it. */
	write_ok(h, p + 7 * TL_PAGE, 16);
	ck_assert_uint_eq(GetWriteWatch(0, p, 8 * TL_PAGE, addrs, &n, &gran), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_eq(addrs[0], p + TL_PAGE);
	ck_assert_ptr_eq(addrs[1], p + 2 * TL_PAGE);
	ck_assert_ptr_eq(addrs[2], p + 5 * TL_PAGE);
	close_ok(h);
	tl_release(p);
}
END_TEST

START_TEST(test_ReadFile__into_read_only_memory_is_noaccess)
{
	char *p = tl_commit_new(TL_PAGE, PAGE_READONLY);
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	DWORD n = 77;

	write_ok(h, "0123456789", 10);
	seek_ok(h, 0);
	SetLastError(0);
	ck_assert(!ReadFile(h, p, 10, &n, NULL));
	ck_assert_last_error(ERROR_NOACCESS);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(tl_read(p), 0);
	close_ok(h);
	tl_release(p);
}
END_TEST

/* ---- bad handles, for every function that takes a file handle ---- */

enum { F_READ, F_WRITE, F_PTR, F_PTREX, F_EOF, F_SIZE, F_SIZEEX, F_FLUSH, F_COUNT };

/* Calls function f on h and checks it fails with ERROR_INVALID_HANDLE. */
static void assert_bad_handle(int f, HANDLE h)
{
	LARGE_INTEGER li = { .QuadPart = 0 }, out;
	char buf[4];
	DWORD n = 77, high = 77;

	SetLastError(0);
	switch (f) {
	case F_READ:
		ck_assert(!ReadFile(h, buf, sizeof buf, &n, NULL));
		ck_assert_uint_eq(n, 0);
		break;
	case F_WRITE:
		ck_assert(!WriteFile(h, "x", 1, &n, NULL));
		ck_assert_uint_eq(n, 0);
		break;
	case F_PTR:
		ck_assert_uint_eq(SetFilePointer(h, 0, NULL, FILE_BEGIN), INVALID_SET_FILE_POINTER);
		break;
	case F_PTREX:
		ck_assert(!SetFilePointerEx(h, li, &out, FILE_BEGIN));
		break;
	case F_EOF:
		ck_assert(!SetEndOfFile(h));
		break;
	case F_SIZE:
		ck_assert_uint_eq(GetFileSize(h, &high), INVALID_FILE_SIZE);
		break;
	case F_SIZEEX:
		ck_assert(!GetFileSizeEx(h, &out));
		break;
	case F_FLUSH:
		ck_assert(!FlushFileBuffers(h));
		break;
	}
	ck_assert_msg(GetLastError() == ERROR_INVALID_HANDLE, "function %d, handle %p: error %lu",
	              f, h, (unsigned long)GetLastError());
}

START_TEST(test_ReadFile__bad_handles_rejected)
{
	HANDLE closed = open_ok(path("a"), GRW, CREATE_NEW);
	HANDLE proc = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, GetCurrentProcessId());
	HANDLE heap = HeapCreate(0, 0, 0);
	const HANDLE bad[] = {
		NULL, INVALID_HANDLE_VALUE, (HANDLE)(uintptr_t)0x1234, (HANDLE)(uintptr_t)3,
		closed, proc, heap, GetProcessHeap(),
	};

	ck_assert_ptr_nonnull(proc);
	ck_assert_ptr_nonnull(heap);
	close_ok(closed);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_bad_handle(_i, bad[i]);
	close_ok(proc);
	ck_assert(HeapDestroy(heap));
}
END_TEST

/* ---- SetFilePointer ---- */

START_TEST(test_SetFilePointer__methods)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	LONG high;

	write_ok(h, "0123456789", 10);
	SetLastError(STALE);
	ck_assert_uint_eq(SetFilePointer(h, 4, NULL, FILE_BEGIN), 4);
	ck_assert_uint_eq(SetFilePointer(h, 3, NULL, FILE_CURRENT), 7);
	ck_assert_uint_eq(SetFilePointer(h, -2, NULL, FILE_CURRENT), 5);
	ck_assert_uint_eq(SetFilePointer(h, -1, NULL, FILE_END), 9);
	ck_assert_uint_eq(SetFilePointer(h, 0, NULL, FILE_END), 10);
	ck_assert_uint_eq(SetFilePointer(h, 0, NULL, FILE_CURRENT), 10);
	high = 0;
	ck_assert_uint_eq(SetFilePointer(h, 6, &high, FILE_BEGIN), 6);
	ck_assert_int_eq(high, 0);
	ck_assert_last_error(STALE);
	ck_assert_int_eq(pos_of(h), 6);
	close_ok(h);
}
END_TEST

START_TEST(test_SetFilePointer__high_part)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	LONG high;

	high = 1;
	ck_assert_uint_eq(SetFilePointer(h, 5, &high, FILE_BEGIN), 5);
	ck_assert_int_eq(high, 1);
	ck_assert_int_eq(pos_of(h), 4 * GIB + 5);
	/* With a high part the distance is a signed 64-bit value. */
	high = -1;
	ck_assert_uint_eq(SetFilePointer(h, -6, &high, FILE_CURRENT), 0xffffffffu);
	ck_assert_int_eq(high, 0);
	ck_assert_int_eq(pos_of(h), 4 * GIB - 1);
	/* 0xFFFFFFFF is a valid low part: the last error, set to NO_ERROR
	 * as on Windows, tells it from a failure. */
	SetLastError(STALE);
	high = 0;
	ck_assert_uint_eq(SetFilePointer(h, 0, &high, FILE_CURRENT), INVALID_SET_FILE_POINTER);
	ck_assert_int_eq(high, 0);
	ck_assert_last_error(0);
	/* Without a high part the distance is a signed 32-bit value. */
	ck_assert_uint_eq(SetFilePointer(h, -0x7fffffff - 1, NULL, FILE_CURRENT), 0x7fffffffu);
	close_ok(h);
}
END_TEST

START_TEST(test_SetFilePointer__negative_seek_rejected)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	LONG high;

	write_ok(h, "0123456789", 10);
	seek_ok(h, 4);
	SetLastError(0);
	ck_assert_uint_eq(SetFilePointer(h, -5, NULL, FILE_CURRENT), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(ERROR_NEGATIVE_SEEK);
	ck_assert_int_eq(pos_of(h), 4);
	SetLastError(0);
	ck_assert_uint_eq(SetFilePointer(h, -11, NULL, FILE_END), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(ERROR_NEGATIVE_SEEK);
	SetLastError(0);
	ck_assert_uint_eq(SetFilePointer(h, -1, NULL, FILE_BEGIN), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(ERROR_NEGATIVE_SEEK);
	SetLastError(0);
	high = -1;
	ck_assert_uint_eq(SetFilePointer(h, 0, &high, FILE_BEGIN), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(ERROR_NEGATIVE_SEEK);
	ck_assert_int_eq(pos_of(h), 4);
	/* Exactly 0 is fine. */
	ck_assert_uint_eq(SetFilePointer(h, -10, NULL, FILE_END), 0);
	close_ok(h);
}
END_TEST

START_TEST(test_SetFilePointer__bad_method_rejected)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	LARGE_INTEGER d = { .QuadPart = 1 }, out;

	seek_ok(h, 3);
	SetLastError(0);
	ck_assert_uint_eq(SetFilePointer(h, 1, NULL, 3), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	SetLastError(0);
	ck_assert_uint_eq(SetFilePointer(h, 1, NULL, 0xffffffffu), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	ck_assert_false_error(SetFilePointerEx(h, d, &out, 3), ERROR_INVALID_PARAMETER);
	ck_assert_int_eq(pos_of(h), 3);
	close_ok(h);
}
END_TEST

START_TEST(test_SetFilePointer__4gib_needs_high_part)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);

	ck_assert_uint_eq(SetFilePointer(h, 0x7fffffff, NULL, FILE_BEGIN), 0x7fffffffu);
	ck_assert_uint_eq(SetFilePointer(h, 0x7fffffff, NULL, FILE_CURRENT), 0xfffffffeu);
	SetLastError(0);
	ck_assert_uint_eq(SetFilePointer(h, 2, NULL, FILE_CURRENT), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	ck_assert_int_eq(pos_of(h), 0xfffffffeLL);
	/* 0xFFFFFFFF itself fits: the answer is the sentinel, the error NO_ERROR. */
	SetLastError(STALE);
	ck_assert_uint_eq(SetFilePointer(h, 1, NULL, FILE_CURRENT), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(0);
	ck_assert_int_eq(pos_of(h), 0xffffffffLL);
	/* From the end of a file above 4 GiB. */
	seek_ok(h, 5 * GIB);
	ck_assert(SetEndOfFile(h));
	seek_ok(h, 7);
	SetLastError(0);
	ck_assert_uint_eq(SetFilePointer(h, 0, NULL, FILE_END), INVALID_SET_FILE_POINTER);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	ck_assert_int_eq(pos_of(h), 7);
	close_ok(h);
}
END_TEST

START_TEST(test_SetFilePointer__beyond_end_allowed)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	char buf[8];

	ck_assert_uint_eq(SetFilePointer(h, 1000, NULL, FILE_BEGIN), 1000);
	ck_assert_int_eq(size_of(h), 0);
	write_ok(h, "tail", 4);
	ck_assert_int_eq(size_of(h), 1004);
	seek_ok(h, 500);
	ck_assert_uint_eq(read_ok(h, buf, 8), 8);
	ck_assert_mem_eq(buf, "\0\0\0\0\0\0\0\0", 8);
	close_ok(h);
}
END_TEST

START_TEST(test_SetFilePointerEx__methods)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	LARGE_INTEGER d, out;

	write_ok(h, "0123456789", 10);
	SetLastError(STALE);
	d.QuadPart = 3;
	ck_assert(SetFilePointerEx(h, d, &out, FILE_BEGIN));
	ck_assert_int_eq(out.QuadPart, 3);
	d.QuadPart = 4;
	ck_assert(SetFilePointerEx(h, d, &out, FILE_CURRENT));
	ck_assert_int_eq(out.QuadPart, 7);
	d.QuadPart = -4;
	ck_assert(SetFilePointerEx(h, d, &out, FILE_END));
	ck_assert_int_eq(out.QuadPart, 6);
	/* The new position may be omitted. */
	d.QuadPart = 6 * GIB;
	ck_assert(SetFilePointerEx(h, d, NULL, FILE_BEGIN));
	ck_assert_int_eq(pos_of(h), 6 * GIB);
	ck_assert_last_error(STALE);
	ck_assert_int_eq(size_of(h), 10);
	close_ok(h);
}
END_TEST

START_TEST(test_SetFilePointerEx__negative_seek_rejected)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	LARGE_INTEGER d, out = { .QuadPart = 99 };

	seek_ok(h, 2);
	d.QuadPart = -3;
	ck_assert_false_error(SetFilePointerEx(h, d, &out, FILE_CURRENT), ERROR_NEGATIVE_SEEK);
	ck_assert_int_eq(out.QuadPart, 99);
	ck_assert_false_error(SetFilePointerEx(h, d, NULL, FILE_END), ERROR_NEGATIVE_SEEK);
	d.QuadPart = INT64_MIN;
	ck_assert_false_error(SetFilePointerEx(h, d, NULL, FILE_BEGIN), ERROR_NEGATIVE_SEEK);
	ck_assert_int_eq(pos_of(h), 2);
	close_ok(h);
}
END_TEST

/* A position the file system cannot reach (ext4 stops at 16 TiB;
 * Windows accepts any non-negative position) makes lseek fail with
 * EINVAL: ERROR_INVALID_PARAMETER (once ERROR_NEGATIVE_SEEK), and the
 * pointer stays. */
START_TEST(test_SetFilePointerEx__beyond_file_system_limit)
{
	static const LONGLONG far[] = { INT64_MAX, (LONGLONG)1 << 62, (LONGLONG)1 << 50 };
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	LARGE_INTEGER d, out;

	seek_ok(h, 5);
	for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
		d.QuadPart = far[i];
		out.QuadPart = -1;
		SetLastError(0);
		if (SetFilePointerEx(h, d, &out, FILE_BEGIN)) {
			ck_assert_int_eq(out.QuadPart, far[i]);
			seek_ok(h, 5);
			continue;
		}
		ck_assert_msg(GetLastError() == ERROR_INVALID_PARAMETER, "position %lld: error %lu",
		              (long long)far[i], (unsigned long)GetLastError());
		ck_assert_int_eq(pos_of(h), 5);
	}
	close_ok(h);
}
END_TEST

/* ---- SetEndOfFile ---- */

START_TEST(test_SetEndOfFile__truncates_and_extends)
{
	const char *p = path("a");
	HANDLE h = open_ok(p, GRW, CREATE_NEW);
	char buf[8];

	write_ok(h, "0123456789", 10);
	seek_ok(h, 4);
	SetLastError(STALE);
	ck_assert(SetEndOfFile(h));
	ck_assert_last_error(STALE);
	ck_assert_int_eq(size_of(h), 4);
	ck_assert_int_eq(disk_size(p), 4);
	ck_assert_int_eq(pos_of(h), 4);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 0);

	seek_ok(h, 8);
	ck_assert(SetEndOfFile(h));
	ck_assert_int_eq(size_of(h), 8);
	ck_assert_int_eq(pos_of(h), 8);
	seek_ok(h, 0);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 8);
	ck_assert_mem_eq(buf, "0123\0\0\0\0", 8);

	seek_ok(h, 0);
	ck_assert(SetEndOfFile(h));
	ck_assert_int_eq(size_of(h), 0);
	close_ok(h);
}
END_TEST

START_TEST(test_SetEndOfFile__read_only_handle_rejected)
{
	const char *p = path("a");
	HANDLE h;

	make_file(p, "0123456789", 10);
	h = open_ok(p, GR, OPEN_EXISTING);
	seek_ok(h, 3);
	ck_assert_false_error(SetEndOfFile(h), ERROR_ACCESS_DENIED);
	ck_assert_int_eq(disk_size(p), 10);
	close_ok(h);
}
END_TEST

/* ---- GetFileSize ---- */

START_TEST(test_GetFileSize__small_file)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	DWORD high = 77;

	SetLastError(STALE);
	ck_assert_uint_eq(GetFileSize(h, &high), 0);
	ck_assert_uint_eq(high, 0);
	write_ok(h, "0123456789", 10);
	high = 77;
	ck_assert_uint_eq(GetFileSize(h, &high), 10);
	ck_assert_uint_eq(high, 0);
	ck_assert_uint_eq(GetFileSize(h, NULL), 10);
	ck_assert_int_eq(size_of(h), 10);
	ck_assert_last_error(STALE);
	/* The file pointer does not matter. */
	seek_ok(h, 3);
	ck_assert_uint_eq(GetFileSize(h, NULL), 10);
	ck_assert_int_eq(pos_of(h), 3);
	close_ok(h);
}
END_TEST

START_TEST(test_GetFileSize__sparse_file_above_4gib)
{
	const char *p = path("big");
	HANDLE h = open_ok(p, GRW, CREATE_NEW);
	LARGE_INTEGER d = { .QuadPart = 5 * GIB }, sz;
	DWORD high = 77;
	char buf[4];

	ck_assert(SetFilePointerEx(h, d, NULL, FILE_BEGIN));
	ck_assert(SetEndOfFile(h));
	SetLastError(STALE);
	ck_assert_uint_eq(GetFileSize(h, &high), (DWORD)GIB);
	ck_assert_uint_eq(high, 1);
	/* Without the high part, the low part all the same. */
	ck_assert_uint_eq(GetFileSize(h, NULL), (DWORD)GIB);
	ck_assert(GetFileSizeEx(h, &sz));
	ck_assert_int_eq(sz.QuadPart, 5 * GIB);
	ck_assert_uint_eq(sz.LowPart, (DWORD)GIB);
	ck_assert_int_eq(sz.HighPart, 1);
	ck_assert_last_error(STALE);
	ck_assert_int_eq(disk_size(p), 5 * GIB);

	/* The last bytes are readable zeros. */
	d.QuadPart = -2;
	ck_assert(SetFilePointerEx(h, d, NULL, FILE_END));
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 2);
	ck_assert_mem_eq(buf, "\0\0", 2);

	/* A size whose low part is 0xFFFFFFFF: the last error, set to
	 * NO_ERROR as on Windows, tells it from a failure. */
	seek_ok(h, 0x1ffffffffLL);
	ck_assert(SetEndOfFile(h));
	SetLastError(STALE);
	high = 77;
	ck_assert_uint_eq(GetFileSize(h, &high), INVALID_FILE_SIZE);
	ck_assert_uint_eq(high, 1);
	ck_assert_last_error(0);
	close_ok(h);
}
END_TEST

START_TEST(test_GetFileSize__failure_values)
{
	DWORD high = 77;
	LARGE_INTEGER sz = { .QuadPart = 99 };

	SetLastError(0);
	ck_assert_uint_eq(GetFileSize(NULL, &high), INVALID_FILE_SIZE);
	ck_assert_last_error(ERROR_INVALID_HANDLE);
	SetLastError(0);
	ck_assert_uint_eq(GetFileSize((HANDLE)(uintptr_t)0x1234, NULL), INVALID_FILE_SIZE);
	ck_assert_last_error(ERROR_INVALID_HANDLE);
	ck_assert_false_error(GetFileSizeEx(NULL, &sz), ERROR_INVALID_HANDLE);
	ck_assert_int_eq(sz.QuadPart, 99);
}
END_TEST

START_TEST(test_GetFileSizeEx__null_pointer_rejected)
{
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);

	ck_assert_false_error(GetFileSizeEx(h, NULL), ERROR_INVALID_PARAMETER);
	close_ok(h);
}
END_TEST

/* ---- FlushFileBuffers ---- */

START_TEST(test_FlushFileBuffers__writable_and_read_only)
{
	const char *p = path("a");
	HANDLE h = open_ok(p, GRW, CREATE_NEW), r;

	write_ok(h, "abc", 3);
	SetLastError(STALE);
	ck_assert(FlushFileBuffers(h));
	ck_assert_last_error(STALE);
	r = open_ok(p, GR, OPEN_EXISTING);
	ck_assert_false_error(FlushFileBuffers(r), ERROR_ACCESS_DENIED);
	close_ok(r);
	r = open_ok(p, GENERIC_WRITE, OPEN_EXISTING);
	ck_assert(FlushFileBuffers(r));
	close_ok(r);
	r = open_ok(p, FILE_APPEND_DATA, OPEN_EXISTING);
	ck_assert(FlushFileBuffers(r));
	close_ok(r);
	close_ok(h);
}
END_TEST

/* ---- DeleteFile ---- */

START_TEST(test_DeleteFileA__removes)
{
	const char *p = path("a");

	make_file(p, "x", 1);
	SetLastError(STALE);
	ck_assert(DeleteFileA(p));
	ck_assert_last_error(STALE);
	ck_assert(!exists(p));
	ck_assert_false_error(DeleteFileA(p), ERROR_FILE_NOT_FOUND);
	ck_assert_false_error(DeleteFileA(path("nodir/a")), ERROR_PATH_NOT_FOUND);
}
END_TEST

START_TEST(test_DeleteFileA__null_and_empty_names)
{
	ck_assert_false_error(DeleteFileA(NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(DeleteFileW(NULL), ERROR_INVALID_PARAMETER);
	ck_assert_false_error(DeleteFileA(""), ERROR_PATH_NOT_FOUND);
	ck_assert_false_error(DeleteFileW(u""), ERROR_PATH_NOT_FOUND);
}
END_TEST

START_TEST(test_DeleteFileA__directory_is_access_denied)
{
	const char *sub = path("sub");

	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_false_error(DeleteFileA(sub), ERROR_ACCESS_DENIED);
	ck_assert(exists(sub));
	ck_assert_false_error(DeleteFileA(dir), ERROR_ACCESS_DENIED);
	ck_assert(exists(dir));
}
END_TEST

START_TEST(test_DeleteFileA__open_file)
{
	const char *p = path("a");
	HANDLE h = open_ok(p, GRW, CREATE_NEW);
	char buf[4];

	write_ok(h, "abc", 3);
	/* No share modes on Linux: the name goes, the open handle still works. */
	ck_assert(DeleteFileA(p));
	ck_assert(!exists(p));
	seek_ok(h, 0);
	ck_assert_uint_eq(read_ok(h, buf, sizeof buf), 3);
	ck_assert_mem_eq(buf, "abc", 3);
	close_ok(h);
}
END_TEST

START_TEST(test_DeleteFileW__utf16_name)
{
	static const WCHAR bad[] = { 'b', 0xd800, 0 };
	const char *p8 = path(UNAME_8);

	make_file(p8, "x", 1);
	SetLastError(STALE);
	ck_assert(DeleteFileW(wpath(UNAME_W)));
	ck_assert_last_error(STALE);
	ck_assert(!exists(p8));
	ck_assert_false_error(DeleteFileW(wpath(UNAME_W)), ERROR_FILE_NOT_FOUND);
	ck_assert_false_error(DeleteFileW(wpath(u"nodir/x")), ERROR_PATH_NOT_FOUND);
	ck_assert_false_error(DeleteFileW(wpath(bad)), ERROR_NO_UNICODE_TRANSLATION);
}
END_TEST

/* ---- GetTempPath ---- */

static void check_temp_a(const char *tmpdir, const char *expect)
{
	char buf[PATH_MAX];
	DWORD len = (DWORD)strlen(expect);

	if (tmpdir)
		ck_assert_int_eq(setenv("TMPDIR", tmpdir, 1), 0);
	else
		ck_assert_int_eq(unsetenv("TMPDIR"), 0);
	memset(buf, 'x', sizeof buf);
	SetLastError(STALE);
	ck_assert_uint_eq(GetTempPathA(sizeof buf, buf), len);
	ck_assert_str_eq(buf, expect);
	ck_assert_last_error(STALE);
}

START_TEST(test_GetTempPathA__tmpdir_or_tmp)
{
	check_temp_a(NULL, "/tmp/");
	check_temp_a("/var/tmp", "/var/tmp/");
	check_temp_a("/var/tmp/", "/var/tmp/");
	check_temp_a("/", "/");
	check_temp_a("/no/such/dir", "/no/such/dir/");
	/* Not an absolute path: ignored. */
	check_temp_a("", "/tmp/");
	check_temp_a("relative/dir", "/tmp/");
	check_temp_a("./x", "/tmp/");
}
END_TEST

START_TEST(test_GetTempPathA__buffer_sizes)
{
	char buf[32];

	ck_assert_int_eq(setenv("TMPDIR", "/var/tmp", 1), 0);
	/* "/var/tmp/" is 9 characters: 10 with the NUL. */
	ck_assert_uint_eq(GetTempPathA(0, NULL), 10);
	memset(buf, 'x', sizeof buf);
	ck_assert_uint_eq(GetTempPathA(9, buf), 10);
	for (size_t i = 0; i < sizeof buf; i++)
		ck_assert_int_eq(buf[i], 'x');
	ck_assert_uint_eq(GetTempPathA(1, buf), 10);
	ck_assert_int_eq(buf[0], 'x');
	ck_assert_uint_eq(GetTempPathA(10, buf), 9);
	ck_assert_str_eq(buf, "/var/tmp/");
	ck_assert_int_eq(buf[10], 'x');
}
END_TEST

START_TEST(test_GetTempPathW__counts_utf16_units)
{
	static const WCHAR want[] = u"/t\u00e9\U0001F600/";
	WCHAR buf[32];

	/* "/té😀/": 9 bytes of UTF-8, 6 UTF-16 units. */
	ck_assert_int_eq(setenv("TMPDIR", u8"/t\u00e9\U0001F600", 1), 0);
	ck_assert_uint_eq(GetTempPathA(0, NULL), 10);
	ck_assert_uint_eq(GetTempPathW(0, NULL), 7);
	for (size_t i = 0; i < 32; i++)
		buf[i] = 'x';
	ck_assert_uint_eq(GetTempPathW(6, buf), 7);
	for (size_t i = 0; i < 32; i++)
		ck_assert_uint_eq(buf[i], 'x');
	SetLastError(STALE);
	ck_assert_uint_eq(GetTempPathW(7, buf), 6);
	ck_assert_last_error(STALE);
	ck_assert_mem_eq(buf, want, sizeof want);
	ck_assert_uint_eq(buf[7], 'x');

	ck_assert_int_eq(unsetenv("TMPDIR"), 0);
	ck_assert_uint_eq(GetTempPathW(32, buf), 5);
	ck_assert_mem_eq(buf, u"/tmp/", 6 * sizeof(WCHAR));
}
END_TEST

START_TEST(test_GetTempPathA__usable_for_files)
{
	char tmp[PATH_MAX], name[PATH_MAX];
	HANDLE h;
	DWORD n = GetTempPathA(sizeof tmp, tmp);

	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(tmp[n - 1], '/');
	snprintf(name, sizeof name, "%s%s", tmp, strrchr(dir, '/') + 1);
	/* dir is there, so a file inside works through the returned prefix. */
	strncat(name, "/f", sizeof name - strlen(name) - 1);
	h = open_ok(name, GRW, CREATE_NEW);
	close_ok(h);
	ck_assert(exists(path("f")));
}
END_TEST

/* ---- CloseHandle ---- */

/* The descriptor behind a file handle, found by its path, or -1. */
static int fd_of(const char *p)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char link[PATH_MAX + 32], target[PATH_MAX];
	int found = -1;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof target - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (strcmp(target, p) == 0)
			found = atoi(e->d_name);
	}
	closedir(d);
	return found;
}

START_TEST(test_CloseHandle__file_handle)
{
	char real[PATH_MAX];
	HANDLE h = open_ok(path("a"), GRW, CREATE_NEW);
	char buf[2];
	DWORD n;
	int fd;

	ck_assert_ptr_nonnull(realpath(path("a"), real));
	fd = fd_of(real);
	ck_assert_int_ge(fd, 0);
	/* Handles are not inherited across execve. */
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	SetLastError(STALE);
	ck_assert(CloseHandle(h));
	ck_assert_last_error(STALE);
	ck_assert_int_eq(fd_of(real), -1);
	ck_assert_false_error(CloseHandle(h), ERROR_INVALID_HANDLE);
	SetLastError(0);
	ck_assert(!ReadFile(h, buf, sizeof buf, &n, NULL));
	ck_assert_last_error(ERROR_INVALID_HANDLE);
}
END_TEST

START_TEST(test_CloseHandle__many_files)
{
	enum { N = 300 };
	static HANDLE hs[N];
	char name[32];

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "f%d", i);
		hs[i] = open_ok(path(name), GRW, CREATE_NEW);
		write_ok(hs[i], &i, sizeof i);
	}
	for (int i = 0; i < N; i++) {
		int v = -1;

		seek_ok(hs[i], 0);
		ck_assert_uint_eq(read_ok(hs[i], &v, sizeof v), sizeof v);
		ck_assert_int_eq(v, i);
		close_ok(hs[i]);
	}
}
END_TEST

static Suite *make_file_suite(void)
{
	Suite *s = suite_create("file");
	TCase *tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_CreateFileA__create_new);
	tcase_add_test(tc, test_CreateFileA__create_always_truncates);
	tcase_add_test(tc, test_CreateFileA__open_existing);
	tcase_add_test(tc, test_CreateFileA__missing_directory_is_path_not_found);
	tcase_add_test(tc, test_CreateFileA__file_as_directory_is_path_not_found);
	tcase_add_test(tc, test_CreateFileA__open_always);
	tcase_add_test(tc, test_CreateFileA__truncate_existing);
	tcase_add_test(tc, test_CreateFileA__truncate_existing_needs_write_access);
	tcase_add_test(tc, test_CreateFileA__bad_disposition_rejected);
	tcase_add_test(tc, test_CreateFileA__null_and_empty_names);
	tcase_add_test(tc, test_CreateFileA__directory_is_access_denied);
	tcase_add_test(tc, test_CreateFileA__no_permission_is_access_denied);
	tcase_add_test(tc, test_CreateFileA__share_modes_ignored);
	tcase_add_test(tc, test_CreateFileA__delete_on_close);
	tcase_add_test(tc, test_CreateFileA__overlapped_not_supported);
	tcase_add_test(tc, test_CreateFileA__other_flags_and_attributes_accepted);
	tcase_add_loop_test(tc, test_CreateFileA__access_rights, 0, 8);
	tcase_add_test(tc, test_CreateFileA__append_data_writes_at_end);
	tcase_add_test(tc, test_CreateFileW__utf16_name);
	tcase_add_test(tc, test_CreateFileW__unpaired_surrogate_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("io");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_ReadFile__round_trip_and_eof);
	tcase_add_test(tc, test_WriteFile__zero_bytes_is_a_no_op);
	tcase_add_test(tc, test_WriteFile__large_transfers_are_complete);
	tcase_add_test(tc, test_ReadFile__count_pointer_required_without_overlapped);
	tcase_add_test(tc, test_ReadFile__overlapped_offset_keeps_pointer);
	tcase_add_test(tc, test_WriteFile__overlapped_offset_high);
	tcase_add_loop_test(tc, test_ReadFile__bad_handles_rejected, 0, F_COUNT);
	tcase_add_test(tc, test_FlushFileBuffers__writable_and_read_only);
	tcase_add_test(tc, test_ReadFile__into_read_only_memory_is_noaccess);
	suite_add_tcase(s, tc);

	tc = tcase_create("watch");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_ReadFile__into_write_watch_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("pointer");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_SetFilePointer__methods);
	tcase_add_test(tc, test_SetFilePointer__high_part);
	tcase_add_test(tc, test_SetFilePointer__negative_seek_rejected);
	tcase_add_test(tc, test_SetFilePointer__bad_method_rejected);
	tcase_add_test(tc, test_SetFilePointer__4gib_needs_high_part);
	tcase_add_test(tc, test_SetFilePointer__beyond_end_allowed);
	tcase_add_test(tc, test_SetFilePointerEx__methods);
	tcase_add_test(tc, test_SetFilePointerEx__negative_seek_rejected);
	tcase_add_test(tc, test_SetEndOfFile__truncates_and_extends);
	tcase_add_test(tc, test_SetEndOfFile__read_only_handle_rejected);
	tcase_add_test(tc, test_GetFileSize__small_file);
	tcase_add_test(tc, test_GetFileSize__sparse_file_above_4gib);
	tcase_add_test(tc, test_GetFileSize__failure_values);
	tcase_add_test(tc, test_GetFileSizeEx__null_pointer_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("delete");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_DeleteFileA__removes);
	tcase_add_test(tc, test_DeleteFileA__null_and_empty_names);
	tcase_add_test(tc, test_DeleteFileA__directory_is_access_denied);
	tcase_add_test(tc, test_DeleteFileA__open_file);
	tcase_add_test(tc, test_DeleteFileW__utf16_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("temp");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_GetTempPathA__tmpdir_or_tmp);
	tcase_add_test(tc, test_GetTempPathA__buffer_sizes);
	tcase_add_test(tc, test_GetTempPathW__counts_utf16_units);
	tcase_add_test(tc, test_GetTempPathA__usable_for_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_CloseHandle__file_handle);
	tcase_add_test(tc, test_CloseHandle__many_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("append and limits");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_loop_test(tc, test_CreateFileA__read_and_append_data_writes_at_end, 0, 2);
	tcase_add_test(tc, test_SetFilePointerEx__beyond_file_system_limit);
	suite_add_tcase(s, tc);
	return s;
}

/* Runs the suite, then its "watch" test case again with the fallback
 * write-watch mechanism. */
int main(int argc, char **argv)
{
	int rc = tl_run(make_file_suite());

	(void)argc;
	if (fallback_run())
		return tl_rerun_status(rc);
	setenv("CK_RUN_CASE", "watch", 1);
	return tl_rerun(argv, "MEMAPI_WRITE_WATCH", "fallback", rc);
}
