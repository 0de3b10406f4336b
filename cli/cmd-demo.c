/* memtool demo: starts the bundled libmemapi workload as a separate
 * process and inspects it from outside, as memtool inspects any process,
 * checking its answers against the workload's own (its ground truth file).
 * `--serve FILE` is the workload itself: it writes its ground truth to
 * FILE and runs until SIGTERM or SIGINT; SIGUSR1 makes it write three more
 * pages of its watched region and rewrite FILE. Tests use it as a target. */
#include "maps.h"
#include "workload.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { OPT_SERVE = OPT_CMD };

static volatile sig_atomic_t got_term, got_usr1;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

/* The truth file appears whole: written beside it, then renamed. */
static int publish_truth(struct workload *w, const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;
	int rc;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return mt_error(MT_EXIT_RUNTIME, "cannot write", tmp, strerror(errno));
	rc = wl_write_truth(w, f);
	if (fclose(f) || rc || rename(tmp, path))
		return mt_error(MT_EXIT_RUNTIME, "cannot write", path, strerror(errno));
	return 0;
}

static int serve(const char *path)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct workload w;
	sigset_t mask, old;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGTERM);       /* never outlive whoever started us */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	if ((rc = wl_start(&w)) || (rc = publish_truth(&w, path)))
		return rc;
	while (!got_term) {
		sigsuspend(&old);
		if (got_usr1 && !got_term) {
			got_usr1 = 0;
			wl_write_more(&w);
			if ((rc = publish_truth(&w, path)))
				break;
		}
	}
	wl_stop(&w);
	return rc;
}

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000 };

	nanosleep(&ts, NULL);
}

/* Starts `memtool demo --serve FILE` and waits for FILE. */
static int start_workload(const char *truth, pid_t *pid)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	struct stat st;
	int status;

	if (n <= 0)
		return mt_error(MT_EXIT_RUNTIME, "cannot find", "/proc/self/exe", strerror(errno));
	self[n] = 0;
	if ((*pid = fork()) < 0)
		return mt_error(MT_EXIT_RUNTIME, "cannot start the workload", "fork", strerror(errno));
	if (!*pid) {
		execl(self, "memtool", "demo", "--serve", truth, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 2000; i++) {        /* up to 20 s */
		if (!stat(truth, &st))
			return 0;
		if (waitpid(*pid, &status, WNOHANG) == *pid)
			return mt_error(MT_EXIT_RUNTIME, "the workload failed", "memtool demo --serve",
			                "see the message above");
		pause_ms(10);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &status, 0);
	return mt_error(MT_EXIT_RUNTIME, "the workload did not start", truth, "timed out");
}

struct tour {
	uint64_t own_regions;
};

static int own_region(const struct mi_vq *q, void *ctx)
{
	struct tour *t = ctx;

	if (!q->own)
		return 0;
	t->own_regions++;
	mt_region_record(q);
	return 0;
}

static const struct out_col heap_cols[] = {
	{ "handle", "HEAP", -14 }, { "busy_blocks", "BUSY", 6 }, { "busy_bytes", "BUSY_BYTES", 12 },
	{ "free_blocks", "FREE", 6 }, { "committed_bytes", "COMMITTED", 12 },
	{ "problems", "PROBLEMS", -8 }, { NULL, NULL, 0 },
};

static void tour_heaps(struct mi_target *t, const struct mi_root *r)
{
	out_text("\nIts heaps, walked from outside (memtool heap --pid %d --blocks lists every block):\n",
	         (int)mi_pid(t));
	out_list_begin("heaps", "heap", heap_cols);
	for (size_t i = 0; i < r->heap_count; i++) {
		struct mi_heap_info h;
		struct mi_err e;

		if (mi_heap_walk(t, r->heaps[i], NULL, NULL, &h, &e))
			continue;
		out_rec_begin();
		out_addr("handle", h.handle);
		out_uint("busy_blocks", h.busy_blocks);
		out_uint("busy_bytes", h.busy_bytes);
		out_uint("free_blocks", h.free_blocks);
		out_uint("committed_bytes", h.committed_bytes);
		out_uint("problems", h.problems);
		out_rec_end();
	}
	out_list_end();
}

static const struct out_col thunk_cols[] = {
	{ "code", "CODE", -14 }, { "target", "TARGET", -14 }, { "target_symbol", "SYMBOL", -1 },
	{ NULL, NULL, 0 },
};

static void tour_thunks(struct mi_target *t, const struct mi_root *r)
{
	const struct mi_object *objs;
	size_t nobj;
	struct mi_err e;

	mi_objects(t, &objs, &nobj, &e);        /* for mi_symbolize */
	out_text("\nIts ATL thunks (memtool thunks disassembles them):\n");
	out_list_begin("thunks", "thunk", thunk_cols);
	for (size_t b = 0; b < r->thunk_count; b++)
		for (unsigned i = 0; i < MEMAPI_THUNK_SLOTS; i++) {
			const struct mi_thunk_block *tb = &r->thunks[b];
			char sym[256] = "";

			if (!(tb->rec.used[i / 64] >> (i % 64) & 1))
				continue;
			mi_symbolize(t, tb->data[i][1], sym, sizeof sym);
			out_rec_begin();
			out_addr("code", tb->rec.code + 16u * i);
			out_addr("target", tb->data[i][1]);
			out_str("target_symbol", sym);
			out_rec_end();
		}
	out_list_end();
}

static const struct out_col enclave_cols[] = {
	{ "base", "BASE", -14 }, { "size", "SIZE", 10 }, { "loaded", "LOADED", 10 },
	{ "initialized", "SEALED", -6 }, { NULL, NULL, 0 },
};

static void tour_enclaves(const struct mi_root *r, const char *why)
{
	out_text("\nIts enclaves (memtool enclave):%s\n", r->enclave_count ? "" : why);
	if (!r->enclave_count && out_is_text())
		return;
	out_list_begin("enclaves", "enclave", enclave_cols);
	for (size_t i = 0; i < r->enclave_count; i++) {
		out_rec_begin();
		out_addr("base", r->enclaves[i].base);
		out_uint("size", r->enclaves[i].size);
		out_uint("loaded", r->enclaves[i].loaded);
		out_bool("initialized", r->enclaves[i].initialized);
		out_rec_end();
	}
	out_list_end();
}

static const struct out_col sample_cols[] = {
	{ "sample", "SAMPLE", -6 }, { NULL, NULL, 0 },
};
static const struct out_col watch_cols[] = {
	{ "base", "BASE", -14 }, { "size", "SIZE", 10 }, { "written_pages", "WRITTEN", 7 },
	{ "new_pages", "NEW", 5 }, { "new", "NEW_PAGES", -1 }, { NULL, NULL, 0 },
};

static bool truth_changed(const char *truth, const struct stat *before)
{
	struct stat st;

	return !stat(truth, &st) && (st.st_mtim.tv_sec != before->st_mtim.tv_sec ||
	                             st.st_mtim.tv_nsec != before->st_mtim.tv_nsec ||
	                             st.st_ino != before->st_ino);
}

static void watch_entries(const struct mi_watch_sample *s)
{
	for (size_t i = 0; i < s->entry_count; i++) {
		const struct mi_watch_entry *w = &s->entries[i];

		out_rec_begin();
		out_addr("base", w->base);
		out_uint("size", w->size);
		out_uint("written_pages", w->written_count);
		out_uint("new_pages", w->fresh_count);
		out_array_begin("new");
		for (size_t k = 0; k < w->fresh_count; k++)
			out_array_addr(w->fresh[k]);
		out_array_end();
		out_rec_end();
	}
}

/* Two samples of the workload's write-watch regions, with three more pages
 * written between them (SIGUSR1), read without resetting its state. */
static void tour_watch(struct mi_target *t, pid_t pid, const char *truth)
{
	const struct mi_watch_sample *s;
	struct mi_watch *w;
	struct mi_err e;
	struct stat st;

	if (mi_watch_open(t, 0, &w, &e)) {
		out_text("\nWrite watch: %s\n", e.msg);
		return;
	}
	out_text("\nIts write-watch region, sampled, then sampled again after the workload "
	         "wrote 3 more pages (memtool watch --pid %d):\n", (int)pid);
	out_list_begin("watch_samples", "sample", sample_cols);
	for (int round = 0; round < 2; round++) {
		if (round) {
			stat(truth, &st);
			kill(pid, SIGUSR1);
			for (int i = 0; i < 500 && !truth_changed(truth, &st); i++)
				pause_ms(10);
		}
		if (mi_watch_sample(w, &s, &e))
			break;
		out_rec_begin();
		out_uint("sample", (uint64_t)round + 1);
		out_list_begin("regions", "region", watch_cols);
		watch_entries(s);
		out_list_end();
		out_rec_end();
	}
	out_list_end();
	mi_watch_close(w);
}

static void tour_dep(struct mi_target *t)
{
	struct mi_dep_report *d;
	struct mi_err e;

	if (mi_dep_report(t, &d, &e))
		return;
	out_text("\nDEP/NX (memtool dep --require is the CI gate): %s; %zu objects mapped, "
	         "%zu writable+executable mappings, %zu executable stacks.\n",
	         d->dep_enabled ? "on" : "OFF", d->object_count, d->wx_count, d->exec_stack_count);
	if (!out_is_text()) {           /* the sentence above says it for people */
		out_bool("dep_enabled", d->dep_enabled);
		out_uint("wx_mappings", d->wx_count);
	}
	mi_dep_free(d);
}

static int tour(const struct target_opts *o, pid_t pid, const char *truth)
{
	struct target_opts to = *o;
	struct tour tr = { 0 };
	struct mi_target *t;
	struct mi_root *r;
	struct mi_err e = { 0 };
	int rc;

	to.pid = pid;
	if ((rc = mt_open_target(&to, &t)))
		return rc;
	if ((rc = mt_read_root(t, true, &r))) {
		mi_close(t);
		return rc;
	}
	mt_out_begin(&to, "demo", t, "region");
	out_text("memtool demo: a libmemapi workload runs as process %d; memtool reads it from "
	         "outside.\n\nIts libmemapi allocations, as VirtualQueryEx would report them "
	         "(memtool maps --pid %d shows the whole process):\n", (int)pid, (int)pid);
	out_list_begin("regions", "region", mt_region_cols);
	rc = mi_region_walk(t, r, own_region, &tr, &e);
	out_list_end();
	tour_heaps(t, r);
	tour_watch(t, pid, truth);
	tour_thunks(t, r);
	tour_enclaves(r, " none (this kernel has no memfd_secret)");
	tour_dep(t);
	if (!out_is_text())
		out_uint("libmemapi_regions", tr.own_regions);
	out_text("\nTry: memtool help; memtool maps --pid %d; memtool heap --pid %d --validate; "
	         "memtool dep --pid %d --require.\n", (int)pid, (int)pid, (int)pid);
	out_doc_end();
	mi_root_free(r);
	mi_close(t);
	return rc ? mt_inspect_error("reading the workload", "demo", &e) : MT_EXIT_OK;
}

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON }, { "jsonl", no_argument, NULL, OPT_JSONL },
		{ "csv", no_argument, NULL, OPT_CSV }, { "help", no_argument, NULL, 'h' },
		{ "serve", required_argument, NULL, OPT_SERVE }, { NULL, 0, NULL, 0 },
	};
	const struct cmd *self = mt_find_command("demo");
	struct target_opts o = { 0 };
	const char *serve_path = NULL;
	char dir[] = "/tmp/memtool-demo-XXXXXX", truth[sizeof dir + 16];
	pid_t pid;
	int c, rc, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == OPT_SERVE)
			serve_path = optarg;
		else if ((rc = mt_common_opt(self, c, optarg, &o)) != -1)
			return rc == -2 ? mt_usage(self) : rc;
	}
	if (optind != argc)
		return mt_usage(self);
	if (serve_path)
		return serve(serve_path);
	if (!mkdtemp(dir))
		return mt_error(MT_EXIT_RUNTIME, "cannot create", dir, strerror(errno));
	snprintf(truth, sizeof truth, "%s/truth.json", dir);
	if (!(rc = start_workload(truth, &pid))) {
		rc = tour(&o, pid, truth);
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
	}
	unlink(truth);
	rmdir(dir);
	return rc;
}
