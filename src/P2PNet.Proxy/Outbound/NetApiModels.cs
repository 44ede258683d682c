using System.Text.Json.Serialization;

namespace P2PNet.Proxy.Outbound;

/// <summary><c>POST /net-api/v2/net</c>: a network to create (the outbound-gateway design's request).</summary>
/// <param name="Ip">The network's address, e.g. <c>192.168.8.0</c> (or with a prefix, <c>192.168.8.0/24</c>).</param>
/// <param name="Mask">Its mask, e.g. <c>255.255.255.0</c> (optional when <paramref name="Ip"/> has a prefix).</param>
/// <param name="Gateway">The gateway's address in it, or null for none.</param>
public sealed record NetApiNewNetwork(
    [property: JsonPropertyName("ip")] string? Ip,
    [property: JsonPropertyName("mask")] string? Mask,
    [property: JsonPropertyName("gateway")] string? Gateway);

/// <summary>A network of the net-api (<c>GET /net-api/v2/net/{id}</c>).</summary>
/// <param name="Id">32 hex characters; also the VPN's id.</param>
/// <param name="Ip">The network, <c>192.168.8.0/24</c>.</param>
/// <param name="Mask">Its mask, <c>255.255.255.0</c>.</param>
/// <param name="Gateway">The gateway's address, or null.</param>
public sealed record NetApiNetworkInfo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("ip")] string Ip,
    [property: JsonPropertyName("mask")] string Mask,
    [property: JsonPropertyName("gateway")] string? Gateway);

/// <summary><c>POST /net-api/v2/net/{id}/addresses</c>: the requestor's own address in the network.</summary>
/// <param name="Ip">The address.</param>
public sealed record NetApiAddress([property: JsonPropertyName("ip")] string? Ip);

/// <summary>A node of a network (<c>POST|GET /net-api/v2/net/{id}/nodes</c>).</summary>
/// <param name="Id">The node's peer id.</param>
/// <param name="ActivityId">The activity it serves, if any.</param>
/// <param name="Ip">Its address in the network; the net's gateway address makes it the gateway.</param>
public sealed record NetApiNode(
    [property: JsonPropertyName("id")] string? Id,
    [property: JsonPropertyName("activityId")] string? ActivityId,
    [property: JsonPropertyName("ip")] string? Ip);

/// <summary>An error answer: <c>{"message": "…"}</c>.</summary>
/// <param name="Message">What is wrong, and what to do.</param>
public sealed record NetApiError([property: JsonPropertyName("message")] string Message);
