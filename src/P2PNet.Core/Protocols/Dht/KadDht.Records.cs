using System.Globalization;
using Google.Protobuf;
using P2PNet.Host;
using P2PNet.Peers;
using P2PNet.Protocols.Dht.Internal;
using P2PNet.Protocols.Dht.Protos;

namespace P2PNet.Protocols.Dht;

/// <summary>Value records (kad-dht spec, "Value storage and retrieval"): <c>PUT_VALUE</c>, <c>GET_VALUE</c>, validation
/// by namespace, selection of the best value and correction of peers that hold outdated ones.</summary>
public sealed partial class KadDht
{
    /// <summary>
    /// Stores a value record locally and sends it (<c>PUT_VALUE</c>) to the k peers closest to <paramref name="key"/>;
    /// returns how many accepted it. The record is put again every <see cref="KadDhtOptions.RepublishInterval"/> while
    /// this node runs.
    /// </summary>
    /// <param name="key">A namespaced key, <c>/ns/…</c>, whose namespace has a validator in <see cref="KadDhtOptions.Validators"/>.</param>
    /// <param name="value">The value, at most <see cref="KadDhtOptions.MaxRecordSize"/> bytes.</param>
    /// <param name="cancellationToken">Cancels the lookup and the puts.</param>
    /// <exception cref="DhtRecordException">The record's namespace has no validator, its validator refuses it, it is
    /// too large, or the local store is full.</exception>
    public async Task<int> PutValueAsync(byte[] key, byte[] value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        P2PHost.MarkPeerRoutingFlow(); // the lookup's own dials are never routed through this DHT again
        ValidateRecord(key, value);
        var now = _time.GetUtcNow();
        if (!_store.PutRecord(new StoredRecord(key, value, now, now + _options.RecordTtl), now))
        {
            throw new DhtRecordException($"The record store is full ({_options.MaxRecords} records).");
        }
        RememberRepublished(Convert.ToHexString(key), (key, value));
        return await SendRecordAsync(key, value, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The best value of <paramref name="key"/>: ours and those the peers met in an iterative <c>GET_VALUE</c> lookup
    /// return, each validated, ranked by the namespace's <see cref="IDhtRecordValidator.Select"/>. Peers that
    /// returned an outdated value are sent the best one (<c>PUT_VALUE</c>). Null when nobody has a valid value.
    /// </summary>
    /// <exception cref="DhtRecordException">The key's namespace has no validator.</exception>
    public async Task<byte[]?> GetValueAsync(byte[] key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        P2PHost.MarkPeerRoutingFlow();
        var validator = ValidatorFor(key);
        var received = new Dictionary<PeerId, byte[]>();
        var values = new List<byte[]>();
        if (_store.GetRecord(key, _time.GetUtcNow()) is { } local)
        {
            values.Add(local.Value);
        }
        await LookupAsync(key, PbKadMessage.Types.MessageType.GetValue, stopWhen: null, onReply: (peer, reply) =>
        {
            if (reply.Record is null || reply.Record.Value.IsEmpty)
            {
                return;
            }
            byte[] value = reply.Record.Value.ToByteArray();
            try
            {
                if (!reply.Record.Key.Span.SequenceEqual(key))
                {
                    throw new DhtRecordException("The record answers another key.");
                }
                ValidateRecord(key, value);
            }
            catch (DhtRecordException e)
            {
                DhtLog.RecordRefused(_logger, peer, e.Message);
                return;
            }
            lock (received)
            {
                received[peer] = value;
            }
        }, cancellationToken).ConfigureAwait(false);
        lock (received)
        {
            values.AddRange(received.Values);
        }
        if (values.Count == 0)
        {
            return null;
        }
        int best = validator.Select(key, values);
        if (best < 0 || best >= values.Count)
        {
            throw new DhtRecordException($"The validator selected value {best} of {values.Count}.");
        }
        byte[] bestValue = values[best];
        // Entry correction (spec): peers that returned an outdated value get the best one.
        var outdated = received.Where(r => !r.Value.AsSpan().SequenceEqual(bestValue)).Select(r => r.Key).ToArray();
        if (outdated.Length > 0)
        {
            var put = PutRequest(key, bestValue);
            await Task.WhenAll(outdated.Select(peer => TrySendAsync(peer, put, cancellationToken))).ConfigureAwait(false);
        }
        return bestValue;
    }

    /// <summary>The answer to <c>PUT_VALUE</c>: the request echoed once the record is validated and stored.</summary>
    /// <exception cref="DhtRecordException">The record is refused (the stream is then reset).</exception>
    private PbKadMessage AnswerPutValue(PbKadMessage request)
    {
        if (request.Record is null || !request.Record.Key.Equals(request.Key))
        {
            throw new DhtRecordException("PUT_VALUE without a record for its key.");
        }
        byte[] key = request.Key.ToByteArray();
        byte[] value = request.Record.Value.ToByteArray();
        ValidateRecord(key, value);
        var now = _time.GetUtcNow();
        if (_store.GetRecord(key, now) is { } existing && !existing.Value.AsSpan().SequenceEqual(value)
            && ValidatorFor(key).Select(key, [value, existing.Value]) != 0)
        {
            throw new DhtRecordException("The record is older than the one stored.");
        }
        if (!_store.PutRecord(new StoredRecord(key, value, now, now + _options.RecordTtl), now))
        {
            throw new DhtRecordException($"The record store is full ({_options.MaxRecords} records).");
        }
        return request;
    }

    /// <summary>The answer to <c>GET_VALUE</c>: our record of the key if we have one (for a <c>/pk/</c> key, the public
    /// key we know of that peer, as the spec asks), and the closer peers we know.</summary>
    private PbKadMessage AnswerGetValue(PbKadMessage request, PeerId sender)
    {
        byte[] key = request.Key.ToByteArray();
        var reply = new PbKadMessage { Type = request.Type, Key = request.Key };
        var now = _time.GetUtcNow();
        var record = _store.GetRecord(key, now);
        if (record is null && KnownPublicKey(key) is { } publicKey)
        {
            record = new StoredRecord(key, publicKey.ToProtobuf(), now, now);
        }
        if (record is not null)
        {
            reply.Record = new PbKadRecord
            {
                Key = request.Key,
                Value = ByteString.CopyFrom(record.Value),
                // RFC 3339 with nanoseconds, as go (time.RFC3339Nano) and js (toRFC3339) write it.
                TimeReceived = record.Received.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'", CultureInfo.InvariantCulture),
            };
        }
        reply.CloserPeers.AddRange(Closer(key, sender));
        return reply;
    }

    /// <summary>For a key <c>/pk/&lt;peer id&gt;</c>: that peer's public key if it is us or the peer store knows it.</summary>
    private Crypto.PublicKey? KnownPublicKey(byte[] key)
    {
        if (!key.AsSpan().StartsWith("/pk/"u8))
        {
            return null;
        }
        PeerId peer;
        try
        {
            peer = PeerId.FromBytes(key.AsSpan(4));
        }
        catch (WireFormatException)
        {
            return null;
        }
        return peer == _host.PeerId ? _host.PublicKey : _host.PeerStore.Get(peer)?.PublicKey;
    }

    private async Task<int> SendRecordAsync(byte[] key, byte[] value, CancellationToken cancellationToken)
    {
        var closest = await GetClosestPeersAsync(key, cancellationToken).ConfigureAwait(false);
        var put = PutRequest(key, value);
        var sent = await Task.WhenAll(closest.Select(peer => TrySendAsync(peer, put, cancellationToken))).ConfigureAwait(false);
        return sent.Count(s => s);
    }

    /// <summary>Sends a request that has an answer; false when the peer fails (it is not the caller's failure).</summary>
    private async Task<bool> TrySendAsync(PeerId peer, PbKadMessage request, CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(peer, request, expectReply: true, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (IsPeerFailure(e, cancellationToken))
        {
            DhtLog.QueryFailed(_logger, peer, e.Message);
            return false;
        }
    }

    private static PbKadMessage PutRequest(byte[] key, byte[] value) => new()
    {
        Type = PbKadMessage.Types.MessageType.PutValue,
        Key = ByteString.CopyFrom(key),
        Record = new PbKadRecord { Key = ByteString.CopyFrom(key), Value = ByteString.CopyFrom(value) },
    };

    /// <exception cref="DhtRecordException">Too large, no validator for its namespace, or refused by it.</exception>
    private void ValidateRecord(byte[] key, byte[] value)
    {
        if (value.Length > _options.MaxRecordSize)
        {
            throw new DhtRecordException($"A record value of {value.Length} bytes (at most {_options.MaxRecordSize}).");
        }
        try
        {
            ValidatorFor(key).Validate(key, value);
        }
        catch (Exception e) when (e is not DhtRecordException)
        {
            // A validator is user code: whatever it throws refuses the record, and never escapes a server handler.
            throw new DhtRecordException($"The validator refused the record: {e.Message}", e);
        }
    }

    /// <summary>The validator of the key's namespace: the text between the first two slashes of <c>/ns/…</c>.</summary>
    /// <exception cref="DhtRecordException">The key has no namespace, or no validator is registered for it.</exception>
    private IDhtRecordValidator ValidatorFor(ReadOnlySpan<byte> key)
    {
        int end = key.Length > 1 && key[0] == '/' ? key[1..].IndexOf((byte)'/') : -1;
        if (end <= 0 || end > 64)
        {
            throw new DhtRecordException("A record key is /namespace/… (a namespace of 1 to 64 characters).");
        }
        var name = key.Slice(1, end);
        foreach (byte b in name)
        {
            if (b is < 0x21 or > 0x7e)
            {
                throw new DhtRecordException("A record namespace is printable ASCII.");
            }
        }
        string ns = System.Text.Encoding.ASCII.GetString(name);
        return _validators.TryGetValue(ns, out var validator)
            ? validator
            : throw new DhtRecordException($"No validator for the record namespace '{ns}': such records are refused.");
    }
}
