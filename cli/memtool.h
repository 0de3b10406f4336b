/* memtool: the subcommand table's types and the helpers commands share. */
#ifndef MEMTOOL_H
#define MEMTOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "inspect.h"
#include "out.h"

/* Exit codes, part of the command-line contract. */
enum {
	MT_EXIT_OK = 0,
	MT_EXIT_RUNTIME = 1,    /* no such process, permission, unreadable input */
	MT_EXIT_USAGE = 2,
	MT_EXIT_CHECK = 3,      /* a requested check failed                     */
};

struct cmd {
	const char *name;
	int       (*run)(int argc, char **argv);
	const char *usage;      /* shared by -h, help and the man page's SYNOPSIS */
	const char *summary;
};

extern const struct cmd mt_commands[];
const struct cmd *mt_find_command(const char *name);

/* Prints "memtool: <what> '<subject>': <cause>" (no subject: "memtool:
 * <what>: <cause>") and returns code. */
int  mt_error(int code, const char *what, const char *subject, const char *cause);
/* The same for a libmeminspect failure: exit 1. */
int  mt_inspect_error(const char *what, const char *subject, const struct mi_err *e);
/* Prints the usage line of cmd to stderr and returns MT_EXIT_USAGE. */
int  mt_usage(const struct cmd *cmd);
/* For getopt's '?': "memtool: invalid option '<word>': ..." and the usage. */
int  mt_bad_option(const struct cmd *cmd);
/* The running command's argv (for messages about its words). */
extern char **mt_cmd_argv;

/* Windows constant names: "MEM_COMMIT", "PAGE_READWRITE|PAGE_GUARD". */
const char *mt_state_name(uint32_t state);
const char *mt_type_name(uint32_t type);
void        mt_protect_name(uint32_t protect, char *buf, size_t size);

/* A positive decimal pid; a hexadecimal address with or without 0x; a
 * decimal count or duration within [min, max]. */
bool mt_parse_pid(const char *s, pid_t *pid);
bool mt_parse_address(const char *s, uint64_t *addr);
bool mt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v);

/* The options every inspecting command takes. */
struct target_opts {
	pid_t           pid;        /* 0 with no core: memtool itself */
	const char     *core;
	enum out_format format;
};

/* getopt codes of the shared long options; commands number theirs from
 * OPT_CMD. */
enum { OPT_JSON = 0x100, OPT_JSONL, OPT_CSV, OPT_CMD = 0x140 };

#define MT_COMMON_LONGOPTS \
	{ "pid", required_argument, NULL, 'p' }, { "core", required_argument, NULL, 'c' }, \
	{ "json", no_argument, NULL, OPT_JSON }, { "jsonl", no_argument, NULL, OPT_JSONL }, \
	{ "csv", no_argument, NULL, OPT_CSV }, { "help", no_argument, NULL, 'h' }
#define MT_COMMON_SHORTOPTS "hp:c:"

/* Handles one getopt result if it is a shared option. Returns -1 when the
 * command should go on parsing, -2 when c is not a shared option, else the
 * exit code to return (after -h: 0; a bad value: 2). */
int  mt_common_opt(const struct cmd *self, int c, const char *arg, struct target_opts *o);
/* For commands with only the shared options: parses argv; -1 means go on
 * with the operands from optind. */
int  mt_parse_target_opts(int argc, char **argv, const struct cmd *self, struct target_opts *o);

/* Opens o's target; on failure prints the error and returns the exit code. */
int  mt_open_target(const struct target_opts *o, struct mi_target **t);
/* Reads libmemapi's tables of t. ENOENT (no libmemapi) gives *root = NULL
 * and 0; other failures print a warning (text) and give NULL too, unless
 * required, when they are an error (exit 1). */
int  mt_read_root(struct mi_target *t, bool required, struct mi_root **root);
/* For commands with only the shared options and no operands: parses argv,
 * opens the target and reads libmemapi's tables (*root NULL without them).
 * -1 means go on; else the exit code to return. */
int  mt_start(int argc, char **argv, const struct cmd *self, struct target_opts *o,
              struct mi_target **t, struct mi_root **root);
/* Starts the output document of kind doc_kind for t (NULL: the system). */
void mt_out_begin(const struct target_opts *o, const char *doc_kind, struct mi_target *t,
                  const char *csv_kind);

/* Output flushed and checked at exit, so `memtool ... | head` behaves. */
int  mt_finish_output(int code);

int cmd_maps(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_heap(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_dep(int argc, char **argv);
int cmd_thunks(int argc, char **argv);
int cmd_enclave(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_help(int argc, char **argv);

#endif
