/* The block operations RtlCopyMemory, RtlMoveMemory, RtlFillMemory,
 * RtlZeroMemory and RtlSecureZeroMemory, their SDK macros, zeroing that
 * survives a dead buffer, and a random model of all five. */
#include "testlib.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#define RW PAGE_READWRITE

/* The prototypes are those winnt.h declares (the SDK's shapes, as functions). */
_Static_assert(_Generic(RtlCopyMemory, VOID (*)(PVOID, const VOID *, SIZE_T): 1, default: 0),
               "RtlCopyMemory prototype");
_Static_assert(_Generic(RtlMoveMemory, VOID (*)(PVOID, const VOID *, SIZE_T): 1, default: 0),
               "RtlMoveMemory prototype");
_Static_assert(_Generic(RtlFillMemory, VOID (*)(PVOID, SIZE_T, BYTE): 1, default: 0),
               "RtlFillMemory prototype");
_Static_assert(_Generic(RtlZeroMemory, VOID (*)(PVOID, SIZE_T): 1, default: 0),
               "RtlZeroMemory prototype");
_Static_assert(_Generic(RtlSecureZeroMemory, PVOID (*)(PVOID, SIZE_T): 1, default: 0),
               "RtlSecureZeroMemory prototype");

/* ---- helpers ---- */

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 8) + 1);
}

static void pattern(unsigned char *p, size_t n, size_t salt)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern_byte(i + salt);
}

/* Index of the first byte of p[0..n) that is not v, or n. */
static size_t first_not(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return i;
	return n;
}

#define ck_assert_all(p, n, v) do { \
	size_t at_ = first_not((p), (n), (v)); \
	ck_assert_msg(at_ == (n), "byte %zu is %#x, expected %#x", at_, \
	              at_ < (n) ? (unsigned)(p)[at_] : 0u, (unsigned)(v)); \
} while (0)

/* pages committed read-write followed by a PAGE_NOACCESS page, so that an
 * access one byte past the end faults. */
static unsigned char *guarded(size_t pages)
{
	unsigned char *p = tl_commit_new((pages + 1) * TL_PAGE, RW);

	tl_protect(p + pages * TL_PAGE, TL_PAGE, PAGE_NOACCESS);
	return p;
}

/* ---- RtlCopyMemory ---- */

START_TEST(test_RtlCopyMemory__copies_bytes_and_nothing_else)
{
	unsigned char src[300], dst[300];

	pattern(src, sizeof src, 0);
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 1; n < 260; n += 17) {
			memset(dst, 0xee, sizeof dst);
			RtlCopyMemory(dst + off, src + 8 - off, n);
			ck_assert_all(dst, off, 0xee);
			ck_assert(!memcmp(dst + off, src + 8 - off, n));
			ck_assert_all(dst + off + n, sizeof dst - off - n, 0xee);
		}
}
END_TEST

/* Copies that straddle page boundaries, and end on the last byte before
 * a no-access page on both sides: an overrun by one byte would fault. */
START_TEST(test_RtlCopyMemory__across_page_boundaries)
{
	static const size_t lens[] = { 1, 2, 15, 64, 4095, 4096, 4097, 8191, 2 * 4096 + 33 };
	unsigned char *src = guarded(3), *dst = guarded(3);
	size_t end = 3 * TL_PAGE;

	pattern(src, end, 5);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t n = lens[i];

		memset(dst, 0, end);
		RtlCopyMemory(dst + end - n, src + end - n, n);
		ck_assert(!memcmp(dst + end - n, src + end - n, n));
		ck_assert_all(dst, end - n, 0);
		/* Straddling the first boundary, misaligned on both sides. */
		if (n + 7 <= TL_PAGE * 2) {
			RtlCopyMemory(dst + TL_PAGE - 3, src + TL_PAGE - 7, n);
			ck_assert(!memcmp(dst + TL_PAGE - 3, src + TL_PAGE - 7, n));
		}
	}
	tl_release(src);
	tl_release(dst);
}
END_TEST

START_TEST(test_RtlCopyMemory__several_mebibytes)
{
	size_t n = 8 * TL_MIB + 123;
	unsigned char *src = tl_commit_new(n, RW), *dst = tl_commit_new(n, RW);

	pattern(src, n, 3);
	RtlCopyMemory(dst, src, n);
	ck_assert(!memcmp(dst, src, n));
	RtlCopyMemory(dst + 1, src, n - 1);
	ck_assert(!memcmp(dst + 1, src, n - 1));
	tl_release(src);
	tl_release(dst);
}
END_TEST

/* ---- RtlMoveMemory ---- */

/* Moves p[src, +n) to p[dst, +n) and checks the result against a copy
 * made beforehand. */
static void check_move(unsigned char *p, size_t size, size_t dst, size_t src, size_t n)
{
	static unsigned char before[3 * 4096];

	ck_assert_uint_le(size, sizeof before);
	ck_assert_uint_le((dst > src ? dst : src) + n, size);
	pattern(p, size, dst + src);
	memcpy(before, p, size);
	RtlMoveMemory(p + dst, p + src, n);
	ck_assert_msg(!memcmp(p + dst, before + src, n), "move %zu <- %zu, %zu bytes", dst, src, n);
	ck_assert(!memcmp(p, before, dst));
	ck_assert(!memcmp(p + dst + n, before + dst + n, size - dst - n));
}

static const size_t shifts[] = { 1, 2, 3, 7, 8, 15, 16, 63, 64, 255, 4095, 4096, 4097 };

START_TEST(test_RtlMoveMemory__overlap_to_higher_address)
{
	size_t size = 3 * TL_PAGE;
	unsigned char *p = guarded(3);

	for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
		check_move(p, size, shifts[i], 0, size - shifts[i]);
		check_move(p, size, shifts[i] + 5, 5, size - shifts[i] - 10);
	}
	tl_release(p);
}
END_TEST

START_TEST(test_RtlMoveMemory__overlap_to_lower_address)
{
	size_t size = 3 * TL_PAGE;
	unsigned char *p = guarded(3);

	for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
		check_move(p, size, 0, shifts[i], size - shifts[i]);
		check_move(p, size, 5, shifts[i] + 5, size - shifts[i] - 10);
	}
	tl_release(p);
}
END_TEST

START_TEST(test_RtlMoveMemory__same_address_and_disjoint)
{
	size_t size = 3 * TL_PAGE;
	unsigned char *p = guarded(3);

	check_move(p, size, 100, 100, 2 * TL_PAGE);
	check_move(p, size, 0, TL_PAGE + 1, TL_PAGE);
	check_move(p, size, TL_PAGE + 1, 0, TL_PAGE);
	tl_release(p);
}
END_TEST

/* Large overlapping moves take the C library's other code paths (backward
 * copies, non-temporal stores above a cache-sized threshold). */
START_TEST(test_RtlMoveMemory__several_mebibytes_overlapping)
{
	static const size_t big_shifts[] = { 1, 4097, TL_MIB + 3 };
	size_t n = 8 * TL_MIB, room = n + TL_MIB + 3;
	unsigned char *p = tl_commit_new(room, RW);

	for (size_t i = 0; i < sizeof big_shifts / sizeof big_shifts[0]; i++) {
		size_t s = big_shifts[i];

		pattern(p, room, 0);
		RtlMoveMemory(p + s, p, n);
		for (size_t j = 0; j < n; j++)
			if (p[s + j] != pattern_byte(j))
				ck_abort_msg("up by %zu: byte %zu wrong", s, j);
		pattern(p, room, 0);
		RtlMoveMemory(p, p + s, n);
		for (size_t j = 0; j < n; j++)
			if (p[j] != pattern_byte(s + j))
				ck_abort_msg("down by %zu: byte %zu wrong", s, j);
	}
	tl_release(p);
}
END_TEST

/* ---- RtlFillMemory, RtlZeroMemory ---- */

START_TEST(test_RtlFillMemory__every_byte_value)
{
	unsigned char buf[600];

	for (int v = 0; v < 256; v++) {
		size_t off = (size_t)v % 13, n = 1 + (size_t)v * 2;

		memset(buf, (unsigned char)~v, sizeof buf);
		RtlFillMemory(buf + off, n, (BYTE)v);
		ck_assert_all(buf, off, (unsigned char)~v);
		ck_assert_all(buf + off, n, (unsigned char)v);
		ck_assert_all(buf + off + n, sizeof buf - off - n, (unsigned char)~v);
	}
}
END_TEST

/* (Destination, Length, Fill), the other way round from memset: swapped
 * arguments would write 200 bytes of 3. */
START_TEST(test_RtlFillMemory__argument_order)
{
	unsigned char buf[256];

	memset(buf, 0, sizeof buf);
	RtlFillMemory(buf, 3, 200);
	ck_assert_all(buf, 3, 200);
	ck_assert_all(buf + 3, sizeof buf - 3, 0);
}
END_TEST

START_TEST(test_RtlZeroMemory__zeroes_range_only)
{
	unsigned char *p = guarded(2);
	size_t end = 2 * TL_PAGE;

	memset(p, 0x77, end);
	RtlZeroMemory(p + TL_PAGE - 5, 10);
	ck_assert_all(p, TL_PAGE - 5, 0x77);
	ck_assert_all(p + TL_PAGE - 5, 10, 0);
	ck_assert_all(p + TL_PAGE + 5, end - TL_PAGE - 5, 0x77);
	RtlZeroMemory(p + 1, end - 1);          /* up to the no-access page */
	ck_assert_int_eq(p[0], 0x77);
	ck_assert_all(p + 1, end - 1, 0);
	tl_release(p);
}
END_TEST

START_TEST(test_RtlMemory__fill_zero_wipe_several_mebibytes)
{
	size_t n = 8 * TL_MIB + 1;
	unsigned char *p = tl_commit_new(n + 1, RW);

	RtlFillMemory(p, n, 0xc3);
	ck_assert_all(p, n, 0xc3);
	ck_assert_int_eq(p[n], 0);
	RtlZeroMemory(p + 1, n - 1);
	ck_assert_int_eq(p[0], 0xc3);
	ck_assert_all(p + 1, n - 1, 0);
	RtlFillMemory(p, n, 0xff);
	ck_assert_ptr_eq(RtlSecureZeroMemory(p, n), p);
	ck_assert_all(p, n, 0);
	tl_release(p);
}
END_TEST

/* ---- zero lengths ---- */

/* NULL with a zero length is what Windows code passes; it must neither
 * crash nor reach memcpy/memset with NULL (undefined behaviour, which the
 * sanitizer build of this suite reports). */
START_TEST(test_RtlMemory__zero_length_with_null)
{
	unsigned char buf[4] = { 1, 2, 3, 4 };

	RtlCopyMemory(NULL, NULL, 0);
	RtlMoveMemory(NULL, NULL, 0);
	RtlFillMemory(NULL, 0, 0xab);
	RtlZeroMemory(NULL, 0);
	ck_assert_ptr_null(RtlSecureZeroMemory(NULL, 0));
	RtlCopyMemory(buf, NULL, 0);
	RtlCopyMemory(NULL, buf, 0);
	RtlMoveMemory(buf, NULL, 0);
	RtlMoveMemory(NULL, buf, 0);
	ck_assert_int_eq(buf[0] + buf[1] + buf[2] + buf[3], 10);
}
END_TEST

START_TEST(test_RtlMemory__zero_length_touches_nothing)
{
	unsigned char *p = guarded(1), *end = p + TL_PAGE;  /* end: no-access */

	memset(p, 5, TL_PAGE);
	RtlCopyMemory(end, p, 0);
	RtlCopyMemory(p, end, 0);
	RtlMoveMemory(end, p, 0);
	RtlFillMemory(end, 0, 1);
	RtlZeroMemory(end, 0);
	ck_assert_ptr_eq(RtlSecureZeroMemory(end, 0), end);
	ck_assert_ptr_eq(RtlSecureZeroMemory(p, 0), p);
	ck_assert_all(p, TL_PAGE, 5);
	tl_release(p);
}
END_TEST

/* ---- RtlSecureZeroMemory ---- */

START_TEST(test_RtlSecureZeroMemory__returns_ptr_and_zeroes)
{
	unsigned char *p = guarded(2);

	memset(p, 0x99, 2 * TL_PAGE);
	ck_assert_ptr_eq(RtlSecureZeroMemory(p + TL_PAGE - 1, 2), p + TL_PAGE - 1);
	ck_assert_int_eq(p[TL_PAGE - 2], 0x99);
	ck_assert_all(p + TL_PAGE - 1, 2, 0);
	ck_assert_int_eq(p[TL_PAGE + 1], 0x99);
	ck_assert_ptr_eq(RtlSecureZeroMemory(p + 3, 2 * TL_PAGE - 3), p + 3);
	ck_assert_all(p, 3, 0x99);
	ck_assert_all(p + 3, 2 * TL_PAGE - 3, 0);
	tl_release(p);
}
END_TEST

/* A secret in a local array that dies right after it is wiped: the case
 * where a compiler deletes a plain memset as a dead store. Each victim
 * records where its array was; the test reads those bytes after the frame
 * is gone, with tl_read (a real load the compiler keeps; run-suites.sh
 * tells valgrind these reads are deliberate). Only tl_read runs between the
 * victim's return and the reads; its frame sits where the top of the
 * victim's was, and the pad keeps the secret below that. */
#define SECRET_LEN 96

struct victim_frame {
	unsigned char secret[SECRET_LEN];
	unsigned char pad[64];          /* above the secret, never touched */
};

static volatile uintptr_t dead_array;
static volatile unsigned secret_sum;

static const unsigned char secret_text[] = "hunter2 correct horse battery staple";

/* Reads the secret, so that the stores that put it there are not dead. */
static __attribute__((noinline)) void use_secret(const unsigned char *p)
{
	unsigned s = 0;

	for (size_t i = 0; i < SECRET_LEN; i++)
		s += p[i];
	secret_sum = s;
}

static void put_secret(unsigned char *p)
{
	for (size_t i = 0; i < SECRET_LEN; i++)
		p[i] = secret_text[i % (sizeof secret_text - 1)];
}

/* The control: no wipe at all, so the secret stays behind. */
static __attribute__((noinline)) void victim_no_wipe(void)
{
	struct victim_frame f;

	put_secret(f.secret);
	use_secret(f.secret);
	dead_array = (uintptr_t)f.secret;
}

/* With memset(f.secret, 0, ...) in place of SecureZeroMemory here, gcc 12
 * deletes the memset as a dead store at -O1, -O2, -Os and with -flto, and
 * the test reads the secret back intact; at -O0, -Og and with
 * -fsanitize=address the memset stays. That is the compiler's business, so
 * the suite does not assert it; the no-wipe control shows instead that the
 * reads do see what a dead frame left. Built with OPT='-O2 -flto', LTO
 * inlines RtlSecureZeroMemory here, and this test fails for a library that
 * calls memset without its barrier. */
static __attribute__((noinline)) void victim_secure_wipe(void)
{
	struct victim_frame f;

	put_secret(f.secret);
	use_secret(f.secret);
	SecureZeroMemory(f.secret, sizeof f.secret);
	dead_array = (uintptr_t)f.secret;
}

/* Copies the dead array into seen. Inlined: a frame of its own would lie
 * over the dead one. Memcheck counts a frame as undefined once it is popped,
 * and would report each use of the copy; the bytes are real, and wanted. */
static inline __attribute__((always_inline)) void read_dead_array(unsigned char *seen)
{
	const volatile unsigned char *at = (const volatile unsigned char *)dead_array;

	for (size_t i = 0; i < SECRET_LEN; i++)
		seen[i] = tl_read(at + i);
	VALGRIND_MAKE_MEM_DEFINED(seen, SECRET_LEN);
}

START_TEST(test_RtlSecureZeroMemory__dead_stack_buffer_is_zeroed)
{
	unsigned char seen[SECRET_LEN], expect[SECRET_LEN];

	put_secret(expect);
	victim_no_wipe();
	read_dead_array(seen);
	ck_assert_msg(!memcmp(seen, expect, SECRET_LEN),
	              "control: the unwiped secret is not visible in the dead frame");

	victim_secure_wipe();
	read_dead_array(seen);
	ck_assert_all(seen, SECRET_LEN, 0);
}
END_TEST

/* ---- the SDK macros ---- */

START_TEST(test_SDK_macros__are_the_functions)
{
	VOID (*copy)(PVOID, const VOID *, SIZE_T) = CopyMemory;
	VOID (*move)(PVOID, const VOID *, SIZE_T) = MoveMemory;
	VOID (*fill)(PVOID, SIZE_T, BYTE) = FillMemory;
	VOID (*zero)(PVOID, SIZE_T) = ZeroMemory;
	PVOID (*secure)(PVOID, SIZE_T) = SecureZeroMemory;
	unsigned char a[32], b[32];

	ck_assert(copy == RtlCopyMemory);
	ck_assert(move == RtlMoveMemory);
	ck_assert(fill == RtlFillMemory);
	ck_assert(zero == RtlZeroMemory);
	ck_assert(secure == RtlSecureZeroMemory);

	FillMemory(a, sizeof a, 0x42);
	ck_assert_all(a, sizeof a, 0x42);
	CopyMemory(b, a, sizeof b);
	ck_assert_all(b, sizeof b, 0x42);
	ZeroMemory(a, 8);
	MoveMemory(a + 4, a, 16);
	ck_assert_all(a, 12, 0);
	ck_assert_all(a + 12, 20, 0x42);
	ck_assert_ptr_eq(SecureZeroMemory(b, sizeof b), b);
	ck_assert_all(b, sizeof b, 0);
}
END_TEST

/* ---- model: random operations against a byte-loop reference ---- */

#define MODEL_SIZE (3 * 4096)

enum { OP_COPY, OP_MOVE, OP_FILL, OP_ZERO, OP_SECURE, OP_COUNT };

static uint64_t rng;

static uint64_t rnd(uint64_t n)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (z ^ (z >> 31)) % n;
}

/* Mostly short lengths, some zero, some up to max. */
static size_t rnd_len(size_t max)
{
	switch (rnd(8)) {
	case 0:  return 0;
	case 1:
	case 2:  return (size_t)rnd(max + 1);
	default: return (size_t)rnd((max < 64 ? max : 64) + 1);
	}
}

struct op {
	int    kind;
	size_t dst, src, len;
	BYTE   fill;
};

/* A random operation; copies get ranges that do not overlap. */
static struct op random_op(void)
{
	struct op o = { (int)rnd(OP_COUNT), 0, 0, 0, (BYTE)rnd(256) };

	o.len = rnd_len(o.kind == OP_COPY ? MODEL_SIZE / 3 : MODEL_SIZE);
	o.dst = (size_t)rnd(MODEL_SIZE - o.len + 1);
	o.src = (size_t)rnd(MODEL_SIZE - o.len + 1);
	while (o.kind == OP_COPY && (o.dst < o.src ? o.src - o.dst : o.dst - o.src) < o.len)
		o.src = (size_t)rnd(MODEL_SIZE - o.len + 1);
	return o;
}

static void apply_lib(unsigned char *buf, const struct op *o)
{
	switch (o->kind) {
	case OP_COPY: RtlCopyMemory(buf + o->dst, buf + o->src, o->len); break;
	case OP_MOVE: RtlMoveMemory(buf + o->dst, buf + o->src, o->len); break;
	case OP_FILL: RtlFillMemory(buf + o->dst, o->len, o->fill); break;
	case OP_ZERO: RtlZeroMemory(buf + o->dst, o->len); break;
	default:
		ck_assert_ptr_eq(RtlSecureZeroMemory(buf + o->dst, o->len), buf + o->dst);
		break;
	}
}

static void apply_ref(unsigned char *ref, const struct op *o)
{
	static unsigned char tmp[MODEL_SIZE];

	switch (o->kind) {
	case OP_COPY:
	case OP_MOVE:
		for (size_t i = 0; i < o->len; i++)
			tmp[i] = ref[o->src + i];
		for (size_t i = 0; i < o->len; i++)
			ref[o->dst + i] = tmp[i];
		break;
	case OP_FILL:
		for (size_t i = 0; i < o->len; i++)
			ref[o->dst + i] = o->fill;
		break;
	default:
		for (size_t i = 0; i < o->len; i++)
			ref[o->dst + i] = 0;
		break;
	}
}

START_TEST(test_RtlMemory__model_random_sequences)
{
	static const uint64_t seeds[] = { 1, 0x5eed, 20261124 };
	static const char *names[] = { "copy", "move", "fill", "zero", "secure-zero" };
	static unsigned char ref[MODEL_SIZE];
	unsigned char *buf = guarded(MODEL_SIZE / TL_PAGE);
	int steps = tl_valgrind() ? 500 : 5000;

	rng = seeds[_i];
	pattern(buf, MODEL_SIZE, 0);
	pattern(ref, MODEL_SIZE, 0);
	for (int s = 0; s < steps; s++) {
		struct op o = random_op();
		size_t bad;

		apply_lib(buf, &o);
		apply_ref(ref, &o);
		for (bad = 0; bad < MODEL_SIZE && buf[bad] == ref[bad]; bad++)
			;
		ck_assert_msg(bad == MODEL_SIZE,
		              "seed %llu step %d %s dst %zu src %zu len %zu: byte %zu differs",
		              (unsigned long long)seeds[_i], s, names[o.kind], o.dst, o.src, o.len,
		              bad);
	}
	tl_release(buf);
}
END_TEST

static Suite *make_rtl_suite(void)
{
	Suite *s = suite_create("rtl");
	TCase *tc;

	tc = tcase_create("copy");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_RtlCopyMemory__copies_bytes_and_nothing_else);
	tcase_add_test(tc, test_RtlCopyMemory__across_page_boundaries);
	tcase_add_test(tc, test_RtlCopyMemory__several_mebibytes);
	tcase_add_test(tc, test_RtlMoveMemory__overlap_to_higher_address);
	tcase_add_test(tc, test_RtlMoveMemory__overlap_to_lower_address);
	tcase_add_test(tc, test_RtlMoveMemory__same_address_and_disjoint);
	tcase_add_test(tc, test_RtlMoveMemory__several_mebibytes_overlapping);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("fill");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_RtlFillMemory__every_byte_value);
	tcase_add_test(tc, test_RtlFillMemory__argument_order);
	tcase_add_test(tc, test_RtlZeroMemory__zeroes_range_only);
	tcase_add_test(tc, test_RtlMemory__fill_zero_wipe_several_mebibytes);
	tcase_add_test(tc, test_RtlMemory__zero_length_with_null);
	tcase_add_test(tc, test_RtlMemory__zero_length_touches_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("secure");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_test(tc, test_RtlSecureZeroMemory__returns_ptr_and_zeroes);
	tcase_add_test(tc, test_RtlSecureZeroMemory__dead_stack_buffer_is_zeroed);
	tcase_add_test(tc, test_SDK_macros__are_the_functions);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_add_loop_test(tc, test_RtlMemory__model_random_sequences, 0, 3);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_rtl_suite)
