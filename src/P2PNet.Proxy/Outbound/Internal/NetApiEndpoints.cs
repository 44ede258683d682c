using System.Buffers.Binary;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;

namespace P2PNet.Proxy.Outbound.Internal;

/// <summary>The net-api's HTTP handlers over a <see cref="NetApi"/>, and its raw-packet websocket.</summary>
internal sealed class NetApiEndpoints(NetApi api)
{
    public const string Prefix = "/net-api/v2/net";

    /// <summary>Packets queued per raw socket towards its client; more are dropped (as a congested link would).</summary>
    private const int RawQueue = 1024;

    /// <summary>The largest binary message taken as one packet: an IPv4 total length is 16 bits.</summary>
    private const int MaxPacket = 65_535;

    private const int MaxBody = 16 * 1024;

    private static readonly NetApiJsonContext Json = NetApiJsonContext.Default;

    public static readonly IReadOnlyList<(string Method, string Pattern, Func<NetApiEndpoints, HttpContext, Task> Handler)> Routes =
    [
        ("GET", Prefix, (e, c) => WriteAsync(c, 200, e.Api.GetNetworks(), Json.IReadOnlyListNetApiNetworkInfo)),
        ("POST", Prefix, async (e, c) => await WriteAsync(c, 200, e.Api.CreateNetwork(await ReadAsync(c, Json.NetApiNewNetwork)), Json.NetApiNetworkInfo)),
        ("GET", Prefix + "/{id}", (e, c) => WriteAsync(c, 200, e.Api.GetNetwork(Value(c, "id")), Json.NetApiNetworkInfo)),
        ("DELETE", Prefix + "/{id}", async (e, c) => { await e.Api.RemoveNetworkAsync(Value(c, "id"), c.RequestAborted); await NullAsync(c); }),
        ("GET", Prefix + "/{id}/addresses", (e, c) => WriteAsync(c, 200, e.Api.GetAddresses(Value(c, "id")), Json.IReadOnlyListNetApiAddress)),
        ("POST", Prefix + "/{id}/addresses", async (e, c) =>
        {
            await e.Api.SetAddressAsync(Value(c, "id"), await ReadAsync(c, Json.NetApiAddress), c.RequestAborted);
            await NullAsync(c);
        }),
        ("GET", Prefix + "/{id}/nodes", (e, c) => WriteAsync(c, 200, e.Api.GetNodes(Value(c, "id")), Json.IReadOnlyListNetApiNode)),
        ("POST", Prefix + "/{id}/nodes", async (e, c) =>
        {
            await e.Api.AddNodeAsync(Value(c, "id"), await ReadAsync(c, Json.NetApiNode), c.RequestAborted);
            await NullAsync(c);
        }),
        ("DELETE", Prefix + "/{id}/nodes/{nodeId}", async (e, c) =>
        {
            await e.Api.RemoveNodeAsync(Value(c, "id"), Value(c, "nodeId"), c.RequestAborted);
            await NullAsync(c);
        }),
        ("GET", Prefix + "/{id}/raw/from/{src}/to/{dst}", (e, c) => e.RawAsync(c)),
    ];

    public NetApi Api => api;

    public async Task HandleAsync(HttpContext context, Func<NetApiEndpoints, HttpContext, Task> handler)
    {
        try
        {
            await handler(this, context).ConfigureAwait(false);
        }
        catch (NetApiException e) when (!context.Response.HasStarted)
        {
            await WriteAsync(context, e.StatusCode, new NetApiError(e.Message), Json.NetApiError).ConfigureAwait(false);
        }
        catch (ObjectDisposedException) when (!context.Response.HasStarted)
        {
            await WriteAsync(context, 503, new NetApiError("The net-api is shutting down."), Json.NetApiError).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The raw socket: each binary message from the client is one IPv4 packet sent into the VPN from this node's
    /// address (any other source is dropped: the VPN's anti-spoofing, applied here first); each packet the VPN delivers
    /// to this node goes to the client as one binary message. Text messages close the socket (1003).
    /// </summary>
    private async Task RawAsync(HttpContext context)
    {
        var net = api.OpenRaw(Value(context, "id"), Value(context, "src"), Value(context, "dst"), out var source);
        if (!context.WebSockets.IsWebSocketRequest)
        {
            throw new NetApiException(400, "This endpoint is a websocket (subprotocol ipv4).");
        }
        if (!context.WebSockets.WebSocketRequestedProtocols.Contains("ipv4"))
        {
            throw new NetApiException(400, "Ask for the websocket subprotocol 'ipv4'.");
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync("ipv4").ConfigureAwait(false);
        var queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(RawQueue) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
        net.RawReaders.TryAdd(queue, 0);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, net.Stopping.Token);
        try
        {
            var toClient = ToClientAsync(socket, queue, done.Token);
            await FromClientAsync(socket, net, source, done.Token).ConfigureAwait(false);
            await done.CancelAsync().ConfigureAwait(false);
            await toClient.ConfigureAwait(false);
        }
        finally
        {
            net.RawReaders.TryRemove(queue, out _);
            queue.Writer.TryComplete();
        }
    }

    private static async Task FromClientAsync(WebSocket socket, NetApiNetwork net, IPAddress source, CancellationToken cancellationToken)
    {
        uint sourceValue = BinaryPrimitives.ReadUInt32BigEndian(source.GetAddressBytes());
        byte[] buffer = new byte[MaxPacket];
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                int length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, "a packet is at most 65535 bytes", cancellationToken).ConfigureAwait(false);
                        return;
                    }
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken).ConfigureAwait(false);
                    return;
                }
                if (result.MessageType == WebSocketMessageType.Text)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.InvalidMessageType, "binary messages only: one IPv4 packet each", cancellationToken).ConfigureAwait(false);
                    return;
                }
                var packet = buffer.AsSpan(0, length);
                // A packet that is not IPv4 from the socket's own address is dropped, not sent: as the VPN would.
                if (length < 20 || packet[0] >> 4 != 4 || BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) != length
                    || BinaryPrimitives.ReadUInt32BigEndian(packet[12..]) != sourceValue)
                {
                    continue;
                }
                await net.Device.SendAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException or ChannelClosedException)
        {
        }
    }

    private static async Task ToClientAsync(WebSocket socket, Channel<byte[]> queue, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (byte[] packet in queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await socket.SendAsync(packet, WebSocketMessageType.Binary, true, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }
    }

    private static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type) where T : class
    {
        using var body = new MemoryStream();
        byte[] chunk = new byte[4096];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (body.Length + read > MaxBody)
            {
                throw new NetApiException(413, $"The body is larger than {MaxBody} bytes.");
            }
            body.Write(chunk, 0, read);
        }
        try
        {
            return JsonSerializer.Deserialize(body.GetBuffer().AsSpan(0, (int)body.Length), type)
                ?? throw new NetApiException(400, "The body is null: send a JSON object.");
        }
        catch (JsonException e)
        {
            throw new NetApiException(400, $"The body is not the expected JSON object: {e.Message}", e);
        }
    }

    private static Task WriteAsync<T>(HttpContext context, int status, T value, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }

    private static async Task NullAsync(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync("null", context.RequestAborted).ConfigureAwait(false);
    }

    private static string Value(HttpContext context, string name) => context.Request.RouteValues[name] as string ?? "";
}
