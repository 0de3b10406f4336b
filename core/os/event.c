/* A wake-up descriptor (eventfd) that a signal handler may post to. */
#include "os.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int mt_os_event_new(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/* Async-signal-safe. */
void mt_os_event_signal(int fd)
{
	uint64_t one = 1;
	int saved = errno;

	(void)!write(fd, &one, sizeof one);
	errno = saved;
}

void mt_os_event_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, ms) > 0)
		(void)!read(fd, &n, sizeof n);
}

void mt_os_event_close(int fd)
{
	close(fd);
}
