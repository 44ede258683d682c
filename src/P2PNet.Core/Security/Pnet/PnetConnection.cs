using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using P2PNet.Multiformats;
using P2PNet.Transports;

namespace P2PNet.Security.Pnet;

/// <summary>
/// A raw connection protected by a swarm key (PSK v1): each side sends a random 24-byte nonce, then everything is
/// XORed with XSalsa20(key, own nonce) on the way out and XSalsa20(key, remote nonce) on the way in. Applied before
/// multistream-select, so a node without the key cannot even negotiate a protocol.
/// </summary>
internal sealed class PnetConnection : TransportConnection
{
    public const int NonceLength = 24;

    /// <summary>What every libp2p dialer sends first: multistream-select's header, varint-framed.</summary>
    private static ReadOnlySpan<byte> MultistreamHeader => "\u0013/multistream/1.0.0\n"u8;

    private readonly TransportConnection _inner;
    private readonly XSalsa20 _encrypt;
    private readonly XSalsa20 _decrypt;
    private readonly Pipe _input = new(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false));
    private readonly Pipe _output = new(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false));
    private readonly Task _readLoop;
    private readonly Task _writeLoop;
    private int _disposed;

    private PnetConnection(TransportConnection inner, SwarmKey key, ReadOnlySpan<byte> localNonce, ReadOnlySpan<byte> remoteNonce)
    {
        _inner = inner;
        Key = key;
        _encrypt = XSalsa20.Create(key.Key, localNonce);
        _decrypt = XSalsa20.Create(key.Key, remoteNonce);
        _readLoop = ReadLoopAsync();
        _writeLoop = WriteLoopAsync();
    }

    /// <summary>The key this connection uses (during a rotation, the one the remote chose).</summary>
    public SwarmKey Key { get; }

    public override PipeReader Input => _input.Reader;

    public override PipeWriter Output => _output.Writer;

    public override Multiaddr LocalAddress => _inner.LocalAddress;

    public override Multiaddr RemoteAddress => _inner.RemoteAddress;

    public override long BytesReceived => _inner.BytesReceived;

    public override long BytesSent => _inner.BytesSent;

    /// <summary>
    /// Exchanges nonces over <paramref name="inner"/> and returns the protected connection. With several accepted keys
    /// (a key rotation's grace period) an inbound connection picks the key whose decryption of the dialer's first bytes
    /// reads as multistream-select's header.
    /// </summary>
    /// <exception cref="PrivateNetworkException">The remote closed during the exchange, or uses none of the keys.</exception>
    public static async ValueTask<PnetConnection> ProtectAsync(TransportConnection inner, SwarmKey primary, IReadOnlyList<SwarmKey> accepted,
        bool inbound, CancellationToken cancellationToken)
    {
        byte[] localNonce = RandomNumberGenerator.GetBytes(NonceLength);
        await inner.Output.WriteAsync(localNonce, cancellationToken).ConfigureAwait(false);
        bool chooseKey = inbound && accepted.Count > 0;
        int needed = NonceLength + (chooseKey ? MultistreamHeader.Length : 0);
        byte[] remoteNonce = new byte[NonceLength];
        SwarmKey key = primary;
        while (true)
        {
            ReadResult result = await inner.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length >= needed)
            {
                buffer.Slice(0, NonceLength).CopyTo(remoteNonce);
                if (chooseKey)
                {
                    byte[] first = buffer.Slice(NonceLength, MultistreamHeader.Length).ToArray();
                    key = accepted.Prepend(primary).FirstOrDefault(k => DecryptsToHeader(k, remoteNonce, first))
                        ?? throw new PrivateNetworkException($"{inner.RemoteAddress} uses none of our {accepted.Count + 1} swarm keys.");
                }
                inner.Input.AdvanceTo(buffer.GetPosition(NonceLength));
                break;
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                inner.Input.AdvanceTo(buffer.Start, buffer.End);
                throw new PrivateNetworkException($"{inner.RemoteAddress} closed the connection during the private-network handshake: it may not use a swarm key, or uses another one.");
            }
            inner.Input.AdvanceTo(buffer.Start, buffer.End);
        }
        return new PnetConnection(inner, key, localNonce, remoteNonce);
    }

    private static bool DecryptsToHeader(SwarmKey key, byte[] remoteNonce, byte[] first)
    {
        using var cipher = XSalsa20.Create(key.Key, remoteNonce);
        Span<byte> plain = stackalloc byte[first.Length];
        cipher.Transform(first, plain);
        return plain.SequenceEqual(MultistreamHeader);
    }

    /// <summary>Network → application: decrypt with the remote's keystream; a failure faults our reader.</summary>
    private Task ReadLoopAsync() => PumpAsync(_inner.Input, _input.Writer, _decrypt, faultTarget: true);

    /// <summary>Application → network: encrypt with our keystream; completing our writer half-closes the raw connection.</summary>
    private Task WriteLoopAsync() => PumpAsync(_output.Reader, _inner.Output, _encrypt, faultTarget: false);

    /// <summary>XORs everything from <paramref name="source"/> into <paramref name="target"/> until either side ends.
    /// A failure is passed to the target (inbound: the application sees it) or back to the source (outbound: the writer sees it).</summary>
    private static async Task PumpAsync(PipeReader source, PipeWriter target, XSalsa20 cipher, bool faultTarget)
    {
        await Task.Yield();
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await source.ReadAsync().ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    var span = segment.Span;
                    while (!span.IsEmpty)
                    {
                        Span<byte> destination = target.GetSpan(Math.Min(span.Length, 64 * 1024));
                        int n = Math.Min(span.Length, destination.Length);
                        cipher.Transform(span[..n], destination);
                        target.Advance(n);
                        span = span[n..];
                    }
                }
                source.AdvanceTo(result.Buffer.End);
                FlushResult flush = await target.FlushAsync().ConfigureAwait(false);
                if (result.IsCompleted || result.IsCanceled || flush.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            error = e;
        }
        await target.CompleteAsync(faultTarget ? error : null).ConfigureAwait(false);
        await source.CompleteAsync(faultTarget ? null : error).ConfigureAwait(false);
    }

    public override void Abort() => _inner.Abort();

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _writeLoop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _inner.Abort();
        }
        await _inner.DisposeAsync().ConfigureAwait(false);
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await Task.WhenAll(_readLoop, _writeLoop).ConfigureAwait(false);
        _encrypt.Dispose();
        _decrypt.Dispose();
    }
}
