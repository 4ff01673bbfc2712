/* Opening files to read: only regular files, and never a blocking open. An
 * ordinary open of a FIFO waits for a writer, forever if none comes, and a
 * device such as /dev/zero never ends; so a reader opens without blocking,
 * asks fstat what it opened, and refuses anything but a regular file, with
 * a message that says what the path is or why it cannot be opened. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* What a file that is not regular is, or NULL for a regular file. */
static const char *kind_of(mode_t m)
{
    return S_ISREG(m) ? NULL
         : S_ISDIR(m) ? "a folder"
         : S_ISFIFO(m) ? "a FIFO (named pipe)"
         : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device"
         : S_ISSOCK(m) ? "a socket"
                       : "not a regular file";
}

const char *eg_path_why(const char *path, int e, char *buf, size_t len)
{
    struct stat sb;
    char dir[4096];
    snprintf(buf, len, "%s", strerror(e));
    if (e == EACCES || e == EPERM) {
        snprintf(buf, len, "permission denied");
    } else if (e == ELOOP) {
        snprintf(buf, len, "a symlink loop (too many levels of symbolic links)");
    } else if (e == ENOENT) {
        const char *slash = strrchr(path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (slash == path ? 1 : (int)(slash - path)) : 1, slash ? path : ".");
        if (!lstat(path, &sb) && S_ISLNK(sb.st_mode)) snprintf(buf, len, "a symlink to a file that does not exist");
        else if (slash && stat(dir, &sb) && errno == ENOENT) snprintf(buf, len, "no such folder %s", dir);
        else snprintf(buf, len, "no such file");
    } else if (e == ENOTDIR) {
        /* the first part of the path that is there but is not a folder */
        for (const char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
            snprintf(dir, sizeof dir, "%.*s", (int)(p - path), path);
            if (!stat(dir, &sb) && !S_ISDIR(sb.st_mode)) {
                snprintf(buf, len, "%s is not a folder", dir);
                break;
            }
        }
    } else if (!stat(path, &sb) && kind_of(sb.st_mode)) {
        snprintf(buf, len, "it is %s, not a regular file", kind_of(sb.st_mode));  /* a socket: ENXIO */
    }
    return buf;
}

eg_status eg_open_regular(const char *path, const char *what, int *fd, size_t *size, eg_error *err)
{
    char why[4200];
    *fd = -1;
    /* O_NONBLOCK: a FIFO opens at once instead of waiting for a writer
     * (regular files ignore the flag) */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        int e = errno;
        return eg_fail(err, EG_ERR_IO, "%s: cannot open %s: %s", path, what, eg_path_why(path, e, why, sizeof why));
    }
    struct stat sb;
    if (fstat(f, &sb)) {
        int e = errno;
        close(f);
        return eg_fail(err, EG_ERR_IO, "%s: cannot read %s: %s", path, what, strerror(e));
    }
    if (kind_of(sb.st_mode)) {
        close(f);
        return eg_fail(err, EG_ERR_IO, "%s: cannot open %s: it is %s, not a regular file", path, what, kind_of(sb.st_mode));
    }
    *fd = f;
    *size = (size_t)sb.st_size;
    return EG_OK;
}

eg_status eg_check_regular(const char *path, const char *what, eg_error *err)
{
    int fd;
    size_t size;
    eg_status st = eg_open_regular(path, what, &fd, &size, err);
    if (!st) close(fd);
    return st;
}

eg_status eg_read_regular(const char *path, const char *what, size_t max, uint8_t **out, size_t *len, eg_error *err)
{
    int fd;
    size_t n;
    *out = NULL;
    *len = 0;
    eg_status st = eg_open_regular(path, what, &fd, &n, err);
    if (st) return st;
    if (n > max) {
        close(fd);
        return eg_fail(err, EG_ERR_FORMAT, "%s: %zu bytes; edagari reads %ss of at most %zu bytes", path, n, what, max);
    }
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for a %zu-byte %s", path, n, what);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = k < 0 ? errno : 0;
            close(fd);
            free(buf);
            return eg_fail(err, EG_ERR_IO, "%s: read %s after %zu of %zu bytes: %s", path,
                           k < 0 ? "failed" : "ended", got, n, k < 0 ? strerror(e) : "the file shrank while it was read");
        }
        got += (size_t)k;
    }
    close(fd);
    *out = buf;
    *len = n;
    return EG_OK;
}
