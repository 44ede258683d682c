using System.Text.Json.Serialization;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>A problem+json body (RFC 9457) with the field at fault, as the management API answers errors.</summary>
internal sealed record InboundProblem(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("detail")] string Detail,
    [property: JsonPropertyName("field")] string? Field);

/// <summary>The management API's JSON, source-generated (trimming- and AOT-safe): PascalCase names as the inbound-proxy
/// design writes them, read case-insensitively.</summary>
[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(InboundProbe))]
[JsonSerializable(typeof(IReadOnlyList<InboundProbe>))]
[JsonSerializable(typeof(IReadOnlyList<InboundProbeSocket>))]
[JsonSerializable(typeof(InboundGatewayEntry))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, InboundGatewayEntry>))]
[JsonSerializable(typeof(InboundProxyStatus))]
[JsonSerializable(typeof(InboundMetrics))]
[JsonSerializable(typeof(InboundBandwidth))]
[JsonSerializable(typeof(InboundProblem))]
[JsonSerializable(typeof(string))]
internal sealed partial class InboundProxyJsonContext : JsonSerializerContext;
