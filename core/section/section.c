/* File mapping objects: CreateFileMapping* and OpenFileMapping*. Sections
 * backed by the paging file are memfds (unnamed) or /dev/shm objects
 * (named); file sections keep a descriptor of the file. */
#include "section.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct mt_section *mt_sections;

#define PROTECT_BASE 0xffu
#define SEC_KNOWN (SEC_COMMIT | SEC_RESERVE | SEC_IMAGE | SEC_NOCACHE | SEC_WRITECOMBINE | \
                   SEC_LARGE_PAGES)
/* What a handle from CreateFileMapping may do: everything, execute too. */
#define CREATOR_ACCESS (SECTION_ALL_ACCESS | SECTION_MAP_EXECUTE_EXPLICIT)

static void publish(void)
{
	memapi_root.sections = mt_sections ? &mt_sections->rec : NULL;
}

static void unlink_section(struct mt_section *s)
{
	struct mt_section **p;

	mt_vm_lock();
	mt_vm_change_begin();
	for (p = &mt_sections; *p && *p != s; p = &(*p)->next)
		;
	if (*p) {
		*p = s->next;
		/* Re-link the forensic chain over s. */
		for (struct mt_section *q = mt_sections; q; q = q->next)
			q->rec.next = q->next ? &q->next->rec : NULL;
	}
	publish();
	mt_vm_change_end();
	mt_vm_unlock();
}

static void section_destroy(struct mt_object *obj)
{
	struct mt_section *s = (struct mt_section *)obj;

	unlink_section(s);
	if (s->data_fd != s->fd)
		close(s->data_fd);
	if (s->shm_name)
		mt_name_close(s->shm_name, s->fd);
	else
		close(s->fd);
	free(s->shm_name);
	free((char *)s->rec.name);
	free((char *)s->rec.path);
	free(s->committed);
	free(s->image);
	free(s);
}

/* The child inherits the handles, and with them the parent's open file
 * descriptions of named objects: closing the child's last handle would
 * find only shared locks of its own description and unlink a name the
 * parent still uses. Each named object gets a description of the child's
 * own. Best effort: without /proc the child shares the parent's. */
void mt_section_after_fork(void)
{
	for (struct mt_section *s = mt_sections; s; s = s->next)
		if (s->shm_name)
			mt_os_fd_own(s->fd, MT_LOCK_SHARED);
}

DWORD mt_section_ref(HANDLE h, struct mt_section **out, DWORD *access)
{
	struct mt_object *obj;
	DWORD err = mt_handle_ref_access(h, MT_OBJ_SECTION, &obj, access);

	if (!err)
		*out = (struct mt_section *)obj;
	return err;
}

void mt_section_put(struct mt_section *s)
{
	mt_object_put(&s->obj);
}

int mt_section_prot(DWORD protect)
{
	return mt_prot_from_win(protect);
}

/* ---- validation ---- */

struct create_req {
	HANDLE      file;
	DWORD       protect;          /* base PAGE_* value                     */
	DWORD       attributes;       /* SEC_*                                 */
	uint64_t    size;             /* 0: the file's size                    */
	const char *name;             /* UTF-8 or NULL                         */
	DWORD       node;
	DWORD       access;           /* of the new handle                     */
};

static bool section_protect_valid(DWORD p)
{
	switch (p) {
	case PAGE_READONLY: case PAGE_READWRITE: case PAGE_WRITECOPY:
	case PAGE_EXECUTE_READ: case PAGE_EXECUTE_READWRITE: case PAGE_EXECUTE_WRITECOPY:
		return true;
	default:
		return false;
	}
}

static bool writable(DWORD p)
{
	return p == PAGE_READWRITE || p == PAGE_EXECUTE_READWRITE;
}

static DWORD check_attributes(const struct create_req *rq, bool named)
{
	DWORD a = rq->attributes;
	bool pagefile = rq->file == INVALID_HANDLE_VALUE;

	if (!section_protect_valid(rq->protect) || (a & ~(DWORD)SEC_KNOWN))
		return ERROR_INVALID_PARAMETER;
	if ((a & SEC_COMMIT) && (a & SEC_RESERVE))
		return ERROR_INVALID_PARAMETER;
	if ((a & SEC_NOCACHE) && (a & SEC_WRITECOMBINE))
		return ERROR_INVALID_PARAMETER;
	if ((a & SEC_IMAGE) && ((a & ~(DWORD)(SEC_IMAGE | SEC_NOCACHE)) || pagefile))
		return ERROR_INVALID_PARAMETER;
	if ((a & SEC_LARGE_PAGES) && (!(a & SEC_COMMIT) || !pagefile))
		return ERROR_INVALID_PARAMETER;
	if (pagefile && !rq->size)
		return ERROR_INVALID_PARAMETER;
	if ((a & SEC_LARGE_PAGES) && named)
		return ERROR_NOT_SUPPORTED;     /* named data lives in /dev/shm: no huge pages */
	return 0;
}

/* ---- building a section ---- */

static struct mt_section *section_new(const struct create_req *rq)
{
	struct mt_section *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	mt_object_init(&s->obj, MT_OBJ_SECTION, section_destroy);
	s->fd = s->data_fd = -1;
	s->rec.magic = MEMAPI_SECTION_MAGIC;
	s->rec.layout = MEMAPI_SECTION_LAYOUT;
	s->rec.protect = rq->protect;
	s->rec.attributes = rq->attributes;
	s->node = rq->node;
	return s;
}

/* The file's path for GetMappedFileName, from the kernel's name of fd. */
static char *fd_path(int fd)
{
	char link[64], buf[4096];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof buf - 1);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	return strdup(buf);
}

/* A file section: the size, growth of the file, access against protect. */
static DWORD from_file(struct mt_section *s, const struct create_req *rq)
{
	bool rd, wr;
	uint64_t fsize;
	DWORD err = mt_file_dup(rq->file, &s->fd, &rd, &wr);
	int e;

	if (err)
		return err;
	s->data_fd = s->fd;
	s->rec.flags |= MEMAPI_SECTION_FILE;
	if (!rd || (writable(rq->protect) && !wr))
		return ERROR_ACCESS_DENIED;
	if ((e = mt_os_fd_size(s->fd, &fsize)))
		return mt_error_from_errno(e);
	if (rq->attributes & SEC_IMAGE) {
		s->rec.flags |= MEMAPI_SECTION_IMAGE;
		if ((err = mt_image_parse(s->fd, (rq->attributes & SEC_NOCACHE) != 0, &s->image)))
			return err;
		s->rec.size = s->image->size;
	} else if (!rq->size && !fsize) {
		return ERROR_FILE_INVALID;      /* nothing to map */
	} else if (rq->size > fsize) {
		/* The file grows to the section's size, if it may be written. */
		if (!writable(rq->protect))
			return ERROR_NOT_ENOUGH_MEMORY;
		if ((e = mt_os_fd_grow(s->fd, rq->size)))
			return e == ENOSPC || e == EFBIG ? ERROR_DISK_FULL : mt_error_from_errno(e);
	}
	if (!s->image)
		s->rec.size = rq->size ? rq->size : fsize;
	s->rec.path = fd_path(s->fd);
	return 0;
}

static DWORD from_pagefile(struct mt_section *s, const struct create_req *rq)
{
	bool huge = rq->attributes & SEC_LARGE_PAGES;
	int e;

	if (huge && (!mt_os.huge_page_size || rq->size % mt_os.huge_page_size))
		return mt_os.huge_page_size ? ERROR_INVALID_PARAMETER : ERROR_NOT_SUPPORTED;
	s->rec.size = rq->size;
	if ((e = mt_os_memfd("memapi-section", rq->size, huge, &s->fd)))
		return e == ENOMEM || e == ENOSPC ? (huge ? ERROR_NO_SYSTEM_RESOURCES
		                                          : ERROR_COMMITMENT_LIMIT)
		                                  : mt_error_from_errno(e);
	s->data_fd = s->fd;
	return 0;
}

static DWORD reserve_bitmap(struct mt_section *s)
{
	size_t pages = (size_t)((s->rec.size + mt_os.page_size - 1) / mt_os.page_size);

	if (!(s->rec.attributes & SEC_RESERVE) || (s->rec.flags & MEMAPI_SECTION_FILE))
		return 0;
	s->committed = calloc((pages + 7) / 8, 1);
	return s->committed ? 0 : ERROR_NOT_ENOUGH_MEMORY;
}

static void link_section(struct mt_section *s)
{
	mt_vm_change_begin();
	s->next = mt_sections;
	s->rec.next = mt_sections ? &mt_sections->rec : NULL;
	mt_sections = s;
	publish();
	mt_vm_change_end();
}

/* An already open section of this process with the name, referenced. */
static struct mt_section *find_named(const char *shm)
{
	for (struct mt_section *s = mt_sections; s; s = s->next)
		if (s->shm_name && !strcmp(s->shm_name, shm)) {
			mt_object_get(&s->obj);
			return s;
		}
	return NULL;
}

static DWORD finish(struct mt_section *s, const struct mt_name *n, bool named)
{
	if (named) {
		s->rec.flags |= MEMAPI_SECTION_NAMED | (n->global ? MEMAPI_SECTION_GLOBAL : 0);
		if (!(s->shm_name = strdup(n->shm)) || !(s->rec.name = strdup(n->full)))
			return ERROR_NOT_ENOUGH_MEMORY;
	}
	return reserve_bitmap(s);
}

/* A section made from another process's named object. */
static DWORD from_name_info(struct mt_section *s, const struct mt_name_info *info)
{
	struct stat st;

	s->rec.size = info->size;
	s->rec.protect = info->protect;
	s->rec.attributes = info->attributes;
	if (!info->file) {
		s->data_off = MT_NAME_HEADER;
		s->data_fd = s->fd;
		return 0;
	}
	s->rec.flags |= MEMAPI_SECTION_FILE;
	/* The file is this process's to open again: read-write for a writable
	 * section, else (or when only reading is allowed) read-only, which
	 * leaves this process's views read-only or copy-on-write. */
	s->data_fd = -1;
	if (writable(info->protect))
		s->data_fd = open(info->path, O_RDWR | O_CLOEXEC);
	if (s->data_fd < 0 && (!writable(info->protect) || errno == EACCES))
		s->data_fd = open(info->path, O_RDONLY | O_CLOEXEC);
	if (s->data_fd < 0)
		return errno == EACCES ? ERROR_ACCESS_DENIED : ERROR_FILE_NOT_FOUND;
	if (fstat(s->data_fd, &st) || (uint64_t)st.st_dev != info->dev ||
	    (uint64_t)st.st_ino != info->ino)
		return ERROR_FILE_NOT_FOUND;    /* the file was replaced since */
	if (!(s->rec.path = strdup(info->path)))
		return ERROR_NOT_ENOUGH_MEMORY;
	if (info->attributes & SEC_IMAGE) {
		s->rec.flags |= MEMAPI_SECTION_IMAGE;
		return mt_image_parse(s->data_fd, (info->attributes & SEC_NOCACHE) != 0, &s->image);
	}
	return 0;
}

static void fill_name_info(const struct mt_section *s, struct mt_name_info *info)
{
	struct stat st;

	memset(info, 0, sizeof *info);
	info->size = s->rec.size;
	info->protect = s->rec.protect;
	info->attributes = s->rec.attributes;
	info->file = s->rec.flags & MEMAPI_SECTION_FILE;
	if (info->file && !fstat(s->fd, &st)) {
		info->dev = (uint64_t)st.st_dev;
		info->ino = (uint64_t)st.st_ino;
		snprintf(info->path, sizeof info->path, "%s", s->rec.path ? s->rec.path : "");
	}
}

/* Named pagefile data lives in the named object itself, after its header.
 * A creator that lost the race for the name to another process takes the
 * other's object instead of its own. */
static DWORD attach_name(struct mt_section *s, const struct mt_name *n, bool *existed)
{
	struct mt_name_info info;
	bool file = s->rec.flags & MEMAPI_SECTION_FILE;
	int fd;
	DWORD err;

	fill_name_info(s, &info);
	if ((err = mt_name_create(n, &info, &fd, existed)))
		return err;
	if (*existed) {
		/* The object is the other one's: this section becomes a view of it. */
		if (s->data_fd != s->fd)
			close(s->data_fd);
		close(s->fd);
		s->fd = fd;
		s->rec.flags &= ~(uint32_t)(MEMAPI_SECTION_FILE | MEMAPI_SECTION_IMAGE);
		free((char *)s->rec.path);
		s->rec.path = NULL;
		free(s->image);
		s->image = NULL;
		return from_name_info(s, &info);
	}
	if (file) {
		s->data_fd = s->fd;
		s->fd = fd;
	} else {
		close(s->fd);
		s->fd = s->data_fd = fd;
		s->data_off = MT_NAME_HEADER;
	}
	return 0;
}

static DWORD register_section(struct mt_section *s, DWORD access, HANDLE *out)
{
	DWORD err;

	mt_vm_lock();
	link_section(s);
	mt_vm_unlock();
	err = mt_handle_create_access(&s->obj, access, out);
	mt_section_put(s);      /* the handle holds it now, or nothing does */
	return err;
}

/* A handle to the object with the parsed name: this process's section,
 * or one made from another process's object; ERROR_FILE_NOT_FOUND when
 * there is none. */
static DWORD open_parsed(const struct mt_name *n, DWORD access, HANDLE *out)
{
	struct mt_section *s;
	struct mt_name_info info;
	DWORD err;

	mt_vm_lock();
	s = find_named(n->shm);
	mt_vm_unlock();
	if (s) {
		err = mt_handle_create_access(&s->obj, access, out);
		mt_section_put(s);
		return err;
	}
	if (!(s = calloc(1, sizeof *s)))
		return ERROR_NOT_ENOUGH_MEMORY;
	mt_object_init(&s->obj, MT_OBJ_SECTION, section_destroy);
	s->fd = s->data_fd = -1;
	s->node = NUMA_NO_PREFERRED_NODE;
	s->rec.magic = MEMAPI_SECTION_MAGIC;
	s->rec.layout = MEMAPI_SECTION_LAYOUT;
	err = mt_name_open(n, &info, &s->fd);
	if (!err)
		err = from_name_info(s, &info);
	if (!err)
		err = finish(s, n, true);
	if (err) {
		if (s->fd < 0)
			s->shm_name = NULL;
		mt_section_put(s);
		return err;
	}
	return register_section(s, access, out);
}

/* Creates (or, by name, opens) a section; *existed when the name was taken. */
static DWORD create(const struct create_req *rq, HANDLE *out, bool *existed)
{
	struct mt_section *s;
	struct mt_name n;
	bool named;
	DWORD err;

	*existed = false;
	if (!rq->file)
		return ERROR_INVALID_HANDLE;
	if ((err = mt_name_parse(rq->name, &n, &named)) || (err = check_attributes(rq, named)))
		return err;
	/* Checked before the name, as Windows does: an existing object is
	 * returned only to a valid request, and then nothing of the request
	 * is used (the file is not touched). */
	if (named && (err = open_parsed(&n, rq->access, out)) != ERROR_FILE_NOT_FOUND) {
		*existed = !err;
		return err;
	}
	if (!(s = section_new(rq)))
		return ERROR_NOT_ENOUGH_MEMORY;
	err = rq->file == INVALID_HANDLE_VALUE ? from_pagefile(s, rq) : from_file(s, rq);
	if (!err && named)
		err = attach_name(s, &n, existed);
	if (!err)
		err = finish(s, &n, named);
	return err ? (mt_section_put(s), err) : register_section(s, rq->access, out);
}

/* ---- the Win32 entry points ---- */

static HANDLE create_handle(struct create_req *rq)
{
	HANDLE h = NULL;
	bool existed;
	DWORD err;

	mt_init();
	rq->attributes = rq->protect & ~PROTECT_BASE;
	rq->protect &= PROTECT_BASE;
	if (!(rq->attributes & (SEC_RESERVE | SEC_IMAGE)))
		rq->attributes |= SEC_COMMIT;
	if (rq->node != NUMA_NO_PREFERRED_NODE && rq->node >= mt_os_node_count())
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	err = create(rq, &h, &existed);
	if (err)
		return mt_fail_null(err);
	/* Success, and the last error says whether the name was new. */
	SetLastError(existed ? ERROR_ALREADY_EXISTS : 0);
	return h;
}

static uint64_t size64(DWORD high, DWORD low)
{
	return (uint64_t)high << 32 | low;
}

HANDLE WINAPI CreateFileMappingNumaA(HANDLE hFile, LPSECURITY_ATTRIBUTES lpAttributes,
                                     DWORD flProtect, DWORD dwMaximumSizeHigh,
                                     DWORD dwMaximumSizeLow, LPCSTR lpName, DWORD nndPreferred)
{
	struct create_req rq = {
		.file = hFile, .protect = flProtect, .size = size64(dwMaximumSizeHigh, dwMaximumSizeLow),
		.name = lpName, .node = nndPreferred, .access = CREATOR_ACCESS,
	};

	return create_handle(&rq);
}

HANDLE WINAPI CreateFileMappingA(HANDLE hFile, LPSECURITY_ATTRIBUTES lpAttributes,
                                 DWORD flProtect, DWORD dwMaximumSizeHigh,
                                 DWORD dwMaximumSizeLow, LPCSTR lpName)
{
	return CreateFileMappingNumaA(hFile, lpAttributes, flProtect, dwMaximumSizeHigh,
	                              dwMaximumSizeLow, lpName, NUMA_NO_PREFERRED_NODE);
}

/* The W functions convert the name and use the A path. */
static DWORD wide_name(PCWSTR name, char **out)
{
	*out = NULL;
	return name ? mt_utf16_to_utf8(name, out) : 0;
}

static HANDLE create_wide(struct create_req *rq, PCWSTR name)
{
	char *utf8;
	DWORD err = wide_name(name, &utf8);
	HANDLE h;

	if (err)
		return mt_fail_null(err);
	rq->name = utf8;
	h = create_handle(rq);
	free(utf8);
	return h;
}

HANDLE WINAPI CreateFileMappingNumaW(HANDLE hFile, LPSECURITY_ATTRIBUTES lpAttributes,
                                     DWORD flProtect, DWORD dwMaximumSizeHigh,
                                     DWORD dwMaximumSizeLow, LPCWSTR lpName, DWORD nndPreferred)
{
	struct create_req rq = {
		.file = hFile, .protect = flProtect, .size = size64(dwMaximumSizeHigh, dwMaximumSizeLow),
		.node = nndPreferred, .access = CREATOR_ACCESS,
	};

	return create_wide(&rq, lpName);
}

HANDLE WINAPI CreateFileMappingW(HANDLE hFile, LPSECURITY_ATTRIBUTES lpAttributes,
                                 DWORD flProtect, DWORD dwMaximumSizeHigh,
                                 DWORD dwMaximumSizeLow, LPCWSTR lpName)
{
	return CreateFileMappingNumaW(hFile, lpAttributes, flProtect, dwMaximumSizeHigh,
	                              dwMaximumSizeLow, lpName, NUMA_NO_PREFERRED_NODE);
}

HANDLE WINAPI CreateFileMappingFromApp(HANDLE hFile, PSECURITY_ATTRIBUTES SecurityAttributes,
                                       ULONG PageProtection, ULONG64 MaximumSize, PCWSTR Name)
{
	return CreateFileMappingNumaW(hFile, SecurityAttributes, PageProtection,
	                              (DWORD)(MaximumSize >> 32), (DWORD)MaximumSize, Name,
	                              NUMA_NO_PREFERRED_NODE);
}

/* Extended parameters of CreateFileMapping2: only the NUMA node. */
static DWORD section_params(const MEM_EXTENDED_PARAMETER *p, ULONG n, DWORD *node)
{
	if (n && !p)
		return ERROR_INVALID_PARAMETER;
	for (ULONG i = 0; i < n; i++) {
		if (p[i].Type != MemSectionExtendedParameterNumaNode)
			return ERROR_INVALID_PARAMETER;
		*node = p[i].ULong;
	}
	return 0;
}

HANDLE WINAPI CreateFileMapping2(HANDLE File, SECURITY_ATTRIBUTES *SecurityAttributes,
                                 ULONG DesiredAccess, ULONG PageProtection,
                                 ULONG AllocationAttributes, ULONG64 MaximumSize, PCWSTR Name,
                                 MEM_EXTENDED_PARAMETER *ExtendedParameters, ULONG ParameterCount)
{
	struct create_req rq = {
		.file = File, .protect = PageProtection | AllocationAttributes, .size = MaximumSize,
		.node = NUMA_NO_PREFERRED_NODE, .access = DesiredAccess,
	};
	DWORD err = section_params(ExtendedParameters, ParameterCount, &rq.node);

	if (err)
		return mt_fail_null(err);
	if (PageProtection & ~PROTECT_BASE)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	return create_wide(&rq, Name);
}

/* ---- OpenFileMapping ---- */

static DWORD open_named(const char *name, DWORD access, HANDLE *out)
{
	struct mt_name n;
	bool named;
	DWORD err;

	if ((err = mt_name_parse(name, &n, &named)))
		return err;
	return named ? open_parsed(&n, access, out) : ERROR_INVALID_PARAMETER;
}

static HANDLE open_handle(DWORD access, const char *name)
{
	HANDLE h = NULL;
	DWORD err;

	mt_init();
	/* A copy-on-write view needs read access to the section. */
	if (access & FILE_MAP_COPY)
		access = (access & ~(DWORD)FILE_MAP_COPY) | SECTION_MAP_READ | SECTION_QUERY;
	err = open_named(name, access, &h);
	return err ? mt_fail_null(err) : h;
}

HANDLE WINAPI OpenFileMappingA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName)
{
	if (!lpName)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	return open_handle(dwDesiredAccess, lpName);
}

HANDLE WINAPI OpenFileMappingW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName)
{
	char *utf8;
	DWORD err;
	HANDLE h;

	if (!lpName)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	if ((err = wide_name(lpName, &utf8)))
		return mt_fail_null(err);
	h = open_handle(dwDesiredAccess, utf8);
	free(utf8);
	return h;
}

HANDLE WINAPI OpenFileMappingFromApp(ULONG DesiredAccess, BOOL InheritHandle, PCWSTR Name)
{
	return OpenFileMappingW(DesiredAccess, InheritHandle, Name);
}
