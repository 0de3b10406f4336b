/* memtool query: one region, like VirtualQueryEx. */
#include "memtool.h"
#include "region.h"

#include <getopt.h>

int cmd_query(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const struct cmd *self = mt_find_command("query");
	MEMORY_BASIC_INFORMATION m;
	uintptr_t addr;
	DWORD pid = 0;
	bool json = false;
	HANDLE h;
	int c, rc;

	while ((c = getopt_long(argc, argv, "hp:j", opts, NULL)) != -1) {
		if (c == 'p' && !mt_parse_pid(optarg, &pid))
			return mt_error(MT_EXIT_USAGE, "invalid pid", optarg, "expected a positive number");
		else if (c == 'j')
			json = true;
		else if (c == 'h')
			return printf("usage: %s\n", self->usage), MT_EXIT_OK;
		else if (c != 'p')
			return mt_usage(self);
	}
	if (optind + 1 != argc)
		return mt_usage(self);
	if (!mt_parse_address(argv[optind], &addr))
		return mt_error(MT_EXIT_USAGE, "invalid address", argv[optind],
		                "expected a hexadecimal address");
	if ((rc = mt_open_target(pid, &h)))
		return rc;
	if (!VirtualQueryEx(h, (LPCVOID)addr, &m, sizeof m)) {
		DWORD e = GetLastError();

		CloseHandle(h);
		return mt_error(e == ERROR_INVALID_PARAMETER ? MT_EXIT_USAGE : MT_EXIT_RUNTIME,
		                "cannot query address", argv[optind],
		                e == ERROR_INVALID_PARAMETER ? "outside the user address space"
		                                             : "the process cannot be read");
	}
	CloseHandle(h);
	if (json) {
		printf("{\n");
		mt_target_json(pid ? pid : GetCurrentProcessId());
		printf(",\n  \"region\":");
		mt_region_print(&m, true, true);
		printf("\n}\n");
	} else {
		mt_region_text_header();
		mt_region_print(&m, false, true);
	}
	return MT_EXIT_OK;
}
