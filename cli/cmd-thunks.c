/* memtool thunks: the ATL thunks of libmemapi in a target, each slot in use
 * with its parameter and target, the target's symbol and the slot's code
 * disassembled and checked against what libmemapi writes. */
#include "memtool.h"


static const struct out_col thunk_cols[] = {
	{ "code", "CODE", -14 }, { "parameter", "PARAMETER", -18 }, { "target", "TARGET", -14 },
	{ "check", "CHECK", -11 }, { "target_symbol", "TARGET_SYMBOL", -1 }, { NULL, NULL, 0 },
};

static const struct out_col insn_cols[] = {
	{ "address", "ADDRESS", -14 }, { "bytes", "BYTES", -20 }, { "mnemonic", "MNEMONIC", -8 },
	{ "operands", "OPERANDS", -1 }, { NULL, NULL, 0 },
};

static const char *const check_names[] = {
	[MI_THUNK_OK] = "ok", [MI_THUNK_MISMATCH] = "mismatch",
	[MI_THUNK_UNAVAILABLE] = "unavailable", [MI_THUNK_UNCHECKED] = "unchecked",
};

struct tally {
	size_t count, mismatches, unavailable;
};

static void insn_record(const struct mi_insn *in)
{
	char bytes[3 * MI_INSN_MAX + 1] = "";
	size_t len = 0;

	for (size_t i = 0; i < in->size; i++)
		len += (size_t)snprintf(bytes + len, sizeof bytes - len, "%s%02x", i ? " " : "",
		                        in->bytes[i]);
	out_rec_begin();
	out_addr("address", in->address);
	out_str("bytes", bytes);
	out_str("mnemonic", in->mnemonic);
	out_str("operands", in->operands);
	out_rec_end();
}

static int thunk_record(const struct mi_thunk *th, void *ctx)
{
	struct tally *n = ctx;

	n->count++;
	n->mismatches += th->check == MI_THUNK_MISMATCH;
	n->unavailable += th->check == MI_THUNK_UNAVAILABLE;
	out_rec_begin();
	out_addr("code", th->code);
	out_addr("data", th->data);
	out_addr("parameter", th->parameter);
	out_addr("target", th->target);
	out_str("target_symbol", th->has_symbol ? th->target_symbol : NULL);
	out_bool("code_available", th->check != MI_THUNK_UNAVAILABLE);
	out_str("check", check_names[th->check]);
	out_str("mismatch", th->check == MI_THUNK_MISMATCH ? th->mismatch : NULL);
	/* No text header over an empty list of a slot without code. */
	out_list_begin("instructions", "instruction", th->insn_count ? insn_cols : NULL);
	for (size_t i = 0; i < th->insn_count; i++)
		insn_record(&th->insns[i]);
	out_list_end();
	out_rec_end();
	if (th->check == MI_THUNK_MISMATCH)
		out_text("  mismatch: %s\n", th->mismatch);
	else if (th->check == MI_THUNK_UNAVAILABLE)
		out_text("  code unavailable: its page cannot be read (a core without it)\n");
	return out_failed() ? -1 : 0;
}

int cmd_thunks(int argc, char **argv)
{
	const struct cmd *self = mt_find_command("thunks");
	struct target_opts o;
	struct mi_target *t;
	struct mi_root *root;
	struct mi_err e = { 0 };
	struct tally n = { 0 };
	int rc;

	if ((rc = mt_start(argc, argv, self, &o, &t, &root)) >= 0)
		return rc;
	mt_out_begin(&o, "thunks", t, "instruction");
	if (!root)
		out_text("%s\n", mi_symbol_address(t, "memapi_root", &(uint64_t){ 0 }, NULL)
		                 ? "no libmemapi in this process"
		                 : "libmemapi's tables could not be read: no thunks listed");
	out_list_begin("thunks", "thunk", thunk_cols);
	rc = mi_thunk_walk(t, root, thunk_record, &n, &e);
	out_list_end();
	if (root && !rc)
		out_text("%zu thunks in use, %zu with code not libmemapi's, %zu without code\n",
		         n.count, n.mismatches, n.unavailable);
	out_doc_end();
	mi_root_free(root);
	mi_close(t);
	if (rc > 0)
		return mt_inspect_error("reading the thunks of", o.core ? o.core : "the process", &e);
	return MT_EXIT_OK;
}
