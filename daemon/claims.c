/* claims.c — see claims.h. The file is edited as text, a section at a time,
 * so that comments and rules a person added by hand survive our edits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "claims.h"
#include "vfpt-util.h"

#define HEADER \
        "# Written by vfptd for vfptctl claim (org.vfpt1.Manager.Claim); one rule per\n" \
        "# claimed device. `vfptctl release ADDRESS` removes a rule again. Editing by\n" \
        "# hand is fine: run `vfptctl reload` afterwards.\n"

char *claims_file_path(const char *dir, const char *file) {
        return strdup_printf("%s/%s", dir, file);
}

static int read_text(const char *path, char **ret) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *mem;

        if (!f)
                return -errno;
        mem = open_memstream(&buf, &size);
        if (!mem)
                return -ENOMEM;
        for (;;) {
                char chunk[4096];
                size_t n = fread(chunk, 1, sizeof(chunk), f);

                if (n > 0 && fwrite(chunk, 1, n, mem) != n) {
                        fclose(mem);
                        return -ENOMEM;
                }
                if (n < sizeof(chunk))
                        break;
        }
        if (ferror(f)) {
                fclose(mem);
                return -EIO;
        }
        if (fclose(mem) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int mkdir_parents(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int write_atomic(const char *dir, const char *file, const char *text) {
        _cleanup_free_ char *tmp = strdup_printf("%s/.%s.XXXXXX", dir, file);
        _cleanup_free_ char *path = claims_file_path(dir, file);
        _cleanup_close_ int fd = -1;
        size_t len = strlen(text), done = 0;
        int r;

        if (!tmp || !path)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0)
                goto fail;
        while (done < len) {
                ssize_t n = write(fd, text + done, len - done);
                if (n < 0)
                        goto fail;
                done += (size_t) n;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0)
                goto fail;
        return 0;
fail:
        r = -errno;
        (void) unlink(tmp);
        return r;
}

/* Finds the line "[name]" (white space around it allowed); returns the
 * offset of its first character and of the next section's line (or the end). */
static bool find_section(const char *text, const char *name, size_t *ret_start, size_t *ret_end) {
        size_t nlen = strlen(name);
        const char *line = text;
        bool found = false;

        while (*line) {
                const char *eol = strchrnul(line, '\n');
                const char *p = line;

                while (p < eol && (*p == ' ' || *p == '\t'))
                        p++;
                if (*p == '[') {
                        if (found) {
                                *ret_end = (size_t) (line - text);
                                return true;
                        }
                        const char *q = p + 1;
                        while (q < eol && (*q == ' ' || *q == '\t'))
                                q++;
                        if ((size_t) (eol - q) >= nlen && strncmp(q, name, nlen) == 0) {
                                const char *t = q + nlen;
                                while (t < eol && (*t == ' ' || *t == '\t'))
                                        t++;
                                if (*t == ']') {
                                        found = true;
                                        *ret_start = (size_t) (line - text);
                                }
                        }
                }
                line = *eol ? eol + 1 : eol;
        }
        if (found)
                *ret_end = strlen(text);
        return found;
}

static bool has_any_section(const char *text) {
        for (const char *line = text; *line;) {
                const char *eol = strchrnul(line, '\n');
                const char *p = line;

                while (p < eol && (*p == ' ' || *p == '\t'))
                        p++;
                if (*p == '[')
                        return true;
                line = *eol ? eol + 1 : eol;
        }
        return false;
}

int claims_file_add(const char *dir, const char *file, const char *name, const char *address) {
        _cleanup_free_ char *path = claims_file_path(dir, file), *text = NULL, *out = NULL;
        size_t start, end;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_text(path, &text);
        if (r == -ENOENT) {
                text = strdup(HEADER);
                if (!text)
                        return -ENOMEM;
        } else if (r < 0)
                return r;
        if (find_section(text, name, &start, &end))
                return 0;

        size_t len = strlen(text);
        out = strdup_printf("%s%s\n[%s]\naddresses = %s\n", text,
                            len > 0 && text[len - 1] != '\n' ? "\n" : "", name, address);
        if (!out)
                return -ENOMEM;
        r = mkdir_parents(dir);
        if (r < 0)
                return r;
        r = write_atomic(dir, file, out);
        return r < 0 ? r : 1;
}

int claims_file_remove(const char *dir, const char *file, const char *name) {
        _cleanup_free_ char *path = claims_file_path(dir, file), *text = NULL;
        size_t start, end;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_text(path, &text);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (!find_section(text, name, &start, &end))
                return 0;

        /* Take the blank line that separated it from the previous rule too. */
        if (start >= 2 && text[start - 1] == '\n' && text[start - 2] == '\n')
                start--;
        memmove(text + start, text + end, strlen(text + end) + 1);

        if (!has_any_section(text))
                return unlink(path) < 0 && errno != ENOENT ? -errno : 1;
        r = write_atomic(dir, file, text);
        return r < 0 ? r : 1;
}
