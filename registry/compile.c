#include "compile.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "schema/rtdesc.h"

#define COMPILE_OUT_MAX  (64u << 20) /* largest descriptor set read back */
#define COMPILE_AS_LIMIT (2048ull << 20)
#define COMPILE_CPU_S    30

bool compile_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '/' || !strcmp(name, COMPILE_MAIN_FILE))
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/'))
            return false;
        /* no "..", "." or empty path segments */
        if ((p == name || p[-1] == '/') && (c == '/' || c == '.'))
            return false;
    }
    return name[n - 1] != '/';
}

static enum tp_err compile_write(const char *dir, const char *name, const char *text, char *errstr,
                                 size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    /* make the parent folders of "a/b/c.proto" */
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            *s = '/';
            return tp_err_set(TP_IO, errstr, errstr_size, "could not create folder for \"%s\": %s",
                              name, strerror(errno));
        }
        *s = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return tp_err_set(errno == EEXIST ? TP_VALIDATION : TP_IO, errstr, errstr_size,
                          "could not write \"%s\": %s", name, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return tp_err_set(TP_IO, errstr, errstr_size, "could not write \"%s\": %s", name,
                              strerror(errno));
        }
        done += (size_t)w;
    }
    close(fd);
    return TP_OK;
}

static enum tp_err compile_read(const char *path, size_t max, struct buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TP_IO;
    char chunk[65536];
    enum tp_err err = TP_OK;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = TP_IO;
            break;
        }
        if (r == 0)
            break;
        if (out->len + (size_t)r > max) {
            err = TP_TOO_LARGE;
            break;
        }
        buf_append(out, chunk, (size_t)r);
    }
    close(fd);
    return err;
}

/* Removes path and, for a folder, everything under it (only what compile_proto wrote). */
static void compile_rm(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[4200];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            struct stat sb;
            if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
                compile_rm(sub);
            else
                unlink(sub);
        }
        closedir(d);
    }
    remove(path);
}

/* Runs protoc in dir; *status is its wait status. */
static enum tp_err compile_run(const struct compile_options *opts, const char *dir, bool set_in,
                               int *status, char *errstr, size_t errstr_size)
{
    char out_arg[4200], inc_arg[8], err_path[4200], in_arg[4200];
    snprintf(in_arg, sizeof(in_arg), "--descriptor_set_in=%s/in.pb", dir);
    snprintf(out_arg, sizeof(out_arg), "--descriptor_set_out=%s/out.pb", dir);
    snprintf(inc_arg, sizeof(inc_arg), "-I.");
    snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
    char *const argv[] = {(char *)opts->protoc,
                          out_arg,
                          "--include_imports",
                          inc_arg,
                          "--error_format=gcc",
                          set_in ? in_arg : COMPILE_MAIN_FILE,
                          set_in ? COMPILE_MAIN_FILE : NULL,
                          NULL};
    char src_dir[4200];
    snprintf(src_dir, sizeof(src_dir), "%s/src", dir);
    pid_t pid = fork();
    if (pid < 0)
        return tp_err_set(TP_IO, errstr, errstr_size, "could not start protoc: %s",
                          strerror(errno));
    if (pid == 0) {
        /* child: only async-signal-safe calls until exec */
        int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        struct rlimit as = {COMPILE_AS_LIMIT, COMPILE_AS_LIMIT},
                      cpu = {COMPILE_CPU_S, COMPILE_CPU_S};
        setrlimit(RLIMIT_AS, &as);
        setrlimit(RLIMIT_CPU, &cpu);
        if (chdir(src_dir) != 0)
            _exit(126);
        execvp(opts->protoc, argv);
        _exit(127);
    }
    int64_t deadline = tp_mono_ms() + opts->timeout_ms;
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return tp_err_set(TP_IO, errstr, errstr_size, "could not wait for protoc: %s",
                              strerror(errno));
        if (tp_mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return tp_err_set(TP_TIMEOUT, errstr, errstr_size, "protoc did not finish within %d ms",
                              opts->timeout_ms);
        }
        nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
    }
    return TP_OK;
}

/* protoc's messages name files relative to src/: keep them, drop any folder path. */
static void compile_message(const char *text, char *errstr, size_t errstr_size, const char *dir)
{
    struct buf b;
    buf_init(&b, COMPILE_ERR_MAX);
    size_t dl = strlen(dir);
    for (const char *p = text; *p;) {
        if (!strncmp(p, dir, dl)) {
            p += dl;
            continue;
        }
        if (buf_append(&b, p, 1) != TP_OK)
            break;
        p++;
    }
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
        b.data[--b.len] = '\0';
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == '\n')
            b.data[i] = ';';
    tp_err_set(TP_VALIDATION, errstr, errstr_size, "%s",
               b.len ? b.data : "protoc rejected the schema");
    buf_release(&b);
}

enum tp_err compile_schema(const struct compile_options *opts, const char *text, const uint8_t *set,
                           size_t set_len, const struct compile_file *refs, size_t n_refs,
                           uint8_t **out, size_t *out_len, char *errstr, size_t errstr_size)
{
    char dir[4096];
    struct buf res, msg;
    buf_init(&res, COMPILE_OUT_MAX);
    buf_init(&msg, COMPILE_ERR_MAX);
    snprintf(dir, sizeof(dir), "%s/tp-registry-XXXXXX", opts->tmp_dir ? opts->tmp_dir : "/tmp");
    if (!mkdtemp(dir))
        return tp_err_set(TP_IO, errstr, errstr_size, "could not create a folder in \"%s\": %s",
                          opts->tmp_dir, strerror(errno));
    enum tp_err err = TP_OK;
    char path[4200];
    snprintf(path, sizeof(path), "%s/src", dir);
    if (mkdir(path, 0700) != 0) {
        err = tp_err_set(TP_IO, errstr, errstr_size, "could not create \"%s\": %s", path,
                         strerror(errno));
        goto out;
    }
    if (set) {
        char in[4200];
        snprintf(in, sizeof(in), "%s/in.pb", dir);
        int fd = open(in, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        bool wrote = fd >= 0 && write(fd, set, set_len) == (ssize_t)set_len;
        if (fd >= 0)
            close(fd);
        if (!wrote)
            err = tp_err_set(TP_IO, errstr, errstr_size, "could not write the descriptor: %s",
                             strerror(errno));
    }
    if (err == TP_OK && text)
        err = compile_write(path, COMPILE_MAIN_FILE, text, errstr, errstr_size);
    for (size_t i = 0; err == TP_OK && i < n_refs; i++) {
        if (!compile_name_ok(refs[i].name)) {
            err = tp_err_set(TP_VALIDATION, errstr, errstr_size,
                             "invalid reference name \"%s\": a relative path of A-Z a-z 0-9 . _ "
                             "- / without \"..\" (and not \"%s\")",
                             refs[i].name, COMPILE_MAIN_FILE);
            break;
        }
        err = compile_write(path, refs[i].name, refs[i].text, errstr, errstr_size);
    }
    if (err != TP_OK)
        goto out;
    int status = 0;
    err = compile_run(opts, dir, set != NULL, &status, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    snprintf(path, sizeof(path), "%s/stderr", dir);
    compile_read(path, COMPILE_ERR_MAX, &msg);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        err = tp_err_set(TP_IO, errstr, errstr_size, "could not run protoc \"%s\"", opts->protoc);
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status)) {
            err = tp_err_set(TP_IO, errstr, errstr_size, "protoc died of signal %d",
                             WTERMSIG(status));
            goto out;
        }
        char prefix[4200];
        snprintf(prefix, sizeof(prefix), "%s/src/", dir);
        compile_message(msg.data ? msg.data : "", errstr, errstr_size, prefix);
        err = TP_VALIDATION;
        goto out;
    }
    snprintf(path, sizeof(path), "%s/out.pb", dir);
    err = compile_read(path, COMPILE_OUT_MAX, &res);
    if (err != TP_OK) {
        err = tp_err_set(err, errstr, errstr_size, "could not read protoc's descriptor set");
        goto out;
    }
    /* a schema whose messages nest without bound could never be unpacked safely */
    if (res.len && rtdesc_nesting_check((const uint8_t *)res.data, res.len, errstr, errstr_size) ==
                       TP_VALIDATION) {
        err = TP_VALIDATION;
        goto out;
    }
    *out = (uint8_t *)buf_steal(&res, out_len);
    if (!*out)
        *out = tp_calloc(1, 1); /* an empty set is still a result */
out:
    compile_rm(dir);
    buf_release(&res);
    buf_release(&msg);
    return err;
}

enum tp_err compile_proto(const struct compile_options *opts, const char *text,
                          const struct compile_file *refs, size_t n_refs, uint8_t **out,
                          size_t *out_len, char *errstr, size_t errstr_size)
{
    return compile_schema(opts, text, NULL, 0, refs, n_refs, out, out_len, errstr, errstr_size);
}

enum tp_err compile_descriptor(const struct compile_options *opts, const uint8_t *set,
                               size_t set_len, const struct compile_file *refs, size_t n_refs,
                               uint8_t **out, size_t *out_len, char *errstr, size_t errstr_size)
{
    return compile_schema(opts, NULL, set, set_len, refs, n_refs, out, out_len, errstr,
                          errstr_size);
}
