/* sqlite_driver.c: drive SQLite (the amalgamation, built with it; see build.py) on an
 * in-memory database.
 *
 * Usage: sqlite_driver [N]   (default 3000 orders)
 * Creates a customers table and an orders table (with an index on orders.customer_id),
 * inserts N pseudo-random orders in one transaction with a prepared statement, runs an
 * aggregate, an ORDER BY, index lookups, a join with GROUP BY, an UPDATE and a DELETE,
 * and prints the results and an FNV-1a checksum of the final table.
 *
 * SQLite is built with SQLITE_OS_OTHER: this file supplies the operating-system layer, a
 * VFS that opens no files (an in-memory database needs none) and whose randomness and
 * clock are fixed, so every run does the same thing and prints the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"

/* ------------------------------------------------------------------------------------ */
/* The OS layer: a VFS without files, deterministic randomness and time.                */

static uint32_t vfs_seed = 0x2545f491u;

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                    int *out_flags)
{
    (void)vfs; (void)name; (void)flags; (void)out_flags;
    file->pMethods = 0;
    return SQLITE_CANTOPEN;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs; (void)name; (void)sync_dir;
    return SQLITE_IOERR_DELETE;
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *res)
{
    (void)vfs; (void)name; (void)flags;
    *res = 0;
    return SQLITE_OK;
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    sqlite3_snprintf(n, out, "%s", name);
    return SQLITE_OK;
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    for (int i = 0; i < n; i++) {
        vfs_seed = vfs_seed * 1103515245u + 12345u;
        out[i] = (char)(vfs_seed >> 16);
    }
    return n;
}

static int vfs_sleep(sqlite3_vfs *vfs, int microseconds)
{
    (void)vfs;
    return microseconds;
}

/* 2026-01-01 00:00:00 UTC as a Julian day number times 86400000 (milliseconds). */
#define FIXED_JULIAN_MS ((sqlite3_int64)2461041 * 86400000 + 43200000)

static int vfs_current_time(sqlite3_vfs *vfs, double *now)
{
    (void)vfs;
    *now = FIXED_JULIAN_MS / 86400000.0;
    return SQLITE_OK;
}

static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *now)
{
    (void)vfs;
    *now = FIXED_JULIAN_MS;
    return SQLITE_OK;
}

static int vfs_get_last_error(sqlite3_vfs *vfs, int n, char *buf)
{
    (void)vfs;
    if (n > 0)
        buf[0] = 0;
    return 0;
}

static sqlite3_vfs fixed_vfs = {
    2,                        /* iVersion */
    0,                        /* szOsFile: no file is ever opened */
    512,                      /* mxPathname */
    0,                        /* pNext */
    "fixed",                  /* zName */
    0,                        /* pAppData */
    vfs_open,
    vfs_delete,
    vfs_access,
    vfs_full_pathname,
    0, 0, 0, 0,               /* xDlOpen, xDlError, xDlSym, xDlClose */
    vfs_randomness,
    vfs_sleep,
    vfs_current_time,
    vfs_get_last_error,
    vfs_current_time_int64,
    0, 0, 0,                  /* xSetSystemCall, xGetSystemCall, xNextSystemCall */
};

int sqlite3_os_init(void)
{
    return sqlite3_vfs_register(&fixed_vfs, 1);
}

int sqlite3_os_end(void)
{
    return SQLITE_OK;
}

/* ------------------------------------------------------------------------------------ */

static sqlite3 *db;

static void die(const char *what)
{
    fprintf(stderr, "sqlite_driver: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(1);
}

static void exec(const char *sql)
{
    char *err = 0;
    if (sqlite3_exec(db, sql, 0, 0, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_driver: %s\n  in: %s\n", err ? err : "?", sql);
        exit(1);
    }
}

static sqlite3_stmt *prepare(const char *sql)
{
    sqlite3_stmt *st = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK)
        die(sql);
    return st;
}

/* Print every row of a query, columns separated by " | ". */
static int print_rows(const char *title, const char *sql)
{
    sqlite3_stmt *st = prepare(sql);
    int rows = 0, rc;
    printf("%s:\n", title);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        printf("  ");
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            printf("%s%s", i ? " | " : "", t ? (const char *)t : "NULL");
        }
        printf("\n");
        rows++;
    }
    if (rc != SQLITE_DONE)
        die(sql);
    sqlite3_finalize(st);
    return rows;
}

static uint32_t lcg_state = 12345u;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

static const char *const cities[] = {
    "Lisbon", "Oslo", "Kyoto", "Lima", "Nairobi", "Quebec", "Tbilisi", "Hobart",
};
static const char *const first_names[] = {
    "Ada", "Brian", "Chen", "Dara", "Emeka", "Freya", "Goran", "Hana", "Ines", "Jonas",
};
static const char *const items[] = {
    "bolt", "cable", "drill", "flange", "gasket", "hinge", "lamp", "nozzle", "pulley",
    "rivet", "spring", "valve",
};

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define CUSTOMERS 200

static uint32_t fnv1a(uint32_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 3000;
    if (n < 1)
        n = 1;

    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        die("open");
    printf("sqlite %s\n", sqlite3_libversion());

    exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);"
         "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL"
         " REFERENCES customers(id), item TEXT NOT NULL, qty INTEGER NOT NULL,"
         " cents INTEGER NOT NULL);");

    exec("BEGIN");
    sqlite3_stmt *ins = prepare("INSERT INTO customers(id, name, city) VALUES (?1, ?2, ?3)");
    for (int i = 1; i <= CUSTOMERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s-%03d", first_names[lcg() % NELEM(first_names)], i);
        sqlite3_bind_int(ins, 1, i);
        sqlite3_bind_text(ins, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 3, cities[lcg() % NELEM(cities)], -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("insert customer");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    ins = prepare("INSERT INTO orders(customer_id, item, qty, cents) VALUES (?1, ?2, ?3, ?4)");
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int(ins, 1, 1 + (int)(lcg() % CUSTOMERS));
        sqlite3_bind_text(ins, 2, items[lcg() % NELEM(items)], -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 3, 1 + (int)(lcg() % 20));
        sqlite3_bind_int(ins, 4, 50 + (int)(lcg() % 100000));
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("insert order");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    exec("COMMIT");
    exec("CREATE INDEX orders_customer ON orders(customer_id)");
    printf("inserted %d customers, %d orders\n", CUSTOMERS, n);

    print_rows("aggregate (count, sum, min, max, avg qty)",
               "SELECT count(*), sum(cents), min(cents), max(cents), printf('%.3f', avg(qty))"
               " FROM orders");

    print_rows("largest orders (ORDER BY cents DESC, id)",
               "SELECT id, customer_id, item, qty, cents FROM orders"
               " ORDER BY cents DESC, id LIMIT 5");

    print_rows("items by revenue (GROUP BY, ORDER BY)",
               "SELECT item, count(*), sum(qty), sum(qty * cents) AS revenue FROM orders"
               " GROUP BY item ORDER BY revenue DESC, item");

    /* Index lookups: the plan names the index, then a few customers one by one. */
    sqlite3_stmt *plan = prepare("EXPLAIN QUERY PLAN"
                                 " SELECT count(*), sum(cents) FROM orders WHERE customer_id = ?1");
    while (sqlite3_step(plan) == SQLITE_ROW)
        printf("plan: %s\n", (const char *)sqlite3_column_text(plan, 3));
    sqlite3_finalize(plan);
    sqlite3_stmt *look = prepare("SELECT count(*), coalesce(sum(cents), 0) FROM orders"
                                 " WHERE customer_id = ?1");
    long long looked = 0;
    for (int c = 7; c <= CUSTOMERS; c += 37) {
        sqlite3_bind_int(look, 1, c);
        if (sqlite3_step(look) != SQLITE_ROW)
            die("lookup");
        printf("customer %d: %d orders, %lld cents\n", c, sqlite3_column_int(look, 0),
               (long long)sqlite3_column_int64(look, 1));
        looked += sqlite3_column_int(look, 0);
        sqlite3_reset(look);
    }
    sqlite3_finalize(look);
    printf("looked up %lld orders\n", looked);

    print_rows("cities by revenue (JOIN, GROUP BY)",
               "SELECT c.city, count(DISTINCT c.id), count(*), sum(o.cents)"
               " FROM orders o JOIN customers c ON c.id = o.customer_id"
               " GROUP BY c.city ORDER BY sum(o.cents) DESC, c.city");

    print_rows("best customers (JOIN, subquery)",
               "SELECT c.name, c.city, t.total FROM customers c"
               " JOIN (SELECT customer_id, sum(cents) AS total FROM orders GROUP BY customer_id) t"
               " ON t.customer_id = c.id ORDER BY t.total DESC, c.id LIMIT 3");

    exec("BEGIN;"
         "UPDATE orders SET cents = cents + cents / 10 WHERE item IN ('valve', 'rivet');"
         "DELETE FROM orders WHERE qty = 1 AND cents < 20000;"
         "COMMIT;");
    printf("changes: %d rows deleted, %d total\n", sqlite3_changes(db),
           sqlite3_total_changes(db));

    print_rows("after update and delete",
               "SELECT count(*), sum(cents) FROM orders");

    /* Checksum of the whole table in primary-key order, as text. */
    sqlite3_stmt *all = prepare("SELECT o.id, o.customer_id, c.name, o.item, o.qty, o.cents"
                                " FROM orders o JOIN customers c ON c.id = o.customer_id"
                                " ORDER BY o.id");
    uint32_t h = 2166136261u;
    int rows = 0, rc;
    while ((rc = sqlite3_step(all)) == SQLITE_ROW) {
        for (int i = 0; i < 6; i++) {
            const unsigned char *t = sqlite3_column_text(all, i);
            h = fnv1a(h, t, (size_t)sqlite3_column_bytes(all, i));
            h = fnv1a(h, "|", 1);
        }
        rows++;
    }
    if (rc != SQLITE_DONE)
        die("checksum");
    sqlite3_finalize(all);
    printf("checksum: %d rows, fnv1a %08x\n", rows, (unsigned)h);

    if (sqlite3_close(db) != SQLITE_OK)
        die("close");
    db = 0;
    sqlite3_shutdown();
    return 0;
}
