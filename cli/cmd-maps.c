/* memtool maps: every region of a process in VirtualQuery terms. */
#include "memtool.h"
#include "region.h"

#include <unistd.h>

struct maps_ctx {
	bool json;
	bool first;
};

static bool print_one(const MEMORY_BASIC_INFORMATION *m, void *p)
{
	struct maps_ctx *c = p;

	mt_region_print(m, c->json, c->first);
	c->first = false;
	return true;
}

int cmd_maps(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("maps");
	struct maps_ctx ctx = { false, true };
	struct target_opts o;
	HANDLE h;
	int rc;

	if ((rc = mt_parse_target_opts(argc, argv, self, &o)) >= 0)
		return rc;
	if (optind != argc)
		return mt_usage(self);
	ctx.json = o.json;
	if ((rc = mt_open_target(o.pid, &h)))
		return rc;
	if (ctx.json) {
		printf("{\n");
		mt_target_json(o.pid ? o.pid : GetCurrentProcessId());
		printf(",\n  \"regions\": [");
	} else {
		mt_region_text_header();
	}
	rc = mt_walk_regions(h, false, print_one, &ctx);
	if (ctx.json)
		printf("\n  ]\n}\n");
	CloseHandle(h);
	if (rc)
		return mt_error(MT_EXIT_RUNTIME, "reading the memory map", NULL,
		                "the process went away or cannot be read");
	return MT_EXIT_OK;
}
