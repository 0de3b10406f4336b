/* The streaming emitter behind every command's output; see out.h for the
 * four formats and what each promises. */
#include "out.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 8
#define MAX_COLS  16

enum ltype { L_DOC, L_LIST, L_REC, L_ARRAY };

struct level {
	enum ltype            type;
	unsigned              count;        /* fields (doc, rec) or records (list) */
	const char           *kind;         /* list: its records' kind             */
	const struct out_col *cols;         /* list: text columns                  */
	const char           *key;          /* array: its field's key              */
	bool                  line_open;    /* jsonl: this record's line is open   */
	bool                  csv_row;      /* this record is a CSV row            */
	bool                  text_done;    /* text: row printed before a sublist  */
	char                  first_json[128], first_raw[128];
};

/* A growable string. */
struct sbuf {
	char  *s;
	size_t len, cap;
};

static struct {
	enum out_format f;
	const char     *csv_kind;
	const char     *doc_kind;
	struct level    lv[MAX_DEPTH];
	int             top;
	bool            color, csv_header_done;
	struct sbuf     row, header, arr_json, arr_raw;
	struct sbuf     cell[MAX_COLS];
} O = { .top = -1 };

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->s, cap))) {
			fputs("memtool: out of memory\n", stderr);
			exit(1);
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static void sb_puts(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_clear(struct sbuf *b) { b->len = 0; if (b->s) b->s[0] = 0; }
static const char *sb_str(const struct sbuf *b) { return b->s ? b->s : ""; }

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A JSON string. Names come from the target (paths, section names in a
 * core) and may hold any bytes: a byte that is not part of well-formed
 * UTF-8 becomes U+FFFD, so the document always parses. Runs of plain
 * characters are copied whole: most strings have no escape. */
static void json_escape(struct sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char u[8];

	sb_puts(b, "\"");
	while (*s) {
		size_t n = 0, k;

		while (s[n] && s[n] != '"' && s[n] != '\\' && s[n] >= 0x20 && s[n] != 0x7f &&
		       (k = utf8_len(s + n)))
			n += k;
		sb_add(b, (const char *)s, n);
		s += n;
		if (!*s)
			break;
		if (*s == '"' || *s == '\\') {
			u[0] = '\\';
			u[1] = (char)*s;
			sb_add(b, u, 2);
		} else if (*s < 0x20 || *s == 0x7f) {
			snprintf(u, sizeof u, "\\u%04x", *s);
			sb_puts(b, u);
		} else {
			sb_puts(b, "\\ufffd");
		}
		s++;
	}
	sb_puts(b, "\"");
}

static void csv_escape(struct sbuf *b, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		sb_puts(b, s);
		return;
	}
	sb_puts(b, "\"");
	for (; *s; s++)
		sb_add(b, s, 1 + (*s == '"'));      /* a quote is doubled: "" */
	sb_puts(b, "\"");
}

void out_init(enum out_format f, const char *csv_kind)
{
	const char *nc = getenv("NO_COLOR");

	O.f = f;
	O.csv_kind = csv_kind;
	O.top = -1;
	O.csv_header_done = false;
	O.color = f == OUT_TEXT && isatty(STDOUT_FILENO) && !(nc && *nc);
	/* Fewer, larger writes for long outputs; a terminal stays line-buffered. */
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
}

enum out_format out_format(void) { return O.f; }
bool out_is_text(void) { return O.f == OUT_TEXT; }
bool out_failed(void) { return ferror(stdout); }

static struct level *push(enum ltype type)
{
	struct level *l;

	if (O.top + 1 >= MAX_DEPTH) {
		fputs("memtool: internal error: output nested too deeply\n", stderr);
		exit(1);
	}
	l = &O.lv[++O.top];
	memset(l, 0, sizeof *l);
	l->type = type;
	return l;
}

static struct level *top(void) { return O.top >= 0 ? &O.lv[O.top] : NULL; }

static void target_json(struct sbuf *b, const struct out_target *t)
{
	char n[32];

	sb_puts(b, "\"kind\": ");
	json_escape(b, t->kind);
	if (t->pid) {
		snprintf(n, sizeof n, ", \"pid\": %ld", t->pid);
		sb_puts(b, n);
	}
	if (t->core) {
		sb_puts(b, ", \"core\": ");
		json_escape(b, t->core);
	}
	if (t->executable) {
		sb_puts(b, ", \"executable\": ");
		json_escape(b, t->executable);
	}
}

void out_doc_begin(const char *doc_kind, const struct out_target *t)
{
	struct sbuf b = { 0 };

	O.doc_kind = doc_kind;
	push(L_DOC);
	target_json(&b, t);
	if (O.f == OUT_JSON)
		printf("{\n  \"target\": {%s}", sb_str(&b));
	else if (O.f == OUT_JSONL)
		printf("{\"kind\": \"target\", \"target\": {%s}}\n", sb_str(&b));
	free(b.s);
	sb_clear(&O.row);
	sb_clear(&O.header);
}

static void close_line(struct level *l)
{
	if (O.f == OUT_JSONL && l->line_open) {
		fputs("}\n", stdout);
		l->line_open = false;
	}
}

static void csv_print_row(void)
{
	if (!O.csv_header_done) {
		printf("%s\n", sb_str(&O.header));
		O.csv_header_done = true;
	}
	printf("%s\n", sb_str(&O.row));
}

void out_doc_end(void)
{
	struct level *l = top();

	if (O.f == OUT_JSON)
		fputs("\n}\n", stdout);
	close_line(l);
	if (O.f == OUT_CSV && !O.csv_kind && O.row.len)
		csv_print_row();
	O.top--;
}

static void text_header(const struct out_col *cols, int indent)
{
	printf("%*s%s", indent, "", O.color ? "\033[1m" : "");
	for (int i = 0; cols[i].key; i++) {
		bool last = !cols[i + 1].key;
		int w = cols[i].width;

		if (last && w < 0)
			printf("%s", cols[i].heading);
		else
			printf(w < 0 ? "%-*s" : "%*s", w < 0 ? -w : w, cols[i].heading);
		if (!last)
			fputs("  ", stdout);
	}
	printf("%s\n", O.color ? "\033[0m" : "");
}

/* Indent of text rows: two spaces per enclosing record. */
static int text_indent(void)
{
	int n = 0;

	for (int i = 0; i < O.top; i++)
		n += O.lv[i].type == L_REC;
	return 2 * n;
}

static void text_row(struct level *list)
{
	const struct out_col *c = list->cols;

	printf("%*s", text_indent(), "");
	for (int i = 0; c && c[i].key && i < MAX_COLS; i++) {
		const char *v = O.cell[i].len ? sb_str(&O.cell[i]) : "-";
		bool last = !c[i + 1].key;
		int w = c[i].width;

		if (last && w < 0)
			fputs(v, stdout);
		else
			printf(w < 0 ? "%-*s" : "%*s", w < 0 ? -w : w, v);
		if (!last)
			fputs("  ", stdout);
	}
	putchar('\n');
}

void out_list_begin(const char *key, const char *kind, const struct out_col *cols)
{
	struct level *p = top(), *l;

	if (O.f == OUT_JSON) {
		if (p->type == L_DOC)
			printf(",\n  \"%s\": [", key);
		else
			printf("%s\"%s\": [", p->count ? ", " : "", key);
	}
	close_line(p);
	if (O.f == OUT_TEXT && p->type == L_REC && !p->text_done) {
		text_row(&O.lv[O.top - 1]);
		p->text_done = true;
	}
	p->count++;
	l = push(L_LIST);
	l->kind = kind;
	l->cols = cols;
	if (O.f == OUT_TEXT && cols)
		text_header(cols, text_indent());
}

void out_list_end(void)
{
	struct level *l = top();

	if (O.f == OUT_JSON) {
		if (l->count)
			printf("\n%*s]", O.top + 1, "");
		else
			fputs("]", stdout);
	}
	O.top--;
}

void out_rec_begin(void)
{
	struct level *list = top(), *r;

	r = push(L_REC);
	switch (O.f) {
	case OUT_JSON:
		printf("%s\n%*s{", list->count ? "," : "", O.top + 2, "");
		break;
	case OUT_JSONL:
		printf("{\"kind\": \"%s\"", list->kind);
		for (int i = 0; i < O.top; i++)
			if (O.lv[i].type == L_REC)
				printf(", \"%s\": %s", O.lv[i - 1].kind, O.lv[i].first_json);
		r->line_open = true;
		break;
	case OUT_CSV:
		if (!(r->csv_row = O.csv_kind && !strcmp(list->kind, O.csv_kind)))
			break;
		sb_clear(&O.row);
		sb_clear(&O.header);
		for (int i = 0; i < O.top; i++)
			if (O.lv[i].type == L_REC) {
				sb_puts(&O.header, O.header.len ? "," : "");
				sb_puts(&O.header, O.lv[i - 1].kind);
				sb_puts(&O.row, O.row.len ? "," : "");
				csv_escape(&O.row, O.lv[i].first_raw);
			}
		break;
	case OUT_TEXT:
		for (int i = 0; i < MAX_COLS; i++)
			sb_clear(&O.cell[i]);
		break;
	}
}

void out_rec_end(void)
{
	struct level *r = top();

	if (O.f == OUT_JSON)
		fputs("}", stdout);
	close_line(r);
	if (O.f == OUT_CSV && r->csv_row)
		csv_print_row();
	O.top--;
	if (O.f == OUT_TEXT && !r->text_done)
		text_row(top());
	top()->count++;
}

/* The column of key; fields usually come in column order, so the field's
 * own position is tried first. */
static int text_column(const struct out_col *c, const char *key, unsigned pos)
{
	int n = 0;

	if (!c)
		return -1;
	while (c[n].key && n < MAX_COLS)
		n++;
	if (pos < (unsigned)n && !strcmp(c[pos].key, key))
		return (int)pos;
	for (int i = 0; i < n; i++)
		if (!strcmp(c[i].key, key))
			return i;
	return -1;
}

/* A text cell, control characters (terminal escapes) shown as '?'. */
static void text_cell(struct sbuf *b, const char *s)
{
	sb_clear(b);
	while (*s) {
		size_t n = 0;

		while ((unsigned char)s[n] >= 0x20)
			n++;
		sb_add(b, s, n);
		s += n;
		if (*s) {
			sb_add(b, "?", 1);
			s++;
		}
	}
}

/* One field: its JSON rendering and its plain (text and CSV) rendering. */
static void field(const char *key, const char *json, const char *raw)
{
	struct level *l = top();

	if (l->type == L_REC && !l->count) {
		snprintf(l->first_json, sizeof l->first_json, "%s", json);
		snprintf(l->first_raw, sizeof l->first_raw, "%s", raw);
	}
	switch (O.f) {
	case OUT_JSON:
		if (l->type == L_DOC)
			printf(",\n  \"%s\": %s", key, json);
		else
			printf("%s\"%s\": %s", l->count ? ", " : "", key, json);
		break;
	case OUT_JSONL:
		if (l->type == L_DOC && !l->line_open) {
			printf("{\"kind\": \"%s\"", O.doc_kind);
			l->line_open = true;
		}
		printf(", \"%s\": %s", key, json);
		break;
	case OUT_CSV:
		if ((l->type == L_REC && l->csv_row) || (l->type == L_DOC && !O.csv_kind)) {
			sb_puts(&O.header, O.header.len ? "," : "");
			sb_puts(&O.header, key);
			sb_puts(&O.row, l->count || O.row.len ? "," : "");   /* after parents' fields too */
			csv_escape(&O.row, raw);
		}
		break;
	case OUT_TEXT:
		if (l->type == L_DOC) {
			char label[64];
			size_t i;

			for (i = 0; key[i] && i < sizeof label - 1; i++)
				label[i] = key[i] == '_' ? ' ' : key[i];
			label[i] = 0;
			printf("%-28s %s\n", label, raw);
		} else {
			int i = text_column(O.lv[O.top - 1].cols, key, l->count);

			if (i >= 0)
				text_cell(&O.cell[i], raw);
		}
		break;
	}
	l->count++;
}

void out_str(const char *key, const char *v)
{
	static struct sbuf b;

	if (!v) {
		field(key, "null", "-");
		return;
	}
	sb_clear(&b);
	if (O.f == OUT_JSON || O.f == OUT_JSONL)
		json_escape(&b, v);
	field(key, sb_str(&b), v);
}

void out_addr(const char *key, uint64_t v)
{
	char raw[24], json[28];

	snprintf(raw, sizeof raw, "0x%llx", (unsigned long long)v);
	snprintf(json, sizeof json, "\"%s\"", raw);
	field(key, json, raw);
}

void out_uint(const char *key, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof s, "%llu", (unsigned long long)v);
	field(key, s, s);
}

void out_int(const char *key, int64_t v)
{
	char s[24];

	snprintf(s, sizeof s, "%lld", (long long)v);
	field(key, s, s);
}

void out_bool(const char *key, bool v)
{
	field(key, v ? "true" : "false", v ? "yes" : "no");
}

void out_double(const char *key, double v, int decimals)
{
	char s[64];

	snprintf(s, sizeof s, "%.*f", decimals, v);
	field(key, s, s);
}

void out_array_begin(const char *key)
{
	struct level *l = push(L_ARRAY);

	l->key = key;
	sb_clear(&O.arr_json);
	sb_clear(&O.arr_raw);
	sb_puts(&O.arr_json, "[");
}

void out_array_addr(uint64_t v)
{
	struct level *l = top();
	char s[32];

	snprintf(s, sizeof s, "%s\"0x%llx\"", l->count ? ", " : "", (unsigned long long)v);
	sb_puts(&O.arr_json, s);
	snprintf(s, sizeof s, "%s0x%llx", l->count ? " " : "", (unsigned long long)v);
	sb_puts(&O.arr_raw, s);
	l->count++;
}

void out_array_end(void)
{
	const char *key = top()->key;

	sb_puts(&O.arr_json, "]");
	O.top--;
	field(key, sb_str(&O.arr_json), sb_str(&O.arr_raw));
}

void out_text(const char *fmt, ...)
{
	va_list ap;

	if (O.f != OUT_TEXT)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}
