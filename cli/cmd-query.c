/* memtool query: the region containing one address, like VirtualQueryEx. */
#include "maps.h"

#include <errno.h>
#include <getopt.h>

int cmd_query(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("query");
	struct target_opts o;
	struct mi_target *t;
	struct mi_root *root;
	struct mi_err e = { 0 };
	struct mi_vq q;
	uint64_t addr;
	int rc;

	if ((rc = mt_parse_target_opts(argc, argv, self, &o)) >= 0)
		return rc;
	if (optind + 1 != argc)
		return mt_usage(self);
	if (!mt_parse_address(argv[optind], &addr))
		return mt_error(MT_EXIT_USAGE, "invalid address", argv[optind],
		                "expected a hexadecimal address");
	if ((rc = mt_open_target(&o, &t)))
		return rc;
	mt_read_root(t, false, &root);
	rc = mi_region_query(t, root, addr, &q, &e);
	if (!rc) {
		mt_out_begin(&o, "query", t, "region");
		out_list_begin("regions", "region", mt_region_cols);
		mt_region_record(&q);
		out_list_end();
		out_doc_end();
	}
	mi_root_free(root);
	mi_close(t);
	if (rc == EINVAL)
		return mt_error(MT_EXIT_USAGE, "cannot query address", argv[optind], e.msg);
	if (rc)
		return mt_inspect_error("cannot query address", argv[optind], &e);
	return MT_EXIT_OK;
}
