/* libmeminspect's thunk and enclave inspectors (inspect/thunk.c,
 * inspect/enclave.c): the decoder on libmemapi's real thunk code and on
 * code altered byte by byte, the walk over this process's own thunks (freed
 * slots left out, targets symbolized, a code view whose data page disagrees
 * with the data view), enclaves seen from this process and from its parent,
 * and the enclave type names. */
#include "testlib.h"
#include "inspect.h"

#include <atlthunk.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096ul

/* Targets with global names, so .symtab has them. */
LRESULT CALLBACK ck_thunk_target_a(HWND h, UINT m, WPARAM w, LPARAM l);
LRESULT CALLBACK ck_thunk_target_b(HWND h, UINT m, WPARAM w, LPARAM l);

__attribute__((noinline)) LRESULT CALLBACK ck_thunk_target_a(HWND h, UINT m, WPARAM w, LPARAM l)
{
	return (LRESULT)((size_t)h + m + w + (size_t)l);
}

__attribute__((noinline)) LRESULT CALLBACK ck_thunk_target_b(HWND h, UINT m, WPARAM w, LPARAM l)
{
	return (LRESULT)((size_t)h * 2 + m + w + (size_t)l);
}

static AtlThunkData_t *thunk_to(WNDPROC proc, size_t first)
{
	AtlThunkData_t *t = AtlThunk_AllocateData();

	ck_assert_ptr_nonnull(t);
	AtlThunk_InitData(t, (void *)proc, first);
	return t;
}

static struct mi_disasm *disasm(void)
{
	struct mi_disasm *d = NULL;
	struct mi_err e = { 0 };

	ck_assert_msg(!mi_disasm_open(&d, &e), "mi_disasm_open: %s", e.msg);
	return d;
}

/* Decodes a copy of a real thunk's code, altered by edit when not NULL. */
static void decode_real(void (*edit)(uint8_t *c), struct mi_thunk *th)
{
	AtlThunkData_t *t = thunk_to(ck_thunk_target_a, 7);
	uint8_t *code = (uint8_t *)(void *)AtlThunk_DataToCode(t), c[16];
	struct mi_disasm *d = disasm();

	memcpy(c, code, sizeof c);
	if (edit)
		edit(c);
	ck_assert_int_eq(mi_thunk_decode(d, c, (uintptr_t)code, (uintptr_t)code + P, th), 0);
	mi_disasm_close(d);
	AtlThunk_FreeData(t);
}

#if defined(__x86_64__)
START_TEST(test_decode__libmemapi_code_is_ok)
{
	static struct mi_thunk th;

	decode_real(NULL, &th);
	ck_assert_msg(th.check == MI_THUNK_OK, "check %d: %s", th.check, th.mismatch);
	ck_assert_uint_eq(th.insn_count, 5);
	ck_assert_str_eq(th.insns[0].mnemonic, "mov");
	ck_assert_str_eq(th.insns[0].operands, "rdi, qword ptr [rip + 0xff9]");
	ck_assert_uint_eq(th.insns[0].size, 7);
	ck_assert_uint_eq(th.insns[0].bytes[0], 0x48);
	ck_assert_str_eq(th.insns[1].mnemonic, "jmp");
	ck_assert_str_eq(th.insns[1].operands, "qword ptr [rip + 0xffb]");
	ck_assert_uint_eq(th.insns[1].address, th.insns[0].address + 7);
	for (int i = 2; i < 5; i++) {
		ck_assert_str_eq(th.insns[i].mnemonic, "int3");
		ck_assert_uint_eq(th.insns[i].address, th.insns[0].address + 11 + (uint64_t)i);
	}
}
END_TEST

static void shift_load(uint8_t *c) { c[3] += 8; }           /* loads the target word */
static void load_rsi(uint8_t *c) { c[2] = 0x35; }           /* mov rsi, [rip + X]    */
static void call_not_jmp(uint8_t *c) { c[8] = 0x15; }       /* call [rip + Y]        */
static void shift_jump(uint8_t *c) { c[9] -= 8; }           /* jumps via the parameter */
static void nop_pad(uint8_t *c) { c[14] = 0x90; }
static void garbage(uint8_t *c) { memset(c, 0x06, 16); }    /* no instruction in 64-bit */

static const struct {
	void      (*edit)(uint8_t *c);
	const char *says;
} edits[] = {
	{ shift_load, "loads rdi from 0x" },
	{ load_rsi, "the first instruction is 'mov rsi" },
	{ call_not_jmp, "the second instruction is 'call" },
	{ shift_jump, "jumps through 0x" },
	{ nop_pad, "'nop ' at +14 where libmemapi pads with int3" },
	{ garbage, "byte 0x06 at +0 is not an instruction" },
};

START_TEST(test_decode__altered_code_is_a_mismatch)
{
	static struct mi_thunk th;

	decode_real(edits[_i].edit, &th);
	ck_assert_int_eq(th.check, MI_THUNK_MISMATCH);
	ck_assert_msg(strstr(th.mismatch, edits[_i].says), "mismatch '%s', want '%s'",
	              th.mismatch, edits[_i].says);
}
END_TEST

START_TEST(test_decode__bad_bytes_are_shown_one_by_one)
{
	static struct mi_thunk th;

	decode_real(garbage, &th);
	ck_assert_uint_eq(th.insn_count, 16);
	for (size_t i = 0; i < th.insn_count; i++) {
		ck_assert_str_eq(th.insns[i].mnemonic, "(bad)");
		ck_assert_uint_eq(th.insns[i].size, 1);
		ck_assert_uint_eq(th.insns[i].bytes[0], 0x06);
	}
}
END_TEST

/* The same bytes at another address load from elsewhere: the check is
 * relative to where the code is. */
START_TEST(test_decode__checked_against_the_given_data_address)
{
	static struct mi_thunk th;
	AtlThunkData_t *t = thunk_to(ck_thunk_target_a, 7);
	const uint8_t *code = (const uint8_t *)(void *)AtlThunk_DataToCode(t);
	struct mi_disasm *d = disasm();

	ck_assert_int_eq(mi_thunk_decode(d, code, (uintptr_t)code, (uintptr_t)code + 2 * P, &th), 0);
	ck_assert_int_eq(th.check, MI_THUNK_MISMATCH);
	ck_assert_ptr_nonnull(strstr(th.mismatch, "not from its parameter word"));
	mi_disasm_close(d);
	AtlThunk_FreeData(t);
}
END_TEST
#endif

START_TEST(test_decode__without_disassembler_unchecked)
{
	static struct mi_thunk th;
	uint8_t c[16] = { 0 };

	ck_assert_int_eq(mi_thunk_decode(NULL, c, 0x1000, 0x2000, &th), ENOTSUP);
	ck_assert_int_eq(th.check, MI_THUNK_UNCHECKED);
	ck_assert_uint_eq(th.insn_count, 0);
}
END_TEST

/* ---- the walk over this process ---- */

struct seen {
	struct mi_thunk th[8];
	uint64_t        want[3];
	size_t          n, calls;
};

static int collect(const struct mi_thunk *th, void *ctx)
{
	struct seen *s = ctx;

	s->calls++;
	for (size_t i = 0; i < 3; i++)
		if (th->code == s->want[i] && s->n < 8)
			s->th[s->n++] = *th;
	return 0;
}

static void walk_self(struct seen *s)
{
	struct mi_target *t;
	struct mi_root *r;
	struct mi_err e = { 0 };

	ck_assert_msg(!mi_open_self(&t, &e), "mi_open_self: %s", e.msg);
	ck_assert_msg(!mi_root_read(t, &r, &e), "mi_root_read: %s", e.msg);
	ck_assert_msg(!mi_thunk_walk(t, r, collect, s, &e), "mi_thunk_walk: %s", e.msg);
	mi_root_free(r);
	mi_close(t);
}

START_TEST(test_walk__lists_thunks_in_use_with_symbols)
{
	static struct seen s;
	AtlThunkData_t *a = thunk_to(ck_thunk_target_a, 0x1111);
	AtlThunkData_t *b = thunk_to(ck_thunk_target_b, 0x2222);
	AtlThunkData_t *f = thunk_to(ck_thunk_target_a, 0x3333);

	s.want[0] = (uintptr_t)(void *)AtlThunk_DataToCode(a);
	s.want[1] = (uintptr_t)(void *)AtlThunk_DataToCode(b);
	s.want[2] = (uintptr_t)(void *)AtlThunk_DataToCode(f);
	ck_assert_int_eq(AtlThunk_DataToCode(b)(NULL, 1, 0, 0), 0x2222 * 2 + 1);
	AtlThunk_FreeData(f);
	walk_self(&s);
	ck_assert_uint_eq(s.n, 2);                      /* the freed one is not listed */
	ck_assert_uint_ge(s.calls, 2);
	ck_assert_uint_eq(s.th[0].code, s.want[0]);
	ck_assert_uint_eq(s.th[0].data, (uintptr_t)a);
	ck_assert_uint_eq(s.th[0].parameter, 0x1111);
	ck_assert_uint_eq(s.th[0].target, (uintptr_t)ck_thunk_target_a);
	ck_assert(s.th[0].has_symbol);
	ck_assert_msg(strstr(s.th[0].target_symbol, "!ck_thunk_target_a+0x0"), "symbol %s",
	              s.th[0].target_symbol);
	ck_assert_uint_eq(s.th[1].parameter, 0x2222);
	ck_assert_ptr_nonnull(strstr(s.th[1].target_symbol, "!ck_thunk_target_b+0x0"));
#if defined(__x86_64__)
	for (int i = 0; i < 2; i++)
		ck_assert_msg(s.th[i].check == MI_THUNK_OK, "%s", s.th[i].mismatch);
#endif
	AtlThunk_FreeData(a);
	AtlThunk_FreeData(b);
}
END_TEST

START_TEST(test_walk__uninitialised_slot_has_no_symbol)
{
	static struct seen s;
	AtlThunkData_t *a = AtlThunk_AllocateData();

	ck_assert_ptr_nonnull(a);
	s.want[0] = (uintptr_t)(void *)AtlThunk_DataToCode(a);
	walk_self(&s);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.th[0].target, 0);
	ck_assert(!s.th[0].has_symbol);
	AtlThunk_FreeData(a);
}
END_TEST

/* A memfd block's code reads its words through the page after it, another
 * view than the listed data view: replace that page and the two disagree.
 * The block stays broken, so this runs only in a forked test. */
START_TEST(test_walk__code_view_disagreeing_with_data_view)
{
	static struct seen s;
	AtlThunkData_t *a = thunk_to(ck_thunk_target_a, 0x4444);
	uintptr_t code = (uintptr_t)(void *)AtlThunk_DataToCode(a);
	uintptr_t page = code & ~(P - 1);
	void *p;

	if (!tl_forking() || (uintptr_t)a == page + P)
		return;                 /* not forking, or an anonymous block: one view */
	p = mmap((void *)(page + P), P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	s.want[0] = code;
	walk_self(&s);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.th[0].parameter, 0x4444);   /* the data view's words */
	ck_assert_int_eq(s.th[0].check, MI_THUNK_MISMATCH);
	ck_assert_msg(strstr(s.th[0].mismatch, "the code reads parameter 0x0 and target 0x0"),
	              "%s", s.th[0].mismatch);
}
END_TEST

static int stop_at_first(const struct mi_thunk *th, void *ctx)
{
	(*(size_t *)ctx)++;
	return -5;
}

START_TEST(test_walk__callback_stops_it)
{
	AtlThunkData_t *a = thunk_to(ck_thunk_target_a, 1), *b = thunk_to(ck_thunk_target_b, 2);
	struct mi_target *t;
	struct mi_root *r;
	struct mi_err e = { 0 };
	size_t calls = 0;

	ck_assert(!mi_open_self(&t, &e));
	ck_assert(!mi_root_read(t, &r, &e));
	ck_assert_int_eq(mi_thunk_walk(t, r, stop_at_first, &calls, &e), -5);
	ck_assert_uint_eq(calls, 1);
	ck_assert_int_eq(mi_thunk_walk(t, NULL, stop_at_first, &calls, &e), 0);
	ck_assert_uint_eq(calls, 1);
	mi_root_free(r);
	mi_close(t);
	AtlThunk_FreeData(a);
	AtlThunk_FreeData(b);
}
END_TEST

/* ---- enclaves ---- */

static bool vbs_supported(void)
{
	return IsEnclaveTypeSupported(ENCLAVE_TYPE_VBS);
}

/* A VBS enclave of 8 pages: page 0 data, page 1 code, the rest reserved. */
static void *make_enclave(void)
{
	ENCLAVE_CREATE_INFO_VBS info = { 0 };
	unsigned char buf[P];
	DWORD err = 0;
	SIZE_T done;
	void *base = CreateEnclave(GetCurrentProcess(), NULL, 8 * P, 0, ENCLAVE_TYPE_VBS, &info,
	                           sizeof info, &err);

	ck_assert_msg(base != NULL, "CreateEnclave: %lu", (unsigned long)err);
	memset(buf, 0x42, sizeof buf);
	ck_assert(LoadEnclaveData(GetCurrentProcess(), base, buf, P, PAGE_READWRITE, NULL, 0,
	                          &done, &err));
	memset(buf, 0xc3, sizeof buf);
	ck_assert(LoadEnclaveData(GetCurrentProcess(), (char *)base + P, buf, P,
	                          PAGE_EXECUTE_READ, NULL, 0, &done, &err));
	return base;
}

/* Inspects the enclave at base in t. */
static void inspect_enclave(struct mi_target *t, uint64_t base, struct mi_enclave *n)
{
	struct mi_root *r;
	struct mi_err e = { 0 };
	size_t i;

	ck_assert_msg(!mi_root_read(t, &r, &e), "mi_root_read: %s", e.msg);
	for (i = 0; i < r->enclave_count && r->enclaves[i].base != base; i++)
		;
	ck_assert_uint_lt(i, r->enclave_count);
	ck_assert_msg(!mi_enclave_inspect(t, r, i, n, &e), "mi_enclave_inspect: %s", e.msg);
	ck_assert_uint_eq(n->rec.size, 8 * P);
	ck_assert_uint_eq(n->rec.loaded, 2 * P);
	ck_assert_uint_eq(n->rec.type, ENCLAVE_TYPE_VBS);
	ck_assert_uint_eq(n->region_count, 1);
	ck_assert_uint_eq(n->regions[0].rec.base, base);
	ck_assert_uint_eq(n->regions[0].rec.run_count, 3);
	ck_assert_uint_eq(n->regions[0].runs[0].protect, PAGE_READWRITE);
	ck_assert_uint_eq(n->regions[0].runs[1].protect, PAGE_EXECUTE_READ);
	ck_assert_uint_eq(n->regions[0].runs[2].state, MEM_RESERVE);
	ck_assert(n->probed);
	ck_assert_uint_eq(n->probe, base);              /* the data page, not the code */
	ck_assert_int_eq(n->secret, 1);
	ck_assert(!n->readable);
	ck_assert_int_eq(mi_enclave_inspect(t, r, r->enclave_count, n, &e), EINVAL);
	mi_root_free(r);
}

START_TEST(test_enclave__secret_data_unreadable_code_readable)
{
	struct mi_target *t;
	struct mi_enclave n;
	struct mi_err e = { 0 };
	bool readable = false;
	void *base;

	if (!vbs_supported())
		return;                 /* no memfd_secret: CreateEnclave fails (check_enclave) */
	base = make_enclave();
	ck_assert_uint_eq(tl_read(base), 0x42);         /* the process itself reads it */
	ck_assert(!mi_open_self(&t, &e));
	inspect_enclave(t, (uintptr_t)base, &n);
	ck_assert(!mi_enclave_probe(t, (uintptr_t)base + P, &readable, &e));
	ck_assert(readable);                            /* code is not secret */
	mi_close(t);
	ck_assert(DeleteEnclave(base));
}
END_TEST

START_TEST(test_enclave__seen_from_another_process)
{
	struct mi_target *t;
	struct mi_enclave n;
	struct mi_err e = { 0 };
	uint64_t base = 0;
	int up[2], down[2], status;
	pid_t pid;

	if (!vbs_supported())
		return;
	ck_assert(!pipe(up) && !pipe(down));
	if (!(pid = fork())) {
		uint64_t b;
		char c;

		close(up[0]);
		close(down[1]);
		b = (uintptr_t)make_enclave();
		(void)!write(up[1], &b, sizeof b);
		(void)!read(down[0], &c, 1);                /* until the parent is done */
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &base, sizeof base), (ssize_t)sizeof base);
	ck_assert_msg(!mi_open_pid(pid, &t, &e), "mi_open_pid: %s", e.msg);
	inspect_enclave(t, base, &n);
	mi_close(t);
	close(down[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && !WEXITSTATUS(status));
	close(up[0]);
}
END_TEST

START_TEST(test_enclave__type_names)
{
	char buf[24];

	ck_assert_str_eq(mi_enclave_type_name(ENCLAVE_TYPE_SGX, buf, sizeof buf), "ENCLAVE_TYPE_SGX");
	ck_assert_str_eq(mi_enclave_type_name(ENCLAVE_TYPE_SGX2, buf, sizeof buf),
	                 "ENCLAVE_TYPE_SGX2");
	ck_assert_str_eq(mi_enclave_type_name(ENCLAVE_TYPE_VBS, buf, sizeof buf), "ENCLAVE_TYPE_VBS");
	ck_assert_str_eq(mi_enclave_type_name(ENCLAVE_TYPE_VBS_BASIC, buf, sizeof buf),
	                 "ENCLAVE_TYPE_VBS_BASIC");
	ck_assert_str_eq(mi_enclave_type_name(0x77, buf, sizeof buf), "0x77");
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("inspect_thunk");
	TCase *d = tcase_create("decode"), *w = tcase_create("walk"), *n = tcase_create("enclave");

#if defined(__x86_64__)
	tcase_add_test(d, test_decode__libmemapi_code_is_ok);
	tcase_add_loop_test(d, test_decode__altered_code_is_a_mismatch, 0,
	                    (int)(sizeof edits / sizeof edits[0]));
	tcase_add_test(d, test_decode__bad_bytes_are_shown_one_by_one);
	tcase_add_test(d, test_decode__checked_against_the_given_data_address);
#endif
	tcase_add_test(d, test_decode__without_disassembler_unchecked);
	tcase_add_test(w, test_walk__lists_thunks_in_use_with_symbols);
	tcase_add_test(w, test_walk__uninitialised_slot_has_no_symbol);
	tcase_add_test(w, test_walk__code_view_disagreeing_with_data_view);
	tcase_add_test(w, test_walk__callback_stops_it);
	tcase_add_test(n, test_enclave__secret_data_unreadable_code_readable);
	tcase_add_test(n, test_enclave__seen_from_another_process);
	tcase_add_test(n, test_enclave__type_names);
	tcase_add_checked_fixture(d, tl_setup, tl_teardown);
	tcase_add_checked_fixture(w, tl_setup, tl_teardown);
	tcase_add_checked_fixture(n, tl_setup, tl_teardown);
	suite_add_tcase(s, d);
	suite_add_tcase(s, w);
	suite_add_tcase(s, n);
	return s;
}

TL_MAIN(make_suite)
