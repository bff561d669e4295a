/*
 * file.c — atomic writes of small files (key file, config file).
 *
 * Invariant: the final name only ever points at a complete, fsync'ed file.
 * The data goes to PATH.tmp (O_EXCL, so concurrent writers cannot mix
 * their bytes), is fsync'ed, and then either replaces PATH with rename()
 * or — when the caller must not overwrite — is hard-linked to PATH with
 * link(), which fails with EEXIST instead of replacing: the check and the
 * creation are one step, so there is no window for a racing writer. On a
 * file system without hard links (FAT on a USB stick) we fall back to
 * "lstat, then rename", whose small window is documented in file.h.
 * Finally the directory is fsync'ed so the name survives a power cut.
 *
 * SPEC: DESIGN.md §4 (an acknowledged write is durable), §5 (key 0600).
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gs_err
gs_file_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return GS_ENOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return GS_EPERM;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return GS_EFULL;
    case EEXIST:
        return GS_EEXIST;
    case ENOMEM:
        return GS_ENOMEM;
    case ENAMETOOLONG:
        return GS_ETOOBIG;
    default:
        return GS_EIO;
    }
}

gs_err
gs_file_sync_dir(const char *path)
{
    gs_err rc = GS_OK;
    char *dir = NULL;
    int fd = -1;
    const char *slash = strrchr(path, '/');

    if (!slash) {
        dir = strdup(".");
    } else if (slash == path) {
        dir = strdup("/");
    } else {
        dir = strndup(path, (size_t)(slash - path));
    }
    if (!dir) {
        rc = GS_ENOMEM;
        goto out;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = gs_file_errno(errno);
        goto out;
    }
    /* Some file systems refuse fsync on a directory (EINVAL); there is
     * nothing more we can do for the name there, and the data is safe. */
    if (fsync(fd) != 0 && errno != EINVAL) {
        rc = gs_file_errno(errno);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

static gs_err
write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return gs_file_errno(errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return GS_OK;
}

/* Give tmp the name path without replacing an existing path. */
static gs_err
place_noreplace(const char *tmp, const char *path)
{
    if (link(tmp, path) == 0) {
        unlink(tmp);
        return GS_OK;
    }
    int e = errno;
    if (e != EPERM && e != ENOTSUP && e != EOPNOTSUPP && e != EMLINK &&
        e != ENOSYS)
        return gs_file_errno(e);
    /* No hard links here: check, then rename (see file.h). */
    struct stat st;
    if (lstat(path, &st) == 0)
        return GS_EEXIST;
    if (errno != ENOENT)
        return gs_file_errno(errno);
    if (rename(tmp, path) != 0)
        return gs_file_errno(errno);
    return GS_OK;
}

gs_err
gs_file_write_atomic(const char *path, const void *data, size_t len,
                     mode_t mode, unsigned flags)
{
    gs_err rc = GS_OK;
    char *tmp = NULL;
    int fd = -1;
    bool created = false;
    bool replace = !(flags & GS_FILE_NOREPLACE);
    size_t plen;

    if (!path || (!data && len > 0) || !*path) {
        rc = GS_EINVAL;
        goto out;
    }
    if (!replace) {
        /* Early, friendly answer; the link() below is the real guard. */
        struct stat st;
        if (lstat(path, &st) == 0) {
            rc = GS_EEXIST;
            goto out;
        }
    }
    plen = strlen(path);
    tmp = malloc(plen + sizeof ".tmp");
    if (!tmp) {
        rc = GS_ENOMEM;
        goto out;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", sizeof ".tmp");

    fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = gs_file_errno(errno);
        goto out;
    }
    created = true;
    /* open's mode was narrowed by the umask; a key file must still be
     * readable by its owner, so the caller may ask for exactly `mode`. */
    if ((flags & GS_FILE_EXACT_MODE) && fchmod(fd, mode) != 0) {
        rc = gs_file_errno(errno);
        goto out;
    }
    rc = write_all(fd, data, len);
    if (rc != GS_OK)
        goto out;
    if (fsync(fd) != 0) {
        rc = gs_file_errno(errno);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = gs_file_errno(errno);
        goto out;
    }
    fd = -1;
    if (replace) {
        if (rename(tmp, path) != 0) {
            rc = gs_file_errno(errno);
            goto out;
        }
    } else {
        rc = place_noreplace(tmp, path);
        if (rc != GS_OK)
            goto out;
    }
    created = false; /* tmp is gone: renamed, or unlinked after link */
    rc = gs_file_sync_dir(path);
out:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return rc;
}
