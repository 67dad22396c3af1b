/* log.h — the daemon's logging: one line per message to stderr, with a
 * "<N>" priority prefix when stderr goes to the journal (JOURNAL_STREAM is
 * set), so that journald files it at the right level. */
#pragma once

#include <syslog.h>

void log_setup(void);
void log_set_max_level(int level);
int log_full(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_full(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, 0, __VA_ARGS__)
/* Log and return the negative error, which may be given as positive. */
#define log_error_errno(e, ...) log_full(LOG_ERR, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full(LOG_WARNING, (e), __VA_ARGS__)
