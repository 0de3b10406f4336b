/* The bundled libmemapi workload that `memtool demo` inspects and that the
 * CLI tests use as a target with known ground truth. */
#ifndef MEMTOOL_WORKLOAD_H
#define MEMTOOL_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WL_HEAP_BLOCKS 600

struct workload {
	char    *reserved;          /* 4 MiB reserved, 256 KiB committed, a guard page */
	char    *watched;           /* 1 MiB MEM_WRITE_WATCH, 5 pages written          */
	char    *placeholder;       /* 512 KiB placeholder, half replaced              */
	void    *heap;              /* a private growable heap                         */
	void    *blocks[WL_HEAP_BLOCKS];
	void    *large;             /* a large block of the private heap               */
	void    *global;            /* a moveable GlobalAlloc handle                   */
	void    *section;           /* a named pagefile-backed section and its view    */
	char    *view;
	void    *thunk;             /* an ATL thunk bound to workload_target           */
	void    *enclave;           /* a VBS enclave, or NULL where unsupported        */
	unsigned long enclave_error;
	char     section_name[64];
	long     thunk_result;      /* what calling the thunk returned                 */
};

/* Builds the workload; on failure prints why (memtool: ...) and returns 1,
 * having released what it built. */
int  wl_start(struct workload *w);
void wl_stop(struct workload *w);

/* Writes another 3 pages of the watched region (at +600 KiB...). */
void wl_write_more(struct workload *w);

/* Writes the workload's own view of itself, from libmemapi's API in the
 * workload process (VirtualQuery, HeapWalk, GetWriteWatch), as one JSON
 * document: the ground truth memtool's answers are compared with. */
int  wl_write_truth(struct workload *w, FILE *f);

#endif
