/* GetMappedFileName: the path of the file behind an address, from the
 * section of a view the library made, else from the kernel's map (images
 * and files mapped by others). The path is the Linux one, not an NT
 * device path. */
#include "section.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A kernel VMA name that is a file's path ("" otherwise): not shared
 * anonymous memory (shown as "/dev/zero (deleted)"), memfds, System V
 * segments, nor the objects of named paging-file sections, which are
 * paging-file memory as on Windows. */
static void vma_path(const struct mt_vma *v, char *out, size_t room)
{
	const char *del = " (deleted)";
	size_t n = strlen(v->name), dl = strlen(del);

	out[0] = 0;
	if (n > dl && !strcmp(v->name + n - dl, del))
		n -= dl;
	if (!v->inode || v->name[0] != '/' || !strncmp(v->name, "/memfd:", 7) ||
	    !strncmp(v->name, "/SYSV", 5) || (n == 9 && !strncmp(v->name, "/dev/zero", 9)) ||
	    !strncmp(v->name, "/dev/shm/memapi.", 16))
		return;
	if (n >= room)
		n = room - 1;
	memcpy(out, v->name, n);
	out[n] = 0;
}

static DWORD kernel_path(pid_t pid, uintptr_t a, char *out, size_t room)
{
	struct mt_maps *m;
	struct mt_vma v;
	int e = mt_maps_open(pid, &m);

	if (e)
		return ERROR_ACCESS_DENIED;
	e = mt_maps_find(m, a, &v);
	mt_maps_close(m);
	if (e || v.start > a)
		return ERROR_UNEXP_NET_ERR;     /* free memory: what Windows answers */
	vma_path(&v, out, room);
	if (out[0])
		return 0;
	return v.inode || (v.flags & MT_VMA_SHARED) ? ERROR_FILE_INVALID : ERROR_UNEXP_NET_ERR;
}

/* Own views: their section's path; a pagefile view has none. */
static DWORD own_path(uintptr_t a, char *out, size_t room, bool *found)
{
	struct mt_region *r;
	DWORD err = 0;

	mt_vm_lock();
	r = mt_vm_find(a);
	*found = r != NULL;
	if (r && r->rec.owner == MEMAPI_OWNER_SECTION) {
		const struct mt_view *v = r->owner_obj;
		const char *p = v->section->rec.path;

		if (p)
			snprintf(out, room, "%s", p);
		else
			err = ERROR_FILE_INVALID;
	} else if (r) {
		err = ERROR_UNEXP_NET_ERR;      /* private memory */
	}
	mt_vm_unlock();
	return err;
}

static DWORD mapped_path(HANDLE process, uintptr_t a, char *out, size_t room)
{
	bool self, found;
	pid_t pid;
	DWORD err = mt_process_resolve(process, PROCESS_QUERY_INFORMATION, &self, &pid);

	if (err)
		return err;
	if (!self)
		return kernel_path(pid, a, out, room);
	err = own_path(a, out, room, &found);
	return found ? err : kernel_path(0, a, out, room);
}

static DWORD lookup(HANDLE process, LPVOID lpv, bool have_buffer, DWORD size, char *path,
                    size_t room)
{
	mt_init();
	if (!have_buffer || !size)
		return ERROR_INSUFFICIENT_BUFFER;
	return mapped_path(process, (uintptr_t)lpv, path, room);
}

/* Windows' rule for a short buffer: truncate to nSize characters with the
 * NUL, return nSize, ERROR_INSUFFICIENT_BUFFER. */
DWORD WINAPI GetMappedFileNameA(HANDLE hProcess, LPVOID lpv, LPSTR lpFilename, DWORD nSize)
{
	char path[4096];
	size_t n;
	DWORD err;

	if ((err = lookup(hProcess, lpv, lpFilename != NULL, nSize, path, sizeof path)))
		return mt_fail(err), 0;
	n = strlen(path);
	if (n >= nSize) {
		memcpy(lpFilename, path, nSize - 1);
		lpFilename[nSize - 1] = 0;
		SetLastError(ERROR_INSUFFICIENT_BUFFER);
		return nSize;
	}
	memcpy(lpFilename, path, n + 1);
	return (DWORD)n;
}

DWORD WINAPI GetMappedFileNameW(HANDLE hProcess, LPVOID lpv, LPWSTR lpFilename, DWORD nSize)
{
	char path[4096];
	WCHAR *wide;
	size_t n;
	DWORD err;

	if ((err = lookup(hProcess, lpv, lpFilename != NULL, nSize, path, sizeof path)))
		return mt_fail(err), 0;
	n = mt_utf8_to_utf16(path, NULL, 0);
	if (!(wide = malloc((n + 1) * sizeof *wide)))
		return mt_fail(ERROR_NOT_ENOUGH_MEMORY), 0;
	mt_utf8_to_utf16(path, wide, n + 1);
	if (n >= nSize) {
		memcpy(lpFilename, wide, (nSize - 1) * sizeof *wide);
		lpFilename[nSize - 1] = 0;
		SetLastError(ERROR_INSUFFICIENT_BUFFER);
		n = nSize;
	} else {
		memcpy(lpFilename, wide, (n + 1) * sizeof *wide);
	}
	free(wide);
	return (DWORD)n;
}
