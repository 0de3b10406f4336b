/* Views of sections: MapViewOfFile* (anywhere, at a fixed address, or into
 * a placeholder), UnmapViewOfFile*, FlushViewOfFile, and commits inside
 * views of SEC_RESERVE sections. A view is a region of the address-space
 * manager owned by its struct mt_view. */
#include "section.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define WRITECOPY_BITS (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY)

struct map_req {
	struct mt_section *s;
	DWORD     access;             /* rights of the section handle            */
	uint64_t  offset;
	size_t    size;               /* 0: to the end of the section            */
	uintptr_t addr;               /* 0: anywhere                             */
	DWORD     type;               /* 0, MEM_RESERVE, MEM_REPLACE_PLACEHOLDER, MEM_LARGE_PAGES */
	DWORD     protect;            /* the view's PAGE_* protection            */
	bool      targets_invalid;
	DWORD     node;
};

static bool is_exec(DWORD p)
{
	return p & (PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE |
	            PAGE_EXECUTE_WRITECOPY);
}

static bool is_write(DWORD p)
{
	return p & (PAGE_READWRITE | PAGE_EXECUTE_READWRITE);
}

static bool is_copy(DWORD p)
{
	return p & WRITECOPY_BITS;
}

/* MapViewOfFile's FILE_MAP_* access as a page protection, 0 if invalid.
 * FILE_MAP_COPY (1) is also SECTION_QUERY, part of FILE_MAP_ALL_ACCESS: it
 * means copy-on-write only without the write and read rights, as on
 * Windows, where FILE_MAP_ALL_ACCESS maps a shared read-write view. */
static DWORD protect_from_access(DWORD access)
{
	bool x = access & FILE_MAP_EXECUTE;

	if (access & FILE_MAP_WRITE)
		return x ? PAGE_EXECUTE_READWRITE : PAGE_READWRITE;
	if (access & FILE_MAP_READ)
		return x ? PAGE_EXECUTE_READ : PAGE_READONLY;
	if (access & FILE_MAP_COPY)
		return x ? PAGE_EXECUTE_WRITECOPY : PAGE_WRITECOPY;
	return x ? PAGE_EXECUTE : 0;
}

static bool view_protect_valid(DWORD p)
{
	switch (p) {
	case PAGE_READONLY: case PAGE_READWRITE: case PAGE_WRITECOPY: case PAGE_EXECUTE:
	case PAGE_EXECUTE_READ: case PAGE_EXECUTE_READWRITE: case PAGE_EXECUTE_WRITECOPY:
		return true;
	default:
		return false;
	}
}

/* The SECTION_MAP_* rights a view protection needs, as Windows checks
 * them: a read-write view needs the write right alone, a copy-on-write
 * view the read right. */
static DWORD rights_needed(DWORD p)
{
	DWORD x = SECTION_MAP_EXECUTE;

	switch (p) {
	case PAGE_READONLY: case PAGE_WRITECOPY:        return SECTION_MAP_READ;
	case PAGE_READWRITE:                            return SECTION_MAP_WRITE;
	case PAGE_EXECUTE:                              return x;
	case PAGE_EXECUTE_READ: case PAGE_EXECUTE_WRITECOPY: return x | SECTION_MAP_READ;
	default:                                        return x | SECTION_MAP_WRITE;
	}
}

/* The handle's rights and the section's protection bound a view's:
 * ERROR_ACCESS_DENIED when it asks for more. SECTION_MAP_EXECUTE_EXPLICIT
 * counts as the execute right. */
static DWORD check_rights(const struct mt_section *s, DWORD access, DWORD p)
{
	DWORD sp = s->rec.protect;

	if (access & SECTION_MAP_EXECUTE_EXPLICIT)
		access |= SECTION_MAP_EXECUTE;
	if ((rights_needed(p) & access) != rights_needed(p))
		return ERROR_ACCESS_DENIED;
	if ((is_write(p) && !is_write(sp)) || (is_exec(p) && !is_exec(sp)))
		return ERROR_ACCESS_DENIED;
	return 0;
}

static DWORD check_request(struct map_req *rq)
{
	struct mt_section *s = rq->s;
	uint64_t g = mt_os.granularity;
	DWORD err = check_rights(s, rq->access, rq->protect);

	if (err)
		return err;
	if (rq->offset % g || rq->addr % g)
		return ERROR_MAPPED_ALIGNMENT;
	if ((rq->type & MEM_LARGE_PAGES) && !(s->rec.attributes & SEC_LARGE_PAGES))
		return ERROR_INVALID_PARAMETER;
	if ((rq->type & MEM_RESERVE) && !(s->rec.attributes & SEC_RESERVE))
		return ERROR_INVALID_PARAMETER;
	if (s->image) {
		/* An image is mapped whole. */
		if (rq->offset || (rq->size && rq->size != s->image->size))
			return ERROR_INVALID_PARAMETER;
		rq->size = s->image->size;
		return 0;
	}
	if (rq->offset >= s->rec.size || rq->size > s->rec.size - rq->offset)
		return ERROR_ACCESS_DENIED;     /* beyond the end of the section */
	if (!rq->size)
		rq->size = (size_t)(s->rec.size - rq->offset);
	if ((s->rec.attributes & SEC_LARGE_PAGES) &&
	    (rq->offset % mt_os.huge_page_size || rq->size % mt_os.huge_page_size ||
	     rq->addr % mt_os.huge_page_size))
		return ERROR_MAPPED_ALIGNMENT;
	return 0;
}

/* ---- page state of a new view ---- */

/* The kernel protection of committed view pages: copy-on-write pages are
 * read-only until the first write (the fault handler then makes them
 * PAGE_READWRITE, as Windows reports them). */
static int kernel_prot(DWORD protect)
{
	int prot = mt_prot_from_win(protect);

	return is_copy(protect) ? prot & ~PROT_WRITE : prot;
}

static DWORD view_page_protect(const struct mt_section *s, DWORD p)
{
	if (s->rec.attributes & SEC_NOCACHE)
		return p | PAGE_NOCACHE;
	if (s->rec.attributes & SEC_WRITECOMBINE)
		return p | PAGE_WRITECOMBINE;
	return p;
}

static size_t section_page(const struct mt_view *v, size_t page)
{
	return (size_t)(v->rec.offset / mt_os.page_size) + page;
}

/* Records the pages' state in the region's runs. */
static DWORD record_pages(struct mt_view *v)
{
	struct mt_region *r = v->region;
	struct mt_section *s = v->section;
	size_t pages = mt_pages(r->rec.size);
	DWORD p = view_page_protect(s, v->rec.protect), err = 0;

	if (s->image) {
		for (size_t i = 0; i < s->image->count && !err; i++) {
			const struct mt_image_seg *sg = &s->image->seg[i];

			err = mt_runs_set(r, mt_pages(sg->vaddr), mt_pages(sg->memsz), MEM_COMMIT,
			                  sg->protect);
		}
		return err;
	}
	if (!s->committed)
		return mt_runs_set(r, 0, pages, MEM_COMMIT, p);
	for (size_t i = 0; i < pages && !err; i++)
		if (mt_bit(s->committed, section_page(v, i)))
			err = mt_runs_set(r, i, 1, MEM_COMMIT, p);
	return err;
}

/* Records the pages' state in the region's runs and its call targets
 * (every one valid unless FILE_MAP_TARGETS_INVALID). */
static DWORD set_pages(struct mt_view *v)
{
	DWORD err = record_pages(v);

	if (!err)
		err = mt_cfg_update(v->region, 0, mt_pages(v->region->rec.size),
		                    v->targets_invalid ? PAGE_TARGETS_INVALID : v->rec.protect, true);
	return err;
}

/* ---- images ---- */

/* Maps each segment over the view's reservation: file pages copy-on-write,
 * the rest of the last file page and the pages after it zero. */
static int map_image(const struct mt_section *s, uintptr_t base)
{
	size_t ps = mt_os.page_size;
	int e = 0;

	for (size_t i = 0; i < s->image->count && !e; i++) {
		const struct mt_image_seg *sg = &s->image->seg[i];
		size_t file_pages = (size_t)((sg->filesz + ps - 1) / ps) * ps;
		void *at = (void *)(base + sg->vaddr);

		if (file_pages)
			e = mt_os_map_file(&at, file_pages, file_pages, PROT_READ | PROT_WRITE, false,
			                   s->data_fd, sg->offset, MT_MAP_REPLACE);
		if (!e && sg->filesz % ps)
			memset((char *)at + sg->filesz, 0, file_pages - sg->filesz);
		if (!e && sg->memsz > file_pages) {
			e = mt_os_rereserve((char *)at + file_pages, sg->memsz - file_pages);
			if (!e)
				e = mt_os_protect((char *)at + file_pages, sg->memsz - file_pages,
				                  PROT_READ | PROT_WRITE);
		}
	}
	return e;
}

/* ---- mapping ---- */

static struct mt_view *view_new(const struct map_req *rq)
{
	struct mt_view *v = calloc(1, sizeof *v);

	if (!v)
		return NULL;
	v->section = rq->s;
	v->shared = !is_copy(rq->protect) && !rq->s->image;
	v->targets_invalid = rq->targets_invalid;
	v->rec.offset = rq->offset;
	v->rec.size = mt_page_up(rq->size);
	v->rec.protect = rq->protect;
	v->rec.section = &rq->s->rec;
	return v;
}

/* The OS mapping for a new view at *addr (0: anywhere). */
static DWORD map_os(const struct map_req *rq, const struct mt_view *v, size_t span, void **out)
{
	struct mt_section *s = rq->s;
	int prot = s->committed || s->image ? PROT_NONE : kernel_prot(rq->protect), e;
	void *p = (void *)rq->addr;

	if (s->image) {
		if ((e = mt_os_reserve(&p, span, mt_os.granularity, PROT_NONE, rq->addr != 0,
		                       false)))
			goto fail;
		if ((e = map_image(s, (uintptr_t)p))) {
			mt_os_release(p, span);
			goto fail;
		}
		*out = p;
		return 0;
	}
	if ((s->rec.attributes & SEC_LARGE_PAGES) && !rq->addr) {
		/* hugetlb pages map only at addresses aligned to their size. */
		if ((e = mt_os_reserve(&p, span, mt_os.huge_page_size, PROT_NONE, false, false)))
			goto fail;
		if ((e = mt_os_map_file(&p, v->rec.size, span, prot, v->shared, s->data_fd,
		                        s->data_off + rq->offset, MT_MAP_REPLACE))) {
			mt_os_release(p, span);
			goto fail;
		}
		*out = p;
		return 0;
	}
	e = mt_os_map_file(&p, v->rec.size, span, prot, v->shared, s->data_fd,
	                   s->data_off + rq->offset, rq->addr ? MT_MAP_FIXED : MT_MAP_ANYWHERE);
	if (!e) {
		*out = p;
		return 0;
	}
fail:
	if (e == EEXIST)
		return ERROR_INVALID_ADDRESS;   /* something is mapped there */
	return e == ENOMEM ? ERROR_NOT_ENOUGH_MEMORY : mt_error_from_errno(e);
}

static void link_view(struct mt_view *v)
{
	struct mt_section *s = v->section;

	v->next = s->views;
	v->rec.next = s->views ? &s->views->rec : NULL;
	s->views = v;
	s->rec.views = &v->rec;
	s->rec.view_count++;
}

static void unlink_view(struct mt_view *v)
{
	struct mt_section *s = v->section;
	struct mt_view **p;

	for (p = &s->views; *p && *p != v; p = &(*p)->next)
		;
	if (*p)
		*p = v->next;
	for (struct mt_view *q = s->views; q; q = q->next)
		q->rec.next = q->next ? &q->next->rec : NULL;
	s->rec.views = s->views ? &s->views->rec : NULL;
	s->rec.view_count--;
}

/* Table part of a new view; the OS mapping exists. Lock held. */
static DWORD add_region(struct mt_view *v, uintptr_t base, size_t span)
{
	DWORD type = v->section->image ? MEM_IMAGE : MEM_MAPPED;
	DWORD ap = v->section->image ? PAGE_EXECUTE_WRITECOPY : v->rec.protect;
	struct mt_region *r = mt_region_new(base, v->rec.size, span, ap, type, 0);
	DWORD err;

	if (!r)
		return ERROR_NOT_ENOUGH_MEMORY;
	r->rec.owner = MEMAPI_OWNER_SECTION;
	r->owner_obj = v;
	v->region = r;
	v->rec.base = base;
	mt_vm_change_begin();
	err = mt_vm_insert(r);
	if (!err && (err = set_pages(v)))
		mt_vm_remove(r);
	if (!err)
		link_view(v);
	mt_vm_change_end();
	if (err) {
		mt_region_free(r);
		v->region = NULL;
	}
	return err;
}

/* Gives the kernel the pages' recorded protection where the mapping was
 * made with another: SEC_RESERVE views (reserved pages inaccessible) and
 * images (mapped writable to clear the ends of their segments). */
static DWORD apply_committed(struct mt_view *v)
{
	struct mt_region *r = v->region;
	int e;

	if (!v->section->committed && !v->section->image)
		return 0;
	e = mt_vm_sync(r, 0, mt_pages(r->rec.size));
	return e ? mt_error_from_errno(e) : 0;
}

static DWORD map_new(const struct map_req *rq, struct mt_view *v, void **out)
{
	size_t span = mt_gran_up(v->rec.size);
	void *p = NULL;
	DWORD err = map_os(rq, v, span, &p);

	if (err)
		return err;
	if (rq->node != NUMA_NO_PREFERRED_NODE)
		mt_os_bind_node(p, v->rec.size, rq->node);      /* a preference */
	mt_vm_lock();
	err = add_region(v, (uintptr_t)p, span);
	if (!err)
		err = apply_committed(v);
	mt_vm_unlock();
	if (err) {
		mt_os_release(p, span);
		return err;
	}
	*out = p;
	return 0;
}

/* MEM_REPLACE_PLACEHOLDER: the view takes the place of exactly one
 * placeholder, whose region becomes the view's. Lock held. */
static DWORD replace(const struct map_req *rq, struct mt_view *v)
{
	struct mt_region *r = mt_vm_find(rq->addr);
	struct mt_section *s = rq->s;
	DWORD err;
	int e;

	if (!r || !(r->rec.flags & MEMAPI_REGION_PLACEHOLDER) || r->rec.base != rq->addr ||
	    r->rec.size != v->rec.size || s->image)
		return ERROR_INVALID_ADDRESS;
	if ((err = mt_runs_reserve(r)))
		return err;
	e = mt_os_map_file(&(void *){ (void *)rq->addr }, v->rec.size, r->span,
	                   s->committed ? PROT_NONE : kernel_prot(rq->protect), v->shared,
	                   s->data_fd, s->data_off + rq->offset, MT_MAP_REPLACE);
	if (e)
		return mt_error_from_errno(e);
	if (rq->node != NUMA_NO_PREFERRED_NODE)
		mt_os_bind_node((void *)rq->addr, v->rec.size, rq->node);   /* a preference */
	mt_vm_change_begin();
	r->rec.flags = MEMAPI_REGION_FROM_PLACEHOLDER;
	r->rec.type = MEM_MAPPED;
	r->rec.allocation_protect = rq->protect;
	r->rec.owner = MEMAPI_OWNER_SECTION;
	r->owner_obj = v;
	v->region = r;
	v->rec.base = r->rec.base;
	err = set_pages(v);
	if (!err)
		link_view(v);
	mt_vm_change_end();
	if (!err)
		err = apply_committed(v);
	return err;
}

static DWORD map_view(struct map_req *rq, void **out)
{
	struct mt_view *v;
	DWORD err = check_request(rq);

	if (err)
		return err;
	if (!(v = view_new(rq)))
		return ERROR_NOT_ENOUGH_MEMORY;
	mt_object_get(&rq->s->obj);         /* the view's reference */
	if (rq->type & MEM_REPLACE_PLACEHOLDER) {
		mt_vm_lock();
		err = replace(rq, v);
		mt_vm_unlock();
		*out = (void *)rq->addr;
	} else {
		err = map_new(rq, v, out);
	}
	if (err) {
		free(v);
		mt_section_put(rq->s);
	}
	return err;
}

/* ---- commit and protection inside views ---- */

DWORD mt_section_protect_ok(const struct mt_region *r, DWORD protect)
{
	const struct mt_view *v = r->owner_obj;
	DWORD p = protect & 0xff, sp = v->section->rec.protect;

	if (is_copy(p) && v->shared)
		return ERROR_NOT_SUPPORTED;     /* a shared mapping cannot turn private */
	if (is_write(p) && v->shared && !is_write(v->rec.protect))
		return ERROR_ACCESS_DENIED;
	if (is_exec(p) && !is_exec(sp) && !v->section->image)
		return ERROR_ACCESS_DENIED;
	return 0;
}

/* Commits section pages [first, +count) in one view. */
static DWORD commit_in_view(struct mt_view *v, size_t first, size_t count, DWORD protect)
{
	size_t vfirst = section_page(v, 0), vpages = mt_pages(v->region->rec.size);
	size_t lo = first > vfirst ? first : vfirst;
	size_t hi = first + count < vfirst + vpages ? first + count : vfirst + vpages;
	DWORD err;
	int e;

	if (lo >= hi)
		return 0;
	err = mt_runs_set(v->region, lo - vfirst, hi - lo, MEM_COMMIT, protect);
	if (!err && (e = mt_vm_sync(v->region, lo - vfirst, hi - lo)))
		err = e == ENOMEM ? ERROR_COMMITMENT_LIMIT : mt_error_from_errno(e);
	return err;
}

DWORD mt_section_commit(struct mt_region *r, uintptr_t start, uintptr_t end, DWORD protect)
{
	struct mt_view *v = r->owner_obj;
	struct mt_section *s = v->section;
	size_t first = section_page(v, mt_pages(start - r->rec.base)), count = mt_pages(end - start);
	DWORD err = 0;

	if (!view_protect_valid(protect & 0xff) || (protect & PAGE_GUARD))
		return ERROR_INVALID_PARAMETER;
	if ((err = mt_section_protect_ok(r, protect)))
		return err;
	if (!s->committed)
		return 0;       /* every page of a SEC_COMMIT view is committed */
	mt_vm_change_begin();
	for (size_t i = first; i < first + count; i++)
		mt_bit_put(s->committed, i, true);
	/* Section pages are committed for every view of the section. */
	for (struct mt_view *o = s->views; o && !err; o = o->next)
		err = commit_in_view(o, first, count,
		                     o == v ? protect : view_page_protect(s, o->rec.protect));
	mt_vm_change_end();
	return err;
}

/* ---- unmapping ---- */

/* Turns the view's region back into a placeholder. Lock held. */
static DWORD to_placeholder(struct mt_region *r)
{
	int e = mt_os_rereserve((void *)r->rec.base, r->span);

	if (e)
		return mt_error_from_errno(e);
	mt_vm_change_begin();
	mt_runs_set(r, 0, mt_pages(r->rec.size), MEM_RESERVE, 0);
	mt_cfg_free(r);
	r->rec.flags = MEMAPI_REGION_PLACEHOLDER;
	r->rec.type = MEM_PRIVATE;
	r->rec.allocation_protect = PAGE_NOACCESS;
	r->rec.owner = MEMAPI_OWNER_VIRTUAL;
	r->owner_obj = NULL;
	mt_vm_change_end();
	return 0;
}

static DWORD unmap(uintptr_t addr, ULONG flags)
{
	struct mt_region *r;
	struct mt_view *v = NULL;
	DWORD err = 0;

	if (flags & ~(ULONG)(MEM_UNMAP_WITH_TRANSIENT_BOOST | MEM_PRESERVE_PLACEHOLDER))
		return ERROR_INVALID_PARAMETER;
	mt_vm_lock();
	r = mt_vm_find(addr);
	if (!r || r->rec.owner != MEMAPI_OWNER_SECTION) {
		err = ERROR_INVALID_ADDRESS;
	} else if ((flags & MEM_PRESERVE_PLACEHOLDER) &&
	           !(r->rec.flags & MEMAPI_REGION_FROM_PLACEHOLDER)) {
		err = ERROR_INVALID_PARAMETER;  /* it never was a placeholder */
	} else {
		v = r->owner_obj;
		mt_vm_change_begin();
		unlink_view(v);
		if (flags & MEM_PRESERVE_PLACEHOLDER) {
			err = to_placeholder(r);
		} else {
			mt_vm_remove(r);
			mt_os_release((void *)r->rec.base, r->span);
			mt_region_free(r);
		}
		if (err)
			link_view(v);
		mt_vm_change_end();
	}
	mt_vm_unlock();
	if (err)
		return err;
	/* Outside the lock: the last reference destroys the section. */
	mt_secure_notify((uintptr_t)v->rec.base, v->rec.size);
	mt_section_put(v->section);
	free(v);
	return 0;
}

BOOL WINAPI UnmapViewOfFile(LPCVOID lpBaseAddress)
{
	DWORD err;

	mt_init();
	err = unmap((uintptr_t)lpBaseAddress, 0);
	return err ? mt_fail(err) : TRUE;
}

BOOL WINAPI UnmapViewOfFileEx(PVOID BaseAddress, ULONG UnmapFlags)
{
	DWORD err;

	mt_init();
	err = unmap((uintptr_t)BaseAddress, UnmapFlags);
	return err ? mt_fail(err) : TRUE;
}

BOOL WINAPI UnmapViewOfFile2(HANDLE Process, PVOID BaseAddress, ULONG UnmapFlags)
{
	DWORD err = mt_process_require_self(Process, PROCESS_VM_OPERATION);

	if (err)
		return mt_fail(err);
	return UnmapViewOfFileEx(BaseAddress, UnmapFlags);
}

/* ---- flushing ---- */

BOOL WINAPI FlushViewOfFile(LPCVOID lpBaseAddress, SIZE_T dwNumberOfBytesToFlush)
{
	uintptr_t a = (uintptr_t)lpBaseAddress, start = mt_page_down(a), end = 0;
	struct mt_region *r;
	int e;

	mt_init();
	mt_vm_lock();
	r = mt_vm_find(a);
	if (r && r->rec.owner == MEMAPI_OWNER_SECTION) {
		end = dwNumberOfBytesToFlush && dwNumberOfBytesToFlush < mt_region_end(r) - a ?
		      mt_page_up(a + dwNumberOfBytesToFlush) : mt_region_end(r);
	}
	mt_vm_unlock();
	if (!end)
		return mt_fail(ERROR_INVALID_ADDRESS);
	/* Outside the lock: writing back may take a while. */
	if ((e = mt_os_sync((void *)start, end - start)))
		return mt_fail(e == ENOMEM ? ERROR_INVALID_ADDRESS : mt_error_from_errno(e));
	return TRUE;
}

/* ---- the MapViewOfFile family ---- */

static void *map_handle(HANDLE h, struct map_req *rq)
{
	void *p = NULL;
	DWORD err;

	mt_init();
	if (!rq->protect || !view_protect_valid(rq->protect))
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	if (rq->node != NUMA_NO_PREFERRED_NODE && rq->node >= mt_os_node_count())
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	if ((err = mt_section_ref(h, &rq->s, &rq->access)))
		return mt_fail_null(err);
	if (rq->node == NUMA_NO_PREFERRED_NODE)
		rq->node = rq->s->node;
	err = map_view(rq, &p);
	mt_section_put(rq->s);
	return err ? mt_fail_null(err) : p;
}

#define ACCESS_KNOWN (FILE_MAP_ALL_ACCESS | FILE_MAP_COPY | FILE_MAP_EXECUTE | FILE_MAP_RESERVE | \
                      FILE_MAP_TARGETS_INVALID | FILE_MAP_LARGE_PAGES)

LPVOID WINAPI MapViewOfFileExNuma(HANDLE hFileMappingObject, DWORD dwDesiredAccess,
                                  DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow,
                                  SIZE_T dwNumberOfBytesToMap, LPVOID lpBaseAddress,
                                  DWORD nndPreferred)
{
	struct map_req rq = {
		.offset = (uint64_t)dwFileOffsetHigh << 32 | dwFileOffsetLow,
		.size = dwNumberOfBytesToMap, .addr = (uintptr_t)lpBaseAddress,
		.protect = protect_from_access(dwDesiredAccess), .node = nndPreferred,
		.type = (dwDesiredAccess & FILE_MAP_RESERVE ? MEM_RESERVE : 0) |
		        (dwDesiredAccess & FILE_MAP_LARGE_PAGES ? MEM_LARGE_PAGES : 0),
		.targets_invalid = dwDesiredAccess & FILE_MAP_TARGETS_INVALID,
	};

	if (dwDesiredAccess & ~(DWORD)ACCESS_KNOWN)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	return map_handle(hFileMappingObject, &rq);
}

LPVOID WINAPI MapViewOfFileEx(HANDLE hFileMappingObject, DWORD dwDesiredAccess,
                              DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow,
                              SIZE_T dwNumberOfBytesToMap, LPVOID lpBaseAddress)
{
	return MapViewOfFileExNuma(hFileMappingObject, dwDesiredAccess, dwFileOffsetHigh,
	                           dwFileOffsetLow, dwNumberOfBytesToMap, lpBaseAddress,
	                           NUMA_NO_PREFERRED_NODE);
}

LPVOID WINAPI MapViewOfFile(HANDLE hFileMappingObject, DWORD dwDesiredAccess,
                            DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow,
                            SIZE_T dwNumberOfBytesToMap)
{
	return MapViewOfFileEx(hFileMappingObject, dwDesiredAccess, dwFileOffsetHigh,
	                       dwFileOffsetLow, dwNumberOfBytesToMap, NULL);
}

PVOID WINAPI MapViewOfFileFromApp(HANDLE hFileMappingObject, ULONG DesiredAccess,
                                  ULONG64 FileOffset, SIZE_T NumberOfBytesToMap)
{
	return MapViewOfFile(hFileMappingObject, DesiredAccess, (DWORD)(FileOffset >> 32),
	                     (DWORD)FileOffset, NumberOfBytesToMap);
}

#define TYPE_KNOWN (MEM_RESERVE | MEM_REPLACE_PLACEHOLDER | MEM_LARGE_PAGES)

static void *map3(HANDLE section, HANDLE process, struct map_req *rq)
{
	DWORD err = process ? mt_process_require_self(process, PROCESS_VM_OPERATION) : 0;

	if (err)
		return mt_fail_null(err);
	if (rq->type & ~(DWORD)TYPE_KNOWN)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	if ((rq->type & MEM_REPLACE_PLACEHOLDER) && !rq->addr)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	rq->targets_invalid = rq->protect & PAGE_TARGETS_INVALID;
	rq->protect &= ~(DWORD)PAGE_TARGETS_INVALID;
	return map_handle(section, rq);
}

PVOID WINAPI MapViewOfFileNuma2(HANDLE FileMappingHandle, HANDLE ProcessHandle, ULONG64 Offset,
                                PVOID BaseAddress, SIZE_T ViewSize, ULONG AllocationType,
                                ULONG PageProtection, ULONG PreferredNode)
{
	struct map_req rq = {
		.offset = Offset, .size = ViewSize, .addr = (uintptr_t)BaseAddress,
		.type = AllocationType, .protect = PageProtection, .node = PreferredNode,
	};

	return map3(FileMappingHandle, ProcessHandle, &rq);
}

/* MapViewOfFile3's extended parameters: address requirements (only with
 * no base address) and the NUMA node. */
static DWORD view_params(const MEM_EXTENDED_PARAMETER *p, ULONG n, struct map_req *rq)
{
	if (n && !p)
		return ERROR_INVALID_PARAMETER;
	for (ULONG i = 0; i < n; i++) {
		if (p[i].Type == MemExtendedParameterNumaNode) {
			rq->node = p[i].ULong;
		} else if (p[i].Type == MemExtendedParameterAddressRequirements && p[i].Pointer) {
			const MEM_ADDRESS_REQUIREMENTS *a = p[i].Pointer;

			/* Only the default placement can be honoured exactly. */
			if (rq->addr || a->LowestStartingAddress || a->HighestEndingAddress ||
			    (a->Alignment && a->Alignment != mt_os.granularity))
				return a->Alignment & (a->Alignment - 1) || rq->addr ?
				       ERROR_INVALID_PARAMETER : ERROR_NOT_SUPPORTED;
		} else {
			return ERROR_INVALID_PARAMETER;
		}
	}
	return 0;
}

PVOID WINAPI MapViewOfFile3(HANDLE FileMapping, HANDLE Process, PVOID BaseAddress,
                            ULONG64 Offset, SIZE_T ViewSize, ULONG AllocationType,
                            ULONG PageProtection, MEM_EXTENDED_PARAMETER *ExtendedParameters,
                            ULONG ParameterCount)
{
	struct map_req rq = {
		.offset = Offset, .size = ViewSize, .addr = (uintptr_t)BaseAddress,
		.type = AllocationType, .protect = PageProtection, .node = NUMA_NO_PREFERRED_NODE,
	};
	DWORD err = view_params(ExtendedParameters, ParameterCount, &rq);

	if (err)
		return mt_fail_null(err);
	return map3(FileMapping, Process, &rq);
}

PVOID WINAPI MapViewOfFile3FromApp(HANDLE FileMapping, HANDLE Process, PVOID BaseAddress,
                                   ULONG64 Offset, SIZE_T ViewSize, ULONG AllocationType,
                                   ULONG PageProtection,
                                   MEM_EXTENDED_PARAMETER *ExtendedParameters,
                                   ULONG ParameterCount)
{
	return MapViewOfFile3(FileMapping, Process, BaseAddress, Offset, ViewSize, AllocationType,
	                      PageProtection, ExtendedParameters, ParameterCount);
}
