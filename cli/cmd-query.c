/* memtool query: one region, like VirtualQueryEx. */
#include "memtool.h"
#include "region.h"

#include <unistd.h>

int cmd_query(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("query");
	MEMORY_BASIC_INFORMATION m;
	struct target_opts o;
	uintptr_t addr;
	HANDLE h;
	int rc;

	if ((rc = mt_parse_target_opts(argc, argv, self, &o)) >= 0)
		return rc;
	if (optind + 1 != argc)
		return mt_usage(self);
	if (!mt_parse_address(argv[optind], &addr))
		return mt_error(MT_EXIT_USAGE, "invalid address", argv[optind],
		                "expected a hexadecimal address");
	if ((rc = mt_open_target(o.pid, &h)))
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
	if (o.json) {
		printf("{\n");
		mt_target_json(o.pid ? o.pid : GetCurrentProcessId());
		printf(",\n  \"region\":");
		mt_region_print(&m, true, true);
		printf("\n}\n");
	} else {
		mt_region_text_header();
		mt_region_print(&m, false, true);
	}
	return MT_EXIT_OK;
}
