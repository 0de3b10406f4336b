/* Shared helpers: error messages, usage, Windows constant names, parsing,
 * and checked output. */
#include "memtool.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int mt_error(int code, const char *what, const char *subject, const char *cause)
{
	fflush(stdout);
	if (subject)
		fprintf(stderr, "memtool: %s '%s': %s\n", what, subject, cause);
	else
		fprintf(stderr, "memtool: %s: %s\n", what, cause);
	return code;
}

int mt_usage(const struct cmd *cmd)
{
	fprintf(stderr, "usage: %s\n", cmd->usage);
	return MT_EXIT_USAGE;
}

const char *mt_state_name(DWORD state)
{
	switch (state) {
	case MEM_COMMIT:  return "MEM_COMMIT";
	case MEM_RESERVE: return "MEM_RESERVE";
	case MEM_FREE:    return "MEM_FREE";
	default:          return "0";
	}
}

const char *mt_type_name(DWORD type)
{
	switch (type) {
	case MEM_PRIVATE: return "MEM_PRIVATE";
	case MEM_MAPPED:  return "MEM_MAPPED";
	case MEM_IMAGE:   return "MEM_IMAGE";
	default:          return "0";
	}
}

static const struct { DWORD bit; const char *name; } protect_names[] = {
	{ PAGE_NOACCESS, "PAGE_NOACCESS" }, { PAGE_READONLY, "PAGE_READONLY" },
	{ PAGE_READWRITE, "PAGE_READWRITE" }, { PAGE_WRITECOPY, "PAGE_WRITECOPY" },
	{ PAGE_EXECUTE, "PAGE_EXECUTE" }, { PAGE_EXECUTE_READ, "PAGE_EXECUTE_READ" },
	{ PAGE_EXECUTE_READWRITE, "PAGE_EXECUTE_READWRITE" },
	{ PAGE_EXECUTE_WRITECOPY, "PAGE_EXECUTE_WRITECOPY" },
	{ PAGE_GUARD, "PAGE_GUARD" }, { PAGE_NOCACHE, "PAGE_NOCACHE" },
	{ PAGE_WRITECOMBINE, "PAGE_WRITECOMBINE" },
};

void mt_protect_name(DWORD protect, char *buf, size_t size)
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

bool mt_parse_pid(const char *s, DWORD *pid)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 0x7fffffff)
		return false;
	*pid = (DWORD)v;
	return true;
}

bool mt_parse_address(const char *s, uintptr_t *addr)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 16);
	if (errno || end == s || *end || *s == '-')
		return false;
	*addr = (uintptr_t)v;
	return true;
}

int mt_parse_target_opts(int argc, char **argv, const struct cmd *self,
                         struct target_opts *o)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct target_opts){ 0, false };
	optind = 1;
	while ((c = getopt_long(argc, argv, "hp:j", opts, NULL)) != -1) {
		if (c == 'p' && !mt_parse_pid(optarg, &o->pid))
			return mt_error(MT_EXIT_USAGE, "invalid pid", optarg, "expected a positive number");
		if (c == 'j')
			o->json = true;
		if (c == 'h') {
			printf("usage: %s\n", self->usage);
			return MT_EXIT_OK;
		}
		if (c == '?' || c == ':')
			return mt_usage(self);
	}
	return -1;
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
