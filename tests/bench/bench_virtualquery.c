/* bench_virtualquery: "which mapping holds this address, with what
 * protection?" asked of libmemapi (VirtualQuery, answered from its own table)
 * and of the kernel (a parse of /proc/self/maps, or one PROCMAP_QUERY ioctl),
 * with 10,000 live 64 KiB reservations in the process.
 *
 * Targets: VirtualQuery of own memory at least 20x faster than the parse and
 * at most 200 ns per query. VirtualQuery of memory the library does not own
 * (a stack address) is shown for information. */
#include <windows.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "os/kernel.h"
#include "bench.h"

#define RESERVATIONS   10000
#define RES_SIZE       (64u << 10)
#define PAGE           4096u
#define VQ_QUERIES     100000   /* VirtualQuery calls per timed repetition   */
#define IOCTL_QUERIES  20000    /* PROCMAP_QUERY ioctls per repetition       */
#define PARSE_QUERIES  40       /* open+read+parse lookups per repetition    */
#define STACK_QUERIES  2000     /* VirtualQuery of a stack address per rep.  */
#define TARGET_NS      200.0
#define TARGET_SPEEDUP 20.0

static uintptr_t addrs[VQ_QUERIES];

static void die(const char *what)
{
	fprintf(stderr, "bench_virtualquery: %s failed (error %u, errno %d)\n", what,
	        (unsigned)GetLastError(), errno);
	exit(1);
}

/* ---- the kernel's answer, the old way: open, read, parse until found ---- */

static char maps_buf[256 << 10];

static uintptr_t parse_hex(const char **p)
{
	uintptr_t v = 0;

	for (;; (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			v = v * 16 + (uintptr_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uintptr_t)(c - 'a' + 10);
		else
			return v;
	}
}

/* The protection ("rw-p") of the mapping holding addr: 1 when found. */
static int parse_lookup(uintptr_t addr, char perms[5])
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t have = 0;
	int found = 0;

	if (fd < 0)
		die("open /proc/self/maps");
	while (!found) {
		ssize_t n = read(fd, maps_buf + have, sizeof maps_buf - 1 - have);
		char *line = maps_buf, *end, *nl;

		if (n <= 0)
			break;
		have += (size_t)n;
		end = maps_buf + have;
		while ((nl = memchr(line, '\n', (size_t)(end - line)))) {
			const char *p = line;
			uintptr_t s = parse_hex(&p), e;

			p++;                                    /* '-' */
			e = parse_hex(&p);
			if (addr >= s && addr < e) {
				memcpy(perms, p + 1, 4);
				perms[4] = 0;
				found = 1;
				break;
			}
			line = nl + 1;
		}
		have = (size_t)(end - line);                    /* a partial last line */
		memmove(maps_buf, line, have);
	}
	close(fd);
	return found;
}

/* ---- the kernel's answer, the new way: one ioctl on an open maps fd ---- */

static int maps_fd = -1;

static int ioctl_lookup(uintptr_t addr, struct procmap_query *q)
{
	memset(q, 0, sizeof *q);
	q->size = sizeof *q;
	q->query_addr = addr;           /* no flags: the VMA covering addr only */
	return ioctl(maps_fd, PROCMAP_QUERY, q) ? errno : 0;
}

/* ---- the timed loops: each returns ns per query ---- */

static volatile uint64_t sink;

static double time_vq(const uintptr_t *a, int n)
{
	MEMORY_BASIC_INFORMATION mbi;
	uint64_t acc = 0, t0 = now_ns();

	for (int i = 0; i < n; i++) {
		if (!VirtualQuery((void *)a[i], &mbi, sizeof mbi))
			die("VirtualQuery");
		acc += mbi.Protect;
	}
	sink = acc;
	return (double)(now_ns() - t0) / n;
}

static double time_ioctl(const uintptr_t *a, int n)
{
	struct procmap_query q;
	uint64_t acc = 0, t0 = now_ns();

	for (int i = 0; i < n; i++) {
		if (ioctl_lookup(a[i], &q))
			die("PROCMAP_QUERY");
		acc += q.vma_flags;
	}
	sink = acc;
	return (double)(now_ns() - t0) / n;
}

static double time_parse(const uintptr_t *a, int n)
{
	char perms[5];
	uint64_t acc = 0, t0 = now_ns();

	for (int i = 0; i < n; i++) {
		if (!parse_lookup(a[i], perms))
			die("maps lookup");
		acc += (uint64_t)perms[1];
	}
	sink = acc;
	return (double)(now_ns() - t0) / n;
}

static void add_row(struct bench_table *t, const char *label, struct bench_stats st,
                    double ratio, const char *of, const char *target, const char *status)
{
	char v[3][80];

	bench_cell(t, "%s", label);
	bench_cell(t, "%s", bench_fmt(v[0], sizeof v[0], st.med));
	bench_cell(t, "%s", isnan(st.med) ? "n/a" : bench_fmt_spread(v[1], sizeof v[1], st));
	if (isnan(ratio) && !*of)
		bench_cell(t, "(reference)");
	else
		bench_cell(t, "%s%s", bench_fmt_ratio(v[2], sizeof v[2], ratio), of);
	bench_cell(t, "%s", target);
	bench_cell(t, "%s", status);
}

/* ---- agreement: the three methods answer the same question ---- */

static bool vq_matches_flags(const MEMORY_BASIC_INFORMATION *m, uint64_t f)
{
	bool r = f & PROCMAP_QUERY_VMA_READABLE, w = f & PROCMAP_QUERY_VMA_WRITABLE,
	     x = f & PROCMAP_QUERY_VMA_EXECUTABLE;

	if (m->State == MEM_RESERVE)
		return !r && !w && !x;
	if (m->Protect == PAGE_READWRITE)
		return r && w && !x;
	if (m->Protect == PAGE_READONLY)
		return r && !w && !x;
	return false;
}

static bool perms_match_flags(const char *p, uint64_t f)
{
	return (p[0] == 'r') == !!(f & PROCMAP_QUERY_VMA_READABLE) &&
	       (p[1] == 'w') == !!(f & PROCMAP_QUERY_VMA_WRITABLE) &&
	       (p[2] == 'x') == !!(f & PROCMAP_QUERY_VMA_EXECUTABLE);
}

static int count_maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

int main(void)
{
	static uintptr_t bases[RESERVATIONS];
	double vq[BENCH_REPS], io[BENCH_REPS], pa[BENCH_REPS], svq[BENCH_REPS], sio[BENCH_REPS];
	struct bench_stats s_vq, s_io, s_pa, s_svq, s_sio;
	uint64_t seed = 0x5eed0001;
	int stack_local = 0, agree = 0, checked = 0, parse_agree = 0, parse_checked = 0;
	static uintptr_t stack_addrs[STACK_QUERIES];
	bool have_ioctl;
	struct procmap_query q;
	struct bench_table t;
	char tgt_ns[32], tgt_x[32];

	bench_pin_cpu();
	for (int i = 0; i < STACK_QUERIES; i++)
		stack_addrs[i] = (uintptr_t)&stack_local;

	/* 10,000 reservations, a quarter each: committed read-write, half
	 * committed (first 8 pages), committed read-only, only reserved. */
	for (int i = 0; i < RESERVATIONS; i++) {
		void *p = VirtualAlloc(NULL, RES_SIZE, MEM_RESERVE, PAGE_READWRITE);

		if (!p)
			die("VirtualAlloc(MEM_RESERVE)");
		bases[i] = (uintptr_t)p;
		switch (i % 4) {
		case 0: p = VirtualAlloc(p, RES_SIZE, MEM_COMMIT, PAGE_READWRITE); break;
		case 1: p = VirtualAlloc(p, RES_SIZE / 2, MEM_COMMIT, PAGE_READWRITE); break;
		case 2: p = VirtualAlloc(p, RES_SIZE, MEM_COMMIT, PAGE_READONLY); break;
		default: break;
		}
		if (!p)
			die("VirtualAlloc(MEM_COMMIT)");
	}
	for (int i = 0; i < VQ_QUERIES; i++)
		addrs[i] = bases[bench_rand_below(&seed, RESERVATIONS)] +
		           bench_rand_below(&seed, RES_SIZE / PAGE) * PAGE +
		           bench_rand_below(&seed, PAGE);

	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (maps_fd < 0)
		die("open /proc/self/maps");
	have_ioctl = ioctl_lookup(addrs[0], &q) == 0;

	/* Check that the answers agree before timing them. */
	for (int i = 0; have_ioctl && i < 2000; i++) {
		MEMORY_BASIC_INFORMATION mbi;

		if (!VirtualQuery((void *)addrs[i], &mbi, sizeof mbi) || ioctl_lookup(addrs[i], &q))
			die("agreement check");
		checked++;
		agree += vq_matches_flags(&mbi, q.vma_flags);
		if (i < 20) {
			char perms[5];

			parse_checked++;
			parse_agree += parse_lookup(addrs[i], perms) && perms_match_flags(perms, q.vma_flags);
		}
	}

	/* Warm up, then the repetitions, the methods interleaved. */
	time_vq(addrs, VQ_QUERIES);
	time_vq(stack_addrs, 100);
	if (have_ioctl)
		time_ioctl(addrs, IOCTL_QUERIES);
	time_parse(addrs, 2);
	for (int r = 0; r < BENCH_REPS; r++) {
		vq[r] = time_vq(addrs, VQ_QUERIES);
		io[r] = have_ioctl ? time_ioctl(addrs + r * IOCTL_QUERIES % VQ_QUERIES, IOCTL_QUERIES) : NAN;
		pa[r] = time_parse(addrs + r * PARSE_QUERIES, PARSE_QUERIES);
		svq[r] = time_vq(stack_addrs, STACK_QUERIES);
		sio[r] = have_ioctl ? time_ioctl(stack_addrs, STACK_QUERIES) : NAN;
	}
	s_vq = bench_stats(vq, BENCH_REPS);
	s_io = bench_stats(io, BENCH_REPS);
	s_pa = bench_stats(pa, BENCH_REPS);
	s_svq = bench_stats(svq, BENCH_REPS);
	s_sio = bench_stats(sio, BENCH_REPS);

	bench_table_init(&t, "VirtualQuery with 10,000 live reservations vs the kernel's map",
	                 "units: ns per query (address -> the mapping holding it and its protection); "
	                 "median of 7 runs, min-max of the 7",
	                 6, "method", ">ns/query", ">min-max", ">ratio", "target", "status");

	snprintf(tgt_ns, sizeof tgt_ns, "<= %.0f ns", TARGET_NS);
	snprintf(tgt_x, sizeof tgt_x, ">= %.0fx VQ", TARGET_SPEEDUP);
	/* Own memory: VirtualQuery is the reference of the next two rows. */
	add_row(&t, "VirtualQuery, own reservation", s_vq, NAN, "", tgt_ns,
	        bench_status(s_vq.med <= TARGET_NS));
	add_row(&t, "/proc/self/maps open+read+parse", s_pa, s_pa.med / s_vq.med, " VQ",
	        tgt_x, bench_status(s_pa.med / s_vq.med >= TARGET_SPEEDUP));
	add_row(&t, "PROCMAP_QUERY ioctl, open fd", s_io, s_io.med / s_vq.med, " VQ",
	        "none (info)", "-");
	/* Memory the library does not own: the ioctl is the reference. */
	add_row(&t, "PROCMAP_QUERY ioctl, stack address", s_sio, NAN, "", "none (info)", "-");
	add_row(&t, "VirtualQuery, stack address", s_svq, s_svq.med / s_sio.med, " ioctl",
	        "none (info)", "-");

	bench_note(&t, "ratio: 'N VQ' = N times VirtualQuery of an own reservation; 'N ioctl' = N times"
	           " the ioctl on the same stack address.\n"
	           "Random addresses (fixed seed) inside the reservations: 1/4 committed RW, 1/4 half"
	           " committed, 1/4 read-only, 1/4\n"
	           "reserved; /proc/self/maps had %d lines. Per run: %d VirtualQuery, %d ioctl, %d parse"
	           " lookups, %d stack queries each.", count_maps_lines(), VQ_QUERIES, IOCTL_QUERIES,
	           PARSE_QUERIES, STACK_QUERIES);
	if (have_ioctl)
		bench_note(&t, "answers agree: VirtualQuery vs ioctl on %d/%d addresses, parse vs ioctl"
		           " on %d/%d%s", agree, checked, parse_agree, parse_checked,
		           agree == checked && parse_agree == parse_checked ?
		           "." : " -- DISAGREEMENT: the figures compare different answers.");
	else
		bench_note(&t, "PROCMAP_QUERY is not available on this kernel (Linux 6.11+): its rows are n/a.");
	bench_note(&t, "VirtualQuery of memory the library does not own asks the kernel: PROCMAP_QUERY on a"
	           " descriptor it keeps open,\n"
	           "plus one or two more to find the allocation around it (the stack rows compare it with one ioctl).");
	bench_table_print(&t);
	close(maps_fd);
	return 0;
}
