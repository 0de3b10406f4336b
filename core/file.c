/* The minimal file API that file mappings need: CreateFile, ReadFile,
 * WriteFile, the file pointer and size, FlushFileBuffers, DeleteFile and
 * GetTempPath. A file handle holds a file descriptor; Windows' share
 * modes have no Linux equivalent and are accepted and ignored. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mt_file {
	struct mt_object obj;
	int              fd;
	bool             can_read, can_write;
	char            *delete_path;   /* FILE_FLAG_DELETE_ON_CLOSE */
};

static void file_destroy(struct mt_object *obj)
{
	struct mt_file *f = (struct mt_file *)obj;

	close(f->fd);
	if (f->delete_path)
		unlink(f->delete_path);
	free(f->delete_path);
	free(f);
}

/* The Windows error for a failed open or unlink of path. */
static DWORD path_error(int e, const char *path)
{
	char *copy;
	struct stat st;
	bool dir_ok;

	switch (e) {
	case ENOENT:
		/* A missing directory on the way is a different error. */
		if (!(copy = strdup(path)))
			return ERROR_NOT_ENOUGH_MEMORY;
		dir_ok = stat(dirname(copy), &st) == 0 && S_ISDIR(st.st_mode);
		free(copy);
		return dir_ok ? ERROR_FILE_NOT_FOUND : ERROR_PATH_NOT_FOUND;
	case ENOTDIR:
		return ERROR_PATH_NOT_FOUND;
	case EEXIST:
		return ERROR_FILE_EXISTS;
	case EACCES: case EPERM: case EROFS: case EISDIR: case ETXTBSY:
		return ERROR_ACCESS_DENIED;
	case ENAMETOOLONG:
		return ERROR_FILENAME_EXCED_RANGE;
	case EMFILE: case ENFILE:
		return ERROR_TOO_MANY_OPEN_FILES;
	default:
		return mt_error_from_errno(e);
	}
}

/* ---- CreateFile ---- */

struct open_req {
	const char *path;
	DWORD access, disposition, flags;
};

static int open_flags(const struct open_req *rq, bool rd, bool wr, DWORD *err)
{
	static const int disp[] = {
		[CREATE_NEW] = O_CREAT | O_EXCL, [CREATE_ALWAYS] = O_CREAT | O_TRUNC,
		[OPEN_EXISTING] = 0, [OPEN_ALWAYS] = O_CREAT, [TRUNCATE_EXISTING] = O_TRUNC,
	};
	int f = O_CLOEXEC;

	if (rq->disposition < CREATE_NEW || rq->disposition > TRUNCATE_EXISTING ||
	    (rq->disposition == TRUNCATE_EXISTING && !wr) || (rq->flags & FILE_FLAG_OVERLAPPED)) {
		*err = rq->flags & FILE_FLAG_OVERLAPPED ? ERROR_NOT_SUPPORTED : ERROR_INVALID_PARAMETER;
		return -1;
	}
	f |= disp[rq->disposition];
	f |= rd && wr ? O_RDWR : wr ? O_WRONLY : O_RDONLY;
	/* Append rights without write rights: writes never overwrite. */
	if ((rq->access & FILE_APPEND_DATA) &&
	    !(rq->access & (GENERIC_WRITE | GENERIC_ALL | FILE_WRITE_DATA)))
		f |= O_APPEND;
	if (rq->flags & FILE_FLAG_WRITE_THROUGH)
		f |= O_DSYNC;
	return f;
}

static DWORD do_create(const struct open_req *rq, HANDLE *out, bool *existed)
{
	bool rd = rq->access & (GENERIC_READ | GENERIC_ALL | FILE_READ_DATA);
	bool wr = rq->access & (GENERIC_WRITE | GENERIC_ALL | FILE_WRITE_DATA | FILE_APPEND_DATA);
	struct stat st;
	struct mt_file *f;
	DWORD err = 0;
	int flags = open_flags(rq, rd, wr, &err), fd;

	if (flags < 0)
		return err;
	*existed = stat(rq->path, &st) == 0;
	if (*existed && S_ISDIR(st.st_mode))
		return ERROR_ACCESS_DENIED;     /* directories need backup semantics */
	/* No data access at all: a descriptor for the size and nothing else. */
	if ((fd = open(rq->path, rd || wr ? flags : (flags & ~O_ACCMODE) | O_RDONLY, 0666)) < 0)
		return path_error(errno, rq->path);
	/* An absolute path: the working directory may change before close. */
	if (!(f = calloc(1, sizeof *f)) ||
	    ((rq->flags & FILE_FLAG_DELETE_ON_CLOSE) && !(f->delete_path = realpath(rq->path, NULL)))) {
		free(f);
		close(fd);
		return ERROR_NOT_ENOUGH_MEMORY;
	}
	mt_object_init(&f->obj, MT_OBJ_FILE, file_destroy);
	f->fd = fd;
	f->can_read = rd;
	f->can_write = wr;
	err = mt_handle_create(&f->obj, out);
	mt_object_put(&f->obj);             /* the handle holds it now */
	return err;
}

static HANDLE create(const char *path, DWORD access, DWORD disposition, DWORD flags)
{
	struct open_req rq = { path, access, disposition, flags };
	HANDLE h = INVALID_HANDLE_VALUE;
	bool existed = false;
	DWORD err;

	mt_init();
	if (!path)
		err = ERROR_INVALID_PARAMETER;
	else if (!*path)
		err = ERROR_PATH_NOT_FOUND;
	else
		err = do_create(&rq, &h, &existed);
	if (err) {
		SetLastError(err);
		return INVALID_HANDLE_VALUE;
	}
	/* Windows reports whether CREATE_ALWAYS / OPEN_ALWAYS found a file. */
	SetLastError(existed && (disposition == CREATE_ALWAYS || disposition == OPEN_ALWAYS)
	             ? ERROR_ALREADY_EXISTS : NO_ERROR);
	return h;
}

HANDLE WINAPI CreateFileA(LPCSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode,
                          LPSECURITY_ATTRIBUTES lpSecurityAttributes,
                          DWORD dwCreationDisposition, DWORD dwFlagsAndAttributes,
                          HANDLE hTemplateFile)
{
	return create(lpFileName, dwDesiredAccess, dwCreationDisposition, dwFlagsAndAttributes);
}

HANDLE WINAPI CreateFileW(LPCWSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode,
                          LPSECURITY_ATTRIBUTES lpSecurityAttributes,
                          DWORD dwCreationDisposition, DWORD dwFlagsAndAttributes,
                          HANDLE hTemplateFile)
{
	char *path = NULL;
	HANDLE h;
	DWORD err;

	if (lpFileName && (err = mt_utf16_to_utf8(lpFileName, &path))) {
		SetLastError(err);
		return INVALID_HANDLE_VALUE;
	}
	h = create(path, dwDesiredAccess, dwCreationDisposition, dwFlagsAndAttributes);
	free(path);
	return h;
}

/* ---- handles ---- */

static DWORD file_ref(HANDLE h, struct mt_file **out)
{
	struct mt_object *obj;
	DWORD err = mt_handle_ref(h, MT_OBJ_FILE, &obj);

	if (!err)
		*out = (struct mt_file *)obj;
	return err;
}

DWORD mt_file_dup(HANDLE h, int *fd, bool *can_read, bool *can_write)
{
	struct mt_file *f;
	DWORD err = file_ref(h, &f);

	if (err)
		return err;
	*fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	*can_read = f->can_read;
	*can_write = f->can_write;
	if (*fd < 0)
		err = errno == EMFILE ? ERROR_TOO_MANY_OPEN_FILES : mt_error_from_errno(errno);
	mt_object_put(&f->obj);
	return err;
}

static BOOL done(struct mt_file *f, DWORD err)
{
	if (f)
		mt_object_put(&f->obj);
	return err ? mt_fail(err) : TRUE;
}

/* ---- ReadFile, WriteFile ---- */

/* Moves n bytes, all of them unless the file ends (reads); at offset off,
 * or at the file pointer when off < 0. */
static DWORD transfer(struct mt_file *f, bool wr, void *buf, size_t n, off_t off, size_t *did)
{
	*did = 0;
	while (*did < n) {
		char *p = (char *)buf + *did;
		ssize_t r;

		if (wr)
			r = off < 0 ? write(f->fd, p, n - *did) : pwrite(f->fd, p, n - *did, off + (off_t)*did);
		else
			r = off < 0 ? read(f->fd, p, n - *did) : pread(f->fd, p, n - *did, off + (off_t)*did);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EFAULT ? ERROR_NOACCESS : errno == ENOSPC ? ERROR_DISK_FULL
			                                                          : mt_error_from_errno(errno);
		if (r == 0)
			break;                  /* end of file */
		*did += (size_t)r;
	}
	return 0;
}

static BOOL io(HANDLE h, bool wr, void *buf, DWORD n, LPDWORD done_out, LPOVERLAPPED ovl)
{
	struct mt_file *f = NULL;
	size_t did = 0;
	off_t off = -1;
	DWORD err;

	if (done_out)
		*done_out = 0;
	if ((err = file_ref(h, &f)))
		return done(NULL, err);
	if (!done_out && !ovl)
		return done(f, ERROR_INVALID_PARAMETER);
	if (!(wr ? f->can_write : f->can_read))
		return done(f, ERROR_ACCESS_DENIED);
	if (ovl)
		off = (off_t)((uint64_t)ovl->OffsetHigh << 32 | ovl->Offset);
	err = transfer(f, wr, buf, n, off, &did);
	if (done_out)
		*done_out = (DWORD)did;
	if (ovl)
		ovl->InternalHigh = did;
	return done(f, err);
}

BOOL WINAPI ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
                     LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped)
{
	return io(hFile, false, lpBuffer, nNumberOfBytesToRead, lpNumberOfBytesRead, lpOverlapped);
}

BOOL WINAPI WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite,
                      LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped)
{
	return io(hFile, true, (void *)lpBuffer, nNumberOfBytesToWrite, lpNumberOfBytesWritten,
	          lpOverlapped);
}

BOOL WINAPI FlushFileBuffers(HANDLE hFile)
{
	struct mt_file *f = NULL;
	DWORD err = file_ref(hFile, &f);

	if (!err && !f->can_write)
		err = ERROR_ACCESS_DENIED;
	else if (!err && fsync(f->fd))
		err = mt_error_from_errno(errno);
	return done(f, err);
}

/* ---- the file pointer and size ---- */

static DWORD seek(struct mt_file *f, int64_t dist, DWORD method, bool fit32, int64_t *pos)
{
	static const int whence[] = { SEEK_SET, SEEK_CUR, SEEK_END };
	off_t base, cur;
	struct stat st;

	if (method > FILE_END)
		return ERROR_INVALID_PARAMETER;
	cur = lseek(f->fd, 0, SEEK_CUR);
	if (method == FILE_END && fstat(f->fd, &st))
		return mt_error_from_errno(errno);
	base = method == FILE_BEGIN ? 0 : method == FILE_CURRENT ? cur : st.st_size;
	if (dist < -(int64_t)base || (dist > 0 && base > INT64_MAX - dist))
		return dist < 0 ? ERROR_NEGATIVE_SEEK : ERROR_INVALID_PARAMETER;
	if (fit32 && base + dist > (int64_t)UINT32_MAX)
		return ERROR_INVALID_PARAMETER;
	/* Negative results were refused above: EINVAL is a position past
	 * what the file system can hold. */
	if ((*pos = lseek(f->fd, (off_t)dist, whence[method])) < 0)
		return errno == EINVAL ? ERROR_INVALID_PARAMETER : mt_error_from_errno(errno);
	return 0;
}

DWORD WINAPI SetFilePointer(HANDLE hFile, LONG lDistanceToMove, PLONG lpDistanceToMoveHigh,
                            DWORD dwMoveMethod)
{
	int64_t dist = lpDistanceToMoveHigh
	               ? (int64_t)((uint64_t)(uint32_t)*lpDistanceToMoveHigh << 32 | (uint32_t)lDistanceToMove)
	               : (int64_t)lDistanceToMove;
	struct mt_file *f = NULL;
	int64_t pos = 0;
	DWORD err = file_ref(hFile, &f);

	if (!err)
		err = seek(f, dist, dwMoveMethod, !lpDistanceToMoveHigh, &pos);
	done(f, err);
	if (err)
		return INVALID_SET_FILE_POINTER;
	if (lpDistanceToMoveHigh)
		*lpDistanceToMoveHigh = (LONG)((uint64_t)pos >> 32);
	/* A position whose low part is all ones must not look like a failure. */
	if ((DWORD)pos == INVALID_SET_FILE_POINTER)
		SetLastError(NO_ERROR);
	return (DWORD)pos;
}

BOOL WINAPI SetFilePointerEx(HANDLE hFile, LARGE_INTEGER liDistanceToMove,
                             PLARGE_INTEGER lpNewFilePointer, DWORD dwMoveMethod)
{
	struct mt_file *f = NULL;
	int64_t pos = 0;
	DWORD err = file_ref(hFile, &f);

	if (!err && !(err = seek(f, liDistanceToMove.QuadPart, dwMoveMethod, false, &pos)) &&
	    lpNewFilePointer)
		lpNewFilePointer->QuadPart = pos;
	return done(f, err);
}

BOOL WINAPI SetEndOfFile(HANDLE hFile)
{
	struct mt_file *f = NULL;
	DWORD err = file_ref(hFile, &f);
	off_t cur;

	if (!err && !f->can_write)
		err = ERROR_ACCESS_DENIED;
	else if (!err && ((cur = lseek(f->fd, 0, SEEK_CUR)) < 0 || ftruncate(f->fd, cur)))
		err = errno == EFBIG || errno == ENOSPC ? ERROR_DISK_FULL : mt_error_from_errno(errno);
	return done(f, err);
}

static DWORD size_of(HANDLE h, uint64_t *size)
{
	struct mt_file *f = NULL;
	struct stat st;
	DWORD err = file_ref(h, &f);

	if (!err && fstat(f->fd, &st))
		err = mt_error_from_errno(errno);
	if (!err)
		*size = (uint64_t)st.st_size;
	done(f, 0);
	return err;
}

DWORD WINAPI GetFileSize(HANDLE hFile, LPDWORD lpFileSizeHigh)
{
	uint64_t size = 0;
	DWORD err = size_of(hFile, &size);

	if (err) {
		SetLastError(err);
		return INVALID_FILE_SIZE;
	}
	if (lpFileSizeHigh)
		*lpFileSizeHigh = (DWORD)(size >> 32);
	if ((DWORD)size == INVALID_FILE_SIZE)
		SetLastError(NO_ERROR);         /* a real size, not the failure value */
	return (DWORD)size;
}

BOOL WINAPI GetFileSizeEx(HANDLE hFile, PLARGE_INTEGER lpFileSize)
{
	uint64_t size = 0;
	DWORD err = lpFileSize ? size_of(hFile, &size) : ERROR_INVALID_PARAMETER;

	if (err)
		return mt_fail(err);
	lpFileSize->QuadPart = (LONGLONG)size;
	return TRUE;
}

/* ---- DeleteFile ---- */

static BOOL delete_file(const char *path)
{
	struct stat st;

	mt_init();
	if (!path)
		return mt_fail(ERROR_INVALID_PARAMETER);
	if (!*path)
		return mt_fail(ERROR_PATH_NOT_FOUND);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return mt_fail(ERROR_ACCESS_DENIED);
	return unlink(path) ? mt_fail(path_error(errno, path)) : TRUE;
}

BOOL WINAPI DeleteFileA(LPCSTR lpFileName)
{
	return delete_file(lpFileName);
}

BOOL WINAPI DeleteFileW(LPCWSTR lpFileName)
{
	char *path = NULL;
	DWORD err = lpFileName ? mt_utf16_to_utf8(lpFileName, &path) : 0;
	BOOL r;

	if (err)
		return mt_fail(err);
	r = delete_file(path);
	free(path);
	return r;
}

/* ---- GetTempPath ---- */

/* TMPDIR when it is an absolute path, else /tmp/, with a final '/'. */
static void temp_dir(char *out, size_t room)
{
	const char *t = getenv("TMPDIR");
	size_t n;

	if (!t || t[0] != '/' || strlen(t) + 2 > room)
		t = "/tmp/";
	n = strlen(t);
	memcpy(out, t, n + 1);
	if (out[n - 1] != '/')
		memcpy(out + n, "/", 2);
}

DWORD WINAPI GetTempPathA(DWORD nBufferLength, LPSTR lpBuffer)
{
	char dir[4096];
	size_t n;

	temp_dir(dir, sizeof dir);
	n = strlen(dir);
	if (!lpBuffer || nBufferLength <= n)
		return (DWORD)n + 1;            /* the size needed, NUL included */
	memcpy(lpBuffer, dir, n + 1);
	return (DWORD)n;
}

DWORD WINAPI GetTempPathW(DWORD nBufferLength, LPWSTR lpBuffer)
{
	char dir[4096];
	size_t n;

	temp_dir(dir, sizeof dir);
	n = mt_utf8_to_utf16(dir, NULL, 0);
	if (!lpBuffer || nBufferLength <= n)
		return (DWORD)n + 1;
	return (DWORD)mt_utf8_to_utf16(dir, lpBuffer, nBufferLength);
}
