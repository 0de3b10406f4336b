/* Named sections: Local\ and Global\ names as owner-only objects in
 * /dev/shm, so another process can open them. Every open descriptor holds
 * a shared lock on its object; whoever closes the last one (an exclusive
 * lock succeeds) removes the name, which is how a name disappears with the
 * last handle and view in any process. */
#include "section.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAGIC UINT64_C(0x314d414e4d454d4d)   /* "MMEMNAM1" */
#define MAX_NAME_BYTES 1000

/* The header at the start of every named object; the rest of its first
 * page is zero. */
struct header {
	uint64_t magic;
	uint64_t size;
	uint32_t protect, attributes;
	uint32_t file, reserved0;
	uint64_t dev, ino;
	char     name[MAX_NAME_BYTES + 1];
	char     path[2048];
};

_Static_assert(sizeof(struct header) <= MT_NAME_HEADER, "header fits its page");

static bool plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* FNV-1a: names too long to spell out are known by their hash (the header
 * keeps the whole name, which is compared on open). */
static uint64_t hash(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
	return h;
}

/* Every byte but [A-Za-z0-9_-] is escaped, so no name can hold a path
 * separator or a dot: nothing escapes /dev/shm or meets another file. */
static void encode(const char *ns, const char *name, char *out, size_t room)
{
	size_t n = (size_t)snprintf(out, room, "%s", ns);

	for (const unsigned char *p = (const unsigned char *)name; *p && n + 4 < room; p++)
		n += (size_t)snprintf(out + n, room - n, plain(*p) ? "%c" : "%%%02X", *p);
	if (strlen(name) * 3 + strlen(ns) + 4 >= room)
		snprintf(out, room, "%s#%016llx", ns, (unsigned long long)hash(name));
}

DWORD mt_name_parse(const char *name, struct mt_name *out, bool *named)
{
	const char *rest = name;
	char ns[64];

	*named = name && *name;
	if (!*named)
		return 0;
	out->global = false;
	if (!strncmp(name, "Global\\", 7)) {
		out->global = true;
		rest = name + 7;
	} else if (!strncmp(name, "Local\\", 6)) {
		rest = name + 6;
	}
	/* A backslash names a directory of the object namespace; there are
	 * none below Local\ and Global\. */
	if (strchr(rest, '\\'))
		return ERROR_PATH_NOT_FOUND;
	if (!*rest)
		return ERROR_INVALID_NAME;
	/* The header keeps the whole name, prefix included. */
	if (strlen(rest) + strlen("Global\\") > MAX_NAME_BYTES)
		return ERROR_FILENAME_EXCED_RANGE;
	snprintf(out->full, sizeof out->full, "%s\\%s", out->global ? "Global" : "Local", rest);
	/* Local names are per user; Global ones shared, but still owner-only. */
	if (out->global)
		snprintf(ns, sizeof ns, "memapi.G.");
	else
		snprintf(ns, sizeof ns, "memapi.%u.L.", (unsigned)getuid());
	encode(ns, rest, out->shm, sizeof out->shm);
	return 0;
}

static DWORD name_error(int e)
{
	switch (e) {
	case ENOENT:        return ERROR_FILE_NOT_FOUND;
	case EACCES:
	case EPERM:
	case ELOOP:         return ERROR_ACCESS_DENIED;
	case ENAMETOOLONG:  return ERROR_FILENAME_EXCED_RANGE;
	case EMFILE:
	case ENFILE:        return ERROR_TOO_MANY_OPEN_FILES;
	case ENOSPC:        return ERROR_DISK_FULL;
	default:            return mt_error_from_errno(e);
	}
}

static DWORD write_header(int fd, const struct mt_name *n, const struct mt_name_info *info)
{
	struct header h;

	memset(&h, 0, sizeof h);
	h.size = info->size;
	h.protect = info->protect;
	h.attributes = info->attributes;
	h.file = info->file;
	h.dev = info->dev;
	h.ino = info->ino;
	snprintf(h.name, sizeof h.name, "%.*s", MAX_NAME_BYTES, n->full);   /* fits: see parse */
	snprintf(h.path, sizeof h.path, "%s", info->path);
	if (mt_os_fd_grow(fd, MT_NAME_HEADER + (info->file ? 0 : info->size)))
		return ERROR_DISK_FULL;
	if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		return ERROR_DISK_FULL;
	/* The magic last: an opener that sees it sees the rest. */
	h.magic = NAME_MAGIC;
	if (pwrite(fd, &h.magic, sizeof h.magic, 0) != (ssize_t)sizeof h.magic)
		return ERROR_DISK_FULL;
	return 0;
}

/* 0 and the header, ENOENT when the object is being removed or has no
 * header (not made by this release: removed here if nobody uses it). */
static int read_header(const struct mt_name *n, int fd, struct mt_name_info *info)
{
	struct header h;
	int e;

	if ((e = mt_os_fd_lock(fd, MT_LOCK_SHARED, true)) || (e = mt_os_shm_same(fd, n->shm)))
		return e;
	if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || h.magic != NAME_MAGIC) {
		if (mt_os_fd_lock(fd, MT_LOCK_EXCLUSIVE, false) == 0)
			mt_os_shm_unlink(n->shm);
		return ENOENT;
	}
	if (strncmp(h.name, n->full, sizeof h.name))
		return EEXIST;          /* a hashed name that is another's */
	h.path[sizeof h.path - 1] = 0;
	info->size = h.size;
	info->protect = h.protect;
	info->attributes = h.attributes;
	info->file = h.file;
	info->dev = h.dev;
	info->ino = h.ino;
	snprintf(info->path, sizeof info->path, "%s", h.path);
	return 0;
}

/* Opens the existing object: 0, ENOENT (no such name), or another errno. */
static int open_existing(const struct mt_name *n, struct mt_name_info *info, int *out)
{
	int fd, e;

	for (int tries = 0; tries < 64; tries++) {
		if ((e = mt_os_shm_open(n->shm, false, &fd)))
			return e;
		e = read_header(n, fd, info);
		/* Windows destroys an object with its last handle, also when a
		 * process dies without closing it; here its file stays. Nobody
		 * else holding a lock on it means nobody has it: it goes now. */
		if (!e && mt_os_fd_lock(fd, MT_LOCK_EXCLUSIVE, false) == 0) {
			mt_os_shm_unlink(n->shm);
			e = ENOENT;
		}
		if (!e) {
			*out = fd;
			return 0;
		}
		close(fd);
		if (e != ENOENT)
			return e;
		/* Removed under us: does the name exist again? */
	}
	return ENOENT;
}

DWORD mt_name_open(const struct mt_name *n, struct mt_name_info *info, int *fd)
{
	int e = open_existing(n, info, fd);

	if (e == EEXIST)
		return ERROR_INVALID_HANDLE;    /* the name belongs to another object */
	return e ? name_error(e) : 0;
}

/* A new object is made under a name of its own, header and all, and then
 * takes its name in one step: openers never find it half made. The
 * temporary name ("memapi.new.") cannot be a real one, which has a uid or
 * G after "memapi.". 0 and *fd; EEXIST when the name is taken; else an
 * errno, or *err for a header that could not be written. */
static int make_new(const struct mt_name *n, const struct mt_name_info *info, int *fd,
                    DWORD *err)
{
	static atomic_uint seq;
	char tmp[64];
	int e;

	snprintf(tmp, sizeof tmp, "memapi.new.%d.%u", (int)getpid(), atomic_fetch_add(&seq, 1));
	if ((e = mt_os_shm_open(tmp, true, fd)))
		return e;
	mt_os_fd_lock(*fd, MT_LOCK_SHARED, false);      /* a fresh file: cannot fail */
	if ((*err = write_header(*fd, n, info)) || (e = mt_os_shm_publish(tmp, n->shm))) {
		mt_os_shm_unlink(tmp);
		close(*fd);
	}
	return e;
}

DWORD mt_name_create(const struct mt_name *n, struct mt_name_info *info, int *fd,
                     bool *existed)
{
	DWORD err = 0;
	int e;

	for (int tries = 0; tries < 64; tries++) {
		e = make_new(n, info, fd, &err);
		if (err)
			return err;
		if (!e) {
			*existed = false;
			return 0;
		}
		if (e != EEXIST)
			return name_error(e);
		e = open_existing(n, info, fd);
		if (!e) {
			*existed = true;
			return 0;
		}
		if (e == EEXIST)
			return ERROR_INVALID_HANDLE;
		if (e != ENOENT)
			return name_error(e);
	}
	return ERROR_ACCESS_DENIED;     /* the name keeps vanishing: give up */
}

void mt_name_close(const char *shm, int fd)
{
	/* An exclusive lock succeeds only when no other descriptor, in this
	 * process or another, holds the object: then the name goes. Checked
	 * under the lock so that an opener waiting for its shared lock sees
	 * the name gone (mt_os_shm_same) and does not use a dead object. */
	if (mt_os_fd_lock(fd, MT_LOCK_EXCLUSIVE, false) == 0 && mt_os_shm_same(fd, shm) == 0)
		mt_os_shm_unlink(shm);
	close(fd);
}
