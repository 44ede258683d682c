using System.Text;
using Microsoft.Data.Sqlite;
using P2PNet.Proxy.Tunnels;
using P2PNet.Storage;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>The server's token database: hashed at rest, bound to a device, revocable.</summary>
public sealed class TunnelTokenStoreTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-tokens-").FullName;

    private string DbPath => Path.Combine(_directory, "tunnels.db");

    [Fact]
    public void CreateToken_StoresOnlyAHash_AndTheTokenFindsItsDevice()
    {
        string token;
        using (var store = TunnelTokenStore.Open(DbPath))
        {
            token = store.CreateToken("dev1");
            Assert.Equal("dev1", store.FindDevice(token));
            Assert.Null(store.FindDevice(token + "x"));
        }
        byte[] file = File.ReadAllBytes(DbPath);
        byte[] wal = File.Exists(DbPath + "-wal") ? File.ReadAllBytes(DbPath + "-wal") : [];
        byte[] needle = Encoding.UTF8.GetBytes(token);
        Assert.Equal(-1, file.AsSpan().IndexOf(needle));
        Assert.Equal(-1, wal.AsSpan().IndexOf(needle));
    }

    [Fact]
    public void Revoke_InvalidatesTheToken_AndANewTokenCanThenBeIssued()
    {
        using var store = TunnelTokenStore.Open(DbPath);
        string first = store.CreateToken("dev1");
        var taken = Assert.Throws<TunnelRegistrationException>(() => store.CreateToken("dev1"));
        Assert.Equal(TunnelStatusCode.NameTaken, taken.Status);

        Assert.True(store.Revoke("dev1"));
        Assert.False(store.Revoke("dev1"));
        Assert.Null(store.FindDevice(first));
        Assert.False(store.IsActive("dev1"));

        string second = store.CreateToken("dev1");
        Assert.Equal("dev1", store.FindDevice(second));
        Assert.Null(store.FindDevice(first));
        Assert.Single(store.ListTokens(), t => t.Device == "dev1" && t.Revoked is null);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Dev1")]
    [InlineData("-dev")]
    [InlineData("dev.1")]
    [InlineData("dev 1")]
    public void CreateToken_ForANameThatIsNotADnsLabel_IsRefused(string name)
    {
        using var store = TunnelTokenStore.Open(DbPath);
        Assert.Throws<ArgumentException>(() => store.CreateToken(name));
    }

    [Fact]
    public void Open_RecordsTheSchemaVersion_AndKeepsTheTokensOfAFileWrittenBeforeVersionsWereRecorded()
    {
        string token;
        using (var store = TunnelTokenStore.Open(DbPath))
        {
            token = store.CreateToken("dev1");
        }
        Execute("PRAGMA user_version = 0"); // as written before the schema was versioned

        using (var reopened = TunnelTokenStore.Open(DbPath))
        {
            Assert.Equal("dev1", reopened.FindDevice(token));
        }
        Assert.Equal(TunnelTokenStore.Migrations.Length, (long)Execute("PRAGMA user_version")!);
    }

    [Fact]
    public void Open_AFileFromANewerVersion_IsRefused_AndLeftUntouched()
    {
        using (TunnelTokenStore.Open(DbPath))
        {
        }
        Execute("PRAGMA user_version = 99");

        var refused = Assert.Throws<StoreVersionException>(() => TunnelTokenStore.Open(DbPath));
        Assert.Contains(DbPath, refused.Message, StringComparison.Ordinal);
        Assert.Equal(99L, (long)Execute("PRAGMA user_version")!);
    }

    private object? Execute(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DbPath, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
