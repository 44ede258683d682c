using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using P2PNet.Multiformats;

namespace P2PNet.Transports;

/// <summary>
/// What an accept loop does when accepting fails for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM, which surface
/// as <see cref="SocketException"/>): wait and try again instead of ending the loop for good, since closing connections
/// frees what is missing. The wait starts at <see cref="Initial"/> and doubles up to <see cref="Maximum"/> while
/// accepts keep failing; a successful accept starts over. At most one log line per <see cref="LogInterval"/>, counting
/// the failures in between, so a listener out of file descriptors does not flood the log.
/// </summary>
/// <remarks>Used by one accept loop at a time (not thread-safe).</remarks>
internal sealed partial class AcceptBackoff(ILogger logger, Multiaddr address, TimeProvider? timeProvider = null)
{
    /// <summary>The first wait: short, since one closed connection frees a descriptor.</summary>
    internal static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest wait: a listener recovers within a second of resources coming back.</summary>
    internal static readonly TimeSpan Maximum = TimeSpan.FromSeconds(1);

    /// <summary>The shortest time between two log lines about failing accepts.</summary>
    internal static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private TimeSpan _next = Initial;
    private long _lastLog;
    private bool _loggedOnce;
    private int _unlogged;

    /// <summary>Failures since the last successful accept.</summary>
    public int Failures { get; private set; }

    /// <summary>An accept succeeded: the next failure waits <see cref="Initial"/> again.</summary>
    public void Reset()
    {
        if (Failures > 0)
        {
            AcceptRecovered(logger, address, Failures);
        }
        Failures = 0;
        _next = Initial;
    }

    /// <summary>Logs (at a bounded rate) and waits before the next accept.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the listener closes).</exception>
    public async Task WaitAsync(SocketException error, CancellationToken cancellationToken)
    {
        Failures++;
        if (!_loggedOnce || _time.GetElapsedTime(_lastLog) >= LogInterval)
        {
            AcceptFailing(logger, address, error.SocketErrorCode, error.Message, _next, _unlogged);
            _loggedOnce = true;
            _lastLog = _time.GetTimestamp();
            _unlogged = 0;
        }
        else
        {
            _unlogged++;
        }
        await Task.Delay(_next, _time, cancellationToken).ConfigureAwait(false);
        _next = _next * 2 < Maximum ? _next * 2 : Maximum;
    }

    [LoggerMessage(1200, LogLevel.Warning, "Accepting on {Address} failed ({Error}: {Reason}); retrying in {Delay} ({Unlogged} more failures since the last report)")]
    private static partial void AcceptFailing(ILogger logger, Multiaddr address, SocketError error, string reason, TimeSpan delay, int unlogged);

    [LoggerMessage(1201, LogLevel.Information, "Accepting on {Address} works again after {Failures} failures")]
    private static partial void AcceptRecovered(ILogger logger, Multiaddr address, int failures);
}
