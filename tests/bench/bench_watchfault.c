/* bench_watchfault: the cost of the first write to a page of a
 * MEM_WRITE_WATCH region, on the kernel path (userfaultfd async write
 * protection, the default where the kernel has it) and on the fallback path
 * (the page is mapped without PROT_WRITE; libmemapi's SIGSEGV handler records
 * the write and opens the page with mprotect), with a first write to an
 * unwatched committed page as the baseline.
 *
 * The path is chosen once at library start-up (MEMAPI_WRITE_WATCH=fallback
 * selects the fallback), so each path is measured in a child process: this
 * program runs itself with --child under each environment and reads the
 * child's figures from a pipe.
 *
 * Two cases: a fresh committed page (the first write also allocates the page)
 * and a resident page after ResetWriteWatch (only the tracking costs). */
#include <windows.h>
#include <memapi.h>

#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PAGES 16384u
#define PAGE  4096u
#define SIZE  ((size_t)PAGES * PAGE)

extern char **environ;

/* ---- child: measure and print "name v1 v2 ... v7" lines ---- */

static PVOID watch_buf[PAGES];

static void child_die(const char *what)
{
	printf("error %s failed (error %u)\n", what, (unsigned)GetLastError());
	exit(1);
}

/* ns per page of one pass writing one byte to every page. */
static double write_pass(char *p, char stamp)
{
	uint64_t t0 = now_ns();

	for (size_t i = 0; i < PAGES; i++)
		((volatile char *)p)[i * PAGE] = stamp;
	return (double)(now_ns() - t0) / PAGES;
}

static ULONG_PTR written_pages(char *p)
{
	ULONG_PTR count = PAGES;
	DWORD gran;

	if (GetWriteWatch(0, p, SIZE, watch_buf, &count, &gran))
		child_die("GetWriteWatch");
	return count;
}

/* One repetition on a fresh region: fresh[] gets the first pass, resident[]
 * the second (after ResetWriteWatch when watched). */
static bool one_region(bool watched, double *fresh, double *resident)
{
	DWORD type = MEM_RESERVE | MEM_COMMIT | (watched ? MEM_WRITE_WATCH : 0);
	char *p = VirtualAlloc(NULL, SIZE, type, PAGE_READWRITE);
	bool ok = true;

	if (!p)
		child_die("VirtualAlloc");
	*fresh = write_pass(p, 1);
	if (watched) {
		ok &= written_pages(p) == PAGES;
		if (ResetWriteWatch(p, SIZE))
			child_die("ResetWriteWatch");
		ok &= written_pages(p) == 0;
	}
	*resident = write_pass(p, 2);
	if (watched)
		ok &= written_pages(p) == PAGES;
	if (!VirtualFree(p, 0, MEM_RELEASE))
		child_die("VirtualFree");
	return ok;
}

static void print_series(const char *name, const double *v)
{
	printf("%s", name);
	for (int i = 0; i < BENCH_REPS; i++)
		printf(" %.3f", v[i]);
	putchar('\n');
}

static int child(void)
{
	double fu[BENCH_REPS], ru[BENCH_REPS], fw[BENCH_REPS], rw[BENCH_REPS], x, y;
	memapi_counters c0, c1;
	bool ok = true;

	bench_pin_cpu();
	if (memapi_get_counters(&c0))
		child_die("memapi_get_counters");
	one_region(false, &x, &y);               /* warm-up */
	one_region(true, &x, &y);
	for (int r = 0; r < BENCH_REPS; r++) {
		if (r % 2) {
			ok &= one_region(true, &fw[r], &rw[r]);
			one_region(false, &fu[r], &ru[r]);
		} else {
			one_region(false, &fu[r], &ru[r]);
			ok &= one_region(true, &fw[r], &rw[r]);
		}
	}
	memapi_get_counters(&c1);
	printf("mode %u\n", (unsigned)c0.watch_mode);
	printf("tracked %d\n", ok);
	printf("watch_faults %llu\n", (unsigned long long)(c1.watch_faults - c0.watch_faults));
	print_series("fresh_unwatched", fu);
	print_series("fresh_watched", fw);
	print_series("resident_unwatched", ru);
	print_series("resident_watched", rw);
	fflush(stdout);
	return 0;
}

/* ---- parent: run a child per path and print the table ---- */

struct child_result {
	bool     ok;                 /* ran and reported                       */
	unsigned mode;               /* MEMAPI_WATCH_* the child ran with      */
	bool     tracked;            /* every write seen by GetWriteWatch      */
	unsigned long long watch_faults;
	double   v[4][BENCH_REPS];   /* fresh_unwatched, fresh_watched, resident_unwatched, resident_watched */
	char     error[200];
};

static const char *const series[4] = {
	"fresh_unwatched", "fresh_watched", "resident_unwatched", "resident_watched",
};

static void parse_child(char *out, struct child_result *res)
{
	int seen = 0;

	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "error ", 6))
			snprintf(res->error, sizeof res->error, "%s", line + 6);
		else if (sscanf(line, "mode %u", &res->mode) == 1)
			seen |= 1;
		else if (!strncmp(line, "tracked ", 8))
			res->tracked = line[8] == '1';
		else
			sscanf(line, "watch_faults %llu", &res->watch_faults);
		for (int s = 0; s < 4; s++) {
			size_t len = strlen(series[s]);
			char *p = line + len;

			if (strncmp(line, series[s], len) || *p != ' ')
				continue;
			for (int i = 0; i < BENCH_REPS; i++)
				res->v[s][i] = strtod(p, &p);
			seen |= 2 << s;
		}
	}
	res->ok = seen == 0x1f && !res->error[0];
}

static void run_child(bool fallback, struct child_result *res)
{
	char *argv[] = { "bench_watchfault", "--child", NULL };
	char *env[512], out[8192];
	int pipefd[2], n = 0, status;
	size_t have = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	ssize_t got;

	memset(res, 0, sizeof *res);
	/* The environment minus any setting of the path, plus ours. */
	for (char **e = environ; *e && n < 500; e++)
		if (strncmp(*e, "MEMAPI_WRITE_WATCH=", 19) && strncmp(*e, "MEMAPI_DISABLE=", 15))
			env[n++] = *e;
	if (fallback)
		env[n++] = "MEMAPI_WRITE_WATCH=fallback";
	env[n] = NULL;

	if (pipe(pipefd)) {
		snprintf(res->error, sizeof res->error, "pipe: %s", strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	posix_spawn_file_actions_addclose(&fa, pipefd[1]);
	errno = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (errno) {
		snprintf(res->error, sizeof res->error, "posix_spawn: %s", strerror(errno));
		close(pipefd[0]);
		return;
	}
	while (have < sizeof out - 1 && (got = read(pipefd[0], out + have, sizeof out - 1 - have)) > 0)
		have += (size_t)got;
	out[have] = 0;
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	parse_child(out, res);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && !res->error[0])
		snprintf(res->error, sizeof res->error, "child ended with status %d", status);
	if (res->error[0])
		res->ok = false;
}

static const char *mode_name(unsigned m)
{
	return m == MEMAPI_WATCH_KERNEL ? "kernel" : m == MEMAPI_WATCH_FALLBACK ? "fallback" : "?";
}

int main(int argc, char **argv)
{
	struct child_result k, f;
	struct bench_table t;
	bool kernel_ok, fallback_ok;
	char v[8][80];

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child();

	bench_pin_cpu();
	run_child(false, &k);
	run_child(true, &f);
	kernel_ok = k.ok && k.mode == MEMAPI_WATCH_KERNEL;
	fallback_ok = f.ok && f.mode == MEMAPI_WATCH_FALLBACK;

	bench_table_init(&t, "First write to a watched page: kernel path vs fallback (mprotect + SIGSEGV)",
	                 "", 11, "case", ">unwatched", ">min-max", ">kernel", ">min-max", ">fallback",
	                 ">min-max", ">fallback/kernel", ">kernel/unwatched", "target", "status");
	bench_set_units(&t, "units: ns per first write to a page (a 1-byte store); median of %d runs"
	                " of %s pages each, min-max of the %d", BENCH_REPS,
	                bench_fmt(v[0], sizeof v[0], PAGES), BENCH_REPS);
	for (int c = 0; c < 2; c++) {
		struct bench_stats u = bench_stats(k.v[2 * c], BENCH_REPS);
		struct bench_stats kw = bench_stats(k.v[2 * c + 1], BENCH_REPS);
		struct bench_stats fw = bench_stats(f.v[2 * c + 1], BENCH_REPS);
		double ratio = fw.med / kw.med;

		bench_cell(&t, "%s", c ? "resident page, after ResetWriteWatch" : "fresh committed page");
		bench_cell(&t, "%s", k.ok ? bench_fmt(v[0], sizeof v[0], u.med) : "n/a");
		bench_cell(&t, "%s", k.ok ? bench_fmt_spread(v[1], sizeof v[1], u) : "n/a");
		bench_cell(&t, "%s", kernel_ok ? bench_fmt(v[2], sizeof v[2], kw.med) : "n/a");
		bench_cell(&t, "%s", kernel_ok ? bench_fmt_spread(v[3], sizeof v[3], kw) : "n/a");
		bench_cell(&t, "%s", fallback_ok ? bench_fmt(v[4], sizeof v[4], fw.med) : "n/a");
		bench_cell(&t, "%s", fallback_ok ? bench_fmt_spread(v[5], sizeof v[5], fw) : "n/a");
		bench_cell(&t, "%s", kernel_ok && fallback_ok ?
		           bench_fmt_ratio(v[6], sizeof v[6], ratio) : "n/a");
		bench_cell(&t, "%s", kernel_ok ? bench_fmt_ratio(v[7], sizeof v[7], kw.med / u.med) : "n/a");
		bench_cell(&t, "kernel < fallback");
		bench_cell(&t, "%s", !(kernel_ok && fallback_ok) ? "skipped (a path is unavailable)" :
		           !k.tracked || !f.tracked ? "NOT met (writes not tracked)" :
		           bench_status(ratio > 1.0));
	}
	bench_note(&t, "each path runs in its own child process (MEMAPI_WRITE_WATCH=fallback for the"
	           " fallback); unwatched is from the\n"
	           "kernel-path child (the fallback child measured %s ns fresh, %s ns resident)."
	           " Pages are written in address order.",
	           f.ok ? bench_fmt(v[0], sizeof v[0], median(f.v[0], BENCH_REPS)) : "n/a",
	           f.ok ? bench_fmt(v[1], sizeof v[1], median(f.v[2], BENCH_REPS)) : "n/a");
	bench_note(&t, "target: the kernel path is the default where available, so it should cost"
	           " less than the fallback; no absolute target.");
	bench_note(&t, "checks: GetWriteWatch saw every write: kernel %s, fallback %s;"
	           " fallback faults resolved by the handler: %llu (expected %u).",
	           k.ok ? (k.tracked ? "yes" : "NO") : "n/a", f.ok ? (f.tracked ? "yes" : "NO") : "n/a",
	           f.watch_faults, 2 * PAGES * (BENCH_REPS + 1));
	if (k.ok && k.mode != MEMAPI_WATCH_KERNEL)
		bench_note(&t, "the kernel path is unavailable here (the default child ran the %s path):"
		           " kernel figures and the ratio are skipped.", mode_name(k.mode));
	if (!k.ok)
		bench_note(&t, "kernel-path child failed: %s", k.error[0] ? k.error : "no output");
	if (!f.ok)
		bench_note(&t, "fallback child failed: %s", f.error[0] ? f.error : "no output");
	else if (f.mode != MEMAPI_WATCH_FALLBACK)
		bench_note(&t, "MEMAPI_WRITE_WATCH=fallback did not select the fallback (mode %s).",
		           mode_name(f.mode));
	bench_table_print(&t);
	return 0;
}
