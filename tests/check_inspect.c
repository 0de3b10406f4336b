/* libmeminspect's targets, ELF objects and symbols, forensic root reader and
 * region map against ground truth: this process (VirtualQuery,
 * memapi_snapshot_regions, GetProcessHeaps, dl_iterate_phdr,
 * /proc/self/maps), forked children that report what they set up, and gcore
 * cores of such children. Last, a model test: a fixed-seed random sequence
 * of VirtualAlloc, VirtualFree and VirtualProtect, after each step of which
 * the region walk must equal a model of the pages. */
#include "testlib.h"
#include "inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE     ((uint64_t)TL_PAGE)
#define GRAN     ((uint64_t)TL_GRAN)
#define U(p)     ((uint64_t)(uintptr_t)(p))
#define KID_TEXT "a heap block of the child"

extern char **environ;

/* A global of this binary for symbol lookups (the suites are PIEs). */
int mi_test_global[4] = { 1, 2, 3, 4 };

static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* ---- ground truth helpers ---- */

struct vqrec {
	uint64_t base, abase, size;
	uint32_t state, protect, aprot, type;
};

/* What make_layout made, as VirtualQuery sees it. */
struct layout {
	uint64_t     region;            /* 4 x 64 KiB reservation                  */
	uint64_t     exec;              /* 64 KiB committed PAGE_EXECUTE_READ      */
	unsigned     nvq;
	struct vqrec vq[24];
};

static void record_vq(struct layout *l, const char *p, size_t size)
{
	for (const char *a = p; a < p + size && l->nvq < 24;) {
		MEMORY_BASIC_INFORMATION m;

		if (VirtualQuery(a, &m, sizeof m) != sizeof m)
			break;
		l->vq[l->nvq++] = (struct vqrec){ U(m.BaseAddress), U(m.AllocationBase), m.RegionSize,
		                                  m.State, m.Protect, m.AllocationProtect, m.Type };
		a = (const char *)m.BaseAddress + m.RegionSize;
	}
}

/* Reserve, commit, guard and protect patterns; the first three pages hold
 * pat(i). Returns 0, or the failed step (for children, which cannot use
 * ck_assert). */
static int make_layout(struct layout *l)
{
	char *p = VirtualAlloc(NULL, 4 * TL_GRAN, MEM_RESERVE, PAGE_READWRITE), *x;
	DWORD old;

	memset(l, 0, sizeof *l);
	if (!p)
		return 1;
	if (!VirtualAlloc(p, 3 * TL_PAGE, MEM_COMMIT, PAGE_READWRITE))
		return 2;
	for (size_t i = 0; i < 3 * TL_PAGE; i++)
		p[i] = (char)pat(i);
	if (!VirtualAlloc(p + TL_GRAN, TL_PAGE, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD))
		return 3;
	if (!VirtualAlloc(p + 2 * TL_GRAN, 2 * TL_PAGE, MEM_COMMIT, PAGE_READWRITE) ||
	    !VirtualProtect(p + 2 * TL_GRAN, TL_PAGE, PAGE_READONLY, &old))
		return 4;
	if (!VirtualAlloc(p + 3 * TL_GRAN + 2 * TL_PAGE, TL_PAGE, MEM_COMMIT, PAGE_NOACCESS))
		return 5;
	if (!(x = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, PAGE_EXECUTE_READ)))
		return 6;
	l->region = U(p);
	l->exec = U(x);
	record_vq(l, p, 4 * TL_GRAN);
	record_vq(l, x, TL_GRAN);
	return 0;
}

/* The walk's output, kept while the target and root live. */
struct vqs {
	struct mi_vq *v;
	size_t        n, cap;
};

static int collect(const struct mi_vq *q, void *ctx)
{
	struct vqs *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		ck_assert_ptr_nonnull(s->v = realloc(s->v, s->cap * sizeof *s->v));
	}
	s->v[s->n++] = *q;
	return 0;
}

static void walk(struct mi_target *t, const struct mi_root *r, struct vqs *s)
{
	struct mi_err e = { 0 };

	s->n = 0;
	ck_assert_msg(mi_region_walk(t, r, collect, s, &e) == 0, "walk: %s", e.msg);
}

static bool same_vq(const struct mi_vq *q, const struct vqrec *w)
{
	return q->base == w->base && q->allocation_base == w->abase && q->size == w->size &&
	       q->state == w->state && q->protect == w->protect &&
	       q->allocation_protect == w->aprot && q->type == w->type;
}

#define VQ_FMT "0x%llx+0x%llx base 0x%llx state 0x%x protect 0x%x aprotect 0x%x type 0x%x"
#define VQ_ARGS(q) (unsigned long long)(q)->base, (unsigned long long)(q)->size, \
	(unsigned long long)(q)->allocation_base, (q)->state, (q)->protect, \
	(q)->allocation_protect, (q)->type
#define REC_ARGS(w) (unsigned long long)(w)->base, (unsigned long long)(w)->size, \
	(unsigned long long)(w)->abase, (w)->state, (w)->protect, (w)->aprot, (w)->type

/* The walk's own regions in [lo, hi) are exactly want[0, n), in order. */
static void ck_own_equal(const struct vqs *s, uint64_t lo, uint64_t hi,
                         const struct vqrec *want, unsigned n)
{
	unsigned k = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct mi_vq *q = &s->v[i];

		if (q->base < lo || q->base >= hi)
			continue;
		ck_assert_msg(q->own, "not libmemapi's: " VQ_FMT, VQ_ARGS(q));
		ck_assert_msg(k < n, "extra region " VQ_FMT, VQ_ARGS(q));
		ck_assert_msg(same_vq(q, &want[k]), "walk " VQ_FMT " != truth " VQ_FMT,
		              VQ_ARGS(q), REC_ARGS(&want[k]));
		k++;
	}
	ck_assert_msg(k == n, "%u of %u regions in [0x%llx, 0x%llx)", k, n,
	              (unsigned long long)lo, (unsigned long long)hi);
}

static void ck_layout(const struct vqs *s, const struct layout *l)
{
	unsigned first = 0;

	while (first < l->nvq && l->vq[first].abase == l->region)
		first++;
	ck_assert_uint_gt(first, 5);
	ck_own_equal(s, l->region, l->region + 4 * GRAN, l->vq, first);
	ck_own_equal(s, l->exec, l->exec + GRAN, l->vq + first, l->nvq - first);
}

/* Sorted, non-overlapping, never free, all in the user half. */
static void ck_walk_sane(const struct vqs *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct mi_vq *q = &s->v[i];

		ck_assert_msg(q->size && q->state != MEM_FREE, VQ_FMT, VQ_ARGS(q));
		ck_assert_msg(q->base + q->size <= 0x800000000000ull, VQ_FMT, VQ_ARGS(q));
		ck_assert_msg(q->allocation_base <= q->base, VQ_FMT, VQ_ARGS(q));
		ck_assert_ptr_nonnull(q->usage);
		ck_assert_ptr_nonnull(q->path);
		if (i)
			ck_assert_msg(s->v[i - 1].base + s->v[i - 1].size <= q->base,
			              "overlap: " VQ_FMT " then " VQ_FMT, VQ_ARGS(&s->v[i - 1]), VQ_ARGS(q));
	}
}

static const struct mi_vq *vq_at(const struct vqs *s, uint64_t addr)
{
	for (size_t i = 0; i < s->n; i++)
		if (addr >= s->v[i].base && addr - s->v[i].base < s->v[i].size)
			return &s->v[i];
	return NULL;
}

static const struct mi_map *map_at(struct mi_target *t, uint64_t addr)
{
	const struct mi_map *m;
	size_t n;
	struct mi_err e;

	ck_assert_int_eq(mi_maps(t, &m, &n, &e), 0);
	for (size_t i = 0; i < n; i++)
		if (addr >= m[i].start && addr < m[i].end)
			return &m[i];
	return NULL;
}

static const struct mi_map *map_named(struct mi_target *t, const char *path)
{
	const struct mi_map *m;
	size_t n;
	struct mi_err e;

	ck_assert_int_eq(mi_maps(t, &m, &n, &e), 0);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].path, path))
			return &m[i];
	return NULL;
}

static void self_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	ck_assert_int_gt(n, 0);
	buf[n] = 0;
}

static struct mi_target *open_self(void)
{
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };

	ck_assert_msg(mi_open_self(&t, &e) == 0, "mi_open_self: %s", e.msg);
	ck_assert_ptr_nonnull(t);
	return t;
}

static struct mi_root *read_root(struct mi_target *t)
{
	struct mi_root *r = NULL;
	struct mi_err e = { 0 };

	ck_assert_msg(mi_root_read(t, &r, &e) == 0, "mi_root_read: %s", e.msg);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* ---- children ---- */

enum {
	KID_STOP     = 0x01,    /* raise(SIGSTOP) once ready (to be dumped)     */
	KID_THREAD   = 0x02,    /* a second thread, blocked in pause()           */
	KID_TORN     = 0x04,    /* leave memapi_root.generation odd              */
	KID_BADMAGIC = 0x08,
	KID_BADSIZE  = 0x10,    /* a root size smaller than the reader's         */
	KID_LOOP     = 0x20,    /* a region list that does not end               */
	KID_NORAND   = 0x40,    /* personality ADDR_NO_RANDOMIZE                 */
};

struct kid_info {
	int           err;
	struct layout lay;
	uint64_t      heap, process_heap, block, local;
	uint64_t      thread_lo, thread_hi;     /* the second thread's stack      */
	uint64_t      region_count, run_count;  /* memapi_root's, the snapshot's  */
	unsigned long persona;
};

struct kid {
	pid_t           pid;
	int             down;       /* closing it lets the child exit */
	struct kid_info info;
};

static int thread_pipe[2];

static void *kid_thread(void *arg)
{
	struct kid_info *i = arg;
	pthread_attr_t a;
	void *lo;
	size_t size;

	if (!pthread_getattr_np(pthread_self(), &a) && !pthread_attr_getstack(&a, &lo, &size)) {
		i->thread_lo = U(lo);
		i->thread_hi = U(lo) + size;
		pthread_attr_destroy(&a);
	}
	if (write(thread_pipe[1], "", 1) != 1)
		i->err = 20;
	for (;;)
		pause();
	return NULL;
}

static struct memapi_rec_region kid_fake;
static struct memapi_rec_run kid_fake_run = { 0, 1, MEM_COMMIT, PAGE_READWRITE };

static void kid_setup(unsigned flags, struct kid_info *i)
{
	memapi_region_info *v;
	size_t n;
	char *b;
	HANDLE h;
	pthread_t th;
	char c;

	i->local = U(&c);
	if ((i->err = make_layout(&i->lay)))
		return;
	if (!(h = HeapCreate(0, 0, 0)) || !(b = HeapAlloc(h, 0, 64))) {
		i->err = 10;
		return;
	}
	strcpy(b, KID_TEXT);
	i->heap = U(h);
	i->block = U(b);
	i->process_heap = U(GetProcessHeap());
	if (flags & KID_THREAD) {
		if (pipe(thread_pipe) || pthread_create(&th, NULL, kid_thread, i) ||
		    read(thread_pipe[0], &c, 1) != 1)
			i->err = 11;
	}
	if ((flags & KID_NORAND) && personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE) < 0)
		i->err = 12;
	i->persona = (unsigned long)personality(0xffffffff);
	if (memapi_snapshot_regions(&v, &n)) {
		i->err = 13;
		return;
	}
	memapi_free(v);
	i->run_count = n;
	i->region_count = memapi_root.region_count;
	/* The child makes no libmemapi call after these. */
	if (flags & KID_TORN)
		memapi_root.generation |= 1;
	if (flags & KID_BADMAGIC)
		memapi_root.magic ^= 1;
	if (flags & KID_BADSIZE)
		memapi_root.size = 8;
	if (flags & KID_LOOP) {
		kid_fake = (struct memapi_rec_region){ .base = i->lay.region, .size = GRAN,
		                                       .run_count = 1, .runs = &kid_fake_run,
		                                       .next = &kid_fake };
		memapi_root.regions = &kid_fake;
	}
}

/* gcore of an ASan process would write out ASan's terabytes of reserved
 * address space: leave the large mappings and reservations out (gdb
 * honours MADV_DONTDUMP). Nothing the tests read is in them. */
static void kid_dontdump_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	unsigned long lo, hi;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 &&
		    (hi - lo >= (64ul << 20) || (!strcmp(perms, "---p") && hi - lo >= (1ul << 20))))
			madvise((void *)lo, hi - lo, MADV_DONTDUMP);
	if (f)
		fclose(f);
#endif
}

static void kid_main(unsigned flags, int up, int down)
{
	struct kid_info i = { 0 };
	char c;

	kid_setup(flags, &i);
	if (write(up, &i, sizeof i) != (ssize_t)sizeof i)
		_exit(2);
	if (flags & KID_STOP) {
		kid_dontdump_asan();
		raise(SIGSTOP);
	}
	while (read(down, &c, 1) > 0)
		;
	_exit(0);
}

static void kid_start(struct kid *k, unsigned flags)
{
	int up[2], down[2], status;
	size_t got = 0;

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	k->pid = fork();
	ck_assert_int_ge(k->pid, 0);
	if (!k->pid) {
		close(up[0]);
		close(down[1]);
		kid_main(flags, up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	while (got < sizeof k->info) {
		ssize_t n = read(up[0], (char *)&k->info + got, sizeof k->info - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	close(up[0]);
	k->down = down[1];
	ck_assert_msg(k->info.err == 0, "the child's set-up failed at step %d", k->info.err);
	if (flags & KID_STOP) {
		ck_assert_int_eq(waitpid(k->pid, &status, WUNTRACED), k->pid);
		ck_assert(WIFSTOPPED(status));
	}
}

static void kid_end(struct kid *k)
{
	int status;

	close(k->down);
	kill(k->pid, SIGKILL);
	ck_assert_int_eq(waitpid(k->pid, &status, 0), k->pid);
}

/* A child that exec'd sleep: no libmemapi in it. Ready once its exe is
 * sleep's (polled, no fixed delay). */
static pid_t start_sleep(void)
{
	char *argv[] = { "sleep", "300", NULL }, path[64], exe[PATH_MAX];
	pid_t pid;

	ck_assert_int_eq(posix_spawnp(&pid, "sleep", NULL, NULL, argv, environ), 0);
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 5000; i++) {
		ssize_t n = readlink(path, exe, sizeof exe - 1);

		if (n > 0 && (exe[n] = 0, strstr(exe, "sleep")))
			return pid;
		usleep(1000);
	}
	ck_abort_msg("sleep did not start");
	return -1;
}

static void end_pid(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- core files ---- */

/* The core tests' files live under one scratch directory that the runner
 * makes before the test case and removes after it (an unchecked fixture),
 * so a failing test leaves no core behind. */
static char scratch[64];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static void scratch_setup(void)
{
	strcpy(scratch, "/tmp/check_inspect.XXXXXX");
	if (!mkdtemp(scratch))
		scratch[0] = 0;
}

static void scratch_teardown(void)
{
	if (scratch[0])
		nftw(scratch, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

struct core {
	char dir[96], path[160];
};

/* `gcore -o DIR/core PID` for a stopped or blocked process. */
static void make_core(pid_t pid, struct core *c)
{
	char prefix[128], pidbuf[16];
	int status, fd;
	pid_t g;

	ck_assert_msg(scratch[0], "no scratch directory");
	snprintf(c->dir, sizeof c->dir, "%s/core.XXXXXX", scratch);
	ck_assert_ptr_nonnull(mkdtemp(c->dir));
	snprintf(prefix, sizeof prefix, "%s/core", c->dir);
	snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
	snprintf(c->path, sizeof c->path, "%s.%d", prefix, (int)pid);
	g = fork();
	ck_assert_int_ge(g, 0);
	if (!g) {
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("gcore", "gcore", "-o", prefix, pidbuf, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(g, &status, 0), g);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "gcore failed (status 0x%x; is gdb installed?)", status);
	ck_assert_int_eq(access(c->path, R_OK), 0);
}

static void remove_core(struct core *c)
{
	char p[192];

	unlink(c->path);
	snprintf(p, sizeof p, "%s/bad", c->dir);
	unlink(p);
	rmdir(c->dir);
}

static struct mi_target *open_core(const char *path)
{
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };

	ck_assert_msg(mi_open_core(path, &t, &e) == 0, "mi_open_core: %s", e.msg);
	return t;
}

/* Writes the first len bytes of src (with byte at flip_at xor-ed by 0xff
 * when flip_at < len) to DIR/bad and opens it: returns the error. */
static int open_damaged(const struct core *c, size_t len, size_t flip_at, struct mi_err *e)
{
	char p[192], *buf = malloc(len ? len : 1);
	struct mi_target *t = NULL;
	int in, out, rc;

	ck_assert_ptr_nonnull(buf);
	snprintf(p, sizeof p, "%s/bad", c->dir);
	ck_assert_int_ge(in = open(c->path, O_RDONLY), 0);
	ck_assert_int_eq(pread(in, buf, len, 0), (ssize_t)len);
	close(in);
	if (flip_at < len)
		buf[flip_at] ^= (char)0xff;
	ck_assert_int_ge(out = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	ck_assert_int_eq(write(out, buf, len), (ssize_t)len);
	close(out);
	free(buf);
	rc = mi_open_core(p, &t, e);
	if (!rc) {
		struct mi_root *r = NULL;
		struct vqs s = { 0 };

		/* It opened: the rest must still behave. */
		mi_root_read(t, &r, e);
		mi_region_walk(t, r, collect, &s, e);
		free(s.v);
		mi_root_free(r);
		mi_close(t);
	} else {
		ck_assert_ptr_null(t);
		ck_assert_int_eq(e->code, rc);
		ck_assert_msg(e->msg[0], "error %d without a message", rc);
	}
	return rc;
}

/* ================================================================ targets */

START_TEST(test_mi_fail__records_and_returns)
{
	struct mi_err e = { 0 };

	ck_assert_int_eq(mi_fail(&e, ENOENT, "no %s here", "thing"), ENOENT);
	ck_assert_int_eq(e.code, ENOENT);
	ck_assert_str_eq(e.msg, "no thing here");
	ck_assert_int_eq(mi_fail(NULL, EIO, "ignored"), EIO);
}
END_TEST

START_TEST(test_mi_open_self__accessors)
{
	struct mi_target *t = open_self();
	char exe[PATH_MAX];

	self_exe(exe, sizeof exe);
	ck_assert_int_eq(mi_kind(t), MI_SELF);
	ck_assert_int_eq(mi_pid(t), getpid());
	ck_assert_str_eq(mi_exe(t), exe);
	ck_assert_ptr_null(mi_core_path(t));
	ck_assert(mi_is_live(t));
	mi_close(t);
	mi_close(NULL);
}
END_TEST

START_TEST(test_mi_open_pid__child)
{
	struct kid k;
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	char exe[PATH_MAX];

	kid_start(&k, 0);
	self_exe(exe, sizeof exe);
	ck_assert_msg(mi_open_pid(k.pid, &t, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(mi_kind(t), MI_PID);
	ck_assert_int_eq(mi_pid(t), k.pid);
	ck_assert_str_eq(mi_exe(t), exe);
	ck_assert_ptr_null(mi_core_path(t));
	ck_assert(mi_is_live(t));
	mi_close(t);
	kid_end(&k);
}
END_TEST

START_TEST(test_mi_open_pid__own_pid_is_self)
{
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };

	ck_assert_int_eq(mi_open_pid(getpid(), &t, &e), 0);
	ck_assert_int_eq(mi_kind(t), MI_SELF);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_open_pid__bad_pids)
{
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	pid_t pid;

	ck_assert_int_eq(mi_open_pid(0, &t, &e), EINVAL);
	ck_assert_int_eq(e.code, EINVAL);
	ck_assert(e.msg[0]);
	ck_assert_int_eq(mi_open_pid(-1, &t, &e), EINVAL);
	ck_assert_int_eq(mi_open_pid(INT_MIN, &t, NULL), EINVAL);
	/* A reaped child's pid. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_int_eq(mi_open_pid(pid, &t, &e), ESRCH);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(e.code, ESRCH);
	ck_assert_int_eq(mi_open_pid(2147483000, &t, &e), ESRCH);
}
END_TEST

START_TEST(test_mi_open_pid__process_exits_after_open)
{
	struct kid k;
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	const struct mi_map *m;
	uint64_t sp[4];
	size_t n;
	unsigned long pers;
	char b;

	kid_start(&k, 0);
	ck_assert_int_eq(mi_open_pid(k.pid, &t, &e), 0);
	kid_end(&k);
	ck_assert_int_eq(mi_read(t, k.info.lay.region, &b, 1, &e), ESRCH);
	ck_assert_int_eq(e.code, ESRCH);
	ck_assert_int_eq(mi_maps(t, &m, &n, &e), ESRCH);
	ck_assert_int_eq(mi_stack_pointers(t, sp, 4, &n, &e), ESRCH);
	ck_assert_int_eq(mi_personality(t, &pers, &e), ESRCH);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_open_pid__zombie)
{
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	const struct mi_map *m;
	siginfo_t si;
	size_t n = 1;
	char b;
	int rc;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (!pid)
		_exit(0);
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	rc = mi_open_pid(pid, &t, &e);
	ck_assert_msg(rc == 0 || rc == ESRCH, "%d: %s", rc, e.msg);
	if (!rc) {
		/* A zombie has no memory: no mappings, no bytes. */
		rc = mi_maps(t, &m, &n, &e);
		ck_assert(rc == ESRCH || (rc == 0 && n == 0));
		ck_assert_int_eq(mi_read(t, U(&b), &b, 1, &e), ESRCH);
		mi_close(t);
	}
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_mi_open_pid__no_ptrace_rights)
{
	struct kid k;
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	pid_t target;

	if (!tl_forking())
		return;         /* drops privileges for good */
	kid_start(&k, 0);
	target = k.pid;
	if (getuid() == 0)
		ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
	else
		target = 1;
	ck_assert_int_eq(mi_open_pid(target, &t, &e), EPERM);
	ck_assert_msg(strstr(e.msg, "permission"), "%s", e.msg);
	kid_end(&k);
}
END_TEST

START_TEST(test_mi_read__own_memory)
{
	struct mi_target *t = open_self();
	struct mi_err e = { 0 };
	static uint8_t src[3 * 4096 + 17];
	uint8_t *dst = malloc(sizeof src);

	for (size_t i = 0; i < sizeof src; i++)
		src[i] = pat(i);
	ck_assert_int_eq(mi_read(t, U(src), dst, sizeof src, &e), 0);
	ck_assert_mem_eq(dst, src, sizeof src);
	ck_assert_int_eq(mi_read(t, U(&mi_test_global[2]), dst, 4, &e), 0);
	ck_assert_int_eq(*(int *)dst, 3);
	/* Nothing to read: nothing checked. */
	ck_assert_int_eq(mi_read(t, 0, dst, 0, &e), 0);
	free(dst);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_read__unmapped_and_wrapping)
{
	struct mi_target *t = open_self();
	struct mi_err e = { 0 };
	char *p = mmap(NULL, 2 * TL_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char buf[64];

	ck_assert_ptr_ne(p, MAP_FAILED);
	memset(p, 'x', 2 * TL_PAGE);
	ck_assert_int_eq(munmap(p + TL_PAGE, TL_PAGE), 0);
	ck_assert_int_eq(mi_read(t, U(p) + TL_PAGE - 64, buf, 64, &e), 0);
	ck_assert_int_eq(buf[63], 'x');
	/* Crossing into the unmapped page, inside it, at address 0. */
	ck_assert_int_eq(mi_read(t, U(p) + TL_PAGE - 32, buf, 64, &e), EFAULT);
	ck_assert_int_eq(e.code, EFAULT);
	ck_assert(e.msg[0]);
	ck_assert_int_eq(mi_read(t, U(p) + TL_PAGE, buf, 1, &e), EFAULT);
	ck_assert_int_eq(mi_read(t, 0, buf, 1, &e), EFAULT);
	/* PROT_NONE memory is mapped but unreadable. */
	ck_assert_int_eq(mprotect(p, TL_PAGE, PROT_NONE), 0);
	ck_assert_int_eq(mi_read(t, U(p), buf, 1, &e), EFAULT);
	/* Ranges that wrap around the address space. */
	ck_assert_int_eq(mi_read(t, UINT64_MAX - 10, buf, 64, &e), EFAULT);
	ck_assert_int_eq(mi_read(t, UINT64_MAX, buf, 2, &e), EFAULT);
	ck_assert_int_eq(mi_read(t, 0xffffffffff600000ull, buf, 8, NULL), EFAULT);
	munmap(p, TL_PAGE);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_read__child_memory)
{
	struct kid k;
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	uint8_t buf[3 * 4096];

	kid_start(&k, 0);
	ck_assert_int_eq(mi_open_pid(k.pid, &t, &e), 0);
	ck_assert_msg(mi_read(t, k.info.lay.region, buf, sizeof buf, &e) == 0, "%s", e.msg);
	for (size_t i = 0; i < sizeof buf; i++)
		ck_assert_uint_eq(buf[i], pat(i));
	ck_assert_int_eq(mi_read(t, k.info.block, buf, sizeof KID_TEXT, &e), 0);
	ck_assert_str_eq((char *)buf, KID_TEXT);
	/* Reserved and guard pages of the child are not readable. */
	ck_assert_int_eq(mi_read(t, k.info.lay.region + 3 * PAGE, buf, 1, &e), EFAULT);
	ck_assert_int_eq(mi_read(t, k.info.lay.region + 3 * PAGE - 8, buf, 16, &e), EFAULT);
	ck_assert_int_eq(mi_read(t, k.info.lay.region + GRAN, buf, 1, &e), EFAULT);
	mi_close(t);
	kid_end(&k);
}
END_TEST

/* /proc/PID/maps, parsed independently of live.c. */
struct pmap {
	unsigned long start, end, offset, inode;
	char perms[8], path[PATH_MAX];
};

static size_t read_proc_maps(pid_t pid, struct pmap **out)
{
	char path[64], line[PATH_MAX + 128];
	size_t n = 0, cap = 0;
	struct pmap *v = NULL;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f)) {
		int off = 0;

		if (n == cap)
			ck_assert_ptr_nonnull(v = realloc(v, (cap = cap ? 2 * cap : 128) * sizeof *v));
		ck_assert_int_ge(sscanf(line, "%lx-%lx %7s %lx %*s %lu %n", &v[n].start, &v[n].end,
		                        v[n].perms, &v[n].offset, &v[n].inode, &off), 5);
		snprintf(v[n].path, sizeof v[n].path, "%s", off ? line + off : "");
		v[n].path[strcspn(v[n].path, "\n")] = 0;
		n++;
	}
	fclose(f);
	*out = v;
	return n;
}

START_TEST(test_mi_maps__child_equals_proc_maps)
{
	struct kid k;
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	const struct mi_map *m;
	struct pmap *p;
	size_t n, np;

	kid_start(&k, KID_THREAD);
	ck_assert_int_eq(mi_open_pid(k.pid, &t, &e), 0);
	ck_assert_int_eq(mi_maps(t, &m, &n, &e), 0);
	np = read_proc_maps(k.pid, &p);
	ck_assert_uint_eq(n, np);
	for (size_t i = 0; i < n; i++) {
		uint32_t prot = (p[i].perms[0] == 'r' ? MI_PROT_READ : 0) |
		                (p[i].perms[1] == 'w' ? MI_PROT_WRITE : 0) |
		                (p[i].perms[2] == 'x' ? MI_PROT_EXEC : 0);

		ck_assert_uint_eq(m[i].start, p[i].start);
		ck_assert_uint_eq(m[i].end, p[i].end);
		ck_assert_uint_eq(m[i].offset, p[i].offset);
		ck_assert_uint_eq(m[i].inode, p[i].inode);
		ck_assert_uint_eq(m[i].prot, prot);
		ck_assert_uint_eq(m[i].flags & MI_MAP_SHARED, p[i].perms[3] == 's' ? MI_MAP_SHARED : 0);
		ck_assert_str_eq(m[i].path, p[i].path);
	}
	free(p);
	mi_close(t);
	kid_end(&k);
}
END_TEST

/* Lines of /proc/self/maps, counted without allocating (which would
 * change the map). */
static size_t count_self_maps(void)
{
	static char buf[1 << 16];
	size_t lines = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY);

	ck_assert_int_ge(fd, 0);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

START_TEST(test_mi_maps__self)
{
	struct mi_target *t = open_self();
	struct mi_err e = { 0 };
	const struct mi_map *m, *stack, *exe;
	size_t n, before, after;
	char path[PATH_MAX], c;
	void *extra;

	self_exe(path, sizeof path);
	before = count_self_maps();
	ck_assert_int_eq(mi_maps(t, &m, &n, &e), 0);
	after = count_self_maps();
	/* mi_maps' own buffers may come and go as mappings. */
	ck_assert_msg(n + 3 >= (before < after ? before : after) &&
	              n <= (before > after ? before : after) + 3,
	              "%zu maps, /proc/self/maps has %zu then %zu", n, before, after);
	ck_assert_ptr_nonnull(stack = map_named(t, "[stack]"));
	ck_assert(U(&c) >= stack->start && U(&c) < stack->end);
	ck_assert_uint_eq(stack->prot, MI_PROT_READ | MI_PROT_WRITE);
	ck_assert_ptr_nonnull(exe = map_at(t, U(&make_layout)));
	ck_assert_str_eq(exe->path, path);
	ck_assert(exe->prot & MI_PROT_EXEC);
	ck_assert_uint_ne(exe->inode, 0);
	ck_assert_ptr_nonnull(exe = map_at(t, U(mi_test_global)));
	ck_assert_str_eq(exe->path, path);
	ck_assert(exe->prot & MI_PROT_WRITE);
	for (size_t i = 1; i < n; i++)
		ck_assert_uint_le(m[i - 1].end, m[i].start);
	/* Read afresh on each call. */
	extra = mmap(NULL, 3 * TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(extra, MAP_FAILED);
	ck_assert_ptr_nonnull(map_at(t, U(extra)));
	munmap(extra, 3 * TL_PAGE);
	ck_assert_ptr_null(map_at(t, U(extra)));
	mi_close(t);
}
END_TEST

START_TEST(test_mi_stack_pointers__child_threads)
{
	struct kid k;
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	const struct mi_map *stack;
	uint64_t sp[4];
	size_t n = 0;
	bool main_seen = false, thread_seen = false;

	kid_start(&k, KID_THREAD);
	ck_assert_int_eq(mi_open_pid(k.pid, &t, &e), 0);
	ck_assert_ptr_nonnull(stack = map_named(t, "[stack]"));
	ck_assert(k.info.local >= stack->start && k.info.local < stack->end);
	/* Both threads block in a system call: each has a stack pointer. */
	for (int tries = 0; tries < 1000 && n < 2; tries++) {
		ck_assert_int_eq(mi_stack_pointers(t, sp, 4, &n, &e), 0);
		if (n < 2)
			usleep(1000);
	}
	ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < n; i++) {
		main_seen |= sp[i] >= stack->start && sp[i] < stack->end;
		thread_seen |= sp[i] >= k.info.thread_lo && sp[i] < k.info.thread_hi;
	}
	ck_assert_msg(main_seen && thread_seen,
	              "sp 0x%llx 0x%llx, stack 0x%llx-0x%llx, thread 0x%llx-0x%llx",
	              (unsigned long long)sp[0], (unsigned long long)sp[1],
	              (unsigned long long)stack->start, (unsigned long long)stack->end,
	              (unsigned long long)k.info.thread_lo, (unsigned long long)k.info.thread_hi);
	/* Fewer slots than threads: the count is still the total. */
	sp[1] = 0;
	ck_assert_int_eq(mi_stack_pointers(t, sp, 1, &n, &e), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(sp[1], 0);
	ck_assert_int_eq(mi_stack_pointers(t, NULL, 0, &n, &e), 0);
	ck_assert_uint_eq(n, 2);
	mi_close(t);
	kid_end(&k);
}
END_TEST

START_TEST(test_mi_personality__self_and_child)
{
	struct kid k;
	struct mi_target *t = open_self(), *c = NULL;
	struct mi_err e = { 0 };
	unsigned long f = ~0ul;

	ck_assert_int_eq(mi_personality(t, &f, &e), 0);
	ck_assert_uint_eq(f, (unsigned long)personality(0xffffffff));
	mi_close(t);
	kid_start(&k, KID_NORAND);
	ck_assert_int_eq(mi_open_pid(k.pid, &c, &e), 0);
	ck_assert_int_eq(mi_personality(c, &f, &e), 0);
	ck_assert_uint_eq(f, k.info.persona);
	ck_assert(f & ADDR_NO_RANDOMIZE);
	mi_close(c);
	kid_end(&k);
}
END_TEST

/* ================================================================ ELF objects and symbols */

struct dl_ctx {
	const struct mi_object *objs;
	size_t                  n;
	unsigned                checked;
	char                    exe[PATH_MAX];
};

static int dl_one(struct dl_phdr_info *info, size_t size, void *p)
{
	struct dl_ctx *c = p;
	const char *name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : c->exe;
	char real[PATH_MAX];

	if (name[0] != '/' || !realpath(name, real))
		return 0;       /* the vdso */
	for (size_t i = 0; i < c->n; i++) {
		char obj[PATH_MAX];

		if (!realpath(c->objs[i].path, obj) || strcmp(obj, real))
			continue;
		ck_assert_msg(c->objs[i].bias == info->dlpi_addr, "%s: bias 0x%llx, dl 0x%llx", real,
		              (unsigned long long)c->objs[i].bias, (unsigned long long)info->dlpi_addr);
		c->checked++;
		return 0;
	}
	ck_abort_msg("%s is loaded but not among the objects", real);
	return 0;
}

START_TEST(test_mi_objects__self)
{
	struct mi_target *t = open_self();
	struct mi_err e = { 0 };
	const struct mi_object *o;
	struct dl_ctx dc = { 0 };
	size_t n, exes = 0;
	bool libc = false;

	self_exe(dc.exe, sizeof dc.exe);
	ck_assert_int_eq(mi_objects(t, &o, &n, &e), 0);
	ck_assert_uint_ge(n, 2);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_lt(o[i].start, o[i].end);
		if (i)
			ck_assert_uint_le(o[i - 1].end, o[i].start);
		ck_assert_msg(o[i].path[0] == '/', "%s", o[i].path);
		if (o[i].is_exe) {
			exes++;
			ck_assert_str_eq(o[i].path, dc.exe);
			ck_assert_uint_eq(o[i].elf_type, ET_DYN);      /* a PIE */
			ck_assert(o[i].readable);
			ck_assert(o[i].has_gnu_stack && !o[i].exec_stack);
			ck_assert(U(&make_layout) >= o[i].start && U(&make_layout) < o[i].end);
			ck_assert(U(mi_test_global) >= o[i].start && U(mi_test_global) < o[i].end);
		}
		if (strstr(o[i].path, "/libc.so")) {
			libc = true;
			ck_assert_uint_ne(o[i].bias, 0);
			ck_assert(!o[i].is_exe && o[i].readable);
			ck_assert_uint_eq(o[i].elf_type, ET_DYN);
		}
	}
	ck_assert_uint_eq(exes, 1);
	ck_assert(libc);
	/* Every loaded object is there, with the loader's bias. */
	dc.objs = o;
	dc.n = n;
	dl_iterate_phdr(dl_one, &dc);
	ck_assert_uint_ge(dc.checked, 3);        /* exe, libc, ld.so at least */
	mi_close(t);
}
END_TEST

START_TEST(test_mi_symbol_address__self)
{
	struct mi_target *t = open_self();
	struct mi_err e = { 0 };
	uint64_t a = 0;

	ck_assert_msg(mi_symbol_address(t, "mi_test_global", &a, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(a, U(mi_test_global));
	ck_assert_int_eq(mi_symbol_address(t, "tl_run", &a, &e), 0);
	ck_assert_uint_eq(a, U(&tl_run));
	/* libmemapi is linked in statically: its root is the binary's. */
	ck_assert_int_eq(mi_symbol_address(t, "memapi_root", &a, &e), 0);
	ck_assert_uint_eq(a, U(&memapi_root));
	/* libc has only .dynsym. */
	ck_assert_int_eq(mi_symbol_address(t, "getpid", &a, &e), 0);
	ck_assert_uint_eq(a, U(&getpid));
	ck_assert_int_eq(mi_symbol_address(t, "no_such_symbol_in_any_object", &a, &e), ENOENT);
	ck_assert_int_eq(e.code, ENOENT);
	ck_assert_msg(strstr(e.msg, "no_such_symbol_in_any_object"), "%s", e.msg);
	ck_assert_int_eq(mi_symbol_address(t, "", &a, &e), ENOENT);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_symbolize__self)
{
	struct mi_target *t = open_self();
	struct mi_err e = { 0 };
	const struct mi_object *o;
	char buf[256], small[8];
	size_t n;
	void *anon = mmap(NULL, TL_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const char *base;

	ck_assert_int_eq(mi_objects(t, &o, &n, &e), 0);
	ck_assert_int_eq(mi_symbolize(t, U(&mi_test_global[1]) + 1, buf, sizeof buf), 0);
	base = strrchr(mi_exe(t), '/') + 1;
	ck_assert_msg(!strncmp(buf, base, strlen(base)) &&
	              !strcmp(buf + strlen(base), "!mi_test_global+0x5"), "%s", buf);
	ck_assert_int_eq(mi_symbolize(t, U(&getpid), buf, sizeof buf), 0);
	ck_assert_msg(strstr(buf, "libc.so.6!") == buf && strstr(buf, "getpid+0x0"), "%s", buf);
	/* In an object, covered by no symbol: the object and an offset. */
	for (size_t i = 0; i < n; i++)
		if (o[i].is_exe) {
			ck_assert_int_eq(mi_symbolize(t, o[i].start + 0x10, buf, sizeof buf), 0);
			ck_assert_msg(!strcmp(buf + strlen(base), "+0x10"), "%s", buf);
		}
	ck_assert_int_eq(mi_symbolize(t, U(anon), buf, sizeof buf), ENOENT);
	ck_assert_int_eq(mi_symbolize(t, 0, buf, sizeof buf), ENOENT);
	/* A short buffer is cut, and terminated. */
	memset(small, 'z', sizeof small);
	ck_assert_int_eq(mi_symbolize(t, U(&mi_test_global[0]), small, sizeof small), 0);
	ck_assert_uint_eq(strlen(small), sizeof small - 1);
	munmap(anon, TL_PAGE);
	mi_close(t);
}
END_TEST

/* Reported: mi_symbolize uses the objects of an earlier mi_objects call
 * and finds nothing on a target that never had one. */
START_TEST(test_mi_symbolize__fresh_target)
{
	struct mi_target *t = open_self();
	char buf[256];

	ck_assert_int_eq(mi_symbolize(t, U(&mi_test_global[0]), buf, sizeof buf), 0);
	ck_assert_msg(strstr(buf, "!mi_test_global+0x0"), "%s", buf);
	mi_close(t);
}
END_TEST

/* ================================================================ forensic root */

START_TEST(test_mi_root_read__self_equals_snapshot)
{
	struct mi_target *t = open_self();
	struct mi_root *r;
	memapi_region_info *v;
	struct layout l;
	HANDLE heaps[64], h = HeapCreate(0, 0, 0);
	DWORD nh;
	size_t n, k = 0;

	ck_assert_int_eq(make_layout(&l), 0);
	ck_assert_ptr_nonnull(h);
	r = read_root(t);
	ck_assert_int_eq(memapi_snapshot_regions(&v, &n), 0);
	ck_assert_uint_eq(r->addr, U(&memapi_root));
	ck_assert_uint_eq(r->root.magic, MEMAPI_ROOT_MAGIC);
	ck_assert_uint_eq(r->root.layout, MEMAPI_ROOT_LAYOUT);
	ck_assert_uint_eq(r->root.page_size, PAGE);
	ck_assert_uint_eq(r->root.granularity, GRAN);
	ck_assert(!r->torn);
	ck_assert_uint_eq(r->root.generation % 2, 0);
	ck_assert_uint_eq(r->region_count, memapi_root.region_count);
	ck_assert_uint_eq(r->region_count, r->root.region_count);
	/* Region by region, run by run, what the snapshot says. */
	for (size_t i = 0; i < r->region_count; i++) {
		const struct mi_region *g = &r->regions[i];

		if (i)
			ck_assert_uint_le(r->regions[i - 1].rec.base + r->regions[i - 1].rec.size, g->rec.base);
		ck_assert_ptr_eq(mi_root_region_at(r, g->rec.base), g);
		ck_assert_ptr_eq(mi_root_region_at(r, g->rec.base + g->rec.size - 1), g);
		for (uint64_t j = 0; j < g->rec.run_count; j++, k++) {
			ck_assert_uint_lt(k, n);
			ck_assert_uint_eq(v[k].allocation_base, g->rec.base);
			ck_assert_uint_eq(v[k].base, g->rec.base + g->runs[j].first_page * PAGE);
			ck_assert_uint_eq(v[k].size, g->runs[j].page_count * PAGE);
			ck_assert_uint_eq(v[k].state, g->runs[j].state);
			ck_assert_uint_eq(v[k].protect, g->runs[j].protect);
			ck_assert_uint_eq(v[k].allocation_protect, g->rec.allocation_protect);
			ck_assert_uint_eq(v[k].type, g->rec.type);
			ck_assert_uint_eq(v[k].flags, g->rec.flags);
			ck_assert_uint_eq(v[k].owner, g->rec.owner);
		}
	}
	ck_assert_uint_eq(k, n);
	ck_assert_ptr_nonnull(mi_root_region_at(r, l.region + 3 * GRAN));
	ck_assert_ptr_null(mi_root_region_at(r, U(&k)));
	ck_assert_ptr_null(mi_root_region_at(r, 0));
	/* The heaps are GetProcessHeaps' (the process heap first or not). */
	nh = GetProcessHeaps(64, heaps);
	ck_assert_uint_eq(r->heap_count, nh);
	for (DWORD i = 0; i < nh; i++) {
		bool found = false;

		for (size_t j = 0; j < r->heap_count; j++)
			found |= r->heaps[j] == U(heaps[i]);
		ck_assert_msg(found, "heap %p not in the root", heaps[i]);
	}
	memapi_free(v);
	mi_root_free(r);
	HeapDestroy(h);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_root_read__follows_changes)
{
	struct mi_target *t = open_self();
	struct mi_root *r;
	HANDLE h = HeapCreate(0, 0, 0);
	char *p = tl_reserve(TL_GRAN);
	size_t regions, heaps;
	bool found = false;

	r = read_root(t);
	regions = r->region_count;
	heaps = r->heap_count;
	ck_assert_ptr_nonnull(mi_root_region_at(r, U(p)));
	for (size_t j = 0; j < r->heap_count; j++)
		found |= r->heaps[j] == U(h);
	ck_assert(found);
	mi_root_free(r);
	tl_release(p);
	ck_assert(HeapDestroy(h));
	r = read_root(t);
	ck_assert_ptr_null(mi_root_region_at(r, U(p)));
	ck_assert_uint_lt(r->region_count, regions);
	ck_assert_uint_eq(r->heap_count, heaps - 1);
	for (size_t j = 0; j < r->heap_count; j++)
		ck_assert_uint_ne(r->heaps[j], U(h));
	mi_root_free(r);
	mi_root_free(NULL);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_root_read__section_view)
{
	struct mi_target *t = open_self();
	struct mi_root *r;
	HANDLE s = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 2 * TL_PAGE,
	                              "Local\\check-inspect-section");
	char *v;
	struct vqs w = { 0 };
	const struct mi_vq *q;
	bool found = false;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(v = MapViewOfFile(s, FILE_MAP_WRITE, 0, 0, 0));
	r = read_root(t);
	for (size_t i = 0; i < r->section_count; i++)
		for (uint64_t j = 0; j < r->sections[i].rec.view_count; j++)
			if (r->sections[i].views[j].base == U(v)) {
				found = true;
				ck_assert_ptr_nonnull(r->sections[i].name);
				ck_assert_str_eq(r->sections[i].name, "Local\\check-inspect-section");
				ck_assert_uint_eq(r->sections[i].rec.magic, MEMAPI_SECTION_MAGIC);
			}
	ck_assert(found);
	walk(t, r, &w);
	ck_assert_ptr_nonnull(q = vq_at(&w, U(v)));
	ck_assert(q->own);
	ck_assert_uint_eq(q->type, MEM_MAPPED);
	ck_assert_str_eq(q->usage, "section");
	ck_assert_str_eq(q->path, "Local\\check-inspect-section");
	free(w.v);
	mi_root_free(r);
	UnmapViewOfFile(v);
	CloseHandle(s);
	mi_close(t);
}
END_TEST

/* Reads the root while another thread keeps changing the region list.
 * valgrind runs one thread at a time and a read there takes longer than
 * many changes, so every try would be torn: the writer pauses after each
 * change instead, which still lands changes in the middle of reads. */
static atomic_int churn_stop;

static void *churn(void *arg)
{
	bool pace = *(const bool *)arg;

	while (!atomic_load(&churn_stop)) {
		void *p = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);

		if (p)
			VirtualFree(p, 0, MEM_RELEASE);
		if (pace)
			nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	}
	return NULL;
}

START_TEST(test_mi_root_read__consistent_under_change)
{
	struct mi_target *t = open_self();
	bool pace = tl_valgrind();
	int reads = pace ? 20 : 200, whole = 0;
	pthread_t th;

	atomic_store(&churn_stop, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, churn, &pace), 0);
	for (int i = 0; i < reads; i++) {
		struct mi_root *r = NULL;
		struct mi_err e = { 0 };
		int rc = mi_root_read(t, &r, &e);

		ck_assert_msg(rc == 0 || rc == EAGAIN, "%d: %s", rc, e.msg);
		if (rc)
			continue;
		ck_assert(!r->torn);
		/* A consistent copy: runs tile each region, regions are sorted. */
		for (size_t k = 0; k < r->region_count; k++) {
			const struct mi_region *g = &r->regions[k];
			uint64_t page = 0;

			for (uint64_t j = 0; j < g->rec.run_count; j++) {
				ck_assert_uint_eq(g->runs[j].first_page, page);
				page += g->runs[j].page_count;
			}
			ck_assert_uint_eq(page * PAGE, g->rec.size);
			if (k)
				ck_assert_uint_le(r->regions[k - 1].rec.base + r->regions[k - 1].rec.size,
				                  g->rec.base);
		}
		ck_assert_uint_eq(r->region_count, r->root.region_count);
		mi_root_free(r);
		whole++;
	}
	atomic_store(&churn_stop, 1);
	pthread_join(th, NULL);
	ck_assert_int_gt(whole, 0);     /* retries got a whole copy at least once */
	mi_close(t);
}
END_TEST

static int root_error(unsigned flags, struct mi_err *e)
{
	struct kid k;
	struct mi_target *t = NULL;
	struct mi_root *r = (struct mi_root *)1;
	int rc;

	kid_start(&k, flags);
	ck_assert_int_eq(mi_open_pid(k.pid, &t, e), 0);
	rc = mi_root_read(t, &r, e);
	ck_assert_ptr_null(r);
	if (rc)
		ck_assert_int_eq(e->code, rc);
	mi_close(t);
	kid_end(&k);
	return rc;
}

START_TEST(test_mi_root_read__child_errors)
{
	struct mi_err e = { 0 };

	ck_assert_int_eq(root_error(KID_BADMAGIC, &e), EPROTO);
	ck_assert_msg(strstr(e.msg, "magic"), "%s", e.msg);
	ck_assert_int_eq(root_error(KID_BADSIZE, &e), EPROTO);
	ck_assert_msg(strstr(e.msg, "layout"), "%s", e.msg);
	ck_assert_int_eq(root_error(KID_LOOP, &e), EPROTO);
	ck_assert_msg(strstr(e.msg, "region list is corrupt"), "%s", e.msg);
	/* Live, an odd generation is a change in progress: retried, then given up. */
	ck_assert_int_eq(root_error(KID_TORN, &e), EAGAIN);
	ck_assert_msg(strstr(e.msg, "kept changing"), "%s", e.msg);
}
END_TEST

START_TEST(test_mi_root_read__child_equals_child_truth)
{
	struct kid k;
	struct mi_target *t = NULL;
	struct mi_err e = { 0 };
	struct mi_root *r;
	struct vqs w = { 0 };
	bool heap = false, process_heap = false;
	size_t runs = 0;

	kid_start(&k, 0);
	ck_assert_int_eq(mi_open_pid(k.pid, &t, &e), 0);
	r = read_root(t);
	ck_assert_uint_eq(r->region_count, k.info.region_count);
	for (size_t i = 0; i < r->region_count; i++)
		runs += r->regions[i].rec.run_count;
	ck_assert_uint_eq(runs, k.info.run_count);
	for (size_t j = 0; j < r->heap_count; j++) {
		heap |= r->heaps[j] == k.info.heap;
		process_heap |= r->heaps[j] == k.info.process_heap;
	}
	ck_assert(heap && process_heap);
	walk(t, r, &w);
	ck_walk_sane(&w);
	ck_layout(&w, &k.info.lay);
	free(w.v);
	mi_root_free(r);
	mi_close(t);
	kid_end(&k);
}
END_TEST

START_TEST(test_mi_root_read__no_libmemapi)
{
	pid_t pid = start_sleep();
	struct mi_target *t = NULL;
	struct mi_root *r = (struct mi_root *)1;
	struct mi_err e = { 0 };
	struct vqs w = { 0 };

	ck_assert_int_eq(mi_open_pid(pid, &t, &e), 0);
	ck_assert_int_eq(mi_root_read(t, &r, &e), ENOENT);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(e.msg, "does not use libmemapi"), "%s", e.msg);
	/* The walk without a root is the kernel's view only. */
	walk(t, NULL, &w);
	ck_walk_sane(&w);
	ck_assert_uint_gt(w.n, 5);
	for (size_t i = 0; i < w.n; i++)
		ck_assert(!w.v[i].own);
	free(w.v);
	mi_close(t);
	end_pid(pid);
}
END_TEST

/* ================================================================ region map */

START_TEST(test_mi_region_walk__own_memory_equals_VirtualQuery)
{
	struct mi_target *t = open_self();
	struct mi_root *r;
	struct layout l;
	struct vqs w = { 0 };
	unsigned own = 0;

	ck_assert_int_eq(make_layout(&l), 0);
	r = read_root(t);
	walk(t, r, &w);
	ck_walk_sane(&w);
	ck_layout(&w, &l);
	/* Every region of libmemapi's memory, not only ours. */
	for (size_t i = 0; i < w.n; i++) {
		const struct mi_vq *q = &w.v[i];
		MEMORY_BASIC_INFORMATION m;
		struct vqrec v;

		if (!q->own)
			continue;
		own++;
		ck_assert_uint_eq(VirtualQuery((void *)(uintptr_t)q->base, &m, sizeof m), sizeof m);
		v = (struct vqrec){ U(m.BaseAddress), U(m.AllocationBase), m.RegionSize, m.State,
		                    m.Protect, m.AllocationProtect, m.Type };
		ck_assert_msg(same_vq(q, &v), "walk " VQ_FMT " != VirtualQuery " VQ_FMT,
		              VQ_ARGS(q), REC_ARGS(&v));
		ck_assert_ptr_nonnull(mi_root_region_at(r, q->base));
	}
	ck_assert_uint_ge(own, l.nvq);
	free(w.v);
	mi_root_free(r);
	mi_close(t);
}
END_TEST

/* The kernel's mappings of files and the stack, classified as VirtualQuery
 * classifies them. (Private anonymous memory of this process changes under
 * the walk as malloc works, and is left out.) */
START_TEST(test_mi_region_walk__kernel_memory_equals_VirtualQuery)
{
	struct mi_target *t = open_self();
	struct mi_root *r = read_root(t);
	struct vqs w = { 0 };
	unsigned files = 0, images = 0;

	walk(t, r, &w);
	for (size_t i = 0; i < w.n; i++) {
		const struct mi_vq *q = &w.v[i];
		MEMORY_BASIC_INFORMATION m;
		struct vqrec v;

		if (q->own || (q->path[0] != '/' && strcmp(q->usage, "stack")))
			continue;
		if (q->path[0] == '/')
			files++;
		images += q->type == MEM_IMAGE;
		ck_assert_uint_eq(VirtualQuery((void *)(uintptr_t)q->base, &m, sizeof m), sizeof m);
		v = (struct vqrec){ U(m.BaseAddress), U(m.AllocationBase), m.RegionSize, m.State,
		                    m.Protect, m.AllocationProtect, m.Type };
		ck_assert_msg(same_vq(q, &v), "walk " VQ_FMT " %s != VirtualQuery " VQ_FMT, VQ_ARGS(q),
		              q->path, REC_ARGS(&v));
	}
	ck_assert_uint_ge(files, 8);
	ck_assert_uint_ge(images, 3);
	free(w.v);
	mi_root_free(r);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_region_walk__usage_and_paths)
{
	struct mi_target *t = open_self();
	struct mi_root *r;
	struct layout l;
	struct vqs w = { 0 };
	const struct mi_vq *q;
	char c, exe[PATH_MAX];
	char *watch = VirtualAlloc(NULL, TL_GRAN, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH,
	                           PAGE_READWRITE);
	void *heapblock = HeapAlloc(GetProcessHeap(), 0, 32);

	self_exe(exe, sizeof exe);
	ck_assert_ptr_nonnull(watch);
	ck_assert_int_eq(make_layout(&l), 0);
	r = read_root(t);
	walk(t, r, &w);
	ck_assert_ptr_nonnull(q = vq_at(&w, l.region));
	ck_assert_str_eq(q->usage, "private");
	ck_assert_str_eq(q->path, "");
	ck_assert_ptr_nonnull(q = vq_at(&w, U(watch)));
	ck_assert_str_eq(q->usage, "watch");
	ck_assert(q->flags & MEMAPI_REGION_WRITE_WATCH);
	ck_assert_ptr_nonnull(q = vq_at(&w, U(heapblock)));
	ck_assert(q->own);
	ck_assert_str_eq(q->usage, "heap");
	ck_assert_ptr_nonnull(q = vq_at(&w, U(&c)));
	ck_assert_str_eq(q->usage, "stack");
	ck_assert_uint_eq(q->type, MEM_PRIVATE);
	ck_assert_ptr_nonnull(q = vq_at(&w, U(&make_layout)));
	ck_assert_str_eq(q->usage, "image");
	ck_assert_str_eq(q->path, exe);
	ck_assert_uint_eq(q->type, MEM_IMAGE);
	ck_assert_uint_eq(q->protect, PAGE_EXECUTE_READ);
	ck_assert_uint_eq(q->allocation_protect, PAGE_EXECUTE_WRITECOPY);
	ck_assert_ptr_null(vq_at(&w, 0xffffffffff600000ull));         /* [vsyscall] */
	free(w.v);
	mi_root_free(r);
	HeapFree(GetProcessHeap(), 0, heapblock);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_region_walk__without_root_is_kernel_view)
{
	struct mi_target *t = open_self();
	struct layout l;
	struct vqs w = { 0 };
	const struct mi_vq *q;

	ck_assert_int_eq(make_layout(&l), 0);
	walk(t, NULL, &w);
	ck_walk_sane(&w);
	for (size_t i = 0; i < w.n; i++)
		ck_assert(!w.v[i].own);
	/* The reserved tail is PROT_NONE memory: reserved, with no protection. */
	ck_assert_ptr_nonnull(q = vq_at(&w, l.region + 3 * PAGE));
	ck_assert_uint_eq(q->state, MEM_RESERVE);
	ck_assert_uint_eq(q->protect, 0);
	ck_assert_uint_eq(q->type, MEM_PRIVATE);
	ck_assert_ptr_nonnull(q = vq_at(&w, l.region));
	ck_assert_uint_eq(q->state, MEM_COMMIT);
	ck_assert_uint_eq(q->protect, PAGE_READWRITE);
	free(w.v);
	mi_close(t);
}
END_TEST

static int stop_at_third(const struct mi_vq *q, void *ctx)
{
	int *n = ctx;

	return ++*n == 3 ? -7 : 0;
}

START_TEST(test_mi_region_walk__callback_stops)
{
	struct mi_target *t = open_self();
	struct mi_err e = { 0 };
	int n = 0;

	ck_assert_int_eq(mi_region_walk(t, NULL, stop_at_third, &n, &e), -7);
	ck_assert_int_eq(n, 3);
	mi_close(t);
}
END_TEST

/* Reported: anonymous executable memory (a JIT's) is typed MEM_IMAGE;
 * VirtualQuery(Ex) says MEM_PRIVATE, and so does libmemapi's. */
START_TEST(test_mi_region_walk__anonymous_exec_is_private)
{
	struct mi_target *t = open_self();
	struct vqs w = { 0 };
	const struct mi_vq *q;
	MEMORY_BASIC_INFORMATION m;
	void *x = mmap(NULL, 2 * TL_PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(x, MAP_FAILED);
	walk(t, NULL, &w);
	ck_assert_ptr_nonnull(q = vq_at(&w, U(x)));
	ck_assert_uint_eq(VirtualQuery(x, &m, sizeof m), sizeof m);
	ck_assert_uint_eq(m.Type, MEM_PRIVATE);
	ck_assert_uint_eq(q->type, m.Type);
	ck_assert_uint_eq(q->allocation_protect, m.AllocationProtect);
	ck_assert_str_eq(q->usage, "private");
	free(w.v);
	munmap(x, 2 * TL_PAGE);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_region_query__own_and_free)
{
	struct mi_target *t = open_self();
	struct mi_root *r;
	struct mi_err e = { 0 };
	struct mi_vq q;
	struct layout l;
	MEMORY_BASIC_INFORMATION m;
	char *gone = tl_reserve(TL_GRAN);

	tl_release(gone);
	ck_assert_int_eq(make_layout(&l), 0);
	r = read_root(t);
	/* Inside a run: from the address's page to the run's end. */
	ck_assert_int_eq(mi_region_query(t, r, l.region + PAGE + 123, &q, &e), 0);
	ck_assert_uint_eq(q.base, l.region + PAGE);
	ck_assert_uint_eq(q.size, 2 * PAGE);
	ck_assert_uint_eq(q.allocation_base, l.region);
	ck_assert_uint_eq(q.state, MEM_COMMIT);
	ck_assert(q.own);
	ck_assert_int_eq(mi_region_query(t, r, l.region + GRAN, &q, &e), 0);
	ck_assert_uint_eq(q.protect, PAGE_READWRITE | PAGE_GUARD);
	ck_assert_uint_eq(q.size, PAGE);
	ck_assert_int_eq(mi_region_query(t, r, l.region + 3 * GRAN, &q, &e), 0);
	ck_assert_uint_eq(q.state, MEM_RESERVE);
	ck_assert_uint_eq(q.size, 2 * PAGE);
	/* Free space, as VirtualQuery reports it, unless something moved in. */
	ck_assert_int_eq(mi_region_query(t, r, U(gone) + 5, &q, &e), 0);
	ck_assert_uint_eq(VirtualQuery(gone, &m, sizeof m), sizeof m);
	if (m.State == MEM_FREE) {
		ck_assert_uint_eq(q.state, MEM_FREE);
		ck_assert_uint_eq(q.base, U(gone));
		ck_assert_uint_eq(q.protect, PAGE_NOACCESS);
		ck_assert_uint_eq(q.allocation_base, 0);
		ck_assert_uint_eq(q.type, 0);
		ck_assert_str_eq(q.usage, "free");
		ck_assert_uint_eq(q.size, m.RegionSize);
	}
	/* Address 0 is free, up to the first mapping. */
	ck_assert_int_eq(mi_region_query(t, r, 0, &q, &e), 0);
	ck_assert_uint_eq(q.state, MEM_FREE);
	ck_assert_uint_eq(q.base, 0);
	ck_assert_uint_gt(q.size, 0);
	mi_root_free(r);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_region_query__kernel_addresses)
{
	struct mi_target *t = open_self();
	struct mi_err e = { 0 };
	struct mi_vq q;

	ck_assert_int_eq(mi_region_query(t, NULL, 0xffffffffff600000ull, &q, &e), EINVAL);
	ck_assert_int_eq(e.code, EINVAL);
	ck_assert(e.msg[0]);
	ck_assert_int_eq(mi_region_query(t, NULL, 0x800000000000ull, &q, &e), EINVAL);
	ck_assert_int_eq(mi_region_query(t, NULL, UINT64_MAX, &q, &e), EINVAL);
	ck_assert_int_eq(mi_region_query(t, NULL, 0x7ffffffff000ull, &q, &e), EINVAL);
	mi_close(t);
}
END_TEST

START_TEST(test_mi_region_query__matches_walk)
{
	struct mi_target *t = open_self();
	struct mi_root *r;
	struct mi_err e = { 0 };
	struct layout l;
	struct vqs w = { 0 };

	ck_assert_int_eq(make_layout(&l), 0);
	r = read_root(t);
	walk(t, r, &w);
	for (size_t i = 0; i < w.n; i++) {
		struct mi_vq q;

		if (!w.v[i].own)
			continue;
		ck_assert_int_eq(mi_region_query(t, r, w.v[i].base, &q, &e), 0);
		ck_assert_msg(q.base == w.v[i].base && q.size == w.v[i].size && q.state == w.v[i].state &&
		              q.protect == w.v[i].protect, "query " VQ_FMT " walk " VQ_FMT,
		              VQ_ARGS(&q), VQ_ARGS(&w.v[i]));
	}
	free(w.v);
	mi_root_free(r);
	mi_close(t);
}
END_TEST

/* ================================================================ core files */

START_TEST(test_core__child_ground_truth)
{
	struct kid k;
	struct core c;
	struct mi_target *t;
	struct mi_err e = { 0 };
	struct mi_root *r;
	struct vqs w = { 0 };
	const struct mi_map *m, *m2, *stack;
	const struct mi_object *o;
	uint64_t sp[4], a;
	uint8_t buf[3 * 4096];
	size_t n, n2;
	unsigned long pers;
	char exe[PATH_MAX];
	bool heap = false, process_heap = false, exe_seen = false;
	struct mi_vq q;

	kid_start(&k, KID_STOP | KID_THREAD);
	make_core(k.pid, &c);
	kid_end(&k);
	self_exe(exe, sizeof exe);
	t = open_core(c.path);
	ck_assert_int_eq(mi_kind(t), MI_CORE);
	ck_assert(!mi_is_live(t));
	ck_assert_int_eq(mi_pid(t), k.pid);
	ck_assert_str_eq(mi_core_path(t), c.path);
	ck_assert_str_eq(mi_exe(t), exe);
	/* The map: fixed, sorted, with the child's memory. */
	ck_assert_int_eq(mi_maps(t, &m, &n, &e), 0);
	ck_assert_int_eq(mi_maps(t, &m2, &n2, &e), 0);
	ck_assert_ptr_eq(m, m2);
	ck_assert_uint_eq(n, n2);
	for (size_t i = 1; i < n; i++)
		ck_assert_uint_le(m[i - 1].end, m[i].start);
	for (size_t i = 0; i < n; i++)
		exe_seen |= !strcmp(m[i].path, exe);
	ck_assert(exe_seen);
	ck_assert_ptr_nonnull(map_at(t, k.info.lay.region));
	ck_assert_ptr_nonnull(stack = map_at(t, k.info.local));
	/* Its bytes. */
	ck_assert_msg(mi_read(t, k.info.lay.region, buf, sizeof buf, &e) == 0, "%s", e.msg);
	for (size_t i = 0; i < sizeof buf; i++)
		ck_assert_uint_eq(buf[i], pat(i));
	ck_assert_int_eq(mi_read(t, k.info.block, buf, sizeof KID_TEXT, &e), 0);
	ck_assert_str_eq((char *)buf, KID_TEXT);
	ck_assert_int_eq(mi_read(t, U(mi_test_global), buf, 8, &e), 0);
	ck_assert_int_eq(((int *)buf)[1], 2);
	ck_assert_int_eq(mi_read(t, 0, buf, 1, &e), EFAULT);
	ck_assert_int_eq(mi_read(t, UINT64_MAX - 3, buf, 8, &e), EFAULT);
	/* A read running from a mapping into a gap. */
	for (size_t i = 0; i + 1 < n; i++)
		if (m[i].end < m[i + 1].start && !(m[i].flags & MI_MAP_NOBYTES) && m[i].prot) {
			ck_assert_int_eq(mi_read(t, m[i].end - 8, buf, 8, &e), 0);
			ck_assert_int_eq(mi_read(t, m[i].end - 8, buf, 16, &e), EFAULT);
			break;
		}
	/* Threads, from NT_PRSTATUS. */
	ck_assert_int_eq(mi_stack_pointers(t, sp, 4, &n2, &e), 0);
	ck_assert_uint_eq(n2, 2);
	ck_assert((sp[0] >= stack->start && sp[0] < stack->end) ||
	          (sp[1] >= stack->start && sp[1] < stack->end));
	ck_assert((sp[0] >= k.info.thread_lo && sp[0] < k.info.thread_hi) ||
	          (sp[1] >= k.info.thread_lo && sp[1] < k.info.thread_hi));
	ck_assert_int_eq(mi_personality(t, &pers, &e), ENODATA);
	/* Objects and symbols, from the files on disk. */
	ck_assert_int_eq(mi_objects(t, &o, &n2, &e), 0);
	for (size_t i = 0; i < n2; i++)
		if (o[i].is_exe)
			ck_assert(U(mi_test_global) >= o[i].start && U(mi_test_global) < o[i].end);
	ck_assert_int_eq(mi_symbol_address(t, "mi_test_global", &a, &e), 0);
	ck_assert_uint_eq(a, U(mi_test_global));          /* a fork: the same layout */
	/* The root and the region map. */
	r = read_root(t);
	ck_assert(!r->torn);
	ck_assert_uint_eq(r->region_count, k.info.region_count);
	for (size_t j = 0; j < r->heap_count; j++) {
		heap |= r->heaps[j] == k.info.heap;
		process_heap |= r->heaps[j] == k.info.process_heap;
	}
	ck_assert(heap && process_heap);
	walk(t, r, &w);
	ck_walk_sane(&w);
	ck_layout(&w, &k.info.lay);
	ck_assert_int_eq(mi_region_query(t, r, k.info.lay.region + GRAN, &q, &e), 0);
	ck_assert_uint_eq(q.protect, PAGE_READWRITE | PAGE_GUARD);
	ck_assert_int_eq(mi_region_query(t, r, 0x800000000000ull, &q, &e), EINVAL);
	free(w.v);
	mi_root_free(r);
	mi_close(t);

	/* Damaged copies of it: an error with a message, or a target that
	 * still works; never a crash. */
	ck_assert_int_eq(open_damaged(&c, 0, SIZE_MAX, &e), EPROTO);
	ck_assert_int_eq(open_damaged(&c, 4, SIZE_MAX, &e), EPROTO);
	ck_assert_int_eq(open_damaged(&c, 63, SIZE_MAX, &e), EPROTO);
	ck_assert_int_ne(open_damaged(&c, 64, SIZE_MAX, &e), 0);          /* no phdrs */
	ck_assert_int_eq(open_damaged(&c, 4096, 16, &e), EPROTO);          /* e_type */
	ck_assert_msg(strstr(e.msg, "not a core dump"), "%s", e.msg);
	ck_assert_int_eq(open_damaged(&c, 4096, 4, &e), EPROTO);           /* EI_CLASS */
	for (size_t cut = 100; cut < 64 * 1024; cut = cut * 3 / 2)
		open_damaged(&c, cut, SIZE_MAX, &e);
	remove_core(&c);
}
END_TEST

START_TEST(test_core__torn_root)
{
	struct kid k;
	struct core c;
	struct mi_target *t;
	struct mi_root *r;
	struct vqs w = { 0 };

	kid_start(&k, KID_STOP | KID_TORN);
	make_core(k.pid, &c);
	kid_end(&k);
	t = open_core(c.path);
	/* A core cannot change: taken as it is, marked torn. */
	r = read_root(t);
	ck_assert(r->torn);
	ck_assert_uint_eq(r->retries, 0);
	ck_assert_uint_eq(r->region_count, k.info.region_count);
	walk(t, r, &w);
	ck_layout(&w, &k.info.lay);
	free(w.v);
	mi_root_free(r);
	mi_close(t);
	remove_core(&c);
}
END_TEST

START_TEST(test_core__no_libmemapi)
{
	pid_t pid = start_sleep();
	struct core c;
	struct mi_target *t;
	struct mi_root *r = NULL;
	struct mi_err e = { 0 };
	struct vqs w = { 0 };

	make_core(pid, &c);
	end_pid(pid);
	t = open_core(c.path);
	ck_assert_int_eq(mi_pid(t), pid);
	ck_assert_msg(strstr(mi_exe(t), "sleep"), "%s", mi_exe(t));
	ck_assert_int_eq(mi_root_read(t, &r, &e), ENOENT);
	ck_assert_ptr_null(r);
	walk(t, NULL, &w);
	ck_walk_sane(&w);
	ck_assert_uint_gt(w.n, 3);
	free(w.v);
	mi_close(t);
	remove_core(&c);
}
END_TEST

START_TEST(test_mi_open_core__not_cores)
{
	struct mi_target *t = (struct mi_target *)1;
	struct mi_err e = { 0 };
	char dir[96], p[128], exe[PATH_MAX];
	int fd;

	snprintf(dir, sizeof dir, "%s/files.XXXXXX", scratch);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(p, sizeof p, "%s/missing", dir);
	ck_assert_int_eq(mi_open_core(p, &t, &e), ENOENT);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(e.code, ENOENT);
	ck_assert_int_eq(mi_open_core(dir, &t, &e), EINVAL);
	ck_assert_int_eq(mi_open_core("/dev/null", &t, &e), EINVAL);
	snprintf(p, sizeof p, "%s/empty", dir);
	ck_assert_int_ge(fd = open(p, O_WRONLY | O_CREAT, 0600), 0);
	close(fd);
	ck_assert_int_eq(mi_open_core(p, &t, &e), EPROTO);
	ck_assert_msg(strstr(e.msg, "not a valid core file"), "%s", e.msg);
	ck_assert_int_ge(fd = open(p, O_WRONLY | O_TRUNC), 0);
	ck_assert_int_eq(write(fd, "garbage, not ELF at all\n", 24), 24);
	close(fd);
	ck_assert_int_eq(mi_open_core(p, &t, &e), EPROTO);
	unlink(p);
	rmdir(dir);
	self_exe(exe, sizeof exe);
	ck_assert_int_eq(mi_open_core(exe, &t, &e), EPROTO);
	ck_assert_msg(strstr(e.msg, "not a core dump"), "%s", e.msg);
}
END_TEST

/* ================================================================ model */

/* A page model of a few reservations: libmemapi's walk must say exactly
 * what the model says after every call, and each call must succeed or
 * fail as Windows documents. */
#define SLOTS      4
#define MAX_PAGES  (4 * 16)

struct slot {
	char    *base;
	unsigned pages;
	DWORD    aprot;
	DWORD    state[MAX_PAGES], prot[MAX_PAGES];
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static const DWORD model_prots[] = {
	PAGE_READONLY, PAGE_READWRITE, PAGE_EXECUTE_READ, PAGE_NOACCESS,
	PAGE_READWRITE | PAGE_GUARD, PAGE_EXECUTE_READWRITE, PAGE_READONLY | PAGE_GUARD,
};

static DWORD any_prot(void)
{
	return model_prots[rnd(sizeof model_prots / sizeof *model_prots)];
}

/* The model's VirtualQuery answers for slot s, in order. */
static unsigned model_runs(const struct slot *s, struct vqrec *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->pages;) {
		unsigned j = i;

		while (j < s->pages && s->state[j] == s->state[i] && s->prot[j] == s->prot[i])
			j++;
		out[n++] = (struct vqrec){ U(s->base) + i * PAGE, U(s->base), (j - i) * PAGE, s->state[i],
		                           s->prot[i], s->aprot, MEM_PRIVATE };
		i = j;
	}
	return n;
}

static void model_step(struct slot *s, char *what, size_t size)
{
	unsigned a, b, op = rnd(8);
	DWORD old, prot = any_prot();
	bool all_committed = true, all_reserved = true, ok;

	if (!s->base) {
		bool commit = rnd(2);

		s->pages = 16 * (1 + rnd(4));
		s->aprot = commit ? prot : any_prot() & ~(DWORD)PAGE_GUARD;
		s->base = VirtualAlloc(NULL, s->pages * TL_PAGE, MEM_RESERVE | (commit ? MEM_COMMIT : 0),
		                       s->aprot);
		ck_assert_ptr_nonnull(s->base);
		for (unsigned i = 0; i < s->pages; i++) {
			s->state[i] = commit ? MEM_COMMIT : MEM_RESERVE;
			s->prot[i] = commit ? s->aprot : 0;
		}
		snprintf(what, size, "reserve%s %u pages 0x%x at %p", commit ? "+commit" : "", s->pages,
		         s->aprot, s->base);
		return;
	}
	a = rnd(s->pages);
	b = a + 1 + rnd(s->pages - a < 8 ? s->pages - a : 8);
	for (unsigned i = a; i < b; i++) {
		all_committed &= s->state[i] == MEM_COMMIT;
		all_reserved &= s->state[i] == MEM_RESERVE;
	}
	snprintf(what, size, "op %u pages [%u, %u) prot 0x%x of %p", op, a, b, prot, s->base);
	switch (op) {
	case 0: case 1:         /* commit reserved pages */
		if (!all_reserved)
			break;
		ck_assert_ptr_eq(VirtualAlloc(s->base + a * TL_PAGE, (b - a) * TL_PAGE, MEM_COMMIT, prot),
		                 s->base + a * TL_PAGE);
		for (unsigned i = a; i < b; i++) {
			s->state[i] = MEM_COMMIT;
			s->prot[i] = prot;
		}
		break;
	case 2:                 /* decommit: reserved pages in the range are fine */
		ck_assert(VirtualFree(s->base + a * TL_PAGE, (b - a) * TL_PAGE, MEM_DECOMMIT));
		for (unsigned i = a; i < b; i++) {
			s->state[i] = MEM_RESERVE;
			s->prot[i] = 0;
		}
		break;
	case 3: case 4: case 5: /* protect: only committed pages */
		ok = VirtualProtect(s->base + a * TL_PAGE, (b - a) * TL_PAGE, prot, &old);
		ck_assert_msg(ok == all_committed, "VirtualProtect gave %d", ok);
		if (!ok)
			break;
		ck_assert_uint_eq(old, s->prot[a]);
		for (unsigned i = a; i < b; i++)
			s->prot[i] = prot;
		break;
	case 6:                 /* release from inside the region: refused */
		if (a)
			ck_assert(!VirtualFree(s->base + a * TL_PAGE, 0, MEM_RELEASE));
		break;
	default:
		ck_assert(VirtualFree(s->base, 0, MEM_RELEASE));
		snprintf(what, size, "release %p", s->base);
		s->base = NULL;
	}
}

START_TEST(test_model__walk_follows_random_operations)
{
	struct mi_target *t = open_self();
	struct slot slots[SLOTS] = { { 0 } };
	struct vqrec want[MAX_PAGES];
	struct vqs w = { 0 };
	char what[160];

	rng_state = 0x9e3779b97f4a7c15ull;
	for (int step = 0; step < 300; step++) {
		struct slot *s = &slots[rnd(SLOTS)];
		uint64_t gone = U(s->base), gone_size = s->pages * PAGE;
		struct mi_root *r;

		model_step(s, what, sizeof what);
		r = read_root(t);
		walk(t, r, &w);
		if (gone && !s->base)           /* released: nothing of it is left */
			ck_own_equal(&w, gone, gone + gone_size, want, 0);
		for (unsigned i = 0; i < SLOTS; i++) {
			uint64_t lo = U(slots[i].base), hi = lo + slots[i].pages * PAGE;
			unsigned n;

			if (!slots[i].base)
				continue;
			n = model_runs(&slots[i], want);
			for (unsigned k = 0; k < n; k++) {
				const struct mi_vq none = { 0 }, *q = vq_at(&w, want[k].base);

				if (!q)
					q = &none;
				ck_assert_msg(same_vq(q, &want[k]) && q->own,
				              "step %d (%s): model " VQ_FMT ", walk " VQ_FMT, step, what,
				              REC_ARGS(&want[k]), VQ_ARGS(q));
			}
			ck_own_equal(&w, lo, hi, want, n);
		}
		mi_root_free(r);
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (slots[i].base)
			VirtualFree(slots[i].base, 0, MEM_RELEASE);
	free(w.v);
	mi_close(t);
}
END_TEST

/* ================================================================ suite */

/* Under valgrind a process runs with valgrind's executable, stacks and
 * code cache (and so does every child: --trace-children): tests of that
 * layout are left out, and so is the one that gives up root (valgrind
 * could not remove its vgdb FIFOs then). */
static void add_unless_valgrind(TCase *tc, const TTest *t)
{
	if (!tl_valgrind())
		tcase_add_test(tc, t);
}

static Suite *make_inspect_suite(void)
{
	Suite *s = suite_create("inspect");
	TCase *tc;

	tc = tcase_create("targets");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mi_fail__records_and_returns);
	tcase_add_test(tc, test_mi_open_self__accessors);
	add_unless_valgrind(tc, test_mi_open_pid__child);
	tcase_add_test(tc, test_mi_open_pid__own_pid_is_self);
	tcase_add_test(tc, test_mi_open_pid__bad_pids);
	tcase_add_test(tc, test_mi_open_pid__process_exits_after_open);
	tcase_add_test(tc, test_mi_open_pid__zombie);
	add_unless_valgrind(tc, test_mi_open_pid__no_ptrace_rights);
	tcase_add_test(tc, test_mi_read__own_memory);
	tcase_add_test(tc, test_mi_read__unmapped_and_wrapping);
	tcase_add_test(tc, test_mi_read__child_memory);
	tcase_add_test(tc, test_mi_maps__child_equals_proc_maps);
	add_unless_valgrind(tc, test_mi_maps__self);
	add_unless_valgrind(tc, test_mi_stack_pointers__child_threads);
	tcase_add_test(tc, test_mi_personality__self_and_child);
	suite_add_tcase(s, tc);

	tc = tcase_create("elf");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mi_objects__self);
	tcase_add_test(tc, test_mi_symbol_address__self);
	tcase_add_test(tc, test_mi_symbolize__self);
	tcase_add_test(tc, test_mi_symbolize__fresh_target);
	suite_add_tcase(s, tc);

	tc = tcase_create("root");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mi_root_read__self_equals_snapshot);
	tcase_add_test(tc, test_mi_root_read__follows_changes);
	tcase_add_test(tc, test_mi_root_read__section_view);
	tcase_add_test(tc, test_mi_root_read__consistent_under_change);
	tcase_add_test(tc, test_mi_root_read__child_errors);
	tcase_add_test(tc, test_mi_root_read__child_equals_child_truth);
	add_unless_valgrind(tc, test_mi_root_read__no_libmemapi);
	suite_add_tcase(s, tc);

	tc = tcase_create("regions");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mi_region_walk__own_memory_equals_VirtualQuery);
	add_unless_valgrind(tc, test_mi_region_walk__kernel_memory_equals_VirtualQuery);
	add_unless_valgrind(tc, test_mi_region_walk__usage_and_paths);
	tcase_add_test(tc, test_mi_region_walk__without_root_is_kernel_view);
	tcase_add_test(tc, test_mi_region_walk__callback_stops);
	tcase_add_test(tc, test_mi_region_walk__anonymous_exec_is_private);
	tcase_add_test(tc, test_mi_region_query__own_and_free);
	tcase_add_test(tc, test_mi_region_query__kernel_addresses);
	tcase_add_test(tc, test_mi_region_query__matches_walk);
	suite_add_tcase(s, tc);

	tc = tcase_create("core");
	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_mi_open_core__not_cores);
	add_unless_valgrind(tc, test_core__child_ground_truth);
	tcase_add_test(tc, test_core__torn_root);
	add_unless_valgrind(tc, test_core__no_libmemapi);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_model__walk_follows_random_operations);
	suite_add_tcase(s, tc);
	return s;
}

TL_MAIN(make_inspect_suite)
