/* bench.h: shared helpers of the benchmark programs under tests/bench.
 *
 * Conventions every benchmark follows:
 *  - times come from clock_gettime(CLOCK_MONOTONIC) (now_ns);
 *  - each figure is the median of BENCH_REPS repetitions of a timed loop,
 *    printed with the min-max spread of those repetitions (bench_stats);
 *  - a figure is printed next to its peer from the same run, as a ratio, and
 *    where the peers are measured in the same process their repetitions are
 *    interleaved (A, B, A, B, ...) so that drift hits both alike;
 *  - each table row states its target and whether it is met, honestly;
 *  - output is an aligned plain-text table (bench_table) per benchmark, with
 *    a title line, a units line and note lines. */
#ifndef BENCH_H
#define BENCH_H

#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPS 7

/* ---- time ---- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Keeps the calling thread on the CPU it runs on, so that migrations
 * between the cores do not add to the spread. Best effort. */
static inline void bench_pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

/* ---- statistics ---- */

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n) (v is left unchanged); NAN when n is 0. */
static inline double median(const double *v, int n)
{
	double tmp[64];
	double *s = n <= 64 ? tmp : malloc((size_t)n * sizeof *s);
	double m;

	if (n <= 0 || !s)
		return NAN;
	memcpy(s, v, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, bench_cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	if (s != tmp)
		free(s);
	return m;
}

struct bench_stats {
	double med, min, max;
};

static inline struct bench_stats bench_stats(const double *v, int n)
{
	struct bench_stats s = { median(v, n), NAN, NAN };

	for (int i = 0; i < n; i++) {
		if (i == 0 || v[i] < s.min)
			s.min = v[i];
		if (i == 0 || v[i] > s.max)
			s.max = v[i];
	}
	return s;
}

/* ---- paired measurement ---- */

/* A libmemapi figure and its peer's, from the same run. */
struct bench_pair {
	struct bench_stats lib, raw;
};

typedef void (*bench_cycle_fn)(size_t arg);

/* Each repetition runs cycles library calls and cycles peer calls one by
 * one, alternating which goes first, and sums the time of each side, so
 * that drift of the machine (frequency, the other core's load) hits both
 * alike. Figures are ns per call. */
static inline struct bench_pair bench_interleaved(bench_cycle_fn lib, bench_cycle_fn raw,
                                                  size_t arg, int warmup, int cycles)
{
	double a[BENCH_REPS], b[BENCH_REPS];
	struct bench_pair p;

	for (int i = 0; i < warmup; i++) {
		lib(arg);
		raw(arg);
	}
	for (int r = 0; r < BENCH_REPS; r++) {
		uint64_t ta = 0, tb = 0;

		for (int i = 0; i < cycles; i++) {
			bench_cycle_fn first = i % 2 ? raw : lib, second = i % 2 ? lib : raw;
			uint64_t t0 = now_ns(), t1, t2;

			first(arg);
			t1 = now_ns();
			second(arg);
			t2 = now_ns();
			ta += i % 2 ? t2 - t1 : t1 - t0;
			tb += i % 2 ? t1 - t0 : t2 - t1;
		}
		a[r] = (double)ta / cycles;
		b[r] = (double)tb / cycles;
	}
	p.lib = bench_stats(a, BENCH_REPS);
	p.raw = bench_stats(b, BENCH_REPS);
	return p;
}

/* ---- deterministic pseudo-random numbers (splitmix64) ---- */

static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the modulo bias is negligible for our n). */
static inline uint64_t bench_rand_below(uint64_t *state, uint64_t n)
{
	return bench_rand(state) % n;
}

/* ---- number formatting (into caller buffers) ---- */

/* A time or count with a precision that suits its size and thousands
 * separators above 9999: 0.84, 45.3, 812, 12,345. */
static inline const char *bench_fmt(char *buf, size_t size, double v)
{
	char digits[64];
	size_t len, lead, o = 0;

	if (isnan(v)) {
		snprintf(buf, size, "n/a");
		return buf;
	}
	if (v < 10)
		snprintf(buf, size, "%.2f", v);
	else if (v < 1000)
		snprintf(buf, size, "%.1f", v);
	else if (v < 10000)
		snprintf(buf, size, "%.0f", v);
	else {
		snprintf(digits, sizeof digits, "%.0f", v);
		len = strlen(digits);
		lead = len % 3 ? len % 3 : 3;
		for (size_t i = 0; i < len && o + 2 < size; i++) {
			if (i && i >= lead && (i - lead) % 3 == 0)
				buf[o++] = ',';
			buf[o++] = digits[i];
		}
		buf[o] = 0;
	}
	return buf;
}

/* "min-max" of a stats triple. */
static inline const char *bench_fmt_spread(char *buf, size_t size, struct bench_stats s)
{
	char a[32], b[32];

	snprintf(buf, size, "%s-%s", bench_fmt(a, sizeof a, s.min), bench_fmt(b, sizeof b, s.max));
	return buf;
}

/* A ratio such as "1.07x" or "27,345x". */
static inline const char *bench_fmt_ratio(char *buf, size_t size, double r)
{
	char n[48];

	if (isnan(r) || isinf(r))
		snprintf(buf, size, "n/a");
	else if (r < 100)
		snprintf(buf, size, "%.2fx", r);
	else
		snprintf(buf, size, "%sx", bench_fmt(n, sizeof n, r));
	return buf;
}

static inline const char *bench_status(int met)
{
	return met ? "met" : "NOT met";
}

/* ---- aligned plain-text tables ---- */

#define BENCH_MAX_COLS  12
#define BENCH_MAX_ROWS  40
#define BENCH_MAX_NOTES 8
#define BENCH_CELL      64

struct bench_table {
	char title[160];
	char units[512];
	int  ncols, nrows, col;                   /* col: next cell of the last row */
	char head[BENCH_MAX_COLS][BENCH_CELL];
	char right[BENCH_MAX_COLS];               /* 1: right-aligned column        */
	char cell[BENCH_MAX_ROWS][BENCH_MAX_COLS][BENCH_CELL];
	char note[BENCH_MAX_NOTES][640];
	int  nnotes;
};

/* ncols headings follow; a heading that starts with '>' is right-aligned
 * (numbers), any other is left-aligned (text). */
static inline void bench_table_init(struct bench_table *t, const char *title,
                                    const char *units, int ncols, ...)
{
	va_list ap;

	memset(t, 0, sizeof *t);
	snprintf(t->title, sizeof t->title, "%s", title);
	snprintf(t->units, sizeof t->units, "%s", units);
	t->ncols = ncols < BENCH_MAX_COLS ? ncols : BENCH_MAX_COLS;
	va_start(ap, ncols);
	for (int i = 0; i < t->ncols; i++) {
		const char *h = va_arg(ap, const char *);

		t->right[i] = h[0] == '>';
		snprintf(t->head[i], BENCH_CELL, "%s", h + (h[0] == '>'));
	}
	va_end(ap);
	t->col = t->ncols;                        /* the next cell opens a row */
}

/* Appends one cell (printf format) to the current row, opening a new row
 * when the current one is full. */
__attribute__((format(printf, 2, 3)))
static inline void bench_cell(struct bench_table *t, const char *fmt, ...)
{
	va_list ap;

	if (t->col == t->ncols) {
		if (t->nrows == BENCH_MAX_ROWS)
			return;
		t->nrows++;
		t->col = 0;
	}
	va_start(ap, fmt);
	vsnprintf(t->cell[t->nrows - 1][t->col++], BENCH_CELL, fmt, ap);
	va_end(ap);
}

/* Replaces the units line (printf format), for units that name counts. */
__attribute__((format(printf, 2, 3)))
static inline void bench_set_units(struct bench_table *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->units, sizeof t->units, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static inline void bench_note(struct bench_table *t, const char *fmt, ...)
{
	va_list ap;

	if (t->nnotes == BENCH_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(t->note[t->nnotes++], sizeof t->note[0], fmt, ap);
	va_end(ap);
}

static inline void bench_table_print(const struct bench_table *t)
{
	int w[BENCH_MAX_COLS], total = 0;

	for (int c = 0; c < t->ncols; c++) {
		w[c] = (int)strlen(t->head[c]);
		for (int r = 0; r < t->nrows; r++)
			if ((int)strlen(t->cell[r][c]) > w[c])
				w[c] = (int)strlen(t->cell[r][c]);
		total += w[c] + (c ? 2 : 0);
	}
	printf("\n%s\n", t->title);
	for (size_t i = strlen(t->title); i > 0; i--)
		putchar('=');
	printf("\n%s\n\n", t->units);
	for (int c = 0; c < t->ncols; c++) {
		if (c == t->ncols - 1 && !t->right[c])
			printf(c ? "  %s" : "%s", t->head[c]);
		else
			printf(c ? "  %*s" : "%*s", t->right[c] ? w[c] : -w[c], t->head[c]);
	}
	putchar('\n');
	for (int i = 0; i < total; i++)
		putchar('-');
	putchar('\n');
	for (int r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			/* no padding after the last cell */
			if (c == t->ncols - 1 && !t->right[c])
				printf(c ? "  %s" : "%s", t->cell[r][c]);
			else
				printf(c ? "  %*s" : "%*s", t->right[c] ? w[c] : -w[c], t->cell[r][c]);
		}
		putchar('\n');
	}
	/* Each note starts with "note: "; a '\n' inside one continues it on an
	 * indented line. */
	for (int i = 0; i < t->nnotes; i++) {
		fputs("note: ", stdout);
		for (const char *p = t->note[i]; *p; p++)
			fputs(*p == '\n' ? "\n      " : (char[2]){ *p, 0 }, stdout);
		putchar('\n');
	}
	fflush(stdout);
}

#endif
