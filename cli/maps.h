/* Region output shared by maps, query and demo. */
#ifndef MEMTOOL_MAPS_H
#define MEMTOOL_MAPS_H

#include "memtool.h"

extern const struct out_col mt_region_cols[];

/* One region as a record of the current list (kind "region"). */
void mt_region_record(const struct mi_vq *q);

#endif
