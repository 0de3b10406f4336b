/* memtool enclave: the enclaves of libmemapi in a target, with their state,
 * their region's runs and whether their pages can be read from outside. */
#include "memtool.h"

#include <winnt.h>

static const struct out_col enclave_cols[] = {
	{ "base", "BASE", -14 }, { "size", "SIZE", 10 }, { "type", "TYPE", -22 },
	{ "loaded", "LOADED", 10 }, { "initialized", "SEALED", -6 }, { "secret", "SECRET", -6 },
	{ "readable", "READABLE", -1 }, { NULL, NULL, 0 },
};

static const struct out_col run_cols[] = {
	{ "base", "BASE", -14 }, { "size", "SIZE", 10 }, { "state", "STATE", -11 },
	{ "protect", "PROTECT", -18 }, { "readable", "READABLE", -1 }, { NULL, NULL, 0 },
};

/* One run; a committed one is probed like the enclave. */
static int run_record(struct mi_target *t, const struct mi_region *g,
                      const struct memapi_rec_run *u, uint64_t page, struct mi_err *e)
{
	uint64_t base = g->rec.base + u->first_page * page;
	bool readable = false;
	char prot[200];
	int rc;

	if (u->state == MEM_COMMIT && (rc = mi_enclave_probe(t, base, &readable, e)))
		return rc;
	mt_protect_name(u->state == MEM_COMMIT ? u->protect : 0, prot, sizeof prot);
	out_rec_begin();
	out_addr("base", base);
	out_uint("size", u->page_count * page);
	out_str("state", mt_state_name(u->state));
	out_str("protect", prot);
	if (u->state == MEM_COMMIT)
		out_bool("readable", readable);
	else
		out_str("readable", NULL);
	out_rec_end();
	return 0;
}

static int enclave_record(struct mi_target *t, const struct mi_enclave *n, uint64_t page,
                          struct mi_err *e)
{
	char type[24];
	int rc = 0;

	out_rec_begin();
	out_addr("base", n->rec.base);
	out_uint("size", n->rec.size);
	out_str("type", mi_enclave_type_name(n->rec.type, type, sizeof type));
	out_uint("loaded", n->rec.loaded);
	out_bool("initialized", n->rec.initialized);
	if (n->secret < 0)
		out_str("secret", NULL);        /* JSON null: cannot be told */
	else
		out_bool("secret", n->secret);
	if (n->probed) {
		out_addr("probe_address", n->probe);
		out_bool("readable", n->readable);
	} else {                                /* nothing committed to read */
		out_str("probe_address", NULL);
		out_str("readable", NULL);
	}
	out_list_begin("runs", "run", run_cols);
	for (size_t i = 0; i < n->region_count && !rc; i++)
		for (uint64_t k = 0; k < n->regions[i].rec.run_count && !rc; k++)
			rc = run_record(t, &n->regions[i], &n->regions[i].runs[k], page, e);
	out_list_end();
	out_rec_end();
	return rc;
}

static int list(struct mi_target *t, const struct mi_root *root, struct mi_err *e)
{
	uint64_t page = root->root.page_size ? root->root.page_size : 4096;
	struct mi_enclave n;
	int rc;

	for (size_t i = 0; i < root->enclave_count && !out_failed(); i++) {
		if ((rc = mi_enclave_inspect(t, root, i, &n, e)) ||
		    (rc = enclave_record(t, &n, page, e)))
			return rc;
	}
	return 0;
}

int cmd_enclave(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("enclave");
	struct target_opts o;
	struct mi_target *t;
	struct mi_root *root;
	struct mi_err e = { 0 };
	int rc;

	if ((rc = mt_start(argc, argv, self, &o, &t, &root)) >= 0)
		return rc;
	mt_out_begin(&o, "enclave", t, "enclave");
	if (!root)
		out_text("%s\n", mi_symbol_address(t, "memapi_root", &(uint64_t){ 0 }, NULL)
		                 ? "no libmemapi in this process"
		                 : "libmemapi's tables could not be read: no enclaves listed");
	out_list_begin("enclaves", "enclave", enclave_cols);
	rc = root ? list(t, root, &e) : 0;
	out_list_end();
	if (root && !rc)
		out_text("%zu enclaves\n", root->enclave_count);
	out_doc_end();
	mi_root_free(root);
	mi_close(t);
	if (rc)
		return mt_inspect_error("reading the enclaves of", o.core ? o.core : "the process", &e);
	return MT_EXIT_OK;
}
