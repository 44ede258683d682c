using Microsoft.Data.Sqlite;

namespace P2PNet.Storage.Internal;

/// <summary>Parameterised commands for the project's SQLite stores (peer, swarm and tunnel-token stores).</summary>
internal static class SqliteCommands
{
    /// <summary>A command for <paramref name="sql"/> with its named parameters (<see langword="null"/> values become SQL NULL).</summary>
    public static SqliteCommand CreateCommand(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }
}
