/* memtool: the subcommand table's types and the helpers commands share. */
#ifndef MEMTOOL_H
#define MEMTOOL_H

#include <windows.h>
#include <stdbool.h>
#include <stdio.h>

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
	const char *usage;      /* one line, shared by -h, help and the man page */
	const char *summary;
};

extern const struct cmd mt_commands[];

/* Prints "memtool: <what> '<subject>': <cause>" and returns code. */
int  mt_error(int code, const char *what, const char *subject, const char *cause);
/* Prints the usage line of cmd to stderr and returns MT_EXIT_USAGE. */
int  mt_usage(const struct cmd *cmd);
const struct cmd *mt_find_command(const char *name);

/* Windows constant names: "MEM_COMMIT", "PAGE_READWRITE|PAGE_GUARD". */
const char *mt_state_name(DWORD state);
const char *mt_type_name(DWORD type);
void        mt_protect_name(DWORD protect, char *buf, size_t size);

/* Parses a decimal pid or a 0x-prefixed / plain hex address. */
bool mt_parse_pid(const char *s, DWORD *pid);
bool mt_parse_address(const char *s, uintptr_t *addr);

/* Options most commands share: --pid PID, --json, -h. */
struct target_opts {
	DWORD pid;              /* 0: memtool itself */
	bool  json;
};

/* Parses them; returns -1 when the command should go on (optind is at the
 * first operand), else the exit code to return (-h printed, or usage). */
int  mt_parse_target_opts(int argc, char **argv, const struct cmd *self,
                          struct target_opts *o);

/* Output flushed and checked at exit, so `memtool ... | head` behaves. */
int  mt_finish_output(int code);

int cmd_maps(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_help(int argc, char **argv);

#endif
