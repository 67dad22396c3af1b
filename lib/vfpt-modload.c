/* vfpt-modload.c — runs the vfpt-modload helper and collects its verdict.
 * Kept apart from vfpt-modules.c so that a program calling only this never
 * links libkmod. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vfpt-modules.h"
#include "vfpt-util.h"

extern char **environ;

/* Everything the helper printed, trimmed; at most size-1 bytes are kept. */
static void read_all(int fd, char *buf, size_t size) {
        size_t n = 0;

        for (;;) {
                char sink[256];
                ssize_t k;

                if (n + 1 < size)
                        k = read(fd, buf + n, size - 1 - n);
                else
                        k = read(fd, sink, sizeof(sink)); /* drain, so the helper never blocks */
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (n + 1 < size)
                        n += (size_t) k;
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                n--;
        buf[n] = '\0';
        /* One line in the log: later lines are folded into it. */
        for (char *p = buf; *p; p++)
                if (*p == '\n')
                        *p = ';';
}

int vfpt_modules_load_helper(const char *helper, const char *const *names, char **ret_error) {
        _cleanup_free_ const char **argv = NULL;
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        sigset_t none;
        char out[1024];
        int p[2], r, status;
        size_t n = 0;
        pid_t pid;

        *ret_error = NULL;
        while (names[n])
                n++;
        if (n == 0)
                return 0;
        argv = calloc(n + 2, sizeof(*argv));
        if (!argv)
                return -ENOMEM;
        argv[0] = helper;
        memcpy(argv + 1, names, n * sizeof(*argv));

        /* posix_spawn() reports a failed exec only where it is built on
         * clone(CLONE_VFORK) (glibc; not under valgrind, where it is a child
         * exiting with 127): ask first, so the answer is the same everywhere. */
        if (access(helper, X_OK) < 0) {
                r = -errno;
                *ret_error = strdup_printf("cannot run %s: %s", helper, strerror(-r));
                return r;
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, p[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, p[1], STDERR_FILENO);
        /* The daemon blocks the signals sd-event handles; the helper must not
         * inherit that, or a stop request could not end it. */
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        r = posix_spawn(&pid, helper, &actions, &attr, (char *const *) argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                *ret_error = strdup_printf("cannot run %s: %s", helper, strerror(r));
                return -r;
        }
        read_all(p[0], out, sizeof(out));
        close(p[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;

        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (out[0])
                *ret_error = strdup(out);
        else if (WIFEXITED(status))
                *ret_error = strdup_printf("%s exited with status %d", helper, WEXITSTATUS(status));
        else
                *ret_error = strdup_printf("%s was killed by signal %s", helper,
                                           WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "?");
        return -EIO;
}
