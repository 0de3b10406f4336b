/* The Rtl*Memory block operations behind CopyMemory, MoveMemory, FillMemory,
 * ZeroMemory and SecureZeroMemory: thin exported wrappers over the C library.
 * They keep no state, so they are reentrant and safe from any thread. */
#include "internal.h"

#include <string.h>

/* Windows code passes NULL with a zero length, which the SDK's memcpy and
 * memset accept; in C11 (7.24.1p2) a NULL argument is undefined behaviour even
 * then, and the compiler may assume the pointers non-null afterwards. So a zero
 * length returns before the C library sees the pointers. */

VOID WINAPI RtlCopyMemory(PVOID Destination, const VOID *Source, SIZE_T Length)
{
	if (Length)
		memcpy(Destination, Source, Length);
}

VOID WINAPI RtlMoveMemory(PVOID Destination, const VOID *Source, SIZE_T Length)
{
	if (Length)
		memmove(Destination, Source, Length);
}

VOID WINAPI RtlFillMemory(PVOID Destination, SIZE_T Length, BYTE Fill)
{
	if (Length)
		memset(Destination, Fill, Length);
}

VOID WINAPI RtlZeroMemory(PVOID Destination, SIZE_T Length)
{
	if (Length)
		memset(Destination, 0, Length);
}

/* The stores must survive even when the caller never reads the buffer again
 * (a password on a stack that is about to die), where a plain memset is a dead
 * store the optimiser may delete, also once LTO inlines this function into its
 * caller. The empty asm takes ptr as an input and clobbers memory, so the
 * compiler must assume it reads the zeroed bytes: the stores stay, at every
 * optimisation stage, since no stage looks inside an asm. glibc builds
 * explicit_bzero the same way; calling memset here saves explicit_bzero's own
 * call, which bench_rtl shows on small blocks. */
PVOID WINAPI RtlSecureZeroMemory(PVOID ptr, SIZE_T cnt)
{
	if (cnt) {
		memset(ptr, 0, cnt);
		__asm__ __volatile__("" : : "r"(ptr) : "memory");
	}
	return ptr;
}
