/* ELF core file targets. libelf reads the headers and notes; memory is
 * read with pread, each range checked against the file's size, so a
 * truncated or corrupted core gives an error and never a fault. Bytes a
 * core does not hold (read-only file mappings that gcore or the kernel left
 * out) are read from the mapped file where it still exists, as debuggers do.
 *
 * Notes used: NT_FILE (paths of file mappings), NT_PRSTATUS (pid and stack
 * pointer per thread), NT_AUXV (AT_PHDR: which mapping is the executable),
 * NT_PRPSINFO (the program's name when nothing better is known). */
#include "target.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

struct seg {
	uint64_t vaddr, filesz, memsz, offset;
};

struct core {
	int         fd;
	uint64_t    file_size;
	Elf        *elf;
	struct seg *segs;               /* PT_LOAD by vaddr                          */
	size_t      seg_count;
	uint64_t   *sps;                /* one per NT_PRSTATUS                       */
	size_t      sp_count;
	uint64_t    at_phdr;
	uint64_t    at_vdso;            /* AT_SYSINFO_EHDR                           */
	char        fname[17];          /* NT_PRPSINFO pr_fname                      */
	int         file_fd;            /* last mapped file opened for missing bytes */
	char       *file_path;
};

/* NT_FILE after parsing: one entry per file mapping. */
struct file_map {
	uint64_t    start, end, offset;
	const char *path;
};

static int bad_core(struct mi_err *e, const char *why)
{
	return mi_fail(e, EPROTO, "not a valid core file: %s", why);
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static const struct seg *seg_at(const struct core *c, uint64_t addr)
{
	size_t lo = 0, hi = c->seg_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < c->segs[mid].vaddr)
			hi = mid;
		else if (addr - c->segs[mid].vaddr >= c->segs[mid].memsz)
			lo = mid + 1;
		else
			return &c->segs[mid];
	}
	return NULL;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n <= 0)
			return n ? errno : EIO;
		buf = (char *)buf + n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Bytes beyond what the core holds, from the mapped file itself. */
static int read_from_file(struct mi_target *t, uint64_t addr, void *buf, size_t len)
{
	struct core *c = t->priv;
	const struct mi_map *m = mi_map_at(t, addr);
	struct stat st;

	if (!m || m->path[0] != '/' || (m->prot & MI_PROT_WRITE) || addr + len > m->end)
		return EFAULT;
	if (!c->file_path || strcmp(c->file_path, m->path)) {
		if (c->file_fd >= 0)
			close(c->file_fd);
		free(c->file_path);
		c->file_path = strdup(m->path);
		c->file_fd = c->file_path ? mi_open_regular(m->path) : -1;
	}
	if (c->file_fd < 0 || fstat(c->file_fd, &st) ||
	    m->offset + (addr - m->start) + len > (uint64_t)st.st_size)
		return EFAULT;
	return pread_all(c->file_fd, buf, len, m->offset + (addr - m->start)) ? EFAULT : 0;
}

static int core_read(struct mi_target *t, uint64_t addr, void *buf, size_t len, struct mi_err *e)
{
	struct core *c = t->priv;

	while (len) {
		const struct seg *s = seg_at(c, addr);
		uint64_t in = s ? addr - s->vaddr : 0;
		size_t n;

		if (!s) {
			/* A file mapping the core lists in NT_FILE only. */
			if (!read_from_file(t, addr, buf, len))
				return 0;
			return mi_fail(e, EFAULT, "address 0x%llx is not mapped in the core",
			               (unsigned long long)addr);
		}
		n = (size_t)(s->memsz - in < len ? s->memsz - in : len);
		if (in >= s->filesz) {
			if (read_from_file(t, addr, buf, n))
				return mi_fail(e, EFAULT, "the core holds no bytes at 0x%llx",
				               (unsigned long long)addr);
		} else {
			if (n > s->filesz - in)
				n = (size_t)(s->filesz - in);
			if (s->offset + in + n > c->file_size)
				return mi_fail(e, EIO, "the core is truncated (0x%llx lies beyond its end)",
				               (unsigned long long)addr);
			if (pread_all(c->fd, buf, n, s->offset + in))
				return mi_fail(e, EIO, "cannot read the core: %s", strerror(errno));
		}
		buf = (char *)buf + n;
		addr += n;
		len -= n;
	}
	return 0;
}

static int core_load_maps(struct mi_target *t, struct mi_err *e)
{
	return 0;       /* built once by mi_core_open */
}

static int core_stack_pointers(struct mi_target *t, uint64_t *sp, size_t max, size_t *count,
                               struct mi_err *e)
{
	struct core *c = t->priv;

	*count = c->sp_count;
	if (c->sp_count && max)         /* c->sps is NULL without NT_PRSTATUS */
		memcpy(sp, c->sps, (c->sp_count < max ? c->sp_count : max) * sizeof *sp);
	return 0;
}

static void core_close(struct mi_target *t)
{
	struct core *c = t->priv;

	if (!c)
		return;
	if (c->elf)
		elf_end(c->elf);
	if (c->fd >= 0)
		close(c->fd);
	if (c->file_fd >= 0)
		close(c->file_fd);
	free(c->file_path);
	free(c->segs);
	free(c->sps);
	free(c);
}

static const struct mi_ops core_ops = {
	core_read, core_load_maps, core_stack_pointers, core_close,
};

/* NT_FILE: count, page size, count x {start, end, page offset}, then count
 * NUL-terminated paths. Every bound is checked: the note is untrusted. */
static int parse_nt_file(const uint8_t *d, size_t size, struct file_map **out, size_t *n,
                         struct mi_err *e)
{
	uint64_t count, page, *ent;
	const char *names, *end = (const char *)d + size;

	*out = NULL;
	*n = 0;
	if (size < 16)
		return bad_core(e, "NT_FILE note too short");
	memcpy(&count, d, 8);
	memcpy(&page, d + 8, 8);
	if (count > (size - 16) / 24 || (page & (page - 1)))
		return bad_core(e, "NT_FILE note inconsistent");
	if (!count)
		return 0;
	if (!(*out = calloc(count, sizeof **out)) || !(ent = malloc(count * 24))) {
		free(*out);
		*out = NULL;
		return mi_fail(e, ENOMEM, "out of memory");
	}
	memcpy(ent, d + 16, count * 24);
	names = (const char *)d + 16 + count * 24;
	for (uint64_t i = 0; i < count; i++) {
		const char *z = memchr(names, 0, (size_t)(end - names));

		if (!z || ent[3 * i] > ent[3 * i + 1] || (page && ent[3 * i + 2] > UINT64_MAX / page)) {
			free(ent);
			free(*out);
			*out = NULL;
			return bad_core(e, "NT_FILE note inconsistent");
		}
		(*out)[i] = (struct file_map){ ent[3 * i], ent[3 * i + 1], ent[3 * i + 2] * page, names };
		names = z + 1;
	}
	free(ent);
	*n = (size_t)count;
	return 0;
}

static void note_prstatus(struct core *c, const uint8_t *d, size_t size)
{
	struct elf_prstatus st;
	uint64_t *n;

	if (size < sizeof st || !(n = realloc(c->sps, (c->sp_count + 1) * sizeof *n)))
		return;
	memcpy(&st, d, sizeof st);
	c->sps = n;
#if defined(__x86_64__)
	c->sps[c->sp_count++] = (uint64_t)st.pr_reg[19];      /* user_regs_struct.rsp */
#elif defined(__aarch64__)
	c->sps[c->sp_count++] = (uint64_t)st.pr_reg[31];      /* sp */
#else
	(void)st;
#endif
}

static void note_auxv(struct core *c, const uint8_t *d, size_t size)
{
	for (size_t i = 0; i + 16 <= size; i += 16) {
		uint64_t k, v;

		memcpy(&k, d + i, 8);
		memcpy(&v, d + i + 8, 8);
		if (k == AT_PHDR)
			c->at_phdr = v;
		else if (k == AT_SYSINFO_EHDR)
			c->at_vdso = v;
	}
}

static int read_notes(struct mi_target *t, const GElf_Phdr *ph, struct file_map **files,
                      size_t *nfiles, pid_t *pid, struct mi_err *e)
{
	struct core *c = t->priv;
	Elf_Data *data;
	GElf_Nhdr nh;
	size_t off = 0, name_off, desc_off;
	int rc = 0;

	if (ph->p_offset > c->file_size || ph->p_filesz > c->file_size - ph->p_offset)
		return mi_fail(e, EIO, "the core is truncated (its notes lie beyond its end)");
	data = elf_getdata_rawchunk(c->elf, (int64_t)ph->p_offset, ph->p_filesz, ELF_T_NHDR);
	if (!data)
		return bad_core(e, elf_errmsg(-1));
	while (!rc && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const uint8_t *d = (const uint8_t *)data->d_buf + desc_off;
		const char *name = (const char *)data->d_buf + name_off;

		if (nh.n_namesz != 5 || memcmp(name, "CORE", 5))
			continue;
		if (nh.n_type == NT_FILE && !*files)
			rc = parse_nt_file(d, nh.n_descsz, files, nfiles, e);
		else if (nh.n_type == NT_PRSTATUS) {
			if (!c->sp_count && nh.n_descsz >= sizeof(struct elf_prstatus))
				memcpy(pid, d + offsetof(struct elf_prstatus, pr_pid), sizeof *pid);
			note_prstatus(c, d, nh.n_descsz);
		} else if (nh.n_type == NT_AUXV)
			note_auxv(c, d, nh.n_descsz);
		else if (nh.n_type == NT_PRPSINFO && nh.n_descsz >= sizeof(struct elf_prpsinfo))
			memcpy(c->fname, d + offsetof(struct elf_prpsinfo, pr_fname), 16);
	}
	return rc;
}

static const struct file_map *file_at(const struct file_map *f, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= f[i].start && addr < f[i].end)
			return &f[i];
	return NULL;
}

/* One map per PT_LOAD, named from NT_FILE. */
static int build_maps(struct mi_target *t, const struct file_map *files, size_t nfiles,
                      const GElf_Phdr *ph, struct mi_err *e)
{
	struct core *c = t->priv;
	const struct file_map *f = file_at(files, nfiles, ph->p_vaddr);
	struct mi_map m = {
		.start = ph->p_vaddr, .end = ph->p_vaddr + ph->p_memsz,
		.prot = (ph->p_flags & PF_R ? MI_PROT_READ : 0) |
		        (ph->p_flags & PF_W ? MI_PROT_WRITE : 0) |
		        (ph->p_flags & PF_X ? MI_PROT_EXEC : 0),
		.flags = ph->p_filesz ? 0 : MI_MAP_NOBYTES,
	};
	const char *path = "";

	if (f) {
		m.offset = f->offset + (ph->p_vaddr - f->start);
		path = f->path;
	} else if (ph->p_vaddr == 0xffffffffff600000ull) {
		path = "[vsyscall]";
	} else if (c->at_vdso && ph->p_vaddr == c->at_vdso) {
		path = "[vdso]";
	} else if (c->sp_count && c->sps[0] - ph->p_vaddr < ph->p_memsz) {
		path = "[stack]";       /* the first thread's: the kernel's name for it */
	}
	if (mi_map_add(t, &m, path, strlen(path)))
		return mi_fail(e, ENOMEM, "out of memory");
	return 0;
}

/* The protection of the part of an ELF file at file offset off, from its
 * program headers; read-only when the file is not an ELF object. */
static uint32_t file_prot(const char *path, uint64_t off)
{
	uint32_t prot = MI_PROT_READ;
	size_t n;
	GElf_Phdr ph;
	Elf *elf;
	int fd = mi_open_regular(path);

	if (fd < 0)
		return prot;
	if ((elf = elf_begin(fd, ELF_C_READ, NULL)) && !elf_getphdrnum(elf, &n))
		for (size_t i = 0; i < n; i++)
			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
			    off >= (ph.p_offset & ~(uint64_t)0xfff) && off < ph.p_offset + ph.p_filesz) {
				prot = (ph.p_flags & PF_R ? MI_PROT_READ : 0) |
				       (ph.p_flags & PF_W ? MI_PROT_WRITE : 0) |
				       (ph.p_flags & PF_X ? MI_PROT_EXEC : 0);
				break;
			}
	if (elf)
		elf_end(elf);
	close(fd);
	return prot;
}

/* File mappings that NT_FILE lists and no PT_LOAD covers: gcore and the
 * kernel leave out unmodified file-backed text. They are maps without
 * bytes in the core, read from the file, protected as its ELF headers say. */
static int add_file_only_maps(struct mi_target *t, const struct file_map *f, size_t nfiles,
                              struct mi_err *e)
{
	struct core *c = t->priv;

	for (size_t i = 0; i < nfiles; i++) {
		uint64_t at = f[i].start;

		while (at < f[i].end) {
			const struct seg *s = seg_at(c, at);
			uint64_t end = f[i].end;

			if (s) {
				at = s->vaddr + s->memsz;
				continue;
			}
			for (size_t k = 0; k < c->seg_count; k++)       /* up to the next segment */
				if (c->segs[k].vaddr > at && c->segs[k].vaddr < end)
					end = c->segs[k].vaddr;
			struct mi_map m = {
				.start = at, .end = end, .offset = f[i].offset + (at - f[i].start),
				.flags = MI_MAP_NOBYTES,
			};
			m.prot = file_prot(f[i].path, m.offset);
			if (mi_map_add(t, &m, f[i].path, strlen(f[i].path)))
				return mi_fail(e, ENOMEM, "out of memory");
			at = end;
		}
	}
	return 0;
}

static int read_headers(struct mi_target *t, struct mi_err *e)
{
	struct core *c = t->priv;
	struct file_map *files = NULL;
	size_t nph, nfiles = 0;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	pid_t pid = 0;
	int rc = 0;

	if (elf_kind(c->elf) != ELF_K_ELF || !gelf_getehdr(c->elf, &eh))
		return bad_core(e, "not an ELF file");
	if (eh.e_type != ET_CORE)
		return bad_core(e, "an ELF file, but not a core dump");
	if (gelf_getclass(c->elf) != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return bad_core(e, "only 64-bit little-endian cores are supported");
	if (elf_getphdrnum(c->elf, &nph) || !nph)
		return bad_core(e, "no program headers");
	/* libelf counts only the headers that fit in the file. */
	if (eh.e_phnum != PN_XNUM)
		nph = eh.e_phnum;
	if (eh.e_phoff > c->file_size || nph * (uint64_t)eh.e_phentsize > c->file_size - eh.e_phoff)
		return mi_fail(e, EIO, "the core is truncated (its program headers lie beyond its end)");
	for (size_t i = 0; !rc && i < nph; i++)
		if (gelf_getphdr(c->elf, (int)i, &ph) && ph.p_type == PT_NOTE)
			rc = read_notes(t, &ph, &files, &nfiles, &pid, e);
	if (!rc && !(c->segs = calloc(nph, sizeof *c->segs)))
		rc = mi_fail(e, ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < nph; i++) {
		if (!gelf_getphdr(c->elf, (int)i, &ph) || ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
			rc = bad_core(e, "a segment's sizes are inconsistent");
		else if (!(rc = build_maps(t, files, nfiles, &ph, e)))
			c->segs[c->seg_count++] = (struct seg){ ph.p_vaddr, ph.p_filesz, ph.p_memsz,
			                                         ph.p_offset };
	}
	if (!rc) {
		qsort(c->segs, c->seg_count, sizeof *c->segs, seg_cmp);
		for (size_t i = 1; !rc && i < c->seg_count; i++)
			if (c->segs[i].vaddr < c->segs[i - 1].vaddr + c->segs[i - 1].memsz)
				rc = bad_core(e, "segments overlap");
	}
	if (!rc)
		rc = add_file_only_maps(t, files, nfiles, e);
	t->pid = pid;
	free(files);
	return rc;
}

/* The executable: the file mapped where AT_PHDR points, else the name. */
static void find_exe(struct mi_target *t)
{
	struct core *c = t->priv;
	const struct mi_map *m = c->at_phdr ? mi_map_at(t, c->at_phdr) : NULL;

	if (m && m->path[0] == '/')
		snprintf(t->exe, sizeof t->exe, "%s", m->path);
	else
		snprintf(t->exe, sizeof t->exe, "%s", c->fname);
}

int mi_core_open(struct mi_target *t, const char *path, struct mi_err *e)
{
	struct core *c = calloc(1, sizeof *c);
	struct stat st;
	int rc;

	if (!c)
		return mi_fail(e, ENOMEM, "out of memory");
	c->file_fd = -1;
	t->priv = c;
	t->ops = &core_ops;
	if ((c->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return mi_fail(e, errno, "%s", strerror(errno));
	if (fstat(c->fd, &st))
		return mi_fail(e, errno, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return mi_fail(e, EINVAL, "not a regular file");
	c->file_size = (uint64_t)st.st_size;
	elf_version(EV_CURRENT);
	/* ELF_C_READ, not READ_MMAP: a mapping of a file that shrinks under
	 * us would fault; libelf reads only the parts it is asked for. */
	if (!(c->elf = elf_begin(c->fd, ELF_C_READ, NULL)))
		return bad_core(e, elf_errmsg(-1));
	if ((rc = read_headers(t, e)))
		return rc;
	mi_maps_seal(t);
	t->maps_fixed = true;
	find_exe(t);
	return 0;
}
