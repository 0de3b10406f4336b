/* SEC_IMAGE: the loadable segments of an ELF shared object, each to be
 * mapped with its own protection, as Windows maps a PE image's sections.
 * Only ELF objects of this machine that can be placed anywhere (ET_DYN)
 * qualify; anything else is ERROR_BAD_EXE_FORMAT. */
#include "section.h"

#include <elf.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_PHDRS 64

static DWORD page_protect(Elf64_Word flags, bool no_execute)
{
	bool w = flags & PF_W, x = (flags & PF_X) && !no_execute;

	/* Image data is copy-on-write: writes never reach the file. */
	if (x)
		return w ? PAGE_EXECUTE_WRITECOPY : PAGE_EXECUTE_READ;
	return w ? PAGE_WRITECOPY : PAGE_READONLY;
}

static bool header_ok(const Elf64_Ehdr *eh)
{
	return eh->e_ident[EI_MAG0] == ELFMAG0 && eh->e_ident[EI_MAG1] == ELFMAG1 &&
	       eh->e_ident[EI_MAG2] == ELFMAG2 && eh->e_ident[EI_MAG3] == ELFMAG3 &&
	       eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_ident[EI_DATA] == ELFDATA2LSB &&
	       eh->e_type == ET_DYN && eh->e_machine == EM_X86_64 &&
	       eh->e_phentsize == sizeof(Elf64_Phdr) && eh->e_phnum && eh->e_phnum <= MAX_PHDRS;
}

/* Adds one PT_LOAD; segments must ascend and not overlap. */
static bool add_segment(struct mt_image *im, const Elf64_Phdr *ph, uint64_t fsize,
                        bool no_execute)
{
	uint64_t ps = mt_os.page_size, start = ph->p_vaddr & ~(ps - 1);
	uint64_t skew = ph->p_vaddr - start, end;
	struct mt_image_seg *sg = &im->seg[im->count];

	if ((ph->p_offset & (ps - 1)) != skew || ph->p_filesz > ph->p_memsz ||
	    ph->p_offset + ph->p_filesz > fsize || ph->p_vaddr + ph->p_memsz < ph->p_vaddr)
		return false;
	end = (ph->p_vaddr + ph->p_memsz + ps - 1) & ~(ps - 1);
	if (im->count && start < im->seg[im->count - 1].vaddr + im->seg[im->count - 1].memsz)
		return false;
	sg->vaddr = start;
	sg->memsz = end - start;
	sg->offset = ph->p_offset - skew;
	sg->filesz = ph->p_filesz + skew;
	sg->protect = page_protect(ph->p_flags, no_execute);
	im->count++;
	return true;
}

DWORD mt_image_parse(int fd, bool no_execute, struct mt_image **out)
{
	Elf64_Phdr ph[MAX_PHDRS];
	struct mt_image *im;
	Elf64_Ehdr eh;
	uint64_t fsize;
	size_t n;

	if (mt_os_fd_size(fd, &fsize) || pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
	    !header_ok(&eh))
		return ERROR_BAD_EXE_FORMAT;
	n = eh.e_phnum;
	if (pread(fd, ph, n * sizeof *ph, (off_t)eh.e_phoff) != (ssize_t)(n * sizeof *ph))
		return ERROR_BAD_EXE_FORMAT;
	if (!(im = calloc(1, sizeof *im + n * sizeof im->seg[0])))
		return ERROR_NOT_ENOUGH_MEMORY;
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_memsz &&
		    !add_segment(im, &ph[i], fsize, no_execute)) {
			free(im);
			return ERROR_BAD_EXE_FORMAT;
		}
	if (!im->count || im->seg[0].vaddr != 0) {
		free(im);       /* a shared object's first segment starts at 0 */
		return ERROR_BAD_EXE_FORMAT;
	}
	im->size = im->seg[im->count - 1].vaddr + im->seg[im->count - 1].memsz;
	*out = im;
	return 0;
}
