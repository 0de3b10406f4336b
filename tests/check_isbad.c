/* IsBadReadPtr, IsBadWritePtr, IsBadCodePtr, IsBadStringPtrA/W: own memory
 * in every page state, memory the kernel describes (both map readers),
 * edges (NULL, zero sizes, wrap-around, the kernel's half), guard pages
 * left armed, strings that run into unreadable memory, pages changed by
 * another thread during a check, and a random model of a reservation. */
#include "testlib.h"
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define RW PAGE_READWRITE
#define RO PAGE_READONLY
#define P  TL_PAGE

static bool saved_procmap;

static void isbad_setup(void)
{
	tl_setup();
	saved_procmap = mt_os.has_procmap_query;
}

static void isbad_teardown(void)
{
	mt_os.has_procmap_query = saved_procmap;
	mt_os_read_self_via_mem = false;
	tl_teardown();
}

/* Loop tests over the two kernel map readers: _i == 1 parses the text. */
static void use_path(int text)
{
	if (text)
		mt_os.has_procmap_query = false;
}

static FARPROC code_at(const void *p)
{
	return (FARPROC)(uintptr_t)p;
}

/* None of the checks may set the last error, succeed or fail. */
#define ck_assert_quiet(expr, want) do { \
	SetLastError(4321); \
	ck_assert_int_eq(!!(expr), (want)); \
	ck_assert_last_error(4321); \
} while (0)

/* ---- edges ---- */

START_TEST(test_IsBadPtr__zero_sizes_are_not_bad)
{
	char *p = tl_reserve(TL_GRAN);      /* reserved: bad for any real size */

	ck_assert_quiet(IsBadReadPtr(NULL, 0), FALSE);
	ck_assert_quiet(IsBadWritePtr(NULL, 0), FALSE);
	ck_assert_quiet(IsBadReadPtr(p, 0), FALSE);
	ck_assert_quiet(IsBadWritePtr(p, 0), FALSE);
	ck_assert_quiet(IsBadStringPtrA(NULL, 0), FALSE);
	ck_assert_quiet(IsBadStringPtrW(NULL, 0), FALSE);
	ck_assert_quiet(IsBadStringPtrA(p, 0), FALSE);
	ck_assert_quiet(IsBadReadPtr((void *)UINTPTR_MAX, 0), FALSE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadPtr__null_is_bad)
{
	ck_assert_quiet(IsBadReadPtr(NULL, 1), TRUE);
	ck_assert_quiet(IsBadWritePtr(NULL, 1), TRUE);
	ck_assert_quiet(IsBadCodePtr(NULL), TRUE);
	ck_assert_quiet(IsBadStringPtrA(NULL, 1), TRUE);
	ck_assert_quiet(IsBadStringPtrW(NULL, (UINT_PTR)-1), TRUE);
	ck_assert_quiet(IsBadReadPtr((void *)16, 4), TRUE);     /* the NULL page */
}
END_TEST

START_TEST(test_IsBadPtr__wrap_around_is_bad)
{
	char *p = tl_commit_new(TL_GRAN, RW);

	ck_assert_quiet(IsBadReadPtr(p, (UINT_PTR)-1), TRUE);
	ck_assert_quiet(IsBadWritePtr(p, (UINT_PTR)-1), TRUE);
	ck_assert_quiet(IsBadReadPtr(p, (UINT_PTR)0 - (uintptr_t)p), TRUE);    /* to 2^64 - 1 */
	ck_assert_quiet(IsBadReadPtr(p, (UINT_PTR)1 - (uintptr_t)p + 1), TRUE); /* wraps to 1 */
	ck_assert_quiet(IsBadReadPtr((void *)(UINTPTR_MAX - 10), 100), TRUE);
	ck_assert_quiet(IsBadReadPtr(p, TL_GRAN), FALSE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadPtr__kernel_half_is_bad)
{
	ck_assert_quiet(IsBadReadPtr((void *)(uintptr_t)0xffff800000000000u, 1), TRUE);
	ck_assert_quiet(IsBadCodePtr(code_at((void *)(uintptr_t)0xffffffffff600000u)), TRUE);
	ck_assert_quiet(IsBadStringPtrA((LPCSTR)(uintptr_t)0xffffffffff600000u, 4), TRUE);
	ck_assert_quiet(IsBadReadPtr((void *)(uintptr_t)0x800000000000u, 1), TRUE);
}
END_TEST

/* ---- own memory in each state ---- */

START_TEST(test_IsBadReadPtr__committed_reserved_boundary)
{
	char *p = tl_reserve(TL_GRAN);

	tl_commit(p, 2 * P, RW);
	ck_assert_quiet(IsBadReadPtr(p, 2 * P), FALSE);
	ck_assert_quiet(IsBadReadPtr(p + 2 * P - 1, 1), FALSE);      /* last byte */
	ck_assert_quiet(IsBadReadPtr(p + 2 * P - 1, 2), TRUE);       /* one into reserved */
	ck_assert_quiet(IsBadReadPtr(p + 2 * P, 1), TRUE);
	ck_assert_quiet(IsBadWritePtr(p + P, P + 1), TRUE);
	ck_assert_quiet(IsBadReadPtr(p + 5 * P, 10), TRUE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadReadPtr__free_tail_and_released)
{
	char *p = tl_commit_new(P, RW);     /* one page of a 64 KiB unit */

	ck_assert_quiet(IsBadReadPtr(p, P), FALSE);
	ck_assert_quiet(IsBadReadPtr(p, P + 1), TRUE);
	ck_assert_quiet(IsBadReadPtr(p + 3 * P, 1), TRUE);
	tl_release(p);
	ck_assert_quiet(IsBadReadPtr(p, 1), TRUE);
	ck_assert_quiet(IsBadWritePtr(p, 1), TRUE);
	ck_assert_quiet(IsBadCodePtr(code_at(p)), TRUE);
}
END_TEST

START_TEST(test_IsBadPtr__protections)
{
	static const struct {
		DWORD protect;
		BOOL  read, write, code;
	} cases[] = {
		{ PAGE_NOACCESS,          TRUE,  TRUE,  TRUE },
		{ PAGE_READONLY,          FALSE, TRUE,  FALSE },
		{ PAGE_READWRITE,         FALSE, FALSE, FALSE },
		{ PAGE_EXECUTE,           TRUE,  TRUE,  FALSE },
		{ PAGE_EXECUTE_READ,      FALSE, TRUE,  FALSE },
		{ PAGE_EXECUTE_READWRITE, FALSE, FALSE, FALSE },
	};
	char *p = tl_commit_new(TL_GRAN, RW);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tl_protect(p + P, P, cases[i].protect);
		ck_assert_quiet(IsBadReadPtr(p + P, P), cases[i].read);
		ck_assert_quiet(IsBadWritePtr(p + P, P), cases[i].write);
		ck_assert_quiet(IsBadCodePtr(code_at(p + P + 17)), cases[i].code);
		ck_assert_quiet(IsBadReadPtr(p, 3 * P), cases[i].read);     /* spans it */
		ck_assert_quiet(IsBadWritePtr(p + P - 1, 2), cases[i].write);
		ck_assert_quiet(IsBadReadPtr(p, P), FALSE);                 /* neighbours */
		ck_assert_quiet(IsBadWritePtr(p + 2 * P, P), FALSE);
	}
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadCodePtr__readable_data_is_not_bad)
{
	/* Windows checks read access only; a call would still fault. */
	char *p = tl_commit_new(P, RW);

	ck_assert_quiet(IsBadCodePtr(code_at(p)), FALSE);
	tl_protect(p, P, RO);
	ck_assert_quiet(IsBadCodePtr(code_at(p + P - 1)), FALSE);
	tl_protect(p, P, PAGE_NOACCESS);
	ck_assert_quiet(IsBadCodePtr(code_at(p)), TRUE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadPtr__guard_page_bad_and_left_armed)
{
	char *p = tl_commit_new(TL_GRAN, RW);
	uint64_t hits = mt_guard_hits;

	tl_protect(p + P, P, RW | PAGE_GUARD);
	memcpy(p + P - 3, "abc", 3);        /* no NUL before the guard page */
	ck_assert_quiet(IsBadReadPtr(p + P, 1), TRUE);
	ck_assert_quiet(IsBadWritePtr(p + P + 100, 8), TRUE);
	ck_assert_quiet(IsBadCodePtr(code_at(p + P)), TRUE);
	ck_assert_quiet(IsBadReadPtr(p, 2 * P), TRUE);
	ck_assert_quiet(IsBadStringPtrA(p + P - 3, 100), TRUE);
	ck_assert_quiet(IsBadStringPtrA(p + P - 3, 3), FALSE);       /* stops before it */
	ck_assert_quiet(IsBadStringPtrW((LPCWSTR)(p + P - 2), 2), TRUE);
	ck_assert_uint_eq(tl_query(p + P).Protect, RW | PAGE_GUARD);
	ck_assert_uint_eq(mt_guard_hits, hits);
	/* Still armed: the first real access raises it. */
	tl_fault_begin(RW);
	tl_read(p + P);
	tl_fault_end();
	ck_assert_int_eq(tl_fault.count, 1);
	ck_assert_uint_eq(tl_fault.code, STATUS_GUARD_PAGE_VIOLATION);
	ck_assert_quiet(IsBadReadPtr(p + P, 1), FALSE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadWritePtr__writecopy_view_is_writable)
{
	HANDLE h = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, RW, 0, (DWORD)TL_GRAN, NULL);
	char *v = MapViewOfFile(h, FILE_MAP_COPY, 0, 0, 0);

	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(tl_query(v).Protect, PAGE_WRITECOPY);
	ck_assert_quiet(IsBadWritePtr(v, TL_GRAN), FALSE);
	ck_assert_quiet(IsBadReadPtr(v, TL_GRAN), FALSE);
	ck_assert_uint_eq(tl_query(v).Protect, PAGE_WRITECOPY);     /* nothing written */
	UnmapViewOfFile(v);
	v = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
	ck_assert_quiet(IsBadWritePtr(v, 1), TRUE);
	ck_assert_quiet(IsBadReadPtr(v, TL_GRAN), FALSE);
	UnmapViewOfFile(v);
	CloseHandle(h);
}
END_TEST

START_TEST(test_IsBadWritePtr__write_watch_sees_no_write)
{
	char *p = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, RW);
	PVOID hits[16];
	ULONG_PTR n = 16;
	DWORD gran;

	ck_assert_ptr_nonnull(p);
	ck_assert_quiet(IsBadWritePtr(p, TL_GRAN), FALSE);
	ck_assert_quiet(IsBadStringPtrA(p, 10), FALSE);
	ck_assert_uint_eq(GetWriteWatch(0, p, TL_GRAN, hits, &n, &gran), 0);
	ck_assert_uint_eq(n, 0);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadReadPtr__adjacent_allocations)
{
	char *a = (char *)tl_free_range(2 * TL_GRAN), *b;

	ck_assert_ptr_eq(VirtualAlloc(a, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW), a);
	b = VirtualAlloc(a + TL_GRAN, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RO);
	ck_assert_ptr_eq(b, a + TL_GRAN);
	ck_assert_quiet(IsBadReadPtr(a, 2 * TL_GRAN), FALSE);
	ck_assert_quiet(IsBadWritePtr(a, 2 * TL_GRAN), TRUE);
	ck_assert_quiet(IsBadWritePtr(a, TL_GRAN), FALSE);
	tl_release(a);
	tl_release(b);
}
END_TEST

START_TEST(test_IsBadReadPtr__huge_range_one_answer)
{
	SIZE_T size = (SIZE_T)1 << 30;      /* 1 GiB, never touched */
	char *p = tl_reserve(size + TL_GRAN);

	tl_commit(p, size, RW);
	ck_assert_quiet(IsBadReadPtr(p, size), FALSE);
	ck_assert_quiet(IsBadWritePtr(p, size), FALSE);
	ck_assert_quiet(IsBadReadPtr(p, size + 1), TRUE);
	tl_release(p);
}
END_TEST

/* ---- memory the library did not allocate ---- */

static const char rodata_text[] = "constant text";

START_TEST(test_IsBadPtr__foreign_memory)
{
	char stack[64] = "on the stack";
	char *heap = malloc(100);

	use_path(_i);
	ck_assert_ptr_nonnull(heap);
	ck_assert_quiet(IsBadReadPtr(stack, sizeof stack), FALSE);
	ck_assert_quiet(IsBadWritePtr(stack, sizeof stack), FALSE);
	ck_assert_quiet(IsBadReadPtr(heap, 100), FALSE);
	ck_assert_quiet(IsBadWritePtr(heap, 100), FALSE);
	ck_assert_quiet(IsBadReadPtr(rodata_text, sizeof rodata_text), FALSE);
	ck_assert_quiet(IsBadWritePtr((void *)rodata_text, 1), TRUE);
	ck_assert_quiet(IsBadCodePtr((FARPROC)(uintptr_t)tl_run), FALSE);
	ck_assert_quiet(IsBadCodePtr((FARPROC)(uintptr_t)getpid), FALSE);
	ck_assert_quiet(IsBadWritePtr((void *)(uintptr_t)tl_run, 1), TRUE);
	ck_assert_quiet(IsBadStringPtrA(stack, (UINT_PTR)-1), FALSE);
	ck_assert_quiet(IsBadStringPtrA(rodata_text, (UINT_PTR)-1), FALSE);
	free(heap);
}
END_TEST

START_TEST(test_IsBadPtr__foreign_mappings)
{
	char *m = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	use_path(_i);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_int_eq(mprotect(m + P, P, PROT_READ), 0);
	ck_assert_int_eq(mprotect(m + 2 * P, P, PROT_NONE), 0);
	ck_assert_int_eq(munmap(m + 3 * P, P), 0);
	ck_assert_quiet(IsBadWritePtr(m, P), FALSE);
	ck_assert_quiet(IsBadReadPtr(m, 2 * P), FALSE);
	ck_assert_quiet(IsBadWritePtr(m, 2 * P), TRUE);
	ck_assert_quiet(IsBadReadPtr(m + P, P + 1), TRUE);       /* into PROT_NONE */
	ck_assert_quiet(IsBadReadPtr(m + 3 * P, 1), TRUE);       /* unmapped */
	ck_assert_int_eq(mprotect(m + 2 * P, P, PROT_EXEC), 0);
	ck_assert_quiet(IsBadReadPtr(m + 2 * P, 1), TRUE);       /* execute-only */
	ck_assert_quiet(IsBadCodePtr(code_at(m + 2 * P)), FALSE);
	ck_assert_quiet(IsBadStringPtrA(m + 2 * P, 1), TRUE);
	munmap(m, 3 * P);
}
END_TEST

START_TEST(test_IsBadPtr__own_then_foreign)
{
	char *a = (char *)tl_free_range(3 * TL_GRAN), *m;     /* the third stays free */

	use_path(_i);
	ck_assert_ptr_eq(VirtualAlloc(a, TL_GRAN, MEM_RESERVE | MEM_COMMIT, RW), a);
	m = mmap(a + TL_GRAN, TL_GRAN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
	         -1, 0);
	ck_assert_ptr_eq(m, a + TL_GRAN);
	memcpy(a + TL_GRAN - 4, "abc", 3);          /* runs into the zeroes of m */
	ck_assert_quiet(IsBadReadPtr(a + TL_GRAN - 100, 200), FALSE);
	ck_assert_quiet(IsBadWritePtr(a + TL_GRAN - 100, 200), TRUE);
	ck_assert_quiet(IsBadWritePtr(a + TL_GRAN - 100, 100), FALSE);
	ck_assert_quiet(IsBadStringPtrA(a + TL_GRAN - 4, 1000), FALSE);
	ck_assert_quiet(IsBadReadPtr(a, 2 * TL_GRAN + 1), TRUE);
	munmap(m, TL_GRAN);
	tl_release(a);
}
END_TEST

/* The kept map reader names the parent after fork(): the child must see
 * its own map, where a mapping the parent still has is gone. */
START_TEST(test_IsBadReadPtr__fork_child_sees_its_own_map)
{
	char *m = mmap(NULL, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int st;

	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_quiet(IsBadReadPtr(m, P), FALSE);         /* the reader is kept now */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		munmap(m, P);
		_exit(IsBadReadPtr(m, 1) && IsBadStringPtrA(m, 1) ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	ck_assert_quiet(IsBadReadPtr(m, P), FALSE);
	munmap(m, P);
}
END_TEST

/* Threads asking at once: one uses the kept reader, the others their own. */
struct asker {
	char *none;                 /* PROT_NONE */
	int   rounds, wrong;
};

static void *ask(void *arg)
{
	struct asker *a = arg;
	char local[32] = "thread stack";
	char *heap = malloc(64);

	for (int i = 0; i < a->rounds; i++) {
		a->wrong += IsBadReadPtr(local, sizeof local) != FALSE;
		a->wrong += IsBadWritePtr(heap, 64) != FALSE;
		a->wrong += IsBadStringPtrA(local, (UINT_PTR)-1) != FALSE;
		a->wrong += IsBadReadPtr(a->none, 1) != TRUE;
	}
	free(heap);
	return NULL;
}

START_TEST(test_IsBadPtr__threads_share_the_map_reader)
{
	struct asker a[4];
	pthread_t t[4];
	char *none = mmap(NULL, P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	use_path(_i);
	ck_assert_ptr_ne(none, MAP_FAILED);
	for (int i = 0; i < 4; i++) {
		/* The text path parses the whole map per call: fewer rounds. */
		a[i] = (struct asker){ none, tl_valgrind() ? 20 : _i ? 100 : 2000, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, ask, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].wrong, 0);
	}
	munmap(none, P);
}
END_TEST

/* ---- strings ---- */

/* A committed page p + P followed by a reserved one, filled with c. */
static char *string_page(char c)
{
	char *p = tl_reserve(TL_GRAN);

	tl_commit(p, 2 * P, RW);
	memset(p, c, 2 * P);
	return p;
}

START_TEST(test_IsBadStringPtrA__stops_at_nul_or_max)
{
	char *p = string_page('x');
	char *last = p + 2 * P - 1;

	ck_assert_quiet(IsBadStringPtrA(p, (UINT_PTR)-1), TRUE);     /* runs into reserved */
	ck_assert_quiet(IsBadStringPtrA(p, 2 * P), FALSE);           /* max ends at the edge */
	ck_assert_quiet(IsBadStringPtrA(p, 2 * P + 1), TRUE);
	ck_assert_quiet(IsBadStringPtrA(last, 1), FALSE);
	ck_assert_quiet(IsBadStringPtrA(last, 2), TRUE);
	*last = 0;
	ck_assert_quiet(IsBadStringPtrA(p, (UINT_PTR)-1), FALSE);    /* NUL in the last byte */
	ck_assert_quiet(IsBadStringPtrA(last, (UINT_PTR)-1), FALSE); /* the empty string */
	p[10] = 0;
	ck_assert_quiet(IsBadStringPtrA(p, (UINT_PTR)-1), FALSE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadStringPtrW__units_and_boundaries)
{
	char *p = string_page(0);
	WCHAR *w = (WCHAR *)p, *end = (WCHAR *)(p + 2 * P);

	for (WCHAR *q = w; q < end; q++)
		*q = 0x0100;                    /* a zero byte, never a NUL unit */
	ck_assert_quiet(IsBadStringPtrW(w, (UINT_PTR)-1), TRUE);
	ck_assert_quiet(IsBadStringPtrW(w, P), FALSE);                  /* 2 * P bytes */
	ck_assert_quiet(IsBadStringPtrW(w, P + 1), TRUE);
	ck_assert_quiet(IsBadStringPtrA(p + 1, (UINT_PTR)-1), FALSE);   /* bytes: 01 00 */
	end[-1] = 0;
	ck_assert_quiet(IsBadStringPtrW(w, (UINT_PTR)-1), FALSE);
	/* Odd address: the last unit straddles into the reserved page. */
	ck_assert_quiet(IsBadStringPtrW((LPCWSTR)(p + 1), (UINT_PTR)-1), TRUE);
	ck_assert_quiet(IsBadStringPtrW((LPCWSTR)(p + 2 * P - 1), 1), TRUE);
	p[2 * P - 3] = 0;                   /* odd unit at 2P-3 = 00 00 */
	ck_assert_quiet(IsBadStringPtrW((LPCWSTR)(p + 1), (UINT_PTR)-1), FALSE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadStringPtrW__unit_across_committed_pages)
{
	char *p = tl_commit_new(2 * P, RW);

	memset(p, 'y', 2 * P);
	p[P - 1] = 0;                       /* low byte of a unit at P - 1 */
	p[P] = 0;                           /* its high byte, on the next page */
	ck_assert_quiet(IsBadStringPtrW((LPCWSTR)(p + 1), (UINT_PTR)-1), FALSE);
	ck_assert_quiet(IsBadStringPtrW((LPCWSTR)p, (UINT_PTR)-1), TRUE);    /* even: no NUL */
	tl_protect(p + P, P, PAGE_NOACCESS);
	ck_assert_quiet(IsBadStringPtrW((LPCWSTR)(p + 1), (UINT_PTR)-1), TRUE);
	ck_assert_quiet(IsBadStringPtrW((LPCWSTR)(p + 1), (P - 2) / 2), FALSE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadStringPtr__page_states)
{
	char *p = tl_commit_new(TL_GRAN, RW);

	strcpy(p, "text");
	tl_protect(p, P, RO);
	ck_assert_quiet(IsBadStringPtrA(p, 100), FALSE);
	tl_protect(p, P, PAGE_NOACCESS);
	ck_assert_quiet(IsBadStringPtrA(p, 100), TRUE);
	tl_protect(p, P, PAGE_EXECUTE);
	ck_assert_quiet(IsBadStringPtrA(p, 100), TRUE);
	tl_protect(p, P, PAGE_EXECUTE_READ);
	ck_assert_quiet(IsBadStringPtrA(p, 100), FALSE);
	ck_assert(VirtualFree(p, P, MEM_DECOMMIT));
	ck_assert_quiet(IsBadStringPtrA(p, 100), TRUE);
	tl_release(p);
}
END_TEST

START_TEST(test_IsBadStringPtr__proc_mem_path)
{
	char *p = string_page('z');

	mt_os_read_self_via_mem = true;
	ck_assert_quiet(IsBadStringPtrA(p, (UINT_PTR)-1), TRUE);
	ck_assert_quiet(IsBadStringPtrA(p, 2 * P), FALSE);
	p[P + 5] = 0;
	ck_assert_quiet(IsBadStringPtrA(p, (UINT_PTR)-1), FALSE);
	tl_protect(p, P, PAGE_NOACCESS);    /* readable by that path: checked first */
	ck_assert_quiet(IsBadStringPtrA(p, (UINT_PTR)-1), TRUE);
	mt_os_read_self_via_mem = false;
	tl_release(p);
}
END_TEST

/* ---- another thread changes the pages during the checks ---- */

struct flipper {
	char        *p;
	size_t       pages;
	bool         foreign;       /* mprotect instead of the Win32 calls */
	atomic_bool  stop;
	atomic_uint  flips;
	bool         pause;
};

static void *flip(void *arg)
{
	struct flipper *f = arg;
	DWORD old;

	while (!atomic_load(&f->stop)) {
		unsigned n = atomic_load(&f->flips);
		char *page = f->p + n % f->pages * P;

		if (f->foreign) {
			mprotect(page, P, PROT_NONE);
			mprotect(page, P, PROT_READ | PROT_WRITE);
		} else if (n % 3 == 0) {
			VirtualFree(page, P, MEM_DECOMMIT);
			VirtualAlloc(page, P, MEM_COMMIT, RW);
			memset(page, 'q', P);
		} else {
			VirtualProtect(page, P, PAGE_NOACCESS, &old);
			VirtualProtect(page, P, n % 3 == 1 ? RW : RW | PAGE_GUARD, &old);
			VirtualProtect(page, P, RW, &old);
		}
		atomic_store(&f->flips, n + 1);
		/* valgrind's thread lock favours a thread that takes it back
		 * at once: without a pause the checking thread starves. */
		if (f->pause)
			usleep(100);
	}
	return NULL;
}

static void race(bool foreign)
{
	struct flipper f = { .pages = 16, .foreign = foreign, .pause = tl_valgrind() };
	int rounds = tl_valgrind() ? 200 : 5000;
	size_t size = f.pages * P;
	pthread_t t;

	f.p = foreign ? mmap(NULL, size + P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	                     -1, 0)
	              : tl_commit_new(size + P, RW);
	ck_assert_ptr_ne(f.p, MAP_FAILED);
	memset(f.p, 'q', size);
	f.p[size] = 0;
	atomic_init(&f.stop, false);
	atomic_init(&f.flips, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, flip, &f), 0);
	/* Either answer may come; what matters is that no check faults. */
	for (int i = 0; i < rounds || atomic_load(&f.flips) < 2; i++) {
		IsBadStringPtrA(f.p, (UINT_PTR)-1);
		IsBadReadPtr(f.p, size);
		IsBadWritePtr(f.p + (size_t)i % size, P);
	}
	atomic_store(&f.stop, true);
	pthread_join(t, NULL);
	if (foreign)
		munmap(f.p, size + P);
	else
		tl_release(f.p);
}

START_TEST(test_IsBadPtr__pages_changing_meanwhile_never_fault)
{
	race(_i == 1);
}
END_TEST

/* ---- a random model of one reservation ---- */

#define MODEL_PAGES 64              /* the last one always stays reserved */

struct model {
	char    *base;
	bool     committed[MODEL_PAGES];
	DWORD    protect[MODEL_PAGES];
	uint8_t *bytes;                 /* what committed pages hold */
	uint64_t seed;
};

static uint64_t rnd(struct model *m)
{
	uint64_t z = (m->seed += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t below(struct model *m, size_t n)
{
	return (size_t)(rnd(m) % n);
}

static const DWORD protections[] = {
	PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_EXECUTE, PAGE_EXECUTE_READ,
	PAGE_EXECUTE_READWRITE, PAGE_READWRITE | PAGE_GUARD, PAGE_READONLY | PAGE_GUARD,
};

static int page_access(const struct model *m, size_t pg)
{
	if (pg >= MODEL_PAGES || !m->committed[pg] || (m->protect[pg] & PAGE_GUARD))
		return 0;
	return mt_prot_from_win(m->protect[pg]);
}

static void put(struct model *m, size_t at, uint8_t v)
{
	m->base[at] = (char)v;
	m->bytes[at] = v;
}

/* Text with few NULs, so that strings often run on into the next pages;
 * sometimes a NUL unit for the wide check, at either alignment. */
static void fill_page(struct model *m, size_t pg)
{
	for (size_t b = 0; b < P; b += 8) {
		uint64_t r = rnd(m);

		for (size_t k = 0; k < 8; k++)
			put(m, pg * P + b + k, (uint8_t)('a' + (r >> (8 * k) & 15)));
	}
	for (size_t z = below(m, 3); z; z--)
		put(m, pg * P + below(m, P), 0);
	if (!below(m, 3)) {
		size_t at = pg * P + below(m, P - 1);

		put(m, at, 0);
		put(m, at + 1, 0);
	}
}

static void model_step(struct model *m)
{
	size_t first = below(m, MODEL_PAGES - 1), count = 1 + below(m, MODEL_PAGES - 1 - first);
	char *a = m->base + first * P;
	DWORD prot = protections[below(m, sizeof protections / sizeof protections[0])], old;
	bool all = true;

	switch (below(m, 4)) {
	case 0:
		ck_assert_ptr_eq(VirtualAlloc(a, count * P, MEM_COMMIT, prot), a);
		for (size_t i = first; i < first + count; i++) {
			if (!m->committed[i])
				memset(m->bytes + i * P, 0, P);
			m->committed[i] = true;
			m->protect[i] = prot;
		}
		break;
	case 1:
		for (size_t i = first; i < first + count; i++)
			all &= m->committed[i];
		ck_assert_int_eq(!!VirtualProtect(a, count * P, prot, &old), all);
		for (size_t i = first; all && i < first + count; i++)
			m->protect[i] = prot;
		break;
	case 2:
		ck_assert(VirtualFree(a, count * P, MEM_DECOMMIT));
		for (size_t i = first; i < first + count; i++)
			m->committed[i] = false;
		break;
	default:
		for (size_t i = first; i < first + count; i++)
			if (page_access(m, i) & PROT_WRITE)
				fill_page(m, i);
		break;
	}
}

static BOOL expect_range(const struct model *m, size_t off, size_t len, int need)
{
	for (size_t pg = off / P; len && pg <= (off + len - 1) / P; pg++)
		if ((page_access(m, pg) & need) != need)
			return TRUE;
	return FALSE;
}

/* max is small or unlimited: the reserved last page ends every string. */
static BOOL expect_string(const struct model *m, size_t off, size_t unit, UINT_PTR max)
{
	for (UINT_PTR c = 0; c < max; c++) {
		size_t at = off + c * unit;

		for (size_t k = 0; k < unit; k++)
			if (!(page_access(m, (at + k) / P) & PROT_READ))
				return TRUE;
		if (!m->bytes[at] && (unit == 1 || !m->bytes[at + 1]))
			return FALSE;
	}
	return FALSE;
}

static void model_check(struct model *m)
{
	size_t span = MODEL_PAGES * P;

	for (int q = 0; q < 6; q++) {
		size_t off = below(m, span), len = below(m, 4) ? 1 + below(m, 3 * P)
		                                               : 1 + below(m, span - off);
		UINT_PTR max = below(m, 3) ? (UINT_PTR)-1 : 1 + below(m, 2 * P);
		const char *at = m->base + off;

		if (len > span - off)
			len = span - off;
		ck_assert_int_eq(!!IsBadReadPtr(at, len), expect_range(m, off, len, PROT_READ));
		ck_assert_int_eq(!!IsBadWritePtr((void *)at, len),
		                 expect_range(m, off, len, PROT_WRITE));
		ck_assert_int_eq(!!IsBadCodePtr(code_at(at)), !page_access(m, off / P));
		ck_assert_int_eq(!!IsBadStringPtrA(at, max), expect_string(m, off, 1, max));
		ck_assert_int_eq(!!IsBadStringPtrW((LPCWSTR)at, max),
		                 expect_string(m, off, 2, max));
	}
}

START_TEST(test_IsBadPtr__random_model)
{
	static const uint64_t seeds[] = { 1, 42, 0x5eed, 20261124 };
	struct model m = { .seed = seeds[_i % 4] };
	int steps = tl_valgrind() ? 150 : 2500;

	mt_os_read_self_via_mem = _i >= 4;  /* the last runs read through /proc/self/mem */
	m.base = tl_reserve(MODEL_PAGES * P);
	m.bytes = calloc(MODEL_PAGES, P);
	ck_assert_ptr_nonnull(m.bytes);
	for (int s = 0; s < steps; s++) {
		model_step(&m);
		model_check(&m);
	}
	tl_release(m.base);
	free(m.bytes);
}
END_TEST

static Suite *make_isbad_suite(void)
{
	Suite *s = suite_create("isbad");
	TCase *tc;

	tc = tcase_create("edges");
	tcase_add_checked_fixture(tc, isbad_setup, isbad_teardown);
	tcase_add_test(tc, test_IsBadPtr__zero_sizes_are_not_bad);
	tcase_add_test(tc, test_IsBadPtr__null_is_bad);
	tcase_add_test(tc, test_IsBadPtr__wrap_around_is_bad);
	tcase_add_test(tc, test_IsBadPtr__kernel_half_is_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("own");
	tcase_add_checked_fixture(tc, isbad_setup, isbad_teardown);
	tcase_add_test(tc, test_IsBadReadPtr__committed_reserved_boundary);
	tcase_add_test(tc, test_IsBadReadPtr__free_tail_and_released);
	tcase_add_test(tc, test_IsBadPtr__protections);
	tcase_add_test(tc, test_IsBadCodePtr__readable_data_is_not_bad);
	tcase_add_test(tc, test_IsBadPtr__guard_page_bad_and_left_armed);
	tcase_add_test(tc, test_IsBadWritePtr__writecopy_view_is_writable);
	tcase_add_test(tc, test_IsBadWritePtr__write_watch_sees_no_write);
	tcase_add_test(tc, test_IsBadReadPtr__adjacent_allocations);
	tcase_add_test(tc, test_IsBadReadPtr__huge_range_one_answer);
	suite_add_tcase(s, tc);

	tc = tcase_create("foreign");
	tcase_add_checked_fixture(tc, isbad_setup, isbad_teardown);
	tcase_add_loop_test(tc, test_IsBadPtr__foreign_memory, 0, 2);
	tcase_add_loop_test(tc, test_IsBadPtr__foreign_mappings, 0, 2);
	tcase_add_loop_test(tc, test_IsBadPtr__own_then_foreign, 0, 2);
	tcase_add_test(tc, test_IsBadReadPtr__fork_child_sees_its_own_map);
	tcase_add_loop_test(tc, test_IsBadPtr__threads_share_the_map_reader, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("strings");
	tcase_add_checked_fixture(tc, isbad_setup, isbad_teardown);
	tcase_add_test(tc, test_IsBadStringPtrA__stops_at_nul_or_max);
	tcase_add_test(tc, test_IsBadStringPtrW__units_and_boundaries);
	tcase_add_test(tc, test_IsBadStringPtrW__unit_across_committed_pages);
	tcase_add_test(tc, test_IsBadStringPtr__page_states);
	tcase_add_test(tc, test_IsBadStringPtr__proc_mem_path);
	suite_add_tcase(s, tc);

	tc = tcase_create("race");
	tcase_add_checked_fixture(tc, isbad_setup, isbad_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_IsBadPtr__pages_changing_meanwhile_never_fault, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_add_checked_fixture(tc, isbad_setup, isbad_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_IsBadPtr__random_model, 0, 6);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_isbad_suite)
