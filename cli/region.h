/* Region walking and printing shared by the maps, query and demo commands. */
#ifndef MEMTOOL_REGION_H
#define MEMTOOL_REGION_H

#include <windows.h>
#include <stdbool.h>

void mt_region_text_header(void);
void mt_region_print(const MEMORY_BASIC_INFORMATION *m, bool json, bool first);
void mt_target_json(DWORD pid);
int  mt_walk_regions(HANDLE process, bool all,
                     bool (*fn)(const MEMORY_BASIC_INFORMATION *, void *), void *ctx);

#endif
