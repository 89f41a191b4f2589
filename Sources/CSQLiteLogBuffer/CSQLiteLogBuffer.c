// See CSQLiteLogBuffer.h for what the buffer is for and why it is safe.
// For sync_file_range.
#define _GNU_SOURCE
#include "CSQLiteLogBuffer.h"
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

/// The most bytes held back before they are written: a commit of a thousand 4 KiB frames.
enum { LOG_BUFFER_BYTES = 4 * 1024 * 1024 };
/// The most bytes handed to the file in one call: the unix VFS writes at most 128 KiB - 1 a call
/// (it masks the count to 17 bits).
enum { LOG_WRITE_BYTES = 64 * 1024 };
/// SQLite's lock on writing the log: the first of the locks in the log's shared-memory index.
enum { LOG_WRITE_LOCK = 0 };

/// How many bytes written into a database file start the kernel writing them (and whatever else of
/// the file is dirty) to the disk.
enum { WRITEBACK_BYTES = 256 * 1024 };
/// A writeback descriptor not opened yet.
enum { NOT_OPENED = -2 };

/// What both kinds of file below start with: SQLite's file, and the underlying VFS's file it
/// stands for, in the same allocation right after the wrapper.
typedef struct WrappedFile {
    sqlite3_file base;
    sqlite3_file *file;
} WrappedFile;

struct DatabaseFile;

/// A log file, with the writes not yet handed to the underlying file.
typedef struct LogFile {
    WrappedFile wrapped;
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

/// A database file, and the buffered log of the connection that has it open, once that
/// connection turned the buffer on.
typedef struct DatabaseFile {
    WrappedFile wrapped;
    LogFile *log;
    /// The file's full name, as the underlying VFS opened it; NULL for a temporary database.
    const char *name;
    /// The process's descriptor for starting the file's writeback; NULL when there is none.
    struct Writeback *writeback;
    /// Bytes written since the last start of the file's writeback.
    sqlite3_int64 unstartedBytes;
} DatabaseFile;


/// One descriptor of a database file, read-only, for starting its writeback, shared by every
/// connection of the process that has the file open. SQLite locks the file with `fcntl` locks,
/// and closing any descriptor of a file drops every such lock the process holds on it: so this one
/// is closed only once no connection of the process has the file open any more, after SQLite has
/// closed its own (and so released its locks).
typedef struct Writeback {
    dev_t device;
    ino_t inode;
    /// NOT_OPENED until the first start (a reader never writes), -1 when it could not be opened.
    int descriptor;
    /// The files open on it.
    int files;
    /// How many times the file's writeback was started.
    atomic_llong starts;
    struct Writeback *next;
} Writeback;

static pthread_mutex_t writebacksLock = PTHREAD_MUTEX_INITIALIZER;
static Writeback *writebacks;

/// The writeback of the file `info` describes, if a connection has it open; under `writebacksLock`.
static Writeback *writebackFind(const struct stat *info) {
    Writeback *writeback = writebacks;
    while (writeback != NULL && (writeback->device != info->st_dev || writeback->inode != info->st_ino)) {
        writeback = writeback->next;
    }
    return writeback;
}

/// The writeback of the database file named `name`, counting one more file open on it; NULL when
/// the name is not a file (a temporary database) or memory is short.
static Writeback *writebackRetain(const char *name) {
    struct stat info;
    if (name == NULL || stat(name, &info) != 0) return NULL;
    pthread_mutex_lock(&writebacksLock);
    Writeback *writeback = writebackFind(&info);
    if (writeback == NULL && (writeback = sqlite3_malloc(sizeof(Writeback))) != NULL) {
        *writeback = (Writeback){info.st_dev, info.st_ino, NOT_OPENED, 0, 0, writebacks};
        writebacks = writeback;
    }
    if (writeback != NULL) writeback->files += 1;
    pthread_mutex_unlock(&writebacksLock);
    return writeback;
}

/// Counts one file fewer open on `writeback`; the last one closes its descriptor.
static void writebackRelease(Writeback *writeback) {
    pthread_mutex_lock(&writebacksLock);
    if (--writeback->files == 0) {
        Writeback **link = &writebacks;
        while (*link != writeback) link = &(*link)->next;
        *link = writeback->next;
        if (writeback->descriptor >= 0) close(writeback->descriptor);
        sqlite3_free(writeback);
    }
    pthread_mutex_unlock(&writebacksLock);
}

/// The descriptor of `writeback`, opened from `name` at the first call; -1 when there is none. It
/// stays open while the caller's file is.
static int writebackDescriptor(Writeback *writeback, const char *name) {
    pthread_mutex_lock(&writebacksLock);
    if (writeback->descriptor == NOT_OPENED) {
        int descriptor = open(name, O_RDONLY | O_CLOEXEC);
        writeback->descriptor = descriptor >= 0 ? descriptor : -1;
    }
    int descriptor = writeback->descriptor;
    pthread_mutex_unlock(&writebacksLock);
    return descriptor;
}

static sqlite3_vfs *underlying;
static sqlite3_vfs bufferedVFS;
static int installResult = SQLITE_OK;
static pthread_once_t installOnce = PTHREAD_ONCE_INIT;

static sqlite3_file *inner(sqlite3_file *file) {
    return ((WrappedFile *)file)->file;
}

// MARK: - Passed through as they are

static int passRead(sqlite3_file *file, void *data, int amount, sqlite3_int64 offset) {
    return inner(file)->pMethods->xRead(inner(file), data, amount, offset);
}

static int passWrite(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    return inner(file)->pMethods->xWrite(inner(file), data, amount, offset);
}

static int passTruncate(sqlite3_file *file, sqlite3_int64 size) {
    return inner(file)->pMethods->xTruncate(inner(file), size);
}

static int passSync(sqlite3_file *file, int flags) {
    return inner(file)->pMethods->xSync(inner(file), flags);
}

static int passFileSize(sqlite3_file *file, sqlite3_int64 *size) {
    return inner(file)->pMethods->xFileSize(inner(file), size);
}

static int passLock(sqlite3_file *file, int lock) {
    return inner(file)->pMethods->xLock(inner(file), lock);
}

static int passUnlock(sqlite3_file *file, int lock) {
    return inner(file)->pMethods->xUnlock(inner(file), lock);
}

static int passCheckReservedLock(sqlite3_file *file, int *reserved) {
    return inner(file)->pMethods->xCheckReservedLock(inner(file), reserved);
}

static int passFileControl(sqlite3_file *file, int op, void *argument) {
    return inner(file)->pMethods->xFileControl(inner(file), op, argument);
}

static int passSectorSize(sqlite3_file *file) {
    return inner(file)->pMethods->xSectorSize(inner(file));
}

static int passDeviceCharacteristics(sqlite3_file *file) {
    return inner(file)->pMethods->xDeviceCharacteristics(inner(file));
}

static int passShmMap(sqlite3_file *file, int region, int regionBytes, int extend, void volatile **memory) {
    if (inner(file)->pMethods->iVersion < 2) return SQLITE_IOERR;
    return inner(file)->pMethods->xShmMap(inner(file), region, regionBytes, extend, memory);
}

static int passShmLock(sqlite3_file *file, int offset, int count, int flags) {
    if (inner(file)->pMethods->iVersion < 2) return SQLITE_IOERR;
    return inner(file)->pMethods->xShmLock(inner(file), offset, count, flags);
}

static void passShmBarrier(sqlite3_file *file) {
    if (inner(file)->pMethods->iVersion >= 2) inner(file)->pMethods->xShmBarrier(inner(file));
}

static int passShmUnmap(sqlite3_file *file, int deleteFlag) {
    if (inner(file)->pMethods->iVersion < 2) return SQLITE_OK;
    return inner(file)->pMethods->xShmUnmap(inner(file), deleteFlag);
}

static int passFetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **page) {
    if (inner(file)->pMethods->iVersion < 3) {
        *page = NULL;
        return SQLITE_OK;
    }
    return inner(file)->pMethods->xFetch(inner(file), offset, amount, page);
}

static int passUnfetch(sqlite3_file *file, sqlite3_int64 offset, void *page) {
    if (inner(file)->pMethods->iVersion < 3) return SQLITE_OK;
    return inner(file)->pMethods->xUnfetch(inner(file), offset, page);
}

// MARK: - The log

/// Hands the bytes held back to the file. On failure they are dropped, and the caller's operation
/// fails with the file's error: SQLite then treats the transaction's frames as never written.
static int logFlush(LogFile *log) {
    int bytes = log->pendingBytes;
    log->pendingBytes = 0;
    for (int written = 0; written < bytes; written += LOG_WRITE_BYTES) {
        int amount = bytes - written < LOG_WRITE_BYTES ? bytes - written : LOG_WRITE_BYTES;
        int rc = passWrite(&log->wrapped.base, log->pending + written, amount, log->pendingOffset + written);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

/// Unlinks a log and its database file, when either closes: SQLite frees a closed file's memory.
static void forgetLog(LogFile *log) {
    if (log->database != NULL) log->database->log = NULL;
    log->database = NULL;
}

static int logWrite(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    LogFile *log = (LogFile *)file;
    if (!log->buffering) return passWrite(file, data, amount, offset);
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
    if (log->pending == NULL || amount > LOG_WRITE_BYTES) return passWrite(file, data, amount, offset);
    memcpy(log->pending, data, (size_t)amount);
    log->pendingBytes = amount;
    log->pendingOffset = offset;
    return SQLITE_OK;
}

static int logRead(sqlite3_file *file, void *data, int amount, sqlite3_int64 offset) {
    int rc = logFlush((LogFile *)file);
    return rc != SQLITE_OK ? rc : passRead(file, data, amount, offset);
}

static int logTruncate(sqlite3_file *file, sqlite3_int64 size) {
    int rc = logFlush((LogFile *)file);
    return rc != SQLITE_OK ? rc : passTruncate(file, size);
}

static int logSync(sqlite3_file *file, int flags) {
    int rc = logFlush((LogFile *)file);
    return rc != SQLITE_OK ? rc : passSync(file, flags);
}

static int logFileSize(sqlite3_file *file, sqlite3_int64 *size) {
    int rc = logFlush((LogFile *)file);
    return rc != SQLITE_OK ? rc : passFileSize(file, size);
}

static int logFileControl(sqlite3_file *file, int op, void *argument) {
    // A control may size or map the file: it sees every write first.
    int rc = logFlush((LogFile *)file);
    return rc != SQLITE_OK ? rc : passFileControl(file, op, argument);
}

static int logClose(sqlite3_file *file) {
    LogFile *log = (LogFile *)file;
    int rc = logFlush(log);
    forgetLog(log);
    sqlite3_free(log->pending);
    log->pending = NULL;
    int closed = inner(file)->pMethods->xClose(inner(file));
    return rc != SQLITE_OK ? rc : closed;
}

/// Version 1: SQLite maps shared memory and pages of the database file, never of its log.
static const sqlite3_io_methods logMethods = {
    1, logClose, logRead, logWrite, logTruncate, logSync, logFileSize, passLock, passUnlock,
    passCheckReservedLock, logFileControl, passSectorSize, passDeviceCharacteristics,
    NULL, NULL, NULL, NULL, NULL, NULL,
};

// MARK: - The database file

static int databaseShmLock(sqlite3_file *file, int offset, int count, int flags) {
    DatabaseFile *database = (DatabaseFile *)file;
    // Releasing the log's write lock: whatever is still buffered is written out while the lock is
    // held. A commit has synced (so written out) its frames already; what is left is frames of a
    // transaction that spilled pages into the log and was rolled back. Kept, they could land later
    // over frames that another connection, perhaps in another process, wrote and committed in
    // between; written now, they lie beyond the log's end, as they would without a buffer.
    if (database->log != NULL && offset == LOG_WRITE_LOCK && (flags & SQLITE_SHM_UNLOCK)
        && (flags & SQLITE_SHM_EXCLUSIVE)) {
        logFlush(database->log);
    }
    return passShmLock(file, offset, count, flags);
}

static int databaseWrite(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    DatabaseFile *database = (DatabaseFile *)file;
    int rc = passWrite(file, data, amount, offset);
    if (rc != SQLITE_OK || database->writeback == NULL) return rc;
    // In WAL mode only checkpoints write the database file: a pass copies thousands of pages and
    // then syncs the file. Left to the sync, they all go to the disk at once, and a commit's sync
    // of the log waits behind them. Started every few hundred KiB, they go out as they are copied.
    // Only a hint: the checkpoint's sync still makes them durable, and reports any error.
    database->unstartedBytes += amount;
    if (database->unstartedBytes >= WRITEBACK_BYTES) {
        database->unstartedBytes = 0;
#ifdef __linux__
        int descriptor = writebackDescriptor(database->writeback, database->name);
        if (descriptor >= 0 && sync_file_range(descriptor, 0, 0, SYNC_FILE_RANGE_WRITE) == 0) {
            atomic_fetch_add(&database->writeback->starts, 1);
        }
#endif
    }
    return rc;
}

static int databaseClose(sqlite3_file *file) {
    DatabaseFile *database = (DatabaseFile *)file;
    if (database->log != NULL) forgetLog(database->log);
    // SQLite closes (or sets aside) its own descriptor first, releasing its locks.
    int rc = inner(file)->pMethods->xClose(inner(file));
    if (database->writeback != NULL) writebackRelease(database->writeback);
    database->writeback = NULL;
    return rc;
}

static const sqlite3_io_methods databaseMethods = {
    3, databaseClose, passRead, databaseWrite, passTruncate, passSync, passFileSize, passLock, passUnlock,
    passCheckReservedLock, passFileControl, passSectorSize, passDeviceCharacteristics, passShmMap,
    databaseShmLock, passShmBarrier, passShmUnmap, passFetch, passUnfetch,
};

// MARK: - The VFS

static int bufferedOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *outFlags) {
    (void)vfs;
    const sqlite3_io_methods *methods = (flags & SQLITE_OPEN_MAIN_DB) ? &databaseMethods
        : (flags & SQLITE_OPEN_WAL) ? &logMethods : NULL;
    // Every other file is the underlying VFS's own, in the (larger) space SQLite gave this one.
    if (methods == NULL) return underlying->xOpen(underlying, name, file, flags, outFlags);
    memset(file, 0, methods == &logMethods ? sizeof(LogFile) : sizeof(DatabaseFile));
    WrappedFile *wrapped = (WrappedFile *)file;
    wrapped->file = (sqlite3_file *)((char *)file
        + (methods == &logMethods ? sizeof(LogFile) : sizeof(DatabaseFile)));
    int rc = underlying->xOpen(underlying, name, wrapped->file, flags, outFlags);
    if (methods == &databaseMethods && rc == SQLITE_OK) {
        ((DatabaseFile *)file)->name = name;
        ((DatabaseFile *)file)->writeback = writebackRetain(name);
    }
    // On failure `pMethods` stays NULL, and SQLite does not close the file.
    if (rc == SQLITE_OK) wrapped->base.pMethods = methods;
    return rc;
}

static void install(void) {
    // SQLite's count of the memory it has in use takes a process-wide mutex at every allocation
    // and free of every connection: a twentieth of the ledger writer's CPU, and a lock the readers
    // contend for (docs/PERFORMANCE.md). Nothing reads the count. It can be turned off only before
    // SQLite initializes, which finding the default VFS does; had something initialized it first,
    // the count would stay on and cost only what it did.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
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

long long patron_database_writeback_starts(const char *path) {
    struct stat info;
    if (stat(path, &info) != 0) return 0;
    pthread_mutex_lock(&writebacksLock);
    Writeback *writeback = writebackFind(&info);
    long long starts = writeback != NULL ? atomic_load(&writeback->starts) : 0;
    pthread_mutex_unlock(&writebacksLock);
    return starts;
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
