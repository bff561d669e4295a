/*
 * err.c — names and messages of gs_err codes.
 *
 * The table is indexed by code; a static assertion keeps it the same length
 * as the enum, so adding a code without a message fails the build.
 */
#include "err.h"
#include "gridsync.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

static const struct {
    const char *name;
    const char *msg;
} errs[] = {
    [GS_OK] = {"GS_OK", "success"},
    [GS_ENOMEM] = {"GS_ENOMEM", "out of memory"},
    [GS_EINVAL] = {"GS_EINVAL", "invalid argument"},
    [GS_ETRUNC] = {"GS_ETRUNC", "input truncated"},
    [GS_ETOOBIG] = {"GS_ETOOBIG", "length or count over its limit"},
    [GS_EUTF8] = {"GS_EUTF8", "string is not valid UTF-8 or has a "
                              "forbidden character"},
    [GS_EVERSION] = {"GS_EVERSION", "unknown format version"},
    [GS_ENONCANON] = {"GS_ENONCANON", "non-canonical encoding"},
    [GS_EMALFORMED] = {"GS_EMALFORMED", "malformed data"},
    [GS_EBADSIG] = {"GS_EBADSIG", "signature does not verify"},
    [GS_ENETWORK] = {"GS_ENETWORK", "signed for another network"},
    [GS_ECHAIN] = {"GS_ECHAIN", "op does not link to the previous op of "
                                "its feed"},
    [GS_ENOSIG] = {"GS_ENOSIG", "run of ops is not signed at its end"},
    [GS_EFEED] = {"GS_EFEED", "ops of more than one feed in a run"},
    [GS_ECLOCK] = {"GS_ECLOCK", "clock stamp out of range"},
    [GS_EKIND] = {"GS_EKIND", "unknown or unexpected field kind"},
    [GS_ENOTFOUND] = {"GS_ENOTFOUND", "not found"},
    [GS_EFULL] = {"GS_EFULL", "disk full"},
    [GS_EIO] = {"GS_EIO", "storage error"},
    [GS_EFORK] = {"GS_EFORK", "a different op exists at this place in its "
                              "feed (fork)"},
    [GS_EEXIST] = {"GS_EEXIST", "already exists"},
    [GS_EPERM] = {"GS_EPERM", "permission denied, or file open to "
                            "others"},
    [GS_EBADPASS] = {"GS_EBADPASS", "passphrase missing or wrong"},
    [GS_ESCHEMA] = {"GS_ESCHEMA", "record does not fit the schema"},
    [GS_EPROTO] = {"GS_EPROTO", "peer broke the sync protocol"},
    [GS_ETIMEOUT] = {"GS_ETIMEOUT", "peer did not answer in time"},
    [GS_EDENIED] = {"GS_EDENIED", "peer's key is not admitted"},
    [GS_ECLOSED] = {"GS_ECLOSED", "connection closed"},
    [GS_ENOCERT] = {"GS_ENOCERT", "the author holds no certificate from "
                                  "this network's authority"},
    [GS_ESCOPE] = {"GS_ESCOPE", "op outside its author's write scopes"},
    [GS_ESHOP] = {"GS_ESHOP", "a redemption by a device without the shop "
                              "flag"},
    [GS_EEXPIRED] = {"GS_EEXPIRED", "op stamped after its author's "
                                    "certificate ended"},
    [GS_EREVOKED] = {"GS_EREVOKED", "op of a revoked device past its "
                                    "feed's last valid op"},
    [GS_ESTAGE] = {"GS_ESTAGE", "the ticket's stage or the wish's state "
                                "does not allow this step"},
    [GS_EBALANCE] = {"GS_EBALANCE", "the points balance is below the "
                                    "redemption"},
};

static_assert(sizeof errs / sizeof errs[0] == GS_ERR_COUNT_,
              "every gs_err needs a name and a message");

const char *
gs_strerror(gs_err rc)
{
    if ((unsigned)rc >= GS_ERR_COUNT_)
        return "unknown error";
    return errs[rc].msg;
}

const char *
gs_errname(gs_err rc)
{
    if ((unsigned)rc >= GS_ERR_COUNT_)
        return "GS_E?";
    return errs[rc].name;
}

const char *
gs_version(void)
{
    return GS_VERSION_STRING;
}

gs_err
gs_why(char *why, size_t why_len, gs_err rc, const char *fmt, ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}
