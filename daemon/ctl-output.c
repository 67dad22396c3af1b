/* ctl-output.c — vfptctl's JSON and table writers; see ctl.h. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "vfpt-util.h"

void json_string(FILE *f, const char *s) {
        if (!s) {
                fputs("null", f);
                return;
        }
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                default:
                        if (*p < 0x20)
                                fprintf(f, "\\u%04x", (unsigned) *p);
                        else
                                fputc(*p, f);
                }
        fputc('"', f);
}

void json_key(FILE *f, bool *first, const char *key) {
        if (!*first)
                fputc(',', f);
        *first = false;
        json_string(f, key);
        fputc(':', f);
}

struct Table {
        size_t n_columns;
        char **cells; /* rows * n_columns, the header first */
        size_t n_rows;
};

static int table_add_va(Table *t, va_list ap) {
        char **n = realloc(t->cells, (t->n_rows + 1) * t->n_columns * sizeof(char *));

        if (!n)
                return -ENOMEM;
        t->cells = n;
        for (size_t c = 0; c < t->n_columns; c++) {
                const char *v = va_arg(ap, const char *);
                char *d = strdup(v && *v ? v : "-");
                if (!d)
                        return -ENOMEM;
                t->cells[t->n_rows * t->n_columns + c] = d;
        }
        t->n_rows++;
        return 0;
}

Table *table_new(size_t n_columns, ...) {
        Table *t = calloc(1, sizeof(*t));
        va_list ap;
        int r;

        if (!t)
                return NULL;
        t->n_columns = n_columns;
        va_start(ap, n_columns);
        r = table_add_va(t, ap);
        va_end(ap);
        return r < 0 ? table_free(t) : t;
}

int table_add(Table *t, ...) {
        va_list ap;
        int r;

        va_start(ap, t);
        r = table_add_va(t, ap);
        va_end(ap);
        return r;
}

void table_print(Table *t, FILE *f) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return;
        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t c = 0; c < t->n_columns; c++) {
                        size_t w = strlen(t->cells[r * t->n_columns + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *v = t->cells[r * t->n_columns + c];
                        if (c + 1 == t->n_columns)
                                fprintf(f, "%s\n", v);
                        else
                                fprintf(f, "%-*s  ", (int) width[c], v);
                }
        }
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}
