/* memtool output: one streaming emitter for the four formats, so a command
 * describes its records once and `--json`, `--jsonl`, `--csv` and text
 * agree by construction.
 *
 *   json   one document: {"target": {...}, <fields>, "<list>": [{...}, ...]}
 *   jsonl  one object per line: first {"kind": "target", ...}, then one per
 *          record with "kind" (the list's record kind) and, for a nested
 *          record, its parents' first field under their kind ("heap": "0x...")
 *   csv    the records of one kind (chosen by the command), a header row
 *          first; parents' first fields lead as in jsonl; arrays are
 *          space-separated; a document without that kind prints its
 *          document-level fields as one row
 *   text   aligned columns from each list's column table; document-level
 *          fields as "label  value" lines
 *
 * Records stream: nothing is held beyond the current row, so output size
 * never bounds memory. Within a record, nested lists come after its
 * fields. Not thread-safe (one command, one thread). */
#ifndef MEMTOOL_OUT_H
#define MEMTOOL_OUT_H

#include <stdbool.h>
#include <stdint.h>

enum out_format { OUT_TEXT, OUT_JSON, OUT_JSONL, OUT_CSV };

/* A text column: key of the field shown, its heading, its width (negative:
 * left-aligned). A table ends with a NULL key. */
struct out_col {
	const char *key;
	const char *heading;
	int         width;
};

/* The document's "target" object. */
struct out_target {
	const char *kind;               /* "self", "pid", "core", "system"          */
	long        pid;                /* 0: none                                  */
	const char *core;               /* core path, or NULL                       */
	const char *executable;         /* or NULL                                  */
};

void out_init(enum out_format f, const char *csv_kind);
enum out_format out_format(void);
bool out_is_text(void);

void out_doc_begin(const char *doc_kind, const struct out_target *t);
void out_doc_end(void);

void out_list_begin(const char *key, const char *kind, const struct out_col *cols);
void out_list_end(void);
void out_rec_begin(void);
void out_rec_end(void);

void out_str(const char *key, const char *v);      /* NULL: null / "-"         */
void out_addr(const char *key, uint64_t v);        /* "0x..." string            */
void out_uint(const char *key, uint64_t v);
void out_int(const char *key, int64_t v);
void out_bool(const char *key, bool v);
void out_double(const char *key, double v, int decimals);

void out_array_begin(const char *key);
void out_array_addr(uint64_t v);
void out_array_end(void);

/* Free text shown only in text format (titles, notes). */
void out_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True once writing to stdout failed (a closed pipe): stop producing. */
bool out_failed(void);

#endif
