/* memtool maps: every region of a target in VirtualQuery terms, with
 * libmemapi's own detail where it owns the memory. */
#include "maps.h"

#include <winnt.h>

const struct out_col mt_region_cols[] = {
	{ "base", "BASE", -14 }, { "allocation_base", "ALLOC_BASE", -14 }, { "size", "SIZE", 12 },
	{ "state", "STATE", -11 }, { "protect", "PROTECT", -26 },
	{ "allocation_protect", "ALLOC_PROTECT", -22 }, { "type", "TYPE", -11 },
	{ "usage", "USAGE", -7 }, { "path", "PATH", -1 }, { NULL, NULL, 0 },
};

void mt_region_record(const struct mi_vq *q)
{
	char prot[200], aprot[200];

	mt_protect_name(q->state == MEM_FREE ? PAGE_NOACCESS : q->protect, prot, sizeof prot);
	mt_protect_name(q->allocation_protect, aprot, sizeof aprot);
	out_rec_begin();
	out_addr("base", q->base);
	out_addr("allocation_base", q->allocation_base);
	out_uint("size", q->size);
	out_str("state", mt_state_name(q->state));
	out_str("protect", prot);
	out_str("allocation_protect", aprot);
	out_str("type", mt_type_name(q->type));
	out_str("usage", q->usage);
	out_str("path", q->path);
	out_bool("libmemapi", q->own);
	out_rec_end();
}

static int print_one(const struct mi_vq *q, void *ctx)
{
	mt_region_record(q);
	return out_failed() ? -1 : 0;
}

int cmd_maps(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("maps");
	struct target_opts o;
	struct mi_target *t;
	struct mi_root *root;
	struct mi_err e = { 0 };
	int rc;

	if ((rc = mt_start(argc, argv, self, &o, &t, &root)) >= 0)
		return rc;
	mt_out_begin(&o, "maps", t, "region");
	out_list_begin("regions", "region", mt_region_cols);
	rc = mi_region_walk(t, root, print_one, NULL, &e);
	out_list_end();
	out_doc_end();
	mi_root_free(root);
	mi_close(t);
	if (rc > 0)
		return mt_inspect_error("reading the memory map of", o.core ? o.core : "the process", &e);
	return MT_EXIT_OK;
}
