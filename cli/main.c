/* memtool: entry point and the one table of subcommands. */
#include "memtool.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

const struct cmd mt_commands[] = {
	{ "demo",  cmd_demo,  "memtool demo [--json | --jsonl | --csv] [--serve FILE]",
	  "run a bundled libmemapi workload and inspect it" },
	{ "maps",  cmd_maps,  "memtool maps [--pid PID | --core FILE] [--json | --jsonl | --csv]",
	  "the region map of a process in VirtualQuery terms" },
	{ "query", cmd_query, "memtool query ADDRESS [--pid PID | --core FILE] [--json | --jsonl | --csv]",
	  "one region, like VirtualQueryEx" },
	{ "heap",  cmd_heap,  "memtool heap [--pid PID | --core FILE] [--blocks] [--validate] [--json | --jsonl | --csv]",
	  "libmemapi's heaps: statistics, every block, corruption check" },
	{ "status", cmd_status, "memtool status [--json | --jsonl | --csv]",
	  "system memory: GlobalMemoryStatusEx, installed memory, large pages, file cache, low/high memory state" },
	{ "dep",   cmd_dep,   "memtool dep [--pid PID | --core FILE] [--require] [--json | --jsonl | --csv]",
	  "DEP/NX policy: personality, PT_GNU_STACK of every object, W+X mappings" },
	{ "thunks", cmd_thunks, "memtool thunks [--pid PID | --core FILE] [--json | --jsonl | --csv]",
	  "ATL thunks of libmemapi: slots, targets, disassembled code" },
	{ "enclave", cmd_enclave, "memtool enclave [--pid PID | --core FILE] [--json | --jsonl | --csv]",
	  "enclaves of libmemapi: type, base, size, loaded bytes, state" },
	{ "watch", cmd_watch, "memtool watch --pid PID [--interval MS] [--count N] [--unwatched] [--json | --jsonl | --csv]",
	  "write-watch deltas of a live process over time" },
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
	opterr = 0;                     /* mt_bad_option speaks instead */
	mt_cmd_argv = argv + 1;
	return mt_finish_output(c->run(argc - 1, argv + 1));
}
