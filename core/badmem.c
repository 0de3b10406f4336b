/* Bad memory: GetMemoryErrorHandlingCapabilities,
 * RegisterBadMemoryNotification, UnregisterBadMemoryNotification.
 *
 * The kernel reports a memory error to a process in two ways: a SIGBUS
 * with si_code BUS_MCEERR_AR (the access hit a poisoned page) or
 * BUS_MCEERR_AO (a page of the process was found poisoned; sent only to
 * processes that asked for early reports, which registering does), and a
 * rise of HardwareCorrupted in /proc/meminfo for errors anywhere. Either
 * wakes a monitor thread, started by the first registration, which runs
 * the callbacks one after the other. The signal handler only records the
 * address and writes to an eventfd (both async-signal-safe); the monitor
 * also reads HardwareCorrupted every second.
 *
 * Test hooks: memapi_report_memory_error() reports as the kernel would;
 * MEMAPI_MEMINFO names a file read for HardwareCorrupted instead of
 * /proc/meminfo. */
#include "internal.h"

#include <stdlib.h>
#include <sys/prctl.h>

#define ERRORS_KEPT 16

struct registration {
	PBAD_MEMORY_CALLBACK_ROUTINE cb;
	struct registration         *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  idle = PTHREAD_COND_INITIALIZER;
static struct registration *regs;
static const struct registration *running;    /* its callback is being run */
static pthread_t monitor;
static bool monitor_started;
static int wake_fd = -1;

/* Addresses reported by signals, kept for memapi_memory_errors. */
static _Atomic uintptr_t errors[ERRORS_KEPT];
static atomic_uint error_count;

/* Async-signal-safe: records the address and wakes the monitor. */
void mt_badmem_report(uintptr_t addr)
{
	unsigned n = atomic_fetch_add(&error_count, 1);

	atomic_store(&errors[n % ERRORS_KEPT], addr);
	if (wake_fd >= 0)
		mt_os_event_signal(wake_fd);
}

MEMAPI_EXPORT void memapi_report_memory_error(void *address)
{
	mt_init();
	mt_badmem_report((uintptr_t)address);
}

MEMAPI_EXPORT size_t memapi_memory_errors(void **addresses, size_t max)
{
	unsigned n = atomic_load(&error_count);
	size_t k = n < ERRORS_KEPT ? n : ERRORS_KEPT;

	for (size_t i = 0; i < k && i < max; i++)
		addresses[i] = (void *)atomic_load(&errors[(n - k + i) % ERRORS_KEPT]);
	return n;
}

static void run_callbacks(void)
{
	pthread_mutex_lock(&lock);
	for (struct registration *r = regs; r; r = r->next) {
		running = r;
		pthread_mutex_unlock(&lock);
		r->cb();
		pthread_mutex_lock(&lock);
		running = NULL;
		pthread_cond_broadcast(&idle);
		/* r may be gone now: Unregister waited for it, so start over
		 * only from a registration still listed. */
		bool listed = false;

		for (struct registration *q = regs; q; q = q->next)
			listed |= q == r;
		if (!listed)
			break;
	}
	pthread_mutex_unlock(&lock);
}

static uint64_t hardware_corrupted(void)
{
	const char *hook = getenv("MEMAPI_MEMINFO");

	return mt_os_meminfo_value(hook && *hook ? hook : "/proc/meminfo", "HardwareCorrupted:");
}

/* What the monitor has seen, from before it starts: a report that comes
 * while the thread is being made must count as new. */
static uint64_t seen_corrupted;
static unsigned seen_reports;

static void *monitor_main(void *arg)
{
	uint64_t seen = seen_corrupted, now;
	unsigned reported = seen_reports;

	(void)arg;
	for (;;) {
		mt_os_event_wait(wake_fd, 1000);
		now = hardware_corrupted();
		if (now > seen || atomic_load(&error_count) != reported) {
			seen = now > seen ? now : seen;
			reported = atomic_load(&error_count);
			run_callbacks();
		}
	}
	return NULL;
}

/* Lock held. */
static DWORD start_monitor(void)
{
	if (monitor_started)
		return 0;
	if (wake_fd < 0 && (wake_fd = mt_os_event_new()) < 0)
		return ERROR_NOT_ENOUGH_MEMORY;
	seen_corrupted = hardware_corrupted();
	seen_reports = atomic_load(&error_count);
	if (pthread_create(&monitor, NULL, monitor_main, NULL))
		return ERROR_NOT_ENOUGH_MEMORY;
	pthread_detach(monitor);
	monitor_started = true;
	/* Ask for early reports (BUS_MCEERR_AO) of errors in our pages. */
	prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0);
	return 0;
}

PVOID WINAPI RegisterBadMemoryNotification(PBAD_MEMORY_CALLBACK_ROUTINE Callback)
{
	struct registration *r;
	DWORD err;

	mt_init();
	if (!Callback)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	if (!(r = calloc(1, sizeof *r)))
		return mt_fail_null(ERROR_NOT_ENOUGH_MEMORY);
	r->cb = Callback;
	pthread_mutex_lock(&lock);
	if (!(err = start_monitor())) {
		r->next = regs;
		regs = r;
	}
	pthread_mutex_unlock(&lock);
	if (err) {
		free(r);
		return mt_fail_null(err);
	}
	return r;
}

/* Returns once the callback cannot run any more: it waits for a running
 * call to end, unless the callback itself unregisters. */
BOOL WINAPI UnregisterBadMemoryNotification(PVOID RegistrationHandle)
{
	struct registration **p, *r = NULL;

	mt_init();
	pthread_mutex_lock(&lock);
	for (p = &regs; *p; p = &(*p)->next)
		if (*p == RegistrationHandle) {
			r = *p;
			*p = r->next;
			break;
		}
	while (r && running == r && !pthread_equal(pthread_self(), monitor))
		pthread_cond_wait(&idle, &lock);
	pthread_mutex_unlock(&lock);
	if (!r)
		return mt_fail(ERROR_INVALID_PARAMETER);
	free(r);
	return TRUE;
}

/* A patrol scrubber where an EDAC memory controller scrubs
 * (sdram_scrub_rate above 0). */
BOOL WINAPI GetMemoryErrorHandlingCapabilities(PULONG Capabilities)
{
	mt_init();
	if (!Capabilities)
		return mt_fail(ERROR_INVALID_PARAMETER);
	*Capabilities = mt_os_edac_scrubbing() ? MEHC_PATROL_SCRUBBER_PRESENT : 0;
	return TRUE;
}

void mt_badmem_atfork(enum mt_fork_phase phase)
{
	mt_mutex_atfork(&lock, phase);
	if (phase == MT_FORK_CHILD) {
		/* The monitor is the parent's; the child makes its own when it
		 * next registers, and keeps the registrations. */
		pthread_cond_init(&idle, NULL);
		running = NULL;
		monitor_started = false;
		if (wake_fd >= 0)               /* the parent's: a new one */
			mt_os_event_close(wake_fd);
		wake_fd = -1;
		if (regs)
			start_monitor();
	}
}
