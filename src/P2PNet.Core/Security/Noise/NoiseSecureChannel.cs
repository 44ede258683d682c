using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Security.Noise.Internal;
using P2PNet.Upgrade;
using P2PNet.Transports;

namespace P2PNet.Security.Noise;

/// <summary>
/// A connection secured by Noise: plaintext written to <see cref="Output"/> is encrypted into frames of at most
/// 65535 bytes on the transport; frames from the transport are authenticated and decrypted into <see cref="Input"/>.
/// </summary>
/// <remarks>
/// <para>Two loops owned by the channel do the work: the decrypt loop (transport → <see cref="Input"/>) and the
/// encrypt loop (<see cref="Output"/> → transport). They start when the handshake completes and end when both
/// directions are closed; <see cref="Completion"/> finishes then and never faults.</para>
/// <para>Backpressure: each direction has a pipe that pauses its writer at 1 MiB of unread data and resumes at
/// 512 KiB, so a slow reader or slow peer never makes memory grow.</para>
/// <para>Closing: completing <see cref="Output"/> flushes the remaining frames and completes the transport's output
/// (a half-close); a clean end of the transport input completes <see cref="Input"/>. A frame that fails
/// authentication faults <see cref="Input"/> with a <see cref="ProtocolViolationException"/> and tears the whole
/// channel down.</para>
/// <para>Thread safety: as for any <see cref="IDuplexPipe"/>, one reader of <see cref="Input"/> and one writer of
/// <see cref="Output"/> at a time (they may be different threads). Call <see cref="DisposeAsync"/> once the
/// application has stopped using both.</para>
/// </remarks>
internal sealed partial class NoiseSecureChannel : ISecureConnection, IInlineDelivery
{
    /// <summary>Unread bytes at which a direction's writer pauses.</summary>
    internal const long PauseThreshold = 1024 * 1024;

    /// <summary>Unread bytes at which a paused writer resumes.</summary>
    internal const long ResumeThreshold = 512 * 1024;

    private static readonly PipeOptions s_inboundOptions = DirectionOptions(PipeScheduler.ThreadPool);

    // Large segments: an application write then spans few segments, so most frames encrypt straight from one.
    private static readonly PipeOptions s_outboundOptions = DirectionOptions(PipeScheduler.ThreadPool, 64 * 1024);

    // For a transport that delivers inline (TcpTransportOptions.LowLatency): the decrypt loop runs on the thread that
    // flushed the transport's input (its receive thread), and the encrypt loop on the thread that flushed Output.
    private static readonly PipeOptions s_inlineInboundOptions = DirectionOptions(PipeScheduler.Inline);

    private static readonly PipeOptions s_inlineOutboundOptions = DirectionOptions(PipeScheduler.Inline, 64 * 1024);

    private readonly IDuplexPipe _transport;
    private readonly CipherState _send;
    private readonly CipherState _receive;
    private readonly Pipe _inbound;
    private readonly Pipe _outbound;
    private readonly ILogger _logger;
    private Task _decryptLoop = Task.CompletedTask;
    private Task _encryptLoop = Task.CompletedTask;
    private Exception? _abortReason;
    private volatile bool _disposing;
    private int _disposed;

    internal NoiseSecureChannel(IDuplexPipe transport, CipherState send, CipherState receive, PublicKey remotePublicKey, PeerId remotePeer, IReadOnlyList<string> remoteMuxers, ILogger logger)
    {
        _transport = transport;
        _send = send;
        _receive = receive;
        RemotePublicKey = remotePublicKey;
        RemotePeer = remotePeer;
        RemoteMuxers = remoteMuxers;
        _logger = logger;
        DeliversInline = transport is IInlineDelivery { DeliversInline: true };
        _inbound = new Pipe(DeliversInline ? s_inlineInboundOptions : s_inboundOptions);
        _outbound = new Pipe(DeliversInline ? s_inlineOutboundOptions : s_outboundOptions);
        Completion = Task.CompletedTask;
    }

    private static PipeOptions DirectionOptions(PipeScheduler readerScheduler, int minimumSegmentSize = -1) => new(
        readerScheduler: readerScheduler,
        pauseWriterThreshold: PauseThreshold,
        resumeWriterThreshold: ResumeThreshold,
        minimumSegmentSize: minimumSegmentSize,
        useSynchronizationContext: false);

    /// <summary>Whether the transport below delivers inline, and so does this channel: decrypted data reaches the
    /// reader on the transport's receive thread, and a flush of <see cref="Output"/> is encrypted on the flushing thread.</summary>
    public bool DeliversInline { get; }

    /// <summary>Our peer id (the identity that signed our static key).</summary>
    public PeerId LocalPeer { get; init; } = null!;

    /// <summary>The authenticated remote peer.</summary>
    public PeerId RemotePeer { get; }

    /// <summary>The remote's identity key, as proven in the handshake.</summary>
    public PublicKey RemotePublicKey { get; }

    /// <summary>The stream muxers the remote announced in its handshake payload, most preferred first (may be empty).</summary>
    public IReadOnlyList<string> RemoteMuxers { get; }

    /// <summary>The muxer agreed from both sides' <see cref="RemoteMuxers"/> lists, set by <see cref="NoiseSecurityProtocol"/>; none
    /// when either side announced no list.</summary>
    public string? Muxer { get; internal set; }

    /// <summary>Decrypted application data from the remote.</summary>
    public PipeReader Input => _inbound.Reader;

    /// <summary>Application data to send; encrypted into frames of at most 65535 bytes.</summary>
    public PipeWriter Output => _outbound.Writer;

    /// <summary>Completes when both loops have finished. Never faults.</summary>
    public Task Completion { get; private set; }

    /// <summary>Starts the two loops; called once by the handshake.</summary>
    internal void Start()
    {
        _decryptLoop = DecryptLoopAsync();
        _encryptLoop = EncryptLoopAsync();
        Completion = Task.WhenAll(_decryptLoop, _encryptLoop);
    }

    /// <summary>
    /// Tears the channel down at once: pending plaintext is dropped, <see cref="Input"/> and <see cref="Output"/> fail
    /// with <paramref name="reason"/>, and the transport is completed with it.
    /// </summary>
    public void Abort(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _abortReason, reason, null) is not null)
        {
            return;
        }
        NoiseLog.ChannelAborted(_logger, RemotePeer, reason.Message, reason);
        _outbound.Reader.CancelPendingRead();
        _transport.Output.CancelPendingFlush();
        _transport.Input.CancelPendingRead();
    }

    /// <summary>
    /// Closes the channel gracefully: completes <see cref="Output"/> (plaintext already written is still encrypted and
    /// sent), stops reading the transport, waits for both loops, then completes <see cref="Input"/> and releases the keys.
    /// </summary>
    /// <remarks>Waits for pending frames to reach the transport; if the remote stopped reading, abort the transport
    /// below to make it return. A read of <see cref="Input"/> still pending ends as completed.</remarks>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await Completion.ConfigureAwait(false);
            return;
        }
        _disposing = true;
        await _outbound.Writer.CompleteAsync().ConfigureAwait(false);
        _transport.Input.CancelPendingRead();
        _inbound.Writer.CancelPendingFlush();
        await Completion.ConfigureAwait(false);
        try
        {
            await _inbound.Reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // The application is still inside a read; it sees the completed pipe and completes the reader itself.
        }
        _send.Dispose();
        _receive.Dispose();
        NoiseLog.ChannelClosed(_logger, RemotePeer);
    }
}
