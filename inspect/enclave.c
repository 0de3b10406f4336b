/* Enclaves of a target (memapi_root.enclaves): the record, the regions that
 * hold it, and what the kernel shows of its pages from outside: whether its
 * data pages are memfd_secret memory (a mapping of /secretmem) and whether
 * one byte of it can be read at all. */
#include "target.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <winnt.h>

#define EXEC_PROTECT (PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE | \
                      PAGE_EXECUTE_WRITECOPY)

const char *mi_enclave_type_name(uint32_t type, char *buf, size_t size)
{
	switch (type) {
	case ENCLAVE_TYPE_SGX:       return "ENCLAVE_TYPE_SGX";
	case ENCLAVE_TYPE_SGX2:      return "ENCLAVE_TYPE_SGX2";
	case ENCLAVE_TYPE_VBS:       return "ENCLAVE_TYPE_VBS";
	case ENCLAVE_TYPE_VBS_BASIC: return "ENCLAVE_TYPE_VBS_BASIC";
	default:
		snprintf(buf, size, "0x%x", type);
		return buf;
	}
}

static bool overlaps(const struct memapi_rec_enclave *n, const struct memapi_rec_region *g)
{
	return g->owner == MEMAPI_OWNER_ENCLAVE && g->base < n->base + n->size &&
	       n->base < g->base + g->size;
}

/* The regions of r the enclave owns: consecutive, as r's are by address. */
static void find_regions(const struct mi_root *r, struct mi_enclave *out)
{
	for (size_t i = 0; i < r->region_count; i++) {
		if (!overlaps(&out->rec, &r->regions[i].rec))
			continue;
		if (!out->region_count)
			out->regions = &r->regions[i];
		out->region_count++;
	}
}

static bool is_secretmem(const char *path)
{
	return !strncmp(path, "/secretmem", 10);
}

/* What the kernel maps at a committed data run: 1 secret memory, 0 other
 * memory, -1 nothing the target can show (a core holds no such mapping). */
static int run_secret(struct mi_target *t, uint64_t addr)
{
	const struct mi_map *m = mi_map_at(t, addr);

	if (!m)
		return -1;
	if (is_secretmem(m->path))
		return 1;
	return m->flags & MI_MAP_NOBYTES ? -1 : 0;
}

/* Looks at every committed run: sets out->secret and chooses the page to
 * probe (the first committed data page, else the first committed page).
 * Reserved pages are not probed: a core may hold zeros for them. */
static void look_at_runs(struct mi_target *t, uint64_t page, struct mi_enclave *out)
{
	bool probe_data = false, probe_any = false;

	out->secret = -1;
	for (size_t i = 0; i < out->region_count; i++) {
		const struct mi_region *g = &out->regions[i];

		for (uint64_t k = 0; k < g->rec.run_count; k++) {
			const struct memapi_rec_run *u = &g->runs[k];
			uint64_t at = g->rec.base + u->first_page * page;
			bool data = !(u->protect & EXEC_PROTECT);
			int s;

			if (u->state != MEM_COMMIT)
				continue;
			if (!probe_any || (data && !probe_data))
				out->probe = at;
			probe_any = out->probed = true;
			probe_data = probe_data || data;
			if (data && (s = run_secret(t, at)) > out->secret)
				out->secret = s;
		}
	}
}

int mi_enclave_inspect(struct mi_target *t, const struct mi_root *r, size_t i,
                       struct mi_enclave *out, struct mi_err *e)
{
	const struct mi_map *maps;
	size_t n;
	int rc;

	memset(out, 0, sizeof *out);
	if (!r || i >= r->enclave_count)
		return mi_fail(e, EINVAL, "no such enclave");
	out->rec = r->enclaves[i];
	find_regions(r, out);
	/* Fresh maps: mi_map_at searches the last mi_maps result. */
	if ((rc = mi_maps(t, &maps, &n, e)))
		return rc;
	look_at_runs(t, r->root.page_size ? r->root.page_size : 4096, out);
	return out->probed ? mi_enclave_probe(t, out->probe, &out->readable, e) : 0;
}

int mi_enclave_probe(struct mi_target *t, uint64_t addr, bool *readable, struct mi_err *e)
{
	uint8_t byte;
	int rc = mi_read(t, addr, &byte, 1, e);

	if (rc && rc != EFAULT)
		return rc;              /* the process is gone, or no rights */
	*readable = !rc;
	return 0;
}
