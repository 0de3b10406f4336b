/* Shared helpers: error messages, usage, Windows constant names, parsing,
 * and checked output. */
#include "memtool.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <winnt.h>

int mt_error(int code, const char *what, const char *subject, const char *cause)
{
	fflush(stdout);
	if (subject)
		fprintf(stderr, "memtool: %s '%s': %s\n", what, subject, cause);
	else
		fprintf(stderr, "memtool: %s: %s\n", what, cause);
	return code;
}

char **mt_cmd_argv;

/* getopt's own messages are off (opterr = 0 in main) so that every error
 * has memtool's form; the offending word is the last one getopt took. */
int mt_bad_option(const struct cmd *cmd)
{
	const char *word = mt_cmd_argv && optind > 0 ? mt_cmd_argv[optind - 1] : "?";
	bool needs_value = optopt && (optopt >= 0x100 || strchr("pc", optopt));
	char cause[96];

	snprintf(cause, sizeof cause, "%s; see 'memtool help %s'",
	         needs_value ? "it needs a value" : "unknown option", cmd->name);
	mt_error(MT_EXIT_USAGE, "invalid option", word, cause);
	return mt_usage(cmd);
}

int mt_usage(const struct cmd *cmd)
{
	fprintf(stderr, "usage: %s\n", cmd->usage);
	return MT_EXIT_USAGE;
}

const char *mt_state_name(uint32_t state)
{
	switch (state) {
	case MEM_COMMIT:  return "MEM_COMMIT";
	case MEM_RESERVE: return "MEM_RESERVE";
	case MEM_FREE:    return "MEM_FREE";
	default:          return "0";
	}
}

const char *mt_type_name(uint32_t type)
{
	switch (type) {
	case MEM_PRIVATE: return "MEM_PRIVATE";
	case MEM_MAPPED:  return "MEM_MAPPED";
	case MEM_IMAGE:   return "MEM_IMAGE";
	default:          return "0";
	}
}

static const struct { uint32_t bit; const char *name; } protect_names[] = {
	{ PAGE_NOACCESS, "PAGE_NOACCESS" }, { PAGE_READONLY, "PAGE_READONLY" },
	{ PAGE_READWRITE, "PAGE_READWRITE" }, { PAGE_WRITECOPY, "PAGE_WRITECOPY" },
	{ PAGE_EXECUTE, "PAGE_EXECUTE" }, { PAGE_EXECUTE_READ, "PAGE_EXECUTE_READ" },
	{ PAGE_EXECUTE_READWRITE, "PAGE_EXECUTE_READWRITE" },
	{ PAGE_EXECUTE_WRITECOPY, "PAGE_EXECUTE_WRITECOPY" },
	{ PAGE_GUARD, "PAGE_GUARD" }, { PAGE_NOCACHE, "PAGE_NOCACHE" },
	{ PAGE_WRITECOMBINE, "PAGE_WRITECOMBINE" },
	{ PAGE_TARGETS_INVALID, "PAGE_TARGETS_INVALID" },
};

void mt_protect_name(uint32_t protect, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	if (!protect) {
		snprintf(buf, size, "0");
		return;
	}
	for (size_t i = 0; i < sizeof protect_names / sizeof protect_names[0]; i++)
		if (protect & protect_names[i].bit)
			n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
			                      n ? "|" : "", protect_names[i].name);
}

bool mt_parse_pid(const char *s, pid_t *pid)
{
	uint64_t v;

	if (!mt_parse_uint(s, 1, 0x7fffffff, &v))
		return false;
	*pid = (pid_t)v;
	return true;
}

bool mt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long n;

	errno = 0;
	if (*s < '0' || *s > '9')
		return false;
	n = strtoull(s, &end, 10);
	if (errno || *end || n < min || n > max)
		return false;
	*v = n;
	return true;
}

bool mt_parse_address(const char *s, uint64_t *addr)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!isxdigit((unsigned char)*s))
		return false;
	v = strtoull(s, &end, 16);
	if (errno || end == s || *end)
		return false;
	*addr = v;
	return true;
}

int mt_common_opt(const struct cmd *self, int c, const char *arg, struct target_opts *o)
{
	switch (c) {
	case 'p':
		if (!mt_parse_pid(arg, &o->pid))
			return mt_error(MT_EXIT_USAGE, "invalid pid", arg, "expected a positive number");
		return -1;
	case 'c':
		o->core = arg;
		return -1;
	case OPT_JSON:  o->format = OUT_JSON;  return -1;
	case OPT_JSONL: o->format = OUT_JSONL; return -1;
	case OPT_CSV:   o->format = OUT_CSV;   return -1;
	case 'h':
		printf("usage: %s\n", self->usage);
		return MT_EXIT_OK;
	case '?':
	case ':':
		return mt_bad_option(self);
	default:
		return -2;
	}
}

int mt_parse_target_opts(int argc, char **argv, const struct cmd *self, struct target_opts *o)
{
	static const struct option opts[] = { MT_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	int c, rc;

	*o = (struct target_opts){ 0 };
	optind = 1;
	while ((c = getopt_long(argc, argv, MT_COMMON_SHORTOPTS, opts, NULL)) != -1)
		if ((rc = mt_common_opt(self, c, optarg, o)) != -1)
			return rc == -2 ? mt_usage(self) : rc;
	if (o->pid && o->core)
		return mt_error(MT_EXIT_USAGE, "conflicting options", "--pid/--core",
		                "give one target");
	return -1;
}

int mt_inspect_error(const char *what, const char *subject, const struct mi_err *e)
{
	return mt_error(MT_EXIT_RUNTIME, what, subject, e->msg);
}

int mt_open_target(const struct target_opts *o, struct mi_target **t)
{
	struct mi_err e = { 0 };
	char pid[24];

	if (o->core) {
		if (mi_open_core(o->core, t, &e))
			return mt_inspect_error("cannot read core", o->core, &e);
		return MT_EXIT_OK;
	}
	if (!o->pid)
		return mi_open_self(t, &e) ? mt_inspect_error("cannot inspect", "self", &e)
		                           : MT_EXIT_OK;
	snprintf(pid, sizeof pid, "%d", (int)o->pid);
	if (mi_open_pid(o->pid, t, &e))
		return mt_inspect_error("cannot open process", pid, &e);
	return MT_EXIT_OK;
}

static const char *target_name(struct mi_target *t, char *buf, size_t size)
{
	if (mi_kind(t) == MI_CORE)
		return mi_core_path(t);
	snprintf(buf, size, "%d", (int)mi_pid(t));
	return buf;
}

int mt_read_root(struct mi_target *t, bool required, struct mi_root **root)
{
	struct mi_err e = { 0 };
	char name[24];
	int rc = mi_root_read(t, root, &e);

	if (!rc) {
		if ((*root)->torn)
			fprintf(stderr, "memtool: warning: libmemapi's tables in '%s' were "
			        "inside a change when the core was taken; they may be inconsistent\n",
			        target_name(t, name, sizeof name));
		return 0;
	}
	*root = NULL;
	if (rc == ENOENT && !required)
		return 0;
	if (required)
		return mt_inspect_error("cannot read libmemapi's tables in", target_name(t, name, sizeof name), &e);
	fprintf(stderr, "memtool: warning: libmemapi's tables in '%s' are unusable: %s; "
	        "showing the kernel's view only\n", target_name(t, name, sizeof name), e.msg);
	return 0;
}

int mt_start(int argc, char **argv, const struct cmd *self, struct target_opts *o,
             struct mi_target **t, struct mi_root **root)
{
	int rc;

	if ((rc = mt_parse_target_opts(argc, argv, self, o)) >= 0)
		return rc;
	if (optind != argc)
		return mt_usage(self);
	if ((rc = mt_open_target(o, t)))
		return rc;
	if ((rc = mt_read_root(*t, false, root))) {
		mi_close(*t);
		return rc;
	}
	return -1;
}

void mt_out_begin(const struct target_opts *o, const char *doc_kind, struct mi_target *t,
                  const char *csv_kind)
{
	static const char *const kinds[] = { "self", "pid", "core" };
	struct out_target tg = { "system", 0, NULL, NULL };

	out_init(o->format, csv_kind);
	if (t) {
		tg.kind = kinds[mi_kind(t)];
		tg.pid = mi_pid(t);
		tg.core = mi_core_path(t);
		tg.executable = mi_exe(t);
	}
	out_doc_begin(doc_kind, &tg);
}

int mt_finish_output(int code)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno == EPIPE)
			return code;    /* the reader went away: not our error */
		return mt_error(MT_EXIT_RUNTIME, "writing output", NULL, strerror(errno));
	}
	return code;
}
