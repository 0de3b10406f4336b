/* memtool: entry point and the one table of subcommands. */
#include "memtool.h"

#include <errno.h>
#include <string.h>

const struct cmd mt_commands[] = {
	{ "demo",  cmd_demo,  "memtool demo [--json]",
	  "run a bundled libmemapi workload and inspect it" },
	{ "maps",  cmd_maps,  "memtool maps [--pid PID | --core FILE] [--json | --jsonl | --csv]",
	  "the region map of a process in VirtualQuery terms" },
	{ "query", cmd_query, "memtool query ADDRESS [--pid PID | --core FILE] [--json | --jsonl | --csv]",
	  "one region, like VirtualQueryEx" },
	{ "help",  cmd_help,  "memtool help [COMMAND]",
	  "list the commands, or show one command's usage" },
	{ NULL, NULL, NULL, NULL },
};

const struct cmd *mt_find_command(const char *name)
{
	for (const struct cmd *c = mt_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void overview(FILE *out)
{
	fprintf(out, "usage: memtool [--version] COMMAND [ARGS]\n\ncommands:\n");
	for (const struct cmd *c = mt_commands; c->name; c++)
		fprintf(out, "  %-7s %s\n", c->name, c->summary);
	fprintf(out, "\nmemtool help COMMAND shows a command's options.\n");
}

int cmd_help(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		overview(stdout);
		return MT_EXIT_OK;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		printf("usage: %s\n", mt_find_command("help")->usage);
		return MT_EXIT_OK;
	}
	if (argc > 2)
		return mt_usage(mt_find_command("help"));
	if (!(c = mt_find_command(argv[1])))
		return mt_error(MT_EXIT_USAGE, "unknown command", argv[1], "see 'memtool help'");
	printf("usage: %s\n%s\n", c->usage, c->summary);
	return MT_EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		overview(stderr);
		return MT_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("memtool %s\n", MEMTOOL_VERSION);
		return mt_finish_output(MT_EXIT_OK);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		overview(stdout);
		return mt_finish_output(MT_EXIT_OK);
	}
	if (!(c = mt_find_command(argv[1])))
		return mt_error(MT_EXIT_USAGE, "unknown command", argv[1], "see 'memtool help'");
	return mt_finish_output(c->run(argc - 1, argv + 1));
}
