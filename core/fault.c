/* Faults as Windows exceptions: one SIGSEGV/SIGBUS handler resolves
 * fallback write-watch faults and guard pages, then runs the vectored
 * exception handlers; what nobody handles goes to the handler installed
 * before ours, or ends the process with the original signal. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

atomic_uint_fast64_t mt_fault_count, mt_guard_hits, mt_watch_faults;

/* ---- vectored exception handlers ---- */

struct veh {
	struct veh                 *next;
	PVECTORED_EXCEPTION_HANDLER fn;
};

#define MAX_DISPATCH 128   /* handlers called per exception (a stack copy) */

static pthread_mutex_t veh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct veh *veh_head;

void mt_veh_atfork(enum mt_fork_phase phase)
{
	mt_mutex_atfork(&veh_lock, phase);
}

PVOID WINAPI AddVectoredExceptionHandler(ULONG First, PVECTORED_EXCEPTION_HANDLER Handler)
{
	struct veh *v, **p;

	mt_init();
	if (!Handler)
		return mt_fail_null(ERROR_INVALID_PARAMETER);
	if (!(v = malloc(sizeof *v)))
		return mt_fail_null(ERROR_NOT_ENOUGH_MEMORY);
	v->fn = Handler;
	pthread_mutex_lock(&veh_lock);
	for (p = &veh_head; !First && *p; p = &(*p)->next)
		;
	v->next = *p;
	*p = v;
	pthread_mutex_unlock(&veh_lock);
	return v;
}

ULONG WINAPI RemoveVectoredExceptionHandler(PVOID Handle)
{
	struct veh **p, *found = NULL;

	pthread_mutex_lock(&veh_lock);
	for (p = &veh_head; *p; p = &(*p)->next)
		if (*p == Handle) {
			found = *p;
			*p = found->next;
			break;
		}
	pthread_mutex_unlock(&veh_lock);
	free(found);
	return found != NULL;
}

LONG mt_dispatch_exception(EXCEPTION_RECORD *rec, CONTEXT *ctx)
{
	PVECTORED_EXCEPTION_HANDLER fns[MAX_DISPATCH];
	EXCEPTION_POINTERS ep = { rec, ctx };
	size_t n = 0;

	/* Call a copy of the list, so a handler may add or remove handlers. */
	pthread_mutex_lock(&veh_lock);
	for (struct veh *v = veh_head; v && n < MAX_DISPATCH; v = v->next)
		fns[n++] = v->fn;
	pthread_mutex_unlock(&veh_lock);
	for (size_t i = 0; i < n; i++)
		if (fns[i](&ep) == EXCEPTION_CONTINUE_EXECUTION)
			return EXCEPTION_CONTINUE_EXECUTION;
	return EXCEPTION_CONTINUE_SEARCH;
}

/* ---- CONTEXT <-> ucontext ---- */

static void context_from(CONTEXT *c, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;

	memset(c, 0, sizeof *c);
	c->ContextFlags = CONTEXT_CONTROL | CONTEXT_INTEGER;
	c->Rax = g[REG_RAX]; c->Rbx = g[REG_RBX]; c->Rcx = g[REG_RCX]; c->Rdx = g[REG_RDX];
	c->Rsi = g[REG_RSI]; c->Rdi = g[REG_RDI]; c->Rbp = g[REG_RBP]; c->Rsp = g[REG_RSP];
	c->R8 = g[REG_R8];   c->R9 = g[REG_R9];   c->R10 = g[REG_R10]; c->R11 = g[REG_R11];
	c->R12 = g[REG_R12]; c->R13 = g[REG_R13]; c->R14 = g[REG_R14]; c->R15 = g[REG_R15];
	c->Rip = g[REG_RIP];
	c->EFlags = (DWORD)g[REG_EFL];
	c->SegCs = (WORD)(g[REG_CSGSFS] & 0xffff);
}

static void context_to(ucontext_t *uc, const CONTEXT *c)
{
	greg_t *g = uc->uc_mcontext.gregs;

	g[REG_RAX] = c->Rax; g[REG_RBX] = c->Rbx; g[REG_RCX] = c->Rcx; g[REG_RDX] = c->Rdx;
	g[REG_RSI] = c->Rsi; g[REG_RDI] = c->Rdi; g[REG_RBP] = c->Rbp; g[REG_RSP] = c->Rsp;
	g[REG_R8] = c->R8;   g[REG_R9] = c->R9;   g[REG_R10] = c->R10; g[REG_R11] = c->R11;
	g[REG_R12] = c->R12; g[REG_R13] = c->R13; g[REG_R14] = c->R14; g[REG_R15] = c->R15;
	g[REG_RIP] = c->Rip;
	g[REG_EFL] = c->EFlags;
}

/* ---- the handler ---- */

enum outcome { FAULT_RETRY, FAULT_GUARD, FAULT_VIOLATION };

static struct sigaction old_segv, old_bus;
static _Thread_local int depth;               /* nested faults in handlers */
static _Thread_local uintptr_t last_retry;    /* spurious-fault loop breaker */
static _Thread_local int retries;

/* Whether the recorded protection allows the access that faulted. A read
 * of PAGE_EXECUTE memory is not allowed: where the CPU has protection
 * keys the kernel makes such pages execute-only, and the read faults for
 * real (on Windows too it is an access violation). */
static bool allows(const struct memapi_rec_run *run, bool write, bool exec)
{
	int prot = run->state == MEM_COMMIT && !(run->protect & PAGE_GUARD) ?
	           mt_prot_from_win(run->protect) : 0;

	return (exec ? prot & PROT_EXEC : prot & PROT_READ) && (!write || prot & PROT_WRITE);
}

bool mt_fault_writecopy(struct mt_region *r, size_t page)
{
	struct memapi_rec_run *run = &r->runs[mt_run_at(r, page)];
	DWORD p;

	if (run->state != MEM_COMMIT || !(run->protect & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY)))
		return false;
	p = run->protect & PAGE_WRITECOPY ? PAGE_READWRITE : PAGE_EXECUTE_READWRITE;
	mt_vm_change_begin();
	mt_runs_set_in_fault(r, page, p | (run->protect & ~(DWORD)0xff));
	run = &r->runs[mt_run_at(r, page)];
	mt_vm_sync(r, run->first_page, run->page_count);
	mt_vm_change_end();
	return true;
}

static enum outcome classify_locked(struct mt_region *r, uintptr_t addr, bool write, bool exec)
{
	size_t page = mt_pages(addr - r->rec.base);
	struct memapi_rec_run *run = &r->runs[mt_run_at(r, page)];

	if (write && mt_watch_fault(r, page)) {
		atomic_fetch_add(&mt_watch_faults, 1);
		return FAULT_RETRY;
	}
	if (run->state == MEM_COMMIT && (run->protect & PAGE_GUARD)) {
		/* One-shot: the guard is gone before any handler runs. */
		mt_vm_change_begin();
		mt_runs_set_in_fault(r, page, run->protect & ~(DWORD)PAGE_GUARD);
		run = &r->runs[mt_run_at(r, page)];
		mt_vm_sync(r, run->first_page, run->page_count);
		mt_vm_change_end();
		atomic_fetch_add(&mt_guard_hits, 1);
		return FAULT_GUARD;
	}
	if (write && mt_fault_writecopy(r, page))
		return FAULT_RETRY;
	/* Another thread changed the protection after the fault was taken. */
	if (allows(run, write, exec) && (addr != last_retry || ++retries < 3)) {
		if (addr != last_retry)
			retries = 0;
		last_retry = addr;
		return FAULT_RETRY;
	}
	return FAULT_VIOLATION;
}

static enum outcome classify(uintptr_t addr, bool write, bool exec)
{
	struct mt_region *r;
	enum outcome o = FAULT_VIOLATION;

	/* The library itself faulted while holding its lock: taking it again
	 * would deadlock; report the fault as it is. */
	if (atomic_load_explicit(&mt_vm.owner, memory_order_relaxed) == mt_gettid())
		return FAULT_VIOLATION;
	mt_vm_lock();
	if ((r = mt_vm_find(addr)))
		o = classify_locked(r, addr, write, exec);
	mt_vm_unlock();
	return o;
}

static void chain(int sig, siginfo_t *si, void *uc, bool must_die)
{
	struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
	struct sigaction dfl;
	sigset_t set, saved;

	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		/* Run it as the kernel would have: with its mask, and reset
		 * first if it asked for SA_RESETHAND. */
		pthread_sigmask(SIG_BLOCK, &old->sa_mask, &saved);
		if (old->sa_flags & SA_RESETHAND) {
			struct sigaction h = *old;

			old->sa_handler = SIG_DFL;
			old->sa_flags &= ~(SA_SIGINFO | SA_RESETHAND);
			if (h.sa_flags & SA_SIGINFO)
				h.sa_sigaction(sig, si, uc);
			else
				h.sa_handler(sig);
		} else if (old->sa_flags & SA_SIGINFO) {
			old->sa_sigaction(sig, si, uc);
		} else {
			old->sa_handler(sig);
		}
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
		return;
	}
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	if (!must_die && si->si_code > 0)
		return;         /* the instruction faults again, now fatally */
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}

static void fill_record(EXCEPTION_RECORD *rec, int sig, const siginfo_t *si,
                        enum outcome o, bool write, bool exec, const CONTEXT *ctx)
{
	memset(rec, 0, sizeof *rec);
	rec->ExceptionAddress = (PVOID)(uintptr_t)ctx->Rip;
	rec->ExceptionInformation[0] = exec ? 8 : write ? 1 : 0;
	rec->ExceptionInformation[1] = (ULONG_PTR)si->si_addr;
	rec->NumberParameters = 2;
	if (sig == SIGBUS) {
		rec->ExceptionCode = EXCEPTION_IN_PAGE_ERROR;
		/* The NTSTATUS behind it: past the end of a mapped file, or a
		 * memory error the kernel reported. */
		rec->ExceptionInformation[2] = si->si_code == BUS_ADRERR ? 0xC0000011 /* END_OF_FILE */
		                                                        : 0xC000009C; /* DEVICE_DATA_ERROR */
		rec->NumberParameters = 3;
	} else {
		rec->ExceptionCode = o == FAULT_GUARD ? STATUS_GUARD_PAGE_VIOLATION
		                                      : EXCEPTION_ACCESS_VIOLATION;
	}
}

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned long err = (unsigned long)uc->uc_mcontext.gregs[REG_ERR];
	/* The x86 page-fault error code: bit 1 write, bit 4 instruction fetch. */
	bool write = err & 2, exec = err & 16;
	enum outcome o = FAULT_VIOLATION;
	int saved_errno = errno;
	EXCEPTION_RECORD rec;
	CONTEXT ctx;
	LONG r;

	atomic_fetch_add(&mt_fault_count, 1);
	if (si->si_code <= 0 || depth >= 4) {         /* sent by kill(), or runaway */
		chain(sig, si, uc, false);
		return;
	}
	if (sig == SIGBUS && (si->si_code == BUS_MCEERR_AR || si->si_code == BUS_MCEERR_AO)) {
		mt_badmem_report((uintptr_t)si->si_addr);
		/* An early report: the process may go on, nothing faulted. */
		if (si->si_code == BUS_MCEERR_AO) {
			errno = saved_errno;
			return;
		}
	}
	if (sig == SIGSEGV)
		o = classify((uintptr_t)si->si_addr, write, exec);
	if (o == FAULT_RETRY) {
		errno = saved_errno;
		return;
	}
	context_from(&ctx, uc);
	fill_record(&rec, sig, si, o, write, exec, &ctx);
	depth++;
	r = mt_dispatch_exception(&rec, &ctx);
	depth--;
	if (r == EXCEPTION_CONTINUE_EXECUTION) {
		context_to(uc, &ctx);
		errno = saved_errno;
		return;
	}
	chain(sig, si, uc, o == FAULT_GUARD);
	errno = saved_errno;
}

void mt_fault_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
}

void WINAPI RaiseException(DWORD dwExceptionCode, DWORD dwExceptionFlags,
                           DWORD nNumberOfArguments, const ULONG_PTR *lpArguments)
{
	EXCEPTION_RECORD rec;
	CONTEXT ctx;
	ucontext_t uc;

	memset(&rec, 0, sizeof rec);
	rec.ExceptionCode = dwExceptionCode;
	rec.ExceptionFlags = dwExceptionFlags & EXCEPTION_NONCONTINUABLE;
	rec.ExceptionAddress = __builtin_return_address(0);
	if (nNumberOfArguments > EXCEPTION_MAXIMUM_PARAMETERS)
		nNumberOfArguments = EXCEPTION_MAXIMUM_PARAMETERS;
	rec.NumberParameters = lpArguments ? nNumberOfArguments : 0;
	for (DWORD i = 0; i < rec.NumberParameters; i++)
		rec.ExceptionInformation[i] = lpArguments[i];
	getcontext(&uc);
	context_from(&ctx, &uc);
	if (mt_dispatch_exception(&rec, &ctx) == EXCEPTION_CONTINUE_EXECUTION &&
	    !(rec.ExceptionFlags & EXCEPTION_NONCONTINUABLE))
		return;
	/* Unhandled (or a non-continuable one "continued"): as on Windows the
	 * process ends; SIGABRT leaves a core file with the stack of the raise. */
	abort();
}
