/* memtool dep: the DEP/NX report of a target, and with --require a CI
 * gate that fails (exit 3) when DEP is off, a stack is executable or a
 * mapping is writable and executable. */
#include "memtool.h"

#include <getopt.h>
#include <string.h>

enum { OPT_REQUIRE = OPT_CMD };

static const struct out_col object_cols[] = {
	{ "is_executable", "EXE", -3 }, { "gnu_stack", "GNU_STACK", -9 },
	{ "exec_stack", "EXEC_STACK", -10 }, { "path", "PATH", -1 }, { NULL, NULL, 0 },
};

static const struct out_col map_cols[] = {
	{ "base", "BASE", -14 }, { "size", "SIZE", 12 }, { "protect", "PROTECT", -22 },
	{ "path", "PATH", -1 }, { NULL, NULL, 0 },
};

static const struct out_col stack_cols[] = {
	{ "base", "BASE", -14 }, { "size", "SIZE", 12 }, { "path", "PATH", -1 },
	{ NULL, NULL, 0 },
};

static const struct out_col violation_cols[] = {
	{ "check", "CHECK", -11 }, { "subject", "SUBJECT", -40 }, { "reason", "REASON", -1 },
	{ NULL, NULL, 0 },
};

/* The names of the checks, as --require's last line and "check" show them. */
static const char *check_name(uint32_t check)
{
	switch (check) {
	case MI_DEP_CHECK_DEP:        return "dep_enabled";
	case MI_DEP_CHECK_EXEC_STACK: return "exec_stack";
	default:                      return "wx_mappings";
	}
}

static int parse(int argc, char **argv, const struct cmd *self, struct target_opts *o,
                 bool *require)
{
	static const struct option opts[] = {
		MT_COMMON_LONGOPTS, { "require", no_argument, NULL, OPT_REQUIRE },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	*o = (struct target_opts){ 0 };
	*require = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, MT_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (c == OPT_REQUIRE) {
			*require = true;
			continue;
		}
		if ((rc = mt_common_opt(self, c, optarg, o)) != -1)
			return rc == -2 ? mt_usage(self) : rc;
	}
	if (optind != argc)
		return mt_usage(self);
	if (o->pid && o->core)
		return mt_error(MT_EXIT_USAGE, "conflicting options", "--pid/--core",
		                "give one target");
	return -1;
}

/* A field that a core cannot answer: null in JSON, "unknown" in text. */
static void out_unknown(const char *key, const char *why)
{
	out_str(key, out_is_text() ? why : NULL);
}

static void policy_fields(const struct mi_dep_report *r)
{
	char pers[24];

	if (r->personality_known) {
		snprintf(pers, sizeof pers, "0x%lx", r->personality);
		out_str("personality", pers);
		out_bool("read_implies_exec", r->personality & MI_READ_IMPLIES_EXEC);
	} else {
		out_unknown("personality", "unknown (a core does not record it)");
		out_unknown("read_implies_exec", "unknown");
	}
	if (r->nx_known)
		out_bool("kernel_nx", r->kernel_nx);
	else
		out_unknown("kernel_nx", "unknown");
	out_bool("dep_enabled", r->dep_enabled);
}

static void objects_list(const struct mi_dep_report *r)
{
	out_text("\nmapped objects\n");
	out_list_begin("objects", "object", object_cols);
	for (size_t i = 0; i < r->object_count; i++) {
		const struct mi_dep_object *d = &r->objects[i];

		out_rec_begin();
		out_str("path", d->path);
		out_bool("is_executable", d->is_exe);
		if (d->known) {
			out_bool("gnu_stack", d->has_gnu_stack);
			out_bool("exec_stack", d->exec_stack);
		} else {
			out_unknown("gnu_stack", "unknown");
			out_unknown("exec_stack", "unknown");
		}
		out_rec_end();
	}
	out_list_end();
}

/* In text, an empty list is one line instead of a lone header. */
static bool list_title(const char *title, size_t n)
{
	if (!out_is_text())
		return true;
	printf("\n%s:%s\n", title, n ? "" : " none");
	return n != 0;
}

static void maps_list(const char *key, const char *kind, const struct mi_dep_map *m,
                      size_t n, bool with_protect)
{
	char prot[200];

	if (!list_title(with_protect ? "W+X mappings" : "executable stacks", n))
		return;
	out_list_begin(key, kind, with_protect ? map_cols : stack_cols);
	for (size_t i = 0; i < n; i++) {
		out_rec_begin();
		out_addr("base", m[i].base);
		out_uint("size", m[i].size);
		if (with_protect) {
			mt_protect_name(m[i].protect, prot, sizeof prot);
			out_str("protect", prot);
		}
		out_str("path", m[i].path);
		out_rec_end();
	}
	out_list_end();
}

static void violations_list(const struct mi_dep_report *r)
{
	if (!list_title("violations", r->violation_count))
		return;
	out_list_begin("violations", "violation", violation_cols);
	for (size_t i = 0; i < r->violation_count; i++) {
		const struct mi_dep_violation *v = &r->violations[i];

		out_rec_begin();
		out_str("reason", v->reason);
		out_str("subject", v->subject);
		out_str("check", check_name(v->check));
		out_rec_end();
	}
	out_list_end();
}

/* --require's verdict, the last line of the text output. */
static int verdict(const struct mi_dep_report *r)
{
	static const uint32_t checks[] = {
		MI_DEP_CHECK_DEP, MI_DEP_CHECK_EXEC_STACK, MI_DEP_CHECK_WX,
	};

	if (!r->failed) {
		out_text("\nrequire: passed (dep_enabled exec_stack wx_mappings)\n");
		return MT_EXIT_OK;
	}
	out_text("\nrequire: failed:");
	for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
		if (r->failed & checks[i])
			out_text(" %s", check_name(checks[i]));
	out_text("\n");
	return MT_EXIT_CHECK;
}

int cmd_dep(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("dep");
	struct target_opts o;
	struct mi_target *t;
	struct mi_dep_report *r;
	struct mi_err e = { 0 };
	char name[24];
	bool require;
	int rc;

	if ((rc = parse(argc, argv, self, &o, &require)) >= 0)
		return rc;
	if ((rc = mt_open_target(&o, &t)))
		return rc;
	if ((rc = mi_dep_report(t, &r, &e))) {
		mi_close(t);
		snprintf(name, sizeof name, "%d", (int)o.pid);
		return mt_inspect_error("cannot check DEP of",
		                        o.core ? o.core : o.pid ? name : "self", &e);
	}
	mt_out_begin(&o, "dep", t, "violation");
	policy_fields(r);
	objects_list(r);
	maps_list("wx_mappings", "wx_mapping", r->wx, r->wx_count, true);
	maps_list("exec_stacks", "exec_stack", r->exec_stacks, r->exec_stack_count, false);
	violations_list(r);
	out_doc_end();
	rc = require ? verdict(r) : MT_EXIT_OK;
	mi_dep_free(r);
	mi_close(t);
	return rc;
}
