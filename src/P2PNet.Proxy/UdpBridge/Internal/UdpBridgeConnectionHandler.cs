using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// The standalone bridge's Kestrel connection handler: performs the WebSocket opening handshake itself and runs the
/// session, so an idle client carries no HTTP request state.
/// </summary>
internal sealed class UdpBridgeConnectionHandler(UdpBridgeService bridge, string path)
{
    /// <summary>How long a client may take to send its request head (slow-loris protection).</summary>
    internal static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    public async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        string? remote = (connection.RemoteEndPoint as IPEndPoint)?.Address.ToString();
        IDuplexPipe transport = connection.Transport;

        WebSocketHandshake? request;
        try
        {
            request = await ReadRequestAsync(transport.Input).ConfigureAwait(false);
        }
        catch (WireFormatException e)
        {
            await RefuseAsync(transport.Output, new UdpBridgeService.Refusal(StatusCodes.Status400BadRequest, "not_websocket", e.Message), remote)
                .ConfigureAwait(false);
            return;
        }

        if (request is null)
        {
            return; // closed or too slow before sending a request
        }

        UdpBridgeService.Refusal? refusal =
            !string.Equals(request.Path, path, StringComparison.OrdinalIgnoreCase)
                ? new UdpBridgeService.Refusal(StatusCodes.Status404NotFound, "not_found", "Not found.")
            : !request.IsWebSocketRequest
                ? new UdpBridgeService.Refusal(StatusCodes.Status400BadRequest, "not_websocket", "This endpoint accepts WebSocket requests only.")
            : request.Version != "13"
                ? new UdpBridgeService.Refusal(StatusCodes.Status426UpgradeRequired, "not_websocket", "Only WebSocket version 13 is supported.")
            : !request.HasValidKey
                ? new UdpBridgeService.Refusal(StatusCodes.Status400BadRequest, "not_websocket", "Missing or malformed Sec-WebSocket-Key.")
            : bridge.Admit(request.Origin, request.Authorization, request.GetQueryValue("access_token"));
        if (refusal is not null)
        {
            await RefuseAsync(transport.Output, refusal, remote).ConfigureAwait(false);
            return;
        }

        WebSocketHandshake.WriteAccept(transport.Output, request.Key!);

        // The request's strings are not needed any more; an idle client should not keep them alive.
        request = null;
        await transport.Output.FlushAsync().ConfigureAwait(false);
        var stream = new DuplexPipeStream(transport);
        WebSocket webSocket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
        {
            IsServer = true,
            KeepAliveInterval = bridge.Options.KeepAliveInterval,
            KeepAliveTimeout = bridge.KeepAliveTimeout,
        });

        if (!bridge.TryEnterClient(remote))
        {
            using (webSocket)
            {
                await bridge.TurnAwayAsync(webSocket).ConfigureAwait(false);
            }

            return;
        }

        try
        {
            await bridge.RunSessionAsync(webSocket, (connection.LocalEndPoint as IPEndPoint)?.Address, remote, stream).ConfigureAwait(false);
        }
        finally
        {
            bridge.ExitClient();
        }
    }

    private async Task<WebSocketHandshake?> ReadRequestAsync(PipeReader input)
    {
        using var timeout = new CancellationTokenSource(HandshakeTimeout, bridge.TimeProvider);
        try
        {
            while (true)
            {
                ReadResult result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (WebSocketHandshake.TryParse(buffer, out WebSocketHandshake? request, out SequencePosition consumed))
                {
                    input.AdvanceTo(consumed);
                    return request;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return null;
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task RefuseAsync(PipeWriter output, UdpBridgeService.Refusal refusal, string? remote)
    {
        bridge.CountRefusal(refusal, remote);
        WebSocketHandshake.WriteRefusal(output, refusal.StatusCode, ReasonPhrases.GetReasonPhrase(refusal.StatusCode), refusal.Message,
            refusal.StatusCode switch
            {
                StatusCodes.Status401Unauthorized => "WWW-Authenticate: Bearer",
                StatusCodes.Status426UpgradeRequired => "Sec-WebSocket-Version: 13",
                _ => null,
            });
        await output.FlushAsync().ConfigureAwait(false);
    }
}
