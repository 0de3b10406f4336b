/* ATL thunks of a target: every slot in use of every block libmemapi lists
 * (memapi_root.thunks), its data words, its target symbolized, and its code
 * disassembled with capstone and checked against what libmemapi writes:
 *     mov rdi, qword ptr [rip + X]    X: the slot's parameter word
 *     jmp qword ptr [rip + Y]         Y: the slot's target word
 *     int3 ...                        padding to 16 bytes
 * where both words are the slot's data, one page after its code (see
 * core/thunk.c and memapi.h). Only this file and the rest of inspect/
 * include capstone. */
#include "target.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT 16u

struct mi_disasm {
	csh      handle;
	cs_insn *insn;
	bool     x86_64;                /* the sequence can be checked            */
};

int mi_disasm_open(struct mi_disasm **out, struct mi_err *e)
{
	struct mi_disasm *d = calloc(1, sizeof *d);
	cs_arch arch;
	cs_mode mode;
	cs_err err;

	*out = NULL;
	if (!d)
		return mi_fail(e, ENOMEM, "out of memory");
#if defined(__x86_64__)
	arch = CS_ARCH_X86;
	mode = CS_MODE_64;
	d->x86_64 = true;
#elif defined(__aarch64__)
	arch = CS_ARCH_ARM64;
	mode = CS_MODE_ARM;
#else
	free(d);
	return mi_fail(e, ENOTSUP, "no disassembler for this architecture");
#endif
	if ((err = cs_open(arch, mode, &d->handle)) != CS_ERR_OK) {
		free(d);
		return mi_fail(e, ENOTSUP, "capstone cannot disassemble this architecture: %s",
		               cs_strerror(err));
	}
	/* Details give the operands' registers and displacements, which the
	 * check of the sequence compares. */
	if (cs_option(d->handle, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK ||
	    !(d->insn = cs_malloc(d->handle))) {
		cs_close(&d->handle);
		free(d);
		return mi_fail(e, ENOMEM, "capstone: out of memory");
	}
	*out = d;
	return 0;
}

void mi_disasm_close(struct mi_disasm *d)
{
	if (!d)
		return;
	cs_free(d->insn, 1);
	cs_close(&d->handle);
	free(d);
}

static void copy_insn(struct mi_insn *o, uint64_t addr, const uint8_t *bytes, size_t size,
                      const char *mnemonic, const char *operands)
{
	memset(o, 0, sizeof *o);
	o->address = addr;
	o->size = (uint8_t)(size < MI_INSN_MAX ? size : MI_INSN_MAX);
	memcpy(o->bytes, bytes, o->size);
	snprintf(o->mnemonic, sizeof o->mnemonic, "%s", mnemonic);
	snprintf(o->operands, sizeof o->operands, "%s", operands);
}

/* What the slot's first instructions must be; the first difference found
 * is kept in th->mismatch. */
struct expect {
	uint64_t code;                  /* of the slot                            */
	uint64_t param, target;         /* addresses of the two data words        */
	bool     failed;
};

static void mismatch(struct mi_thunk *th, struct expect *x, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void mismatch(struct mi_thunk *th, struct expect *x, const char *fmt, ...)
{
	va_list ap;

	if (x->failed)
		return;
	x->failed = true;
	th->check = MI_THUNK_MISMATCH;
	va_start(ap, fmt);
	vsnprintf(th->mismatch, sizeof th->mismatch, fmt, ap);
	va_end(ap);
}

#if defined(__x86_64__)
/* The address a RIP-relative 8-byte memory operand refers to; false if op
 * is not one. */
static bool rip_word(const cs_insn *in, const cs_x86_op *op, uint64_t *ea)
{
	if (op->type != X86_OP_MEM || op->size != 8 || op->mem.base != X86_REG_RIP ||
	    op->mem.index != X86_REG_INVALID || op->mem.segment != X86_REG_INVALID)
		return false;
	*ea = in->address + in->size + (uint64_t)op->mem.disp;
	return true;
}

static void check_x86(struct mi_thunk *th, struct expect *x, size_t k, const cs_insn *in)
{
	const cs_x86 *d = &in->detail->x86;
	uint64_t off = in->address - x->code, ea;

	if (k == 0) {
		if (in->id != X86_INS_MOV || d->op_count != 2 || d->operands[0].type != X86_OP_REG ||
		    d->operands[0].reg != X86_REG_RDI || !rip_word(in, &d->operands[1], &ea))
			mismatch(th, x, "the first instruction is '%s %s', not a load of rdi from "
			         "the slot's data", in->mnemonic, in->op_str);
		else if (ea != x->param)
			mismatch(th, x, "the first instruction loads rdi from 0x%llx, not from its "
			         "parameter word at 0x%llx", (unsigned long long)ea,
			         (unsigned long long)x->param);
	} else if (k == 1) {
		if (in->id != X86_INS_JMP || d->op_count != 1 || !rip_word(in, &d->operands[0], &ea))
			mismatch(th, x, "the second instruction is '%s %s', not a jump through the "
			         "slot's data", in->mnemonic, in->op_str);
		else if (ea != x->target)
			mismatch(th, x, "the second instruction jumps through 0x%llx, not through its "
			         "target word at 0x%llx", (unsigned long long)ea,
			         (unsigned long long)x->target);
	} else if (in->id != X86_INS_INT3) {
		mismatch(th, x, "'%s %s' at +%llu where libmemapi pads with int3", in->mnemonic,
		         in->op_str, (unsigned long long)off);
	}
}
#endif

int mi_thunk_decode(struct mi_disasm *d, const uint8_t *code, uint64_t code_addr,
                    uint64_t data_addr, struct mi_thunk *th)
{
	struct expect x = { code_addr, data_addr, data_addr + 8, false };
	const uint8_t *p = code;
	size_t left = SLOT;
	uint64_t at = code_addr;

	th->insn_count = 0;
	th->mismatch[0] = 0;
	th->check = d && d->x86_64 ? MI_THUNK_OK : MI_THUNK_UNCHECKED;
	if (!d)
		return ENOTSUP;
	while (left && th->insn_count < MI_THUNK_INSNS) {
		struct mi_insn *o = &th->insns[th->insn_count];
		const uint8_t *start = p;

		if (!cs_disasm_iter(d->handle, &p, &left, &at, d->insn)) {
			/* Like objdump: one undecodable byte, then go on. */
			copy_insn(o, at, p, 1, "(bad)", "");
			if (d->x86_64)
				mismatch(th, &x, "byte 0x%02x at +%llu is not an instruction", *p,
				         (unsigned long long)(at - code_addr));
			p++;
			left--;
			at++;
			th->insn_count++;
			continue;
		}
		copy_insn(o, d->insn->address, start, d->insn->size, d->insn->mnemonic,
		          d->insn->op_str);
#if defined(__x86_64__)
		check_x86(th, &x, th->insn_count, d->insn);
#endif
		th->insn_count++;
	}
	if (d->x86_64 && th->insn_count < 2)
		mismatch(th, &x, "the code is shorter than libmemapi's two instructions");
	return 0;
}

/* The code reads its words through the code view, one page on; in a memfd
 * block that is another mapping of the data page than the one libmemapi
 * writes (and lists), so compare them where both can be read. */
static void check_data_view(struct mi_target *t, uint64_t code_data, struct mi_thunk *th)
{
	uint64_t w[2];

	if (th->check != MI_THUNK_OK || mi_read(t, code_data, w, sizeof w, NULL))
		return;
	if (w[0] == th->parameter && w[1] == th->target)
		return;
	th->check = MI_THUNK_MISMATCH;
	snprintf(th->mismatch, sizeof th->mismatch,
	         "the code reads parameter 0x%llx and target 0x%llx at 0x%llx, but the data "
	         "view at 0x%llx holds 0x%llx and 0x%llx", (unsigned long long)w[0],
	         (unsigned long long)w[1], (unsigned long long)code_data,
	         (unsigned long long)th->data, (unsigned long long)th->parameter,
	         (unsigned long long)th->target);
}

static void fill_slot(struct mi_target *t, struct mi_disasm *d, uint64_t page,
                      const struct mi_thunk_block *b, unsigned i, struct mi_thunk *th)
{
	uint64_t data_seen = b->rec.code + page + (uint64_t)i * SLOT;

	memset(th, 0, sizeof *th);
	th->slot = i;
	th->code = b->rec.code + (uint64_t)i * SLOT;
	th->data = b->rec.data + (uint64_t)i * SLOT;
	th->parameter = b->data[i][0];
	th->target = b->data[i][1];
	th->has_symbol = th->target &&
	                 !mi_symbolize(t, th->target, th->target_symbol, sizeof th->target_symbol);
	if (!b->code_read) {
		th->check = MI_THUNK_UNAVAILABLE;
		return;
	}
	mi_thunk_decode(d, b->code + (size_t)i * SLOT, th->code, data_seen, th);
	check_data_view(t, data_seen, th);
}

static const struct mi_thunk_block *const *sorted_blocks(const struct mi_root *r)
{
	const struct mi_thunk_block **v = calloc(r->thunk_count ? r->thunk_count : 1, sizeof *v);

	if (!v)
		return NULL;
	/* Insertion sort by code address: a process has a handful of blocks. */
	for (size_t i = 0; i < r->thunk_count; i++) {
		size_t k = i;

		while (k && v[k - 1]->rec.code > r->thunks[i].rec.code) {
			v[k] = v[k - 1];
			k--;
		}
		v[k] = &r->thunks[i];
	}
	return (const struct mi_thunk_block *const *)v;
}

static bool slot_used(const struct mi_thunk_block *b, unsigned i)
{
	return b->rec.used[i / 64] >> (i % 64) & 1;
}

static int walk_blocks(struct mi_target *t, const struct mi_root *r, struct mi_disasm *d,
                       int (*fn)(const struct mi_thunk *, void *), void *ctx,
                       struct mi_thunk *th)
{
	const struct mi_thunk_block *const *v = sorted_blocks(r);
	int rc = 0;

	if (!v)
		return ENOMEM;
	for (size_t k = 0; k < r->thunk_count && rc >= 0; k++)
		for (unsigned i = 0; i < MEMAPI_THUNK_SLOTS && rc >= 0; i++)
			if (slot_used(v[k], i)) {
				fill_slot(t, d, r->root.page_size, v[k], i, th);
				rc = fn(th, ctx);
			}
	free((void *)v);
	return rc < 0 ? rc : 0;
}

int mi_thunk_walk(struct mi_target *t, const struct mi_root *r,
                  int (*fn)(const struct mi_thunk *th, void *ctx), void *ctx, struct mi_err *e)
{
	const struct mi_object *objs;
	struct mi_disasm *d = NULL;
	struct mi_thunk *th;
	size_t n;
	int rc;

	if (!r || !r->thunk_count)
		return 0;
	/* mi_symbolize looks in the objects mi_objects found. */
	if ((rc = mi_objects(t, &objs, &n, e)))
		return rc;
	if ((rc = mi_disasm_open(&d, e)) && rc != ENOTSUP)
		return rc;
	if (!(th = malloc(sizeof *th))) {
		mi_disasm_close(d);
		return mi_fail(e, ENOMEM, "out of memory");
	}
	rc = walk_blocks(t, r, d, fn, ctx, th);
	free(th);
	mi_disasm_close(d);
	if (rc == ENOMEM)
		return mi_fail(e, ENOMEM, "out of memory");
	return rc;
}
