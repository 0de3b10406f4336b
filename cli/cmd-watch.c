/* memtool watch: the pages a live process writes, sampled over time: its
 * MEM_WRITE_WATCH regions as libmemapi tracks them (read without resetting
 * them) and, with --unwatched, page-hash diffs of its other private
 * writable memory. */
#include "memtool.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>

enum { OPT_INTERVAL = OPT_CMD, OPT_COUNT, OPT_UNWATCHED };

static const struct out_col sample_cols[] = {
	{ "time", "TIME", 10 }, { "watch_mode", "WATCH_MODE", -1 }, { NULL, NULL, 0 },
};

static const struct out_col region_cols[] = {
	{ "base", "BASE", -14 }, { "size", "SIZE", 12 }, { "kind", "KIND", -6 },
	{ "written_pages", "WRITTEN", 8 }, { "new_pages", "NEW", 8 },
	{ "new", "NEW_PAGES", -1 }, { NULL, NULL, 0 },
};

struct watch_opts {
	struct target_opts t;
	uint64_t interval_ms, count;
	bool unwatched;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int parse(int argc, char **argv, const struct cmd *self, struct watch_opts *o)
{
	static const struct option opts[] = {
		MT_COMMON_LONGOPTS,
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "unwatched", no_argument, NULL, OPT_UNWATCHED },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	*o = (struct watch_opts){ .interval_ms = 1000, .count = 1 };
	optind = 1;
	while ((c = getopt_long(argc, argv, MT_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		switch (c) {
		case OPT_INTERVAL:
			if (!mt_parse_uint(optarg, 1, 3600000, &o->interval_ms))
				return mt_error(MT_EXIT_USAGE, "invalid interval", optarg,
				                "expected milliseconds from 1 to 3600000");
			continue;
		case OPT_COUNT:
			if (!mt_parse_uint(optarg, 0, 1000000000, &o->count))
				return mt_error(MT_EXIT_USAGE, "invalid count", optarg,
				                "expected a number of samples from 0 (until interrupted) "
				                "to 1000000000");
			continue;
		case OPT_UNWATCHED:
			o->unwatched = true;
			continue;
		}
		if ((rc = mt_common_opt(self, c, optarg, &o->t)) != -1)
			return rc == -2 ? mt_usage(self) : rc;
	}
	if (optind != argc)
		return mt_usage(self);
	if (o->t.core)
		return mt_error(MT_EXIT_USAGE, "cannot watch core file", o->t.core,
		                "write tracking needs a live process");
	if (!o->t.pid)
		return mt_error(MT_EXIT_USAGE, "missing --pid", NULL,
		                "write tracking needs a live process");
	return -1;
}

static double seconds(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static const char *mode_name(uint32_t mode)
{
	switch (mode) {
	case 0:                     return NULL;    /* no libmemapi */
	case MEMAPI_WATCH_KERNEL:   return "kernel";
	case MEMAPI_WATCH_FALLBACK: return "fallback";
	default:                    return "unknown";
	}
}

static void pages(const char *key, const uint64_t *v, size_t n)
{
	out_array_begin(key);
	for (size_t i = 0; i < n; i++)
		out_array_addr(v[i]);
	out_array_end();
}

static void print_sample(const struct mi_watch_sample *s, double time, bool first)
{
	/* A JSON Lines record's "kind" is its record type ("region"): there
	 * the region's own kind takes another name, so no key is repeated. */
	const char *kind_key = out_format() == OUT_JSONL ? "region_kind" : "kind";

	if (!first)
		out_text("\n");        /* text: a blank line between blocks */
	out_rec_begin();
	out_double("time", time, 3);
	out_str("watch_mode", mode_name(s->watch_mode));
	out_list_begin("regions", "region", region_cols);
	for (size_t i = 0; i < s->entry_count && !out_failed(); i++) {
		const struct mi_watch_entry *x = &s->entries[i];

		out_rec_begin();
		out_addr("base", x->base);
		out_uint("size", x->size);
		out_str(kind_key, x->kind == MI_WATCH_REGION ? "watch" : "hashed");
		out_uint("written_pages", x->written_count);
		out_uint("new_pages", x->fresh_count);
		pages("written", x->written, x->written_count);
		pages("new", x->fresh, x->fresh_count);
		out_rec_end();
	}
	out_list_end();
	out_rec_end();
	fflush(stdout);         /* each sample as it is taken, also into a pipe */
}

static void add_ms(struct timespec *ts, uint64_t ms)
{
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Sleeps until deadline or a signal. SIGINT and SIGTERM are blocked while
 * sampling and let in only here, atomically with the wait, so one that
 * arrives during a sample ends the run at the first wait after it. */
static void wait_until(const struct timespec *deadline, const sigset_t *waitmask)
{
	struct timespec now, rel;

	while (!stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (seconds(&now, deadline) <= 0) {
			rel = (struct timespec){ 0, 0 };  /* still take a pending signal */
			ppoll(NULL, 0, &rel, waitmask);
			return;
		}
		rel.tv_sec = deadline->tv_sec - now.tv_sec;
		rel.tv_nsec = deadline->tv_nsec - now.tv_nsec;
		if (rel.tv_nsec < 0) {
			rel.tv_sec--;
			rel.tv_nsec += 1000000000L;
		}
		if (ppoll(NULL, 0, &rel, waitmask) == 0)
			return;
	}
}

static void catch_signals(sigset_t *waitmask)
{
	struct sigaction sa = { .sa_handler = on_signal };     /* no SA_RESTART */
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGTERM);
}

/* Samples until the count is reached, a signal arrives, output fails or a
 * sample fails (then *e is set and 1 returned). s is the first sample,
 * taken at start; the time of each is when it began. */
static int run(const struct watch_opts *o, struct mi_watch *w, const struct mi_watch_sample *s,
               const struct timespec *start, const sigset_t *waitmask, struct mi_err *e)
{
	struct timespec deadline = *start, now;
	double time = 0.0;

	for (uint64_t n = 1;; n++) {
		print_sample(s, time, n == 1);
		if ((o->count && n >= o->count) || stop || out_failed())
			return 0;
		add_ms(&deadline, o->interval_ms);
		wait_until(&deadline, waitmask);
		if (stop)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		time = seconds(start, &now);
		if (mi_watch_sample(w, &s, e))
			return 1;
	}
}

int cmd_watch(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("watch");
	const struct mi_watch_sample *s;
	struct watch_opts o;
	struct mi_target *t;
	struct mi_watch *w;
	struct mi_err e = { 0 };
	struct timespec start;
	sigset_t waitmask;
	char pid[24];
	int rc;

	if ((rc = parse(argc, argv, self, &o)) >= 0)
		return rc;
	if ((rc = mt_open_target(&o.t, &t)))
		return rc;
	snprintf(pid, sizeof pid, "%d", (int)o.t.pid);
	if (mi_watch_open(t, o.unwatched ? MI_WATCH_UNWATCHED : 0, &w, &e)) {
		mi_close(t);
		return mt_inspect_error("cannot watch process", pid, &e);
	}
	catch_signals(&waitmask);
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* The first sample before any output: a failure leaves no document. */
	if (mi_watch_sample(w, &s, &e)) {
		rc = mt_inspect_error("cannot read the writes of process", pid, &e);
	} else {
		mt_out_begin(&o.t, "watch", t, "region");
		out_uint("interval_ms", o.interval_ms);
		out_list_begin("samples", "sample", sample_cols);
		rc = run(&o, w, s, &start, &waitmask, &e);
		out_list_end();
		out_doc_end();
		if (rc)
			rc = mt_inspect_error("cannot read the writes of process", pid, &e);
	}
	mi_watch_close(w);
	mi_close(t);
	return rc;
}
