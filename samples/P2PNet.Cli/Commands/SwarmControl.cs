using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2PNet.Peers;
using P2PNet.Swarm;

namespace P2PNet.Cli.Commands;

/// <summary>
/// The control socket of a running <c>swarm serve</c>: a Unix domain socket <c>DB.ctl/socket</c> through which
/// <c>swarm rotate|authorize|revoke|status</c> in another process act on the live owner, so members are notified at
/// once instead of when the owner restarts.
/// </summary>
/// <remarks>
/// Two locks: the socket lives in a private directory (<c>DB.ctl</c>, mode 0700, the socket 0600), so other users
/// cannot even reach it; and every connection's peer credentials (SO_PEERCRED) are checked before a request is read:
/// only our own uid, or root, may act on the owner. A socket someone else bound at the old path is never trusted.
/// One request per connection: a JSON line <c>{"command":"rotate|authorize|revoke|status","peers":[…]}</c>, answered by
/// one JSON line: the owner's status, or <c>{"error":"…"}</c>. Requests are bounded (<see cref="MaxLineBytes"/>) and
/// served one at a time.
/// </remarks>
internal static class SwarmControl
{
    /// <summary>The longest request or reply line accepted.</summary>
    public const int MaxLineBytes = 64 * 1024;

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The private directory (0700) holding the control socket of a swarm database.</summary>
    public static string DirectoryFor(string db) => Path.GetFullPath(db) + ".ctl";

    /// <summary>The socket path for a swarm database.</summary>
    public static string PathFor(string db) => Path.Combine(DirectoryFor(db), "socket");

    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>A request from a CLI command.</summary>
    public sealed record Request([property: JsonPropertyName("command")] string Command, [property: JsonPropertyName("peers")] string[]? Peers = null);

    /// <summary>Serves requests for <paramref name="owner"/> until <paramref name="cancellationToken"/> is cancelled; removes the socket then.</summary>
    public static async Task ServeAsync(SwarmOwner owner, string db, Func<SwarmStatus, object> describe, CancellationToken cancellationToken)
    {
        string directory = DirectoryFor(db);
        string path = PathFor(db);
        PrepareDirectory(directory);
        if (File.Exists(path))
        {
            if (await IsLiveAsync(path, cancellationToken).ConfigureAwait(false))
            {
                throw new IOException($"Another 'swarm serve' is running on '{db}' (its control socket '{path}' answers).");
            }
            File.Delete(path); // left behind by a process that did not exit cleanly
        }
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // only this user may drive the owner
        }
        listener.Listen(8);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                using var client = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                if (!IsTrustedPeer(client, out string who))
                {
                    await RefuseAsync(client, who, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                await AnswerAsync(client, owner, describe, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // serve is stopping
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Creates <paramref name="directory"/> with mode 0700, or restricts it to 0700 when it exists. A plain file or a
    /// socket there (the control socket of an older version was <c>DB.ctl</c> itself) is removed first.
    /// </summary>
    private static void PrepareDirectory(string directory)
    {
        if (File.Exists(directory))
        {
            File.Delete(directory);
        }
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }
        Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        File.SetUnixFileMode(directory, OwnerOnlyDirectory); // an existing directory keeps its mode otherwise
    }

    /// <summary>
    /// Whether the process at the other end of <paramref name="client"/> runs as our effective uid or as root, from
    /// the kernel's SO_PEERCRED (Linux). Elsewhere the 0700 directory is the only lock.
    /// </summary>
    private static bool IsTrustedPeer(Socket client, out string who)
    {
        if (!OperatingSystem.IsLinux())
        {
            who = "unchecked";
            return true;
        }
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: three 32-bit integers.
        Span<byte> credentials = stackalloc byte[12];
        int length = client.GetRawSocketOption(SolSocket, SoPeerCred, credentials);
        if (length < 12)
        {
            who = "unknown";
            return false;
        }
        int pid = BitConverter.ToInt32(credentials);
        uint uid = BitConverter.ToUInt32(credentials[4..]);
        who = $"pid {pid}, uid {uid}";
        return uid == 0 || uid == EffectiveUid.Value;
    }

    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>Our effective uid, from /proc/self/status (the "Uid:" line: real, effective, saved, filesystem).</summary>
    private static readonly Lazy<uint> EffectiveUid = new(() =>
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                return uint.Parse(line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[2], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException("/proc/self/status has no Uid line.");
    });

    private static async Task RefuseAsync(Socket client, string who, CancellationToken cancellationToken)
    {
        await Console.Error.WriteLineAsync($"swarm serve: refused a control request from {who}: not this user or root").ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: false);
            string reply = JsonSerializer.Serialize(new ControlErrorLine("refused: the control socket serves only the owner's user and root"), CliJsonContext.Default.ControlErrorLine);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(reply + "\n"), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // the requester went away
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> to the running <c>swarm serve</c> of <paramref name="db"/>; returns its reply
    /// line, or <see langword="null"/> when no serve is running (no socket, or a stale one nobody answers).
    /// </summary>
    /// <exception cref="InvalidOperationException">The running owner refused the request (its error message).</exception>
    public static async Task<string?> TrySendAsync(string db, Request request, CancellationToken cancellationToken)
    {
        string path = PathFor(db);
        if (!File.Exists(path))
        {
            return null;
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            return null;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
        {
            throw new IOException($"The control socket '{path}' belongs to another user: run the command as the user of 'swarm serve'.", e);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(request, CliJsonContext.Default.Request) + "\n"), timeout.Token).ConfigureAwait(false);
        string reply = await ReadLineAsync(stream, timeout.Token).ConfigureAwait(false)
            ?? throw new IOException($"The running 'swarm serve' closed its control socket '{path}' without answering.");
        using var document = JsonDocument.Parse(reply);
        if (document.RootElement.TryGetProperty("error", out var error))
        {
            throw new InvalidOperationException(error.GetString());
        }
        return reply;
    }

    private static async Task<bool> IsLiveAsync(string path, CancellationToken cancellationToken)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task AnswerAsync(Socket client, SwarmOwner owner, Func<SwarmStatus, object> describe, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        await using var stream = new NetworkStream(client, ownsSocket: false);
        string replyJson;
        try
        {
            string line = await ReadLineAsync(stream, timeout.Token).ConfigureAwait(false)
                ?? throw new InvalidDataException("empty request");
            var request = JsonSerializer.Deserialize(line, CliJsonContext.Default.Request) ?? throw new InvalidDataException("empty request");
            await ExecuteAsync(owner, request, timeout.Token).ConfigureAwait(false);
            replyJson = CliSupport.ToJson(describe(owner.GetStatus()));
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or ArgumentException or InvalidOperationException or SwarmKeyExchangeException)
        {
            replyJson = JsonSerializer.Serialize(new ControlErrorLine(e.Message), CliJsonContext.Default.ControlErrorLine);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return; // the requester went away or stalled; nothing to answer
        }
        try
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(replyJson + "\n"), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // the requester went away
        }
    }

    private static async Task ExecuteAsync(SwarmOwner owner, Request request, CancellationToken cancellationToken)
    {
        PeerId[] peers = [.. (request.Peers ?? []).Select(text =>
            PeerId.TryParse(text, out var peer) ? peer : throw new ArgumentException($"'{text}' is not a peer id."))];
        switch (request.Command)
        {
            case "status":
                break;
            case "rotate":
                await owner.RotateKeyAsync(cancellationToken).ConfigureAwait(false);
                break;
            case "authorize":
                foreach (var peer in peers)
                {
                    owner.Authorize(peer);
                }
                break;
            case "revoke":
                foreach (var peer in peers)
                {
                    await owner.RevokeAsync(peer, cancellationToken).ConfigureAwait(false);
                }
                break;
            default:
                throw new InvalidDataException($"unknown command '{request.Command}'");
        }
    }

    /// <summary>Reads one '\n'-terminated UTF-8 line of at most <see cref="MaxLineBytes"/>; null at end of stream before any byte.</summary>
    private static async Task<string?> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        while (true)
        {
            int read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return buffer.Length == 0 ? null : throw new InvalidDataException("the control line ended without a newline");
            }
            int newline = Array.IndexOf(chunk, (byte)'\n', 0, read);
            buffer.Write(chunk, 0, newline >= 0 ? newline : read);
            if (buffer.Length > MaxLineBytes)
            {
                throw new InvalidDataException($"control line longer than {MaxLineBytes} bytes");
            }
            if (newline >= 0)
            {
                return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
            }
        }
    }
}
