using System.Text.Json.Serialization;

namespace P2PNet.Cli.Commands;

// The JSON lines the tool prints, as types a source-generated serializer knows (so the tool trims and needs no reflection).
// Property names and order are the output contract: scripts parse these lines.

/// <summary><c>ping</c>: one line per ping.</summary>
internal sealed record PingLine([property: JsonPropertyName("rtt_ms")] double RttMs);

/// <summary><c>perf</c>: the final result line.</summary>
internal sealed record PerfLine(
    [property: JsonPropertyName("upload_bytes")] long UploadBytes,
    [property: JsonPropertyName("download_bytes")] long DownloadBytes,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("upload_gbit_s")] double UploadGbitS,
    [property: JsonPropertyName("download_gbit_s")] double DownloadGbitS);

/// <summary><c>perf</c>: a progress line, once a second while the run lasts (the perf spec's "intermediary" result).</summary>
internal sealed record PerfProgressLine(
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("upload_bytes")] long UploadBytes,
    [property: JsonPropertyName("download_bytes")] long DownloadBytes,
    [property: JsonPropertyName("gbit_s")] double GbitS)
{
    /// <summary>The line's type, which tells it from the result line.</summary>
    [JsonPropertyName("type")]
    [JsonPropertyOrder(-1)]
    public string Type => "intermediary";
}

/// <summary><c>echo</c>: the result line.</summary>
internal sealed record EchoLine([property: JsonPropertyName("bytes")] long Bytes, [property: JsonPropertyName("ok")] bool Ok);

/// <summary>
/// With <c>--json</c>: what a command prints as text otherwise (<c>LISTEN …</c>, <c>CONNECT …</c>, a peer id, …), one
/// object per line with a <c>type</c> and only the fields that apply.
/// </summary>
internal sealed record EventLine([property: JsonPropertyName("type")] string Type)
{
    /// <summary>A multiaddr or IP address.</summary>
    [JsonPropertyName("address")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Address { get; init; }

    /// <summary>A peer id.</summary>
    [JsonPropertyName("peer")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Peer { get; init; }

    /// <summary>A prefix length.</summary>
    [JsonPropertyName("prefix")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Prefix { get; init; }

    /// <summary>A device name.</summary>
    [JsonPropertyName("device")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Device { get; init; }

    /// <summary>A URL.</summary>
    [JsonPropertyName("url")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Url { get; init; }

    /// <summary>A VPN id (32 hex characters).</summary>
    [JsonPropertyName("vpn_id")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? VpnId { get; init; }

    /// <summary>A key fingerprint (hex).</summary>
    [JsonPropertyName("fingerprint")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Fingerprint { get; init; }

    /// <summary>A message (errors, unknown commands).</summary>
    [JsonPropertyName("message")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Message { get; init; }

    /// <summary>The exit code of an error line.</summary>
    [JsonPropertyName("exit_code")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ExitCode { get; init; }
}

/// <summary><c>swarm status</c> and friends: the swarm state.</summary>
internal sealed record SwarmStatusLine(
    [property: JsonPropertyName("swarm_id")] string SwarmId,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("owner")] string Owner,
    [property: JsonPropertyName("private")] bool Private,
    [property: JsonPropertyName("key_fingerprint")] string? KeyFingerprint,
    [property: JsonPropertyName("accepted_key_fingerprints")] IReadOnlyList<string> AcceptedKeyFingerprints,
    [property: JsonPropertyName("grace_until")] DateTimeOffset? GraceUntil,
    [property: JsonPropertyName("members")] IEnumerable<string> Members,
    [property: JsonPropertyName("connected")] IEnumerable<string> Connected,
    [property: JsonPropertyName("bootstrap")] IEnumerable<string> Bootstrap);

/// <summary><c>swarm serve|join</c>: one line per swarm event.</summary>
internal sealed record SwarmEventLine([property: JsonPropertyName("event")] string Event, [property: JsonPropertyName("detail")] string Detail);

/// <summary>The control socket's error reply.</summary>
internal sealed record ControlErrorLine([property: JsonPropertyName("error")] string? Error);

/// <summary><c>vpn up</c>: the statistics printed to stderr on exit.</summary>
internal sealed record VpnStatsLine(
    [property: JsonPropertyName("vpn_id")] string? VpnId,
    [property: JsonPropertyName("peers")] IReadOnlyDictionary<string, P2PNet.Vpn.VpnPeerStatistics> Peers,
    [property: JsonPropertyName("drops")] Dictionary<string, long> Drops);

/// <summary>The source-generated serializer for every line the tool prints or reads.</summary>
[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(PingLine))]
[JsonSerializable(typeof(PerfLine))]
[JsonSerializable(typeof(PerfProgressLine))]
[JsonSerializable(typeof(EchoLine))]
[JsonSerializable(typeof(EventLine))]
[JsonSerializable(typeof(SwarmStatusLine))]
[JsonSerializable(typeof(SwarmEventLine))]
[JsonSerializable(typeof(ControlErrorLine))]
[JsonSerializable(typeof(VpnStatsLine))]
[JsonSerializable(typeof(P2PNet.Vpn.NetStack.TcpConnectionStatistics))]
[JsonSerializable(typeof(SwarmControl.Request))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
