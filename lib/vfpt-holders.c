/* vfpt-holders.c — see vfpt-holders.h. A scan of every process's open
 * descriptors: only done before a release, never on the event path. */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "vfpt-holders.h"
#include "vfpt-util.h"

static int fds_hold(int pid_fd, const char *path) {
        _cleanup_close_ int fd = openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (fd < 0)
                return 0; /* gone, or not ours to see */
        d = fdopendir(fd);
        if (!d)
                return 0;
        fd = -1;
        while ((de = readdir(d))) {
                char target[PATH_MAX];
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n < 0)
                        continue;
                target[n] = '\0';
                if (streq(target, path))
                        return 1;
        }
        return 0;
}

int vfpt_holders_find(const char *proc_root, const char *path, pid_t *ret_pid, char **ret_comm) {
        _cleanup_closedir_ DIR *d = opendir(proc_root);
        struct dirent *de;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_close_ int pid_fd = -1;
                char *end;
                long pid;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 0)
                        continue;
                pid_fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pid_fd < 0 || !fds_hold(pid_fd, path))
                        continue;
                *ret_pid = (pid_t) pid;
                if (ret_comm && read_attr(pid_fd, "comm", ret_comm) < 0)
                        *ret_comm = strdup("?");
                return 1;
        }
        return 0;
}

int vfpt_vfio_group_busy(const char *path) {
        struct stat st;
        int fd;

        if (stat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISCHR(st.st_mode))
                return 0;
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        /* A rule's owner/mode may have given the node to another user, and
         * vfptd runs without CAP_DAC_OVERRIDE: opening it for reading (what
         * CAP_DAC_READ_SEARCH allows) takes the group just the same. */
        if (fd < 0 && errno == EACCES)
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == EBUSY ? 1 : -errno;
        close(fd);
        return 0;
}
