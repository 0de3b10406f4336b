/* Mapped ELF objects of a target and their symbols, read with libelf from
 * the files on disk (for a live pid through /proc/PID/map_files where the
 * kernel lets us, so a file replaced since it was mapped is still the one
 * read). Parsed files are kept per target. */
#include "target.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sym {
	uint64_t    value, size;        /* link-time address                         */
	const char *name;               /* in libelf's data, valid while elf is open */
};

struct elf_file {
	char       *path;
	int         fd;
	Elf        *elf;                /* NULL: could not be parsed                 */
	uint32_t    type;
	uint64_t    base_vaddr;         /* page-aligned vaddr of the offset-0 load   */
	bool        has_gnu_stack, exec_stack;
	struct sym *syms;               /* by value; loaded on first need            */
	size_t      sym_count;
	bool        syms_loaded;
};

struct mi_elf_cache {
	struct elf_file *files;
	size_t           count, cap;
};

static void read_phdrs(struct elf_file *f)
{
	size_t n;
	GElf_Phdr ph;
	bool base_set = false;

	if (elf_getphdrnum(f->elf, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(f->elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_GNU_STACK) {
			f->has_gnu_stack = true;
			f->exec_stack = ph.p_flags & PF_X;
		}
		if (ph.p_type == PT_LOAD && !base_set) {
			f->base_vaddr = ph.p_vaddr - (ph.p_offset & ~(uint64_t)0xfff);
			f->base_vaddr &= ~(uint64_t)0xfff;
			base_set = true;
		}
	}
}

static int open_file(struct mi_target *t, const struct mi_map *m, const char *path)
{
	char mf[96];
	int fd = -1;

	if (t->kind != MI_CORE) {
		snprintf(mf, sizeof mf, "/proc/%d/map_files/%llx-%llx", (int)t->pid,
		         (unsigned long long)m->start, (unsigned long long)m->end);
		fd = mi_open_regular(mf);
	}
	return fd >= 0 ? fd : mi_open_regular(path);
}

static struct elf_file *file_get(struct mi_target *t, const struct mi_map *m)
{
	struct mi_elf_cache *c = t->elf;
	struct elf_file *f;
	GElf_Ehdr eh;

	if (!c && !(c = t->elf = calloc(1, sizeof *c)))
		return NULL;
	for (size_t i = 0; i < c->count; i++)
		if (!strcmp(c->files[i].path, m->path))
			return &c->files[i];
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct elf_file *n = realloc(c->files, cap * sizeof *n);

		if (!n)
			return NULL;
		c->files = n;
		c->cap = cap;
	}
	f = &c->files[c->count];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(m->path)))
		return NULL;
	c->count++;
	elf_version(EV_CURRENT);
	f->fd = open_file(t, m, m->path);
	if (f->fd >= 0 && (f->elf = elf_begin(f->fd, ELF_C_READ, NULL)) &&
	    (elf_kind(f->elf) != ELF_K_ELF || !gelf_getehdr(f->elf, &eh))) {
		elf_end(f->elf);
		f->elf = NULL;
	}
	if (f->elf) {
		f->type = eh.e_type;
		read_phdrs(f);
	}
	return f;
}

void mi_elf_cache_free(struct mi_target *t)
{
	struct mi_elf_cache *c = t->elf;

	if (!c)
		return;
	for (size_t i = 0; i < c->count; i++) {
		if (c->files[i].elf)
			elf_end(c->files[i].elf);
		if (c->files[i].fd >= 0)
			close(c->files[i].fd);
		free(c->files[i].syms);
		free(c->files[i].path);
	}
	free(c->files);
	free(c);
	t->elf = NULL;
}

static bool is_file_map(const struct mi_map *m)
{
	return m->path[0] == '/';
}

int mi_objects(struct mi_target *t, const struct mi_object **objs, size_t *count,
               struct mi_err *e)
{
	const struct mi_map *maps;
	size_t n, k = 0;
	int rc;

	if ((rc = mi_maps(t, &maps, &n, e)))
		return rc;
	free(t->objs);
	t->obj_count = 0;
	if (!(t->objs = calloc(n ? n : 1, sizeof *t->objs)))
		return mi_fail(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i = k) {
		struct mi_object *o = &t->objs[t->obj_count];
		struct elf_file *f;

		k = i + 1;
		if (!is_file_map(&maps[i]) || maps[i].offset != 0)
			continue;
		/* The object's later mappings (and the anonymous .bss after them). */
		while (k < n && maps[k].start == maps[k - 1].end &&
		       (!strcmp(maps[k].path, maps[i].path) ||
		        (!maps[k].path[0] && !strcmp(maps[k - 1].path, maps[i].path) &&
		         (maps[k].prot & MI_PROT_WRITE))))
			k++;
		if (!(f = file_get(t, &maps[i])))
			return mi_fail(e, ENOMEM, "out of memory");
		*o = (struct mi_object){
			.path = maps[i].path, .start = maps[i].start, .end = maps[k - 1].end,
			.is_exe = t->exe[0] && !strcmp(maps[i].path, t->exe),
			.readable = f->elf != NULL, .has_gnu_stack = f->has_gnu_stack,
			.exec_stack = f->exec_stack, .elf_type = f->type,
		};
		if (f->elf && f->type == ET_DYN)
			o->bias = maps[i].start - f->base_vaddr;
		if (!f->elf && maps[i].prot == 0)
			continue;       /* not ELF and not mapped to be run */
		t->obj_count++;
	}
	*objs = t->objs;
	*count = t->obj_count;
	return 0;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->value < y->value ? -1 : x->value > y->value;
}

/* Functions and data objects of .symtab, else .dynsym. */
static void load_syms(struct elf_file *f)
{
	Elf_Scn *scn = NULL, *pick = NULL;
	GElf_Shdr sh, psh = { 0 };
	Elf_Data *d;
	size_t n;

	f->syms_loaded = true;
	while ((scn = elf_nextscn(f->elf, scn)))
		if (gelf_getshdr(scn, &sh) && (sh.sh_type == SHT_SYMTAB ||
		    (sh.sh_type == SHT_DYNSYM && !pick))) {
			pick = scn;
			psh = sh;
		}
	if (!pick || !psh.sh_entsize || !(d = elf_getdata(pick, NULL)))
		return;
	n = psh.sh_size / psh.sh_entsize;
	if (!(f->syms = calloc(n ? n : 1, sizeof *f->syms)))
		return;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym s;
		const char *name;
		int type;

		if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || !s.st_value)
			continue;
		type = GELF_ST_TYPE(s.st_info);
		if (type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC)
			continue;
		if (!(name = elf_strptr(f->elf, psh.sh_link, s.st_name)) || !*name)
			continue;
		f->syms[f->sym_count++] = (struct sym){ s.st_value, s.st_size, name };
	}
	qsort(f->syms, f->sym_count, sizeof *f->syms, sym_cmp);
}

static struct elf_file *object_file(struct mi_target *t, const struct mi_object *o)
{
	struct mi_map m = { .start = o->start, .path = o->path };
	const struct mi_map *real = mi_map_at(t, o->start);
	struct elf_file *f = file_get(t, real ? real : &m);

	if (f && f->elf && !f->syms_loaded)
		load_syms(f);
	return f && f->elf ? f : NULL;
}

/* name, or name@VERSION as executables list the dynamic symbols they copy. */
static bool same_symbol(const char *sym, const char *name, size_t len)
{
	return !strncmp(sym, name, len) && (sym[len] == 0 || sym[len] == '@');
}

static bool find_in(struct mi_target *t, const struct mi_object *o, const char *name,
                    uint64_t *addr)
{
	struct elf_file *f = object_file(t, o);
	size_t len = strlen(name);

	for (size_t k = 0; f && k < f->sym_count; k++)
		if (same_symbol(f->syms[k].name, name, len)) {
			*addr = f->syms[k].value + o->bias;
			return true;
		}
	return false;
}

/* The executable first, as the dynamic linker binds: when the program uses
 * a library's variable directly, the executable holds the live copy of it
 * (a copy relocation) and the library's own stays unused. */
int mi_symbol_address(struct mi_target *t, const char *name, uint64_t *addr, struct mi_err *e)
{
	const struct mi_object *objs;
	size_t n;
	int rc;

	if ((rc = mi_objects(t, &objs, &n, e)))
		return rc;
	for (size_t i = 0; i < n; i++)
		if (objs[i].is_exe && find_in(t, &objs[i], name, addr))
			return 0;
	for (size_t i = 0; i < n; i++)
		if (!objs[i].is_exe && find_in(t, &objs[i], name, addr))
			return 0;
	return mi_fail(e, ENOENT, "no mapped object defines '%s'", name);
}

int mi_symbolize(struct mi_target *t, uint64_t addr, char *buf, size_t size)
{
	const struct mi_object *o = NULL;
	const char *base;
	struct elf_file *f;
	size_t lo, hi;

	if (!t->objs) {                 /* nothing listed yet: list the objects now */
		const struct mi_object *objs;
		size_t n;

		if (mi_objects(t, &objs, &n, NULL))
			return ENOENT;
	}
	for (size_t i = 0; i < t->obj_count; i++)
		if (addr >= t->objs[i].start && addr < t->objs[i].end)
			o = &t->objs[i];
	if (!o)
		return ENOENT;
	base = strrchr(o->path, '/') ? strrchr(o->path, '/') + 1 : o->path;
	f = object_file(t, o);
	lo = 0;
	hi = f ? f->sym_count : 0;
	while (lo < hi) {               /* last symbol at or below addr */
		size_t mid = lo + (hi - lo) / 2;

		if (f->syms[mid].value + o->bias <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo) {
		const struct sym *s = &f->syms[lo - 1];
		uint64_t off = addr - (s->value + o->bias);

		if (off < s->size || (!s->size && off < 4096)) {
			snprintf(buf, size, "%s!%s+0x%llx", base, s->name, (unsigned long long)off);
			return 0;
		}
	}
	snprintf(buf, size, "%s+0x%llx", base, (unsigned long long)(addr - o->start));
	return 0;
}
