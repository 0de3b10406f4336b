/* memtool maps: every region of a process in VirtualQuery terms. */
#include "memtool.h"
#include "region.h"

#include <getopt.h>
#include <string.h>

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
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const struct cmd *self = mt_find_command("maps");
	struct maps_ctx ctx = { false, true };
	DWORD pid = 0;
	HANDLE h;
	int c, rc;

	while ((c = getopt_long(argc, argv, "hp:j", opts, NULL)) != -1) {
		if (c == 'p' && !mt_parse_pid(optarg, &pid))
			return mt_error(MT_EXIT_USAGE, "invalid pid", optarg, "expected a positive number");
		else if (c == 'j')
			ctx.json = true;
		else if (c == 'h')
			return printf("usage: %s\n", self->usage), MT_EXIT_OK;
		else if (c != 'p')
			return mt_usage(self);
	}
	if (optind != argc)
		return mt_usage(self);
	if ((rc = mt_open_target(pid, &h)))
		return rc;
	if (ctx.json) {
		printf("{\n");
		mt_target_json(pid ? pid : GetCurrentProcessId());
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
