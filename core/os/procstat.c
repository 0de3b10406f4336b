/* Whether a process has exited, from /proc/PID/stat: for kernels (or
 * tools, such as valgrind) without pidfds. */
#include "os.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool mt_os_process_exited(pid_t pid)
{
	char path[64], line[512], *close_paren, state = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return errno == ENOENT;         /* gone, reaped */
	if (fgets(line, sizeof line, f) && (close_paren = strrchr(line, ')')))
		sscanf(close_paren + 1, " %c", &state);
	fclose(f);
	/* Zombie or dead: it has exited, its parent has not reaped it yet. */
	return state == 'Z' || state == 'X';
}
