/* Check suite for ATL thunks: AtlThunk_AllocateData, AtlThunk_InitData,
 * AtlThunk_DataToCode, AtlThunk_FreeData. Runs twice: with the two views
 * of a memfd, then with MEMAPI_DISABLE=thunk_memfd (anonymous pages). */
#include "testlib.h"

#include <atlthunk.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static bool anonymous_run(void)
{
	const char *d = getenv("MEMAPI_DISABLE");

	return d && strstr(d, "thunk_memfd");
}

struct call {
	size_t first;
	UINT msg;
	WPARAM wp;
	LPARAM lp;
};

static __thread struct call last;

static LRESULT CALLBACK target(HWND first, UINT msg, WPARAM wp, LPARAM lp)
{
	last = (struct call){ (size_t)first, msg, wp, lp };
	return (LRESULT)((size_t)first * 3 + msg);
}

static LRESULT CALLBACK other_target(HWND first, UINT msg, WPARAM wp, LPARAM lp)
{
	(void)msg;
	(void)wp;
	(void)lp;
	return -(LRESULT)(size_t)first;
}

static AtlThunkData_t *thunk_to(void *proc, size_t first)
{
	AtlThunkData_t *t = AtlThunk_AllocateData();

	ck_assert_msg(t != NULL, "AtlThunk_AllocateData failed: %lu", (unsigned long)GetLastError());
	AtlThunk_InitData(t, proc, first);
	return t;
}

START_TEST(test_AtlThunk__replaces_first_parameter)
{
	AtlThunkData_t *t = thunk_to((void *)target, 0x1234);
	WNDPROC code = AtlThunk_DataToCode(t);

	ck_assert_ptr_nonnull(code);
	ck_assert_ptr_ne((void *)code, (void *)t);
	ck_assert_int_eq(code((HWND)0xdead, 7, 8, 9), 0x1234 * 3 + 7);
	ck_assert_uint_eq(last.first, 0x1234);
	ck_assert_uint_eq(last.msg, 7);
	ck_assert_uint_eq(last.wp, 8);
	ck_assert_int_eq(last.lp, 9);
	AtlThunk_FreeData(t);
}
END_TEST

START_TEST(test_AtlThunk_InitData__retargets)
{
	AtlThunkData_t *t = thunk_to((void *)target, 5);
	WNDPROC code = AtlThunk_DataToCode(t);

	ck_assert_int_eq(code(NULL, 1, 0, 0), 16);
	AtlThunk_InitData(t, (void *)other_target, 42);
	ck_assert_ptr_eq((void *)AtlThunk_DataToCode(t), (void *)code);   /* same code */
	ck_assert_int_eq(code(NULL, 1, 0, 0), -42);
	AtlThunk_FreeData(t);
}
END_TEST

/* No page is writable and executable: the code is r-x, the data rw-. */
START_TEST(test_AtlThunk__code_never_writable)
{
	AtlThunkData_t *t = thunk_to((void *)target, 1);
	char code_perms[5], data_perms[5];

	tl_kernel_perms((void *)AtlThunk_DataToCode(t), code_perms);
	tl_kernel_perms(t, data_perms);
	ck_assert_str_eq(code_perms, anonymous_run() ? "r-xp" : "r-xs");
	ck_assert_str_eq(data_perms, anonymous_run() ? "rw-p" : "rw-s");
	AtlThunk_FreeData(t);
}
END_TEST

static size_t count_blocks(void)
{
	size_t n = 0;

	for (const struct memapi_rec_thunk_block *b = memapi_root.thunks; b; b = b->next)
		n++;
	return n;
}

START_TEST(test_AtlThunk__thousands_and_reuse)
{
	enum { N = 5000 };
	static AtlThunkData_t *t[N], *again[N];
	static WNDPROC code[N];
	size_t blocks;

	for (size_t i = 0; i < N; i++) {
		t[i] = thunk_to((void *)target, i);
		code[i] = AtlThunk_DataToCode(t[i]);
		for (size_t j = i > 8 ? i - 8 : 0; j < i; j++)
			ck_assert_ptr_ne((void *)code[j], (void *)code[i]);
	}
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(code[i](NULL, 2, 0, 0), (LRESULT)(i * 3 + 2));
	blocks = count_blocks();
	ck_assert_uint_eq(blocks, (N + MEMAPI_THUNK_SLOTS - 1) / MEMAPI_THUNK_SLOTS);
	for (size_t i = 0; i < N; i++)
		AtlThunk_FreeData(t[i]);
	/* Freed thunks are handed out again: no new block. */
	for (size_t i = 0; i < N; i++) {
		again[i] = AtlThunk_AllocateData();
		ck_assert_ptr_nonnull(again[i]);
	}
	ck_assert_uint_eq(count_blocks(), blocks);
	for (size_t i = 0; i < N; i++)
		AtlThunk_FreeData(again[i]);
}
END_TEST

START_TEST(test_AtlThunk_FreeData__next_allocation_reuses)
{
	AtlThunkData_t *a = thunk_to((void *)target, 1), *b;

	AtlThunk_FreeData(a);
	b = AtlThunk_AllocateData();
	ck_assert_ptr_eq(b, a);
	AtlThunk_FreeData(b);
}
END_TEST

START_TEST(test_AtlThunk__errors)
{
	AtlThunkData_t *t = thunk_to((void *)target, 1);
	int not_a_thunk;

	ck_assert_null_error((void *)AtlThunk_DataToCode(NULL), ERROR_INVALID_PARAMETER);
	ck_assert_null_error((void *)AtlThunk_DataToCode((AtlThunkData_t *)&not_a_thunk),
	                     ERROR_INVALID_PARAMETER);
	ck_assert_null_error((void *)AtlThunk_DataToCode((AtlThunkData_t *)((char *)t + 1)),
	                     ERROR_INVALID_PARAMETER);
	SetLastError(0);
	AtlThunk_InitData((AtlThunkData_t *)&not_a_thunk, (void *)target, 1);
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
	ck_assert_int_eq(not_a_thunk == not_a_thunk, 1);
	AtlThunk_FreeData(NULL);                    /* nothing to do */
	AtlThunk_FreeData(t);
	ck_assert_null_error((void *)AtlThunk_DataToCode(t), ERROR_INVALID_PARAMETER);
	SetLastError(0);
	AtlThunk_FreeData(t);                       /* twice */
	ck_assert_last_error(ERROR_INVALID_PARAMETER);
}
END_TEST

/* A call through a freed thunk faults at once (its target is 0). */
START_TEST(test_AtlThunk_FreeData__freed_thunk_faults)
{
	AtlThunkData_t *t = thunk_to((void *)target, 1);
	WNDPROC code = AtlThunk_DataToCode(t);
	pid_t pid;
	int st;

	AtlThunk_FreeData(t);
	if (!tl_forking())
		return;
	if ((pid = fork()) == 0) {
		code(NULL, 0, 0, 0);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}
END_TEST

struct worker {
	int bad;
	size_t id;
};

static void *thunk_churn(void *arg)
{
	struct worker *w = arg;
	int rounds = tl_valgrind() ? 200 : 4000;

	for (int i = 0; i < rounds; i++) {
		size_t first = w->id << 32 | (size_t)i;
		AtlThunkData_t *t = AtlThunk_AllocateData();

		if (!t) {
			w->bad++;
			continue;
		}
		AtlThunk_InitData(t, (void *)target, first);
		if (AtlThunk_DataToCode(t)(NULL, 1, 0, 0) != (LRESULT)(first * 3 + 1) ||
		    last.first != first)
			w->bad++;
		AtlThunk_FreeData(t);
	}
	return NULL;
}

START_TEST(test_AtlThunk__threads)
{
	pthread_t th[4];
	struct worker w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ 0, (size_t)i + 1 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, thunk_churn, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].bad, 0);
	}
}
END_TEST

/* A fork child's thunks are its own. */
START_TEST(test_AtlThunk__fork_child_retargets_its_own)
{
	AtlThunkData_t *t = thunk_to((void *)target, 7);
	WNDPROC code = AtlThunk_DataToCode(t);
	pid_t pid;
	int st;

	if ((pid = fork()) == 0) {
		AtlThunk_InitData(t, (void *)other_target, 9);
		_exit(code(NULL, 0, 0, 0) == -9 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(code(NULL, 0, 0, 0), 21);
	AtlThunk_FreeData(t);
}
END_TEST

START_TEST(test_memapi_root__lists_thunk_blocks)
{
	AtlThunkData_t *t = thunk_to((void *)target, 1);
	const struct memapi_rec_thunk_block *b = memapi_root.thunks;
	uintptr_t code = (uintptr_t)(void *)AtlThunk_DataToCode(t);
	size_t slot;

	ck_assert_ptr_nonnull(b);
	for (; b && !(code >= b->code && code < b->code + (uint64_t)b->slots * 16); b = b->next)
		;
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->magic, MEMAPI_THUNK_MAGIC);
	ck_assert_uint_eq(b->slots, MEMAPI_THUNK_SLOTS);
	slot = (code - b->code) / 16;
	ck_assert_uint_eq((uintptr_t)t, b->data + slot * 16);
	ck_assert(b->used[slot / 64] & (UINT64_C(1) << (slot % 64)));
	ck_assert_uint_eq(((const uint64_t *)(uintptr_t)b->data)[slot * 2], 1);
	ck_assert_uint_eq(((const uint64_t *)(uintptr_t)b->data)[slot * 2 + 1],
	                  (uintptr_t)(void *)target);
	/* The code reads its data one page further in the executable view. */
	ck_assert_uint_eq(((const uint64_t *)(uintptr_t)(b->code + TL_PAGE))[slot * 2], 1);
	AtlThunk_FreeData(t);
	ck_assert(!(b->used[slot / 64] & (UINT64_C(1) << (slot % 64))));
}
END_TEST

static Suite *make_thunk_suite(void)
{
	Suite *s = suite_create(anonymous_run() ? "thunk (anonymous pages)" : "thunk (memfd views)");
	TCase *c = tcase_create("thunks");

	tcase_add_checked_fixture(c, tl_setup, tl_teardown);
	tcase_add_test(c, test_AtlThunk__replaces_first_parameter);
	tcase_add_test(c, test_AtlThunk_InitData__retargets);
	tcase_add_test(c, test_AtlThunk__code_never_writable);
	tcase_add_test(c, test_AtlThunk__thousands_and_reuse);
	tcase_add_test(c, test_AtlThunk_FreeData__next_allocation_reuses);
	tcase_add_test(c, test_AtlThunk__errors);
	tcase_add_test(c, test_AtlThunk_FreeData__freed_thunk_faults);
	tcase_add_test(c, test_AtlThunk__threads);
	tcase_add_test(c, test_AtlThunk__fork_child_retargets_its_own);
	tcase_add_test(c, test_memapi_root__lists_thunk_blocks);
	tcase_set_timeout(c, 30);
	suite_add_tcase(s, c);
	return s;
}

int main(int argc, char **argv)
{
	int rc = tl_run(make_thunk_suite());

	(void)argc;
	if (anonymous_run())
		return tl_rerun_status(rc);
	return tl_rerun(argv, "MEMAPI_DISABLE", "thunk_memfd", rc);
}
