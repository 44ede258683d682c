using Microsoft.Data.Sqlite;

namespace P2PNet.Storage.Internal;

/// <summary>
/// Opens an SQLite file and brings its schema up to date with numbered migrations recorded in <c>PRAGMA user_version</c>
/// (https://www.sqlite.org/pragma.html#pragma_user_version): migration <c>i</c> takes the file from version <c>i</c> to
/// <c>i + 1</c>, each in its own transaction with the version bump, so a crash leaves a whole version. Used by every
/// P2PNet store (the peer store, the swarm store).
/// </summary>
/// <remarks>
/// Version 0 is both "new file" and "written before versions were recorded": migration 0 must therefore be idempotent
/// (<c>CREATE TABLE IF NOT EXISTS</c>). A file with a version above the newest known is refused with
/// <see cref="StoreVersionException"/> and not modified.
/// </remarks>
internal static class SqliteSchema
{
    /// <summary>Opens (creating when absent) <paramref name="path"/> and applies the migrations it lacks.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="migrations">SQL scripts; the schema version after all of them is their count.</param>
    /// <param name="beforeMigrations">SQL run first, outside any transaction (for example <c>PRAGMA journal_mode = WAL</c>).</param>
    /// <exception cref="StoreVersionException">The file was written by a newer schema.</exception>
    /// <exception cref="SqliteException">The file cannot be opened or is not an SQLite database.</exception>
    public static SqliteConnection Open(string path, IReadOnlyList<string> migrations, string? beforeMigrations = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(migrations);
        var builder = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadWriteCreate };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            if (beforeMigrations is not null)
            {
                Execute(connection, null, beforeMigrations);
            }
            Migrate(connection, path, migrations);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The schema version recorded in the file.</summary>
    public static long GetVersion(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        return (long)command.ExecuteScalar()!;
    }

    private static void Migrate(SqliteConnection connection, string path, IReadOnlyList<string> migrations)
    {
        long version = GetVersion(connection);
        if (version > migrations.Count || version < 0)
        {
            throw new StoreVersionException(path, version, migrations.Count);
        }
        for (int i = (int)version; i < migrations.Count; i++)
        {
            using var transaction = connection.BeginTransaction();
            Execute(connection, transaction, migrations[i]);
            // PRAGMA takes no parameters; the value is our own integer.
            Execute(connection, transaction, $"PRAGMA user_version = {i + 1}");
            transaction.Commit();
        }
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
