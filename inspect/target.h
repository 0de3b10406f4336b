/* libmeminspect internals: the target object and what each kind of target
 * provides. Not installed. */
#ifndef MEMINSPECT_TARGET_H
#define MEMINSPECT_TARGET_H

#include "inspect.h"

#include <limits.h>

struct mi_ops {
	int  (*read)(struct mi_target *t, uint64_t addr, void *buf, size_t len,
	             struct mi_err *e);
	int  (*load_maps)(struct mi_target *t, struct mi_err *e);   /* fills t->maps */
	int  (*stack_pointers)(struct mi_target *t, uint64_t *sp, size_t max,
	                       size_t *count, struct mi_err *e);
	void (*close)(struct mi_target *t);
};

/* Growable string pool for mapping paths: maps store offsets while it
 * grows, pointers once complete. */
struct mi_strpool {
	char  *buf;
	size_t len, cap;
};

struct mi_target {
	enum mi_kind         kind;
	pid_t                pid;
	char                 exe[PATH_MAX];
	char                *core_path;
	const struct mi_ops *ops;
	struct mi_map       *maps;
	size_t               map_count, map_cap;
	bool                 maps_fixed;    /* a core's: read once               */
	struct mi_strpool    names;
	struct mi_object    *objs;          /* mi_objects' result                */
	size_t               obj_count;
	struct mi_elf_cache *elf;           /* parsed objects (elf.c)            */
	void                *priv;          /* live.c / core.c state             */
};

/* Opens a regular file to read; -1 (EINVAL) for anything else, without
 * blocking on a FIFO that a core's untrusted NT_FILE may name. */
int  mi_open_regular(const char *path);

/* Appends a map; path is copied. Returns ENOMEM on failure. */
int  mi_map_add(struct mi_target *t, const struct mi_map *m, const char *path, size_t path_len);
/* Makes the maps' path pointers point into the pool once it stops growing. */
void mi_maps_seal(struct mi_target *t);
void mi_maps_reset(struct mi_target *t);

/* The mapping containing addr, or NULL (binary search). */
const struct mi_map *mi_map_at(const struct mi_target *t, uint64_t addr);

int  mi_live_open(struct mi_target *t, pid_t pid, struct mi_err *e);
/* One VMA of a live target by PROCMAP_QUERY (Linux 6.11): the one covering
 * addr, or with or_next the first above it; its name goes to name[size].
 * ENOTTY for a core or a kernel without the ioctl, ENOENT when none. */
int  mi_live_vma(struct mi_target *t, uint64_t addr, bool or_next, struct mi_map *m,
                 char *name, size_t size, struct mi_err *e);
int  mi_core_open(struct mi_target *t, const char *path, struct mi_err *e);
void mi_elf_cache_free(struct mi_target *t);

#endif
