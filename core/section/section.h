/* File mapping internals shared by the files of core/section/: section
 * objects, their views, and the namespace of named sections. */
#ifndef MT_SECTION_H
#define MT_SECTION_H

#include "../internal.h"

struct mt_view;

/* A file mapping object. Handles and views each hold a reference; the
 * list of sections and every view list change under the vm lock, inside a
 * change (memapi_root.generation odd), like the regions they describe. */
struct mt_section {
	struct mt_object obj;
	struct memapi_rec_section rec;    /* the forensic record                  */
	int       fd;                     /* memfd, /dev/shm object or the file   */
	uint64_t  data_off;               /* the section's bytes start here in fd */
	int       data_fd;                /* named file sections: the file; else fd */
	char     *shm_name;               /* named: the object in /dev/shm        */
	uint8_t  *committed;              /* SEC_RESERVE: pages committed, 1 bit  */
	struct mt_view    *views;
	struct mt_section *next;          /* every section of the process         */
	struct mt_image   *image;         /* SEC_IMAGE: the segments to map       */
	DWORD     node;                   /* preferred NUMA node of view pages     */
};

/* One mapped view: owner object of its region. */
struct mt_view {
	struct memapi_rec_view rec;
	struct mt_section *section;
	struct mt_region  *region;
	bool               shared;        /* MAP_SHARED; else copy-on-write       */
	bool               targets_invalid; /* no valid call targets (CFG)        */
	struct mt_view    *next;          /* the section's next view              */
};

/* ---- section.c ---- */

extern struct mt_section *mt_sections;   /* guarded by the vm lock */

/* The section behind h with a new reference and the handle's rights. */
DWORD mt_section_ref(HANDLE h, struct mt_section **out, DWORD *access);
void  mt_section_put(struct mt_section *s);
/* PROT_* and sharing for a view protection (PAGE_*). */
int   mt_section_prot(DWORD protect);

/* ---- names.c ---- */

/* A parsed object name: where it lives in /dev/shm and how it prints. */
struct mt_name {
	char shm[256];          /* file name in /dev/shm                         */
	char full[1100];        /* UTF-8 with its Local\ or Global\ prefix        */
	bool global;
};

/* Parses a UTF-8 object name (NULL or "" : unnamed, *named false). */
DWORD mt_name_parse(const char *name, struct mt_name *out, bool *named);

/* What a named object's header records, for processes that open it. */
struct mt_name_info {
	uint64_t size;
	DWORD    protect, attributes;
	bool     file;              /* else the data follows the header          */
	uint64_t dev, ino;          /* file sections: the file's identity         */
	char     path[2048];
};

#define MT_NAME_HEADER 4096u    /* bytes before a pagefile section's data    */

/* Creates the named object, or opens it when it exists (*existed). The
 * descriptor holds a shared lock for as long as it is open; info is in
 * (create) or out (existed). */
DWORD mt_name_create(const struct mt_name *n, struct mt_name_info *info, int *fd,
                     bool *existed);
DWORD mt_name_open(const struct mt_name *n, struct mt_name_info *info, int *fd);
/* Closes the descriptor; the last user of the name in any process removes it. */
void  mt_name_close(const char *shm, int fd);

/* ---- image.c ---- */

struct mt_image_seg {
	uint64_t vaddr;             /* from the image base, page aligned          */
	uint64_t memsz;             /* bytes, page multiple                       */
	uint64_t offset;            /* in the file, page aligned                  */
	uint64_t filesz;            /* bytes of file data from vaddr              */
	DWORD    protect;           /* PAGE_* of the pages                        */
};

struct mt_image {
	uint64_t size;              /* bytes from the first segment to the last end */
	size_t   count;
	struct mt_image_seg seg[];
};

/* Reads the loadable segments of an ELF shared object (ERROR_BAD_EXE_FORMAT
 * for anything else). */
DWORD mt_image_parse(int fd, bool no_execute, struct mt_image **out);

#endif
