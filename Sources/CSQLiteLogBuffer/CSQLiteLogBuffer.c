// See CSQLiteLogBuffer.h for what the buffer is for and why it is safe.
#include "CSQLiteLogBuffer.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

/// The most bytes held back before they are written: a commit of a thousand 4 KiB frames.
enum { LOG_BUFFER_BYTES = 4 * 1024 * 1024 };
/// The most bytes handed to the file in one call: the unix VFS writes at most 128 KiB - 1 a call
/// (it masks the count to 17 bits).
enum { LOG_WRITE_BYTES = 64 * 1024 };

/// A log file: the previous default VFS's file, with the writes not yet handed to it.
typedef struct LogFile {
    sqlite3_file base;
    /// The underlying file, in the same allocation, right after this struct.
    sqlite3_file *file;
    /// Whether writes are held back (see `patron_log_buffer_enable`).
    int buffering;
    /// Bytes held back, `pendingBytes` of them from `pendingOffset` in the file; NULL until the
    /// first write held back.
    unsigned char *pending;
    int pendingBytes;
    sqlite3_int64 pendingOffset;
} LogFile;

static sqlite3_vfs *underlying;
static sqlite3_vfs bufferedVFS;
static int installResult = SQLITE_OK;
static pthread_once_t installOnce = PTHREAD_ONCE_INIT;

/// Hands the bytes held back to the file. On failure they are dropped, and the caller's operation
/// fails with the file's error: SQLite then treats the transaction's frames as never written.
static int logFlush(LogFile *log) {
    int bytes = log->pendingBytes;
    log->pendingBytes = 0;
    for (int written = 0; written < bytes; written += LOG_WRITE_BYTES) {
        int amount = bytes - written < LOG_WRITE_BYTES ? bytes - written : LOG_WRITE_BYTES;
        int rc = log->file->pMethods->xWrite(log->file, log->pending + written, amount,
                                             log->pendingOffset + written);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

static int logWrite(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    LogFile *log = (LogFile *)file;
    if (!log->buffering) return log->file->pMethods->xWrite(log->file, data, amount, offset);
    // The common case: the next bytes of the same run of frames.
    if (log->pendingBytes > 0 && offset == log->pendingOffset + log->pendingBytes
        && amount <= LOG_BUFFER_BYTES - log->pendingBytes) {
        memcpy(log->pending + log->pendingBytes, data, (size_t)amount);
        log->pendingBytes += amount;
        return SQLITE_OK;
    }
    // Anything else (a frame written again in place, a new header at the start, a full buffer)
    // first writes out what is held, so that the file sees every write in SQLite's order.
    int rc = logFlush(log);
    if (rc != SQLITE_OK) return rc;
    if (log->pending == NULL) log->pending = sqlite3_malloc(LOG_BUFFER_BYTES);
    if (log->pending == NULL || amount > LOG_WRITE_BYTES) {
        return log->file->pMethods->xWrite(log->file, data, amount, offset);
    }
    memcpy(log->pending, data, (size_t)amount);
    log->pendingBytes = amount;
    log->pendingOffset = offset;
    return SQLITE_OK;
}

static int logRead(sqlite3_file *file, void *data, int amount, sqlite3_int64 offset) {
    LogFile *log = (LogFile *)file;
    int rc = logFlush(log);
    return rc != SQLITE_OK ? rc : log->file->pMethods->xRead(log->file, data, amount, offset);
}

static int logTruncate(sqlite3_file *file, sqlite3_int64 size) {
    LogFile *log = (LogFile *)file;
    int rc = logFlush(log);
    return rc != SQLITE_OK ? rc : log->file->pMethods->xTruncate(log->file, size);
}

static int logSync(sqlite3_file *file, int flags) {
    LogFile *log = (LogFile *)file;
    int rc = logFlush(log);
    return rc != SQLITE_OK ? rc : log->file->pMethods->xSync(log->file, flags);
}

static int logFileSize(sqlite3_file *file, sqlite3_int64 *size) {
    LogFile *log = (LogFile *)file;
    int rc = logFlush(log);
    return rc != SQLITE_OK ? rc : log->file->pMethods->xFileSize(log->file, size);
}

static int logClose(sqlite3_file *file) {
    LogFile *log = (LogFile *)file;
    int rc = logFlush(log);
    sqlite3_free(log->pending);
    log->pending = NULL;
    int closed = log->file->pMethods->xClose(log->file);
    return rc != SQLITE_OK ? rc : closed;
}

static int logLock(sqlite3_file *file, int lock) {
    LogFile *log = (LogFile *)file;
    return log->file->pMethods->xLock(log->file, lock);
}

static int logUnlock(sqlite3_file *file, int lock) {
    LogFile *log = (LogFile *)file;
    return log->file->pMethods->xUnlock(log->file, lock);
}

static int logCheckReservedLock(sqlite3_file *file, int *reserved) {
    LogFile *log = (LogFile *)file;
    return log->file->pMethods->xCheckReservedLock(log->file, reserved);
}

static int logFileControl(sqlite3_file *file, int op, void *argument) {
    LogFile *log = (LogFile *)file;
    // A control may size or map the file: it sees every write first.
    int rc = logFlush(log);
    return rc != SQLITE_OK ? rc : log->file->pMethods->xFileControl(log->file, op, argument);
}

static int logSectorSize(sqlite3_file *file) {
    LogFile *log = (LogFile *)file;
    return log->file->pMethods->xSectorSize(log->file);
}

static int logDeviceCharacteristics(sqlite3_file *file) {
    LogFile *log = (LogFile *)file;
    return log->file->pMethods->xDeviceCharacteristics(log->file);
}

/// Version 1: SQLite maps shared memory and pages of the database file, never of its log.
static const sqlite3_io_methods logMethods = {
    1, logClose, logRead, logWrite, logTruncate, logSync, logFileSize, logLock, logUnlock,
    logCheckReservedLock, logFileControl, logSectorSize, logDeviceCharacteristics,
};

static int bufferedOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *outFlags) {
    (void)vfs;
    // Every other file is the underlying VFS's own, in the (larger) space SQLite gave this one.
    if (!(flags & SQLITE_OPEN_WAL)) return underlying->xOpen(underlying, name, file, flags, outFlags);
    LogFile *log = (LogFile *)file;
    memset(log, 0, sizeof *log);
    log->file = (sqlite3_file *)(log + 1);
    int rc = underlying->xOpen(underlying, name, log->file, flags, outFlags);
    // On failure `pMethods` stays NULL, and SQLite does not close the file.
    if (rc == SQLITE_OK) log->base.pMethods = &logMethods;
    return rc;
}

static void install(void) {
    underlying = sqlite3_vfs_find(NULL);
    if (underlying == NULL) {
        installResult = SQLITE_ERROR;
        return;
    }
    // The underlying VFS's methods all stay, with its own data (its methods read `pAppData` and
    // `mxPathname` from the VFS they are given); only opening a file changes.
    bufferedVFS = *underlying;
    bufferedVFS.pNext = NULL;
    bufferedVFS.zName = "patron-log-buffer";
    bufferedVFS.szOsFile = (int)sizeof(LogFile) + underlying->szOsFile;
    bufferedVFS.xOpen = bufferedOpen;
    installResult = sqlite3_vfs_register(&bufferedVFS, 1);
}

int patron_log_buffer_install(void) {
    pthread_once(&installOnce, install);
    return installResult;
}

int patron_log_buffer_enable(struct sqlite3 *db) {
    sqlite3_file *file = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &file) != SQLITE_OK || file == NULL
        || file->pMethods != &logMethods) {
        return SQLITE_NOTFOUND;
    }
    ((LogFile *)file)->buffering = 1;
    return SQLITE_OK;
}
