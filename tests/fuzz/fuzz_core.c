/* libFuzzer harness of libmeminspect's ELF core reader: every input is a
 * core file. It goes through what memtool does with an untrusted core:
 * mi_open_core, the maps, a read at each map's start and end, the stack
 * pointers, the ELF objects and symbolisation, libmemapi's root and the
 * region walk and queries with and without it. A crash, a sanitizer report,
 * a leak or an input that runs past -timeout is a bug of the reader.
 *
 * Build and run: `make fuzz BUILD=build/x [FUZZ_TIME=60]` (clang with
 * -fsanitize=fuzzer,address,undefined). The seeds come from
 * `tests/cli/corrupt.py synth` at build time, since a core that reaches
 * libmemapi's root names a file on disk that defines memapi_root (the
 * build's libmemapi.so.1), plus tests/fixtures/corpus/. New inputs are kept
 * in $(BUILD)/tests/fuzz/corpus, crashes in $(BUILD)/tests/fuzz/artifacts/.
 * Reproduce one: `$(BUILD)/tests/fuzz/fuzz_core ARTIFACT`.
 *
 * The input is written to one memfd, opened by its /proc/self/fd path, so
 * the run needs no disk space and the reader sees a regular file. */
#include "inspect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int core_fd = -1;
static char core_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	core_fd = memfd_create("fuzz_core", MFD_CLOEXEC);
	if (core_fd < 0) {
		perror("fuzz_core: memfd_create");
		exit(1);
	}
	snprintf(core_path, sizeof core_path, "/proc/self/fd/%d", core_fd);
	return 0;
}

static void put_input(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (ftruncate(core_fd, 0)) {
		perror("fuzz_core: ftruncate");
		abort();
	}
	while (done < size) {
		ssize_t n = pwrite(core_fd, data + done, size - done, (off_t)done);

		if (n <= 0) {
			perror("fuzz_core: pwrite");
			abort();
		}
		done += (size_t)n;
	}
}

/* Every field of every record is looked at, so that uninitialised or
 * out-of-bounds data shows up under the sanitizers. */
static volatile uint64_t sink;

static int count_one(const struct mi_vq *q, void *ctx)
{
	size_t *n = ctx;

	sink += q->base + q->size + q->allocation_base + q->state + q->protect + q->type +
	        q->allocation_protect + q->flags + strlen(q->usage) + strlen(q->path);
	return ++*n > 1000000 ? -1 : 0;
}

static void use_root(const struct mi_root *r)
{
	for (size_t i = 0; i < r->region_count; i++) {
		const struct mi_region *g = &r->regions[i];

		for (uint64_t k = 0; k < g->rec.run_count; k++)
			sink += g->runs[k].first_page + g->runs[k].page_count + g->runs[k].state;
		sink += (uintptr_t)mi_root_region_at(r, g->rec.base);
	}
	for (size_t i = 0; i < r->heap_count; i++)
		sink += r->heaps[i];
	for (size_t i = 0; i < r->enclave_count; i++)
		sink += r->enclaves[i].base;
	for (size_t i = 0; i < r->thunk_count; i++)
		sink += r->thunks[i].data[0][0] + r->thunks[i].code_read;
	for (size_t i = 0; i < r->section_count; i++) {
		const struct mi_section *s = &r->sections[i];

		sink += (s->name ? strlen(s->name) : 0) + (s->path ? strlen(s->path) : 0);
		for (uint64_t v = 0; v < s->rec.view_count; v++)
			sink += s->views[v].base;
	}
}

static void walk_and_query(struct mi_target *t, const struct mi_map *maps, size_t n,
                           const struct mi_root *root)
{
	struct mi_err e;
	struct mi_vq q;
	size_t count = 0;

	mi_region_walk(t, root, count_one, &count, &e);
	if (mi_region_query(t, root, 0, &q, &e) == 0)
		sink += q.size;
	for (size_t i = 0; i < n && i < 64; i++)
		if (mi_region_query(t, root, maps[i].start, &q, &e) == 0)
			sink += q.size + strlen(q.usage) + strlen(q.path);
	for (size_t i = 0; root && i < root->region_count && i < 64; i++)
		if (mi_region_query(t, root, root->regions[i].rec.base, &q, &e) == 0)
			sink += q.size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct mi_map *maps;
	const struct mi_object *objs;
	struct mi_target *t;
	struct mi_root *root = NULL;
	struct mi_err e;
	uint64_t sps[8], addr;
	uint8_t buf[64];
	size_t n, nobj, nsp;
	char sym[256];

	put_input(data, size);
	if (mi_open_core(core_path, &t, &e))
		return 0;
	sink += (uint64_t)mi_pid(t) + strlen(mi_exe(t)) + mi_is_live(t) + mi_kind(t);
	if (mi_maps(t, &maps, &n, &e)) {
		mi_close(t);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		sink += strlen(maps[i].path) + maps[i].prot + maps[i].flags + maps[i].offset;
		if (!mi_read(t, maps[i].start, buf, sizeof buf, &e))
			sink += buf[0] + buf[sizeof buf - 1];
		if (maps[i].end - maps[i].start >= 16 && !mi_read(t, maps[i].end - 16, buf, 16, &e))
			sink += buf[15];
	}
	if (!mi_stack_pointers(t, sps, 8, &nsp, &e))
		sink += nsp;
	if (!mi_objects(t, &objs, &nobj, &e))
		for (size_t i = 0; i < nobj && i < 32; i++)
			if (!mi_symbolize(t, objs[i].start + 0x10, sym, sizeof sym))
				sink += strlen(sym);
	if (!mi_symbol_address(t, "memapi_root", &addr, &e))
		sink += addr;
	if (!mi_root_read(t, &root, &e))
		use_root(root);
	walk_and_query(t, maps, n, root);
	walk_and_query(t, maps, n, NULL);
	mi_root_free(root);
	mi_close(t);
	return 0;
}
