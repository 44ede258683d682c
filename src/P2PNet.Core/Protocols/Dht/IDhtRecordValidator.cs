namespace P2PNet.Protocols.Dht;

/// <summary>
/// Checks and ranks the value records of one key namespace (the <c>ns</c> of keys <c>/ns/…</c>), as the kad-dht spec's
/// "Validator" (<c>Validate</c>, <c>Select</c>). Registered in <see cref="KadDhtOptions.Validators"/>.
/// </summary>
/// <remarks>Called concurrently from the server and from lookups: implementations must be thread-safe and should
/// not block (no I/O).</remarks>
public interface IDhtRecordValidator
{
    /// <summary>Accepts a record or throws; a record that fails is neither stored nor returned.</summary>
    /// <param name="key">The whole record key, namespace included (e.g. <c>/pk/</c> followed by a peer id's bytes).</param>
    /// <param name="value">The record value.</param>
    /// <exception cref="DhtRecordException">The record is not valid for <paramref name="key"/>.</exception>
    void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>The index of the best of several valid values of one key (e.g. the newest); the others are outdated
    /// and peers holding them are corrected.</summary>
    /// <param name="key">The record key.</param>
    /// <param name="values">At least one value, each already validated.</param>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1716", Justification = "The kad-dht spec and every libp2p implementation call it Select.")]
    int Select(ReadOnlySpan<byte> key, IReadOnlyList<byte[]> values);
}
