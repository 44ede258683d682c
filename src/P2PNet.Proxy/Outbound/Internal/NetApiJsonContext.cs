using System.Text.Json.Serialization;

namespace P2PNet.Proxy.Outbound.Internal;

/// <summary>The net-api's JSON (camelCase as the design writes it), source-generated.</summary>
[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(NetApiNewNetwork))]
[JsonSerializable(typeof(NetApiNetworkInfo))]
[JsonSerializable(typeof(IReadOnlyList<NetApiNetworkInfo>))]
[JsonSerializable(typeof(NetApiAddress))]
[JsonSerializable(typeof(IReadOnlyList<NetApiAddress>))]
[JsonSerializable(typeof(NetApiNode))]
[JsonSerializable(typeof(IReadOnlyList<NetApiNode>))]
[JsonSerializable(typeof(NetApiError))]
internal sealed partial class NetApiJsonContext : JsonSerializerContext;
