/* bench_isbad: IsBadReadPtr, which answers from libmemapi's page table (or
 * the kernel's map) without touching the memory, against probing the byte
 * and catching the fault:
 *   VEH probe:     a load whose access violation a vectored exception
 *                  handler resumes past (libmemapi's SIGSEGV handler, its
 *                  page table lookup, the handler list, sigreturn), what a
 *                  Windows program's __try probe becomes on libmemapi;
 *   SIGSEGV probe: a load guarded by sigsetjmp, with a raw SIGSEGV handler
 *                  (installed over libmemapi's for these rows) that
 *                  siglongjmps out: the cheapest faulting probe Linux has.
 * Each on a readable and on an unreadable address, in memory libmemapi
 * allocated and in a plain mmap. The issue sets no target. */
#include <windows.h>

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define INNER  64               /* calls per timed cycle: the clock costs more than a load */
#define WARMUP 20

static void die(const char *what)
{
	fprintf(stderr, "bench_isbad: %s failed (error %u)\n", what, (unsigned)GetLastError());
	exit(1);
}

/* ---- the probes ---- */

/* probe_read(p) loads the byte at p and returns 0; when the load faults,
 * the vectored handler resumes at probe_after with 1 in eax. */
int probe_read(const void *p);
extern const char probe_load[], probe_after[];
__asm__(".text\n"
        ".globl probe_read, probe_load, probe_after\n"
        ".hidden probe_read, probe_load, probe_after\n"
        ".type probe_read, @function\n"
        "probe_read:\n"
        "	xorl %eax, %eax\n"
        "probe_load:\n"
        "	movzbl (%rdi), %ecx\n"
        "probe_after:\n"
        "	ret\n"
        ".size probe_read, .-probe_read\n");

static LONG CALLBACK resume_probe(PEXCEPTION_POINTERS ep)
{
	CONTEXT *c = ep->ContextRecord;

	if (ep->ExceptionRecord->ExceptionCode != EXCEPTION_ACCESS_VIOLATION ||
	    c->Rip != (DWORD64)(uintptr_t)probe_load)
		return EXCEPTION_CONTINUE_SEARCH;
	c->Rax = 1;
	c->Rip = (DWORD64)(uintptr_t)probe_after;
	return EXCEPTION_CONTINUE_EXECUTION;
}

static sigjmp_buf probe_env;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(probe_env, 1);
}

/* SA_NODEFER: leaving the handler by siglongjmp without restoring the
 * signal mask (no syscall per probe) must not leave SIGSEGV blocked. */
static void raw_handler(bool on)
{
	static struct sigaction saved;
	struct sigaction sa = { .sa_handler = on_segv, .sa_flags = SA_NODEFER };

	if (on)
		sigaction(SIGSEGV, &sa, &saved);
	else
		sigaction(SIGSEGV, &saved, NULL);
}

static int sig_probe(const volatile char *p)
{
	if (sigsetjmp(probe_env, 0))
		return 1;
	(void)*p;
	return 0;
}

/* ---- timed cycles: INNER calls on the current address ---- */

static const char *target;
static int expect;              /* 1: the address is bad */
static volatile int sink;

static void lib_cycle(size_t arg)
{
	(void)arg;
	for (int i = 0; i < INNER; i++)
		if ((IsBadReadPtr(target, 1) != 0) != expect)
			die("IsBadReadPtr answer");
}

static void veh_cycle(size_t arg)
{
	(void)arg;
	for (int i = 0; i < INNER; i++)
		if (probe_read(target) != expect)
			die("VEH probe answer");
}

static void sig_cycle(size_t arg)
{
	(void)arg;
	for (int i = 0; i < INNER; i++)
		if (sig_probe(target) != expect)
			die("SIGSEGV probe answer");
	sink++;
}

struct row {
	const char *label;
	const char *addr;
	int         bad;
	bool        raw;            /* the SIGSEGV probe, else the VEH one */
	int         cycles;
};

static struct bench_pair measure(const struct row *r)
{
	struct bench_pair p;

	target = r->addr;
	expect = r->bad;
	if (r->raw)
		raw_handler(true);
	p = bench_interleaved(lib_cycle, r->raw ? sig_cycle : veh_cycle, 0, WARMUP, r->cycles);
	if (r->raw)
		raw_handler(false);
	/* ns per cycle of INNER calls -> ns per call */
	for (struct bench_stats *s = &p.lib; s <= &p.raw; s++) {
		s->med /= INNER;
		s->min /= INNER;
		s->max /= INNER;
	}
	return p;
}

static void add_row(struct bench_table *t, const struct row *r, struct bench_pair p)
{
	char v[4][80];

	bench_cell(t, "%s", r->label);
	bench_cell(t, "%s", r->raw ? "SIGSEGV" : "VEH");
	bench_cell(t, "%s", bench_fmt(v[0], sizeof v[0], p.lib.med));
	bench_cell(t, "%s", bench_fmt_spread(v[1], sizeof v[1], p.lib));
	bench_cell(t, "%s", bench_fmt(v[2], sizeof v[2], p.raw.med));
	bench_cell(t, "%s", bench_fmt_spread(v[3], sizeof v[3], p.raw));
	bench_cell(t, "%s", bench_fmt_ratio(v[0], sizeof v[0], p.lib.med / p.raw.med));
	bench_cell(t, "%s", "none set");
	bench_cell(t, "%s", "reported");
}

int main(void)
{
	char *own = VirtualAlloc(NULL, 65536, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
	char *plain = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	                   -1, 0);
	DWORD old;
	struct bench_table t;

	bench_pin_cpu();
	if (!own || !VirtualProtect(own + 4096, 4096, PAGE_NOACCESS, &old))
		die("VirtualAlloc");
	if (plain == MAP_FAILED || mprotect(plain + 4096, 4096, PROT_NONE))
		die("mmap");
	own[0] = plain[0] = 1;
	if (!AddVectoredExceptionHandler(1, resume_probe))
		die("AddVectoredExceptionHandler");

	const struct row rows[] = {
		{ "own page, readable",        own,          0, false, 4000 },
		{ "own page, readable",        own,          0, true,  4000 },
		{ "own page, PAGE_NOACCESS",   own + 4096,   1, false, 300 },
		{ "own page, PAGE_NOACCESS",   own + 4096,   1, true,  300 },
		{ "plain mmap, readable",      plain,        0, false, 300 },
		{ "plain mmap, PROT_NONE",     plain + 4096, 1, false, 300 },
		{ "plain mmap, PROT_NONE",     plain + 4096, 1, true,  300 },
	};
	const int nrows = (int)(sizeof rows / sizeof rows[0]);

	bench_table_init(&t, "IsBadReadPtr vs a faulting probe of the byte", "", 9, "address",
	                 "probe", ">IsBadReadPtr", ">min-max", ">probe", ">min-max", ">lib/probe",
	                 "target", "status");
	bench_set_units(&t, "units: ns per call (one byte); median of %d runs of cycles of %d"
	                " calls, min-max of the %d", BENCH_REPS, INNER, BENCH_REPS);
	for (int i = 0; i < nrows; i++)
		add_row(&t, &rows[i], measure(&rows[i]));
	bench_note(&t, "readable rows: the probe is one load that does not fault. IsBadReadPtr"
	           " takes libmemapi's lock and searches its table (own\n"
	           "memory), or asks the kernel with one PROCMAP_QUERY ioctl on a kept"
	           " /proc/self/maps (plain mmap; without the ioctl,\n"
	           "a parse of the whole file per call).");
	bench_note(&t, "unreadable rows: VEH = fault, libmemapi's SIGSEGV handler, its table"
	           " lookup, the vectored handler, sigreturn;\n"
	           "SIGSEGV = fault, a bare handler and siglongjmp (libmemapi's handler"
	           " swapped out for those rows).");
	bench_note(&t, "IsBadReadPtr never faults, so it fires no guard page and its cost does not"
	           " depend on the answer.");
	bench_table_print(&t);
	return 0;
}
