using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>One endpoint of the management API: method, route pattern, handler, and what the OpenAPI document says of it.</summary>
internal sealed record InboundApiRoute(string Method, string Pattern, Func<InboundProxyApi, HttpContext, Task> Handler, string Summary,
    string? RequestSchema, int SuccessStatus, string? ResponseSchema, bool Public = false);

/// <summary>The management API's handlers over an <see cref="InboundProxy"/>: parse the route and body, call the proxy,
/// map its <see cref="InboundProxyException"/>s to problem+json answers.</summary>
internal sealed partial class InboundProxyApi(InboundProxy proxy, InboundProxyApiOptions options)
{
    private const string Probe = "/probe-api/v1";
    private const string Gateway = "/gateway-api/v1";
    private const string Status = "/status-api/v1";
    private static readonly InboundProxyJsonContext Json = InboundProxyJsonContext.Default;

    /// <summary>Every endpoint, in the order the OpenAPI document lists them.</summary>
    public static readonly IReadOnlyList<InboundApiRoute> Routes =
    [
        new("GET", Probe + "/", (a, c) => WriteAsync(c, 200, a.Proxy.GetProbeSockets(), Json.IReadOnlyListInboundProbeSocket),
            "Registered probe sockets and their probes.", null, 200, "ProbeSockets"),
        new("PUT", Probe + "/{proto}/{addr}", (a, c) => a.PutProbeAsync(c),
            "Opens a probe socket at the address, or adds the (RequestorId, Token) pair to the one there.", "Probe", 201, "Probes"),
        new("GET", Probe + "/{proto}/{addr}", (a, c) => WriteAsync(c, 200, a.Proxy.GetProbes(Protocol(c), Address(c)), Json.IReadOnlyListInboundProbe),
            "The probes registered at the address.", null, 200, "Probes"),
        new("GET", Probe + "/{proto}/{addr}/{requestorId}",
            (a, c) => WriteAsync(c, 200, a.Proxy.GetProbeToken(Protocol(c), Address(c), Text(c, "requestorId")), Json.String),
            "The requestor's token at the address.", null, 200, "Token"),
        new("DELETE", Probe + "/{proto}/{addr}/{requestorId}",
            (a, c) => DeleteAsync(c, a.Proxy.RemoveProbesAsync(Protocol(c), Address(c), Text(c, "requestorId"), null, c.RequestAborted)),
            "Removes the requestor's probes at the address; unbinds the socket when none is left.", null, 204, null),
        new("DELETE", Probe + "/{proto}/{addr}/{requestorId}/{token}",
            (a, c) => DeleteAsync(c, a.Proxy.RemoveProbesAsync(Protocol(c), Address(c), Text(c, "requestorId"), Text(c, "token"), c.RequestAborted)),
            "Removes one probe; unbinds the socket when none is left.", null, 204, null),
        new("GET", Gateway + "/", (a, c) => WriteAsync(c, 200, a.Proxy.GetGateways(), Json.IReadOnlyDictionaryStringInboundGatewayEntry),
            "Gateway sockets, keyed proto/addr.", null, 200, "Gateways"),
        new("POST", Gateway + "/{proto}/{addr}", (a, c) => a.PostGatewayAsync(c),
            "Creates a forwarding socket (replacing any probes at the address); 409 when one exists.", "Entry", 201, "Entry"),
        new("GET", Gateway + "/{proto}/{addr}", (a, c) => WriteAsync(c, 200, a.Proxy.GetGateway(Protocol(c), Address(c)), Json.InboundGatewayEntry),
            "The forwarding socket's creation parameters.", null, 200, "Entry"),
        new("DELETE", Gateway + "/{proto}/{addr}", (a, c) => DeleteAsync(c, a.Proxy.RemoveGatewayAsync(Protocol(c), Address(c), c.RequestAborted)),
            "Unbinds the forwarding socket and resets its connections.", null, 204, null),
        new("GET", Status + "/status", (a, c) => WriteAsync(c, 200, a.Proxy.GetStatus(), Json.InboundProxyStatus),
            "Health: probe and gateway socket counts, activities served, uptime, VPNs.", null, 200, "Status"),
        new("GET", Status + "/metrics", (a, c) => WriteAsync(c, 200, a.Proxy.GetMetrics(), Json.InboundMetrics),
            "The proxy's metrics: bandwidth, connection counts, open connections.", null, 200, "Metrics"),
        new("GET", Status + "/metrics/bandwidth", (a, c) => WriteAsync(c, 200, a.Proxy.GetMetrics().Bandwidth, Json.InboundBandwidth),
            "The proxy's bandwidth.", null, 200, "Bandwidth"),
        new("GET", Status + "/metrics/activity/{activityId}",
            (a, c) => WriteAsync(c, 200, a.Proxy.GetActivityMetrics(Text(c, "activityId")), Json.InboundMetrics),
            "An activity's metrics.", null, 200, "Metrics"),
        new("GET", Status + "/metrics/activity/{activityId}/bandwidth",
            (a, c) => WriteAsync(c, 200, a.Proxy.GetActivityMetrics(Text(c, "activityId")).Bandwidth, Json.InboundBandwidth),
            "An activity's bandwidth.", null, 200, "Bandwidth"),
        new("GET", Status + "/metrics/vpn/{vpnId}", (a, c) => WriteAsync(c, 200, a.Proxy.GetVpnMetrics(Text(c, "vpnId")), Json.InboundMetrics),
            "A VPN's metrics.", null, 200, "Metrics"),
        new("GET", Status + "/metrics/vpn/{vpnId}/bandwidth",
            (a, c) => WriteAsync(c, 200, a.Proxy.GetVpnMetrics(Text(c, "vpnId")).Bandwidth, Json.InboundBandwidth),
            "A VPN's bandwidth.", null, 200, "Bandwidth"),
        new("GET", "/openapi/v1.json", (a, c) => WriteOpenApiAsync(c), "This document.", null, 200, null, Public: true),
    ];

    private readonly byte[]? _token = options.BearerToken is { Length: > 0 } token ? Encoding.UTF8.GetBytes(token) : null;

    public InboundProxy Proxy => proxy;

    public async Task HandleAsync(HttpContext context, Func<InboundProxyApi, HttpContext, Task> handler, bool isPublic)
    {
        if (!isPublic && _token is not null && !Authorized(context.Request.Headers.Authorization.ToString()))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await ProblemAsync(context, 401, "Give the API's token: Authorization: Bearer <token>.", null).ConfigureAwait(false);
            return;
        }
        try
        {
            await handler(this, context).ConfigureAwait(false);
        }
        catch (InboundProxyException e)
        {
            int status = e.Error switch
            {
                InboundProxyError.NotFound => 404,
                InboundProxyError.Conflict or InboundProxyError.BindFailed => 409,
                _ => 400,
            };
            await ProblemAsync(context, status, e.Message, e.Field).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            await ProblemAsync(context, 503, "The proxy is shutting down.", null).ConfigureAwait(false);
        }
    }

    private bool Authorized(string header)
    {
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        byte[] given = Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, _token);
    }

    private async Task PutProbeAsync(HttpContext context)
    {
        var protocol = Protocol(context);
        var address = Address(context);
        var probe = await ReadBodyAsync(context, Json.InboundProbe, "probe {RequestorId, Token}").ConfigureAwait(false);
        if (probe is null)
        {
            return;
        }
        await proxy.AddProbeAsync(protocol, address, probe, context.RequestAborted).ConfigureAwait(false);
        context.Response.Headers.Location = context.Request.Path.ToString();
        await WriteAsync(context, 201, proxy.GetProbes(protocol, address), Json.IReadOnlyListInboundProbe).ConfigureAwait(false);
    }

    private async Task PostGatewayAsync(HttpContext context)
    {
        var protocol = Protocol(context);
        var address = Address(context);
        var entry = await ReadBodyAsync(context, Json.InboundGatewayEntry, "Entry {RequestorId, ActivityId, VpnId, RemoteId, RemoteAddr}").ConfigureAwait(false);
        if (entry is null)
        {
            return;
        }
        await proxy.AddGatewayAsync(protocol, address, entry, context.RequestAborted).ConfigureAwait(false);
        context.Response.Headers.Location = context.Request.Path.ToString();
        await WriteAsync(context, 201, entry, Json.InboundGatewayEntry).ConfigureAwait(false);
    }

    private static async Task DeleteAsync(HttpContext context, Task change)
    {
        await change.ConfigureAwait(false);
        context.Response.StatusCode = 204;
    }

    /// <summary>The body as <typeparamref name="T"/>; null after answering 400/413/415 when it is not one.</summary>
    private async Task<T?> ReadBodyAsync<T>(HttpContext context, JsonTypeInfo<T> type, string what) where T : class
    {
        if (context.Request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await ProblemAsync(context, 415, "Send the body as application/json.", "body").ConfigureAwait(false);
            return null;
        }
        using var body = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (body.Length + read > options.MaxBodySize)
            {
                await ProblemAsync(context, 413, $"The body is larger than {options.MaxBodySize} bytes.", "body").ConfigureAwait(false);
                return null;
            }
            body.Write(buffer, 0, read);
        }
        try
        {
            return JsonSerializer.Deserialize(body.GetBuffer().AsSpan(0, (int)body.Length), type)
                ?? throw new JsonException("The body is null.");
        }
        catch (JsonException e)
        {
            await ProblemAsync(context, 400, $"The body is not a JSON {what}: {e.Message}", e.Path is { Length: > 2 } path ? path[2..] : "body")
                .ConfigureAwait(false);
            return null;
        }
    }

    private static Task WriteAsync<T>(HttpContext context, int status, T value, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }

    private static Task ProblemAsync(HttpContext context, int status, string detail, string? field)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        string title = status switch
        {
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            409 => "Conflict",
            413 => "Content Too Large",
            415 => "Unsupported Media Type",
            _ => "Service Unavailable",
        };
        var problem = new InboundProblem($"https://www.rfc-editor.org/rfc/rfc9110#status.{status}", title, status, detail, field);
        return JsonSerializer.SerializeAsync(context.Response.Body, problem, Json.InboundProblem, context.RequestAborted);
    }

    private static InboundProtocol Protocol(HttpContext context) => InboundProxy.ParseProtocol(context.Request.RouteValues["proto"] as string);

    private static IPEndPoint Address(HttpContext context) => InboundProxy.ParseEndPoint(context.Request.RouteValues["addr"] as string);

    private static string Text(HttpContext context, string name) => context.Request.RouteValues[name] as string ?? "";
}
