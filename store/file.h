/*
 * file.h — small file helpers for the replica's own files: the key file,
 * the config file. Not for the LMDB environment.
 *
 * gs_file_write_atomic gives "all or nothing" on a crash: the bytes go to
 * PATH.tmp (created with O_EXCL, so two writers never share it), are
 * fsync'ed, then the temp file takes the final name and the directory is
 * fsync'ed so the new name itself survives a power cut. A reader sees the
 * old file or the new one, never a part.
 *
 * errno is mapped here and never leaves: ENOENT → GS_ENOTFOUND,
 * EACCES/EPERM/EROFS → GS_EPERM, ENOSPC/EDQUOT → GS_EFULL, EEXIST →
 * GS_EEXIST, anything else → GS_EIO.
 *
 * Thread safety: none needed; no state.
 */
#ifndef GS_FILE_H
#define GS_FILE_H

#include "gridsync.h"

#include <stddef.h>
#include <sys/types.h>

/* Flags of gs_file_write_atomic. */
#define GS_FILE_NOREPLACE 0x1  /* refuse with GS_EEXIST if path exists */
#define GS_FILE_EXACT_MODE 0x2 /* fchmod to mode, whatever the umask */

/* Write len bytes of data (borrowed) to path atomically, created with
 * mode (narrowed by the umask unless GS_FILE_EXACT_MODE).
 *
 * GS_FILE_NOREPLACE: refuse with GS_EEXIST if path exists; the final link
 * is itself atomic, so a racing writer is never overwritten (on a file
 * system without hard links, a check-then-rename fallback leaves a tiny
 * window). Without it an existing file is replaced.
 *
 * GS_EEXIST is also returned when PATH.tmp exists: another save is under
 * way, or one was interrupted (then remove PATH.tmp by hand).
 * On failure PATH.tmp is removed and path is unchanged. */
GS_MUST_CHECK gs_err gs_file_write_atomic(const char *path, const void *data,
                                          size_t len, mode_t mode,
                                          unsigned flags);

/* fsync the directory that holds path ("." if path has no '/'). */
GS_MUST_CHECK gs_err gs_file_sync_dir(const char *path);

/* Map an errno value to gs_err as described above. */
gs_err gs_file_errno(int e);

#endif
