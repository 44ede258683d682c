using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using P2PNet.Transports.WebSockets.Internal;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// The standalone bridge's Kestrel connection handler: performs the WebSocket opening handshake itself and runs the
/// session, so an idle client carries no HTTP request state.
/// </summary>
/// <remarks>
/// Before its upgrade a connection is bounded three ways: it counts against <see cref="UdpBridgeOptions.MaxPendingHandshakes"/>
/// and <see cref="UdpBridgeOptions.MaxPendingHandshakesPerAddress"/> (over either, 503 before anything is read), its
/// head may not exceed <see cref="WebSocketHandshake.MaxHeadLength"/> (431), and the whole handshake has
/// <see cref="UdpBridgeOptions.HandshakeTimeout"/> (408), so slow or half-open upgrades cannot pile up.
/// </remarks>
internal sealed class UdpBridgeConnectionHandler(UdpBridgeService bridge, string path)
{
    public async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        IPAddress? remoteAddress = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        string? remote = remoteAddress?.ToString();
        IDuplexPipe transport = connection.Transport;

        string? refused = bridge.Addresses.TryBeginHandshake(remoteAddress, out ClientAddress? handshakeSlot);
        if (refused is not null)
        {
            // Nothing is read: answering costs no more than the connection already did.
            await RefuseAsync(transport.Output, new UdpBridgeService.Refusal(StatusCodes.Status503ServiceUnavailable, refused,
                "Too many connections are opening; try again later."), remote, CancellationToken.None).ConfigureAwait(false);
            return;
        }

        bridge.Metrics.HandshakeStarted();
        (WebSocket WebSocket, DuplexPipeStream Stream)? accepted;
        try
        {
            accepted = await HandshakeAsync(transport, remote).ConfigureAwait(false);
        }
        finally
        {
            bridge.Metrics.HandshakeEnded();
            bridge.Addresses.EndHandshake(handshakeSlot!);
        }

        if (accepted is not { } upgrade)
        {
            return;
        }

        ClientAddress? address = bridge.TryEnterClient(remoteAddress, out string turnAway);
        if (address is null)
        {
            using (upgrade.WebSocket)
            {
                await bridge.TurnAwayAsync(upgrade.WebSocket, turnAway).ConfigureAwait(false);
            }

            return;
        }

        try
        {
            await bridge.RunSessionAsync(upgrade.WebSocket, (connection.LocalEndPoint as IPEndPoint)?.Address, remote, address, upgrade.Stream)
                .ConfigureAwait(false);
        }
        finally
        {
            bridge.ExitClient(address);
        }
    }

    /// <summary>Reads the request head and answers it, within the handshake deadline.</summary>
    /// <returns>The websocket, or <see langword="null"/> when the request was refused or the client went away.</returns>
    private async Task<(WebSocket WebSocket, DuplexPipeStream Stream)?> HandshakeAsync(IDuplexPipe transport, string? remote)
    {
        using var deadline = new CancellationTokenSource(bridge.Options.HandshakeTimeout, bridge.TimeProvider);
        try
        {
            WebSocketHandshake? request;
            try
            {
                request = await ReadRequestAsync(transport.Input, deadline.Token).ConfigureAwait(false);
            }
            catch (RequestHeadTooLargeException e)
            {
                await RefuseAsync(transport.Output, new UdpBridgeService.Refusal(StatusCodes.Status431RequestHeaderFieldsTooLarge,
                    "headers_too_large", e.Message), remote, deadline.Token).ConfigureAwait(false);
                return null;
            }
            catch (WireFormatException e)
            {
                await RefuseAsync(transport.Output, new UdpBridgeService.Refusal(StatusCodes.Status400BadRequest, "not_websocket", e.Message),
                    remote, deadline.Token).ConfigureAwait(false);
                return null;
            }

            if (request is null)
            {
                return null; // closed before sending a whole request
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
                : bridge.Admit(request.Origin, request.Authorization, request.SubProtocols, request.GetQueryValue(UdpBridgeService.AccessTokenParameter));
            if (refusal is not null)
            {
                await RefuseAsync(transport.Output, refusal, remote, deadline.Token).ConfigureAwait(false);
                return null;
            }

            WebSocketHandshake.WriteAccept(transport.Output, request.Key!, UdpBridgeService.SelectSubProtocol(request.SubProtocols));

            // The request's strings are not needed any more; an idle client should not keep them alive.
            request = null;
            await transport.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            await TimedOutAsync(transport.Output, remote).ConfigureAwait(false);
            return null;
        }

        var stream = new DuplexPipeStream(transport);
        WebSocket webSocket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
        {
            IsServer = true,
            KeepAliveInterval = bridge.Options.KeepAliveInterval,
            KeepAliveTimeout = bridge.KeepAliveTimeout,
        });
        return (webSocket, stream);
    }

    private static async Task<WebSocketHandshake?> ReadRequestAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary>Answers 408 to a client that did not finish its handshake in time, if its connection still takes it.</summary>
    private async Task TimedOutAsync(PipeWriter output, string? remote)
    {
        using var grace = new CancellationTokenSource(bridge.Options.CloseTimeout, bridge.TimeProvider);
        try
        {
            await RefuseAsync(output, new UdpBridgeService.Refusal(StatusCodes.Status408RequestTimeout, "handshake_timeout",
                $"The WebSocket handshake did not complete within {bridge.Options.HandshakeTimeout.TotalSeconds:0.###} s."), remote, grace.Token)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A client that reads nothing does not get the answer either.
        }
    }

    private async Task RefuseAsync(PipeWriter output, UdpBridgeService.Refusal refusal, string? remote, CancellationToken cancellationToken)
    {
        bridge.CountRefusal(refusal, remote);
        WebSocketHandshake.WriteRefusal(output, refusal.StatusCode, ReasonPhrases.GetReasonPhrase(refusal.StatusCode), refusal.Message,
            refusal.StatusCode switch
            {
                StatusCodes.Status401Unauthorized => "WWW-Authenticate: Bearer",
                StatusCodes.Status426UpgradeRequired => "Sec-WebSocket-Version: 13",
                _ => null,
            });
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
