/* memtool heap: libmemapi's heaps in a target, their statistics, every
 * block with --blocks, and a corruption gate with --validate.
 *
 * Each heap is walked twice: once for its statistics and problems (they
 * come first in the output), once more to stream its blocks, so memory use
 * does not grow with the heap. In a live process a header may change under
 * the walk; a heap with problems is walked again before they are believed. */
#include "memtool.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROBLEMS 100        /* listed per heap; all are counted */
#define LIVE_RETRIES 3

enum { OPT_BLOCKS = OPT_CMD, OPT_VALIDATE };

static const struct out_col heap_cols[] = {
	{ "handle", "HEAP", -14 }, { "flags", "FLAGS", -28 }, { "busy_blocks", "BUSY", 9 },
	{ "busy_bytes", "BUSY_BYTES", 12 }, { "free_blocks", "FREE", 7 },
	{ "free_bytes", "FREE_BYTES", 12 }, { "committed_bytes", "COMMITTED", 12 },
	{ "reserved_bytes", "RESERVED", 12 }, { "problem_count", "PROBLEMS", -8 }, { NULL, NULL, 0 },
};
static const struct out_col block_cols[] = {
	{ "address", "ADDRESS", -14 }, { "size", "SIZE", 12 }, { "busy", "BUSY", -4 },
	{ NULL, NULL, 0 },
};
static const struct out_col problem_cols[] = {
	{ "address", "ADDRESS", -14 }, { "problem", "PROBLEM", -1 }, { NULL, NULL, 0 },
};

struct heap_opts {
	bool blocks, validate;
};

struct pass {
	struct mi_heap_problem list[MAX_PROBLEMS];
	size_t                 count;
	uint64_t               seen;        /* blocks, for the progress line */
	bool                   progress;
};

static void heap_flags(const struct mi_heap_info *h, char *buf, size_t size)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ 0x1, "HEAP_NO_SERIALIZE" }, { 0x4, "HEAP_GENERATE_EXCEPTIONS" },
		{ 0x40000, "HEAP_CREATE_ENABLE_EXECUTE" },
	};
	size_t n = 0;

	buf[0] = 0;
	if (!h->rec.maximum_size)
		n += (size_t)snprintf(buf, size, "HEAP_GROWABLE");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if ((h->rec.flags & names[i].bit) && n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "|" : "", names[i].name);
	if (!n)
		snprintf(buf, size, "0");
}

static void progress(struct pass *p, uint64_t handle, bool done)
{
	if (!p->progress)
		return;
	if (done)
		fputs("\r\033[K", stderr);
	else
		fprintf(stderr, "\rmemtool: heap 0x%llx: %llu blocks", (unsigned long long)handle,
		        (unsigned long long)p->seen);
}

static int count_block(const struct mi_heap_block *b, void *ctx)
{
	struct pass *p = ctx;

	if ((++p->seen & 0xffff) == 0)
		progress(p, 0, false);
	return 0;
}

static int keep_problem(const struct mi_heap_problem *pr, void *ctx)
{
	struct pass *p = ctx;

	if (p->count < MAX_PROBLEMS)
		p->list[p->count++] = *pr;
	return 0;
}

static int emit_block(const struct mi_heap_block *b, void *ctx)
{
	out_rec_begin();
	out_addr("address", b->address);
	out_uint("size", b->size);
	out_bool("busy", b->busy);
	out_rec_end();
	return out_failed() ? -1 : 0;
}

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000 };

	nanosleep(&ts, NULL);
}

/* Statistics and problems; in a live target problems must survive a few
 * walks, and a moving generation means a walk saw a change. */
static int survey(struct mi_target *t, uint64_t handle, struct pass *p,
                  struct mi_heap_info *info, struct mi_err *e)
{
	static const struct mi_heap_visitor v = { count_block, keep_problem };
	int rc = 0;

	for (int i = 0; i <= LIVE_RETRIES; i++) {
		uint64_t g0 = 0, g1 = 0;

		p->count = 0;
		p->seen = 0;
		if (mi_is_live(t) && (rc = mi_heap_generation(t, handle, &g0, e)))
			return rc;
		if ((rc = mi_heap_walk(t, handle, &v, p, info, e)))
			return rc;
		if (!mi_is_live(t))
			return 0;
		if ((rc = mi_heap_generation(t, handle, &g1, e)))
			return rc;
		if (!info->problems && g0 == g1 && !(g0 & 1))
			return 0;
		pause_ms(2);
	}
	return 0;
}

static void emit_problems(const struct pass *p, uint64_t handle)
{
	if (!p->count && out_is_text())
		return;
	out_list_begin("problems", "problem", problem_cols);
	for (size_t i = 0; i < p->count; i++) {
		out_rec_begin();
		out_addr("address", p->list[i].address);
		out_str("problem", p->list[i].what);
		out_rec_end();
	}
	out_list_end();
}

static int one_heap(struct mi_target *t, uint64_t handle, const struct heap_opts *ho,
                    uint64_t *problems)
{
	struct pass p = { .progress = isatty(STDERR_FILENO) };
	struct mi_heap_info info;
	struct mi_err e = { 0 };
	char flags[128], subject[24];
	int rc = survey(t, handle, &p, &info, &e);

	progress(&p, handle, true);
	snprintf(subject, sizeof subject, "0x%llx", (unsigned long long)handle);
	if (rc) {
		mt_inspect_error("cannot walk heap", subject, &e);
		++*problems;
		return 0;       /* the other heaps are still shown */
	}
	*problems += info.problems;
	heap_flags(&info, flags, sizeof flags);
	out_rec_begin();
	out_addr("handle", handle);
	out_str("flags", flags);
	out_bool("process_heap", info.rec.options & MEMAPI_HEAP_PROCESS);
	out_uint("busy_blocks", info.busy_blocks);
	out_uint("busy_bytes", info.busy_bytes);
	out_uint("free_blocks", info.free_blocks);
	out_uint("free_bytes", info.free_bytes);
	out_uint("committed_bytes", info.committed_bytes);
	out_uint("reserved_bytes", info.reserved_bytes);
	out_uint("segments", info.segments);
	out_uint("large_blocks", info.large_blocks);
	out_uint("problem_count", info.problems);
	if (ho->blocks) {
		static const struct mi_heap_visitor v = { emit_block, NULL };
		struct mi_heap_info again;

		out_list_begin("blocks", "block", block_cols);
		rc = mi_heap_walk(t, handle, &v, NULL, &again, &e);
		out_list_end();
	}
	emit_problems(&p, handle);
	out_rec_end();
	if (rc > 0)
		mt_inspect_error("cannot walk heap", subject, &e);
	return out_failed() ? -1 : 0;
}

static int parse(int argc, char **argv, const struct cmd *self, struct target_opts *o,
                 struct heap_opts *ho)
{
	static const struct option opts[] = {
		MT_COMMON_LONGOPTS, { "blocks", no_argument, NULL, OPT_BLOCKS },
		{ "validate", no_argument, NULL, OPT_VALIDATE }, { NULL, 0, NULL, 0 },
	};
	int c, rc;

	*o = (struct target_opts){ 0 };
	*ho = (struct heap_opts){ false, false };
	optind = 1;
	while ((c = getopt_long(argc, argv, MT_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (c == OPT_BLOCKS)
			ho->blocks = true;
		else if (c == OPT_VALIDATE)
			ho->validate = true;
		else if ((rc = mt_common_opt(self, c, optarg, o)) != -1)
			return rc == -2 ? mt_usage(self) : rc;
	}
	if (optind != argc)
		return mt_usage(self);
	if (o->pid && o->core)
		return mt_error(MT_EXIT_USAGE, "conflicting options", "--pid/--core", "give one target");
	return -1;
}

int cmd_heap(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("heap");
	struct target_opts o;
	struct heap_opts ho;
	struct mi_target *t;
	struct mi_root *root;
	uint64_t problems = 0;
	int rc;

	if ((rc = parse(argc, argv, self, &o, &ho)) >= 0)
		return rc;
	if ((rc = mt_open_target(&o, &t)))
		return rc;
	if ((rc = mt_read_root(t, false, &root))) {
		mi_close(t);
		return rc;
	}
	mt_out_begin(&o, "heap", t, ho.blocks ? "block" : "heap");
	if (!root)
		out_text("This process does not use libmemapi: it has no libmemapi heaps.\n");
	out_list_begin("heaps", "heap", heap_cols);
	for (size_t i = 0; root && i < root->heap_count; i++)
		if (one_heap(t, root->heaps[i], &ho, &problems) < 0)
			break;
	out_list_end();
	out_doc_end();
	mi_root_free(root);
	mi_close(t);
	if (ho.validate && problems) {
		char n[24];

		snprintf(n, sizeof n, "%llu", (unsigned long long)problems);
		return mt_error(MT_EXIT_CHECK, "heap validation failed", n,
		                "problems found (listed with their addresses)");
	}
	return MT_EXIT_OK;
}
