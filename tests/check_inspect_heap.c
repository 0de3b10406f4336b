/* libmeminspect's heap walker (mi_heap_walk) on this process, checked
 * against HeapWalk and a reference model of the heap's live blocks. */
#include "testlib.h"
#include "inspect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct blocks {
	struct mi_heap_block *v;
	size_t                n, cap;
	struct mi_heap_problem problems[16];
	size_t                nproblems;
	int                   stop_after;   /* > 0: return -7 at that block      */
};

static int collect(const struct mi_heap_block *b, void *ctx)
{
	struct blocks *c = ctx;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		ck_assert_ptr_nonnull(c->v);
	}
	c->v[c->n++] = *b;
	return c->stop_after && (int)c->n == c->stop_after ? -7 : 0;
}

static int note_problem(const struct mi_heap_problem *p, void *ctx)
{
	struct blocks *c = ctx;

	if (c->nproblems < 16)
		c->problems[c->nproblems++] = *p;
	return 0;
}

static const struct mi_heap_visitor visitor = { collect, note_problem };

static struct mi_target *self(void)
{
	struct mi_target *t;
	struct mi_err e;

	ck_assert_int_eq(mi_open_self(&t, &e), 0);
	return t;
}

static void walk(HANDLE h, struct blocks *c, struct mi_heap_info *info)
{
	struct mi_target *t = self();
	struct mi_err e;

	ck_assert_int_eq(mi_heap_walk(t, (uint64_t)(uintptr_t)h, &visitor, c, info, &e), 0);
	mi_close(t);
}

/* Every HeapWalk block entry, in order, equals the walker's. */
static void compare_with_heapwalk(HANDLE h)
{
	PROCESS_HEAP_ENTRY e = { 0 };
	struct blocks c = { 0 };
	struct mi_heap_info info;
	size_t i = 0, busy = 0;

	HeapLock(h);
	walk(h, &c, &info);
	while (HeapWalk(h, &e)) {
		if (e.wFlags & (PROCESS_HEAP_REGION | PROCESS_HEAP_UNCOMMITTED_RANGE))
			continue;
		ck_assert_uint_lt(i, c.n);
		ck_assert_ptr_eq((void *)(uintptr_t)c.v[i].address, e.lpData);
		ck_assert_uint_eq(c.v[i].size, e.cbData);
		ck_assert_int_eq(c.v[i].busy, !!(e.wFlags & PROCESS_HEAP_ENTRY_BUSY));
		busy += c.v[i].busy;
		i++;
	}
	HeapUnlock(h);
	ck_assert_uint_eq(i, c.n);
	ck_assert_uint_eq(info.busy_blocks, busy);
	ck_assert_uint_eq(info.problems, 0);
	free(c.v);
}

START_TEST(test_heap_walk__matches_HeapWalk_small_large_and_freed)
{
	HANDLE h = HeapCreate(0, 0, 0);
	void *p[300];

	ck_assert_ptr_nonnull(h);
	for (int i = 0; i < 300; i++)
		ck_assert_ptr_nonnull(p[i] = HeapAlloc(h, 0, 1 + (SIZE_T)(i * 53 % 5000)));
	for (int i = 0; i < 300; i += 4)
		ck_assert(HeapFree(h, 0, p[i]));
	ck_assert_ptr_nonnull(HeapAlloc(h, 0, 3 * TL_MIB));         /* a large block */
	compare_with_heapwalk(h);
	ck_assert(HeapDestroy(h));
}
END_TEST

START_TEST(test_heap_walk__sizes_are_HeapSize)
{
	HANDLE h = HeapCreate(0, 0, 0);
	void *a = HeapAlloc(h, 0, 13), *b = HeapAlloc(h, 0, 100000);
	struct blocks c = { 0 };
	struct mi_heap_info info;
	int found = 0;

	walk(h, &c, &info);
	for (size_t i = 0; i < c.n; i++) {
		if (c.v[i].address == (uintptr_t)a) {
			ck_assert_uint_eq(c.v[i].size, HeapSize(h, 0, a));
			found++;
		}
		if (c.v[i].address == (uintptr_t)b) {
			ck_assert_uint_eq(c.v[i].size, HeapSize(h, 0, b));
			found++;
		}
	}
	ck_assert_int_eq(found, 2);
	ck_assert_uint_eq(info.busy_bytes, 13 + 100000);
	ck_assert_uint_ge(info.reserved_bytes, info.committed_bytes);
	free(c.v);
	HeapDestroy(h);
}
END_TEST

START_TEST(test_heap_walk__process_heap_and_moveable_blocks)
{
	HGLOBAL g = GlobalAlloc(GMEM_MOVEABLE, 777);
	struct mi_target *t = self();
	struct mi_root *r;
	struct mi_err e;
	bool found = false;

	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(mi_root_read(t, &r, &e), 0);
	ck_assert_uint_ge(r->heap_count, 1);
	ck_assert_uint_eq(r->heaps[0], (uintptr_t)GetProcessHeap());
	mi_close(t);
	{
		struct blocks c = { 0 };
		struct mi_heap_info info;

		walk(GetProcessHeap(), &c, &info);
		ck_assert(info.rec.options & MEMAPI_HEAP_PROCESS);
		for (size_t i = 0; i < c.n; i++)
			if ((c.v[i].flags & MEMAPI_HEAP_BLOCK_MOVEABLE) && c.v[i].busy)
				found = true;
		free(c.v);
	}
	ck_assert(found);
	compare_with_heapwalk(GetProcessHeap());
	mi_root_free(r);
	GlobalFree(g);
}
END_TEST

START_TEST(test_heap_walk__corrupt_header_reported_with_its_address)
{
	HANDLE h = HeapCreate(0, 0, 0);
	unsigned char *p[8], saved;
	struct blocks c = { 0 };
	struct mi_heap_info info;

	for (int i = 0; i < 8; i++)
		p[i] = HeapAlloc(h, 0, 2000);       /* backend blocks, not slots */
	saved = p[3][-12];
	p[3][-12] ^= 0x5a;                      /* a stray write into a header */
	walk(h, &c, &info);
	p[3][-12] = saved;
	ck_assert_uint_ge(info.problems, 1);
	ck_assert_uint_eq(c.problems[0].address, (uintptr_t)(p[3] - 16));
	ck_assert_ptr_nonnull(strstr(c.problems[0].what, "header"));
	free(c.v);
	ck_assert(HeapValidate(h, 0, NULL));    /* restored: valid again */
	HeapDestroy(h);
}
END_TEST

START_TEST(test_heap_walk__visitor_stop_is_returned)
{
	HANDLE h = HeapCreate(0, 0, 0);
	struct blocks c = { .stop_after = 3 };
	struct mi_target *t = self();
	struct mi_heap_info info;
	struct mi_err e;

	for (int i = 0; i < 10; i++)
		HeapAlloc(h, 0, 3000);
	ck_assert_int_eq(mi_heap_walk(t, (uintptr_t)h, &visitor, &c, &info, &e), -7);
	ck_assert_uint_eq(c.n, 3);
	free(c.v);
	mi_close(t);
	HeapDestroy(h);
}
END_TEST

START_TEST(test_heap_walk__not_a_heap_and_unmapped)
{
	static uint64_t not_a_heap[16];
	struct mi_target *t = self();
	struct mi_heap_info info;
	struct mi_err e;
	char *gone = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);

	ck_assert_int_eq(mi_heap_walk(t, (uintptr_t)not_a_heap, NULL, NULL, &info, &e), EPROTO);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a libmemapi heap"));
	VirtualFree(gone, 0, MEM_RELEASE);
	ck_assert_int_eq(mi_heap_walk(t, (uintptr_t)gone, NULL, NULL, &info, &e), EFAULT);
	mi_close(t);
}
END_TEST

/* Model-based: a fixed-seed random sequence of HeapAlloc, HeapFree and
 * HeapReAlloc; after every step the walker's busy blocks are exactly the
 * model's live blocks (address and size). */
#define MODEL_SLOTS 200
#define MODEL_STEPS 1500

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int by_address(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void check_model(HANDLE h, void **live, const SIZE_T *size, int step)
{
	uint64_t want[MODEL_SLOTS][2], got[MODEL_SLOTS][2];
	struct blocks c = { 0 };
	struct mi_heap_info info;
	size_t nw = 0, ng = 0;

	for (int i = 0; i < MODEL_SLOTS; i++)
		if (live[i]) {
			want[nw][0] = (uintptr_t)live[i];
			want[nw++][1] = size[i];
		}
	walk(h, &c, &info);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].busy) {
			ck_assert_msg(ng < MODEL_SLOTS, "step %d: too many busy blocks", step);
			got[ng][0] = c.v[i].address;
			got[ng++][1] = c.v[i].size;
		}
	qsort(want, nw, sizeof want[0], by_address);
	qsort(got, ng, sizeof got[0], by_address);
	ck_assert_msg(nw == ng, "step %d: model %zu busy blocks, walker %zu", step, nw, ng);
	for (size_t i = 0; i < nw; i++)
		ck_assert_msg(want[i][0] == got[i][0] && want[i][1] == got[i][1],
		              "step %d: block %zu differs", step, i);
	ck_assert_uint_eq(info.problems, 0);
	free(c.v);
}

START_TEST(test_heap_walk__model_random_sequence)
{
	static const SIZE_T sizes[] = { 1, 8, 24, 100, 512, 1000, 4000, 20000, 300000 };
	HANDLE h = HeapCreate(HEAP_NO_SERIALIZE, 0, 0);
	void *live[MODEL_SLOTS] = { 0 };
	SIZE_T size[MODEL_SLOTS];
	uint64_t seed = 0x6d656d746f6f6cull;

	for (int step = 0; step < MODEL_STEPS; step++) {
		int i = (int)(rnd(&seed) % MODEL_SLOTS);
		SIZE_T n = sizes[rnd(&seed) % 9] + rnd(&seed) % 16;

		if (!live[i]) {
			ck_assert_ptr_nonnull(live[i] = HeapAlloc(h, 0, n));
			size[i] = n;
		} else if (rnd(&seed) % 3 == 0) {
			void *q = HeapReAlloc(h, 0, live[i], n);

			ck_assert_ptr_nonnull(q);
			live[i] = q;
			size[i] = n;
		} else {
			ck_assert(HeapFree(h, 0, live[i]));
			live[i] = NULL;
		}
		if (step % 10 == 0 || step == MODEL_STEPS - 1)
			check_model(h, live, size, step);
	}
	HeapDestroy(h);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("inspect_heap");
	TCase *tc = tcase_create("walk");

	tcase_add_test(tc, test_heap_walk__matches_HeapWalk_small_large_and_freed);
	tcase_add_test(tc, test_heap_walk__sizes_are_HeapSize);
	tcase_add_test(tc, test_heap_walk__process_heap_and_moveable_blocks);
	tcase_add_test(tc, test_heap_walk__corrupt_header_reported_with_its_address);
	tcase_add_test(tc, test_heap_walk__visitor_stop_is_returned);
	tcase_add_test(tc, test_heap_walk__not_a_heap_and_unmapped);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("model");
	tcase_add_test(tc, test_heap_walk__model_random_sequence);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_suite)
