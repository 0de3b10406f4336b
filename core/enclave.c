/* Enclaves: IsEnclaveTypeSupported, CreateEnclave, LoadEnclaveData,
 * InitializeEnclave, DeleteEnclave.
 *
 * ENCLAVE_TYPE_SGX and SGX2 need the SGX driver (/dev/sgx_enclave); where
 * it is missing they are not supported. ENCLAVE_TYPE_VBS and VBS_BASIC,
 * whose Windows form isolates the enclave from the rest of the system by
 * virtualisation, are software enclaves here: the enclave's pages are a
 * memfd_secret file, which the kernel removes from its direct map, so no
 * other process (process_vm_readv, /proc/PID/mem, ptrace, even as root)
 * and no kernel path that goes through the direct map can read them; the
 * process itself reads them through its own mapping. Executable pages
 * cannot be secret (the kernel maps secret memory noexec): they are
 * ordinary memory. CreateEnclave
 * reserves the range, LoadEnclaveData copies pages in with their
 * protections, InitializeEnclave seals it (no more loads, no more
 * protection changes), DeleteEnclave releases it.
 *
 * Lock order: the enclave lock, then vm. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct mt_enclave {
	struct memapi_rec_enclave rec;      /* first: the forensic record */
	int                fd;              /* the memfd_secret file       */
	uint8_t           *loaded;          /* 1 bit per page              */
	struct mt_enclave *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct mt_enclave *enclaves;

static void publish(void)
{
	memapi_root.enclaves = enclaves ? &enclaves->rec : NULL;
}

static bool is_vbs(DWORD type)
{
	return type == ENCLAVE_TYPE_VBS || type == ENCLAVE_TYPE_VBS_BASIC;
}

static bool secret_memory_works(void)
{
	static int works = -1;
	int fd;

	if (works < 0) {
		works = mt_os_memfd_secret(0, &fd) == 0;
		if (works)
			mt_os_close(fd);
	}
	return works;
}

BOOL WINAPI IsEnclaveTypeSupported(DWORD flEnclaveType)
{
	mt_init();
	if (is_vbs(flEnclaveType) && secret_memory_works())
		return TRUE;
	/* SGX: without the driver there is nothing to run an enclave on, and
	 * its path (the driver's ioctls) is not built: no machine to test it. */
	return mt_fail(ERROR_NOT_SUPPORTED);
}

/* The enclave holding addr (its base with base_only), or NULL. Lock held. */
static struct mt_enclave *find(uintptr_t addr, bool base_only)
{
	for (struct mt_enclave *e = enclaves; e; e = e->next)
		if (base_only ? addr == e->rec.base
		              : addr >= e->rec.base && addr < e->rec.base + e->rec.size)
			return e;
	return NULL;
}

static void set_error(LPDWORD out, DWORD err)
{
	if (out)
		*out = err;
}

/* The enclave error code reported with a failure is the same Windows code
 * (these enclaves have no architecture codes of their own). */
static BOOL fail(LPDWORD enclave_error, DWORD err)
{
	set_error(enclave_error, err);
	return mt_fail(err);
}

static DWORD check_create(DWORD type, SIZE_T size, LPCVOID info, DWORD len)
{
	const ENCLAVE_CREATE_INFO_VBS *vbs = info;

	if (type == ENCLAVE_TYPE_SGX || type == ENCLAVE_TYPE_SGX2)
		return ERROR_NOT_SUPPORTED;
	if (!is_vbs(type) || !size)
		return ERROR_INVALID_PARAMETER;
	if (!info || len != sizeof *vbs || (vbs->Flags & ~(DWORD)ENCLAVE_VBS_FLAG_DEBUG))
		return ERROR_INVALID_PARAMETER;
	return secret_memory_works() ? 0 : ERROR_NOT_SUPPORTED;
}

static void link_enclave(struct mt_enclave *e)
{
	mt_vm_lock();
	mt_vm_change_begin();
	e->next = enclaves;
	e->rec.next = enclaves ? &enclaves->rec : NULL;
	enclaves = e;
	publish();
	mt_vm_change_end();
	mt_vm_unlock();
}

static DWORD make(struct mt_enclave *e, void *addr, size_t size, DWORD type)
{
	void *base;
	DWORD err;
	int x;

	if ((x = mt_os_memfd_secret(size, &e->fd)))
		return x == ENOMEM ? ERROR_NOT_ENOUGH_MEMORY : ERROR_NOT_SUPPORTED;
	if (!(e->loaded = calloc((mt_pages(size) + 7) / 8, 1)))
		return ERROR_NOT_ENOUGH_MEMORY;
	err = mt_vm_alloc_owned(e, MEMAPI_OWNER_ENCLAVE, addr, size, MEM_RESERVE, PAGE_NOACCESS,
	                        &base);
	if (err)
		return err;
	e->rec.magic = MEMAPI_ENCLAVE_MAGIC;
	e->rec.layout = MEMAPI_ENCLAVE_LAYOUT;
	e->rec.type = type;
	e->rec.base = (uintptr_t)base;
	e->rec.size = mt_page_up(size);
	return 0;
}

static void enclave_free(struct mt_enclave *e)
{
	if (e->fd >= 0)
		mt_os_close(e->fd);
	free(e->loaded);
	free(e);
}

LPVOID WINAPI CreateEnclave(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize,
                            SIZE_T dwInitialCommitment, DWORD flEnclaveType,
                            LPCVOID lpEnclaveInformation, DWORD dwInfoLength,
                            LPDWORD lpEnclaveError)
{
	struct mt_enclave *e;
	DWORD err;

	(void)dwInitialCommitment;          /* SGX only, as on Windows */
	mt_init();
	if ((err = mt_process_require_self(hProcess, PROCESS_VM_OPERATION)) ||
	    (err = check_create(flEnclaveType, dwSize, lpEnclaveInformation, dwInfoLength)))
		return fail(lpEnclaveError, err), NULL;
	if (!(e = calloc(1, sizeof *e)))
		return fail(lpEnclaveError, ERROR_NOT_ENOUGH_MEMORY), NULL;
	e->fd = -1;
	pthread_mutex_lock(&lock);
	if (!(err = make(e, lpAddress, dwSize, flEnclaveType)))
		link_enclave(e);
	pthread_mutex_unlock(&lock);
	if (err) {
		enclave_free(e);
		return fail(lpEnclaveError, err), NULL;
	}
	set_error(lpEnclaveError, 0);
	return (LPVOID)(uintptr_t)e->rec.base;
}

/* ---- loading ---- */

struct load_req {
	uintptr_t   addr;
	size_t      size;
	DWORD       protect;
	const void *src;
	bool        zero;              /* VBS_BASIC_PAGE_ZERO_FILL: no data */
};

static bool load_protect_valid(DWORD p)
{
	switch (p) {
	case PAGE_READONLY: case PAGE_READWRITE: case PAGE_EXECUTE:
	case PAGE_EXECUTE_READ: case PAGE_EXECUTE_READWRITE:
		return true;
	default:
		return false;
	}
}

/* The page type of a VBS_BASIC load decides whether there is data. */
static DWORD check_load(const struct mt_enclave *e, struct load_req *rq, LPCVOID info,
                        DWORD len)
{
	size_t first = mt_pages(rq->addr - e->rec.base);

	if (e->rec.initialized)
		return ERROR_INVALID_STATE;         /* sealed */
	if (rq->addr % mt_os.page_size || !rq->size || rq->size % mt_os.page_size ||
	    rq->size > e->rec.base + e->rec.size - rq->addr || !load_protect_valid(rq->protect))
		return ERROR_INVALID_PARAMETER;
	if (e->rec.type == ENCLAVE_TYPE_VBS_BASIC) {
		const ENCLAVE_LOAD_DATA_VBS_BASIC *d = info;

		if (!d || len != sizeof *d || d->PageType < VBS_BASIC_PAGE_MEASURED_DATA ||
		    d->PageType > VBS_BASIC_PAGE_SYSTEM_CALL)
			return ERROR_INVALID_PARAMETER;
		rq->zero = d->PageType == VBS_BASIC_PAGE_ZERO_FILL;
	} else if (info || len) {
		return ERROR_INVALID_PARAMETER;
	}
	for (size_t i = 0; i < mt_pages(rq->size); i++)
		if (mt_bit(e->loaded, first + i))
			return ERROR_INVALID_ADDRESS;   /* loaded already */
	if (!rq->zero && !rq->src)
		return ERROR_NOACCESS;              /* data pages need their data */
	if (e->rec.loaded + rq->size > mt_os_memlock_limit())
		return ERROR_WORKING_SET_QUOTA;     /* secret pages are locked pages */
	return 0;
}

/* Commits the range, puts the secret file's pages there, copies the data
 * in and gives the pages their protection. Enclave lock held. */
static DWORD load(struct mt_enclave *e, const struct load_req *rq)
{
	void *p = (void *)rq->addr, *out;
	DWORD err, old;
	int x;

	if ((err = mt_vm_alloc_owned(e, MEMAPI_OWNER_ENCLAVE, p, rq->size, MEM_COMMIT,
	                             PAGE_READWRITE, &out)))
		return err;
	/* The kernel never executes secret memory (its file system is
	 * noexec): code pages stay ordinary committed memory, readable by
	 * others like the code of any process; the data is secret. */
	x = mt_prot_from_win(rq->protect) & PROT_EXEC ? 0 :
	    mt_os_map_file(&p, rq->size, rq->size, PROT_READ | PROT_WRITE, true, e->fd,
	                   rq->addr - e->rec.base, MT_MAP_REPLACE);
	if (!x) {
		if (rq->zero)
			memset(p, 0, rq->size);
		else
			memcpy(p, rq->src, rq->size);
		err = mt_vm_protect(rq->addr, rq->size, rq->protect, &old);
	}
	if (x || err) {
		mt_vm_free_owned(e, p, rq->size, MEM_DECOMMIT);
		return x ? mt_error_from_errno(x) : err;
	}
	mt_vm_lock();
	mt_vm_change_begin();
	for (size_t i = 0; i < mt_pages(rq->size); i++)
		mt_bit_put(e->loaded, mt_pages(rq->addr - e->rec.base) + i, true);
	e->rec.loaded += rq->size;
	mt_vm_change_end();
	mt_vm_unlock();
	return 0;
}

BOOL WINAPI LoadEnclaveData(HANDLE hProcess, LPVOID lpAddress, LPCVOID lpBuffer, SIZE_T nSize,
                            DWORD flProtect, LPCVOID lpPageInformation, DWORD dwInfoLength,
                            PSIZE_T lpNumberOfBytesWritten, LPDWORD lpEnclaveError)
{
	struct load_req rq = { (uintptr_t)lpAddress, nSize, flProtect, lpBuffer, false };
	struct mt_enclave *e;
	DWORD err;

	mt_init();
	if (lpNumberOfBytesWritten)
		*lpNumberOfBytesWritten = 0;
	if ((err = mt_process_require_self(hProcess, PROCESS_VM_OPERATION)))
		return fail(lpEnclaveError, err);
	pthread_mutex_lock(&lock);
	e = find(rq.addr, false);
	err = e ? check_load(e, &rq, lpPageInformation, dwInfoLength) : ERROR_INVALID_ADDRESS;
	if (!err)
		err = load(e, &rq);
	pthread_mutex_unlock(&lock);
	if (err)
		return fail(lpEnclaveError, err);
	if (lpNumberOfBytesWritten)
		*lpNumberOfBytesWritten = nSize;
	set_error(lpEnclaveError, 0);
	return TRUE;
}

/* ---- sealing and deleting ---- */

BOOL WINAPI InitializeEnclave(HANDLE hProcess, LPVOID lpAddress, LPCVOID lpEnclaveInformation,
                              DWORD dwInfoLength, LPDWORD lpEnclaveError)
{
	const ENCLAVE_INIT_INFO_VBS *info = lpEnclaveInformation;
	struct mt_enclave *e;
	DWORD err = mt_process_require_self(hProcess, PROCESS_VM_OPERATION);

	mt_init();
	if (err)
		return fail(lpEnclaveError, err);
	if (!info || dwInfoLength != sizeof *info || info->Length != sizeof *info)
		return fail(lpEnclaveError, ERROR_INVALID_PARAMETER);
	pthread_mutex_lock(&lock);
	e = find((uintptr_t)lpAddress, true);
	err = !e ? ERROR_INVALID_ADDRESS : e->rec.initialized ? ERROR_INVALID_STATE : 0;
	if (!err) {
		mt_vm_lock();
		mt_vm_change_begin();
		e->rec.initialized = 1;
		mt_vm_change_end();
		mt_vm_unlock();
	}
	pthread_mutex_unlock(&lock);
	if (err)
		return fail(lpEnclaveError, err);
	set_error(lpEnclaveError, 0);
	return TRUE;
}

static void unlink_enclave(struct mt_enclave *e)
{
	struct mt_enclave *prev = NULL, *q;

	mt_vm_lock();
	mt_vm_change_begin();
	for (q = enclaves; q && q != e; q = q->next)
		prev = q;
	if (q && prev) {
		prev->next = e->next;
		prev->rec.next = e->rec.next;
	} else if (q) {
		enclaves = e->next;
	}
	publish();
	mt_vm_change_end();
	mt_vm_unlock();
}

BOOL WINAPI DeleteEnclave(LPVOID lpAddress)
{
	struct mt_enclave *e;
	DWORD err = 0;

	mt_init();
	pthread_mutex_lock(&lock);
	if ((e = find((uintptr_t)lpAddress, true))) {
		err = mt_vm_free_owned(e, lpAddress, 0, MEM_RELEASE);
		if (!err)
			unlink_enclave(e);
	}
	pthread_mutex_unlock(&lock);
	if (!e)
		return mt_fail(ERROR_INVALID_ADDRESS);
	if (err)
		return mt_fail(err);
	enclave_free(e);
	return TRUE;
}

/* VirtualProtect inside an enclave: allowed while it is being loaded, not
 * once it is sealed. vm lock held (the flag changes under it). */
DWORD mt_enclave_protect_ok(const struct mt_region *r)
{
	const struct mt_enclave *e = r->owner_obj;

	return e && e->rec.initialized ? ERROR_INVALID_ADDRESS : 0;
}

void mt_enclave_atfork(enum mt_fork_phase phase)
{
	mt_mutex_atfork(&lock, phase);
}
