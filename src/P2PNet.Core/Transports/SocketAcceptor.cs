using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using P2PNet.Multiformats;

namespace P2PNet.Transports;

/// <summary>
/// One accept loop's accepting for listeners outside the host's transports (tunnels, port forwarders): clients that gave
/// up are skipped, running out of descriptors or buffers backs off and retries (<see cref="AcceptBackoff"/>) instead of
/// ending the loop for good, and a connection that took one of the process's last descriptors is shed
/// (<see cref="DescriptorReserve"/>).
/// </summary>
/// <remarks>Used by one accept loop at a time (not thread-safe).</remarks>
internal sealed class SocketAcceptor(Socket listener, ILogger logger)
{
    private readonly AcceptBackoff _backoff = new(logger, Multiaddr.FromTcpEndPoint((IPEndPoint)listener.LocalEndPoint!));

    /// <summary>The next accepted connection, or <see langword="null"/> once the listener is closed or
    /// <paramref name="cancellationToken"/> is cancelled.</summary>
    public async ValueTask<Socket?> AcceptAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                continue; // the client gave up before we accepted
            }
            catch (SocketException e) when (e.SocketErrorCode is not SocketError.OperationAborted)
            {
                if (!await BackOffAsync(e, cancellationToken).ConfigureAwait(false))
                {
                    return null;
                }
                continue;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return null;
            }
            if (DescriptorReserve.IsExhausted(socket))
            {
                socket.Dispose();
                if (!await BackOffAsync(DescriptorReserve.Exhausted(), cancellationToken).ConfigureAwait(false))
                {
                    return null;
                }
                continue;
            }
            _backoff.Reset();
            return socket;
        }
        return null;
    }

    private async ValueTask<bool> BackOffAsync(SocketException error, CancellationToken cancellationToken)
    {
        try
        {
            await _backoff.WaitAsync(error, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
