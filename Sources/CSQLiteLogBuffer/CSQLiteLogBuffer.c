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

struct DatabaseFile;

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
    /// The database file of the connection that turned the buffer on, which points back here.
    struct DatabaseFile *database;
} LogFile;

/// A database file: the previous default VFS's file, and the buffered log of the connection that
/// has it open, once that connection turned the buffer on.
typedef struct DatabaseFile {
    sqlite3_file base;
    /// The underlying file, in the same allocation, right after this struct.
    sqlite3_file *file;
    LogFile *log;
} DatabaseFile;

/// SQLite's lock on writing the log: the first of the locks in the log's shared-memory index.
enum { LOG_WRITE_LOCK = 0 };

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

static void forgetLog(LogFile *log);

static int logClose(sqlite3_file *file) {
    LogFile *log = (LogFile *)file;
    int rc = logFlush(log);
    forgetLog(log);
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
    NULL, NULL, NULL, NULL, NULL, NULL,
};

/// Unlinks a log and its database file, when either closes: SQLite frees a closed file's memory.
static void forgetLog(LogFile *log) {
    if (log->database != NULL) log->database->log = NULL;
    log->database = NULL;
}

static int databaseClose(sqlite3_file *file) {
    DatabaseFile *database = (DatabaseFile *)file;
    if (database->log != NULL) forgetLog(database->log);
    return database->file->pMethods->xClose(database->file);
}

static int databaseRead(sqlite3_file *file, void *data, int amount, sqlite3_int64 offset) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xRead(database->file, data, amount, offset);
}

static int databaseWrite(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xWrite(database->file, data, amount, offset);
}

static int databaseTruncate(sqlite3_file *file, sqlite3_int64 size) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xTruncate(database->file, size);
}

static int databaseSync(sqlite3_file *file, int flags) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xSync(database->file, flags);
}

static int databaseFileSize(sqlite3_file *file, sqlite3_int64 *size) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xFileSize(database->file, size);
}

static int databaseLock(sqlite3_file *file, int lock) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xLock(database->file, lock);
}

static int databaseUnlock(sqlite3_file *file, int lock) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xUnlock(database->file, lock);
}

static int databaseCheckReservedLock(sqlite3_file *file, int *reserved) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xCheckReservedLock(database->file, reserved);
}

static int databaseFileControl(sqlite3_file *file, int op, void *argument) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xFileControl(database->file, op, argument);
}

static int databaseSectorSize(sqlite3_file *file) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xSectorSize(database->file);
}

static int databaseDeviceCharacteristics(sqlite3_file *file) {
    DatabaseFile *database = (DatabaseFile *)file;
    return database->file->pMethods->xDeviceCharacteristics(database->file);
}

static int databaseShmMap(sqlite3_file *file, int region, int regionBytes, int extend, void volatile **memory) {
    DatabaseFile *database = (DatabaseFile *)file;
    if (database->file->pMethods->iVersion < 2) return SQLITE_IOERR;
    return database->file->pMethods->xShmMap(database->file, region, regionBytes, extend, memory);
}

static int databaseShmLock(sqlite3_file *file, int offset, int count, int flags) {
    DatabaseFile *database = (DatabaseFile *)file;
    if (database->file->pMethods->iVersion < 2) return SQLITE_IOERR;
    // Releasing the log's write lock: whatever is still buffered is written out while the lock is
    // held. A commit has synced (so written out) its frames already; what is left is frames of a
    // transaction that spilled pages into the log and was rolled back. Kept, they could land later
    // over frames that another connection, perhaps in another process, wrote and committed in
    // between; written now, they lie beyond the log's end, as they would without a buffer.
    if (database->log != NULL && offset == LOG_WRITE_LOCK && (flags & SQLITE_SHM_UNLOCK)
        && (flags & SQLITE_SHM_EXCLUSIVE)) {
        logFlush(database->log);
    }
    return database->file->pMethods->xShmLock(database->file, offset, count, flags);
}

static void databaseShmBarrier(sqlite3_file *file) {
    DatabaseFile *database = (DatabaseFile *)file;
    if (database->file->pMethods->iVersion >= 2) database->file->pMethods->xShmBarrier(database->file);
}

static int databaseShmUnmap(sqlite3_file *file, int deleteFlag) {
    DatabaseFile *database = (DatabaseFile *)file;
    if (database->file->pMethods->iVersion < 2) return SQLITE_OK;
    return database->file->pMethods->xShmUnmap(database->file, deleteFlag);
}

static int databaseFetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **page) {
    DatabaseFile *database = (DatabaseFile *)file;
    if (database->file->pMethods->iVersion < 3) {
        *page = NULL;
        return SQLITE_OK;
    }
    return database->file->pMethods->xFetch(database->file, offset, amount, page);
}

static int databaseUnfetch(sqlite3_file *file, sqlite3_int64 offset, void *page) {
    DatabaseFile *database = (DatabaseFile *)file;
    if (database->file->pMethods->iVersion < 3) return SQLITE_OK;
    return database->file->pMethods->xUnfetch(database->file, offset, page);
}

static const sqlite3_io_methods databaseMethods = {
    3, databaseClose, databaseRead, databaseWrite, databaseTruncate, databaseSync, databaseFileSize,
    databaseLock, databaseUnlock, databaseCheckReservedLock, databaseFileControl, databaseSectorSize,
    databaseDeviceCharacteristics, databaseShmMap, databaseShmLock, databaseShmBarrier, databaseShmUnmap,
    databaseFetch, databaseUnfetch,
};

static int bufferedOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *outFlags) {
    (void)vfs;
    if (flags & SQLITE_OPEN_MAIN_DB) {
        DatabaseFile *database = (DatabaseFile *)file;
        memset(database, 0, sizeof *database);
        database->file = (sqlite3_file *)(database + 1);
        int rc = underlying->xOpen(underlying, name, database->file, flags, outFlags);
        // On failure `pMethods` stays NULL, and SQLite does not close the file.
        if (rc == SQLITE_OK) database->base.pMethods = &databaseMethods;
        return rc;
    }
    if (flags & SQLITE_OPEN_WAL) {
        LogFile *log = (LogFile *)file;
        memset(log, 0, sizeof *log);
        log->file = (sqlite3_file *)(log + 1);
        int rc = underlying->xOpen(underlying, name, log->file, flags, outFlags);
        if (rc == SQLITE_OK) log->base.pMethods = &logMethods;
        return rc;
    }
    // Every other file is the underlying VFS's own, in the (larger) space SQLite gave this one.
    return underlying->xOpen(underlying, name, file, flags, outFlags);
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
    int wrapper = sizeof(LogFile) > sizeof(DatabaseFile) ? (int)sizeof(LogFile) : (int)sizeof(DatabaseFile);
    bufferedVFS.szOsFile = wrapper + underlying->szOsFile;
    bufferedVFS.xOpen = bufferedOpen;
    installResult = sqlite3_vfs_register(&bufferedVFS, 1);
}

int patron_log_buffer_install(void) {
    pthread_once(&installOnce, install);
    return installResult;
}

int patron_log_buffer_enable(struct sqlite3 *db) {
    sqlite3_file *database = NULL;
    sqlite3_file *log = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &database) != SQLITE_OK || database == NULL
        || database->pMethods != &databaseMethods
        || sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &log) != SQLITE_OK || log == NULL
        || log->pMethods != &logMethods) {
        return SQLITE_NOTFOUND;
    }
    ((DatabaseFile *)database)->log = (LogFile *)log;
    ((LogFile *)log)->database = (DatabaseFile *)database;
    ((LogFile *)log)->buffering = 1;
    return SQLITE_OK;
}
