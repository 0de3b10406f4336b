/* The bundled workload: a little of everything libmemapi keeps in its
 * forensic tables (reservations with commits, guard and read-only pages,
 * a write-watch region, a placeholder, heaps with small, large and moveable
 * blocks, a named section view, an ATL thunk, a VBS enclave where the
 * machine allows), and its ground truth from the API's own answers. */
#include <windows.h>
#include <atlthunk.h>
#include <memapi.h>

#include "memtool.h"
#include "workload.h"

#include <string.h>
#include <unistd.h>

#define KIB 1024u
#define MIB (1024u * 1024u)

LRESULT CALLBACK workload_target(HWND h, UINT msg, WPARAM w, LPARAM l);

/* The thunk's target: gets the thunk's bound parameter as its first one.
 * Not static, so that memtool names it when it symbolizes the thunk. */
LRESULT CALLBACK workload_target(HWND h, UINT msg, WPARAM w, LPARAM l)
{
	return (LRESULT)(uintptr_t)h + (LRESULT)msg;
}

static int fail(struct workload *w, const char *what)
{
	char code[48];

	snprintf(code, sizeof code, "Windows error %u", GetLastError());
	wl_stop(w);
	return mt_error(MT_EXIT_RUNTIME, "workload step failed", what, code);
}

static int build_vm(struct workload *w)
{
	DWORD old;

	w->reserved = VirtualAlloc(NULL, 4 * MIB, MEM_RESERVE, PAGE_READWRITE);
	if (!w->reserved || !VirtualAlloc(w->reserved, 256 * KIB, MEM_COMMIT, PAGE_READWRITE))
		return fail(w, "VirtualAlloc reserve+commit");
	memset(w->reserved, 0x5a, 256 * KIB);
	if (!VirtualProtect(w->reserved + 64 * KIB, 4 * KIB, PAGE_READWRITE | PAGE_GUARD, &old) ||
	    !VirtualProtect(w->reserved + 128 * KIB, 64 * KIB, PAGE_READONLY, &old))
		return fail(w, "VirtualProtect");
	w->watched = VirtualAlloc(NULL, MIB, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
	                          PAGE_READWRITE);
	if (!w->watched)
		return fail(w, "VirtualAlloc MEM_WRITE_WATCH");
	for (int i = 0; i < 5; i++)
		w->watched[i * 48 * KIB] = (char)(i + 1);
	w->placeholder = VirtualAlloc2(NULL, NULL, 512 * KIB, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
	                               PAGE_NOACCESS, NULL, 0);
	if (!w->placeholder ||
	    !VirtualFree(w->placeholder, 256 * KIB, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER) ||
	    !VirtualAlloc2(NULL, w->placeholder, 256 * KIB, MEM_RESERVE | MEM_COMMIT |
	                   MEM_REPLACE_PLACEHOLDER, PAGE_READWRITE, NULL, 0))
		return fail(w, "placeholder split and replace");
	return 0;
}

/* Sizes from 8 bytes to a few KiB, every third block freed again. */
static int build_heaps(struct workload *w)
{
	if (!(w->heap = HeapCreate(0, 0, 0)))
		return fail(w, "HeapCreate");
	for (int i = 0; i < WL_HEAP_BLOCKS; i++) {
		SIZE_T n = 8 + (SIZE_T)(i * 37 % 4000);

		if (!(w->blocks[i] = HeapAlloc(w->heap, 0, n)))
			return fail(w, "HeapAlloc");
		memset(w->blocks[i], i & 0xff, n);
	}
	for (int i = 0; i < WL_HEAP_BLOCKS; i += 3) {
		HeapFree(w->heap, 0, w->blocks[i]);
		w->blocks[i] = NULL;
	}
	if (!(w->large = HeapAlloc(w->heap, 0, 2 * MIB)))
		return fail(w, "HeapAlloc 2 MiB");
	if (!(w->global = GlobalAlloc(GMEM_MOVEABLE, 1000)))
		return fail(w, "GlobalAlloc GMEM_MOVEABLE");
	for (int i = 0; i < 20; i++)
		if (!HeapAlloc(GetProcessHeap(), 0, 64 + (SIZE_T)i * 16))
			return fail(w, "HeapAlloc on the process heap");
	return 0;
}

static int build_objects(struct workload *w)
{
	ENCLAVE_CREATE_INFO_VBS info = { 0 };
	DWORD err = 0;

	snprintf(w->section_name, sizeof w->section_name, "Local\\memtool-workload-%d", (int)getpid());
	w->section = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, MIB,
	                                w->section_name);
	if (!w->section || !(w->view = MapViewOfFile(w->section, FILE_MAP_WRITE, 0, 0, 0)))
		return fail(w, "CreateFileMapping + MapViewOfFile");
	memcpy(w->view, "memtool workload section", 25);
	if (!(w->thunk = AtlThunk_AllocateData()))
		return fail(w, "AtlThunk_AllocateData");
	AtlThunk_InitData(w->thunk, (void *)workload_target, 0x1000);
	w->thunk_result = (long)AtlThunk_DataToCode(w->thunk)(NULL, 7, 0, 0);
	/* VBS enclaves need memfd_secret; a kernel without it has none. */
	w->enclave = CreateEnclave(GetCurrentProcess(), NULL, 2 * MIB, 0, ENCLAVE_TYPE_VBS,
	                           &info, sizeof info, &err);
	w->enclave_error = err;
	if (w->enclave) {
		static const char secret[4096] = "workload enclave data";
		SIZE_T done = 0;

		if (!LoadEnclaveData(GetCurrentProcess(), w->enclave, secret, sizeof secret,
		                     PAGE_READWRITE, NULL, 0, &done, &err))
			return fail(w, "LoadEnclaveData");
	}
	return 0;
}

int wl_start(struct workload *w)
{
	int rc;

	memset(w, 0, sizeof *w);
	if ((rc = build_vm(w)) || (rc = build_heaps(w)) || (rc = build_objects(w)))
		return rc;
	return 0;
}

void wl_write_more(struct workload *w)
{
	for (int i = 0; i < 3; i++)
		w->watched[600 * KIB + i * 64 * KIB] = (char)(0x40 + i);
}

void wl_stop(struct workload *w)
{
	if (w->enclave)
		DeleteEnclave(w->enclave);
	if (w->thunk)
		AtlThunk_FreeData(w->thunk);
	if (w->view)
		UnmapViewOfFile(w->view);
	if (w->section)
		CloseHandle(w->section);
	if (w->global)
		GlobalFree(w->global);
	if (w->heap)
		HeapDestroy(w->heap);
	if (w->placeholder) {
		VirtualFree(w->placeholder, 0, MEM_RELEASE);
		VirtualFree(w->placeholder + 256 * KIB, 0, MEM_RELEASE);
	}
	if (w->watched)
		VirtualFree(w->watched, 0, MEM_RELEASE);
	if (w->reserved)
		VirtualFree(w->reserved, 0, MEM_RELEASE);
	memset(w, 0, sizeof *w);
}

/* ---- ground truth ---- */

static void truth_regions(FILE *f)
{
	memapi_region_info *r = NULL;
	MEMORY_BASIC_INFORMATION m;
	size_t n = 0;
	bool first = true;

	memapi_snapshot_regions(&r, &n);
	fprintf(f, "  \"regions\": [");
	for (size_t i = 0; i < n; i++) {
		if (i && r[i].allocation_base == r[i - 1].allocation_base)
			continue;       /* walk each allocation once, from its base */
		for (char *a = (char *)(uintptr_t)r[i].allocation_base;
		     VirtualQuery(a, &m, sizeof m) && m.AllocationBase ==
		     (void *)(uintptr_t)r[i].allocation_base && m.State != MEM_FREE;
		     a += m.RegionSize) {
			fprintf(f, "%s\n    {\"base\": \"%p\", \"allocation_base\": \"%p\", \"size\": %zu, "
			        "\"state\": %u, \"protect\": %u, \"allocation_protect\": %u, \"type\": %u}",
			        first ? "" : ",", m.BaseAddress, m.AllocationBase, (size_t)m.RegionSize,
			        m.State, m.Protect, m.AllocationProtect, m.Type);
			first = false;
		}
	}
	fprintf(f, "\n  ]");
	memapi_free(r);
}

static void truth_heap(FILE *f, HANDLE h, bool first)
{
	PROCESS_HEAP_ENTRY e = { 0 };
	bool one = true;

	fprintf(f, "%s\n    {\"handle\": \"%p\", \"blocks\": [", first ? "" : ",", h);
	HeapLock(h);
	while (HeapWalk(h, &e)) {
		if (e.wFlags & (PROCESS_HEAP_REGION | PROCESS_HEAP_UNCOMMITTED_RANGE))
			continue;
		fprintf(f, "%s{\"address\": \"%p\", \"size\": %lu, \"busy\": %s}", one ? "" : ", ",
		        e.lpData, (unsigned long)e.cbData,
		        e.wFlags & PROCESS_HEAP_ENTRY_BUSY ? "true" : "false");
		one = false;
	}
	HeapUnlock(h);
	fprintf(f, "]}");
}

int wl_write_truth(struct workload *w, FILE *f)
{
	HANDLE heaps[64];
	PVOID pages[256];
	ULONG_PTR count = 256;
	DWORD gran, n = GetProcessHeaps(64, heaps);

	fprintf(f, "{\n  \"pid\": %d,\n", (int)getpid());
	truth_regions(f);
	fprintf(f, ",\n  \"heaps\": [");
	for (DWORD i = 0; i < n && i < 64; i++)
		truth_heap(f, heaps[i], i == 0);
	fprintf(f, "\n  ],\n  \"watch\": {\"base\": \"%p\", \"size\": %u, \"written\": [",
	        (void *)w->watched, MIB);
	if (GetWriteWatch(0, w->watched, MIB, pages, &count, &gran))
		count = 0;
	for (ULONG_PTR i = 0; i < count; i++)
		fprintf(f, "%s\"%p\"", i ? ", " : "", pages[i]);
	fprintf(f, "]},\n  \"thunk\": {\"code\": \"%p\", \"parameter\": %d, \"target\": \"%p\", "
	        "\"result\": %ld},\n", (void *)AtlThunk_DataToCode(w->thunk), 0x1000,
	        (void *)workload_target, w->thunk_result);
	if (w->enclave)
		fprintf(f, "  \"enclave\": \"%p\",\n", w->enclave);
	else
		fprintf(f, "  \"enclave\": null, \"enclave_error\": %lu,\n", w->enclave_error);
	/* The name's one backslash, escaped for JSON. */
	fprintf(f, "  \"section\": {\"name\": \"Local\\\\%s\", \"view\": \"%p\"},\n",
	        strchr(w->section_name, '\\') + 1, (void *)w->view);
	fprintf(f, "  \"guard_page\": \"%p\"\n}\n", (void *)(w->reserved + 64 * KIB));
	return ferror(f) ? 1 : 0;
}
