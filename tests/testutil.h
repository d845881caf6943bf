/* Helpers shared by the Check suites: temporary folders, files, running the
 * built ptexec binary. Static inline so each suite stays one file. */
#ifndef PTEXEC_TESTUTIL_H
#define PTEXEC_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Absolute build folder (PTEXEC_BUILD_DIR, set by scripts/run-tests.sh). */
static inline const char *tu_build_dir(void)
{
    const char *dir = getenv("PTEXEC_BUILD_DIR");
    return dir && *dir ? dir : "build";
}

/* Absolute source folder (PTEXEC_SOURCE_DIR). */
static inline const char *tu_source_dir(void)
{
    const char *dir = getenv("PTEXEC_SOURCE_DIR");
    return dir && *dir ? dir : ".";
}

/* Creates a fresh temporary folder; returns a static-lifetime heap path. */
static inline char *tu_tempdir(void)
{
    char *path = strdup("/tmp/ptexec-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(path));
    chmod(path, 0755);
    return path;
}

/* Writes `text` to `path` (mode 0644). */
static inline void tu_write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    ck_assert_msg(file != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, file);
    fclose(file);
    chmod(path, 0644);
}

/* printf into a heap string. */
static inline char *tu_format(const char *format, ...) __attribute__((format(printf, 1, 2)));
static inline char *tu_format(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int length = vsnprintf(NULL, 0, format, args);
    va_end(args);
    ck_assert_int_ge(length, 0);
    char *text = malloc((size_t)length + 1);
    ck_assert_ptr_nonnull(text);
    va_start(args, format);
    vsnprintf(text, (size_t)length + 1, format, args);
    va_end(args);
    return text;
}

/* Marks the running test as skipped: prints "SKIP name: reason" on stderr,
 * the form scripts/run-tests.sh counts as one skipped check (Check itself
 * counts the test as passed). `name` is one word, the test's name without its
 * test_ prefix. The caller returns from the test right after. */
static inline void tu_skip(const char *name, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static inline void tu_skip(const char *name, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "SKIP %s: ", name);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

/* Reads a whole file into a heap string ("" when missing). */
static inline char *tu_read_file(const char *path)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return strdup("");
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, file)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            text = realloc(text, cap);
        }
    }
    text[len] = '\0';
    fclose(file);
    return text;
}

/*
 * Runs the shell command `command` (through /bin/sh), stdout and stderr
 * captured into *out_text and *err_text (heap, may be NULL to discard), stdin
 * from /dev/null. Returns the exit code, or 128+signal.
 */
static inline int tu_run(const char *command, char **out_text, char **err_text)
{
    char *dir = tu_tempdir();
    char *out_path = tu_format("%s/stdout", dir);
    char *err_path = tu_format("%s/stderr", dir);
    char *full = tu_format("(%s) </dev/null >'%s' 2>'%s'", command, out_path, err_path);
    int status = system(full);
    if (out_text)
        *out_text = tu_read_file(out_path);
    if (err_text)
        *err_text = tu_read_file(err_path);
    unlink(out_path);
    unlink(err_path);
    rmdir(dir);
    free(full);
    free(out_path);
    free(err_path);
    free(dir);
    if (status == -1)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/*
 * Writes a brokers.ini into `dir` whose plugin_dir is the build's plugin
 * folder, with the five simulated brokers and `broker_extra` appended to each
 * broker section (e.g. "transient_failure_rate = 0\n"), then `tail` appended
 * at the end. Returns the ini path (heap).
 */
static inline char *tu_write_ini(const char *dir, const char *broker_extra, const char *tail)
{
    static const char *const names[] = {"zerodha", "fyers", "angelone", "groww", "upstox"};
    char *path = tu_format("%s/brokers.ini", dir);
    FILE *file = fopen(path, "w");
    ck_assert_ptr_nonnull(file);
    fprintf(file, "[host]\nplugin_dir = %s/plugins\nlog_level = info\n\n", tu_build_dir());
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        fprintf(file,
                "[broker.%s]\nplugin = %s.so\nmode = simulated\nmax_retries = 5\n"
                "retry_base_ms = 1\nretry_max_ms = 5\npoll_interval_ms = 1\n"
                "rate_limit_per_second = 0\n%s\n",
                names[i], names[i], broker_extra ? broker_extra : "");
    fputs(tail ? tail : "", file);
    fclose(file);
    return path;
}

#endif
