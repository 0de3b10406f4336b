/* The machine's and the process's memory accounting: /proc/meminfo, the
 * memory limits of the process's cgroup (v2, else v1), the SMBIOS memory
 * devices, the overcommit mode, capabilities and the page-cache flush.
 *
 * Test hooks (documented in GlobalMemoryStatusEx(3)):
 *   MEMAPI_CGROUP_DIR=DIR   DIR is the process's cgroup v2 directory (its
 *                           memory.* files are read; no ancestors)
 *   MEMAPI_SMBIOS_FILE=F    F is read instead of /sys/firmware/dmi/tables/DMI */
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#define CGROUP_MOUNT "/sys/fs/cgroup"
#define SMBIOS_TABLE "/sys/firmware/dmi/tables/DMI"

int mt_os_meminfo(struct mt_meminfo *m)
{
	static const struct { const char *key; size_t off; } keys[] = {
		{ "MemTotal:",     offsetof(struct mt_meminfo, total) },
		{ "MemFree:",      offsetof(struct mt_meminfo, free) },
		{ "MemAvailable:", offsetof(struct mt_meminfo, available) },
		{ "Cached:",       offsetof(struct mt_meminfo, cached) },
		{ "SwapTotal:",    offsetof(struct mt_meminfo, swap_total) },
		{ "SwapFree:",     offsetof(struct mt_meminfo, swap_free) },
		{ "CommitLimit:",  offsetof(struct mt_meminfo, commit_limit) },
		{ "Committed_AS:", offsetof(struct mt_meminfo, committed) },
	};
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128], key[64];
	unsigned long long kib;

	if (!f)
		return errno;
	memset(m, 0, sizeof *m);
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%63s %llu", key, &kib) != 2)
			continue;
		for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
			if (!strcmp(key, keys[i].key))
				*(uint64_t *)((char *)m + keys[i].off) = (uint64_t)kib * 1024;
	}
	fclose(f);
	return m->total ? 0 : EIO;
}

/* A number from a one-line file; "max" (no limit) reads as UINT64_MAX. */
static int read_u64(const char *path, uint64_t *v)
{
	FILE *f = fopen(path, "re");
	char word[32] = "";
	int ok;

	if (!f)
		return errno;
	ok = fscanf(f, "%31s", word) == 1;
	fclose(f);
	if (!ok)
		return EIO;
	*v = strcmp(word, "max") ? strtoull(word, NULL, 10) : UINT64_MAX;
	return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The limits of one v2 directory folded into c: the tightest wins. */
static void fold_v2(const char *dir, struct mt_cgroup_mem *c, bool own)
{
	char path[4400];
	uint64_t v;

	snprintf(path, sizeof path, "%s/memory.max", dir);
	if (read_u64(path, &v))
		return;                         /* no memory controller here */
	c->found = true;
	if (v < c->max) {
		c->max = v;
		snprintf(path, sizeof path, "%s/memory.current", dir);
		if (!read_u64(path, &v))
			c->current = v;
	}
	snprintf(path, sizeof path, "%s/memory.swap.max", dir);
	if (!read_u64(path, &v) && v < c->swap_max) {
		c->swap_max = v;
		snprintf(path, sizeof path, "%s/memory.swap.current", dir);
		if (!read_u64(path, &v))
			c->swap_current = v;
	}
	/* Protection counts only where it is the process's own group's. */
	snprintf(path, sizeof path, "%s/memory.min", dir);
	if (own && !read_u64(path, &v))
		c->min = v;
}

/* The process's group of hierarchy id in /proc/self/cgroup ("0" for v2,
 * or the v1 line naming controller), into out. */
static bool self_group(const char *controller, char *out, size_t room)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];
	bool found = false;

	while (f && !found && fgets(line, sizeof line, f)) {
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;

		if (!b)
			continue;
		*b = 0;
		line[strcspn(line, "\n")] = 0;
		b[1 + strcspn(b + 1, "\n")] = 0;
		if (controller ? !strcmp(a + 1, controller) : !strcmp(line, "0"))
			found = snprintf(out, room, "%s", b + 1) < (int)room;
	}
	if (f)
		fclose(f);
	return found;
}

static void cgroup_v2(struct mt_cgroup_mem *c)
{
	char group[4096], dir[4400];

	if (!self_group(NULL, group, sizeof group))
		return;
	/* The group and each ancestor below the root: a parent's limit binds. */
	for (bool own = true; group[0] == '/'; own = false) {
		snprintf(dir, sizeof dir, CGROUP_MOUNT "%s", strcmp(group, "/") ? group : "");
		fold_v2(dir, c, own);
		if (!strcmp(group, "/"))
			break;
		*strrchr(group, '/') = 0;
		if (!group[0])
			strcpy(group, "/");
	}
}

/* cgroup v1: memory.limit_in_bytes of the group (as seen in this mount
 * namespace: containers show their own group as the mount's root). */
static void cgroup_v1(struct mt_cgroup_mem *c)
{
	static const char *dirs[] = { CGROUP_MOUNT "/memory%s", CGROUP_MOUNT "/memory" };
	char group[4096] = "", path[4500];
	uint64_t limit, usage;

	if (!self_group("memory", group, sizeof group))
		return;
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, dirs[i], group);
		strcat(path, "/memory.limit_in_bytes");
		if (read_u64(path, &limit))
			continue;
		c->found = true;
		/* "Unlimited" is the largest page multiple of a long. */
		if (limit >= (UINT64_C(1) << 62))
			return;
		*strrchr(path, '/') = 0;
		strcat(path, "/memory.usage_in_bytes");
		if (limit < c->max && !read_u64(path, &usage)) {
			c->max = limit;
			c->current = usage;
		}
		return;
	}
}

int mt_os_cgroup_memory(struct mt_cgroup_mem *c)
{
	const char *hook = getenv("MEMAPI_CGROUP_DIR");

	memset(c, 0, sizeof *c);
	c->max = c->swap_max = UINT64_MAX;
	if (hook && *hook)
		fold_v2(hook, c, true);
	else
		cgroup_v2(c);
	if (!c->found && !(hook && *hook))
		cgroup_v1(c);
	return 0;
}

int mt_os_available_memory(uint64_t *bytes)
{
	struct mt_meminfo m;
	struct mt_cgroup_mem c;
	int e = mt_os_meminfo(&m);

	if (e)
		return e;
	mt_os_cgroup_memory(&c);
	*bytes = m.available;
	if (c.max != UINT64_MAX)
		*bytes = min_u64(*bytes, c.max > c.current ? c.max - c.current : 0);
	return 0;
}

int mt_os_overcommit_mode(void)
{
	uint64_t v;

	return read_u64("/proc/sys/vm/overcommit_memory", &v) ? 0 : (int)v;
}

uint64_t mt_os_vm_size(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned long long kib = 0;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmSize: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kib * 1024;
}

/* ---- SMBIOS memory devices ---- */

/* Kilobytes of one type 17 structure (s, length len), 0 if empty or
 * unknown. */
static uint64_t device_kib(const unsigned char *s, size_t len)
{
	unsigned size;

	if (len < 0x0e)
		return 0;
	size = s[0x0c] | (unsigned)s[0x0d] << 8;
	if (size == 0 || size == 0xffff)
		return 0;                       /* no module, or size unknown */
	if (size == 0x7fff && len >= 0x20)  /* the extended size, in MiB */
		return (uint64_t)((s[0x1c] | (uint32_t)s[0x1d] << 8 | (uint32_t)s[0x1e] << 16 |
		                   (uint32_t)s[0x1f] << 24) & 0x7fffffff) * 1024;
	return size & 0x8000 ? size & 0x7fff : (uint64_t)size * 1024;
}

/* Walks the structures of a table: each is its formatted part (length at
 * byte 1) and strings ending with two NULs; type 127 ends the table. */
static int sum_devices(const unsigned char *t, size_t n, uint64_t *kib, unsigned *devices)
{
	size_t at = 0;

	*kib = 0;
	*devices = 0;
	while (at + 4 <= n && t[at] != 127) {
		size_t len = t[at + 1], end = at + len;

		if (len < 4 || end > n)
			return EINVAL;                /* cut short or malformed */
		if (t[at] == 17 && device_kib(t + at, len)) {
			*kib += device_kib(t + at, len);
			++*devices;
		}
		while (end + 1 < n && (t[end] || t[end + 1]))
			end++;
		at = end + 2;
	}
	return 0;
}

int mt_os_smbios_memory(uint64_t *kib)
{
	const char *hook = getenv("MEMAPI_SMBIOS_FILE");
	int fd = open(hook && *hook ? hook : SMBIOS_TABLE, O_RDONLY | O_CLOEXEC);
	unsigned char *t;
	unsigned devices = 0;
	ssize_t n;
	int e;

	if (fd < 0)
		return errno;
	t = malloc(1 << 20);
	n = t ? read(fd, t, 1 << 20) : -1;
	e = n < 0 ? (t ? errno : ENOMEM) : sum_devices(t, (size_t)n, kib, &devices);
	close(fd);
	free(t);
	if (!e && !devices)
		e = ENOENT;                           /* tables without memory devices */
	return e;
}

/* Bytes of the memory blocks the kernel has online: the RAM it was given,
 * without what the firmware kept (unlike MemTotal, no kernel reservations
 * are taken off). 0 where the kernel has no memory block devices. */
uint64_t mt_os_memory_blocks(void)
{
	DIR *d = opendir("/sys/devices/system/memory");
	FILE *f = fopen("/sys/devices/system/memory/block_size_bytes", "re");
	uint64_t block = 0, total = 0;
	struct dirent *e;
	char path[320], state[16];

	if (!f || fscanf(f, "%" SCNx64, &block) != 1)      /* hexadecimal, no 0x */
		block = 0;
	if (f)
		fclose(f);
	while (d && block && (e = readdir(d))) {
		if (strncmp(e->d_name, "memory", 6) || !e->d_name[6] ||
		    e->d_name[6] < '0' || e->d_name[6] > '9')
			continue;
		snprintf(path, sizeof path, "/sys/devices/system/memory/%s/state", e->d_name);
		if ((f = fopen(path, "re"))) {
			if (fscanf(f, "%15s", state) == 1 && !strcmp(state, "online"))
				total += block;
			fclose(f);
		}
	}
	if (d)
		closedir(d);
	return total;
}

/* ---- privileges and the page cache ---- */

bool mt_os_capable(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

int mt_os_drop_page_cache(void)
{
	int fd;

	sync();                 /* dirty pages are written first, then dropped */
	if ((fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC)) < 0)
		return errno;
	if (write(fd, "1", 1) != 1) {
		int e = errno;

		close(fd);
		return e;
	}
	return close(fd) ? errno : 0;
}

int mt_os_psi_trigger(const char *spec)
{
	int fd = open("/proc/pressure/memory", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (write(fd, spec, strlen(spec) + 1) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One value of a meminfo-format file, in bytes (0 when missing). */
uint64_t mt_os_meminfo_value(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char line[128], k[64];
	unsigned long long kib, v = 0;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%63s %llu", k, &kib) == 2 && !strcmp(k, key)) {
			v = kib * 1024;
			break;
		}
	if (f)
		fclose(f);
	return v;
}

/* Whether an EDAC memory controller scrubs memory (a patrol scrubber). */
bool mt_os_edac_scrubbing(void)
{
	DIR *d = opendir("/sys/devices/system/edac/mc");
	struct dirent *e;
	bool on = false;

	while (d && !on && (e = readdir(d))) {
		char path[320];
		uint64_t rate;

		if (strncmp(e->d_name, "mc", 2))
			continue;
		snprintf(path, sizeof path, "/sys/devices/system/edac/mc/%s/sdram_scrub_rate",
		         e->d_name);
		on = !read_u64(path, &rate) && rate > 0;
	}
	if (d)
		closedir(d);
	return on;
}

/* Bytes the process may lock (RLIMIT_MEMLOCK), UINT64_MAX without limit
 * or with CAP_IPC_LOCK. */
uint64_t mt_os_memlock_limit(void)
{
	struct rlimit rl;

	if (mt_os_capable(CAP_IPC_LOCK) || getrlimit(RLIMIT_MEMLOCK, &rl) ||
	    rl.rlim_cur == RLIM_INFINITY)
		return UINT64_MAX;
	return (uint64_t)rl.rlim_cur;
}

bool mt_os_sgx_present(void)
{
	return access("/dev/sgx_enclave", R_OK | W_OK) == 0;
}
